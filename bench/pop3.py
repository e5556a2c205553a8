#!/usr/bin/python3
"""pop3.py - tern's pop3d against Debian's Dovecot pop3 over the same
Maildirs, in one run on one machine: one session downloading a mailbox of
2,000 messages, 50 parallel sessions on 50 mailboxes, and memory per session.

Both servers listen on 127.0.0.1 high ports, authenticate from the same
passwd-file (the users file `tern init` writes, in Dovecot's format, with
the same crypt hashes), use the same certificate and serve identical
Maildirs (hard links to one pool of message files, so both read the same
inodes through the same page cache).  Results go to stdout.  See
bench/README.md.

Needs root: Dovecot's master runs as root, and Debian's dovecot-pop3d is
installed with apt-get when /usr/sbin/dovecot is missing.
"""

import argparse
import grp
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtp_e2e as e2e  # noqa: E402
from smtp_e2e import (  # noqa: E402  (bench helpers, shared with the SMTP bench)
    BenchError,
    check_ports,
    descendants,
    fmt,
    fs_type,
    log,
    mem_snapshot,
    ratio,
    read_pidfile,
    run,
    run_main,
    teardown,
    with_load,
)

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOVECOT = "/usr/sbin/dovecot"
DOMAIN = "example.test"
PASSWORD = "benchpw"
BUF = 1 << 18


# --- the client -----------------------------------------------------------------


class Client:
    """A minimal POP3 client: one command at a time, as fetchmail and MUAs
    do (no pipelining), counting the bytes of every multi-line answer."""

    def __init__(self, port, tls, cafile, timeout):
        self.deadline = time.monotonic() + timeout
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context(cafile=cafile)
            ctx.check_hostname = False
            s = ctx.wrap_socket(s)
        self.sock = s
        self.buf = b""
        self.line()

    def recv(self):
        if time.monotonic() > self.deadline:
            raise BenchError("client: time limit reached")
        data = self.sock.recv(BUF)
        if not data:
            raise BenchError("client: connection closed by the server")
        self.buf += data

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2 :]
                if not line.startswith(b"+OK"):
                    raise BenchError("client: %r" % line[:200])
                return line
            self.recv()

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def multi(self, text):
        """Send a command with a multi-line answer; the answer's data bytes."""
        self.sock.sendall(text.encode() + b"\r\n")
        self.line()
        start = 0
        while True:
            if self.buf.startswith(b".\r\n"):
                self.buf = self.buf[3:]
                return 0
            i = self.buf.find(b"\r\n.\r\n", start)
            if i >= 0:
                self.buf = self.buf[i + 5 :]
                return i + 2
            start = max(0, len(self.buf) - 4)
            self.recv()

    def login(self, user):
        self.cmd("USER " + user)
        self.cmd("PASS " + PASSWORD)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def download(port, user, tls, cafile, timeout):
    """login + STAT + UIDL + RETR each + QUIT; (seconds, messages, bytes)."""
    t0 = time.monotonic()
    c = Client(port, tls, cafile, timeout)
    c.login(user)
    count = int(c.cmd("STAT").split()[1])
    total = c.multi("UIDL")
    for n in range(1, count + 1):
        total += c.multi("RETR %d" % n)
    c.cmd("QUIT")
    c.close()
    return time.monotonic() - t0, count, total


def client_main(argv):
    """Child process of the parallel run: wait for "go", download, print JSON."""
    port, user, tls, cafile, timeout = int(argv[0]), argv[1], argv[2] == "1", argv[3], int(argv[4])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if sys.stdin.readline().strip() != "go":
        sys.exit(1)
    secs, count, total = download(port, user, tls, cafile, timeout)
    sys.stdout.write(json.dumps({"secs": secs, "count": count, "bytes": total}) + "\n")


def parallel(port, users, tls, cafile, timeout):
    """Every user at once, each in its own client process; wall time from the
    common start to the last QUIT, messages and bytes in all."""
    procs = []
    try:
        for u in users:
            procs.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--client", str(port), u,
                 "1" if tls else "0", cafile, str(timeout)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))  # fmt: skip
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise BenchError("a client process did not start")
        t0 = time.monotonic()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        out = []
        for p in procs:
            line = p.stdout.readline()
            if p.wait(timeout) != 0 or not line:
                raise BenchError("a client process failed")
            out.append(json.loads(line))
        wall = time.monotonic() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    return wall, sum(o["count"] for o in out), sum(o["bytes"] for o in out)


# --- the Maildirs ------------------------------------------------------------------


