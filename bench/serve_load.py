#!/usr/bin/env python3
"""Load for `botscope serve` (bench/serve.sh): every page and its API
calls, from N concurrent clients, each also holding an event stream open.
Prints p50/p95/max latency per endpoint and the server's peak memory."""
import http.client, json, socket, sys, threading, time, urllib.parse

host, port = sys.argv[1].split(":")
port = int(port)
clients = int(sys.argv[2]) if len(sys.argv) > 2 else 100
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
pid = int(sys.argv[4]) if len(sys.argv) > 4 else 0

def get(path):
    c = http.client.HTTPConnection(host, port, timeout=30)
    t = time.perf_counter()
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    dt = time.perf_counter() - t
    c.close()
    return r.status, body, dt

_, ov, _ = get("/api/overview")
ov = json.loads(ov)
fam = ov["families"][0]["name"] if ov["families"] else "none"
_, al, _ = get("/api/alerts")
al = json.loads(al)
_, hs, _ = get("/api/hosts")
hs = json.loads(hs)
_, cs, _ = get("/api/campaigns")
cs = json.loads(cs)
paths = ["/", "/static/app.js", "/api/overview", "/api/families", "/api/family/" + urllib.parse.quote(fam),
         "/api/alerts", "/api/hosts", "/api/campaigns", "/api/brands"]
if al: paths.append("/api/alert/" + al[0]["id"])
if hs: paths.append("/api/host/" + hs[0]["host"])
if cs: paths.append("/api/campaign/" + urllib.parse.quote(cs[0]["name"]))
if hs: paths.append("/api/search?q=" + hs[0]["host"])

def rss_hwm():
    if not pid: return None
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM") or line.startswith("VmRSS"):
            pass
    vals = {l.split(":")[0]: int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith(("VmHWM", "VmRSS"))}
    return vals

before = rss_hwm()
lat = {p: [] for p in paths}
errors = []
lock = threading.Lock()
streams = []

def client(i):
    # An open event stream, as every open page holds.
    try:
        s = socket.create_connection((host, port), timeout=30)
        s.sendall(f"GET /api/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        with lock: streams.append(s)
    except Exception as e:
        with lock: errors.append(str(e))
    for _ in range(rounds):
        for p in paths:
            try:
                st, _, dt = get(p)
                with lock:
                    lat[p].append(dt)
                    if st != 200: errors.append(f"{p}: {st}")
            except Exception as e:
                with lock: errors.append(f"{p}: {e}")

t0 = time.perf_counter()
ts = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
wall = time.perf_counter() - t0
after = rss_hwm()
for s in streams: s.close()
allv = sorted(v for l in lat.values() for v in l)
def pct(v, q): return v[min(len(v) - 1, int(q * len(v)))] * 1000 if v else float("nan")
print(f"{clients} clients x {rounds} rounds x {len(paths)} paths = {len(allv)} requests in {wall:.1f} s; "
      f"{len(streams)} event streams open; errors: {len(errors)} {errors[:3]}")
print(f"{'endpoint':44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
for p, v in lat.items():
    v.sort()
    print(f"{p[:44]:44} {pct(v, .5):8.1f} {pct(v, .95):8.1f} {max(v) * 1000 if v else 0:8.1f}")
print(f"{'all':44} {pct(allv, .5):8.1f} {pct(allv, .95):8.1f} {allv[-1] * 1000:8.1f}")
if before: print(f"server memory: before VmRSS {before['VmRSS']/1024:.0f} MiB; after VmRSS {after['VmRSS']/1024:.0f} MiB, peak VmHWM {after['VmHWM']/1024:.0f} MiB")
