//! The Rustock winter as numbers, measured on the generated truth.

mod world_common;

use std::collections::BTreeMap;

use botscope_sim::SimOptions;
use world_common::*;

/// Messages per (day, family) and per (day, category) from messages.csv.
struct Counts {
    by_family: BTreeMap<(String, String), u64>,
    pharma: BTreeMap<String, u64>,
    total: BTreeMap<String, u64>,
    rustock_pharma: BTreeMap<String, u64>,
}

fn counts(rows: &[Vec<String>]) -> Counts {
    let h = &rows[0];
    let (fc, famc, catc) = (col(h, "file"), col(h, "family"), col(h, "category"));
    let mut c = Counts {
        by_family: BTreeMap::new(),
        pharma: BTreeMap::new(),
        total: BTreeMap::new(),
        rustock_pharma: BTreeMap::new(),
    };
    for r in &rows[1..] {
        let day = r[fc]
            .trim_start_matches("mail/")
            .trim_end_matches(".mbox")
            .to_string();
        *c.by_family
            .entry((day.clone(), r[famc].clone()))
            .or_default() += 1;
        *c.total.entry(day.clone()).or_default() += 1;
        if r[catc] == "pharma" {
            *c.pharma.entry(day.clone()).or_default() += 1;
            if r[famc] == "Rustock" {
                *c.rustock_pharma.entry(day).or_default() += 1;
            }
        }
    }
    c
}

impl Counts {
    fn fam(&self, day: &str, fam: &str) -> u64 {
        self.by_family
            .get(&(day.to_string(), fam.to_string()))
            .copied()
            .unwrap_or(0)
    }
    fn share(&self, day: &str, fam: &str) -> f64 {
        self.fam(day, fam) as f64 / self.total.get(day).copied().unwrap_or(0).max(1) as f64
    }
    fn days(&self) -> Vec<String> {
        self.total.keys().cloned().collect()
    }
}

fn days_between(c: &Counts, from: &str, to: &str) -> Vec<String> {
    c.days()
        .into_iter()
        .filter(|d| d.as_str() >= from && d.as_str() <= to)
        .collect()
}

