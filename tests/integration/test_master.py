"""master(8): listeners, on-demand children, process limits, crash
recovery and throttling, reload, stop, locking and wakeup timers, using
the testsvc daemon (tests/progs/testsvc.c) built on lib/server.c."""

import os
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import TEST_PROGS, children_of, is_root, pid_alive, wait_for


def svc(port, maxproc="-", args=""):
    return f"127.0.0.1:{port} inet n - n - {maxproc} testsvc {args}\n"


def test_serves_and_drops_privileges(instance, port):
    inst = instance()
    inst.master_cf(svc(port) + "echo unix - - n - - testsvc\n")
    inst.start()
    c = inst.connect(port)
    pid, uid = c.hello()
    assert uid == inst.owner_uid
    if is_root():
        assert uid != 0
    c.send("ping")
    assert c.readline() == "ping"
    c.send("QUIT")
    assert c.readline() == "bye"
    c.close()
    # The private UNIX service: owner-only socket, served the same way.
    path = os.path.join(inst.queue, "private", "echo")
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == inst.owner_uid
    u = inst.connect_unix(path)
    assert u.hello()[1] == inst.owner_uid
    u.close()


def test_idle_child_is_reused(instance, port):
    inst = instance()
    inst.master_cf(svc(port))
    inst.start()
    c1 = inst.connect(port)
    p1, _ = c1.hello()
    c1.send("QUIT")
    assert c1.readline() == "bye"
    c1.close()
    c2 = inst.connect(port)
    p2, _ = c2.hello()
    assert p1 == p2
    c2.close()


def test_maxproc_limits_children(instance, port):
    inst = instance()
    inst.master_cf(svc(port, maxproc=2))
    inst.start()
    c1, c2 = inst.connect(port), inst.connect(port)
    p1, _ = c1.hello()
    p2, _ = c2.hello()
    assert p1 != p2
    c3 = inst.connect(port)  # accepted by the kernel, but nobody serves it
    with pytest.raises(socket.timeout):
        c3.readline(timeout=1.0)
    assert len(children_of(inst.proc.pid)) == 2
    c1.send("QUIT")
    assert c1.readline() == "bye"
    p3, _ = c3.hello(timeout=5)
    assert p3 == p1  # the child that became idle took it
    for c in (c1, c2, c3):
        c.close()


def test_killed_child_is_replaced(instance, port):
    inst = instance()
    inst.master_cf(svc(port))
    inst.start()
    c = inst.connect(port)
    pid, _ = c.hello()
    os.kill(pid, signal.SIGKILL)
    assert inst.wait_log(rf"testsvc pid {pid} killed by signal 9"), inst.log_text()
    c.close()
    c2 = inst.connect(port)
    pid2, _ = c2.hello()
    assert pid2 != pid
    c2.send("x")
    assert c2.readline() == "x"
    c2.close()


def test_reload_adds_and_removes(instance, ports):
    inst = instance()
    a, b = ports[0], ports[1]
    inst.master_cf(svc(a))
    inst.start()
    held = inst.connect(a)
    held_pid, _ = held.hello()
    inst.master_cf(svc(b))
    inst.reload()
    assert inst.wait_log(rf"added service 127.0.0.1:{b}/inet")
    assert inst.wait_log(rf"removed service 127.0.0.1:{a}/inet")
    nb = inst.connect(b)
    nb.hello()
    nb.close()
    assert wait_for(lambda: not inst.port_open(a), 5), "dropped listener still open"
    # The established connection on the dropped service keeps working.
    held.send("still here")
    assert held.readline() == "still here"
    held.send("QUIT")
    assert held.readline() == "bye"
    held.close()
    assert wait_for(lambda: not pid_alive(held_pid), 5), "old child did not exit"


def test_reload_keeps_old_config_on_error(instance, port):
    inst = instance()
    inst.master_cf(svc(port))
    inst.start()
    inst.master_cf(svc(port) + "broken line here\n")
    inst.reload()
    assert inst.wait_log("configuration not reloaded")
    c = inst.connect(port)
    c.hello()
    c.close()
    assert inst.proc.poll() is None


