#!/usr/bin/env python3
"""Build the seed corpora of the fuzz targets (fuzz/corpus/<target>/).

Usage: python3 fuzz/seed_corpora.py [--shared DIR] [--out DIR] [--clean]

Sources:
  * capture_reader, engine: the real captures of DIR/botnet-pcaps and
    DIR/protocol-pcaps (DIR defaults to ../shared/data beside the
    workspace), whole when at most 1 MiB, plus slices: the capture's
    header blocks followed by a window of its packets, and a copy cut
    short in the middle of a record (truncated is a result, not a
    rejection); capture_reader also gets gzip and xz copies of the
    smallest captures.
  * packet_decode: every distinct packet of those captures as
    `[link selector][packet bytes]`, where the target maps
    `data[0] % 10` to the link types LINKS below; Ethernet frames are
    also written as raw IP, BSD loopback, Linux SLL and SLL2 variants so
    every link decoder gets real packets.
  * http, smtp, irc, tls, dns: the analyzer test vectors of
    crates/proto/tests/data, converted to the harness format of
    fuzz/src/lib.rs: chunks of `[ctl][len][len bytes]`, where ctl bit 0 is
    the direction (0 orig, 1 resp) and bit 1 marks a gap of `len` bytes.
    dns seeds start with the mode byte of the dns target (even: UDP, one
    datagram per chunk; odd: TCP with 2-byte length prefixes).
  * mailbox: the POP3 vector of crates/proto/tests/data/smtp and a
    synthetic POP3 and IMAP STARTTLS conversation, after the mode byte of
    the mailbox target (even: POP3, odd: IMAP).
  * trap_wire: the client side of the SMTP vectors of crates/proto/tests/data
    (what a bot sends to the trap) and a few synthetic sessions (pipelined,
    bare LF, dot-stuffed, over-long lines), after the selector byte of the
    trap_wire target (line cap and read sizes).
  * mail_message: every 8th message of DIR/spam-csdmc2010 (spam and ham,
    up to 48 KiB) after the mode byte of the mail_message target (even:
    mailbox message, odd: SMTP session), both modes.
  * reassembly: a few synthetic handshakes, data and closes in the
    12-byte segment format of fuzz_targets/reassembly.rs.

Only the standard library is used; the script is deterministic, so
running it twice gives the same files (named by content hash).
"""
import argparse
import gzip
import hashlib
import lzma
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VECTORS = os.path.join(ROOT, "crates", "proto", "tests", "data")

# Must match LINKS in fuzz_targets/packet_decode.rs.
LINKS = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]
SEL = {lt: i for i, lt in enumerate(LINKS)}

MAX_CAPTURE = 1 << 20  # engine / capture_reader max_len
MAX_CONVERSATION = 64 * 1024  # analyzer max_len
MAX_PACKETS_PER_CAPTURE = 48  # packet_decode seeds taken from one capture


# ---------------------------------------------------------------- output

class Corpus:
    def __init__(self, out, target):
        self.dir = os.path.join(out, target)
        os.makedirs(self.dir, exist_ok=True)
        self.count = 0
        self.seen = set()

    def add(self, data, limit=None):
        if limit is not None:
            data = data[:limit]
        if not data:
            return
        h = hashlib.sha1(data).hexdigest()
        if h in self.seen:
            return
        self.seen.add(h)
        path = os.path.join(self.dir, h)
        if os.path.exists(path):
            return
        with open(path, "wb") as f:
            f.write(data)
        self.count += 1


# ---------------------------------------------------------------- captures