def make_pool(pool, n, lo, hi, seed):
    """n message files of lo..hi bytes, LF line ends as local delivery
    writes them, some lines starting with '.' (dot-stuffing is exercised)."""
    rnd = random.Random(seed)
    os.makedirs(pool)
    words = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf", b"hotel",
             b"india", b"juliet", b"kilo", b"lima", b"mike", b".november", b"oscar", b"papa"]
    lines = [b" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 14))) + b"\n"
             for _ in range(997)]  # fmt: skip
    names = []
    for i in range(n):
        size = rnd.randint(lo, hi)
        head = (b"Return-Path: <sender%d@bench.invalid>\nDelivered-To: u@%s\n"
                b"From: sender%d@bench.invalid\nTo: u@%s\nSubject: message %d\n"
                b"Message-ID: <%d.bench@bench.invalid>\n\n"
                % (i, DOMAIN.encode(), i, DOMAIN.encode(), i, i))  # fmt: skip
        body, k = [], rnd.randrange(len(lines))
        total = len(head)
        while total < size:
            body.append(lines[k % len(lines)])
            total += len(body[-1])
            k += 7
        data = head + b"".join(body)
        name = "%d.M%dP%d.bench,S=%d:2,S" % (1700000000 + i, i, os.getpid(), len(data))
        with open(os.path.join(pool, name), "wb") as f:
            f.write(data)
        names.append(name)
    return names


def fill_maildir(md, pool, names, uid, gid):
    """A Maildir with hard links to the pool's files in cur/ (seen, as after
    a first POP3 login; neither server has to rename anything)."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    for name in names:
        os.link(os.path.join(pool, name), os.path.join(md, "cur", name))
    for root, dirs, files in os.walk(md):
        os.chown(root, uid, gid)


# --- the servers ---------------------------------------------------------------------


def users(k):
    return ["u%02d@%s" % (i, DOMAIN) for i in range(1, k + 1)]


class Tern(e2e.Tern):
    daemons = ("master", "pop3d", "authd")

    def __init__(self, base, build, port_base, nusers):
        super().__init__(base, build, port_base)
        self.port = port_base + 110
        self.tls_port = port_base + 995
        self.nusers = nusers

    def setup(self):
        argv = [self.tern, "init", self.dir, "--port-base", str(self.port_base), "--domain", DOMAIN]
        for u in users(self.nusers):
            argv += ["--user", u + ":" + PASSWORD]
        run(argv, 120)
        self.cert = os.path.join(self.dir, "tls", "cert.pem")
        self.key = os.path.join(self.dir, "tls", "key.pem")
        self.passwd = os.path.join(self.dir, "users")
        st = os.stat(self.maildir(users(1)[0]))
        self.uid, self.gid = st.st_uid, st.st_gid

    def maildir(self, user):
        local, dom = user.split("@")
        return os.path.join(self.dir, "mail", dom, local)

    def wait_ready(self):
        wait_pop3(self.port, 20)

    def session_pids(self, tree, comm):
        """pop3d processes with a session: a session parent (it has children)
        and its login (pop3d-login) and mail processes."""
        pop = {p for p in tree if comm.get(p) in ("pop3d", "pop3d-login")}
        kids = {p for p in pop if ppid_of(p) in pop}
        return kids | {ppid_of(p) for p in kids}


DOVECOT_CONF = """\
# private Dovecot instance for tern's bench/pop3.py
base_dir = {d}/run
state_dir = {d}/state
instance_name = tern-bench-dovecot
log_path = {d}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=CRYPT username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%d/%n
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class Dovecot:
    name = "dovecot"

    def __init__(self, base, port, tls_port, tern):
        self.dir = os.path.join(base, "dovecot")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.mail = os.path.join(self.dir, "mail")
        self.port = port
        self.tls_port = tls_port
        self.tern = tern  # the certificate, users file and Maildir owner come from there
        self.started = False

    def maildir(self, user):
        local, dom = user.split("@")
        return os.path.join(self.mail, dom, local)

    def setup(self):
        t = self.tern
        for sub in ("run", "state", "mail"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.cert = t.cert
        # The same users file, readable by Dovecot's auth process (user dovecot).
        self.passwd = os.path.join(self.dir, "users")
        shutil.copyfile(t.passwd, self.passwd)
        os.chmod(self.passwd, 0o640)
        try:
            os.chown(self.passwd, 0, grp.getgrnam("dovecot").gr_gid)
        except KeyError:
            os.chmod(self.passwd, 0o644)
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(d=self.dir, cert=t.cert, key=t.key, passwd=self.passwd,
                                        uid=t.uid, gid=t.gid, mail=self.mail, port=self.port,
                                        tls_port=self.tls_port))  # fmt: skip
        run([DOVECOT, "-c", self.conf, "-n"], 30)  # the configuration parses

    def start(self):
        self.started = True
        # The daemon keeps whatever stdout/stderr it is given: not our pipes.
        with open(os.path.join(self.dir, "start.out"), "w") as out:
            p = subprocess.run([DOVECOT, "-c", self.conf], stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT, timeout=30)  # fmt: skip
        if p.returncode != 0:
            with open(os.path.join(self.dir, "start.out")) as f:
                raise BenchError("dovecot did not start: " + f.read().strip())
        wait_pop3(self.port, 20)

    def stop(self):
        if not self.started:
            return
        pid = read_pidfile(os.path.join(self.dir, "run", "master.pid"))
        run([DOVECOT, "-c", self.conf, "stop"], 60, check=False)
        deadline = time.monotonic() + 20
        while pid and time.monotonic() < deadline and os.path.exists("/proc/%d" % pid):
            time.sleep(0.1)
        if pid and os.path.exists("/proc/%d" % pid):
            os.kill(pid, signal.SIGKILL)
        self.started = False

    def master_pid(self):
        pid = read_pidfile(os.path.join(self.dir, "run", "master.pid"))
        if pid == 0:
            raise BenchError("dovecot master is not running")
        return pid

    def session_pids(self, tree, comm):
        return {p for p in tree if comm.get(p) in ("pop3", "pop3-login")}


