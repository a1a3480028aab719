//! **scan**: failed TCP/UDP connections (`S0`, `REJ`, `RSTOS0`, or
//! `RSTO`/`RSTR`/`SH`/`OTH` without payload) to at least
//! [`crate::ActivityConfig::scan_min_targets`] distinct destinations.
//! Only TCP and UDP: ICMP types are not ports. Multicast and broadcast
//! addresses are never targets.

use std::net::IpAddr;

use botscope_event::Transport;
use rustc_hash::FxHashSet;

use super::{is_failed, is_group, Ctx, HostView};
use crate::evidence::{Evidence, Threat};
use crate::Class;

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let recs = cx.recs;
    let cands: Vec<usize> = h
        .conns
        .iter()
        .copied()
        .filter(|&i| {
            let r = &recs[i];
            matches!(r.id.proto, Transport::Tcp | Transport::Udp)
                && !r.is_dns()
                && !is_group(r.id.resp_h)
                && is_failed(r)
        })
        .collect();
    let mut targets: FxHashSet<(IpAddr, u16)> = FxHashSet::default();
    let mut ports: FxHashSet<u16> = FxHashSet::default();
    let mut addrs: FxHashSet<IpAddr> = FxHashSet::default();
    for &i in &cands {
        let id = recs[i].id;
        targets.insert((id.resp_h, id.resp_p));
        ports.insert(id.resp_p);
        addrs.insert(id.resp_h);
    }
    if targets.len() < cx.cfg.scan_min_targets.max(1) {
        return;
    }
    let (n, t, a, p) = (cands.len(), targets.len(), addrs.len(), ports.len());
    let mut top_ports: Vec<u16> = ports.into_iter().collect();
    top_ports.sort_unstable();
    top_ports.truncate(5);
    let mut e = Evidence::new(h.ip, Class::Scan, recs[cands[0]].ts, Threat::High, 0.9)
        .text(format!(
            "{n} failed connections to {t} destinations ({a} addresses, {p} ports, e.g. {top_ports:?}; checked: TCP/UDP only, no multicast or broadcast target)"
        ))
        .conns(cands.iter().copied());
    let mut sample: Vec<IpAddr> = addrs.into_iter().collect();
    sample.sort();
    for x in sample.into_iter().take(8) {
        e = e.ind(x.to_string());
    }
    out.push(e);
}

#[cfg(test)]
mod tests {
    use botscope_event::{ConnState, Transport};

    use crate::detect::testkit::*;
    use crate::Class;

    #[test]
    fn many_failed_destinations_are_a_scan_groups_and_icmp_are_not() {
        let a = ip(10, 0, 0, 4);
        let ev: Vec<_> = (0..30u8)
            .map(|k| {
                conn(
                    k.into(),
                    k as f64 * 0.1,
                    id(a, ip(198, 51, 100, k), 23, Transport::Tcp),
                    ConnState::S0,
                    0,
                    0,
                    0.0,
                    &[],
                )
            })
            .collect();
        assert_eq!(classes(&network(&ev), a), vec![Class::Scan]);
        // IGMP/mDNS-like traffic to groups and ICMP "ports" are no scan.
        let ev: Vec<_> = (0..30u8)
            .map(|k| {
                conn(
                    k.into(),
                    k as f64,
                    id(a, ip(224, 0, 0, k), 5353, Transport::Udp),
                    ConnState::S0,
                    0,
                    0,
                    0.0,
                    &[],
                )
            })
            .chain((0..30u8).map(|k| {
                conn(
                    100 + u64::from(k),
                    k as f64,
                    id(a, ip(198, 51, 100, 1), u16::from(k), Transport::Icmp),
                    ConnState::OTH,
                    0,
                    0,
                    0.0,
                    &[],
                )
            }))
            .collect();
        assert!(!classes(&network(&ev), a).contains(&Class::Scan));
    }
}
