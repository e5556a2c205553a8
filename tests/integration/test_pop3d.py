"""Integration tests for pop3d, the POP3 server.

Each instance is made by `tern init --user ...` (mail_owner tern-test when
run as root), so pop3 listens on N+110 and pop3s on N+995 with the
instance's self-signed certificate; its master runs in the foreground.
Messages are put into the virtual Maildirs directly (LF line ends, as
local delivery writes them) or sent through the instance's smtpd.
Clients: Python poplib (plain, STLS, POP3_SSL), curl pop3:// and
pop3s://, and raw sockets for the protocol corner cases.
"""

import hashlib
import os
import poplib
import pwd
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import BUILD, ensure_test_user, is_root, wait_for
from ternenv import TernEnv, factory

POP3D = os.path.join(BUILD, "libexec", "pop3d")
DOMAIN = "example.test"
PASSWORDS = {"alice": "Secret-1", "bob": "Bob-pass-2"}

if not os.path.exists(POP3D):
    pytest.skip("pop3d is not built", allow_module_level=True)
for _need in ("authd", "master"):
    if not os.path.exists(os.path.join(BUILD, "libexec", _need)):
        pytest.skip(f"{_need} is not built", allow_module_level=True)


def crlf(data):
    """What a POP3 client gets back for stored bytes: CRLF line ends."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def digest(data):
    return hashlib.sha256(data).hexdigest()


class Pop3Inst(TernEnv):
    def __init__(self, main=None):
        super().__init__("pop3", DOMAIN, users=[f"{u}:{p}" for u, p in PASSWORDS.items()])
        self.port = self.base + 110
        self.sport = self.base + 995
        self.cert = self.path("tls", "cert.pem")
        self.add_main("".join(f"{k} = {v}\n" for k, v in (main or {}).items()))
        self.counter = 0

    def start(self):
        return super().start(wait_port=self.port)

    def maildir(self, user="alice"):
        return os.path.join(self.dir, "mail", DOMAIN, user)

    def put(self, data, user="alice", where="new"):
        """Deliver data into the Maildir as local does (owner: the virtual uid)."""
        self.counter += 1
        name = f"{int(time.time())}.M{self.counter:06d}P{os.getpid()}Q{self.counter}.test,S={len(data)}"
        if where == "cur":
            name += ":2,S"
        md = self.maildir(user)
        tmp = os.path.join(md, "tmp", name.split(":")[0])
        with open(tmp, "wb") as f:
            f.write(data)
        st = os.stat(md)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, os.path.join(md, where, name))
        return name

    def files(self, user="alice"):
        md = self.maildir(user)
        return sorted(os.listdir(os.path.join(md, "new")) + os.listdir(os.path.join(md, "cur")))

    def pop(self, user="alice", **kw):
        p = poplib.POP3("127.0.0.1", self.port, timeout=30, **kw)
        p.user(f"{user}@{DOMAIN}")
        p.pass_(PASSWORDS[user])
        return p

    def tls_ctx(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False
        return ctx



@pytest.fixture
def make_inst():
    yield from factory(Pop3Inst)


@pytest.fixture
def inst(make_inst):
    return make_inst()


class Raw:
    """A raw POP3 connection."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                out, self.buf = self.buf, b""
                return out
            self.buf += d
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.line()

    def multi(self):
        lines = []
        while True:
            l = self.line()
            if l == b".":
                return lines
            lines.append(l)

    def close(self):
        self.sock.close()


MESSAGES = [
    b"From: a@example.org\nTo: alice@example.test\nSubject: one\n\nHello.\n",
    b"Subject: dots\n\n.leading dot\n..two dots\n.\nend\n",
    b"Subject: crlf stored\r\n\r\nbody with CRLF\r\nsecond\r\n",
    b"Subject: no final newline\n\nlast line",
    b"Subject: big\n\n" + b"".join(b"line %05d " % i + b"x" * 70 + b"\n" for i in range(2000)),
]


