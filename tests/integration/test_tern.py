"""Integration tests for the tern control command (tools/tern).

Each test makes its own instance with `tern init` in a temporary
directory on free 127.0.0.1 ports, and every master it starts is tracked
by pid and killed at the end if it is still there.  Binaries come from
$TERN_BUILD (default <repo>/build).
"""

import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pathlib

import pytest

SRC = os.environ.get("TERN_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("TERN_BUILD") or os.path.join(SRC, "build")
TERN = os.path.join(BUILD, "bin", "tern")
LIBEXEC = os.path.join(BUILD, "libexec")
MASTER = os.path.join(LIBEXEC, "master")

# The standard ports `tern init` adds to --port-base.
OFFSETS = {"smtp": 25, "submission": 587, "smtps": 465, "pop3": 110,
           "pop3s": 995, "imap": 143, "imaps": 993}
QUEUE_DIRS = {"maildrop": 0o730, "incoming": 0o700, "active": 0o700,
              "deferred": 0o700, "hold": 0o700, "corrupt": 0o700,
              "bounce": 0o700, "defer": 0o700, "trace": 0o700,
              "private": 0o700, "public": 0o710}
TIMEOUT = 30

pytestmark = pytest.mark.skipif(
    not (os.access(TERN, os.X_OK) and os.access(MASTER, os.X_OK)),
    reason="tern or master not built in " + BUILD)


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base():
    """A base N in 20000..40000 whose N+1 and N+standard ports are free."""
    for _ in range(200):
        base = random.randrange(20000, 40000, 10)
        if all(port_free(base + off) for off in [1] + list(OFFSETS.values())):
            return base
    pytest.skip("no free port range found")


def tern(*args, cfg=None, check=False, timeout=TIMEOUT):
    cmd = [TERN] + (["-c", str(cfg)] if cfg else []) + [str(a) for a in args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (
            " ".join(cmd), res.returncode, res.stdout, res.stderr))
    return res


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class Instance:
    def __init__(self, path, base):
        self.dir = path
        self.base = base
        self.pids = []  # every master pid we saw, killed in cleanup

    def track(self, pid):
        self.pids.append(pid)
        return pid

    def status_pid(self):
        res = tern("status", cfg=self.dir)
        m = re.search(r"running: PID: (\d+)", res.stdout)
        return int(m.group(1)) if res.returncode == 0 and m else None

    def cleanup(self):
        for pid in self.pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                if not wait_for(lambda: not pid_alive(pid), 10):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def inst():
    # Not pytest's tmp_path: its parents are private to the invoking user,
    # and a root master runs its children as mail_owner, who must get in.
    top = tempfile.mkdtemp(prefix="tern-test-")
    os.chmod(top, 0o755)
    base = free_port_base()
    path = pathlib.Path(top) / "inst"
    i = Instance(path, base)
    try:
        res = tern("init", path, "--port-base", base, "--user", "alice",
                   "--user", "bob@example.org:Secret-1", check=True)
        i.init_output = res.stdout
        yield i
    finally:
        i.cleanup()
        shutil.rmtree(top, ignore_errors=True)


def add_testsvc(inst, port, maxproc=2):
    """A listener run by the master engineer's test daemon, or skip.

    master.cf names programs in daemon_directory only, so the instance
    gets its own daemon directory: links to the built daemons plus testsvc.
    """
    svc = os.path.join(BUILD, "tests", "testsvc")
    if not os.access(svc, os.X_OK):
        pytest.skip("no testsvc test daemon built")
    libexec = inst.dir / "libexec"
    libexec.mkdir()
    for name in os.listdir(LIBEXEC):
        os.symlink(os.path.join(os.path.realpath(LIBEXEC), name), libexec / name)
    os.symlink(os.path.realpath(svc), libexec / "testsvc")
    main = re.sub(r"^daemon_directory = .*$", "daemon_directory = %s" % libexec,
                  read(inst.dir / "main.cf"), flags=re.M)
    with open(inst.dir / "main.cf", "w") as f:
        f.write(main)
    with open(inst.dir / "master.cf", "a") as f:
        f.write("127.0.0.1:%d inet n - n - %d testsvc\n" % (port, maxproc))


def read(path):
    with open(path) as f:
        return f.read()


# ---- init ---------------------------------------------------------------

def test_init_main_cf(inst):
    d = str(inst.dir)
    main = read(inst.dir / "main.cf")
    assert main.startswith("#") and "generated by `tern init`" in main
    expect = {
        "config_directory": d,
        "queue_directory": d + "/queue",
        "daemon_directory": os.path.realpath(LIBEXEC),
        "command_directory": os.path.realpath(os.path.join(BUILD, "bin")),
        "maillog_file": d + "/log/tern.log",
        "mydomain": "example.test",
        "myhostname": "localhost",
        "inet_interfaces": "127.0.0.1",
    }
    for name, value in expect.items():
        assert re.search(r"^%s = %s$" % (name, re.escape(value)), main, re.M), name
    owner = re.search(r"^mail_owner = (\S+)$", main, re.M).group(1)
    if os.getuid() != 0:
        import pwd
        assert owner == pwd.getpwuid(os.getuid()).pw_name
    assert re.search(r"^virtual_mailbox_domains = example.test example.org$", main, re.M)


def test_init_master_cf(inst):
    master = read(inst.dir / "master.cf")
    for name, off in OFFSETS.items():
        port = inst.base + off
        daemon = "smtpd" if name.startswith(("smtp", "sub")) else name.rstrip("s") + "d"
        line = re.search(r"^(#?)127\.0\.0\.1:%d\s+inet\s.*\b%s\b" % (port, daemon), master, re.M)
        assert line, "no line for %s on %d" % (name, port)
        exists = os.access(os.path.join(LIBEXEC, daemon), os.X_OK)
        assert (line.group(1) == "") == exists
        if not exists:
            assert "# enable when %s exists" % daemon in master
        assert str(port) in inst.init_output


def test_init_dirs_and_users(inst):
    for sub in ("queue", "mail", "log"):
        assert (inst.dir / sub).is_dir()
    for name, mode in QUEUE_DIRS.items():
        st = os.stat(inst.dir / "queue" / name)
        assert stat.S_IMODE(st.st_mode) == mode, name
    users = read(inst.dir / "users").splitlines()
    assert len(users) == 2
    for line, addr in zip(users, ["alice@example.test", "bob@example.org"]):
        assert re.fullmatch(re.escape(addr) +
                            r":\{(CRYPT|SHA512-CRYPT)\}\$(y|6)\$[^:]+::::::", line)
    assert stat.S_IMODE(os.stat(inst.dir / "users").st_mode) & 0o007 == 0
    for dom, user in (("example.test", "alice"), ("example.org", "bob")):
        for sub in ("tmp", "new", "cur"):
            assert (inst.dir / "mail" / dom / user / sub).is_dir()
    # A password is printed only when it was generated.
    assert re.search(r"alice@example.test password: \S{12,}", inst.init_output)
    assert "Secret-1" not in inst.init_output
    assert "bob@example.org example.org/bob/" in read(inst.dir / "vmailbox")


def table(path):
    """A postmap-format file as {key: value}, comments skipped."""
    out = {}
    for line in read(path).splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split(None, 1)
            out[key] = value.strip()
    return out


def test_init_role_aliases(inst):
    d = str(inst.dir)
    main = read(inst.dir / "main.cf")
    # A sandbox (no --outbound) also catches other domains' mail.
    for name, value in (("virtual_alias_maps",
                         "texthash:%s/virtual, regexp:%s/catchall" % (d, d)),
                        ("alias_maps", "texthash:%s/aliases" % d),
                        ("alias_database", "texthash:%s/aliases" % d)):
        assert re.search(r"^%s = %s$" % (name, re.escape(value)), main, re.M), name
    virt = table(inst.dir / "virtual")
    for dom in ("example.test", "example.org"):
        for role in ("postmaster", "abuse", "hostmaster", "mailer-daemon"):
            assert virt["%s@%s" % (role, dom)] == "alice@example.test"
    assert len(virt) == 8
    aliases = table(inst.dir / "aliases")
    assert aliases["postmaster"] == "alice@example.test"
    for name in ("root", "abuse", "hostmaster", "mailer-daemon"):
        assert aliases[name] == "postmaster"
    assert "postmaster, abuse" in inst.init_output and "alice@example.test" in inst.init_output


def test_init_without_user_makes_postmaster(tmp_path):
    path = tmp_path / "np"
    res = tern("init", path, "--port-base", "30000", "--domain", "nouser.test", check=True)
    assert "postmaster@nouser.test (a mailbox without login)" in res.stdout
    for sub in ("tmp", "new", "cur"):
        assert (path / "mail" / "nouser.test" / "postmaster" / sub).is_dir()
    # A mailbox, but no login: not in the users file.
    assert table(path / "vmailbox") == {"postmaster@nouser.test": "nouser.test/postmaster/",
                                        "catchall@nouser.test": "nouser.test/catchall/"}
    assert "postmaster" not in read(path / "users")
    virt = table(path / "virtual")
    assert virt == {"abuse@nouser.test": "postmaster@nouser.test",
                    "hostmaster@nouser.test": "postmaster@nouser.test",
                    "mailer-daemon@nouser.test": "postmaster@nouser.test"}
    assert table(path / "aliases")["postmaster"] == "postmaster@nouser.test"
    # A user given later takes over the role addresses.
    tern("init", path, "--port-base", "30000", "--domain", "nouser.test", "--force",
         "--user", "dan", check=True)
    assert table(path / "virtual")["postmaster@nouser.test"] == "dan@nouser.test"
    assert "dan@nouser.test" in table(path / "vmailbox")
    # Re-initialised without --user: the existing first user keeps them.
    tern("init", path, "--port-base", "30000", "--domain", "nouser.test", "--force",
         check=True)
    assert table(path / "virtual")["abuse@nouser.test"] == "dan@nouser.test"


def test_init_refuses_overwrite(inst):
    before = read(inst.dir / "main.cf")
    res = tern("init", inst.dir, "--port-base", inst.base)
    assert res.returncode != 0
    assert "--force" in res.stderr
    assert read(inst.dir / "main.cf") == before
    res = tern("init", inst.dir, "--port-base", inst.base, "--force",
               "--user", "carol", check=True)
    users = read(inst.dir / "users")
    assert "alice@example.test:" in users and "carol@example.test:" in users


def test_init_port_base_rules(tmp_path):
    # (init writes only under tmp_path; nothing is started here)
    res = tern("init", tmp_path / "x")
    if os.getuid() == 0:
        assert res.returncode == 0
        assert re.search(r"^#?127\.0\.0\.1:25\s", read(tmp_path / "x" / "master.cf"), re.M)
    else:
        assert res.returncode != 0 and "--port-base" in res.stderr
    res = tern("init", tmp_path / "y", "--port-base", "65000")
    assert res.returncode != 0 and "port-base" in res.stderr
    res = tern("init", tmp_path / "z", "--port-base", "30000", "--user", "bad/name")
    assert res.returncode != 0 and "not a valid address" in res.stderr


# ---- check --------------------------------------------------------------

def test_check_fresh_instance(inst):
    res = tern("check", cfg=inst.dir)
    assert res.returncode == 0, res.stderr
    assert "error" not in res.stderr


def test_check_creates_queue_dirs(inst):
    os.rmdir(inst.dir / "queue" / "deferred")
    os.chmod(inst.dir / "queue" / "hold", 0o755)
    tern("check", cfg=inst.dir, check=True)
    assert stat.S_IMODE(os.stat(inst.dir / "queue" / "deferred").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(inst.dir / "queue" / "hold").st_mode) == 0o700


def test_check_bad_main_cf(inst):
    path = inst.dir / "main.cf"
    lines = read(path).splitlines()
    with open(path, "a") as f:
        f.write("message_size_limit = lots\n")
    res = tern("check", cfg=inst.dir)
    assert res.returncode != 0
    assert "%s, line %d:" % (path, len(lines) + 1) in res.stderr
    assert res.stderr.startswith("tern: ")


def test_check_bad_master_cf(inst):
    path = inst.dir / "master.cf"
    n = len(read(path).splitlines())
    with open(path, "a") as f:
        f.write("127.0.0.1:%d inet n - n -\n" % (inst.base + 1))
    res = tern("check", cfg=inst.dir)
    assert res.returncode != 0
    assert "%s, line %d:" % (path, n + 1) in res.stderr


def test_check_missing_program(inst):
    path = inst.dir / "master.cf"
    n = len(read(path).splitlines())
    with open(path, "a") as f:
        f.write("127.0.0.1:%d inet n - n - - no-such-daemon\n" % (inst.base + 1))
    res = tern("check", cfg=inst.dir)
    assert res.returncode != 0
    assert "%s, line %d:" % (path, n + 1) in res.stderr
    assert "no-such-daemon" in res.stderr
    res = tern("start", cfg=inst.dir)
    assert res.returncode != 0 and "not starting" in res.stderr


def test_check_inline_table_list(inst):
    # A list element in braces is one table, commas and all.
    with open(inst.dir / "main.cf", "a") as f:
        f.write("transport_maps = inline:{ a.example=smtp:[127.0.0.1], b.example=local: },"
                " texthash:%s/vmailbox\n" % inst.dir)
    res = tern("check", cfg=inst.dir)
    assert res.returncode == 0, res.stderr
    with open(inst.dir / "main.cf", "a") as f:
        f.write("transport_maps = inline:{ a.example=smtp:[127.0.0.1]\n")
    res = tern("check", cfg=inst.dir)
    assert res.returncode != 0 and "missing '}'" in res.stderr


def test_check_bad_map(inst):
    with open(inst.dir / "main.cf", "a") as f:
        f.write("transport_maps = texthash:%s/no-such-table\n" % inst.dir)
    res = tern("check", cfg=inst.dir)
    assert res.returncode != 0 and "no-such-table" in res.stderr
    with open(inst.dir / "transport", "w") as f:
        f.write("example.com smtp:[127.0.0.1]\n")
    with open(inst.dir / "main.cf", "a") as f:
        f.write("transport_maps = texthash:%s/transport\n" % inst.dir)
    tern("check", cfg=inst.dir, check=True)


# ---- start / stop / reload / status -------------------------------------

def test_lifecycle(inst):
    res = tern("status", cfg=inst.dir)
    assert res.returncode == 1 and "not running" in res.stdout
    res = tern("start", cfg=inst.dir, check=True)
    m = re.search(r"tern: started, master pid (\d+)", res.stdout)
    assert m, res.stdout
    pid = inst.track(int(m.group(1)))
    assert pid_alive(pid)
    assert inst.status_pid() == pid
    pidfile = inst.dir / "queue" / "pid" / "master.pid"
    assert int(read(pidfile).strip()) == pid
    res = tern("reload", cfg=inst.dir, check=True)
    assert str(pid) in res.stdout
    time.sleep(0.3)
    assert pid_alive(pid) and inst.status_pid() == pid
    res = tern("stop", cfg=inst.dir, check=True)
    assert wait_for(lambda: not pid_alive(pid), 5)
    res = tern("status", cfg=inst.dir)
    assert res.returncode == 1
    res = tern("stop", cfg=inst.dir)
    assert res.returncode == 1 and "not running" in res.stderr
    res = tern("reload", cfg=inst.dir)
    assert res.returncode == 1 and "not running" in res.stderr


def test_start_twice(inst):
    res = tern("start", cfg=inst.dir, check=True)
    pid = inst.track(int(re.search(r"pid (\d+)", res.stdout).group(1)))
    res = tern("start", cfg=inst.dir)
    assert res.returncode == 1
    assert "tern: already running (pid %d)" % pid in res.stderr
    assert inst.status_pid() == pid
    tern("stop", cfg=inst.dir, check=True)
    assert wait_for(lambda: not pid_alive(pid), 5)


def test_start_foreground(inst):
    proc = subprocess.Popen([TERN, "-c", str(inst.dir), "start", "-f"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    inst.track(proc.pid)
    try:
        # tern execs master, so the pid stays the same.
        assert wait_for(lambda: inst.status_pid() == proc.pid, 10)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    assert "tern: " in out
    assert tern("status", cfg=inst.dir).returncode == 1


def test_start_with_listener(inst):
    port = inst.base + 1
    add_testsvc(inst, port)
    proc = subprocess.Popen([TERN, "-c", str(inst.dir), "start", "-f"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    inst.track(proc.pid)
    try:
        assert wait_for(lambda: not port_free(port), 10)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            assert c.makefile("rb").readline().startswith(b"hello ")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert "on 127.0.0.1:%d" % port in out


def test_start_failure_reported(inst):
    # Something else holds a listener's port: master fails, tern says so.
    port = inst.base + 1
    add_testsvc(inst, port, 1)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen(1)
        res = tern("start", cfg=inst.dir)
        m = re.search(r"pid (\d+)", res.stdout + res.stderr)
        if m:
            inst.track(int(m.group(1)))
    assert res.returncode == 1
    assert "master" in res.stderr
