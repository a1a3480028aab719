//! The application layer on top of the flow table: detects each
//! connection's protocol from its content (not only its port), drives the
//! protocol analyzers, handles STARTTLS upgrades and expected (DCC)
//! connections, and publishes `conn.log` records with their services.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use botscope_event::{Conn, ConnId, Dir, Event, EventSink, Irc, Service, Transport, Ts, Uid};
use botscope_flow::{ConnInfo, StreamHandler, Verdict};
use botscope_proto::{
    dns, ftp, mime_from_magic, tls, Analyzer, Ctx, Expectation, Probe, ProbeInput, ProtoConfig,
    Status, TcpService, UdpService,
};
use botscope_proto::{websocket::WebSocketAnalyzer, Handover};

/// How many bytes per connection are held while protocol detection is
/// undecided. Default 4 KiB; past it the connection has no service.
pub const DEFAULT_PROBE_BYTES: usize = 4096;

/// Caps of the application layer (protocol detection and the links
/// between connections), with documented defaults. Hitting one is
/// counted in [`AppHandler::weird_counts`] under the name given (no
/// `weird.log` row: these are botscope's limits, not traffic anomalies).
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// Bytes per connection (both directions) held while its protocol is
    /// undecided; past it the connection has no service
    /// (`probe_bytes_exhausted`). Default 4 KiB.
    pub probe_bytes: usize,
    /// Announced connections (IRC DCC, FTP data) remembered per capture;
    /// the oldest are dropped first (`expectations_dropped`). Default 1024.
    pub max_expectations: usize,
    /// How long an announced connection is awaited (Zeek schedules its
    /// FTP and DCC data analyzers for 5 minutes). Default 300 s.
    pub expectation_timeout_secs: u32,
    /// Carved SMTP messages whose `smtp.log` row is still to come, per
    /// shard; the oldest lose their `message_file` link
    /// (`carved_links_dropped`). Default 256.
    pub max_carved_pending: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            probe_bytes: DEFAULT_PROBE_BYTES,
            max_expectations: MAX_EXPECTATIONS,
            expectation_timeout_secs: 300,
            max_carved_pending: 256,
        }
    }
}

/// Per-connection application state.
pub struct AppState {
    phase: Phase,
    services: Vec<Service>,
    /// Services still possible while probing (bit per `TcpService::TCP_ALL`).
    candidates: u64,
    /// Bytes held while probing, in arrival order.
    held: Vec<(Dir, Vec<u8>)>,
    held_len: usize,
    /// Expected connection (DCC data): waiting for its first bytes.
    dcc_key: Option<(IpAddr, u16)>,
    /// An FTP data connection: the control connection's uid.
    ftp_parent: Option<Uid>,
    /// UDP datagrams probed so far.
    udp_probed: u8,
    /// The active analyzer's service, until the analyzer confirms it.
    unconfirmed: Option<Service>,
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
    /// The latest FTP data connection of each control connection (by the
    /// control's uid), until a transfer row of that control takes it.
    ftp_data: HashMap<Uid, FtpData>,
}

/// What an FTP data connection carried so far.
#[derive(Debug)]
struct FtpData {
    uid: Uid,
    mime: Option<&'static str>,
    bytes: u64,
    /// The data connection, when its first and last bytes came, who
    /// sent them, and their SHA-256 (a files.log row).
    id: ConnId,
    first: Ts,
    last: Ts,
    orig_sent: bool,
    sha: sha2::Sha256,
    /// `--extract-files`: the transfer's copy, named when it is logged.
    sink: Option<botscope_proto::extract::Sink>,
}

impl FtpData {
    fn new(info: &ConnInfo, ts: Ts, dir: Dir) -> FtpData {
        FtpData {
            uid: info.uid,
            mime: None,
            bytes: 0,
            id: info.id,
            first: ts,
            last: ts,
            orig_sent: dir == Dir::Orig,
            sha: sha2::Sha256::default(),
            sink: None,
        }
    }
}

/// Most expectations remembered per capture (oldest dropped first).
const MAX_EXPECTATIONS: usize = 1024;

/// Datagrams of a UDP flow shown to the UDP probes before giving up (a
/// handshake such as RDP-UDP's is named on the reply).
const MAX_UDP_PROBE_DATAGRAMS: usize = 4;

