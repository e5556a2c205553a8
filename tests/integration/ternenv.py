"""One tern instance for an integration test, made the way an admin makes
one: `tern init DIR --port-base N --domain D --user ADDR:PASSWORD ...`,
then run in the foreground with `tern start -f`, so that the master's pid
is the test's own and it is stopped by pid, never by name.

    env = TernEnv("valias", users=["alice@example.test:Secret-1"])
    env.add_main("service_throttle_time = 1s\\n")
    env.start()
    env.send("a@example.net", ["alice@example.test"], b"Subject: x\\r\\n\\r\\nhi\\r\\n")
    assert env.wait_messages("alice@example.test", 1)
    env.finish()          # stop, remove, and the list of sanitizer reports

The `tern_env` fixture makes instances and, at teardown, stops each one and
fails the test if a sanitizer complained in any daemon (their stderr goes
to master.out, their log to log/tern.log).  Binaries come from $TERN_BUILD.
"""

import glob
import os
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile

import pytest

from conftest import BUILD, SANITIZER_MARKS, ensure_test_user, is_root, read_text, wait_for

TERN = os.path.join(BUILD, "bin", "tern")
LIBEXEC = os.path.join(BUILD, "libexec")
# The listeners `tern init` makes, as offsets from the port base.
PORT_OFFSETS = (25, 110, 143, 465, 587, 993, 995)


def need_programs(*names):
    """A skip mark for tests that need these daemons (libexec) built."""
    missing = [n for n in names if not os.access(os.path.join(LIBEXEC, n), os.X_OK)]
    if not os.access(TERN, os.X_OK):
        missing.append("tern")
    return pytest.mark.skipif(bool(missing), reason="not built: " + ", ".join(missing))


def free_base():
    """A port base N with every listener N+offset free on 127.0.0.1.

    Concurrent test runs start their search at different places (pid and a
    random step), so two of them rarely probe the same range at once."""
    start = 20000 + ((os.getpid() * 7 + random.randrange(40)) % 120) * 300
    for i in range(120):
        base = 20000 + (start - 20000 + i * 300) % 36000
        try:
            for off in PORT_OFFSETS:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + off))
            return base
        except OSError:
            continue
    pytest.skip("no free port range")


class TernEnv:
    def __init__(self, name, domain="example.test", users=(), init_args=()):
        self.top = tempfile.mkdtemp(prefix=f"tern-{name}-")
        os.chmod(self.top, 0o755)
        self.dir = os.path.join(self.top, "i")
        self.domain = domain
        self.base = free_base()
        self.smtp_port = self.base + 25
        self.queue = os.path.join(self.dir, "queue")
        self.log = os.path.join(self.dir, "log", "tern.log")
        self.out = os.path.join(self.top, "master.out")
        self.proc = None
        args = [TERN, "init", self.dir, "--port-base", str(self.base), "--domain", domain]
        for u in users:
            args += ["--user", u]
        if is_root():
            args += ["--mail-owner", ensure_test_user().pw_name]
        args += list(init_args)
        res = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def add_main(self, text):
        """Append to the instance's main.cf (before start, or reload after)."""
        with open(self.path("main.cf"), "a") as f:
            f.write(text)

    def append(self, name, text):
        with open(self.path(name), "a") as f:
            f.write(text)

    def tern(self, *args, timeout=30):
        return subprocess.run([TERN, "-c", self.dir, *args], capture_output=True, text=True,
                              timeout=timeout)

    def start(self, wait_path=None, wait_port=None):
        """tern start -f; waits until wait_port (default: smtp) accepts, or
        until wait_path exists."""
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen([TERN, "-c", self.dir, "start", "-f"],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        if wait_path:
            ready = lambda: os.path.exists(wait_path)  # noqa: E731
        else:
            ready = lambda: self.port_open(wait_port or self.smtp_port)  # noqa: E731
        assert wait_for(lambda: ready() or self.proc.poll() is not None, 30), \
            "instance did not come up:\n" + self.log_text()[-3000:] + self.output()[-2000:]
        assert self.proc.poll() is None, "master exited:\n" + self.output()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM the master (it stops its children); SIGKILL if it hangs."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    @staticmethod
    def port_open(port, host="127.0.0.1"):
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            return False

    def log_text(self):
        return read_text(self.log)

    def output(self):
        return read_text(self.out)

    def sanitizer_report(self):
        text = self.output() + self.log_text()
        return [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKS)]

    def send(self, sender, rcpts, data, **kw):
        """One message over SMTP (port N+25); returns smtplib's refused dict."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as s:
            refused = s.sendmail(sender, rcpts, data, **kw)
            s.quit()
        return refused

    def maildir(self, addr, sub="new"):
        """Paths of the files in a virtual user's Maildir sub-folder."""
        local, domain = addr.split("@")
        return sorted(glob.glob(os.path.join(self.dir, "mail", domain, local, sub, "*")))

    def messages(self, addr):
        out = []
        for p in self.maildir(addr):
            with open(p, "rb") as f:
                out.append(f.read().decode(errors="replace"))
        return out

    def wait_messages(self, addr, n, timeout=20):
        """Wait until addr's Maildir new/ holds at least n messages."""
        return wait_for(lambda: len(self.maildir(addr)) >= n, timeout)

    def finish(self):
        """Stop, remove the directory; the sanitizer reports found."""
        self.stop()
        reports = self.sanitizer_report()
        shutil.rmtree(self.top, ignore_errors=True)
        return reports


def factory(cls, start=True):
    """The body of an instance fixture (use it with `yield from`): yields
    make(*args, **kw) -> cls(*args, **kw), started unless start is False;
    at teardown every instance made is finished, and the test fails if a
    sanitizer complained in any of them."""
    made = []

    def make(*args, **kw):
        e = cls(*args, **kw)
        made.append(e)
        return e.start() if start else e

    yield make
    reports = [r for e in made for r in e.finish()]
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


@pytest.fixture
def tern_env():
    """Factory: tern_env(name, ...) -> TernEnv (not started)."""
    yield from factory(TernEnv, start=False)
