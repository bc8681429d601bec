"""Execute notebooks/quickstart.ipynb headless (nbclient, no Jupyter server) and refresh its figures.

    python notebooks/execute.py [--figures DIR] [--save-outputs | --out FILE]

By default the figures go to notebooks/figures/ (the ones the README shows)
and the notebook file is left as it is, without outputs, so its diffs stay
readable; --save-outputs writes the executed notebook back.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOK = os.path.join(HERE, "quickstart.ipynb")
FIGURES = ("exponent_histogram.png", "per_tensor_ratio.png", "throughput.png")


def execute(figures: str, timeout: int = 300):
    """Run every cell in a fresh kernel (the current interpreter); return the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    old = os.environ.get("ENEC_FIGURES")
    os.environ["ENEC_FIGURES"] = os.path.abspath(figures)  # the kernel inherits the environment
    try:
        NotebookClient(nb, timeout=timeout, startup_timeout=180, kernel_name="python3",
                       resources={"metadata": {"path": HERE}}).execute()
    finally:
        if old is None:
            del os.environ["ENEC_FIGURES"]
        else:
            os.environ["ENEC_FIGURES"] = old
    return nb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", default=os.path.join(HERE, "figures"))
    ap.add_argument("--save-outputs", action="store_true", help="write the executed notebook back")
    ap.add_argument("--out", help="write the executed notebook here instead")
    args = ap.parse_args()
    t = time.perf_counter()
    nb = execute(args.figures)
    if args.save_outputs or args.out:
        import nbformat
        nbformat.write(nb, args.out or NOTEBOOK)
    print(f"executed {NOTEBOOK} in {time.perf_counter() - t:.1f} s; figures in {args.figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
