"""ternqueue (mailq / postsuper-alike) and terncat (postcat-alike).

Queue files are written straight into a temporary instance's queue
directories by tests/progs/mkqfile, so these tests need no smtpd, cleanup
or qmgr.  Flushing is checked against master running testsvc as "qmgr",
which records the wakeup bytes it gets on public/qmgr.
"""

import json
import os
import pathlib
import pwd
import re
import subprocess
import time

import pytest

from conftest import BUILD, SANITIZER_MARKS, TEST_PROGS, is_root, wait_for

TERNQUEUE = os.path.join(BUILD, "bin", "ternqueue")
TERNCAT = os.path.join(BUILD, "bin", "terncat")
MKQFILE = os.path.join(TEST_PROGS, "mkqfile")
QUEUES = ("incoming", "active", "deferred", "hold", "corrupt", "maildrop", "defer",
          "bounce", "public", "private")
CONTENT = "Subject: test\nFrom: a@example.org\n\nline one\nline two\n"


def no_sanitizer(r):
    text = (r.stdout if isinstance(r.stdout, str) else "") + (r.stderr or "")
    bad = [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKS)]
    assert not bad, "\n".join(bad)
    return r


def as_user(name):
    pw = pwd.getpwnam(name)

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


class Queue:
    """An instance whose queue directories exist and belong to mail_owner."""

    def __init__(self, inst):
        self.inst = inst
        self.dir = inst.queue
        os.makedirs(self.dir)
        for q in QUEUES:
            os.mkdir(os.path.join(self.dir, q), 0o700)
        if is_root():
            for root, dirs, _ in os.walk(self.dir):
                os.chown(root, inst.owner_uid, -1)
            os.chmod(self.dir, 0o755)

    def path(self, queue, qid=""):
        return os.path.join(self.dir, queue, qid) if qid else os.path.join(self.dir, queue)

    def add(self, queue, sender, rcpts, content=CONTENT, delivered=(), reason=None, when=None):
        args = [MKQFILE]
        if when is not None:
            args += ["-t", str(when)]
        for r in rcpts:
            args += ["-r", r]
        for r in delivered:
            args += ["-D", r]
        if reason:
            args += ["-R", reason]
        args += [self.path(queue), sender]
        r = subprocess.run(args, input=content.encode() if isinstance(content, str) else content,
                           capture_output=True, timeout=10)
        assert r.returncode == 0, r.stderr
        qid = r.stdout.decode().strip()
        if is_root():
            for p in (self.path(queue, qid), os.path.join(self.dir, "defer", qid)):
                if os.path.exists(p):
                    os.chown(p, self.inst.owner_uid, -1)
        return qid

    def ids(self, queue):
        return sorted(os.listdir(self.path(queue)))

    def run(self, *args, user=None, prog=TERNQUEUE):
        r = subprocess.run([prog, "-c", self.inst.conf, *args], capture_output=True, text=True,
                           timeout=20, stdin=subprocess.DEVNULL,
                           preexec_fn=as_user(user) if user else None)
        return no_sanitizer(r)

    def cat(self, *args, user=None):
        return self.run(*args, user=user, prog=TERNCAT)


@pytest.fixture
def q(instance):
    return Queue(instance())


# ---- listing --------------------------------------------------------------

def test_empty_queue(q):
    r = q.run("-p")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Mail queue is empty\n"
    r = q.run("-j")
    assert r.returncode == 0 and r.stdout == ""


def test_list_format(q):
    inc = q.add("incoming", "alice@example.org", ["bob@example.net", "carol@example.net"],
                delivered=["dave@example.net"])
    act = q.add("active", "", ["postmaster@example.org"])
    dfr = q.add("deferred", "eve@example.org", ["frank@remote.example"],
                reason="connect to remote.example[192.0.2.1]:25: Connection refused")
    hld = q.add("hold", "gina@example.org", ["hank@example.net"], content="x" * 3000)
    r = q.run("-p")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    lines = out.splitlines()
    assert lines[0].startswith("-Queue ID-") and "-Sender/Recipient-" in lines[0]
    size = len(CONTENT)
    assert re.search(rf"^{inc}\s+{size} \w\w\w \w\w\w [ \d]\d \d\d:\d\d:\d\d  alice@example.org$",
                     out, re.M), out
    assert re.search(rf"^{act}\*\s+{size} .* MAILER-DAEMON$", out, re.M), out
    assert re.search(rf"^{dfr}\s+{size} .* eve@example.org$", out, re.M), out
    assert re.search(rf"^{hld}!\s+3000 .* gina@example.org$", out, re.M), out
    for rcpt in ("bob@example.net", "carol@example.net", "postmaster@example.org",
                 "frank@remote.example", "hank@example.net"):
        assert re.search(rf"^ {{20,}}{re.escape(rcpt)}$", out, re.M), rcpt
    assert "dave@example.net" not in out  # delivered: not pending
    reason = "(connect to remote.example[192.0.2.1]:25: Connection refused)"
    i = lines.index(next(l for l in lines if l.strip() == reason))
    assert lines[i + 1].strip() == "frank@remote.example"
    total_k = (3 * size + 3000 + 1023) // 1024
    assert lines[-1] == f"-- {total_k} Kbytes in 4 Requests."
    # Queue order: incoming, active, deferred, hold.
    assert out.index(inc) < out.index(act) < out.index(dfr) < out.index(hld)


