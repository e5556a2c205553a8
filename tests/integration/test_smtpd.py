"""Integration tests for smtpd(8): a real master running smtpd on a
loopback port, driven by Python's smtplib, swaks and raw sockets.

Tests that need a message queued need the cleanup daemon; they are
skipped while $TERN_BUILD/libexec/cleanup does not exist.  Without a
cleanup service row in master.cf, DATA must answer 451 4.3.0.
"""

import os
import re
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import BUILD, wait_for

LIBEXEC = os.path.join(BUILD, "libexec")
SMTPD = os.path.join(LIBEXEC, "smtpd")
CLEANUP = os.path.join(LIBEXEC, "cleanup")

pytestmark = pytest.mark.skipif(not os.path.exists(SMTPD), reason="smtpd not built")

HOST = "mx.example.com"
QUEUES = ("incoming", "active", "deferred", "hold", "corrupt", "defer", "bounce", "private",
          "public", "pid", "maildrop")


def have_cleanup():
    return os.path.exists(CLEANUP)


def need_cleanup():
    if not have_cleanup():
        pytest.skip("cleanup daemon not built yet")


class Raw:
    """A raw SMTP client: exact bytes out, reply lines in."""

    def __init__(self, port, source="127.0.0.1", timeout=10):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                out, self.buf = self.buf, b""
                return out.decode(errors="replace")
            self.buf += data
        out, self.buf = self.buf.split(b"\n", 1)
        return out.decode(errors="replace").rstrip("\r")

    def reply(self):
        """A whole (multi-line) reply: (code, [texts])."""
        lines = []
        while True:
            ln = self.line()
            if not ln:
                return None, lines
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return int(ln[:3]), lines

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True

    def close(self):
        self.sock.close()


def start(instance, port, extra=None, with_cleanup=True):
    inst = instance()
    conf = inst.conf
    with open(os.path.join(conf, "local_users"), "w") as f:
        f.write("alice x\nbob x\n")
    with open(os.path.join(conf, "aliases"), "w") as f:
        f.write("postmaster: alice\n")
    params = {
        "daemon_directory": LIBEXEC,
        "myhostname": HOST,
        "mydomain": "example.com",
        "mydestination": "example.com, localhost",
        "mynetworks": "127.0.0.1/32 [::1]/128",
        "alias_maps": f"texthash:{conf}/aliases",
        "local_recipient_maps": f"texthash:{conf}/local_users",
        "smtpd_error_sleep_time": "0",
    }
    if not with_cleanup:  # smtpd must use the (missing) cleanup service
        params["inline_cleanup"] = "no"
    params.update(extra or {})
    inst.main_cf(params)
    rows = f"127.0.0.1:{port} inet n - n - - smtpd\n"
    if with_cleanup and have_cleanup():
        rows += "cleanup unix - - n - 0 cleanup\n"
    inst.master_cf(rows)
    for q in QUEUES:
        os.makedirs(os.path.join(inst.queue, q), mode=0o700, exist_ok=True)
        os.chown(os.path.join(inst.queue, q), inst.owner_uid, -1)
    inst.start(wait_port=port)
    return inst


@pytest.fixture
def smtp(instance, port):
    return start(instance, port), port


def ehlo(port, source="127.0.0.1"):
    c = Raw(port, source)
    code, _ = c.reply()
    assert code == 220
    code, _ = c.cmd("EHLO client.example.org")
    assert code == 250
    return c


def still_serving(port):
    c = ehlo(port)
    assert c.cmd("QUIT")[0] == 221
    c.close()


# ---- greeting, EHLO, simple commands ----------------------------------------

def test_banner_and_ehlo_capabilities(smtp):
    inst, port = smtp
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        code, msg = s.ehlo("client.example.org")
        assert code == 250
        assert msg.decode().splitlines()[0] == HOST
        for ext in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes",
                    "dsn", "chunking"):
            assert s.has_extn(ext), ext
        assert s.esmtp_features["size"] == str(25 * 1024 * 1024 if False else 26214400)
        assert s.noop()[0] == 250
        assert s.rset()[0] == 250
        code, text = s.verify("alice@example.com")
        assert code == 252 and text.startswith(b"2.0.0")
        code, text = s.docmd("HELP")
        assert code == 214
    assert inst.wait_log(r"connect from unknown\[127\.0\.0\.1\]")
    assert inst.wait_log(r"disconnect from unknown\[127\.0\.0\.1\] ehlo=1 noop=1 rset=1 "
                         r"quit=1 vrfy=1 help=1 commands=6|disconnect from unknown\[127\.0\.0\.1\]"
                         r" .*commands=6")


