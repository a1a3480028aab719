//! The infected host's ephemeral ports, Windows XP style: one counter
//! that goes up by one per connection and wraps inside the range, and
//! skips a port while a connection that used it could still be open.
//!
//! A port is *free* when no live connection uses it and its last
//! connection ended more than the linger time ago (`TIME_WAIT` for TCP,
//! the UDP inactivity timeout for UDP). When every port is busy — more
//! connections than the range holds within a linger time — the counter
//! takes the next port that has no live or lingering connection to the
//! same server endpoint, so a 4-tuple is still never reused while it
//! could be open. Only with more live connections to one server endpoint
//! than there are ports (impossible for a real host) is a 4-tuple reused.
//!
//! Ports for which Wireshark registers a dissector ([`AVOID`]) are never
//! handed out while any other port is available: when the server's port
//! is the higher one, Wireshark dissects by the client's port and would
//! call a plain HTTP or DNS exchange a malformed SOCKS, RADIUS or ICQ
//! packet. Real Windows hosts use those ports too; the capture loses
//! nothing by skipping them.

use std::collections::HashMap;

/// Live connections and the end of their linger, for one port or one
/// 4-tuple.
#[derive(Clone, Copy, Debug, Default)]
struct Use {
    live: u32,
    until: i64,
    avoid: bool,
}

impl Use {
    fn busy(&self, now: i64) -> bool {
        self.avoid || self.live > 0 || self.until > now
    }
}

/// Ports 1025–5000 that Wireshark 4.0 dissects by default over TCP or
/// UDP (`tshark -G decodes`), sorted.
const AVOID: [u16; 197] = [
    1044, 1052, 1069, 1080, 1089, 1090, 1091, 1099, 1101, 1102, 1113, 1153, 1194, 1213, 1293, 1300,
    1344, 1433, 1521, 1533, 1547, 1628, 1629, 1645, 1646, 1700, 1701, 1718, 1719, 1723, 1745, 1755,
    1812, 1813, 1861, 1863, 1883, 1900, 1935, 1978, 1979, 1985, 1998, 2000, 2001, 2029, 2048, 2055,
    2065, 2067, 2099, 2123, 2126, 2152, 2157, 2190, 2221, 2222, 2231, 2234, 2240, 2246, 2268, 2269,
    2313, 2321, 2322, 2345, 2401, 2404, 2424, 2427, 2428, 2433, 2443, 2501, 2502, 2571, 2575, 2600,
    2710, 2727, 2812, 2855, 2869, 2887, 2944, 2945, 2948, 2949, 2960, 3000, 3002, 3003, 3006, 3014,
    3016, 3017, 3018, 3019, 3050, 3121, 3128, 3130, 3132, 3205, 3222, 3245, 3246, 3247, 3248, 3249,
    3250, 3251, 3252, 3268, 3288, 3306, 3333, 3334, 3343, 3357, 3369, 3386, 3389, 3452, 3455, 3478,
    3483, 3496, 3503, 3540, 3544, 3567, 3622, 3632, 3671, 3689, 3724, 3784, 3785, 3792, 3799, 3804,
    3819, 3860, 3863, 3868, 3918, 3956, 4000, 4002, 4011, 4058, 4155, 4189, 4222, 4223, 4224, 4249,
    4250, 4305, 4306, 4307, 4321, 4341, 4342, 4369, 4420, 4500, 4533, 4534, 4551, 4555, 4556, 4569,
    4661, 4662, 4663, 4665, 4672, 4712, 4713, 4729, 4730, 4737, 4739, 4754, 4784, 4788, 4789, 4790,
    4791, 4840, 4880, 4991, 5000,
];

type Tuple = (u16, [u8; 4], u16);

#[derive(Debug)]
pub(crate) struct Ports {
    lo: u16,
    /// Index (port − `lo`) of the last port handed out.
    cursor: usize,
    by_port: Vec<Use>,
    /// Only consulted when every port is busy; purged of expired entries
    /// as it grows, so it stays near the number of live connections.
    by_tuple: HashMap<Tuple, Use>,
    purge_at: usize,
}

const MIN_PURGE: usize = 4096;

impl Ports {
    /// Ports `lo..=hi` (callers pass a checked, non-empty range); the
    /// first one handed out is `lo + start % len`.
    pub(crate) fn new(lo: u16, hi: u16, start: u64) -> Ports {
        let len = usize::from(hi.max(lo) - lo) + 1;
        let first = (start % len as u64) as usize;
        let mut by_port = vec![Use::default(); len];
        for p in AVOID {
            if let Some(u) = p
                .checked_sub(lo)
                .and_then(|i| by_port.get_mut(usize::from(i)))
            {
                u.avoid = true;
            }
        }
        Ports {
            lo,
            // The first `take` moves one past the cursor.
            cursor: (first + len - 1) % len,
            by_port,
            by_tuple: HashMap::new(),
            purge_at: MIN_PURGE,
        }
    }

