//! Accuracy against the simulator's ground truth (winter-2010, 21 Dec
//! 2010, seed 11, scale 0.3): Rustock spams and clicks at the same time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use botscope_activity::{analyze, ActivityConfig, Class, ConnVerdict, HostReport};

fn simulate() -> PathBuf {
    sim_day(11, 0.3, 21)
}

fn sim_day(seed: u64, scale: f64, dec: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "botscope-activity-sim-{}-{seed}-{dec}",
        std::process::id()
    ));
    let day = chrono::NaiveDate::from_ymd_opt(2010, 12, dec).expect("date");
    let sc = botscope_sim::load_scenario("winter-2010").expect("scenario");
    let opts = botscope_sim::SimOptions {
        seed,
        scale,
        from: Some(day),
        to: Some(day),
        pcaps: true,
        mail: false,
        trap_captures: false,
    };
    botscope_sim::simulate(&sc, &opts, &dir).expect("simulate");
    dir
}

fn run(pcap: &Path) -> (Vec<HostReport>, Vec<ConnVerdict>) {
    let (shards, _) =
        botscope_engine::analyze_file(pcap, &botscope_engine::EngineConfig::default(), |_| {
            Vec::<botscope_event::Event>::new()
        });
    let events: Vec<_> = shards.into_iter().flatten().collect();
    analyze(&events, &ActivityConfig::default())
}

type Key = (String, u16, String, u16, String);

/// Truth rows of one capture: 5-tuple → class.
fn truth(dir: &Path, pcap: &str) -> HashMap<Key, String> {
    let text = std::fs::read_to_string(dir.join("truth/connections.csv")).expect("truth");
    let mut m = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 8 || f[0] != pcap {
            continue;
        }
        let (Ok(op), Ok(rp)) = (f[2].parse(), f[4].parse()) else {
            continue;
        };
        m.insert(
            (f[1].to_string(), op, f[3].to_string(), rp, f[5].to_string()),
            f[7].to_string(),
        );
    }
    m
}

#[derive(Default, Debug)]
struct Pr {
    tp: u64,
    fp: u64,
    fn_: u64,
}

impl Pr {
    fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
}

/// Per-class precision/recall, DNS connections skipped.
fn score(truth: &HashMap<Key, String>, verdicts: &[ConnVerdict]) -> (HashMap<String, Pr>, u64) {
    let mut pr: HashMap<String, Pr> = HashMap::new();
    let mut unmatched = 0;
    for v in verdicts {
        let k = (
            v.id.orig_h.to_string(),
            v.id.orig_p,
            v.id.resp_h.to_string(),
            v.id.resp_p,
            v.id.proto.zeek_name().to_string(),
        );
        let Some(t) = truth.get(&k) else {
            unmatched += 1;
            continue;
        };
        if t == "dns" || v.is_dns {
            continue;
        }
        let got = v.class.as_str();
        if got == t {
            pr.entry(t.clone()).or_default().tp += 1;
        } else {
            pr.entry(t.clone()).or_default().fn_ += 1;
            pr.entry(got.to_string()).or_default().fp += 1;
        }
    }
    (pr, unmatched)
}

fn print(name: &str, pr: &HashMap<String, Pr>) {
    let mut names: Vec<_> = pr.keys().cloned().collect();
    names.sort();
    for n in names {
        let p = &pr[&n];
        println!(
            "{name} {n:12} tp {:6} fp {:4} fn {:4} precision {:.4} recall {:.4}",
            p.tp,
            p.fp,
            p.fn_,
            p.precision(),
            p.recall()
        );
    }
}

