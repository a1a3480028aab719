//! `botscope mail` and `botscope learn` end to end: a simulated world's
//! sandbox captures teach the model, its trap mail (plus a broken message)
//! is analysed, one JSON line per message.

mod common;

use std::process::Command;

fn out_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("botscope-cli-mail-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `botscope simulate` of 20 Dec 2010 (seed, scale, extra flags) into `out`.
fn simulate_day(seed: &str, scale: &str, extra: &[&str], out: &std::path::Path) {
    let st = common::botscope()
        .args(["simulate", "--seed", seed, "--scale", scale])
        .args(["--from", "2010-12-20", "--to", "2010-12-20", "-q"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn learn_then_mail_json_and_summary() {
    let dir = out_dir("e2e");
    let world = dir.join("world");
    simulate_day("3", "0.3", &[], &world);
    let model = dir.join("model.json");
    let o = common::botscope()
        .args(["learn", "--json", "--out"])
        .arg(&model)
        .arg(world.join("pcap"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let learned: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        learned["families"].as_object().unwrap().len() >= 5,
        "{learned}"
    );

    // One broken message next to the trap mail.
    let broken = dir.join("broken.eml");
    let mut b = b"Subject: bomb\n\n".to_vec();
    b.extend(std::iter::repeat_n(b'x', 2 << 20));
    std::fs::write(&broken, &b).unwrap();

    let o = Command::new(env!("CARGO_BIN_EXE_botscope"))
        .args(["mail", "--json", "--summary", "--model"])
        .arg(&model)
        .arg(world.join("mail"))
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failed message makes exit status 1"
    );
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summary, rows) = lines.split_last().unwrap();
    let truth = std::fs::read_to_string(world.join("truth/messages.csv")).unwrap();
    assert_eq!(
        rows.len(),
        truth.lines().count() - 1 + 1,
        "every message plus the broken one"
    );
    for key in [
        "source",
        "message_id",
        "received_ts",
        "sender_ip",
        "helo",
        "family",
        "family_confidence",
        "campaign",
        "category",
        "brand",
        "urls",
        "domains",
        "subject",
    ] {
        assert!(rows[0].get(key).is_some(), "{key} missing in {}", rows[0]);
    }
    let failed: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["source"]
        .as_str()
        .unwrap()
        .ends_with("broken.eml#0"));
    assert!(failed[0]["error"]
        .as_str()
        .unwrap()
        .starts_with("line_too_long"));
    let unknown = rows.iter().filter(|r| r["family"] == "unknown").count();
    assert!(
        unknown <= 1 + rows.len() / 20,
        "{unknown} unknown of {}",
        rows.len()
    );
    let s = &summary["summary"];
    assert_eq!(s["failed"].as_array().unwrap().len(), 1);
    assert!(s["category"]["pharma"].as_u64().unwrap() > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mail_reads_compressed_and_captures() {
    let Some(data) = common::data_dir() else {
        return;
    };
    // A real spam bot capture: its SMTP sessions' messages are analysed.
    let pcap = data.join("botnet-pcaps");
    let o = common::botscope()
        .args(["mail", "--json"])
        .arg(&pcap)
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(rows
        .iter()
        .all(|r| r["source"].as_str().unwrap().contains(".pcap")));
    assert!(rows.iter().any(|r| r["sender_ip"].is_string()));
}

/// `trace --model`: a model learned from one seed's sandbox captures names
/// the family behind each spamming host of another seed's captures, in
/// the spam activity's evidence and in the JSON `families`.
#[test]
fn trace_with_a_model_names_the_spamming_family() {
    let dir = out_dir("trace-model");
    let sim = |seed: &str, out: &std::path::Path| simulate_day(seed, "0.3", &["--no-mail"], out);
    sim("4", &dir.join("w4"));
    sim("5", &dir.join("w5"));
    let model = dir.join("model.json");
    let st = common::botscope()
        .args(["learn", "--out"])
        .arg(&model)
        .arg(dir.join("w4").join("pcap"))
        .status()
        .unwrap();
    assert!(st.success());
    let pcaps = dir.join("w5").join("pcap");
    let mut checked = 0;
    for family in ["rustock", "cutwail", "grum"] {
        let o = common::botscope()
            .args(["trace", "--json", "--model"])
            .arg(&model)
            .arg(pcaps.join(family))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for h in v["hosts"].as_array().unwrap() {
            for a in h["activities"].as_array().unwrap() {
                if a["class"] != "spam" {
                    continue;
                }
                let fams = a["families"].as_object().expect("families on spam");
                let total: u64 = fams.values().map(|n| n.as_u64().unwrap()).sum();
                let (top, n) = fams
                    .iter()
                    .max_by_key(|(_, n)| n.as_u64().unwrap())
                    .unwrap();
                assert!(
                    top.eq_ignore_ascii_case(family),
                    "{family}: attributed {fams:?}"
                );
                assert!(n.as_u64().unwrap() * 100 >= total * 95, "{fams:?}");
                let ev = a["evidence"][0].as_str().unwrap();
                assert!(ev.starts_with("mail family "), "{ev}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "spam activities checked: {checked}");
}

/// `ingest --capture-mail`: a capture taken at the trap puts its messages
/// in the `mail` table, attributed with their sessions' dialect; without
/// the flag a capture's mail stays out (a sandbox's spam is not trap mail).
#[test]
fn ingest_capture_mail_from_a_trap_capture() {
    let dir = out_dir("capture-mail");
    let world = dir.join("world");
    simulate_day("3", "0.2", &["--trap-captures"], &world);
    let model = dir.join("model.json");
    let st = common::botscope()
        .args(["learn", "--out"])
        .arg(&model)
        .arg(world.join("pcap"))
        .status()
        .unwrap();
    assert!(st.success());
    let capture = world.join("trap/2010-12-20.pcap");
    assert!(capture.is_file());
    // Truth: every trap message of the day, with its family.
    let truth = std::fs::read_to_string(world.join("truth/messages.csv")).unwrap();
    let want = truth.lines().skip(1).count();
    assert!(want > 50, "{want} trap messages");
    let count = |store: &std::path::Path, q: &str| -> String {
        let o = common::botscope()
            .args(["sql", "--format", "csv", "--store"])
            .arg(store)
            .arg(q)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .unwrap_or("")
            .to_string()
    };
    let plain = dir.join("plain");
    let st = common::botscope()
        .args(["ingest", "-q", "--model"])
        .arg(&model)
        .arg("--store")
        .arg(&plain)
        .arg(&capture)
        .status()
        .unwrap();
    assert!(st.success());
    assert_ne!(count(&plain, "SELECT count(*) FROM smtp"), "0");
    let none = common::botscope()
        .args(["sql", "--format", "csv", "--store"])
        .arg(&plain)
        .arg("SELECT count(*) FROM mail")
        .output()
        .unwrap();
    // No mail table at all, or an empty one.
    assert!(
        !none.status.success() || String::from_utf8_lossy(&none.stdout).lines().nth(1) == Some("0"),
        "{}",
        String::from_utf8_lossy(&none.stdout)
    );
    let trap = dir.join("trap");
    let st = common::botscope()
        .args(["ingest", "-q", "--capture-mail", "--model"])
        .arg(&model)
        .arg("--store")
        .arg(&trap)
        .arg(&capture)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(count(&trap, "SELECT count(*) FROM mail"), want.to_string());
    // Attributed from the session (dialect and envelope): the families
    // the truth names, nearly every message.
    let unknown: usize = count(&trap, "SELECT count(*) FROM mail WHERE family = 'unknown'")
        .parse()
        .unwrap();
    assert!(unknown * 10 <= want, "{unknown} of {want} unattributed");
    let ok = count(
        &trap,
        "SELECT count(*) FROM mail WHERE helo IS NOT NULL AND mail_from IS NOT NULL",
    );
    assert_eq!(ok, want.to_string(), "every row has its session's envelope");
    let _ = std::fs::remove_dir_all(&dir);
}
