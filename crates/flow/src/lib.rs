//! Connection tracking and TCP reassembly with Zeek `conn.log` semantics.
//!
//! [`FlowTable`] takes decoded packets ([`PacketView`]) in capture order,
//! keeps one entry per connection (5-tuple), reassembles each TCP
//! direction into in-order bytes and hands them to a [`StreamHandler`]
//! (the application layer, which this crate knows nothing about). When a
//! connection ends — closed, reset, timed out on *capture* time, evicted,
//! or at the end of input — the handler gets the finished [`Conn`]
//! record.
//!
//! # Reassembly policy
//! - Sequence numbers are compared with wrapping arithmetic and widened to
//!   64-bit stream offsets, so wrap-around is transparent.
//! - Retransmissions and overlaps: **first copy wins**. Bytes already
//!   delivered are never delivered again; a later segment overlapping
//!   buffered or delivered bytes only contributes its new bytes.
//! - Out-of-order segments are buffered per direction up to
//!   [`FlowConfig::max_ooo_bytes`] / [`FlowConfig::max_ooo_segments`].
//!   When a cap is hit, or the peer acknowledges bytes we never saw, or
//!   the direction ends, the hole is declared a gap: its length is added
//!   to `missed_bytes` and the handler's `gap` is called, so parsers can
//!   resynchronise.
//! - Packets cut by the capture's snaplen deliver the bytes present and a
//!   gap for the rest.
//! - Connections picked up mid-stream start at the first sequence number
//!   seen (history shows no `S`/`H`).
//!
//! No input makes this code panic; every table and buffer is capped.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::IpAddr;

use botscope_event::{Conn, ConnId, ConnState, Dir, Duration, Service, Transport, Ts, Uid};
use rustc_hash::FxHashMap;

mod tcp;

pub use botscope_event::TcpFlags;

/// Limits and timeouts of connection tracking, with Zeek's defaults
/// where Zeek has one.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// A TCP connection with no packet for this long (capture time) is
    /// finished. Zeek: `tcp_inactivity_timeout` = 5 min.
    pub tcp_inactivity_us: i64,
    /// UDP inactivity timeout. Zeek: `udp_inactivity_timeout` = 1 min.
    pub udp_inactivity_us: i64,
    /// ICMP and other-protocol inactivity timeout. Zeek: 1 min.
    pub icmp_inactivity_us: i64,
    /// How long a TCP connection lingers after both FINs or a RST, to
    /// count the last ACKs. Zeek: `tcp_close_delay` = 5 s.
    pub tcp_close_delay_us: i64,
    /// Most connections tracked at once; beyond, the connection closest to
    /// its timeout is finished early (counted). Default 1,000,000.
    pub max_connections: usize,
    /// Out-of-order bytes buffered per TCP direction. Default 1 MiB.
    pub max_ooo_bytes: usize,
    /// Out-of-order segments buffered per TCP direction. Default 512.
    pub max_ooo_segments: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            tcp_inactivity_us: 300 * 1_000_000,
            udp_inactivity_us: 60 * 1_000_000,
            icmp_inactivity_us: 60 * 1_000_000,
            tcp_close_delay_us: 5 * 1_000_000,
            max_connections: 1_000_000,
            max_ooo_bytes: 1 << 20,
            max_ooo_segments: 512,
        }
    }
}

/// Transport header of a packet, as the flow table needs it.
#[derive(Clone, Copy, Debug)]
pub enum L4View<'a> {
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        /// The payload bytes present in the capture.
        payload: &'a [u8],
        /// The payload length according to the IP header (may exceed
        /// `payload.len()` when the capture was cut).
        payload_len: u32,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
    Icmp {
        v6: bool,
        icmp_type: u8,
        code: u8,
        payload: &'a [u8],
    },
    Other {
        proto: u8,
        payload: &'a [u8],
    },
}

/// One decoded packet.
#[derive(Clone, Copy, Debug)]
pub struct PacketView<'a> {
    pub ts: Ts,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Total IP datagram length (for `*_ip_bytes`).
    pub ip_len: u32,
    pub l4: L4View<'a>,
}

/// What the application layer sees of a connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    pub uid: Uid,
    /// Oriented originator → responder (after any role flip).
    pub id: ConnId,
    pub start: Ts,
}

/// Answer of a handler to delivered data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// The application layer wants no more payload of this connection
    /// (it is still tracked for `conn.log`).
    Ignore,
    /// Swap originator and responder (only honoured before the
    /// connection has delivered payload in both directions; used when the
    /// first datagram seen is a reply, as Zeek's DNS analyzer does).
    FlipRoles,
}

