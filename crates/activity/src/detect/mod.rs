//! The detectors, one module each, and the connection index they share.
//!
//! Every detector reads the same [`Ctx`] (all connections with their
//! application events) and one [`HostView`] at a time, and pushes
//! [`Evidence`]; none reads another's output, so the order they run in
//! decides nothing. [`crate::weigh`] turns the evidence into verdicts.

use std::cell::OnceCell;
use std::collections::hash_map::Entry;
use std::net::IpAddr;

use botscope_event::{
    ConnId, ConnState, Dns, Event, Http, Irc, Service, Smtp, Ssl, Transport, Ts, Uid, X509,
};
use rustc_hash::FxHashMap;

use crate::background::Background;
use crate::evidence::Evidence;
use crate::filters::AdFilters;
use crate::url::{host_only, site};
use crate::ActivityConfig;

pub(crate) mod c2;
pub(crate) mod click;
pub(crate) mod dga;
pub(crate) mod download;
pub(crate) mod exfil;
pub(crate) mod exploit;
pub(crate) mod flood;
pub(crate) mod intel;
pub(crate) mod scan;
pub(crate) mod spam;
pub(crate) mod tunnel;

/// Distinct peers counted per activity before new ones are ignored (the
/// top list is cut to `max_peers` afterwards): bounds memory under
/// attacker-chosen names.
pub(crate) const MAX_PEER_KEYS: usize = 4096;

/// Names (DNS, TLS) remembered per host.
const MAX_NAMES: usize = 1 << 16;

/// One connection with the application events that belong to it.
pub(crate) struct ConnRec<'a> {
    pub uid: Uid,
    pub id: ConnId,
    pub ts: Ts,
    pub bytes: u64,
    /// Payload bytes from the originator and from the responder.
    pub orig_bytes: u64,
    pub resp_bytes: u64,
    /// Packets from the originator.
    pub orig_pkts: u64,
    pub resp_pkts: u64,
    /// Duration, microseconds.
    pub dur: i64,
    pub irc_service: bool,
    pub state: Option<ConnState>,
    pub payload: bool,
    /// Known from a flow record only (binetflow: no TCP history, no
    /// content): nothing can be said of its protocol.
    pub flow_only: bool,
    pub smtp_service: bool,
    pub dns: bool,
    /// The services the engine recognised (`http`, `ssl`, `ftp`…).
    pub service: Vec<Service>,
    pub http: Vec<&'a Http>,
    pub smtp: Vec<&'a Smtp>,
    pub irc: Vec<&'a Irc>,
    pub ssl: Vec<&'a Ssl>,
    /// Certificates seen on the connection (x509.log rows), in order.
    pub x509: Vec<&'a X509>,
    pub dns_ev: Vec<&'a Dns>,
    pub dns_queries: u64,
}

