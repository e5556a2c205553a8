"""Integration tests for qmgr(8): a real master running qmgr, with queue
files written by the test (the queue file format of lib/qfile.h) and
delivery agents and a cleanup service played by the test over the real
attribute protocol (lib/deliver.h, lib/cleanup_proto.h), so that qmgr is
tested on its own: delivery and removal, batching, a kill -9 mid-delivery,
error: bounces parsed with Python's email package, deferral with a defer
log and a flush.
"""

import email
import os
import pwd
import re
import signal
import socket
import struct
import threading
import time

import pytest

from conftest import BUILD, children_of, pid_alive, read_text, wait_for

LIBEXEC = os.path.join(BUILD, "libexec")
QMGR = os.path.join(LIBEXEC, "qmgr")

pytestmark = pytest.mark.skipif(not os.path.exists(QMGR), reason="qmgr not built")

HOST = "mx.example.com"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_seq = [0]


# ---- the attribute protocol ------------------------------------------------

def attr_encode(name, value):
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        value = value.encode()
    out = bytearray(name.encode() + b"=")
    for b in value:
        if 0x20 <= b <= 0x7E and b != 0x25:
            out.append(b)
        else:
            out += b"%%%02X" % b
    return bytes(out) + b"\n"


def attr_record(**kv):
    return b"".join(attr_encode(k, v) for k, v in kv.items()) + b"\n"


class AttrReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def record(self):
        rec = {}
        while True:
            line = self._line()
            if line is None:
                return None
            if line == b"":
                return rec
            name, _, value = line.partition(b"=")
            rec[name.decode()] = re.sub(
                rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), value
            ).decode(errors="replace")


# ---- fake services -----------------------------------------------------------

class Service:
    """A UNIX socket service in the queue, run in a thread by the test."""

    def __init__(self, path, handler):
        self.path = path
        self.handler = handler
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stop_flag = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop_flag:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        conn.settimeout(30)
        try:
            self.handler(conn)
        except (OSError, TypeError, KeyError, ValueError):
            pass
        finally:
            conn.close()

    def close(self):
        self.stop_flag = True
        self.thread.join(5)
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


class Agent:
    """A delivery agent: records requests, answers with answer(rcpt), which
    returns (status, dsn, reason) or (status, dsn, reason, {attr: value})."""

    def __init__(self, path, answer=None):
        self.requests = []
        self.answer = answer or (lambda rcpt: (0, "2.0.0", "delivered to maildir"))
        self.hang = threading.Event()
        self.service = Service(path, self.handle)

    def handle(self, conn):
        rd = AttrReader(conn)
        while True:
            head = rd.record()
            if head is None:
                return
            rcpts = [rd.record() for _ in range(int(head["rcpt_count"]))]
            self.requests.append((head, rcpts))
            if self.hang.is_set():
                time.sleep(30)
                return
            out = b""
            for r in rcpts:
                res = self.answer(r["rcpt"])  # (status, dsn, reason[, extra attributes])
                extra = res[3] if len(res) > 3 else {}
                out += attr_record(index=r["index"], status=res[0], dsn=res[1], reason=res[2],
                                   **extra)
            conn.sendall(out)

    def close(self):
        self.service.close()


class Cleanup:
    """A cleanup service that keeps each submitted message."""

    def __init__(self, path):
        self.messages = []
        self.service = Service(path, self.handle)

    def handle(self, conn):
        rd = AttrReader(conn)
        env = rd.record()
        rcpts = [rd.record() for _ in range(int(env["rcpt_count"]))]
        content = b""
        while True:
            chunk = rd.record()
            n = int(chunk["chunk"])
            if n == 0:
                break
            content += rd.exact(n)
        self.messages.append((env, rcpts, content))
        conn.sendall(attr_record(status=0, queue_id="1rXbW70DPq4Kj", dsn="2.0.0", reason="queued"))

    def close(self):
        self.service.close()


# ---- queue files -----------------------------------------------------------

def b62(n, width):
    s = ""
    while n:
        s = B62[n % 62] + s
        n //= 62
    return s.rjust(width, "0")


def new_id():
    _seq[0] += 1
    t = time.time()
    return b62(int(t), 6) + b62(int((t % 1) * 1e6), 4) + b62(os.getpid() * 1000 + _seq[0], 1)


def rec(kind, data):
    if isinstance(data, str):
        data = data.encode()
    return kind.encode() + struct.pack(">I", len(data)) + data


def qfile_bytes(sender, rcpts, content, attrs=None, arrival=None):
    t = arrival if arrival is not None else time.time()
    out = rec("V", "1") + rec("T", "%d.%06d" % (int(t), int((t % 1) * 1e6))) + rec("F", sender)
    for k, v in (attrs or {}).items():
        out += rec("A", f"{k}={v}")
    for r in rcpts:
        addr, notify, orcpt, orig = (r, 0, "", "") if isinstance(r, str) else r
        out += rec("R", b"P" + b"%x" % notify + addr.encode() + b"\0" + orcpt.encode()
                   + b"\0" + orig.encode())
    head, _, body = content.partition(b"\n\n")
    out += rec("C", head + b"\n\n") + rec("B", b"") + rec("C", body) + rec("E", b"")
    return out


