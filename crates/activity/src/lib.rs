//! Per-host activity analysis over the decoding engine's events: what is
//! each host doing, and what is hidden under its biggest activity?
//!
//! [`analyze`] (network traffic) and [`analyze_capture`] (network or
//! sandbox run, [`Capture`]) take the events of one or more captures (or
//! Zeek logs turned into events) and work in two steps:
//!
//! 1. **Evidence.** Each detector (one module each under `detect/`)
//!    emits [`Evidence`] items: host, class, time, a threat level and a
//!    confidence, the indicators it names, and one sentence saying what
//!    was seen and what was checked. Detectors do not read each other.
//! 2. **Weighing** (`weigh.rs`, the one place): per host and class, the
//!    `threat × confidence` of its evidence adds up over a window
//!    ([`ActivityConfig::evidence_window_s`]); at or over
//!    [`ActivityConfig::verdict_threshold`] it is a verdict, an
//!    [`Activity`] with its confidence; under it a [`Lead`], shown apart.
//!    Each connection takes one class ([`ConnVerdict`]), the first of
//!    [`Class::PRIORITY`] among the verdicts naming it.
//!
//! A host gets one [`Activity`] for **every** verdict class, however
//! small its share: a class never vanishes because another one is large
//! (M86 missed Rustock's click fraud in December 2010 because its spam
//! drowned it).
//!
//! # Where the capture was taken
//! On a network ([`Capture::Network`]) a host is innocent until evidence
//! accumulates: behaviour that is normal for a person (sending one
//! authenticated mail, uploading by FTP, an unknown protocol) is a lead
//! at most. In a sandbox run ([`Capture::Sandbox`]) nobody sits at the
//! infected host: what it does that the operating system's own
//! background ([`Background`], `data/background.txt`) does not explain is
//! suspect, and the same behaviour weighs as a verdict.
//!
//! # Detectors (thresholds in [`ActivityConfig`])
//! - `download`: executables by magic, never by name.
//! - `click`: forged Referers (click fraud).
//! - `c2`: beacons, opaque polling, retries of a silent C&C, IRC,
//!   HTTP check-ins, TLS without a name, unknown binary protocols,
//!   dynamic-DNS names, IP-check services, P2P fan-out.
//! - `tunnel`: DNS tunnels (c2, and exfil when they carry data) and
//!   ICMP tunnels.
//! - `spam`: bulk mail; `exfil`: mail, FTP uploads and HTTP posts of
//!   stolen data; `exploit`: exploit strings, exploit-kit chains, telnet
//!   brute force, SMB lateral movement; `dga`: NXDOMAIN bursts of
//!   random-looking names; `flood`; `scan` (TCP/UDP only, never
//!   multicast or broadcast targets).
//!
//! Each module's documentation states its rules. The analysis never
//! panics on any event content; every list it returns is capped
//! ([`ActivityConfig::max_peers`], `max_evidence`).

mod background;
pub mod beacon;
mod config;
mod detect;
pub mod evidence;
pub mod filters;
pub mod intel;
pub mod ioc;
mod url;
mod weigh;

use std::net::IpAddr;

use botscope_event::{ConnId, Event, Ts, Uid};

pub use background::{Background, BACKGROUND};
pub use config::{ActivityConfig, AD_FILTERS};
pub use evidence::{Evidence, Threat};
pub use filters::AdFilters;

/// What a connection was for. The names ([`Class::as_str`]) are fixed:
/// `--json`, the dataset and the CSVs use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Spam,
    C2,
    Download,
    Exploit,
    Exfil,
    Dga,
    ClickFraud,
    Flood,
    Scan,
    Benign,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 10] = [
        Class::Spam,
        Class::C2,
        Class::Download,
        Class::Exploit,
        Class::Exfil,
        Class::Dga,
        Class::ClickFraud,
        Class::Flood,
        Class::Scan,
        Class::Benign,
    ];

    /// Which verdict a connection named by several takes: the first.
    pub const PRIORITY: [Class; 10] = [
        Class::Exploit,
        Class::Download,
        Class::Exfil,
        Class::ClickFraud,
        Class::C2,
        Class::Spam,
        Class::Flood,
        Class::Scan,
        Class::Dga,
        Class::Benign,
    ];

    /// The name used in reports, JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Spam => "spam",
            Class::C2 => "c2",
            Class::Download => "download",
            Class::Exploit => "exploit",
            Class::Exfil => "exfil",
            Class::Dga => "dga",
            Class::ClickFraud => "click_fraud",
            Class::Flood => "flood",
            Class::Scan => "scan",
            Class::Benign => "benign",
        }
    }

    /// The class named `s` (as [`Class::as_str`] prints it).
    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class of one connection.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnVerdict {
    pub uid: Uid,
    pub id: ConnId,
    /// Start of the connection.
    pub ts: Ts,
    pub class: Class,
    /// A DNS connection (the simulator's truth calls it `dns`).
    pub is_dns: bool,
}

