"""Integration tests for the SMTP client's STARTTLS and AUTH (smtp/smtp_tls.c,
smtp/smtp_sasl.c).

Instance A (tern init) sends to instance B (tern init: self-signed
certificate for mail.b.test, STARTTLS at level may) or to a Python peer
in this file that can offer STARTTLS (with its own certificate), send
bytes after its 220 to STARTTLS, and offer AUTH PLAIN/LOGIN after TLS.
The instance and peer fixtures come from test_smtp_client.py.
"""

import base64
import os
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading

import pytest

from conftest import wait_for
import test_smtp_client
from test_smtp_client import MSG, PeerServer, peer, peer_factory, terns  # noqa: F401 (fixtures)

USER, PASSWORD = "relayuser", "S3cret:pass"


def sender_a(terns, nexthop, extra="", policy=None):
    """A routing peer.test and b.test to nexthop; policy: smtp_tls_policy_maps text."""
    if policy is None:
        return test_smtp_client.sender_a(terns, nexthop, extra)
    return terns("a.test", "127.0.0.2",
                 "transport_maps = texthash:$DIR/transport\n"
                 "smtp_tls_policy_maps = texthash:$DIR/tls_policy\n" + extra,
                 {"transport": f"peer.test smtp:{nexthop}\nb.test smtp:{nexthop}\n",
                  "tls_policy": policy})


@pytest.fixture(scope="module")
def peer_cert():
    d = tempfile.mkdtemp(prefix="tern-tlspeer-")
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=peer.test",
                    "-keyout", key, "-out", cert, "-days", "2"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


class TlsPeer(PeerServer):
    """An SMTP peer with STARTTLS and AUTH (checks USER/PASSWORD)."""

    def __init__(self, cert, key, addr="127.0.0.7", starttls=True, auth=("PLAIN", "LOGIN"),
                 auth_without_tls=False, inject=b"", client_ca=None,
                 verify_mode=ssl.CERT_NONE):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        if client_ca is not None:  # ask the client for a certificate from this CA
            self.ctx.load_verify_locations(client_ca)
            self.ctx.verify_mode = verify_mode
        self.client_certs = []  # per handshake: the client's verified cert (dict) or None
        self.starttls, self.auth = starttls, list(auth)
        self.auth_without_tls, self.inject = auth_without_tls, inject
        self.messages, self.commands, self.auth_ok = [], [], []
        self.lock = threading.Lock()
        me = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(20)
                try:
                    me.session(self.request)
                except (OSError, ssl.SSLError):
                    pass

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((addr, 0), Handler)
        self.addr, self.port = addr, self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def session(self, sock):
        rfile = sock.makefile("rb")
        tls = False

        def say(text, extra=b""):
            sock.sendall(text.encode() + b"\r\n" + extra)

        def line():
            ln = rfile.readline(4096)
            if not ln:
                raise OSError("eof")
            return ln.decode("utf-8", "replace").rstrip("\r\n")

        say("220 peer.test ESMTP")
        rcpts, mail = [], None
        while True:
            cmd = line()
            with self.lock:
                self.commands.append(("tls " if tls else "") + cmd)
            verb = cmd[:8].upper()
            if verb.startswith("EHLO"):
                ext = ["PIPELINING", "8BITMIME"]
                if self.starttls and not tls:
                    ext.append("STARTTLS")
                if self.auth and (tls or self.auth_without_tls):
                    ext.append("AUTH " + " ".join(self.auth))
                lines = ["peer.test"] + ext
                for ln in lines[:-1]:
                    say("250-" + ln)
                say("250 " + lines[-1])
            elif verb == "STARTTLS" and self.starttls and not tls:
                say("220 2.0.0 Ready to start TLS", self.inject)
                sock = self.ctx.wrap_socket(sock, server_side=True)
                rfile = sock.makefile("rb")
                tls = True
                with self.lock:
                    self.client_certs.append(sock.getpeercert() or None)
            elif verb.startswith("AUTH"):
                parts = cmd.split()
                if parts[1].upper() == "PLAIN":
                    got = base64.b64decode(parts[2]) if len(parts) > 2 else b""
                    ok = got == b"\0" + USER.encode() + b"\0" + PASSWORD.encode()
                else:
                    say("334 VXNlcm5hbWU6")
                    u = base64.b64decode(line())
                    say("334 UGFzc3dvcmQ6")
                    p = base64.b64decode(line())
                    ok = (u, p) == (USER.encode(), PASSWORD.encode())
                with self.lock:
                    self.auth_ok.append(ok)
                say("235 2.7.0 Authentication successful" if ok else
                    "535 5.7.8 Error: authentication failed: bad user or password")
            elif verb.startswith("MAIL"):
                if self.auth and not any(self.auth_ok):
                    say("530 5.7.0 Authentication required")
                    continue
                mail, rcpts = cmd, []
                say("250 2.1.0 Ok")
            elif verb.startswith("RCPT"):
                rcpts.append(cmd)
                say("250 2.1.5 Ok")
            elif verb.startswith("DATA"):
                say("354 go ahead")
                data = b""
                while True:
                    chunk = rfile.readline(100000)
                    if not chunk or chunk == b".\r\n":
                        break
                    data += chunk
                with self.lock:
                    self.messages.append((mail, rcpts, data, tls))
                say("250 2.0.0 Ok: queued")
            elif verb.startswith("RSET"):
                say("250 2.0.0 Ok")
            elif verb.startswith("QUIT"):
                say("221 2.0.0 Bye")
                return
            else:
                say("502 5.5.2 Error: command not recognized")



