"""Integration tests for local submission: sendmail(1) -> terndrop(1) ->
maildrop/ -> pickup(8) -> cleanup -> qmgr -> local -> Maildir.

Each test makes an instance with `tern init` (mail_owner tern-test when
run as root).  The end-to-end assertions need cleanup, qmgr and local in
$TERN_BUILD/libexec and are skipped while one is absent; the maildrop
assertions run with master stopped, so the file stays where terndrop put
it.  mailq and newaliases are symlinks to sendmail made by the tests.
"""

import os
import pwd
import re
import shutil
import socket
import stat
import struct
import subprocess

import pytest

from conftest import BUILD, SANITIZER_MARKS, ensure_test_user, is_root, wait_for
from ternenv import TernEnv

BIN = os.path.join(BUILD, "bin")
LIBEXEC = os.path.join(BUILD, "libexec")
SENDMAIL = os.path.join(BIN, "sendmail")
TERN = os.path.join(BIN, "tern")
DOMAIN = "example.test"
USER = "alice@" + DOMAIN

pytestmark = pytest.mark.skipif(
    not (os.path.exists(SENDMAIL) and os.path.exists(TERN)), reason="sendmail or tern not built")


def need_delivery():
    for d in ("cleanup", "qmgr", "local", "pickup"):
        if not os.path.exists(os.path.join(LIBEXEC, d)):
            pytest.skip(f"{d} not built yet")


def parse_qfile(path):
    """The records of a queue file (lib/qfile.h): [(type, data)]."""
    with open(path, "rb") as f:
        data = f.read()
    recs, pos = [], 0
    while pos < len(data):
        t = chr(data[pos])
        (n,) = struct.unpack(">I", data[pos + 1:pos + 5])
        recs.append((t, data[pos + 5:pos + 5 + n]))
        pos += 5 + n
    return recs


