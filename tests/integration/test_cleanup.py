"""Integration tests for the cleanup daemon, run by a real master.

Messages are handed over with tests/progs/cleanup_submit (lib/cleanup_client,
as smtpd and pickup use it) or raw attribute records over the socket; queue
files are read back with a small reader of the format in lib/qfile.h.
"""

import email
import email.policy
import os
import re
import socket
import stat
import struct
import subprocess

import pytest

from conftest import BUILD, TEST_PROGS, wait_for

CLEANUP = os.path.join(BUILD, "libexec", "cleanup")
SUBMIT = os.path.join(TEST_PROGS, "cleanup_submit")
QUEUES = ("incoming", "active", "deferred", "hold", "corrupt", "defer", "bounce",
          "maildrop")

pytestmark = pytest.mark.skipif(not os.path.exists(CLEANUP), reason="cleanup not built")


def read_qfile(path):
    """Parse a queue file (lib/qfile.h format) into a dict."""
    with open(path, "rb") as f:
        data = f.read()
    q = {"attrs": {}, "rcpts": [], "content": b"", "header_len": None, "types": ""}
    pos = 0
    while pos < len(data):
        rtype = chr(data[pos])
        (n,) = struct.unpack(">I", data[pos + 1:pos + 5])
        body = data[pos + 5:pos + 5 + n]
        assert len(body) == n, "truncated record"
        pos += 5 + n
        q["types"] += rtype
        if rtype == "F":
            q["sender"] = body.decode()
        elif rtype == "T":
            q["time"] = body.decode()
        elif rtype == "A":
            k, v = body.decode().split("=", 1)
            q["attrs"][k] = v
        elif rtype == "R":
            addr = body[2:].split(b"\0")[0].decode()
            q["rcpts"].append(addr)
        elif rtype == "C":
            q["content"] += body
        elif rtype == "B":
            q["header_len"] = len(q["content"])
        elif rtype == "E":
            assert pos == len(data), "bytes after the end record"
    assert q["types"].startswith("V") and q["types"].endswith("E")
    return q


