//! `botscope simulate` and `botscope demo` end to end: the world is made,
//! decoded by `botscope logs`, and the decoded connections are the
//! simulator's ground truth.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{botscope, read_tsv, temp_dir};

fn simulate(out: &Path, extra: &[&str]) {
    let o = botscope()
        .args([
            "simulate",
            "--quiet",
            "--scenario",
            "winter-2010",
            "--seed",
            "5",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .output()
        .expect("run simulate");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn decoded_connections_are_the_ground_truth() {
    let world = temp_dir("sim-world");
    simulate(
        &world,
        &[
            "--from",
            "2010-12-23",
            "--to",
            "2010-12-24",
            "--scale",
            "0.3",
        ],
    );
    let logs = temp_dir("sim-logs");
    let o = botscope()
        .args(["logs", "--quiet", "--out"])
        .arg(&logs)
        .arg(world.join("pcap"))
        .output()
        .expect("run logs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let conns: Vec<_> = read_tsv(&logs.join("conn.log"))
        .into_iter()
        .flatten()
        .collect();
    let ours: BTreeSet<String> = conns
        .iter()
        .map(|r| {
            format!(
                "{}:{}>{}:{}/{}",
                r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"], r["proto"]
            )
        })
        .collect();
    let truth = std::fs::read_to_string(world.join("truth/connections.csv")).expect("truth");
    let mut lines = truth.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).expect(n);
    let (oh, op, rh, rp, pr, cl) = (
        col("orig_h"),
        col("orig_p"),
        col("resp_h"),
        col("resp_p"),
        col("proto"),
        col("class"),
    );
    let mut classes = BTreeSet::new();
    let mut truth_set = BTreeSet::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        truth_set.insert(format!("{}:{}>{}:{}/{}", f[oh], f[op], f[rh], f[rp], f[pr]));
        classes.insert(f[cl].to_string());
    }
    assert!(
        truth_set.len() > 100,
        "{} truth connections",
        truth_set.len()
    );
    assert_eq!(
        ours, truth_set,
        "conn.log 5-tuples differ from truth/connections.csv"
    );
    for c in ["spam", "c2", "download", "click_fraud", "benign", "dns"] {
        assert!(classes.contains(c), "no {c} connection in the truth");
    }
    // Every conn closed cleanly or was reset on purpose: nothing half-seen.
    for r in &conns {
        assert!(matches!(r["conn_state"].as_str(), "SF" | "RSTO"), "{:?}", r);
    }
    let _ = std::fs::remove_dir_all(&world);
    let _ = std::fs::remove_dir_all(&logs);
}

#[test]
fn same_seed_same_world() {
    let a = temp_dir("sim-a");
    let b = temp_dir("sim-b");
    for d in [&a, &b] {
        simulate(
            d,
            &[
                "--from",
                "2010-12-31",
                "--to",
                "2010-12-31",
                "--scale",
                "0.2",
            ],
        );
    }
    for rel in [
        "mail/2010-12-31.mbox",
        "truth/messages.csv",
        "truth/connections.csv",
        "pcap/rustock/2010-12-31.pcap",
    ] {
        let x = std::fs::read(a.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let y = std::fs::read(b.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(x == y, "{rel} differs between two runs with the same seed");
    }
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn demo_runs_and_shows_the_winter() {
    let out = temp_dir("demo");
    let o = botscope()
        .args(["demo", "--out"])
        .arg(&out)
        .output()
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for want in [
        "share of spam by family and month",
        "2010-12",
        "Rustock",
        "silence",
        "return",
        "service",
    ] {
        assert!(
            stdout.contains(want),
            "demo output lacks {want:?}:\n{stdout}"
        );
    }
    assert!(out.join("logs/conn.log").exists());
    let stix: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("iocs.stix.json")).expect("demo IOCs"),
    )
    .expect("STIX JSON");
    assert_eq!(stix["type"], "bundle");
    assert!(out.join("world/truth/messages.csv").exists());
    // The whole path: learn → ingest → timeline → alerts → report, and
    // every scripted event of the winter found by the alerts.
    for want in [
        "Measured (botscope timeline --by family)",
        "quiet since 28 Dec",
        "click_fraud appeared",
        "7 of 7 scripted events found by the alerts, 0 false family alerts",
        // Spamit's close, which has no family, on its brand's series.
        "found 2010-09-27 (Canadian Pharmacy)",
        // The stock-pump customer moving to Bagle, on its campaign.
        "moved from xarvester to bagle",
        "Recall: 7 of 7 scripted events found. Precision:",
    ] {
        assert!(
            stdout.contains(want),
            "demo output lacks {want:?}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("NOT FOUND"), "{stdout}");
    // Only the scripted move: a family whose share of a campaign falls
    // because another floods it (Rustock's return) has not moved.
    assert_eq!(stdout.matches(" move ").count(), 2, "{stdout}");
    assert!(out.join("model.json").is_file());
    assert!(out.join("dataset/inputs/_delta_log").is_dir());
    let html = std::fs::read_to_string(out.join("report/index.html")).expect("demo report");
    assert!(html.contains("quiet since 28 Dec"));
    // The demo's dataset in the dashboard: every page drawn in Chromium.
    dashboard_draws_every_page(&out.join("dataset"));
    // Passed: the folder goes (hundreds of MB for the demo); a failure keeps it.
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_scenario_and_options_are_usage_errors() {
    let out = temp_dir("sim-bad");
    let o = botscope()
        .args(["simulate", "--scenario", "no-such-world", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let o = botscope()
        .args(["simulate", "--scale", "-1", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn trace_finds_rustocks_clicks_under_its_spam() {
    let world = temp_dir("trace-world");
    simulate(
        &world,
        &[
            "--from",
            "2010-12-22",
            "--to",
            "2010-12-22",
            "--scale",
            "2",
            "--no-mail",
        ],
    );
    let pcap = world.join("pcap/rustock/2010-12-22.pcap");
    let csv = world.join("verdicts.csv");
    let o = botscope()
        .args(["trace", "--json", "--connections"])
        .arg(&csv)
        .arg(&pcap)
        .output()
        .expect("run trace");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("trace --json");
    let acts = v["hosts"][0]["activities"].as_array().expect("activities");
    let class = |c: &str| acts.iter().find(|a| a["class"] == c);
    let clicks = class("click_fraud").expect("click fraud is listed, however small");
    assert!(clicks["share"].as_f64().unwrap_or(1.0) < 0.05);
    assert!(class("spam").is_some());
    // Per-connection verdicts against the simulator's truth.
    let truth = std::fs::read_to_string(world.join("truth/connections.csv")).expect("truth");
    let key = |f: &[&str], a: usize| format!("{}:{}>{}:{}", f[a], f[a + 1], f[a + 2], f[a + 3]);
    let mut want = std::collections::BTreeMap::new();
    for l in truth.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if f[0].ends_with("rustock/2010-12-22.pcap") {
            want.insert(key(&f, 1), f[7].to_string());
        }
    }
    let got = std::fs::read_to_string(&csv).expect("verdicts");
    let (mut tp, mut fp, mut fnn) = (0, 0, 0);
    for l in got.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        let t = want.get(&key(&f, 0)).map(String::as_str).unwrap_or("?");
        match (f[6] == "click_fraud", t == "click_fraud") {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fnn += 1,
            _ => {}
        }
    }
    assert!(tp > 0);
    let precision = tp as f64 / (tp + fp) as f64;
    let recall = tp as f64 / (tp + fnn) as f64;
    assert!(
        precision >= 0.95 && recall >= 0.95,
        "click fraud precision {precision} recall {recall}"
    );
    let _ = std::fs::remove_dir_all(&world);
}

#[test]
fn trace_exports_indicators_as_csv_stix_and_misp() {
    let world = temp_dir("ioc-world");
    simulate(
        &world,
        &[
            "--from",
            "2010-12-26",
            "--to",
            "2010-12-26",
            "--scale",
            "1",
            "--no-mail",
        ],
    );
    let pcap = world.join("pcap/rustock/2010-12-26.pcap");
    let run = |name: &str| {
        let path = world.join(name);
        let o = botscope()
            .args(["trace", "--iocs"])
            .arg(&path)
            .arg(&pcap)
            .output()
            .expect("trace");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::read_to_string(&path).expect("iocs written")
    };
    let csv = run("iocs.csv");
    assert!(csv.starts_with("kind,value,class,host,first,last,count\n"));
    assert!(
        csv.lines()
            .any(|l| l.starts_with("referer,http://playdrom.com/,click_fraud,")),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("sha256,") && l.contains(",download,"))
            || !csv.contains(",download,")
    );

    let stix: serde_json::Value = serde_json::from_str(&run("iocs.stix.json")).expect("STIX JSON");
    assert_eq!(stix["type"], "bundle");
    let objects = stix["objects"].as_array().expect("objects");
    assert!(objects.len() > 5);
    for o in objects {
        assert_eq!(o["spec_version"], "2.1");
        let id = o["id"].as_str().unwrap_or_default();
        let (ty, uuid) = id.split_once("--").expect("type--uuid");
        assert_eq!(ty, o["type"].as_str().unwrap_or_default());
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "5", "name-based UUID version in {id}");
        if ty == "indicator" {
            assert_eq!(o["pattern_type"], "stix");
            assert!(o["pattern"].as_str().unwrap_or_default().starts_with('['));
        }
    }
    assert!(objects.iter().any(|o| o["pattern"]
        .as_str()
        .is_some_and(|p| p.contains("url:value = 'http://playdrom.com/'"))));

    let misp: serde_json::Value = serde_json::from_str(&run("iocs.misp.json")).expect("MISP JSON");
    let attrs = misp["Event"]["Attribute"].as_array().expect("attributes");
    assert!(attrs.iter().any(|a| a["type"] == "domain"
        && a["comment"]
            .as_str()
            .unwrap_or("")
            .starts_with("click_fraud")));
    // Deterministic: the same input gives the same bundle.
    assert_eq!(run("iocs.stix.json"), run("again.stix.json"));
    let _ = std::fs::remove_dir_all(&world);
}

#[path = "../../serve/tests/common/cdp.rs"]
#[allow(dead_code)]
mod cdp;

/// `botscope serve` on `store`; every page (one of each kind, picked from
/// the API) drawn in headless Chromium without an error, the overview's
/// charts with their points, and every request to the dashboard itself.
fn dashboard_draws_every_page(store: &std::path::Path) {
    let chrome = std::path::PathBuf::from(
        std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()),
    );
    if !chrome.exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!(
                "CI=true but no Chromium at {} (.ci/run installs it)",
                chrome.display()
            );
        }
        eprintln!("SKIP (dashboard part): no Chromium at {}", chrome.display());
        return;
    }
    let mut child = botscope()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "0",
            "-q",
            "--store",
        ])
        .arg(store)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start serve");
    let addr = common::dashboard_address(&mut child);
    let get = |path: &str| common::get_json(&addr, path);
    let first = |path: &str, key: &str| -> String {
        let v = get(path);
        v[0][key]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {v}"))
            .to_string()
    };
    let enc = |s: &str| {
        s.replace('%', "%25")
            .replace(' ', "%20")
            .replace('/', "%2F")
    };
    let pages = [
        "/".to_string(),
        "/families".into(),
        format!("/family/{}", enc(&first("/api/families", "name"))),
        "/alerts".into(),
        format!("/alert/{}", first("/api/alerts", "id")),
        "/hosts".into(),
        format!("/host/{}", first("/api/hosts", "host")),
        "/campaigns".into(),
        format!("/campaign/{}", enc(&first("/api/campaigns", "name"))),
        "/brands".into(),
        format!("/brand/{}", enc(&first("/api/brands", "name"))),
        format!("/search?q={}", first("/api/hosts", "host")),
        "/sql".into(),
    ];
    let mut b = cdp::Browser::launch(&chrome);
    for p in &pages {
        b.goto(
            &format!("http://{addr}{p}"),
            std::time::Duration::from_secs(60),
        );
        let error = b.eval("(document.querySelector('main .error') || {}).textContent || ''");
        assert_eq!(error, serde_json::json!(""), "{p}");
        let h1 = b.eval("document.querySelector('main h1').textContent");
        assert!(h1 != "Not found" && h1 != "Error", "{p}: {h1}");
    }
    b.goto(
        &format!("http://{addr}/"),
        std::time::Duration::from_secs(60),
    );
    let pts = b.eval("[...document.querySelectorAll('.chart')].map(c => +c.dataset.points)");
    let pts: Vec<u64> = serde_json::from_value(pts).unwrap();
    // Five months of days, six families.
    assert!(
        pts.len() == 2 && pts.iter().all(|&n| n > 100 * 6),
        "{pts:?}"
    );
    for r in b.requests() {
        assert!(
            r.starts_with(&format!("http://{addr}/")),
            "request off the dashboard: {r}"
        );
    }
    drop(b);
    let _ = child.kill();
    let _ = child.wait();
}
