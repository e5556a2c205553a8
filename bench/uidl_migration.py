#!/usr/bin/python3
"""Cross-check against the real Dovecot: a Maildir that Dovecot's pop3 has
served keeps its POP3 UIDLs when tern's pop3d serves it next.

Not a benchmark, a compatibility check that needs Debian's dovecot-pop3d
(installed as bench/pop3.py does, into a private instance on loopback):

    sudo /usr/bin/python3 bench/uidl_migration.py [--build build/bench]

1. A Maildir of --messages messages is served by Dovecot; a client lists
   the UIDLs, deletes two messages (so the UIDs have a gap) and quits.
2. Two more messages are delivered into new/ (Dovecot never saw them).
3. Dovecot stops; the Maildir, with Dovecot's dovecot-uidlist, moves to
   the tern instance, whose pop3d serves it: the UIDLs of the old
   messages must be Dovecot's, the new messages must come after them.
   Their LIST sizes must be Dovecot's too.
Prints the UIDL lists and "same UIDLs" or exits 1 with the difference.
"""

import argparse
import os
import poplib
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pop3  # noqa: E402
from smtp_e2e import BenchError, run_main, teardown  # noqa: E402


def login(port, user):
    p = poplib.POP3("127.0.0.1", port, timeout=60)
    p.user(user)
    p.pass_(pop3.PASSWORD)
    return p


def uidls(port, user):
    """The UIDL list and the LIST sizes of one session (which ends with QUIT)."""
    p = login(port, user)
    out = [line.decode().split()[1] for line in p.uidl()[1]]
    sizes = [int(line.split()[1]) for line in p.list()[1]]
    p.quit()
    return out, sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(pop3.SRC, "build", "bench"))
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--port-base", type=int, default=47000)
    ap.add_argument("--dovecot-port", type=int, default=48110)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise BenchError("run as root")
    pop3.install_dovecot()
    base = tempfile.mkdtemp(prefix="tern-uidl-migration.")
    os.chmod(base, 0o755)
    running = []
    try:
        t = pop3.Tern(base, args.build, args.port_base, 1)
        d = pop3.Dovecot(base, args.dovecot_port, args.dovecot_port + 885, t)
        t.setup()
        d.setup()
        user = pop3.users(1)[0]
        names = pop3.make_pool(os.path.join(base, "pool"), args.messages + 2, 200, 2000, 7)
        pop3.fill_maildir(d.maildir(user), os.path.join(base, "pool"), names[:-2], t.uid, t.gid)
        running.append(d)
        d.start()
        p = login(d.port, user)
        before = [line.decode().split()[1] for line in p.uidl()[1]]
        p.dele(2)
        p.dele(5)
        p.quit()
        kept, kept_sizes = uidls(d.port, user)
        d.stop()
        running.remove(d)
        for n in names[-2:]:  # delivered after the move, as local(8) would
            dst = os.path.join(d.maildir(user), "new", n)
            shutil.copyfile(os.path.join(base, "pool", n), dst)
            os.chown(dst, t.uid, t.gid)
        shutil.rmtree(t.maildir(user))
        shutil.move(d.maildir(user), t.maildir(user))
        running.append(t)
        t.start()
        after, sizes = uidls(t.port, user)
        again, _ = uidls(t.port, user)
    finally:
        teardown(running, base, False)
    print("dovecot, first session: %d UIDLs, %s .. %s" % (len(before), before[0], before[-1]))
    print("dovecot, after 2 DELE:  %s" % " ".join(kept))
    print("tern, first session:    %s" % " ".join(after))
    if after[:len(kept)] != kept or len(after) != len(kept) + 2 or again != after:
        raise BenchError("UIDLs differ")
    if sizes[:len(kept)] != kept_sizes:
        raise BenchError("LIST sizes differ: dovecot %s, tern %s" % (kept_sizes, sizes))
    new = after[len(kept):]
    if not all(u[8:] == kept[0][8:] and u[:8] > kept[-1][:8] for u in new):
        raise BenchError("new messages did not get later UIDs in the same UIDVALIDITY")
    print("same UIDLs and LIST sizes for the %d messages Dovecot served; the 2 new ones follow"
          % len(kept))


if __name__ == "__main__":
    run_main(main)
