#!/usr/bin/env python3
"""Open N idle SMTP connections to a trap on loopback and hold them.

Usage: trap_idle.py HOST PORT N HOLD_SECONDS PID

Connects N sockets (non-blocking, a few hundred at a time), reads each
greeting, holds all of them open for HOLD_SECONDS while sampling the
trap's VmRSS (/proc/PID/status), then closes them. Prints one JSON line:
connections made, greetings 220 / 421 / none, the trap's peak RSS (VmHWM)
and RSS while all were held. Standard library only; loopback only.
"""
import json
import resource
import selectors
import socket
import sys
import time


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    host, port, n, hold, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, n + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    sel = selectors.DefaultSelector()
    socks, greet = [], {}
    t0 = time.time()
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, port))
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, i)
        if i % 200 == 199:
            deadline = time.time() + 0.2
            while time.time() < deadline:
                for key, _ in sel.select(timeout=0.05):
                    sock = key.fileobj
                    try:
                        data = sock.recv(512)
                    except OSError:
                        data = b""
                    greet[key.data] = data[:3]
                    sel.unregister(sock)
    deadline = time.time() + 30
    while len(greet) < n and time.time() < deadline:
        for key, _ in sel.select(timeout=0.5):
            sock = key.fileobj
            try:
                data = sock.recv(512)
            except OSError:
                data = b""
            greet[key.data] = data[:3]
            sel.unregister(sock)
    connect_s = time.time() - t0
    held_rss = 0
    end = time.time() + hold
    while time.time() < end:
        held_rss = max(held_rss, rss_kb(pid, "VmRSS"))
        time.sleep(0.2)
    peak = rss_kb(pid, "VmHWM")
    for s in socks:
        s.close()
    codes = list(greet.values())
    print(json.dumps({
        "connections": n,
        "greeted_220": sum(1 for c in codes if c == b"220"),
        "refused_421": sum(1 for c in codes if c == b"421"),
        "no_greeting": n - sum(1 for c in codes if c in (b"220", b"421")),
        "connect_s": round(connect_s, 2),
        "trap_rss_held_kb": held_rss,
        "trap_peak_rss_kb": peak,
    }))


main()
