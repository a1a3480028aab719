//! Tunnels: C&C (and stolen data) hidden in DNS names or ICMP payloads.
//!
//! - DNS: at least [`crate::ActivityConfig::tunnel_min_names`] distinct
//!   names under one parent domain carrying a long encoded label (at
//!   least `tunnel_min_label_len` characters of hex, base32 or base64
//!   with digits among the letters), or TXT/NULL queries of such names:
//!   a C&C channel. When the distinct encoded labels add up to
//!   `tunnel_exfil_min_bytes`, the tunnel also carries data out (exfil).
//! - ICMP: echo traffic between two hosts whose packets carry at least
//!   `icmp_tunnel_min_payload` bytes on average (a ping carries 32–64).

use rustc_hash::{FxHashMap, FxHashSet};

use super::{Ctx, HostView};
use crate::evidence::{Evidence, Threat};
use crate::url::site;
use crate::Class;

/// A label that looks like encoded data: long, only `[a-z0-9_-]`, digits
/// and letters mixed, no long vowel-free words.
pub(crate) fn encoded_label(l: &str, min: usize) -> bool {
    if l.len() < min.max(8) {
        return false;
    }
    let b = l.as_bytes();
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_' || *c == b'=')
    {
        return false;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.iter().filter(|c| c.is_ascii_alphabetic()).count();
    digits >= 2 && letters >= 2
}

struct Parent {
    names: FxHashSet<String>,
    bytes: u64,
    txt: u64,
    conns: Vec<usize>,
    first: botscope_event::Ts,
}

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    dns(cx, h, out);
    icmp(cx, h, out);
}

fn dns(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let cfg = cx.cfg;
    let mut parents: FxHashMap<String, Parent> = FxHashMap::default();
    for &i in &h.conns {
        for d in &cx.recs[i].dns_ev {
            let Some(q) = d.query.as_deref() else {
                continue;
            };
            let q = q.trim_end_matches('.').to_ascii_lowercase();
            let parent = site(&q).to_string();
            if parent == q || cx.background.name(&q).is_some() {
                continue;
            }
            let sub = &q[..q.len() - parent.len()];
            if !sub
                .split('.')
                .any(|l| encoded_label(l, cfg.tunnel_min_label_len))
            {
                continue;
            }
            let n = parents.len();
            let p = match parents.get_mut(&parent) {
                Some(p) => p,
                None if n < 4096 => parents.entry(parent).or_insert_with(|| Parent {
                    names: FxHashSet::default(),
                    bytes: 0,
                    txt: 0,
                    conns: Vec::new(),
                    first: d.meta.map_or(cx.recs[i].ts, |m| m.ts),
                }),
                None => continue,
            };
            if matches!(d.qtype, Some(16 | 10)) {
                p.txt += 1;
            }
            if p.names.len() < 1 << 16 && p.names.insert(q.clone()) {
                p.bytes += sub.len() as u64;
                if p.conns.last() != Some(&i) {
                    p.conns.push(i);
                }
            }
        }
    }
    let mut keys: Vec<String> = parents.keys().cloned().collect();
    keys.sort();
    for k in keys {
        let p = &parents[&k];
        let n = p.names.len();
        if n < 2 {
            continue;
        }
        let enough = n >= cfg.tunnel_min_names.max(1);
        let (t, c) = if enough {
            (Threat::High, 0.9)
        } else {
            (Threat::Low, 0.5)
        };
        let example = p.names.iter().min().cloned().unwrap_or_default();
        out.push(
            Evidence::new(h.ip, Class::C2, p.first, t, c)
                .text(format!(
                    "DNS tunnel: {n} distinct names under {k} with long encoded labels ({} TXT/NULL queries), e.g. {} (checked: label length and alphabet)",
                    p.txt,
                    super::cut(example, 120)
                ))
                .conns(p.conns.iter().copied())
                .ind(k.clone()),
        );
        if enough && p.bytes >= cfg.tunnel_exfil_min_bytes {
            out.push(
                Evidence::new(h.ip, Class::Exfil, p.first, Threat::High, 0.8)
                    .text(format!(
                        "DNS tunnel to {k}: {} bytes of encoded labels in {n} distinct names (data out in query names)",
                        p.bytes
                    ))
                    .ind(k),
            );
        }
    }
}

