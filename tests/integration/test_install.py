"""make install DESTDIR=... lays out the FHS tree; man pages render cleanly.

These tests use the build the suite is testing ($TERN_BUILD), so they do not
rebuild anything."""
import os
import subprocess
import pathlib

import pytest

SRC = pathlib.Path(os.environ.get("TERN_SRC", pathlib.Path(__file__).resolve().parents[2]))
BUILD = pathlib.Path(os.environ.get("TERN_BUILD", SRC / "build"))


def build_vars():
    # The build under test is either build/ (plain) or build/san (sanitizers).
    san = os.environ.get("TERN_SAN", "asan" if BUILD.name == "san" else "")
    return [f"BUILD={BUILD}", f"SAN={san}"]


def man_pages():
    return sorted((SRC / "man").glob("man[158]/*.[158]"))


def test_install_destdir(tmp_path):
    dest = tmp_path / "root"
    r = subprocess.run(
        ["make", "-s", "-C", str(SRC), *build_vars(), "install", f"DESTDIR={dest}",
         "prefix=/usr", "bindir=/usr/bin", "sysconfdir=/etc",
         "libexecdir=/usr/libexec", "mandir=/usr/share/man"],
        capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    bins = {p.name for p in (BUILD / "bin").iterdir()}
    daemons = {p.name for p in (BUILD / "libexec").iterdir()}
    assert "tern" in bins and "master" in daemons
    if "sendmail" in bins:
        for alias in ("mailq", "newaliases"):
            link = dest / "usr/bin" / alias
            assert link.is_symlink() and os.readlink(link) == "sendmail", alias
    for b in bins:
        f = dest / "usr/bin" / b
        assert f.is_file() and os.access(f, os.X_OK), f
    for d in daemons:
        f = dest / "usr/libexec/tern" / d
        assert f.is_file() and os.access(f, os.X_OK), f
    assert (dest / "etc/tern/main.cf").is_file()
    assert (dest / "etc/tern/master.cf").is_file()
    for page in man_pages():
        sec = page.suffix[1:]
        assert (dest / f"usr/share/man/man{sec}" / page.name).is_file(), page
    unit = dest / "usr/lib/systemd/system/tern.service"
    if (SRC / "conf/tern.service").exists():
        text = unit.read_text()
        assert "/usr/bin/tern" in text and "@" not in text


def test_every_program_has_a_man_page():
    pages = {p.stem for p in man_pages()}
    progs = [p.name for p in (BUILD / "bin").iterdir()]
    progs += [p.name for p in (BUILD / "libexec").iterdir()]
    missing = [p for p in progs if p not in pages]
    assert not missing, f"programs without a man page: {missing}"


@pytest.mark.parametrize("page", man_pages(), ids=lambda p: p.name)
def test_man_page_renders_cleanly(page):
    r = subprocess.run(["groff", "-ww", "-z", "-man", str(page)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert r.stderr == "", r.stderr
    r = subprocess.run(["man", "-l", "-Tutf8", str(page)], capture_output=True,
                       timeout=60, env={**os.environ, "MANWIDTH": "80"})
    assert r.returncode == 0 and len(r.stdout) > 200
