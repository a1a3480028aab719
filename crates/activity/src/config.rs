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
    pub ad_filters: Vec<String>,
}

/// The shipped EasyList-format list of ad, click and game-banner servers.
pub const AD_FILTERS: &str = include_str!("../data/ad-filters.txt");

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
            max_events: 8_000_000,
            max_peers: 5,
            max_evidence: 8,
            ad_filters: vec![AD_FILTERS.to_string()],
        }
    }
}