def test_list_json(q):
    inc = q.add("incoming", 'we"ird\\name@example.org', ["bob@example.net", "\u00e9t\u00e9@example.net"],
                delivered=["done@example.net"], when=1700000000)
    dfr = q.add("deferred", "", ["x@remote.example"], reason='said "no"\tthen\\left')
    r = q.run("-j")
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(objs) == 2
    a, b = objs
    assert a == {"queue_name": "incoming", "queue_id": inc, "arrival_time": 1700000000,
                 "message_size": len(CONTENT), "forced_expire": False,
                 "sender": 'we"ird\\name@example.org',
                 "recipients": [{"address": "bob@example.net"},
                                {"address": "\u00e9t\u00e9@example.net"}]}
    assert b["queue_name"] == "deferred" and b["queue_id"] == dfr and b["sender"] == ""
    assert b["recipients"] == [{"address": "x@remote.example",
                                "delay_reason": 'said "no"\tthen\\left'}]


def test_json_bad_bytes_stay_valid(q):
    args = [MKQFILE, "-r", "ok@example.net", q.path("incoming"), b"bad\xff\x01x@example.org"]
    r = subprocess.run(args, input=CONTENT.encode(), capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([TERNQUEUE, "-c", q.inst.conf, "-j"], capture_output=True, timeout=10)
    assert r.returncode == 0
    obj = json.loads(r.stdout.decode("utf-8"))
    assert obj["sender"] == "bad\ufffd\x01x@example.org"
    r = subprocess.run([TERNQUEUE, "-c", q.inst.conf, "-p"], capture_output=True, timeout=10)
    assert r.returncode == 0
    assert b"bad\xff?x@example.org" in r.stdout  # control bytes made printable


@pytest.mark.parametrize("raw,want", [
    (b"\xc0\xafx@example.org", "\ufffd\ufffdx@example.org"),          # overlong '/'
    (b"\xed\xa0\x80x@example.org", "\ufffd\ufffd\ufffdx@example.org"),  # surrogate
    (b"\xf4\x90\x80\x80@example.org", "\ufffd" * 4 + "@example.org"),    # past U+10FFFF
    ("\U0001F600\u00e9@example.org".encode(), "\U0001F600\u00e9@example.org"),
    (b"a\x7fb\x1f@example.org", "a\x7fb\x1f@example.org"),
    (b"trunc\xe2\x82", "trunc\ufffd\ufffd"),
])
def test_json_utf8_edges(q, raw, want):
    args = [MKQFILE, "-r", "ok@example.net", q.path("incoming"), raw]
    r = subprocess.run(args, input=CONTENT.encode(), capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([TERNQUEUE, "-c", q.inst.conf, "-j"], capture_output=True, timeout=10)
    assert r.returncode == 0
    assert json.loads(r.stdout.decode("utf-8"))["sender"] == want


def test_maildrop_listed_and_deletable(q):
    m = q.add("maildrop", "user@example.org", ["x@example.net"])
    out = q.run("-p").stdout
    assert re.search(rf"^{m} .* user@example.org$", out, re.M), out
    assert json.loads(q.run("-j").stdout)["queue_name"] == "maildrop"
    assert q.run("-d", m).returncode == 1  # not searched by default
    r = q.run("-d", m, "maildrop")
    assert r.returncode == 0, r.stderr
    assert q.ids("maildrop") == []


def test_invoked_as_mailq(q):
    a = q.add("deferred", "a@example.org", ["b@example.net"])
    link = os.path.join(q.inst.dir, "mailq")
    os.symlink(TERNQUEUE, link)
    r = q.run(prog=link)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("-Queue ID-") and a in r.stdout


def test_corrupt_file_warned_not_fatal(q):
    good = q.add("deferred", "a@example.org", ["b@example.net"])
    bad = q.add("deferred", "c@example.org", ["d@example.net"])
    with open(q.path("deferred", bad), "r+b") as f:
        f.truncate(40)
    r = q.run("-p")
    assert r.returncode == 0
    assert good in r.stdout and bad not in r.stdout
    assert bad in r.stderr


# ---- admin operations -----------------------------------------------------

def test_delete(q):
    a = q.add("deferred", "a@example.org", ["b@example.net"], reason="timeout")
    b = q.add("hold", "a@example.org", ["c@example.net"])
    c = q.add("incoming", "a@example.org", ["d@example.net"])
    assert os.path.exists(os.path.join(q.dir, "defer", a))
    r = q.run("-d", a)
    assert r.returncode == 0, r.stderr
    assert f"{a}: removed" in r.stderr and "Deleted: 1 message" in r.stderr
    assert a not in q.ids("deferred")
    assert not os.path.exists(os.path.join(q.dir, "defer", a))
    assert f"{a}: removed" in q.inst.log_text()
    # A queue name limits the search.
    r = q.run("-d", b, "deferred")
    assert r.returncode == 1 and f"{b}: not found" in r.stderr
    assert q.ids("hold") == [b]
    r = q.run("-d", "ALL")
    assert r.returncode == 0, r.stderr
    assert "Deleted: 2 messages" in r.stderr
    assert q.ids("hold") == [] and q.ids("incoming") == []
    assert q.run("-p").stdout == "Mail queue is empty\n"
    assert c not in q.run("-p").stdout


def test_delete_unknown_id(q):
    r = q.run("-d", "1xXp2X09Mcjzpl")
    assert r.returncode == 1 and "not found" in r.stderr


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "..", "1xXp2X09Mcjzpl/../../x",
                                 "1xXp2X09Mcjzpl\n"])
