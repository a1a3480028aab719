//! The decoding engine: capture files in, typed events out.
//!
//! `wire` reads and decodes packets, `flow` tracks connections and
//! reassembles TCP, `proto` parses application protocols; this crate
//! wires them together for one capture ([`analyze_file`]) and reports
//! what was read and what was skipped ([`FileSummary`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use botscope_event::{Event, EventSink, Ts, Weird};
use botscope_flow::{FlowConfig, FlowStats, FlowTable, L4View, PacketView};
use botscope_proto::ProtoConfig;
use botscope_wire::{CaptureReader, Defragmenter, LinkType, Packet, WireConfig, L4};

mod app;
pub mod ordered;
mod shard;
mod tunnel;

pub use app::{message_file_name, AppConfig, AppHandler, Linker, DEFAULT_PROBE_BYTES};
pub use tunnel::{DEFAULT_MAX_IP_TUNNELS, DEFAULT_MAX_TUNNEL_DEPTH};

/// Every knob of the engine, grouped by stage.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub wire: WireConfig,
    pub flow: FlowConfig,
    pub proto: ProtoConfig,
    /// Protocol detection and the links between connections.
    pub app: AppConfig,
    /// Flow-hash shards one capture is split into (each a thread with its
    /// own connection table). 1 decodes on the calling thread only.
    /// Default 1; `botscope logs` sets it from the free cores.
    pub shards: usize,
    /// Tunnel layers unwrapped (GRE, VXLAN, Teredo, ... inside each
    /// other); a packet nested deeper is dropped and counted as
    /// `exceeded_tunnel_max_depth`. Default 2 (Zeek's `Tunnel::max_depth`).
    pub max_tunnel_depth: usize,
    /// IP and GRE tunnels remembered per connection table so that each is
    /// logged once in `tunnel.log`. Default 65,536.
    pub max_ip_tunnels: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            wire: WireConfig::default(),
            flow: FlowConfig::default(),
            proto: ProtoConfig::default(),
            app: AppConfig::default(),
            shards: 1,
            max_tunnel_depth: DEFAULT_MAX_TUNNEL_DEPTH,
            max_ip_tunnels: DEFAULT_MAX_IP_TUNNELS,
        }
    }
}

/// What happened while reading one input.
#[derive(Clone, Debug, Default)]
pub struct FileSummary {
    pub path: String,
    pub packets: u64,
    /// Captured packet bytes.
    pub bytes: u64,
    /// Packets not decoded, by reason (Zeek weird names where they exist).
    pub skipped: BTreeMap<&'static str, u64>,
    /// A file-level error that stopped reading (everything before it was
    /// kept): names the byte offset.
    pub error: Option<String>,
    /// The input is not a pcap/pcapng capture at all (unknown magic
    /// number): nothing was read from it.
    pub not_a_capture: bool,
    /// Packets that carried at least one tunnel layer (GRE, VXLAN, ...).
    pub tunneled: u64,
    /// Anomalies noted on packets that were still decoded.
    pub weirds: BTreeMap<&'static str, u64>,
    /// Anomalies the protocol analyzers reported, by weird name (all of
    /// them, including rows past the per-name limit that were not logged).
    pub analyzer_weirds: BTreeMap<String, u64>,
    pub flow: FlowStats,
}

/// At most this many `weird.log` rows per weird name and input file; the
/// rest are counted in the summary (Zeek rate-limits weirds too).
pub const MAX_WEIRD_ROWS_PER_NAME: u64 = 1000;

impl FileSummary {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// A stable seed for uids from the input's name.
fn seed_of(name: &str) -> u64 {
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn view<'a>(ts: Ts, p: &Packet<'a>) -> Option<PacketView<'a>> {
    let l4 = match p.l4 {
        L4::Tcp(ref t) => L4View::Tcp {
            src_port: t.src_port,
            dst_port: t.dst_port,
            seq: t.seq,
            ack: t.ack,
            flags: t.flags,
            window: t.window,
            payload: t.payload,
            payload_len: t.payload_len,
        },
        L4::Udp {
            src_port,
            dst_port,
            payload,
            ..
        } => L4View::Udp {
            src_port,
            dst_port,
            payload,
        },
        L4::Icmp {
            v6,
            icmp_type,
            code,
            payload,
        } => L4View::Icmp {
            v6,
            icmp_type,
            code,
            payload,
        },
        L4::Other { proto, payload } => L4View::Other { proto, payload },
        L4::Fragment => return None,
    };
    Some(PacketView {
        ts,
        src: p.src,
        dst: p.dst,
        ip_len: p.ip_len,
        l4,
    })
}