class Queue:
    """An instance whose master runs qmgr only; the rest is played here."""

    def __init__(self, inst, extra=None):
        self.inst = inst
        self.q = inst.queue
        params = {"myhostname": HOST, "mydestination": f"{HOST}, example.com",
                  "daemon_directory": LIBEXEC, "queue_run_delay": "1s",
                  "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
                  "ipc_timeout": "5s"}
        params.update(extra or {})
        inst.main_cf(params)
        inst.master_cf("qmgr unix n - n 300 1 qmgr\n")
        owner = pwd.getpwnam(inst.owner)
        os.makedirs(self.q, 0o755, exist_ok=True)
        for d in ("incoming", "active", "deferred", "corrupt", "defer", "private", "public"):
            p = os.path.join(self.q, d)
            os.makedirs(p, 0o700, exist_ok=True)
            os.chown(p, owner.pw_uid, owner.pw_gid)
        self.uid, self.gid = owner.pw_uid, owner.pw_gid
        self.services = []

    def agent(self, transport, answer=None):
        a = Agent(os.path.join(self.q, "private", transport), answer)
        self.services.append(a)
        return a

    def cleanup(self):
        c = Cleanup(os.path.join(self.q, "private", "cleanup"))
        self.services.append(c)
        return c

    def start(self):
        self.inst.start()
        assert wait_for(lambda: os.path.exists(os.path.join(self.q, "public", "qmgr")), 10)

    def enqueue(self, sender, rcpts, content, **kw):
        qid = new_id()
        tmp = os.path.join(self.q, "incoming", "tmp." + qid)
        with open(tmp, "wb") as f:
            f.write(qfile_bytes(sender, rcpts, content, **kw))
        os.chown(tmp, self.uid, self.gid)
        os.chmod(tmp, 0o700)
        os.rename(tmp, os.path.join(self.q, "incoming", qid))
        return qid

    def trigger(self, what=b"A"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(self.q, "public", "qmgr"))
        s.sendall(what)
        s.close()

    def where(self, qid):
        for d in ("incoming", "active", "deferred", "corrupt"):
            if os.path.exists(os.path.join(self.q, d, qid)):
                return d
        return None

    def close(self):
        for s in self.services:
            s.close()


@pytest.fixture
def queue(instance):
    made = []

    def make(extra=None):
        q = Queue(instance(), extra)
        made.append(q)
        return q

    yield make
    for q in made:
        q.close()


MSG = b"From: alice@example.com\nTo: bob@example.com\nSubject: hi\n\nhello there\n"


def qmgr_pid(inst):
    for pid in children_of(inst.proc.pid):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "qmgr":
                    return pid
        except OSError:
            continue
    return None


# ---- tests -------------------------------------------------------------------

def test_delivers_and_removes(queue):
    q = queue()
    local = q.agent("local")
    q.start()
    qid = q.enqueue("alice@example.com", ["bob@example.com", ("carol@example.com", 0, "rfc822;carol@example.com", "Carol@Example.com")], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(qid) is None, 10), q.inst.log_text()
    assert len(local.requests) == 1  # one request for both recipients
    head, rcpts = local.requests[0]
    assert head["queue_id"] == qid and head["queue_file"] == f"active/{qid}"
    assert head["sender"] == "alice@example.com"
    assert [r["rcpt"] for r in rcpts] == ["bob@example.com", "carol@example.com"]
    assert rcpts[1]["orig_rcpt"] == "Carol@Example.com"
    assert q.inst.wait_log(rf"{qid}: to=<bob@example.com>, relay=local, delay=[0-9.]+, dsn=2.0.0, status=sent \(delivered to maildir\)")
    assert q.inst.wait_log(rf"{qid}: to=<carol@example.com>, orig_to=<Carol@Example.com>, relay=local")
    assert q.inst.wait_log(rf"{qid}: removed")


def test_recipient_limit_batches(queue):
    q = queue({"default_destination_recipient_limit": "2"})
    local = q.agent("local")
    q.start()
    qid = q.enqueue("alice@example.com", [f"u{i}@example.com" for i in range(5)], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(qid) is None, 10)
    # the three requests may run in parallel: their order is not fixed
    assert sorted(len(r) for _, r in local.requests) == [1, 2, 2]


def test_kill_9_mid_delivery_loses_nothing(queue):
    q = queue()
    local = q.agent("local")
    local.hang.set()
    q.start()
    qid = q.enqueue("alice@example.com", ["bob@example.com"], MSG)
    q.trigger()
    assert wait_for(lambda: local.requests, 10)
    assert q.where(qid) == "active"
    pid = qmgr_pid(q.inst)
    assert pid
    local.hang.clear()
    os.kill(pid, signal.SIGKILL)
    # qmgr served the wakeup request while busy, so none is left waiting:
    # the next one (new mail, or master's periodic wakeup) makes master
    # start qmgr again, which delivers what it finds in active/
    assert wait_for(lambda: not pid_alive(pid), 10)
    q.trigger()
    assert wait_for(lambda: q.where(qid) is None, 20), q.inst.log_text()
    assert len(local.requests) >= 2
    assert q.inst.wait_log(rf"{qid}: removed")


