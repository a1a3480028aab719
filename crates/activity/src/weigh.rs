//! The one place evidence becomes verdicts.
//!
//! For each host and class, the weights (`threat × confidence`) of its
//! evidence are added over a sliding window of
//! [`ActivityConfig::evidence_window_s`]; the best window's sum is the
//! class's score. At or over [`ActivityConfig::verdict_threshold`] it is
//! a verdict (an [`Activity`], with `confidence = min(1, score)`), under
//! it a [`Lead`]. Low-threat evidence alone never makes a verdict,
//! however much of it adds up: a verdict needs one item of medium
//! threat or more. Each connection takes the class of the verdicts naming
//! it, the first in [`Class::PRIORITY`] order; a verdict whose
//! connections all went to others is still listed (a small activity is
//! never hidden by a big one).

use std::collections::hash_map::Entry;
use std::net::IpAddr;

use botscope_event::Ts;
use rustc_hash::FxHashMap;

use crate::detect::{ConnRec, MAX_PEER_KEYS};
use crate::evidence::{Evidence, Threat};
use crate::{Activity, ActivityConfig, Class, ConnVerdict, HostReport, Lead};

/// The best window's sum of weights of `ev` (sorted by time inside).
pub(crate) fn score(ev: &[&Evidence], window_s: f64) -> f64 {
    let mut pts: Vec<(i64, f64)> = ev.iter().map(|e| (e.ts.0, e.weight())).collect();
    pts.sort_by_key(|p| p.0);
    let w = (window_s.max(0.0) * 1e6) as i64;
    let (mut best, mut sum, mut lo) = (0.0f64, 0.0f64, 0usize);
    for hi in 0..pts.len() {
        sum += pts[hi].1;
        while pts[hi].0.saturating_sub(pts[lo].0) > w {
            sum -= pts[lo].1;
            lo += 1;
        }
        best = best.max(sum);
    }
    best
}

#[derive(Default)]
struct Acc {
    connections: u64,
    requests: u64,
    bytes: u64,
    first: Option<Ts>,
    last: Option<Ts>,
    peers: FxHashMap<String, u64>,
}

/// Weigh the evidence of one host: its report, and the class of each of
/// its connections (`own`: the connections it originated).
pub(crate) fn host(
    ip: IpAddr,
    recs: &[ConnRec<'_>],
    own: &[usize],
    evidence: &[Evidence],
    cfg: &ActivityConfig,
    verdicts: &mut Vec<ConnVerdict>,
) -> HostReport {
    let mut by_class: FxHashMap<Class, Vec<&Evidence>> = FxHashMap::default();
    for e in evidence {
        by_class.entry(e.class).or_default().push(e);
    }
    let mut scores: Vec<(Class, f64)> = by_class
        .iter()
        .map(|(c, v)| (*c, score(v, cfg.evidence_window_s)))
        .collect();
    scores.sort_by_key(|(c, _)| Class::PRIORITY.iter().position(|p| p == c));
    // Low-threat evidence is a lead however much of it there is: a
    // verdict needs at least one item of medium threat or more.
    let verdict = |c: Class| {
        scores
            .iter()
            .any(|(k, s)| *k == c && *s >= cfg.verdict_threshold && *s > 0.0)
            && by_class[&c].iter().any(|e| e.threat >= Threat::Medium)
    };
    // Each own connection: the first verdict class (by priority) naming
    // it in evidence of medium threat or more (a low-threat item beside a
    // verdict is still a lead: it does not label its connections).
    let mut label: FxHashMap<usize, Class> = FxHashMap::default();
    for (c, _) in &scores {
        if !verdict(*c) {
            continue;
        }
        for e in by_class[c].iter().filter(|e| e.threat >= Threat::Medium) {
            for &i in &e.conns {
                label.entry(i).or_insert(*c);
            }
        }
    }
    let mut acc: FxHashMap<Class, Acc> = FxHashMap::default();
    for &i in own {
        let r = &recs[i];
        let class = label.get(&i).copied().unwrap_or(Class::Benign);
        verdicts.push(ConnVerdict {
            uid: r.uid,
            id: r.id,
            ts: r.ts,
            class,
            is_dns: r.is_dns(),
        });
        let a = acc.entry(class).or_default();
        a.connections += 1;
        a.requests += r.requests();
        a.bytes = a.bytes.saturating_add(r.bytes);
        a.first = Some(a.first.map_or(r.ts, |f| f.min(r.ts)));
        a.last = Some(a.last.map_or(r.ts, |l| l.max(r.ts)));
        let peer = match class {
            Class::Flood => r.id.resp_h.to_string(),
            Class::C2 | Class::Scan | Class::Spam | Class::Exfil => {
                format!("{}:{}", r.id.resp_h, r.id.resp_p)
            }
            _ => r.peer(),
        };
        let n = a.peers.len();
        match a.peers.entry(peer) {
            Entry::Occupied(mut e) => *e.get_mut() += 1,
            Entry::Vacant(e) => {
                if n < MAX_PEER_KEYS {
                    e.insert(1);
                }
            }
        }
    }
    let total = own.len().max(1) as f64;
    let mut activities = Vec::new();
    let mut leads = Vec::new();
    for (class, s) in &scores {
        let ev = &by_class[class];
        let (texts, indicators) = texts(ev, cfg.max_evidence);
        let first = ev.iter().map(|e| e.ts).min().unwrap_or_default();
        if !verdict(*class) {
            if *s > 0.0 {
                leads.push(Lead {
                    class: *class,
                    score: *s,
                    first,
                    evidence: texts,
                    indicators,
                });
            }
            continue;
        }
        let a = acc.remove(class).unwrap_or_default();
        activities.push(activity(
            *class,
            a,
            total,
            cfg,
            texts,
            indicators,
            s.min(1.0),
            *s,
            first,
        ));
    }
    if let Some(a) = acc.remove(&Class::Benign) {
        activities.push(activity(
            Class::Benign,
            a,
            total,
            cfg,
            vec!["no detector fired".to_string()],
            Vec::new(),
            0.0,
            0.0,
            Ts::default(),
        ));
    }
    activities.sort_by(|x, y| {
        y.connections
            .cmp(&x.connections)
            .then(x.class.cmp(&y.class))
    });
    leads.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.class.cmp(&y.class)));
    HostReport {
        host: ip,
        activities,
        leads,
    }
}

