"""tools/sources.py - sources.mk for Python: setup.py's C source lists.

`python3 tools/sources.py` prints the lists as `make -s print-sources` does;
`make check-sources` compares the two, so this reading of sources.mk and
make's cannot drift apart.
"""
import os
import re
import sys
from glob import glob

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _variables(root):
    out = {}
    with open(os.path.join(root, "sources.mk")) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.fullmatch(r"([A-Za-z_]\w*)\s*:?=\s*(.*)", line)
            if not m or line.endswith("\\"):
                raise SystemExit(f"sources.mk:{n}: expected `NAME := words` on one line")
            out[m.group(1)] = m.group(2).split()
    return out


def _expand(root, patterns):
    # Make's $(wildcard): paths relative to the root, sorted, missing ones dropped.
    files = set()
    for p in patterns:
        files.update(os.path.relpath(f, root) for f in glob(os.path.join(root, p)))
    return sorted(files)


def source_lists(root=ROOT):
    """{'lib', 'npu', 'py_enec', 'py_npu'}: lists of paths relative to root."""
    v = _variables(root)
    py_enec = _expand(root, v["ENEC_PY_ENEC"])
    py_npu = _expand(root, v["ENEC_PY_NPU"])
    bindings = set(py_enec) | set(py_npu)

    def layer(dirs):
        return [f for f in _expand(root, [d + "/*.c" for d in dirs]) if f not in bindings]

    return {"lib": layer(v["ENEC_LIB_DIRS"]), "npu": layer(v["ENEC_NPU_DIRS"]),
            "py_enec": py_enec, "py_npu": py_npu}


if __name__ == "__main__":
    for name, files in source_lists(sys.argv[1] if len(sys.argv) > 1 else ROOT).items():
        print(name + ":", " ".join(files))
