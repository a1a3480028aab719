//! The report on hostile text and on the simulated winter.
//!
//! Set `BOTSCOPE_REPORT_OUT=DIR` to keep the winter report in `DIR` (to
//! look at it in a browser).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use botscope_report::{write_report, ReportData, ReportOptions, TopRow};
use botscope_timeline::{detect, Alert, AlertConfig, AlertKind, CountRow, MixRow};
use chrono::NaiveDate;

const SCRIPT: &str = "<script>alert('x')</script>";
const IMG: &str = r#""><img src=x onerror=alert(1)>"#;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("botscope-report-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Nothing in `text` can run or fetch: no script or img element, no
/// event-handler attribute outside escaped text.
fn assert_inert(text: &str, what: &str) {
    let lower = text.to_ascii_lowercase();
    for bad in [
        "<script",
        "<img",
        "<iframe",
        "javascript:",
        "onerror=alert(1)>",
    ] {
        assert!(!lower.contains(bad), "{what} contains {bad:?}");
    }
    // Every `onerror=` is inside escaped text: preceded by `&lt;img`.
    for (i, _) in lower.match_indices("onerror=") {
        let before = &lower[i.saturating_sub(20)..i];
        assert!(before.contains("&lt;img"), "{what}: bare onerror at {i}");
    }
}

#[test]
fn hostile_text_is_escaped_everywhere() {
    let hostile = |base: &str| format!("{base} {SCRIPT} {IMG}");
    let mut volume = Vec::new();
    let mut mix = Vec::new();
    for t in 0..20u32 {
        let day = d(2010, 12, 1 + t);
        volume.push(CountRow::on(day, hostile("Rustock"), 100 + u64::from(t)));
        volume.push(CountRow::on(day, "Cutwail", 50));
        mix.push(MixRow::on(day, hostile("Rustock"), "spam", 100));
        mix.push(MixRow::on(day, hostile("Rustock"), hostile("click"), 3));
    }
    let alert = Alert {
        ts: botscope_timeline::day_start(d(2010, 12, 10)),
        family: hostile("Rustock"),
        kind: AlertKind::Drop,
        level_before: 100.0,
        level_after: 1.0,
        evidence: hostile("share fell"),
        series: hostile("messages/day"),
    };
    let row = |name: &str, detail: &str| TopRow {
        name: name.to_string(),
        detail: detail.to_string(),
        families: vec![hostile("Rustock")],
        count: 7,
    };
    let data = ReportData {
        title: hostile("Trap report"),
        subtitle: hostile("from"),
        volume,
        volume_unit: "messages".into(),
        mix,
        alerts: vec![alert],
        figures: vec![(hostile("1"), hostile("label"))],
        // A campaign name and a spam subject.
        campaigns: vec![row(&hostile("pharma"), &hostile("Subject: cheap pills"))],
        brands: vec![row(&hostile("Canadian Pharmacy"), "")],
        // A clicked URL.
        clicked_sites: vec![row(
            &format!("http://www.gamecetera.com/{IMG}{SCRIPT}"),
            &format!("http://playdrom.com/?q={IMG}"),
        )],
        c2_servers: vec![row(&hostile("198.51.100.23:80"), &hostile("POST /x.php"))],
    };
    let out = TempDir::new("xss");
    let files = write_report(&data, &ReportOptions::default(), &out.0).expect("report");
    let html = read(&out.0.join("index.html"));
    assert_inert(&html, "index.html");
    // The text is there, escaped: the reader sees exactly what the
    // attacker wrote.
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("Subject: cheap pills"));
    assert!(html.contains("http://www.gamecetera.com/&quot;&gt;&lt;img"));
    // No fetch: a CSP that forbids everything but inline style.
    assert!(html.contains("default-src 'none'"));
    assert!(!html.contains("src=\"http"), "a remote resource");
    for f in &files.files {
        if f.extension().is_some_and(|e| e == "svg") {
            let svg = read(f);
            assert_inert(&svg, &f.display().to_string());
            assert!(svg.starts_with("<svg"), "{}", f.display());
        }
    }
}

