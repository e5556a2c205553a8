"""Integration tests for TLS in smtpd(8): STARTTLS on a plain port and
wrapper mode (smtps), driven by real clients: openssl s_client, swaks
--tls, Python's smtplib starttls() and SMTP_SSL, and raw sockets wrapped
by hand for the injection test.  The certificate is made per test run
with the openssl command; clients trust exactly that certificate.
"""

import hashlib
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess

import pytest

from conftest import BUILD, wait_for
from test_smtpd import QUEUES, Raw, queued_files

LIBEXEC = os.path.join(BUILD, "libexec")
SMTPD = os.path.join(LIBEXEC, "smtpd")
CLEANUP = os.path.join(LIBEXEC, "cleanup")
HOST = "mx.example.com"

pytestmark = pytest.mark.skipif(not os.path.exists(SMTPD), reason="smtpd not built")


def need_cleanup():
    if not os.path.exists(CLEANUP):
        pytest.skip("cleanup daemon not built yet")


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """(key, cert) PEM paths: a P-256 self-signed certificate for HOST."""
    d = tmp_path_factory.mktemp("tls")
    key, crt = str(d / "key.pem"), str(d / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", f"/CN={HOST}", "-addext",
                    f"subjectAltName=DNS:{HOST}"],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    os.chmod(str(d), 0o755)
    return key, crt


def cert_der(crt):
    with open(crt) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_ctx(crt, **kw):
    ctx = ssl.create_default_context(cafile=crt)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def start_tls(instance, cert, ports, main=None, rows=None):
    """An instance with smtpd on ports[0] (STARTTLS) and ports[1] (smtps)."""
    key, crt = cert
    inst = instance()
    params = {
        "daemon_directory": LIBEXEC,
        "myhostname": HOST,
        "mydomain": "example.com",
        "mydestination": "example.com, localhost",
        "mynetworks": "127.0.0.1/32",
        "local_recipient_maps": "static:ok",
        "smtpd_error_sleep_time": "0",
        "smtpd_tls_cert_file": crt,
        "smtpd_tls_key_file": key,
        "smtpd_tls_security_level": "may",
        "smtpd_tls_received_header": "yes",
        "smtpd_tls_loglevel": "1",
    }
    params.update(main or {})
    inst.main_cf(params)
    text = rows if rows is not None else (
        f"127.0.0.1:{ports[0]} inet n - n - - smtpd\n"
        f"127.0.0.1:{ports[1]} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n")
    if os.path.exists(CLEANUP):
        text += "cleanup unix - - n - 0 cleanup\n"
    inst.master_cf(text)
    for q in QUEUES:
        os.makedirs(os.path.join(inst.queue, q), mode=0o700, exist_ok=True)
        os.chown(os.path.join(inst.queue, q), inst.owner_uid, -1)
    inst.start(wait_port=ports[0])
    return inst


@pytest.fixture
def tls(instance, cert, ports):
    return start_tls(instance, cert, ports), ports[:2]


def ehlo_raw(port):
    c = Raw(port)
    assert c.reply()[0] == 220
    code, lines = c.cmd("EHLO client.example.org")
    assert code == 250
    return c, lines


def send_message(s, subject="tls"):
    s.sendmail("a@example.org", ["alice@example.com"],
               f"Subject: {subject}\r\n\r\nover TLS\r\n".encode())


def queued_text(inst):
    assert wait_for(lambda: queued_files(inst), 10)
    return b"".join(open(f, "rb").read() for f in queued_files(inst))


# ---- STARTTLS ---------------------------------------------------------------

def test_starttls_advertised_once(tls, cert):
    _, (port, _) = tls
    c, lines = ehlo_raw(port)
    assert "250-STARTTLS" in lines
    assert c.cmd("STARTTLS extra")[0] == 501
    c.close()


