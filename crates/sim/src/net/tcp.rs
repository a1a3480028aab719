//! One TCP conversation as a lazy stream of packets in time order.
//!
//! The capture point is the infected host, so what the host sends is
//! seen at once and what a server sends is seen when it arrives:
//!
//! * handshake: SYN at `ts_us`, SYN-ACK one RTT later, ACK a few µs after;
//! * a turn is sent in *flights*: the sender puts `cwnd` segments (slow
//!   start from the initial window, doubled per flight, capped below the
//!   receiver's window) on the wire spaced by its serialisation gap, the
//!   receiver acknowledges every second segment and the last one; the
//!   next flight leaves when the last ACK of the previous one has reached
//!   the sender (at once for the host, one RTT later for a server);
//! * a lone last segment is acknowledged after the receiver's
//!   delayed-ACK time, but always before the receiver's own next turn;
//! * a turn starts `delay_us` after the last data segment of the
//!   previous turn, as seen at the capture point — but a server's answer
//!   never sooner than one RTT after the host's last segment, and no
//!   turn before every segment of the previous turn has been
//!   acknowledged;
//! * the close follows [`Close`].
//!
//! Sequence and acknowledgment numbers wrap modulo 2³²; times saturate.
//! Every packet time is a pure function of the plan and the seeds, and
//! the times a conversation produces never decrease.

use super::rng::{hash3, in_range};
use super::wire::{self, flags, At, Ip, Tcp};
use super::{HostFacts, Out, ServerFacts};
use crate::plan::{Close, Side, TcpConversation};

/// Delayed-ACK timers: Windows 200 ms, Linux 40 ms.
const HOST_DELACK_US: i64 = 200_000;
const SERVER_DELACK_US: i64 = 40_000;
/// Initial congestion windows (segments): Windows 2, Linux 10.
const HOST_IW: u32 = 2;
const SERVER_IW: u32 = 10;
/// Linux servers: SYN-ACK window, window scale and scaled window.
const SERVER_SYN_WINDOW: u16 = 29_200;
const SERVER_WSCALE: u8 = 7;
const SERVER_WINDOW_SCALED_RAW: u16 = 229;

/// Everything the conversation needs besides the plan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpSetup {
    pub host: HostFacts,
    pub server: ServerFacts,
    pub client_port: u16,
    pub server_port: u16,
    /// Seed of this connection (ISNs, IP ids, jitter).
    pub seed: u64,
    /// Fixed (client, server) ISNs instead of seeded ones.
    pub isn: Option<(u32, u32)>,
    pub mss: u16,
}

/// The next packet the conversation will write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Syn,
    SynAck,
    HandshakeAck,
    /// Data segment `i` of the current flight.
    Data(u32),
    /// The receiver's ACK up to the end of segment `i` of the flight.
    Ack(u32),
    /// Step `n` of the close sequence.
    Close(u8),
    Done,
}

/// The flight being sent.
#[derive(Clone, Copy, Debug)]
struct Flight {
    turn: usize,
    side: Side,
    /// Offset of the flight's first byte in the turn.
    off: usize,
    len: usize,
    segs: u32,
    /// The sender's sequence number of the flight's first byte.
    seq: u32,
    t0: i64,
    gap: i64,
    ack_latency: i64,
    /// Extra delay of the ACK of a lone last segment.
    lone_extra: i64,
    next_data: u32,
    /// Next segment index that gets an ACK (`segs` when none is left).
    next_ack: u32,
    last_ack_ts: i64,
}

/// The header fields of a segment that vary.
#[derive(Clone, Copy, Debug)]
struct Seg {
    side: Side,
    flags: u8,
    seq: u32,
    ack: u32,
}

impl Seg {
    fn new(side: Side, flags: u8, seq: u32, ack: u32) -> Seg {
        Seg {
            side,
            flags,
            seq,
            ack,
        }
    }
}

