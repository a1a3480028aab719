//! The detectors and the per-host aggregation behind [`analyze`].

use std::collections::hash_map::Entry;
use std::net::IpAddr;

use botscope_event::{ConnId, ConnState, Event, Http, Irc, Smtp, Transport, Ts, Uid};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::beacon;
use crate::filters::AdFilters;
use crate::url::{host_only, scheme_host, site};
use crate::{Activity, ActivityConfig, Class, ConnVerdict, HostReport};

/// Distinct peers counted per activity before new ones are ignored (the
/// top list is cut to `max_peers` afterwards): bounds memory under
/// attacker-chosen names.
const MAX_PEER_KEYS: usize = 4096;

/// One connection with the application events that belong to it.
struct ConnRec<'a> {
    uid: Uid,
    id: ConnId,
    ts: Ts,
    bytes: u64,
    /// Payload bytes from the originator and from the responder.
    orig_bytes: u64,
    resp_bytes: u64,
    /// Packets from the originator.
    orig_pkts: u64,
    resp_pkts: u64,
    /// Duration, microseconds.
    dur: i64,
    irc_service: bool,
    state: Option<ConnState>,
    payload: bool,
    smtp_service: bool,
    dns: bool,
    http: Vec<&'a Http>,
    smtp: Vec<&'a Smtp>,
    irc: Vec<&'a Irc>,
    dns_queries: u64,
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
            smtp_service: false,
            dns: false,
            http: Vec::new(),
            smtp: Vec::new(),
            irc: Vec::new(),
            dns_queries: 0,
        }
    }

    fn requests(&self) -> u64 {
        (self.http.len() + self.smtp.len() + self.irc.len()) as u64 + self.dns_queries
    }

    /// Packets the originator sent. Flow records that count packets both
    /// ways in `orig_pkts` (binetflow: `resp_pkts` 0 with answer bytes)
    /// are split in proportion to the bytes.
    fn sent_pkts(&self) -> f64 {
        if self.resp_pkts == 0 && self.resp_bytes > 0 {
            let total = self.orig_bytes.saturating_add(self.resp_bytes) as f64;
            self.orig_pkts as f64 * self.orig_bytes as f64 / total
        } else {
            self.orig_pkts as f64
        }
    }

    fn is_dns(&self) -> bool {
        self.dns
            || (self.id.resp_p == 53 && matches!(self.id.proto, Transport::Udp | Transport::Tcp))
    }

    fn mail_transactions(&self) -> usize {
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
    fn peer(&self) -> String {
        self.http
            .iter()
            .find_map(|h| h.host.as_deref().map(host_only))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| self.id.resp_h.to_string())
    }
}

/// Gather events into connections keyed by uid.
fn index(events: &[Event]) -> Vec<ConnRec<'_>> {
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
                r.irc_service |= c.service.contains(&"irc");
                r.payload = ob > 0 || rb > 0 || c.history.contains(['D', 'd']);
                r.state = Some(c.conn_state);
                r.smtp_service |= c.service.contains(&"smtp");
                r.dns |= c.service.contains(&"dns");
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
                }
            }
            Event::Irc(x) => {
                if let Some(m) = x.meta {
                    let i = slot(m.uid, m.id, m.ts, &mut recs);
                    recs[i].irc.push(x);
                }
            }
            Event::Ssl(_)
            | Event::X509(_)
            | Event::Ftp(_)
            | Event::Ssh(_)
            | Event::Weird(_)
            | Event::Message(_)
            | Event::Tunnel(_) => {}
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

/// Evidence and peers gathered per host and class.
#[derive(Default)]
struct Acc {
    connections: u64,
    requests: u64,
    bytes: u64,
    first: Option<Ts>,
    last: Option<Ts>,
    peers: FxHashMap<String, u64>,
}

struct Host {
    conns: Vec<usize>,
    label: FxHashMap<usize, Class>,
    evidence: FxHashMap<Class, Vec<String>>,
    /// Names the host looked up (DNS) with the time of the first lookup.
    dns_names: FxHashMap<String, Ts>,
    /// TLS server names with the time of the first connection.
    tls_sites: FxHashMap<String, Ts>,
    mx_lookups: u64,
}

