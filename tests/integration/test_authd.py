"""Integration tests for authd, the authentication service.

Each instance is made by `tern init --user ...` (mail_owner tern-test when
run as root) and its master runs in the foreground.  Questions go to
queue_directory/private/auth through tests/progs/auth_query (lib/
auth_client) or as raw attribute records.  Failure delays are shortened
(auth_failure_delay 1s, max 4s, limit 3) so that the growth is measurable
in a few seconds; authd sends delayed replies from a once-a-second timer,
so a delay of d seconds takes between d and d+1.

Login cookies: auth_query -C asks for one with a password check, and
auth_query -R COOKIE redeems one (run as root, as the session parent is;
or as mail_owner, as a login process would be, to see it refused).

Workers: the hashes are checked in authd-worker child processes; the
tests use a bcrypt hash of cost 13 (a few hundred ms) to keep them busy,
raw sockets to send several requests at once, and /proc to find the
workers (children of this instance's authd with comm authd-worker).
"""

import grp
import os
import pwd
import re
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BUILD, SANITIZER_MARKS, ensure_test_user, is_root, wait_for
from ternenv import TERN, TernEnv, factory, free_base

AUTHD = os.path.join(BUILD, "libexec", "authd")
QUERY = os.path.join(BUILD, "tests", "auth_query")
TERNPASSWD = os.path.join(BUILD, "bin", "ternpasswd")
DOMAIN = "example.test"

if not os.path.exists(AUTHD):
    pytest.skip("authd is not built", allow_module_level=True)

FAST = {
    "auth_failure_delay": "1s",
    "auth_failure_max_delay": "4s",
    "auth_failure_limit": "3",
}


def read_record(s):
    """One attribute record from authd (up to the empty line), or what came before EOF."""
    buf = b""
    while not buf.endswith(b"\n\n"):
        got = s.recv(4096)
        if not got:
            break
        buf += got
    return buf


