//! `botscope trace --intel`: feeds written for the test, and botscope's
//! own indicator exports (STIX 2.1, MISP, CSV-free) read back as feeds.

mod common;

use std::path::{Path, PathBuf};

use common::{botscope, data_dir, temp_dir};
use serde_json::Value;

fn trace(args: &[&str], inputs: &[&Path]) -> (Value, String, i32) {
    let o = botscope()
        .args(["trace", "--json"])
        .args(args)
        .args(inputs)
        .output()
        .expect("run botscope");
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (v, stderr, o.status.code().unwrap_or(-1))
}

fn intel_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../activity/tests/data/intel")
        .join(name)
}

/// A capture with a payload download and C&C: its own indicators,
/// exported as STIX and as MISP, match the same capture when read back
/// as feeds, each match naming the feed and the listed value.
#[test]
fn own_exports_read_back_as_feeds() {
    let Some(data) = data_dir() else { return };
    let pcap = data.join("botnet-pcaps/infostealer-payload-dll-download-2019.pcap");
    let dir = temp_dir("intel-roundtrip");
    let stix = dir.join("iocs.stix.json");
    let misp = dir.join("iocs.misp.json");
    for out in [&stix, &misp] {
        let (_, err, code) = trace(&["--iocs", out.to_str().unwrap()], &[&pcap]);
        // The capture ends mid-record: exit 1 (input error), analysed still.
        assert!(code == 0 || code == 1, "{code} {err}");
    }
    let exported: Value =
        serde_json::from_slice(&std::fs::read(&stix).unwrap()).expect("stix json");
    let n_indicators = exported["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .count();
    assert!(n_indicators > 0, "nothing exported");
    for feed in [&stix, &misp] {
        let (v, err, code) = trace(&["--intel", feed.to_str().unwrap()], &[&pcap]);
        // The capture ends mid-record: exit 1 (input error), analysed still.
        assert!(code == 0 || code == 1, "{code} {err}");
        let name = feed.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(&format!("intel: {name} (")), "{err}");
        let feeds = v["intel_feeds"].as_array().expect("intel_feeds");
        assert_eq!(feeds.len(), 1);
        assert!(feeds[0]["loaded"].as_u64().unwrap() > 0, "{}", feeds[0]);
        let matches = v["intel"].as_array().expect("intel");
        assert!(!matches.is_empty(), "{err}");
        for m in matches {
            assert_eq!(m["feed"], name);
            assert!(m["count"].as_u64().unwrap() >= 1);
        }
        // The payload's hash and a C&C contact are both found again.
        let kinds: Vec<&str> = matches.iter().filter_map(|m| m["kind"].as_str()).collect();
        let classes: Vec<&str> = matches.iter().filter_map(|m| m["class"].as_str()).collect();
        assert!(
            kinds.contains(&"sha256") || kinds.contains(&"url"),
            "{kinds:?}"
        );
        if feed == &stix {
            // STIX labels carry the class botscope exported.
            assert!(classes.contains(&"download"), "{classes:?}");
        }
    }
}

#[test]
fn abuse_ch_feed_and_plain_list_on_a_capture() {
    let Some(data) = data_dir() else { return };
    let pcap = data.join("botnet-pcaps/infostealer-payload-dll-download-2019.pcap");
    // What the capture contacts, written as a Feodo-style blocklist.
    let (v, err, code) = trace(&["--connections", "/dev/null"], &[&pcap]);
    // The capture ends mid-record: exit 1 (input error), analysed still.
    assert!(code == 0 || code == 1, "{code} {err}");
    assert!(v["hosts"].as_array().is_some_and(|h| !h.is_empty()));
    let dir = temp_dir("intel-feodo");
    let csv = dir.join("conns.csv");
    let o = botscope()
        .args(["trace", "--connections"])
        .arg(&csv)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(o.status.code().is_some_and(|c| c <= 1));
    let text = std::fs::read_to_string(&csv).unwrap();
    let server = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.get(6) == Some(&"download") || f.get(6) == Some(&"c2")).then(|| f[2].to_string())
        })
        .next()
        .expect("a download or c2 connection");
    let feodo = dir.join("blocklist.csv");
    std::fs::write(
        &feodo,
        format!(
            "# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)\n\
             # \"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\
             \"2019-01-01 00:00:00\",\"{server}\",\"80\",\"offline\",\"2019-01-02\",\"TestFamily\"\n\
             \"2019-01-01 00:00:00\",\"not-an-ip\",\"80\",\"offline\",\"2019-01-02\",\"TestFamily\"\n"
        ),
    )
    .unwrap();
    let (v, err, code) = trace(
        &[
            "--intel",
            feodo.to_str().unwrap(),
            "--intel",
            intel_data("plain.txt").to_str().unwrap(),
        ],
        &[&pcap],
    );
    // The capture ends mid-record: exit 1 (input error), analysed still.
    assert!(code == 0 || code == 1, "{code} {err}");
    assert!(
        err.contains("blocklist.csv (Feodo Tracker blocklist): 1 indicators, 1 skipped"),
        "{err}"
    );
    assert!(err.contains("blocklist.csv:4: not an IP address"), "{err}");
    let m = v["intel"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["observed"] == server.as_str())
        .unwrap_or_else(|| panic!("no match for {server}: {}", v["intel"]));
    assert_eq!(m["class"], "c2");
    assert_eq!(m["threat"], "TestFamily");
    assert_eq!(m["origin"], "line 3");
    // The text output lists it too.
    let o = botscope()
        .args(["trace", "--intel"])
        .arg(&feodo)
        .arg(&pcap)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("threat intelligence matches"), "{out}");
    assert!(
        out.contains("is listed by blocklist.csv line 3 (TestFamily)"),
        "{out}"
    );
}

#[test]
fn an_unreadable_feed_is_a_fatal_error_naming_it() {
    let dir = temp_dir("intel-bad");
    let bad = dir.join("broken.json");
    std::fs::write(&bad, "{\n  \"type\": \"bundle\",\n  \"objects\": [\n").unwrap();
    let pcap = dir.join("empty.pcap");
    std::fs::write(&pcap, b"").unwrap();
    let o = botscope()
        .args(["trace", "--intel"])
        .arg(&bad)
        .arg(&pcap)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("broken.json:4: bad JSON"), "{err}");
}
