//! Threat intelligence in: indicator feeds loaded from files, matched
//! against what the hosts of a trace did.
//!
//! [`Intel::load_path`] reads one feed file (or a MISP feed folder) and
//! sniffs its format from its content, never its name:
//! - **plain lists**: one indicator per line (IP address, CIDR block,
//!   domain, URL, SHA-256, JA3 MD5, JA4), `#`/`;`/`//` comments, a
//!   trailing comment after the value, hosts-file lines
//!   (`0.0.0.0 evil.example`), defanged values (`hxxp://`, `[.]`);
//! - **abuse.ch CSV exports**: URLhaus, ThreatFox, Feodo Tracker's C2 IP
//!   blocklist, SSLBL's C2 IP and JA3 fingerprint blocklists (and any
//!   abuse.ch-style CSV whose header names a known column: `url`,
//!   `ioc_value`, `dst_ip`, `ja3_md5`, `sha256_hash`);
//! - **ThreatFox JSON** (the export keyed by IOC id, or an API answer
//!   with `data`);
//! - **MISP**: one event (`{"Event": …}`, as `botscope trace --iocs
//!   x.misp.json` writes it) or a feed folder (`manifest.json` plus one
//!   `<uuid>.json` per event);
//! - **STIX 2.1 bundles**: `indicator` objects whose pattern is one
//!   comparison, or comparisons joined by `OR`, on `ipv4-addr:value`,
//!   `ipv6-addr:value`, `domain-name:value`, `url:value` or
//!   `file:hashes.'SHA-256'` (as `--iocs x.stix.json` writes them).
//!
//! Every read is bounded ([`MAX_LINE`], [`MAX_JSON_BYTES`],
//! [`MAX_TEXT_BYTES`], [`MAX_ENTRIES`], [`MAX_MISP_EVENTS`]); a line or
//! object that is not an indicator we can match is skipped and counted by
//! reason in the [`Feed`], with the first few named by file and line. A
//! file that cannot be read or is not a feed at all is an [`IntelError`]
//! naming the file (and the line, for bad JSON).
//!
//! Matching ([`Intel::match_ip`], [`Intel::match_domain`] — the name and
//! each parent domain —, [`Intel::match_url`], [`Intel::match_sha256`],
//! [`Intel::match_ja3`], [`Intel::match_ja4`]) gives the [`Entry`]: which
//! feed, where in it, what it says the indicator is. [`scan`] runs them
//! over a trace's events and gives one [`IntelMatch`] per host, entry and
//! observed value. Nothing here panics on any input.

mod json;
mod load;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use botscope_event::{Dns, Event, Http, Ssl, Ts};
use rustc_hash::FxHashMap;

use crate::url::host_only;
use crate::Class;

pub use load::Format;

/// A text line longer than this is skipped (counted).
pub const MAX_LINE: usize = 64 * 1024;
/// A JSON feed (STIX bundle, MISP event, ThreatFox export) larger than
/// this is refused: it is parsed whole.
pub const MAX_JSON_BYTES: u64 = 256 << 20;
/// A text feed is read up to this many bytes; the rest is an error.
pub const MAX_TEXT_BYTES: u64 = 1 << 30;
/// Indicators held over all feeds; the rest are counted, not loaded.
pub const MAX_ENTRIES: usize = 5_000_000;
/// Events read from one MISP feed folder.
pub const MAX_MISP_EVENTS: usize = 100_000;
/// Skipped lines named (file and line) per feed; the rest only counted.
pub const MAX_EXAMPLES: usize = 5;
/// Matches [`scan`] returns (the most seen first survive).
pub const MAX_MATCHES: usize = 10_000;

/// What an indicator is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IntelKind {
    /// An IP address.
    Ip,
    /// A CIDR block of addresses.
    Net,
    /// A host or domain name (its subdomains match too).
    Domain,
    /// A full URL.
    Url,
    /// SHA-256 of a file.
    Sha256,
    /// JA3 client fingerprint (MD5 hex).
    Ja3,
    /// JA4 client fingerprint.
    Ja4,
}

impl IntelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntelKind::Ip => "ip",
            IntelKind::Net => "cidr",
            IntelKind::Domain => "domain",
            IntelKind::Url => "url",
            IntelKind::Sha256 => "sha256",
            IntelKind::Ja3 => "ja3",
            IntelKind::Ja4 => "ja4",
        }
    }
}