/// One activity class of one host: a verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
    pub class: Class,
    /// Connections of the host given this class (each connection has one
    /// class; 0 when every connection the evidence names went to a class
    /// earlier in [`Class::PRIORITY`]).
    pub connections: u64,
    /// Application requests: HTTP requests, mail transactions, DNS queries,
    /// IRC commands.
    pub requests: u64,
    /// Payload bytes both ways (`orig_bytes + resp_bytes`).
    pub bytes: u64,
    /// Share of the host's connections, 0..1.
    pub share: f64,
    pub first: Ts,
    pub last: Ts,
    /// The most contacted peers (host name when known, else address), capped.
    pub peers: Vec<String>,
    /// What was seen and checked, one sentence an item, capped.
    pub evidence: Vec<String>,
    /// Addresses, names, URLs and hashes the evidence names (capped).
    pub indicators: Vec<String>,
    /// `min(1, score)`; 0 for benign.
    pub confidence: f64,
    /// Accumulated `threat × confidence` of the evidence in its best window.
    pub score: f64,
}

/// Evidence of one class too weak for a verdict: shown apart.
#[derive(Clone, Debug, PartialEq)]
pub struct Lead {
    pub class: Class,
    /// Accumulated `threat × confidence`, under the verdict threshold.
    pub score: f64,
    pub first: Ts,
    pub evidence: Vec<String>,
    pub indicators: Vec<String>,
}

/// Every activity of one host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostReport {
    pub host: IpAddr,
    /// One entry per verdict class, and benign; the largest first.
    pub activities: Vec<Activity>,
    /// Weaker evidence, the strongest first.
    pub leads: Vec<Lead>,
}

impl HostReport {
    /// The activity of class `c`, if present.
    pub fn activity(&self, c: Class) -> Option<&Activity> {
        self.activities.iter().find(|a| a.class == c)
    }
}

/// Where the capture was taken.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Capture {
    /// Network traffic: a host is innocent until evidence accumulates.
    #[default]
    Network,
    /// A sandbox run of these infected hosts (empty: infer the one).
    /// What they do that the operating system's background
    /// ([`Background`]) does not explain is suspect.
    Sandbox(Vec<IpAddr>),
}

/// What [`analyze_capture`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    /// Sorted by address.
    pub hosts: Vec<HostReport>,
    /// Sorted by connection start.
    pub verdicts: Vec<ConnVerdict>,
    /// The infected hosts of a sandbox run (empty on a network).
    pub sandbox: Vec<IpAddr>,
    /// The sandbox host was inferred, not given.
    pub inferred: bool,
}

/// Classify every connection and report every host's activities, as
/// network traffic ([`Capture::Network`]).
pub fn analyze(events: &[Event], cfg: &ActivityConfig) -> (Vec<HostReport>, Vec<ConnVerdict>) {
    let a = analyze_capture(events, cfg, &Capture::Network);
    (a.hosts, a.verdicts)
}

/// Classify every connection and report every host's activities.
///
/// Hosts are originators of connections (and local hosts attacked from
/// outside); reports come sorted by address, verdicts by connection start.
pub fn analyze_capture(events: &[Event], cfg: &ActivityConfig, capture: &Capture) -> Analysis {
    analyze_with_intel(events, cfg, capture, None)
}

