//! **flood** (denial of service): traffic from a host to one target
//! address that is not a conversation (ICMP, UDP flows answered with
//! under `flood_max_answer_ratio` of the bytes sent, TCP connections that
//! never carried payload, as in a SYN flood) at `flood_min_pps` packets
//! per second or more over at least one window of `flood_window_s`
//! seconds (a flow's packets are spread evenly over its duration).
//! Multicast and broadcast addresses are never targets.

use std::collections::hash_map::Entry;
use std::net::IpAddr;

use botscope_event::Transport;
use rustc_hash::{FxHashMap, FxHashSet};

use super::{is_failed, is_group, Ctx, HostView, MAX_PEER_KEYS};
use crate::evidence::{Evidence, Threat};
use crate::Class;

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

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    /// Windows one flow's packets are spread over, at most (a longer flow
    /// contributes its even share to the first ones only: a flood shows
    /// in its first minutes).
    const MAX_SPREAD: i64 = 64;
    /// Window counters one host may hold over all its targets; past it,
    /// packets in windows not yet counted are ignored. Bounds work and
    /// memory under hostile flow records.
    const MAX_WINDOWS: usize = 1 << 20;
    let (recs, cfg) = (cx.recs, cx.cfg);
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
    let mut targets: FxHashMap<IpAddr, Target> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        let sent = r.sent_pkts();
        if r.is_dns() || sent < 1.0 || is_group(r.id.resp_h) {
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
            pkts += recs[i].sent_pkts();
            bytes = bytes.saturating_add(recs[i].orig_bytes);
        }
        let n = conns.len();
        let secs = cfg.flood_window_s;
        out.push(
            Evidence::new(h.ip, Class::Flood, recs[conns[0]].ts, Threat::High, 0.9)
                .text(format!(
                    "{t}: {n} one-way flows, {pkts:.0} packets, {bytes} bytes sent; peak {:.0} packets/s over {secs:.0}s, {flooded} windows at {:.0}+ packets/s",
                    peak / secs,
                    cfg.flood_min_pps
                ))
                .conns(conns.iter().copied())
                .ind(t.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use botscope_event::{ConnState, Transport};

    use crate::detect::testkit::*;
    use crate::Class;

    #[test]
    fn fast_icmp_to_one_target_is_a_flood_a_ping_is_not() {
        let (a, t) = (ip(10, 0, 0, 2), ip(198, 51, 100, 69));
        let cid = id(a, t, 8, Transport::Icmp);
        let mut flood = Vec::new();
        for k in 0..30u64 {
            if let botscope_event::Event::Conn(mut c) =
                conn(k, k as f64 * 0.5, cid, ConnState::OTH, 64_000, 0, 0.5, &[])
            {
                c.orig_pkts = 1000;
                flood.push(botscope_event::Event::Conn(c));
            }
        }
        assert_eq!(classes(&network(&flood), a), vec![Class::Flood]);
        let ping: Vec<_> = (0..30u64)
            .map(|k| conn(k, k as f64, cid, ConnState::OTH, 64, 64, 0.0, &[]))
            .collect();
        assert!(classes(&network(&ping), a).is_empty());
    }
}