#[test]
fn the_rustock_winter() {
    let opts = SimOptions {
        seed: 2010,
        scale: 0.3,
        pcaps: false,
        ..Default::default()
    };
    let (dir, sum) = winter("story", opts);
    assert_eq!(sum.days, 153);
    let rows = read_csv(&dir.path().join("truth/messages.csv"));
    assert_eq!(rows.len() as u64 - 1, sum.messages);
    let c = counts(&rows);
    assert_eq!(c.days().len(), 153, "every day has trap mail");

    // Rustock is the largest at first, about 40%.
    let early_sep = days_between(&c, "2010-09-01", "2010-09-07");
    let r: u64 = early_sep.iter().map(|d| c.fam(d, "Rustock")).sum();
    let t: u64 = early_sep.iter().map(|d| c.total[d]).sum();
    let share = r as f64 / t as f64;
    assert!(
        (0.33..0.5).contains(&share),
        "Rustock share in early September {share}"
    );

    // > 20% in early November.
    for d in days_between(&c, "2010-11-01", "2010-11-07") {
        assert!(
            c.share(&d, "Rustock") > 0.20,
            "{d}: {}",
            c.share(&d, "Rustock")
        );
    }
    // < 0.5% on Christmas day.
    assert!(
        c.share("2010-12-25", "Rustock") < 0.005,
        "{}",
        c.share("2010-12-25", "Rustock")
    );
    // Lethic silent from 28 Dec, Xarvester from 31 Dec (and not before).
    assert!(c.fam("2010-12-27", "Lethic") > 0 && c.fam("2010-12-30", "Xarvester") > 0);
    for d in days_between(&c, "2010-12-28", "2011-01-31") {
        assert_eq!(c.fam(&d, "Lethic"), 0, "Lethic on {d}");
    }
    for d in days_between(&c, "2010-12-31", "2011-01-31") {
        assert_eq!(c.fam(&d, "Xarvester"), 0, "Xarvester on {d}");
    }
    // Cutwail steady: within ±30% of its median all along.
    let mut cut: Vec<u64> = c.days().iter().map(|d| c.fam(d, "Cutwail")).collect();
    let all = cut.clone();
    cut.sort_unstable();
    let median = cut[cut.len() / 2] as f64;
    for (d, n) in c.days().iter().zip(all) {
        let dev = (n as f64 - median).abs() / median;
        assert!(dev <= 0.3, "Cutwail on {d}: {n} vs median {median}");
    }
    // Rustock back overnight on 10 Jan, with pharma.
    let (r9, r10) = (
        c.fam("2011-01-09", "Rustock"),
        c.fam("2011-01-10", "Rustock"),
    );
    assert!(r10 > 10 * r9.max(1), "9 Jan {r9}, 10 Jan {r10}");
    let pharma10 = c.rustock_pharma.get("2011-01-10").copied().unwrap_or(0);
    assert!(
        pharma10 as f64 > 0.5 * r10 as f64,
        "{pharma10} of {r10} pharma"
    );
    // Pharma share of all spam falls from mid-September to mid-November.
    let week_share = |from: &str, to: &str| {
        let days = days_between(&c, from, to);
        let p: u64 = days
            .iter()
            .map(|d| c.pharma.get(d).copied().unwrap_or(0))
            .sum();
        let t: u64 = days.iter().map(|d| c.total[d]).sum();
        p as f64 / t as f64
    };
    let (sep, nov) = (
        week_share("2010-09-13", "2010-09-19"),
        week_share("2010-11-08", "2010-11-14"),
    );
    assert!(
        nov < 0.75 * sep,
        "pharma share {sep} in mid-September, {nov} in mid-November"
    );
    // Global volume declines from September to December.
    let vol = |from: &str, to: &str| {
        days_between(&c, from, to)
            .iter()
            .map(|d| c.total[d])
            .sum::<u64>()
    };
    assert!(vol("2010-12-01", "2010-12-07") < vol("2010-09-13", "2010-09-19"));

    // Every scripted event, with its date.
    let ev = read_csv(&dir.path().join("truth/events.csv"));
    assert_eq!(ev[0], ["date", "family", "kind", "description"]);
    let got: Vec<(String, String, String)> = ev[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    let want = [
        ("2010-09-27", "", "drop"),
        ("2010-11-16", "Bagle", "move"),
        ("2010-12-01", "Rustock", "shift"),
        ("2010-12-25", "Rustock", "drop"),
        ("2010-12-28", "Lethic", "silence"),
        ("2010-12-31", "Xarvester", "silence"),
        ("2011-01-10", "Rustock", "return"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(sum.events, 7);

    // The stock-pump customer moves from Xarvester to Bagle on 16 Nov:
    // before, Xarvester sends it and Bagle does not; after, the reverse.
    // Family volumes do not jump (capacity is rented, not grown).
    let stock = |fam: &str, from: &str, to: &str| -> u64 {
        rows.iter()
            .skip(1)
            .filter(|r| {
                let day = &r[8][..10];
                r[3] == fam && r[4] == "stock-pump" && day >= from && day <= to
            })
            .count() as u64
    };
    assert!(stock("Xarvester", "2010-11-01", "2010-11-15") > 50);
    assert_eq!(stock("Bagle", "2010-09-01", "2010-11-15"), 0);
    assert_eq!(stock("Xarvester", "2010-11-16", "2011-01-31"), 0);
    assert!(stock("Bagle", "2010-11-16", "2010-11-30") > 20);
    let week = |fam: &str, from: &str, to: &str| -> u64 {
        days_between(&c, from, to)
            .iter()
            .map(|d| c.fam(d, fam))
            .sum()
    };
    for fam in ["Xarvester", "Bagle"] {
        let (before, after) = (
            week(fam, "2010-11-02", "2010-11-15"),
            week(fam, "2010-11-16", "2010-11-29"),
        );
        let ratio = after as f64 / before as f64;
        assert!((0.6..1.6).contains(&ratio), "{fam}: {before} → {after}");
    }
}
