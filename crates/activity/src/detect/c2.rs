//! **C&C**: check-ins of a bot with its controller.
//!
//! - Beacons: per host and server (address, port), at least
//!   [`ActivityConfig::c2_min_connections`] connections that score as a
//!   beacon ([`crate::beacon`]: score ≥ `c2_min_score`, timing score ≥
//!   `c2_min_timing`, mean interval ≥ `c2_min_interval_s`) or that poll
//!   with opaque data (binary POST bodies, long hex/base64 queries).
//! - A silent C&C retried: at least `c2_min_failed_attempts` unanswered
//!   tries to one server port with beacon timing.
//! - IRC sessions that `JOIN` a channel and exchange `PRIVMSG`; on
//!   flow-only input, an established TCP session to an IRC port lasting
//!   at least `c2_irc_min_duration_s` at no more than `c2_irc_max_rate`.
//!
//! SMTP and DNS connections are never C&C candidates here.

use std::net::IpAddr;

use botscope_event::{Http, Transport};
use rustc_hash::FxHashMap;

use super::{is_failed, Ctx, HostView};
use crate::beacon;
use crate::evidence::{Evidence, Threat};
use crate::{ActivityConfig, Class};

/// A request carrying opaque data: a binary body or a long encoded query.
pub(crate) fn opaque_request(x: &Http, cfg: &ActivityConfig) -> bool {
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

type Key = (IpAddr, u16, Transport);

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    beacons(cx, h, out);
    irc(cx, h, out);
}

fn beacons(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let (recs, cfg) = (cx.recs, cx.cfg);
    let mut groups: FxHashMap<Key, Vec<usize>> = FxHashMap::default();
    let mut failed: FxHashMap<Key, Vec<usize>> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        let mail = cfg.spam_ports.contains(&r.id.resp_p) && (r.smtp_service || !r.smtp.is_empty());
        // ICMP has no ports (its tunnels are in `tunnel`).
        if r.is_dns() || mail || !matches!(r.id.proto, Transport::Tcp | Transport::Udp) {
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
        out.push(
            Evidence::new(h.ip, Class::C2, recs[g[0]].ts, Threat::High, 0.8)
                .text(format!(
                    "{}:{} {} unanswered attempts: interval mean {:.1}s stddev {:.1}s, timing score {:.2} (retrying a silent C&C; checked: one target, regular timing)",
                    key.0, key.1, g.len(), b.interval_mean, b.interval_stddev, b.timing,
                ))
                .conns(g.iter().copied())
                .ind(key.0.to_string()),
        );
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
        let polling =
            opaque >= cfg.c2_min_opaque_requests && b.interval_mean >= cfg.c2_min_interval_s;
        if !(beaconing || polling) {
            continue;
        }
        let name = g
            .iter()
            .find_map(|&i| recs[i].http.iter().find_map(|x| x.host.clone()));
        let mut e = Evidence::new(h.ip, Class::C2, recs[g[0]].ts, Threat::High, 0.9)
            .text(format!(
                "{}:{}{} {} connections: interval mean {:.1}s stddev {:.1}s, timing {:.2} size {:.2} beacon score {:.2}{}; {opaque} requests with opaque data",
                key.0,
                key.1,
                name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default(),
                g.len(),
                b.interval_mean,
                b.interval_stddev,
                b.timing,
                b.size,
                b.score,
                if beaconing { " (beacon)" } else { "" },
            ))
            .conns(g.iter().copied())
            .ind(key.0.to_string());
        if let Some(n) = name {
            e = e.ind(crate::url::host_only(&n));
        }
        out.push(e);
    }
}

fn irc(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let (recs, cfg) = (cx.recs, cx.cfg);
    for &i in &h.conns {
        let r = &recs[i];
        let cmd = |c: &str| {
            r.irc.iter().any(|x| {
                x.command
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(c))
            })
        };
        if cmd("JOIN") && (cmd("PRIVMSG") || cmd("TOPIC")) {
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
            out.push(
                Evidence::new(h.ip, Class::C2, r.ts, Threat::High, 0.9)
                    .text(format!(
                        "IRC {rh}:{rp} JOIN {chan} with PRIVMSG/TOPIC (a channel of orders)"
                    ))
                    .conns([i])
                    .ind(rh.to_string()),
            );
            continue;
        }
        // Flow-only IRC sessions: no decoded commands, but a long, slow,
        // established session to an IRC server port.
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
        if secs < cfg.c2_irc_min_duration_s || rate > cfg.c2_irc_max_rate {
            continue;
        }
        let (rh, rp, sent, got) = (r.id.resp_h, r.id.resp_p, r.orig_bytes, r.resp_bytes);
        out.push(
            Evidence::new(h.ip, Class::C2, r.ts, Threat::High, 0.8)
                .text(format!(
                    "IRC session {rh}:{rp} (flow only): {secs:.0}s established, {sent} bytes sent, {got} received, {rate:.0} bytes/s (a bot logged in, waiting for orders)"
                ))
                .conns([i])
                .ind(rh.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use botscope_event::{ConnState, Http, Transport};

    use crate::detect::testkit::*;
    use crate::Class;

    #[test]
    fn regular_check_ins_are_c2_irregular_ones_are_not() {
        let (a, s) = (ip(10, 0, 0, 3), ip(203, 0, 113, 50));
        let cid = id(a, s, 8080, Transport::Tcp);
        let ev: Vec<_> = (0..8)
            .map(|k| conn(k, 60.0 * k as f64, cid, ConnState::SF, 300, 120, 0.4, &[]))
            .collect();
        assert_eq!(classes(&network(&ev), a), vec![Class::C2]);
        let ev: Vec<_> = (0..8u64)
            .map(|k| {
                conn(
                    k,
                    (1u64 << k) as f64 * 3.0,
                    cid,
                    ConnState::SF,
                    300 * (k + 1),
                    9000 / (k + 1),
                    0.4,
                    &[],
                )
            })
            .collect();
        assert!(classes(&network(&ev), a).is_empty());
    }

    #[test]
    fn unanswered_retries_to_one_port_are_c2() {
        let (a, s) = (ip(10, 0, 0, 3), ip(203, 0, 113, 51));
        let cid = id(a, s, 1177, Transport::Tcp);
        let ev: Vec<_> = (0..12)
            .map(|k| conn(k, 11.6 * k as f64, cid, ConnState::S0, 0, 0, 0.0, &[]))
            .collect();
        assert_eq!(classes(&network(&ev), a), vec![Class::C2]);
    }

    #[test]
    fn opaque_polls_are_c2() {
        let (a, s) = (ip(10, 0, 0, 3), ip(203, 0, 113, 52));
        let cid = id(a, s, 80, Transport::Tcp);
        let mut ev = Vec::new();
        for k in 0..5u64 {
            ev.extend(http(
                k,
                30.0 * k as f64 * (1.0 + k as f64),
                cid,
                Http {
                    method: Some("POST".into()),
                    host: Some("panel.example".into()),
                    uri: Some("/gate.php".into()),
                    request_body_len: 64,
                    req_body_prefix: (0..64u8).map(|b| b.wrapping_mul(37) | 0x80).collect(),
                    ..Default::default()
                },
            ));
        }
        assert_eq!(classes(&network(&ev), a), vec![Class::C2]);
    }
}