def test_retr_byte_identical_and_sizes(inst):
    for m in MESSAGES:
        inst.put(m)
    p = inst.pop()
    count, total = p.stat()
    assert count == len(MESSAGES)
    sizes = [int(l.split()[1]) for l in p.list()[1]]
    assert sizes == [len(crlf(m)) for m in MESSAGES]
    assert total == sum(sizes)
    for i, m in enumerate(MESSAGES, 1):
        resp, lines, octets = p.retr(i)
        got = b"\r\n".join(lines) + b"\r\n"
        assert digest(got) == digest(crlf(m)), (i, got[:200])
        assert resp.startswith(b"+OK %d" % sizes[i - 1])
    p.quit()
    # new/ was moved to cur/ at login; nothing deleted.
    assert not os.listdir(os.path.join(inst.maildir(), "new"))
    assert len(os.listdir(os.path.join(inst.maildir(), "cur"))) == len(MESSAGES)


def test_uidl_stable_across_sessions_and_restart(inst):
    inst.put(MESSAGES[0])
    inst.put(MESSAGES[1], where="cur")
    p = inst.pop()
    first = p.uidl()[1]
    p.quit()
    assert len(first) == 2 and all(re.fullmatch(rb"\d+ [0-9a-f]{16}", l) for l in first)
    inst.put(MESSAGES[2])
    inst.stop()
    inst.start()
    p = inst.pop()
    second = p.uidl()[1]
    assert second[:2] == first and len(second) == 3
    assert p.uidl(1).split()[2] == first[0].split()[1]
    p.quit()


def test_dele_only_at_quit_and_rset(inst):
    names = [inst.put(m) for m in MESSAGES[:3]]
    p = inst.pop()
    p.dele(1)
    with pytest.raises(poplib.error_proto):
        p.retr(1)
    assert p.stat()[0] == 2
    p.rset()
    assert p.stat()[0] == 3
    p.dele(2)
    assert len(inst.files()) == 3  # not before QUIT
    p.quit()
    left = inst.files()
    assert len(left) == 2 and not any(f.startswith(names[1]) for f in left)


def test_killed_connection_deletes_nothing(inst):
    for m in MESSAGES[:3]:
        inst.put(m)
    r = Raw(inst.port)
    assert r.line().startswith(b"+OK")
    assert r.cmd(f"USER alice@{DOMAIN}").startswith(b"+OK")
    assert r.cmd("PASS " + PASSWORDS["alice"]).startswith(b"+OK")
    assert r.cmd("DELE 1").startswith(b"+OK")
    assert r.cmd("DELE 2").startswith(b"+OK")
    r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    r.close()
    time.sleep(0.5)
    assert len(inst.files()) == 3
    p = inst.pop()
    assert p.stat()[0] == 3
    p.quit()


def test_top_and_commands(inst):
    inst.put(b"Subject: t\nX: y\n\nb1\n.b2\nb3\n")
    p = inst.pop()
    assert p.top(1, 0)[1] == [b"Subject: t", b"X: y", b""]
    assert p.top(1, 2)[1] == [b"Subject: t", b"X: y", b"", b"b1", b".b2"]
    assert p.noop().startswith(b"+OK")
    caps = p.capa()
    assert "UIDL" in caps and "TOP" in caps and "RESP-CODES" in caps
    with pytest.raises(poplib.error_proto):
        p.retr(2)
    with pytest.raises(poplib.error_proto):
        p.retr(0)
    p.quit()


def test_capa_before_login(inst):
    r = Raw(inst.port)
    r.line()
    assert r.cmd("CAPA").startswith(b"+OK")
    caps = r.multi()
    for c in (b"TOP", b"UIDL", b"USER", b"SASL PLAIN LOGIN", b"STLS", b"RESP-CODES",
              b"AUTH-RESP-CODE", b"PIPELINING", b"IMPLEMENTATION tern"):
        assert c in caps
    r.close()