/// The application layer driven by a [`FlowTable`].
pub trait StreamHandler {
    /// Per-connection application state.
    type State;

    /// A new connection appeared.
    fn open(&mut self, info: &ConnInfo) -> Self::State;

    /// In-order payload of one direction (TCP) or one datagram (UDP,
    /// ICMP, other). `ts` is the capture time of the packet that carried
    /// (or completed) these bytes.
    fn data(
        &mut self,
        st: &mut Self::State,
        info: &ConnInfo,
        dir: Dir,
        ts: Ts,
        data: &[u8],
    ) -> Verdict;

    /// `len` bytes of `dir` are missing from the capture.
    fn gap(&mut self, st: &mut Self::State, info: &ConnInfo, dir: Dir, ts: Ts, len: u64);

    /// The connection is over. The handler fills `rec.service` and
    /// publishes the record.
    fn close(&mut self, st: Self::State, info: &ConnInfo, rec: Conn);
}

/// Counters of what the flow table did and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub packets: u64,
    pub connections: u64,
    pub tcp_gaps: u64,
    pub tcp_gap_bytes: u64,
    pub ooo_cap_hits: u64,
    pub table_evictions: u64,
    pub timeouts: u64,
    /// Packets whose timestamp went backwards more than a second.
    pub time_regressions: u64,
}