fn icmp(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let recs = cx.recs;
    // (bytes, packets, conns, bytes sent by h, bytes received by h,
    // first start and last end in µs)
    type Acc = (u64, u64, Vec<usize>, u64, u64, i64, i64);
    let mut peers: FxHashMap<std::net::IpAddr, Acc> = FxHashMap::default();
    for &i in h.conns.iter().chain(&h.inbound) {
        let r = &recs[i];
        if r.id.proto != botscope_event::Transport::Icmp {
            continue;
        }
        let peer = if r.id.orig_h == h.ip {
            r.id.resp_h
        } else {
            r.id.orig_h
        };
        if peers.len() >= 4096 && !peers.contains_key(&peer) {
            continue;
        }
        let e = peers.entry(peer).or_default();
        e.0 += r.orig_bytes + r.resp_bytes;
        e.1 += r.orig_pkts + r.resp_pkts;
        e.2.push(i);
        let (out_b, in_b) = if r.id.orig_h == h.ip {
            (r.orig_bytes, r.resp_bytes)
        } else {
            (r.resp_bytes, r.orig_bytes)
        };
        e.3 += out_b;
        e.4 += in_b;
        // The span the conversation covers (flows can overlap: their
        // durations do not add up).
        let (start, end) = (r.ts.0, r.ts.0.saturating_add(r.dur.max(0)));
        if e.2.len() == 1 {
            (e.5, e.6) = (start, end);
        } else {
            (e.5, e.6) = (e.5.min(start), e.6.max(end));
        }
    }
    let mut list: Vec<_> = peers.into_iter().collect();
    list.sort_by_key(|(ip, _)| *ip);
    for (peer, (bytes, pkts, conns, sent, got, first, last)) in list {
        let us = last.saturating_sub(first).max(1_000_000);
        // A conversation (payload both ways: requests and replies), at
        // a rate under a flood's, with big payloads.
        let rate = pkts as f64 / (us as f64 / 1e6);
        if pkts < 2
            || sent == 0
            || got == 0
            || rate >= cx.cfg.flood_min_pps
            || bytes / pkts < cx.cfg.icmp_tunnel_min_payload
        {
            continue;
        }
        let own: Vec<usize> = conns
            .iter()
            .copied()
            .filter(|&i| recs[i].id.orig_h == h.ip)
            .collect();
        out.push(
            Evidence::new(h.ip, Class::C2, recs[conns[0]].ts, Threat::High, 0.8)
                .text(format!(
                    "ICMP with {peer}: {pkts} packets carrying {} bytes each on average (a ping carries 32-64; checked: payload per packet)",
                    bytes / pkts
                ))
                .conns(own)
                .ind(peer.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use botscope_event::{ConnState, Transport};

    use super::encoded_label;
    use crate::detect::testkit::*;
    use crate::Class;

    #[test]
    fn many_encoded_names_under_one_parent_are_a_tunnel() {
        assert!(encoded_label("90d5bfee6ac842ab89fd4743f6a6cf8d", 20));
        assert!(!encoded_label("thisisaverylongwordwithoutdigits", 20));
        let (a, r) = (ip(192, 168, 100, 133), ip(192, 168, 100, 2));
        let cid = id(a, r, 53, Transport::Udp);
        let ev: Vec<_> = (0..40u64)
            .flat_map(|k| {
                dns(
                    k,
                    k as f64,
                    cid,
                    &format!("www.{k}.r.90d5bfee6ac842ab89fd4743f6a6c{k:03}.tunnel.example"),
                    28,
                    0,
                    &[],
                )
            })
            .collect();
        let c = classes(&network(&ev), a);
        assert!(c.contains(&Class::C2), "{c:?}");
    }

    #[test]
    fn big_icmp_payloads_are_a_tunnel_pings_are_not() {
        let (op, imp) = (ip(192, 168, 38, 131), ip(192, 168, 38, 172));
        let cid = id(op, imp, 8, Transport::Icmp);
        let ev = vec![conn(
            1,
            1.0,
            cid,
            ConnState::OTH,
            788 * 3,
            788 * 3,
            30.0,
            &[],
        )];
        let r = network(&ev);
        assert!(classes(&r, imp).contains(&Class::C2), "{r:?}");
        let ping = vec![conn(1, 1.0, cid, ConnState::OTH, 64, 64, 3.0, &[])];
        assert!(classes(&network(&ping), imp).is_empty());
    }
}