def test_wrong_password_auth_code_and_delay(inst):
    r = Raw(inst.port)
    r.line()
    r.cmd(f"USER alice@{DOMAIN}")
    t0 = time.monotonic()
    reply = r.cmd("PASS wrong")
    assert reply.startswith(b"-ERR [AUTH]")
    assert time.monotonic() - t0 >= 0.9  # authd's failure delay
    # the session goes on
    r.cmd(f"USER alice@{DOMAIN}")
    assert r.cmd("PASS " + PASSWORDS["alice"]).startswith(b"+OK")
    assert r.cmd("QUIT").startswith(b"+OK")
    r.close()


def test_bad_input_keeps_serving(inst):
    inst.put(MESSAGES[0])
    r = Raw(inst.port)
    r.line()
    r.send(b"X" * 100000 + b"\r\n")
    assert r.line().startswith(b"-ERR")
    assert r.cmd("FOO bar").startswith(b"-ERR")
    r.send(b"NO\x00OP\r\n")
    assert r.line().startswith(b"-ERR")
    r.cmd(f"USER alice@{DOMAIN}")
    assert r.cmd("PASS " + PASSWORDS["alice"]).startswith(b"+OK")
    r.send(b"LIST " + b"9" * 100000 + b"\r\n")
    assert r.line().startswith(b"-ERR")
    assert r.cmd("WHAT").startswith(b"-ERR")
    assert r.cmd("STAT").startswith(b"+OK 1 ")
    assert r.cmd("QUIT").startswith(b"+OK")
    r.close()


def test_too_many_errors_disconnects(make_inst):
    inst = make_inst(main={"pop3d_hard_error_limit": "3"})
    r = Raw(inst.port)
    r.line()
    for _ in range(2):
        assert r.cmd("BAD").startswith(b"-ERR")
    assert r.cmd("BAD").startswith(b"-ERR")
    assert r.line().startswith(b"-ERR Too many")
    assert r.line() == b""
    r.close()


def test_pipelining(inst):
    for m in MESSAGES[:2]:
        inst.put(m)
    r = Raw(inst.port)
    r.line()
    r.send(f"USER alice@{DOMAIN}\r\nPASS {PASSWORDS['alice']}\r\nSTAT\r\nUIDL 1\r\nQUIT\r\n"
           .encode())
    assert r.line().startswith(b"+OK")
    assert r.line().startswith(b"+OK")
    assert r.line().startswith(b"+OK 2 ")
    assert r.line().startswith(b"+OK 1 ")
    assert r.line().startswith(b"+OK")
    r.close()


def test_in_use(inst):
    inst.put(MESSAGES[0])
    p = inst.pop()
    r = Raw(inst.port)
    r.line()
    r.cmd(f"USER alice@{DOMAIN}")
    assert r.cmd("PASS " + PASSWORDS["alice"]).startswith(b"-ERR [IN-USE]")
    r.close()
    # delivery during a session: invisible now, visible at the next login
    inst.put(MESSAGES[1])
    assert p.stat()[0] == 1
    p.quit()
    p = inst.pop()
    assert p.stat()[0] == 2
    p.quit()


def test_stls_and_injection(inst):
    inst.put(MESSAGES[0])
    p = poplib.POP3("127.0.0.1", inst.port, timeout=30)
    p.stls(context=inst.tls_ctx())
    p.user(f"alice@{DOMAIN}")
    p.pass_(PASSWORDS["alice"])
    resp, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == crlf(MESSAGES[0])
    assert "STLS" not in p.capa()
    p.quit()
    r = Raw(inst.port)
    r.line()
    r.send(b"STLS\r\nCAPA\r\n")
    assert r.line().startswith(b"+OK")
    t = inst.tls_ctx().wrap_socket(r.sock, server_hostname="localhost")
    t.settimeout(2)
    with pytest.raises((socket.timeout, TimeoutError)):
        data = t.recv(100)
        assert data == b"", data  # nothing answered the injected CAPA
        raise TimeoutError
    t.close()


def test_pop3s_and_auth_plain(inst):
    inst.put(MESSAGES[1])
    p = poplib.POP3_SSL("127.0.0.1", inst.sport, timeout=30, context=inst.tls_ctx())
    import base64
    ir = base64.b64encode(f"\0alice@{DOMAIN}\0{PASSWORDS['alice']}".encode()).decode()
    assert p._shortcmd("AUTH PLAIN " + ir).startswith(b"+OK")
    resp, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == crlf(MESSAGES[1])
    p.quit()