def install_dovecot():
    """Debian's dovecot-pop3d; a system Dovecot the install starts is stopped
    and disabled again (only our private instance may run)."""
    if os.path.exists(DOVECOT) and os.path.exists("/usr/lib/dovecot/pop3"):
        return
    if os.geteuid() != 0:
        raise BenchError("dovecot-pop3d is not installed and installing it needs root")
    log("installing Debian's dovecot-pop3d")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "dovecot-pop3d"]
    if run(argv, 900, env=env, check=False).returncode != 0:
        run(["apt-get", "update", "-q"], 600, env=env)
        run(argv, 900, env=env)
    if shutil.which("systemctl"):
        run(["systemctl", "disable", "--now", "dovecot.service", "dovecot.socket"], 60,
            check=False)  # fmt: skip
    pid = read_pidfile("/run/dovecot/master.pid")
    if pid:
        log("a system dovecot runs after the install (pid %d): stopping it" % pid)
        run([DOVECOT, "stop"], 60, check=False)
        time.sleep(1)
        if read_pidfile("/run/dovecot/master.pid"):
            raise BenchError("the system dovecot is still running after `dovecot stop`")


# --- measuring ---------------------------------------------------------------------


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return int(stat[stat.rindex(")") + 2 :].split()[1])
    except (OSError, ValueError):
        return 0


def comms(pids):
    out = {}
    for p in pids:
        try:
            with open("/proc/%d/comm" % p) as f:
                out[p] = f.read().strip()
        except OSError:
            pass
    return out


def server_cpu(srv):
    """CPU seconds (user + system) the server has used so far: every live
    process under its master (a zombie still shows its own figures) plus
    what their reaped children used (cutime/cstime), and the master's."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in descendants(srv.master_pid()):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tck


def measured(srv, fn, *a):
    """fn's result with the server CPU seconds it cost appended."""
    c0 = server_cpu(srv)
    r = fn(*a)
    time.sleep(0.5)  # the session processes end and are reaped
    return r + (server_cpu(srv) - c0,)


