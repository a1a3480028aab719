//! The application layer on top of the flow table: detects each
//! connection's protocol from its content (not only its port), drives the
//! protocol analyzers, handles STARTTLS upgrades and expected (DCC)
//! connections, and publishes `conn.log` records with their services.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use botscope_event::{Conn, Dir, Event, EventSink, Irc, Transport, Ts};
use botscope_flow::{ConnInfo, StreamHandler, Verdict};
use botscope_proto::{
    dns, mime_from_magic, tls, Analyzer, Ctx, Expectation, Probe, ProtoConfig, Service, Status,
};

/// How many bytes per connection are held while protocol detection is
/// undecided. Default 4 KiB; past it the connection has no service.
pub const DEFAULT_PROBE_BYTES: usize = 4096;

/// Datagrams of a UDP connection (on no DNS port) probed for QUIC and
/// DTLS before it is given no service. STUN may come first on a WebRTC
/// port pair, so more than one.
pub const UDP_PROBE_DATAGRAMS: usize = 8;

/// Per-connection application state.
pub struct AppState {
    phase: Phase,
    services: Vec<&'static str>,
    /// Services still possible while probing (bit per `Service::TCP_ALL`).
    candidates: u16,
    /// Bytes held while probing, in arrival order.
    held: Vec<(Dir, Vec<u8>)>,
    held_len: usize,
    /// Expected connection (DCC data): waiting for its first bytes.
    dcc_key: Option<(IpAddr, u16)>,
    /// The client has sent bytes to the active analyzer (implicit TLS is
    /// only recognised in its very first bytes, never inside a message).
    orig_spoke: bool,
}

enum Phase {
    Probing,
    Active(Box<dyn Analyzer>),
    Off,
}

/// State that links connections to each other (an IRC DCC offer and its
/// data connection). One per capture, shared by all its shards: the two
/// connections may hash to different shards.
#[derive(Default)]
pub struct Linker {
    expectations: Vec<Expectation>,
    /// DCC SEND rows waiting for the data connection's first bytes.
    pending_dcc: HashMap<(IpAddr, u16), Irc>,
}

/// Most expectations remembered per capture (oldest dropped first).
const MAX_EXPECTATIONS: usize = 1024;

/// Events go through here so that carved messages get file names and
/// SMTP rows point at them.
pub struct AppHandler<S: EventSink> {
    pub sink: S,
    pub config: ProtoConfig,
    pub probe_bytes: usize,
    /// Expectations made by the analyzer call in progress.
    expectations: Vec<Expectation>,
    /// Shared with the other shards of the same capture.
    linker: Arc<Mutex<Linker>>,
    scratch: Vec<Event>,
    /// Carved messages whose SMTP row has not been published yet.
    carved: Vec<(botscope_event::Uid, u32)>,
    /// Analyzer weirds seen, by name (rows beyond
    /// [`crate::MAX_WEIRD_ROWS_PER_NAME`] per name are counted, not logged).
    weirds: BTreeMap<String, u64>,
}

impl<S: EventSink> AppHandler<S> {
    pub fn new(sink: S, config: ProtoConfig) -> Self {
        Self::with_linker(sink, config, Arc::default())
    }

    /// A handler sharing its linker with the other shards of a capture.
    pub fn with_linker(sink: S, config: ProtoConfig, linker: Arc<Mutex<Linker>>) -> Self {
        AppHandler {
            sink,
            config,
            probe_bytes: DEFAULT_PROBE_BYTES,
            expectations: Vec::new(),
            linker,
            scratch: Vec::new(),
            carved: Vec::new(),
            weirds: BTreeMap::new(),
        }
    }

    /// Analyzer weirds seen so far, by name (including those not logged
    /// because of the per-name row limit).
    pub fn weird_counts(&self) -> &BTreeMap<String, u64> {
        &self.weirds
    }

    /// Emit whatever is still pending (DCC rows whose data connection was
    /// never seen) and return the sink.
    pub fn into_sink(mut self) -> S {
        let mut rows: Vec<Irc> = match self.linker.lock() {
            Ok(mut l) => l.pending_dcc.drain().map(|(_, v)| v).collect(),
            Err(_) => Vec::new(),
        };
        rows.sort_by_key(|r| r.meta.map(|m| m.ts));
        for r in rows {
            self.sink.emit(Event::Irc(r));
        }
        self.sink
    }