def test_helo_and_unknown_command(smtp):
    inst, port = smtp
    c = Raw(port)
    assert c.reply()[0] == 220
    code, lines = c.cmd("HELO client.example.org")
    assert code == 250 and lines == [f"250 {HOST}"]
    assert c.cmd("FOO bar") == (502, ["502 5.5.2 Error: command not recognized"])
    assert c.cmd("DATA extra") == (501, ["501 5.5.4 Syntax: DATA"])
    assert c.cmd("EXPN staff")[0] == 502
    assert c.cmd("QUIT")[0] == 221
    c.close()
    assert inst.wait_log(r"disconnect from .* unknown=0/1 commands=\d+/\d+")


def test_bad_sequence(smtp):
    _, port = smtp
    c = ehlo(port)
    assert c.cmd("RCPT TO:<alice@example.com>")[1] == ["503 5.5.1 Error: need MAIL command"]
    assert c.cmd("DATA")[1] == ["503 5.5.1 Error: need MAIL command"]
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("MAIL FROM:<a@example.org>")[1] == ["503 5.5.1 Error: nested MAIL command"]
    assert c.cmd("DATA")[1] == ["554 5.5.1 Error: no valid recipients"]
    c.close()


# ---- strict input -----------------------------------------------------------

def test_long_line(smtp):
    _, port = smtp
    c = ehlo(port)
    code, lines = c.cmd("NOOP " + "x" * 5000)
    assert (code, lines) == (500, ["500 5.5.2 Error: line too long"])
    assert c.cmd("NOOP")[0] == 250  # the rest of the long line was skipped
    c.close()
    still_serving(port)


def test_nul_in_command(smtp):
    _, port = smtp
    c = ehlo(port)
    c.send(b"NOOP a\x00b\r\n")
    assert c.reply() == (500, ["500 5.5.2 Error: bad syntax"])
    c.send(b"MAIL FROM:<a\x00@example.org>\r\n")
    assert c.reply()[0] == 500
    assert c.cmd("NOOP")[0] == 250
    c.close()


def test_bare_lf_command(smtp):
    inst, port = smtp
    c = Raw(port, "127.0.0.9")  # not in mynetworks (the default exclusions)
    assert c.reply()[0] == 220
    c.send(b"EHLO client.example.org\n")
    assert c.reply() == (521, [f"521 5.5.2 {HOST} Error: bare <LF> received"])
    assert c.closed()
    assert inst.wait_log(r"bare <LF> received from unknown\[127\.0\.0\.9\]")
    still_serving(port)
    # mynetworks clients are excluded by default: bare LF is a line end
    c = Raw(port, "127.0.0.1")
    assert c.reply()[0] == 220
    c.send(b"EHLO client.example.org\n")
    assert c.reply()[0] == 250
    c.close()


def test_bare_lf_normalize(instance, port):
    start(instance, port, {"smtpd_forbid_bare_newline": "normalize"})
    c = Raw(port, "127.0.0.9")
    assert c.reply()[0] == 220
    c.send(b"EHLO client.example.org\n")
    assert c.reply()[0] == 250
    c.close()


def test_bad_addresses(smtp):
    _, port = smtp
    c = ehlo(port)
    for bad in ("MAIL FROM:<a b@example.org>", "MAIL FROM:<@>", "MAIL FROM:<a@exa mple.org>",
                "MAIL FROM:<a@-bad-.org>", "MAIL FROM:<" + "a" * 300 + "@example.org>",
                "MAIL FROM:<a@example.org> FOO=BAR", "MAIL FROM:<a@example.org"):
        code, lines = c.cmd(bad)
        assert code in (501, 553, 555), (bad, lines)
        assert lines[0][4] == "5" and lines[0][5] == ".", lines
    assert c.cmd("MAIL FROM:<>")[0] == 250
    code, lines = c.cmd("RCPT TO:<>")
    assert code in (501, 553), lines
    code, lines = c.cmd("MAIL")
    assert code == 501 or code == 503
    c.close()


