"""fetchmail (Debian's package) downloading from a tern instance over POP3.

The instance is test_pop3d's (tern init --user, pop3 on N+110, pop3s on
N+995 with the instance's self-signed certificate).  fetchmail runs with a
private rc file (mode 0600), HOME and FETCHMAILHOME in the test's
directory, --nosyslog, a 20 s protocol timeout, and delivers every message
to an MDA (a small Python script) that writes it to its own file: no MTA
and no port 25 are involved.

What is compared: the Maildir file as delivered (read before the fetch)
against what fetchmail handed the MDA, both with CRLF turned into LF (the
stored files have LF ends, POP3 sends CRLF, fetchmail gives the MDA LF)
and a final line end added where missing.  fetchmail runs with `no
rewrite` (it would otherwise qualify addresses in headers); with
--invisible it adds nothing, so the whole message must be byte-identical;
without it fetchmail prepends its own Received: field, which is removed
(that one field only, with its continuation lines) before comparing, so
every other header byte and every body byte is still compared.
One difference is allowed for: fetchmail ends a message without a body
with an empty line (see expected()).  Messages are compared as multisets of SHA-256 digests (the MDA may run in
any order).
"""

import hashlib
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import time

import pytest

from conftest import wait_for
from test_pop3d import DOMAIN, PASSWORDS, Pop3Inst

FETCHMAIL = shutil.which("fetchmail")
if FETCHMAIL is None:
    pytest.skip("fetchmail is not installed (scripts/install-deps)", allow_module_level=True)

WRITER = """\
import os, sys
d = sys.argv[1]
data = sys.stdin.buffer.read()
n = len([f for f in os.listdir(d) if f.startswith("m.")])
tmp = os.path.join(d, "t.%d" % os.getpid())
with open(tmp, "wb") as f:
    f.write(data)
os.rename(tmp, os.path.join(d, "m.%d.%d" % (n, os.getpid())))
if os.environ.get("STALL_AFTER") and n + 1 >= int(os.environ["STALL_AFTER"]):
    open(os.path.join(d, "stalled"), "w").close()
    import time
    time.sleep(120)
"""

# Stored messages (LF ends, as local delivery writes them) with the shapes
# that matter: dot lines, a lone dot, CRLF storage without a final line end,
# 8-bit bytes, long lines, a multi-block size, a header-only message.
MESSAGES = [
    b"From: a@example.org\nTo: alice@example.test\nSubject: one\n\nhello\n",
    b"Subject: dots\nFrom: b@example.org\n\n.leading dot\n..two dots\n.\nlast\n",
    b"Subject: crlf stored\r\nFrom: c@example.org\r\n\r\nline one\r\nno final eol",
    b"Subject: 8bit\nContent-Type: text/plain; charset=utf-8\n\n"
    + "gr\u00fc\u00dfe \u2014 \u00e9t\u00e9\n".encode() + bytes(range(0x80, 0x100)) + b"\n",
    b"Subject: long lines\nX-Long: " + b"h" * 900 + b"\n\n" + (b"x" * 3000 + b"\n") * 20,
    b"Subject: big\nFrom: d@example.org\n\n"
    + b"".join(b"%06d .%s\n" % (i, b"abcdefgh" * 9) for i in range(5000)),
    b"Subject: header only\nFrom: e@example.org\n",
]


def norm(data):
    data = data.replace(b"\r\n", b"\n")
    return data if data.endswith(b"\n") else data + b"\n"


def digest(data):
    return hashlib.sha256(data).hexdigest()


def strip_fetchmail_received(data):
    """Remove the one Received: field fetchmail added (with its folded lines).
    fetchmail puts it after a leading Return-Path:/Delivered-To:, else first."""
    lines = data.split(b"\n")
    end = lines.index(b"") if b"" in lines else len(lines)
    fields, i = [], 0
    while i < end:  # header fields as (first line, last line + 1)
        j = i + 1
        while j < end and lines[j][:1] in (b" ", b"\t"):
            j += 1
        fields.append((i, j))
        i = j
    ours = [(a, b) for a, b in fields if lines[a].startswith(b"Received: from 127.0.0.1")
            and b"(fetchmail-" in b"\n".join(lines[a:b])]
    assert len(ours) == 1, lines[:8]
    a, b = ours[0]
    assert fields.index(ours[0]) <= 2, lines[:8]
    return b"\n".join(lines[:a] + lines[b:])


