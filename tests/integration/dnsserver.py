"""A real DNS server for tests: Debian's nsd, authoritative for test zones.

    from dnsserver import DnsServer
    with DnsServer(tmpdir) as dns:
        dns.add_zone("example.test", '''
            @    MX 10 mx1
            mx1  A  127.0.0.2
        ''')
        dns.add_broken_zone("broken.test")   # answered with SERVFAIL
        dns.start()
        ... main.cf: dns_nameservers = {dns.nameserver} ...
        dns.add_zone("broken.test", "...")   # "fix the zone"
        dns.reload()

nsd listens on 127.0.0.1 (and ::1 when the host has IPv6 loopback) on a
free high port, UDP and TCP.  Every zone gets a SOA (negative TTL
soa_minimum) and an NS record; records are zone-file lines relative to the
zone.  A zone added with add_broken_zone is configured but has no zone
file, and nsd answers SERVFAIL for it; names outside every zone get
REFUSED.  reload() rewrites the files and sends SIGHUP when only zone
contents changed, and restarts nsd on the same port when the set of zones
changed; either way it returns once nsd answers for every zone as
configured.  The server is stopped by its pid (SIGTERM, then SIGKILL for it
and its children) on stop() or at the end of the with block.

SilentServer binds a UDP and TCP port on 127.0.0.1 that never answers, for
timeouts.  dns_query() is a small stub client used for readiness checks.
"""

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import textwrap
import time

NSD = shutil.which("nsd") or "/usr/sbin/nsd"

RCODE_NOERROR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_REFUSED = 0, 2, 3, 5