/// One indicator of one feed.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Index into [`Intel::feeds`].
    pub feed: usize,
    pub kind: IntelKind,
    /// The indicator as normalised for matching (lowercase host, no
    /// default port, CIDR masked).
    pub value: String,
    /// Where in the feed: `line 12`, `indicator--…`, `attribute …`.
    pub origin: String,
    /// What the feed says it is: malware family, threat, event title.
    pub threat: Option<String>,
    /// The class the feed gives (ThreatFox `botnet_cc` → c2, URLhaus and
    /// `payload_delivery` → download), if it says.
    pub class: Option<Class>,
}

impl Entry {
    /// The class a match of this entry stands for: the feed's word, else
    /// a file hash is a download and anything else a C&C contact.
    pub fn class_or_default(&self) -> Class {
        self.class.unwrap_or(match self.kind {
            IntelKind::Sha256 => Class::Download,
            _ => Class::C2,
        })
    }
}

/// One loaded feed file (or MISP feed folder).
#[derive(Clone, Debug, PartialEq)]
pub struct Feed {
    /// The file name (folder name for a MISP feed), used in evidence.
    pub name: String,
    pub path: PathBuf,
    pub format: Format,
    /// Indicators loaded from it.
    pub loaded: u64,
    /// Lines or objects not loaded, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// The first few skipped, as `file:line: reason`.
    pub examples: Vec<String>,
}

impl Feed {
    fn new(name: String, path: PathBuf, format: Format) -> Feed {
        Feed {
            name,
            path,
            format,
            loaded: 0,
            skipped: BTreeMap::new(),
            examples: Vec::new(),
        }
    }

    /// Total lines or objects skipped.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// A feed that could not be read: the file, the line when known, why.
#[derive(Debug)]
pub struct IntelError {
    pub path: PathBuf,
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for IntelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for IntelError {}

/// Indicators of every loaded feed, indexed for matching.
#[derive(Clone, Debug, Default)]
pub struct Intel {
    feeds: Vec<Feed>,
    entries: Vec<Entry>,
    ips: FxHashMap<IpAddr, usize>,
    /// CIDR blocks by prefix length: masked address → entry.
    nets: BTreeMap<(bool, u8), FxHashMap<IpAddr, usize>>,
    domains: FxHashMap<String, usize>,
    urls: FxHashMap<String, usize>,
    sha256: FxHashMap<String, usize>,
    ja3: FxHashMap<String, usize>,
    ja4: FxHashMap<String, usize>,
    /// Indicators not loaded at [`MAX_ENTRIES`].
    over_cap: u64,
}

/// A value an entry is about to be made of (before its feed is known).
pub(crate) struct Candidate {
    pub kind: IntelKind,
    pub value: String,
    pub origin: String,
    pub threat: Option<String>,
    pub class: Option<Class>,
}

impl Intel {
    pub fn new() -> Intel {
        Intel::default()
    }

    /// The loaded feeds, in load order.
    pub fn feeds(&self) -> &[Feed] {
        &self.feeds
    }

    /// Every loaded indicator.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// No indicator loaded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Load one feed: a file of any supported format, or a MISP feed
    /// folder (one holding `manifest.json`). Gives the feed's summary.
    pub fn load_path(&mut self, path: &Path) -> Result<&Feed, IntelError> {
        let feed = load::load(self, path)?;
        self.feeds.push(feed);
        Ok(self.feeds.last().expect("just pushed"))
    }

    /// Load a feed from bytes already in memory (`name` names it in
    /// evidence and errors). MISP feed folders need [`Intel::load_path`].
    pub fn load_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<&Feed, IntelError> {
        let feed = load::load_bytes(self, Path::new(name), bytes)?;
        self.feeds.push(feed);
        Ok(self.feeds.last().expect("just pushed"))
    }