    /// Route events produced by an analyzer call to the sink, fixing up
    /// cross-references.
    fn publish(&mut self) {
        // DCC rows pair with the DCC expectations of the same call, in
        // order (one call may carry several offers).
        let mut dcc_expectations = self
            .expectations
            .iter()
            .filter(|e| e.service == "irc-dcc-data")
            .map(|e| (e.resp_h, e.resp_p))
            .collect::<Vec<_>>()
            .into_iter();
        let mut scratch = std::mem::take(&mut self.scratch);
        for ev in scratch.drain(..) {
            match ev {
                Event::Smtp(mut s) => {
                    if s.message_file.is_none() {
                        // The message of a transaction, when carved, is
                        // emitted before its row (see proto::smtp).
                        if let Some(m) = s.meta {
                            let key = (m.uid, s.trans_depth);
                            if let Some(pos) = self.carved.iter().position(|k| *k == key) {
                                self.carved.swap_remove(pos);
                                s.message_file = Some(message_file_name(m.uid, s.trans_depth));
                            }
                        }
                    }
                    self.sink.emit(Event::Smtp(s));
                }
                Event::Irc(irc)
                    if irc.command.as_deref() == Some("DCC") && irc.dcc_file_name.is_some() =>
                {
                    // Hold the row until the data connection shows its
                    // first bytes (for dcc_mime_type), like Zeek.
                    let Some(key) = dcc_expectations.next() else {
                        self.sink.emit(Event::Irc(irc));
                        continue;
                    };
                    let evicted = match self.linker.lock() {
                        Ok(mut l) => {
                            let mut out = l
                                .pending_dcc
                                .insert(key, irc)
                                .into_iter()
                                .collect::<Vec<_>>();
                            // Bounded: offers whose data connection never
                            // comes are logged without a MIME type.
                            while l.pending_dcc.len() > MAX_EXPECTATIONS {
                                let Some(k) = l.pending_dcc.keys().next().copied() else {
                                    break;
                                };
                                out.extend(l.pending_dcc.remove(&k));
                            }
                            out
                        }
                        Err(_) => vec![irc],
                    };
                    for row in evicted {
                        self.sink.emit(Event::Irc(row));
                    }
                }
                Event::Message(m) => {
                    if self.carved.len() >= 256 {
                        self.carved.remove(0);
                    }
                    self.carved.push((m.meta.uid, m.trans_depth));
                    self.sink.emit(Event::Message(m));
                }
                Event::Weird(w) => {
                    let n = self.weirds.entry(w.name.clone()).or_insert(0);
                    *n += 1;
                    if *n <= crate::MAX_WEIRD_ROWS_PER_NAME {
                        self.sink.emit(Event::Weird(w));
                    }
                }
                other => self.sink.emit(other),
            }
        }
        self.scratch = scratch;
    }