def test_openssl_s_client_sees_configured_certificate(tls, cert):
    _, (port, _) = tls
    r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        f"127.0.0.1:{port}", "-servername", HOST, "-CAfile", cert[1],
                        "-verify_return_error", "-brief"],
                       input="QUIT\r\n", capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    assert "Protocol version: TLSv1.3" in out, out
    assert "Verification: OK" in out, out
    r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        f"127.0.0.1:{port}", "-showcerts"],
                       input="QUIT\r\n", capture_output=True, text=True, timeout=30)
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", r.stdout, re.S)
    assert pem, r.stdout
    assert ssl.PEM_cert_to_DER_cert(pem.group(0)) == cert_der(cert[1])


def test_smtplib_starttls_resets_state_and_marks_received(tls, cert):
    need_cleanup()
    inst, (port, _) = tls
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.example.org")
        assert s.has_extn("starttls")
        s.docmd("MAIL FROM:<before@example.org>")  # forgotten by STARTTLS
        s._host = HOST  # the name the certificate is checked against
        code, _ = s.starttls(context=client_ctx(cert[1]))
        assert code == 220
        der = s.sock.getpeercert(binary_form=True)
        assert hashlib.sha256(der).digest() == hashlib.sha256(cert_der(cert[1])).digest()
        assert s.sock.version() == "TLSv1.3"
        # smtplib forgets the EHLO; the server must have too: MAIL needs no
        # "nested MAIL" error and STARTTLS is no longer offered.
        s.ehlo("client.example.org")
        assert not s.has_extn("starttls")
        assert s.docmd("STARTTLS") == (554, b"5.5.1 Error: TLS already active")
        send_message(s)
    data = queued_text(inst)
    assert re.search(rb"\(using TLSv1\.3 with cipher TLS_[A-Z0-9_]+ \(\d+/\d+ bits\)\)", data), data
    assert b"with ESMTPS id" in data
    assert b"before@example.org" not in data
    assert inst.wait_log(r"Anonymous TLS connection established from unknown\[127\.0\.0\.1\]: "
                         r"TLSv1\.3 with cipher")


def test_swaks_tls(tls, cert):
    need_cleanup()
    if shutil.which("swaks") is None:
        pytest.skip("swaks not installed")
    support = subprocess.run(["swaks", "--support"], capture_output=True, text=True, timeout=30)
    if "TLS supported" not in support.stdout + support.stderr:
        pytest.skip("swaks without TLS support (Net::SSLeay)")
    _, (port, _) = tls
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--from", "a@example.org",
                        "--to", "alice@example.com", "--tls", "--timeout", "20"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TLS started" in r.stdout and "queued as" in r.stdout


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_old_tls_versions_refused(tls, cert):
    inst, (port, wport) = tls
    for maxv in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = maxv
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            pass  # this OpenSSL cannot even offer it: refused either way
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.ehlo("client.example.org")
            with pytest.raises((ssl.SSLError, OSError, smtplib.SMTPException)):
                s.starttls(context=ctx)
        with pytest.raises((ssl.SSLError, OSError)):
            with socket.create_connection(("127.0.0.1", wport), timeout=30) as raw:
                with ctx.wrap_socket(raw) as t:
                    t.recv(100)
    assert inst.wait_log(r"SSL_accept error from unknown\[127\.0\.0\.1\]: .*"
                         r"(unsupported protocol|version)")
    # The daemon lives on.
    c, _ = ehlo_raw(port)
    c.close()


def test_starttls_injection_discarded(tls, cert):
    inst, (port, _) = tls
    c, _ = ehlo_raw(port)
    c.send(b"STARTTLS\r\nRSET\r\n")
    assert c.reply() == (220, ["220 2.0.0 Ready to start TLS"])
    assert c.buf == b""
    t = client_ctx(cert[1]).wrap_socket(c.sock, server_hostname=HOST)
    c.sock = t
    t.sendall(b"EHLO client.example.org\r\n")
    code, lines = c.reply()
    assert code == 250 and lines[0] == f"250-{HOST}", lines  # not a reply to RSET
    assert c.cmd("NOOP") == (250, ["250 2.0.0 Ok"])
    c.close()
    assert inst.wait_log(r"improper command pipelining after STARTTLS from "
                         r"unknown\[127\.0\.0\.1\]: 6 bytes discarded")


