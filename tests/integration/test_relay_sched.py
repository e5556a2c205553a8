"""qmgr scheduling of outbound mail: 1,000 messages to 50 domains, one down.

A `tern init --outbound` instance resolves 50 domains through the DNS
fixture (nsd, tests/integration/dnsserver.py): 49 have MX hosts on four
loopback addresses where small Python SMTP sinks listen, the 50th points
at an address where a "blackhole" accepts TCP connections and never says
a word (the timeout path: smtp_helo_timeout is 2s).  1,000 messages are
injected over SMTP (a few sessions, many messages each), 50 of them for
the dead domain.  The test checks that

  - every message for the 49 live domains reaches its sink within a bound;
  - the dead domain's 50 messages are deferred (in the queue, in mailq),
    most of them "delivery temporarily suspended" without being tried;
  - the dead destination was tried only a few times (connections counted
    at the blackhole): qmgr's dead-destination cache stopped the rest.
"""

import os
import re
import smtplib
import socket
import subprocess
import threading
import time

import pytest

import dnsserver
from conftest import free_port, wait_for
from ternenv import BUILD, TernEnv, need_programs, tern_env  # noqa: F401

TERNQUEUE = os.path.join(BUILD, "bin", "ternqueue")
SINK_ADDRS = ["127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"]
DEAD_ADDR = "127.0.0.30"
LIVE = [f"d{i:02d}.test" for i in range(49)]
DEAD = "down.test"
TOTAL, DEAD_SHARE = 1000, 20  # every 20th message goes to the dead domain

pytestmark = need_programs("master", "smtpd", "cleanup", "qmgr", "smtp", "local")


