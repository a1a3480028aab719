//! Every threshold of the detectors, with its default.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Thresholds and caps of [`crate::analyze`]. `Default` gives the values
/// the accuracy tests were measured with. The doc comment of each field
/// is its user documentation; every field has a default, so a rules
/// file (TOML, `botscope dataset rehunt --rules`) need only name what it
/// changes:
///
/// ```toml
/// scan_min_targets = 50
/// verdict_threshold = 0.6
/// ad_filters_file = "easylist.txt"
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActivityConfig {
    /// Remote ports an SMTP client delivers or relays mail to. A
    /// connection to one of them that carries `MAIL FROM` or `RCPT TO`
    /// is spam sending. Default 25, 587, 465, 2525.
    pub spam_ports: Vec<u16>,
    /// A host with at least this many mail transactions is a spam sender;
    /// its other connections to spam ports (greeting refused, no `MAIL`,
    /// no answer) are counted as spam attempts too. Fewer are a lead: one
    /// submission or one delivery is not bulk mail. Default 2.
    pub spam_min_transactions: u64,
    /// Connections from a host to one server (address and port) needed
    /// before their timing is scored as a beacon. RITA needs 4. Default 4.
    pub c2_min_connections: usize,
    /// Beacon score (0..1, the mean of the timing and size scores, see
    /// [`crate::beacon`]) at or above which the connections to one server
    /// are C&C check-ins. Default 0.8.
    pub c2_min_score: f64,
    /// Requests to one server that carry opaque (non-text) data in the
    /// body or a long encoded query needed for HTTP polling to be C&C,
    /// whatever its timing. Default 4.
    pub c2_min_opaque_requests: usize,
    /// Unanswered attempts (no payload either way) from a host to one
    /// server port needed before their timing is scored: a bot retrying
    /// a dead or sinkholed C&C on a schedule. Default 10.
    pub c2_min_failed_attempts: usize,
    /// Mean interval (seconds) below which connections to one server are a
    /// stream or a flood, not check-ins: never scored as a beacon.
    /// Default 1.0.
    pub c2_min_interval_s: f64,
    /// Timing score (0..1, see [`crate::beacon`]) a beacon needs on its
    /// own, whatever its size score: identical sizes at irregular times
    /// (a browser's keep-alive requests) are not check-ins. Default 0.8.
    pub c2_min_timing: f64,
    /// Remote TCP ports of IRC servers. On flow-only input (no decoded
    /// IRC commands) a long, slow session to one of them is an IRC
    /// command channel. Default 6660-6669, 6697, 7000.
    pub irc_ports: Vec<u16>,
    /// Duration (seconds) from which an established TCP session to an IRC
    /// port with no decoded IRC commands is an IRC command channel: a bot
    /// stays logged in, waiting for orders. Default 60.
    pub c2_irc_min_duration_s: f64,
    /// Mean payload rate (bytes/s, both ways) at or under which such a
    /// session is idle chat, not a transfer. Default 1000.
    pub c2_irc_max_rate: f64,
    /// A flood (denial of service): traffic from a host to one target
    /// address that is not a conversation (ICMP, UDP the target does not
    /// answer in kind, TCP connections that never carried payload) at this many packets per second or more,
    /// over at least one window of [`ActivityConfig::flood_window_s`].
    /// Ping, traceroute and mtr send at most tens per second. Default 100.
    pub flood_min_pps: f64,
    /// The window (seconds) over which the flood rate is measured; a
    /// flood also needs `flood_min_pps × flood_window_s` packets. Default 10.
    pub flood_window_s: f64,
    /// Answer bytes over sent bytes under which a UDP or TCP flow is
    /// one-way (counted towards a flood). Default 0.1.
    pub flood_max_answer_ratio: f64,
    /// Share of bytes in a request body that must be outside printable
    /// text for the body to be opaque. Default 0.3.
    pub opaque_min_binary_share: f64,
    /// Length of a query string made only of hex or base64 characters from
    /// which it counts as opaque data. Default 64.
    pub opaque_min_query_len: usize,
    /// Requests with a forged Referer a host needs before any of its
    /// requests is called click fraud: one stray Referer (a page fetched
    /// before the capture began) is explained in most cases by the
    /// exclusions; raise this to demand several. Default 1.
    pub click_min_forged: usize,
    /// A request with an unexplained Referer whose page's sub-resources
    /// the host then fetched (a later request names its URL as Referer)
    /// is a person arriving from a page outside the capture (a search
    /// result, a bookmark), not a clickbot: clickbots fetch the landing
    /// page alone. `true` excludes such requests. Default true.
    pub click_exclude_with_subresources: bool,
    /// Distinct failed destinations (address and port) a host needs before
    /// its failed connections are a scan. Default 20.
    pub scan_min_targets: usize,
    /// Accumulated `threat × confidence` of one host's evidence of one
    /// class (in its best window) from which it is a verdict; weaker
    /// evidence is listed as leads. Threat levels weigh info 0, low 0.2,
    /// medium 0.5, high 0.8, critical 1. Default 0.5.
    pub verdict_threshold: f64,
    /// The window (seconds) over which evidence adds up. Default 3600.
    pub evidence_window_s: f64,
    /// NXDOMAIN answers for distinct random-looking names a host needs
    /// within [`ActivityConfig::evidence_window_s`] for a DGA verdict.
    /// Default 5.
    pub dga_min_nxdomain: usize,
    /// Distinct names under one parent domain whose first label is long
    /// and encoded (hex, base32/64) a host needs to look up for a DNS
    /// tunnel. Default 20.
    pub tunnel_min_names: usize,
    /// Length from which a DNS label counts as a long encoded label.
    /// Default 20.
    pub tunnel_min_label_len: usize,
    /// Bytes of encoded labels sent in a DNS tunnel from which it also
    /// carries data out (exfil). Default 2000.
    pub tunnel_exfil_min_bytes: u64,
    /// ICMP echo payload (bytes per packet, mean) from which ICMP traffic
    /// between two hosts is a tunnel, not a ping. Default 500.
    pub icmp_tunnel_min_payload: u64,
    /// Seconds within which an exploit (Flash, Java, Silverlight fetched
    /// from a rare host) followed by a payload is an exploit-kit chain.
    /// Default 120.
    pub ek_chain_window_s: f64,
    /// Established, talking sessions to (or from) distinct telnet servers
    /// (23, 2323) that make a credential brute force. Default 3.
    pub telnet_min_sessions: usize,
    /// Shannon entropy (bits per byte, 0..8) of a body prefix from which
    /// it counts as encrypted or compressed. Default 7.2.
    pub encrypted_min_entropy: f64,
    /// Sandbox background: the shipped list (`data/background.txt`) plus
    /// the user's, as texts in the same format.
    #[serde(skip)]
    pub background: Vec<String>,
    /// A file of background services in the format of the shipped
    /// `data/background.txt`, added to it (rules files: relative to the
    /// rules file).
    pub background_file: Option<PathBuf>,
    /// Events (connections, requests, DNS queries…) one analysis holds:
    /// `botscope trace` keeps every event of its inputs until the end, so
    /// past this many it stops collecting, says so as an input error and
    /// counts what it dropped. About 600 bytes an event: the default
    /// bounds the held events near 5 GB. Default 8,000,000.
    pub max_events: usize,
    /// Peers kept per activity (the most contacted first). Default 5.
    pub max_peers: usize,
    /// Evidence lines kept per activity. Default 8.
    pub max_evidence: usize,
    /// EasyList-format filter lists (the texts) that recognise ad and
    /// click servers ([`crate::filters`]). A forged-Referer request to a
    /// listed server is one more feature of click fraud (counted and shown
    /// in the evidence), never a verdict on its own. Default: the list
    /// shipped in `data/ad-filters.txt`; `botscope trace --filters FILE`
    /// adds a user's own.
    #[serde(skip)]
    pub ad_filters: Vec<String>,
    /// An EasyList-format filter list file matched next to the shipped
    /// one (rules files: relative to the rules file).
    pub ad_filters_file: Option<PathBuf>,
}