def test_plaintext_handshake_failure_ends_session_only(tls, cert):
    inst, (port, _) = tls
    c, _ = ehlo_raw(port)
    assert c.cmd("STARTTLS")[0] == 220
    c.send(b"MAIL FROM:<a@example.org>\r\n")  # not a ClientHello
    assert c.closed()
    c.close()
    assert inst.wait_log(r"SSL_accept error from unknown\[127\.0\.0\.1\]: ")
    c, lines = ehlo_raw(port)
    assert "250-STARTTLS" in lines
    c.close()


# ---- wrapper mode (smtps) ----------------------------------------------------

def test_smtp_ssl_wrapper_mode_message(tls, cert):
    need_cleanup()
    inst, (_, wport) = tls
    ctx = client_ctx(cert[1])

    class SSLTo127(smtplib.SMTP_SSL):
        def _get_socket(self, host, port, timeout):
            raw = socket.create_connection(("127.0.0.1", port), timeout)
            return self.context.wrap_socket(raw, server_hostname=HOST)

    with SSLTo127(HOST, wport, timeout=30, context=ctx) as s:
        code, _ = s.ehlo("client.example.org")
        assert code == 250
        assert not s.has_extn("starttls")
        assert s.docmd("STARTTLS")[0] == 554
        send_message(s, "smtps")
    data = queued_text(inst)
    assert b"(using TLSv1.3 with cipher" in data and b"with ESMTPS id" in data


def test_wrapper_mode_plaintext_client(tls, cert):
    inst, (port, wport) = tls
    with socket.create_connection(("127.0.0.1", wport), timeout=10) as raw:
        raw.sendall(b"EHLO client.example.org\r\n")
        raw.settimeout(10)
        try:
            data = raw.recv(100)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(b"220")
    assert inst.wait_log(r"SSL_accept error from unknown\[127\.0\.0\.1\]")
    c, _ = ehlo_raw(port)
    c.close()


def test_session_resumption(tls, cert, tmp_path):
    _, (_, wport) = tls
    sess = str(tmp_path / "sess.pem")
    base = ["openssl", "s_client", "-connect", f"127.0.0.1:{wport}", "-CAfile", cert[1],
            "-ign_eof"]
    r = subprocess.run(base + ["-sess_out", sess], input="QUIT\r\n", capture_output=True,
                       text=True, timeout=30)
    assert "221 2.0.0 Bye" in r.stdout, r.stdout + r.stderr
    assert os.path.getsize(sess) > 0
    r = subprocess.run(base + ["-sess_in", sess], input="QUIT\r\n", capture_output=True,
                       text=True, timeout=30)
    assert "Reused, TLSv1.3" in r.stdout, r.stdout
    keys = os.path.join(tls[0].queue, "private", "tls_ticket_keys")
    st = os.stat(keys)
    assert st.st_mode & 0o777 == 0o600
    assert st.st_uid == tls[0].owner_uid


# ---- levels and broken configurations ------------------------------------------

def test_level_encrypt_requires_starttls(instance, cert, ports):
    need_cleanup()
    rows = (f"127.0.0.1:{ports[0]} inet n - n - - smtpd "
            "-o smtpd_tls_security_level=encrypt\n")
    start_tls(instance, cert, ports, rows=rows)
    c, lines = ehlo_raw(ports[0])
    assert "250-STARTTLS" in lines
    assert c.cmd("MAIL FROM:<a@example.org>") == (
        530, ["530 5.7.0 Must issue a STARTTLS command first"])
    c.close()
    with smtplib.SMTP("127.0.0.1", ports[0], timeout=30) as s:
        s._host = HOST
        s.starttls(context=client_ctx(cert[1]))
        send_message(s, "encrypt")