def test_auth_plain_continuation_and_authzid(inst):
    import base64
    r = Raw(inst.port)
    r.line()
    assert r.cmd("AUTH PLAIN") == b"+ "
    good = base64.b64encode(f"\0bob@{DOMAIN}\0{PASSWORDS['bob']}".encode()).decode()
    assert r.cmd(good).startswith(b"+OK")
    r.cmd("QUIT")
    r.close()
    r = Raw(inst.port)
    r.line()
    other = base64.b64encode(f"bob@{DOMAIN}\0alice@{DOMAIN}\0{PASSWORDS['alice']}".encode())
    assert r.cmd("AUTH PLAIN " + other.decode()).startswith(b"-ERR [AUTH]")
    assert r.cmd("AUTH PLAIN *").startswith(b"-ERR")
    r.close()


def test_plaintext_refused_when_configured(make_inst):
    inst = make_inst(main={"pop3d_plaintext_auth": "no"})
    r = Raw(inst.port)
    r.line()
    assert r.cmd("USER alice").startswith(b"-ERR [AUTH]")
    assert r.cmd("AUTH PLAIN").startswith(b"-ERR [AUTH]")
    assert r.cmd("AUTH").startswith(b"+OK")  # the list of mechanisms
    r.multi()
    r.cmd("QUIT")
    r.close()
    p = poplib.POP3("127.0.0.1", inst.port, timeout=30)
    p.stls(context=inst.tls_ctx())
    p.user(f"alice@{DOMAIN}")
    p.pass_(PASSWORDS["alice"])
    p.quit()


def test_no_login_delay_or_expire_by_default(inst):
    capa = poplib.POP3("127.0.0.1", inst.port, timeout=30).capa()
    assert "LOGIN-DELAY" not in capa and "EXPIRE" not in capa
    p = inst.pop()
    p.quit()
    p = inst.pop()  # at once: no delay is enforced
    p.quit()


def test_login_delay(make_inst):
    inst = make_inst(main={"pop3d_login_delay": "3s"})
    inst.put(MESSAGES[0])
    c = poplib.POP3("127.0.0.1", inst.port, timeout=30)
    assert c.capa()["LOGIN-DELAY"] == ["3"]  # announced before login too
    c.quit()
    p = inst.pop()
    assert p.capa()["LOGIN-DELAY"] == ["3"]
    p.quit()
    first = time.monotonic()
    # A second login within 3 s: the password is right, the login refused,
    # and the mailbox untouched (the refused login does not restart the clock).
    inst.put(MESSAGES[1])
    with pytest.raises(poplib.error_proto) as e:
        inst.pop()
    assert b"[LOGIN-DELAY]" in e.value.args[0]
    assert os.listdir(os.path.join(inst.maildir(), "new")), "new/ was moved by a refused login"
    # a wrong password still gets [AUTH], not a hint about the delay
    r = Raw(inst.port)
    r.line()
    r.cmd(f"USER alice@{DOMAIN}")
    assert r.cmd("PASS wrong").startswith(b"-ERR [AUTH]")
    r.close()
    # bob has his own clock
    inst.pop("bob").quit()
    time.sleep(max(0.0, first + 3.3 - time.monotonic()))
    p = inst.pop()
    assert p.stat()[0] == 2
    p.quit()
    assert "login too soon: user=<alice@" in inst.log_text()


