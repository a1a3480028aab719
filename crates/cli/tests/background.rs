//! Real background: `botscope trace` (network mode) over Zeek's and
//! Suricata's protocol test captures, none of them an infection. No
//! click fraud anywhere, no spam from a single submission or delivery,
//! and every other non-benign verdict listed, with the reason it is
//! right, in `crates/activity/ACCURACY.md` (section "Real background"):
//! a new verdict on this corpus fails here until someone reviews it.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{botscope, data_dir};
use serde_json::Value;

/// (host, class) rows of the reviewed-verdicts table in ACCURACY.md.
fn reviewed() -> BTreeSet<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../activity/ACCURACY.md");
    let text = std::fs::read_to_string(&path).expect("ACCURACY.md");
    let start = text
        .find("<!-- background-verdicts -->")
        .expect("ACCURACY.md has the background-verdicts table");
    let mut out = BTreeSet::new();
    for line in text[start..].lines().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 4 || cells[0] == "host" || cells[0].starts_with("---") {
            continue;
        }
        assert!(
            !cells[3].is_empty(),
            "ACCURACY.md: {} {} has no reason",
            cells[0],
            cells[1]
        );
        out.insert((cells[0].trim_matches('`').to_string(), cells[1].to_string()));
    }
    out
}

#[test]
fn protocol_test_captures_are_left_alone() {
    let Some(data) = data_dir() else { return };
    let folders = [data.join("zeek-btest/Traces"), data.join("protocol-pcaps")];
    for f in &folders {
        assert!(f.is_dir(), "{} missing", f.display());
    }
    // One run over both folders (captures of odd link types, truncated
    // or not captures at all are reported and skipped, never fatal).
    let o = botscope()
        .args(["trace", "--json"])
        .args(&folders)
        .output()
        .expect("run botscope");
    let code = o.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let hosts = v["hosts"].as_array().expect("hosts");
    assert!(
        hosts.len() > 200,
        "only {} hosts: inputs not read?",
        hosts.len()
    );
    let listed = reviewed();
    let mut unexplained = Vec::new();
    let mut seen = BTreeSet::new();
    for h in hosts {
        let host = h["host"].as_str().unwrap_or("").to_string();
        for a in h["activities"].as_array().into_iter().flatten() {
            let class = a["class"].as_str().unwrap_or("").to_string();
            if class == "benign" {
                continue;
            }
            let first = a["evidence"][0].as_str().unwrap_or("").to_string();
            assert_ne!(class, "click_fraud", "click fraud on {host}: {first}");
            if class == "spam" {
                assert!(
                    a["requests"].as_u64().unwrap_or(0) >= 2,
                    "spam from a single transaction on {host}: {first}"
                );
            }
            seen.insert((host.clone(), class.clone()));
            if !listed.contains(&(host.clone(), class.clone())) {
                unexplained.push(format!("{host} {class}: {first}"));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "verdicts on real background not reviewed in ACCURACY.md:\n{}",
        unexplained.join("\n")
    );
    // Listed verdicts that no longer occur: the list is kept honest.
    let stale: Vec<_> = listed.difference(&seen).collect();
    assert!(
        stale.is_empty(),
        "ACCURACY.md lists verdicts that no longer occur (remove them): {stale:?}"
    );
}
