"""Fault tests for the mail path (issue 3, DESIGN.md "Invariants").

A real instance made by `tern init` runs per test (tests/integration/
faultenv.py), and the tests break it on purpose:

- kill -9 of the smtpd serving a client in the middle of DATA: nothing
  partial is delivered, nothing deliverable stays in the queue, the next
  client is served.  With inline_cleanup (the default) that smtpd is the
  writer of the queue file, so the kill may leave an incomplete file in
  incoming/ (never delivered); with inline_cleanup = no the cleanup
  service sees the connection end and removes its file;
- kill -9 of the cleanup service (inline_cleanup = no) while smtpd is
  mid-DATA/BDAT: the client gets 4xx, nothing is delivered, and the same
  session goes on;
- kill -9 of random smtpd, cleanup, qmgr and local processes during a
  stream of messages from several clients, with cleanup's work inline in
  smtpd and in the cleanup service: every message answered with 250 is
  delivered at least once, and every delivered file is whole (duplicates
  are allowed and reported);
- a full queue file system (a small tmpfs, root only): the client gets
  452 4.3.1, nothing acknowledged is lost, and mail flows again once there
  is room; a full Maildir file system defers delivery and loses nothing;
- kill -9 of master and all its children while mail sits in incoming/ or
  active/, then a new start: every acknowledged message is delivered.

Each message carries a unique token in its Subject, Message-ID and last
body line, so the Maildir can be counted and checked for partial files.
"""

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

from conftest import is_root, wait_for
from faultenv import SENDER, USER, FaultEnv, kill9, make_message, missing_programs

pytestmark = pytest.mark.skipif(bool(missing_programs()),
                                reason=f"not built: {', '.join(missing_programs())}")


def token(tag):
    return f"tok-{tag}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fault_env():
    made = []

    def make(**kw):
        env = FaultEnv(**kw)
        made.append(env)
        return env

    yield make
    reports = []
    for env in made:
        env.stop()
        reports += env.sanitizer_report()
        env.cleanup()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


# ---- helpers ----------------------------------------------------------------

class RawSMTP:
    """A bare SMTP client: we decide exactly which bytes reach the server."""

    def __init__(self, port, timeout=60):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def local_port(self):
        return self.sock.getsockname()[1]

    def reply(self):
        """(code, text) of one possibly multi-line reply; (0, '') on EOF."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                data = self.sock.recv(4096)
                if not data:
                    return 0, "\n".join(lines)
                self.buf += data
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode(errors="replace")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), "\n".join(lines)

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def closed_by_peer(self, timeout=30):
        """True once the server side has gone (EOF or reset)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    return True
        except ConnectionError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def server_socket_inode(server_port, client_port):
    """Inode of the server end of the TCP connection 127.0.0.1:client_port."""
    want_local = f"0100007F:{server_port:04X}"
    want_rem = f"0100007F:{client_port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want_local and fields[2] == want_rem:
                return fields[9]
    return None


