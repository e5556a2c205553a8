"""tern's resolver against a real DNS server (nsd on a loopback port).

Every question goes through terndns, which uses the same lib/dns code as
the smtp client, with a main.cf whose dns_nameservers points at the test
server: the machine's own resolver is never asked.  Each case checks the
class of the result (OK / NOTFOUND / NULLMX / TEMPFAIL / INVALID), which is
what decides between delivery, bounce and deferral.
"""

import os
import subprocess
import time

import pytest

from dnsserver import DnsServer, SilentServer, free_udp_tcp_port, have_nsd

SRC = os.environ.get(
    "TERN_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
BUILD = os.environ.get("TERN_BUILD", os.path.join(SRC, "build"))
TERNDNS = os.path.join(BUILD, "bin", "terndns")

pytestmark = pytest.mark.skipif(not have_nsd(), reason="nsd not installed")

EXAMPLE = """
@       MX 10 mx1a
@       MX 10 mx1b
@       MX 10 mx1c
@       MX 20 mx2
mx1a    A 127.0.0.2
mx1b    A 127.0.0.3
mx1c    A 127.0.0.4
mx2     A 127.0.0.5
mx2     AAAA ::1
v6only  AAAA 2001:db8::25
noma    A 127.0.0.6
nullmx  MX 0 .
txt     TXT "v=spf1 ip4:127.0.0.0/8 -all"
multi   TXT "part one " "part two"
alias   CNAME noma
mxalias CNAME @
loop1   CNAME loop2
loop2   CNAME loop1
out     CNAME target.other.test.
_25._tcp.mx1a TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
"""

# Enough TXT records that the answer exceeds the EDNS UDP size: TCP fallback.
BIG = "".join(f'big TXT "{i:03d}-{"x" * 200}"\n' for i in range(30))

OTHER = """
target  A 127.0.0.7
"""

REVERSE4 = """
2       PTR mx1a.example.test.
3       PTR mx1b.example.test.
"""


def run_terndns(cfg, *args, timeout=60):
    proc = subprocess.run(
        [TERNDNS, "-c", cfg, *args], capture_output=True, text=True, timeout=timeout
    )
    for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert mark not in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and lines[0].startswith("result="), (proc.stdout, proc.stderr)
    return proc.returncode, lines


def result_of(line):
    fields = dict(f.split("=", 1) for f in line.split(" ")[:2])
    return fields["result"], set(fields["flags"].split(",")) - {"-"}


def write_cfg(base, name, nameservers, timeout="3s", retries=1, extra=""):
    cfg = os.path.join(base, name)
    os.makedirs(cfg, exist_ok=True)
    with open(os.path.join(cfg, "main.cf"), "w") as f:
        f.write(
            f"dns_nameservers = {nameservers}\n"
            f"dns_timeout = {timeout}\ndns_retries = {retries}\n{extra}"
        )
    return cfg


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    if not os.access(TERNDNS, os.X_OK):
        pytest.skip("terndns not built")
    base = str(tmp_path_factory.mktemp("dns"))
    server = DnsServer(base)
    server.add_zone("example.test", EXAMPLE + BIG)
    server.add_zone("other.test", OTHER)
    server.add_zone("2.0.192.in-addr.arpa", REVERSE4)
    server.add_broken_zone("broken.test")
    server.start()
    server.cfg = write_cfg(base, "cfg", server.nameserver)
    server.base = base
    yield server
    server.stop()


def test_mx_preference_order_and_random_tie_break(dns):
    orders = set()
    for _ in range(12):
        rc, lines = run_terndns(dns.cfg, "mx", "example.test")
        assert rc == 0
        assert result_of(lines[0]) == ("OK", set())
        mx = [line.split() for line in lines[1:]]
        assert [m[1] for m in mx] == ["10", "10", "10", "20"]
        assert sorted(m[2] for m in mx[:3]) == [
            "mx1a.example.test", "mx1b.example.test", "mx1c.example.test"]
        assert mx[3][2] == "mx2.example.test"
        assert mx[0][3] == "ttl=300"
        orders.add(tuple(m[2] for m in mx[:3]))
    # 12 lookups of 3 equal-preference hosts in one fixed order: 1 in 6^11.
    assert len(orders) > 1


def test_domain_without_mx_is_nodata_and_has_address(dns):
    rc, lines = run_terndns(dns.cfg, "mx", "noma.example.test")
    assert rc == 2
    assert result_of(lines[0]) == ("NOTFOUND", set())
    rc, lines = run_terndns(dns.cfg, "a", "noma.example.test")
    assert rc == 0
    assert lines[1] == "a 127.0.0.6 ttl=300"


def test_null_mx(dns):
    rc, lines = run_terndns(dns.cfg, "mx", "nullmx.example.test")
    assert rc == 3
    assert result_of(lines[0])[0] == "NULLMX"
    assert len(lines) == 1


def test_nxdomain_is_permanent(dns):
    for qtype in ("mx", "a", "addr", "txt"):
        rc, lines = run_terndns(dns.cfg, qtype, "nosuch.example.test")
        assert rc == 2, lines
        assert result_of(lines[0]) == ("NOTFOUND", {"nxdomain"})


def test_servfail_is_temporary_then_fixed(tmp_path):
    with DnsServer(str(tmp_path)) as server:
        server.add_zone("example.test", EXAMPLE)
        server.add_broken_zone("broken.test")
        server.start()
        cfg = write_cfg(str(tmp_path), "cfg", server.nameserver)
        rc, lines = run_terndns(cfg, "mx", "broken.test")
        assert rc == 4
        assert result_of(lines[0]) == ("TEMPFAIL", set())
        assert "SERVFAIL" in lines[0]
        server.add_zone("broken.test", "@ MX 5 mail\nmail A 127.0.0.9\n")
        server.reload()
        rc, lines = run_terndns(cfg, "mx", "broken.test")
        assert rc == 0, lines
        assert lines[1] == "mx 5 mail.broken.test ttl=300"


def test_servfail_in_module_server(dns):
    rc, lines = run_terndns(dns.cfg, "a", "www.broken.test")
    assert rc == 4
    assert result_of(lines[0])[0] == "TEMPFAIL"


def test_refused_is_temporary(dns):
    rc, lines = run_terndns(dns.cfg, "mx", "not-served.invalid-tld-test")
    assert rc == 4
    assert "REFUSED" in lines[0]


def test_timeout_is_temporary(tmp_path):
    with SilentServer() as silent:
        cfg = write_cfg(str(tmp_path), "cfg", silent.nameserver, timeout="1s", retries=2)
        start = time.monotonic()
        rc, lines = run_terndns(cfg, "mx", "example.test")
        took = time.monotonic() - start
    assert rc == 4
    assert result_of(lines[0])[0] == "TEMPFAIL"
    assert 1.5 <= took < 15, took


def test_nothing_listening_is_temporary(tmp_path):
    port = free_udp_tcp_port()
    cfg = write_cfg(str(tmp_path), "cfg", f"127.0.0.1:{port}", timeout="1s")
    rc, lines = run_terndns(cfg, "a", "example.test")
    assert rc == 4
    assert result_of(lines[0])[0] == "TEMPFAIL"


def test_dead_first_server_falls_back_to_second(dns, tmp_path):
    with SilentServer() as silent:
        cfg = write_cfg(
            str(tmp_path), "cfg", f"{silent.nameserver}, {dns.nameserver}", timeout="1s")
        rc, lines = run_terndns(cfg, "mx", "example.test")
    assert rc == 0
    assert len(lines) == 5


def test_ipv6_nameserver(dns, tmp_path):
    if not dns.ipv6:
        pytest.skip("no IPv6 loopback")
    cfg = write_cfg(str(tmp_path), "cfg", dns.nameserver6)
    rc, lines = run_terndns(cfg, "a", "mx1a.example.test")
    assert rc == 0
    assert lines[1] == "a 127.0.0.2 ttl=300"


def test_txt_strings_joined(dns):
    rc, lines = run_terndns(dns.cfg, "txt", "txt.example.test")
    assert rc == 0
    assert lines[1] == 'txt "v=spf1 ip4:127.0.0.0/8 -all" ttl=300'
    rc, lines = run_terndns(dns.cfg, "txt", "multi.example.test")
    assert lines[1] == 'txt "part one part two" ttl=300'


def test_truncated_answer_retried_over_tcp(dns):
    rc, lines = run_terndns(dns.cfg, "txt", "big.example.test")
    assert rc == 0, lines
    assert len(lines) == 31


def test_ptr(dns):
    rc, lines = run_terndns(dns.cfg, "ptr", "192.0.2.2")
    assert rc == 0
    assert lines[1] == "ptr mx1a.example.test ttl=300"
    rc, lines = run_terndns(dns.cfg, "ptr", "192.0.2.99")
    assert rc == 2
    assert result_of(lines[0]) == ("NOTFOUND", {"nxdomain"})
    rc, lines = run_terndns(dns.cfg, "ptr", "not-an-address")
    assert rc == 5


def test_aaaa_and_address_families(dns):
    rc, lines = run_terndns(dns.cfg, "aaaa", "v6only.example.test")
    assert rc == 0
    assert lines[1] == "aaaa 2001:db8::25 ttl=300"
    rc, lines = run_terndns(dns.cfg, "a", "v6only.example.test")
    assert rc == 2
    assert result_of(lines[0]) == ("NOTFOUND", set())
    rc, lines = run_terndns(dns.cfg, "addr", "mx2.example.test")
    assert rc == 0
    assert lines[1:] == ["aaaa ::1 ttl=300", "a 127.0.0.5 ttl=300"]
    rc, lines = run_terndns(dns.cfg, "-o", "inet_protocols=ipv4", "addr", "mx2.example.test")
    assert lines[1:] == ["a 127.0.0.5 ttl=300"]


def test_tlsa(dns):
    rc, lines = run_terndns(dns.cfg, "tlsa", "mx1a.example.test:25")
    assert rc == 0
    assert lines[1] == "tlsa 3 1 1 " + "0123456789abcdef" * 4 + " ttl=300"
    rc, lines = run_terndns(dns.cfg, "tlsa", "mx1b.example.test")
    assert rc == 2


def test_cname_followed_in_and_across_answers(dns):
    rc, lines = run_terndns(dns.cfg, "a", "alias.example.test")
    assert rc == 0
    assert result_of(lines[0]) == ("OK", {"cname"})
    assert lines[1] == "a 127.0.0.6 ttl=300"
    rc, lines = run_terndns(dns.cfg, "mx", "mxalias.example.test")
    assert rc == 0
    assert len(lines) == 5
    # nsd does not follow a CNAME into another zone: the resolver asks again.
    rc, lines = run_terndns(dns.cfg, "a", "out.example.test")
    assert rc == 0, lines
    assert lines[1] == "a 127.0.0.7 ttl=300"


def test_cname_loop_is_invalid(dns):
    rc, lines = run_terndns(dns.cfg, "a", "loop1.example.test")
    assert rc == 5
    assert result_of(lines[0])[0] == "INVALID"
    assert "loop" in lines[0]


def test_malformed_names_are_invalid(dns):
    for name in ("bad..name", "-lead.example.test", "x" * 64 + ".test", "sp ace.test"):
        rc, lines = run_terndns(dns.cfg, "--", "mx", name)
        assert rc == 5, name
        assert result_of(lines[0])[0] == "INVALID"


def test_cache_positive_and_negative(dns):
    rc, lines = run_terndns(dns.cfg, "-r", "2", "mx", "example.test")
    heads = [line for line in lines if line.startswith("result=")]
    assert [result_of(h) for h in heads] == [("OK", set()), ("OK", {"cached"})]
    rc, lines = run_terndns(dns.cfg, "-r", "2", "a", "nosuch.example.test")
    heads = [line for line in lines if line.startswith("result=")]
    assert [result_of(h) for h in heads] == [
        ("NOTFOUND", {"nxdomain"}), ("NOTFOUND", {"nxdomain", "cached"})]
    # Temporary failures are never cached.
    rc, lines = run_terndns(dns.cfg, "-r", "2", "a", "x.broken.test")
    heads = [line for line in lines if line.startswith("result=")]
    assert [result_of(h) for h in heads] == [("TEMPFAIL", set()), ("TEMPFAIL", set())]
    # dns_cache_limit = 0 turns it off.
    rc, lines = run_terndns(dns.cfg, "-o", "dns_cache_limit=0", "-r", "2", "mx", "example.test")
    heads = [line for line in lines if line.startswith("result=")]
    assert [result_of(h) for h in heads] == [("OK", set()), ("OK", set())]


def test_raw_answer_for_library_hooks(dns):
    rc, lines = run_terndns(dns.cfg, "raw:15", "example.test")
    assert rc == 0
    assert lines[1].startswith("raw len=") and lines[1].endswith("rcode=0 ancount=4")
    rc, lines = run_terndns(dns.cfg, "raw:16", "nosuch.example.test")
    assert rc == 2
    assert lines[1].endswith("rcode=3 ancount=0")
    rc, lines = run_terndns(dns.cfg, "raw:16", "x.broken.test")
    assert rc == 4
    assert len(lines) == 1


def test_bad_nameserver_setting_is_a_config_error(tmp_path):
    cfg = write_cfg(str(tmp_path), "cfg", "not-an-address:53")
    proc = subprocess.run([TERNDNS, "-c", cfg, "mx", "example.test"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "not an IP address" in proc.stderr
