//! Packet rendering: a [`SandboxDay`] plan becomes a valid, real-looking
//! pcap of the infected host, and one [`TruthConn`] per connection.
//!
//! The capture is taken at the infected host (a Windows XP or 7 sandbox
//! behind one gateway): classic pcap, little-endian, microseconds,
//! Ethernet, snaplen 262144. Every activity is turned into a lazy stream
//! of packets in time order ([`tcp`], [`udp`]); the streams are merged
//! with a heap, so conversations overlap in time as planned, and packets
//! are written straight into the output `Vec` (no allocation per packet).
//!
//! What the renderer chooses — MAC addresses, the Windows flavour, the
//! first ephemeral port, ISNs, IP ids, per-server RTT (20–200 ms), TTL
//! (48–64) and bandwidth, jitter — is a pure function of
//! [`SandboxDay::seed`] (splitmix64, no global state): the same plan
//! renders byte-identically.
//!
//! Timing model (details in [`tcp`]): delays are what the capture point
//! sees. The SYN leaves at the activity's `ts_us`; a turn starts its
//! `delay_us` after the previous turn's last data segment — a server's
//! answer no sooner than one RTT, and no turn before the previous one is
//! fully acknowledged. A UDP reply arrives its planned delay after the
//! request.
//!
//! Nothing here panics on a plan: times saturate, sequence numbers wrap,
//! oversized UDP payloads are cut to what IPv4 can carry.

mod ports;
mod rng;
mod tcp;
mod udp;
mod wire;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::Ipv4Addr;

use crate::plan::{Activity, SandboxDay, TruthConn};
use ports::Ports;
use rng::{hash3, in_range, label};
use tcp::{TcpGen, TcpSetup};
use udp::{UdpGen, UdpSetup};

/// The renderer's knobs. The defaults are what the simulator uses;
/// tests change them to reach corner cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// The host's ephemeral ports, inclusive. Default 1025–5000 (Windows
    /// XP). An empty or zero-based range is repaired (ports start at 1,
    /// `lo > hi` swaps).
    pub ephemeral_ports: (u16, u16),
    /// How long a port stays unused after its TCP connection ended:
    /// Windows' `TIME_WAIT` (2 MSL), default 240 s.
    pub tcp_linger_us: i64,
    /// How long a port stays unused after its UDP exchange: longer than
    /// the UDP inactivity timeout of Zeek and botscope (60 s), so every
    /// exchange is its own connection in `conn.log`. Default 90 s.
    pub udp_linger_us: i64,
    /// Maximum segment size of both ends. Default 1460 (Ethernet);
    /// clamped to 536–1460.
    pub mss: u16,
    /// Use these (client, server) initial sequence numbers for every TCP
    /// connection instead of seeded ones (tests use it to cross the 2³²
    /// wrap). Default `None`.
    pub fixed_isn: Option<(u32, u32)>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            ephemeral_ports: (1025, 5000),
            tcp_linger_us: 240 * 1_000_000,
            udp_linger_us: 90 * 1_000_000,
            mss: 1460,
            fixed_isn: None,
        }
    }
}

/// Render `day` as a classic pcap (Ethernet, microseconds) into `out`
/// (cleared first) with the default [`NetConfig`]; returns one truth row
/// per activity, in the order of `day.activities`.
pub fn render_pcap(day: &SandboxDay, out: &mut Vec<u8>) -> Vec<TruthConn> {
    render_pcap_with(day, &NetConfig::default(), out)
}

/// [`render_pcap`] with explicit knobs.
pub fn render_pcap_with(day: &SandboxDay, cfg: &NetConfig, out: &mut Vec<u8>) -> Vec<TruthConn> {
    out.clear();
    out.reserve(estimate_len(day));
    wire::pcap_header(out);
    let seed = day.seed;
    let (lo, hi) = port_range(cfg.ephemeral_ports);
    let mut r = Render {
        day,
        cfg,
        host: host_facts(seed, day.host),
        mss: cfg.mss.clamp(536, 1460),
        out: Out {
            buf: out,
            link: link(seed),
            host_ip_id: (hash3(seed, label::HOST_IP_ID, 0) >> 48) as u16,
        },
        ports: Ports::new(lo, hi, hash3(seed, label::PORT_START, 0)),
        chosen: vec![0; day.activities.len()],
        slots: Vec::new(),
        free: Vec::new(),
        heap: BinaryHeap::new(),
    };

    // Activities start in time order (ties: plan order); each becomes a
    // generator when its start is due, so the heap holds only the
    // activities running at that time.
    let acts = &day.activities;
    let mut order: Vec<usize> = (0..acts.len()).collect();
    order.sort_by_key(|&i| (acts[i].ts_us(), i));
    let mut next = 0;
    loop {
        let due = order.get(next).map(|&i| acts[i].ts_us());
        let head = r.heap.peek().map(|Reverse((t, _, _))| *t);
        match (due, head) {
            (Some(t), Some(h)) if t > h => r.step(),
            (Some(_), _) => {
                r.start(order[next], next);
                next += 1;
            }
            (None, Some(_)) => r.step(),
            (None, None) => break,
        }
    }

    acts.iter()
        .zip(r.chosen)
        .map(|(a, orig_p)| {
            let (resp_h, resp_p, proto, class) = match a {
                Activity::Tcp(c) => (c.server, c.port, "tcp", c.class),
                Activity::Udp(u) => (u.server, u.port, "udp", u.class),
            };
            let orig_h = match a {
                Activity::Tcp(c) => c.client.unwrap_or(day.host),
                Activity::Udp(_) => day.host,
            };
            TruthConn {
                pcap: day.name.clone(),
                orig_h,
                orig_p,
                resp_h,
                resp_p,
                proto,
                ts_us: a.ts_us(),
                class,
            }
        })
        .collect()
}