class AuthInst(TernEnv):
    def __init__(self, main=None, users=("alice:Secret-1", "bob@example.org:Bob-pass-2")):
        super().__init__("authd", DOMAIN, users=users)
        self.users = self.path("users")
        self.sock = self.path("queue", "private", "auth")
        self.add_main("".join(f"{k} = {v}\n" for k, v in dict(FAST, **(main or {})).items()))

    def start(self):
        super().start(wait_path=self.sock)
        # Ready means master accepts connections on the socket, not merely
        # that the path exists (bind comes before listen).
        assert wait_for(self._connectable, 15), self.output()[-2000:]
        return self

    def _connectable(self):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(self.sock)
            return True
        except OSError:
            return False

    @staticmethod
    def text(path):
        with open(path, errors="replace") as f:
            return f.read()

    def query(self, user, password, addr="192.0.2.1", service="smtp", extra=()):
        """(reply dict, seconds taken)."""
        t0 = time.monotonic()
        res = subprocess.run([QUERY, "-c", self.dir, "-s", service, "-a", addr, *extra,
                              user, password], capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t0
        assert not any(m in res.stderr for m in SANITIZER_MARKS), res.stderr
        reply = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
        reply["rc"] = res.returncode
        return reply, took

    def redeem(self, cookie, service="pop3", as_user=None):
        """Redeem a login cookie with auth_query -R, as root or as_user (a pwd entry)."""
        kw = {}
        if as_user is not None:
            kw = dict(user=as_user.pw_uid, group=as_user.pw_gid, extra_groups=[])
        res = subprocess.run([QUERY, "-c", self.dir, "-s", service, "-R", cookie],
                             capture_output=True, text=True, timeout=60, **kw)
        assert not any(m in res.stderr for m in SANITIZER_MARKS), res.stderr
        reply = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
        reply["rc"] = res.returncode
        return reply

    def login(self, user, password, service="pop3", addr="192.0.2.1"):
        """A successful password check with a login cookie; the reply."""
        r, _ = self.query(user, password, addr=addr, service=service, extra=("-C",))
        assert r["rc"] == 0 and r["status"] == "ok", r
        return r

    def raw(self, data):
        """One request record as bytes; the reply as text ("" if closed)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.sock)
            s.sendall(data)
            return read_record(s).decode()

    def write_users(self, text):
        """Replace the user file atomically, keeping its owner and mode."""
        st = os.stat(self.users)
        tmp = self.users + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if is_root():
            os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, self.users)



@pytest.fixture
def make_inst():
    yield from factory(AuthInst)


def hash_of(password, scheme="SHA512-CRYPT"):
    res = subprocess.run([TERNPASSWD, "-s", scheme, "-p", password], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_right_password(make_inst):
    inst = make_inst()
    r, took = inst.query("alice@" + DOMAIN, "Secret-1")
    assert r["status"] == "ok", r
    assert r["user"] == "alice@" + DOMAIN and r["delay_ms"] == "0"
    # The canonical name comes back whatever the case the client used.
    r, _ = inst.query("Bob@EXAMPLE.org", "Bob-pass-2", service="imap")
    assert r["status"] == "ok" and r["user"] == "bob@example.org", r
    line = f"authenticated: user=<alice@{DOMAIN}>, rip=192.0.2.1, service=smtp"
    assert wait_for(lambda: line in inst.log_text(), 10)  # the log may lag the reply
    log = inst.log_text()
    assert "Secret-1" not in log and "Bob-pass-2" not in log


def test_uid_gid_home_and_reload(make_inst):
    inst = make_inst()
    text = AuthInst.text(inst.users)
    carol = f"carol@{DOMAIN}:{hash_of('Carol-3')}:5000:5001::/var/mail/carol::"
    inst.write_users(text + carol + "\n")
    # No restart: authd sees the new file on the next request.
    r, _ = inst.query("carol@" + DOMAIN, "Carol-3")
    assert r["status"] == "ok", r
    assert (r["uid"], r["gid"], r["home"]) == ("5000", "5001", "/var/mail/carol")
    # Users without those fields get -1 and "".
    r, _ = inst.query("alice@" + DOMAIN, "Secret-1")
    assert (r["uid"], r["gid"], r["home"]) == ("-1", "-1", "")
    # Removing carol takes effect too.
    inst.write_users(text)
    r, _ = inst.query("carol@" + DOMAIN, "Carol-3", addr="192.0.2.99")
    assert r["status"] == "fail", r


def test_bad_line_reported_others_work(make_inst):
    inst = make_inst()
    text = AuthInst.text(inst.users)
    inst.write_users("# users\nthis line is broken\n" + text +
                     f"dan@{DOMAIN}:{{SHA512-CRYPT}}$6$x:0:0::/x::\n")
    r, _ = inst.query("alice@" + DOMAIN, "Secret-1")
    assert r["status"] == "ok", r
    assert inst.log_text().count(f"{inst.users}, line 2: no password field") == 1
    assert f"{inst.users}, line 5: uid 0 (root) is not allowed" in inst.log_text()
    r, _ = inst.query("bob@example.org", "Bob-pass-2")
    assert r["status"] == "ok", r


def test_failures_delay_grows_then_refused(make_inst):
    inst = make_inst()
    addr = "198.51.100.7"
    took, delays = [], []
    for _ in range(3):
        r, t = inst.query("alice@" + DOMAIN, "wrong", addr=addr)
        assert r["status"] == "fail" and r["reason"] == "authentication failed", r
        took.append(t)
        delays.append(int(r["delay_ms"]))
    assert delays == [1000, 2000, 4000]
    for t, d in zip(took, delays):
        assert d / 1000 - 0.1 <= t <= d / 1000 + 2.5, (took, delays)
    assert took[2] > took[0] + 1.5, took
    # Limit reached: even the right password is refused, after the max delay.
    r, t = inst.query("alice@" + DOMAIN, "Secret-1", addr=addr)
    assert r["status"] == "fail" and r["reason"] == "too many failures", r
    assert t >= 3.9
    # Another address and another user are not affected.
    r, t = inst.query("bob@example.org", "Bob-pass-2", addr="198.51.100.8")
    assert r["status"] == "ok" and t < 3, (r, t)
    # alice is refused from anywhere (per-user count) ...
    r, _ = inst.query("alice@" + DOMAIN, "Secret-1", addr="198.51.100.9")
    assert r["reason"] == "too many failures", r
    log = inst.log_text()
    assert f"authentication failed: user=<alice@{DOMAIN}>, rip={addr}, service=smtp, " \
           "reason=wrong password" in log
    assert f"authentication refused: user=<alice@{DOMAIN}>, rip={addr}" in log
    assert "wrong" not in log.replace("reason=wrong password", "")


def test_failure_count_resets(make_inst):
    inst = make_inst(main={"auth_failure_reset_time": "3s", "auth_failure_limit": "2"})
    for _ in range(2):
        inst.query("alice@" + DOMAIN, "bad", addr="203.0.113.5")
    r, _ = inst.query("alice@" + DOMAIN, "Secret-1", addr="203.0.113.5")
    assert r["reason"] == "too many failures", r
    time.sleep(3.5)
    r, _ = inst.query("alice@" + DOMAIN, "Secret-1", addr="203.0.113.5")
    assert r["status"] == "ok", r


def test_delay_does_not_block_others(make_inst):
    inst = make_inst(main={"auth_failure_delay": "4s", "auth_failure_max_delay": "4s"})
    slow = {}

    def fail():
        slow["r"], slow["t"] = inst.query("bob@example.org", "nope", addr="192.0.2.50")

    th = threading.Thread(target=fail)
    th.start()
    time.sleep(0.5)
    r, t = inst.query("alice@" + DOMAIN, "Secret-1", addr="192.0.2.51")
    th.join(30)
    assert r["status"] == "ok" and t < 2.5, (r, t)
    assert slow["r"]["status"] == "fail" and slow["t"] >= 3.9, slow


def test_unknown_user_and_ipv6_prefix(make_inst):
    inst = make_inst()
    r, t = inst.query("nobody@" + DOMAIN, "x", addr="2001:db8:1:2::10")
    assert r["status"] == "fail" and r["reason"] == "authentication failed", r
    assert r["delay_ms"] == "1000"
    # Another address in the same /64 shares the count.
    r, _ = inst.query("nobody2@" + DOMAIN, "x", addr="2001:db8:1:2::99")
    assert r["delay_ms"] == "2000", r
    r, _ = inst.query("nobody3@" + DOMAIN, "x", addr="2001:db8:1:3::1")
    assert r["delay_ms"] == "1000", r
    assert "reason=unknown user" in inst.log_text()


def test_plaintext_refused_unless_allowed(make_inst):
    for allowed in (False, True):
        inst = make_inst(main={"auth_allow_plaintext_passwords": "yes" if allowed else "no"})
        inst.write_users(AuthInst.text(inst.users) + f"pat@{DOMAIN}:{{PLAIN}}Plain-4\n")
        r, _ = inst.query("pat@" + DOMAIN, "Plain-4", addr="192.0.2.60")
        assert r["status"] == ("ok" if allowed else "fail"), r
        warned = "line 3: plaintext password ({PLAIN}) refused" in inst.log_text()
        assert warned != allowed
        r, _ = inst.query("alice@" + DOMAIN, "Secret-1", addr="192.0.2.61")
        assert r["status"] == "ok", r


def test_raw_protocol_and_bad_requests(make_inst):
    inst = make_inst()
    raw = inst.raw
    # What socat would show: one record each way.
    reply = raw(b"request=auth\nservice=pop3\nuser=alice@example.test\npassword=Secret-1\n"
                b"client_addr=192.0.2.70\ntls=yes\n\n")
    assert reply.startswith("status=ok\nuser=alice@example.test\n"), reply
    assert "delay_ms=0\n" in reply
    assert ", tls" in inst.log_text()
    # Malformed or unknown requests: the connection is closed, authd lives on.
    assert raw(b"request=nonsense\n\n") == ""
    assert raw(b"request=auth\nuser=x\n\n") == ""
    assert raw(b"garbage line\n\n") == ""
    # An over-long password gets a clean failure.
    reply = raw(b"request=auth\nservice=smtp\nuser=alice@example.test\npassword=" +
                b"p" * 2000 + b"\nclient_addr=192.0.2.71\n\n")
    assert reply.startswith("status=fail\n") and "too long" in reply, reply
    r, _ = inst.query("alice@" + DOMAIN, "Secret-1", addr="192.0.2.72")
    assert r["status"] == "ok", r
    # No authd at the path: the client reports an error (a temporary failure).
    r, _ = inst.query("alice@" + DOMAIN, "Secret-1", extra=("-S", inst.sock + ".none"))
    assert r["rc"] == 3 and "error" in r, r


@pytest.mark.skipif(not is_root(), reason="ownership is only set by a root tern init")
def test_users_file_readable_by_mail_owner_only(make_inst):
    inst = make_inst()
    owner = ensure_test_user()
    st = os.stat(inst.users)
    assert st.st_uid == 0
    assert st.st_gid == owner.pw_gid
    assert stat.S_IMODE(st.st_mode) == 0o640
    # The socket is private to mail_owner, and authd runs as mail_owner.
    sst = os.stat(inst.sock)
    assert sst.st_uid == owner.pw_uid and stat.S_IMODE(sst.st_mode) & 0o077 == 0
    # Nobody else (a user outside mail_owner's group) can read the file.
    nobody = pwd.getpwnam("nobody")
    assert nobody.pw_gid != owner.pw_gid
    res = subprocess.run(["cat", inst.users], capture_output=True, timeout=10,
                         preexec_fn=lambda: (os.setgroups([]), os.setgid(nobody.pw_gid),
                                             os.setuid(nobody.pw_uid)))
    assert res.returncode != 0
    # A world-readable file is warned about.
    os.chmod(inst.users, 0o644)
    os.utime(inst.users)
    inst.query("alice@" + DOMAIN, "Secret-1")
    assert "is readable by other users" in inst.log_text()
    grp.getgrgid(st.st_gid)  # the group exists


# ---- login cookies ---------------------------------------------------------

COOKIE_RE = re.compile(r"[0-9a-f]{32}")
CAROL = f"carol@{DOMAIN}"
UNKNOWN = "unknown or already used login cookie"


def add_carol(inst):
    """A user with uid, gid and home, as pop3d and imapd need."""
    carol = f"{CAROL}:{hash_of('Carol-3')}:5000:5001::/var/mail/carol::"
    inst.write_users(AuthInst.text(inst.users) + carol + "\n")


def test_cookie_only_when_asked(make_inst):
    inst = make_inst()
    r = inst.login("alice@" + DOMAIN, "Secret-1")
    assert COOKIE_RE.fullmatch(r["cookie"]), r
    r2 = inst.login("alice@" + DOMAIN, "Secret-1")
    assert COOKIE_RE.fullmatch(r2["cookie"]) and r2["cookie"] != r["cookie"]
    # Without -C, no cookie (smtpd's case); a failure with -C gets none either.
    r3, _ = inst.query("alice@" + DOMAIN, "Secret-1", service="smtp")
    assert r3["status"] == "ok" and "cookie" not in r3, r3
    r4, _ = inst.query("alice@" + DOMAIN, "wrong", service="pop3", addr="192.0.2.80",
                       extra=("-C",))
    assert r4["status"] == "fail" and "cookie" not in r4 and r4["delay_ms"] == "1000", r4
    # On the wire: cookie=yes adds a cookie line to the reply, and only then.
    req = (b"request=auth\nservice=imap\nuser=alice@example.test\npassword=Secret-1\n"
           b"client_addr=192.0.2.81\n")
    with_cookie = inst.raw(req + b"cookie=yes\n\n")
    assert with_cookie.startswith("status=ok\n"), with_cookie
    assert re.search(r"^cookie=[0-9a-f]{32}$", with_cookie, re.M), with_cookie
    without = inst.raw(req + b"\n")
    assert without.startswith("status=ok\n") and "cookie=" not in without, without
    assert "authenticated, login cookie issued: user=<alice@example.test>" in inst.log_text()
    log = inst.log_text()
    for c in (r["cookie"], r2["cookie"]):
        assert c not in log


def test_redeem_once_same_login(make_inst):
    inst = make_inst()
    add_carol(inst)
    c = inst.login(CAROL, "Carol-3")["cookie"]
    red = inst.redeem(c)
    assert red["rc"] == 0 and red["status"] == "ok", red
    assert (red["user"], red["uid"], red["gid"], red["home"], red["delay_ms"]) == \
        (CAROL, "5000", "5001", "/var/mail/carol", "0"), red
    # Single use.
    red = inst.redeem(c)
    assert red["status"] == "fail" and red["reason"] == UNKNOWN, red
    assert red["user"] == "" and red["uid"] == "-1", red
    # A user without uid/gid/home gets -1 and "" back, as at login; imap works for imap.
    c = inst.login("bob@example.org", "Bob-pass-2", service="imap")["cookie"]
    red = inst.redeem(c, service="imap")
    assert (red["status"], red["user"], red["uid"], red["gid"], red["home"]) == \
        ("ok", "bob@example.org", "-1", "-1", ""), red
    # A cookie that authd never issued.
    red = inst.redeem("0123456789abcdef0123456789abcdef")
    assert red["status"] == "fail" and red["reason"] == UNKNOWN, red
    log = inst.log_text()
    assert f"login cookie redeemed: user=<{CAROL}>, service=pop3" in log
    assert "login cookie redeemed: user=<bob@example.org>, service=imap" in log
    assert f"warning: login cookie not redeemed: service=pop3, reason={UNKNOWN}" in log
    assert c not in log


def test_redeem_wrong_service_burns_cookie(make_inst):
    inst = make_inst()
    add_carol(inst)
    c = inst.login(CAROL, "Carol-3", service="pop3")["cookie"]
    red = inst.redeem(c, service="imap")
    assert red["status"] == "fail", red
    assert red["reason"] == "login cookie issued for another service", red
    assert red["user"] == "" and red["uid"] == "-1", red  # nothing about the login leaks
    red = inst.redeem(c, service="pop3")
    assert red["status"] == "fail" and red["reason"] == UNKNOWN, red
    assert f"warning: login cookie not redeemed: user=<{CAROL}>, service=imap, " \
           "reason=login cookie issued for another service" in inst.log_text()


def test_redeem_malformed_cookies(make_inst):
    inst = make_inst()
    add_carol(inst)
    c = inst.login(CAROL, "Carol-3")["cookie"]
    bad = ["", c[:10], c + "0", "g" * 32, c[:31] + " ", c.upper() if c.upper() != c else "Z" * 32]
    for b in bad:
        red = inst.redeem(b)
        assert red["rc"] == 0 and red["status"] == "fail", (b, red)
        assert red["reason"] == "malformed login cookie", (b, red)
    # Raw: a cookie with a control byte, and a redeem without a cookie (the
    # connection is closed), then authd is still there.
    reply = inst.raw(b"request=redeem\nservice=pop3\ncookie=%0A" + c[1:].encode() + b"\n\n")
    assert reply.startswith("status=fail\nreason=malformed login cookie\n"), reply
    assert inst.raw(b"request=redeem\nservice=pop3\n\n") == ""
    # Malformed cookies are not looked up: the real one (same digits) still works.
    red = inst.redeem(c)
    assert red["status"] == "ok" and red["user"] == CAROL, red
    assert inst.log_text().count("reason=malformed login cookie") == len(bad) + 1


def test_redeem_expired(make_inst):
    inst = make_inst(main={"auth_login_cookie_lifetime": "1s"})
    add_carol(inst)
    fresh = inst.login(CAROL, "Carol-3")["cookie"]
    red = inst.redeem(fresh)
    assert red["status"] == "ok", red  # within the lifetime
    old = inst.login(CAROL, "Carol-3")["cookie"]
    time.sleep(2.5)
    red = inst.redeem(old)
    assert red["status"] == "fail" and red["reason"] == "login cookie expired", red
    red = inst.redeem(old)
    assert red["status"] == "fail" and red["reason"] == UNKNOWN, red
    assert f"login cookie not redeemed: user=<{CAROL}>, service=pop3, " \
           "reason=login cookie expired" in inst.log_text()


@pytest.mark.skipif(not is_root(), reason="a root instance has the privilege boundary")
def test_redeem_refused_for_mail_owner(make_inst):
    """A login process runs as mail_owner, the same uid as authd: it must not
    redeem its cookie itself.  The refused attempt does not consume the
    cookie, so the root session parent can still redeem it."""
    inst = make_inst()
    add_carol(inst)
    owner = ensure_test_user()
    c = inst.login(CAROL, "Carol-3")["cookie"]
    red = inst.redeem(c, as_user=owner)
    assert red["rc"] == 0, red  # it did reach authd: the socket is mail_owner's
    assert red["status"] == "fail", red
    assert red["reason"] == "not allowed to redeem login cookies", red
    assert red["user"] == "" and red["uid"] == "-1", red
    assert f"warning: login cookie redeem refused: peer uid {owner.pw_uid} may not redeem, " \
           "service=pop3" in inst.log_text()
    red = inst.redeem(c)
    assert red["status"] == "ok" and red["user"] == CAROL and red["uid"] == "5000", red
    red = inst.redeem(c, as_user=owner)
    assert red["reason"] == "not allowed to redeem login cookies", red


class UserInst(AuthInst):
    """An instance made and run by an ordinary user (mail_owner when root
    runs the tests): `tern init` and `tern start -f` as that user, so authd
    is not started as root and there is no privilege boundary."""

    def __init__(self, owner, users=("alice:Secret-1",)):
        self.owner = owner
        self.top = tempfile.mkdtemp(prefix="tern-authd-user-")
        os.chmod(self.top, 0o755)
        os.chown(self.top, owner.pw_uid, owner.pw_gid)
        self.dir = os.path.join(self.top, "i")
        self.domain = DOMAIN
        self.base = free_base()
        self.queue = os.path.join(self.dir, "queue")
        self.log = os.path.join(self.dir, "log", "tern.log")
        self.out = os.path.join(self.top, "master.out")
        self.proc = None
        self.users = self.path("users")
        self.sock = self.path("queue", "private", "auth")
        args = [TERN, "init", self.dir, "--port-base", str(self.base), "--domain", DOMAIN]
        for u in users:
            args += ["--user", u]
        res = subprocess.run(args, capture_output=True, text=True, timeout=60, **self.as_owner())
        assert res.returncode == 0, res.stdout + res.stderr
        self.add_main("".join(f"{k} = {v}\n" for k, v in FAST.items()))

    def as_owner(self):
        return dict(user=self.owner.pw_uid, group=self.owner.pw_gid, extra_groups=[])

    def start(self):
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen([TERN, "-c", self.dir, "start", "-f"],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, **self.as_owner())
        assert wait_for(lambda: self._connectable() or self.proc.poll() is not None, 30), \
            self.log_text()[-3000:] + self.output()[-2000:]
        assert self.proc.poll() is None, "master exited:\n" + self.output()
        return self


@pytest.mark.skipif(not is_root(), reason="needs root to run an instance as another user")
def test_redeem_by_own_uid_in_user_instance():
    """Not started as root: a peer with authd's own uid may redeem (every
    process of such an instance has that uid); root may as always."""
    owner = ensure_test_user()
    made = []

    def make():
        made.append(UserInst(owner))
        return made[-1].start()

    try:
        inst = make()
        out = subprocess.run(["ps", "-o", "user=", "-p", str(inst.proc.pid)], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        assert out == owner.pw_name, out
        c = inst.login("alice@" + DOMAIN, "Secret-1")["cookie"]
        red = inst.redeem(c, as_user=owner)
        assert red["status"] == "ok" and red["user"] == "alice@" + DOMAIN, red
        red = inst.redeem(c, as_user=owner)
        assert red["status"] == "fail" and red["reason"] == UNKNOWN, red
        c = inst.login("alice@" + DOMAIN, "Secret-1")["cookie"]
        red = inst.redeem(c)
        assert red["status"] == "ok", red
        assert "redeem refused" not in inst.log_text()
    finally:
        reports = [r for e in made for r in e.finish()]
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


# ---- worker processes -------------------------------------------------------

WORKER_COMM = "authd-worker"


def slow_hash(password, cost=13):
    """A bcrypt hash of password that takes a few hundred ms to check (libcrypt
    through ctypes: ternpasswd has no cost option)."""
    import ctypes
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$2b$", cost, None, 0)
    assert salt, "crypt_gensalt failed"
    h = lib.crypt(password.encode(), salt)
    assert h and h.startswith(b"$2b$"), h
    return "{BLF-CRYPT}" + h.decode()


SLOW = f"slow@{DOMAIN}"
SLOW_PW = "Slow-pw-5"


def add_slow(inst):
    inst.write_users(AuthInst.text(inst.users) + f"{SLOW}:{slow_hash(SLOW_PW)}\n")


def processes():
    """{pid: (ppid, comm)} from /proc."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        out[int(d)] = (int(st[st.rindex(")") + 2:].split()[1]), comm)
    return out