    /// Add one candidate for the feed about to be pushed (index
    /// `self.feeds.len()`), counting it in `feed` (`line` names it if
    /// it is skipped).
    pub(crate) fn add_at(&mut self, feed: &mut Feed, c: Candidate, line: Option<u64>) {
        if self.entries.len() >= MAX_ENTRIES {
            self.over_cap += 1;
            skip(feed, line, &format!("over the {MAX_ENTRIES}-indicator cap"));
            return;
        }
        let idx = self.entries.len();
        let map = match c.kind {
            IntelKind::Ip => match c.value.parse::<IpAddr>() {
                Ok(ip) => {
                    if self.ips.contains_key(&ip) {
                        skip(feed, line, "listed already");
                        return;
                    }
                    self.ips.insert(ip, idx);
                    None
                }
                Err(_) => {
                    skip(feed, line, "not an IP address");
                    return;
                }
            },
            IntelKind::Net => match parse_cidr(&c.value) {
                Some((net, len)) => {
                    let m = self.nets.entry((net.is_ipv4(), len)).or_default();
                    if m.contains_key(&net) {
                        skip(feed, line, "listed already");
                        return;
                    }
                    m.insert(net, idx);
                    None
                }
                None => {
                    skip(feed, line, "not a CIDR block");
                    return;
                }
            },
            IntelKind::Domain => Some(&mut self.domains),
            IntelKind::Url => Some(&mut self.urls),
            IntelKind::Sha256 => Some(&mut self.sha256),
            IntelKind::Ja3 => Some(&mut self.ja3),
            IntelKind::Ja4 => Some(&mut self.ja4),
        };
        if let Some(map) = map {
            if map.contains_key(&c.value) {
                skip(feed, line, "listed already");
                return;
            }
            map.insert(c.value.clone(), idx);
        }
        feed.loaded += 1;
        self.entries.push(Entry {
            feed: self.feeds.len(),
            kind: c.kind,
            value: c.value,
            origin: c.origin,
            threat: c.threat,
            class: c.class,
        });
    }

    /// The feed of an entry.
    pub fn feed_of(&self, e: &Entry) -> &Feed {
        &self.feeds[e.feed.min(self.feeds.len().saturating_sub(1))]
    }

    fn entry(&self, i: Option<usize>) -> Option<&Entry> {
        i.and_then(|i| self.entries.get(i))
    }

    /// The entry listing this address, exactly or in a CIDR block (the
    /// longest prefix wins).
    pub fn match_ip(&self, ip: IpAddr) -> Option<&Entry> {
        self.entry(self.ip_idx(ip))
    }

    pub(crate) fn ip_idx(&self, ip: IpAddr) -> Option<usize> {
        if let Some(&i) = self.ips.get(&ip) {
            return Some(i);
        }
        for ((v4, len), m) in self.nets.iter().rev() {
            if *v4 != ip.is_ipv4() {
                continue;
            }
            if let Some(&i) = m.get(&mask(ip, *len)) {
                return Some(i);
            }
        }
        None
    }

    /// The entry listing this host name or one of its parent domains
    /// (`a.b.evil.example` matches a listed `evil.example`; a bare
    /// top-level label never matches). An address is matched as one.
    pub fn match_domain(&self, name: &str) -> Option<&Entry> {
        self.entry(self.domain_idx(name))
    }

    pub(crate) fn domain_idx(&self, name: &str) -> Option<usize> {
        let name = host_only(name);
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.ip_idx(ip);
        }
        if self.domains.is_empty() || name.is_empty() {
            return None;
        }
        let mut rest = name.as_str();
        loop {
            if let Some(&i) = self.domains.get(rest) {
                return Some(i);
            }
            match rest.split_once('.') {
                Some((_, parent)) if parent.contains('.') => rest = parent,
                _ => return None,
            }
        }
    }

    /// The entry listing this URL (scheme and host compared in lowercase,
    /// default port and fragment ignored).
    pub fn match_url(&self, url: &str) -> Option<&Entry> {
        self.entry(self.url_idx(url))
    }

    pub(crate) fn url_idx(&self, url: &str) -> Option<usize> {
        if self.urls.is_empty() {
            return None;
        }
        self.urls.get(&normalize_url(url)?).copied()
    }

