//! Odd event content never panics, and lists stay capped.

use std::net::{IpAddr, Ipv4Addr};

use botscope_activity::{analyze, ActivityConfig, Class};
use botscope_event::{ConnId, Event, Http, Meta, Transport, Ts, Uid};

#[test]
fn hostile_http_fields_and_caps() {
    let weird = [
        "",
        "-",
        "://",
        "http://",
        "http://[",
        "http://a:b:c@/",
        "ééé://ü/",
        "https://x",
        "http://@@@",
        "..",
        "http://.",
    ];
    let mut events = Vec::new();
    for i in 0..500u64 {
        let id = ConnId {
            orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            orig_p: 1024 + i as u16,
            resp_h: IpAddr::V4(Ipv4Addr::new(198, 51, 100, (i % 250) as u8)),
            resp_p: 80,
            proto: Transport::Tcp,
        };
        let r = weird[i as usize % weird.len()];
        events.push(Event::Http(Http {
            meta: Some(Meta {
                ts: Ts(i as i64 * 1_000_000),
                uid: Uid(i),
                id,
            }),
            host: Some(format!("site{i}.example")),
            uri: Some(format!("/?{}", "ab".repeat(i as usize % 100))),
            referrer: Some(if i % 3 == 0 {
                format!("http://ref{i}.example/")
            } else {
                r.to_string()
            }),
            location: Some(r.to_string()),
            // Answered (an unanswered request is only a lead).
            status_code: Some(302),
            resp_body_prefix: b"PK\x03\x04\xff\xff".to_vec(),
            ..Default::default()
        }));
    }
    let cfg = ActivityConfig::default();
    let (reports, verdicts) = analyze(&events, &cfg);
    assert_eq!(verdicts.len(), 500);
    let cf = reports[0]
        .activity(Class::ClickFraud)
        .expect("forged referers");
    assert!(cf.peers.len() <= cfg.max_peers);
    assert!(cf.evidence.len() <= cfg.max_evidence);
    assert!(analyze(&[], &cfg).0.is_empty());
}