/// The shipped EasyList-format list of ad, click and game-banner servers.
pub const AD_FILTERS: &str = include_str!("../data/ad-filters.txt");

impl Default for ActivityConfig {
    fn default() -> Self {
        ActivityConfig {
            spam_ports: vec![25, 587, 465, 2525],
            spam_min_transactions: 2,
            c2_min_connections: 4,
            c2_min_score: 0.8,
            c2_min_opaque_requests: 4,
            c2_min_failed_attempts: 10,
            c2_min_interval_s: 1.0,
            c2_min_timing: 0.8,
            irc_ports: vec![
                6660, 6661, 6662, 6663, 6664, 6665, 6666, 6667, 6668, 6669, 6697, 7000,
            ],
            c2_irc_min_duration_s: 60.0,
            c2_irc_max_rate: 1000.0,
            flood_min_pps: 100.0,
            flood_window_s: 10.0,
            flood_max_answer_ratio: 0.1,
            opaque_min_binary_share: 0.3,
            opaque_min_query_len: 64,
            click_min_forged: 1,
            click_exclude_with_subresources: true,
            scan_min_targets: 20,
            verdict_threshold: 0.5,
            evidence_window_s: 3600.0,
            dga_min_nxdomain: 5,
            tunnel_min_names: 20,
            tunnel_min_label_len: 20,
            tunnel_exfil_min_bytes: 2000,
            icmp_tunnel_min_payload: 500,
            ek_chain_window_s: 120.0,
            telnet_min_sessions: 3,
            encrypted_min_entropy: 7.2,
            background: vec![crate::BACKGROUND.to_string()],
            background_file: None,
            max_events: 8_000_000,
            max_peers: 5,
            max_evidence: 8,
            ad_filters: vec![AD_FILTERS.to_string()],
            ad_filters_file: None,
        }
    }
}

impl ActivityConfig {
    /// Read a rules file (TOML): any field (same names), the rest at their
    /// defaults; unknown names are an error. `ad_filters_file` and
    /// `background_file` are read (relative to the rules file) and added
    /// to the shipped lists. Errors name the file.
    pub fn from_toml_file(path: &std::path::Path) -> Result<ActivityConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut c: ActivityConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        if let Some(f) = &c.ad_filters_file {
            let p = base.join(f);
            let t = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            c.ad_filters.push(t);
        }
        if let Some(f) = &c.background_file {
            let p = base.join(f);
            let t = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            c.background.push(t);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_reads_from_toml_and_unknown_ones_are_refused() {
        // Every field of the default, written out, reads back the same.
        let text = toml::to_string(&ActivityConfig::default()).unwrap_or_default();
        for name in [
            "c2_min_timing",
            "irc_ports",
            "c2_irc_min_duration_s",
            "flood_min_pps",
            "flood_window_s",
            "flood_max_answer_ratio",
            "max_events",
            "verdict_threshold",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
        let back: ActivityConfig = toml::from_str(&text).expect("round trip");
        assert_eq!(back, ActivityConfig::default());
        let c: ActivityConfig =
            toml::from_str("scan_min_targets = 7\nirc_ports = [6667]").expect("partial");
        assert_eq!((c.scan_min_targets, c.irc_ports.clone()), (7, vec![6667]));
        assert!(toml::from_str::<ActivityConfig>("scan_min_target = 7").is_err());
        assert!(toml::from_str::<ActivityConfig>("scan_min_targets = -1").is_err());
    }
}