class Sink:
    """An SMTP server that takes everything, counting recipients per domain."""

    def __init__(self, addr, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(128)
        self.lock = threading.Lock()
        self.rcpts = {}  # domain -> count of recipients delivered
        self.stop = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        conn.settimeout(30)
        f = conn.makefile("rb")

        def say(text):
            conn.sendall(text.encode() + b"\r\n")

        try:
            say("220 sink.test ESMTP")
            rcpts = []
            while True:
                line = f.readline(4096)
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"EHLO":
                    say("250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10000000")
                elif verb == b"MAIL":
                    rcpts = []
                    say("250 2.1.0 Ok")
                elif verb == b"RCPT":
                    m = re.search(rb"@([^>]+)>", line)
                    rcpts.append(m.group(1).decode().lower() if m else "?")
                    say("250 2.1.5 Ok")
                elif verb == b"DATA":
                    say("354 go ahead")
                    while True:
                        chunk = f.readline(100000)
                        if not chunk:
                            return
                        if chunk == b".\r\n":
                            break
                    with self.lock:
                        for d in rcpts:
                            self.rcpts[d] = self.rcpts.get(d, 0) + 1
                    say("250 2.0.0 Ok: queued")
                elif verb in (b"RSET", b"NOOP", b"HELO"):
                    say("250 Ok")
                elif verb == b"QUIT":
                    say("221 Bye")
                    return
                else:
                    say("502 5.5.2 unknown")
        except OSError:
            pass
        finally:
            conn.close()

    def count(self):
        with self.lock:
            return dict(self.rcpts)

    def close(self):
        self.stop = True
        self.sock.close()


class Blackhole:
    """Accepts TCP connections and never answers (the dead destination)."""

    def __init__(self, addr, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(128)
        self.conns = []
        self.accepted = 0
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def common_port(addrs):
    for _ in range(100):
        port = free_port()
        ok = True
        for a in addrs:
            with socket.socket() as s:
                try:
                    s.bind((a, port))
                except OSError:
                    ok = False
        if ok:
            return port
    pytest.skip("no common free port")


@pytest.fixture
def world(tmp_path):
    if not dnsserver.have_nsd():
        pytest.skip("nsd not installed")
    port = common_port(SINK_ADDRS + [DEAD_ADDR])
    dns = dnsserver.DnsServer(str(tmp_path))
    for i, d in enumerate(LIVE):
        dns.add_zone(d, f"@ MX 10 mx\nmx A {SINK_ADDRS[i % len(SINK_ADDRS)]}\n")
    dns.add_zone(DEAD, f"@ MX 10 mx\nmx A {DEAD_ADDR}\n")
    sinks = [Sink(a, port) for a in SINK_ADDRS]
    hole = Blackhole(DEAD_ADDR, port)
    try:
        dns.start()
        yield dns, port, sinks, hole
    finally:
        dns.stop()
        for s in sinks:
            s.close()
        hole.close()


def domain_of(i):
    return DEAD if i % DEAD_SHARE == 0 else LIVE[i % len(LIVE)]


def inject(env, first, last, errors):
    try:
        with smtplib.SMTP("127.0.0.1", env.smtp_port, timeout=60) as s:
            s.ehlo("client.test")
            for i in range(first, last):
                rcpt = f"user{i}@{domain_of(i)}"
                msg = (f"From: alice@example.test\r\nTo: {rcpt}\r\nSubject: n{i}\r\n\r\n"
                       f"message {i}\r\n").encode()
                s.sendmail("alice@example.test", [rcpt], msg)
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.append(repr(e))


def test_thousand_messages_fifty_domains_one_down(tern_env, world):  # noqa: F811
    dns, port, sinks, hole = world
    env = tern_env("relaysched", init_args=["--outbound"])
    table = "".join(f"{d} smtp:{d}:{port}\n" for d in LIVE + [DEAD])
    env.append("transport", table)
    env.add_main(
        f"dns_nameservers = {dns.nameserver}\n"
        f"transport_maps = texthash:{env.path('transport')}\n"
        "smtp_connect_timeout = 2s\nsmtp_helo_timeout = 2s\n"
        "smtp_connection_cache_time_limit = 2s\n"
        "minimal_backoff_time = 300s\nqueue_run_delay = 300s\n"
    )
    env.start()

    t0 = time.monotonic()
    errors, threads, per = [], [], TOTAL // 4
    for k in range(4):
        th = threading.Thread(target=inject, args=(env, k * per, (k + 1) * per, errors))
        th.start()
        threads.append(th)
    for th in threads:
        th.join(120)
    injected = time.monotonic() - t0
    assert not errors, errors

    want = {}
    for i in range(TOTAL):
        if domain_of(i) != DEAD:
            want[domain_of(i)] = want.get(domain_of(i), 0) + 1
    n_live = sum(want.values())
    n_dead = TOTAL - n_live

    def delivered():
        got = {}
        for s in sinks:
            for d, n in s.count().items():
                got[d] = got.get(d, 0) + n
        return got

    # Every live domain's mail arrives, while the dead domain times out.
    assert wait_for(lambda: sum(delivered().values()) >= n_live, 90, 0.2), \
        f"delivered {sum(delivered().values())} of {n_live}\n" + env.log_text()[-3000:]
    done = time.monotonic() - t0
    assert delivered() == want
    assert DEAD not in delivered()

    # The dead domain's mail is deferred, all of it, and stays queued.
    def dead_deferred():
        return len(re.findall(rf"to=<user\d+@{re.escape(DEAD)}>, relay=[^,]+, delay=[0-9.]+, "
                              r"dsn=4\.\d+\.\d+, status=deferred", env.log_text()))
    assert wait_for(lambda: dead_deferred() >= n_dead, 60, 0.2), env.log_text()[-3000:]
    log = env.log_text()
    suspended = re.findall(rf"to=<user\d+@{re.escape(DEAD)}>, relay=none, .*status=deferred "
                           r"\(delivery temporarily suspended: conversation with "
                           rf"mx\.{re.escape(DEAD)}\[{re.escape(DEAD_ADDR)}\] timed out while "
                           r"receiving the initial server greeting\)", log)
    assert re.search(rf"delivery to smtp:{re.escape(DEAD)}:{port} suspended for 300s", log), \
        log[-3000:]

    # The dead cache: only a few tries reached the blackhole, the rest
    # were deferred without taking an agent (window 5 at the start).
    tries = hole.accepted
    assert 1 <= tries <= 15, f"{tries} connections to the dead destination"
    assert len(suspended) >= n_dead - tries, (len(suspended), tries)
    deferred_dir = os.path.join(env.queue, "deferred")
    assert wait_for(lambda: sum(len(f) for _, _, f in os.walk(deferred_dir)) == n_dead, 20)
    mailq = subprocess.run([TERNQUEUE, "-c", env.dir, "-p"], capture_output=True, text=True,
                           timeout=60).stdout
    assert mailq.count(f"@{DEAD}") == n_dead
    assert "delivery temporarily suspended" in mailq
    print(f"\ninjected {TOTAL} in {injected:.1f}s; {n_live} live delivered after {done:.1f}s; "
          f"{tries} tries of the dead destination, {len(suspended)} deferred without a try")
