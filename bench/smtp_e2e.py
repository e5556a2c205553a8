#!/usr/bin/python3
"""smtp_e2e.py - tern against Postfix: SMTP accept rate, end-to-end Maildir
delivery rate and memory per idle SMTP session, in one run on one machine.

Each server gets the machine to itself in turn (tern first, then Postfix),
configured the same way: loopback listener, one virtual Maildir user
bench@example.test, default durability (queue file fsynced before the 250
reply, Maildir file fsynced before it appears in new/).  Messages are driven
with Postfix's smtp-source (new connection per message).  Results go to
stdout only.  See bench/README.md.

Needs root for the Postfix instance (its master runs as root) and to install
Debian's postfix package when it is missing; with --no-postfix it measures
tern alone and needs /usr/sbin/smtp-source only.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SMTP_SOURCE = "/usr/sbin/smtp-source"
POSTFIX = "/usr/sbin/postfix"
DOMAIN = "example.test"
USER = "bench"
RCPT = USER + "@" + DOMAIN
SENDER = "sender@bench.invalid"
POLL = 0.02  # seconds between Maildir counts


class BenchError(Exception):
    pass


def log(text):
    print("bench: " + text, file=sys.stderr, flush=True)


def run(argv, timeout, env=None, check=True):
    """Run a command with a time limit; its output comes back as text."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise BenchError("%s: no exit within %d s" % (" ".join(argv), timeout))
    if check and p.returncode != 0:
        raise BenchError(
            "%s: exit %d: %s" % (" ".join(argv), p.returncode, (p.stderr + p.stdout).strip())
        )
    return p


# --- Postfix package -------------------------------------------------------


def port_listening(port):
    out = run(["ss", "-ltnH"], 10).stdout
    return any(re.search(r":%d\s" % port, line + " ") for line in out.splitlines())


def install_postfix():
    """Debian's postfix with "No configuration": no system instance, no main.cf."""
    if os.path.exists(POSTFIX) and os.path.exists(SMTP_SOURCE):
        return False
    if os.geteuid() != 0:
        raise BenchError("postfix is not installed and installing it needs root")
    log("installing Debian's postfix package (No configuration)")
    sel = "postfix postfix/main_mailer_type select No configuration\n"
    p = subprocess.run(["debconf-set-selections"], input=sel, text=True, timeout=60)
    if p.returncode != 0:
        raise BenchError("debconf-set-selections failed")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postfix"]
    if run(argv, 900, env=env, check=False).returncode != 0:
        run(["apt-get", "update", "-q"], 600, env=env)
        run(argv, 900, env=env)
    if port_listening(25):
        # A system instance came up anyway: we installed it, so we stop it.
        log("a system postfix listens on port 25 after the install: stopping it")
        run([POSTFIX, "stop"], 60, check=False)
        time.sleep(1)
        if port_listening(25):
            raise BenchError("something still listens on port 25 after `postfix stop`")
    return True


# --- /proc helpers ----------------------------------------------------------


def read_pidfile(path):
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return 0


def proc_mem(pid):
    """(rss_kib, pss_kib) from /proc/PID/smaps_rollup, or None if gone."""
    rss = pss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        return None
    return rss, pss


