#!/usr/bin/python3
"""relay.py - relay throughput, tern against Postfix: smtp-source -> relay
-> smtp-sink, messages/s from the first connect to the last message at the
sink, in one run on one machine.

Both relays are configured the same way: a loopback listener that relays
for 127.0.0.0/8, every foreign domain sent to `relayhost =
[127.0.0.1]:SINKPORT` (no DNS), no TLS on either side, default durability
(each fsyncs its queue file before the 250 reply).  Each relay has its own
smtp-sink; the sink counts the messages it received (`smtp-sink -c`) and
this script reads those counters as they come, so the end of a run is the
moment the sink saw the last message.  Results go to stdout only.  See
bench/README.md.

Reuses bench/smtp_e2e.py's Postfix package handling, instance layout and
helpers.  Needs root (the Postfix master, smtp-sink's -u, the package
install when Postfix is missing); --no-postfix measures tern alone.
"""

import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtp_e2e as e2e  # noqa: E402

SMTP_SINK = "/usr/sbin/smtp-sink"
RELAY_DOMAIN = "relay.test"
RCPT = "bench@" + RELAY_DOMAIN
SENDER = e2e.SENDER
log = e2e.log
BenchError = e2e.BenchError


class Sink:
    """One smtp-sink; a thread follows its "sess=N quit=N mesg=N" counters
    (written as each message ends) and records when each count arrived."""

    def __init__(self, port):
        self.port = port
        self.proc = None
        self.count = 0
        self.sessions = 0  # connections that ended
        self.cond = threading.Condition()
        self.thread = None

    def start(self):
        e2e.check_ports([self.port])
        # -c: counters; -m/backlog: never the limit on concurrency.
        argv = [SMTP_SINK, "-c", "-m", "1000", "127.0.0.1:%d" % self.port, "1024"]
        if os.geteuid() == 0:
            argv[1:1] = ["-u", "nobody"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.thread = threading.Thread(target=self.follow, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not e2e.port_listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() else ""
                raise BenchError("smtp-sink on port %d did not start: %s" % (self.port, err))
            time.sleep(0.1)

    def follow(self):
        fd = self.proc.stdout.fileno()
        rest = b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            rest += chunk
            parts = rest.split(b"\r")
            rest = parts.pop()
            m = None
            for part in reversed(parts):
                m = re.search(rb"sess=(\d+) .*mesg=(\d+)", part)
                if m:
                    break
            if m:
                with self.cond:
                    self.sessions = int(m.group(1))
                    self.count = int(m.group(2))
                    self.when = time.monotonic()
                    self.cond.notify_all()

    def wait(self, target, deadline):
        """(count, monotonic time it was reached) once count >= target or at the deadline."""
        with self.cond:
            while self.count < target:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                self.cond.wait(min(left, 1.0))
            return self.count, getattr(self, "when", time.monotonic())

    def settle(self, quiet=0.5, limit=10):
        """Wait until the count has not moved for `quiet` seconds; the count."""
        end = time.monotonic() + limit
        last = -1
        while time.monotonic() < end:
            with self.cond:
                now = self.count
            if now == last:
                return now
            last = now
            time.sleep(quiet)
        return last

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def queue_files(queue, subdirs=("incoming", "active", "deferred", "hold", "maildrop")):
    n = 0
    for sub in subdirs:
        for _root, _dirs, files in os.walk(os.path.join(queue, sub)):
            n += len(files)
    return n


class TernRelay(e2e.Tern):
    def __init__(self, base, build, port_base, sink_port):
        super().__init__(base, build, port_base)
        self.sink = Sink(sink_port)
        self.queue = os.path.join(self.dir, "queue")

    def available(self):
        missing = super().available()
        if not os.access(os.path.join(self.build, "libexec", "smtp"), os.X_OK):
            missing.append("smtp")
        return missing

    def setup(self):
        e2e.run([self.tern, "init", self.dir, "--port-base", str(self.port_base),
                 "--domain", e2e.DOMAIN, "--outbound"], 60)  # fmt: skip
        path = os.path.join(self.dir, "main.cf")
        with open(path) as f:
            lines = [ln for ln in f.read().splitlines() if not ln.startswith("smtpd_tls_")]
        lines.append("relayhost = [127.0.0.1]:%d" % self.sink.port)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        self.sink.start()
        super().start()

    def stop(self):
        super().stop()
        self.sink.stop()


class PostfixRelay(e2e.Postfix):
    def __init__(self, base, port, sink_port):
        super().__init__(base, port, os.path.join(base, "none"))
        self.sink = Sink(sink_port)

    def tls_cf(self):
        return []

    def main_cf(self):
        return "\n".join(self.base_cf("relay.py") + [
            "relayhost = [127.0.0.1]:%d" % self.sink.port,
            "",
        ])  # fmt: skip

    def start(self):
        self.sink.start()
        super().start()

    def stop(self):
        super().stop()
        self.sink.stop()


CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_procs(master):
    """{pid: (program, own CPU s, reaped children's CPU s)} for master and
    every process under it."""
    out = {}
    for pid in e2e.descendants(master):
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        own = sum(int(x) for x in fields[11:13]) / CLK_TCK  # utime stime
        reaped = sum(int(x) for x in fields[13:15]) / CLK_TCK  # cutime cstime
        out[pid] = (comm, own, reaped)
    return out


class CpuWatch:
    """CPU used by an instance between start() and stop(): the total (live
    processes plus the children they reaped) and, from samples every
    0.2 s, by program; what processes that exited between samples used
    is counted as "(exited)"."""

    def __init__(self, master):
        self.master = master
        self.first = tree_procs(master)
        self.last = {}  # pid -> (program, own CPU) at its latest sample
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self):
        while True:
            for pid, (comm, own, _) in tree_procs(self.master).items():
                self.last[pid] = (comm, own)
            if self.done.wait(0.2):
                return

    def stop(self):
        self.done.set()
        self.thread.join()
        end = tree_procs(self.master)
        for pid, (comm, own, _) in end.items():
            self.last[pid] = (comm, own)
        total = sum(o + r for _, o, r in end.values()) - sum(o + r for _, o, r in self.first.values())
        by = collections.Counter()
        for pid, (comm, own) in self.last.items():
            by[comm] += own - (self.first[pid][1] if pid in self.first else 0)
        by["(exited)"] = max(0.0, total - sum(by.values()))
        return total, by


def drive(server, n, sessions, rcpts, size, timeout):
    """One smtp-source run into server; the rates and CPU split."""
    sink = server.sink
    start = sink.settle()
    sess0 = sink.sessions
    cpu0 = e2e.cpu_times()
    master = server.master_pid()
    watch = CpuWatch(master)
    argv = [e2e.SMTP_SOURCE, "-m", str(n), "-s", str(sessions), "-r", str(rcpts),
            "-l", str(size), "-f", SENDER, "-t", RCPT, "-M", "client.bench.invalid",
            "127.0.0.1:%d" % server.port]  # fmt: skip
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError("smtp-source did not finish within %d s" % timeout)
    accept_s = time.monotonic() - t0
    if p.returncode != 0 or p.stderr.strip():
        log("%s: smtp-source exit %d: %s" % (server.name, p.returncode, p.stderr.strip()[:500]))
    got, when = sink.wait(start + n, t0 + timeout)
    cpu = e2e.cpu_share(cpu0, e2e.cpu_times())
    delivered = got - start
    extra = sink.settle() - start - n
    total, by = watch.stop()
    conns = sink.sessions - sess0  # closed so far; cached ones still open
    by_prog = {k: 1000.0 * v / n for k, v in by.items()}
    inst_ms = 1000.0 * total / n
    if delivered < n:
        log("%s: the sink got %d of %d within %d s" % (server.name, delivered, n, timeout))
    if extra > 0:
        log("%s: the sink got %d transactions more than messages sent" % (server.name, extra))
    left = queue_files(server.queue)
    if left:
        log("%s: %d queue files left after the run" % (server.name, left))
    return {
        "accepted": n / accept_s if p.returncode == 0 else None,
        "delivered": n / (when - t0) if delivered >= n else None,
        "cpu": cpu,
        "cpu_ms": inst_ms,
        "by_prog": by_prog,
        "conns": 100.0 * conns / n,
    }


def bench(servers, args):
    results = {srv.name: {} for srv in servers}
    for srv in servers:
        log("%s: setting up in %s" % (srv.name, srv.dir))
        srv.setup()
        srv.start()
    warm = max(args.sessions)
    for srv in servers:
        log("%s: warm-up, %d messages" % (srv.name, warm * 5))
        drive(srv, warm * 5, warm, 1, args.size, args.timeout)
    for s in args.sessions:
        for r in args.rcpts:
            runs = {srv.name: [] for srv in servers}
            for k in range(args.repeat):
                for srv in servers:
                    time.sleep(1)
                    log("%s: %d messages x %d rcpt, %d session(s), run %d"
                        % (srv.name, args.n, r, s, k + 1))  # fmt: skip
                    runs[srv.name].append(drive(srv, args.n, s, r, args.size, args.timeout))
            for name, rs in runs.items():
                results[name][(s, r)] = e2e.median_run(rs)
    return results


def print_table(args, results, cmd):
    fmt, ratio = e2e.fmt, e2e.ratio
    names = [n for n in ("tern", "postfix") if n in results]
    print("relay throughput, smtp-source -> relay -> smtp-sink: %d messages of %d bytes"
          " per run, %d cores" % (args.n, args.size, os.cpu_count()))  # fmt: skip
    print("command: " + cmd)
    print("load average (1 min): %s; instances on %s" % (args.load, args.fs))
    if max(args.loads) > (os.cpu_count() or 1):
        print("WARNING: the load average exceeded the core count: the machine was busy,"
              " absolute figures are low and noisy (ratios less so)")  # fmt: skip
    head = "%-40s" % "" + "".join("%12s" % n for n in names)
    if len(names) == 2:
        head += "%14s" % "tern/postfix"
    print(head)
    for s in args.sessions:
        for r in args.rcpts:
            point = "%d session%s, %d rcpt" % (s, "" if s == 1 else "s", r)
            rows = [("relayed msgs/s, " + point, "delivered", 0),
                    ("  accepted msgs/s", "accepted", 0),
                    ("  instance CPU ms per message", "cpu_ms", 2),
                    ("  sink connections per 100 msgs", "conns", 1),
                    ("  machine cpu system %", "sys", 0)]  # fmt: skip
            for label, key, digits in rows:
                if key == "sys":
                    vals = [results[n][(s, r)]["cpu"]["sys"] for n in names]
                else:
                    vals = [results[n][(s, r)][key] for n in names]
                line = "%-40s" % label + "".join("%12s" % fmt(v, digits) for v in vals)
                if len(names) == 2:
                    line += "%14s" % fmt(ratio(vals[0], vals[1]), 2)
                print(line)
    print("instance CPU ms per message by program:")
    for s in args.sessions:
        for r in args.rcpts:
            for n in names:
                by = results[n][(s, r)]["by_prog"]
                top = sorted((k for k in by if by[k] >= 0.005), key=lambda k: -by[k])
                print("  %-8s %2d sess %2d rcpt: %s" % (n, s, r, ", ".join(
                    "%s %.2f" % (k, by[k]) for k in top)))  # fmt: skip
    if len(names) == 2:
        print("issue 4 targets (relayed msgs/s):")
        t, p = results["tern"], results["postfix"]
        for s, bound in ((20, 1.5), (1, 1.0)):
            if s not in args.sessions:
                continue
            for r in args.rcpts:
                q = ratio(t[(s, r)]["delivered"], p[(s, r)]["delivered"])
                ok = q is not None and q >= bound
                print("  %-44s %6s  %s" % ("%d session%s, %d rcpt >= %.1fx Postfix"
                      % (s, "" if s == 1 else "s", r, bound), fmt(q, 2),
                      "met" if ok else "NOT met"))  # fmt: skip


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(e2e.SRC, "build", "bench"),
                    help="tern build directory (default build/bench)")  # fmt: skip
    ap.add_argument("-n", type=int, default=2000, help="messages per run (2000)")
    ap.add_argument("--size", type=int, default=4096, help="message size, bytes (4096)")
    ap.add_argument("--sessions", default="1,20", help="comma-separated session counts")
    ap.add_argument("--rcpts", default="1,10", help="comma-separated recipients per message")
    ap.add_argument("--repeat", type=int, default=1, help="runs per point, median kept")
    ap.add_argument("--port-base", type=int, default=33000,
                    help="tern port base: smtp on N+25 (33000)")  # fmt: skip
    ap.add_argument("--postfix-port", type=int, default=34525, help="Postfix smtp port")
    ap.add_argument("--sink-port", type=int, default=34600,
                    help="tern's sink port; Postfix's is the next one (34600)")  # fmt: skip
    ap.add_argument("--timeout", type=int, default=300, help="limit for every wait, s")
    ap.add_argument("--no-postfix", action="store_true", help="measure tern only")
    ap.add_argument("--no-tern", action="store_true", help="measure Postfix only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--tmpdir", default=None,
                    help="where the instances live (default $TMPDIR or /tmp); pick a real disk")  # fmt: skip
    args = ap.parse_args()
    args.sessions = [int(x) for x in args.sessions.split(",")]
    args.rcpts = [int(x) for x in args.rcpts.split(",")]
    return args