impl Host {
    fn note(&mut self, class: Class, cap: usize, line: impl FnOnce() -> String) {
        let v = self.evidence.entry(class).or_default();
        if v.len() < cap {
            v.push(line());
        }
    }
}

/// Classify every connection and report every host's activities.
///
/// Hosts are originators of connections; reports come sorted by address,
/// verdicts by connection start.
pub fn analyze(events: &[Event], cfg: &ActivityConfig) -> (Vec<HostReport>, Vec<ConnVerdict>) {
    let recs = index(events);
    let mut hosts: FxHashMap<IpAddr, Host> = FxHashMap::default();
    for (i, r) in recs.iter().enumerate() {
        hosts
            .entry(r.id.orig_h)
            .or_insert_with(|| Host {
                conns: Vec::new(),
                label: FxHashMap::default(),
                evidence: FxHashMap::default(),
                dns_names: FxHashMap::default(),
                tls_sites: FxHashMap::default(),
                mx_lookups: 0,
            })
            .conns
            .push(i);
    }
    // Names looked up and TLS server names, per host: explanations of
    // Referers, and MX lookups for spam evidence.
    for ev in events {
        match ev {
            Event::Dns(d) => {
                let (Some(m), Some(q)) = (d.meta, d.query.as_deref()) else {
                    continue;
                };
                if let Some(h) = hosts.get_mut(&m.id.orig_h) {
                    if d.qtype == Some(15) {
                        h.mx_lookups += 1;
                    }
                    if h.dns_names.len() < 1 << 16 {
                        let e = h.dns_names.entry(host_only(q)).or_insert(m.ts);
                        *e = (*e).min(m.ts);
                    }
                }
            }
            Event::Ssl(s) => {
                let (Some(m), Some(sni)) = (s.meta, s.server_name.as_deref()) else {
                    continue;
                };
                if let Some(h) = hosts.get_mut(&m.id.orig_h) {
                    if h.tls_sites.len() < 1 << 16 {
                        let e = h
                            .tls_sites
                            .entry(site(&host_only(sni)).to_string())
                            .or_insert(m.ts);
                        *e = (*e).min(m.ts);
                    }
                }
            }
            _ => {}
        }
    }

    // Compiled on the first forged Referer only: most traces have none.
    let filters: std::cell::OnceCell<AdFilters> = std::cell::OnceCell::new();
    let mut reports = Vec::with_capacity(hosts.len());
    let mut verdicts = Vec::with_capacity(recs.len());
    let mut host_list: Vec<(IpAddr, Host)> = hosts.into_iter().collect();
    host_list.sort_by_key(|(ip, _)| *ip);
    for (ip, mut h) in host_list {
        h.conns.sort_by_key(|&i| (recs[i].ts, recs[i].uid));
        downloads(&recs, &mut h, cfg);
        click_fraud(&recs, &mut h, cfg, &filters);
        c2(&recs, &mut h, cfg);
        spam(&recs, &mut h, cfg);
        flood(&recs, &mut h, cfg);
        scan(&recs, &mut h, cfg);
        reports.push(report(ip, &recs, &h, cfg, &mut verdicts));
    }
    verdicts.sort_by_key(|v| (v.ts, v.uid));
    (reports, verdicts)
}

fn label(h: &mut Host, i: usize, c: Class) -> bool {
    match h.label.entry(i) {
        Entry::Occupied(_) => false,
        Entry::Vacant(e) => {
            e.insert(c);
            true
        }
    }
}