def authd_pid(inst):
    """The authd of this instance: comm authd, -c inst.dir on its command line."""
    for pid, (_, comm) in processes().items():
        if comm != "authd":
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if inst.dir.encode() in args:
            return pid
    return None


def workers(inst):
    parent = authd_pid(inst)
    return sorted(pid for pid, (ppid, comm) in processes().items()
                  if ppid == parent and comm == WORKER_COMM)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def auth_record(user, password, addr):
    return (f"request=auth\nservice=imap\nuser={user}\npassword={password}\n"
            f"client_addr={addr}\n\n").encode()


def open_requests(inst, records):
    """Connect and send each record at once; the sockets, in order."""
    socks = []
    for rec in records:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(inst.sock)
        s.sendall(rec)
        socks.append(s)
    return socks


def read_reply(s):
    text = read_record(s).decode()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_fast_answers_while_workers_check(make_inst):
    """Six slow checks on two workers keep authd busy for about three hash
    times; a request=redeem sent after the first of them was answered must
    come back before the last does.  When authd checked hashes in its own
    loop it accepted one connection per pass, one hash per pass, so the
    redeem waited behind every slow check."""
    inst = make_inst(main={"auth_worker_count": "2"})
    add_slow(inst)
    assert len(workers(inst)) == 2
    socks = open_requests(inst, [auth_record(SLOW, SLOW_PW, f"192.0.2.{110 + i}")
                                 for i in range(6)])
    replies, done_at = {}, {}
    lock = threading.Lock()

    def collect(i, s):
        r = read_reply(s)
        with lock:
            replies[i], done_at[i] = r, time.monotonic()

    threads = [threading.Thread(target=collect, args=(i, s)) for i, s in enumerate(socks)]
    for th in threads:
        th.start()
    assert wait_for(lambda: len(done_at) >= 1, 60)
    fast = inst.raw(b"request=redeem\nservice=pop3\ncookie=" + b"0" * 32 + b"\n\n")
    fast_at = time.monotonic()
    with lock:
        outstanding = 6 - len(done_at)
    for th in threads:
        th.join(60)
    for s in socks:
        s.close()
    assert fast.startswith("status=fail\n"), fast
    assert [replies[i]["status"] for i in range(6)] == ["ok"] * 6, replies
    assert outstanding >= 1 and fast_at < max(done_at.values()), (outstanding, fast_at, done_at)