def test_expire_zero_removes_what_was_retrieved(make_inst):
    inst = make_inst(main={"pop3d_expire": "0"})
    for m in MESSAGES[:3]:
        inst.put(m)
    p = inst.pop()
    assert p.capa()["EXPIRE"] == ["0"]
    p.retr(2)
    p.top(3, 0)  # TOP is not a retrieval
    p.quit()
    p = inst.pop()
    assert p.stat()[0] == 2
    got = [b"\r\n".join(p.retr(i)[1]) + b"\r\n" for i in (1, 2)]
    assert got == [crlf(MESSAGES[0]), crlf(MESSAGES[2])]
    # without QUIT nothing goes
    p.retr(1)
    p.sock.shutdown(socket.SHUT_RDWR)  # poplib's file object keeps the fd open
    p.sock.close()

    def login():  # the dropped session's mail process may still hold the lock
        try:
            return inst.pop()
        except poplib.error_proto as e:
            assert b"[IN-USE]" in e.args[0]
            return None
    p = wait_for(login, 10)
    assert p and p.stat()[0] == 2
    p.quit()


@pytest.mark.parametrize("value,capa", [("NEVER", ["NEVER"]), ("31", ["31"]), ("soon", None)])
def test_expire_announced(make_inst, value, capa):
    inst = make_inst(main={"pop3d_expire": value})
    for m in MESSAGES[:2]:
        inst.put(m)
    p = inst.pop()
    assert p.capa().get("EXPIRE") == capa
    p.retr(1)
    p.quit()
    p = inst.pop()
    assert p.stat()[0] == 2  # only EXPIRE 0 removes retrieved mail
    p.quit()
    if capa is None:
        assert "pop3d_expire = soon: use NEVER or a number of days" in inst.log_text()


def _s_client(inst, args, sess_arg):
    base = ["openssl", "s_client", "-CAfile", inst.cert, "-ign_eof"]
    return subprocess.run(base + args + sess_arg, input="QUIT\r\n", capture_output=True,
                          text=True, timeout=30)


def test_tls_session_resumption(inst, tmp_path):
    """Tickets are encrypted with a key all pop3d-login processes share, so a
    client resumes with whichever login process it gets (pop3s and STLS)."""
    for args in (["-connect", f"127.0.0.1:{inst.sport}"],
                 ["-connect", f"127.0.0.1:{inst.port}", "-starttls", "pop3"]):
        sess = str(tmp_path / "sess.pem")
        r = _s_client(inst, args, ["-sess_out", sess])
        assert "+OK Logging out." in r.stdout, r.stdout + r.stderr
        assert "New, TLSv1.3" in r.stdout
        r = _s_client(inst, args, ["-sess_in", sess])
        assert "Reused, TLSv1.3" in r.stdout, r.stdout
        assert "+OK Logging out." in r.stdout
    keys = inst.path("queue", "private", "pop3_tls_ticket_keys")
    st = os.stat(keys)
    assert st.st_mode & 0o777 == 0o600
    if is_root():
        assert st.st_uid == ensure_test_user().pw_uid  # made by pop3d-login as mail_owner


def test_tls_session_resumption_off(make_inst, tmp_path):
    inst = make_inst(main={"pop3d_tls_session_cache_timeout": "0"})
    sess = str(tmp_path / "sess.pem")
    args = ["-connect", f"127.0.0.1:{inst.sport}"]
    r = _s_client(inst, args, ["-sess_out", sess])
    assert "+OK Logging out." in r.stdout, r.stdout + r.stderr
    # no ticket was issued, so there is no session to save and resume
    assert not os.path.exists(sess) or os.path.getsize(sess) == 0
    assert not os.path.exists(inst.path("queue", "private", "pop3_tls_ticket_keys"))


