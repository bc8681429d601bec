"""The quickstart notebook runs top to bottom (nbclient, no Jupyter server) and draws its figures."""
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytest.importorskip("nbclient")
pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")


def test_quickstart_executes(tmp_path, minilm_f32):  # the fixture skips when the model is missing
    spec = importlib.util.spec_from_file_location("enec_notebook_execute",
                                                  os.path.join(ROOT, "notebooks", "execute.py"))
    execute = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(execute)
    nb = execute.execute(str(tmp_path), timeout=240)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "every tensor decodes bit for bit" in text
    assert "| enec | 1.34" in text  # bf16 ratio of the real model, measured by the notebook's bench
    for name in execute.FIGURES:
        png = (tmp_path / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, name