def test_size_over_limit(smtp):
    _, port = smtp
    c = ehlo(port)
    code, lines = c.cmd("MAIL FROM:<a@example.org> SIZE=999999999")
    assert (code, lines) == (552, ["552 5.3.4 Message size exceeds fixed limit"])
    assert c.cmd("MAIL FROM:<a@example.org> SIZE=1000")[0] == 250
    c.close()


def test_too_many_recipients(instance, port):
    start(instance, port, {"smtpd_recipient_limit": "3"})
    c = ehlo(port)
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    for _ in range(3):
        assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.com>") == (452, ["452 4.5.3 Error: too many recipients"])
    c.close()


def test_hard_error_limit(instance, port):
    inst = start(instance, port, {"smtpd_hard_error_limit": "5"})
    c = ehlo(port)
    replies = [c.cmd("BOGUS")[0] for _ in range(5)]
    assert replies == [502] * 5
    code, lines = c.reply()
    assert code == 421 and "too many errors" in lines[0] and lines[0].startswith("421 4.7.0")
    assert c.closed()
    assert inst.wait_log(r"too many errors after")
    still_serving(port)


def test_timeout(instance, port):
    inst = start(instance, port, {"smtpd_timeout": "1s"})
    c = Raw(port)
    assert c.reply()[0] == 220
    code, lines = c.reply()
    assert code == 421 and lines == [f"421 4.4.2 {HOST} Error: timeout exceeded"]
    assert inst.wait_log(r"timeout after CONNECT from unknown\[127\.0\.0\.1\]")


def test_pipelining_after_ehlo_is_refused(smtp):
    inst, port = smtp
    c = Raw(port)
    assert c.reply()[0] == 220
    c.send(b"EHLO client.example.org\r\nMAIL FROM:<a@example.org>\r\n")
    code, lines = c.reply()
    assert (code, lines) == (554, ["554 5.5.0 Error: SMTP protocol synchronization"])
    assert inst.wait_log(r"improper command pipelining after EHLO")
    still_serving(port)


def test_pipelined_envelope_is_fine(smtp):
    _, port = smtp
    c = ehlo(port)
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.com>\r\n"
           b"RCPT TO:<nobody@example.com>\r\nRSET\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 550, 250]
    c.close()


# ---- relay control and recipients ---------------------------------------------

RELAY_VARIANTS = [
    "victim@foreign.example.net",
    "victim%foreign.example.net@example.com",
    "foreign.example.net!victim@example.com",
    '"victim@foreign.example.net"@example.com',
    "@example.com:victim@foreign.example.net",
    "@foreign.example.net:alice@example.com",
]


@pytest.mark.parametrize("rcpt", RELAY_VARIANTS)
def test_relay_denied_from_untrusted(instance, port, rcpt):
    inst = start(instance, port, {
        "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination"})
    c = ehlo(port, source="127.0.0.9")
    assert c.cmd("MAIL FROM:<spammer@example.org>")[0] == 250
    code, lines = c.cmd(f"RCPT TO:<{rcpt}>")
    assert code == 554, lines
    assert lines[0].startswith("554 5.7.1 <") and lines[0].endswith(">: Relay access denied")
    assert inst.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.9\]: 554 5\.7\.1")
    c.close()


def test_relay_defer_default_and_trusted_client(smtp):
    _, port = smtp
    c = ehlo(port, source="127.0.0.1")
    assert c.cmd("MAIL FROM:<a@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<someone@foreign.example.net>")[0] == 250
    c.close()


def test_defer_unauth_destination_is_default(smtp):
    _, port = smtp
    c = ehlo(port, source="127.0.0.9")
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    code, lines = c.cmd("RCPT TO:<x@foreign.example.net>")
    assert lines == ["454 4.7.1 <x@foreign.example.net>: Relay access denied"]
    c.close()


def test_local_recipients(smtp):
    _, port = smtp
    c = ehlo(port, source="127.0.0.9")
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<Alice@EXAMPLE.com>")[0] == 250
    assert c.cmd("RCPT TO:<postmaster>")[0] == 250
    code, lines = c.cmd("RCPT TO:<nobody@example.com>")
    assert lines == ["550 5.1.1 <nobody@example.com>: Recipient address rejected: "
                     "User unknown in local recipient table"]
    c.close()