def test_uidls_kept_from_dovecot(inst):
    """A Maildir moved from Dovecot keeps its UIDLs (Dovecot's default
    pop3_uidl_format %08Xu%08Xv over dovecot-uidlist's UIDs), so clients
    that leave mail on the server do not download it all again."""
    names = [inst.put(m, where="cur") for m in MESSAGES[:3]]
    bases = [n.split(":")[0] for n in names]
    md = inst.maildir()
    st = os.stat(md)
    with open(os.path.join(md, "dovecot-uidlist"), "w") as f:
        f.write("3 V1500000000 N40 G0123456789abcdef0123456789abcdef\n")
        f.write(f"7 :{bases[0]}\n21 W{len(crlf(MESSAGES[1]))} :{bases[1]}\n33 :{bases[2]}\n")
    os.chown(os.path.join(md, "dovecot-uidlist"), st.st_uid, st.st_gid)
    inst.put(MESSAGES[3])  # new since Dovecot: the next UID, 40
    p = inst.pop()
    uidls = [line.split()[1].decode() for line in p.uidl()[1]]
    assert uidls == ["%08x%08x" % (u, 1500000000) for u in (7, 21, 33, 40)]
    # sizes: Dovecot's W field (the CRLF size) where it has one, else counted
    assert [int(line.split()[1]) for line in p.list()[1]] == [len(crlf(m)) for m in MESSAGES[:4]]
    p.quit()
    assert "dovecot-uidlist: 3 UIDs and UIDVALIDITY 1500000000 taken over" in inst.log_text()
    p = inst.pop()  # and they stay
    assert [line.split()[1].decode() for line in p.uidl()[1]] == uidls
    p.quit()