/// The sentences (heaviest first, capped) and indicators of `ev`.
fn texts(ev: &[&Evidence], cap: usize) -> (Vec<String>, Vec<String>) {
    let mut order: Vec<&&Evidence> = ev.iter().collect();
    // Summaries (info) first, then the heaviest, then by time.
    order.sort_by(|a, b| {
        let ka = a.threat == crate::Threat::Info;
        let kb = b.threat == crate::Threat::Info;
        kb.cmp(&ka)
            .then(b.weight().total_cmp(&a.weight()))
            .then(a.ts.cmp(&b.ts))
    });
    let mut texts = Vec::new();
    let mut inds: Vec<String> = Vec::new();
    for e in order {
        if texts.len() < cap && !e.text.is_empty() && !texts.contains(&e.text) {
            texts.push(e.text.clone());
        }
        for i in &e.indicators {
            if inds.len() < 4 * MAX_PEER_KEYS.min(64) && !inds.contains(i) {
                inds.push(i.clone());
            }
        }
    }
    (texts, inds)
}

#[allow(clippy::too_many_arguments)]
fn activity(
    class: Class,
    a: Acc,
    total: f64,
    cfg: &ActivityConfig,
    evidence: Vec<String>,
    indicators: Vec<String>,
    confidence: f64,
    score: f64,
    first_ev: Ts,
) -> Activity {
    let mut peers: Vec<(String, u64)> = a.peers.into_iter().collect();
    peers.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    peers.truncate(cfg.max_peers);
    let mut evidence = evidence;
    evidence.truncate(cfg.max_evidence);
    Activity {
        class,
        connections: a.connections,
        requests: a.requests,
        bytes: a.bytes,
        share: a.connections as f64 / total,
        first: a.first.unwrap_or(first_ev),
        last: a.last.unwrap_or(first_ev),
        peers: peers.into_iter().map(|p| p.0).collect(),
        evidence,
        indicators,
        confidence,
        score,
    }
}

#[cfg(test)]
mod tests {
    use botscope_event::Ts;

    use super::score;
    use crate::detect::testkit::ip;
    use crate::evidence::{Evidence, Threat};
    use crate::Class;

    #[test]
    fn weights_add_up_inside_the_window_only() {
        let h = ip(10, 0, 0, 1);
        let e = |s: i64| Evidence::new(h, Class::C2, Ts(s * 1_000_000), Threat::Medium, 0.4);
        let close = [e(0), e(10), e(20)];
        let refs: Vec<_> = close.iter().collect();
        assert!((score(&refs, 3600.0) - 0.6).abs() < 1e-9);
        let apart = [e(0), e(10_000), e(20_000)];
        let refs: Vec<_> = apart.iter().collect();
        assert!((score(&refs, 3600.0) - 0.2).abs() < 1e-9);
    }
}