/// Executable content by magic, never by name or declared type.
fn executable_kind(h: &Http) -> Option<&'static str> {
    let p = &h.resp_body_prefix;
    for m in &h.resp_mime_types {
        match m.as_str() {
            "application/x-dosexec" => return Some("PE"),
            "application/x-executable" => return Some("ELF"),
            "application/x-ole-storage" => return Some("OLE/MSI"),
            "application/x-java-applet" => return Some("Java class"),
            "application/java-archive" => return Some("JAR"),
            _ => {}
        }
    }
    if p.starts_with(b"MZ") {
        return Some("PE");
    }
    if p.starts_with(b"\x7fELF") {
        return Some("ELF");
    }
    if p.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        return Some("OLE/MSI");
    }
    zip_first_entry(p).and_then(|name| {
        let n = name.to_ascii_lowercase();
        if n.starts_with("meta-inf/") || n.ends_with(".class") {
            Some("JAR")
        } else if [
            ".exe", ".dll", ".scr", ".com", ".pif", ".cpl", ".sys", ".msi",
        ]
        .iter()
        .any(|e| n.ends_with(e))
        {
            Some("ZIP with PE")
        } else {
            None
        }
    })
}

/// The name of the first entry of a ZIP local file header.
fn zip_first_entry(p: &[u8]) -> Option<String> {
    if !p.starts_with(b"PK\x03\x04") {
        return None;
    }
    let n = usize::from(u16::from_le_bytes([*p.get(26)?, *p.get(27)?]));
    let name = p.get(30..30usize.checked_add(n)?)?;
    Some(String::from_utf8_lossy(name).into_owned())
}