impl ConnRec<'_> {
    fn new(uid: Uid, id: ConnId, ts: Ts) -> Self {
        ConnRec {
            uid,
            id,
            ts,
            bytes: 0,
            orig_bytes: 0,
            resp_bytes: 0,
            orig_pkts: 0,
            resp_pkts: 0,
            dur: 0,
            irc_service: false,
            state: None,
            payload: false,
            flow_only: false,
            smtp_service: false,
            dns: false,
            service: Vec::new(),
            http: Vec::new(),
            smtp: Vec::new(),
            irc: Vec::new(),
            ssl: Vec::new(),
            x509: Vec::new(),
            dns_ev: Vec::new(),
            dns_queries: 0,
        }
    }

    pub fn requests(&self) -> u64 {
        (self.http.len() + self.smtp.len() + self.irc.len()) as u64 + self.dns_queries
    }

    /// Packets the originator sent. Flow records that count packets both
    /// ways in `orig_pkts` (binetflow: `resp_pkts` 0 with answer bytes)
    /// are split in proportion to the bytes.
    pub fn sent_pkts(&self) -> f64 {
        if self.resp_pkts == 0 && self.resp_bytes > 0 {
            let total = self.orig_bytes.saturating_add(self.resp_bytes) as f64;
            self.orig_pkts as f64 * self.orig_bytes as f64 / total
        } else {
            self.orig_pkts as f64
        }
    }

    pub fn is_dns(&self) -> bool {
        self.dns
            || (self.id.resp_p == 53 && matches!(self.id.proto, Transport::Udp | Transport::Tcp))
    }

    pub fn mail_transactions(&self) -> usize {
        self.smtp
            .iter()
            .filter(|s| {
                s.mailfrom.is_some()
                    || !s.rcptto.is_empty()
                    || s.commands
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case("MAIL") || c.eq_ignore_ascii_case("RCPT"))
            })
            .count()
    }

    /// The first HTTP Host, else the responder address.
    pub fn peer(&self) -> String {
        self.http
            .iter()
            .find_map(|h| h.host.as_deref().map(host_only))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| self.id.resp_h.to_string())
    }

    /// The TLS server name (SNI) of the connection, if any.
    pub fn sni(&self) -> Option<&str> {
        self.ssl
            .iter()
            .find_map(|s| s.server_name.as_deref())
            .filter(|s| !s.is_empty())
    }

    /// The server's own certificate: the first of the chain the TLS
    /// handshake named, else the first seen.
    pub fn leaf_cert(&self) -> Option<&X509> {
        let leaf = self
            .ssl
            .iter()
            .find_map(|s| s.cert_chain_fps.as_ref().and_then(|v| v.first()));
        match leaf {
            Some(fp) => self.x509.iter().copied().find(|x| &x.fingerprint == fp),
            None => self.x509.first().copied(),
        }
    }

    pub fn has_service(&self, s: Service) -> bool {
        self.service.contains(&s)
    }
}

/// Gather events into connections keyed by uid.
pub(crate) fn index(events: &[Event]) -> Vec<ConnRec<'_>> {
    let mut by_uid: FxHashMap<Uid, usize> = FxHashMap::default();
    let mut recs: Vec<ConnRec<'_>> = Vec::new();
    let mut slot = |uid: Uid, id: ConnId, ts: Ts, recs: &mut Vec<ConnRec<'_>>| -> usize {
        match by_uid.entry(uid) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                recs.push(ConnRec::new(uid, id, ts));
                *e.insert(recs.len() - 1)
            }
        }
    };
    for ev in events {
        match ev {
            Event::Conn(c) => {
                let i = slot(c.meta.uid, c.meta.id, c.meta.ts, &mut recs);
                let r = &mut recs[i];
                r.id = c.meta.id;
                r.ts = c.meta.ts;
                let (ob, rb) = (c.orig_bytes.unwrap_or(0), c.resp_bytes.unwrap_or(0));
                r.bytes = ob.saturating_add(rb);
                (r.orig_bytes, r.resp_bytes) = (ob, rb);
                (r.orig_pkts, r.resp_pkts) = (c.orig_pkts, c.resp_pkts);
                r.dur = c.duration.map_or(0, |d| d.0.max(0));
                r.irc_service |= c.service.contains(&Service::IRC);
                r.payload = ob > 0 || rb > 0 || c.history.contains(['D', 'd']);
                r.state = Some(c.conn_state);
                r.flow_only = c.history.is_empty()
                    && matches!(c.meta.id.proto, Transport::Tcp | Transport::Udp);
                r.smtp_service |= c.service.contains(&Service::SMTP);
                r.dns |= c.service.contains(&Service::DNS);
                if r.service.len() < 8 {
                    r.service.extend(c.service.iter().take(8));
                }
            }
            Event::Http(h) => {
                if let Some(m) = h.meta {
                    let i = slot(m.uid, m.id, m.ts, &mut recs);
                    recs[i].http.push(h);
                }
            }
            Event::Smtp(s) => {
                if let Some(m) = s.meta {
                    let i = slot(m.uid, m.id, m.ts, &mut recs);
                    recs[i].smtp.push(s);
                }
            }
            Event::Dns(d) => {
                if let Some(m) = d.meta {
                    let i = slot(m.uid, m.id, m.ts, &mut recs);
                    recs[i].dns = true;
                    recs[i].dns_queries += 1;
                    recs[i].dns_ev.push(d);
                }
            }
            Event::Irc(x) => {
                if let Some(m) = x.meta {
                    let i = slot(m.uid, m.id, m.ts, &mut recs);
                    recs[i].irc.push(x);
                }
            }
            Event::Ssl(s) => {
                if let Some(m) = s.meta {
                    let i = slot(m.uid, m.id, m.ts, &mut recs);
                    recs[i].ssl.push(s);
                }
            }
            Event::X509(x) => {
                if let Some(m) = x.meta {
                    let i = slot(m.uid, m.id, m.ts, &mut recs);
                    if recs[i].x509.len() < 8 {
                        recs[i].x509.push(x);
                    }
                }
            }
            _ => {}
        }
    }
    // Connections known only from application events: estimate bytes.
    for r in &mut recs {
        if r.state.is_none() {
            r.bytes = r
                .http
                .iter()
                .map(|h| h.request_body_len.saturating_add(h.response_body_len))
                .fold(0u64, u64::saturating_add);
            r.payload = true;
        }
    }
    recs
}

