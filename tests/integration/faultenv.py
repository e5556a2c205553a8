"""A whole tern instance for fault-injection tests (tests/test_faults.py).

FaultEnv makes an instance with `tern init` in a temporary directory
(optionally with its queue on a small tmpfs of its own), runs master in
the foreground with `tern start -f` so the test holds master's pid and
sees the daemons' stderr (sanitizer reports), and offers what the fault
tests need: the pids of the daemons master runs, kill -9 of one daemon or
of the whole instance, SMTP submission that records what was
acknowledged, flushing the queue until it is empty, and a strict reading
of the Maildir (each file parsed with Python's email package and checked
to be whole).

Every process is found and killed by pid: the instance's master, its
children, and anything else whose command line names this instance's
configuration directory (daemons orphaned by a kill -9 of master).
"""

import email
import email.policy
import glob
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

from conftest import BUILD, SANITIZER_MARKS, ensure_test_user, is_root, read_text, wait_for

BIN = os.path.join(BUILD, "bin")
LIBEXEC = os.path.join(BUILD, "libexec")
TERN = os.path.join(BIN, "tern")
TERNQUEUE = os.path.join(BIN, "ternqueue")
DOMAIN = "example.test"
USER = "alice@" + DOMAIN
SENDER = "sender@example.org"
DAEMONS = ("smtpd", "cleanup", "qmgr", "local")
QUEUES = ("incoming", "active", "deferred")


def missing_programs():
    """Programs the fault tests need that are not built."""
    need = [TERN, TERNQUEUE] + [os.path.join(LIBEXEC, d) for d in ("master",) + DAEMONS]
    return [p for p in need if not os.path.exists(p)]


def free_base():
    """A port base N with N+25 (and the other listeners) free on 127.0.0.1."""
    for base in range(24000 + (os.getpid() % 40) * 300, 60000, 300):
        try:
            for off in (25, 110, 143, 465, 587, 993, 995):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + off))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port range")


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def proc_ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[1]) if fields[0] != "Z" else -1
    except (OSError, IndexError, ValueError):
        return -1


