#!/usr/bin/env python3
"""Extract TCP streams of a capture into botscope stream vectors (.bsv).

Usage: extract.py CAPTURE OUT_PREFIX [--decode-as PORT,PROTO] [--max-bytes N]
       [--streams 0,3,...] [--thin-resp N] [--thin-data N]

Runs tshark, reassembles each TCP stream per direction (duplicates and
overlaps trimmed, holes reported as gaps) and writes OUT_PREFIX-<stream>.bsv.

Format: b"BSV1" then the originator and responder address as text lines
"orig_h orig_p resp_h resp_p\n", then records:
  kind (1 byte: '>' orig data, '<' resp data, 'g' orig gap, 'G' resp gap),
  ts (i64 LE, microseconds), len (u32 LE), and `len` data bytes for data.
With --max-bytes, a direction is cut after N bytes (the vector then ends
as a capture cut short would).
"""
import struct
import subprocess
import sys
from collections import defaultdict


def main():
    args = sys.argv[1:]
    cap, prefix = args[0], args[1]
    max_bytes = None
    only = None
    thin = None
    thin_data = None
    extra = []
    i = 2
    while i < len(args):
        if args[i] == "--max-bytes":
            max_bytes = int(args[i + 1]); i += 2
        elif args[i] == "--streams":
            only = {int(x) for x in args[i + 1].split(",")}; i += 2
        elif args[i] == "--thin-resp":
            thin = int(args[i + 1]); i += 2
        elif args[i] == "--thin-data":
            thin_data = int(args[i + 1]); i += 2
        elif args[i] == "--decode-as":
            extra += ["-d", "tcp.port==%s" % args[i + 1]]; i += 2
        else:
            raise SystemExit("bad arg " + args[i])
    fields = ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst",
              "tcp.dstport", "tcp.seq_raw", "tcp.flags.syn", "tcp.flags.ack",
              "frame.time_epoch", "tcp.payload"]
    cmd = ["tshark", "-r", cap, "-Y", "tcp", "-T", "fields", "-E", "separator=|"] + extra
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    streams = defaultdict(list)
    for line in out.splitlines():
        p = line.split("|")
        if len(p) < len(fields):
            continue
        st = int(p[0])
        if only is not None and st not in only:
            continue
        src = p[1] or p[2]
        dst = p[4] or p[5]
        streams[st].append((src, int(p[3]), dst, int(p[6]), int(p[7]), p[8] in ("1", "True"),
                            p[9] in ("1", "True"), float(p[10]), bytes.fromhex(p[11].replace(":", ""))))
    for st, pkts in sorted(streams.items()):
        orig = None
        for (s, sp, d, dp, seq, syn, ack, ts, pl) in pkts:
            if syn and not ack:
                orig = (s, sp, d, dp)
                break
        if orig is None:
            s, sp, d, dp = pkts[0][:4]
            orig = (s, sp, d, dp)
        nxt = {}
        sent = {True: 0, False: 0}
        recs = []
        ooo = {True: [], False: []}

        def deliver(is_orig, seq, ts, pl):
            n = nxt[is_orig]
            if seq + len(pl) <= n:
                return
            if seq < n:
                pl = pl[n - seq:]
                seq = n
            if seq > n:
                recs.append((b"g" if is_orig else b"G", ts, seq - n, b""))
            if max_bytes is not None:
                room = max_bytes - sent[is_orig]
                pl = pl[:max(room, 0)]
            if pl:
                recs.append((b">" if is_orig else b"<", ts, len(pl), pl))
                sent[is_orig] += len(pl)
            nxt[is_orig] = seq + len(pl) if max_bytes is None or pl else max(nxt[is_orig], seq)
            if max_bytes is not None and sent[is_orig] >= max_bytes:
                nxt[is_orig] = 1 << 62

        def flush(is_orig, ts, force):
            q = ooo[is_orig]
            while q:
                q.sort()
                seq, t, pl = q[0]
                if seq <= nxt[is_orig] or force:
                    q.pop(0)
                    deliver(is_orig, seq, t, pl)
                else:
                    break

        for (s, sp, d, dp, seq, syn, ack, ts, pl) in pkts:
            is_orig = (s, sp) == (orig[0], orig[1])
            if syn:
                nxt.setdefault(is_orig, seq + 1)
                continue
            if not pl:
                continue
            nxt.setdefault(is_orig, seq)
            tsu = int(round(ts * 1e6))
            if seq > nxt[is_orig]:
                ooo[is_orig].append((seq, tsu, pl))
                if len(ooo[is_orig]) > 16:
                    flush(is_orig, tsu, True)
                continue
            deliver(is_orig, seq, tsu, pl)
            flush(is_orig, tsu, False)
            # Data from one side: the other side's holes are real losses.
            flush(not is_orig, tsu, True)
        for d in (True, False):
            if d in nxt:
                flush(d, 0, True)
        if thin is not None:
            # Keep every responder segment holding a status line and the
            # first `thin` bytes after it; the rest becomes gaps (bodies of
            # known length then exercise the analyzer's gap handling).
            kept, run = [], 0
            for r in recs:
                if r[0] == b"<":
                    if b"HTTP/1." in r[3]:
                        run = len(r[3]) - r[3].rfind(b"HTTP/1.")
                    elif run + r[2] > thin:
                        r = (b"G", r[1], r[2], b"")
                    else:
                        run += r[2]
                if kept and r[0] == b"G" and kept[-1][0] == b"G":
                    kept[-1] = (b"G", kept[-1][1], kept[-1][2] + r[2], b"")
                else:
                    kept.append(r)
            recs = kept
        if thin_data is not None:
            # SMTP: keep commands, the first `thin_data` bytes after each
            # DATA and the segment holding the lone "."; the rest of each
            # message becomes gaps.
            kept, in_data, run = [], False, 0
            for r in recs:
                if r[0] == b">":
                    seg = r[3]
                    if not in_data:
                        low = seg.lower()
                        if low.startswith(b"data\r\n") or b"\ndata\r\n" in low:
                            in_data, run = True, 0
                    elif b"\r\n.\r\n" in seg or seg.startswith(b".\r\n"):
                        in_data = False
                    elif run + r[2] > thin_data:
                        r = (b"g", r[1], r[2], b"")
                    else:
                        run += r[2]
                if kept and r[0] == b"g" and kept[-1][0] == b"g":
                    kept[-1] = (b"g", kept[-1][1], kept[-1][2] + r[2], b"")
                else:
                    kept.append(r)
            recs = kept
        path = "%s-%d.bsv" % (prefix, st)
        with open(path, "wb") as f:
            f.write(b"BSV1")
            f.write(("%s %d %s %d\n" % orig).encode())
            for kind, ts, n, pl in recs:
                f.write(kind + struct.pack("<qI", ts, n) + pl)
        print(path, sum(len(r[3]) for r in recs), "bytes,", sum(1 for r in recs if r[0] in b"gG"), "gaps")


if __name__ == "__main__":
    main()