impl FlowStats {
    /// Add another table's counters (shards of one capture).
    pub fn add(&mut self, o: &FlowStats) {
        self.packets += o.packets;
        self.connections += o.connections;
        self.tcp_gaps += o.tcp_gaps;
        self.tcp_gap_bytes += o.tcp_gap_bytes;
        self.ooo_cap_hits += o.ooo_cap_hits;
        self.table_evictions += o.table_evictions;
        self.timeouts += o.timeouts;
        self.time_regressions += o.time_regressions;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FlowKey {
    a: IpAddr,
    b: IpAddr,
    ap: u16,
    bp: u16,
    proto: u8,
}

fn key_for(src: IpAddr, sp: u16, dst: IpAddr, dp: u16, proto: u8) -> (FlowKey, bool) {
    if (src, sp) <= (dst, dp) {
        (
            FlowKey {
                a: src,
                b: dst,
                ap: sp,
                bp: dp,
                proto,
            },
            true,
        )
    } else {
        (
            FlowKey {
                a: dst,
                b: src,
                ap: dp,
                bp: sp,
                proto,
            },
            false,
        )
    }
}

/// Ports that Zeek's loaded analyzers register (`likely_server_ports`):
/// a first packet *from* one of these to a port not in the list was
/// seen mid-conversation, so roles are flipped.
pub fn is_likely_server_port(port: u16, udp: bool) -> bool {
    if udp {
        matches!(
            port,
            53 | 67
                | 69
                | 123
                | 137
                | 138
                | 161
                | 162
                | 500
                | 514
                | 1812
                | 1813
                | 5353
                | 5355
                // Tunnels: GTP-C/U, Teredo, AYIYA, VXLAN, Geneve.
                | 2123
                | 2152
                | 3544
                | 5072
                | 4789
                | 6081
        )
    } else {
        matches!(
            port,
            21 | 22
                | 23
                | 25
                | 53
                | 80
                | 110
                | 139
                | 143
                | 443
                | 445
                | 465
                | 587
                | 993
                | 995
                | 1080
                | 2525
                | 3128
                | 3306
                | 5432
                | 6666
                | 6667
                | 6668
                | 6669
                | 8000
                | 8080
                | 8443
                | 8888
        )
    }
}

struct Entry<S> {
    info: ConnInfo,
    /// true when the key's `a` endpoint is the originator.
    a_is_orig: bool,
    last: Ts,
    /// Deadline currently believed by the timer heap.
    kind: Kind,
    orig: tcp::Endpoint,
    resp: tcp::Endpoint,
    history: tcp::History,
    flipped: bool,
    ignore: bool,
    payload_dirs: u8,
    /// Generation: timer entries of an earlier connection with the same
    /// key carry another value and are dropped.
    gen: u64,
    ipv6: bool,
    /// Tunnels that carried this connection (capped at
    /// [`MAX_TUNNEL_PARENTS`]).
    tunnel_parents: Vec<Uid>,
    /// Set when this connection is the outer UDP connection of a tunnel:
    /// the service Zeek gives it (`vxlan`, `teredo`, ...).
    tunnel_service: Option<Service>,
    /// Directions (1 orig, 2 resp) that carried the tunnel.
    tunnel_dirs: u8,
    /// The service is named only once both directions carried the tunnel.
    tunnel_both_ways: bool,
    app: S,
}

/// Tunnel uids remembered per connection (a connection moving between
/// many tunnels keeps the first ones).
pub const MAX_TUNNEL_PARENTS: usize = 8;

/// The outer connection of a tunnel, as [`FlowTable::process_tunnel_outer`]
/// reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelOuter {
    pub uid: Uid,
    /// The outer connection's id (oriented).
    pub id: ConnId,
    /// This packet made the connection a tunnel (first time seen as one):
    /// the moment Zeek logs `Tunnel::DISCOVER`.
    pub discovered: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Icmp,
    Other(u8),
}

/// The connection table.
pub struct FlowTable<H: StreamHandler> {
    cfg: FlowConfig,
    handler: H,
    conns: FxHashMap<FlowKey, Entry<H::State>>,
    timers: BinaryHeap<Reverse<(i64, u64, FlowKeyOrd)>>,
    now: Ts,
    seed: u64,
    serial: u64,
    stats: FlowStats,
    scratch: Vec<u8>,
    deliveries: tcp::Deliveries,
    /// While processing a tunnelled packet: the tunnel's uid, added to the
    /// connection the packet lands in.
    parent: Option<Uid>,
    /// While processing a tunnel's outer packet: its service, and the
    /// connection it landed in.
    outer: Option<OuterMark>,
}

/// What [`FlowTable::process_tunnel_outer`] asks of the packet's
/// connection, and what it found.
struct OuterMark {
    service: Service,
    both_ways: bool,
    found: Option<TunnelOuter>,
}

/// FlowKey wrapped with an order so it can live in the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlowKeyOrd(FlowKey);
impl PartialOrd for FlowKeyOrd {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for FlowKeyOrd {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let a = &self.0;
        let b = &other.0;
        (a.a, a.b, a.ap, a.bp, a.proto).cmp(&(b.a, b.b, b.ap, b.bp, b.proto))
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn ip_bits(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v) => u64::from(u32::from(v)),
        IpAddr::V6(v) => {
            let x = u128::from(v);
            (x as u64) ^ ((x >> 64) as u64).rotate_left(17)
        }
    }
}

impl<H: StreamHandler> FlowTable<H> {
    /// `seed` makes uids differ between inputs (e.g. a hash of the file
    /// name); the same seed and packets always give the same uids.
    pub fn new(cfg: FlowConfig, handler: H, seed: u64) -> Self {
        FlowTable {
            cfg,
            handler,
            conns: FxHashMap::default(),
            timers: BinaryHeap::new(),
            now: Ts(i64::MIN),
            seed,
            serial: 0,
            stats: FlowStats::default(),
            scratch: Vec::new(),
            deliveries: tcp::Deliveries::default(),
            parent: None,
            outer: None,
        }
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// Most out-of-order bytes any direction holds now (for tests and
    /// memory accounting).
    pub fn max_buffered(&self) -> usize {
        self.conns
            .values()
            .map(|e| e.orig.buffered().max(e.resp.buffered()))
            .max()
            .unwrap_or(0)
    }

    /// Pending timer entries (bounded by a multiple of the table size).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// Connections currently tracked.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    fn make_uid(&mut self, id: &ConnId, ts: Ts) -> Uid {
        self.serial += 1;
        let mut h = self.seed;
        h = splitmix(h ^ ip_bits(id.orig_h));
        h = splitmix(h ^ ip_bits(id.resp_h));
        h = splitmix(h ^ (u64::from(id.orig_p) << 16 | u64::from(id.resp_p)));
        h = splitmix(h ^ ts.0 as u64);
        Uid(h)
    }

    fn timeout_for(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Tcp => self.cfg.tcp_inactivity_us,
            Kind::Udp => self.cfg.udp_inactivity_us,
            Kind::Icmp | Kind::Other(_) => self.cfg.icmp_inactivity_us,
        }
    }

    /// Move capture time forward to `now` (finishing connections whose
    /// timeout passed) without a packet. Used when one capture is split
    /// across several tables: each is told the capture's time, so
    /// timeouts fire exactly as with a single table.
    pub fn advance(&mut self, now: Ts) {
        if now > self.now {
            self.now = now;
            self.expire(now);
        }
    }