/// Datagrams of a UDP flow probed in all, STUN included (see
/// `probe_udp`).
const MAX_UDP_PROBE_DATAGRAMS_WITH_STUN: usize = 32;

/// Events go through here so that carved messages get file names and
/// SMTP rows point at them.
pub struct AppHandler<S: EventSink> {
    /// Where events go, in order, body digests hashed on the helper
    /// thread filled in ([`crate::ordered`]).
    pub sink: crate::ordered::Ordered<S>,
    pub config: ProtoConfig,
    pub app: AppConfig,
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
            sink: crate::ordered::Ordered::new(sink),
            config,
            app: AppConfig::default(),
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
        self.sink.into_inner()
    }

    /// Route events produced by an analyzer call to the sink, fixing up
    /// cross-references.
    fn publish(&mut self) {
        // DCC rows pair with the DCC expectations of the same call, in
        // order (one call may carry several offers).
        let mut dcc_expectations = self
            .expectations
            .iter()
            .filter(|e| e.service == Service::IRC_DCC_DATA)
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
                    let bound = self.app.max_expectations;
                    let evicted = match self.linker.lock() {
                        Ok(mut l) => {
                            let mut out = l
                                .pending_dcc
                                .insert(key, irc)
                                .into_iter()
                                .collect::<Vec<_>>();
                            // Bounded: offers whose data connection never
                            // comes are logged without a MIME type.
                            while l.pending_dcc.len() > bound {
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
                Event::Ftp(mut f) => {
                    if f.transfer().is_some() {
                        // The data connection of this transfer (the latest
                        // one the control connection announced).
                        let seen = f.meta.and_then(|m| {
                            self.linker
                                .lock()
                                .ok()
                                .and_then(|mut l| l.ftp_data.remove(&m.uid))
                        });
                        if let Some(d) = seen {
                            if f.mime_type.is_none() {
                                f.mime_type = d.mime.map(str::to_string);
                            }
                            f.data_uid = Some(d.uid);
                            f.data_bytes = Some(d.bytes);
                            if d.bytes > 0 {
                                // The transfer as a file (files.log).
                                let sha = hex::encode(sha2::Digest::finalize(d.sha));
                                let fuid = botscope_proto::http::fuid(d.uid, 0, d.orig_sent);
                                let extracted =
                                    d.sink.and_then(|s| s.finish(d.first, "FTP_DATA", &fuid));
                                self.sink.emit(Event::File(botscope_event::File {
                                    meta: Some(botscope_event::Meta {
                                        ts: d.first,
                                        uid: d.uid,
                                        id: d.id,
                                    }),
                                    fuid,
                                    source: "FTP_DATA",
                                    depth: 0,
                                    analyzers: vec!["SHA256"],
                                    mime_type: d.mime.map(str::to_string),
                                    // The file's name: the last part of
                                    // the path the command named.
                                    filename: f
                                        .arg
                                        .as_deref()
                                        .and_then(|a| a.rsplit('/').next())
                                        .filter(|n| !n.is_empty() && n.len() <= 256)
                                        .map(str::to_string),
                                    duration: Some(botscope_event::Duration(
                                        d.last.0.saturating_sub(d.first.0),
                                    )),
                                    is_orig: d.orig_sent,
                                    seen_bytes: d.bytes,
                                    total_bytes: f.file_size,
                                    missing_bytes: 0,
                                    sha256: Some(sha),
                                    extracted_cutoff: extracted.as_ref().map(|e| e.cutoff),
                                    extracted_size: extracted.as_ref().map(|e| e.size),
                                    extracted: extracted.map(|e| e.name),
                                }));
                            }
                        }
                    }
                    self.sink.emit(Event::Ftp(f));
                }
                Event::Message(m) => {
                    if self.carved.len() >= self.app.max_carved_pending.max(1) {
                        self.carved.remove(0);
                        *self
                            .weirds
                            .entry("carved_links_dropped".to_string())
                            .or_insert(0) += 1;
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
            let mut dropped = 0;
            if let Ok(mut l) = self.linker.lock() {
                l.expectations.append(&mut self.expectations);
                let n = l
                    .expectations
                    .len()
                    .saturating_sub(self.app.max_expectations);
                l.expectations.drain(..n);
                dropped = n;
            }
            if dropped > 0 {
                *self
                    .weirds
                    .entry("expectations_dropped".to_string())
                    .or_insert(0) += dropped as u64;
            }
            self.expectations.clear();
        }
        st
    }

    fn start_analyzer(&mut self, st: &mut AppState, info: &ConnInfo, svc: TcpService, ts: Ts) {
        let mut an = svc.new_tcp_analyzer(&self.config);
        st.unconfirmed = Some(svc.name());
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
        confirm(st, an.as_ref());
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
                st.services.push(TcpService::Tls.name());
                st.phase = Phase::Active(TcpService::Tls.new_tcp_analyzer(&self.config));
            }
            Status::Done | Status::Violation => {
                if let Phase::Active(mut old) = std::mem::replace(&mut st.phase, Phase::Off) {
                    let next = if status == Status::Done {
                        old.handover()
                    } else {
                        Handover::None
                    };
                    self.ctx_call(info, ts, |ctx| {
                        old.finish(ctx);
                        Status::Continue
                    });
                    tunnelled(st, old.as_ref());
                    st.unconfirmed = None;
                    match next {
                        Handover::None => {}
                        Handover::Reprobe => {
                            // The tunnel's own protocol, from its bytes.
                            st.phase = Phase::Probing;
                            st.candidates = (1u64 << TcpService::TCP_ALL.len()) - 1;
                            st.held.clear();
                            st.held_len = 0;
                        }
                        Handover::WebSocket => {
                            st.unconfirmed = Some(Service::WEBSOCKET);
                            st.phase = Phase::Active(Box::new(WebSocketAnalyzer::new(
                                &self.config,
                                info.id.orig_p,
                                info.id.resp_p,
                            )));
                        }
                    }
                }
            }
        }
    }

    fn probe_tcp(&mut self, st: &mut AppState, info: &ConnInfo, dir: Dir, ts: Ts, data: &[u8]) {
        let room = self.app.probe_bytes.saturating_sub(st.held_len);
        let take = data.len().min(room);
        if take > 0 {
            match st.held.last_mut() {
                Some((d, v)) if *d == dir => v.extend_from_slice(&data[..take]),
                _ => st.held.push((dir, data[..take].to_vec())),
            }
            st.held_len += take;
        }
        // Everything each direction has sent so far (consecutive chunks of
        // one direction are already merged: usually one slice, no copy).
        let chosen = {
            let orig = joined(&st.held, Dir::Orig);
            let resp = joined(&st.held, Dir::Resp);
            let input = ProbeInput {
                dir,
                orig: &orig,
                resp: &resp,
                orig_p: info.id.orig_p,
                resp_p: info.id.resp_p,
            };
            let mut chosen = None;
            for (i, svc) in TcpService::TCP_ALL.iter().enumerate() {
                if st.candidates & (1 << i) == 0 {
                    continue;
                }
                match svc.probe_tcp(&input) {
                    Probe::Certain => {
                        chosen = Some(*svc);
                        break;
                    }
                    Probe::Unsure => {}
                    Probe::NotForUs => st.candidates &= !(1 << i),
                }
            }
            chosen
        };
        if let Some(svc) = chosen {
            // Bytes beyond the probe window must not be lost.
            if take < data.len() {
                st.held.push((dir, data[take..].to_vec()));
            }
            self.start_analyzer(st, info, svc, ts);
        } else if st.candidates == 0 || st.held_len >= self.app.probe_bytes {
            if st.candidates != 0 {
                *self
                    .weirds
                    .entry("probe_bytes_exhausted".to_string())
                    .or_insert(0) += 1;
            }
            st.phase = Phase::Off;
            st.held = Vec::new();
        }
    }

    /// One datagram of a UDP flow not yet named: QUIC (an Initial that
    /// decrypts) and DTLS (a ClientHello) attach their analyzers; each
    /// other protocol's probe sees it whole; [`MAX_UDP_PROBE_DATAGRAMS`]
    /// datagrams at most, not counting STUN (RFC 5389 magic cookie), which
    /// precedes DTLS on WebRTC port pairs, up to
    /// [`MAX_UDP_PROBE_DATAGRAMS_WITH_STUN`] in all.
    fn probe_udp(&mut self, st: &mut AppState, info: &ConnInfo, dir: Dir, ts: Ts, data: &[u8]) {
        if let Some((mut an, services)) = botscope_proto::probe_udp(data, &self.config) {
            st.services.extend_from_slice(services);
            let status = self.ctx_call(info, ts, |ctx| an.data(ctx, dir, data));
            st.phase = Phase::Active(an);
            self.after_status(st, info, ts, status);
            return;
        }
        let stun = data.len() >= 20 && data[0] < 4 && data[4..8] == [0x21, 0x12, 0xa4, 0x42];
        if !stun {
            st.udp_probed = st.udp_probed.saturating_add(1);
        }
        st.held_len += 1;
        if st.held_len >= MAX_UDP_PROBE_DATAGRAMS_WITH_STUN {
            st.phase = Phase::Off;
            return;
        }
        for (i, svc) in UdpService::ALL.iter().enumerate() {
            if st.candidates & (1 << i) == 0 {
                continue;
            }
            match svc.probe(dir, data, info.id.orig_p, info.id.resp_p) {
                Probe::Certain => {
                    st.services.push(svc.name());
                    st.phase = Phase::Off;
                    return;
                }
                Probe::Unsure => {}
                Probe::NotForUs => st.candidates &= !(1 << i),
            }
        }
        // QUIC and DTLS stay candidates (no bit): only the count ends it.
        if usize::from(st.udp_probed) >= MAX_UDP_PROBE_DATAGRAMS {
            st.phase = Phase::Off;
        }
    }

    /// Bytes of an FTP data connection: its MIME type (first bytes) and
    /// size, for the control connection's transfer row.
    fn ftp_data(&mut self, parent: Uid, info: &ConnInfo, dir: Dir, ts: Ts, data: &[u8]) {
        if let Ok(mut l) = self.linker.lock() {
            let bound = self.app.max_expectations;
            if !l.ftp_data.contains_key(&parent) && l.ftp_data.len() >= bound {
                // Bounded: control connections that never log a transfer.
                if let Some(k) = l.ftp_data.keys().next().copied() {
                    l.ftp_data.remove(&k);
                }
            }
            let e = l
                .ftp_data
                .entry(parent)
                .or_insert_with(|| FtpData::new(info, ts, dir));
            if e.uid != info.uid {
                // A newer data connection of the same control.
                *e = FtpData::new(info, ts, dir);
            }
            if e.bytes == 0 {
                e.mime = mime_from_magic(data);
                e.orig_sent = dir == Dir::Orig;
                e.first = ts;
                e.sink = self.config.extract.as_ref().and_then(|x| x.begin());
            }
            if let Some(s) = e.sink.as_mut() {
                s.write(data);
            }
            e.bytes = e.bytes.saturating_add(data.len() as u64);
            e.last = ts;
            sha2::Digest::update(&mut e.sha, data);
        }
    }
}

/// Name the active analyzer's service once it confirms its protocol,
/// then the protocols confirmed inside it.
///
/// A tunnelled protocol confirmed in the same bytes as its carrier comes
/// first, as in Zeek, where the carrier (WebSocket) confirms when its
/// message ends, after the payload went to the inner analyzer
/// (`http,ssl,websocket` for TLS through wstunnel).
fn confirm(st: &mut AppState, an: &dyn Analyzer) {
    let newly = st.unconfirmed.is_some() && an.confirmed();
    if st.unconfirmed.is_none() || newly {
        tunnelled(st, an);
    }
    if newly {
        st.services.extend(st.unconfirmed.take());
    }
}

/// Services found inside the analyzer's payload, once each.
fn tunnelled(st: &mut AppState, an: &dyn Analyzer) {
    for s in an.tunnelled() {
        if !st.services.contains(s) {
            st.services.push(*s);
        }
    }
}

/// The bytes `dir` sent, in order (borrowed when they are one chunk).
fn joined(held: &[(Dir, Vec<u8>)], dir: Dir) -> std::borrow::Cow<'_, [u8]> {
    let mut mine = held.iter().filter(|(d, _)| *d == dir).map(|(_, v)| v);
    match (mine.next(), mine.next()) {
        (None, _) => std::borrow::Cow::Borrowed(&[]),
        (Some(one), None) => std::borrow::Cow::Borrowed(one.as_slice()),
        _ => std::borrow::Cow::Owned(
            held.iter()
                .filter(|(d, _)| *d == dir)
                .flat_map(|(_, v)| v.iter().copied())
                .collect(),
        ),
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
            candidates: (1u64 << TcpService::TCP_ALL.len()) - 1,
            held: Vec::new(),
            held_len: 0,
            dcc_key: None,
            ftp_parent: None,
            udp_probed: 0,
            unconfirmed: None,
            orig_spoke: false,
        };
        match info.id.proto {
            Transport::Tcp => {
                // An announced connection (IRC DCC, FTP data)?
                let timeout = i64::from(self.app.expectation_timeout_secs) * 1_000_000;
                let expected = self.linker.lock().ok().and_then(|mut l| {
                    let pos = l.expectations.iter().rposition(|e| {
                        e.resp_h == info.id.resp_h
                            && e.resp_p == info.id.resp_p
                            && e.orig_h.is_none_or(|o| o == info.id.orig_h)
                            && info.start.0.saturating_sub(e.ts.0) <= timeout
                    })?;
                    Some(l.expectations.remove(pos))
                });
                if let Some(e) = expected {
                    st.services.push(e.service);
                    if e.service == ftp::DATA_SERVICE {
                        st.ftp_parent = e.parent;
                    } else {
                        st.dcc_key = Some((e.resp_h, e.resp_p));
                    }
                    st.phase = Phase::Off;
                }
            }
            Transport::Udp => {
                let p = (info.id.orig_p, info.id.resp_p);
                // Zeek's DNS ports: DNS, NetBIOS name service, mDNS, LLMNR.
                let dns_port = |x: u16| matches!(x, 53 | 137 | 5353 | 5355);
                if dns_port(p.0) || dns_port(p.1) {
                    st.services.push(TcpService::Dns.name());
                    st.phase = Phase::Active(Box::new(dns::DnsAnalyzer::new_udp(&self.config)));
                } else {
                    // Named from the content of its first datagrams.
                    st.candidates = (1u64 << UdpService::ALL.len()) - 1;
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
        if let Some(parent) = st.ftp_parent {
            self.ftp_data(parent, info, dir, ts, data);
            return Verdict::Continue;
        }
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
            Phase::Probing if info.id.proto == Transport::Udp => {
                self.probe_udp(st, info, dir, ts, data);
                match st.phase {
                    Phase::Off => Verdict::Ignore,
                    _ => Verdict::Continue,
                }
            }
            Phase::Probing => {
                self.probe_tcp(st, info, dir, ts, data);
                match st.phase {
                    Phase::Off => Verdict::Ignore,
                    _ => Verdict::Continue,
                }
            }
            Phase::Active(_) => {
                if info.id.proto == Transport::Udp
                    && dir == Dir::Orig
                    && st.services.first() == Some(&Service::DNS)
                    && dns::is_response(data)
                    && info.start == ts
                    && !info.id.resp_h.is_multicast()
                {
                    // First datagram is a reply: Zeek flips the roles
                    // (not for a reply sent to a multicast group: mDNS
                    // answers announce, a group never asked).
                    return Verdict::FlipRoles;
                }
                if dir == Dir::Orig
                    && !st.orig_spoke
                    && matches!(
                        st.services.last(),
                        Some(&(Service::SMTP | Service::IRC | Service::POP3 | Service::IMAP))
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
                confirm(st, an_ptr.as_ref());
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
        // The flow table names a tunnel's outer connection (`vxlan`, ...).
        rec.service.extend(st.services);
        self.sink.emit(Event::Conn(rec));
    }
}

/// A placeholder analyzer used while the real one is borrowed.
struct Null;

impl Analyzer for Null {
    fn service(&self) -> botscope_event::Service {
        Service::new("-")
    }
    fn data(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _data: &[u8]) -> Status {
        Status::Done
    }
    fn gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _len: u64) -> Status {
        Status::Done
    }
    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}
