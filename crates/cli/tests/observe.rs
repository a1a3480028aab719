//! The dataset path a lab runs: simulated trap mail and sandbox captures
//! go in with `botscope ingest` (mail attributed with a model learned from
//! another seed's captures), come out as `botscope alerts` dated like the
//! world's scripted events, and as `botscope report`'s HTML page.

mod common;

use std::path::Path;

fn out_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "botscope-cli-observe-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str], paths: &[&Path]) -> std::process::Output {
    let o = common::botscope().args(args).args(paths).output().unwrap();
    assert!(
        o.status.success(),
        "botscope {args:?} {paths:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn ingest_alerts_and_report_follow_the_scripted_winter() {
    let dir = out_dir("winter");
    let (teach, world, ds) = (dir.join("teach"), dir.join("world"), dir.join("ds"));
    // The model: one day of another seed's sandbox captures.
    run(
        &[
            "simulate",
            "--seed",
            "8",
            "--scale",
            "0.3",
            "--from",
            "2010-12-20",
            "--to",
            "2010-12-20",
            "--no-mail",
            "-q",
            "--out",
        ],
        &[&teach],
    );
    let model = dir.join("model.json");
    run(&["learn", "--out"], &[&model, &teach.join("pcap")]);
    run(
        &[
            "simulate",
            "--seed",
            "9",
            "--scale",
            "0.3",
            "--from",
            "2010-12-15",
            "--to",
            "2011-01-13",
            "-q",
            "--out",
        ],
        &[&world],
    );
    run(
        &["ingest", "--quiet", "--store"],
        &[
            &ds,
            Path::new("--model"),
            &model,
            &world.join("mail"),
            &world.join("pcap"),
        ],
    );

    // Retro-hunt: the same mail ingested before the model existed comes
    // out `unknown`; `rehunt --model` re-attributes it from the stored
    // fingerprints to exactly what an ingest with the model gives.
    let late = dir.join("late");
    run(
        &["ingest", "--quiet", "--store"],
        &[&late, &world.join("mail")],
    );
    let families = |store: &Path| -> String {
        let o = run(
            &[
                "timeline", "--by", "family", "--every", "day", "--json", "--store",
            ],
            &[store],
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let before = families(&late);
    assert!(
        before.contains("unknown") && !before.contains("rustock"),
        "{before}"
    );
    let o = run(
        &["rehunt", "--json", "--store"],
        &[&late, Path::new("--model"), &model],
    );
    let re: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let moved = re["mail"]["changed"].as_u64().unwrap();
    assert!(moved > 0 && re["mail"]["without_fingerprint"] == 0, "{re}");
    assert!(
        re["mail"]["moves"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["from"] == "unknown" && m["to"] == "rustock"),
        "{re}"
    );
    assert_eq!(
        families(&late),
        families(&ds),
        "rehunt --model = ingest --model"
    );
    // A second run finds nothing more to change.
    let o = run(
        &["rehunt", "--json", "--store"],
        &[&late, Path::new("--model"), &model],
    );
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["mail"]["changed"], 0, "{again}");

    let o = run(&["alerts", "--json", "--store"], &[&ds]);
    let alerts: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let events = std::fs::read_to_string(world.join("truth").join("events.csv")).unwrap();
    let mut checked = 0;
    for line in events.lines().skip(1) {
        let f: Vec<&str> = line.splitn(4, ',').collect();
        let (date, family, kind) = (day(f[0]), f[1].to_ascii_lowercase(), f[2]);
        let found = alerts.iter().any(|a| {
            a["family"] == family.as_str()
                && a["kind"] == kind
                && (day(a["date"].as_str().unwrap()) - date).num_days().abs() <= 1
        });
        assert!(found, "{line}: not among {alerts:#?}");
        checked += 1;
    }
    assert!(checked >= 4, "scripted events checked: {checked}");
    assert!(
        !alerts.iter().any(|a| a["family"] == "cutwail"),
        "steady Cutwail raised an alert: {alerts:#?}"
    );
    // Saved as the alert table, readable with SQL.
    let o = run(
        &["sql", "--format", "csv", "--store"],
        &[&ds, Path::new("SELECT count(*) AS n FROM alert")],
    );
    let n: usize = String::from_utf8_lossy(&o.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(n, alerts.len());

    let rep = dir.join("report");
    run(&["report", "--store"], &[&ds, Path::new("--out"), &rep]);
    let html = std::fs::read_to_string(rep.join("index.html")).unwrap();
    for f in ["total.png", "share.svg", "mix.svg"] {
        assert!(rep.join(f).is_file(), "{f}");
    }
    assert!(
        html.contains("quiet since 28 Dec"),
        "Lethic's silence in the page"
    );
    assert!(html.contains("rustock"));
    assert!(!html.contains("<script"), "the page runs no script");
    let _ = std::fs::remove_dir_all(&dir);
}