    /// Feed the inner packet of a tunnel whose uid is `parent`: processed
    /// as [`process`](Self::process), and `parent` joins the connection's
    /// `tunnel_parents`.
    pub fn process_tunneled(&mut self, pkt: &PacketView<'_>, parent: Uid) {
        self.parent = Some(parent);
        self.process(pkt);
        self.parent = None;
    }

    /// Feed the outer UDP datagram of a tunnel (VXLAN, Teredo, ...): it is
    /// counted in its own connection, which gets `service` (once both
    /// directions carried the tunnel when `both_ways`, as Zeek delays
    /// Teredo's confirmation) and whose payload is not given to the
    /// application layer. `parent` is the tunnel around this one, if any.
    /// Returns that connection, or `None` when the packet is not UDP.
    pub fn process_tunnel_outer(
        &mut self,
        pkt: &PacketView<'_>,
        service: Service,
        both_ways: bool,
        parent: Option<Uid>,
    ) -> Option<TunnelOuter> {
        if !matches!(pkt.l4, L4View::Udp { .. }) {
            return None;
        }
        self.outer = Some(OuterMark {
            service,
            both_ways,
            found: None,
        });
        self.parent = parent;
        self.process(pkt);
        self.parent = None;
        self.outer.take().and_then(|o| o.found)
    }

    /// Tunnel bookkeeping of a packet that landed in `e` (see
    /// [`process_tunneled`](Self::process_tunneled)).
    fn mark_tunnel(
        e: &mut Entry<H::State>,
        dir: Dir,
        parent: Option<Uid>,
        outer: &mut Option<OuterMark>,
    ) {
        if let Some(p) = parent {
            if !e.tunnel_parents.contains(&p) && e.tunnel_parents.len() < MAX_TUNNEL_PARENTS {
                e.tunnel_parents.push(p);
            }
        }
        if let Some(mark) = outer {
            let discovered = e.tunnel_service.is_none();
            e.tunnel_service = Some(mark.service);
            e.tunnel_both_ways = mark.both_ways;
            e.tunnel_dirs |= match dir {
                Dir::Orig => 1,
                Dir::Resp => 2,
            };
            e.ignore = true;
            mark.found = Some(TunnelOuter {
                uid: e.info.uid,
                id: e.info.id,
                discovered,
            });
        }
    }

    /// Feed one packet.
    pub fn process(&mut self, pkt: &PacketView<'_>) {
        self.stats.packets += 1;
        if pkt.ts.0.saturating_add(1_000_000) < self.now.0 {
            self.stats.time_regressions += 1;
        }
        if pkt.ts > self.now {
            self.now = pkt.ts;
            self.expire(self.now);
        }
        match pkt.l4 {
            L4View::Tcp { .. } => self.process_tcp(pkt),
            L4View::Udp {
                src_port,
                dst_port,
                payload,
            } => self.process_dgram(pkt, Kind::Udp, src_port, dst_port, payload),
            L4View::Icmp {
                v6,
                icmp_type,
                code,
                payload,
            } => {
                // Zeek's ICMP "ports": orig_p = the type, resp_p = the
                // counterpart type of a request/reply pair (so a request
                // and its reply share one connection whose originator is
                // whoever sent first), or the code of a one-way message.
                let (sp, dp) = (u16::from(icmp_type), icmp_counterpart(v6, icmp_type, code));
                self.process_icmp(pkt, sp, dp, payload);
            }
            L4View::Other { proto, payload } => {
                self.process_dgram(pkt, Kind::Other(proto), 0, 0, payload)
            }
        }
    }

    fn transport(kind: Kind) -> Transport {
        match kind {
            Kind::Tcp => Transport::Tcp,
            Kind::Udp => Transport::Udp,
            Kind::Icmp => Transport::Icmp,
            Kind::Other(p) => Transport::Other(p),
        }
    }

    fn proto_num(kind: Kind) -> u8 {
        match kind {
            Kind::Tcp => 6,
            Kind::Udp => 17,
            Kind::Icmp => 1,
            Kind::Other(p) => p,
        }
    }

