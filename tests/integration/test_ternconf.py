"""ternconf: printing (-n, -d, -h, -x, names), editing main.cf (-e, -X),
master.cf (-M), error reporting, and main.cf(5) kept in step with the
parameter table.

Environment: TERN_BUILD (default <repo>/build) holds bin/ternconf; TERN_SRC
is the source tree."""
import os
import pathlib
import re
import shutil
import stat
import subprocess

import pytest

SRC = pathlib.Path(os.environ.get("TERN_SRC", pathlib.Path(__file__).resolve().parents[2]))
BUILD = pathlib.Path(os.environ.get("TERN_BUILD", SRC / "build"))
TERNCONF = BUILD / "bin" / "ternconf"


def run(*args, env=None, check=None):
    e = dict(os.environ)
    e.pop("MAIL_CONFIG", None)
    if env:
        e.update(env)
    r = subprocess.run([str(TERNCONF), *args], capture_output=True, text=True, timeout=30, env=e)
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


@pytest.fixture
def confdir(tmp_path):
    d = tmp_path / "etc"
    d.mkdir()
    return d


def write_main(d, text):
    (d / "main.cf").write_text(text)


def settings(out):
    """'name = value' lines -> dict."""
    res = {}
    for line in out.splitlines():
        name, _, value = line.partition(" =")
        res[name] = value.strip()
    return res


# ---- printing -------------------------------------------------------------

def test_defaults_listed(confdir):
    r = run("-d", check=0)
    d = settings(r.stdout)
    assert d["message_size_limit"] == "26214400"
    assert d["mail_owner"] == "tern"
    assert d["setgid_group"] == "terndrop"
    assert d["myorigin"] == "$myhostname"
    assert d["mydestination"] == "$myhostname, localhost.$mydomain, localhost"
    assert d["mynetworks"] == "127.0.0.0/8 [::1]/128"
    assert d["inet_interfaces"] == "all"
    assert d["max_idle"] == "100s"
    assert d["relayhost"] == ""
    assert d["myhostname"] == os.uname().nodename
    names = list(d)
    assert names == sorted(names)
    assert len(names) > 50
    # -d does not read main.cf, even a broken one.
    write_main(confdir, "this is not valid\n")
    assert run("-c", str(confdir), "-d", "mail_owner", check=0).stdout == "mail_owner = tern\n"


def test_values_only_and_names(confdir):
    write_main(confdir, "myhostname = mx.example.org\nmyorigin = $mydomain\n")
    r = run("-c", str(confdir), "myorigin", "relayhost", "myhostname", check=0)
    assert r.stdout == "myorigin = $mydomain\nrelayhost =\nmyhostname = mx.example.org\n"
    assert run("-c", str(confdir), "-h", "myorigin", check=0).stdout == "$mydomain\n"
    assert run("-c", str(confdir), "-x", "myorigin", check=0).stdout == "myorigin = example.org\n"
    assert run("-c", str(confdir), "-hx", "mydestination", check=0).stdout == \
        "mx.example.org, localhost.example.org, localhost\n"
    assert run("-c", str(confdir), "-d", "-h", "message_size_limit", check=0).stdout == "26214400\n"


def test_all_effective(confdir):
    write_main(confdir, "relayhost = [r.example]:587\n")
    d = settings(run("-c", str(confdir), check=0).stdout)
    assert d["relayhost"] == "[r.example]:587"
    assert d["mail_owner"] == "tern"
    assert d["config_directory"] == str(confdir)


def test_n_only_set(confdir):
    write_main(confdir, "# comment\nrelayhost = x\nmy_own_thing = 1\nmax_use = 5\n"
                        "mynetworks = 10.0.0.0/8,\n    192.168.0.0/16\n")
    r = run("-c", str(confdir), "-n", check=0)
    assert r.stdout == ("max_use = 5\nmy_own_thing = 1\nmynetworks = 10.0.0.0/8, 192.168.0.0/16\n"
                        "relayhost = x\n")
    assert "unknown parameter my_own_thing" in r.stderr
    assert "line 3" in r.stderr


def test_mail_config_env(confdir):
    write_main(confdir, "relayhost = from-env\n")
    r = run("-n", env={"MAIL_CONFIG": str(confdir)}, check=0)
    assert r.stdout == "relayhost = from-env\n"


