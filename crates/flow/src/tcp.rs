//! Per-direction TCP state: Zeek endpoint states, history letters and the
//! reassembler. See the crate docs for the reassembly policy.

use botscope_event::{ConnState, Dir, TcpFlags};

use crate::{FlowConfig, OooMap};

/// Zeek's TCP endpoint states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum EpState {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

#[derive(Default)]
pub(crate) struct Endpoint {
    pub state: EpState,
    pub isn: Option<u32>,
    /// Sequence number of stream offset 0.
    base: Option<u32>,
    /// Next stream offset to deliver.
    expected: u64,
    /// Highest stream offset seen (end of the furthest segment).
    max_end: u64,
    ooo: OooMap,
    ooo_bytes: usize,
    pub missed: u64,
    pub pkts: u64,
    pub ip_bytes: u64,
    /// Datagram payload bytes (UDP/ICMP/other).
    pub dgram_bytes: u64,
    /// Sent at least one packet (UDP semantics).
    pub active: bool,
    pub reset: bool,
    pub fin_seen: bool,
    pub close_deadline: Option<i64>,
    last_syn: Option<u32>,
    last_fin: Option<u32>,
    last_rst: Option<u32>,
}

impl Endpoint {
    /// Payload bytes sent according to sequence numbers (Zeek's `size`).
    pub fn size(&self) -> u64 {
        self.max_end
    }

    /// Bytes held out of order.
    pub fn buffered(&self) -> usize {
        self.ooo_bytes
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, EpState::Closed | EpState::Reset)
    }

    /// Widen a 32-bit sequence number to a stream offset near `expected`.
    /// Negative results (before the stream start) come back as `None`
    /// together with how many bytes lie before the start.
    fn offset_of(&self, seq: u32) -> i64 {
        let base = self.base.unwrap_or(seq);
        let d = i64::from(seq.wrapping_sub(base));
        let exp = self.expected as i64;
        let mut cand = (exp & !0xFFFF_FFFF) + d;
        if cand - exp > (1i64 << 31) {
            cand -= 1i64 << 32;
        } else if exp - cand > (1i64 << 31) {
            cand += 1i64 << 32;
        }
        cand
    }
}

/// History letters (Zeek's `history` field).
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    s: String,
    once: u64,
    /// Counters for the logarithmic letters, orig then resp: C T W G.
    counts: [u64; 8],
    /// Next threshold per counter.
    next: [u64; 8],
}

impl History {
    pub fn as_str(&self) -> &str {
        &self.s
    }

    pub fn push_flip(&mut self) {
        if self.s.len() < 64 {
            self.s.push('^');
        }
    }