/// A URL for comparison: lowercase, no trailing `/`.
fn norm_url(u: &str) -> String {
    u.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The request's full URL (for comparisons).
fn full_url(h: &Http) -> String {
    let host = h.host.as_deref().unwrap_or("-");
    let uri = h.uri.as_deref().unwrap_or("/");
    format!("http://{host}{uri}")
}

/// The request's URL cut for display.
fn url_of(h: &Http) -> String {
    let mut u = full_url(h);
    if u.len() > 200 {
        let mut cut = 200;
        while !u.is_char_boundary(cut) {
            cut -= 1;
        }
        u.truncate(cut);
        u.push('…');
    }
    u
}

fn downloads(recs: &[ConnRec<'_>], h: &mut Host, cfg: &ActivityConfig) {
    for k in 0..h.conns.len() {
        let i = h.conns[k];
        for x in &recs[i].http {
            if let Some(kind) = executable_kind(x) {
                label(h, i, Class::Download);
                h.note(Class::Download, cfg.max_evidence, || {
                    format!(
                        "{} {} {kind} {} bytes sha256={}",
                        x.method.as_deref().unwrap_or("GET"),
                        url_of(x),
                        x.response_body_len,
                        x.resp_body_sha256.as_deref().unwrap_or("-")
                    )
                });
            }
        }
    }
}

fn click_fraud(
    recs: &[ConnRec<'_>],
    h: &mut Host,
    cfg: &ActivityConfig,
    filters: &std::cell::OnceCell<AdFilters>,
) {
    let mut reqs: Vec<(Ts, usize, &Http)> = h
        .conns
        .iter()
        .flat_map(|&i| {
            recs[i]
                .http
                .iter()
                .map(move |x| (x.meta.map_or(recs[i].ts, |m| m.ts), i, *x))
        })
        .collect();
    reqs.sort_by_key(|(ts, i, x)| (*ts, *i, x.trans_depth));
    // Every Referer URL the host sent, with its first time, to see
    // whether a landing page's sub-resources were fetched after it.
    let mut referers: FxHashMap<String, Ts> = FxHashMap::default();
    for (ts, _, x) in &reqs {
        if let Some(r) = x.referrer.as_deref() {
            if referers.len() < 1 << 16 {
                referers.entry(norm_url(r)).or_insert(*ts);
            }
        }
    }
    let fetched_after = |url: &str, ts: Ts| referers.get(&norm_url(url)).is_some_and(|t| *t >= ts);
    let mut fetched: FxHashSet<String> = FxHashSet::default();
    let mut forged: Vec<(usize, &Http, String)> = Vec::new();
    for (ts, i, x) in &reqs {
        let own = x.host.as_deref().map(host_only).unwrap_or_default();
        let own_site = site(&own).to_string();
        if let Some(r) = x.referrer.as_deref() {
            if let Some((scheme, rh)) = scheme_host(r) {
                let rsite = site(&rh).to_string();
                let explained = scheme == "https"
                    || rsite == own_site
                    || fetched.contains(&rsite)
                    || h.tls_sites.get(&rsite).is_some_and(|t| t <= ts)
                    || h.dns_names.get(&rh).is_some_and(|t| t <= ts);
                let person =
                    cfg.click_exclude_with_subresources && fetched_after(&full_url(x), *ts);
                if !explained && !person {
                    forged.push((*i, *x, r.to_string()));
                }
            }
        }
        if !own.is_empty() && fetched.len() < 1 << 16 {
            fetched.insert(own_site);
        }
        if let Some((_, lh)) = x.location.as_deref().and_then(scheme_host) {
            if fetched.len() < 1 << 16 {
                fetched.insert(site(&lh).to_string());
            }
        }
    }
    if forged.len() < cfg.click_min_forged.max(1) {
        return;
    }
    let filters = filters.get_or_init(|| AdFilters::new(&cfg.ad_filters));
    let (mut bare, mut ad_hits) = (0usize, 0usize);
    let mut sites: FxHashSet<String> = FxHashSet::default();
    for (i, x, r) in &forged {
        label(h, *i, Class::ClickFraud);
        let url = url_of(x);
        let sub = referers.contains_key(&norm_url(&full_url(x)));
        if !sub {
            bare += 1;
        }
        let own = x.host.as_deref().map(host_only).unwrap_or_default();
        if sites.len() < MAX_PEER_KEYS {
            sites.insert(site(&own).to_string());
        }
        let rh = scheme_host(r).map(|s| s.1).unwrap_or_default();
        let ad = filters
            .matching_rule(&full_url(x), &own, &rh)
            .map(|rule| format!("{own} ({rule})"))
            .or_else(|| {
                filters
                    .matching_rule(r, &rh, "")
                    .map(|rule| format!("Referer {rh} ({rule})"))
            });
        if ad.is_some() {
            ad_hits += 1;
        }
        h.note(
            Class::ClickFraud,
            cfg.max_evidence.saturating_sub(1),
            || {
                format!(
                    "{} {url} Referer {r} never fetched{}{}",
                    x.method.as_deref().unwrap_or("GET"),
                    if sub { "" } else { ", no sub-resource fetched" },
                    ad.map(|d| format!(", listed ad/click server {d}"))
                        .unwrap_or_default()
                )
            },
        );
    }
    let n = forged.len();
    let (nsites, cap) = (sites.len(), cfg.max_evidence);
    h.note(Class::ClickFraud, cap, || {
        format!(
            "{n} requests with forged Referers to {nsites} sites; {bare} landing pages without sub-resources; {ad_hits} on listed ad/click servers"
        )
    });
}

/// A request carrying opaque data: a binary body or a long encoded query.
fn opaque_request(x: &Http, cfg: &ActivityConfig) -> bool {
    let body = &x.req_body_prefix;
    if !body.is_empty() {
        let bin = body
            .iter()
            .filter(|&&b| !(b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b)))
            .count();
        if bin as f64 >= cfg.opaque_min_binary_share * body.len() as f64 {
            return true;
        }
    }
    let q = x
        .uri
        .as_deref()
        .and_then(|u| u.split_once('?'))
        .map_or("", |(_, q)| q);
    q.split(['&', '=']).any(|p| {
        p.len() >= cfg.opaque_min_query_len
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'%' | b'-' | b'_'))
    })
}