/// The state of one rendering: the writer, the ports, and the running
/// activities (a slab of generators and a heap of their next packet
/// times, ordered by time, then start order).
struct Render<'a, 'o> {
    day: &'a SandboxDay,
    cfg: &'a NetConfig,
    host: HostFacts,
    mss: u16,
    out: Out<'o>,
    ports: Ports,
    /// The client port of each activity, by plan index.
    chosen: Vec<u16>,
    slots: Vec<Option<Live<'a>>>,
    free: Vec<usize>,
    heap: BinaryHeap<Reverse<(i64, usize, usize)>>,
}

impl<'a> Render<'a, '_> {
    /// Start activity `i` (its `rank` in start order breaks time ties).
    fn start(&mut self, i: usize, rank: usize) {
        let day: &'a SandboxDay = self.day;
        let seed = day.seed;
        let Some(act) = day.activities.get(i) else {
            return;
        };
        let (ts, server_ip, sport, linger) = match act {
            Activity::Tcp(c) => (c.ts_us, c.server, c.port, self.cfg.tcp_linger_us),
            Activity::Udp(u) => (u.ts_us, u.server, u.port, self.cfg.udp_linger_us),
        };
        let server = server_facts(seed, server_ip);
        let port = self.ports.take(ts, server.ip, sport);
        self.chosen[i] = port;
        let conn_seed = hash3(seed, label::CONN, i as u64);
        let gen = match act {
            Activity::Tcp(c) => Gen::Tcp(TcpGen::new(
                c,
                TcpSetup {
                    host: match c.client {
                        Some(ip) => HostFacts {
                            ip: ip.octets(),
                            ..self.host
                        },
                        None => self.host,
                    },
                    server,
                    client_port: port,
                    server_port: sport,
                    seed: conn_seed,
                    isn: self.cfg.fixed_isn,
                    mss: self.mss,
                },
            )),
            Activity::Udp(u) => Gen::Udp(UdpGen::new(
                u,
                UdpSetup {
                    host: self.host,
                    server,
                    client_port: port,
                    server_port: sport,
                    seed: conn_seed,
                },
            )),
        };
        let live = Live {
            gen,
            port,
            server: server.ip,
            sport,
            linger,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(live);
                s
            }
            None => {
                self.slots.push(Some(live));
                self.slots.len() - 1
            }
        };
        self.advance(slot, rank);
    }

    /// Write the earliest pending packet.
    fn step(&mut self) {
        let Some(Reverse((_, rank, slot))) = self.heap.pop() else {
            return;
        };
        if let Some(live) = self.slots.get_mut(slot).and_then(Option::as_mut) {
            live.gen.emit(&mut self.out);
            self.advance(slot, rank);
        }
    }

    /// Queue the slot's next packet, or retire it and free its port.
    fn advance(&mut self, slot: usize, rank: usize) {
        let Some(live) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        match live.gen.peek() {
            Some(ts) => self.heap.push(Reverse((ts, rank, slot))),
            None => {
                let end = live.gen.last_ts();
                let until = end.saturating_add(live.linger);
                self.ports
                    .release(live.port, live.server, live.sport, end, until);
                self.slots[slot] = None;
                self.free.push(slot);
            }
        }
    }
}

/// A running activity and what its port release needs.
struct Live<'a> {
    gen: Gen<'a>,
    port: u16,
    server: [u8; 4],
    sport: u16,
    linger: i64,
}