#[test]
fn same_data_same_bytes() {
    let mut volume = Vec::new();
    for t in 0..40u32 {
        let day = d(2010, 11, 1) + chrono::Days::new(u64::from(t));
        volume.push(CountRow::on(day, "Rustock", if t < 25 { 300 } else { 1 }));
        volume.push(CountRow::on(day, "Cutwail", 150 + u64::from(t % 7)));
    }
    let alerts = detect(&volume, &[], &AlertConfig::default())
        .expect("alerts")
        .alerts;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let data = ReportData {
        volume,
        alerts,
        ..Default::default()
    };
    let (a, b) = (TempDir::new("det-a"), TempDir::new("det-b"));
    let fa = write_report(&data, &ReportOptions::default(), &a.0).expect("a");
    write_report(&data, &ReportOptions::default(), &b.0).expect("b");
    for f in &fa.files {
        let name = f.file_name().expect("name");
        let (x, y) = (
            std::fs::read(f).expect("a"),
            std::fs::read(b.0.join(name)).expect("b"),
        );
        assert!(x == y, "{} differs between runs", f.display());
    }
}

#[test]
fn empty_data_still_writes_a_page() {
    let out = TempDir::new("empty");
    let files =
        write_report(&ReportData::default(), &ReportOptions::default(), &out.0).expect("report");
    assert_eq!(files.files.len(), 9);
    for f in &files.files {
        assert!(f.exists(), "{}", f.display());
    }
    assert!(read(&out.0.join("index.html")).contains("No alert."));
}

/// Quoted CSV without its header.
fn csv(path: &Path) -> Vec<Vec<String>> {
    let text = read(path);
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !rows.is_empty() {
        rows.remove(0);
    }
    rows
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").expect("date")
}

/// Top rows from (name, detail, family) occurrences.
fn top(items: impl Iterator<Item = (String, String, String)>) -> Vec<TopRow> {
    let mut m: BTreeMap<String, (String, BTreeSet<String>, u64)> = BTreeMap::new();
    for (name, detail, fam) in items {
        let e = m.entry(name).or_default();
        if e.0.is_empty() {
            e.0 = detail;
        }
        e.1.insert(fam);
        e.2 += 1;
    }
    m.into_iter()
        .map(|(name, (detail, fams, count))| TopRow {
            name,
            detail,
            families: fams.into_iter().collect(),
            count,
        })
        .collect()
}