def test_curl(inst):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    inst.put(MESSAGES[0])
    inst.put(MESSAGES[4])
    # pop3s and STLS (--ssl-reqd) with the instance's certificate verified:
    # its name is mail.example.test, which --resolve points at 127.0.0.1
    name = "mail.example.test"
    verify = ["--cacert", inst.cert, "--resolve", f"{name}:{inst.sport}:127.0.0.1",
              "--resolve", f"{name}:{inst.port}:127.0.0.1"]
    for url, extra in ((f"pop3://127.0.0.1:{inst.port}/2", []),
                       (f"pop3://{name}:{inst.port}/2", ["--ssl-reqd", *verify]),
                       (f"pop3s://{name}:{inst.sport}/2", verify)):
        res = subprocess.run(["curl", "-s", "-u", f"alice@{DOMAIN}:{PASSWORDS['alice']}", *extra,
                              url], capture_output=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert digest(res.stdout) == digest(crlf(MESSAGES[4]))
    logins = [line for line in inst.log_text().splitlines() if " login: user=" in line]
    assert [", TLS" in line for line in logins] == [False, True, True], logins
    res = subprocess.run(["curl", "-s", "-u", f"alice@{DOMAIN}:{PASSWORDS['alice']}",
                          f"pop3://127.0.0.1:{inst.port}/"], capture_output=True, timeout=60)
    assert res.stdout.split(b"\r\n")[:2] == [b"1 %d" % len(crlf(MESSAGES[0])),
                                             b"2 %d" % len(crlf(MESSAGES[4]))]


def test_smtp_delivery_comes_out_identical(inst):
    body = ("Subject: via smtp\r\nFrom: x@example.org\r\n\r\n.dot line\r\nhello\r\n")
    with smtplib.SMTP("127.0.0.1", inst.base + 25, timeout=30) as s:
        s.sendmail("x@example.org", [f"alice@{DOMAIN}"], body)
    assert wait_for(lambda: len(inst.files()) == 1, 30), inst.log_text()[-3000:]
    p = inst.pop()
    resp, lines, _ = p.retr(1)
    got = b"\r\n".join(lines) + b"\r\n"
    md = inst.maildir()
    name = os.listdir(os.path.join(md, "cur"))[0]
    with open(os.path.join(md, "cur", name), "rb") as f:
        stored = f.read()
    assert got == crlf(stored)
    assert got.endswith(b".dot line\r\nhello\r\n")
    p.quit()


def _proc_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


def _descendants(pid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                text = f.read()
        except OSError:
            continue
        m = re.search(r"^PPid:\s+(\d+)", text, re.M)
        n = re.search(r"^Name:\s+(\S+)", text, re.M)
        if m and int(m.group(1)) == pid:
            out.append((int(name), n.group(1) if n else ""))
    return out


@pytest.mark.skipif(not is_root(), reason="the privilege split needs root")
def test_process_identities(inst):
    inst.put(MESSAGES[0])
    owner = pwd.getpwnam(ensure_test_user().pw_name).pw_uid
    vuid = os.stat(inst.maildir()).st_uid
    r = Raw(inst.port)
    r.line()
    # pre-login: the session parent (root) and its login child (mail_owner)
    def find():
        # Our session is the one with the newest login child: an earlier
        # session (the fixture's port probe) may still be ending.
        best = None
        for pid, name in _descendants(inst.proc.pid):
            if name == "pop3d":
                kids = _descendants(pid)
                # (right after the fork the child may not have dropped yet)
                if kids and all(_proc_uid(k) != 0 for k, _ in kids):
                    if best is None or max(k for k, _ in kids) > max(k for k, _ in best[1]):
                        best = (pid, kids)
        return best
    found = wait_for(find, 10)
    assert found, "no pop3d session"
    parent, kids = found
    assert _proc_uid(parent) == 0
    assert [_proc_uid(k) for k, _ in kids] == [owner]
    r.cmd(f"USER alice@{DOMAIN}")
    assert r.cmd("PASS " + PASSWORDS["alice"]).startswith(b"+OK")
    # plaintext: the login process handed the socket over and ended; the
    # session runs as the virtual uid, talking to the client directly
    # (mail_owner and the virtual uid may be the same user: count processes)
    kids = wait_for(lambda: len(_descendants(parent)) == 1
                    and _proc_uid(_descendants(parent)[0][0]) == vuid
                    and _descendants(parent), 10)
    assert kids and len(kids) == 1, _descendants(parent)
    mail = kids[0][0]
    peer = r.sock.getsockname()
    assert _holds_tcp_peer(mail, peer), "the mail process does not hold the client socket"
    assert _proc_uid(parent) == 0
    assert r.cmd("STAT").startswith(b"+OK 1 ")
    r.cmd("QUIT")
    r.close()
    # TLS (STLS): the login process stays as the proxy, as mail_owner
    r = Raw(inst.port)
    r.line()
    r.cmd("STLS")
    r.sock = inst.tls_ctx().wrap_socket(r.sock)
    r.cmd(f"USER alice@{DOMAIN}")
    assert r.cmd("PASS " + PASSWORDS["alice"]).startswith(b"+OK")
    def tls_session():
        for pid, name in _descendants(inst.proc.pid):
            kids = _descendants(pid)
            if name == "pop3d" and len(kids) == 2 and all(_proc_uid(k) != 0 for k, _ in kids):
                return pid, kids
        return None
    found = wait_for(tls_session, 10)
    assert found, _descendants(inst.proc.pid)
    parent, kids = found
    assert _proc_uid(parent) == 0
    assert sorted(_proc_uid(k) for k, _ in kids) == sorted([owner, vuid])
    r.cmd("QUIT")
    r.close()


def _maps_openssl(pid):
    with open(f"/proc/{pid}/maps") as f:
        return any("libcrypto" in line or "libssl" in line for line in f)


@pytest.mark.skipif(not is_root(), reason="the privilege split needs root")
def test_session_processes_do_not_map_openssl(inst):
    """Only pop3d-login links OpenSSL: a plaintext session's two processes
    (the session parent and the mail process forked from it) do not map it,
    which is what keeps a session small."""
    r = Raw(inst.port)
    r.line()
    r.cmd(f"USER alice@{DOMAIN}")
    assert r.cmd("PASS " + PASSWORDS["alice"]).startswith(b"+OK")
    vuid = os.stat(inst.maildir()).st_uid

    def session():
        for pid, name in _descendants(inst.proc.pid):
            kids = _descendants(pid)
            if name == "pop3d" and len(kids) == 1 and _proc_uid(kids[0][0]) == vuid:
                return pid, kids[0][0]
        return None
    found = wait_for(session, 10)
    assert found, _descendants(inst.proc.pid)
    parent, mail = found
    assert not _maps_openssl(parent) and not _maps_openssl(mail)
    # during a TLS session the login process (pop3d-login) does map it
    t = Raw(inst.port)
    t.line()
    t.cmd("STLS")
    t.sock = inst.tls_ctx().wrap_socket(t.sock)
    def login_procs():  # children of the pop3d processes (master's children)
        return [k for p, n in _descendants(inst.proc.pid) if n == "pop3d"
                for k, kn in _descendants(p) if kn == "pop3d-login"]
    logins = wait_for(login_procs, 10)
    assert logins and all(_maps_openssl(p) for p in logins)
    t.cmd("QUIT")
    t.close()
    r.cmd("QUIT")
    r.close()


class ForgedInst(Pop3Inst):
    """An instance whose pop3d-login is tests/progs/login_forge: a login
    process taken over by its client, which sends the session parent
    whatever record the client asks for."""

    def __init__(self):
        super().__init__()
        d = os.path.join(self.top, "libexec")
        os.mkdir(d)
        for name in os.listdir(os.path.join(BUILD, "libexec")):
            os.symlink(os.path.join(BUILD, "libexec", name), os.path.join(d, name))
        os.unlink(os.path.join(d, "pop3d-login"))
        os.symlink(os.path.join(BUILD, "tests", "login_forge"), os.path.join(d, "pop3d-login"))
        self.add_main(f"daemon_directory = {d}\n")

    def forged(self, line):
        r = Raw(self.port, timeout=20)
        r.send(line.encode() + b"\r\n")
        first = r.line()  # the mail process's reply to the login, or b"" (closed)
        r.close()
        return first


@pytest.mark.skipif(not os.path.exists(os.path.join(BUILD, "tests", "login_forge")),
                    reason="tests/progs/login_forge is not built")
def test_session_parent_believes_only_authd():
    """A login process taken over by its client cannot open another user's
    mailbox: the session parent redeems the login cookie with authd and
    compares the user; a made-up cookie or a borrowed one is refused and
    no mail process runs (bob's new mail stays in new/)."""
    gen = factory(ForgedInst)
    make = next(gen)
    try:
        inst = make()
        inst.put(MESSAGES[0], user="bob")
        alice, bob = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
        # the control: an honest record opens the session
        assert inst.forged(f"honest {alice} {PASSWORDS['alice']}").startswith(b"+OK Logged in")
        # alice's password, alice's cookie, but the record claims bob
        assert inst.forged(f"claim {alice} {PASSWORDS['alice']} {bob}") == b""
        # no password at all: a made-up cookie
        assert inst.forged(f"bogus {bob}") == b""
        assert os.listdir(os.path.join(inst.maildir("bob"), "new")), "bob's mailbox was opened"
        log = inst.log_text()
        assert "the login process claimed user " + bob in log, log[-3000:]
        assert "login cookie refused by authd" in log, log[-3000:]
        # and the honest login still works afterwards (nothing got stuck)
        assert inst.forged(f"honest {bob} {PASSWORDS['bob']}").startswith(b"+OK Logged in")
    finally:
        next(gen, None)


def _holds_tcp_peer(pid, client_addr):
    """Whether pid has an fd on the server end of the client's TCP connection."""
    port = client_addr[1]
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[2].split(":")[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            pass
    return False


def test_idle_timeout_and_command_limit(make_inst):
    inst = make_inst(main={"pop3d_timeout": "2s", "pop3d_command_count_limit": "5"})
    r = Raw(inst.port)
    r.line()
    t0 = time.monotonic()
    assert r.line().startswith(b"-ERR Disconnected for inactivity")
    assert 1.5 <= time.monotonic() - t0 < 10
    r.close()
    # after login too, and the session deletes nothing
    inst.put(MESSAGES[0])
    r = Raw(inst.port)
    r.line()
    r.cmd(f"USER alice@{DOMAIN}")
    assert r.cmd("PASS " + PASSWORDS["alice"]).startswith(b"+OK")
    assert r.cmd("DELE 1").startswith(b"+OK")
    assert r.line().startswith(b"-ERR Disconnected for inactivity")
    r.close()
    assert len(inst.files()) == 1
    r = Raw(inst.port)
    r.line()
    for _ in range(5):
        assert r.cmd("CAPA").startswith(b"+OK")
        r.multi()
    assert r.cmd("CAPA").startswith(b"-ERR Too many commands")
    r.close()