def all_ppids():
    ppid = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            ppid[int(name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError):
            pass
    return ppid


def descendants(root):
    ppid = all_ppids()
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in ppid.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def mem_snapshot(pids):
    snap = {}
    for pid in pids:
        m = proc_mem(pid)
        if m is not None:
            snap[pid] = m
    return snap


def server_socket_inodes(server_port, client_ports):
    """Inodes of the server ends of our loopback connections (/proc/net/tcp)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            lport = int(fields[1].split(":")[1], 16)
            rport = int(fields[2].split(":")[1], 16)
            if lport == server_port and rport in client_ports:
                inodes.add(fields[9])
    return inodes


def pids_holding(inodes, candidates):
    want = {"socket:[%s]" % i for i in inodes}
    found = set()
    for pid in candidates:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) in want:
                    found.add(pid)
                    break
            except OSError:
                pass
    return found


# --- SMTP clients -----------------------------------------------------------


def smtp_reply(sock, deadline):
    """Read one (multi-line) SMTP reply; returns its code."""
    buf = b""
    while True:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            raise BenchError("connection closed while waiting for a reply")
        buf += chunk
        lines = buf.split(b"\r\n")
        for line in lines[:-1]:
            if len(line) >= 4 and line[3:4] == b" ":
                return int(line[:3])
        if time.monotonic() > deadline:
            raise BenchError("no SMTP reply in time")


def wait_smtp(port, timeout):
    """Wait until the listener greets with 220."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if smtp_reply(s, time.monotonic() + 5) == 220:
                    s.sendall(b"QUIT\r\n")
                    return
        except (OSError, BenchError):
            time.sleep(0.2)
    raise BenchError("no SMTP greeting on 127.0.0.1:%d within %d s" % (port, timeout))


def open_idle_sessions(port, count, timeout):
    """count connections that have been greeted and have sent EHLO."""
    socks = []
    deadline = time.monotonic() + timeout
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
            if smtp_reply(s, deadline) != 220:
                raise BenchError("no 220 greeting")
            s.sendall(b"EHLO client.bench.invalid\r\n")
            if smtp_reply(s, deadline) != 250:
                raise BenchError("EHLO refused")
    except (OSError, BenchError):
        close_sessions(socks)
        raise
    return socks


def close_sessions(socks):
    for s in socks:
        try:
            s.sendall(b"QUIT\r\n")
        except OSError:
            pass
        s.close()


# --- measurements -----------------------------------------------------------


def maildir_count(path):
    try:
        return sum(1 for _ in os.scandir(path))
    except FileNotFoundError:
        return 0


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return {"user": v[0] + v[1], "sys": v[2] + v[5] + v[6], "idle": v[3], "iowait": v[4]}


def cpu_share(before, after):
    d = {k: after[k] - before[k] for k in before}
    total = sum(d.values()) or 1
    return {k: 100.0 * d[k] / total for k in d}


def measure_idle_memory(server, k, timeout):
    """Per idle session: (rss_kib, pss_kib, serving processes, whole-instance pss_kib)."""
    master = server.master_pid()
    before = mem_snapshot(descendants(master))
    socks = open_idle_sessions(server.port, k, timeout)
    try:
        time.sleep(0.5)
        tree = descendants(master)
        clients = {s.getsockname()[1] for s in socks}
        serving = pids_holding(server_socket_inodes(server.port, clients), tree)
        serving.discard(master)
        after = mem_snapshot(tree)
        rss = sum(after[p][0] - before.get(p, (0, 0))[0] for p in serving if p in after)
        pss = sum(after[p][1] - before.get(p, (0, 0))[1] for p in serving if p in after)
        whole = sum(m[1] for m in after.values()) - sum(m[1] for m in before.values())
    finally:
        close_sessions(socks)
    return rss / k, pss / k, len(serving), whole / k


def drive(server, n, sessions, size, timeout):
    """One smtp-source run; returns accepted/s, delivered/s and CPU split."""
    start_count = maildir_count(server.maildir_new)
    cpu0 = cpu_times()
    argv = [SMTP_SOURCE, "-m", str(n), "-s", str(sessions), "-l", str(size),
            "-f", SENDER, "-t", RCPT, "-M", "client.bench.invalid",
            "127.0.0.1:%d" % server.port]  # fmt: skip
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError("smtp-source did not finish within %d s" % timeout)
    accept_s = time.monotonic() - t0
    if p.returncode != 0 or p.stderr.strip():
        log("%s: smtp-source exit %d: %s" % (server.name, p.returncode, p.stderr.strip()[:500]))
    want = start_count + n
    deadline = t0 + timeout
    got = maildir_count(server.maildir_new)
    while got < want and time.monotonic() < deadline:
        time.sleep(POLL)
        got = maildir_count(server.maildir_new)
    deliver_s = time.monotonic() - t0
    cpu = cpu_share(cpu0, cpu_times())
    delivered = got - start_count
    if delivered < n:
        log("%s: only %d of %d delivered within %d s" % (server.name, delivered, n, timeout))
    return {
        "accepted": n / accept_s if p.returncode == 0 else None,
        "delivered": delivered / deliver_s if delivered >= n else None,
        "delivered_count": delivered,
        "cpu": cpu,
    }


# --- servers ------------------------------------------------------------------


class Tern:
    name = "tern"
    daemons = ("master", "smtpd", "cleanup", "qmgr", "local")  # what the bench needs built

    def __init__(self, base, build, port_base):
        self.build = os.path.abspath(build)
        self.dir = os.path.join(base, "tern")
        self.port = port_base + 25
        self.port_base = port_base
        self.tern = os.path.join(self.build, "bin", "tern")
        self.maildir_new = os.path.join(self.dir, "mail", DOMAIN, USER, "new")
        self.started = False

    def available(self):
        libexec = os.path.join(self.build, "libexec")
        missing = [d for d in self.daemons
                   if not os.access(os.path.join(libexec, d), os.X_OK)]  # fmt: skip
        if not os.access(self.tern, os.X_OK):
            missing.insert(0, "bin/tern")
        return missing

    def setup(self):
        run([self.tern, "init", self.dir, "--port-base", str(self.port_base),
             "--domain", DOMAIN, "--user", RCPT + ":benchpw"], 60)  # fmt: skip

    def start(self):
        self.started = True  # stop() is harmless if start failed
        run([self.tern, "-c", self.dir, "start"], 30)
        self.wait_ready()

    def wait_ready(self):
        wait_smtp(self.port, 20)

    def stop(self):
        if self.started:
            run([self.tern, "-c", self.dir, "stop"], 60, check=False)
            self.started = False

    def master_pid(self):
        pid = read_pidfile(os.path.join(self.dir, "queue", "pid", "master.pid"))
        if pid == 0:
            raise BenchError("tern master is not running")
        return pid


POSTFIX_SERVICES = """\
# service  type  private unpriv chroot wakeup maxproc command
{listen}  inet  n  -  n  -  -  smtpd
pickup     unix  n  -  n  60  1  pickup
cleanup    unix  n  -  n  -   0  cleanup
qmgr       unix  n  -  n  300 1  qmgr
rewrite    unix  -  -  n  -   -  trivial-rewrite
bounce     unix  -  -  n  -   0  bounce
defer      unix  -  -  n  -   0  bounce
trace      unix  -  -  n  -   0  bounce
verify     unix  -  -  n  -   1  verify
flush      unix  n  -  n  1000? 0 flush
proxymap   unix  -  -  n  -   -  proxymap
proxywrite unix  -  -  n  -   1  proxymap
smtp       unix  -  -  n  -   -  smtp
relay      unix  -  -  n  -   -  smtp
showq      unix  n  -  n  -   -  showq
error      unix  -  -  n  -   -  error
retry      unix  -  -  n  -   -  error
discard    unix  -  -  n  -   -  discard
local      unix  -  n  n  -   -  local
virtual    unix  -  n  n  -   -  virtual
lmtp       unix  -  -  n  -   -  lmtp
anvil      unix  -  -  n  -   1  anvil
scache     unix  -  -  n  -   1  scache
tlsmgr     unix  -  -  n  1000? 1  tlsmgr
postlog    unix-dgram n - n - 1  postlogd
"""


class Postfix:
    name = "postfix"

    def __init__(self, base, port, owner_from):
        self.dir = os.path.join(base, "postfix")
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.mail = os.path.join(self.dir, "mail")
        self.logdir = os.path.join(self.dir, "log")
        self.port = port
        self.owner_from = owner_from  # tern's Maildir: use the same owner
        self.tls_from = os.path.join(base, "tern", "tls")  # and its certificate
        self.uid = self.gid = 65534
        self.maildir_new = os.path.join(self.mail, DOMAIN, USER, "new")
        self.started = False

    def base_cf(self, script):
        """The main.cf lines every bench's private Postfix shares."""
        return [
            "# private Postfix instance for tern's bench/" + script,
            "compatibility_level = 3.6",
            "config_directory = " + self.conf,
            "queue_directory = " + self.queue,
            "data_directory = " + self.data,
            "mail_owner = postfix",
            "setgid_group = postdrop",
            "myhostname = postfix-bench.localdomain",
            "mydomain = localdomain",
            "mydestination = localhost",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "mynetworks = 127.0.0.0/8",
            "alias_maps =",
            "alias_database =",
            "biff = no",
            "maillog_file = " + os.path.join(self.logdir, "maillog"),
            "maillog_file_prefixes = " + self.dir,
        ]  # fmt: skip

    def main_cf(self):
        return "\n".join(self.base_cf("smtp_e2e.py") + [
            "virtual_mailbox_domains = " + DOMAIN,
            "virtual_mailbox_base = " + self.mail,
            "virtual_mailbox_maps = texthash:" + os.path.join(self.conf, "vmailbox"),
            "virtual_uid_maps = static:%d" % self.uid,
            "virtual_gid_maps = static:%d" % self.gid,
        ] + self.tls_cf() + [""])  # fmt: skip

    def tls_cf(self):
        """STARTTLS with tern's certificate when tern made one (tern init
        turns STARTTLS on): both servers then set up TLS per session alike."""
        cert = os.path.join(self.tls_from, "cert.pem")
        key = os.path.join(self.tls_from, "key.pem")
        if not (os.path.exists(cert) and os.path.exists(key)):
            return []
        return ["smtpd_tls_cert_file = " + cert, "smtpd_tls_key_file = " + key,
                "smtpd_tls_security_level = may"]  # fmt: skip

    def setup(self):
        if os.path.isdir(self.owner_from):
            st = os.stat(self.owner_from)
            self.uid, self.gid = st.st_uid, st.st_gid
        for d in (self.conf, self.queue, self.logdir):
            os.makedirs(d, 0o755)
        os.makedirs(self.data, 0o700)
        shutil.chown(self.data, "postfix", "postfix")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.mail, DOMAIN, USER, sub), 0o700)
        for root, _, _ in os.walk(self.mail):
            os.chown(root, self.uid, self.gid)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(self.main_cf())
        listen = "127.0.0.1:%d" % self.port
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(POSTFIX_SERVICES.format(listen=listen))
        with open(os.path.join(self.conf, "vmailbox"), "w") as f:
            f.write("%s %s/%s/\n" % (RCPT, DOMAIN, USER))

    def start(self):
        self.started = True
        run([POSTFIX, "-c", self.conf, "start"], 60)
        wait_smtp(self.port, 20)

    def stop(self):
        if self.started:
            run([POSTFIX, "-c", self.conf, "stop"], 60, check=False)
            self.started = False

    def master_pid(self):
        pid = read_pidfile(os.path.join(self.queue, "pid", "master.pid"))
        if pid == 0:
            raise BenchError("postfix master is not running")
        return pid