def test_access_tables_and_fqdn(instance, port):
    inst = instance  # noqa: F841 (fixture factory)
    tmp = start(instance, port, {
        "smtpd_helo_required": "yes",
        "smtpd_helo_restrictions": "reject_invalid_helo_hostname",
        "smtpd_sender_restrictions": "reject_non_fqdn_sender, check_sender_access texthash:"
                                     "${config_directory}/senders",
        "smtpd_recipient_restrictions": "reject_non_fqdn_recipient, check_recipient_access "
                                        "texthash:${config_directory}/rcpts",
        "smtpd_client_restrictions": "check_client_access texthash:${config_directory}/clients",
    })
    with open(os.path.join(tmp.conf, "senders"), "w") as f:
        f.write("bad.example.org REJECT\nfriend@bad.example.org OK\nslow.example.org 451 later\n")
    with open(os.path.join(tmp.conf, "rcpts"), "w") as f:
        f.write("bob@example.com REJECT no bob today\n")
    with open(os.path.join(tmp.conf, "clients"), "w") as f:
        f.write("127.0.0.8 550 5.7.0 go away\n127.0.0 DUNNO\n")
    # texthash is read at open: restart so the file is seen.
    tmp.stop()
    tmp.start(wait_port=port)
    c = Raw(port, "127.0.0.9")
    assert c.reply()[0] == 220
    assert c.cmd("MAIL FROM:<a@example.org>")[1] == ["503 5.5.1 Error: send HELO/EHLO first"]
    assert c.cmd("EHLO bad_name!")[0] == 250
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[1] == [
        "501 5.5.2 <bad_name!>: Helo command rejected: Invalid name"]
    assert c.cmd("EHLO client.example.org")[0] == 250
    cases = [
        ("x@bad.example.org", "alice@example.com",
         "554 5.7.1 <x@bad.example.org>: Sender address rejected: Access denied"),
        ("x@sub.bad.example.org", "alice@example.com",
         "554 5.7.1 <x@sub.bad.example.org>: Sender address rejected: Access denied"),
        ("friend@bad.example.org", "alice@example.com", None),
        ("x@slow.example.org", "alice@example.com",
         "451 4.7.1 <x@slow.example.org>: Sender address rejected: later"),
        ("nodomain", "alice@example.com",
         "504 5.5.2 <nodomain>: Sender address rejected: need fully-qualified address"),
        ("a@example.org", "bob@example.com",
         "554 5.7.1 <bob@example.com>: Recipient address rejected: no bob today"),
        ("a@example.org", "alice",
         "504 5.5.2 <alice>: Recipient address rejected: need fully-qualified address"),
    ]
    for sender, rcpt, want in cases:
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        code, lines = c.cmd(f"RCPT TO:<{rcpt}>")
        if want is None:
            assert code == 250, lines
        else:
            assert lines == [want]
        assert c.cmd("RSET")[0] == 250
    c.close()
    c = ehlo(port, source="127.0.0.8")
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[1] == [
        "550 5.7.0 <unknown[127.0.0.8]>: Client host rejected: go away"]
    c.close()


# ---- DATA / BDAT ---------------------------------------------------------------

def test_data_without_cleanup_is_451(instance, port):
    start(instance, port, with_cleanup=False)
    c = ehlo(port)
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("DATA") == (451, ["451 4.3.0 Error: queue file write error"])
    c.close()


def test_bdat_without_cleanup_is_451(instance, port):
    start(instance, port, with_cleanup=False)
    c = ehlo(port)
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    c.send(b"BDAT 7\r\nHello\r\n")
    assert c.reply() == (451, ["451 4.3.0 Error: queue file write error"])
    c.send(b"BDAT 3 LAST\r\nab\n")
    assert c.reply()[0] == 451
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250  # transaction was reset
    c.close()


def test_inline_queue_write_error_is_451(instance, port):
    """With cleanup's code in smtpd (the default), a queue that cannot be
    written gives 451 4.3.0 after the data, and the session goes on."""
    inst = start(instance, port, with_cleanup=False, extra={"inline_cleanup": "yes"})
    os.rmdir(os.path.join(inst.queue, "incoming"))
    c = ehlo(port)
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    assert c.cmd("Subject: x\r\n\r\nbody\r\n.") == (
        451, ["451 4.3.0 Error: queue file write error"])
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250  # transaction was reset
    c.close()
    # (logged as cleanup, whose code it is, with smtpd's PID)
    assert re.search(r"cleanup\[\d+\]: warning: .*incoming.*No such file", inst.log_text())