fn c2(recs: &[ConnRec<'_>], h: &mut Host, cfg: &ActivityConfig) {
    let mut groups: FxHashMap<(IpAddr, u16, Transport), Vec<usize>> = FxHashMap::default();
    let mut failed: FxHashMap<(IpAddr, u16, Transport), Vec<usize>> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        let mail = cfg.spam_ports.contains(&r.id.resp_p) && (r.smtp_service || !r.smtp.is_empty());
        if r.is_dns() || mail || h.label.contains_key(&i) {
            continue;
        }
        let key = (r.id.resp_h, r.id.resp_p, r.id.proto);
        if r.payload {
            groups.entry(key).or_default().push(i);
        } else if r.id.proto == Transport::Tcp {
            failed.entry(key).or_default().push(i);
        }
    }
    // A bot retrying one server on a schedule, never answered (a dead or
    // sinkholed C&C): many attempts to the same port with beacon timing.
    // Scanning is many targets; this is one target, regularly.
    let mut fkeys: Vec<_> = failed.keys().copied().collect();
    fkeys.sort();
    for key in fkeys {
        let Some(g) = failed.get(&key) else { continue };
        if g.len() < cfg.c2_min_failed_attempts.max(3) {
            continue;
        }
        let pts: Vec<(i64, u64)> = g.iter().map(|&i| (recs[i].ts.0, 0)).collect();
        let Some(b) = beacon::score(&pts) else {
            continue;
        };
        if b.timing < cfg.c2_min_score || b.interval_mean < cfg.c2_min_interval_s {
            continue;
        }
        let mut n = 0;
        for &i in g {
            n += usize::from(label(h, i, Class::C2));
        }
        h.note(Class::C2, cfg.max_evidence, || {
            format!(
                "{}:{} {} unanswered attempts ({n} not otherwise classed): interval mean {:.1}s stddev {:.1}s, timing score {:.2} (retrying a silent C&C)",
                key.0,
                key.1,
                g.len(),
                b.interval_mean,
                b.interval_stddev,
                b.timing,
            )
        });
    }
    let mut keys: Vec<_> = groups.keys().copied().collect();
    keys.sort();
    for key in keys {
        let Some(g) = groups.get(&key) else { continue };
        if g.len() < cfg.c2_min_connections.max(3) {
            continue;
        }
        let pts: Vec<(i64, u64)> = g.iter().map(|&i| (recs[i].ts.0, recs[i].bytes)).collect();
        let b = beacon::score(&pts).unwrap_or_default();
        let opaque = g
            .iter()
            .filter(|&&i| recs[i].http.iter().any(|x| opaque_request(x, cfg)))
            .count();
        let beaconing = b.score >= cfg.c2_min_score
            && b.timing >= cfg.c2_min_timing
            && b.interval_mean >= cfg.c2_min_interval_s;
        let polling = opaque >= cfg.c2_min_opaque_requests;
        if !(beaconing || polling) {
            continue;
        }
        let mut n = 0;
        for &i in g {
            n += usize::from(label(h, i, Class::C2));
        }
        let name = g
            .iter()
            .find_map(|&i| recs[i].http.iter().find_map(|x| x.host.clone()));
        h.note(Class::C2, cfg.max_evidence, || {
            format!(
                "{}:{}{} {} connections ({n} not otherwise classed): interval mean {:.1}s stddev {:.1}s, timing {:.2} size {:.2} beacon score {:.2}{}; {opaque} requests with opaque data",
                key.0,
                key.1,
                name.map(|n| format!(" ({n})")).unwrap_or_default(),
                g.len(),
                b.interval_mean,
                b.interval_stddev,
                b.timing,
                b.size,
                b.score,
                if beaconing { " (beacon)" } else { "" },
            )
        });
    }
    // IRC command channels.
    for k in 0..h.conns.len() {
        let i = h.conns[k];
        let r = &recs[i];
        let cmd = |c: &str| {
            r.irc.iter().any(|x| {
                x.command
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(c))
            })
        };
        if cmd("JOIN") && (cmd("PRIVMSG") || cmd("TOPIC")) && label(h, i, Class::C2) {
            let chan = r
                .irc
                .iter()
                .find(|x| {
                    x.command
                        .as_deref()
                        .is_some_and(|v| v.eq_ignore_ascii_case("JOIN"))
                })
                .and_then(|x| x.value.clone())
                .unwrap_or_default();
            let (rh, rp) = (r.id.resp_h, r.id.resp_p);
            h.note(Class::C2, cfg.max_evidence, || {
                format!("IRC {rh}:{rp} JOIN {chan} with PRIVMSG/TOPIC")
            });
        }
    }
    // Flow-only IRC sessions: no decoded commands, but a long, slow,
    // established session to an IRC server port.
    for k in 0..h.conns.len() {
        let i = h.conns[k];
        let r = &recs[i];
        if !r.irc.is_empty()
            || r.id.proto != Transport::Tcp
            || !(r.irc_service || cfg.irc_ports.contains(&r.id.resp_p))
            || r.orig_bytes == 0
            || r.resp_bytes == 0
            || is_failed(r)
        {
            continue;
        }
        let secs = r.dur as f64 / 1e6;
        let rate = r.bytes as f64 / secs.max(1e-6);
        if secs < cfg.c2_irc_min_duration_s || rate > cfg.c2_irc_max_rate || !label(h, i, Class::C2)
        {
            continue;
        }
        let (rh, rp, sent, got) = (r.id.resp_h, r.id.resp_p, r.orig_bytes, r.resp_bytes);
        h.note(Class::C2, cfg.max_evidence, || {
            format!(
                "IRC session {rh}:{rp} (flow only): {secs:.0}s established, {sent} bytes sent, {got} received, {rate:.0} bytes/s (a bot logged in, waiting for orders)"
            )
        });
    }
}

