"""ternmap(1): build indexed maps from text, query, dump and delete them,
check cidr/regexp tables, and see rebuilds from a long-running reader.

Binaries come from $TERN_BUILD/bin (default <repo>/build)."""
import os
import pathlib
import subprocess
import time

import pytest

SRC = pathlib.Path(os.environ.get("TERN_SRC", pathlib.Path(__file__).resolve().parents[2]))
BUILD = pathlib.Path(os.environ.get("TERN_BUILD", SRC / "build"))
TERNMAP = BUILD / "bin" / "ternmap"
INDEXED = ["hash", "btree", "lmdb"]
SUFFIX = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb"}


def ternmap(*args, cwd=None, stdin=None, env_extra=None):
    env = dict(os.environ)
    env["MAIL_CONFIG"] = str(cwd) if cwd else env.get("MAIL_CONFIG", "/nonexistent")
    if env_extra:
        env.update(env_extra)
    r = subprocess.run([str(TERNMAP), *map(str, args)], capture_output=True, text=True,
                       input=stdin, cwd=cwd, env=env, timeout=30)
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
    return r


@pytest.fixture
def confdir(tmp_path):
    (tmp_path / "main.cf").write_text("# test configuration\n")
    return tmp_path


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("dbtype", INDEXED)
def test_build_query_dump_delete(confdir, dbtype):
    src = write(confdir / "virtual", "# comment\nInfo@Example.com  alice\n"
                "sales@example.com bob,\n  carol\n")
    r = ternmap(f"{dbtype}:{src}", cwd=confdir)
    assert r.returncode == 0, r.stderr
    assert (confdir / ("virtual" + SUFFIX[dbtype])).exists()
    r = ternmap("-q", "INFO@example.COM", f"{dbtype}:{src}", cwd=confdir)
    assert (r.returncode, r.stdout) == (0, "alice\n")
    r = ternmap("-q", "sales@example.com", f"{dbtype}:{src}", cwd=confdir)
    assert r.stdout == "bob, carol\n"
    r = ternmap("-q", "nobody@example.com", f"{dbtype}:{src}", cwd=confdir)
    assert (r.returncode, r.stdout) == (1, "")
    r = ternmap("-s", f"{dbtype}:{src}", cwd=confdir)
    assert sorted(r.stdout.splitlines()) == ["info@example.com alice",
                                             "sales@example.com bob, carol"]
    r = ternmap("-d", "info@example.com", f"{dbtype}:{src}", cwd=confdir)
    assert r.returncode == 0, r.stderr
    r = ternmap("-d", "info@example.com", f"{dbtype}:{src}", cwd=confdir)
    assert r.returncode == 1
    assert ternmap("-q", "info@example.com", f"{dbtype}:{src}", cwd=confdir).returncode == 1
    # No temporary files are left behind.
    assert not [p for p in confdir.iterdir() if ".tmp." in p.name]


def test_no_fold(confdir):
    src = write(confdir / "m", "MiXed value\n")
    assert ternmap("-f", f"hash:{src}", cwd=confdir).returncode == 0
    assert ternmap("-f", "-q", "MiXed", f"hash:{src}", cwd=confdir).stdout == "value\n"
    assert ternmap("-f", "-q", "mixed", f"hash:{src}", cwd=confdir).returncode == 1


def test_source_error_names_line_and_keeps_old_map(confdir):
    src = write(confdir / "m", "a 1\n")
    assert ternmap(f"hash:{src}", cwd=confdir).returncode == 0
    write(src, "a 2\nb 3\nlonely\n")
    r = ternmap(f"hash:{src}", cwd=confdir)
    assert r.returncode == 1
    assert f"{src}, line 3" in r.stderr
    assert ternmap("-q", "a", f"hash:{src}", cwd=confdir).stdout == "1\n"


def test_duplicate_warns_first_wins(confdir):
    src = write(confdir / "m", "k first\nK second\n")
    r = ternmap(f"lmdb:{src}", cwd=confdir)
    assert r.returncode == 0
    assert f"{src}, line 2: duplicate entry" in r.stderr
    assert ternmap("-q", "k", f"lmdb:{src}", cwd=confdir).stdout == "first\n"


def test_aliases_format(confdir):
    src = write(confdir / "aliases", "postmaster: root\nroot: admin@example.com, \\ops\n")
    assert ternmap("-A", f"hash:{src}", cwd=confdir).returncode == 0
    assert ternmap("-q", "root", f"hash:{src}", cwd=confdir).stdout == \
        "admin@example.com, \\ops\n"
    write(src, "postmaster root\n")
    r = ternmap("-A", f"hash:{src}", cwd=confdir)
    assert r.returncode == 1 and f"{src}, line 1" in r.stderr