    fn ctx_call<F>(&mut self, info: &ConnInfo, ts: Ts, f: F) -> Status
    where
        F: FnOnce(&mut Ctx<'_>) -> Status,
    {
        let mut ctx = Ctx {
            ts,
            uid: info.uid,
            id: info.id,
            config: &self.config,
            sink: &mut self.scratch,
            expectations: &mut self.expectations,
        };
        let st = f(&mut ctx);
        self.publish();
        if !self.expectations.is_empty() {
            if let Ok(mut l) = self.linker.lock() {
                l.expectations.append(&mut self.expectations);
                let n = l.expectations.len().saturating_sub(MAX_EXPECTATIONS);
                l.expectations.drain(..n);
            }
            self.expectations.clear();
        }
        st
    }

    fn start_analyzer(&mut self, st: &mut AppState, info: &ConnInfo, svc: Service, ts: Ts) {
        let mut an = svc.new_tcp_analyzer(&self.config);
        st.services.push(svc.name());
        let held = std::mem::take(&mut st.held);
        st.held_len = 0;
        let mut status = Status::Continue;
        for (dir, bytes) in held {
            st.orig_spoke |= dir == Dir::Orig;
            status = self.ctx_call(info, ts, |ctx| an.data(ctx, dir, &bytes));
            if status != Status::Continue {
                break;
            }
        }
        st.phase = Phase::Active(an);
        self.after_status(st, info, ts, status);
    }

    fn after_status(&mut self, st: &mut AppState, info: &ConnInfo, ts: Ts, status: Status) {
        match status {
            Status::Continue => {}
            Status::StartTls => {
                if let Phase::Active(mut old) = std::mem::replace(&mut st.phase, Phase::Off) {
                    self.ctx_call(info, ts, |ctx| {
                        old.finish(ctx);
                        Status::Continue
                    });
                }
                st.services.push(Service::Tls.name());
                st.phase = Phase::Active(Service::Tls.new_tcp_analyzer(&self.config));
            }
            Status::Done | Status::Violation => {
                if let Phase::Active(mut old) = std::mem::replace(&mut st.phase, Phase::Off) {
                    self.ctx_call(info, ts, |ctx| {
                        old.finish(ctx);
                        Status::Continue
                    });
                }
            }
        }
    }

    /// Probe one datagram of a UDP connection on no DNS port for QUIC
    /// or DTLS; after [`UDP_PROBE_DATAGRAMS`] datagrams without a match
    /// (STUN ones count an eighth) the connection has no service.
    /// (`held_len` counts eighths of datagrams: nothing is held on UDP.)
    fn probe_udp(&mut self, st: &mut AppState, info: &ConnInfo, dir: Dir, ts: Ts, data: &[u8]) {
        let Some((mut an, services)) = botscope_proto::probe_udp(data, &self.config) else {
            // STUN (RFC 5389 magic cookie) precedes DTLS on WebRTC port
            // pairs: it counts against a larger allowance.
            let stun = data.len() >= 20 && data[0] < 4 && data[4..8] == [0x21, 0x12, 0xa4, 0x42];
            st.held_len += if stun { 1 } else { 8 };
            if st.held_len >= 8 * UDP_PROBE_DATAGRAMS {
                st.phase = Phase::Off;
            }
            return;
        };
        st.services.extend_from_slice(services);
        let status = self.ctx_call(info, ts, |ctx| an.data(ctx, dir, data));
        st.phase = Phase::Active(an);
        self.after_status(st, info, ts, status);
    }

    fn probe_tcp(&mut self, st: &mut AppState, info: &ConnInfo, dir: Dir, ts: Ts, data: &[u8]) {
        let room = self.probe_bytes.saturating_sub(st.held_len);
        let take = data.len().min(room);
        if take > 0 {
            match st.held.last_mut() {
                Some((d, v)) if *d == dir => v.extend_from_slice(&data[..take]),
                _ => st.held.push((dir, data[..take].to_vec())),
            }
            st.held_len += take;
        }
        // Everything this direction has sent so far (consecutive chunks of
        // one direction are already merged: usually one slice, no copy).
        let mut mine = st
            .held
            .iter()
            .filter(|(d, _)| *d == dir)
            .map(|(_, v)| v.as_slice());
        let joined: std::borrow::Cow<'_, [u8]> = match (mine.next(), mine.next()) {
            (Some(one), None) => std::borrow::Cow::Borrowed(one),
            _ => std::borrow::Cow::Owned(
                st.held
                    .iter()
                    .filter(|(d, _)| *d == dir)
                    .flat_map(|(_, v)| v.iter().copied())
                    .collect(),
            ),
        };
        let mut chosen = None;
        for (i, svc) in Service::TCP_ALL.iter().enumerate() {
            if st.candidates & (1 << i) == 0 {
                continue;
            }
            match svc.probe_tcp(dir, &joined, info.id.orig_p, info.id.resp_p) {
                Probe::Certain => {
                    chosen = Some(*svc);
                    break;
                }
                Probe::Unsure => {}
                Probe::NotForUs => st.candidates &= !(1 << i),
            }
        }
        if let Some(svc) = chosen {
            // Bytes beyond the probe window must not be lost.
            if take < data.len() {
                st.held.push((dir, data[take..].to_vec()));
            }
            self.start_analyzer(st, info, svc, ts);
        } else if st.candidates == 0 || st.held_len >= self.probe_bytes {
            st.phase = Phase::Off;
            st.held = Vec::new();
        }
    }
}

/// File name (under `mail/`) of the message carved from transaction
/// `depth` of connection `uid`.
pub fn message_file_name(uid: botscope_event::Uid, depth: u32) -> String {
    format!("{uid}-{depth}.eml")
}

impl<S: EventSink> StreamHandler for AppHandler<S> {
    type State = AppState;

    fn open(&mut self, info: &ConnInfo) -> AppState {
        let mut st = AppState {
            phase: Phase::Probing,
            services: Vec::new(),
            candidates: (1u16 << Service::TCP_ALL.len()) - 1,
            held: Vec::new(),
            held_len: 0,
            dcc_key: None,
            orig_spoke: false,
        };
        match info.id.proto {
            Transport::Tcp => {
                // An announced connection (IRC DCC)?
                let expected = self.linker.lock().ok().and_then(|mut l| {
                    let pos = l.expectations.iter().position(|e| {
                        e.resp_h == info.id.resp_h
                            && e.resp_p == info.id.resp_p
                            && e.orig_h.is_none_or(|o| o == info.id.orig_h)
                    })?;
                    Some(l.expectations.swap_remove(pos))
                });
                if let Some(e) = expected {
                    st.services.push(e.service);
                    st.dcc_key = Some((e.resp_h, e.resp_p));
                    st.phase = Phase::Off;
                }
            }
            Transport::Udp => {
                let p = (info.id.orig_p, info.id.resp_p);
                let dns_port = |x: u16| matches!(x, 53 | 5353 | 5355);
                if dns_port(p.0) || dns_port(p.1) {
                    st.services.push(Service::Dns.name());
                    st.phase = Phase::Active(Box::new(dns::DnsAnalyzer::new_udp(&self.config)));
                } else {
                    // QUIC or DTLS, by content (see `probe_udp`).
                    st.phase = Phase::Probing;
                }
            }
            _ => st.phase = Phase::Off,
        }
        st
    }

