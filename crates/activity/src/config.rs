//! Every threshold of the detectors, with its default.

/// Thresholds and caps of [`crate::analyze`]. `Default` gives the values
/// the accuracy tests were measured with.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityConfig {
    /// Remote ports an SMTP client delivers or relays mail to. A
    /// connection to one of them that carries `MAIL FROM` or `RCPT TO`
    /// is spam sending. Default 25, 587, 465, 2525.
    pub spam_ports: Vec<u16>,
    /// A host with at least this many mail transactions is a spam sender;
    /// its other connections to spam ports (greeting refused, no `MAIL`,
    /// no answer) are counted as spam attempts too. Default 1.
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
    /// Peers kept per activity (the most contacted first). Default 5.
    pub max_peers: usize,
    /// Evidence lines kept per activity. Default 8.
    pub max_evidence: usize,
    /// Ad and click server domains (EasyList-free fallback list). A match
    /// is extra evidence, never a verdict on its own. Default: the list
    /// shipped in `data/ad-domains.txt`.
    pub ad_domains: Vec<String>,
}

/// The shipped list of ad and game-banner domains.
pub const AD_DOMAINS: &str = include_str!("../data/ad-domains.txt");

/// Parse a domain list: one domain a line, `#` comments, blank lines
/// skipped, lowercased, leading `.` or `*.` removed.
pub fn parse_domain_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.trim_start_matches("*.")
                .trim_start_matches('.')
                .to_ascii_lowercase()
        })
        .collect()
}

impl Default for ActivityConfig {
    fn default() -> Self {
        ActivityConfig {
            spam_ports: vec![25, 587, 465, 2525],
            spam_min_transactions: 1,
            c2_min_connections: 4,
            c2_min_score: 0.8,
            c2_min_opaque_requests: 4,
            c2_min_failed_attempts: 10,
            c2_min_interval_s: 1.0,
            opaque_min_binary_share: 0.3,
            opaque_min_query_len: 64,
            click_min_forged: 1,
            click_exclude_with_subresources: true,
            scan_min_targets: 20,
            max_peers: 5,
            max_evidence: 8,
            ad_domains: parse_domain_list(AD_DOMAINS),
        }
    }
}