    /// Look up or create the entry for a packet; returns its key and the
    /// direction of the packet.
    fn lookup_or_create(
        &mut self,
        pkt: &PacketView<'_>,
        kind: Kind,
        sp: u16,
        dp: u16,
        flip_hint: bool,
    ) -> (FlowKey, Dir) {
        let (key, src_is_a) = key_for(pkt.src, sp, pkt.dst, dp, Self::proto_num(kind));
        if let Some(e) = self.conns.get(&key) {
            let dir = if src_is_a == e.a_is_orig {
                Dir::Orig
            } else {
                Dir::Resp
            };
            return (key, dir);
        }
        if self.conns.len() >= self.cfg.max_connections {
            self.evict_one();
        }
        let (orig_h, orig_p, resp_h, resp_p, src_is_orig) = if flip_hint {
            (pkt.dst, dp, pkt.src, sp, false)
        } else {
            (pkt.src, sp, pkt.dst, dp, true)
        };
        let id = ConnId {
            orig_h,
            orig_p,
            resp_h,
            resp_p,
            proto: Self::transport(kind),
        };
        let uid = self.make_uid(&id, pkt.ts);
        let info = ConnInfo {
            uid,
            id,
            start: pkt.ts,
        };
        let app = self.handler.open(&info);
        let mut history = tcp::History::default();
        if flip_hint {
            history.push_flip();
        }
        let entry = Entry {
            info,
            a_is_orig: src_is_a == src_is_orig,
            last: pkt.ts,
            kind,
            orig: tcp::Endpoint::default(),
            resp: tcp::Endpoint::default(),
            history,
            flipped: flip_hint,
            ignore: false,
            payload_dirs: 0,
            gen: self.serial,
            ipv6: pkt.src.is_ipv6(),
            tunnel_parents: Vec::new(),
            tunnel_service: None,
            tunnel_dirs: 0,
            tunnel_both_ways: false,
            app,
        };
        let gen = entry.gen;
        self.conns.insert(key, entry);
        self.stats.connections += 1;
        let deadline = pkt.ts.0.saturating_add(self.timeout_for(kind));
        self.push_timer(deadline, gen, key);
        let dir = if src_is_orig { Dir::Orig } else { Dir::Resp };
        (key, dir)
    }

    fn process_dgram(
        &mut self,
        pkt: &PacketView<'_>,
        kind: Kind,
        sp: u16,
        dp: u16,
        payload: &[u8],
    ) {
        let (key, src_is_a) = key_for(pkt.src, sp, pkt.dst, dp, Self::proto_num(kind));
        let dir = match self.conns.get(&key) {
            Some(e) => {
                if src_is_a == e.a_is_orig {
                    Dir::Orig
                } else {
                    Dir::Resp
                }
            }
            None => {
                let flip = kind == Kind::Udp
                    && is_likely_server_port(sp, true)
                    && !is_likely_server_port(dp, true)
                    && !is_group_addr(pkt.dst);
                self.lookup_or_create(pkt, kind, sp, dp, flip).1
            }
        };
        self.deliver_dgram(key, dir, pkt, payload);
    }

    fn process_icmp(&mut self, pkt: &PacketView<'_>, sp: u16, dp: u16, payload: &[u8]) {
        let (key, dir) = self.lookup_or_create(pkt, Kind::Icmp, sp, dp, false);
        self.deliver_dgram(key, dir, pkt, payload);
    }

    fn deliver_dgram(&mut self, key: FlowKey, dir: Dir, pkt: &PacketView<'_>, payload: &[u8]) {
        let Some(e) = self.conns.get_mut(&key) else {
            return;
        };
        Self::mark_tunnel(e, dir, self.parent, &mut self.outer);
        e.last = pkt.ts;
        let ep = match dir {
            Dir::Orig => &mut e.orig,
            Dir::Resp => &mut e.resp,
        };
        ep.pkts += 1;
        ep.ip_bytes += u64::from(pkt.ip_len);
        ep.dgram_bytes += payload.len() as u64;
        ep.active = true;
        if e.kind == Kind::Udp {
            // Zeek: 'D'/'d' for the first datagram of each side.
            e.history.once(dir, 'D');
        }
        if e.ignore {
            return;
        }
        let first_packet = e.orig.pkts + e.resp.pkts == 1;
        let v = self.handler.data(&mut e.app, &e.info, dir, pkt.ts, payload);
        match v {
            Verdict::Continue => {}
            Verdict::Ignore => e.ignore = true,
            Verdict::FlipRoles => {
                // As Zeek's DNS analyzer: never make a multicast or
                // broadcast address the originator.
                if first_packet && !is_group_addr(e.info.id.resp_h) {
                    // Swap roles, then hand the datagram over again from
                    // its new side; the handler must not have consumed it.
                    flip_entry(e);
                    let v = self
                        .handler
                        .data(&mut e.app, &e.info, dir.flip(), pkt.ts, payload);
                    if v == Verdict::Ignore {
                        e.ignore = true;
                    }
                }
            }
        }
    }