def test_bad_ids_refused(q, bad):
    victim = q.add("hold", "a@example.org", ["b@example.net"])
    with open(os.path.join(q.dir, "x"), "w") as f:
        f.write("not mail")
    for op in ("-d", "-h", "-H", "-r", "-i"):
        r = q.run(op, bad)
        assert r.returncode == 1, (op, r.stderr)
        assert "bad queue ID" in r.stderr, (op, r.stderr)
    assert os.path.exists(os.path.join(q.dir, "x"))
    assert q.ids("hold") == [victim]


def test_hold_and_release(q):
    a = q.add("deferred", "a@example.org", ["b@example.net"], reason="busy")
    os.utime(q.path("deferred", a), (time.time() + 3600, time.time() + 3600))  # retry later
    r = q.run("-h", a)
    assert r.returncode == 0, r.stderr
    assert q.ids("hold") == [a] and q.ids("deferred") == []
    assert f"{a}: placed on hold" in r.stderr
    assert re.search(rf"^{a}!", q.run("-p").stdout, re.M)
    assert q.run("-j").stdout and json.loads(q.run("-j").stdout)["queue_name"] == "hold"
    r = q.run("-H", a)
    assert r.returncode == 0, r.stderr
    assert q.ids("deferred") == [a] and q.ids("hold") == []
    assert f"{a}: released from hold" in r.stderr
    # Released mail is due for delivery at qmgr's next deferred scan.
    assert os.stat(q.path("deferred", a)).st_mtime <= time.time() + 1
    # -H only looks in hold/.
    r = q.run("-H", a)
    assert r.returncode == 1 and "not found" in r.stderr


def test_hold_all_and_release_all(q):
    ids = {q.add(qn, "a@example.org", ["b@example.net"]) for qn in ("incoming", "deferred",
                                                                      "active")}
    r = q.run("-h", "ALL")
    assert r.returncode == 0, r.stderr
    assert set(q.ids("hold")) == ids
    r = q.run("-H", "ALL")
    assert r.returncode == 0, r.stderr
    assert set(q.ids("deferred")) == ids and "Released from hold: 3 messages" in r.stderr


def test_requeue(q):
    a = q.add("deferred", "a@example.org", ["b@example.net"])
    b = q.add("hold", "a@example.org", ["c@example.net"])
    r = q.run("-r", a, "-r", b)
    assert r.returncode == 0, r.stderr
    assert sorted(q.ids("incoming")) == sorted([a, b])
    assert "Requeued: 2 messages" in r.stderr