def test_sigterm_stops_everything(instance, port):
    inst = instance()
    inst.master_cf(svc(port))
    inst.start()
    c1, c2 = inst.connect(port), inst.connect(port)
    p1, _ = c1.hello()
    p2, _ = c2.hello()
    c2.send("SLEEP 30")  # busy: master must still stop it
    inst.signal(signal.SIGTERM)
    assert inst.proc.wait(10) == 0
    for pid in (p1, p2):
        assert not pid_alive(pid), f"child {pid} left behind"
    assert not os.path.exists(os.path.join(inst.queue, "pid", "master.pid"))
    assert "terminating on signal 15" in inst.log_text()
    c1.close()
    c2.close()


def test_bad_master_cf_line(instance, port):
    inst = instance()
    inst.master_cf(svc(port) + "foo bogus - - - - - testsvc\n")
    r = inst.run_master("-f")
    assert r.returncode == 1
    assert "master.cf, line 2" in r.stdout
    assert not os.path.exists(os.path.join(inst.queue, "pid", "master.pid"))


def test_second_master_refuses(instance, ports):
    inst = instance()
    inst.master_cf(svc(ports[0]))
    inst.start()
    assert inst.run_master("-t").returncode == 0
    inst.master_cf(svc(ports[1]))
    r = inst.run_master("-f")
    assert r.returncode == 1
    assert "already running" in r.stdout
    assert not inst.port_open(ports[1])
    inst.stop()
    assert inst.run_master("-t").returncode == 1


def test_crash_loop_is_throttled(instance, ports):
    inst = instance()
    good, bad = ports[0], ports[1]
    inst.master_cf(svc(good) + svc(bad, args="crash"))
    inst.start()
    s = socket.create_connection(("127.0.0.1", bad), timeout=5)
    assert inst.wait_log(r"keeps failing; throttling for \d+ seconds", 5), inst.log_text()
    time.sleep(0.5)
    failures = inst.log_text().count("exit status 1")
    time.sleep(1.0)  # throttled: no new attempts within the throttle time
    assert inst.log_text().count("exit status 1") == failures
    c = inst.connect(good)
    c.hello()
    c.close()
    s.close()
    assert inst.proc.poll() is None


def test_wakeup_timer(instance):
    inst = instance()
    out = os.path.join(inst.dir, "trig")
    os.mkdir(out)
    os.chmod(out, 0o777)
    hits = os.path.join(out, "hits")
    inst.master_cf(f"tick unix - - n 1 1 testsvc trigger {hits}\n")
    inst.start()

    def got():
        try:
            with open(hits) as f:
                return "tick W" in f.read()
        except FileNotFoundError:
            return False

    assert wait_for(got, 6), inst.log_text()


def test_daemon_without_master_refuses():
    r = subprocess.run([os.path.join(TEST_PROGS, "testsvc")], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "must be started by master" in r.stderr


def test_children_exit_when_master_dies(instance, port):
    inst = instance()
    inst.master_cf(svc(port))
    inst.start()
    c = inst.connect(port)
    pid, _ = c.hello()
    c.send("QUIT")
    c.readline()
    c.close()
    inst.proc.kill()
    inst.proc.wait(5)
    assert wait_for(lambda: not pid_alive(pid), 5), "idle child outlived master"


def test_max_use_and_max_idle_overrides(instance, ports):
    inst = instance()
    once, idle = ports[0], ports[1]
    inst.master_cf(svc(once, args="-o max_use=1") + svc(idle, args="-o max_idle=1"))
    inst.start()
    pids = []
    for _ in range(2):
        c = inst.connect(once)
        pids.append(c.hello()[0])
        c.send("QUIT")
        assert c.readline() == "bye"
        c.close()
        assert wait_for(lambda: not pid_alive(pids[-1]), 5), "max_use=1 child did not exit"
    assert pids[0] != pids[1]
    c = inst.connect(idle)
    pid, _ = c.hello()
    c.send("QUIT")
    c.readline()
    c.close()
    assert wait_for(lambda: not pid_alive(pid), 5), "max_idle=1 child did not exit"
    assert "exit status" not in inst.log_text()  # clean exits (also under LeakSanitizer)


def test_bare_port_uses_inet_interfaces(instance, port):
    inst = instance()
    inst.main_cf({"inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4"})
    inst.master_cf(f"{port} inet n - n - - testsvc\n")
    inst.start()
    c = inst.connect(port)
    c.hello()
    c.close()
