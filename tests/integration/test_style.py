"""The tree stays as STYLE.md asks: clang-formatted with the checked-in
.clang-format, and free of unbounded string calls outside tests."""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

SRC = pathlib.Path(os.environ.get("TERN_SRC", pathlib.Path(__file__).resolve().parents[2]))


def c_sources():
    out = subprocess.run(["git", "-C", str(SRC), "ls-files", "*.c", "*.h"],
                         capture_output=True, text=True)
    if out.returncode != 0:  # not a git checkout: walk the tree
        return sorted(p for p in SRC.rglob("*.[ch]") if "build" not in p.parts)
    return [SRC / f for f in out.stdout.split()]


@pytest.mark.skipif(shutil.which("clang-format") is None, reason="clang-format not installed")
def test_tree_is_clang_formatted():
    bad = []
    for f in c_sources():
        r = subprocess.run(["clang-format", "--dry-run", "-Werror", str(f)],
                           capture_output=True, text=True, cwd=SRC)
        if r.returncode != 0:
            bad.append(str(f.relative_to(SRC)))
    assert not bad, "not clang-formatted (run `make format`): " + ", ".join(bad)


def test_no_unbounded_string_calls():
    pat = re.compile(r"\b(strcpy|strcat|sprintf|vsprintf|gets)\s*\(")
    hits = []
    for f in c_sources():
        rel = f.relative_to(SRC)
        if rel.parts[0] == "tests":
            continue
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            if pat.search(line):
                hits.append(f"{rel}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)