def test_missing_key_file(instance, cert, ports, tmp_path):
    missing = str(tmp_path / "no-such-key.pem")
    inst = start_tls(instance, cert, ports, main={"smtpd_tls_key_file": missing})
    c, lines = ehlo_raw(ports[0])
    assert "250-STARTTLS" not in lines
    assert c.cmd("STARTTLS")[0] == 454
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250  # level may: plaintext goes on
    c.close()
    assert inst.wait_log(r"TLS is not available: cannot open " + re.escape(missing) +
                         r": No such file or directory; STARTTLS is not offered")


def test_mismatched_key_with_encrypt(instance, cert, ports, tmp_path):
    other = str(tmp_path / "other.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", other], check=True,
                   capture_output=True, timeout=30)
    os.chmod(str(tmp_path), 0o755)
    inst = start_tls(instance, cert, ports, main={"smtpd_tls_key_file": other,
                                                  "smtpd_tls_security_level": "encrypt"})
    c, lines = ehlo_raw(ports[0])
    assert "250-STARTTLS" not in lines
    assert c.cmd("MAIL FROM:<a@example.org>")[0] == 454
    c.close()
    assert inst.wait_log(r"TLS is not available: the private key in " + re.escape(other) +
                         r" does not match the certificate in " + re.escape(cert[1]))