#[test]
fn winter_report() {
    // Six weeks around Christmas 2010 at a third of the volume: Rustock's
    // drop and return, Lethic's and Xarvester's silences.
    let keep = std::env::var_os("BOTSCOPE_REPORT_OUT").map(PathBuf::from);
    let world = TempDir::new("world");
    let scenario = botscope_sim::load_scenario("winter-2010").expect("scenario");
    // `BOTSCOPE_REPORT_WORLD=DIR`: a world simulated before (e.g. the
    // whole winter), to look at a bigger report.
    let world_dir = match std::env::var_os("BOTSCOPE_REPORT_WORLD") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let opts = botscope_sim::SimOptions {
                seed: 5,
                scale: 0.3,
                from: Some(d(2010, 12, 1)),
                to: Some(d(2011, 1, 20)),
                ..Default::default()
            };
            botscope_sim::simulate(&scenario, &opts, &world.0).expect("simulate");
            world.0.clone()
        }
    };
    let truth = world_dir.join("truth");
    let msgs = csv(&truth.join("messages.csv"));
    let conns = csv(&truth.join("connections.csv"));

    let mut vol: BTreeMap<(NaiveDate, String), u64> = BTreeMap::new();
    for r in &msgs {
        *vol.entry((date(&r[8]), r[3].clone())).or_default() += 1;
    }
    let names: BTreeMap<String, String> = vol
        .keys()
        .map(|k| (k.1.to_lowercase(), k.1.clone()))
        .collect();
    let mut mixc: BTreeMap<(NaiveDate, String, String), u64> = BTreeMap::new();
    let fam_of = |pcap: &str| {
        let dir = pcap.split('/').nth(1).unwrap_or("");
        names.get(dir).cloned().unwrap_or_else(|| dir.to_string())
    };
    for r in &conns {
        let day = date(r[0].rsplit('/').next().unwrap_or(""));
        *mixc.entry((day, fam_of(&r[0]), r[7].clone())).or_default() += 1;
    }
    let volume: Vec<CountRow> = vol
        .into_iter()
        .map(|((d, k), c)| CountRow::on(d, k, c))
        .collect();
    let mix: Vec<MixRow> = mixc
        .into_iter()
        .map(|((d, k, c), n)| MixRow::on(d, k, c, n))
        .collect();
    let alerts = detect(&volume, &mix, &AlertConfig::default())
        .expect("detect")
        .alerts;

    let host_of_ip: BTreeMap<String, String> = scenario
        .click_sites
        .iter()
        .map(|s| (s.ip.to_string(), s.host.clone()))
        .chain(scenario.families.iter().flat_map(|f| {
            f.c2.iter().map(|c| {
                (
                    c.ip.to_string(),
                    c.host.clone().unwrap_or_else(|| c.ip.to_string()),
                )
            })
        }))
        .collect();
    let site = |r: &Vec<String>| {
        let host = host_of_ip
            .get(&r[3])
            .cloned()
            .unwrap_or_else(|| r[3].clone());
        format!("{host}:{}", r[4])
    };
    let data = ReportData {
        title: "Spam trap and sandbox report".into(),
        subtitle: "botscope simulate --scenario winter-2010 --seed 5 --scale 0.3".into(),
        volume,
        volume_unit: "messages".into(),
        mix,
        alerts: alerts.clone(),
        figures: vec![(
            botscope_timeline::fmt::count(conns.len() as f64),
            "sandbox connections".into(),
        )],
        campaigns: top(msgs
            .iter()
            .map(|r| (r[4].clone(), format!("{} · {}", r[5], r[6]), r[3].clone()))),
        brands: top(msgs
            .iter()
            .map(|r| (r[6].clone(), String::new(), r[3].clone()))),
        clicked_sites: top(conns
            .iter()
            .filter(|r| r[7] == "click_fraud")
            .map(|r| (site(r), "http://playdrom.com/".to_string(), fam_of(&r[0])))),
        c2_servers: top(conns
            .iter()
            .filter(|r| r[7] == "c2")
            .map(|r| (site(r), String::new(), fam_of(&r[0])))),
    };
    let out_tmp = TempDir::new("winter");
    let out = keep.clone().unwrap_or_else(|| out_tmp.0.clone());
    let files = write_report(&data, &ReportOptions::default(), &out).expect("report");
    let html = read(&out.join("index.html"));
    // The story is on the page.
    for needle in [
        "quiet since 28 Dec",
        "quiet since 31 Dec",
        "back overnight",
        "click_fraud",
        "www.gamecetera.com",
        "Canadian Pharmacy",
    ] {
        assert!(html.contains(needle), "page lacks {needle:?}");
    }
    assert_eq!(html.matches("<svg").count(), 4, "four inline charts");
    assert_inert(&html, "index.html");
    // Real images: PNG signature and a size that holds a drawing.
    for f in files
        .files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "png"))
    {
        let bytes = std::fs::read(f).expect("png");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", f.display());
        assert!(
            bytes.len() > 5_000,
            "{}: {} bytes",
            f.display(),
            bytes.len()
        );
    }
    // Each alert is numbered on the total chart.
    let total = read(&out.join("total.svg"));
    assert!(alerts.len() >= 4, "{alerts:#?}");
    assert!(
        total.contains(">\n1\n<") || total.contains(">1<") || total.contains("1,"),
        "marker 1"
    );
    if let Some(k) = keep {
        println!("report in {}", k.display());
    }
}