def smtpd_serving(env, client_port):
    """The pid of the smtpd holding our connection, or None."""
    inode = server_socket_inode(env.port, client_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in env.daemons(("smtpd",)):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
        except OSError:
            continue
    return None


def check_delivery(env, acked, label):
    """Every acknowledged token delivered at least once; every file whole."""
    got = env.delivered()
    lost = sorted(t for t in acked if got.counts.get(t, 0) == 0)
    dups = got.duplicates()
    print(f"\n{label}: {len(acked)} acknowledged, {len(got.counts)} distinct delivered "
          f"in {sum(got.counts.values())} files, duplicates {len(dups)}: {dups}; "
          f"incomplete files left in incoming/: {env.incomplete()}")
    log = env.log_text().splitlines()
    for tok in list(dups)[:3]:
        for qid in sorted(got.ids.get(tok, ())):
            print(f"  duplicate {tok} {qid}:\n    "
                  + "\n    ".join(ln for ln in log if qid in ln))
    assert not got.bad, f"partial or damaged deliveries: {got.bad}"
    assert not lost, (f"{len(lost)} acknowledged messages lost: {lost[:10]}\nqueue: "
                      f"{env.queue_files(('incoming', 'active', 'deferred', 'hold', 'corrupt'))}"
                      f"\nlog:\n{env.tail(6000)}")
    return got


def describe(env, files):
    """Queue files with their mode and size, and the log lines naming them."""
    out = []
    for rel in files:
        try:
            st = os.stat(os.path.join(env.queue, rel))
            out.append(f"{rel} mode {st.st_mode & 0o7777:o} size {st.st_size}")
        except OSError as e:
            out.append(f"{rel}: {e}")
        qid = os.path.basename(rel)
        out += [ln for ln in env.log_text().splitlines() if qid in ln]
    return "\n".join(out)


# ---- 1. kill -9 of smtpd during DATA ----------------------------------------

def send_data_part(c, msg, upto):
    assert c.cmd("DATA")[0] == 354
    c.sock.sendall(msg[:upto].encode() if upto >= 0 else (msg + ".").encode())


def send_bdat_part(c, msg, first):
    """BDAT: first bytes as a whole chunk (if any), then half of the rest."""
    if first:
        c.sock.sendall(f"BDAT {first}\r\n".encode() + msg[:first].encode())
        code, text = c.reply()
        assert code == 250, text
    rest = msg[first:]
    c.sock.sendall(f"BDAT {len(rest)} LAST\r\n".encode() + rest[: len(rest) // 2].encode())


CUTS = {
    # what the client sends after RCPT before its smtpd dies
    "data-in-headers": lambda c, m: send_data_part(c, m, m.index("Subject:") + 12),
    "data-in-body": lambda c, m: send_data_part(c, m, len(m) // 2),
    "data-all-but-crlf-dot-crlf": lambda c, m: send_data_part(c, m, len(m)),
    "data-dot-without-final-crlf": lambda c, m: send_data_part(c, m, -1),
    "bdat-half-last-chunk": lambda c, m: send_bdat_part(c, m, 0),
    "bdat-second-chunk": lambda c, m: send_bdat_part(c, m, len(m) // 3),
}


def open_transaction(env):
    c = RawSMTP(env.port)
    assert c.reply()[0] == 220
    code, text = c.cmd("EHLO faults.test")
    assert code == 250 and "CHUNKING" in text, text
    assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    assert c.cmd(f"RCPT TO:<{USER}>")[0] == 250
    return c


# What smtpd hands its messages to: the cleanup code in its own process
# (inline_cleanup = yes, the default) or the cleanup service.
CLEANUP_MODES = {"inline": "", "service": "inline_cleanup = no\n"}


@pytest.mark.parametrize("mode", sorted(CLEANUP_MODES))
@pytest.mark.parametrize("cut", sorted(CUTS))
def test_kill_smtpd_during_data(fault_env, cut, mode):
    env = fault_env(extra_main=CLEANUP_MODES[mode]).start()
    tok = token("partial")
    c = open_transaction(env)
    CUTS[cut](c, make_message(tok))
    pid = wait_for(lambda: smtpd_serving(env, c.local_port()), 10)
    assert pid, "cannot find the smtpd serving the connection"
    time.sleep(1.0)  # let smtpd write (or pass to cleanup) what it has
    assert kill9(pid)
    assert c.closed_by_peer(30), "connection still open after kill -9 of its smtpd"
    c.close()

    # The next client is served and its message delivered.
    tok2 = token("after")
    assert env.send(tok2), "the connection after the kill was not served:\n" + env.tail()
    assert wait_for(lambda: env.delivered().counts.get(tok2), 60), \
        "message after the kill not delivered:\n" + env.tail()
    # The cleanup service removes the file of a client that went away; a
    # killed inline writer can only leave its file incomplete (qmgr leaves
    # it alone, then finds it has no end record and moves it to corrupt/).
    left = env.queue_files if mode == "service" else env.pending
    assert wait_for(lambda: not left(), 30), \
        f"left in the queue after kill -9 of smtpd: {describe(env, left())}"
    print(f"\nincomplete files left by the killed smtpd: {env.incomplete()}")
    assert bool(env.daemons(("cleanup",))) == (mode == "service"), \
        f"cleanup processes with {mode} cleanup: {env.daemons(('cleanup',))}"
    got = env.delivered()
    assert got.counts.get(tok, 0) == 0, f"a partial message was delivered ({cut})"
    assert not got.bad, f"damaged deliveries: {got.bad}"
    assert got.counts == {tok2: 1}


def cleanup_serving(env):
    """Pids of cleanup processes with an accepted connection on private/cleanup."""
    path = os.path.join(env.queue, "private", "cleanup")
    out = subprocess.run(["ss", "-xpH", "state", "established"], capture_output=True,
                         text=True, timeout=30).stdout
    pids = set()
    for line in out.splitlines():
        if f" {path} " in line:
            pids.update(int(p) for p in re.findall(r'\("cleanup",pid=(\d+)', line))
    return pids


@pytest.mark.parametrize("verb", ["DATA", "BDAT"])
def test_kill_cleanup_during_data(fault_env, verb):
    env = fault_env(extra_main=CLEANUP_MODES["service"]).start()
    tok = token("cleanup-killed")
    msg = make_message(tok, 200)
    c = open_transaction(env)
    half = len(msg) // 2
    if verb == "DATA":
        send_data_part(c, msg, half)
    else:
        c.sock.sendall(f"BDAT {len(msg)} LAST\r\n".encode() + msg[:half].encode())
    # Ours is the only session, so every cleanup there is may be the one
    # receiving this message: kill them all, once one has taken smtpd's
    # connection (a cleanup just started may not have accepted it yet, and
    # its successor would then get the whole message).
    time.sleep(1.0)
    assert wait_for(lambda: cleanup_serving(env), 15), "no cleanup took smtpd's connection"
    pids = env.daemons(("cleanup",))
    for pid in pids:
        kill9(pid)
    time.sleep(0.5)
    c.sock.sendall(msg[half:].encode() + (b".\r\n" if verb == "DATA" else b""))
    code, text = c.reply()
    print(f"\nafter kill -9 of cleanup: {text!r}")
    assert 400 <= code < 500, f"smtpd answered {text!r} after its cleanup died"

    # The same session goes on and the next message is delivered.
    assert c.cmd("RSET")[0] == 250
    tok2 = token("after")
    assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
    assert c.cmd(f"RCPT TO:<{USER}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    code, text = c.cmd(make_message(tok2) + ".")
    assert code == 250, text
    c.cmd("QUIT")
    c.close()
    assert wait_for(lambda: env.delivered().counts.get(tok2), 60), env.tail()
    assert wait_for(lambda: not env.pending(), 30), describe(env, env.pending())
    got = env.delivered()
    assert got.counts == {tok2: 1} and not got.bad, (got.counts, got.bad)
    print(f"\nincomplete files left by the killed cleanup: {env.incomplete()}")


# ---- 2. random kill -9 of daemons during a stream ----------------------------

class Stream:
    """Client threads sending tokened messages, recording the acknowledged ones."""

    def __init__(self, env, threads, per_thread, tag):
        self.env = env
        self.acked, self.failed = [], []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(f"{tag}{i}", per_thread))
                        for i in range(threads)]

    def _run(self, name, count):
        for n in range(count):
            if self.stop.is_set():
                return
            tok = token(f"{name}-{n}")
            ok = self.env.send(tok, timeout=60)
            with self.lock:
                (self.acked if ok else self.failed).append(tok)
            if not ok:
                time.sleep(0.1)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def alive(self):
        return any(t.is_alive() for t in self.threads)

    def n_acked(self):
        with self.lock:
            return len(self.acked)


@pytest.mark.parametrize("mode", sorted(CLEANUP_MODES))
def test_random_kills_during_stream(fault_env, mode):
    env = fault_env(extra_main=CLEANUP_MODES[mode]).start()
    rng = random.Random()
    # The stream runs until enough kills have happened (a fast machine would
    # otherwise finish a fixed number of messages before the killer got going).
    stream = Stream(env, threads=3, per_thread=1000, tag="s").start()
    kills = []
    deadline = time.monotonic() + 240
    while stream.alive() and time.monotonic() < deadline and len(kills) < 16:
        time.sleep(rng.uniform(0.2, 1.0))
        victims = env.daemons()
        if victims:
            # a daemon kind first, then one of its processes: qmgr (one
            # process) is hit as often as smtpd (many)
            name = rng.choice(sorted(set(victims.values())))
            pid = rng.choice(sorted(p for p, n in victims.items() if n == name))
            if kill9(pid):
                kills.append(name)
    stream.stop.set()
    assert stream.join(120), "client threads did not finish"
    print(f"\nkills: {len(kills)} " + ", ".join(f"{d}={kills.count(d)}" for d in sorted(set(kills)))
          + f"; acked {len(stream.acked)}, not acked {len(stream.failed)}")
    assert len(kills) >= 10, f"too few kills to mean anything: {kills}"
    if mode == "inline":  # smtpd wrote the queue files itself
        assert "cleanup" not in kills, "smtpd used the cleanup service with inline_cleanup"
    assert stream.acked, "nothing was acknowledged at all:\n" + env.tail()

    left = env.drain(timeout=300)
    assert not left, f"queue not empty after flushing: {describe(env, left)}"
    check_delivery(env, stream.acked, "random kills")
    # The instance still works normally afterwards.
    tok = token("final")
    assert env.send(tok)
    assert wait_for(lambda: env.delivered().counts.get(tok), 60), env.tail()


# ---- 3. full queue file system -----------------------------------------------

def send_steps(env, tok, size_lines=40):
    """One transaction over a raw socket: (stage, code, text) of the first non-2xx/3xx."""
    c = RawSMTP(env.port)
    try:
        code, text = c.reply()
        assert code == 220, text
        steps = [("EHLO", "EHLO faults.test"), ("MAIL", f"MAIL FROM:<{SENDER}>"),
                 ("RCPT", f"RCPT TO:<{USER}>"), ("DATA", "DATA")]
        for stage, line in steps:
            code, text = c.cmd(line)
            if code >= 400:
                return stage, code, text
        msg = make_message(tok, size_lines)
        c.sock.sendall(msg.encode() + b".\r\n")
        code, text = c.reply()
        c.cmd("QUIT")
        return "END", code, text
    finally:
        c.close()


def full_env(fault_env):
    """A running instance whose queue is on a 3 MB tmpfs, after one delivery."""
    env = fault_env(queue_tmpfs=3 * 1024 * 1024).start()
    tok0 = token("before")
    assert env.send(tok0), env.tail()
    assert wait_for(lambda: env.delivered().counts.get(tok0), 60), env.tail()
    # qmgr removes the queue file after the delivery: wait, so that no space
    # is freed behind the test's back once the file system is full.
    assert wait_for(lambda: not env.queue_files(), 30), env.queue_files()
    return env, tok0


needs_root = pytest.mark.skipif(not is_root(), reason="mounting a tmpfs needs root")


@needs_root
def test_full_queue_filesystem_says_452(fault_env):
    env, _tok0 = full_env(fault_env)
    env.fill_queue_fs()
    stage, code, text = send_steps(env, token("full"))
    assert code == 452 and text.splitlines()[-1][4:].startswith("4.3.1 "), \
        f"full queue file system answered {stage}: {text!r}, not 452 4.3.1"


@needs_root
def test_full_queue_filesystem_loses_nothing(fault_env):
    env, tok0 = full_env(fault_env)
    filler = env.fill_queue_fs()
    assert env.queue_fs_free() < 4096
    tok1 = token("full")
    stage, code, text = send_steps(env, tok1)
    print(f"\nfull disk: {stage} -> {text!r}")
    assert 400 <= code < 500, f"full queue file system answered {stage}: {text!r}, not 4xx"
    assert " 4.3.1 " in text.splitlines()[-1] + " ", f"no 4.3.1 in {text!r}"
    assert env.queue_files(("incoming",)) == [], "the refused message left a queue file"

    # Nearly full: messages of growing size until the space runs out; every
    # one acknowledged must arrive, every refusal must be temporary.
    os.truncate(filler, max(0, os.path.getsize(filler) - 96 * 1024))
    acked, refused = [], []
    for i in range(12):
        tok = token(f"tight{i}")
        stage, code, text = send_steps(env, tok, size_lines=40 * (i + 1))
        (acked if code == 250 else refused).append((tok, stage, code, text))
    print(f"nearly full: {len(acked)} acknowledged, refused: "
          f"{[(s, t) for _tok, s, _c, t in refused][:3]}")
    for _tok, stage, code, text in refused:
        assert 400 <= code < 500, f"nearly full disk gave a permanent error at {stage}: {text}"

    os.unlink(filler)
    tok2 = token("after")
    assert env.send(tok2), "not accepted once there is room again:\n" + env.tail()
    want = [tok0, tok2] + [a[0] for a in acked]
    wait_for(lambda: all(env.delivered().counts.get(t) for t in want), 90, 0.5)
    left = env.drain(timeout=120)
    assert not left, f"queue not empty: {describe(env, left)}"
    got = check_delivery(env, want, "full disk")
    assert got.counts.get(tok1, 0) == 0, "the refused message was delivered anyway"
    # A message refused at the end of its content is never delivered later.
    for tok, stage, _code, _text in refused:
        assert got.counts.get(tok, 0) == 0 or stage != "END", f"refused {tok} was delivered"


@needs_root
def test_full_mailbox_filesystem_defers(fault_env):
    env = fault_env(mail_tmpfs=2 * 1024 * 1024).start()
    tok0 = token("before")
    assert env.send(tok0), env.tail()
    assert wait_for(lambda: env.delivered().counts.get(tok0), 60), env.tail()
    filler = env.fill_fs(os.path.join(env.dir, "mail", "filler"))
    assert env.fs_free(filler) < 4096
    toks = [token(f"mbfull{i}") for i in range(3)]
    for tok in toks:
        assert env.send(tok), "refused although only the mailbox disk is full:\n" + env.tail()
    assert wait_for(lambda: len(env.queue_files(("deferred",))) == len(toks), 90), \
        f"not deferred: {env.queue_files()}\n{env.tail()}"
    got = env.delivered()
    assert not got.bad, f"partial deliveries on a full disk: {got.bad}"
    assert set(got.counts) == {tok0}, got.counts
    tmp = os.listdir(os.path.join(env.maildir, "tmp"))
    assert tmp == [], f"failed deliveries left files in the Maildir's tmp/: {tmp}"
    print("\n" + "\n".join(ln for ln in env.log_text().splitlines() if "status=deferred" in ln))

    os.unlink(filler)
    left = env.drain(timeout=120)
    assert not left, f"queue not empty once there is room: {describe(env, left)}"
    check_delivery(env, [tok0] + toks, "full mailbox disk")


# ---- 4. kill -9 of the whole instance, then start again -----------------------

def test_restart_after_crash_with_mail_in_incoming(fault_env):
    env = fault_env().start()
    first = token("first")  # master starts qmgr on demand
    assert env.send(first)
    assert wait_for(lambda: env.delivered().counts.get(first), 60), env.tail()
    qmgr = env.daemons(("qmgr",))
    assert qmgr, "no qmgr running"
    for pid in qmgr:
        os.kill(pid, signal.SIGSTOP)  # mail piles up in incoming/
    acked = []
    for i in range(30):
        tok = token(f"in{i}")
        if env.send(tok, timeout=60):
            acked.append(tok)
    assert len(acked) == 30, "messages refused while qmgr was stopped:\n" + env.tail()
    assert len(env.queue_files(("incoming",))) >= 30, env.queue_files()
    env.crash()
    assert list(env.delivered().counts) == [first]
    env.start()
    left = env.drain(timeout=240)
    assert not left, f"queue not empty after restart: {describe(env, left)}"
    check_delivery(env, [first] + acked, "restart with incoming")


def test_restart_after_crash_during_stream(fault_env):
    env = fault_env().start()
    rng = random.Random()
    acked = []
    for rnd in range(2):
        stream = Stream(env, threads=2, per_thread=60, tag=f"c{rnd}-").start()
        assert wait_for(lambda: stream.n_acked() >= 15 or not stream.alive(), 180, 0.02), \
            "stream too slow"
        time.sleep(rng.uniform(0, 1.0))
        in_queue = env.queue_files()
        env.crash()
        stream.stop.set()
        assert stream.join(120), "client threads did not finish"
        acked += stream.acked
        print(f"\nround {rnd}: crash with {len(in_queue)} queue files, "
              f"{sum(f.startswith('active/') for f in in_queue)} in active/; "
              f"{len(stream.acked)} acknowledged")
        env.start()
    left = env.drain(timeout=240)
    assert not left, f"queue not empty after restart: {describe(env, left)}"
    check_delivery(env, acked, "crash during stream")