/// Per-direction constants: index 0 is the client (host), 1 the server.
#[derive(Clone, Copy, Debug)]
struct Dir {
    /// Raw window field after the handshake.
    window: u16,
    /// Most segments in flight towards this side's peer.
    cap: u32,
    cwnd: u32,
    /// Serialisation gap of a full segment, µs.
    gap: i64,
    /// Latency of this side's ACK as seen at the capture point, µs.
    ack_latency: i64,
    /// From an ACK reaching the capture point to this side's next flight.
    open_latency: i64,
    delack: i64,
}

pub(crate) struct TcpGen<'a> {
    conv: &'a TcpConversation,
    s: TcpSetup,
    dirs: [Dir; 2],
    rtt: i64,
    c_isn: u32,
    s_isn: u32,
    c_nxt: u32,
    s_nxt: u32,
    server_ip_id: u16,
    /// Host think time before closing.
    host_close: i64,
    /// Server time between reading a request and closing.
    server_close: i64,
    step: Step,
    ts: i64,
    last_ts: i64,
    flight: Flight,
    /// Time of the last data segment of the previous turn (or of the
    /// handshake ACK), the side that sent it, and its last ACK.
    anchor: i64,
    anchor_side: Side,
    anchor_ack: i64,
}

fn idx(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

fn us(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The largest even number of segments that stays strictly below a
/// window of `window` bytes (at least 2).
fn cap(window: u32, mss: u16) -> u32 {
    let n = window.saturating_sub(1) / u32::from(mss.max(1));
    (n & !1).clamp(2, 64)
}

impl<'a> TcpGen<'a> {
    pub(crate) fn new(conv: &'a TcpConversation, s: TcpSetup) -> TcpGen<'a> {
        let h = |label: u64| hash3(s.seed, label, 0);
        let (c_isn, s_isn) = s.isn.unwrap_or(((h(1) >> 32) as u32, (h(2) >> 32) as u32));
        let rtt = s.server.rtt_us + in_range(h(3), 0, (s.server.rtt_us / 20) as u64) as i64;
        let (host_win_raw, host_win_bytes) = if s.host.wscale {
            (256u16, 65_536u32)
        } else {
            (65_535, 65_535)
        };
        let (srv_win_raw, srv_win_bytes) = if s.host.wscale {
            (
                SERVER_WINDOW_SCALED_RAW,
                u32::from(SERVER_WINDOW_SCALED_RAW) << SERVER_WSCALE,
            )
        } else {
            (SERVER_SYN_WINDOW, u32::from(SERVER_SYN_WINDOW))
        };
        let to_server_cap = cap(srv_win_bytes, s.mss);
        let to_host_cap = cap(host_win_bytes, s.mss);
        let client = Dir {
            window: host_win_raw,
            cap: to_server_cap,
            cwnd: HOST_IW.min(to_server_cap),
            gap: s.host.gap_us,
            ack_latency: s.host.ack_us,
            open_latency: s.host.react_us,
            delack: HOST_DELACK_US,
        };
        let server = Dir {
            window: srv_win_raw,
            cap: to_host_cap,
            cwnd: SERVER_IW.min(to_host_cap) & !1,
            gap: s.server.gap_us,
            ack_latency: rtt,
            open_latency: rtt,
            delack: SERVER_DELACK_US,
        };
        let ts = conv.ts_us;
        TcpGen {
            conv,
            s,
            dirs: [client, server],
            rtt,
            c_isn,
            s_isn,
            c_nxt: c_isn,
            s_nxt: s_isn,
            server_ip_id: (h(4) >> 48) as u16,
            host_close: in_range(h(5), 200, 15_000) as i64,
            server_close: in_range(h(6), 100, 3_000) as i64,
            step: Step::Syn,
            ts,
            last_ts: ts,
            flight: Flight {
                turn: 0,
                side: Side::Client,
                off: 0,
                len: 0,
                segs: 0,
                seq: 0,
                t0: ts,
                gap: 0,
                ack_latency: 0,
                lone_extra: 0,
                next_data: 0,
                next_ack: 0,
                last_ack_ts: ts,
            },
            anchor: ts,
            anchor_side: Side::Client,
            anchor_ack: ts,
        }
    }

    /// Time of the next packet, or `None` when the conversation is over.
    pub(crate) fn peek(&self) -> Option<i64> {
        (self.step != Step::Done).then_some(self.ts)
    }

    /// Time of the last packet written.
    pub(crate) fn last_ts(&self) -> i64 {
        self.last_ts
    }

    /// Write the next packet and move on.
    pub(crate) fn emit(&mut self, out: &mut Out<'_>) {
        let ts = self.ts.max(self.last_ts);
        self.last_ts = ts;
        match self.step {
            Step::Syn => {
                let isn = self.c_isn;
                self.put(out, ts, Seg::new(Side::Client, flags::SYN, isn, 0), &[]);
                self.c_nxt = isn.wrapping_add(1);
                self.at(Step::SynAck, ts.saturating_add(self.rtt));
            }
            Step::SynAck => {
                let (isn, ack) = (self.s_isn, self.c_nxt);
                self.put(
                    out,
                    ts,
                    Seg::new(Side::Server, flags::SYN | flags::ACK, isn, ack),
                    &[],
                );
                self.s_nxt = isn.wrapping_add(1);
                self.at(Step::HandshakeAck, ts.saturating_add(self.s.host.ack_us));
            }
            Step::HandshakeAck => {
                let (seq, ack) = (self.c_nxt, self.s_nxt);
                self.put(out, ts, Seg::new(Side::Client, flags::ACK, seq, ack), &[]);
                self.anchor = ts;
                self.anchor_side = Side::Client;
                self.anchor_ack = ts;
                self.start_turn(0, 0);
            }
            Step::Data(i) => self.data(out, ts, i),
            Step::Ack(i) => self.ack(out, ts, i),
            Step::Close(n) => self.close(out, ts, n),
            Step::Done => {}
        }
    }

    fn at(&mut self, step: Step, ts: i64) {
        self.step = step;
        self.ts = ts;
    }

    /// Write one segment.
    fn put(&mut self, out: &mut Out<'_>, ts: i64, seg: Seg, payload: &[u8]) {
        let Seg {
            side,
            flags: fl,
            seq,
            ack,
        } = seg;
        let syn = fl & flags::SYN != 0;
        let mss = self.s.mss.to_be_bytes();
        let mut opts = [0u8; 12];
        let from_host = side == Side::Client;
        let opt_len = if syn {
            // MSS, then (Windows 7) NOP, WS 8, NOP, NOP, SACK_PERM or
            // (Windows XP) NOP, NOP, SACK_PERM; the server (Linux, no
            // timestamps offered) answers MSS, NOP, NOP, SACK_PERM and
            // NOP, WS 7 when the client offered window scaling.
            opts[..4].copy_from_slice(&[2, 4, mss[0], mss[1]]);
            match (from_host, self.s.host.wscale) {
                (true, true) => {
                    opts[4..12].copy_from_slice(&[1, 3, 3, 8, 1, 1, 4, 2]);
                    12
                }
                (false, true) => {
                    opts[4..12].copy_from_slice(&[1, 1, 4, 2, 1, 3, 3, SERVER_WSCALE]);
                    12
                }
                (_, false) => {
                    opts[4..8].copy_from_slice(&[1, 1, 4, 2]);
                    8
                }
            }
        } else {
            0
        };
        let window = match (syn, from_host) {
            (true, true) if self.s.host.wscale => 8192,
            (true, true) => 65_535,
            (true, false) => SERVER_SYN_WINDOW,
            (false, true) => self.dirs[0].window,
            (false, false) => self.dirs[1].window,
        };
        let (src, dst, src_port, dst_port, id, ttl) = if from_host {
            (
                self.s.host.ip,
                self.s.server.ip,
                self.s.client_port,
                self.s.server_port,
                out.next_host_ip_id(),
                128,
            )
        } else {
            let id = self.server_ip_id;
            self.server_ip_id = id.wrapping_add(1);
            (
                self.s.server.ip,
                self.s.host.ip,
                self.s.server_port,
                self.s.client_port,
                id,
                self.s.server.ttl,
            )
        };
        let ip = Ip {
            src,
            dst,
            id,
            ttl,
            dont_fragment: true,
        };
        let tcp = Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags: fl,
            window,
            options: &opts[..opt_len],
        };
        let at = At {
            ts_us: ts,
            from_host,
        };
        wire::write_tcp(out.buf, at, &out.link, &ip, &tcp, payload);
    }

    /// Begin turn `k` (skipping empty turns, whose delays add up), or the
    /// close when no turn is left.
    fn start_turn(&mut self, k: usize, extra_delay: i64) {
        let Some((k, delay)) = self.next_turn(k, extra_delay) else {
            self.start_close();
            return;
        };
        let side = self.conv.turns[k].side;
        let gap = self.gap_before(self.anchor_side, side, delay);
        let start = self.anchor.saturating_add(gap).max(self.anchor_ack);
        // The receiver's delayed ACK of a lone last segment waits, but
        // leaves room before the receiver's own next turn.
        let receiver = self.dirs[idx(other(side))];
        let lone_extra = match self.next_turn(k + 1, 0) {
            Some((n, d)) if self.conv.turns[n].side != side => {
                let slack = self
                    .gap_before(side, other(side), d)
                    .saturating_sub(receiver.ack_latency);
                receiver.delack.min(slack / 2).max(0)
            }
            _ => 0,
        };
        self.flight = Flight {
            turn: k,
            side,
            off: 0,
            lone_extra,
            ..self.flight
        };
        self.start_flight(start);
    }

    /// The first non-empty turn from `k` on, and its delay (the delays of
    /// the empty turns skipped on the way add up).
    fn next_turn(&self, mut k: usize, mut delay: i64) -> Option<(usize, i64)> {
        let turns = &self.conv.turns;
        loop {
            let t = turns.get(k)?;
            delay = delay.saturating_add(us(t.delay_us));
            if !t.bytes.is_empty() {
                return Some((k, delay));
            }
            k += 1;
        }
    }

    /// Time from the last data segment of a turn by `prev` to the first
    /// of the next turn, by `next`, planned `delay` apart: the delay as
    /// planned, but at least what the network allows (a server cannot
    /// answer sooner than one RTT; back-to-back writes are one
    /// serialisation gap apart; the host needs a moment to react).
    fn gap_before(&self, prev: Side, next: Side, delay: i64) -> i64 {
        match (prev, next) {
            (Side::Client, Side::Server) => delay.max(self.rtt),
            (Side::Server, Side::Server) => delay.max(self.dirs[1].gap),
            (Side::Server, Side::Client) => delay.max(self.dirs[0].open_latency),
            (Side::Client, Side::Client) => delay.max(self.dirs[0].gap),
        }
    }

    /// Set up the next flight of the current turn at `t0`.
    fn start_flight(&mut self, t0: i64) {
        let f = self.flight;
        let total = self.conv.turns.get(f.turn).map_or(0, |t| t.bytes.len());
        let d = self.dirs[idx(f.side)];
        let mss = usize::from(self.s.mss);
        let len = (total - f.off).min(d.cwnd as usize * mss);
        let segs = len.div_ceil(mss) as u32;
        let seq = match f.side {
            Side::Client => self.c_nxt,
            Side::Server => self.s_nxt,
        };
        self.flight = Flight {
            len,
            segs,
            seq,
            t0,
            gap: d.gap,
            ack_latency: self.dirs[idx(other(f.side))].ack_latency,
            next_data: 0,
            next_ack: if segs > 1 { 1 } else { 0 },
            last_ack_ts: t0,
            ..f
        };
        self.next_in_flight();
    }

    fn jitter(&self, i: u32, salt: u64, max: i64) -> i64 {
        let key = (self.flight.turn as u64) << 40 ^ (self.flight.off as u64) << 8 ^ salt;
        in_range(hash3(self.s.seed, key, u64::from(i)), 0, max.max(0) as u64) as i64
    }

    fn data_ts(&self, i: u32) -> i64 {
        let f = &self.flight;
        f.t0.saturating_add(f.gap.saturating_mul(i64::from(i)))
            .saturating_add(self.jitter(i, 1, f.gap / 4))
    }

    fn ack_ts(&self, i: u32) -> i64 {
        let f = &self.flight;
        let lone = i.is_multiple_of(2) && i + 1 == f.segs;
        self.data_ts(i)
            .saturating_add(f.ack_latency)
            .saturating_add(self.jitter(i, 2, f.gap / 2))
            .saturating_add(if lone { f.lone_extra } else { 0 })
    }

    /// Pick the next data segment or ACK of the flight, or end it.
    fn next_in_flight(&mut self) {
        let f = self.flight;
        let data = (f.next_data < f.segs).then(|| self.data_ts(f.next_data));
        let ack = (f.next_ack < f.segs).then(|| self.ack_ts(f.next_ack));
        match (data, ack) {
            (Some(d), Some(a)) if a < d => self.at(Step::Ack(f.next_ack), a),
            (Some(d), _) => self.at(Step::Data(f.next_data), d),
            (None, Some(a)) => self.at(Step::Ack(f.next_ack), a),
            (None, None) => self.end_flight(),
        }
    }

    fn end_flight(&mut self) {
        let f = self.flight;
        let total = self.conv.turns.get(f.turn).map_or(0, |t| t.bytes.len());
        let off = f.off + f.len;
        let d = &mut self.dirs[idx(f.side)];
        if off < total && f.len > 0 {
            d.cwnd = (d.cwnd * 2).min(d.cap);
            let t0 = f.last_ack_ts.saturating_add(d.open_latency);
            self.flight.off = off;
            self.start_flight(t0);
        } else {
            self.anchor = self.data_ts_of_last(f);
            self.anchor_side = f.side;
            self.anchor_ack = f.last_ack_ts;
            self.start_turn(f.turn + 1, 0);
        }
    }

    fn data_ts_of_last(&self, f: Flight) -> i64 {
        if f.segs == 0 {
            f.t0
        } else {
            self.data_ts(f.segs - 1)
        }
    }

    fn data(&mut self, out: &mut Out<'_>, ts: i64, i: u32) {
        let f = self.flight;
        let conv = self.conv;
        let bytes = conv.turns.get(f.turn).map_or(&[][..], |t| &t.bytes[..]);
        let mss = usize::from(self.s.mss);
        let start = f.off + i as usize * mss;
        let end = (start + mss).min(f.off + f.len).min(bytes.len());
        let payload = bytes.get(start..end).unwrap_or(&[]);
        let last_of_turn = end >= bytes.len();
        let fl = flags::ACK | if last_of_turn { flags::PSH } else { 0 };
        let len = payload.len() as u32;
        match f.side {
            Side::Client => {
                let (seq, ack) = (self.c_nxt, self.s_nxt);
                self.put(out, ts, Seg::new(Side::Client, fl, seq, ack), payload);
                self.c_nxt = seq.wrapping_add(len);
            }
            Side::Server => {
                let (seq, ack) = (self.s_nxt, self.c_nxt);
                self.put(out, ts, Seg::new(Side::Server, fl, seq, ack), payload);
                self.s_nxt = seq.wrapping_add(len);
            }
        }
        self.flight.next_data = i + 1;
        self.next_in_flight();
    }

    fn ack(&mut self, out: &mut Out<'_>, ts: i64, i: u32) {
        let f = self.flight;
        let mss = self.s.mss as usize;
        let acked = ((i as usize + 1) * mss).min(f.len) as u32;
        let ack = f.seq.wrapping_add(acked);
        let receiver = other(f.side);
        let seq = match receiver {
            Side::Client => self.c_nxt,
            Side::Server => self.s_nxt,
        };
        self.put(out, ts, Seg::new(receiver, flags::ACK, seq, ack), &[]);
        self.flight.last_ack_ts = ts;
        // Next ACK point: every second segment, and the last one.
        self.flight.next_ack = if i + 2 < f.segs {
            i + 2
        } else if i + 1 < f.segs {
            i + 1
        } else {
            f.segs
        };
        self.next_in_flight();
    }

    fn start_close(&mut self) {
        let base = self.anchor.max(self.anchor_ack);
        let t = match self.conv.close {
            Close::ClientFin | Close::ClientRst => base.saturating_add(self.host_close),
            Close::ServerFin => {
                let after = match self.anchor_side {
                    // The server reads the last request, then closes.
                    Side::Client => self.rtt.saturating_add(self.server_close),
                    // The FIN follows the server's last write.
                    Side::Server => self.server_close.min(self.dirs[1].gap),
                };
                self.anchor.saturating_add(after).max(self.anchor_ack)
            }
        };
        self.at(Step::Close(0), t);
    }

    fn close(&mut self, out: &mut Out<'_>, ts: i64, n: u8) {
        let (c, s) = (self.c_nxt, self.s_nxt);
        let fin_ack = flags::FIN | flags::ACK;
        let host_ack = self.s.host.ack_us;
        let next = match (self.conv.close, n) {
            (Close::ClientRst, _) => {
                self.put(
                    out,
                    ts,
                    Seg::new(Side::Client, flags::RST | flags::ACK, c, s),
                    &[],
                );
                None
            }
            (Close::ClientFin, 0) => {
                self.put(out, ts, Seg::new(Side::Client, fin_ack, c, s), &[]);
                self.c_nxt = c.wrapping_add(1);
                Some(self.rtt)
            }
            (Close::ClientFin, 1) => {
                self.put(out, ts, Seg::new(Side::Server, fin_ack, s, c), &[]);
                self.s_nxt = s.wrapping_add(1);
                Some(host_ack)
            }
            (Close::ClientFin, _) => {
                self.put(out, ts, Seg::new(Side::Client, flags::ACK, c, s), &[]);
                None
            }
            (Close::ServerFin, 0) => {
                self.put(out, ts, Seg::new(Side::Server, fin_ack, s, c), &[]);
                self.s_nxt = s.wrapping_add(1);
                Some(host_ack)
            }
            (Close::ServerFin, 1) => {
                self.put(out, ts, Seg::new(Side::Client, flags::ACK, c, s), &[]);
                Some(self.host_close)
            }
            (Close::ServerFin, 2) => {
                self.put(out, ts, Seg::new(Side::Client, fin_ack, c, s), &[]);
                self.c_nxt = c.wrapping_add(1);
                Some(self.rtt)
            }
            (Close::ServerFin, _) => {
                self.put(out, ts, Seg::new(Side::Server, flags::ACK, s, c), &[]);
                None
            }
        };
        match next {
            Some(dt) => self.at(Step::Close(n + 1), ts.saturating_add(dt)),
            None => self.step = Step::Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_stay_below_the_window() {
        assert_eq!(cap(65_536, 1460), 44);
        assert_eq!(cap(65_535, 1460), 44);
        assert_eq!(cap(29_312, 1460), 20);
        assert_eq!(cap(29_200, 1460), 18);
        assert!(cap(29_200, 1460) * 1460 < 29_200);
        assert_eq!(cap(100, 1460), 2);
    }
}
