//! Real captures from `../shared/data`: downloads, spam, and no click
//! fraud on genuine browsing.

use std::path::{Path, PathBuf};

use botscope_activity::{analyze, ActivityConfig, Class, ConnVerdict, HostReport};

fn data() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if d.is_dir() {
        Some(d)
    } else if std::env::var("CI").as_deref() == Ok("true") {
        panic!("shared data missing at {}", d.display());
    } else {
        eprintln!("skipping: no {}", d.display());
        None
    }
}

/// The capture named `name` anywhere under the data folder.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

fn run(name: &str) -> Option<(Vec<HostReport>, Vec<ConnVerdict>, u64)> {
    let dir = data()?;
    let p = find(&dir, name).unwrap_or_else(|| panic!("{name} not found under {}", dir.display()));
    let (shards, _) =
        botscope_engine::analyze_file(&p, &botscope_engine::EngineConfig::default(), |_| {
            Vec::<botscope_event::Event>::new()
        });
    let events: Vec<_> = shards.into_iter().flatten().collect();
    let http = events
        .iter()
        .filter(|e| matches!(e, botscope_event::Event::Http(_)))
        .count() as u64;
    let (r, v) = analyze(&events, &ActivityConfig::default());
    for h in &r {
        for a in &h.activities {
            println!(
                "{name} {} {:12} conns {:5} req {:5} share {:.3} peers {:?} evidence {:?}",
                h.host, a.class, a.connections, a.requests, a.share, a.peers, a.evidence
            );
        }
    }
    Some((r, v, http))
}

fn has(r: &[HostReport], c: Class) -> Vec<String> {
    r.iter()
        .filter_map(|h| h.activity(c))
        .flat_map(|a| a.evidence.clone())
        .collect()
}

#[test]
fn infostealer_downloads_dlls_with_hashes() {
    let Some((r, _, _)) = run("infostealer-payload-dll-download-2019.pcap") else {
        return;
    };
    let ev = has(&r, Class::Download);
    assert!(!ev.is_empty(), "no download activity");
    assert!(
        ev.iter()
            .any(|e| e.contains("PE") && e.contains("sha256=") && !e.contains("sha256=-")),
        "{ev:?}"
    );
}

#[test]
fn spambots_send_spam() {
    for name in [
        "spambot-smtp-sessions-smtperr.pcap",
        "spambot-auth-relay-port2525.pcap",
    ] {
        let Some((r, _, _)) = run(name) else { return };
        assert!(!has(&r, Class::Spam).is_empty(), "{name}: no spam");
    }
}

#[test]
fn real_browsing_has_no_click_fraud() {
    for name in [
        "zeek-http-bro.org.pcap",
        "zeek-workshop_2011_browse.pcap",
        "zeek-web.pcap",
        "sanders-http_google.pcapng",
        // A person clicking a Google result (Referer from a page outside
        // the capture) whose browser then fetches the page's resources.
        "compromised-site-google-referer-2015.pcap",
    ] {
        let Some((r, v, http)) = run(name) else {
            return;
        };
        let fp = v.iter().filter(|v| v.class == Class::ClickFraud).count();
        let fp_req: u64 = r
            .iter()
            .filter_map(|h| h.activity(Class::ClickFraud))
            .map(|a| a.requests)
            .sum();
        println!(
            "{name}: {http} HTTP requests, click_fraud connections {fp}, false-positive rate per request {:.4}",
            fp_req as f64 / http.max(1) as f64
        );
        assert_eq!(fp, 0, "{name}: {:?}", has(&r, Class::ClickFraud));
    }
}

/// C&C captures: print what each host does (figures for ACCURACY.md) and
/// check that nothing panics; the C&C assertions sit in the test below.
#[test]
fn botnet_captures_overview() {
    for name in [
        "emotet-c2-http-post-2020.pcap",
        "cryptowall4-c2.pcapng",
        "sality-botnet.pcap",
        "rat-infected-c2.pcap",
        "compromised-site-google-referer-2015.pcap",
        "adware-hauntedbrowser-2007.pcap",
    ] {
        let Some((r, v, http)) = run(name) else {
            return;
        };
        let c2 = v.iter().filter(|v| v.class == Class::C2).count();
        let cf = v.iter().filter(|v| v.class == Class::ClickFraud).count();
        println!(
            "SUMMARY {name}: {} connections, {http} HTTP requests, c2 {c2}, click_fraud {cf}",
            v.len()
        );
        assert!(r.iter().all(|h| !h.activities.is_empty()));
    }
}
