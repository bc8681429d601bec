"""The quickstart notebook runs top to bottom (nbclient, no Jupyter server) and draws its figures."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

FIGURES = ("exponent_histogram.png", "per_tensor_ratio.png", "throughput.png")


def test_quickstart_executes(tmp_path, minilm_f32):  # the fixture skips when the model is missing
    # In a child process with a deadline: when a kernel fails to start, nbclient's cleanup can
    # wait forever on the heartbeat thread, which would hang the whole suite.
    out = tmp_path / "executed.ipynb"
    subprocess.run([sys.executable, os.path.join(ROOT, "notebooks", "execute.py"), "--figures", str(tmp_path),
                    "--out", str(out)], check=True, timeout=600)
    nb = nbformat.read(str(out), as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "every tensor decodes bit for bit" in text
    assert "| enec | 1.34" in text  # bf16 ratio of the real model, measured by the notebook's bench
    for name in FIGURES:
        png = (tmp_path / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, name
