//! **scan**: failed TCP/UDP connections (`S0`, `REJ`, `RSTOS0`, or
//! `RSTO`/`RSTR`/`SH`/`OTH` without payload) to at least
//! [`crate::ActivityConfig::scan_min_targets`] distinct destinations.
//! Only TCP and UDP: ICMP types are not ports. Multicast and broadcast
//! addresses are never targets.
//!
//! Also: a web path scan, at least `scan_min_targets` distinct paths
//! requested from one server, most answered with an error (probing for
//! webshells and admin pages); and, in a sandbox, failed connections to
//! the same port of at least 3 local addresses (lateral movement
//! looking for a service), or SMB/NetBIOS session attempts (ports 445
//! and 139, one service) to at least 2 local addresses with at least 2
//! of them failing: worms that spread over SMB (Conficker, WannaCry,
//! NotPetya) try every neighbour, and a sandboxed guest has no file
//! server of its own to talk to.

use std::net::IpAddr;

use botscope_event::Transport;
use rustc_hash::FxHashSet;

use super::{is_failed, is_group, Ctx, HostView};
use crate::evidence::{Evidence, Threat};
use crate::Class;

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    ports(cx, h, out);
    paths(cx, h, out);
    lateral(cx, h, out);
}

fn paths(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let recs = cx.recs;
    // server -> (paths, errors, conns)
    let mut servers: rustc_hash::FxHashMap<String, (FxHashSet<String>, usize, Vec<usize>, IpAddr)> =
        Default::default();
    for &i in &h.conns {
        let r = &recs[i];
        for x in &r.http {
            let s = super::http_host(r, x);
            if servers.len() >= 4096 && !servers.contains_key(&s) {
                continue;
            }
            let e = servers
                .entry(s)
                .or_insert_with(|| (FxHashSet::default(), 0, Vec::new(), r.id.resp_h));
            let path = x
                .uri
                .as_deref()
                .unwrap_or("/")
                .split('?')
                .next()
                .unwrap_or("/")
                .to_string();
            if e.0.len() < 1 << 14 {
                e.0.insert(path);
            }
            e.1 += usize::from(x.status_code.is_some_and(|c| c >= 400));
            if e.2.last() != Some(&i) {
                e.2.push(i);
            }
        }
    }
    let need = cx.cfg.scan_min_targets.max(1);
    let mut list: Vec<_> = servers
        .into_iter()
        .filter(|(_, v)| v.0.len() >= need && v.1 * 2 >= v.0.len())
        .collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    for (server, (paths, errors, conns, ip)) in list {
        let mut sample: Vec<&String> = paths.iter().collect();
        sample.sort();
        out.push(
            Evidence::new(h.ip, Class::Scan, recs[conns[0]].ts, Threat::High, 0.8)
                .text(format!(
                    "web path scan of {server}: {} distinct paths, {errors} answered with an error, e.g. {}",
                    paths.len(),
                    sample.iter().take(4).map(|s| super::cut(s.to_string(), 60)).collect::<Vec<_>>().join(", ")
                ))
                .conns(conns)
                .ind(server)
                .ind(ip.to_string()),
        );
    }
}

fn lateral(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    if !cx.sandboxed(h.ip) {
        return;
    }
    let recs = cx.recs;
    let mut by_port: rustc_hash::FxHashMap<u16, (FxHashSet<IpAddr>, Vec<usize>)> =
        Default::default();
    for &i in &h.conns {
        let r = &recs[i];
        if matches!(r.id.proto, Transport::Tcp)
            && super::is_local(r.id.resp_h)
            && !is_group(r.id.resp_h)
            && is_failed(r)
            && by_port.len() < 4096
        {
            let e = by_port.entry(r.id.resp_p).or_default();
            e.0.insert(r.id.resp_h);
            e.1.push(i);
        }
    }
    // SMB and NetBIOS session service as one: (addresses tried, failed
    // attempts, conns), successful sessions included (a worm's attempts
    // that a neighbour answered).
    let mut smb: (FxHashSet<IpAddr>, usize, Vec<usize>) = Default::default();
    for &i in &h.conns {
        let r = &recs[i];
        if matches!(r.id.proto, Transport::Tcp)
            && matches!(r.id.resp_p, 445 | 139)
            && super::is_local(r.id.resp_h)
            && !is_group(r.id.resp_h)
            && r.id.resp_h != h.ip
            && smb.2.len() < 1 << 16
        {
            smb.0.insert(r.id.resp_h);
            smb.1 += usize::from(is_failed(r));
            smb.2.push(i);
        }
    }
    let smb_ports_scanned = smb.0.len() >= 2 && smb.1 >= 2;
    let mut list: Vec<_> = by_port
        .into_iter()
        .filter(|(p, v)| v.0.len() >= 3 && !(smb_ports_scanned && matches!(p, 445 | 139)))
        .collect();
    if smb_ports_scanned {
        let (addrs, failed, conns) = smb;
        let mut a: Vec<_> = addrs.into_iter().collect();
        a.sort();
        let mut e = Evidence::new(h.ip, Class::Scan, recs[conns[0]].ts, Threat::High, 0.8)
            .text(format!(
                "SMB/NetBIOS session attempts (ports 445, 139) to {} local addresses from the sandboxed host, {failed} of {} failed (a worm looking for neighbours to spread to)",
                a.len(),
                conns.len()
            ))
            .conns(conns);
        for ip in a.into_iter().take(16) {
            e = e.ind(ip.to_string());
        }
        out.push(e);
    }
    list.sort_by_key(|p| p.0);
    for (port, (addrs, conns)) in list {
        out.push(
            Evidence::new(h.ip, Class::Scan, recs[conns[0]].ts, Threat::High, 0.8)
                .text(format!(
                    "{} failed connections to port {port} of {} local addresses from the sandboxed host (lateral movement looking for a service)",
                    conns.len(),
                    addrs.len()
                ))
                .conns(conns),
        );
    }
}

fn ports(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
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

    #[test]
    fn smb_attempts_to_two_neighbours_from_a_sandbox_are_a_scan() {
        let a = ip(192, 168, 56, 102);
        let smb = |uid: u64, secs: f64, d: u8, port: u16, st: ConnState, ob: u64| {
            conn(
                uid,
                secs,
                id(a, ip(192, 168, 56, d), port, Transport::Tcp),
                st,
                ob,
                ob,
                1.0,
                &[],
            )
        };
        let ev = vec![
            smb(1, 0.0, 1, 445, ConnState::REJ, 0),
            smb(2, 1.0, 1, 445, ConnState::REJ, 0),
            smb(3, 2.0, 1, 139, ConnState::REJ, 0),
            smb(4, 0.5, 101, 445, ConnState::SF, 5000),
        ];
        assert!(classes(&sandbox(&ev, a), a).contains(&Class::Scan));
        // On a network, or with one neighbour only, or without failures:
        // no scan.
        assert!(!classes(&network(&ev), a).contains(&Class::Scan));
        let one: Vec<_> = ev[..3].to_vec();
        assert!(!classes(&sandbox(&one, a), a).contains(&Class::Scan));
        let ok = vec![
            smb(1, 0.0, 1, 445, ConnState::SF, 900),
            smb(4, 0.5, 101, 445, ConnState::SF, 5000),
        ];
        assert!(!classes(&sandbox(&ok, a), a).contains(&Class::Scan));
    }
}