def kill9(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def body_line(token, i):
    return f"line {i:03d} of {token} " + "x" * 50


def make_message(token, body_lines=40):
    """A message whose every part names token, ending in an END line."""
    lines = [body_line(token, i) for i in range(body_lines)]
    return (f"From: <{SENDER}>\r\nTo: <{USER}>\r\nSubject: {token}\r\n"
            f"Message-ID: <{token}@faults.test>\r\n\r\n" + "\r\n".join(lines)
            + f"\r\nEND {token}\r\n")


def body_whole(token, body):
    """True if body is exactly what make_message() wrote (LF line ends)."""
    lines = body.decode(errors="replace").split("\n")
    if len(lines) < 3 or lines[-1] != "" or lines[-2] != f"END {token}":
        return False
    return all(line == body_line(token, i) for i, line in enumerate(lines[:-2]))


class Delivered:
    """What the Maildir holds: token -> count, and files that are not whole."""

    def __init__(self, counts, bad, ids):
        self.counts = counts
        self.bad = bad
        self.ids = ids  # token -> queue IDs from its Received headers

    def duplicates(self):
        return {t: n for t, n in self.counts.items() if n > 1}


class FaultEnv:
    def __init__(self, queue_tmpfs=None, mail_tmpfs=None, extra_main=""):
        self.top = tempfile.mkdtemp(prefix="tern-fault-")
        os.chmod(self.top, 0o755)
        self.dir = os.path.join(self.top, "i")
        self.base = free_base()
        self.port = self.base + 25
        self.queue = os.path.join(self.dir, "queue")
        self.log = os.path.join(self.dir, "log", "tern.log")
        self.out = os.path.join(self.top, "master.out")
        self.maildir = os.path.join(self.dir, "mail", DOMAIN, "alice")
        self.proc = None
        self.mounted = []
        args = [TERN, "init", self.dir, "--port-base", str(self.base), "--domain", DOMAIN,
                "--user", USER + ":Secret-1"]
        if is_root():
            args += ["--mail-owner", ensure_test_user().pw_name]
        res = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        with open(os.path.join(self.dir, "main.cf"), "a") as f:
            f.write("service_throttle_time = 1s\n" + extra_main)
        try:
            if queue_tmpfs:
                self.on_tmpfs(self.queue, queue_tmpfs)
            if mail_tmpfs:
                self.on_tmpfs(os.path.join(self.dir, "mail"), mail_tmpfs)
        except BaseException:
            self.cleanup()
            raise

    # ---- a directory on a tmpfs of its own ------------------------------

    def on_tmpfs(self, path, size):
        """Move the directory `tern init` made at path onto a fresh tmpfs of
        size bytes (same owner and mode, contents copied with cp -a)."""
        st = os.stat(path)
        orig = path + ".orig"
        os.rename(path, orig)
        os.mkdir(path)
        opts = f"size={size},mode={st.st_mode & 0o7777:o},uid={st.st_uid},gid={st.st_gid}"
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path],
                       check=True, timeout=30)
        self.mounted.append(path)
        subprocess.run(["cp", "-a", orig + "/.", path + "/"], check=True, timeout=30)
        shutil.rmtree(orig)

    @staticmethod
    def fill_fs(path):
        """Write path until its file system says ENOSPC; returns path."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for size in (65536, 4096, 1):  # then whatever partial page is left
                chunk = b"\0" * size
                try:
                    while True:
                        os.write(fd, chunk)
                except OSError:
                    pass
        finally:
            os.close(fd)
        return path

    @staticmethod
    def fs_free(path):
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize

    def fill_queue_fs(self):
        return self.fill_fs(os.path.join(self.queue, "filler"))

    def queue_fs_free(self):
        return self.fs_free(self.queue)

    # ---- processes ------------------------------------------------------

    def start(self):
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen([TERN, "-c", self.dir, "start", "-f"],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        assert wait_for(lambda: self.port_open() or self.proc.poll() is not None, 30), \
            "smtp port did not open:\n" + self.tail()
        assert self.proc.poll() is None, "master exited:\n" + self.output() + self.tail()
        return self

    def master_pid(self):
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def port_open(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def daemons(self, names=DAEMONS):
        """{pid: name} of master's live children running one of names."""
        mpid = self.master_pid()
        if mpid is None:
            return {}
        found = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and proc_ppid(int(entry)) == mpid:
                comm = proc_comm(int(entry))
                if comm in names:
                    found[int(entry)] = comm
        return found

    def instance_pids(self):
        """Every live process whose command line is `PROG -c <our dir> ...`."""
        want = f"\0-c\0{self.dir}\0".encode()
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if want in cmd + b"\0" and proc_ppid(int(entry)) != -1:
                pids.append(int(entry))
        return pids

    def crash(self):
        """kill -9 master, then every process of the instance, by pid."""
        kids = self.instance_pids()
        mpid = self.master_pid()
        if mpid is not None:
            kill9(mpid)
            self.proc.wait(10)
        for pid in kids:
            kill9(pid)
        assert wait_for(lambda: not self.instance_pids(), 10), \
            f"instance processes survive kill -9: {self.instance_pids()}"
        self.proc = None

    def stop(self):
        """SIGTERM master and wait; then kill -9 whatever of ours remains."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                kill9(self.proc.pid)
                self.proc.wait(10)
        self.proc = None
        for _ in range(3):
            left = self.instance_pids()
            if not left:
                break
            time.sleep(0.5)
            for pid in self.instance_pids():
                kill9(pid)

    def cleanup(self):
        self.stop()
        for path in self.mounted:
            if subprocess.run(["umount", path], capture_output=True,
                              timeout=30).returncode != 0:
                subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)
        self.mounted = []
        shutil.rmtree(self.top, ignore_errors=True)

    # ---- logs -----------------------------------------------------------

    def log_text(self):
        return read_text(self.log)

    def output(self):
        return read_text(self.out)

    def tail(self, n=4000):
        return self.log_text()[-n:]

    def sanitizer_report(self):
        text = self.output() + self.log_text()
        return [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKS)]

    # ---- SMTP -----------------------------------------------------------

    def send(self, token, timeout=60):
        """Send one message; True when the server answered 250 to its content."""
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=timeout) as s:
                s.sendmail(SENDER, [USER], make_message(token).encode())
                try:
                    s.quit()
                except (smtplib.SMTPException, OSError):
                    pass  # the message was acknowledged already
            return True
        except (smtplib.SMTPException, OSError):
            return False

    # ---- queue ----------------------------------------------------------

    def queue_files(self, queues=QUEUES):
        """Queue files (relative paths) in the given queue directories."""
        found = []
        for q in queues:
            for root, _dirs, files in os.walk(os.path.join(self.queue, q)):
                found += [os.path.relpath(os.path.join(root, f), self.queue) for f in files]
        return sorted(found)

    def pending(self):
        """Queue files qmgr should deliver: all but incoming files not yet
        marked complete (a writer killed mid-message leaves those; qmgr
        leaves them alone for QMGR_RECOVER_AGE, 600 s)."""
        inc = set(self.incomplete())
        return [f for f in self.queue_files() if f not in inc]

    def incomplete(self):
        """incoming/ files without the owner-execute "complete" bit."""
        out = []
        for f in self.queue_files(("incoming",)):
            try:
                if not os.stat(os.path.join(self.queue, f)).st_mode & 0o100:
                    out.append(f)
            except FileNotFoundError:
                pass
        return out

    def flush(self):
        return subprocess.run([TERNQUEUE, "-c", self.dir, "-f"], capture_output=True,
                              text=True, timeout=60)

    def drain(self, timeout=240, every=3.0):
        """Flush until nothing is pending (see pending()); the files left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pending():
                return []
            self.flush()
            wait_for(lambda: not self.pending(), every, 0.2)
        return self.pending()

    # ---- Maildir --------------------------------------------------------

    def maildir_files(self):
        return sorted(glob.glob(os.path.join(self.maildir, "new", "*"))
                      + glob.glob(os.path.join(self.maildir, "cur", "*")))

    def delivered(self):
        """Read every delivered message; each must be whole."""
        counts, bad, ids = {}, [], {}
        for path in self.maildir_files():
            with open(path, "rb") as f:
                raw = f.read()
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            token = str(msg.get("Subject", "")).strip()
            body = msg.get_payload(decode=True) or b""
            whole = (token != "" and not msg.defects
                     and str(msg.get("Message-ID", "")).strip() == f"<{token}@faults.test>"
                     and body_whole(token, body))
            if not whole:
                bad.append((os.path.basename(path), raw[-200:]))
            counts[token] = counts.get(token, 0) + 1
            for rcvd in msg.get_all("Received", []):
                m = re.search(r"\bid ([0-9A-Za-z]+)", str(rcvd))
                if m:
                    ids.setdefault(token, set()).add(m.group(1))
        return Delivered(counts, bad, ids)