def test_unknown_name(confdir):
    write_main(confdir, "")
    r = run("-c", str(confdir), "relayhost", "nosuchname", check=1)
    assert r.stdout == "relayhost =\n"
    assert "ternconf: warning: nosuchname: unknown parameter" in r.stderr


def test_shipped_main_cf_sets_nothing(confdir):
    shutil.copy(SRC / "conf" / "main.cf", confdir / "main.cf")
    shutil.copy(SRC / "conf" / "master.cf", confdir / "master.cf")
    r = run("-c", str(confdir), "-n", check=0)
    assert r.stdout == ""
    assert r.stderr == ""
    # master.cf rows are switched on as their daemons arrive: every active
    # row must name a daemon that the build has.
    for line in run("-c", str(confdir), "-M", check=0).stdout.splitlines():
        command = line.split()[7]
        assert (BUILD / "libexec" / command).is_file(), line


# ---- errors ---------------------------------------------------------------

@pytest.mark.parametrize("text,line,what", [
    ("relayhost = x\n\nthis line is wrong\n", 3, "missing '='"),
    ("# c\nmax_idle = 5y\n", 2, "bad time value"),
    ("message_size_limit = big\n", 1, "bad numeric value"),
    ("soft_bounce = perhaps\n", 1, "bad boolean value"),
    ("a = $b\nb = $a\n", 1, "expansion loop"),
    ("default_process_limit = 0\n", 1, "below the minimum"),
    ("  indented = x\n", 1, "continuation line"),
])
def test_bad_main_cf(confdir, text, line, what):
    write_main(confdir, text)
    r = run("-c", str(confdir), "-n", check=1)
    assert f"main.cf, line {line}: " in r.stderr
    assert what in r.stderr
    assert r.stderr.startswith("ternconf: error: ") or "ternconf: error: " in r.stderr


def test_missing_main_cf(confdir):
    r = run("-c", str(confdir / "nope"), check=1)
    assert "main.cf" in r.stderr


# ---- editing --------------------------------------------------------------

ORIGINAL = """# top comment
myhostname = old.example

# relay settings
relayhost = [a]:25
mynetworks = 10.0.0.0/8,
    192.168.0.0/16
  172.16.0.0/12
# trailing comment
max_use = 5
"""


def test_edit_replace_keeps_comments(confdir):
    write_main(confdir, ORIGINAL)
    os.chmod(confdir / "main.cf", 0o640)
    run("-c", str(confdir), "-e", "mynetworks = 127.0.0.0/8", "relayhost=", "new_one=x y",
        check=0)
    text = (confdir / "main.cf").read_text()
    assert text == """# top comment
myhostname = old.example

# relay settings
relayhost =
mynetworks = 127.0.0.0/8
# trailing comment
max_use = 5
new_one = x y
"""
    assert stat.S_IMODE(os.stat(confdir / "main.cf").st_mode) == 0o640
    assert sorted(p.name for p in confdir.iterdir()) == ["main.cf"]
    assert run("-c", str(confdir), "-h", "mynetworks", check=0).stdout == "127.0.0.0/8\n"


def test_edit_duplicates_collapse(confdir):
    write_main(confdir, "relayhost = a\nmax_use = 2\nrelayhost = b\n")
    run("-c", str(confdir), "-e", "relayhost=c", check=0)
    assert (confdir / "main.cf").read_text() == "relayhost = c\nmax_use = 2\n"


def test_edit_value_with_dollar_and_no_trailing_newline(confdir):
    write_main(confdir, "max_use = 2")
    run("-c", str(confdir), "-e", "myorigin=$mydomain", check=0)
    assert (confdir / "main.cf").read_text() == "max_use = 2\nmyorigin = $mydomain\n"


def test_edit_creates_file(confdir):
    run("-c", str(confdir), "-e", "relayhost=[x]", check=0)
    assert (confdir / "main.cf").read_text() == "relayhost = [x]\n"


@pytest.mark.parametrize("arg", ["max_idle=5y", "max_use=0", "relayhost=$relayhost"])
def test_edit_invalid_refused(confdir, arg):
    write_main(confdir, ORIGINAL)
    r = run("-c", str(confdir), "-e", arg, check=1)
    assert "not changed" in r.stderr
    assert (confdir / "main.cf").read_text() == ORIGINAL
    assert sorted(p.name for p in confdir.iterdir()) == ["main.cf"]