/// What the detectors share: every connection, the thresholds, where
/// the capture was taken.
pub(crate) struct Ctx<'a> {
    pub recs: &'a [ConnRec<'a>],
    pub cfg: &'a ActivityConfig,
    /// Hosts of a sandbox run (the infected ones); empty on a network.
    pub sandbox: &'a [IpAddr],
    /// The operating system's own background (sandbox reasoning).
    pub background: &'a Background,
    /// Compiled on the first forged Referer only: most traces have none.
    pub filters: &'a OnceCell<AdFilters>,
    /// How many distinct originating hosts contacted each responder
    /// address (a rare server is contacted by few).
    pub fan_in: &'a FxHashMap<IpAddr, u32>,
    /// Threat-intelligence feeds given (`--intel`), if any.
    pub intel: Option<&'a crate::intel::Intel>,
}

impl Ctx<'_> {
    /// Is `h` the infected host of a sandbox run?
    pub fn sandboxed(&self, h: IpAddr) -> bool {
        self.sandbox.contains(&h)
    }
}

/// One host as the detectors see it.
pub(crate) struct HostView {
    pub ip: IpAddr,
    /// Connections it originated, by start.
    pub conns: Vec<usize>,
    /// Connections it received, by start.
    pub inbound: Vec<usize>,
    /// Names the host looked up (DNS) with the time of the first lookup.
    pub dns_names: FxHashMap<String, Ts>,
    /// TLS server sites with the time of the first connection.
    pub tls_sites: FxHashMap<String, Ts>,
    pub mx_lookups: u64,
}

impl HostView {
    /// The HTTP requests of the host's connections in time order:
    /// (request time, connection, request).
    pub(crate) fn http_in_order<'a>(&self, recs: &'a [ConnRec<'a>]) -> Vec<(Ts, usize, &'a Http)> {
        let mut reqs: Vec<(Ts, usize, &Http)> = self
            .conns
            .iter()
            .flat_map(|&i| {
                recs[i]
                    .http
                    .iter()
                    .map(move |x| (x.meta.map_or(recs[i].ts, |m| m.ts), i, *x))
            })
            .collect();
        reqs.sort_by_key(|(t, i, x)| (*t, *i, x.trans_depth));
        reqs
    }

    pub fn new(ip: IpAddr) -> Self {
        HostView {
            ip,
            conns: Vec::new(),
            inbound: Vec::new(),
            dns_names: FxHashMap::default(),
            tls_sites: FxHashMap::default(),
            mx_lookups: 0,
        }
    }

