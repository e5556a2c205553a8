"""End-to-end tests of virtual alias rewriting (virtual_alias_maps, done
by cleanup) and of the role aliases `tern init` writes.

One instance per test, made by `tern init --user ...` on free 127.0.0.1
ports and run in the foreground with `tern start -f` (so its pid and the
daemons' stderr are ours); mail goes in over SMTP with smtplib and is
looked for in the users' Maildirs.  The master (and every daemon) is
stopped by pid at teardown, and the test fails on any sanitizer report.
Binaries come from $TERN_BUILD.
"""

import os
import re
import smtplib
import subprocess

import pytest

from conftest import wait_for
from ternenv import TERN, TernEnv, free_base, need_programs

DOMAIN = "example.test"
SENDER = "sender@example.net"

pytestmark = need_programs("master", "smtpd", "cleanup", "qmgr", "local")

# Added to the virtual file `tern init` wrote.
EXTRA_VIRTUAL = """\
team@example.test          alice@example.test, bob@example.test
@example.org               carol@example.org
loop1@example.test         loop2@example.test
loop2@example.test         loop1@example.test
"""


class Env(TernEnv):
    def __init__(self):
        super().__init__("valias", DOMAIN, users=["alice@example.test:Secret-1",
                                                  "bob@example.test:Secret-2",
                                                  "carol@example.org:Secret-3"])
        self.append("virtual", EXTRA_VIRTUAL)
        self.add_main("service_throttle_time = 1s\n")

    def send(self, rcpts, token):
        msg = (f"From: <{SENDER}>\r\nTo: <{rcpts[0]}>\r\nSubject: {token}\r\n"
               f"Message-ID: <{token}@valias.test>\r\n\r\nbody of {token}\r\n")
        return super().send(SENDER, rcpts, msg.encode())

    def delivered(self, addr, token, count=1, timeout=20):
        """Wait until addr's Maildir holds count messages with token."""
        return wait_for(lambda: sum(token in m for m in self.messages(addr)) >= count, timeout)


@pytest.fixture
def env():
    e = Env()
    try:
        yield e.start()
    finally:
        reports = e.finish()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def only_in(env, token, want):
    """token is in exactly the mailboxes want (of alice, bob, carol), once each."""
    for addr in ("alice@example.test", "bob@example.test", "carol@example.org"):
        n = sum(token in m for m in env.messages(addr))
        assert n == (1 if addr in want else 0), (addr, n, env.log_text()[-3000:])


def test_postmaster_and_abuse_reach_first_user(env):
    env.send(["postmaster@example.test"], "tok-pm")
    env.send(["abuse@example.test"], "tok-abuse")
    env.send(["Hostmaster@EXAMPLE.test"], "tok-host")
    for tok in ("tok-pm", "tok-abuse", "tok-host"):
        assert env.delivered("alice@example.test", tok), env.log_text()[-3000:]
        only_in(env, tok, ["alice@example.test"])
    msg = next(m for m in env.messages("alice@example.test") if "tok-pm" in m)
    assert "Delivered-To: alice@example.test" in msg
    # The original recipient is kept with the rewritten one (qmgr logs it).
    assert re.search(r"to=<alice@example\.test>, orig_to=<postmaster@example\.test>",
                     env.log_text()), env.log_text()[-3000:]
    # postmaster of the other domain, and of the local domain via aliases.
    env.send(["postmaster@example.org"], "tok-pm-org")
    env.send(["root@localhost"], "tok-root")
    for tok in ("tok-pm-org", "tok-root"):
        assert env.delivered("alice@example.test", tok), env.log_text()[-3000:]


def test_alias_to_two_users(env):
    env.send(["team@example.test"], "tok-team")
    assert env.delivered("alice@example.test", "tok-team")
    assert env.delivered("bob@example.test", "tok-team")
    only_in(env, "tok-team", ["alice@example.test", "bob@example.test"])
    # An alias plus one of its targets: each mailbox gets one copy.
    env.send(["team@example.test", "alice@example.test"], "tok-dup")
    assert env.delivered("bob@example.test", "tok-dup")
    assert env.delivered("alice@example.test", "tok-dup")
    only_in(env, "tok-dup", ["alice@example.test", "bob@example.test"])


def test_catch_all(env):
    env.send(["whoever@example.org"], "tok-any")
    env.send(["carol@example.org"], "tok-carol")  # maps to itself: no loop
    assert env.delivered("carol@example.org", "tok-any")
    assert env.delivered("carol@example.org", "tok-carol")
    only_in(env, "tok-any", ["carol@example.org"])
    # Unknown recipients in a domain without a catch-all are still refused.
    with pytest.raises(smtplib.SMTPRecipientsRefused) as exc:
        env.send(["nobody@example.test"], "tok-nobody")
    code, text = exc.value.recipients["nobody@example.test"]
    assert code == 550, (code, text)


def test_loop_is_bounded(env):
    with pytest.raises(smtplib.SMTPDataError) as exc:
        env.send(["loop1@example.test"], "tok-loop")
    assert exc.value.smtp_code == 451
    assert b"4.3.5" in exc.value.smtp_error
    assert wait_for(lambda: "virtual_alias_recursion_limit" in env.log_text(), 10)
    assert "message not accepted" in env.log_text()
    # Nothing was queued, and the instance still delivers.
    for q in ("incoming", "active", "deferred"):
        assert os.listdir(os.path.join(env.dir, "queue", q)) == []
    env.send(["postmaster@example.test"], "tok-after-loop")
    assert env.delivered("alice@example.test", "tok-after-loop")


def test_sandbox_catches_other_domains(env):
    """An instance made by `tern init` keeps mail for the world in one mailbox."""
    env.send(["someone@elsewhere.test", "alice@example.test"], "tok-world")
    assert env.delivered("catchall@example.test", "tok-world"), env.log_text()[-3000:]
    assert env.delivered("alice@example.test", "tok-world")
    only_in(env, "tok-world", ["alice@example.test"])
    assert re.search(r"to=<catchall@example\.test>, orig_to=<someone@elsewhere\.test>",
                     env.log_text()), env.log_text()[-3000:]
    # The instance's own domains and local names are not caught.
    env.send(["root@localhost", "carol@example.org"], "tok-own")
    assert env.delivered("alice@example.test", "tok-own")
    assert env.delivered("carol@example.org", "tok-own")
    assert not any("tok-own" in m for m in env.messages("catchall@example.test"))


def test_outbound_instance_has_no_catchall(tmp_path):
    d = tmp_path / "out"
    res = subprocess.run([TERN, "init", str(d), "--port-base", str(free_base()), "--outbound",
                          "--user", "alice@example.test:pw"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    main_cf = (d / "main.cf").read_text()
    assert "catchall" not in main_cf
    assert not (d / "catchall").exists()
    assert "catchall@" not in (d / "vmailbox").read_text()