    pub fn flip_case(&mut self) {
        self.s = self
            .s
            .chars()
            .map(|c| {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
    }

    fn letter(dir: Dir, c: char) -> char {
        if dir == Dir::Orig {
            c
        } else {
            c.to_ascii_lowercase()
        }
    }

    fn push(&mut self, dir: Dir, c: char) {
        if self.s.len() < 64 {
            self.s.push(Self::letter(dir, c));
        }
    }

    /// Letters recorded at most once per direction.
    pub(crate) fn once(&mut self, dir: Dir, c: char) {
        let idx = u32::from(c as u8).saturating_sub(u32::from(b'A')).min(25);
        let mask = 1u64 << (idx + if dir == Dir::Orig { 0 } else { 26 });
        if self.once & mask == 0 {
            self.once |= mask;
            self.push(dir, c);
        }
    }

    /// Letters recorded at 1, 10, 100, ... occurrences.
    fn log(&mut self, dir: Dir, c: char) {
        let idx = match c {
            'C' => 0,
            'T' => 1,
            'W' => 2,
            _ => 3,
        } + if dir == Dir::Orig { 0 } else { 4 };
        self.counts[idx] += 1;
        if self.next[idx] == 0 {
            self.next[idx] = 1;
        }
        if self.counts[idx] == self.next[idx] {
            self.next[idx] = self.next[idx].saturating_mul(10);
            self.push(dir, c);
        }
    }

    /// Letters recorded again only when the sequence number differs from
    /// the last one of the same kind.
    fn repeat(&mut self, dir: Dir, c: char, last: &mut Option<u32>, seq: u32) {
        if *last != Some(seq) {
            *last = Some(seq);
            self.push(dir, c);
        }
    }
}

pub(crate) struct Segment<'a> {
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub payload: &'a [u8],
    pub payload_len: u32,
    pub ip_len: u32,
}

/// Where delivered bytes live: in the packet payload or in the scratch
/// buffer (bytes taken out of the out-of-order store).
#[derive(Clone, Copy, Debug)]
pub(crate) enum DataRef {
    Payload(usize, usize),
    Scratch(usize, usize),
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Delivery {
    Data(Dir, DataRef),
    Gap(Dir, u64),
}

#[derive(Default)]
pub(crate) struct Deliveries {
    pub items: Vec<Delivery>,
    pub cap_hit: bool,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn on_segment(
    cfg: &FlowConfig,
    me: &mut Endpoint,
    peer: &mut Endpoint,
    hist: &mut History,
    dir: Dir,
    seg: &Segment<'_>,
    out: &mut Deliveries,
    scratch: &mut Vec<u8>,
) {
    let f = seg.flags;
    me.pkts += 1;
    me.ip_bytes += u64::from(seg.ip_len);
    me.active = true;

    // History letters.
    if f.syn() {
        if f.ack() {
            hist.repeat(dir, 'H', &mut me.last_syn, seg.seq);
        } else {
            hist.repeat(dir, 'S', &mut me.last_syn, seg.seq);
        }
        if f.fin() {
            hist.once(dir, 'Q');
        }
        if f.rst() {
            hist.once(dir, 'I');
        }
    } else if f.fin() {
        if f.rst() {
            hist.once(dir, 'I');
        } else {
            hist.repeat(dir, 'F', &mut me.last_fin, seg.seq);
        }
    } else if f.rst() {
        hist.repeat(dir, 'R', &mut me.last_rst, seg.seq);
    } else if f.ack() && seg.payload_len == 0 {
        hist.once(dir, 'A');
    }
    if seg.payload_len > 0 {
        hist.once(dir, 'D');
    }
    if seg.window == 0 && !f.syn() && !f.rst() && !f.fin() {
        hist.log(dir, 'W');
    }

    // Endpoint state machine (Zeek's TCP_ENDPOINT_* states).
    if f.rst() {
        // A RST after this side's FIN leaves it closed (Zeek logs such a
        // connection as SF, see the irc-starttls baseline).
        if me.state != EpState::Closed {
            me.state = EpState::Reset;
        }
        me.reset = true;
    } else if f.syn() {
        if me.base.is_none() || me.expected == 0 {
            me.isn = Some(seg.seq);
            me.base = Some(seg.seq.wrapping_add(1));
        }
        if matches!(me.state, EpState::Inactive | EpState::SynSent) {
            me.state = if f.ack() {
                EpState::SynAckSent
            } else {
                EpState::SynSent
            };
        }
    } else {
        match me.state {
            EpState::Inactive => me.state = EpState::Partial,
            EpState::SynSent | EpState::SynAckSent if f.ack() => {
                me.state = EpState::Established;
            }
            _ => {}
        }
        if f.ack() && peer.state == EpState::SynAckSent && me.state == EpState::Established {
            peer.state = EpState::Established;
        }
    }
    if f.fin() && !f.rst() {
        me.fin_seen = true;
        if me.state != EpState::Reset {
            me.state = EpState::Closed;
        }
    }

    // The peer acknowledged bytes we never saw while we hold later ones:
    // the hole will not be filled, declare it a gap.
    if f.ack() && peer.base.is_some() && !peer.ooo.is_empty() {
        let ack_off = peer.offset_of(seg.ack);
        if ack_off > peer.expected as i64 {
            if let Some((&first, _)) = peer.ooo.iter().next() {
                if (first as i64) <= ack_off {
                    declare_gap(peer, hist, dir.flip(), first, out);
                    drain(peer, dir.flip(), out, scratch);
                }
            }
        }
    }

    // Sequence space and payload.
    if me.base.is_none() {
        me.base = Some(seg.seq);
    }
    let data_seq = if f.syn() {
        seg.seq.wrapping_add(1)
    } else {
        seg.seq
    };
    let wire_len = u64::from(seg.payload_len);
    if wire_len == 0 {
        return;
    }
    let present = seg.payload.len().min(seg.payload_len as usize);
    let mut rel = me.offset_of(data_seq);
    let mut skip = 0usize;
    let mut wire = wire_len;
    if rel < 0 {
        // Starts before the stream start: keep only the part after it.
        let before = rel.unsigned_abs();
        if before >= wire {
            return;
        }
        skip = before.min(present as u64) as usize;
        wire -= before;
        rel = 0;
    }
    let rel = rel as u64;
    let end = rel + wire;
    if rel < me.max_end {
        hist.log(dir, 'T');
    }
    me.max_end = me.max_end.max(end);
    let present_end = rel + (present - skip) as u64;

    if end <= me.expected {
        return; // complete retransmission
    }
    let bytes = seg.payload.get(skip..present).unwrap_or(&[]);
    if rel <= me.expected {
        // In order. Deliver up to the first buffered byte: buffered bytes
        // came first, and first copy wins.
        let first_buf = me.ooo.keys().next().copied().unwrap_or(u64::MAX);
        let stop = present_end.min(first_buf);
        if me.expected < stop {
            let start = (me.expected - rel) as usize;
            let n = (stop - me.expected) as usize;
            out.items
                .push(Delivery::Data(dir, DataRef::Payload(skip + start, n)));
            me.expected = stop;
        }
        if present_end > me.expected {
            // The rest overlaps buffered bytes: keep only what is new.
            let from = (me.expected - rel) as usize;
            let at = me.expected;
            buffer(
                cfg,
                me,
                hist,
                dir,
                at,
                bytes.get(from..).unwrap_or(&[]),
                out,
                scratch,
            );
        }
        drain(me, dir, out, scratch);
    } else {
        buffer(cfg, me, hist, dir, rel, bytes, out, scratch);
    }
    if end > present_end && me.expected >= present_end {
        // Cut by snaplen: the rest of this segment is missing.
        declare_gap(me, hist, dir, end, out);
        drain(me, dir, out, scratch);
    }
}

/// Store `bytes` (stream offset `off`, beyond `expected`) out of order,
/// keeping only bytes no buffered segment already holds, within the caps.
/// When a cap is hit, the oldest hole is given up (a gap) until there is
/// room — the caps hold after every segment.
#[allow(clippy::too_many_arguments)]
fn buffer(
    cfg: &FlowConfig,
    me: &mut Endpoint,
    hist: &mut History,
    dir: Dir,
    off: u64,
    bytes: &[u8],
    out: &mut Deliveries,
    scratch: &mut Vec<u8>,
) {
    if bytes.is_empty() {
        return;
    }
    let over = |me: &Endpoint| {
        me.ooo_bytes + bytes.len() > cfg.max_ooo_bytes || me.ooo.len() >= cfg.max_ooo_segments
    };
    while over(me) && off > me.expected {
        out.cap_hit = true;
        let first = me.ooo.keys().next().copied().unwrap_or(off).min(off);
        declare_gap(me, hist, dir, first, out);
        drain(me, dir, out, scratch);
    }
    if off <= me.expected {
        // Now in order (the holes before it were given up): deliver a copy
        // of what is new, up to the next buffered byte.
        let first_buf = me.ooo.keys().next().copied().unwrap_or(u64::MAX);
        let end = off + bytes.len() as u64;
        let stop = end.min(first_buf);
        if me.expected < stop {
            let from = (me.expected - off) as usize;
            let to = (stop - off) as usize;
            let s = scratch.len();
            scratch.extend_from_slice(bytes.get(from..to).unwrap_or(&[]));
            out.items
                .push(Delivery::Data(dir, DataRef::Scratch(s, to - from)));
            me.expected = stop;
        }
        if end > me.expected && bytes.len() <= cfg.max_ooo_bytes {
            let from = (me.expected - off) as usize;
            let at = me.expected;
            insert_new(cfg, me, at, bytes.get(from..).unwrap_or(&[]), out);
        }
        drain(me, dir, out, scratch);
        return;
    }
    if bytes.len() > cfg.max_ooo_bytes {
        // One segment larger than the whole buffer: skip to it.
        out.cap_hit = true;
        declare_gap(me, hist, dir, off, out);
        drain(me, dir, out, scratch);
        let from = (me.expected.saturating_sub(off)) as usize;
        if let Some(rest) = bytes.get(from..) {
            let s = scratch.len();
            scratch.extend_from_slice(rest);
            out.items
                .push(Delivery::Data(dir, DataRef::Scratch(s, rest.len())));
            me.expected = off + bytes.len() as u64;
        }
        drain(me, dir, out, scratch);
        return;
    }
    insert_new(cfg, me, off, bytes, out);
}

/// Insert the parts of `bytes` (at `off`) that no buffered segment covers.
fn insert_new(cfg: &FlowConfig, me: &mut Endpoint, off: u64, bytes: &[u8], out: &mut Deliveries) {
    let end = off + bytes.len() as u64;
    let mut pieces: Vec<(u64, u64)> = Vec::new();
    let mut cur = off;
    for (&k, v) in me.ooo.range(..end) {
        let kend = k + v.len() as u64;
        if kend <= cur {
            continue;
        }
        if k > cur {
            pieces.push((cur, k));
        }
        cur = cur.max(kend);
        if cur >= end {
            break;
        }
    }
    if cur < end {
        pieces.push((cur, end));
    }
    for (a, b) in pieces {
        if me.ooo.len() >= cfg.max_ooo_segments
            || me.ooo_bytes + (b - a) as usize > cfg.max_ooo_bytes
        {
            out.cap_hit = true;
            return;
        }
        let piece = bytes
            .get((a - off) as usize..(b - off) as usize)
            .unwrap_or(&[]);
        if piece.is_empty() {
            continue;
        }
        me.ooo_bytes += piece.len();
        me.ooo.insert(a, piece.to_vec());
    }
}

/// Skip the stream forward to `to`, counting the hole as missed.
fn declare_gap(ep: &mut Endpoint, hist: &mut History, dir: Dir, to: u64, out: &mut Deliveries) {
    if to <= ep.expected {
        return;
    }
    let len = to - ep.expected;
    ep.missed += len;
    ep.expected = to;
    hist.log(dir, 'G');
    out.items.push(Delivery::Gap(dir, len));
}

/// Deliver buffered segments that are now in order.
fn drain(ep: &mut Endpoint, dir: Dir, out: &mut Deliveries, scratch: &mut Vec<u8>) {
    while let Some((&off, _)) = ep.ooo.iter().next() {
        if off > ep.expected {
            break;
        }
        let Some(bytes) = ep.ooo.remove(&off) else {
            break;
        };
        ep.ooo_bytes -= bytes.len();
        let end = off + bytes.len() as u64;
        if end <= ep.expected {
            continue;
        }
        let start = (ep.expected - off) as usize;
        let s = scratch.len();
        scratch.extend_from_slice(bytes.get(start..).unwrap_or(&[]));
        out.items.push(Delivery::Data(
            dir,
            DataRef::Scratch(s, bytes.len() - start),
        ));
        ep.expected = end;
    }
}

/// End of a direction: every hole before buffered data becomes a gap.
pub(crate) fn flush(
    ep: &mut Endpoint,
    hist: &mut History,
    dir: Dir,
    out: &mut Deliveries,
    scratch: &mut Vec<u8>,
) {
    while let Some((&off, _)) = ep.ooo.iter().next() {
        declare_gap(ep, hist, dir, off, out);
        drain(ep, dir, out, scratch);
    }
}

/// Zeek's `conn_state` (base/protocols/conn/main.zeek).
pub(crate) fn conn_state(o: &Endpoint, r: &Endpoint, history: &str) -> ConnState {
    use EpState::*;
    let os = o.state;
    let rs = r.state;
    let o_inactive = matches!(os, Inactive | Partial);
    let r_inactive = matches!(rs, Inactive | Partial);
    if rs == Reset {
        if matches!(os, SynSent | SynAckSent) || (os == Reset && o.size() == 0 && r.size() == 0) {
            ConnState::REJ
        } else if o_inactive {
            ConnState::RSTRH
        } else {
            ConnState::RSTR
        }
    } else if os == Reset {
        if r_inactive {
            if rstos0_history(history) {
                ConnState::RSTOS0
            } else {
                ConnState::OTH
            }
        } else {
            ConnState::RSTO
        }
    } else if rs == Closed && os == Closed {
        ConnState::SF
    } else if os == Closed {
        if r_inactive {
            ConnState::SH
        } else {
            ConnState::S2
        }
    } else if rs == Closed {
        if o_inactive {
            ConnState::SHR
        } else {
            ConnState::S3
        }
    } else if os == SynSent && rs == Inactive {
        ConnState::S0
    } else if os == Established && rs == Established {
        ConnState::S1
    } else {
        ConnState::OTH
    }
}

/// `/^\^?S[^HAFGIQ]*R.*/`
fn rstos0_history(h: &str) -> bool {
    let h = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        if c == 'R' {
            return true;
        }
        if "HAFGIQ".contains(c) {
            return false;
        }
    }
    false
}