/// Decode one capture file (or `-` for stdin).
///
/// `make_sink(i)` is called once per shard (`i` in `0..cfg.shards`) and
/// once more with `i == cfg.shards` for file-level events (weirds of the
/// capture itself). Rows of one shard keep their order; rows of different
/// shards interleave in the sinks' own order.
pub fn analyze_file<S, F>(
    path: &Path,
    cfg: &EngineConfig,
    mut make_sink: F,
) -> (Vec<S>, FileSummary)
where
    S: EventSink + Send,
    F: FnMut(usize) -> S,
{
    let name = path.display().to_string();
    match CaptureReader::open(path, &cfg.wire) {
        Ok(reader) => analyze_reader(reader, cfg, make_sink),
        Err(e) => {
            let summary = FileSummary {
                path: name.clone(),
                not_a_capture: matches!(e.kind, botscope_wire::ErrorKind::BadMagic),
                error: Some(e.to_string()),
                ..FileSummary::default()
            };
            let mut sink = make_sink(cfg.shards.max(1));
            sink.emit(Event::Weird(Weird {
                ts: Ts(0),
                uid: None,
                id: None,
                name: "capture_read_error".to_string(),
                addl: Some(e.to_string()),
                source: Some(name),
            }));
            (vec![sink], summary)
        }
    }
}

/// Decode every packet of an open capture (see [`analyze_file`]).
pub fn analyze_reader<S, F>(
    mut reader: CaptureReader,
    cfg: &EngineConfig,
    mut make_sink: F,
) -> (Vec<S>, FileSummary)
where
    S: EventSink + Send,
    F: FnMut(usize) -> S,
{
    let name = reader.name().to_string();
    let mut summary = FileSummary {
        path: name.clone(),
        ..FileSummary::default()
    };
    let shards = cfg.shards.max(1);
    let mut front = Front::new(cfg, &name);
    let mut sinks: Vec<S>;
    if shards == 1 {
        let mut handler = AppHandler::new(make_sink(0), cfg.proto.clone());
        handler.app = cfg.app.clone();
        let mut table = FlowTable::new(cfg.flow.clone(), handler, seed_of(&name));
        let mut tunnels =
            tunnel::Tunnels::new(seed_of(&name), cfg.max_tunnel_depth, cfg.max_ip_tunnels);
        front.run(&mut reader, &mut summary, |ts, _, _, pkt, encap| {
            tunnels.feed(&mut table, ts, pkt, encap);
        });
        let (handler, stats) = table.finish();
        summary.flow = stats;
        add_counts(&mut summary.analyzer_weirds, handler.weird_counts());
        sinks = vec![handler.into_sink()];
    } else {
        let makers: Vec<S> = (0..shards).map(&mut make_sink).collect();
        let mut weirds = BTreeMap::new();
        let (out, stats) = shard::run(cfg, seed_of(&name), makers, &mut weirds, |deliver| {
            front.run(&mut reader, &mut summary, deliver);
        });
        summary.flow = stats;
        summary.analyzer_weirds = weirds;
        sinks = out;
    }
    let stats = reader.stats();
    if stats.unsupported_link_packets > 0 {
        // Never a silent zero: packets of a link type we do not decode
        // make the file incomplete (exit status 1) with a weird naming it.
        let names: Vec<String> = stats
            .unsupported_links
            .iter()
            .map(|l| format!("{} ({})", l.0, l.name()))
            .collect();
        let msg = format!(
            "unsupported link type {}: {} packets not decoded",
            names.join(", "),
            stats.unsupported_link_packets
        );
        summary
            .skipped
            .insert("unsupported_link_type", stats.unsupported_link_packets);
        front.weirds.push(Event::Weird(Weird {
            ts: front.last_ts,
            uid: None,
            id: None,
            name: "unsupported_link_type".to_string(),
            addl: Some(msg.clone()),
            source: Some(name.clone()),
        }));
        if summary.error.is_none() {
            summary.error = Some(format!("{name}: {msg}"));
        }
    }
    let mut file_sink = make_sink(shards);
    for w in front.weirds.drain(..) {
        file_sink.emit(w);
    }
    if let Some(err) = &summary.error {
        file_sink.emit(Event::Weird(Weird {
            ts: front.last_ts,
            uid: None,
            id: None,
            name: "capture_read_error".to_string(),
            addl: Some(err.clone()),
            source: Some(name.clone()),
        }));
    }
    sinks.push(file_sink);
    (sinks, summary)
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_insert(0) += v;
    }
}

/// Symmetric hash of a packet's host pair (same value both ways).
///
/// Hosts only, not ports: every connection between two hosts lands in
/// the same shard, so a connection that announces another (IRC DCC)
/// usually meets it in capture order; a shared [`Linker`] covers the rest.
fn flow_hash(p: &Packet<'_>) -> u64 {
    fn ip(a: IpAddr) -> u64 {
        match a {
            IpAddr::V4(v) => u64::from(u32::from(v)),
            IpAddr::V6(v) => {
                let x = u128::from(v);
                (x as u64) ^ ((x >> 64) as u64)
            }
        }
    }
    let a = ip(p.src).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let b = ip(p.dst).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut h = (a ^ b).wrapping_add(a.wrapping_add(b).rotate_left(29));
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Reading, link/IP decoding and defragmentation: everything before the
/// flow table. Anomalies are collected as weird events.
struct Front<'a> {
    name: &'a str,
    max_tunnel_depth: usize,
    defrag: Defragmenter,
    weirds: Vec<Event>,
    last_ts: Ts,
}