    /// A port for a connection starting at `now` to `server:sport`.
    pub(crate) fn take(&mut self, now: i64, server: [u8; 4], sport: u16) -> u16 {
        let len = self.by_port.len();
        let pick = (1..=len)
            .map(|i| (self.cursor + i) % len)
            .find(|&p| !self.by_port[p].busy(now))
            .or_else(|| {
                (1..=len).map(|i| (self.cursor + i) % len).find(|&p| {
                    if self.by_port[p].avoid {
                        return false;
                    }
                    let key = (self.port(p), server, sport);
                    self.by_tuple.get(&key).is_none_or(|u| !u.busy(now))
                })
            })
            .unwrap_or((self.cursor + 1) % len);
        self.cursor = pick;
        let port = self.port(pick);
        self.by_port[pick].live += 1;
        self.by_tuple.entry((port, server, sport)).or_default().live += 1;
        port
    }

    /// The connection that took `port` ended at `end`; the port lingers
    /// until `until`.
    pub(crate) fn release(&mut self, port: u16, server: [u8; 4], sport: u16, end: i64, until: i64) {
        let Some(p) = port.checked_sub(self.lo).map(usize::from) else {
            return;
        };
        if let Some(u) = self.by_port.get_mut(p) {
            u.live = u.live.saturating_sub(1);
            u.until = u.until.max(until);
        }
        if let Some(u) = self.by_tuple.get_mut(&(port, server, sport)) {
            u.live = u.live.saturating_sub(1);
            u.until = u.until.max(until);
        }
        if self.by_tuple.len() >= self.purge_at {
            self.by_tuple.retain(|_, u| u.busy(end));
            self.purge_at = (self.by_tuple.len() * 2).max(MIN_PURGE);
        }
    }

    fn port(&self, index: usize) -> u16 {
        // index < len ≤ 65536 and lo + index ≤ hi.
        self.lo.saturating_add(index as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 4] = [192, 0, 2, 1];
    const B: [u8; 4] = [192, 0, 2, 2];

    #[test]
    fn avoid_list_is_sorted_and_in_range() {
        assert!(AVOID.windows(2).all(|w| w[0] < w[1]));
        assert!(AVOID.iter().all(|p| (1025..=5000).contains(p)));
    }

    #[test]
    fn skips_ports_wireshark_dissects() {
        let mut p = Ports::new(1078, 1082, 0);
        let got: Vec<u16> = (0..4).map(|i| p.take(i, A, 80)).collect();
        assert_eq!(got, [1078, 1079, 1081, 1082]);
    }

    #[test]
    fn counts_up_and_wraps() {
        let mut p = Ports::new(1025, 1027, 1);
        assert_eq!(p.take(0, A, 80), 1026);
        p.release(1026, A, 80, 1, 1);
        assert_eq!(p.take(10, A, 80), 1027);
        p.release(1027, A, 80, 11, 11);
        assert_eq!(p.take(20, A, 80), 1025);
        p.release(1025, A, 80, 21, 21);
        assert_eq!(p.take(30, A, 80), 1026);
    }

    #[test]
    fn skips_live_and_lingering_ports() {
        let mut p = Ports::new(1025, 1027, 0);
        assert_eq!(p.take(0, A, 80), 1025); // stays live
        assert_eq!(p.take(0, A, 80), 1026);
        p.release(1026, A, 80, 5, 100); // lingers until 100
        assert_eq!(p.take(10, A, 80), 1027);
        p.release(1027, A, 80, 12, 12);
        // 1025 live, 1026 lingering: 1027 again.
        assert_eq!(p.take(50, A, 80), 1027);
    }

    #[test]
    fn all_busy_reuses_only_for_other_endpoints() {
        let mut p = Ports::new(1025, 1026, 0);
        assert_eq!(p.take(0, A, 80), 1025);
        assert_eq!(p.take(0, A, 80), 1026);
        // Both ports live with A:80; a connection to B may share them.
        let q = p.take(1, B, 80);
        assert!(q == 1025 || q == 1026);
        // Same endpoint as a live connection on both ports: nothing free,
        // documented fallback (still no panic).
        let r = p.take(1, A, 80);
        assert!((1025..=1026).contains(&r));
    }
}