def split_pcap(buf):
    """Return (header, [(link, record_bytes, packet_bytes)]) of a classic pcap."""
    magic = buf[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    if len(buf) < 24:
        return None
    link = struct.unpack(e + "I", buf[20:24])[0] & 0xFFFF
    recs = []
    off = 24
    while off + 16 <= len(buf):
        incl = struct.unpack(e + "I", buf[off + 8:off + 12])[0]
        end = off + 16 + incl
        if end > len(buf):
            break
        recs.append((link, buf[off:end], buf[off + 16:end]))
        off = end
    return buf[:24], recs


def split_pcapng(buf):
    """Return (header, [(link, block_bytes, packet_bytes or None)]) of a pcapng."""
    if buf[:4] != b"\x0a\x0d\x0d\x0a" or len(buf) < 12:
        return None
    bom = buf[8:12]
    e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
    header = b""
    recs = []
    links = []
    off = 0
    seen_packet = False
    while off + 12 <= len(buf):
        btype, blen = struct.unpack(e + "II", buf[off:off + 8])
        if blen < 12 or off + blen > len(buf):
            break
        block = buf[off:off + blen]
        pkt = None
        link = None
        if btype == 1 and blen >= 20:  # IDB
            links.append(struct.unpack(e + "H", block[8:10])[0])
        elif btype == 6 and blen >= 32:  # EPB
            iface, = struct.unpack(e + "I", block[8:12])
            cap, = struct.unpack(e + "I", block[20:24])
            pkt = block[28:28 + cap]
            link = links[iface] if iface < len(links) else None
        elif btype == 3 and blen >= 16:  # SPB
            pkt = block[12:blen - 4]
            link = links[0] if links else None
        if pkt is not None:
            seen_packet = True
        if not seen_packet and btype in (0x0A0D0D0A, 1):
            header += block
        else:
            recs.append((link, block, pkt))
        off += blen
    return header, recs


def split_capture(buf):
    return split_pcap(buf) or split_pcapng(buf)


def captures(shared):
    out = []
    for sub in ("botnet-pcaps", "protocol-pcaps"):
        d = os.path.join(shared, sub)
        if not os.path.isdir(d):
            print("warning: %s not found, no capture seeds from it" % d, file=sys.stderr)
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith((".pcap", ".pcapng", ".cap")):
                with open(os.path.join(d, name), "rb") as f:
                    out.append((name, f.read()))
    return out


def seed_captures(caps, reader, engine):
    # Compressed inputs open directly: a few small captures as .gz and .xz.
    for _name, buf in sorted(caps, key=lambda c: len(c[1]))[:3]:
        reader.add(gzip.compress(buf, mtime=0))
        reader.add(lzma.compress(buf))
    for _name, buf in caps:
        parts = split_capture(buf)
        if len(buf) <= MAX_CAPTURE:
            reader.add(buf)
            engine.add(buf)
        if parts is None:
            continue
        header, recs = parts
        # Slices: header + a window of records, at most 64 KiB of records.
        start = 0
        slices = 0
        while start < len(recs) and slices < 12:
            body = b""
            i = start
            while i < len(recs) and len(body) + len(recs[i][1]) <= 64 * 1024:
                body += recs[i][1]
                i += 1
                if i - start >= 64:
                    break
            if i == start:  # one record over 64 KiB
                body = recs[i][1]
                i += 1
            engine.add(header + body)
            slices += 1
            start = i + max(0, (len(recs) - i) // 12)
        # A long prefix of big captures, cut at a record boundary.
        if len(buf) > MAX_CAPTURE:
            body = b""
            for _l, rec, _p in recs:
                if len(header) + len(body) + len(rec) > MAX_CAPTURE:
                    break
                body += rec
            engine.add(header + body)
            reader.add(header + body)
        # Cut short: half of the first records, ending inside a record.
        small = header + b"".join(r[1] for r in recs[:8])
        reader.add(small[:len(small) - 7])
        reader.add(header + b"".join(r[1] for r in recs[:4]))


def ether_variants(frame):
    """Yield (link, bytes) re-encapsulations of an Ethernet frame's L3 payload."""
    if len(frame) < 14:
        return
    etype = struct.unpack(">H", frame[12:14])[0]
    l3 = frame[14:]
    if etype == 0x8100 and len(frame) >= 18:
        etype = struct.unpack(">H", frame[16:18])[0]
        l3 = frame[18:]
    if etype not in (0x0800, 0x86DD):
        return
    v6 = etype == 0x86DD
    yield (12, l3)
    yield (14, l3)
    yield (101, l3)
    yield (229 if v6 else 228, l3)
    af = 24 if v6 else 2
    yield (0, struct.pack("<I", af) + l3)  # BSD loopback, host order
    yield (108, struct.pack(">I", af) + l3)  # OpenBSD loopback, network order
    # Linux SLL: packet type, ARPHRD, addr len, addr[8], protocol.
    yield (113, struct.pack(">HHH8sH", 0, 1, 6, frame[6:12] + b"\0\0", etype) + l3)
    # Linux SLL2: protocol, reserved, ifindex, ARPHRD, type, addr len, addr[8].
    yield (276, struct.pack(">HHIHBB8s", etype, 0, 1, 1, 0, 6, frame[6:12] + b"\0\0") + l3)


def is_fragment(link, pkt):
    """An IPv4-in-Ethernet fragment (MF set or offset non-zero)."""
    if link != 1 or len(pkt) < 22 or pkt[12:14] != b"\x08\x00":
        return False
    return struct.unpack(">H", pkt[20:22])[0] & 0x3FFF != 0


def seed_packets(caps, corpus):
    for _name, buf in caps:
        parts = split_capture(buf)
        if parts is None:
            continue
        _header, recs = parts
        pkts = [(link, pkt) for link, _rec, pkt in recs if pkt is not None and link in SEL]
        # Packets spread over the capture, and every IP fragment.
        step = max(1, len(pkts) // MAX_PACKETS_PER_CAPTURE)
        chosen = [p for i, p in enumerate(pkts) if i % step == 0 or is_fragment(*p)]
        for n, (link, pkt) in enumerate(chosen):
            corpus.add(bytes([SEL[link]]) + pkt)
            # Re-encapsulated variants of a sample only, so the corpus stays small.
            if link == 1 and n % 6 == 0:
                for vlink, vbytes in ether_variants(pkt):
                    corpus.add(bytes([SEL[vlink]]) + vbytes)


# ---------------------------------------------------------------- vectors

def read_bsv(path):
    """Records (kind, bytes-or-gap-len) of a .bsv vector: kind is 0/1 data, 2/3 gap."""
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] != b"BSV1":
        raise ValueError("%s: not a BSV1 vector" % path)
    off = buf.index(b"\n") + 1
    kinds = {b">": 0, b"<": 1, b"g": 2, b"G": 3}
    recs = []
    while off + 13 <= len(buf):
        kind = kinds[buf[off:off + 1]]
        n, = struct.unpack("<I", buf[off + 9:off + 13])
        off += 13
        if kind < 2:
            recs.append((kind, buf[off:off + n]))
            off += n
        else:
            recs.append((kind, n))
    return recs


def read_txt(path):
    """Records (dir, bytes) of a `<us> <O|R> <hex>` vector."""
    recs = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 2:
                continue
            recs.append((0 if p[1] == "O" else 1, bytes.fromhex(p[2] if len(p) > 2 else "")))
    return recs


def harness(recs, limit=MAX_CONVERSATION):
    """Encode records as harness chunks: data split in <= 255-byte pieces."""
    out = bytearray()
    for kind, val in recs:
        if kind >= 2:
            n = val
            for _ in range(4):  # a long gap stays a few chunks
                if n <= 0:
                    break
                out += bytes([kind, min(n, 255)])
                n -= 255
            continue
        data = val
        if not data:
            continue
        for i in range(0, len(data), 255):
            piece = data[i:i + 255]
            out += bytes([kind, len(piece)]) + piece
        if len(out) >= limit:
            break
    return bytes(out[:limit])


def vector_files(sub, exts):
    d = os.path.join(VECTORS, sub)
    if not os.path.isdir(d):
        return []
    return [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(exts)]


def load_vector(path):
    return read_bsv(path) if path.endswith(".bsv") else read_txt(path)


def seed_stream(target, corpus):
    for path in vector_files(target, (".bsv", ".txt")):
        recs = load_vector(path)
        corpus.add(harness(recs))
        # The opening of the conversation alone: small seeds mutate fast.
        corpus.add(harness(recs, 4096))
        corpus.add(harness(recs[:6]))


def seed_dns(corpus):
    for path in vector_files("dns", (".txt",)):
        recs = read_txt(path)
        # UDP: one datagram per chunk (mode byte 0).
        udp = bytearray([0])
        for d, msg in recs:
            msg = msg[:255]
            udp += bytes([d, len(msg)]) + msg
        corpus.add(bytes(udp))
        for d, msg in recs[:2]:
            corpus.add(bytes([0, d, len(msg[:255])]) + msg[:255])
        # TCP: length-prefixed messages as a byte stream (mode byte 1).
        tcp = [(d, struct.pack(">H", len(m)) + m) for d, m in recs]
        corpus.add(b"\x01" + harness(tcp))


def seed_mailbox(corpus):
    """POP3 (mode byte 0) and IMAP (mode byte 1) conversations."""
    for path in vector_files("smtp", (".bsv",)):
        if os.path.basename(path).startswith("pop3"):
            recs = read_bsv(path)
            corpus.add(b"\x00" + harness(recs, 8192))
    pop3 = [(1, b"+OK POP3 server ready\r\n"), (0, b"CAPA\r\n"),
            (1, b"+OK\r\nSTLS\r\nUSER\r\n.\r\n"), (0, b"USER bot\r\n"), (1, b"+OK\r\n"),
            (0, b"PASS secret\r\n"), (1, b"+OK\r\n"), (0, b"STLS\r\n"),
            (1, b"+OK Begin TLS\r\n"), (0, b"\x16\x03\x01\x00\x05hello")]
    corpus.add(b"\x00" + harness(pop3))
    imap = [(1, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"), (0, b"a1 CAPABILITY\r\n"),
            (1, b"* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n"),
            (0, b"a2 LOGIN bot secret\r\n"), (1, b"a2 NO bad\r\n"), (0, b"a3 STARTTLS\r\n"),
            (1, b"a3 OK Begin TLS\r\n"), (0, b"\x16\x03\x01\x00\x05hello")]
    corpus.add(b"\x01" + harness(imap))


def seed_trap_wire(corpus):
    """What SMTP clients send to the trap: [selector][client bytes]."""
    for path in vector_files("smtp", (".bsv", ".txt")):
        if os.path.basename(path).startswith("pop3"):
            continue
        client = b"".join(m for d, m in load_vector(path) if d == 0)
        if client:
            corpus.add(b"\x00" + client[:65536])
            corpus.add(b"\x05" + client[:4096])
    sessions = [
        b"EHLO bot\r\nMAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<x@trap.example>\r\n"
        b"DATA\r\nSubject: s\r\n\r\n..stuffed\r\n.\r\nQUIT\r\n",
        b"helo x\nmail from:<>\nrcpt to:<x@t>\ndata\nbare\nlf\n.\nquit\n",
        b"EHLO x\r\nDATA\r\n.\r\n",
        b"EHLO x\r\nNOOP " + b"y" * 700 + b"\r\nDATA\r\n.\r.\r\n..\r\n.\r\n",
        b"MAIL FROM:<a@b> SMTPUTF8 XYZ=1\r\nRCPT TO:<\xc3\xa9@t> NOTIFY=NEVER\r\nVRFY x\r\nAUTH PLAIN AGJvdABib3Q=\r\nDATA\r\n",
    ]
    for sess in sessions:
        corpus.add(b"\x00" + sess)
        corpus.add(b"\x03" + sess)
def seed_mail_message(shared, corpus):
    """Real spam and ham .eml files, both modes (mailbox, session)."""
    root = os.path.join(shared, "spam-csdmc2010")
    for sub in ("spam", "ham"):
        d = os.path.join(root, sub)
        if not os.path.isdir(d):
            continue
        for i, name in enumerate(sorted(os.listdir(d))):
            if i % 8:
                continue
            with open(os.path.join(d, name), "rb") as f:
                raw = f.read(48 * 1024)
            corpus.add(bytes([i // 8 % 2]) + raw)


def seed_reassembly(corpus):
    def seg(client, seq, ack, flags, length, extra=0, port=0):
        c0 = (0 if client else 1) | (port << 5)
        return struct.pack("<BIIBBB", c0, seq, ack, flags, length, extra)

    syn, ack, psh, fin, rst = 0x02, 0x10, 0x08, 0x01, 0x04
    hs = seg(True, 1000, 0, syn, 0) + seg(False, 5000, 1001, syn | ack, 0) + seg(True, 1001, 5001, ack, 0)
    data = seg(True, 1001, 5001, psh | ack, 100) + seg(False, 5001, 1101, psh | ack, 200)
    close = seg(True, 1101, 5201, fin | ack, 0) + seg(False, 5201, 1102, fin | ack, 0) + seg(True, 1102, 5202, ack, 0)
    corpus.add(hs + data + close)
    # Out of order, retransmitted and overlapping data.
    ooo = seg(True, 1201, 5001, ack, 100) + seg(True, 1101, 5001, ack, 100) + seg(True, 1001, 5001, ack, 150)
    corpus.add(hs + ooo + close)
    # A gap left open, then RST.
    corpus.add(hs + seg(True, 3001, 5001, ack, 50) + seg(False, 5001, 1001, rst, 0))
    # Sequence numbers wrapping around 2^32.
    w = 0xFFFFFF00
    corpus.add(seg(True, w, 0, syn, 0) + seg(False, 7, w + 1, syn | ack, 0)
               + seg(True, w + 1, 8, ack, 200) + seg(True, (w + 201) & 0xFFFFFFFF, 8, ack, 200))
    # Midstream (no handshake), several connections.
    corpus.add(b"".join(seg(i % 2 == 0, 10 * i, 0, ack, 30, 0, i % 8) for i in range(16)))


def seed_config_files(corpus):
    """[selector][file]: 0 scenario TOML, 1 alert TOML, 2 trap TOML, 3 model JSON."""
    scen = os.path.join(ROOT, "crates", "sim", "scenarios")
    for name in sorted(os.listdir(scen)):
        if name.endswith(".toml"):
            with open(os.path.join(scen, name), "rb") as f:
                corpus.add(b"\x00" + f.read())
    corpus.add(b"\x01penalty = 4.0\nmin_segment_days = 2\nshift_factor = 2.5\nmix_ignore = [\"benign\"]\n")
    corpus.add(b"\x02hostname = \"trap.example\"\ndomains = \"any\"\n[limits]\nmax_message_size = 1000000\nmax_sessions = 100\n")
    corpus.add(b'\x03{"min_match":0.6,"families":{"rustock":{"messages":2,"tokens":{"mailer=x":2,"mid=<D{12}@{host}>":1}}}}')


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--clean", action="store_true", help="empty each corpus folder first")
    args = ap.parse_args()

    targets = ["capture_reader", "engine", "packet_decode", "reassembly",
               "http", "smtp", "irc", "tls", "dns", "mailbox", "trap_wire",
               "mail_message", "config_files"]
    if args.clean:
        for t in targets:
            shutil.rmtree(os.path.join(args.out, t), ignore_errors=True)
    c = {t: Corpus(args.out, t) for t in targets}

    caps = captures(args.shared)
    seed_captures(caps, c["capture_reader"], c["engine"])
    seed_packets(caps, c["packet_decode"])
    seed_reassembly(c["reassembly"])
    for t in ("http", "smtp", "irc", "tls"):
        seed_stream(t, c[t])
    seed_dns(c["dns"])
    seed_mailbox(c["mailbox"])
    seed_trap_wire(c["trap_wire"])
    seed_mail_message(args.shared, c["mail_message"])
    seed_config_files(c["config_files"])

    for t in targets:
        print("%-15s %5d new seeds in %s" % (t, c[t].count, c[t].dir))


if __name__ == "__main__":
    main()