def server_pid(sock):
    """The pid of the process holding the server end of sock (root only)."""
    cport, sport = sock.getsockname()[1], sock.getpeername()[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if (int(p[1].split(":")[1], 16), int(p[2].split(":")[1], 16)) == (sport, cport):
                inode = p[9]
    assert inode is not None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return int(pid)
        except OSError:
            continue
    raise AssertionError("no process holds the server socket")


def memory_holds(pid, needle):
    """Whether a writable mapping of pid (up to 256 MiB each) contains needle."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            lo, hi = (int(x, 16) for x in addr.split("-"))
            if perms[:2] != "rw" or hi - lo > 256 << 20:
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            if data and needle in data:
                return True
    return False


def test_root_only_key_chrooted_starttls_lazy_context_key_wiped(instance, cert, ports):
    """A key only root can read, a chrooted smtpd running as mail_owner:
    the key text is read before the drop and held until the first
    STARTTLS builds the context (none is built for a session without
    TLS), then wiped from the process's memory."""
    if os.geteuid() != 0:
        pytest.skip("needs root (a root-only key, chroot, /proc/PID/mem)")
    key, crt = cert
    st = os.stat(key)
    assert st.st_uid == 0 and st.st_mode & 0o077 == 0
    rows = f"127.0.0.1:{ports[0]} inet n - y - - smtpd\n"
    start_tls(instance, cert, ports, rows=rows)
    with open(key, "rb") as f:
        body = f.read().split(b"\n")[1]  # the first base64 line of the key
    assert len(body) >= 40
    c, lines = ehlo_raw(ports[0])
    assert "250-STARTTLS" in lines
    pid = server_pid(c.sock)
    assert memory_holds(pid, body), "the key text is not held before STARTTLS"
    assert c.cmd("STARTTLS")[0] == 220
    ctx = client_ctx(crt)
    t = ctx.wrap_socket(c.sock, server_hostname=HOST)
    t.sendall(b"EHLO client.example.org\r\n")
    got = b""
    while not got.endswith(b"\r\n") or b"250 " not in got:
        chunk = t.recv(4096)
        assert chunk
        got += chunk
    assert got.startswith(b"250-")
    assert server_pid(t) == pid
    assert not memory_holds(pid, body), "the key text is still in memory after the build"
    t.sendall(b"QUIT\r\n")
    assert t.recv(100).startswith(b"221 ")
    t.close()


# ---- tern init: a certificate and the submission/smtps services ------------------

def test_tern_init_instance_tls(tmp_path):
    """`tern init` makes a key (0600) and a self-signed certificate for
    myhostname; smtp offers STARTTLS, submission requires it, smtps is
    TLS from the first byte, all with that certificate."""
    import pathlib
    import signal
    import tempfile
    from conftest import free_port, pid_alive
    tern = os.path.join(BUILD, "bin", "tern")
    if not os.access(tern, os.X_OK) or not os.path.exists(CLEANUP):
        pytest.skip("tern or cleanup not built")
    top = tempfile.mkdtemp(prefix="tern-tls-")
    os.chmod(top, 0o755)
    d = pathlib.Path(top) / "inst"
    base = None
    for _ in range(50):
        b = free_port() // 10 * 10 - 600
        if b > 1024 and all(_port_free(b + o) for o in (25, 465, 587)):
            base = b
            break
    if base is None:
        pytest.skip("no free port range")
    pid = None
    try:
        r = subprocess.run([tern, "init", str(d), "--port-base", str(base), "--user", "alice"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        key, crt = d / "tls" / "key.pem", d / "tls" / "cert.pem"
        assert os.stat(key).st_mode & 0o777 == 0o600
        main = (d / "main.cf").read_text()
        assert f"smtpd_tls_cert_file = {crt}" in main
        assert "smtpd_tls_security_level = may" in main
        master = (d / "master.cf").read_text()
        assert re.search(rf"^127\.0\.0\.1:{base + 587} .* smtpd .*"
                         r"-o smtpd_tls_security_level=encrypt", master, re.M)
        assert re.search(rf"^127\.0\.0\.1:{base + 465} .* smtpd .*-o smtpd_tls_wrappermode=yes",
                         master, re.M)
        before = crt.read_bytes()
        r = subprocess.run([tern, "init", str(d), "--port-base", str(base), "--force"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and crt.read_bytes() == before  # kept
        r = subprocess.run([tern, "-c", str(d), "start"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        pid = int(re.search(r"master pid (\d+)", r.stdout).group(1))
        assert wait_for(lambda: not _port_free(base + 465), 10)
        ctx = client_ctx(str(crt))
        with smtplib.SMTP("127.0.0.1", base + 25, timeout=30) as s:
            s._host = "localhost"
            s.ehlo("client.example.org")
            assert s.has_extn("starttls")
            s.starttls(context=ctx)
            der = s.sock.getpeercert(binary_form=True)
            assert der == cert_der(str(crt))
        c, lines = ehlo_raw(base + 587)
        assert "250-STARTTLS" in lines
        assert c.cmd("MAIL FROM:<a@example.org>")[0] == 530
        c.close()
        with socket.create_connection(("127.0.0.1", base + 465), timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as t:
                assert t.recv(100).startswith(b"220 ")
                assert t.getpeercert(binary_form=True) == cert_der(str(crt))
    finally:
        if pid is not None:
            subprocess.run([tern, "-c", str(d), "stop"], capture_output=True, timeout=60)
            if not wait_for(lambda: not pid_alive(pid), 10):
                os.kill(pid, signal.SIGKILL)
        log = d / "log" / "tern.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        shutil.rmtree(top, ignore_errors=True)
    assert "runtime error:" not in text and "AddressSanitizer" not in text


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_chrooted_smtpd_keeps_tls(instance, cert, ports):
    """Keys and the ticket key file are opened before chroot and the drop
    to mail_owner: a chrooted smtps service still handshakes."""
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    rows = (f"127.0.0.1:{ports[0]} inet n - n - - smtpd\n"
            f"127.0.0.1:{ports[1]} inet n - y - - smtpd -o smtpd_tls_wrappermode=yes\n")
    inst = start_tls(instance, cert, ports, rows=rows)
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", ports[1]), timeout=30) as raw:
            with client_ctx(cert[1]).wrap_socket(raw, server_hostname=HOST) as t:
                assert t.recv(100).startswith(b"220 ")
                t.sendall(b"QUIT\r\n")
                assert t.recv(100).startswith(b"221 ")
    assert not inst.wait_log(r"TLS is not available", timeout=0.5)