// Generators live in reused slab slots; boxing the TCP one would cost an
// allocation per connection to save a few hundred bytes per slot.
#[allow(clippy::large_enum_variant)]
enum Gen<'a> {
    Tcp(TcpGen<'a>),
    Udp(UdpGen<'a>),
}

impl Gen<'_> {
    fn peek(&self) -> Option<i64> {
        match self {
            Gen::Tcp(g) => g.peek(),
            Gen::Udp(g) => g.peek(),
        }
    }

    fn emit(&mut self, out: &mut Out<'_>) {
        match self {
            Gen::Tcp(g) => g.emit(out),
            Gen::Udp(g) => g.emit(out),
        }
    }

    fn last_ts(&self) -> i64 {
        match self {
            Gen::Tcp(g) => g.last_ts(),
            Gen::Udp(g) => g.last_ts(),
        }
    }
}

/// Where packets go, and the host's IP id counter (Windows: one counter
/// for every packet it sends, in the order it sends them).
pub(crate) struct Out<'o> {
    pub buf: &'o mut Vec<u8>,
    pub link: wire::Link,
    host_ip_id: u16,
}

impl Out<'_> {
    pub(crate) fn next_host_ip_id(&mut self) -> u16 {
        let id = self.host_ip_id;
        self.host_ip_id = id.wrapping_add(1);
        id
    }
}

/// Facts about the infected host, fixed for the day.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostFacts {
    pub ip: [u8; 4],
    /// Windows 7 (window scaling offered) rather than XP.
    pub wscale: bool,
    /// Gap between the host's back-to-back segments, µs.
    pub gap_us: i64,
    /// From a segment arriving to the host's ACK of it, µs.
    pub ack_us: i64,
    /// From an ACK arriving to the host's next segment, µs.
    pub react_us: i64,
}

/// Facts about a remote server, fixed for the day (same IP, same facts).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ServerFacts {
    pub ip: [u8; 4],
    pub rtt_us: i64,
    pub ttl: u8,
    /// Gap between the server's full-size segments arriving at the host
    /// (its bottleneck bandwidth, 2–50 Mbit/s), µs.
    pub gap_us: i64,
}

fn host_facts(seed: u64, ip: Ipv4Addr) -> HostFacts {
    let h = |i: u64| hash3(seed, label::PROFILE, i);
    HostFacts {
        ip: ip.octets(),
        wscale: h(0) & 1 == 1,
        gap_us: in_range(h(1), 12, 120) as i64,
        ack_us: in_range(h(2), 30, 250) as i64,
        react_us: in_range(h(3), 15, 90) as i64,
    }
}

fn server_facts(seed: u64, ip: Ipv4Addr) -> ServerFacts {
    let h = |i: u64| hash3(seed, label::SERVER, u64::from(u32::from(ip)) << 8 | i);
    ServerFacts {
        ip: ip.octets(),
        rtt_us: in_range(h(0), 20_000, 200_000) as i64,
        ttl: in_range(h(1), 48, 64) as u8,
        gap_us: in_range(h(2), 240, 6_000) as i64,
    }
}

/// Host and gateway MACs: real vendor prefixes (sandbox NICs: VMware,
/// VirtualBox, Dell, Intel; gateways: Cisco, Netgear, D-Link, TP-Link).
fn link(seed: u64) -> wire::Link {
    const HOST_OUI: [[u8; 3]; 4] = [
        [0x00, 0x0c, 0x29],
        [0x08, 0x00, 0x27],
        [0x00, 0x14, 0x22],
        [0x00, 0x1b, 0x21],
    ];
    const GW_OUI: [[u8; 3]; 4] = [
        [0x00, 0x1a, 0xa1],
        [0x00, 0x24, 0xb2],
        [0x00, 0x1c, 0xf0],
        [0x00, 0x1d, 0x0f],
    ];
    let mac = |ouis: &[[u8; 3]; 4], i: u64| {
        let h = hash3(seed, label::MAC, i);
        let oui = ouis[(h & 3) as usize];
        let b = (h >> 8).to_be_bytes();
        [oui[0], oui[1], oui[2], b[5], b[6], b[7]]
    };
    wire::Link {
        host: mac(&HOST_OUI, 0),
        gateway: mac(&GW_OUI, 1),
    }
}

fn port_range((a, b): (u16, u16)) -> (u16, u16) {
    let (lo, hi) = (a.min(b).max(1), a.max(b).max(1));
    (lo, hi)
}

/// A close upper estimate of the capture size, to reserve once.
fn estimate_len(day: &SandboxDay) -> usize {
    const PER_PACKET: usize = 16 + 14 + 20 + 32;
    day.activities
        .iter()
        .map(|a| match a {
            Activity::Tcp(c) => {
                let payload: usize = c.turns.iter().map(|t| t.bytes.len()).sum();
                let packets: usize = c.turns.iter().map(|t| t.bytes.len() / 730 + 2).sum();
                payload + (packets + 8) * PER_PACKET
            }
            Activity::Udp(u) => {
                u.request.len() + u.reply.as_ref().map_or(0, |r| r.1.len()) + 4 * PER_PACKET
            }
        })
        .fold(24usize, usize::saturating_add)
}