    fn process_tcp(&mut self, pkt: &PacketView<'_>) {
        let L4View::Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            payload,
            payload_len,
        } = pkt.l4
        else {
            return;
        };
        let (key, src_is_a) = key_for(pkt.src, src_port, pkt.dst, dst_port, 6);
        // Connection reuse, as Zeek's `IsReuse`: a SYN (without ACK) on a
        // finished connection, or on a live one with another initial
        // sequence number than the originator's (a new attempt from the
        // same port, not a retransmitted SYN), starts a new connection.
        if flags.syn() && !flags.ack() {
            if let Some(e) = self.conns.get(&key) {
                let finished = e.orig.is_done() || e.resp.is_done();
                // No ISN yet: a new SYN is a new attempt if the originator
                // already sent something (picked up mid-stream), not when
                // only the SYN-ACK was seen before its SYN.
                let new_isn = match e.orig.isn {
                    Some(isn) => isn != seq,
                    None => e.orig.pkts > 0,
                };
                if finished || new_isn {
                    self.finish_key(key);
                }
            }
        }
        let dir = match self.conns.get(&key) {
            Some(e) => {
                if src_is_a == e.a_is_orig {
                    Dir::Orig
                } else {
                    Dir::Resp
                }
            }
            None => {
                let flip = (flags.syn() && flags.ack())
                    || (!flags.syn()
                        && is_likely_server_port(src_port, false)
                        && !is_likely_server_port(dst_port, false));
                self.lookup_or_create(pkt, Kind::Tcp, src_port, dst_port, flip)
                    .1
            }
        };
        if self.parent.is_some() {
            if let Some(e) = self.conns.get_mut(&key) {
                Self::mark_tunnel(e, dir, self.parent, &mut None);
            }
        }
        let seg = tcp::Segment {
            seq,
            ack,
            flags,
            window,
            payload,
            payload_len,
            ip_len: pkt.ip_len,
        };
        // Reused across packets: no allocation per packet.
        let mut out = std::mem::take(&mut self.deliveries);
        out.items.clear();
        out.cap_hit = false;
        let FlowTable {
            conns,
            cfg,
            scratch,
            stats,
            handler,
            timers,
            ..
        } = self;
        let Some(e) = conns.get_mut(&key) else {
            self.deliveries = out;
            return;
        };
        // Zeek: once both sides have closed (FIN or RST), later packets
        // (the last ACK) no longer extend the connection's duration.
        let did_close = |ep: &tcp::Endpoint| ep.fin_seen || ep.state == tcp::EpState::Reset;
        if !did_close(&e.orig) || !did_close(&e.resp) {
            e.last = pkt.ts;
        }
        {
            let (me, peer) = match dir {
                Dir::Orig => (&mut e.orig, &mut e.resp),
                Dir::Resp => (&mut e.resp, &mut e.orig),
            };
            tcp::on_segment(cfg, me, peer, &mut e.history, dir, &seg, &mut out, scratch);
        }
        if out.cap_hit {
            stats.ooo_cap_hits += 1;
        }
        // Deliver: peer gaps (ack-detected) first, then our own stream.
        for item in out.items.drain(..) {
            match item {
                tcp::Delivery::Gap(d, len) => {
                    stats.tcp_gaps += 1;
                    stats.tcp_gap_bytes += len;
                    if !e.ignore {
                        handler.gap(&mut e.app, &e.info, d, pkt.ts, len);
                    }
                }
                tcp::Delivery::Data(d, range) => {
                    if e.ignore {
                        continue;
                    }
                    let bytes = match range {
                        tcp::DataRef::Payload(s, l) => payload.get(s..s + l).unwrap_or(&[]),
                        tcp::DataRef::Scratch(s, l) => scratch.get(s..s + l).unwrap_or(&[]),
                    };
                    if bytes.is_empty() {
                        continue;
                    }
                    e.payload_dirs |= if d == Dir::Orig { 1 } else { 2 };
                    let v = handler.data(&mut e.app, &e.info, d, pkt.ts, bytes);
                    if v == Verdict::Ignore {
                        e.ignore = true;
                    }
                }
            }
        }
        scratch.clear();
        if (e.orig.is_done() && e.resp.is_done() || e.orig.reset || e.resp.reset)
            && e.orig.close_deadline.is_none()
        {
            // Linger a little to count the last ACKs, like Zeek.
            let deadline = pkt.ts.0.saturating_add(cfg.tcp_close_delay_us);
            e.orig.close_deadline = Some(deadline);
            timers.push(Reverse((deadline, e.gen, FlowKeyOrd(key))));
        }
        self.deliveries = out;
    }

    fn deadline_of(&self, e: &Entry<H::State>) -> i64 {
        let idle = e.last.0.saturating_add(self.timeout_for(e.kind));
        match e.orig.close_deadline {
            Some(d) => d.min(idle),
            None => idle,
        }
    }

    /// Schedule a deadline check; keeps the heap near the table's size
    /// (entries of finished connections are dropped when it grows).
    fn push_timer(&mut self, deadline: i64, gen: u64, key: FlowKey) {
        self.timers.push(Reverse((deadline, gen, FlowKeyOrd(key))));
        if self.timers.len() > 4 * self.conns.len() + 4096 {
            let live: Vec<Reverse<(i64, u64, FlowKeyOrd)>> = self
                .conns
                .iter()
                .map(|(k, e)| Reverse((self.deadline_of(e), e.gen, FlowKeyOrd(*k))))
                .collect();
            self.timers = BinaryHeap::from(live);
        }
    }

    /// Finish every connection whose deadline is at or before `now`.
    pub fn expire(&mut self, now: Ts) {
        while let Some(Reverse((deadline, gen, FlowKeyOrd(key)))) = self.timers.peek().copied() {
            if deadline > now.0 {
                break;
            }
            self.timers.pop();
            let Some(e) = self.conns.get(&key) else {
                continue;
            };
            if e.gen != gen {
                continue; // an earlier connection's timer
            }
            let real = self.deadline_of(e);
            if real > now.0 {
                // Activity since: re-arm with the true deadline.
                self.push_timer(real, gen, key);
                continue;
            }
            self.stats.timeouts += 1;
            self.finish_key(key);
        }
    }

    fn evict_one(&mut self) {
        while let Some(Reverse((_, gen, FlowKeyOrd(key)))) = self.timers.pop() {
            if self.conns.get(&key).is_some_and(|e| e.gen == gen) {
                self.stats.table_evictions += 1;
                self.finish_key(key);
                return;
            }
        }
        // No live timer (cannot happen while entries exist): evict any.
        if let Some(key) = self.conns.keys().next().copied() {
            self.stats.table_evictions += 1;
            self.finish_key(key);
        }
    }

    fn finish_key(&mut self, key: FlowKey) {
        let Some(mut e) = self.conns.remove(&key) else {
            return;
        };
        // Flush what reassembly still holds: holes become gaps.
        if e.kind == Kind::Tcp {
            for dir in [Dir::Orig, Dir::Resp] {
                let mut out = tcp::Deliveries::default();
                let ep = match dir {
                    Dir::Orig => &mut e.orig,
                    Dir::Resp => &mut e.resp,
                };
                tcp::flush(ep, &mut e.history, dir, &mut out, &mut self.scratch);
                for item in out.items.drain(..) {
                    match item {
                        tcp::Delivery::Gap(d, len) => {
                            self.stats.tcp_gaps += 1;
                            self.stats.tcp_gap_bytes += len;
                            if !e.ignore {
                                self.handler.gap(&mut e.app, &e.info, d, e.last, len);
                            }
                        }
                        tcp::Delivery::Data(d, tcp::DataRef::Scratch(s, l)) => {
                            if !e.ignore {
                                if let Some(b) = self.scratch.get(s..s + l) {
                                    let _ = self.handler.data(&mut e.app, &e.info, d, e.last, b);
                                }
                            }
                        }
                        tcp::Delivery::Data(_, tcp::DataRef::Payload(..)) => {}
                    }
                }
                self.scratch.clear();
            }
        }
        let rec = build_record(&e);
        let info = e.info;
        self.handler.close(e.app, &info, rec);
    }

    /// End of input: finish every connection (in start-time order, so
    /// output is deterministic) and return the handler.
    pub fn finish(mut self) -> (H, FlowStats) {
        let mut keys: Vec<(Ts, Uid, FlowKey)> = self
            .conns
            .iter()
            .map(|(k, e)| (e.info.start, e.info.uid, *k))
            .collect();
        keys.sort_by_key(|k| (k.0, k.1));
        for (_, _, k) in keys {
            self.finish_key(k);
        }
        (self.handler, self.stats)
    }
}