class Fetch:
    """A private fetchmail setup in the instance's temporary directory."""

    def __init__(self, inst, name):
        self.inst = inst
        self.home = os.path.join(inst.top, f"fm-{name}")
        self.out = os.path.join(self.home, "out")
        os.makedirs(self.out)
        self.writer = os.path.join(self.home, "writer.py")
        with open(self.writer, "w") as f:
            f.write(WRITER)
        self.rc = os.path.join(self.home, "fetchmailrc")

    def write_rc(self, port, keep, tls):
        opts = ["fetchall", "no rewrite", "keep" if keep else "no keep"]
        if tls == "plain":
            opts.append('sslproto ""')  # never STLS, even though it is offered
        else:
            if tls == "stls":
                opts.append("sslproto tls1.2+")  # STLS is required
            else:
                opts += ["ssl"]
            opts += ["sslcertck", f'sslcertfile "{self.inst.cert}"',
                     "sslcommonname mail.example.test"]
        rc = (f"set no syslog\n"
              f"poll 127.0.0.1 service {port} protocol pop3 timeout 20\n"
              f'  user "alice@{DOMAIN}" there with password "{PASSWORDS["alice"]}" is "nobody" here\n'
              f"  options {' '.join(opts)}\n"
              f'  mda "{sys.executable} {self.writer} {self.out}"\n')
        fd = os.open(self.rc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(rc)
        os.chmod(self.rc, 0o600)  # fetchmail refuses a group/world-readable rc

    def env(self, **extra):
        env = dict(os.environ, HOME=self.home, FETCHMAILHOME=self.home, LC_ALL="C")
        env.update(extra)
        return env

    def argv(self, invisible):
        return [FETCHMAIL, "-f", self.rc, "--nosyslog", "-v", "--nodetach"] + (
            ["--invisible"] if invisible else [])

    def run(self, port, keep, tls, invisible=True):
        self.write_rc(port, keep, tls)
        for f in os.listdir(self.out):
            os.unlink(os.path.join(self.out, f))
        res = subprocess.run(self.argv(invisible), env=self.env(), capture_output=True,
                             timeout=120)
        return res

    def fetched(self, invisible=True):
        got = []
        for f in sorted(os.listdir(self.out)):
            if not f.startswith("m."):
                continue
            with open(os.path.join(self.out, f), "rb") as fh:
                data = fh.read()
            got.append(norm(data if invisible else strip_fetchmail_received(data)))
        return got


@pytest.fixture
def inst():
    i = Pop3Inst()
    try:
        yield i.start()
    finally:
        reports = i.finish()
        assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def stored(inst):
    """Every message file of alice's Maildir: base name -> contents."""
    md = inst.maildir()
    out = {}
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(md, sub)):
            with open(os.path.join(md, sub, name), "rb") as f:
                out[name.split(":")[0]] = f.read()
    return out


def fill(inst):
    for m in MESSAGES:
        inst.put(m)
    body = "Subject: via smtp\r\nFrom: x@example.org\r\n\r\n.dot line\r\nhello\r\n"
    with smtplib.SMTP("127.0.0.1", inst.base + 25, timeout=30) as s:
        s.sendmail("x@example.org", [f"alice@{DOMAIN}"], body)
    assert wait_for(lambda: len(inst.files()) == len(MESSAGES) + 1, 30), inst.log_text()[-3000:]
    return stored(inst)


def expected(stored_bytes):
    """What the MDA should get: the stored message, LF ends.  fetchmail ends
    a header-only message with the empty line that separates header and
    body (pop3d sends it as stored: test_pop3d checks the wire bytes)."""
    m = norm(stored_bytes)
    return m if b"\n\n" in m else m + b"\n"


def digests(msgs):
    return sorted(digest(expected(m)) for m in msgs)