def test_concurrent_guesses_still_limited(make_inst):
    """Guesses checked side by side are throttled as if checked one by one:
    with auth_failure_limit 3, six concurrent wrong passwords from one
    address get three "authentication failed" and three refusals."""
    inst = make_inst(main={"auth_worker_count": "2"})
    socks = open_requests(inst, [auth_record("alice@" + DOMAIN, f"wrong-{i}", "198.51.100.40")
                                 for i in range(6)])
    reasons = sorted(read_reply(s)["reason"] for s in socks)
    for s in socks:
        s.close()
    assert reasons == ["authentication failed"] * 3 + ["too many failures"] * 3, reasons


def test_killed_worker_replaced(make_inst):
    """kill -9 of the worker while it checks: that request is answered
    tempfail, the one queued behind it is checked by the replacement, and
    authd goes on answering."""
    inst = make_inst(main={"auth_worker_count": "1"})
    add_slow(inst)
    before = workers(inst)
    assert len(before) == 1, before
    victim = before[0]
    t0 = cpu_ticks(victim)
    socks = open_requests(inst, [auth_record(SLOW, SLOW_PW, "192.0.2.120"),
                                 auth_record(SLOW, SLOW_PW, "192.0.2.121")])
    # Kill it once it is busy hashing (has used CPU), not before.
    assert wait_for(lambda: cpu_ticks(victim) >= t0 + 3, 30)
    os.kill(victim, 9)
    statuses = sorted(read_reply(s)["status"] for s in socks)
    for s in socks:
        s.close()
    assert statuses == ["ok", "tempfail"], statuses
    assert wait_for(lambda: len(workers(inst)) == 1 and workers(inst) != before, 15)
    log = inst.log_text()
    assert f"warning: authd worker pid {victim} exited; its password check is answered" in log, \
        log[-2000:]
    assert "authentication failed: user=<slow@example.test>, rip=192.0.2.12" in log
    assert "reason=cannot check the password" in log
    r, _ = inst.query("alice@" + DOMAIN, "Secret-1", addr="192.0.2.122")
    assert r["status"] == "ok", r
    r, _ = inst.query("alice@" + DOMAIN, "nope", addr="192.0.2.123")
    assert r["status"] == "fail" and r["reason"] == "authentication failed", r


def test_client_gone_during_check(make_inst):
    """Clients that hang up while their check is in the worker or queued:
    the results are discarded, authd lives on (the sanitizer would catch a
    use after free at teardown)."""
    inst = make_inst(main={"auth_worker_count": "1"})
    add_slow(inst)
    (worker,) = workers(inst)
    t0 = cpu_ticks(worker)
    socks = open_requests(inst, [auth_record(SLOW, SLOW_PW, f"192.0.2.{130 + i}")
                                 for i in range(3)])
    assert wait_for(lambda: cpu_ticks(worker) >= t0 + 2, 30)  # the first one is being checked
    for s in socks[:2]:
        s.close()
    r = read_reply(socks[2])
    socks[2].close()
    assert r["status"] == "ok", r
    r, _ = inst.query("alice@" + DOMAIN, "Secret-1", addr="192.0.2.140")
    assert r["status"] == "ok", r
    assert wait_for(lambda: "authentication result discarded" in inst.log_text(), 10)