def test_ids_from_stdin(q):
    a = q.add("deferred", "a@example.org", ["b@example.net"])
    b = q.add("deferred", "a@example.org", ["c@example.net"])
    r = subprocess.run([TERNQUEUE, "-c", q.inst.conf, "-d", "-"], input=f"{a}\n{b}\n",
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert q.ids("deferred") == []


def test_deliver_one(q):
    a = q.add("deferred", "a@example.org", ["b@example.net"])
    h = q.add("hold", "a@example.org", ["c@example.net"])
    r = q.run("-i", a)
    assert r.returncode == 0, r.stderr
    assert q.ids("incoming") == [a] and q.ids("deferred") == []
    r = q.run("-i", h)
    assert r.returncode == 1 and "on hold" in r.stderr
    r = q.run("-i", "1xXp2X09Mcjzpl")
    assert r.returncode == 1 and "not found" in r.stderr


def test_unknown_queue_name(q):
    r = q.run("-d", "ALL", "nosuchqueue")
    assert r.returncode == 1 and "nosuchqueue" in r.stderr


# ---- who may do what -------------------------------------------------------

@pytest.mark.skipif(not is_root(), reason="needs root to run as another user")
def test_non_admin_refused(q):
    a = q.add("deferred", "a@example.org", ["b@example.net"])
    for op in ("-d", "-h", "-H", "-r"):
        r = q.run(op, a, user="nobody")
        assert r.returncode == 1, r.stderr
        assert "permission denied" in r.stderr
    assert q.ids("deferred") == [a]
    # Listing needs read access to the queue: a clear error, not a crash.
    r = q.run("-p", user="nobody")
    assert r.returncode == 1
    assert "cannot read queue directory" in r.stderr and "Permission denied" in r.stderr


@pytest.mark.skipif(not is_root(), reason="needs root to run as another user")
def test_mail_owner_is_admin(q):
    a = q.add("deferred", "a@example.org", ["b@example.net"])
    r = q.run("-h", a, user=q.inst.owner)
    assert r.returncode == 0, r.stderr
    r = q.run("-p", user=q.inst.owner)
    assert r.returncode == 0 and re.search(rf"^{a}!", r.stdout, re.M)
    r = q.run("-d", a, user=q.inst.owner)
    assert r.returncode == 0, r.stderr
    assert q.ids("hold") == []


def test_queue_owner_is_admin_in_non_root_instance(q):
    """A non-root instance: whoever owns queue_directory runs it."""
    q.inst.main_cf({"mail_owner": "nobody"})
    a = q.add("deferred", "a@example.org", ["b@example.net"])
    r = q.run("-d", a, user=q.inst.owner if is_root() else None)
    assert r.returncode == 0, r.stderr
    assert q.ids("deferred") == []


# ---- flush -----------------------------------------------------------------

def test_flush_without_qmgr(q):
    r = q.run("-f")
    assert r.returncode == 1 and "mail system is down" in r.stderr


def test_flush_and_deliver_one_wake_qmgr(q):
    hits_dir = pathlib.Path(q.inst.dir) / "hits"  # writable by testsvc as mail_owner
    hits_dir.mkdir()
    os.chmod(hits_dir, 0o777)
    hits = hits_dir / "qmgr.log"
    q.inst.master_cf(f"qmgr unix n - n - 1 testsvc trigger {hits}\n")
    q.inst.start()
    sock = q.path("public", "qmgr")
    assert wait_for(lambda: os.path.exists(sock), 5), q.inst.log_text()

    def got(text):
        def check():
            try:
                return text in hits.read_text()
            except FileNotFoundError:
                return False
        return check

    r = q.run("-f")
    assert r.returncode == 0, r.stderr
    assert wait_for(got("qmgr F"), 5), q.inst.log_text()
    a = q.add("deferred", "a@example.org", ["b@example.net"])
    r = q.run("-i", a)
    assert r.returncode == 0, r.stderr
    assert wait_for(got("qmgr A"), 5), q.inst.log_text()


# ---- terncat ---------------------------------------------------------------

def test_terncat_whole_file(q):
    a = q.add("deferred", "alice@example.org", ["bob@example.net"], delivered=["carol@example.net"],
              when=1700000000)
    r = q.cat(a)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "*** ENVELOPE RECORDS" in out and a in out
    assert "sender: alice@example.org" in out
    assert re.search(r"^recipient: bob@example.net \(pending", out, re.M)
    assert re.search(r"^recipient: carol@example.net \(delivered", out, re.M)
    assert "message_arrival_time:" in out and "1700000000" in out
    assert "Subject: test\nFrom: a@example.org\n" in out
    assert "line one\nline two\n" in out
    assert out.index("ENVELOPE") < out.index("Subject: test") < out.index("line one")
    assert out.rstrip().endswith("***")


def test_terncat_sections(q):
    a = q.add("incoming", "alice@example.org", ["bob@example.net"])
    h = q.cat("-h", a).stdout
    assert "Subject: test" in h and "line one" not in h and "sender:" not in h
    b = q.cat("-b", a).stdout
    assert "line one\nline two\n" in b and "Subject:" not in b and "sender:" not in b
    body = b.split("***\n", 1)[1]
    assert body.startswith("line one")  # the separating empty line is not body text
    e = q.cat("-e", a).stdout
    assert "sender: alice@example.org" in e and "Subject:" not in e and "line one" not in e
    eh = q.cat("-e", "-h", a).stdout
    assert "sender:" in eh and "Subject:" in eh and "line one" not in eh


def test_terncat_path_and_attributes(q):
    p = subprocess.run([MKQFILE, "-a", "client_addr=192.0.2.7", "-a", "helo_name=x\x01y",
                        "-r", "b@example.net", q.path("hold"), "a@example.org"],
                       input=CONTENT.encode(), capture_output=True, timeout=10)
    assert p.returncode == 0, p.stderr
    qid = p.stdout.decode().strip()
    r = q.cat(q.path("hold", qid))
    assert r.returncode == 0, r.stderr
    assert "named_attribute: client_addr=192.0.2.7" in r.stdout
    assert "named_attribute: helo_name=x\\x01y" in r.stdout


def test_terncat_truncated_and_garbage(q, tmp_path):
    a = q.add("deferred", "alice@example.org", ["bob@example.net"])
    src = q.path("deferred", a)
    data = open(src, "rb").read()
    for cut in (0, 1, 5, 20, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}"
        bad.write_bytes(data[:cut])
        r = q.cat(str(bad))
        assert r.returncode == 1, cut
        assert "corrupt or incomplete queue file" in r.stderr, (cut, r.stderr)
        assert "Traceback" not in r.stderr
    junk = tmp_path / "junk"
    junk.write_bytes(b"V\xff\xff\xff\xffxxxx")
    r = q.cat(str(junk))
    assert r.returncode == 1 and "corrupt" in r.stderr
    # One bad argument does not stop the others.
    r = q.cat(str(junk), a)
    assert r.returncode == 1 and "sender: alice@example.org" in r.stdout


def test_terncat_not_found(q):
    r = q.cat("1xXp2X09Mcjzpl")
    assert r.returncode == 1 and "not found" in r.stderr
    r = q.cat("/nonexistent/file")
    assert r.returncode == 1 and "/nonexistent/file" in r.stderr


# ---- with the real queue manager ------------------------------------------

QMGR = os.path.join(BUILD, "libexec", "qmgr")


@pytest.mark.skipif(not os.path.exists(QMGR), reason="qmgr not built")
def test_with_qmgr_deferred_listed_flushed_deleted(q):
    q.inst.main_cf({"daemon_directory": os.path.dirname(QMGR),
                    "myhostname": "mx.example.com", "mydestination": "example.com",
                    "transport_maps": "inline:{ later.example=later: }",
                    "minimal_backoff_time": "300s", "maximal_backoff_time": "4000s",
                    "queue_run_delay": "300s", "ipc_timeout": "5s"})
    q.inst.master_cf("qmgr unix n - n 300 1 qmgr\n")
    q.inst.start()
    assert wait_for(lambda: os.path.exists(q.path("public", "qmgr")), 10), q.inst.log_text()
    qid = q.add("incoming", "alice@example.com", ["x@later.example"])
    assert q.run("-r", qid).returncode == 0  # in incoming already: just wakes qmgr
    assert wait_for(lambda: qid in q.ids("deferred"), 10), q.inst.log_text()
    assert wait_for(lambda: os.path.exists(os.path.join(q.dir, "defer", qid)), 5)
    out = q.run("-p").stdout
    assert re.search(rf"^{qid} ", out, re.M), out
    assert re.search(r"^ +\(mail transport unavailable.*\)\n +x@later.example$", out, re.M), out
    obj = json.loads(q.run("-j").stdout)
    assert obj["queue_name"] == "deferred"
    assert [r["address"] for r in obj["recipients"]] == ["x@later.example"]
    assert obj["recipients"][0]["delay_reason"].startswith("mail transport unavailable")

    def deferrals():
        return len(re.findall(rf"{qid}: to=<x@later.example>.*status=deferred", q.inst.log_text()))
    before = deferrals()
    r = q.run("-f")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: deferrals() > before, 10), q.inst.log_text()
    assert wait_for(lambda: qid in q.ids("deferred"), 10)
    r = q.run("-d", qid)
    assert r.returncode == 0, r.stderr
    assert q.run("-p").stdout == "Mail queue is empty\n"
    assert not os.path.exists(os.path.join(q.dir, "defer", qid))