class Inst(TernEnv):
    def __init__(self):
        super().__init__("sm", DOMAIN, users=[USER + ":Secret-1"])
        self.maildrop = os.path.join(self.queue, "maildrop")

    def start(self):
        return super().start(wait_path=os.path.join(self.queue, "public", "pickup"))

    def kick_pickup(self):
        """What terndrop does after a submission: wake pickup."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(os.path.join(self.queue, "public", "pickup"))
            s.sendall(b"W")

    def sendmail(self, args, data, prog=SENDMAIL, preexec=None, env=None):
        if isinstance(data, str):
            data = data.encode()
        res = subprocess.run([prog, "-C", self.dir] + args, input=data, capture_output=True,
                             timeout=30, preexec_fn=preexec, env=env)
        err = res.stderr.decode(errors="replace")
        assert not any(m in err for m in SANITIZER_MARKS), err
        return res

    def drop_files(self):
        return sorted(f for f in os.listdir(self.maildrop) if not f.startswith("tmp."))

    def mailbox(self):
        return self.maildir(USER)

    def wait_delivered(self, n=1):
        assert self.wait_messages(USER, n, 15), "not delivered; log:\n" + self.log_text()[-3000:]
        return self.messages(USER)


@pytest.fixture
def inst():
    i = Inst()
    yield i
    bad = i.finish()
    assert not bad, "sanitizer reports:\n" + "\n".join(bad)


MSG = "To: %s\nSubject: hello from sendmail\n\nline one\nline two\n" % USER


def test_maildrop_file_format(inst):
    res = inst.sendmail(["-f", "bounce@example.org", "-F", "Alice Example", "-N", "success,failure",
                         "-R", "hdrs", "-V", "env-1", USER], MSG.replace("\n", "\r\n"))
    assert res.returncode == 0, res.stderr
    files = inst.drop_files()
    assert len(files) == 1
    path = os.path.join(inst.maildrop, files[0])
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o744 and st.st_uid == os.getuid()
    recs = parse_qfile(path)
    assert recs[0] == ("V", b"1") and recs[-1] == ("E", b"")
    attrs = dict(d.decode().split("=", 1) for t, d in recs if t == "A")
    assert attrs["submit_uid"] == str(os.getuid())
    assert attrs["submit_user"] == pwd.getpwuid(os.getuid()).pw_name
    assert attrs["extract_recipients"] == "0" and attrs["full_name"] == "Alice Example"
    assert attrs["dsn_envid"] == "env-1" and attrs["dsn_ret"].upper() == "HDRS"
    assert ("F", b"bounce@example.org") in recs
    rcpts = [d for t, d in recs if t == "R"]
    assert len(rcpts) == 1 and rcpts[0][0:1] == b"P" and USER.encode() in rcpts[0]
    content = b"".join(d for t, d in recs if t == "C")
    assert content == MSG.encode()  # CRLF became LF, no headers added here


def test_dot_ends_input_without_i(inst):
    body = "Subject: dots\n\nbefore\n.\nafter\n"
    assert inst.sendmail([USER], body).returncode == 0
    assert inst.sendmail(["-i", USER], body).returncode == 0
    assert inst.sendmail(["-oi", USER], "Subject: x\n\n..\n.\n").returncode == 0
    contents = []
    for f in inst.drop_files():
        recs = parse_qfile(os.path.join(inst.maildrop, f))
        contents.append(b"".join(d for t, d in recs if t == "C").decode())
    assert "Subject: dots\n\nbefore\n" in contents
    assert body in contents
    assert "Subject: x\n\n..\n.\n" in contents  # no unstuffing on stdin


def test_usage_errors(inst):
    res = inst.sendmail(["-Z", USER], MSG)
    assert res.returncode == 64 and b"usage" in res.stderr
    res = inst.sendmail([], MSG)  # no recipients, no -t
    assert res.returncode == 64
    res = inst.sendmail(["bad address@@x"], MSG)
    assert res.returncode == 65
    assert inst.drop_files() == []


def test_size_limit(inst):
    inst.add_main("message_size_limit = 2000\n")
    res = inst.sendmail([USER], "Subject: big\n\n" + "x" * 70 + "\n" * 1 + ("y" * 99 + "\n") * 40)
    assert res.returncode == 65
    assert b"too big" in res.stderr
    assert inst.drop_files() == []
    assert inst.sendmail([USER], MSG).returncode == 0


def test_end_to_end_t_and_f(inst):
    need_delivery()
    inst.start()
    res = inst.sendmail(["-t", "-i", "-f", "owner@example.org"], MSG + ".\nkept\n")
    assert res.returncode == 0, res.stderr
    (text,) = inst.wait_delivered(1)
    assert text.startswith("Return-Path: <owner@example.org>")
    assert "from userid %d" % os.getuid() in text
    assert "Subject: hello from sendmail" in text and "\n.\nkept\n" in text
    assert re.search(r"^Message-ID: ", text, re.M) and re.search(r"^Date: ", text, re.M)
    assert wait_for(lambda: inst.drop_files() == [], 5)
    assert re.search(r"pickup\[\d+\]: \w+: uid=%d from=<owner@example.org> queued as" % os.getuid(),
                     inst.log_text())


def test_bs_smtp_dialogue(inst):
    need_delivery()
    inst.start()
    script = ("EHLO me\r\nMAIL FROM:<smtp@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n"
              "Subject: via -bs\r\n\r\n..dot\r\n.\r\nQUIT\r\n" % USER)
    res = inst.sendmail(["-bs"], script)
    out = res.stdout.decode()
    assert res.returncode == 0 and out.startswith("220 ")
    assert "250 2.0.0 Ok: queued" in out and out.rstrip().endswith("221 2.0.0 Bye")
    (text,) = inst.wait_delivered(1)
    assert "Return-Path: <smtp@example.org>" in text and "\n.dot\n" in text


def test_pickup_moves_bad_file_to_corrupt(inst):
    inst.start()
    bad = os.path.join(inst.maildrop, "1xXp3h0rH1k0Gf")
    with open(bad, "wb") as f:
        f.write(b"V\0\0\0\x011garbage")
    os.chmod(bad, 0o744)
    if is_root():
        os.chown(bad, os.getuid(), -1)
    # any submission wakes pickup; without the rest of the chain the good one stays
    inst.sendmail([USER], MSG)
    assert wait_for(lambda: os.path.exists(os.path.join(inst.queue, "corrupt", "1xXp3h0rH1k0Gf")),
                    10), inst.log_text()
    assert "1xXp3h0rH1k0Gf: removing malformed maildrop file" in inst.log_text()


def test_pickup_rejects_forged_uid(inst):
    """A file whose recorded uid is not its owner is not submitted."""
    if not is_root():
        pytest.skip("needs root to give the file another owner")
    assert inst.sendmail([USER], MSG).returncode == 0
    (name,) = inst.drop_files()
    os.chown(os.path.join(inst.maildrop, name), ensure_test_user().pw_uid, -1)
    inst.start()
    inst.kick_pickup()
    assert wait_for(lambda: os.path.exists(os.path.join(inst.queue, "corrupt", name)), 10), \
        inst.log_text()
    assert "does not match the file owner" in inst.log_text()


def test_mailq_and_bp(inst):
    assert inst.sendmail([USER], MSG).returncode == 0
    link = os.path.join(inst.top, "mailq")
    os.symlink(SENDMAIL, link)
    for prog, args in ((link, []), (SENDMAIL, ["-bp"])):
        res = inst.sendmail(args, b"", prog=prog)
        assert res.returncode == 0, res.stderr
        out = res.stdout.decode()
        assert out.strip(), "mailq printed nothing"


def test_newaliases_symlink(inst):
    aliases = os.path.join(inst.dir, "aliases")
    with open(aliases, "w") as f:
        f.write("postmaster: root\nabuse: postmaster\n")
    inst.add_main("alias_database = hash:%s\nalias_maps = hash:%s\n" % (aliases, aliases))
    link = os.path.join(inst.top, "newaliases")
    os.symlink(SENDMAIL, link)
    res = inst.sendmail([], b"", prog=link)
    assert res.returncode == 0, res.stderr
    assert os.path.exists(aliases + ".db")
    os.unlink(aliases + ".db")
    res = inst.sendmail(["-bi"], b"")
    assert res.returncode == 0, res.stderr
    assert os.path.exists(aliases + ".db")


def test_bv_reports_routing(inst):
    res = inst.sendmail(["-bv", USER, "someone@elsewhere.example"], b"")
    out = res.stdout.decode()
    assert res.returncode == 0, res.stderr
    assert "%s: deliverable: class=virtual transport=local" % USER in out
    assert "someone@elsewhere.example: deliverable: class=default transport=smtp" in out


def test_unprivileged_user_through_setgid_terndrop(inst):
    """As root: a plain user submits through a setgid terndrop copy."""
    if not is_root():
        pytest.skip("needs root to make a setgid terndrop and switch users")
    need_delivery()
    nobody = pwd.getpwnam("nobody")
    drop_gid = os.stat(inst.maildrop).st_gid
    bindir = os.path.join(inst.top, "bin")
    os.mkdir(bindir, 0o755)
    td = os.path.join(bindir, "terndrop")
    shutil.copy(os.path.join(BIN, "terndrop"), td)
    os.chown(td, 0, drop_gid)
    os.chmod(td, 0o2755)
    inst.add_main("command_directory = %s\n" % bindir)
    inst.start()

    def become_nobody():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    env = dict(os.environ, HOME="/")
    res = inst.sendmail(["-t", "-i"], MSG, preexec=become_nobody, env=env)
    assert res.returncode == 0, res.stderr
    (text,) = inst.wait_delivered(1)
    assert "from userid %d" % nobody.pw_uid in text
    assert "Return-Path: <nobody@" in text


def test_untrusted_config_drops_group(inst):
    """A setgid terndrop pointed at a user's own main.cf runs as the plain user."""
    if not is_root():
        pytest.skip("needs root")
    nobody = pwd.getpwnam("nobody")
    drop_gid = os.stat(inst.maildrop).st_gid
    bindir = os.path.join(inst.top, "bin")
    os.mkdir(bindir, 0o755)
    td = os.path.join(bindir, "terndrop")
    shutil.copy(os.path.join(BIN, "terndrop"), td)
    os.chown(td, 0, drop_gid)
    os.chmod(td, 0o2755)
    evil = os.path.join(inst.top, "evil")
    os.mkdir(evil, 0o755)
    shutil.copy(os.path.join(inst.dir, "main.cf"), os.path.join(evil, "main.cf"))
    with open(os.path.join(evil, "main.cf"), "a") as f:
        f.write("command_directory = %s\n" % bindir)
    os.chown(evil, nobody.pw_uid, nobody.pw_gid)
    os.chown(os.path.join(evil, "main.cf"), nobody.pw_uid, nobody.pw_gid)

    def become_nobody():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    res = subprocess.run([SENDMAIL, "-C", evil, USER], input=MSG.encode(), capture_output=True,
                         timeout=30, preexec_fn=become_nobody, env=dict(os.environ, HOME="/"))
    assert res.returncode == 75, res.stderr
    assert inst.drop_files() == []
