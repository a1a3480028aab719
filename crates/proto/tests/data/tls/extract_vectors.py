#!/usr/bin/env python3
"""Regenerate the DNS/TLS/IRC test vectors from the shared pcaps with tshark.

Each vector file holds one flow, one payload per line:
    <ts in microseconds> <O|R> <hex payload>
O = originator (SYN sender for TCP, first sender for UDP), R = responder.
TCP retransmissions are dropped. For STARTTLS flows (`--tls-only`), lines
before the first TLS handshake record (0x16 0x03) are dropped.

usage: extract_vectors.py PCAP OUTPREFIX tcp|udp [--tls-only] [--port N]
writes OUTPREFIX-<stream>.txt per flow (or OUTPREFIX.txt if one flow).
"""
import subprocess, sys
from collections import OrderedDict

def main():
    pcap, out, proto = sys.argv[1:4]
    tls_only = '--tls-only' in sys.argv
    port = None
    if '--port' in sys.argv:
        port = sys.argv[sys.argv.index('--port') + 1]
    if proto == 'tcp':
        flt = 'tcp.len>0 && !tcp.analysis.retransmission' + (f' && tcp.port=={port}' if port else '')
        fields = ['frame.time_epoch', 'tcp.stream', 'ip.src', 'ipv6.src', 'tcp.srcport', 'tcp.payload']
        syn = subprocess.run(['tshark', '-r', pcap, '-Y', 'tcp.flags.syn==1 && tcp.flags.ack==0', '-T', 'fields',
                              '-e', 'tcp.stream', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport'],
                             capture_output=True, text=True).stdout
        origs = {}
        for l in syn.splitlines():
            s, a4, a6, p = (l.split('\t') + ['', '', '', ''])[:4]
            origs.setdefault(s, (a4 or a6, p))
    else:
        flt = 'udp' + (f' && udp.port=={port}' if port else '')
        fields = ['frame.time_epoch', 'udp.stream', 'ip.src', 'ipv6.src', 'udp.srcport', 'udp.payload']
        origs = {}
    cmd = ['tshark', '-r', pcap, '-Y', flt, '-T', 'fields'] + sum([['-e', f] for f in fields], [])
    res = subprocess.run(cmd, capture_output=True, text=True).stdout
    flows = OrderedDict()
    for l in res.splitlines():
        ts, stream, a4, a6, p, payload = (l.split('\t') + [''] * 6)[:6]
        if not payload:
            continue
        src = (a4 or a6, p)
        o = origs.setdefault(stream, src)
        d = 'O' if src == o else 'R'
        sec, _, frac = ts.partition('.')
        us = int(sec) * 1000000 + int((frac + '000000')[:6])
        flows.setdefault(stream, []).append((us, d, payload.replace(':', '')))
    for stream, rows in flows.items():
        if tls_only:
            i = next((k for k, r in enumerate(rows) if r[2].startswith('1603')), len(rows))
            rows = rows[i:]
        name = f'{out}.txt' if len(flows) == 1 else f'{out}-{stream}.txt'
        with open(name, 'w') as f:
            for us, d, h in rows:
                f.write(f'{us} {d} {h}\n')

main()