fn flip_entry<S>(e: &mut Entry<S>) {
    let id = e.info.id;
    e.info.id = ConnId {
        orig_h: id.resp_h,
        orig_p: id.resp_p,
        resp_h: id.orig_h,
        resp_p: id.orig_p,
        proto: id.proto,
    };
    e.a_is_orig = !e.a_is_orig;
    std::mem::swap(&mut e.orig, &mut e.resp);
    e.history.flip_case();
    e.history.push_flip();
    e.flipped = !e.flipped;
}

fn build_record<S>(e: &Entry<S>) -> Conn {
    let duration = Duration(e.last.0.saturating_sub(e.info.start.0).max(0));
    let (orig_bytes, resp_bytes, state, missed) = match e.kind {
        Kind::Tcp => (
            e.orig.size(),
            e.resp.size(),
            tcp::conn_state(&e.orig, &e.resp, e.history.as_str()),
            e.orig.missed + e.resp.missed,
        ),
        _ => {
            // Zeek: UDP from the sides' activity; ICMP and every other
            // protocol always OTH.
            let st = match (e.kind, e.orig.active, e.resp.active) {
                (Kind::Udp, true, true) => ConnState::SF,
                (Kind::Udp, true, false) => ConnState::S0,
                (Kind::Udp, false, true) => ConnState::SHR,
                _ => ConnState::OTH,
            };
            // Zeek's adapter for other IP protocols counts packets and
            // IP bytes, not payload bytes.
            let (ob, rb) = match e.kind {
                Kind::Other(_) => (0, 0),
                _ => (e.orig.dgram_bytes, e.resp.dgram_bytes),
            };
            (ob, rb, st, 0)
        }
    };
    // Zeek sets duration and byte counts only for a positive duration.
    let has_duration = duration.0 > 0;
    Conn {
        meta: botscope_event::Meta {
            ts: e.info.start,
            uid: e.info.uid,
            id: e.info.id,
        },
        service: e
            .tunnel_service
            .filter(|_| !e.tunnel_both_ways || e.tunnel_dirs == 3)
            .into_iter()
            .collect(),
        duration: if has_duration { Some(duration) } else { None },
        orig_bytes: has_duration.then_some(orig_bytes),
        resp_bytes: has_duration.then_some(resp_bytes),
        conn_state: state,
        local_orig: None,
        local_resp: None,
        missed_bytes: missed,
        history: e.history.as_str().to_string(),
        orig_pkts: e.orig.pkts,
        orig_ip_bytes: e.orig.ip_bytes,
        resp_pkts: e.resp.pkts,
        resp_ip_bytes: e.resp.ip_bytes,
        tunnel_parents: e.tunnel_parents.clone(),
        ip_proto: match e.kind {
            Kind::Tcp => 6,
            Kind::Udp => 17,
            Kind::Icmp => {
                if e.ipv6 {
                    58
                } else {
                    1
                }
            }
            Kind::Other(p) => p,
        },
    }
}