    /// Note a name looked up or a TLS server name.
    pub fn learn(&mut self, ev: &Event) {
        match ev {
            Event::Dns(d) => {
                let (Some(m), Some(q)) = (d.meta, d.query.as_deref()) else {
                    return;
                };
                if d.qtype == Some(15) {
                    self.mx_lookups += 1;
                }
                if self.dns_names.len() < MAX_NAMES {
                    let e = self.dns_names.entry(host_only(q)).or_insert(m.ts);
                    *e = (*e).min(m.ts);
                }
            }
            Event::Ssl(s) => {
                let (Some(m), Some(sni)) = (s.meta, s.server_name.as_deref()) else {
                    return;
                };
                if self.tls_sites.len() < MAX_NAMES {
                    let e = self
                        .tls_sites
                        .entry(site(&host_only(sni)).to_string())
                        .or_insert(m.ts);
                    *e = (*e).min(m.ts);
                }
            }
            _ => {}
        }
    }
}

/// Run every detector over one host.
pub(crate) fn run(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    download::detect(cx, h, out);
    click::detect(cx, h, out);
    c2::detect(cx, h, out);
    spam::detect(cx, h, out);
    flood::detect(cx, h, out);
    scan::detect(cx, h, out);
    exploit::detect(cx, h, out);
    exfil::detect(cx, h, out);
    dga::detect(cx, h, out);
    tunnel::detect(cx, h, out);
    intel::detect(cx, h, out);
}

/// A connection that never carried payload (refused, unanswered, reset).
pub(crate) fn is_failed(r: &ConnRec<'_>) -> bool {
    match r.state {
        Some(ConnState::S0 | ConnState::REJ | ConnState::RSTOS0) => true,
        Some(ConnState::RSTO | ConnState::RSTR | ConnState::SH | ConnState::OTH) => !r.payload,
        _ => false,
    }
}

/// A URL for comparison: lowercase, no trailing `/`.
pub(crate) fn norm_url(u: &str) -> String {
    u.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The request's full URL (for comparisons).
pub(crate) fn full_url(h: &Http) -> String {
    let host = h.host.as_deref().unwrap_or("-");
    let uri = h.uri.as_deref().unwrap_or("/");
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return uri.to_string();
    }
    format!("http://{host}{uri}")
}

/// The request's URL cut for display.
pub(crate) fn url_of(h: &Http) -> String {
    cut(full_url(h), 200)
}

/// `s` cut to at most `n` bytes (at a character boundary), `…` added.
pub(crate) fn cut(mut s: String, n: usize) -> String {
    if s.len() > n {
        let mut c = n;
        while !s.is_char_boundary(c) {
            c -= 1;
        }
        s.truncate(c);
        s.push('…');
    }
    s
}

/// The HTTP host of a request (no port), else the responder address.
pub(crate) fn http_host(r: &ConnRec<'_>, x: &Http) -> String {
    x.host
        .as_deref()
        .map(host_only)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| r.id.resp_h.to_string())
}