# --- the run ------------------------------------------------------------------


def bench_servers(servers, args):
    """Fresh instances first give the idle-session memory; then the load
    runs alternate between the servers so that both see the same machine."""
    results = {srv.name: {} for srv in servers}
    for srv in servers:
        log("%s: setting up in %s" % (srv.name, srv.dir))
        srv.setup()
        srv.start()
    for srv in servers:
        log("%s: memory of %d idle sessions (after EHLO)" % (srv.name, args.idle))
        results[srv.name]["mem"] = measure_idle_memory(srv, args.idle, args.timeout)
    warm = max(args.sessions)
    for srv in servers:
        log("%s: warm-up, %d messages" % (srv.name, warm * 5))
        drive(srv, warm * 5, warm, args.size, args.timeout)
    for s in args.sessions:
        runs = {srv.name: [] for srv in servers}
        for r in range(args.repeat):
            for srv in servers:
                time.sleep(1)  # let the previous run's queue work settle
                log("%s: %d messages, %d session(s), run %d" % (srv.name, args.n, s, r + 1))
                runs[srv.name].append(drive(srv, args.n, s, args.size, args.timeout))
        for name, rs in runs.items():
            results[name][s] = median_run(rs)
    return results


def median_run(runs):
    """The run with the median delivered rate (a failed run counts as 0)."""
    runs.sort(key=lambda r: r["delivered"] or 0)
    return runs[len(runs) // 2]


def fmt(v, digits=0):
    return "-" if v is None else "%.*f" % (digits, v)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def print_table(args, results, cmd):
    names = [n for n in ("tern", "postfix") if n in results]
    rows = []
    for s in args.sessions:
        for key, label in (("accepted", "accepted msgs/s"), ("delivered", "delivered msgs/s")):
            vals = [results[n][s][key] for n in names]
            rows.append(("%s, %d session%s" % (label, s, "" if s == 1 else "s"), vals, 0))
        vals = [results[n][s]["cpu"]["sys"] for n in names]
        rows.append(("  cpu system %%, %d session%s" % (s, "" if s == 1 else "s"), vals, 0))
        vals = [results[n][s]["cpu"]["iowait"] for n in names]
        rows.append(("  cpu iowait %%, %d session%s" % (s, "" if s == 1 else "s"), vals, 1))
    for idx, label in ((1, "idle session PSS KiB"), (0, "idle session RSS KiB"),
                       (3, "  whole instance PSS KiB/session")):  # fmt: skip
        rows.append((label, [results[n]["mem"][idx] for n in names], 0))
    rows.append(("  processes serving %d sessions" % args.idle,
                 [results[n]["mem"][2] for n in names], 0))  # fmt: skip

    print("tern vs Postfix: %d messages of %d bytes per run, new connection per message,"
          " %d cores" % (args.n, args.size, os.cpu_count()))  # fmt: skip
    print("command: " + cmd)
    print("load average (1 min): %s; instances on %s" % (args.load, args.fs))
    if max(args.loads) > (os.cpu_count() or 1):
        print("WARNING: the load average exceeded the core count: the machine was busy,"
              " absolute figures are low and noisy (ratios less so)")  # fmt: skip
    head = "%-36s" % "" + "".join("%12s" % n for n in names)
    if len(names) == 2:
        head += "%14s" % "tern/postfix"
    print(head)
    for label, vals, digits in rows:
        line = "%-36s" % label + "".join("%12s" % fmt(v, digits) for v in vals)
        if len(names) == 2:
            line += "%14s" % fmt(ratio(vals[0], vals[1]), 2)
        print(line)
    if len(names) == 2:
        print_targets(args, results)


def print_targets(args, results):
    t, p = results["tern"], results["postfix"]
    checks = []
    if 20 in args.sessions:
        checks.append(("delivered/s at 20 sessions >= 1.5x Postfix",
                       ratio(t[20]["delivered"], p[20]["delivered"]), 1.5, True))  # fmt: skip
    if 1 in args.sessions:
        checks.append(("delivered/s at 1 session >= 1.0x Postfix",
                       ratio(t[1]["delivered"], p[1]["delivered"]), 1.0, True))  # fmt: skip
    checks.append(("idle session PSS <= 0.5x Postfix", ratio(t["mem"][1], p["mem"][1]), 0.5, False))
    print("issue 3 targets:")
    for label, r, bound, at_least in checks:
        ok = r is not None and (r >= bound if at_least else r <= bound)
        print("  %-44s %6s  %s" % (label, fmt(r, 2), "met" if ok else "NOT met"))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build", "bench"),
                    help="tern build directory (default build/bench)")  # fmt: skip
    ap.add_argument("-n", type=int, default=2000, help="messages per run (2000)")
    ap.add_argument("--size", type=int, default=4096, help="message size, bytes (4096)")
    ap.add_argument("--sessions", default="1,20", help="comma-separated session counts")
    ap.add_argument("--idle", type=int, default=20, help="idle sessions for memory (20)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per point, median kept")
    ap.add_argument("--port-base", type=int, default=31000,
                    help="tern port base: smtp on N+25 (31000)")  # fmt: skip
    ap.add_argument("--postfix-port", type=int, default=32525, help="Postfix smtp port")
    ap.add_argument("--timeout", type=int, default=300, help="limit for every wait, s")
    ap.add_argument("--no-postfix", action="store_true", help="measure tern only")
    ap.add_argument("--no-tern", action="store_true", help="measure Postfix only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--tmpdir", default=None,
                    help="where the instances live (default $TMPDIR or /tmp); pick a real disk")  # fmt: skip
    args = ap.parse_args()
    args.sessions = [int(x) for x in args.sessions.split(",")]
    return args