/// Zeek's `ICMP4_counterpart` / `ICMP6_counterpart`: the type answering
/// `icmp_type` for request/reply messages, else the code (one-way).
fn icmp_counterpart(v6: bool, icmp_type: u8, code: u8) -> u16 {
    let pair = if v6 {
        match icmp_type {
            128 => Some(129), // echo request / reply
            129 => Some(128),
            133 => Some(134), // router solicitation / advertisement
            134 => Some(133),
            135 => Some(136), // neighbor solicitation / advertisement
            136 => Some(135),
            130 => Some(131), // MLD query / report
            131 => Some(130),
            139 => Some(140), // node information query / response
            140 => Some(139),
            144 => Some(145), // home agent address discovery
            145 => Some(144),
            _ => None,
        }
    } else {
        match icmp_type {
            8 => Some(0), // echo / echo reply
            0 => Some(8),
            13 => Some(14), // timestamp
            14 => Some(13),
            15 => Some(16), // information request
            16 => Some(15),
            10 => Some(9), // router solicitation / advertisement
            9 => Some(10),
            17 => Some(18), // address mask
            18 => Some(17),
            _ => None,
        }
    };
    u16::from(pair.unwrap_or(code))
}

/// Multicast or IPv4 limited broadcast: a destination that never
/// originates a connection.
fn is_group_addr(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => v.is_multicast() || v.is_broadcast(),
        IpAddr::V6(v) => v.is_multicast(),
    }
}

/// Ordered map of buffered out-of-order segments: stream offset → bytes.
pub(crate) type OooMap = BTreeMap<u64, Vec<u8>>;

#[cfg(test)]
mod tests;