class Env:
    def __init__(self, inst):
        self.inst = inst
        self.queue = inst.queue
        self.sock = os.path.join(inst.queue, "private", "cleanup")

    def files(self, queue="incoming"):
        d = os.path.join(self.queue, queue)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def all_files(self):
        return {q: self.files(q) for q in QUEUES if self.files(q)}

    def submit(self, content, *args, sender="alice@example.org", rcpts=("bob@example.com",),
               origin="smtpd", timeout=30):
        cmd = [SUBMIT, "-S", self.sock, "-o", origin, "-f", sender]
        for r in rcpts:
            cmd += ["-r", r]
        cmd += list(args)
        if isinstance(content, str):
            content = content.encode()
        p = subprocess.run(cmd, input=content, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        assert p.returncode == 0, p.stderr.decode()
        out = p.stdout.decode().strip()
        if out == "aborted":
            return {"aborted": True}
        m = re.match(r"status=(\d) queue_id=(\S*) dsn=(\S+) reason=(.*)", out)
        assert m, out
        return {"status": int(m.group(1)), "queue_id": m.group(2), "dsn": m.group(3),
                "reason": m.group(4)}

    def qfile(self, qid, queue="incoming"):
        path = os.path.join(self.queue, queue, qid)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o700, oct(mode)
        return read_qfile(path)


def make_env(instance, extra=None, files=None):
    inst = instance()
    params = {"daemon_directory": os.path.join(BUILD, "libexec"), "myhostname": "mx.test",
              "myorigin": "origin.test"}
    for name, text in (files or {}).items():
        path = os.path.join(inst.dir, name)
        with open(path, "w") as f:
            f.write(text)
    params.update({k: v.replace("$DIR", inst.dir) for k, v in (extra or {}).items()})
    inst.main_cf(params)
    inst.master_cf("cleanup unix - - n - 0 cleanup\n")
    os.makedirs(inst.queue, exist_ok=True)
    for q in QUEUES:
        os.makedirs(os.path.join(inst.queue, q), mode=0o700, exist_ok=True)
        os.chown(os.path.join(inst.queue, q), inst.owner_uid, -1)
    inst.start()
    env = Env(inst)
    assert wait_for(lambda: os.path.exists(env.sock), 5)
    return env


@pytest.fixture
def env(instance):
    return make_env(instance)


MSG = "Subject: hello\nFrom: Alice <alice@example.org>\nTo: bob@example.com\n\nbody line\n"


def parse(q):
    return email.message_from_bytes(q["content"], policy=email.policy.compat32)


def test_smtpd_message_queued(env):
    r = env.submit(MSG, "-p", "ESMTP", "-h", "helo.example", "-n", "client.example",
                   "-a", "192.0.2.7")
    assert r["status"] == 0 and r["dsn"] == "2.0.0"
    assert env.files() == [r["queue_id"]]
    q = env.qfile(r["queue_id"])
    assert q["sender"] == "alice@example.org"
    assert q["rcpts"] == ["bob@example.com"]
    assert q["attrs"]["client_addr"] == "192.0.2.7"
    assert q["attrs"]["protocol"] == "ESMTP"
    content = q["content"].decode()
    rcvd = ("Received: from helo.example (client.example [192.0.2.7])\n"
            f"\tby mx.test (tern) with ESMTP id {r['queue_id']}\n"
            "\tfor <bob@example.com>; ")
    assert content.startswith(rcvd), content
    first = content.split("\n")[2]
    assert re.match(r"\tfor <bob@example.com>; \w{3}, \d{1,2} \w{3} \d{4} "
                    r"\d\d:\d\d:\d\d [+-]\d{4}", first), first
    assert content.endswith(MSG)
    # The body marker sits before the empty separator line.
    assert q["content"][q["header_len"]:] == b"\nbody line\n"
    m = parse(q)
    assert m["Subject"] == "hello"
    assert m["Message-ID"] is None and m["Date"] is None  # not added for smtpd
    assert m.get_payload() == "body line\n"
    log = env.inst.log_text()
    assert re.search(r"%s: from=<alice@example.org>, size=\d+, nrcpt=1" % r["queue_id"], log)


def test_local_submission_adds_headers(env):
    r = env.submit("Subject: local\n\nhi\n", "-l", "-p", "LOCAL", "-u", "1000",
                   origin="pickup", sender="alice", rcpts=("bob", "carol@example.com"))
    assert r["status"] == 0
    q = env.qfile(r["queue_id"])
    assert q["sender"] == "alice@origin.test"
    assert q["rcpts"] == ["bob@origin.test", "carol@example.com"]
    content = q["content"].decode()
    assert content.startswith("Received: by mx.test (tern, from userid 1000)\n\tid %s;\n\t"
                              % r["queue_id"]), content
    m = parse(q)
    assert re.fullmatch(r"<\d{14}\.%s@mx\.test>" % r["queue_id"], m["Message-ID"])
    assert email.utils.parsedate_tz(m["Date"]) is not None
    assert m["From"] == "alice@origin.test"
    assert m.get_payload() == "hi\n"
    log = env.inst.log_text()
    assert "%s: message-id=<" % r["queue_id"] in log


def test_local_submission_keeps_existing(env):
    msg = "From: x@y.test\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <a@b>\n\nz\n"
    r = env.submit(msg, "-l", origin="pickup")
    m = parse(env.qfile(r["queue_id"]))
    assert m.get_all("Message-ID") == ["<a@b>"]
    assert m.get_all("From") == ["x@y.test"]
    assert len(m.get_all("Date")) == 1


def test_size_limit(instance):
    env = make_env(instance, {"message_size_limit": "10000"})
    r = env.submit("Subject: big\n\n" + "x" * 200 + "\n" * 100 + "y" * 20000 + "\n")
    assert r["status"] == 5 and r["dsn"] == "5.3.4"
    assert "size" in r["reason"].lower()
    assert env.all_files() == {}
    r = env.submit("Subject: small\n\nok\n")
    assert r["status"] == 0


def test_abort_leaves_nothing(env):
    big = "Subject: abort\n\n" + ("line of body text\n" * 20000)
    r = env.submit(big, "-A")
    assert r == {"aborted": True}
    assert wait_for(lambda: "lost connection" in env.inst.log_text(), 5)
    assert env.all_files() == {}
    # An abort after the headers (the file exists by then) also leaves nothing.
    r = env.submit("Subject: x\n\n" + "y" * 300000, "-A", "-c", "100000")
    assert wait_for(lambda: env.inst.log_text().count("lost connection") >= 2, 5)
    assert env.all_files() == {}
    assert env.files("incoming") == []


def test_raw_protocol_abort_mid_chunk(env):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(env.sock)
    s.sendall(b"request=submit\norigin=smtpd\nsender=a@b.test\nrcpt_count=1\n\n"
              b"rcpt=c@d.test\n\nchunk=100\n\nSubject: x\n\n")
    s.close()
    assert wait_for(lambda: "lost connection" in env.inst.log_text(), 5)
    assert env.all_files() == {}


def test_raw_protocol_reply(env):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(env.sock)
    body = b"Subject: raw\n\nhi\n"
    s.sendall(b"request=submit\norigin=smtpd\nsender=\nrcpt_count=1\nfuture_attr=1\n\n"
              b"rcpt=c@d.test\nnotify=SUCCESS,FAILURE\norcpt=rfc822;c@d.test\n\n"
              b"chunk=%d\n\n%schunk=0\n\n" % (len(body), body))
    reply = b""
    while not reply.endswith(b"\n\n"):
        data = s.recv(4096)
        if not data:
            break
        reply += data
    s.close()
    fields = dict(line.split("=", 1) for line in reply.decode().split("\n") if line)
    assert fields["status"] == "0", reply
    q = env.qfile(fields["queue_id"])
    assert q["sender"] == ""
    assert q["rcpts"] == ["c@d.test"]


def test_bad_envelope_dropped(env):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(env.sock)
    s.sendall(b"request=submit\norigin=martian\nsender=a@b\nrcpt_count=0\n\n")
    assert s.recv(100) == b""
    s.close()
    assert env.all_files() == {}


CHECKS = """\
/^Subject: reject me/ REJECT 5.7.1 no thanks
/^Subject: reject plain/ REJECT
/^Subject: discard me/ DISCARD spam
/^Subject: hold me/ HOLD review
/^X-Drop:/ IGNORE
/^X-Warn:/ WARN watch this
/^Subject: folded continues/ REJECT folded match
"""


@pytest.fixture
def checks_env(instance):
    return make_env(instance, {"header_checks": "regexp:$DIR/checks"}, {"checks": CHECKS})


def test_header_checks_reject(checks_env):
    env = checks_env
    r = env.submit("Subject: reject me now\n\nx\n")
    assert r["status"] == 5 and r["dsn"] == "5.7.1" and r["reason"] == "no thanks"
    r = env.submit("Subject: reject plain\n\nx\n")
    assert r["status"] == 5 and r["dsn"] == "5.7.1"
    r = env.submit("Subject: folded\n continues here\n\nx\n")
    assert r["status"] == 5 and r["reason"] == "folded match"
    assert env.all_files() == {}
    assert "reject: header Subject: reject me now" in env.inst.log_text()


def test_header_checks_discard(checks_env):
    env = checks_env
    r = env.submit("Subject: discard me\n\nx\n")
    assert r["status"] == 0 and r["queue_id"]
    assert env.all_files() == {}
    assert env.inst.wait_log(r"%s: discard: header Subject: discard me" % r["queue_id"])


def test_header_checks_hold(checks_env):
    env = checks_env
    r = env.submit("Subject: hold me\n\nx\n")
    assert r["status"] == 0
    assert env.files("incoming") == []
    assert env.files("hold") == [r["queue_id"]]
    env.qfile(r["queue_id"], "hold")
    assert "%s: hold: header Subject: hold me" % r["queue_id"] in env.inst.log_text()


def test_header_checks_ignore_warn(checks_env):
    env = checks_env
    r = env.submit("Subject: fine\nX-Drop: secret\nX-Warn: yes\n\nbody\n")
    assert r["status"] == 0
    m = parse(env.qfile(r["queue_id"]))
    assert m["X-Drop"] is None
    assert m["X-Warn"] == "yes"
    assert "warning: header X-Warn: yes" in env.inst.log_text()


def test_extract_recipients(env):
    msg = ("From: a@example.org\n"
           'To: "Doe, John" <john@example.com>, plain@example.com\n'
           "Cc: Group: g1@example.com, G Two <g2@example.com>;\n"
           "Bcc: hidden@example.com,\n\tlocaluser\n"
           "Subject: t\n\nbody\n")
    r = env.submit(msg, "-t", origin="pickup", rcpts=())
    assert r["status"] == 0, r
    q = env.qfile(r["queue_id"])
    assert sorted(q["rcpts"]) == sorted([
        "john@example.com", "plain@example.com", "g1@example.com", "g2@example.com",
        "hidden@example.com", "localuser@origin.test"])
    m = parse(q)
    assert m["Bcc"] is None
    assert "john@example.com" in m["To"]
    r = env.submit("Subject: nobody\n\nx\n", "-t", origin="pickup", rcpts=())
    assert r["status"] == 5
    assert len(env.files()) == 1  # only the first message


def test_hop_limit(instance):
    env = make_env(instance, {"hopcount_limit": "3"})
    hdr = "".join("Received: from h%d by x; Mon, 1 Jan 2024 00:00:00 +0000\n" % i
                  for i in range(4))
    r = env.submit(hdr + "Subject: loop\n\nx\n")
    assert r["status"] == 5 and r["dsn"] == "5.4.6"
    r = env.submit(hdr.split("\n", 1)[1] + "Subject: ok\n\nx\n")
    assert r["status"] == 0


def test_content_preserved(instance):
    """Long lines, a non-header line, an oversized header section: stored verbatim."""
    env = make_env(instance, {"header_size_limit": "2000"})
    cases = [
        "Subject: long\n\n" + "z" * 100000 + "\nend\n",
        "Subject: x\nthis is not a header\nmore\n",
        "Subject: y\nX-Big: " + "b" * 5000 + "\nX-After: 1\n\nbody\n",
        "X-Long-Header: " + "h" * 1500 + "\n\tfold\nSubject: z\n\nbody\n",
        "no headers at all\n",
        "Subject: no newline at end",
        "",
    ]
    for i, msg in enumerate(cases):
        for chunk in ("7", "65536"):
            r = env.submit(msg, "-c", chunk)
            assert r["status"] == 0, (i, r)
            q = env.qfile(r["queue_id"])
            content = q["content"].decode()
            rcvd, rest = content.split("\n\tfor <bob@example.com>; ", 1)
            rest = rest.split("\n", 1)[1]
            want = msg if not msg or msg.endswith("\n") or not msg.startswith("Subject") \
                else msg + "\n"
            assert rest == want, (i, chunk)
    assert "exceeds header_size_limit" in env.inst.log_text()


def test_multi_chunk_large_message(env):
    body = "".join("line %06d of a large message body\n" % i for i in range(60000))
    r = env.submit("Subject: large\n\n" + body, "-c", "65536")
    assert r["status"] == 0
    q = env.qfile(r["queue_id"])
    assert q["content"].decode().endswith("\n\n" + body)


def test_wakes_qmgr(env):
    """After a commit cleanup writes "A" to public/qmgr (here a test listener)."""
    path = os.path.join(env.queue, "public", "qmgr")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    os.chmod(path, 0o666)
    lsock.listen(5)
    lsock.settimeout(10)
    try:
        r = env.submit(MSG)
        assert r["status"] == 0
        conn, _ = lsock.accept()
        conn.settimeout(5)
        assert conn.recv(10) == b"A"
        conn.close()
    finally:
        lsock.close()
        os.unlink(path)
    # Without a listener the message is still accepted.
    r = env.submit(MSG)
    assert r["status"] == 0


def test_ipv6_client_and_hostile_helo(env):
    r = env.submit(MSG, "-h", "evil\nX-Injected: yes (x)", "-a", "2001:db8::1", "-n", "unknown")
    assert r["status"] == 0
    content = env.qfile(r["queue_id"])["content"].decode()
    first = content.split("\n\tby ")[0]
    assert first == "Received: from evil?X-Injected:?yes??x? (unknown [IPv6:2001:db8::1])"
    assert "\nX-Injected" not in content