def wait_pop3(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(2)
                if s.recv(100).startswith(b"+OK"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError("nothing answers POP3 on port %d" % port)


def memory(srv, k, tls, timeout):
    """K sessions logged in, after STAT and UIDL, left idle.  Per session:
    the session processes' whole RSS/PSS / K (a tern pop3d process that
    was idle before and now serves a session counts whole: it is that
    session's), and the shared processes' PSS growth / K."""
    master = srv.master_pid()
    before_tree = descendants(master)
    before = mem_snapshot(before_tree)
    clients = []
    try:
        for u in users(k):
            c = Client(srv.tls_port if tls else srv.port, tls, srv.cert, timeout)
            c.login(u)
            c.cmd("STAT")
            c.multi("UIDL")
            clients.append(c)
        time.sleep(1)
        tree = descendants(master)
        now = mem_snapshot(tree)
        comm = comms(tree)
        sess = srv.session_pids(tree, comm)
        shared = set(now) - sess

        def growth(pids, idx):
            return sum(now[p][idx] - (before[p][idx] if p in before else 0)
                       for p in pids if p in now)  # fmt: skip

        return {
            "rss": sum(now[p][0] for p in sess) / k,
            "pss": sum(now[p][1] for p in sess) / k,
            "procs": len(sess) / k,
            "shared_pss": growth(shared, 1) / k,
            "shared": sorted({comm.get(p, "?") for p in shared}),
        }
    finally:
        for c in clients:
            try:
                c.cmd("QUIT")
            except (BenchError, OSError):
                pass
            c.close()


def bench(servers, args):
    res = {s.name: {"single": [], "par": []} for s in servers}
    us = users(args.sessions)
    for srv in servers:
        port = srv.tls_port if args.tls else srv.port
        log("%s: warm-up (first login of every mailbox builds the index)" % srv.name)
        cold = download_stat_only(port, us[0], args.tls, srv.cert, args.timeout)
        for u in us[1:]:
            download_stat_only(port, u, args.tls, srv.cert, args.timeout)
        res[srv.name]["cold_login"] = cold
        res[srv.name]["warm_login"] = download_stat_only(port, us[0], args.tls, srv.cert,
                                                         args.timeout)  # fmt: skip
        download(port, us[0], args.tls, srv.cert, args.timeout)  # page cache, both alike
    for r in range(args.repeat):
        for srv in servers:
            port = srv.tls_port if args.tls else srv.port
            time.sleep(0.5)
            log("%s: one session, run %d" % (srv.name, r + 1))
            res[srv.name]["single"].append(
                measured(srv, download, port, us[0], args.tls, srv.cert, args.timeout))
            time.sleep(0.5)
            log("%s: %d parallel sessions, run %d" % (srv.name, len(us), r + 1))
            res[srv.name]["par"].append(
                measured(srv, parallel, port, us, args.tls, srv.cert, args.timeout))
    for srv in servers:
        log("%s: memory of %d idle logged-in sessions" % (srv.name, args.sessions))
        res[srv.name]["mem"] = memory(srv, args.sessions, args.tls, args.timeout)
    return res


def download_stat_only(port, user, tls, cafile, timeout):
    t0 = time.monotonic()
    c = Client(port, tls, cafile, timeout)
    c.login(user)
    c.cmd("STAT")
    c.multi("UIDL")
    c.cmd("QUIT")
    c.close()
    return time.monotonic() - t0


def median(runs):
    runs = sorted(runs, key=lambda r: r[0])
    return runs[len(runs) // 2]


def print_table(args, res, cmd):
    names = [n for n in ("tern", "dovecot") if n in res]
    rows = []
    single = {n: median(res[n]["single"]) for n in names}
    par = {n: median(res[n]["par"]) for n in names}
    rows.append(("first login+STAT+UIDL, cold, s", [res[n]["cold_login"] for n in names], 3))
    rows.append(("login+STAT+UIDL+QUIT, warm, s", [res[n]["warm_login"] for n in names], 3))
    rows.append(("1 session: login..RETR all..QUIT, s", [single[n][0] for n in names], 3))
    rows.append(("  MB/s", [single[n][2] / single[n][0] / 1e6 for n in names], 1))
    rows.append(("  server CPU s (user+sys)", [single[n][3] for n in names], 2))
    rows.append(("%d sessions in parallel, wall s" % args.sessions, [par[n][0] for n in names], 3))
    rows.append(("  MB/s", [par[n][2] / par[n][0] / 1e6 for n in names], 1))
    rows.append(("  server CPU s (user+sys)", [par[n][3] for n in names], 2))
    for key, label, digits in (("pss", "session PSS KiB", 0), ("rss", "session RSS KiB", 0),
                               ("procs", "  processes per session", 1),
                               ("shared_pss", "  shared processes PSS KiB/session", 0)):  # fmt: skip
        rows.append((label, [res[n]["mem"][key] for n in names], digits))
    print("tern pop3d vs Dovecot pop3: mailbox of %d messages (%d-%d bytes), %s, %d cores"
          % (args.messages, args.min_size, args.max_size,
             "implicit TLS (pop3s)" if args.tls else "plaintext on loopback",
             os.cpu_count()))  # fmt: skip
    print("command: " + cmd)
    print("load average (1 min): %s; Maildirs on %s; median of %d runs; figures warm"
          " (after a first login of every mailbox and one full download)"
          % (args.load, args.fs, args.repeat))  # fmt: skip
    if max(args.loads) > (os.cpu_count() or 1):
        print("WARNING: the load average exceeded the core count: the machine was busy,"
              " absolute figures are low and noisy (ratios less so)")  # fmt: skip
    for n in names:
        print("%s: 1 session got %d messages / %d bytes; parallel %d / %d; shared processes: %s"
              % (n, single[n][1], single[n][2], par[n][1], par[n][2],
                 ", ".join(res[n]["mem"]["shared"])))  # fmt: skip
    if len(names) == 2 and (single["tern"][1:3] != single["dovecot"][1:3]
                            or par["tern"][1:3] != par["dovecot"][1:3]):  # fmt: skip
        print("WARNING: the servers sent different message counts or byte totals")
    head = "%-40s" % "" + "".join("%12s" % n for n in names)
    if len(names) == 2:
        head += "%16s" % "tern/dovecot"
    print(head)
    for label, vals, digits in rows:
        line = "%-40s" % label + "".join("%12s" % fmt(v, digits) for v in vals)
        if len(names) == 2:
            line += "%16s" % fmt(ratio(vals[0], vals[1]), 2)
        print(line)
    if len(names) == 2:
        t, d = single, par
        checks = [
            ("1 session time <= Dovecot's", ratio(t["tern"][0], t["dovecot"][0]), 1.0),
            ("%d sessions wall time <= Dovecot's" % args.sessions,
             ratio(d["tern"][0], d["dovecot"][0]), 1.0),
            ("1 session server CPU <= Dovecot's", ratio(t["tern"][3], t["dovecot"][3]), 1.0),
            ("%d sessions server CPU <= Dovecot's" % args.sessions,
             ratio(d["tern"][3], d["dovecot"][3]), 1.0),
            ("session PSS < Dovecot's", ratio(res["tern"]["mem"]["pss"],
                                              res["dovecot"]["mem"]["pss"]), 1.0),
        ]  # fmt: skip
        print("issue 6 targets:")
        for label, r, bound in checks:
            ok = r is not None and (r <= bound if "<=" in label else r < bound)
            print("  %-40s %6s  %s" % (label, fmt(r, 2), "met" if ok else "NOT met"))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build", "bench"),
                    help="tern build directory (default build/bench)")  # fmt: skip
    ap.add_argument("--messages", type=int, default=2000, help="messages per mailbox (2000)")
    ap.add_argument("--min-size", type=int, default=4096, help="smallest message, bytes")
    ap.add_argument("--max-size", type=int, default=102400, help="largest message, bytes")
    ap.add_argument("--sessions", type=int, default=50, help="parallel sessions/mailboxes (50)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure, median kept (3)")
    ap.add_argument("--tls", action="store_true", help="implicit TLS (pop3s) instead of plain")
    ap.add_argument("--port-base", type=int, default=45000,
                    help="tern port base: pop3 on N+110 (45000)")  # fmt: skip
    ap.add_argument("--dovecot-port", type=int, default=46110,
                    help="Dovecot's pop3 port; pop3s is this + 885")  # fmt: skip
    ap.add_argument("--timeout", type=int, default=600, help="limit for every wait, s")
    ap.add_argument("--no-dovecot", action="store_true", help="measure tern only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--tmpdir", default=None, help="where the instances live ($TMPDIR or /tmp)")
    return ap.parse_args()


def main():
    args = parse_args()
    cmd = " ".join([os.path.relpath(sys.argv[0], SRC)] + sys.argv[1:])
    if os.geteuid() != 0:
        raise BenchError("run as root (Dovecot's master and the Maildir owners need it)")
    if not args.no_dovecot:
        install_dovecot()
    base = tempfile.mkdtemp(prefix="tern-bench-pop3.", dir=args.tmpdir)
    os.chmod(base, 0o755)
    args.fs = fs_type(base)
    running = []

    def on_signal(signum, _frame):
        raise BenchError("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        t = Tern(base, args.build, args.port_base, args.sessions)
        missing = t.available()
        if missing:
            raise BenchError("tern build %s lacks %s" % (args.build, ", ".join(missing)))
        check_ports([args.port_base + p for p in (25, 110, 465, 587, 995)])
        servers = [t]
        if not args.no_dovecot:
            d = Dovecot(base, args.dovecot_port, args.dovecot_port + 885, t)
            check_ports([d.port, d.tls_port])
            servers.append(d)
        log("making %d messages and %d Maildirs per server" % (args.messages, args.sessions))
        t.setup()
        names = make_pool(os.path.join(base, "pool"), args.messages, args.min_size,
                          args.max_size, 6)  # fmt: skip
        for srv in servers:
            if srv is not t:
                srv.setup()
            for u in users(args.sessions):
                fill_maildir(srv.maildir(u), os.path.join(base, "pool"), names, t.uid, t.gid)
        for srv in servers:
            running.append(srv)
            srv.start()
        res = with_load(args, bench, servers, args)
    finally:
        teardown(running, base, args.keep)
    print_table(args, res, cmd)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(sys.argv[2:])
        sys.exit(0)
    run_main(main)