def test_inline_cleanup_logs_as_cleanup(instance, port):
    """cleanup's code runs inside smtpd, but its lines say tern/cleanup (with
    smtpd's PID), where admins and Postfix log tools look for them."""
    inst = start(instance, port, with_cleanup=False, extra={"inline_cleanup": "yes"})
    c = ehlo(port)
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    code, lines = c.cmd("Message-ID: <m1@example.org>\r\nSubject: x\r\n\r\nbody\r\n.")
    assert code == 250
    qid = re.search(r"queued as (\w+)", lines[-1]).group(1)
    c.cmd("QUIT")
    c.close()
    assert inst.wait_log(r"cleanup\[\d+\]: %s: from=<a@example.org>" % qid)
    log = inst.log_text()
    m = re.search(r"/cleanup\[(\d+)\]: %s: message-id=<m1@example.org>" % qid, log)
    assert m, log[-2000:]
    assert re.search(r"/smtpd\[%s\]: " % m.group(1), log), "not smtpd's PID"
    assert not re.search(r"/smtpd\[\d+\]: %s: (from|message-id)=" % qid, log)


def queued_files(inst):
    found = []
    for sub in ("incoming", "active", "deferred"):
        d = os.path.join(inst.queue, sub)
        for root, _, files in os.walk(d):
            found += [os.path.join(root, f) for f in files]
    return found


def test_full_transaction_smtplib(smtp):
    need_cleanup()
    inst, port = smtp
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
        s.ehlo("client.example.org")
        code, text = s.docmd("MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=x1")
        assert code == 250
        assert s.docmd("RCPT TO:<alice@example.com> NOTIFY=SUCCESS,FAILURE "
                       "ORCPT=rfc822;alice@example.com")[0] == 250
        code, text = s.data(b"Subject: hi\r\n\r\n.leading dot\r\nbody\r\n")
        assert code == 250 and text.startswith(b"2.0.0 Ok: queued as "), text
        qid = text.split()[-1].decode()
    assert inst.wait_log(rf"{qid}: client=unknown\[127\.0\.0\.1\]")
    assert wait_for(lambda: queued_files(inst), 5)
    data = b"".join(open(f, "rb").read() for f in queued_files(inst))
    assert b".leading dot\nbody\n" in data and b"..leading" not in data and b"\r\n" not in data


def test_swaks_transaction(smtp):
    need_cleanup()
    if shutil.which("swaks") is None:
        pytest.skip("swaks not installed")
    _, port = smtp
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--from", "a@example.org",
                        "--to", "alice@example.com", "--pipeline", "--timeout", "20"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "queued as" in r.stdout


def test_smuggling_is_content(smtp):
    need_cleanup()
    _, port = smtp
    for smuggle in (b"\r\n.\n", b"\r.\r\n", b"\n.\r\n"):
        c = ehlo(port, "127.0.0.9")
        assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: x\r\n\r\nbody" + smuggle + b"MAIL FROM:<evil@example.org>\r\n.\r\n")
        code, lines = c.reply()
        if b"\n." in smuggle and not smuggle.startswith(b"\r\n."):
            assert code == 521  # bare LF
        elif smuggle == b"\r\n.\n":
            assert code == 521
        else:
            assert code == 250, lines  # one message, the "MAIL" line is content
            assert c.cmd("NOOP")[0] == 250
        c.close()


def test_data_over_size_limit(instance, port):
    need_cleanup()
    inst = start(instance, port, {"message_size_limit": "10000"})
    c = ehlo(port)
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 500 + b".\r\n")
    assert c.reply() == (552, ["552 5.3.4 Error: message file too big"])
    assert c.cmd("NOOP")[0] == 250
    c.close()
    assert not queued_files(inst)


def test_bdat_transaction(smtp):
    need_cleanup()
    _, port = smtp
    c = ehlo(port)
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    body = b"Subject: chunk\r\n\r\nline1\r\n"
    c.send(b"BDAT %d\r\n" % len(body) + body)
    assert c.reply()[0] == 250
    c.send(b"BDAT 7 LAST\r\n.line2\n")
    code, lines = c.reply()
    assert code == 250 and "queued as" in lines[0]
    c.close()