/// [`analyze_capture`], with threat-intelligence feeds: a listed address,
/// domain, URL, file hash or TLS fingerprint is high-confidence evidence
/// naming the feed and entry.
pub fn analyze_with_intel(
    events: &[Event],
    cfg: &ActivityConfig,
    capture: &Capture,
    intel: Option<&intel::Intel>,
) -> Analysis {
    use rustc_hash::FxHashMap;
    let recs = detect::index(events);
    let mut views: FxHashMap<IpAddr, detect::HostView> = FxHashMap::default();
    let mut fan: FxHashMap<IpAddr, rustc_hash::FxHashSet<IpAddr>> = FxHashMap::default();
    for (i, r) in recs.iter().enumerate() {
        views
            .entry(r.id.orig_h)
            .or_insert_with(|| detect::HostView::new(r.id.orig_h))
            .conns
            .push(i);
        if detect::is_local(r.id.resp_h) && !detect::is_group(r.id.resp_h) {
            views
                .entry(r.id.resp_h)
                .or_insert_with(|| detect::HostView::new(r.id.resp_h))
                .inbound
                .push(i);
        }
        let f = fan.entry(r.id.resp_h).or_default();
        if f.len() < 64 {
            f.insert(r.id.orig_h);
        }
    }
    let fan_in: FxHashMap<IpAddr, u32> =
        fan.into_iter().map(|(k, v)| (k, v.len() as u32)).collect();
    for ev in events {
        let m = match ev {
            Event::Dns(d) => d.meta,
            Event::Ssl(s) => s.meta,
            _ => None,
        };
        if let Some(v) = m.and_then(|m| views.get_mut(&m.id.orig_h)) {
            v.learn(ev);
        }
    }
    let (sandbox, inferred) = match capture {
        Capture::Network => (Vec::new(), false),
        Capture::Sandbox(h) if !h.is_empty() => (h.clone(), false),
        Capture::Sandbox(_) => (infer_sandbox_host(&recs).into_iter().collect(), true),
    };
    let background = Background::new(&cfg.background);
    let filters = std::cell::OnceCell::new();
    let cx = detect::Ctx {
        recs: &recs,
        cfg,
        sandbox: &sandbox,
        background: &background,
        filters: &filters,
        fan_in: &fan_in,
        intel,
    };
    let mut list: Vec<detect::HostView> = views.into_values().collect();
    list.sort_by_key(|v| v.ip);
    let mut hosts = Vec::with_capacity(list.len());
    let mut verdicts = Vec::with_capacity(recs.len());
    let mut evidence = Vec::new();
    for mut v in list {
        v.conns.sort_by_key(|&i| (recs[i].ts, recs[i].uid));
        v.inbound.sort_by_key(|&i| (recs[i].ts, recs[i].uid));
        evidence.clear();
        detect::run(&cx, &v, &mut evidence);
        if v.conns.is_empty() && evidence.is_empty() {
            continue;
        }
        hosts.push(weigh::host(
            v.ip,
            &recs,
            &v.conns,
            &evidence,
            cfg,
            &mut verdicts,
        ));
    }
    verdicts.sort_by_key(|v| (v.ts, v.uid));
    Analysis {
        hosts,
        verdicts,
        sandbox,
        inferred,
    }
}

/// The infected host of a sandbox run, when not given: the local host
/// that originated the most connections to addresses outside the local
/// networks (else the most connections at all).
fn infer_sandbox_host(recs: &[detect::ConnRec<'_>]) -> Option<IpAddr> {
    let mut out: std::collections::BTreeMap<IpAddr, (u64, u64)> = Default::default();
    for r in recs {
        if !detect::is_local(r.id.orig_h) {
            continue;
        }
        let e = out.entry(r.id.orig_h).or_default();
        e.1 += 1;
        if !detect::is_local(r.id.resp_h) {
            e.0 += 1;
        }
    }
    out.into_iter()
        .max_by_key(|(ip, n)| (*n, std::cmp::Reverse(*ip)))
        .map(|(ip, _)| ip)
}

/// Flatten per-shard event vectors (as `analyze_file` returns them).
pub fn flatten(shards: Vec<Vec<Event>>) -> Vec<Event> {
    shards.into_iter().flatten().collect()
}
