"""Shared fixtures for tern's integration tests.

An Instance is a throw-away tern configuration in a temporary directory:
main.cf (queue_directory, daemon_directory, maillog_file, mail_owner),
master.cf, and a master process run in the foreground.  Every instance a
test makes is stopped at teardown (SIGTERM, then SIGKILL by pid), and the
test fails if a sanitizer complained in master or any of its children.

Environment: TERN_BUILD is the build directory (default <repo>/build),
TERN_SRC the source tree.  Test programs (testsvc) live in
$TERN_BUILD/tests, which instances use as daemon_directory.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

SRC = os.environ.get(
    "TERN_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
BUILD = os.environ.get("TERN_BUILD", os.path.join(SRC, "build"))
MASTER = os.path.join(BUILD, "libexec", "master")
TEST_PROGS = os.path.join(BUILD, "tests")
TEST_USER = "tern-test"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def is_root():
    return os.geteuid() == 0


def ensure_test_user():
    """The unprivileged mail_owner for root runs (created once, idempotent)."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
        check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
    )
    return pwd.getpwnam(TEST_USER)


def free_port():
    """A currently unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def children_of(pid):
    """Pids whose parent is pid, from /proc."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                for line in f:
                    if line.startswith("PPid:"):
                        if int(line.split()[1]) == pid:
                            kids.append(int(name))
                        break
        except OSError:
            continue
    return kids


def read_text(path):
    """A log or output file's text so far ("" before it exists)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_for(cond, timeout=5.0, step=0.05):
    """Poll cond() until it returns a true value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


class Client:
    """A line-oriented TCP or UNIX client with a timeout on every operation."""

    def __init__(self, sock, timeout=5.0):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""

    def readline(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                line, self.buf = self.buf, b""
                return line.decode()
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode().rstrip("\r")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def hello(self, timeout=5.0):
        """Read testsvc's greeting; returns (pid, uid)."""
        line = self.readline(timeout)
        m = re.match(r"hello (\d+) (\d+) ", line)
        assert m, f"unexpected greeting {line!r}"
        return int(m.group(1)), int(m.group(2))

    def close(self):
        self.sock.close()


class Instance:
    """A tern configuration directory plus (optionally) its running master."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tern-it-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "conf")
        self.queue = os.path.join(self.dir, "queue")
        self.log = os.path.join(self.dir, "maillog")
        self.out = os.path.join(self.dir, "master.out")
        os.mkdir(self.conf)
        self.owner = ensure_test_user().pw_name if is_root() else pwd.getpwuid(os.getuid()).pw_name
        self.owner_uid = pwd.getpwnam(self.owner).pw_uid
        self.proc = None
        self.main_cf({})

    def main_cf(self, extra):
        params = {
            "queue_directory": self.queue,
            "daemon_directory": TEST_PROGS,
            "maillog_file": self.log,
            "mail_owner": self.owner,
            "service_throttle_time": "2s",
            "max_idle": "60s",
        }
        params.update(extra)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in params.items():
                f.write(f"{k} = {v}\n")

    def master_cf(self, text):
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(text)

    def run_master(self, *args, timeout=10):
        """Run master to completion (for -t and for start-up failures)."""
        return subprocess.run(
            [MASTER, "-c", self.conf, *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
        )

    def start(self, wait_port=None, wait_log=True):
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen(
                [MASTER, "-c", self.conf, "-f"], stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT,
            )
        if wait_log:
            assert wait_for(lambda: "daemon started" in self.log_text()
                            or self.proc.poll() is not None, 10), "master did not start"
            assert self.proc.poll() is None, f"master exited: {self.output()}"
        if wait_port:
            assert wait_for(lambda: self.port_open(wait_port), 10), f"port {wait_port} not open"
        return self

    def port_open(self, port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def connect(self, port, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        return Client(s, timeout)

    def connect_unix(self, path, timeout=5.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(path)
        return Client(s, timeout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self):
        mark = self.log_text().count("reload --")
        self.signal(signal.SIGHUP)
        assert wait_for(lambda: self.log_text().count("reload --") > mark, 5), "no reload logged"

    def log_text(self):
        return read_text(self.log)

    def output(self):
        return read_text(self.out)

    def wait_log(self, pattern, timeout=5.0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log_text()), timeout)

    def stop(self, timeout=10):
        """SIGTERM master; SIGKILL it (and strays) if it does not go."""
        if self.proc is None:
            return None
        kids = children_of(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in kids:
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        rc = self.proc.returncode
        self.proc = None
        return rc

    def sanitizer_report(self):
        text = self.output() + self.log_text()
        return [line for line in text.splitlines() if any(m in line for m in SANITIZER_MARKS)]

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def instance():
    """Factory for instances; all are stopped and checked at teardown."""
    made = []

    def make():
        inst = Instance()
        made.append(inst)
        return inst

    yield make
    reports = []
    for inst in made:
        inst.stop()
        reports += inst.sanitizer_report()
        inst.cleanup()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def ports():
    """A few distinct free ports."""
    seen = set()
    while len(seen) < 4:
        seen.add(free_port())
    return sorted(seen)