#[test]
fn rustock_and_cutwail_against_truth() {
    let dir = simulate();
    // Rustock: spam dominates, click fraud about 1% of connections.
    let name = "pcap/rustock/2010-12-21.pcap";
    let (reports, verdicts) = run(&dir.join(name));
    let t = truth(&dir, name);
    let (pr, unmatched) = score(&t, &verdicts);
    print("rustock", &pr);
    println!("rustock verdicts {} unmatched {unmatched}", verdicts.len());
    for r in &reports {
        for a in &r.activities {
            println!(
                "  {} {:12} conns {:6} share {:.4} peers {:?}\n      evidence {:?}",
                r.host,
                a.class,
                a.connections,
                a.share,
                a.peers,
                &a.evidence[..a.evidence.len().min(3)]
            );
        }
    }
    let cf = pr.get("click_fraud").expect("click fraud in truth");
    assert!(cf.recall() >= 0.95, "click fraud recall {:?}", cf);
    assert!(cf.precision() >= 0.95, "click fraud precision {:?}", cf);
    let spam = pr.get("spam").expect("spam");
    assert!(spam.recall() >= 0.9 && spam.precision() >= 0.9, "{spam:?}");
    let host = reports
        .iter()
        .max_by_key(|r| r.activities.iter().map(|a| a.connections).sum::<u64>())
        .expect("host");
    // On this day at this scale Rustock's spam has decayed (Christmas is
    // near): the check-ins are the largest class; spam and click fraud
    // must both be listed anyway.
    println!("rustock largest activity {}", host.activities[0].class);
    assert!(host
        .activity(Class::Spam)
        .is_some_and(|a| a.connections > 0));
    let click = host
        .activity(Class::ClickFraud)
        .expect("click fraud listed");
    assert!(click.share < 0.05 && click.share > 0.0, "{}", click.share);
    assert!(!click.evidence.is_empty() && click.evidence.len() <= 8);
    assert!(click.peers.len() <= 5);
    for c in ["c2", "download"] {
        if let Some(p) = pr.get(c) {
            if p.tp + p.fn_ > 0 {
                assert!(p.recall() >= 0.9, "{c} {p:?}");
            }
        }
    }

    let name = "pcap/cutwail/2010-12-21.pcap";
    let (_, verdicts) = run(&dir.join(name));
    let t = truth(&dir, name);
    let (pr, _) = score(&t, &verdicts);
    print("cutwail", &pr);
    for c in ["spam", "c2", "download"] {
        if let Some(p) = pr.get(c) {
            if p.tp + p.fn_ > 0 {
                assert!(p.recall() >= 0.9, "cutwail {c} {p:?}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// After Christmas Rustock only clicks and downloads; another seed than
/// the tuning day's, full scale (read since, so "seen": see
/// EVALUATION_SEEDS.md at the repository root).
#[test]
fn rustock_after_christmas_second_seed() {
    let dir = sim_day(23, 1.0, 27);
    let name = "pcap/rustock/2010-12-27.pcap";
    let (reports, verdicts) = run(&dir.join(name));
    let (pr, _) = score(&truth(&dir, name), &verdicts);
    print("rustock-12-27-seed23", &pr);
    let cf = pr.get("click_fraud").expect("click fraud in truth");
    assert!(cf.tp >= 20, "{cf:?}");
    assert!(cf.recall() >= 0.95 && cf.precision() >= 0.95, "{cf:?}");
    for c in ["c2", "download"] {
        if let Some(p) = pr.get(c) {
            if p.tp + p.fn_ > 0 {
                assert!(p.recall() >= 0.9 && p.precision() >= 0.9, "{c} {p:?}");
            }
        }
    }
    assert!(reports
        .iter()
        .any(|r| r.activity(Class::ClickFraud).is_some()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Early December: spam is the bulk of Rustock's traffic and the clicks
/// run under it (what M86 missed). Seed not used while tuning.
#[test]
fn rustock_clicks_under_heavy_spam() {
    let dir = sim_day(37, 30.0, 6);
    let name = "pcap/rustock/2010-12-06.pcap";
    let (reports, verdicts) = run(&dir.join(name));
    let (pr, _) = score(&truth(&dir, name), &verdicts);
    print("rustock-12-06-seed37", &pr);
    let host = reports
        .iter()
        .max_by_key(|r| r.activities.iter().map(|a| a.connections).sum::<u64>())
        .expect("host");
    for a in &host.activities {
        println!(
            "  {:12} conns {:6} share {:.4}",
            a.class, a.connections, a.share
        );
    }
    // Benign holds the DNS lookups (2 491 of its connections here); of the
    // bot's own traffic, spam is by far the largest.
    let bot: Vec<_> = host
        .activities
        .iter()
        .filter(|a| a.class != Class::Benign)
        .collect();
    assert_eq!(bot[0].class, Class::Spam, "spam dominates");
    let non_dns = verdicts.iter().filter(|v| !v.is_dns).count() as f64;
    let spam_share = pr["spam"].tp as f64 / non_dns;
    println!("spam share of non-DNS connections {spam_share:.3}");
    assert!(spam_share > 0.6);
    let cf = pr.get("click_fraud").expect("click fraud in truth");
    assert!(cf.recall() >= 0.95 && cf.precision() >= 0.95, "{cf:?}");
    let spam = pr.get("spam").expect("spam");
    assert!(spam.recall() >= 0.9 && spam.precision() >= 0.9, "{spam:?}");
    let click = host
        .activity(Class::ClickFraud)
        .expect("click fraud listed");
    assert!(click.share < 0.05, "{}", click.share);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The reserved seed (EVALUATION_SEEDS.md): a whole sandbox day of every
/// family, 14 Dec 2010 (Rustock spams and clicks), scale 2 — run to
/// report, never to tune. Per class over all six captures: precision and
/// recall (printed; `--nocapture`). The floors were fixed before the
/// first run, from the seen seeds' tests above: 0.9 for every class with
/// at least 20 true connections, 0.95 for click fraud whatever its count
/// (the small activity under the spam). The first run, at scale 0.5, had
/// every class at 1.0 and 2 click-fraud connections; the scale was
/// raised to 2 (6 of them), nothing else changed: at 1 % of a spamming
/// bot's connections, click fraud stays a handful a day.
#[test]
fn reserved_seed_4242_every_family() {
    const RESERVED: u64 = 4242;
    let dir = sim_day(RESERVED, 2.0, 14);
    let mut all: HashMap<String, Pr> = HashMap::new();
    let mut captures = 0;
    for fam in ["bagle", "cutwail", "grum", "lethic", "rustock", "xarvester"] {
        let name = format!("pcap/{fam}/2010-12-14.pcap");
        if !dir.join(&name).is_file() {
            continue;
        }
        captures += 1;
        let (_, verdicts) = run(&dir.join(&name));
        let (pr, _) = score(&truth(&dir, &name), &verdicts);
        print(&format!("seed {RESERVED} {fam}"), &pr);
        for (c, p) in pr {
            let a = all.entry(c).or_default();
            a.tp += p.tp;
            a.fp += p.fp;
            a.fn_ += p.fn_;
        }
    }
    print(&format!("seed {RESERVED} all"), &all);
    assert_eq!(captures, 6, "a capture per family");
    for (c, p) in &all {
        if p.tp + p.fn_ < 20 && c != "click_fraud" {
            continue;
        }
        let floor = if c == "click_fraud" { 0.95 } else { 0.9 };
        assert!(
            p.recall() >= floor && p.precision() >= floor,
            "seed {RESERVED} {c}: {p:?}"
        );
    }
    assert!(
        all.get("click_fraud").is_some_and(|p| p.tp + p.fn_ > 0),
        "no click fraud in the truth: {all:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
