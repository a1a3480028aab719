//! The decoding engine: capture files in, typed events out.
//!
//! `wire` reads and decodes packets, `flow` tracks connections and
//! reassembles TCP, `proto` parses application protocols; this crate
//! wires them together for one capture ([`analyze_file`]) and reports
//! what was read and what was skipped ([`FileSummary`]).

use std::collections::BTreeMap;
use std::path::Path;

use botscope_event::{Event, EventSink, Ts, Weird};
use botscope_flow::{FlowConfig, FlowStats, FlowTable, L4View, PacketView, TcpFlagBits};
use botscope_proto::ProtoConfig;
use botscope_wire::{CaptureReader, Defragmenter, Packet, WireConfig, L4};

mod app;

pub use app::{message_file_name, AppHandler, DEFAULT_PROBE_BYTES};

/// Every knob of the engine, grouped by stage.
#[derive(Clone, Debug, Default)]
pub struct EngineConfig {
    pub wire: WireConfig,
    pub flow: FlowConfig,
    pub proto: ProtoConfig,
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
    /// Anomalies noted on packets that were still decoded.
    pub weirds: BTreeMap<&'static str, u64>,
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
            flags: TcpFlagBits(t.flags.0),
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

/// Decode one capture file (or `-` for stdin) into `sink`.
pub fn analyze_file<S: EventSink>(path: &Path, cfg: &EngineConfig, sink: S) -> (S, FileSummary) {
    let name = path.display().to_string();
    match CaptureReader::open(path, &cfg.wire) {
        Ok(reader) => analyze_reader(reader, cfg, sink),
        Err(e) => {
            let summary = FileSummary {
                path: name,
                error: Some(e.to_string()),
                ..FileSummary::default()
            };
            (sink, summary)
        }
    }
}

/// Decode every packet of an open capture into `sink`.
pub fn analyze_reader<S: EventSink>(
    mut reader: CaptureReader,
    cfg: &EngineConfig,
    sink: S,
) -> (S, FileSummary) {
    let name = reader.name().to_string();
    let mut summary = FileSummary {
        path: name.clone(),
        ..FileSummary::default()
    };
    let handler = AppHandler::new(sink, cfg.proto.clone());
    let mut table = FlowTable::new(cfg.flow.clone(), handler, seed_of(&name));
    let mut defrag = Defragmenter::new(&cfg.wire);
    let mut last_ts = Ts(0);
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
        last_ts = raw.ts;
        if summary.packets.is_multiple_of(4096) && defrag.in_flight() > 0 {
            defrag.expire(raw.ts);
        }
        match botscope_wire::packet::decode(raw.link, raw.data) {
            Ok(pkt) => {
                if pkt.ip_len_zero {
                    skip_note(
                        &mut summary,
                        &mut table,
                        raw.ts,
                        "ip_hdr_len_zero",
                        &name,
                        raw.offset,
                    );
                }
                if let Some(frag) = &pkt.fragment {
                    let res = defrag.push(raw.ts, frag.ip_packet);
                    for note in defrag.notes() {
                        skip_note(
                            &mut summary,
                            &mut table,
                            raw.ts,
                            note.weird_name(),
                            &name,
                            raw.offset,
                        );
                    }
                    match res {
                        Ok(Some(datagram)) => match botscope_wire::packet::decode_ip(&datagram) {
                            Ok(whole) => {
                                if let Some(v) = view(raw.ts, &whole) {
                                    table.process(&v);
                                }
                            }
                            Err(e) => skip(
                                &mut summary,
                                &mut table,
                                raw.ts,
                                e.weird_name(),
                                e.is_weird(),
                                &name,
                                raw.offset,
                            ),
                        },
                        Ok(None) => {}
                        Err(e) => skip(
                            &mut summary,
                            &mut table,
                            raw.ts,
                            e.weird_name(),
                            e.is_weird(),
                            &name,
                            raw.offset,
                        ),
                    }
                } else if let Some(v) = view(raw.ts, &pkt) {
                    table.process(&v);
                }
            }
            Err(e) => skip(
                &mut summary,
                &mut table,
                raw.ts,
                e.weird_name(),
                e.is_weird(),
                &name,
                raw.offset,
            ),
        }
    }
    if let Some(err) = &summary.error {
        table.handler_mut().sink.emit(Event::Weird(Weird {
            ts: last_ts,
            uid: None,
            id: None,
            name: "capture_read_error".to_string(),
            addl: Some(err.clone()),
            source: Some(name.clone()),
        }));
    }
    let (handler, stats) = table.finish();
    summary.flow = stats;
    (handler.into_sink(), summary)
}

/// A weird that does not drop the packet.
fn skip_note<S: EventSink>(
    summary: &mut FileSummary,
    table: &mut FlowTable<AppHandler<S>>,
    ts: Ts,
    name: &'static str,
    file: &str,
    offset: u64,
) {
    let n = summary.weirds.entry(name).or_insert(0);
    *n += 1;
    if *n <= MAX_WEIRD_ROWS_PER_NAME {
        table.handler_mut().sink.emit(Event::Weird(Weird {
            ts,
            uid: None,
            id: None,
            name: name.to_string(),
            addl: None,
            source: Some(format!("{file}:{offset}")),
        }));
    }
}

fn skip<S: EventSink>(
    summary: &mut FileSummary,
    table: &mut FlowTable<AppHandler<S>>,
    ts: Ts,
    name: &'static str,
    is_weird: bool,
    file: &str,
    offset: u64,
) {
    *summary.skipped.entry(name).or_insert(0) += 1;
    if is_weird && summary.skipped[name] <= MAX_WEIRD_ROWS_PER_NAME {
        table.handler_mut().sink.emit(Event::Weird(Weird {
            ts,
            uid: None,
            id: None,
            name: name.to_string(),
            addl: None,
            source: Some(format!("{file}:{offset}")),
        }));
    }
}
