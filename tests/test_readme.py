"""Every Python and shell block of README.md and docs/*.md runs as written, in a fresh temporary
directory, so a snippet that fails fails CI.

Rules (docs for writers):
- Every fenced block names its language. `python` blocks run with this interpreter; `sh`/`bash`
  blocks run with bash -euo pipefail (with this interpreter's bin directory first on PATH, so
  `python3`, `pip` and `enec` are this environment's). Other languages (text, json, ...) are not run.
- `<!-- skip-test: reason -->` on the line right before a block skips it (installs, long
  benchmarks); the reason is shown in the test report. Keep them few.
- `<!-- requires: module -->` right before a block skips it when that optional module is missing.
"""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.join("docs", n) for n in os.listdir(os.path.join(ROOT, "docs"))
                              if n.endswith(".md"))
RUN = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "shell": "sh"}
FENCE = re.compile(r"^```(\S*)\s*$")


def blocks(doc):
    """(doc, line, language, code, skip reason or None, required modules) of every fenced block."""
    lines = open(os.path.join(ROOT, doc), encoding="utf-8").read().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        code = "\n".join(lines[i + 1:j]) + "\n"
        skip, requires = None, []
        k = start - 1
        while k >= 0 and lines[k].startswith("<!--"):
            sm = re.match(r"<!--\s*skip-test:\s*(.+?)\s*-->", lines[k])
            rm = re.match(r"<!--\s*requires:\s*(.+?)\s*-->", lines[k])
            if sm:
                skip = sm.group(1)
            if rm:
                requires += rm.group(1).split()
            k -= 1
        out.append((doc, start + 1, lang, code, skip, requires))
        i = j + 1
    return out


ALL = [b for d in DOCS for b in blocks(d)]


def test_every_block_names_its_language():
    untagged = [f"{d}:{line}" for d, line, lang, *_ in ALL if not lang]
    assert not untagged, f"fenced blocks without a language (use python, sh, text, json...): {untagged}"


def test_skips_are_few_and_explained():
    skips = [(d, line, why) for d, line, lang, code, why, _ in ALL if why and lang in RUN]
    runnable = [b for b in ALL if b[2] in RUN]
    assert all(len(why) > 10 for *_, why in skips)
    assert len(skips) <= len(runnable) // 2, skips


@pytest.mark.parametrize("doc, line, lang, code, skip, requires",
                         [pytest.param(*b, id=f"{b[0]}:{b[1]}") for b in ALL if b[2] in RUN])
def test_block_runs(tmp_path, doc, line, lang, code, skip, requires):
    if skip:
        pytest.skip(f"{doc}:{line} marked skip-test: {skip}")
    for mod in requires:
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{doc}:{line} requires {mod}, not installed")
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    if RUN[lang] == "python":
        cmd = [sys.executable, "-c", code]
    else:
        cmd = ["bash", "-euo", "pipefail", "-c", code]
    p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, (f"{doc}:{line} ({lang}) failed with status {p.returncode}\n"
                               f"--- code\n{code}--- stdout\n{p.stdout[-3000:]}\n--- stderr\n{p.stderr[-3000:]}")
