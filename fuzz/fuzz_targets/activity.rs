#![no_main]
//! The activity detectors on hostile input: any bytes imported as a Zeek
//! log or a binetflow file and analysed (flood windows, beacons, IRC
//! sessions, Referer chains, indicators), or any bytes as an
//! EasyList-format filter list matched against hostile URLs. Never a
//! panic; every list in the reports stays within its cap.
use std::path::Path;

use botscope_activity::{analyze, ioc, ActivityConfig, AdFilters};
use botscope_zeeklog::{parse_binetflow, parse_zeek_log};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = [
    "conn.log",
    "http.log",
    "dns.log",
    "smtp.log",
    "ssl.log",
    "x.binetflow",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel & 0x80 != 0 {
        // Filter list, then URLs (one a line) after a NUL byte.
        let (list, urls) = match rest.iter().position(|&b| b == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &b""[..]),
        };
        let f = AdFilters::new(&[String::from_utf8_lossy(list).into_owned()]);
        for u in String::from_utf8_lossy(urls).lines() {
            let (host, src) = u.split_once(' ').unwrap_or((u, ""));
            let _ = f.matching_rule(u, host, src);
        }
        return;
    }
    let name = NAMES[usize::from(sel) % NAMES.len()];
    let events = if name.ends_with("binetflow") {
        match parse_binetflow(Path::new(name), rest) {
            Ok(r) => r.events,
            Err(_) => return,
        }
    } else {
        parse_zeek_log(Path::new(name), rest).events
    };
    let cfg = ActivityConfig::default();
    let (hosts, verdicts) = analyze(&events, &cfg);
    assert_eq!(verdicts.len(), {
        let mut uids: Vec<_> = verdicts.iter().map(|v| v.uid).collect();
        uids.sort();
        uids.dedup();
        uids.len()
    });
    for h in &hosts {
        for a in &h.activities {
            assert!(a.peers.len() <= cfg.max_peers);
            assert!(a.evidence.len() <= cfg.max_evidence);
            assert!((0.0..=1.0).contains(&a.share));
        }
    }
    let _ = ioc::iocs(&events, &verdicts);
});