def test_default_database_type(confdir):
    src = write(confdir / "m", "k v\n")
    assert ternmap(src, cwd=confdir).returncode == 0
    assert (confdir / "m.db").exists()
    (confdir / "main.cf").write_text("default_database_type = lmdb\n")
    assert ternmap("-c", confdir, src, cwd=confdir).returncode == 0
    assert (confdir / "m.lmdb").exists()
    assert ternmap("-c", confdir, "-q", "k", src, cwd=confdir).stdout == "v\n"


def test_query_several_tables_first_wins(confdir):
    a = write(confdir / "a", "x from-a\n")
    b = write(confdir / "b", "x from-b\ny from-b\n")
    assert ternmap(f"hash:{a}", f"hash:{b}", cwd=confdir).returncode == 0
    r = ternmap("-q", "y", f"hash:{a}", f"hash:{b}", cwd=confdir)
    assert r.stdout == "from-b\n"
    r = ternmap("-q", "x", f"hash:{a}", f"hash:{b}", cwd=confdir)
    assert r.stdout == "from-a\n"
    r = ternmap("-q", "-", f"hash:{b}", cwd=confdir, stdin="x\nnone\ny\n")
    assert r.stdout == "x from-b\ny from-b\n"


def test_pattern_tables(confdir):
    cidr = write(confdir / "cidr", "192.0.2.0/24 REJECT\n2001:db8::/32 OK\n")
    assert ternmap(f"cidr:{cidr}", cwd=confdir).returncode == 0  # syntax check
    assert ternmap("-q", "192.0.2.9", f"cidr:{cidr}", cwd=confdir).stdout == "REJECT\n"
    assert ternmap("-q", "2001:db8::7", f"cidr:{cidr}", cwd=confdir).stdout == "OK\n"
    write(cidr, "192.0.2.0/24 ok\n192.0.2.1/24 bad\n")
    r = ternmap(f"cidr:{cidr}", cwd=confdir)
    assert r.returncode == 1 and f"{cidr}, line 2" in r.stderr
    rx = write(confdir / "rx", "/^(.*)@old\\.example$/ $1@new.example\n")
    assert ternmap("-q", "Bob@OLD.example", f"regexp:{rx}", cwd=confdir).stdout == \
        "Bob@new.example\n"
    write(rx, "/(a/ x\n")
    r = ternmap(f"regexp:{rx}", cwd=confdir)
    assert r.returncode == 1 and f"{rx}, line 1" in r.stderr
    assert ternmap("-q", "k", "inline:{ k=v }", cwd=confdir).stdout == "v\n"
    assert ternmap("-q", "k", "static:{ a b }", cwd=confdir).stdout == "a b\n"


def test_bad_usage(confdir):
    assert ternmap(cwd=confdir).returncode == 1
    assert ternmap("-q", "k", "-s", "hash:x", cwd=confdir).returncode == 1
    r = ternmap("-q", "k", "nosuch:x", cwd=confdir)
    assert r.returncode == 1 and "unsupported table type" in r.stderr
    r = ternmap("-q", "k", f"hash:{confdir}/missing", cwd=confdir)
    assert r.returncode == 1


@pytest.mark.parametrize("dbtype", INDEXED)
def test_rebuild_seen_by_running_reader(confdir, dbtype):
    """A long-running reader (ternmap -q -) sees each rebuild on its next
    lookup, and never a missing or half-written map in between."""
    src = write(confdir / "m", "k v0\n")
    assert ternmap(f"{dbtype}:{src}", cwd=confdir).returncode == 0
    env = dict(os.environ, MAIL_CONFIG=str(confdir))
    reader = subprocess.Popen([str(TERNMAP), "-q", "-", f"{dbtype}:{src}"], cwd=confdir,
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        for gen in range(1, 8):
            write(src, f"k v{gen}\n" + "".join(f"filler{i} {gen}\n" for i in range(gen * 200)))
            assert ternmap(f"{dbtype}:{src}", cwd=confdir).returncode == 0
            reader.stdin.write("k\n")
            reader.stdin.flush()
            assert reader.stdout.readline() == f"k v{gen}\n"
    finally:
        reader.stdin.close()
        reader.wait(timeout=10)
    assert reader.returncode == 0


def test_concurrent_rebuild_and_queries(confdir):
    """Queries racing with rebuilds always find the key (old or new value)."""
    src = write(confdir / "m", "k a\n")
    assert ternmap(f"hash:{src}", cwd=confdir).returncode == 0
    env = dict(os.environ, MAIL_CONFIG=str(confdir))
    builder = subprocess.Popen(
        ["sh", "-c", f"i=0; while [ $i -lt 30 ]; do echo \"k v$i\" > '{src}'; "
         f"'{TERNMAP}' hash:'{src}' || exit 1; i=$((i+1)); done"],
        cwd=confdir, env=env)
    deadline = time.time() + 20
    seen = set()
    while builder.poll() is None and time.time() < deadline:
        r = ternmap("-q", "k", f"hash:{src}", cwd=confdir)
        assert r.returncode == 0, r.stderr
        seen.add(r.stdout)
    assert builder.wait(timeout=20) == 0
    assert seen
