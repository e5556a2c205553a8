"""Integration tests for SMTP AUTH (RFC 4954) in smtpd.

Each instance is made by `tern init --user ...` so submission listens on
N+587 (STARTTLS required, AUTH only over TLS) and smtps on N+465 (TLS
from the first byte), both relaying only for logged-in users who use
their own envelope senders (DIR/sender_logins).  authd's failure delays
are shortened so that their growth shows in a few seconds.  Clients:
Python smtplib (starttls, SMTP_SSL, login with PLAIN and LOGIN, raw
docmd exchanges) and swaks --auth.
"""

import base64
import os
import shutil
import smtplib
import ssl
import subprocess
import time

import pytest

from conftest import BUILD, wait_for
from ternenv import TernEnv, factory

DOMAIN = "example.test"
PASSWORDS = {"alice": "Secret-1", "bob": "Bob-pass-2"}
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"

for _need in ("smtpd", "authd", "master", "cleanup"):
    if not os.path.exists(os.path.join(BUILD, "libexec", _need)):
        pytest.skip(f"{_need} is not built", allow_module_level=True)

AUTHD_FAST = {
    "auth_failure_delay": "1s",
    "auth_failure_max_delay": "4s",
    "auth_failure_limit": "10",
}


def b64(text):
    return base64.b64encode(text.encode()).decode()


class AuthInst(TernEnv):
    def __init__(self, edit_master=None):
        super().__init__("auth", DOMAIN, users=[f"{u}:{p}" for u, p in PASSWORDS.items()])
        self.sub = self.base + 587
        self.smtps = self.base + 465
        self.add_main("".join(f"{k} = {v}\n" for k, v in AUTHD_FAST.items()))
        if edit_master is not None:
            path = self.path("master.cf")
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(edit_master(self, text))

    def start(self):
        return super().start(wait_port=self.sub)

    def tls_ctx(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "tls", "cert.pem"))
        ctx.check_hostname = False
        return ctx

    def submission(self, tls=True):
        c = smtplib.SMTP("127.0.0.1", self.sub, timeout=30)
        c.ehlo("client.example")
        if tls:
            c.starttls(context=self.tls_ctx())
            c.ehlo("client.example")
        return c

    def maildir_files(self, user="alice"):
        md = os.path.join(self.dir, "mail", DOMAIN, user)
        out = []
        for sub in ("new", "cur"):
            p = os.path.join(md, sub)
            if os.path.isdir(p):
                out += [os.path.join(p, n) for n in os.listdir(p)]
        return out



@pytest.fixture
def make_inst():
    yield from factory(AuthInst)