    /// Every entry one event matches: `f(entry index, observed value,
    /// where seen)`. A connection matches by responder address, DNS by
    /// query name, HTTP by Host, URL and response body SHA-256, TLS by
    /// SNI, JA3 and JA4.
    pub(crate) fn event_hits(&self, ev: &Event, f: &mut dyn FnMut(usize, String, &'static str)) {
        match ev {
            Event::Conn(c) => {
                if let Some(i) = self.ip_idx(c.meta.id.resp_h) {
                    f(i, c.meta.id.resp_h.to_string(), "connection");
                }
            }
            Event::Dns(d) => self.dns_hits(d, f),
            Event::Http(h) => self.http_hits(h, f),
            Event::Ssl(s) => self.ssl_hits(s, f),
            _ => {}
        }
    }

    pub(crate) fn dns_hits(&self, d: &Dns, f: &mut dyn FnMut(usize, String, &'static str)) {
        let Some(q) = d.query.as_deref() else { return };
        let q = host_only(q);
        if q.parse::<IpAddr>().is_err() {
            if let Some(i) = self.domain_idx(&q) {
                f(i, q, "dns query");
            }
        }
    }

    pub(crate) fn http_hits(&self, h: &Http, f: &mut dyn FnMut(usize, String, &'static str)) {
        let host = h.host.as_deref().map(host_only).unwrap_or_default();
        if !host.is_empty() && host.parse::<IpAddr>().is_err() {
            if let Some(i) = self.domain_idx(&host) {
                f(i, host.clone(), "http host");
            }
        }
        if let Some(uri) = h.uri.as_deref() {
            let url = if uri.starts_with('/') {
                let authority = match (&h.host, h.meta) {
                    (Some(a), _) => a.clone(),
                    (None, Some(m)) => m.id.resp_h.to_string(),
                    (None, None) => String::new(),
                };
                format!("http://{authority}{uri}")
            } else {
                uri.to_string()
            };
            if let Some(n) = normalize_url(&url) {
                if let Some(i) = self.url_idx(&n) {
                    f(i, n, "http url");
                }
            }
        }
        if let Some(s) = h.resp_body_sha256.as_deref() {
            if let Some(i) = lookup(&self.sha256, s) {
                f(i, s.to_string(), "http response body");
            }
        }
    }

    pub(crate) fn ssl_hits(&self, s: &Ssl, f: &mut dyn FnMut(usize, String, &'static str)) {
        if let Some(sni) = s.server_name.as_deref() {
            let sni = host_only(sni);
            if let Some(i) = self.domain_idx(&sni) {
                f(i, sni, "tls sni");
            }
        }
        if let Some(j) = s.ja3.as_deref() {
            if let Some(i) = lookup(&self.ja3, j) {
                f(i, j.to_string(), "tls ja3");
            }
        }
        if let Some(j) = s.ja4.as_deref() {
            if let Some(i) = lookup(&self.ja4, j) {
                f(i, j.to_string(), "tls ja4");
            }
        }
    }

    /// The entry listing this SHA-256 (hex, any case).
    pub fn match_sha256(&self, hex: &str) -> Option<&Entry> {
        self.entry(lookup(&self.sha256, hex))
    }

    /// The entry listing this JA3 fingerprint (MD5 hex).
    pub fn match_ja3(&self, md5: &str) -> Option<&Entry> {
        self.entry(lookup(&self.ja3, md5))
    }

    /// The entry listing this JA4 fingerprint.
    pub fn match_ja4(&self, ja4: &str) -> Option<&Entry> {
        self.entry(lookup(&self.ja4, ja4))
    }
}

fn lookup(m: &FxHashMap<String, usize>, v: &str) -> Option<usize> {
    if m.is_empty() {
        return None;
    }
    m.get(&v.trim().to_ascii_lowercase()).copied()
}

/// Count one skipped line or object in `feed`, naming the first few.
pub(crate) fn skip(feed: &mut Feed, line: Option<u64>, reason: &str) {
    *feed.skipped.entry(reason.to_string()).or_insert(0) += 1;
    if feed.examples.len() < MAX_EXAMPLES {
        let at = match line {
            Some(l) => format!("{}:{l}", feed.path.display()),
            None => feed.path.display().to_string(),
        };
        feed.examples.push(format!("{at}: {reason}"));
    }
}

/// `ip` with all but the first `len` bits cleared.
fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// `a.b.c.d/len` → (masked network, len).
pub(crate) fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (a, l) = s.split_once('/')?;
    let ip: IpAddr = a.trim().parse().ok()?;
    let len: u8 = l.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if len > max {
        return None;
    }
    Some((mask(ip, len), len))
}

/// A URL as it is compared: `scheme://host[:port]/path?query`, scheme
/// and host lowercase, the scheme's default port and any fragment
/// dropped, an empty path as `/`. `None` without a scheme and host.
pub fn normalize_url(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    let auth = auth.rsplit('@').next().unwrap_or(auth).to_ascii_lowercase();
    let auth = auth.trim_end_matches('.');
    let default = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        "ftp" => ":21",
        _ => "",
    };
    let auth = if !default.is_empty() && auth.ends_with(default) {
        &auth[..auth.len() - default.len()]
    } else {
        auth
    };
    let auth = auth.trim_end_matches('.');
    if auth.is_empty() {
        return None;
    }
    let tail = &rest[end..];
    let tail = tail.split('#').next().unwrap_or("");
    let tail = if tail.is_empty() || tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    Some(format!("{scheme}://{auth}{tail}"))
}

/// One indicator seen in a trace: which host, what was observed, which
/// feed entry listed it.
#[derive(Clone, Debug, PartialEq)]
pub struct IntelMatch {
    /// The host that contacted, looked up or fetched it.
    pub host: IpAddr,
    pub kind: IntelKind,
    /// What the trace shows (`a.evil.example` for a listed
    /// `evil.example`, the full URL, the address).
    pub observed: String,
    /// Where it was seen: `dns query`, `http host`, `tls sni`, …
    pub seen_in: &'static str,
    /// The listed indicator.
    pub indicator: String,
    pub feed: String,
    /// Where in the feed (`line 12`, `indicator--…`).
    pub origin: String,
    pub threat: Option<String>,
    /// What a match stands for ([`Entry::class_or_default`]).
    pub class: Class,
    pub first: Ts,
    pub last: Ts,
    pub count: u64,
}

impl IntelMatch {
    /// One sentence for evidence: what was seen and which feed lists it.
    pub fn sentence(&self) -> String {
        sentence(
            self.kind,
            &self.observed,
            self.seen_in,
            self.count,
            &self.indicator,
            &self.feed,
            &self.origin,
            self.threat.as_deref(),
        )
    }
}

/// "threat intel: ip 192.0.2.1 in connection ×3 is listed by feodo.csv
/// line 9 (Dridex)".
#[allow(clippy::too_many_arguments)]
pub(crate) fn sentence(
    kind: IntelKind,
    observed: &str,
    seen_in: &str,
    count: u64,
    indicator: &str,
    feed: &str,
    origin: &str,
    threat: Option<&str>,
) -> String {
    let threat = threat.map(|t| format!(" ({t})")).unwrap_or_default();
    let via = if observed == indicator {
        String::new()
    } else {
        format!(", listed as {indicator}")
    };
    format!(
        "threat intel: {} {observed} in {seen_in} ×{count} is listed by {feed} {origin}{via}{threat}",
        kind.as_str()
    )
}

/// Every listed indicator the events show, one [`IntelMatch`] per host,
/// entry, observed value and place seen; ordered by host, then first
/// seen. Connections match by responder address (the host is the
/// originator), DNS by query name, HTTP by Host, URL and response body
/// SHA-256, TLS by SNI, JA3 and JA4. Capped at [`MAX_MATCHES`].
pub fn scan(events: &[Event], intel: &Intel) -> Vec<IntelMatch> {
    type Key = (IpAddr, usize, String, &'static str);
    let mut out: BTreeMap<Key, (Ts, Ts, u64)> = BTreeMap::new();
    if intel.is_empty() {
        return Vec::new();
    }
    let mut hit = |host: IpAddr, e: Option<usize>, observed: &str, seen: &'static str, ts: Ts| {
        let Some(e) = e else { return };
        if out.len() >= MAX_MATCHES * 4 {
            return;
        }
        let v = out
            .entry((host, e, observed.to_string(), seen))
            .or_insert((ts, ts, 0));
        v.0 = v.0.min(ts);
        v.1 = v.1.max(ts);
        v.2 += 1;
    };
    for ev in events {
        let (host, ts) = match ev {
            Event::Conn(c) => (c.meta.id.orig_h, c.meta.ts),
            Event::Dns(Dns { meta: Some(m), .. })
            | Event::Http(Http { meta: Some(m), .. })
            | Event::Ssl(Ssl { meta: Some(m), .. }) => (m.id.orig_h, m.ts),
            _ => continue,
        };
        intel.event_hits(ev, &mut |e, observed, seen| {
            hit(host, Some(e), &observed, seen, ts)
        });
    }
    let mut v: Vec<IntelMatch> = out
        .into_iter()
        .filter_map(|((host, i, observed, seen_in), (first, last, count))| {
            let e = intel.entries.get(i)?;
            Some(IntelMatch {
                host,
                kind: e.kind,
                observed,
                seen_in,
                indicator: e.value.clone(),
                feed: intel.feed_of(e).name.clone(),
                origin: e.origin.clone(),
                threat: e.threat.clone(),
                class: e.class_or_default(),
                first,
                last,
                count,
            })
        })
        .collect();
    if v.len() > MAX_MATCHES {
        v.sort_by_key(|m| std::cmp::Reverse(m.count));
        v.truncate(MAX_MATCHES);
    }
    v.sort_by_key(|m| (m.host, m.first));
    v
}

#[cfg(test)]
mod tests;
