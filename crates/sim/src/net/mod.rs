//! Packet rendering: a [`SandboxDay`] plan becomes a valid pcap.
//! (Being written; this placeholder keeps the workspace building.)

use crate::plan::{SandboxDay, TruthConn};

/// Render `day` as a classic pcap (Ethernet, microseconds) into `out`;
/// returns one truth row per connection.
pub fn render_pcap(day: &SandboxDay, out: &mut Vec<u8>) -> Vec<TruthConn> {
    let _ = day;
    out.clear();
    Vec::new()
}