@pytest.fixture(scope="module")
def shared():
    inst = AuthInst().start()
    yield inst
    reports = inst.finish()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def relay_one(c, sender=ALICE, rcpt="someone@remote.test"):
    code, msg = c.mail(sender)
    assert code == 250, msg
    code, msg = c.rcpt(rcpt)
    assert code == 250, msg
    code, msg = c.data(f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: auth test\r\n\r\nhello\r\n")
    assert code == 250 and b"queued as" in msg, msg
    return msg.decode().split()[-1]


def test_auth_offered_only_after_starttls(shared):
    c = shared.submission(tls=False)
    assert not c.has_extn("auth")
    code, msg = c.docmd("AUTH", "PLAIN " + b64(f"\0{ALICE}\0{PASSWORDS['alice']}"))
    assert code == 538 and b"5.7.11" in msg, (code, msg)
    c.starttls(context=shared.tls_ctx())
    c.ehlo("client.example")
    assert c.has_extn("auth")
    assert c.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
    c.quit()


def test_plain_initial_response_relays(shared):
    c = shared.submission()
    code, msg = c.docmd("AUTH", "PLAIN " + b64(f"\0{ALICE}\0{PASSWORDS['alice']}"))
    assert (code, msg) == (235, b"2.7.0 Authentication successful")
    qid = relay_one(c)
    c.quit()
    assert wait_for(lambda: f"{qid}: client=unknown[127.0.0.1], sasl_method=PLAIN, "
                            f"sasl_username={ALICE}" in shared.log_text(), 10)


def test_plain_continuation_and_login(shared):
    c = shared.submission()
    code, msg = c.docmd("AUTH", "PLAIN")
    assert code == 334 and msg == b"", (code, msg)
    code, msg = c.docmd(b64(f"\0{ALICE}\0{PASSWORDS['alice']}"))
    assert code == 235, msg
    relay_one(c)
    c.quit()
    c = shared.submission()
    c.login(BOB, PASSWORDS["bob"])  # smtplib prefers PLAIN; force LOGIN below
    c.quit()
    c = shared.submission()
    code, msg = c.docmd("AUTH", "LOGIN")
    assert code == 334 and base64.b64decode(msg) == b"Username:", msg
    code, msg = c.docmd(b64(BOB))
    assert code == 334 and base64.b64decode(msg) == b"Password:", msg
    code, msg = c.docmd(b64(PASSWORDS["bob"]))
    assert code == 235, msg
    relay_one(c, sender=BOB)
    c.quit()


def test_smtplib_login_mechanisms(shared):
    for mech in ("auth_plain", "auth_login"):
        c = shared.submission()
        c.user, c.password = ALICE, PASSWORDS["alice"]
        code, msg = c.auth(mech.split("_")[1].upper(), getattr(c, mech),
                           initial_response_ok=(mech == "auth_plain"))
        assert code == 235, (mech, msg)
        relay_one(c)
        c.quit()


def test_protocol_errors(shared):
    c = shared.submission()
    code, msg = c.docmd("AUTH", "PLAIN")
    assert code == 334
    code, msg = c.docmd("*")
    assert code == 501 and msg.startswith(b"5.7.0"), msg
    code, msg = c.docmd("AUTH", "PLAIN !!notbase64")
    assert code == 501 and msg.startswith(b"5.5.2"), msg
    code, msg = c.docmd("AUTH", "CRAM-MD5")
    assert code == 504, msg
    code, msg = c.mail(ALICE)
    assert code == 250
    code, msg = c.docmd("AUTH", "PLAIN " + b64(f"\0{ALICE}\0{PASSWORDS['alice']}"))
    assert code == 503, msg
    c.rset()
    # An authorization identity other than the login is refused.
    code, msg = c.docmd("AUTH", "PLAIN " + b64(f"{BOB}\0{ALICE}\0{PASSWORDS['alice']}"))
    assert code == 535, msg
    code, msg = c.docmd("AUTH", "PLAIN " + b64(f"{ALICE}\0{ALICE}\0{PASSWORDS['alice']}"))
    assert code == 235, msg
    code, msg = c.docmd("AUTH", "PLAIN " + b64(f"\0{ALICE}\0{PASSWORDS['alice']}"))
    assert code == 503 and msg.startswith(b"5.5.1"), msg
    # MAIL FROM AUTH= is accepted once AUTH is offered.
    code, msg = c.docmd("MAIL", f"FROM:<{ALICE}> AUTH=<>")
    assert code == 250, msg
    c.quit()


def test_sender_not_owned_rejected(shared):
    c = shared.submission()
    c.login(ALICE, PASSWORDS["alice"])
    code, msg = c.mail(BOB)
    assert code == 250
    code, msg = c.rcpt("someone@remote.test")
    assert code == 553 and msg.startswith(b"5.7.1"), msg
    assert b"not owned by user" in msg
    c.quit()


def test_unauthenticated_cannot_relay(shared):
    c = shared.submission()
    code, msg = c.mail("stranger@remote.test")
    assert code == 250
    code, msg = c.rcpt("someone@remote.test")
    assert code in (454, 554), (code, msg)
    c.quit()


def test_received_header_esmtpsa(shared):
    before = set(shared.maildir_files("alice"))
    c = shared.submission()
    c.login(BOB, PASSWORDS["bob"])
    relay_one(c, sender=BOB, rcpt=ALICE)
    c.quit()
    assert wait_for(lambda: set(shared.maildir_files("alice")) - before, 15)
    (path,) = set(shared.maildir_files("alice")) - before
    with open(path, errors="replace") as f:
        text = f.read()
    assert " with ESMTPSA id " in text, text


def test_smtps_login(shared):
    with smtplib.SMTP_SSL("127.0.0.1", shared.smtps, timeout=30,
                          context=shared.tls_ctx()) as c:
        c.ehlo("client.example")
        assert c.has_extn("auth")
        c.login(ALICE, PASSWORDS["alice"])
        relay_one(c)
    with smtplib.SMTP_SSL("127.0.0.1", shared.smtps, timeout=30,
                          context=shared.tls_ctx()) as c:
        c.ehlo("client.example")
        # Without a login: a user's own address is refused, any other cannot relay.
        code, msg = c.mail(ALICE)
        code, msg = c.rcpt("someone@remote.test")
        assert code == 553 and b"not logged in" in msg, (code, msg)
        c.rset()
        code, msg = c.mail("stranger@remote.test")
        code, msg = c.rcpt("someone@remote.test")
        assert code in (454, 554), (code, msg)


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
@pytest.mark.parametrize("mode", ["587", "465"])
def test_swaks_auth(shared, mode):
    port = ["--port", str(shared.sub), "--tls"] if mode == "587" else \
        ["--port", str(shared.smtps), "--tls-on-connect"]
    res = subprocess.run(["swaks", "--server", "127.0.0.1", *port, "--from", ALICE,
                          "--to", "someone@remote.test", "--auth", "PLAIN",
                          "--auth-user", ALICE, "--auth-password", PASSWORDS["alice"],
                          "--helo", "client.example"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "235 2.7.0 Authentication successful" in res.stdout
    assert "queued as" in res.stdout


def test_wrong_password_delays_then_disconnects(make_inst):
    inst = make_inst()
    c = inst.submission()
    took = []
    for _ in range(2):
        t0 = time.monotonic()
        code, msg = c.docmd("AUTH", "PLAIN " + b64(f"\0{ALICE}\0Hunter-xyz9"))
        took.append(time.monotonic() - t0)
        assert code == 535 and msg.startswith(b"5.7.8"), (code, msg)
    assert took[0] >= 0.9 and took[1] >= 1.9 and took[1] > took[0], took
    code, msg = c.docmd("AUTH", "PLAIN " + b64(f"\0{ALICE}\0Hunter-xyz9"))
    assert code == 421, (code, msg)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        c.noop()
    assert "authentication failed" in inst.log_text()
    assert "Hunter-xyz9" not in inst.log_text()


def ehlo_auth(port, tls_ctx=None, starttls=False):
    """The AUTH keyword's mechanisms after EHLO (None: no AUTH), and the client."""
    if tls_ctx is not None and not starttls:
        c = smtplib.SMTP_SSL("127.0.0.1", port, timeout=30, context=tls_ctx)
    else:
        c = smtplib.SMTP("127.0.0.1", port, timeout=30)
    c.ehlo("client.example")
    if starttls:
        c.starttls(context=tls_ctx)
        c.ehlo("client.example")
    mechs = c.esmtp_features["auth"].split() if c.has_extn("auth") else None
    return mechs, c


def test_sasl_security_options(make_inst):
    """smtpd_sasl_security_options before TLS, smtpd_sasl_tls_security_options
    over TLS (by default the same): PLAIN and LOGIN are plaintext
    mechanisms, so noplaintext leaves none; noanonymous leaves both."""
    def edit(inst, text):
        text = text.replace("-o smtpd_tls_auth_only=yes", "-o smtpd_tls_auth_only=no "
                            "-o smtpd_sasl_security_options=noanonymous,noplaintext "
                            "-o smtpd_sasl_tls_security_options=noanonymous")
        assert "noplaintext" in text
        text = text.replace("-o syslog_name=tern/smtps",
                            "-o syslog_name=tern/smtps -o smtpd_sasl_security_options=noplaintext")
        # control: plaintext AUTH allowed when the options allow it
        text += (f"127.0.0.1:{inst.base + 26} inet n - n - - smtpd -o smtpd_sasl_auth_enable=yes "
                 "-o smtpd_tls_auth_only=no -o smtpd_sasl_security_options=noanonymous\n")
        return text
    inst = make_inst(edit)
    plain_pw = "PLAIN " + b64(f"\0{ALICE}\0{PASSWORDS['alice']}")
    # Control: the same session without TLS gets AUTH when nothing forbids it.
    mechs, c = ehlo_auth(inst.base + 26)
    assert mechs == ["PLAIN", "LOGIN"]
    assert c.docmd("AUTH", plain_pw)[0] == 235
    c.quit()
    # Submission before TLS: noplaintext leaves nothing to offer or accept.
    mechs, c = ehlo_auth(inst.sub)
    assert mechs is None
    code, msg = c.docmd("AUTH", plain_pw)
    assert code == 504 and msg.startswith(b"5.7.4"), (code, msg)
    code, msg = c.docmd("AUTH", "LOGIN")
    assert code == 504, (code, msg)
    c.quit()
    # Over TLS the TLS options (noanonymous) apply.
    mechs, c = ehlo_auth(inst.sub, inst.tls_ctx(), starttls=True)
    assert mechs == ["PLAIN", "LOGIN"]
    assert c.docmd("AUTH", plain_pw)[0] == 235
    c.quit()
    # smtps: the TLS options default to $smtpd_sasl_security_options (noplaintext here).
    mechs, c = ehlo_auth(inst.smtps, inst.tls_ctx())
    assert mechs is None
    assert c.docmd("AUTH", plain_pw)[0] == 504
    c.quit()


def test_sasl_security_options_unknown_word(make_inst):
    """An unknown option is warned about and AUTH is not offered (fail closed)."""
    def edit(inst, text):
        return text.replace("-o syslog_name=tern/smtps",
                            "-o syslog_name=tern/smtps -o smtpd_sasl_security_options=noplain")
    inst = make_inst(edit)
    mechs, c = ehlo_auth(inst.smtps, inst.tls_ctx())
    assert mechs is None
    c.quit()
    assert wait_for(lambda: 'smtpd_sasl_security_options: unknown SASL security option "noplain"'
                    in inst.log_text(), 10)
    mechs, c = ehlo_auth(inst.sub, inst.tls_ctx(), starttls=True)
    assert mechs == ["PLAIN", "LOGIN"]  # other services keep the default
    c.quit()


TERNMAP = os.path.join(BUILD, "bin", "ternmap")


@pytest.mark.skipif(not os.path.exists(TERNMAP), reason="ternmap not built")
def test_sender_login_maps_hash_table(make_inst):
    """smtpd_sender_login_maps pointing at an admin's own hash: table built
    by ternmap (not the texthash file tern init writes): shared addresses,
    @domain keys, case-insensitive keys, and a rebuilt table taking effect
    without a restart."""
    table = {}

    def edit(inst, text):
        path = os.path.join(inst.dir, "senders")
        table["path"] = path
        with open(path, "w") as f:
            f.write(f"# sender -> logins\n{ALICE} {ALICE}\n"
                    f"shared@{DOMAIN} {ALICE}, {BOB}\n"
                    f"@other.test {BOB}\n")
        res = subprocess.run([TERNMAP, "-c", inst.dir, f"hash:{path}"], capture_output=True,
                             text=True, timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
        assert os.path.exists(path + ".db")
        with open(os.path.join(inst.dir, "main.cf"), "a") as f:
            f.write(f"smtpd_sender_login_maps = hash:{path}\n")
        return text
    inst = make_inst(edit)

    def try_sender(login, sender):
        c = inst.submission()
        c.login(login, PASSWORDS[login.split("@")[0]])
        assert c.mail(sender)[0] == 250
        code, msg = c.rcpt("someone@remote.test")
        c.quit()
        return code, msg
    assert try_sender(ALICE, ALICE)[0] == 250
    assert try_sender(ALICE, f"Shared@{DOMAIN.upper()}")[0] == 250
    assert try_sender(BOB, f"shared@{DOMAIN}")[0] == 250
    assert try_sender(BOB, "anyone@other.test")[0] == 250
    code, msg = try_sender(BOB, ALICE)
    assert code == 553 and b"not owned by user " + BOB.encode() in msg, msg
    code, msg = try_sender(ALICE, "anyone@other.test")
    assert code == 553, msg
    # The texthash file tern init wrote is no longer consulted: bob owns bob@ there only.
    code, msg = try_sender(BOB, BOB)
    assert code == 553, msg
    # A rebuilt table is used at once.
    with open(table["path"], "a") as f:
        f.write(f"{BOB} {BOB}\n")
    res = subprocess.run([TERNMAP, "-c", inst.dir, "hash:" + table["path"]], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert try_sender(BOB, BOB)[0] == 250