/// One flood target of one host.
#[derive(Default)]
struct Target {
    conns: Vec<usize>,
    /// Packets sent per window.
    windows: FxHashMap<i64, f64>,
    /// Distinct TCP/UDP destination ports (capped), to tell a port scan.
    ports: FxHashSet<u16>,
    sent: f64,
}

/// Denial of service: one-way traffic to one target at a high packet
/// rate (see [`ActivityConfig::flood_min_pps`]).
fn flood(recs: &[ConnRec<'_>], h: &mut Host, cfg: &ActivityConfig) {
    /// Windows one flow's packets are spread over, at most (a longer flow
    /// contributes its even share to the first ones only: a flood shows
    /// in its first minutes).
    const MAX_SPREAD: i64 = 64;
    /// Window counters one host may hold over all its targets; past it,
    /// packets in windows not yet counted are ignored. Bounds work and
    /// memory under hostile flow records.
    const MAX_WINDOWS: usize = 1 << 20;
    let mut budget = MAX_WINDOWS;
    let mut add = |windows: &mut FxHashMap<i64, f64>, w: i64, v: f64| match windows.entry(w) {
        Entry::Occupied(mut e) => *e.get_mut() += v,
        Entry::Vacant(e) => {
            if budget > 0 {
                budget -= 1;
                e.insert(v);
            }
        }
    };
    let win = (cfg.flood_window_s.max(0.001) * 1e6) as i64;
    let need = cfg.flood_min_pps.max(0.0) * cfg.flood_window_s.max(0.001);
    // Per target: candidate connections and packets per window.
    let mut targets: FxHashMap<IpAddr, Target> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        let sent = r.sent_pkts();
        if h.label.contains_key(&i) || r.is_dns() || sent < 1.0 {
            continue;
        }
        let one_way = match r.id.proto {
            Transport::Icmp => true,
            // A TCP connection that carried payload is a conversation (the
            // peer acknowledged it), whatever its direction: only
            // connections that never got going (SYN floods) count.
            Transport::Tcp => is_failed(r),
            Transport::Udp => {
                (r.resp_bytes as f64) < cfg.flood_max_answer_ratio * (r.orig_bytes.max(1) as f64)
                    && r.http.is_empty()
            }
            Transport::Other(_) => false,
        };
        if !one_way {
            continue;
        }
        let n = targets.len();
        let e = match targets.entry(r.id.resp_h) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                if n >= MAX_PEER_KEYS {
                    continue;
                }
                e.insert(Target::default())
            }
        };
        e.conns.push(i);
        e.sent += sent;
        if r.id.proto != Transport::Icmp && e.ports.len() < MAX_PEER_KEYS {
            e.ports.insert(r.id.resp_p);
        }
        let (start, dur) = (r.ts.0, r.dur.max(0));
        let first = start.div_euclid(win);
        let last = start.saturating_add(dur).div_euclid(win);
        if last == first || dur == 0 {
            add(&mut e.windows, first, sent);
            continue;
        }
        let per_us = sent / dur as f64;
        for w in first..=last.min(first.saturating_add(MAX_SPREAD)) {
            let lo = start.max(w.saturating_mul(win));
            let hi = start
                .saturating_add(dur)
                .min(w.saturating_add(1).saturating_mul(win));
            if hi > lo {
                add(&mut e.windows, w, per_us * (hi - lo) as f64);
            }
        }
    }
    let mut keys: Vec<IpAddr> = targets.keys().copied().collect();
    keys.sort();
    for t in keys {
        let Some(Target {
            conns,
            windows,
            ports,
            sent,
        }) = targets.get(&t)
        else {
            continue;
        };
        // Many ports probed a few times each is a port scan (left to the
        // scan detector), not a flood.
        if ports.len() >= cfg.scan_min_targets.max(1) && *sent < 4.0 * ports.len() as f64 {
            continue;
        }
        let peak = windows.values().copied().fold(0.0, f64::max);
        if peak < need || need <= 0.0 {
            continue;
        }
        let flooded = windows.values().filter(|&&p| p >= need).count();
        let (mut pkts, mut bytes) = (0f64, 0u64);
        for &i in conns {
            label(h, i, Class::Flood);
            pkts += recs[i].sent_pkts();
            bytes = bytes.saturating_add(recs[i].orig_bytes);
        }
        let n = conns.len();
        let secs = cfg.flood_window_s;
        h.note(Class::Flood, cfg.max_evidence, || {
            format!(
                "{t}: {n} one-way flows, {pkts:.0} packets, {bytes} bytes sent; peak {:.0} packets/s over {secs:.0}s, {flooded} windows at {:.0}+ packets/s",
                peak / secs,
                cfg.flood_min_pps
            )
        });
    }
}