    fn data(
        &mut self,
        st: &mut AppState,
        info: &ConnInfo,
        dir: Dir,
        ts: Ts,
        data: &[u8],
    ) -> Verdict {
        if let Some(key) = st.dcc_key.take() {
            let row = self
                .linker
                .lock()
                .ok()
                .and_then(|mut l| l.pending_dcc.remove(&key));
            if let Some(mut row) = row {
                row.dcc_mime_type = mime_from_magic(data).map(str::to_string);
                self.sink.emit(Event::Irc(row));
            }
            return Verdict::Ignore;
        }
        match &mut st.phase {
            Phase::Off => Verdict::Ignore,
            Phase::Probing => {
                if info.id.proto == Transport::Udp {
                    self.probe_udp(st, info, dir, ts, data);
                } else {
                    self.probe_tcp(st, info, dir, ts, data);
                }
                match st.phase {
                    Phase::Off => Verdict::Ignore,
                    _ => Verdict::Continue,
                }
            }
            Phase::Active(_) => {
                if info.id.proto == Transport::Udp
                    && dir == Dir::Orig
                    && st.services.first() == Some(&"dns")
                    && dns::is_response(data)
                    && info.start == ts
                {
                    // First datagram is a reply: Zeek flips the roles.
                    return Verdict::FlipRoles;
                }
                if dir == Dir::Orig
                    && !st.orig_spoke
                    && matches!(
                        st.services.last(),
                        Some(&("smtp" | "irc" | "pop3" | "imap"))
                    )
                    && tls::probe(dir, data) == Probe::Certain
                {
                    // A client whose very first bytes are TLS (implicit
                    // TLS after a plaintext greeting, as some spam bots do
                    // on port 465): follow it as TLS. Only then: TLS-like
                    // bytes later (inside a message) must not switch.
                    self.after_status(st, info, ts, Status::StartTls);
                }
                let Phase::Active(an) = &mut st.phase else {
                    return Verdict::Ignore;
                };
                let mut an_ptr = std::mem::replace(an, Box::new(Null));
                let status = self.ctx_call(info, ts, |ctx| an_ptr.data(ctx, dir, data));
                if dir == Dir::Orig {
                    st.orig_spoke = true;
                }
                st.phase = Phase::Active(an_ptr);
                self.after_status(st, info, ts, status);
                match st.phase {
                    Phase::Off => Verdict::Ignore,
                    _ => Verdict::Continue,
                }
            }
        }
    }

    fn gap(&mut self, st: &mut AppState, info: &ConnInfo, dir: Dir, ts: Ts, len: u64) {
        match std::mem::replace(&mut st.phase, Phase::Off) {
            Phase::Active(mut an) => {
                let status = self.ctx_call(info, ts, |ctx| an.gap(ctx, dir, len));
                st.phase = Phase::Active(an);
                self.after_status(st, info, ts, status);
            }
            Phase::Probing => {
                // A hole before the protocol is known: give up detection.
                st.held = Vec::new();
            }
            Phase::Off => {}
        }
    }

    fn close(&mut self, mut st: AppState, info: &ConnInfo, mut rec: Conn) {
        // A connection still undecided at its end has no service: an
        // unsure probe is not enough to name one.
        if let Phase::Active(mut an) = std::mem::replace(&mut st.phase, Phase::Off) {
            let end = Ts(info.start.0.saturating_add(rec.duration.map_or(0, |d| d.0)));
            self.ctx_call(info, end, |ctx| {
                an.finish(ctx);
                Status::Continue
            });
        }
        rec.service = st.services;
        self.sink.emit(Event::Conn(rec));
    }
}

/// A placeholder analyzer used while the real one is borrowed.
struct Null;

impl Analyzer for Null {
    fn service(&self) -> &'static str {
        "-"
    }
    fn data(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _data: &[u8]) -> Status {
        Status::Done
    }
    fn gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _len: u64) -> Status {
        Status::Done
    }
    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}
