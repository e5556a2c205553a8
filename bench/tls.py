#!/usr/bin/python3
"""tls.py - tern against Postfix over TLS: handshakes per second on the
smtps port (implicit TLS, 465-style), with and without session resumption,
and messages per second over STARTTLS sessions, in one run on one machine
with the same certificate.

The instances are bench/smtp_e2e.py's (tern init; a private Postfix with
tlsmgr and tern's certificate), plus a wrapper-mode smtpd row in Postfix's
master.cf.  The client is a pool of processes, each running a few threads
(OpenSSL does the handshake outside Python's lock), so that the client is
not what limits; its CPU use is printed next to the servers'.  Results go
to stdout only.  See bench/README.md.

Needs root (the Postfix master runs as root; Debian's postfix package is
installed when missing).
"""

import argparse
import multiprocessing
import os
import resource
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtp_e2e as e2e  # noqa: E402



def message(size):
    """A message of about size bytes: headers, then lines of 76 x's."""
    head = "From: <%s>\r\nTo: <%s>\r\nSubject: tls bench\r\n\r\n" % (e2e.SENDER, e2e.RCPT)
    lines = max(1, (size - len(head)) // 78)
    return (head + ("x" * 76 + "\r\n") * lines).encode()


class TernTLS(e2e.Tern):
    def smtps_port(self):
        return self.port_base + 465


class PostfixTLS(e2e.Postfix):
    def __init__(self, base, port, smtps_port, owner_from):
        super().__init__(base, port, owner_from)
        self.smtps = smtps_port

    def setup(self):
        super().setup()
        with open(os.path.join(self.conf, "master.cf"), "a") as f:
            f.write("127.0.0.1:%d inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n"
                    % self.smtps)  # fmt: skip
        if not os.path.exists(os.path.join(self.tls_from, "cert.pem")):
            raise e2e.BenchError("tern init made no certificate: no TLS to compare")

    def smtps_port(self):
        return self.smtps


# --- the client -----------------------------------------------------------------


def client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # same for both servers; verification is client-side cost
    return ctx


class Conn:
    """Line-level SMTP over a socket (plain or TLS)."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def reply(self):
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if len(line) < 4 or line[3:4] != b"-":
                    return int(line[:3])
            data = self.sock.recv(65536)
            if not data:
                raise OSError("connection closed")
            self.buf += data

    def cmd(self, text, want):
        self.sock.sendall(text)
        code = self.reply()
        if code != want:
            raise OSError("%r: %d" % (text[:20], code))


def one_smtps(port, ctx, session):
    """connect, handshake, EHLO, QUIT; returns (session, resumed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with ctx.wrap_socket(raw, session=session) as t:
            c = Conn(t)
            if c.reply() != 220:
                raise OSError("no greeting")
            c.cmd(b"EHLO client.bench.invalid\r\n", 250)
            c.cmd(b"QUIT\r\n", 221)
            return t.session, t.session_reused


def one_starttls(port, ctx, body, per_session):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        c = Conn(raw)
        if c.reply() != 220:
            raise OSError("no greeting")
        c.cmd(b"EHLO client.bench.invalid\r\n", 250)
        c.cmd(b"STARTTLS\r\n", 220)
        with ctx.wrap_socket(raw) as t:
            c = Conn(t)
            c.cmd(b"EHLO client.bench.invalid\r\n", 250)
            for _ in range(per_session):
                c.cmd(b"MAIL FROM:<%s>\r\n" % e2e.SENDER.encode(), 250)
                c.cmd(b"RCPT TO:<%s>\r\n" % e2e.RCPT.encode(), 250)
                c.cmd(b"DATA\r\n", 354)
                c.cmd(body + b".\r\n", 250)
            c.cmd(b"QUIT\r\n", 221)
    return per_session


def worker(job, out_q, start_at, stop_at):
    """One client process: threads that loop until stop_at; reports counts and CPU."""
    ctx = client_context()
    counts = {"done": 0, "resumed": 0, "errors": 0}
    lock = threading.Lock()
    body = message(job["size"])

    def loop():
        session = None
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < stop_at:
            try:
                if job["kind"] == "smtps":
                    s, reused = one_smtps(job["port"], ctx, session)
                    if job["resume"]:
                        session = s
                    n, r = 1, int(reused)
                else:
                    n, r = one_starttls(job["port"], ctx, body, job["per_session"]), 0
                with lock:
                    counts["done"] += n
                    counts["resumed"] += r
            except (OSError, ssl.SSLError):
                with lock:
                    counts["errors"] += 1
                time.sleep(0.01)

    threads = [threading.Thread(target=loop) for _ in range(job["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    counts["cpu"] = ru.ru_utime + ru.ru_stime
    out_q.put(counts)


def tree_cpu(master):
    """CPU seconds of a server: its live processes plus what master reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in e2e.descendants(master):
        try:
            with open("/proc/%d/stat" % pid) as f:
                v = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in v[11:15])  # utime stime cutime cstime
        except (OSError, ValueError, IndexError):
            pass
    return total / tick


def drive(server, args, kind, resume=False):
    """All clients for args.seconds; returns a result dict."""
    port = server.smtps_port() if kind == "smtps" else server.port
    job = {"kind": kind, "port": port, "resume": resume, "threads": args.threads,
           "size": args.size, "per_session": args.per_session}  # fmt: skip
    q = multiprocessing.Queue()
    start_at = time.time() + 0.5
    stop_at = start_at + args.seconds
    procs = [multiprocessing.Process(target=worker, args=(job, q, start_at, stop_at))
             for _ in range(args.procs)]  # fmt: skip
    for p in procs:
        p.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu0, srv0, t0 = e2e.cpu_times(), tree_cpu(server.master_pid()), time.monotonic()
    res = []
    try:
        for _ in procs:
            res.append(q.get(timeout=args.seconds + 60))
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
    wall = time.monotonic() - t0
    srv = tree_cpu(server.master_pid()) - srv0
    cpu = e2e.cpu_share(cpu0, e2e.cpu_times())
    done = sum(r["done"] for r in res)
    return {
        "rate": done / args.seconds,
        "done": done,
        "resumed": sum(r["resumed"] for r in res),
        "errors": sum(r["errors"] for r in res),
        "client_cores": sum(r["cpu"] for r in res) / wall,
        "server_ms": 1000.0 * srv / done if done else None,
        "busy": 100.0 - cpu["idle"] - cpu["iowait"],
    }


# --- the run ----------------------------------------------------------------------

TESTS = (("smtps", False, "smtps handshakes/s, full"),
         ("smtps", True, "smtps handshakes/s, resumed"),
         ("starttls", False, "STARTTLS msgs/s, full handshake"))  # fmt: skip


def bench(servers, args):
    results = {s.name: {} for s in servers}
    for s in servers:
        e2e.log("%s: setting up in %s" % (s.name, s.dir))
        s.setup()
        s.start()
    for s in servers:  # warm up: start processes, make ticket keys
        args_w = argparse.Namespace(**vars(args))
        args_w.seconds = 2
        drive(s, args_w, "smtps", True)
        drive(s, args_w, "starttls")
    for kind, resume, label in TESTS:
        runs = {s.name: [] for s in servers}
        for r in range(args.repeat):
            for s in servers:
                time.sleep(1)
                e2e.log("%s: %s, run %d" % (s.name, label, r + 1))
                runs[s.name].append(drive(s, args, kind, resume))
        for name, rs in runs.items():
            rs.sort(key=lambda x: x["rate"])
            results[name][label] = rs[len(rs) // 2]
    return results


def fmt(v, digits=0):
    return "-" if v is None else "%.*f" % (digits, v)


def print_table(args, results, cmd):
    names = [n for n in ("tern", "postfix") if n in results]
    print("tern vs Postfix over TLS: %d client processes x %d threads, %d s per run, %d cores"
          % (args.procs, args.threads, args.seconds, os.cpu_count()))  # fmt: skip
    print("command: " + cmd)
    print("load average (1 min): %s" % args.load)
    if max(args.loads) > (os.cpu_count() or 1):
        print("WARNING: the load average exceeded the core count: the machine was busy,"
              " absolute figures are low and noisy (ratios less so)")  # fmt: skip
    head = "%-38s" % "" + "".join("%12s" % n for n in names)
    if len(names) == 2:
        head += "%14s" % "tern/postfix"
    print(head)
    for _, _, label in TESTS:
        rows = [(label, "rate", 0), ("  server CPU ms per handshake/msg", "server_ms", 2),
                ("  client CPU, cores", "client_cores", 2), ("  machine busy %", "busy", 0),
                ("  resumed", "resumed", 0), ("  client errors", "errors", 0)]  # fmt: skip
        for text, key, digits in rows:
            if key == "resumed" and "resumed" not in label:
                continue
            vals = [results[n][label][key] for n in names]
            line = "%-38s" % text + "".join("%12s" % fmt(v, digits) for v in vals)
            if len(names) == 2 and key in ("rate", "server_ms"):
                a, b = vals
                line += "%14s" % (fmt(a / b, 2) if a is not None and b else "-")
            print(line)
    if len(names) == 2:
        print("issue 5 target: tern at least equal to Postfix")
        for _, _, label in TESTS:
            a, b = results["tern"][label]["rate"], results["postfix"][label]["rate"]
            ok = b > 0 and a >= b
            print("  %-44s %6s  %s" % (label, fmt(a / b if b else None, 2), "met" if ok else "NOT met"))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(e2e.SRC, "build", "bench"),
                    help="tern build directory (default build/bench)")  # fmt: skip
    ap.add_argument("--seconds", type=int, default=10, help="length of each run (10)")
    ap.add_argument("--procs", type=int, default=4, help="client processes (4)")
    ap.add_argument("--threads", type=int, default=5, help="threads per client process (5)")
    ap.add_argument("--size", type=int, default=4096, help="message size, bytes (4096)")
    ap.add_argument("--per-session", type=int, default=1,
                    help="messages per STARTTLS session (1)")  # fmt: skip
    ap.add_argument("--repeat", type=int, default=1, help="runs per point, median kept")
    ap.add_argument("--port-base", type=int, default=33000,
                    help="tern port base: smtp N+25, smtps N+465 (33000)")  # fmt: skip
    ap.add_argument("--postfix-port", type=int, default=34525, help="Postfix smtp port")
    ap.add_argument("--postfix-smtps-port", type=int, default=34465, help="Postfix smtps port")
    ap.add_argument("--no-postfix", action="store_true", help="measure tern only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--tmpdir", default=None, help="where the instances live")
    return ap.parse_args()


def main():
    args = parse_args()
    cmd = " ".join([os.path.relpath(sys.argv[0], e2e.SRC)] + sys.argv[1:])
    if not args.no_postfix:
        e2e.install_postfix()
    base = tempfile.mkdtemp(prefix="tern-tlsbench.", dir=args.tmpdir)
    os.chmod(base, 0o755)
    running = []

    def on_signal(signum, _frame):
        raise e2e.BenchError("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        t = TernTLS(base, args.build, args.port_base)
        missing = t.available()
        if missing:
            raise e2e.BenchError("tern build %s lacks %s" % (args.build, ", ".join(missing)))
        e2e.check_ports([t.port, t.smtps_port()])
        running.append(t)
        if not args.no_postfix:
            owner = os.path.join(base, "tern", "mail", e2e.DOMAIN, e2e.USER)
            p = PostfixTLS(base, args.postfix_port, args.postfix_smtps_port, owner)
            e2e.check_ports([p.port, p.smtps])
            running.append(p)
        results = e2e.with_load(args, bench, running, args)
    finally:
        e2e.teardown(running, base, args.keep)
    print_table(args, results, cmd)


if __name__ == "__main__":
    e2e.run_main(main)