fn spam(recs: &[ConnRec<'_>], h: &mut Host, cfg: &ActivityConfig) {
    let mut transactions = 0u64;
    let mut mx: FxHashSet<IpAddr> = FxHashSet::default();
    let mut helos: FxHashMap<String, u64> = FxHashMap::default();
    for k in 0..h.conns.len() {
        let i = h.conns[k];
        let r = &recs[i];
        if !cfg.spam_ports.contains(&r.id.resp_p) {
            continue;
        }
        let t = r.mail_transactions();
        if t == 0 {
            continue;
        }
        transactions += t as u64;
        if mx.len() < MAX_PEER_KEYS {
            mx.insert(r.id.resp_h);
        }
        for s in &r.smtp {
            if let Some(helo) = &s.helo {
                if helos.len() < MAX_PEER_KEYS {
                    *helos.entry(helo.clone()).or_default() += 1;
                }
            }
        }
        label(h, i, Class::Spam);
        if let Some(s) = r.smtp.first() {
            let (rh, rp) = (r.id.resp_h, r.id.resp_p);
            h.note(Class::Spam, cfg.max_evidence.saturating_sub(1), || {
                format!(
                    "{rh}:{rp} HELO {} MAIL FROM {} RCPT {} ({} recipients)",
                    s.helo.as_deref().unwrap_or("-"),
                    s.mailfrom.as_deref().unwrap_or("-"),
                    s.rcptto.first().map_or("-", String::as_str),
                    s.rcptto.len()
                )
            });
        }
    }
    if transactions < cfg.spam_min_transactions.max(1) {
        return;
    }
    let mut attempts = 0u64;
    for k in 0..h.conns.len() {
        let i = h.conns[k];
        let r = &recs[i];
        if cfg.spam_ports.contains(&r.id.resp_p)
            && r.id.proto == Transport::Tcp
            && label(h, i, Class::Spam)
        {
            attempts += 1;
        }
    }
    let mut top: Vec<(String, u64)> = helos.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(3);
    let helo_list: Vec<String> = top.into_iter().map(|(n, c)| format!("{n} ×{c}")).collect();
    let (nmx, mxl, cap) = (mx.len(), h.mx_lookups, cfg.max_evidence);
    h.note(Class::Spam, cap, || {
        format!(
            "{transactions} mail transactions to {nmx} distinct MX hosts, {mxl} MX lookups, {attempts} other connections to mail ports; HELO {}",
            helo_list.join(", ")
        )
    });
}

fn is_failed(r: &ConnRec<'_>) -> bool {
    match r.state {
        Some(ConnState::S0 | ConnState::REJ | ConnState::RSTOS0) => true,
        Some(ConnState::RSTO | ConnState::RSTR | ConnState::SH | ConnState::OTH) => !r.payload,
        _ => false,
    }
}

fn scan(recs: &[ConnRec<'_>], h: &mut Host, cfg: &ActivityConfig) {
    let cands: Vec<usize> = h
        .conns
        .iter()
        .copied()
        .filter(|&i| !h.label.contains_key(&i) && !recs[i].is_dns() && is_failed(&recs[i]))
        .collect();
    let mut targets: FxHashSet<(IpAddr, u16)> = FxHashSet::default();
    let mut ports: FxHashSet<u16> = FxHashSet::default();
    let mut addrs: FxHashSet<IpAddr> = FxHashSet::default();
    for &i in &cands {
        let id = recs[i].id;
        targets.insert((id.resp_h, id.resp_p));
        ports.insert(id.resp_p);
        addrs.insert(id.resp_h);
    }
    if targets.len() < cfg.scan_min_targets.max(1) {
        return;
    }
    for &i in &cands {
        label(h, i, Class::Scan);
    }
    let (n, t, a, p) = (cands.len(), targets.len(), addrs.len(), ports.len());
    h.note(Class::Scan, cfg.max_evidence, || {
        format!("{n} failed connections to {t} destinations ({a} addresses, {p} ports)")
    });
}

fn report(
    ip: IpAddr,
    recs: &[ConnRec<'_>],
    h: &Host,
    cfg: &ActivityConfig,
    verdicts: &mut Vec<ConnVerdict>,
) -> HostReport {
    let mut acc: FxHashMap<Class, Acc> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        let class = h.label.get(&i).copied().unwrap_or(Class::Benign);
        verdicts.push(ConnVerdict {
            uid: r.uid,
            id: r.id,
            ts: r.ts,
            class,
            is_dns: r.is_dns(),
        });
        let a = acc.entry(class).or_default();
        a.connections += 1;
        a.requests += r.requests();
        a.bytes = a.bytes.saturating_add(r.bytes);
        a.first = Some(a.first.map_or(r.ts, |f| f.min(r.ts)));
        a.last = Some(a.last.map_or(r.ts, |l| l.max(r.ts)));
        let peer = match class {
            Class::Flood => r.id.resp_h.to_string(),
            Class::C2 | Class::Scan | Class::Spam => format!("{}:{}", r.id.resp_h, r.id.resp_p),
            _ => r.peer(),
        };
        let n = a.peers.len();
        match a.peers.entry(peer) {
            Entry::Occupied(mut e) => *e.get_mut() += 1,
            Entry::Vacant(e) => {
                if n < MAX_PEER_KEYS {
                    e.insert(1);
                }
            }
        }
    }
    let total = h.conns.len().max(1) as f64;
    let mut activities: Vec<Activity> = acc
        .into_iter()
        .map(|(class, a)| {
            let mut peers: Vec<(String, u64)> = a.peers.into_iter().collect();
            peers.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            peers.truncate(cfg.max_peers);
            let mut evidence = h.evidence.get(&class).cloned().unwrap_or_default();
            if class == Class::Benign && evidence.is_empty() {
                evidence.push("no detector fired".to_string());
            }
            evidence.truncate(cfg.max_evidence);
            Activity {
                class,
                connections: a.connections,
                requests: a.requests,
                bytes: a.bytes,
                share: a.connections as f64 / total,
                first: a.first.unwrap_or_default(),
                last: a.last.unwrap_or_default(),
                peers: peers.into_iter().map(|p| p.0).collect(),
                evidence,
            }
        })
        .collect();
    activities.sort_by(|x, y| {
        y.connections
            .cmp(&x.connections)
            .then(x.class.cmp(&y.class))
    });
    HostReport {
        host: ip,
        activities,
    }
}
