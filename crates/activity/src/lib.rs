//! Per-host activity analysis over the decoding engine's events: what is
//! each host doing, and what is hidden under its biggest activity?
//!
//! [`analyze`] takes the events of one or more captures (or Zeek logs
//! turned into events) and gives
//! - one [`ConnVerdict`] per connection: a single [`Class`], chosen by
//!   priority `download > click_fraud > c2 > spam > flood > scan > benign`;
//! - one [`HostReport`] per originating host, with one [`Activity`] for
//!   **every** class present, however small its share: a class never
//!   vanishes because another one is large (M86 missed Rustock's click
//!   fraud in December 2010 because its spam drowned it).
//!
//! DNS connections (service `dns`, a `dns` event, or port 53) are
//! classed [`Class::Benign`] and marked [`ConnVerdict::is_dns`]; the
//! simulator's truth labels them `dns`, so comparisons with it skip them.
//!
//! # Detectors (thresholds in [`ActivityConfig`])
//! - **download**: an HTTP response whose content, judged by magic (the
//!   `resp_mime_types` the engine fills from the first body bytes, or the
//!   body prefix itself), is a PE (`application/x-dosexec`), an ELF, an
//!   OLE/MSI file, a Java class or a ZIP whose first entry is a PE or a
//!   JAR. Never by extension or `Content-Type`. Evidence: URL, type,
//!   SHA-256.
//! - **click fraud**: HTTP requests whose `Referer` names a site the host
//!   never fetched earlier in the trace: not the request's own site, no
//!   earlier request to it, no earlier redirect to it, no earlier TLS
//!   connection (SNI) or DNS lookup of it, and not an `https` Referer
//!   (an HTTPS origin is invisible). Sites compare by registrable domain
//!   (`www.a.com` = `a.com` = `img.a.com`). A landing page whose
//!   sub-resources the host then fetched (a later request with the page's
//!   URL as Referer) is a person arriving from outside the capture, not a
//!   click ([`ActivityConfig::click_exclude_with_subresources`]). A host
//!   needs [`ActivityConfig::click_min_forged`] such requests. Evidence:
//!   URL, forged Referer, and the EasyList-format filter rule that lists
//!   the clicked server or the Referer's as an ad/click server
//!   ([`filters`]: the shipped `data/ad-filters.txt` plus the user's
//!   lists; a feature, counted in the evidence, never a verdict alone).
//! - **C&C**: per host and server (address, port), at least
//!   [`ActivityConfig::c2_min_connections`] connections that either score
//!   as a beacon ([`beacon`]: score ≥ `c2_min_score` and timing score ≥
//!   `c2_min_timing`, mean interval ≥ `c2_min_interval_s`) or poll with
//!   opaque data (binary POST bodies, long hex/base64 queries); at least
//!   `c2_min_failed_attempts` unanswered tries to one server port with
//!   beacon timing (a bot retrying a dead C&C); IRC sessions that `JOIN`
//!   a channel and exchange `PRIVMSG`; and, on flow-only input (no
//!   decoded IRC commands: binetflow, a bare `conn.log`), an established
//!   TCP session to an IRC port (`irc_ports`) lasting at least
//!   `c2_irc_min_duration_s` at no more than `c2_irc_max_rate` bytes/s:
//!   a bot logged in and waiting for orders. (A person chatting on IRC
//!   looks the same in flows; IRC is treated as a command channel.)
//!   SMTP and DNS connections are never C&C candidates. Evidence:
//!   server, interval mean/stddev, score.
//! - **spam**: SMTP connections to a remote mail port carrying `MAIL
//!   FROM`/`RCPT TO`; once a host has sent mail, its other connections to
//!   mail ports (refused greetings, no answer) are spam attempts too.
//!   Evidence: HELO names, distinct MX hosts, MX lookups.
//! - **flood** (denial of service): traffic from a host to one target
//!   address that is not a conversation (ICMP, UDP flows answered with
//!   under `flood_max_answer_ratio` of the bytes sent, TCP connections
//!   that never carried payload, as in a SYN flood) at
//!   `flood_min_pps` packets per second or more over at least one window
//!   of `flood_window_s` seconds (a flow's packets are spread evenly over
//!   its duration). Evidence: target, packets, bytes, peak rate.
//! - **scan**: failed connections (`S0`, `REJ`, `RSTOS0`, or `RSTO`/
//!   `RSTR`/`SH`/`OTH` without payload) to at least
//!   [`ActivityConfig::scan_min_targets`] distinct destinations.
//! - **benign**: everything else, DNS included.
//!
//! The analysis never panics on any event content; every list it returns
//! is capped ([`ActivityConfig::max_peers`], `max_evidence`).

pub mod beacon;
mod config;
mod detect;
pub mod filters;
pub mod intel;
pub mod ioc;
mod url;

use std::net::IpAddr;

use botscope_event::{ConnId, Event, Ts, Uid};

pub use config::{ActivityConfig, AD_FILTERS};
pub use detect::analyze;
pub use filters::AdFilters;

/// What a connection was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Spam,
    C2,
    Download,
    ClickFraud,
    Flood,
    Scan,
    Benign,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 7] = [
        Class::Spam,
        Class::C2,
        Class::Download,
        Class::ClickFraud,
        Class::Flood,
        Class::Scan,
        Class::Benign,
    ];

    /// The name used in reports, JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Spam => "spam",
            Class::C2 => "c2",
            Class::Download => "download",
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
    /// A DNS connection (classed [`Class::Benign`]; the simulator's truth
    /// calls it `dns`).
    pub is_dns: bool,
}

/// One activity class of one host.
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
    pub class: Class,
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
    /// A sample of the evidence behind the verdict, capped.
    pub evidence: Vec<String>,
}

/// Every activity of one originating host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostReport {
    pub host: IpAddr,
    /// One entry per class present, the largest first.
    pub activities: Vec<Activity>,
}

impl HostReport {
    /// The activity of class `c`, if present.
    pub fn activity(&self, c: Class) -> Option<&Activity> {
        self.activities.iter().find(|a| a.class == c)
    }
}

/// Flatten per-shard event vectors (as `analyze_file` returns them).
pub fn flatten(shards: Vec<Vec<Event>>) -> Vec<Event> {
    shards.into_iter().flatten().collect()
}