def fs_type(path):
    """The file system type of path, from /proc/self/mounts (longest mount prefix)."""
    best, kind = "", "?"
    real = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, typ = line.split()[:3]
            mnt = mnt.replace("\\040", " ")
            if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, "%s on %s (%s)" % (typ, mnt, dev)
    return kind


def check_ports(ports):
    for port in ports:
        if port_listening(port):
            raise BenchError("port %d is in use on this machine" % port)


def with_load(args, fn, *fargs):
    """fn(*fargs), with the load average before and after kept in args
    (args.load for the table's heading, args.loads for the warning)."""
    load0 = os.getloadavg()
    result = fn(*fargs)
    load1 = os.getloadavg()
    args.load = "%.1f at start, %.1f at end" % (load0[0], load1[0])
    args.loads = (load0[0], load1[0])
    return result


def teardown(running, base, keep):
    """Stop every server started, then remove (or keep) the bench directory."""
    for s in running:
        s.stop()
    if keep:
        log("kept " + base)
    else:
        shutil.rmtree(base, ignore_errors=True)


def run_main(main_fn):
    """A bench script's entry: a BenchError or Ctrl-C is one line and exit 1."""
    try:
        main_fn()
    except (BenchError, KeyboardInterrupt) as e:
        log("error: %s" % (e or "interrupted"))
        sys.exit(1)