@pytest.fixture
def tlspeer(peer_cert):
    yield from peer_factory(lambda **kw: TlsPeer(*peer_cert, **kw))


def b_cert(b):
    return os.path.join(b.dir, "tls", "cert.pem")


def sasl_a(terns, p, extra=""):
    """A with relayhost = the peer and credentials for it."""
    return terns("a.test", "127.0.0.2",
                 f"relayhost = {p.nexthop}\nsmtp_sasl_auth_enable = yes\n"
                 "smtp_sasl_password_maps = texthash:$DIR/sasl_passwd\n"
                 "smtp_tls_loglevel = 1\n" + extra,
                 {"sasl_passwd": f"{p.nexthop} {USER}:{PASSWORD}\n"})


def deferred_with(a, text):
    assert wait_for(lambda: "status=deferred" in a.log_text(), 20), a.log_text()[-3000:]
    assert wait_for(lambda: text in a.mailq(), 10), a.mailq() + a.log_text()[-3000:]


# ---- tests ------------------------------------------------------------------

def test_may_tern_to_tern(terns):
    b = terns("b.test", "127.0.0.3")
    a = sender_a(terns, f"[127.0.0.3]:{b.port}",
                 "smtp_tls_security_level = may\nsmtp_tls_loglevel = 1\n")
    a.send("alice@a.test", ["alice@b.test"], MSG.replace(b"bob@peer.test", b"alice@b.test"))
    assert wait_for(lambda: b.mailbox(), 20), a.log_text()[-3000:] + b.log_text()[-2000:]
    received = b.read_mail()[0].get_all("Received")[0]
    assert "ESMTPS" in received and "with cipher" in received, received
    assert re.search(r"(Untrusted|Anonymous) TLS connection established to "
                     r"127\.0\.0\.3\[127\.0\.0\.3\]:\d+: TLSv1\.[23] with cipher ", a.log_text())


