#![no_main]
//! Threat-intelligence feeds (`botscope trace --intel`) from any bytes:
//! the sniffer, plain lists, abuse.ch CSVs, STIX patterns, MISP and
//! ThreatFox JSON; then every loaded indicator matched back. Never a
//! panic; every loaded entry matches itself.
use botscope_activity::intel::{Intel, IntelKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut intel = Intel::new();
    let Ok(feed) = intel.load_bytes("feed", data) else {
        return;
    };
    let loaded = feed.loaded as usize;
    assert_eq!(loaded, intel.entries().len());
    for e in intel.entries() {
        let hit = match e.kind {
            IntelKind::Ip => e.value.parse().ok().and_then(|ip| intel.match_ip(ip)),
            IntelKind::Net => e
                .value
                .split('/')
                .next()
                .and_then(|a| a.parse().ok())
                .and_then(|ip| intel.match_ip(ip)),
            IntelKind::Domain => intel.match_domain(&e.value),
            IntelKind::Url => intel.match_url(&e.value),
            IntelKind::Sha256 => intel.match_sha256(&e.value),
            IntelKind::Ja3 => intel.match_ja3(&e.value),
            IntelKind::Ja4 => intel.match_ja4(&e.value),
        };
        assert!(hit.is_some(), "{e:?}");
    }
});