def login_lines(inst):
    return [line for line in inst.log_text().splitlines() if "pop3d-login[" in line and " login: " in line]


@pytest.mark.parametrize("tls", ["plain", "stls", "pop3s"])
def test_fetchmail_keep_then_delete(inst, tls):
    before = fill(inst)
    fm = Fetch(inst, tls)
    port = inst.sport if tls == "pop3s" else inst.port
    # --keep: everything arrives intact and the mailbox is unchanged.
    res = fm.run(port, keep=True, tls=tls)
    assert res.returncode == 0, res.stdout.decode(errors="replace")[-3000:]
    got = fm.fetched()
    assert len(got) == len(before)
    assert sorted(digest(g) for g in got) == digests(before.values())
    assert stored(inst) == before
    assert b"DELE" not in res.stdout + res.stderr
    logins = login_lines(inst)
    assert logins and all((", TLS" in line) == (tls != "plain") for line in logins), logins
    # Without --keep: the same bytes again, and afterwards the mailbox is empty.
    res = fm.run(port, keep=False, tls=tls)
    assert res.returncode == 0, res.stdout.decode(errors="replace")[-3000:]
    assert sorted(digest(g) for g in fm.fetched()) == digests(before.values())
    assert b"POP3> DELE" in res.stdout + res.stderr
    assert inst.files() == []


def test_fetchmail_received_header_is_the_only_change(inst):
    before = fill(inst)
    fm = Fetch(inst, "visible")
    fm.write_rc(inst.port, keep=True, tls="plain")
    res = subprocess.run(fm.argv(invisible=False), env=fm.env(), capture_output=True, timeout=120)
    assert res.returncode == 0, res.stdout.decode(errors="replace")[-3000:]
    got = fm.fetched(invisible=False)
    assert sorted(digest(g) for g in got) == digests(before.values())
    assert stored(inst) == before


def test_fetchmail_killed_before_quit_deletes_nothing(inst):
    before = fill(inst)
    fm = Fetch(inst, "killed")
    fm.write_rc(inst.port, keep=False, tls="plain")
    log = open(os.path.join(fm.home, "fetchmail.out"), "wb")
    proc = subprocess.Popen(fm.argv(invisible=True), env=fm.env(STALL_AFTER="3"), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_for(lambda: os.path.exists(os.path.join(fm.out, "stalled")), 60)
        # fetchmail sends DELE for each message its MDA took; wait for two of them.
        def deles():
            with open(os.path.join(fm.home, "fetchmail.out"), "rb") as f:
                return f.read().count(b"POP3> DELE")
        assert wait_for(lambda: deles() >= 2, 30)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        log.close()
    with open(os.path.join(fm.home, "fetchmail.out"), "rb") as f:
        assert b"POP3> QUIT" not in f.read()
    # The server saw the connection drop without QUIT: nothing was removed.
    assert wait_for(lambda: "no QUIT: nothing deleted" in inst.log_text(), 30), \
        inst.log_text()[-2000:]
    assert stored(inst) == before
    # A complete run then takes everything, identical, and empties the mailbox.
    res = fm.run(inst.port, keep=False, tls="plain")
    assert res.returncode == 0, res.stdout.decode(errors="replace")[-3000:]
    assert sorted(digest(g) for g in fm.fetched()) == digests(before.values())
    assert inst.files() == []


def test_fetchmail_refuses_an_unverified_certificate(inst):
    """The certificate check is real: without the instance's certificate as
    trust anchor fetchmail stops before logging in and fetches nothing."""
    before = fill(inst)
    fm = Fetch(inst, "nocert")
    fm.write_rc(inst.sport, keep=False, tls="pop3s")
    with open(fm.rc) as f:
        rc = f.read()
    rc = rc.replace(f'sslcertfile "{inst.cert}"', f'sslcertpath "{fm.home}"')
    with open(fm.rc, "w") as f:
        f.write(rc)
    res = subprocess.run(fm.argv(invisible=True), env=fm.env(), capture_output=True, timeout=120)
    assert res.returncode != 0
    assert fm.fetched() == []
    assert stored(inst) == before
    time.sleep(0.5)
    assert login_lines(inst) == []