def main():
    args = parse_args()
    cmd = " ".join([os.path.relpath(sys.argv[0], e2e.SRC)] + sys.argv[1:])
    e2e.install_postfix()  # smtp-source and smtp-sink ship in it
    for prog in (e2e.SMTP_SOURCE, SMTP_SINK):
        if not os.access(prog, os.X_OK):
            raise BenchError("%s is missing (Debian package postfix)" % prog)
    base = tempfile.mkdtemp(prefix="tern-relay.", dir=args.tmpdir)
    args.fs = e2e.fs_type(base)
    if args.fs.split()[0] in ("tmpfs", "ramfs"):
        log("warning: %s is on %s, where fsync costs nothing" % (base, args.fs))
    os.chmod(base, 0o755)
    running = []

    def on_signal(signum, _frame):
        raise BenchError("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        if not args.no_tern:
            t = TernRelay(base, args.build, args.port_base, args.sink_port)
            missing = t.available()
            if missing:
                raise BenchError("tern build %s lacks %s" % (args.build, ", ".join(missing)))
            e2e.check_ports([t.port])
            running.append(t)
        if not args.no_postfix:
            p = PostfixRelay(base, args.postfix_port, args.sink_port + 1)
            e2e.check_ports([p.port])
            running.append(p)
        results = e2e.with_load(args, bench, running, args)
    finally:
        e2e.teardown(running, base, args.keep)
    print_table(args, results, cmd)


if __name__ == "__main__":
    e2e.run_main(main)