/// A private, loopback, link-local, multicast or broadcast address: not
/// a server on the Internet.
pub(crate) fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || v.is_multicast()
                || v.is_broadcast()
                || v.is_unspecified()
                || v.octets()[3] == 255
        }
        IpAddr::V6(v) => {
            v.is_loopback()
                || v.is_multicast()
                || v.is_unspecified()
                || (v.segments()[0] & 0xfe00) == 0xfc00
                || (v.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Multicast or broadcast: never a target of a scan or a flood.
pub(crate) fn is_group(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => v.is_multicast() || v.is_broadcast() || v.octets()[3] == 255,
        IpAddr::V6(v) => v.is_multicast(),
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Hand-made events for the detectors' unit tests.
    use std::net::{IpAddr, Ipv4Addr};

    use botscope_event::{
        Conn, ConnId, ConnState, Dns, Duration, Event, Http, Meta, Transport, Ts, Uid,
    };

    use crate::{analyze, analyze_capture, ActivityConfig, Capture, Class, HostReport};

    pub fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    pub fn id(o: IpAddr, r: IpAddr, rp: u16, proto: Transport) -> ConnId {
        ConnId {
            orig_h: o,
            orig_p: 49152,
            resp_h: r,
            resp_p: rp,
            proto,
        }
    }

    /// A connection record, `secs` after the epoch.
    #[allow(clippy::too_many_arguments)]
    pub fn conn(
        uid: u64,
        secs: f64,
        id: ConnId,
        state: ConnState,
        ob: u64,
        rb: u64,
        dur_s: f64,
        service: &[botscope_event::Service],
    ) -> Event {
        let mut id = id;
        id.orig_p = 1024 + (uid % 60000) as u16;
        Event::Conn(Conn {
            meta: Meta {
                ts: Ts((secs * 1e6) as i64),
                uid: Uid(uid),
                id,
            },
            service: service.to_vec(),
            duration: Some(Duration((dur_s * 1e6) as i64)),
            orig_bytes: Some(ob),
            resp_bytes: Some(rb),
            conn_state: state,
            history: if ob + rb > 0 {
                "ShADad".into()
            } else {
                "S".into()
            },
            local_orig: None,
            local_resp: None,
            missed_bytes: 0,
            orig_pkts: 1 + ob / 1000,
            orig_ip_bytes: ob,
            resp_pkts: u64::from(rb > 0) + rb / 1000,
            resp_ip_bytes: rb,
            ip_proto: 0,
            tunnel_parents: Vec::new(),
        })
    }

    pub fn meta(uid: u64, secs: f64, id: ConnId) -> Meta {
        let mut id = id;
        id.orig_p = 1024 + (uid % 60000) as u16;
        Meta {
            ts: Ts((secs * 1e6) as i64),
            uid: Uid(uid),
            id,
        }
    }

    /// An HTTP request on its own connection (conn + http events).
    pub fn http(uid: u64, secs: f64, id: ConnId, x: Http) -> Vec<Event> {
        let ob = x.request_body_len + 200;
        let rb = x.response_body_len + 200;
        vec![
            conn(
                uid,
                secs,
                id,
                ConnState::SF,
                ob,
                rb,
                0.5,
                &[botscope_event::Service::HTTP],
            ),
            Event::Http(Http {
                meta: Some(meta(uid, secs, id)),
                ..x
            }),
        ]
    }

    pub fn dns(
        uid: u64,
        secs: f64,
        id: ConnId,
        q: &str,
        qtype: u16,
        rcode: u8,
        answers: &[&str],
    ) -> Vec<Event> {
        vec![
            conn(
                uid,
                secs,
                id,
                ConnState::SF,
                40,
                80,
                0.01,
                &[botscope_event::Service::DNS],
            ),
            Event::Dns(Dns {
                meta: Some(meta(uid, secs, id)),
                query: Some(q.to_string()),
                qtype: Some(qtype),
                rcode: Some(rcode),
                answers: answers.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }),
        ]
    }

    /// The classes reported for host `h` (verdicts only).
    pub fn classes(reports: &[HostReport], h: IpAddr) -> Vec<Class> {
        reports
            .iter()
            .filter(|r| r.host == h)
            .flat_map(|r| r.activities.iter().map(|a| a.class))
            .filter(|c| *c != Class::Benign)
            .collect()
    }

    /// The classes of the leads of host `h`.
    pub fn leads(reports: &[HostReport], h: IpAddr) -> Vec<Class> {
        reports
            .iter()
            .filter(|r| r.host == h)
            .flat_map(|r| r.leads.iter().map(|a| a.class))
            .collect()
    }

    pub fn network(events: &[Event]) -> Vec<HostReport> {
        analyze(events, &ActivityConfig::default()).0
    }

    pub fn sandbox(events: &[Event], host: IpAddr) -> Vec<HostReport> {
        analyze_capture(
            events,
            &ActivityConfig::default(),
            &Capture::Sandbox(vec![host]),
        )
        .hosts
    }
}