def test_encrypt_without_starttls_defers(terns, peer):
    p = peer()
    a = sender_a(terns, p.nexthop, "smtp_tls_security_level = encrypt\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    deferred_with(a, "TLS is required, but was not offered by host 127.0.0.7[127.0.0.7]")
    assert p.messages == [] and not any(c.startswith("MAIL") for c in p.commands)


def test_may_without_starttls_is_plaintext(terns, peer):
    p = peer()
    a = sender_a(terns, p.nexthop, "smtp_tls_security_level = may\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]


def test_verify_name_mismatch_defers(terns):
    b = terns("b.test", "127.0.0.3")
    a = sender_a(terns, f"[127.0.0.3]:{b.port}",
                 f"smtp_tls_security_level = verify\nsmtp_tls_CAfile = {b_cert(b)}\n")
    a.send("alice@a.test", ["alice@b.test"], MSG.replace(b"bob@peer.test", b"alice@b.test"))
    deferred_with(a, "certificate verification failed for 127.0.0.3[127.0.0.3]:")
    assert b.mailbox() == []


def test_verify_untrusted_defers(terns):
    b = terns("b.test", "127.0.0.3")
    # the name matches, but the self-signed certificate is not trusted
    a = sender_a(terns, f"[127.0.0.3]:{b.port}",
                 "smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt\n",
                 policy=f"[127.0.0.3]:{b.port} verify match=mail.b.test\n")
    a.send("alice@a.test", ["alice@b.test"], MSG.replace(b"bob@peer.test", b"alice@b.test"))
    deferred_with(a, "certificate verification failed")
    assert b.mailbox() == []


def test_verify_policy_match_trusted(terns):
    b = terns("b.test", "127.0.0.3")
    a = sender_a(terns, f"[127.0.0.3]:{b.port}",
                 f"smtp_tls_CAfile = {b_cert(b)}\nsmtp_tls_loglevel = 1\n",
                 policy=f"[127.0.0.3]:{b.port} verify match=mail.b.test\n")
    a.send("alice@a.test", ["alice@b.test"], MSG.replace(b"bob@peer.test", b"alice@b.test"))
    assert wait_for(lambda: b.mailbox(), 20), a.log_text()[-3000:] + b.log_text()[-2000:]
    assert re.search(r"Trusted TLS connection established to 127\.0\.0\.3\[127\.0\.0\.3\]:\d+: "
                     r"TLSv1\.[23] with cipher ", a.log_text()), a.log_text()[-3000:]


def test_injection_after_starttls_discarded(terns, tlspeer):
    p = tlspeer(auth=(), inject=b"250-peer.test\r\n250 AUTH PLAIN\r\n")
    a = sender_a(terns, p.nexthop, "smtp_tls_security_level = encrypt\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert p.messages[0][3], "delivered over TLS"
    assert re.search(r"discarding \d+ bytes the server sent after its reply to STARTTLS",
                     a.log_text()), a.log_text()[-3000:]
    # EHLO went out again over TLS
    assert any(c.startswith("tls EHLO") for c in p.commands), p.commands


def test_auth_plain_over_tls(terns, tlspeer):
    p = tlspeer()
    a = sasl_a(terns, p, "smtp_tls_security_level = encrypt\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert p.auth_ok == [True]
    assert any(c.startswith("tls AUTH PLAIN") for c in p.commands)
    assert wait_for(lambda: a.queued() == [], 10)
    assert PASSWORD not in a.log_text()
    assert base64.b64encode(b"\0" + USER.encode() + b"\0" + PASSWORD.encode()).decode() \
        not in a.log_text()


def test_auth_login_when_only_login(terns, tlspeer):
    p = tlspeer(auth=("LOGIN",))
    a = sasl_a(terns, p, "smtp_tls_security_level = may\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert p.auth_ok == [True]


def test_auth_wrong_password_defers(terns, tlspeer):
    p = tlspeer()
    a = terns("a.test", "127.0.0.2",
              f"relayhost = {p.nexthop}\nsmtp_sasl_auth_enable = yes\n"
              "smtp_sasl_password_maps = texthash:$DIR/sasl_passwd\n"
              "smtp_tls_security_level = may\n",
              {"sasl_passwd": f"{p.nexthop} {USER}:wrong-password\n"})
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    deferred_with(a, "SASL authentication failed; server 127.0.0.7[127.0.0.7] said: 535 5.7.8")
    assert p.messages == [] and p.auth_ok == [False]
    assert "wrong-password" not in a.log_text()


def test_auth_not_over_plaintext(terns, tlspeer):
    p = tlspeer(starttls=False, auth_without_tls=True)
    a = sasl_a(terns, p, "smtp_tls_security_level = may\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    deferred_with(a, "no mechanism available without TLS")
    assert not any("AUTH" in c for c in p.commands if not c.startswith("EHLO"))


def test_auth_plaintext_when_allowed(terns, tlspeer):
    p = tlspeer(starttls=False, auth_without_tls=True)
    a = sasl_a(terns, p, "smtp_sasl_security_options = noanonymous\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert p.auth_ok == [True]


# ---- client certificate (smtp_tls_cert_file, smtp_tls_key_file) -----------

def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def client_pki():
    """A CA, and a client key + certificate for client.a.test signed by it;
    also both in one file.  The key files are mode 0600 (root's when the
    tests run as root: smtp must read them before dropping privileges)."""
    d = tempfile.mkdtemp(prefix="tern-clientcert-")
    os.chmod(d, 0o755)
    f = {n: os.path.join(d, n) for n in ("ca.key", "ca.pem", "client.key", "client.csr",
                                          "client.pem", "ext", "both.pem")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-subj", "/CN=tern test client CA", "-keyout", f["ca.key"],
            "-out", f["ca.pem"], "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", *ec, "-subj", "/CN=client.a.test", "-keyout", f["client.key"],
            "-out", f["client.csr"])
    with open(f["ext"], "w") as fh:
        fh.write("extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f["client.csr"], "-CA", f["ca.pem"], "-CAkey", f["ca.key"],
            "-CAcreateserial", "-out", f["client.pem"], "-days", "2", "-extfile", f["ext"])
    with open(f["both.pem"], "w") as out:
        for n in ("client.key", "client.pem"):
            with open(f[n]) as fh:
                out.write(fh.read())
    for n in ("client.key", "both.pem", "ca.key"):
        os.chmod(f[n], 0o600)
    yield f
    shutil.rmtree(d, ignore_errors=True)


def client_cn(cert):
    return dict(x[0] for x in cert["subject"])["commonName"]


def test_client_cert_presented(terns, tlspeer, client_pki):
    p = tlspeer(auth=(), client_ca=client_pki["ca.pem"], verify_mode=ssl.CERT_REQUIRED)
    a = sender_a(terns, p.nexthop,
                 "smtp_tls_security_level = encrypt\n"
                 f"smtp_tls_cert_file = {client_pki['client.pem']}\n"
                 f"smtp_tls_key_file = {client_pki['client.key']}\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert p.messages[0][3], "not delivered over TLS"
    assert len(p.client_certs) == 1 and p.client_certs[0] is not None, p.client_certs
    assert client_cn(p.client_certs[0]) == "client.a.test"


def test_client_cert_and_key_in_one_file(terns, tlspeer, client_pki):
    """smtp_tls_key_file defaults to $smtp_tls_cert_file; level may."""
    p = tlspeer(auth=(), client_ca=client_pki["ca.pem"], verify_mode=ssl.CERT_OPTIONAL)
    a = sender_a(terns, p.nexthop, "smtp_tls_security_level = may\n"
                 f"smtp_tls_cert_file = {client_pki['both.pem']}\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert p.client_certs and client_cn(p.client_certs[0]) == "client.a.test", p.client_certs


def test_no_client_cert_unless_configured(terns, tlspeer, client_pki):
    p = tlspeer(auth=(), client_ca=client_pki["ca.pem"], verify_mode=ssl.CERT_OPTIONAL)
    a = sender_a(terns, p.nexthop, "smtp_tls_security_level = encrypt\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    assert wait_for(lambda: p.messages, 20), a.log_text()[-3000:]
    assert p.messages[0][3] and p.client_certs == [None]


def test_unreadable_client_cert_defers_at_encrypt(terns, tlspeer, client_pki):
    p = tlspeer(auth=())
    a = sender_a(terns, p.nexthop, "smtp_tls_security_level = encrypt\n"
                 f"smtp_tls_cert_file = {client_pki['client.pem']}.missing\n")
    a.send("alice@a.test", ["bob@peer.test"], MSG)
    deferred_with(a, "TLS is required, but our TLS engine is unavailable")
    assert "cannot load the client certificate" in a.log_text()
    assert p.messages == []