def test_stale_incomplete_incoming_files(queue):
    """A file in incoming/ left incomplete (mode 0600) for over ten minutes
    has no writer: a whole one is marked complete and delivered, a
    truncated one (its writer killed mid-message, so never acknowledged)
    is removed, not delivered and not kept."""
    q = queue()
    local = q.agent("local")
    q.start()
    whole = q.enqueue("alice@example.com", ["bob@example.com"], MSG)
    cut = q.enqueue("alice@example.com", ["carol@example.com"], MSG)
    fresh = q.enqueue("alice@example.com", ["dave@example.com"], MSG)
    old = time.time() - 3600
    for qid in (whole, cut, fresh):
        path = os.path.join(q.q, "incoming", qid)
        if qid == cut:
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) - 12)
        os.chmod(path, 0o600)
        if qid != fresh:
            os.utime(path, (old, old))
    q.trigger()
    assert wait_for(lambda: q.where(whole) is None and q.where(cut) is None, 10), \
        q.inst.log_text()
    assert q.inst.wait_log(rf"{whole}: recovered an incomplete queue file")
    assert q.inst.wait_log(rf"{cut}: removed an abandoned incomplete queue file")
    assert [r for _, rcpts in local.requests for r in rcpts if "bob@" in r["rcpt"]]
    assert not [r for _, rcpts in local.requests for r in rcpts if "carol@" in r["rcpt"]]
    assert os.listdir(os.path.join(q.q, "corrupt")) == []
    # A recent incomplete file still has a writer: left alone.
    time.sleep(1)
    assert q.where(fresh) == "incoming"


def test_error_transport_bounces(queue):
    q = queue({"transport_maps": "inline:{ { dead.example = error:5.1.1 no such user here } }"})
    cleanup = q.cleanup()
    q.start()
    orig = b"From: alice@example.com\nTo: x@dead.example\nSubject: lost\nMessage-ID: <m1@example.com>\n\nbody text\n"
    qid = q.enqueue("alice@example.com", [("x@dead.example", 0, "rfc822;X@dead.example", "")], orig,
                    attrs={"dsn_envid": "ENV-42"})
    q.trigger()
    assert wait_for(lambda: q.where(qid) is None, 10), q.inst.log_text()
    assert q.inst.wait_log(rf"{qid}: to=<x@dead.example>, relay=none, .*dsn=5.1.1, status=bounced \(no such user here\)")
    assert len(cleanup.messages) == 1
    env, rcpts, content = cleanup.messages[0]
    assert env["sender"] == "" and env["origin"] == "bounce"
    assert [r["rcpt"] for r in rcpts] == ["alice@example.com"]
    check_bounce(content, "x@dead.example", "5.1.1", b"body text")


def check_bounce(content, rcpt, status, body):
    msg = email.message_from_bytes(content)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["From"].startswith(f"MAILER-DAEMON@{HOST}")
    assert msg["To"] == "alice@example.com"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "message/rfc822"]
    assert rcpt in parts[0].get_payload()
    per_msg, *per_rcpt = parts[1].get_payload()
    assert per_msg["Reporting-MTA"] == f"dns; {HOST}"
    assert per_msg["Original-Envelope-Id"] == "ENV-42"
    assert per_msg["Arrival-Date"]
    assert len(per_rcpt) == 1
    r = per_rcpt[0]
    assert r["Final-Recipient"] == f"rfc822; {rcpt}"
    assert r["Original-Recipient"] == "rfc822; X@dead.example"
    assert r["Action"] == "failed" and r["Status"] == status
    assert "no such user here" in r["Diagnostic-Code"]
    returned = parts[2].get_payload()[0]
    assert returned["Subject"] == "lost"
    assert body in returned.as_bytes()