def have_nsd():
    return os.access(NSD, os.X_OK)


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_udp_tcp_port(addrs=("127.0.0.1",)):
    """A port free for both UDP and TCP on every address given."""
    for _ in range(50):
        port = random.randint(20000, 60000)
        socks = []
        try:
            for a in addrs:
                fam = socket.AF_INET6 if ":" in a else socket.AF_INET
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(fam, kind)
                    socks.append(s)
                    s.bind((a, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port for the DNS server")


def _encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(addr, port, name, qtype=6, timeout=1.0):
    """One UDP query; returns (rcode, ancount) or None on timeout."""
    qid = random.randint(0, 0xFFFF)
    pkt = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _encode_name(name)
    pkt += struct.pack("!HH", qtype, 1)
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(pkt, (addr, port))
            while True:
                data, _ = s.recvfrom(65535)
                if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                    flags, _qd, an = struct.unpack("!HHH", data[2:8])
                    return flags & 0xF, an
        except (socket.timeout, ConnectionRefusedError):
            return None


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _children(pid):
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(name))
            except (OSError, IndexError, ValueError):
                pass
    return kids


class DnsServer:
    def __init__(self, directory, ipv6=None, soa_minimum=60, ttl=300):
        self.dir = os.path.join(directory, "nsd")
        os.makedirs(self.dir, exist_ok=True)
        self.ipv6 = have_ipv6_loopback() if ipv6 is None else ipv6
        self.addrs = ["127.0.0.1"] + (["::1"] if self.ipv6 else [])
        self.port = free_udp_tcp_port(self.addrs)
        self.soa_minimum = soa_minimum
        self.ttl = ttl
        self.zones = {}  # name -> records text, or None for a broken zone
        self.serial = 1
        self.proc = None
        self._running_zones = None

    # -- addresses ----------------------------------------------------
    @property
    def nameserver(self):
        """The dns_nameservers entry for the IPv4 listener."""
        return f"127.0.0.1:{self.port}"

    @property
    def nameserver6(self):
        return f"[::1]:{self.port}" if self.ipv6 else None

    # -- zones --------------------------------------------------------
    def add_zone(self, name, records=""):
        self.zones[name.rstrip(".").lower()] = textwrap.dedent(records)

    def add_broken_zone(self, name):
        self.zones[name.rstrip(".").lower()] = None

    def remove_zone(self, name):
        self.zones.pop(name.rstrip(".").lower(), None)

    def _zone_file(self, name):
        return os.path.join(self.dir, name + ".zone")

    def _write_zones(self):
        self.serial += 1
        for name, records in self.zones.items():
            path = self._zone_file(name)
            if records is None:
                if os.path.exists(path):
                    os.unlink(path)
                continue
            head = (
                f"$ORIGIN {name}.\n$TTL {self.ttl}\n"
                f"@ IN SOA ns.{name}. hostmaster.{name}. {self.serial} 3600 600 86400 "
                f"{self.soa_minimum}\n"
                f"@ IN NS ns.{name}.\n"
            )
            if not any(line.split()[:1] == ["ns"] for line in records.splitlines()):
                head += "ns IN A 127.0.0.1\n"
            with open(path + ".tmp", "w") as f:
                f.write(head + records + "\n")
            os.rename(path + ".tmp", path)

    def _write_conf(self):
        lines = ["server:"]
        lines += [f"    ip-address: {a}@{self.port}" for a in self.addrs]
        lines += [
            f"    port: {self.port}",
            '    username: ""',
            '    chroot: ""',
            f'    zonesdir: "{self.dir}"',
            '    database: ""',
            f'    pidfile: "{self.dir}/nsd.pid"',
            f'    xfrdfile: "{self.dir}/xfrd.state"',
            f'    zonelistfile: "{self.dir}/zone.list"',
            f'    logfile: "{self.dir}/nsd.log"',
            "    server-count: 1",
            "    verbosity: 1",
            "    hide-version: yes",
            f"    do-ip6: {'yes' if self.ipv6 else 'no'}",
            "remote-control:",
            "    control-enable: no",
        ]
        for name in sorted(self.zones):
            lines += ["zone:", f'    name: "{name}"', f'    zonefile: "{name}.zone"']
        with open(os.path.join(self.dir, "nsd.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- process ------------------------------------------------------
    def start(self, timeout=10.0):
        if not have_nsd():
            raise RuntimeError("nsd is not installed (scripts/install-deps)")
        self._write_zones()
        self._write_conf()
        log = open(os.path.join(self.dir, "nsd.out"), "ab")
        self.proc = subprocess.Popen(
            [NSD, "-d", "-c", os.path.join(self.dir, "nsd.conf")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self._running_zones = set(self.zones)
        self._wait_ready(timeout)
        return self

    def _zone_ready(self, name, records):
        got = dns_query("127.0.0.1", self.port, name, 6)
        if got is None:
            return False
        want = RCODE_SERVFAIL if records is None else RCODE_NOERROR
        return got[0] == want and (records is None or got[1] == 1)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nsd exited with {self.proc.returncode}: {self.log()}")
            if all(self._zone_ready(n, r) for n, r in self.zones.items()):
                return
            time.sleep(0.05)
        raise RuntimeError(f"nsd did not answer for all zones in {timeout}s: {self.log()}")

    def _soa_serial_ok(self):
        """After a SIGHUP: every served zone answers with the new SOA serial."""
        for name, records in self.zones.items():
            if not self._zone_ready(name, records):
                return False
        return True

    def reload(self, timeout=10.0):
        if self.proc is None:
            return self.start(timeout)
        if set(self.zones) != self._running_zones:
            self.stop()
            return self.start(timeout)
        self._write_zones()
        os.kill(self.proc.pid, signal.SIGHUP)
        # nsd reloads in the background; wait until each zone answers as
        # configured (a fixed zone stops giving SERVFAIL).
        deadline = time.monotonic() + timeout
        time.sleep(0.2)
        while time.monotonic() < deadline:
            if self._soa_serial_ok():
                time.sleep(0.2)  # let the reloaded server process take over fully
                return self
            time.sleep(0.05)
        raise RuntimeError(f"nsd did not reload in {timeout}s: {self.log()}")

    def _pidfile_pid(self):
        try:
            with open(os.path.join(self.dir, "nsd.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        if self.proc is None:
            return
        pid = self.proc.pid
        kids = _children(pid)
        # After a reload nsd's main process may be another one: the pid file says.
        other = self._pidfile_pid()
        if other and other != pid and _pid_alive(other):
            kids += [other] + _children(other)
            try:
                os.kill(other, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        for k in kids:
            if _pid_alive(k):
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc = None

    def log(self):
        out = ""
        for f in ("nsd.out", "nsd.log"):
            try:
                with open(os.path.join(self.dir, f), errors="replace") as fh:
                    out += fh.read()[-2000:]
            except OSError:
                pass
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class SilentServer:
    """A UDP and TCP port on 127.0.0.1 that never answers (timeouts)."""

    def __init__(self):
        self.port = free_udp_tcp_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(16)

    @property
    def nameserver(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        self.udp.close()
        self.tcp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