impl<'a> Front<'a> {
    fn new(cfg: &EngineConfig, name: &'a str) -> Self {
        Front {
            name,
            max_tunnel_depth: cfg.max_tunnel_depth,
            defrag: Defragmenter::new(&cfg.wire),
            weirds: Vec::new(),
            last_ts: Ts(0),
        }
    }

    /// Read every packet; hand each decoded one (with its link type and
    /// bytes, which a shard receives only for a view that cannot move
    /// without them, and whether it carries a tunnel) to `deliver`.
    fn run<D>(&mut self, reader: &mut CaptureReader, summary: &mut FileSummary, mut deliver: D)
    where
        D: FnMut(Ts, LinkType, &[u8], &Packet<'_>, bool),
    {
        loop {
            let raw = match reader.next_packet() {
                Ok(Some(raw)) => raw,
                Ok(None) => break,
                Err(e) => {
                    summary.error = Some(e.to_string());
                    break;
                }
            };
            summary.packets += 1;
            summary.bytes += raw.data.len() as u64;
            self.last_ts = raw.ts;
            if summary.packets.is_multiple_of(4096) && self.defrag.in_flight() > 0 {
                self.defrag.expire(raw.ts);
            }
            let pkt = match botscope_wire::packet::decode(raw.link, raw.data) {
                Ok(pkt) => pkt,
                Err(e) => {
                    self.skip(summary, raw.ts, e.weird_name(), e.is_weird(), raw.offset);
                    continue;
                }
            };
            if pkt.ip_len_zero {
                self.note(summary, raw.ts, "ip_hdr_len_zero", raw.offset);
            }
            let Some(frag) = &pkt.fragment else {
                let tunnel = self.check_tunnels(summary, raw.ts, &pkt, raw.offset);
                deliver(raw.ts, raw.link, raw.data, &pkt, tunnel);
                continue;
            };
            let res = self.defrag.push(raw.ts, frag.ip_packet);
            let notes: Vec<&'static str> =
                self.defrag.notes().iter().map(|n| n.weird_name()).collect();
            for n in notes {
                self.note(summary, raw.ts, n, raw.offset);
            }
            match res {
                Ok(Some(datagram)) => match botscope_wire::packet::decode_ip(&datagram) {
                    Ok(whole) => {
                        let tunnel = self.check_tunnels(summary, raw.ts, &whole, raw.offset);
                        deliver(raw.ts, LinkType::RAW, &datagram, &whole, tunnel)
                    }
                    Err(e) => self.skip(summary, raw.ts, e.weird_name(), e.is_weird(), raw.offset),
                },
                Ok(None) => {}
                Err(e) => self.skip(summary, raw.ts, e.weird_name(), e.is_weird(), raw.offset),
            }
        }
    }

    /// Count what unwrapping `pkt`'s tunnels will not deliver (the shards
    /// walk the same layers again: see [`tunnel`]). Returns whether the
    /// packet is (or claims to be) a tunnel: whether its outer layer
    /// decapsulates to anything but plain (`Ok(None)`), the flag
    /// [`tunnel::Tunnels::feed`] takes instead of looking again.
    fn check_tunnels(
        &mut self,
        summary: &mut FileSummary,
        ts: Ts,
        pkt: &Packet<'_>,
        offset: u64,
    ) -> bool {
        // Most packets are no tunnel: no walk, no copy of the packet.
        if matches!(botscope_wire::decapsulate(pkt), Ok(None)) {
            return false;
        }
        let w = tunnel::walk(pkt, self.max_tunnel_depth);
        if !w.layers.is_empty() {
            summary.tunneled += 1;
        }
        match w.end {
            tunnel::End::Plain => {}
            tunnel::End::BadEncap(e) => self.note(summary, ts, e.weird_name(), offset),
            tunnel::End::Inner(e) => self.skip(summary, ts, e.weird_name(), e.is_weird(), offset),
            tunnel::End::InnerFragment => {
                self.skip(summary, ts, "tunnel_inner_fragment", true, offset)
            }
            tunnel::End::TooDeep => {
                self.skip(summary, ts, "exceeded_tunnel_max_depth", true, offset)
            }
        }
        true
    }

    fn weird(&mut self, ts: Ts, name: &'static str, offset: u64) {
        self.weirds.push(Event::Weird(Weird {
            ts,
            uid: None,
            id: None,
            name: name.to_string(),
            addl: None,
            source: Some(format!("{}:{offset}", self.name)),
        }));
    }

    /// A weird that does not drop the packet.
    fn note(&mut self, summary: &mut FileSummary, ts: Ts, name: &'static str, offset: u64) {
        let n = summary.weirds.entry(name).or_insert(0);
        *n += 1;
        if *n <= MAX_WEIRD_ROWS_PER_NAME {
            self.weird(ts, name, offset);
        }
    }

    /// A packet that could not be decoded.
    fn skip(
        &mut self,
        summary: &mut FileSummary,
        ts: Ts,
        name: &'static str,
        is_weird: bool,
        offset: u64,
    ) {
        let n = summary.skipped.entry(name).or_insert(0);
        *n += 1;
        if is_weird && *n <= MAX_WEIRD_ROWS_PER_NAME {
            self.weird(ts, name, offset);
        }
    }
}
