#!/usr/bin/env python3
"""Resident memory of an IMAP server holding N idle IDLE sessions.

  imap-idle-mem.py --port 1143 --users u1@bench.test,...,u20@bench.test \
      --password PW --count 1000 --pids-cmd 'pgrep -x imap' [--label L] [--json F]

Opens COUNT connections (users taken in turn), each LOGIN, SELECT INBOX,
IDLE, and keeps them open. Memory is the sum over the server's processes
(the PIDs printed by --pids-cmd, run before and after) of their
proportional set size (Pss from /proc/PID/smaps_rollup; shared pages are
split between the processes that map them), before the first connection
and once the figure settles with all of them open; the difference divided
by COUNT is what one idle session costs, everything it brought along
included (the folder's state, the logins' password hashes, whatever the
server keeps afterwards). Start the server afresh before.
"""
import argparse
import json
import socket
import subprocess
import time

ap = argparse.ArgumentParser()
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--users", required=True)
ap.add_argument("--password", required=True)
ap.add_argument("--count", type=int, default=1000)
ap.add_argument("--pids-cmd", required=True)
ap.add_argument("--settle", type=int, default=0,
                help="seconds to wait before measuring with the sessions open")
ap.add_argument("--label", default="")
ap.add_argument("--json", default="")
a = ap.parse_args()
users = a.users.split(",")


def pss_kb():
    out = subprocess.run(a.pids_cmd, shell=True, capture_output=True, text=True).stdout.split()
    total = 0
    for pid in out:
        try:
            with open("/proc/%s/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total, len(out)


def settled_pss(wait):
    """PSS once it stops moving: a Go server hands memory back to the
    system a while after a collection (the password hashes of the logins
    allocate tens of MB each), so a single early sample would mislead."""
    time.sleep(wait)
    prev, n = pss_kb()
    for _ in range(60):
        time.sleep(1)
        cur, n = pss_kb()
        if abs(cur - prev) <= max(1024, prev // 100):
            return cur, n
        prev = cur
    return cur, n


def expect(f, tag):
    while True:
        line = f.readline()
        if not line:
            raise SystemExit("connection closed while waiting for %s" % tag)
        if line.startswith(tag.encode()):
            if b" OK" not in line[: len(tag) + 4]:
                raise SystemExit("%s: %r" % (tag, line))
            return


def session(i):
    s = socket.create_connection((a.host, a.port), timeout=60)
    f = s.makefile("rb")
    f.readline()  # greeting
    user = users[i % len(users)]
    s.sendall(b'a LOGIN %s "%s"\r\n' % (user.encode(), a.password.encode()))
    expect(f, "a")
    s.sendall(b"b SELECT INBOX\r\n")
    expect(f, "b")
    return s, f


before, nbefore = settled_pss(0)
socks = []
t0 = time.time()
for i in range(a.count):
    s, f = session(i)
    s.sendall(b"c IDLE\r\n")
    line = f.readline()
    if not line.startswith(b"+"):
        raise SystemExit("IDLE refused: %r" % line)
    socks.append((s, f))
setup = time.time() - t0
after, nafter = settled_pss(a.settle)
res = {
    "bench": "imap-idle-mem", "label": a.label, "count": a.count, "setup_s": setup,
    "pss_before_kb": before, "pss_after_kb": after, "processes": nafter,
    "per_conn_kb": (after - before) / a.count,
}
for s, f in socks:
    try:
        s.sendall(b"DONE\r\nd LOGOUT\r\n")
        s.close()
    except OSError:
        pass
print(json.dumps(res, sort_keys=True), flush=True)
if a.json:
    with open(a.json, "a") as fh:
        fh.write(json.dumps(res, sort_keys=True) + "\n")
