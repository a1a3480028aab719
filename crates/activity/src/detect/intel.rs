//! Threat intelligence: the host contacted an address, looked up or
//! named a domain, requested a URL, received a file or showed a TLS
//! fingerprint that a loaded feed ([`crate::intel::Intel`]) lists.
//!
//! One evidence item per listed entry and observed value: threat high,
//! confidence 0.9 (a feed can be stale or list a shared host; one match
//! is still a verdict at the default threshold), class as the feed says
//! ([`crate::intel::Entry::class_or_default`]), the sentence naming the
//! feed and the entry.

use std::collections::BTreeMap;

use crate::evidence::{Evidence, Threat};
use crate::intel::sentence;

use super::{Ctx, HostView};

/// Confidence of one feed match.
const CONFIDENCE: f64 = 0.9;

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let Some(intel) = cx.intel.filter(|i| !i.is_empty()) else {
        return;
    };
    // (entry, observed, where) → connections
    let mut hits: BTreeMap<(usize, String, &'static str), Vec<usize>> = BTreeMap::new();
    for &i in &h.conns {
        let r = &cx.recs[i];
        let mut add = |e: usize, observed: String, seen: &'static str| {
            let v = hits.entry((e, observed, seen)).or_default();
            if v.last() != Some(&i) {
                v.push(i);
            }
        };
        if let Some(e) = intel.ip_idx(r.id.resp_h) {
            add(e, r.id.resp_h.to_string(), "connection");
        }
        for d in &r.dns_ev {
            intel.dns_hits(d, &mut add);
        }
        for x in &r.http {
            intel.http_hits(x, &mut add);
        }
        for s in &r.ssl {
            intel.ssl_hits(s, &mut add);
        }
    }
    for ((e, observed, seen), conns) in hits {
        let Some(entry) = intel.entries().get(e) else {
            continue;
        };
        let feed = intel.feed_of(entry);
        let ts = conns
            .iter()
            .map(|&i| cx.recs[i].ts)
            .min()
            .unwrap_or_default();
        let text = sentence(
            entry.kind,
            &observed,
            seen,
            conns.len() as u64,
            &entry.value,
            &feed.name,
            &entry.origin,
            entry.threat.as_deref(),
        );
        out.push(
            Evidence::new(h.ip, entry.class_or_default(), ts, Threat::High, CONFIDENCE)
                .text(text)
                .ind(observed)
                .ind(entry.value.clone())
                .conns(conns),
        );
    }
}

#[cfg(test)]
mod tests {
    use botscope_event::{Conn, ConnId, ConnState, Event, Http, Meta, Transport, Ts, Uid};

    use crate::intel::Intel;
    use crate::{analyze_with_intel, ActivityConfig, Capture, Class};

    fn conn(uid: u64, resp: &str, t: i64) -> Event {
        Event::Conn(Conn {
            meta: meta(uid, resp, t),
            service: vec![botscope_event::Service::HTTP],
            duration: None,
            orig_bytes: Some(100),
            resp_bytes: Some(1000),
            conn_state: ConnState::SF,
            local_orig: None,
            local_resp: None,
            missed_bytes: 0,
            history: "ShADadFf".into(),
            orig_pkts: 5,
            orig_ip_bytes: 400,
            resp_pkts: 5,
            resp_ip_bytes: 1300,
            ip_proto: 6,
            tunnel_parents: Vec::new(),
        })
    }

    fn meta(uid: u64, resp: &str, t: i64) -> Meta {
        Meta {
            ts: Ts(t * 1_000_000),
            uid: Uid(uid),
            id: ConnId {
                orig_h: "10.1.1.1".parse().unwrap(),
                orig_p: 50000 + uid as u16,
                resp_h: resp.parse().unwrap(),
                resp_p: 80,
                proto: Transport::Tcp,
            },
        }
    }

    #[test]
    fn a_listed_server_is_a_verdict_naming_the_feed_and_nothing_without_intel() {
        let events = vec![
            conn(1, "192.0.2.80", 10),
            Event::Http(Http {
                meta: Some(meta(1, "192.0.2.80", 10)),
                method: Some("GET".into()),
                host: Some("www.example.org".into()),
                uri: Some("/".into()),
                status_code: Some(200),
                ..Http::default()
            }),
            conn(2, "192.0.2.81", 20),
        ];
        let cfg = ActivityConfig::default();
        let plain = analyze_with_intel(&events, &cfg, &Capture::Network, None);
        assert!(plain.hosts[0].activity(Class::C2).is_none());
        let mut intel = Intel::new();
        let text = b"# Feodo Tracker Botnet C2 IP Blocklist\n192.0.2.80\n";
        intel.load_bytes("feodo.txt", text).unwrap();
        let a = analyze_with_intel(&events, &cfg, &Capture::Network, Some(&intel));
        let c2 = a.hosts[0].activity(Class::C2).expect("c2 verdict");
        assert_eq!(c2.connections, 1);
        assert!(c2.confidence >= 0.7, "{c2:?}");
        assert!(
            c2.evidence.iter().any(|e| e
                == "threat intel: ip 192.0.2.80 in connection ×1 is listed by feodo.txt line 2"),
            "{:?}",
            c2.evidence
        );
        assert!(c2.indicators.contains(&"192.0.2.80".to_string()));
        // A listed host name: its subdomain matches, the class is the
        // feed's default (c2), the other connection stays benign.
        let mut intel = Intel::new();
        intel.load_bytes("mine.txt", b"example.org\n").unwrap();
        let a = analyze_with_intel(&events, &cfg, &Capture::Network, Some(&intel));
        let c2 = a.hosts[0].activity(Class::C2).expect("c2 verdict");
        assert!(c2.evidence[0].contains("domain www.example.org in http host ×1 is listed by mine.txt line 1, listed as example.org"), "{:?}", c2.evidence);
        let benign = a.hosts[0].activity(Class::Benign).expect("benign");
        assert_eq!(benign.connections, 1);
    }
}
