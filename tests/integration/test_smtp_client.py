"""Integration tests for the SMTP client delivery agent (smtp/).

Instance A (made by `tern init`, real smtpd, cleanup, qmgr, local and
smtp) receives mail on its smtpd and sends it on with its smtp client:
either to instance B (another `tern init` instance listening on another
loopback address) or to a small Python SMTP peer in this file that can
misbehave on purpose (450/550 to RCPT, a dropped connection in the middle
of DATA, no 8BITMIME, a SIZE limit).  MX tests use the DNS fixture
(tests/integration/dnsserver.py) when it exists and skip otherwise.
"""

import email
import os
import re
import shutil
import smtplib
import socket
import socketserver
import subprocess
import tempfile
import threading
import time

import pytest

import dnsserver
from conftest import ensure_test_user, free_port, is_root, read_text, wait_for

SRC = os.environ.get("TERN_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("TERN_BUILD") or os.path.join(SRC, "build")
TERN = os.path.join(BUILD, "bin", "tern")
TERNQUEUE = os.path.join(BUILD, "bin", "ternqueue")
LIBEXEC = os.path.join(BUILD, "libexec")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def need(*daemons):
    for d in daemons:
        if not os.path.exists(os.path.join(LIBEXEC, d)):
            pytest.skip(f"{d} not built yet")
    if not os.path.exists(TERN):
        pytest.skip("tern not built")


def loopback_free(addr, port):
    with socket.socket() as s:
        try:
            s.bind((addr, port))
        except OSError:
            return False
    return True


def port_base(addr):
    """A --port-base whose smtp port (+25) is free on addr."""
    for _ in range(100):
        base = 20000 + free_port() % 20000 // 10 * 10
        if loopback_free(addr, base + 25) and loopback_free("127.0.0.1", base + 25):
            return base
    pytest.skip("no free port")


class Tern:
    """A `tern init` instance whose smtpd listens on addr."""

    ROWS = ("smtp", "relay", "cleanup", "qmgr", "local", "pickup")

    def __init__(self, domain, addr, main_extra="", files=None):
        self.domain, self.addr = domain, addr
        self.top = tempfile.mkdtemp(prefix="tern-smtp-")
        os.chmod(self.top, 0o755)
        self.dir = os.path.join(self.top, "i")
        base = port_base(addr)
        self.port = base + 25
        # --outbound: these instances send other domains' mail out for real
        # (a sandbox instance would catch it in its catchall mailbox).
        args = [TERN, "init", self.dir, "--port-base", str(base), "--domain", domain,
                "--user", f"alice@{domain}:Secret-1", "--outbound"]
        if is_root():
            args += ["--mail-owner", ensure_test_user().pw_name]
        res = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
        rows = []
        with open(os.path.join(self.dir, "master.cf")) as f:
            for ln in f:
                m = re.match(r"(\S+)\s+(\S+)", ln)
                if not m:
                    continue
                if m.group(1) == f"127.0.0.1:{self.port}":
                    rows.append(ln.replace(m.group(1), f"{addr}:{self.port}", 1))
                elif m.group(1) in self.ROWS and m.group(2) == "unix":
                    rows.append(ln)
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.writelines(rows)
        for name, text in (files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        with open(os.path.join(self.dir, "main.cf"), "a") as f:
            f.write(f"inet_interfaces = {addr}\nsmtp_connect_timeout = 5s\n")
            f.write(main_extra.replace("$DIR", self.dir))
        self.queue = os.path.join(self.dir, "queue")
        self.log = os.path.join(self.dir, "log", "tern.log")
        res = subprocess.run([TERN, "-c", self.dir, "start"], capture_output=True, text=True,
                             timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
        assert wait_for(lambda: os.path.exists(os.path.join(self.queue, "public", "qmgr")), 10)
        assert wait_for(lambda: self.port_open(), 10), self.log_text()[-2000:]

    def port_open(self):
        try:
            with socket.create_connection((self.addr, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def send(self, sender, rcpts, msg):
        with smtplib.SMTP(self.addr, self.port, timeout=15) as s:
            s.ehlo("client.test")
            s.sendmail(sender, rcpts, msg)

    def mailbox(self, user="alice"):
        d = os.path.join(self.dir, "mail", self.domain, user, "new")
        return sorted(os.path.join(d, n) for n in os.listdir(d)) if os.path.isdir(d) else []

    def read_mail(self, user="alice"):
        out = []
        for p in self.mailbox(user):
            with open(p, "rb") as f:
                out.append(email.message_from_bytes(f.read()))
        return out

    def log_text(self):
        return read_text(self.log)

    def queued(self):
        return [n for d in ("incoming", "active", "deferred")
                for n in os.listdir(os.path.join(self.queue, d))]

    def mailq(self):
        return subprocess.run([TERNQUEUE, "-c", self.dir, "-p"], capture_output=True,
                              text=True, timeout=30).stdout

    def flush(self):
        res = subprocess.run([TERNQUEUE, "-c", self.dir, "-f"], capture_output=True,
                             text=True, timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr

    def close(self):
        subprocess.run([TERN, "-c", self.dir, "stop"], capture_output=True, timeout=30)
        shutil.rmtree(self.top, ignore_errors=True)


@pytest.fixture
def terns():
    need("smtpd", "cleanup", "qmgr", "local", "smtp")
    made = []

    def make(*args, **kw):
        t = Tern(*args, **kw)
        made.append(t)
        return t

    yield make
    reports = []
    for t in made:
        text = t.log_text()
        t.close()
        reports += [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKS)]
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


# ---- a scriptable SMTP peer ------------------------------------------------

class PeerServer:
    """What the fake SMTP peers share: where they listen and how they stop
    (self.server is a socketserver server running in a thread)."""

    @property
    def nexthop(self):
        return f"[{self.addr}]:{self.port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Peer(PeerServer):
    """A tiny SMTP server on addr:port with knobs for odd behaviour.

    rcpt_replies: list of replies for successive RCPT commands (then 250).
    drop_in_data: how many sessions to cut in the middle of DATA.
    close_after_message: hang up, without a word, after each accepted message.
    rset_421: answer RSET with 421 (as a server whose idle timer ran out) and hang up.
    CHUNKING in ehlo turns on BDAT (RFC 3030).
    """

    def __init__(self, addr="127.0.0.7", ehlo=("PIPELINING", "8BITMIME", "SIZE 10000000", "DSN"),
                 rcpt_replies=(), drop_in_data=0, port=0, close_after_message=False,
                 rset_421=False):
        self.addr = addr
        self.close_after_message = close_after_message
        self.rset_421 = rset_421
        self.ehlo = list(ehlo)
        self.rcpt_replies = list(rcpt_replies)
        self.drop_in_data = drop_in_data
        self.messages = []  # (mail_from_line, [rcpt lines], data bytes)
        self.commands = []
        self.lock = threading.Lock()
        peer = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 20

            def handle(self):
                peer.session(self.rfile, self.wfile)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((addr, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def session(self, rfile, wfile):
        def say(text):
            wfile.write(text.encode() + b"\r\n")
            wfile.flush()

        say("220 peer.test ESMTP")
        mail, rcpts, chunks = None, [], []
        while True:
            line = rfile.readline(4096)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            with self.lock:
                self.commands.append(cmd)
            verb = cmd[:4].upper()
            if verb == "EHLO":
                lines = ["peer.test"] + self.ehlo
                for ln in lines[:-1]:
                    say("250-" + ln)
                say("250 " + lines[-1])
            elif verb == "HELO":
                say("250 peer.test")
            elif verb == "MAIL":
                mail, rcpts, chunks = cmd, [], []
                say("250 2.1.0 Ok")
            elif verb == "RCPT":
                with self.lock:
                    reply = self.rcpt_replies.pop(0) if self.rcpt_replies else "250 2.1.5 Ok"
                if reply.startswith("2"):
                    rcpts.append(cmd)
                say(reply)
            elif verb == "DATA":
                if not rcpts:
                    say("554 5.5.1 Error: no valid recipients")
                    continue
                say("354 End data with <CR><LF>.<CR><LF>")
                data = b""
                with self.lock:
                    drop = self.drop_in_data > 0
                    if drop:
                        self.drop_in_data -= 1
                while True:
                    chunk = rfile.readline(100000)
                    if not chunk:
                        return
                    if drop and len(data) > 10:
                        return  # cut the connection in the middle of the message
                    if chunk == b".\r\n":
                        break
                    data += chunk
                with self.lock:
                    self.messages.append((mail, rcpts, data))
                say("250 2.0.0 Ok: queued as PEER%d" % len(self.messages))
                if self.close_after_message:
                    return
            elif verb == "BDAT" and "CHUNKING" in self.ehlo:
                # RFC 3030: exactly SIZE octets follow the command line.
                words = cmd.split()
                size, last = int(words[1]), len(words) > 2 and words[2].upper() == "LAST"
                chunk = rfile.read(size)
                if len(chunk) < size:
                    return
                if not rcpts:
                    say("554 5.5.1 Error: no valid recipients")
                    continue
                chunks.append(chunk)
                if not last:
                    say("250 2.0.0 %d octets received" % size)
                    continue
                with self.lock:
                    self.messages.append((mail, rcpts, b"".join(chunks)))
                chunks = []
                say("250 2.0.0 Ok: queued as PEER%d" % len(self.messages))
                if self.close_after_message:
                    return
            elif verb == "RSET" and self.rset_421:
                say("421 4.4.2 peer.test Error: timeout exceeded")
                return
            elif verb == "RSET":
                mail, rcpts, chunks = None, [], []
                say("250 2.0.0 Ok")
            elif verb == "QUIT":
                say("221 2.0.0 Bye")
                return
            else:
                say("502 5.5.2 Error: command not recognized")



def peer_factory(make_peer):
    """The body of a peer fixture (use with `yield from`): yields make(**kw),
    which calls make_peer(**kw); every peer made is closed at teardown."""
    made = []

    def make(**kw):
        p = make_peer(**kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture
def peer():
    yield from peer_factory(Peer)


MSG = (b"From: alice@a.test\r\nTo: bob@peer.test\r\nSubject: outward\r\n\r\n"
       b"hello over there\r\n.leading dot\r\n")


def sender_a(terns, nexthop, extra=""):
    """Instance A on 127.0.0.2 with peer.test routed to nexthop."""
    return terns("a.test", "127.0.0.2",
                 "transport_maps = texthash:$DIR/transport\n" + extra,
                 {"transport": f"peer.test smtp:{nexthop}\nb.test smtp:{nexthop}\n"})


def bounce_of(a):
    """The single bounce in alice@a.test's mailbox: (report part, text)."""
    assert wait_for(lambda: a.mailbox(), 20), a.log_text()[-3000:]
    msg = a.read_mail()[0]
    assert msg.get_content_type() == "multipart/report"
    return msg.get_payload()[1].get_payload()[1], msg.as_string()


# ---- tests ------------------------------------------------------------------

def test_tern_to_tern(terns):
    b = terns("b.test", "127.0.0.3")
    a = sender_a(terns, f"[127.0.0.3]:{b.port}")
    msg = MSG.replace(b"bob@peer.test", b"alice@b.test")
    a.send("alice@a.test", ["alice@b.test"], msg)
    assert wait_for(lambda: b.mailbox(), 20), a.log_text()[-3000:] + b.log_text()[-2000:]
    got = b.read_mail()[0]
    assert len(got.get_all("Received")) == 2
    assert got["Subject"] == "outward"
    assert ".leading dot" in got.get_payload()
    assert wait_for(lambda: a.queued() == [], 10)
    # relay= names the server, as Postfix logs it: host[addr]:port
    assert re.search(r"to=<alice@b.test>, relay=[^, ]+\[127\.0\.0\.\d+\]:\d+, .*status=sent \(250 ",
                     a.log_text())


def test_pipelining_and_dsn(terns, peer):
    p = peer()
    a = sender_a(terns, p.nexthop)
    with smtplib.SMTP(a.addr, a.port, timeout=15) as s:
        s.ehlo("client.test")
        s.sendmail("alice@a.test", ["bob@peer.test", "carol@peer.test"], MSG,
                   mail_options=["RET=HDRS", "ENVID=env+2B1"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;x@y.test"])
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    mail, rcpts, data = p.messages[0]
    assert "SIZE=" in mail and "RET=HDRS" in mail and "ENVID=env+2B1" in mail
    assert len(rcpts) == 2 and all("NOTIFY=SUCCESS,FAILURE" in r for r in rcpts)
    assert "ORCPT=rfc822;x@y.test" in rcpts[0]
    assert b"\r\n..leading dot\r\n" in data and b"\n\n" not in data.replace(b"\r\n", b"")
    assert wait_for(lambda: a.queued() == [], 10)


def test_greylisted_then_delivered(terns, peer):
    p = peer(rcpt_replies=["450 4.2.0 <bob@peer.test>: Recipient address rejected: Greylisted"])
    a = sender_a(terns, p.nexthop)
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: "status=deferred" in a.log_text(), 20), a.log_text()[-3000:]
    assert re.search(r"status=deferred \(host 127\.0\.0\.7\[127\.0\.0\.7\] said: 450 4\.2\.0 "
                     r"<bob@peer\.test>: Recipient address rejected: Greylisted "
                     r"\(in reply to RCPT TO command\)\)", a.log_text())
    assert "Greylisted" in a.mailq()
    assert p.messages == []
    a.flush()
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert wait_for(lambda: a.queued() == [], 10)


def test_rejected_bounces_with_remote_text(terns, peer):
    p = peer(rcpt_replies=["550 5.1.1 <bob@peer.test>: Recipient address rejected: unknown"])
    a = sender_a(terns, p.nexthop)
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    status, text = bounce_of(a)
    assert status["Status"] == "5.1.1"
    diag = " ".join(status["Diagnostic-Code"].split())
    assert diag.startswith("smtp; 550 5.1.1 <bob@peer.test>: Recipient address rejected: "
                           "unknown"), diag
    assert status["Remote-MTA"].startswith("dns; "), status["Remote-MTA"]
    assert "(in reply to RCPT TO command)" in diag
    assert p.messages == []


def test_dropped_in_data_is_retried(terns, peer):
    p = peer(drop_in_data=1)
    a = sender_a(terns, p.nexthop)
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: "status=deferred" in a.log_text(), 20), a.log_text()[-3000:]
    assert re.search(r"status=deferred \(lost connection with 127\.0\.0\.7\[127\.0\.0\.7\] "
                     r"while sending (message body|end of data)", a.log_text()), a.log_text()
    assert p.messages == []
    a.flush()
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert wait_for(lambda: a.queued() == [], 10)
    time.sleep(0.5)
    assert len(p.messages) == 1


def test_size_limit_bounces(terns, peer):
    p = peer(ehlo=("PIPELINING", "8BITMIME", "SIZE 100"))
    a = sender_a(terns, p.nexthop)
    a.send("alice@a.test", ["bob@peer.test"], MSG + b"x" * 200 + b"\r\n")
    status, text = bounce_of(a)
    assert status["Status"] == "5.3.4"
    assert "exceeds size limit 100" in text
    assert p.messages == [] and not any(c.startswith("MAIL") for c in p.commands)


def test_8bit_to_7bit_peer(terns, peer):
    p = peer(ehlo=("PIPELINING",))
    a = sender_a(terns, p.nexthop)
    body = "Grüße aus dem Süden\r\n".encode()
    with smtplib.SMTP(a.addr, a.port, timeout=15) as s:
        s.ehlo("client.test")
        s.sendmail("alice@a.test", ["bob@peer.test"],
                   b"From: alice@a.test\r\nSubject: umlauts\r\n\r\n" + body,
                   mail_options=["BODY=8BITMIME"])
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    mail, rcpts, data = p.messages[0]
    assert "BODY=8BITMIME" not in mail
    assert all(b < 0x80 for b in data)
    got = email.message_from_bytes(data.replace(b"\r\n", b"\n"))
    assert got["Content-Transfer-Encoding"] == "quoted-printable"
    assert got.get_content_charset() == "utf-8"
    assert got.get_payload(decode=True).decode() == "Grüße aus dem Süden\n"

    # A multipart 8-bit message cannot be converted: 5.6.3.
    multi = (b"From: alice@a.test\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
             b"Content-Type: text/plain\r\n\r\n" + body + b"--XX--\r\n")
    with smtplib.SMTP(a.addr, a.port, timeout=15) as s:
        s.ehlo("client.test")
        s.sendmail("alice@a.test", ["bob@peer.test"], multi, mail_options=["BODY=8BITMIME"])
    status, text = bounce_of(a)
    assert status["Status"] == "5.6.3"
    assert len(p.messages) == 1


def test_smtputf8_needed(terns, peer):
    p = peer()
    a = sender_a(terns, p.nexthop)
    with smtplib.SMTP(a.addr, a.port, timeout=15) as s:
        s.ehlo("client.test")
        s.sendmail("alice@a.test", ["jösé@peer.test"], MSG, mail_options=["SMTPUTF8"])
    status, text = bounce_of(a)
    assert status["Status"] == "5.6.7"
    assert p.messages == []


def test_connection_refused_defers(terns):
    port = free_port()
    a = sender_a(terns, f"[127.0.0.9]:{port}")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: "status=deferred" in a.log_text(), 20), a.log_text()[-3000:]
    assert re.search(rf"status=deferred \(connect to 127\.0\.0\.9\[127\.0\.0\.9\]:{port}: "
                     r"Connection refused\)", a.log_text())


def test_connection_reuse(terns, peer):
    p = peer()
    a = sender_a(terns, p.nexthop, "smtp_connection_cache_time_limit = 10s\n")
    for i in range(3):
        a.send("alice@a.test", ["bob@peer.test"], MSG)
        assert wait_for(lambda: len(p.messages) == i + 1, 20), a.log_text()[-3000:]
    ehlos = [c for c in p.commands if c.upper().startswith("EHLO")]
    assert len(ehlos) < 3, p.commands
    assert any(c == "RSET" for c in p.commands)


def test_reused_connection_found_dead_is_replaced(terns, peer):
    """The peer hangs up after each message: the cached connection's
    pipelined RSET finds it dead, and the next message goes on a new
    connection at once, without a deferral."""
    p = peer(close_after_message=True)
    # One session per delivery: the dead one must not count as that session.
    a = sender_a(terns, p.nexthop,
                 "smtp_connection_cache_time_limit = 30s\nsmtp_mx_session_limit = 1\n")
    for i in range(3):
        a.send("alice@a.test", ["bob@peer.test"], MSG)
        assert wait_for(lambda: len(p.messages) == i + 1, 20), a.log_text()[-3000:]
    assert wait_for(lambda: a.queued() == [], 10)
    assert "status=deferred" not in a.log_text()
    assert len([c for c in p.commands if c.upper().startswith("EHLO")]) == 3


def test_reused_connection_closing_with_421_is_replaced(terns, peer):
    p = peer(rset_421=True)
    a = sender_a(terns, p.nexthop,
                 "smtp_connection_cache_time_limit = 30s\nsmtp_mx_session_limit = 1\n")
    for i in range(2):
        a.send("alice@a.test", ["bob@peer.test"], MSG)
        assert wait_for(lambda: len(p.messages) == i + 1, 20), a.log_text()[-3000:]
    assert wait_for(lambda: a.queued() == [], 10)
    assert "status=deferred" not in a.log_text()
    assert "RSET" in p.commands
    assert len([c for c in p.commands if c.upper().startswith("EHLO")]) == 2


CHUNKING_EHLO = ("PIPELINING", "8BITMIME", "SIZE 10000000", "DSN", "CHUNKING")


def test_chunking_uses_bdat(terns, peer):
    p = peer(ehlo=CHUNKING_EHLO,
             rcpt_replies=["550 5.1.1 <bob@peer.test>: Recipient address rejected: unknown"])
    a = sender_a(terns, p.nexthop)
    msg = MSG + b"..two dots\r\n.\r\nlast line\r\n"
    a.send("alice@a.test", ["bob@peer.test", "carol@peer.test"], msg)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    mail, rcpts, data = p.messages[0]
    assert rcpts == ["RCPT TO:<carol@peer.test>"], rcpts
    bdats = [c for c in p.commands if c.upper().startswith("BDAT")]
    assert bdats == ["BDAT %d LAST" % len(data)], p.commands
    assert not any(c.upper() == "DATA" for c in p.commands), p.commands
    # No dot-stuffing with BDAT; the content arrives exactly, CRLF line ends.
    header, body = data.split(b"\r\n\r\n", 1)
    assert body == b"hello over there\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n"
    assert b"Subject: outward\r\n" in header + b"\r\n" and b"\n" not in data.replace(b"\r\n", b"")
    assert data.startswith(b"Received: ")
    # The refused recipient bounces, the other is delivered.
    status, text = bounce_of(a)
    assert status["Status"] == "5.1.1"
    assert wait_for(lambda: re.search(r"to=<carol@peer\.test>, .*status=sent \(250 2\.0\.0 Ok: "
                                      r"queued as PEER1\)", a.log_text()), 20), a.log_text()


def test_chunking_large_and_unterminated(terns, peer):
    """A message over the in-memory bound (1 MiB) is streamed from the
    queue file; one submitted without a final line end arrives ending in
    CRLF with a BDAT size that matches (today cleanup already adds the
    line end; the client would add it too)."""
    p = peer(ehlo=CHUNKING_EHLO)
    a = sender_a(terns, p.nexthop, "smtp_connection_cache_time_limit = 30s\n")
    line = b".dot first, then 70 characters of text to fill the line up nicely ....\r\n"
    big = MSG + line * (1300 * 1024 // len(line))
    a.send("alice@a.test", ["bob@peer.test"], big)
    assert wait_for(lambda: p.messages, 30), a.log_text()[-3000:]
    data = p.messages[0][2]
    assert data.endswith(b"\r\n" + line) and data.count(line) == big.count(line)
    res = subprocess.run([os.path.join(BUILD, "bin", "sendmail"), "-C", a.dir, "-f",
                          "alice@a.test", "carol@peer.test"],
                         input=b"Subject: open end\n\nno line end here", capture_output=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: len(p.messages) == 2, 30), a.log_text()[-3000:]
    data = p.messages[1][2]
    assert data.endswith(b"\r\n\r\nno line end here\r\n"), data[-200:]
    bdats = [c for c in p.commands if c.upper().startswith("BDAT")]
    assert bdats == ["BDAT %d LAST" % len(m[2]) for m in p.messages], bdats
    assert wait_for(lambda: a.queued() == [], 10)


def test_chunking_nobody_accepted(terns, peer):
    """MAIL, RCPT and BDAT are pipelined: with every RCPT refused, the
    pipelined chunk is for nobody; the message bounces and the next one
    still arrives (on a fresh connection)."""
    p = peer(ehlo=CHUNKING_EHLO, rcpt_replies=["550 5.1.1 no such user"])
    a = sender_a(terns, p.nexthop, "smtp_connection_cache_time_limit = 30s\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    status, text = bounce_of(a)
    assert status["Status"] == "5.1.1"
    assert p.messages == []
    a.send("alice@a.test", ["carol@peer.test"], MSG)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert p.messages[0][1] == ["RCPT TO:<carol@peer.test>"]


def test_no_chunking_uses_data(terns, peer):
    p = peer()
    a = sender_a(terns, p.nexthop)
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert "DATA" in [c.upper() for c in p.commands]
    assert not any(c.upper().startswith("BDAT") for c in p.commands)
    assert p.messages[0][2].endswith(b"\r\n..leading dot\r\n")


def test_chunking_peer_without_8bitmime_gets_qp_by_data(terns, peer):
    p = peer(ehlo=("PIPELINING", "CHUNKING"))
    a = sender_a(terns, p.nexthop)
    with smtplib.SMTP(a.addr, a.port, timeout=15) as s:
        s.ehlo("client.test")
        s.sendmail("alice@a.test", ["bob@peer.test"],
                   "From: alice@a.test\r\nSubject: qp\r\n\r\nGrüße\r\n".encode(),
                   mail_options=["BODY=8BITMIME"])
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert "DATA" in [c.upper() for c in p.commands]
    got = email.message_from_bytes(p.messages[0][2].replace(b"\r\n", b"\n"))
    assert got["Content-Transfer-Encoding"] == "quoted-printable"
    assert got.get_payload(decode=True).decode() == "Grüße\n"


def test_relayhost_for_default_and_relay_domains(terns, peer):
    p = peer()
    a = terns("a.test", "127.0.0.2", f"relayhost = {p.nexthop}\nrelay_domains = relay.test\n")
    a.send("alice@a.test", ["bob@far.test"], MSG)
    a.send("alice@a.test", ["bob@relay.test"], MSG)
    assert wait_for(lambda: len(p.messages) == 2, 20), a.log_text()[-3000:]
    # The peer has the message before the client logs its status line.
    for rcpt in ("far", "relay"):
        pat = rf"to=<bob@{rcpt}\.test>, relay=[^, ]+\[127\.0\.0\.\d+\]:\d+, .*status=sent"
        assert wait_for(lambda: re.search(pat, a.log_text()), 20), a.log_text()[-3000:]


def test_long_multiline_reply_bounces(terns, peer):
    lines = ["550-5.7.1 " + ("policy text %02d " % i) * 10 for i in range(40)]
    p = peer(rcpt_replies=["\r\n".join(lines) + "\r\n550 5.7.1 last line"])
    a = sender_a(terns, p.nexthop)
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    status, text = bounce_of(a)
    assert status["Status"] == "5.7.1"
    diag = " ".join(status["Diagnostic-Code"].split())
    assert diag.startswith("smtp; 550-5.7.1 policy text 00") and "..." in diag, diag


# ---- MX routing through the DNS fixture ---------------------------------

ZONES = {
    "pref.test": """
        @    MX 10 mx1
        @    MX 20 mx2
        mx1  A  127.0.0.11
        mx2  A  127.0.0.12
    """,
    "dead.test": """
        @    MX 10 mx1
        @    MX 20 mx2
        mx1  A  127.0.0.13
        mx2  A  127.0.0.12
    """,
    "nomx.test": """
        @    A  127.0.0.11
    """,
    "nullmx.test": """
        @    MX 0 .
    """,
    "loop.test": """
        @    MX 10 self
        @    MX 20 other
        self A  127.0.0.2
        other A 127.0.0.12
    """,
    "btern.test": """
        @    MX 10 mx
        mx   A  127.0.0.3
    """,
}


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    if not dnsserver.have_nsd():
        pytest.skip("nsd not installed")
    server = dnsserver.DnsServer(str(tmp_path_factory.mktemp("dns")))
    for name, records in ZONES.items():
        server.add_zone(name, records)
    server.add_broken_zone("broken.test")
    server.start()
    yield server
    server.stop()


def common_port(*addrs):
    for _ in range(100):
        port = free_port()
        if all(loopback_free(a, port) for a in addrs):
            return port
    pytest.skip("no common free port")


def mx_sender(terns, dns, port, domains):
    """Instance A resolving through the fixture; each domain goes to domain:port."""
    table = "".join(f"{d} smtp:{d}:{port}\n" for d in domains)
    return terns("a.test", "127.0.0.2",
                 f"dns_nameservers = {dns.nameserver}\ntransport_maps = texthash:$DIR/transport\n",
                 {"transport": table})


def test_mx_preference(terns, peer, dns):
    port = common_port("127.0.0.11", "127.0.0.12")
    p1, p2 = peer(addr="127.0.0.11", port=port), peer(addr="127.0.0.12", port=port)
    a = mx_sender(terns, dns, port, ["pref.test"])
    for _ in range(2):
        a.send("alice@a.test", ["bob@pref.test"], MSG)
    assert wait_for(lambda: len(p1.messages) == 2, 20), a.log_text()[-3000:]
    assert p2.messages == []


def test_mx_dead_primary_falls_back(terns, peer, dns):
    port = common_port("127.0.0.12", "127.0.0.13")
    p2 = peer(addr="127.0.0.12", port=port)
    a = mx_sender(terns, dns, port, ["dead.test"])
    a.send("alice@a.test", ["bob@dead.test"], MSG)
    assert wait_for(lambda: p2.messages, 20), a.log_text()[-3000:]
    assert re.search(rf"connect to mx1\.dead\.test\[127\.0\.0\.13\]:{port}: Connection refused",
                     a.log_text())
    assert wait_for(lambda: a.queued() == [], 10)


def test_no_mx_uses_a_record(terns, peer, dns):
    port = common_port("127.0.0.11")
    p1 = peer(addr="127.0.0.11", port=port)
    a = mx_sender(terns, dns, port, ["nomx.test"])
    a.send("alice@a.test", ["bob@nomx.test"], MSG)
    assert wait_for(lambda: p1.messages, 20), a.log_text()[-3000:]


def test_null_mx_bounces(terns, dns):
    a = mx_sender(terns, dns, 25, ["nullmx.test"])
    a.send("alice@a.test", ["bob@nullmx.test"], MSG)
    status, text = bounce_of(a)
    assert status["Status"] == "5.1.10"
    assert "does not accept mail (nullMX)" in text


def test_nxdomain_bounces(terns, dns):
    a = mx_sender(terns, dns, 25, ["nosuch.pref.test"])
    a.send("alice@a.test", ["bob@nosuch.pref.test"], MSG)
    status, text = bounce_of(a)
    assert status["Status"] == "5.1.2"
    assert "Host or domain name not found" in " ".join(text.split())


def test_mx_loops_back_to_myself(terns, peer, dns):
    port = common_port("127.0.0.12")
    p2 = peer(addr="127.0.0.12", port=port)
    a = mx_sender(terns, dns, port, ["loop.test"])
    a.send("alice@a.test", ["bob@loop.test"], MSG)
    status, text = bounce_of(a)
    assert status["Status"] == "5.4.6"
    assert "mail for loop.test loops back to myself" in " ".join(text.split())
    assert p2.messages == []


def test_servfail_defers_then_delivers(terns, peer, dns):
    port = common_port("127.0.0.11")
    p1 = peer(addr="127.0.0.11", port=port)
    a = mx_sender(terns, dns, port, ["broken.test"])
    a.send("alice@a.test", ["bob@broken.test"], MSG)
    assert wait_for(lambda: "status=deferred" in a.log_text(), 30), a.log_text()[-3000:]
    assert re.search(r"dsn=4\.4\.3, status=deferred \(Host or domain name not found\. Name "
                     r"service error for name=broken\.test type=MX", a.log_text()), a.log_text()
    dns.add_zone("broken.test", "@ MX 10 mx\nmx A 127.0.0.11\n")  # fixed for good
    dns.reload()
    a.flush()
    assert wait_for(lambda: p1.messages, 30), a.log_text()[-3000:]


def test_mx_to_tern_instance(terns, dns):
    b = terns("btern.test", "127.0.0.3")
    a = mx_sender(terns, dns, b.port, ["btern.test"])
    a.send("alice@a.test", ["alice@btern.test"], MSG.replace(b"bob@peer.test", b"alice@btern.test"))
    assert wait_for(lambda: b.mailbox(), 20), a.log_text()[-3000:] + b.log_text()[-2000:]
    got = b.read_mail()[0]
    assert len(got.get_all("Received")) == 2