def main():
    args = parse_args()
    cmd = " ".join([os.path.relpath(sys.argv[0], SRC)] + sys.argv[1:])
    servers = []
    if not args.no_tern:
        servers.append("tern")
    if not args.no_postfix:
        servers.append("postfix")
    install_postfix()  # smtp-source, the driver, ships in it too
    if not os.access(SMTP_SOURCE, os.X_OK):
        raise BenchError("%s is missing (Debian package postfix)" % SMTP_SOURCE)
    base = tempfile.mkdtemp(prefix="tern-bench.", dir=args.tmpdir)
    args.fs = fs_type(base)
    if args.fs.split()[0] in ("tmpfs", "ramfs"):
        log("warning: %s is on %s, where fsync costs nothing" % (base, args.fs))
    os.chmod(base, 0o755)  # the unprivileged daemons walk through it
    running = []

    def on_signal(signum, _frame):
        raise BenchError("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        if "tern" in servers:
            t = Tern(base, args.build, args.port_base)
            missing = t.available()
            if missing:
                raise BenchError("tern build %s lacks %s" % (args.build, ", ".join(missing)))
            check_ports([t.port])
            running.append(t)
        if "postfix" in servers:
            p = Postfix(base, args.postfix_port, os.path.join(base, "tern", "mail", DOMAIN, USER))
            check_ports([p.port])
            running.append(p)
        results = with_load(args, bench_servers, running, args)
    finally:
        teardown(running, base, args.keep)
    print_table(args, results, cmd)


if __name__ == "__main__":
    run_main(main)
