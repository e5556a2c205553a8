"""Integration tests for the local delivery agent (local/).

A real master runs `local unix - n n - - local`; the tests write queue
files with tests/progs/local_qwrite (lib/qfile.h) into queue/active and
speak lib/deliver.h's attribute records to private/local, as qmgr does.
Deliveries go to virtual Maildirs under the instance, to aliases
(texthash) that expand to addresses, |commands, /files and :include:
lists, and, when run as root, to a system user created for the test.
"""

import os
import pwd
import shutil
import socket
import stat
import subprocess

import pytest

from conftest import BUILD, is_root, wait_for

LOCAL = os.path.join(BUILD, "libexec", "local")
QWRITE = os.path.join(BUILD, "tests", "local_qwrite")
SYS_USER = "tern-local-test"

pytestmark = pytest.mark.skipif(
    not (os.access(LOCAL, os.X_OK) and os.access(QWRITE, os.X_OK)),
    reason="local or local_qwrite not built in " + BUILD)


# ---- the delivery protocol (lib/deliver.h over lib/attr.h) ---------------

def attr_enc(value):
    out = []
    for b in str(value).encode():
        if 0x20 <= b <= 0x7E and b != 0x25:
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def attr_record(pairs):
    return "".join(f"{k}={attr_enc(v)}\n" for k, v in pairs) + "\n"