def test_bounce_of_null_sender_goes_to_postmaster(queue):
    q = queue({"transport_maps": "inline:{ { dead.example = error:5.1.1 gone } }"})
    cleanup = q.cleanup()
    q.start()
    a = q.enqueue("", ["x@dead.example"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(a) is None, 10)
    assert wait_for(lambda: len(cleanup.messages) == 1, 5)
    env, rcpts, _ = cleanup.messages[0]
    assert [r["rcpt"] for r in rcpts] == ["postmaster"]
    assert env["sender"] == f"double-bounce@{HOST}"
    # ...and a failing notice from double-bounce is dropped, never sent on
    b = q.enqueue(f"double-bounce@{HOST}", ["x@dead.example"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(b) is None, 10)
    assert q.inst.wait_log(rf"{b}: undeliverable notice from <double-bounce@{HOST}> discarded")
    assert len(cleanup.messages) == 1


def test_notify_never_and_success(queue):
    q = queue({"transport_maps": "inline:{ dead.example=error:gone }"})
    cleanup = q.cleanup()
    local = q.agent("local")
    q.start()
    a = q.enqueue("alice@example.com", [("x@dead.example", 8, "", "")], MSG)  # NEVER
    q.trigger()
    assert wait_for(lambda: q.where(a) is None, 10)
    time.sleep(0.3)
    assert cleanup.messages == []
    b = q.enqueue("alice@example.com", [("bob@example.com", 1, "", "")], MSG)  # SUCCESS
    q.trigger()
    assert wait_for(lambda: q.where(b) is None, 10)
    assert local.requests[0][1][0]["notify"] == "SUCCESS"
    assert wait_for(lambda: len(cleanup.messages) == 1, 5)
    msg = email.message_from_bytes(cleanup.messages[0][2])
    status = msg.get_payload()[1].get_payload()[1]
    assert status["Action"] == "delivered" and status["Status"] == "2.0.0"


def test_defer_then_flush(queue):
    q = queue({"transport_maps": "inline:{ later.example=later: }",
               "minimal_backoff_time": "300s", "maximal_backoff_time": "4000s",
               "queue_run_delay": "300s"})
    q.start()
    qid = q.enqueue("alice@example.com", ["x@later.example", "y@later.example"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(qid) == "deferred", 10), q.inst.log_text()
    assert q.inst.wait_log(rf"{qid}: to=<x@later.example>, relay=later, .*status=deferred \(mail transport unavailable")
    st = os.stat(os.path.join(q.q, "deferred", qid))
    assert st.st_mtime > time.time() + 200  # next retry at least minimal_backoff_time away
    with open(os.path.join(q.q, "defer", qid), "rb") as f:
        log = f.read().decode()
    assert "rcpt=x@later.example\n" in log and "rcpt=y@later.example\n" in log
    assert "dsn=4.3.0" in log and "reason=mail transport unavailable" in log
    # the transport comes up; a flush retries now
    later = q.agent("later")
    q.trigger(b"F")
    assert wait_for(lambda: q.where(qid) is None, 10), q.inst.log_text()
    assert len(later.requests) == 1
    assert not os.path.exists(os.path.join(q.q, "defer", qid))


def test_deferred_retried_after_backoff(queue):
    q = queue({"transport_maps": "inline:{ later.example=later: }"})
    q.start()
    qid = q.enqueue("alice@example.com", ["x@later.example"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(qid) == "deferred", 10)
    later = q.agent("later")
    assert wait_for(lambda: q.where(qid) is None, 15), q.inst.log_text()
    assert later.requests


def test_expired_message_is_returned(queue):
    q = queue({"transport_maps": "inline:{ later.example=later: }", "maximal_queue_lifetime": "1h"})
    cleanup = q.cleanup()
    q.start()
    qid = q.enqueue("alice@example.com", ["x@later.example"], MSG, arrival=time.time() - 7200)
    q.trigger()
    assert wait_for(lambda: q.where(qid) is None, 10), q.inst.log_text()
    assert q.inst.wait_log(rf"{qid}: to=<x@later.example>.*status=expired, returned to sender")
    assert wait_for(lambda: len(cleanup.messages) == 1, 5)
    msg = email.message_from_bytes(cleanup.messages[0][2])
    status = msg.get_payload()[1].get_payload()[1]
    assert status["Action"] == "failed" and status["Status"] == "5.3.0"
    assert "mail transport unavailable" in status["Diagnostic-Code"]


def test_agent_temp_and_perm_results(queue):
    def answer(rcpt):
        if rcpt.startswith("temp"):
            return 4, "4.2.2", "mailbox full"
        if rcpt.startswith("perm"):
            return 5, "5.1.1", "no such user"
        return 0, "2.0.0", "ok"
    q = queue()
    cleanup = q.cleanup()
    q.agent("local", answer)
    q.start()
    qid = q.enqueue("alice@example.com", ["ok@example.com", "temp@example.com", "perm@example.com"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(qid) == "deferred", 10), q.inst.log_text()
    assert wait_for(lambda: len(cleanup.messages) == 1, 5)
    msg = email.message_from_bytes(cleanup.messages[0][2])
    rcpts = msg.get_payload()[1].get_payload()[1:]
    assert [r["Final-Recipient"] for r in rcpts] == ["rfc822; perm@example.com"]
    with open(os.path.join(q.q, "defer", qid)) as f:
        text = f.read()
    assert "rcpt=temp@example.com" in text and "perm@" not in text and "ok@" not in text


class SlowAgent(Agent):
    """An agent that takes `delay` seconds per request and records, per
    request, when it started and ended and how many were in progress."""

    def __init__(self, path, delay):
        self.delay = delay
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.spans = []
        super().__init__(path)

    def handle(self, conn):
        rd = AttrReader(conn)
        while True:
            head = rd.record()
            if head is None:
                return
            rcpts = [rd.record() for _ in range(int(head["rcpt_count"]))]
            with self.lock:
                self.requests.append((head, rcpts))
                self.running += 1
                self.peak = max(self.peak, self.running)
            start = time.monotonic()
            time.sleep(self.delay)
            with self.lock:
                self.running -= 1
                self.spans.append((head["queue_id"], start, time.monotonic()))
            conn.sendall(b"".join(attr_record(index=r["index"], status=0, dsn="2.0.0",
                                              reason="ok") for r in rcpts))


def slow_agent(q, transport, delay):
    a = SlowAgent(os.path.join(q.q, "private", transport), delay)
    q.services.append(a)
    return a


def test_deliveries_of_two_messages_overlap(queue):
    q = queue()
    local = slow_agent(q, "local", 1.0)
    q.start()
    a = q.enqueue("alice@example.com", ["bob@example.com"], MSG)
    b = q.enqueue("alice@example.com", ["carol@example.com"], MSG)
    q.trigger()
    t0 = time.monotonic()
    assert wait_for(lambda: q.where(a) is None and q.where(b) is None, 10), q.inst.log_text()
    spans = {qid: (s, e) for qid, s, e in local.spans}
    assert set(spans) == {a, b}
    # each delivery takes 1s; sequential delivery would take 2s
    assert spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1], spans
    assert local.peak == 2
    assert time.monotonic() - t0 < 1.9
    assert q.inst.wait_log(rf"{a}: removed") and q.inst.wait_log(rf"{b}: removed")


def test_destination_concurrency_limit(queue):
    q = queue({"default_destination_concurrency_limit": "3",
               "initial_destination_concurrency": "3"})
    local = slow_agent(q, "local", 0.5)
    q.start()
    ids = [q.enqueue("alice@example.com", [f"u{i}@example.com"], MSG) for i in range(9)]
    q.trigger()
    assert wait_for(lambda: all(q.where(i) is None for i in ids), 20), q.inst.log_text()
    assert len(local.requests) == 9
    assert local.peak == 3  # parallel, but never more than the limit


def test_window_starts_at_initial_concurrency(queue):
    q = queue({"initial_destination_concurrency": "1"})
    local = slow_agent(q, "local", 0.3)
    q.start()
    ids = [q.enqueue("alice@example.com", [f"u{i}@example.com"], MSG) for i in range(8)]
    q.trigger()
    assert wait_for(lambda: all(q.where(i) is None for i in ids), 20), q.inst.log_text()
    first = sorted(local.spans, key=lambda x: x[1])
    # the first request runs alone; the window then grows with successes
    assert first[1][1] >= first[0][2] - 0.05, first
    assert 1 < local.peak <= 20


def test_process_limit_caps_transport(queue):
    q = queue({"default_destination_concurrency_limit": "10",
               "initial_destination_concurrency": "10",
               "transport_maps": "inline:{ { d0.example=slow: } { d1.example=slow: } "
                                 "{ d2.example=slow: } { d3.example=slow: } "
                                 "{ d4.example=slow: } { d5.example=slow: } }"})
    q.inst.master_cf("qmgr unix n - n 300 1 qmgr\nslow unix - - n - 2 local\n")
    q.start()
    slow = slow_agent(q, "slow", 0.4)  # takes private/slow over from master's listener
    ids = [q.enqueue("alice@example.com", [f"u{i}@d{i}.example"], MSG) for i in range(6)]
    q.trigger()
    assert wait_for(lambda: all(q.where(i) is None for i in ids), 20), q.inst.log_text()
    assert slow.peak == 2  # six destinations, but master.cf allows 2 processes


def test_broken_connection_defers_only_its_request(queue):
    def answer(rcpt):
        return 0, "2.0.0", "ok"

    q = queue({"transport_maps": "inline:{ broken.example=broken: }"})
    q.agent("local", answer)
    broken = q.agent("broken")
    broken.hang.set()  # reads the request, then drops the connection after a while
    q.start()
    good = q.enqueue("alice@example.com", ["bob@example.com"], MSG)
    bad = q.enqueue("alice@example.com", ["x@broken.example"], MSG)
    q.trigger()
    # the good message is delivered while the broken agent still holds its request
    assert wait_for(lambda: q.where(good) is None, 10), q.inst.log_text()
    assert q.where(bad) == "active"


def test_agent_that_does_not_answer_times_out(queue):
    q = queue({"daemon_timeout": "2s"})
    local = q.agent("local")
    local.hang.set()
    q.start()
    qid = q.enqueue("alice@example.com", ["bob@example.com"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(qid) == "deferred", 10), q.inst.log_text()
    assert q.inst.wait_log(rf"{qid}: delivery agent local: timeout waiting for the delivery agent")
    assert q.inst.wait_log(rf"{qid}: to=<bob@example.com>, relay=local, .*status=deferred \(lost connection with the local delivery agent\)")


# ---- scheduling: dead destinations, per-transport limits, fairness -------

CONNECT_REFUSED = "connect to mx.dead.example[192.0.2.1]:25: Connection refused"


def site_answer(rcpt):
    """dead.example fails at the site level, grey.example per recipient."""
    if rcpt.endswith("@dead.example"):
        return 4, "4.4.1", CONNECT_REFUSED, {"site_fail": 1}
    if rcpt.endswith("@grey.example"):
        return 4, "4.2.0", "host mx.grey.example[192.0.2.2] said: 450 greylisted"
    return 0, "2.0.0", "250 ok"


def test_dead_destination_is_suspended(queue):
    q = queue({"initial_destination_concurrency": "2", "minimal_backoff_time": "3s",
               "maximal_backoff_time": "60s", "queue_run_delay": "300s"})
    state = {"up": False}
    smtp = q.agent("smtp", lambda r: (0, "2.0.0", "250 ok") if state["up"] else site_answer(r))
    q.start()
    dead = [q.enqueue("alice@example.com", [f"u{i}@dead.example"], MSG) for i in range(10)]
    grey = [q.enqueue("alice@example.com", [f"u{i}@grey.example"], MSG) for i in range(4)]
    live = [q.enqueue("alice@example.com", [f"u{i}@live.example"], MSG) for i in range(3)]
    q.trigger()
    assert wait_for(lambda: all(q.where(i) is None for i in live), 10), q.inst.log_text()
    assert wait_for(lambda: all(q.where(i) == "deferred" for i in dead + grey), 10), \
        q.inst.log_text()
    tried = lambda dom: sum(1 for h, r in smtp.requests if r[0]["rcpt"].endswith(dom))  # noqa
    # Window 2: both first tries fail at the site, and that is one cohort.
    assert tried("@dead.example") == 2, smtp.requests
    # A per-recipient deferral (greylisting) does not make a site dead.
    assert tried("@grey.example") == 4
    log = q.inst.log_text()
    assert "delivery to smtp:dead.example suspended for 3s: " + CONNECT_REFUSED in log
    suspended = re.findall(r"to=<u\d+@dead\.example>, relay=none, delay=[0-9.]+, dsn=4\.4\.1, "
                           r"status=deferred \(delivery temporarily suspended: "
                           + re.escape(CONNECT_REFUSED) + r"\)", log)
    assert len(suspended) == 8
    with open(os.path.join(q.q, "defer", dead[-1])) as f:
        assert "delivery temporarily suspended" in f.read()

    # New mail for the dead destination is deferred at once, untried.
    more = q.enqueue("alice@example.com", ["late@dead.example"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(more) == "deferred", 10), q.inst.log_text()
    assert tried("@dead.example") == 2

    # A flush ends the dead time at once: the admin says "try now".
    state["up"] = True
    q.trigger(b"F")
    assert wait_for(lambda: all(q.where(i) is None for i in dead + grey + [more]), 15), \
        q.inst.log_text()[-3000:]
    assert tried("@dead.example") == 2 + len(dead) + 1
    assert "delivery to smtp:dead.example resumed" in q.inst.log_text()


def test_dead_time_ends(queue):
    q = queue({"initial_destination_concurrency": "1", "minimal_backoff_time": "2s",
               "maximal_backoff_time": "60s", "queue_run_delay": "300s"})
    state = {"up": False}
    smtp = q.agent("smtp", lambda r: (0, "2.0.0", "250 ok") if state["up"] else site_answer(r))
    q.start()
    first = [q.enqueue("alice@example.com", [f"u{i}@dead.example"], MSG) for i in range(3)]
    q.trigger()
    assert wait_for(lambda: all(q.where(i) == "deferred" for i in first), 10), q.inst.log_text()
    assert len(smtp.requests) == 1  # window 1: one site failure is a cohort
    state["up"] = True
    early = q.enqueue("alice@example.com", ["early@dead.example"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(early) == "deferred", 10), q.inst.log_text()
    assert len(smtp.requests) == 1
    time.sleep(2.2)  # the dead time is over: new mail is tried (no flush)
    late = q.enqueue("alice@example.com", ["late@dead.example"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(late) is None, 10), q.inst.log_text()
    assert len(smtp.requests) == 2
    assert all(q.where(i) == "deferred" for i in first + [early])


def test_per_transport_limits(queue):
    q = queue({"default_destination_concurrency_limit": "10",
               "initial_destination_concurrency": "10",
               "slow_destination_concurrency_limit": "2",
               "one_destination_recipient_limit": "1",
               "one_destination_concurrency_limit": "1",
               "paced_destination_rate_delay": "1s",
               "nosuch_destination_recipient_limit": "3",
               "transport_maps": "inline:{ { s.example=slow: } { o.example=one: } "
                                 "{ p.example=paced: } }"})
    q.inst.master_cf("qmgr unix n - n 300 1 qmgr\nslow unix - - n - 10 local\n"
                     "one unix - - n - 10 local\npaced unix - - n - 10 local\n")
    q.start()
    slow = slow_agent(q, "slow", 0.3)
    one = slow_agent(q, "one", 0.3)
    paced = slow_agent(q, "paced", 0.05)
    ids = [q.enqueue("alice@example.com", [f"u{i}@s.example"], MSG) for i in range(6)]
    ids.append(q.enqueue("alice@example.com", [f"r{i}@o.example" for i in range(4)], MSG))
    ids += [q.enqueue("alice@example.com", [f"u{i}@p.example"], MSG) for i in range(3)]
    q.trigger()
    assert wait_for(lambda: all(q.where(i) is None for i in ids), 20), q.inst.log_text()
    assert slow.peak == 2  # slow_destination_concurrency_limit
    # recipient limit 1: one request per recipient, and each recipient is a
    # destination of its own, so the limit of 1 still lets them run together
    assert sorted(len(r) for _, r in one.requests) == [1, 1, 1, 1]
    assert one.peak > 1
    starts = sorted(s for _, s, _ in paced.spans)
    assert paced.peak == 1 and all(b - a >= 0.9 for a, b in zip(starts, starts[1:])), starts
    log = q.inst.log_text()
    assert "nosuch_destination_recipient_limit" in log and "has no transport nosuch" in log
    assert "unknown parameter slow_destination" not in log + q.inst.output()


def test_big_mailing_does_not_starve_another_domain(queue):
    q = queue({"default_destination_concurrency_limit": "10",
               "initial_destination_concurrency": "10",
               "transport_maps": "inline:{ { big.example=slow: } { small.example=slow: } }"})
    q.inst.master_cf("qmgr unix n - n 300 1 qmgr\nslow unix - - n - 2 local\n")
    q.start()
    slow = slow_agent(q, "slow", 0.2)
    big = [q.enqueue("alice@example.com", [f"u{i}@big.example"], MSG) for i in range(30)]
    small = q.enqueue("alice@example.com", ["bob@small.example"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(small) is None, 10), q.inst.log_text()
    assert any(q.where(i) is not None for i in big)  # the mailing is still going
    order = [r[0]["rcpt"] for _, r in slow.requests]
    # the two process slots take turns between destinations: the single
    # message goes out among the first requests, not after the mailing
    assert order.index("bob@small.example") <= 2, order
    assert wait_for(lambda: all(q.where(i) is None for i in big), 20)


def test_flush_is_served_while_deliveries_are_in_flight(queue):
    q = queue({"queue_run_delay": "300s", "minimal_backoff_time": "300s",
               "maximal_backoff_time": "600s",
               "transport_maps": "inline:{ hang.example=hang: }"})
    state = {"up": False}
    q.agent("local", lambda r: (0, "2.0.0", "ok") if state["up"]
            else (4, "4.2.2", "mailbox full"))
    hang = q.agent("hang")
    hang.hang.set()
    q.start()
    d = q.enqueue("alice@example.com", ["bob@example.com"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(d) == "deferred", 10), q.inst.log_text()
    h = q.enqueue("alice@example.com", ["x@hang.example"], MSG)
    q.trigger()
    assert wait_for(lambda: hang.requests, 10)  # qmgr now waits for that agent
    state["up"] = True
    t0 = time.monotonic()
    q.trigger(b"F")
    assert wait_for(lambda: q.where(d) is None, 5), q.inst.log_text()
    assert time.monotonic() - t0 < 5
    assert q.where(h) == "active"  # still in flight


def test_sender_dependent_relayhost(queue, instance):
    q = queue({"relayhost": "[smart.example]"})
    table = os.path.join(q.inst.conf, "sdr")
    with open(table, "w") as f:
        f.write("boss@corp.example [boss-relay]:2525\n@corp.example [corp-relay]\n"
                "<> [bounce-relay]\n")
    with open(os.path.join(q.inst.conf, "main.cf"), "a") as f:
        f.write(f"sender_dependent_relayhost_maps = texthash:{table}\n")
    smtp = q.agent("smtp")
    local = q.agent("local")
    q.start()
    ids = [q.enqueue("boss@corp.example", ["u1@far.example"], MSG),
           q.enqueue("eve@corp.example", ["u2@far.example"], MSG),
           q.enqueue("x@other.example", ["u3@far.example"], MSG),
           q.enqueue("", ["u4@far.example"], MSG),
           q.enqueue("boss@corp.example", ["bob@example.com"], MSG)]
    q.trigger()
    assert wait_for(lambda: all(q.where(i) is None for i in ids), 10), q.inst.log_text()
    hops = {r[0]["rcpt"]: h["nexthop"] for h, r in smtp.requests}
    assert hops == {"u1@far.example": "[boss-relay]:2525", "u2@far.example": "[corp-relay]",
                    "u3@far.example": "[smart.example]", "u4@far.example": "[bounce-relay]"}
    assert [r[0]["rcpt"] for _, r in local.requests] == ["bob@example.com"]


def test_config_change_restarts_qmgr(queue):
    q = queue()
    q.agent("local")
    q.start()
    first = q.enqueue("alice@example.com", ["bob@example.com"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(first) is None, 10), q.inst.log_text()
    pid = qmgr_pid(q.inst)
    assert pid
    with open(os.path.join(q.inst.conf, "main.cf"), "a") as f:
        f.write("delay_warning_time = 4h\n")
    # qmgr outlives max_use, so it must notice the change itself
    assert q.inst.wait_log(r"qmgr\[\d+\]: configuration changed -- restarting", 5)
    assert wait_for(lambda: not pid_alive(pid), 5)
    second = q.enqueue("alice@example.com", ["carol@example.com"], MSG)
    q.trigger()
    assert wait_for(lambda: q.where(second) is None, 10), q.inst.log_text()
    assert qmgr_pid(q.inst) not in (None, pid)


# ---- the real pipeline: cleanup -> qmgr -> local -> Maildir -----------------

TERN = os.path.join(BUILD, "bin", "tern")
DOMAIN = "example.test"


def need_pipeline():
    for d in ("cleanup", "local"):
        if not os.path.exists(os.path.join(LIBEXEC, d)):
            pytest.skip(f"{d} not built yet")
    if not os.path.exists(TERN):
        pytest.skip("tern not built")


class Real:
    """A `tern init` instance with the real cleanup, qmgr and local."""

    def __init__(self, extra="", files=None):
        import subprocess
        import tempfile
        from conftest import ensure_test_user, free_port, is_root
        self.subprocess = subprocess
        self.top = tempfile.mkdtemp(prefix="tern-qm-")
        os.chmod(self.top, 0o755)
        self.dir = os.path.join(self.top, "i")
        base = 20000 + free_port() % 20000 // 1000 * 1000
        args = [TERN, "init", self.dir, "--port-base", str(base), "--domain", DOMAIN,
                "--user", f"alice@{DOMAIN}:Secret-1",
                "--outbound"]  # no sandbox catch-all: other domains route as configured
        if is_root():
            args += ["--mail-owner", ensure_test_user().pw_name]
        res = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
        with open(os.path.join(self.dir, "master.cf")) as f:
            rows = [ln for ln in f if re.match(r"(cleanup|qmgr|local)\s", ln)]
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.writelines(rows)  # only the daemons under test
        for name, text in (files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        with open(os.path.join(self.dir, "main.cf"), "a") as f:
            f.write(extra.replace("$DIR", self.dir))
        self.queue = os.path.join(self.dir, "queue")
        self.log = os.path.join(self.dir, "log", "tern.log")
        res = subprocess.run([TERN, "-c", self.dir, "start"], capture_output=True, text=True,
                             timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
        assert wait_for(lambda: os.path.exists(os.path.join(self.queue, "public", "qmgr")), 10)

    def submit(self, sender, rcpts, content):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(os.path.join(self.queue, "private", "cleanup"))
        s.sendall(attr_record(request="submit", origin="pickup", sender=sender,
                              protocol="LOCAL", rcpt_count=len(rcpts)))
        for r in rcpts:
            s.sendall(attr_record(rcpt=r))
        s.sendall(attr_record(chunk=len(content)) + content + attr_record(chunk=0))
        reply = AttrReader(s).record()
        s.close()
        assert reply and reply["status"] == "0", reply
        return reply["queue_id"]

    def mailbox(self, user="alice"):
        d = os.path.join(self.dir, "mail", DOMAIN, user, "new")
        return sorted(os.path.join(d, n) for n in os.listdir(d)) if os.path.isdir(d) else []

    def log_text(self):
        return read_text(self.log)

    def queued(self):
        return [n for d in ("incoming", "active", "deferred")
                for n in os.listdir(os.path.join(self.queue, d))
                if os.path.isdir(os.path.join(self.queue, d))]

    def close(self):
        self.subprocess.run([TERN, "-c", self.dir, "stop"], capture_output=True, timeout=30)
        import shutil
        shutil.rmtree(self.top, ignore_errors=True)


@pytest.fixture
def real():
    need_pipeline()
    made = []

    def make(extra="", files=None):
        r = Real(extra, files)
        made.append(r)
        return r

    yield make
    for r in made:
        text = r.log_text()
        r.close()
        assert not [ln for ln in text.splitlines() if "Sanitizer" in ln or "runtime error:" in ln]


def test_real_delivery_removes_queue_file(real):
    r = real()
    qid = r.submit(f"bob@{DOMAIN}", [f"alice@{DOMAIN}"], MSG)
    assert wait_for(lambda: r.mailbox(), 15), r.log_text()[-3000:]
    assert wait_for(lambda: re.search(rf"{qid}: removed", r.log_text()), 10), r.log_text()[-3000:]
    assert re.search(rf"{qid}: to=<alice@{DOMAIN}>, relay=local, .*status=sent", r.log_text())
    assert r.queued() == []
    with open(r.mailbox()[0], "rb") as f:
        assert b"hello there" in f.read()


def test_real_bounce_lands_in_sender_mailbox(real):
    r = real("transport_maps = texthash:$DIR/transport\n",
             {"transport": "dead.example error:5.1.1 no such user here\n"})
    qid = r.submit(f"alice@{DOMAIN}", ["x@dead.example"],
                   b"From: alice@example.test\nTo: x@dead.example\nSubject: lost\n\nbody text\n")
    assert wait_for(lambda: r.mailbox(), 15), r.log_text()[-3000:]
    assert wait_for(lambda: re.search(rf"{qid}: removed", r.log_text()), 10)
    with open(r.mailbox()[0], "rb") as f:
        msg = email.message_from_bytes(f.read())
    assert msg.get_content_type() == "multipart/report"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "message/rfc822"]
    status = parts[1].get_payload()[1]
    assert status["Final-Recipient"] == "rfc822; x@dead.example"
    assert status["Action"] == "failed" and status["Status"] == "5.1.1"
    assert parts[2].get_payload()[0]["Subject"] == "lost"
    assert wait_for(lambda: r.queued() == [], 10)