@pytest.mark.parametrize("arg", ["noequals", "bad name=1", "=x"])
def test_edit_bad_argument(confdir, arg):
    write_main(confdir, ORIGINAL)
    run("-c", str(confdir), "-e", arg, check=1)
    assert (confdir / "main.cf").read_text() == ORIGINAL


def test_remove(confdir):
    write_main(confdir, ORIGINAL)
    run("-c", str(confdir), "-X", "mynetworks", "myhostname", "not_there", check=0)
    text = (confdir / "main.cf").read_text()
    assert "mynetworks" not in text and "172.16" not in text and "myhostname" not in text
    assert "# relay settings\nrelayhost = [a]:25\n# trailing comment\n" in text


# ---- master.cf --------------------------------------------------------------

def test_master_listing(confdir):
    write_main(confdir, "")
    (confdir / "master.cf").write_text(
        "smtp inet n - n - - smtpd\n  -o smtpd_tls_wrappermode=yes\n"
        "pickup unix n - n 60? 1 pickup\n")
    out = run("-c", str(confdir), "-M", check=0).stdout.splitlines()
    assert len(out) == 2
    assert out[0].split() == ["smtp", "inet", "n", "y", "n", "0", "-", "smtpd", "-o",
                              "smtpd_tls_wrappermode=yes"]
    assert out[1].split() == ["pickup", "unix", "n", "y", "n", "60?", "1", "pickup"]
    only = run("-c", str(confdir), "-M", "pickup/unix", check=0).stdout
    assert only.startswith("pickup")


def test_master_errors(confdir):
    (confdir / "master.cf").write_text("# c\nsmtp inet n - n - - smtpd\nsmtp inet n - n - - smtpd\n")
    r = run("-c", str(confdir), "-M", check=1)
    assert "master.cf, line 3: duplicate service smtp/inet" in r.stderr


# ---- main.cf(5) agrees with the table -----------------------------------------

ENTRY = re.compile(r"^\\fB(\w+)\\fR \((\w+)(?:, unit \w)?; default: (.*)\)$")


def man_entries(text):
    section = text.split(".SH PARAMETERS\n", 1)
    assert len(section) == 2, "no PARAMETERS section"
    body = section[1].split("\n.SH ", 1)[0]
    entries = {}
    for line in body.splitlines():
        m = ENTRY.match(line)
        if m:
            entries[m.group(1)] = (m.group(2), m.group(3))
    return body, entries


def test_man_page_matches_table():
    page = (SRC / "man" / "man5" / "main.cf.5").read_text()
    generated = run("-m", check=0).stdout
    page_body, page_entries = man_entries(page)
    table_body, table_entries = man_entries(generated)
    assert table_entries, "ternconf -m printed no parameters"
    missing = sorted(set(table_entries) - set(page_entries))
    assert not missing, f"main.cf.5 lacks {missing}; run scripts/gen-maincf-man"
    extra = sorted(set(page_entries) - set(table_entries))
    assert not extra, f"main.cf.5 documents unknown {extra}; run scripts/gen-maincf-man"
    differ = {n: (page_entries[n], table_entries[n]) for n in table_entries
              if page_entries[n] != table_entries[n]}
    assert not differ, f"defaults/types differ (page, table): {differ}; run scripts/gen-maincf-man"
    assert page_body.strip() == table_body.strip(), \
        "main.cf.5 descriptions differ from lib/params.c; run scripts/gen-maincf-man"
    # Every table parameter appears, and -d agrees about plain defaults.
    defaults = settings(run("-d", check=0).stdout)
    assert set(defaults) == set(table_entries)
    for name, (_, shown) in table_entries.items():
        plain = re.fullmatch(r"\\fB(.*)\\fR", shown)
        if plain:
            assert plain.group(1).replace("\\-", "-") == defaults[name], name
        elif shown == "empty":
            assert defaults[name] == "", name


@pytest.mark.parametrize("page", ["man1/ternconf.1", "man5/main.cf.5", "man5/master.cf.5"])
def test_man_pages_render_cleanly(page):
    if shutil.which("groff") is None:
        pytest.skip("groff not installed")
    r = subprocess.run(["groff", "-ww", "-z", "-man", str(SRC / "man" / page)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