class Agent:
    """A connection to private/local speaking deliver.h."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.buf = b""

    def read_record(self):
        while b"\n\n" not in self.buf and not self.buf.startswith(b"\n"):
            data = self.sock.recv(4096)
            if not data:
                raise EOFError("agent closed the connection")
            self.buf += data
        rec, self.buf = self.buf.split(b"\n\n", 1)
        out = {}
        for line in rec.decode().split("\n"):
            k, v = line.split("=", 1)
            raw = bytearray()
            i = 0
            while i < len(v):
                if v[i] == "%":
                    raw.append(int(v[i + 1:i + 3], 16))
                    i += 3
                else:
                    raw += v[i].encode()
                    i += 1
            out[k] = raw.decode(errors="replace")
        return out

    def deliver(self, qid, sender, rcpts):
        text = attr_record([("request", "deliver"), ("queue_id", qid),
                            ("queue_file", "active/" + qid), ("sender", sender),
                            ("nexthop", "local"), ("envid", ""), ("ret", ""),
                            ("rcpt_count", len(rcpts))])
        for i, r in enumerate(rcpts):
            text += attr_record([("index", i), ("rcpt", r), ("orig_rcpt", r)])
        self.sock.sendall(text.encode())
        results = [self.read_record() for _ in rcpts]
        for i, res in enumerate(results):
            assert res["index"] == str(i)
        return results

    def close(self):
        self.sock.close()


# ---- the instance --------------------------------------------------------

MESSAGE = ("From: sender@example.org\nTo: someone\nSubject: hello\n\n"
           "Hello there.\nFrom the body, a line to quote.\n")


class Env:
    def __init__(self, inst):
        self.inst = inst
        self.dir = inst.dir
        self.mail = os.path.join(self.dir, "mail")
        self.out = os.path.join(self.dir, "out")
        os.makedirs(self.mail)
        os.makedirs(self.out)
        os.makedirs(os.path.join(inst.queue, "active"), exist_ok=True)
        self.uid = inst.owner_uid
        self.gid = pwd.getpwnam(inst.owner).pw_gid
        for d in (self.mail, self.out):
            os.chown(d, self.uid, self.gid)
        self.vmailbox = os.path.join(inst.conf, "vmailbox")
        self.aliases = os.path.join(inst.conf, "aliases")
        with open(self.vmailbox, "w") as f:
            f.write("alice@example.com example.com/alice/\n"
                    "bob@example.com example.com/bob/\n"
                    "mbox@example.com example.com/mbox\n")
        self.write_aliases("")
        self.params = {
            "daemon_directory": os.path.join(BUILD, "libexec"),
            "myhostname": "mail.example.net",
            "mydestination": "localhost, mail.example.net",
            "virtual_mailbox_domains": "example.com",
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "texthash:" + self.vmailbox,
            "virtual_uid_maps": f"static:{self.uid}",
            "virtual_gid_maps": f"static:{self.gid}",
            "alias_maps": "texthash:" + self.aliases,
            "default_privs": inst.owner,
            "recipient_delimiter": "+",
        }

    def write_aliases(self, text):
        """aliases(5) text ("name: value"), stored as a texthash table."""
        lines = []
        for line in text.splitlines():
            name, value = line.split(":", 1)
            lines.append(f"{name} {value.strip()}\n")
        with open(self.aliases, "w") as f:
            f.write("".join(lines))

    def start(self, **extra):
        self.params.update(extra)
        self.inst.main_cf(self.params)
        self.inst.master_cf("local unix - n n - - local\n")
        self.inst.start()
        sock = os.path.join(self.inst.queue, "private", "local")
        assert wait_for(lambda: os.path.exists(sock), 10), "no private/local socket"
        return self

    def queue(self, sender, rcpts, message=MESSAGE):
        r = subprocess.run([QWRITE, os.path.join(self.inst.queue, "active"), sender, *rcpts],
                           input=message, capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def deliver(self, rcpts, sender="sender@example.org", message=MESSAGE):
        qid = self.queue(sender, rcpts, message)
        agent = Agent(os.path.join(self.inst.queue, "private", "local"))
        try:
            return agent.deliver(qid, sender, rcpts)
        finally:
            agent.close()

    def maildir_new(self, rel):
        d = os.path.join(self.mail, rel, "new")
        if not os.path.isdir(d):
            return []
        return [os.path.join(d, n) for n in sorted(os.listdir(d))]


@pytest.fixture
def env(instance):
    return Env(instance())


def read(path):
    with open(path) as f:
        return f.read()


def assert_no_tmp(maildir):
    tmp = os.path.join(maildir, "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []


# ---- virtual mailboxes ---------------------------------------------------

def test_virtual_delivery_once_with_headers(env):
    env.start()
    res = env.deliver(["alice@example.com"])
    assert res[0]["status"] == "0", res
    files = env.maildir_new("example.com/alice")
    assert len(files) == 1
    text = read(files[0])
    assert text.startswith("Return-Path: <sender@example.org>\n"
                           "Delivered-To: alice@example.com\n")
    assert text.endswith(MESSAGE)
    assert_no_tmp(os.path.join(env.mail, "example.com/alice"))
    st = os.stat(files[0])
    assert st.st_uid == env.uid and st.st_gid == env.gid
    if is_root():
        assert st.st_uid != 0
    assert env.inst.wait_log(r"<alice@example.com>: delivered to maildir")


def test_unknown_virtual_user_bounces(env):
    env.start()
    res = env.deliver(["nobody-here@example.com", "alice@example.com"])
    assert res[0]["status"] == "5" and res[0]["dsn"] == "5.1.1", res
    assert "unknown user" in res[0]["reason"]
    assert res[1]["status"] == "0"


def test_non_maildir_mailbox_defers(env):
    env.start()
    res = env.deliver(["mbox@example.com"])
    assert res[0]["status"] == "4" and "Maildir" in res[0]["reason"], res


def test_extension_and_null_sender(env):
    env.start()
    res = env.deliver(["alice+news@example.com"], sender="")
    assert res[0]["status"] == "0", res
    (f,) = env.maildir_new("example.com/alice")
    assert read(f).startswith("Return-Path: <>\nDelivered-To: alice+news@example.com\n")


def test_delivered_to_loop_bounces(env):
    env.start()
    msg = "Delivered-To: other@example.net\nDelivered-To: Alice@Example.com\n" + MESSAGE
    res = env.deliver(["alice@example.com"], message=msg)
    assert res[0]["status"] == "5" and res[0]["dsn"] == "5.4.6", res
    assert env.maildir_new("example.com/alice") == []
    res = env.deliver(["bob@example.com"], message=msg)
    assert res[0]["status"] == "0"


def test_several_requests_on_one_connection(env):
    env.start()
    agent = Agent(os.path.join(env.inst.queue, "private", "local"))
    try:
        for _ in range(3):
            qid = env.queue("s@example.org", ["bob@example.com"])
            assert agent.deliver(qid, "s@example.org", ["bob@example.com"])[0]["status"] == "0"
    finally:
        agent.close()
    assert len(env.maildir_new("example.com/bob")) == 3


def test_missing_queue_file_defers(env):
    env.start()
    agent = Agent(os.path.join(env.inst.queue, "private", "local"))
    try:
        res = agent.deliver("1rXbW70DPq4Kj", "s@example.org", ["alice@example.com"])
    finally:
        agent.close()
    assert res[0]["status"] == "4", res


# ---- aliases -------------------------------------------------------------

def test_alias_to_two_addresses(env):
    env.write_aliases("team: alice@example.com, bob@example.com\n"
                      "both: team, alice@example.com\n")
    env.start()
    res = env.deliver(["team@localhost"])
    assert res[0]["status"] == "0", res
    for user in ("alice", "bob"):
        (f,) = env.maildir_new("example.com/" + user)
        assert "Delivered-To: team@localhost\n" in read(f)
    # Nested, with a duplicate: alice still gets one copy.
    res = env.deliver(["both@mail.example.net"])
    assert res[0]["status"] == "0", res
    assert len(env.maildir_new("example.com/alice")) == 2
    assert len(env.maildir_new("example.com/bob")) == 2


TERNMAP = os.path.join(BUILD, "bin", "ternmap")


@pytest.mark.skipif(not os.access(TERNMAP, os.X_OK), reason="ternmap not built")
def test_hash_aliases_built_from_aliases_format(env):
    src = os.path.join(env.inst.conf, "aliases.src")
    with open(src, "w") as f:
        f.write("# comment\nTeam: alice@example.com,\n  bob@example.com\n"
                "\"quoted name\": bob@example.com\n")
    r = subprocess.run([TERNMAP, "-c", env.inst.conf, "-A", "hash:" + src],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    env.start(alias_maps="hash:" + src)
    res = env.deliver(["team@localhost", '"quoted name"@localhost'])
    assert [x["status"] for x in res] == ["0", "0"], res
    assert len(env.maildir_new("example.com/alice")) == 1
    assert len(env.maildir_new("example.com/bob")) == 2


def test_alias_with_extension(env):
    env.write_aliases("team: bob@example.com\n")
    env.start()
    res = env.deliver(["team+tag@localhost"])
    assert res[0]["status"] == "0", res
    assert len(env.maildir_new("example.com/bob")) == 1


def test_alias_to_command(env):
    out = os.path.join(env.out, "cmd.txt")
    env.write_aliases(f'cmd: "|cat > {out}; echo $RECIPIENT, >> {out}"\n'
                      "tempfail: |exit 75\n"
                      "permfail: |exit 3\n")
    env.start()
    res = env.deliver(["cmd@localhost"])
    assert res[0]["status"] == "0", res
    text = read(out)
    assert text.startswith("Return-Path: <sender@example.org>\nDelivered-To: cmd@localhost\n")
    assert text.endswith(MESSAGE + "cmd@localhost,\n")
    if is_root():
        assert os.stat(out).st_uid == env.uid
    res = env.deliver(["tempfail@localhost", "permfail@localhost"])
    assert res[0]["status"] == "4", res
    assert res[1]["status"] == "5" and "exit status 3" in res[1]["reason"], res


def test_commands_and_files_can_be_forbidden(env):
    env.write_aliases(f"cmd: |true\nfile: {env.out}/f\n")
    env.start(allow_mail_to_commands="forward", allow_mail_to_files="")
    res = env.deliver(["cmd@localhost", "file@localhost"])
    assert [r["status"] for r in res] == ["5", "5"], res
    assert all(r["dsn"] == "5.7.1" for r in res)
    assert not os.path.exists(os.path.join(env.out, "f"))


def test_alias_to_file_mbox(env):
    path = os.path.join(env.out, "mbox")
    env.write_aliases(f"file: {path}\n")
    env.start()
    for _ in range(2):
        res = env.deliver(["file@localhost"])
        assert res[0]["status"] == "0", res
    text = read(path)
    assert text.count("\nFrom sender@example.org ") == 1 and text.startswith("From sender@")
    assert "\n>From the body, a line to quote.\n" in text
    assert text.endswith("a line to quote.\n\n")
    if is_root():
        assert os.stat(path).st_uid == env.uid


def test_alias_to_maildir_path(env):
    box = os.path.join(env.out, "box") + "/"
    env.write_aliases(f"archive: {box}\n")
    env.start()
    res = env.deliver(["archive@localhost"])
    assert res[0]["status"] == "0", res
    assert len(os.listdir(os.path.join(box, "new"))) == 1


def test_include(env):
    inc = os.path.join(env.out, "list.inc")
    with open(inc, "w") as f:
        f.write("# members\nalice@example.com\n  bob@example.com, \\alice\n")
    env.write_aliases(f"list: :include:{inc}\nmissing: :include:{env.out}/nope\n")
    env.start()
    res = env.deliver(["list@localhost", "missing@localhost"])
    assert res[1]["status"] == "5", res
    # \alice: the system user alice does not exist -> the whole recipient bounces
    assert res[0]["status"] == "5" and "alice" in res[0]["reason"], res
    assert len(env.maildir_new("example.com/alice")) == 1
    assert len(env.maildir_new("example.com/bob")) == 1


def test_alias_loop_is_bounded(env):
    env.write_aliases("a: b\nb: a\nself: self, bob@example.com\n")
    env.start()
    res = env.deliver(["a@localhost", "self@localhost"])
    # a -> b -> a: a is then a user name, and there is no such user.
    assert res[0]["status"] == "5", res
    assert res[1]["status"] == "5" and "self" in res[1]["reason"], res
    assert len(env.maildir_new("example.com/bob")) == 1


def test_unknown_local_user(env):
    env.start()
    res = env.deliver(["no-such-user-xyz@localhost"])
    assert res[0]["status"] == "5" and res[0]["dsn"] == "5.1.1", res


def test_forward_without_cleanup_defers(env):
    env.write_aliases("away: someone@elsewhere.example\n")
    env.start()
    res = env.deliver(["away@localhost"])
    # No cleanup service in this instance: the forward must defer, not vanish.
    assert res[0]["status"] == "4" and "forward" in res[0]["reason"], res


@pytest.mark.skipif(not os.access(os.path.join(BUILD, "libexec", "cleanup"), os.X_OK),
                    reason="cleanup not built")
def test_forward_through_cleanup(env):
    env.write_aliases("away: someone@elsewhere.example, bob@example.com\n")
    env.params["daemon_directory"] = os.path.join(BUILD, "libexec")
    env.inst.main_cf(env.params)
    for d in ("incoming", "hold", "public"):
        os.makedirs(os.path.join(env.inst.queue, d), exist_ok=True)
        os.chown(os.path.join(env.inst.queue, d), env.uid, env.gid)
    env.inst.master_cf("cleanup unix - - n - 0 cleanup\nlocal unix - n n - - local\n")
    env.inst.start()
    for name in ("local", "cleanup"):
        sock = os.path.join(env.inst.queue, "private", name)
        assert wait_for(lambda: os.path.exists(sock), 10), name
    res = env.deliver(["away@localhost"], sender="orig@example.org")
    assert res[0]["status"] == "0", res
    assert env.inst.wait_log(r"<away@localhost>: forwarded to 1 address\(es\) as ")
    assert len(env.maildir_new("example.com/bob")) == 1
    incoming = os.path.join(env.inst.queue, "incoming")
    files = os.listdir(incoming)
    assert len(files) == 1
    with open(os.path.join(incoming, files[0]), "rb") as f:
        data = f.read()
    assert b"Delivered-To: away@localhost\n" in data
    assert b"someone@elsewhere.example" in data and b"orig@example.org" in data


def test_bad_request_is_dropped(env):
    env.start()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(os.path.join(env.inst.queue, "private", "local"))
    s.sendall(b"request=deliver\nqueue_id=../../x\n\n")
    assert s.recv(100) == b""
    s.close()
    assert env.inst.wait_log(r"bad delivery request")


# ---- root only: privileges, system users, a full disk --------------------

def ensure_sys_user(home):
    try:
        pwd.getpwnam(SYS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", SYS_USER], check=False, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["usermod", "-d", home, SYS_USER], check=True, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return pwd.getpwnam(SYS_USER)


@pytest.mark.skipif(not is_root(), reason="needs root")
def test_system_user_maildir_and_forward(env):
    home = os.path.join(env.dir, "home")
    os.makedirs(home)
    pw = ensure_sys_user(home)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    env.write_aliases(f"sysalias: {SYS_USER}\n")
    env.start()
    res = env.deliver([f"{SYS_USER}@localhost", "sysalias@localhost"])
    assert [r["status"] for r in res] == ["0", "0"], res
    new = os.path.join(home, "Maildir", "new")
    files = sorted(os.listdir(new))
    assert len(files) == 2
    for n in files:
        st = os.stat(os.path.join(new, n))
        assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid)
    assert os.stat(os.path.join(home, "Maildir")).st_uid == pw.pw_uid
    # .forward owned by the user: a copy to bob and one to the mailbox.
    fwd = os.path.join(home, ".forward")
    with open(fwd, "w") as f:
        f.write(f"bob@example.com, \\{SYS_USER}\n")
    os.chown(fwd, pw.pw_uid, pw.pw_gid)
    res = env.deliver([f"{SYS_USER}@localhost"])
    assert res[0]["status"] == "0", res
    assert len(os.listdir(new)) == 3
    assert len(env.maildir_new("example.com/bob")) == 1
    # A .forward the user does not own is ignored.
    os.chown(fwd, 0, 0)
    res = env.deliver([f"{SYS_USER}@localhost"])
    assert res[0]["status"] == "0", res
    assert len(os.listdir(new)) == 4
    assert len(env.maildir_new("example.com/bob")) == 1


@pytest.mark.skipif(not is_root(), reason="needs root")
def test_full_disk_defers_without_partial_file(env):
    mnt = os.path.join(env.mail, "tiny")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", mnt],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: " + r.stderr.decode())
    try:
        os.chown(mnt, env.uid, env.gid)
        with open(env.vmailbox, "a") as f:
            f.write("tiny@example.com tiny/box/\n")
        env.start()
        big = MESSAGE + ("x" * 99 + "\n") * 2000
        res = env.deliver(["tiny@example.com"], message=big)
        assert res[0]["status"] == "4", res
        box = os.path.join(mnt, "box")
        assert os.listdir(os.path.join(box, "new")) == []
        assert_no_tmp(box)
        res = env.deliver(["tiny@example.com"])
        assert res[0]["status"] == "0", res
    finally:
        env.inst.stop()
        subprocess.run(["umount", mnt], check=False, timeout=30)


def test_size_limit_bounces(env):
    env.start(mailbox_size_limit="1000")
    res = env.deliver(["alice@example.com"], message=MESSAGE + "y" * 2000 + "\n")
    assert res[0]["status"] == "5" and res[0]["dsn"] == "5.2.2", res
    assert env.maildir_new("example.com/alice") == []
