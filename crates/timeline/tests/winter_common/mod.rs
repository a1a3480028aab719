//! The simulated winter of 2010-11 as count rows, and the scoring of
//! alerts against its scripted events.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use botscope_timeline::{Alert, CountRow, MixRow};
use chrono::NaiveDate;

/// A folder under the temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The whole winter-2010 world (trap mail and sandbox captures, scale 1)
/// for `seed`, or the world already in `$BOTSCOPE_TIMELINE_WORLD_<seed>`
/// (for iterating on the rules without regenerating).
pub fn world(seed: u64) -> (PathBuf, Option<TempDir>) {
    if let Some(dir) = std::env::var_os(format!("BOTSCOPE_TIMELINE_WORLD_{seed}")) {
        return (PathBuf::from(dir), None);
    }
    let dir = std::env::temp_dir().join(format!(
        "botscope-timeline-winter-{seed}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let guard = TempDir(dir.clone());
    let scenario = botscope_sim::load_scenario("winter-2010").expect("scenario");
    let opts = botscope_sim::SimOptions {
        seed,
        ..Default::default()
    };
    botscope_sim::simulate(&scenario, &opts, &dir).expect("simulate");
    // The captures themselves are not needed: connections.csv holds
    // their classes.
    let _ = std::fs::remove_dir_all(dir.join("pcap"));
    let _ = std::fs::remove_dir_all(dir.join("mail"));
    (dir, Some(guard))
}

/// Rows of a CSV file without its header, quotes undone.
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
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
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    if !rows.is_empty() {
        rows.remove(0);
    }
    rows
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text.get(..10).unwrap_or(text), "%Y-%m-%d")
        .unwrap_or_else(|e| panic!("bad date {text:?}: {e}"))
}

/// The world as the store would count it.
pub struct Counts {
    /// Messages per family per day (`truth/messages.csv`).
    pub families: Vec<CountRow>,
    /// Messages per campaign per day.
    pub campaigns: Vec<CountRow>,
    /// Messages per brand per day (messages without a brand are not a
    /// series, as in `botscope alerts`).
    pub brands: Vec<CountRow>,
    /// Sandbox connections per family, class and day
    /// (`truth/connections.csv`).
    pub mix: Vec<MixRow>,
    /// Messages per campaign, sending family and day (for moves).
    pub senders: Vec<MixRow>,
    /// Scripted events (`truth/events.csv`).
    pub events: Vec<Event>,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub date: NaiveDate,
    /// Empty for an affiliate program's close (it concerns campaigns).
    pub family: String,
    pub kind: String,
    /// For an affiliate program's close: the brands of the campaigns it
    /// paid for (from the scenario), whose series must show it.
    pub brands: Vec<String>,
}

pub fn counts(dir: &Path) -> Counts {
    let truth = dir.join("truth");
    let mut fam: BTreeMap<(NaiveDate, String), u64> = BTreeMap::new();
    let mut camp: BTreeMap<(NaiveDate, String), u64> = BTreeMap::new();
    let mut brand: BTreeMap<(NaiveDate, String), u64> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut senders: BTreeMap<(NaiveDate, String, String), u64> = BTreeMap::new();
    for r in read_csv(&truth.join("messages.csv")) {
        let d = date(&r[8]);
        *fam.entry((d, r[3].clone())).or_default() += 1;
        *senders.entry((d, r[4].clone(), r[3].clone())).or_default() += 1;
        *camp.entry((d, r[4].clone())).or_default() += 1;
        if !r[6].is_empty() {
            *brand.entry((d, r[6].clone())).or_default() += 1;
        }
        names.insert(r[3].to_lowercase(), r[3].clone());
    }
    let mut mix: BTreeMap<(NaiveDate, String, String), u64> = BTreeMap::new();
    for r in read_csv(&truth.join("connections.csv")) {
        // pcap/rustock/2010-12-20.pcap
        let parts: Vec<&str> = r[0].split('/').collect();
        let family = names
            .get(parts[1])
            .cloned()
            .unwrap_or_else(|| parts[1].to_string());
        let d = date(parts[2]);
        *mix.entry((d, family, r[7].clone())).or_default() += 1;
    }
    // Which brands an affiliate program's close concerns: the scenario's
    // campaigns it paid for.
    let scenario = botscope_sim::load_scenario("winter-2010").expect("scenario");
    let affiliate_brands = |day: NaiveDate| -> Vec<String> {
        let mut b: Vec<String> = scenario
            .affiliates
            .iter()
            .filter(|a| a.closes.is_some_and(|c| c.0 == day))
            .flat_map(|a| a.campaigns.iter())
            .filter_map(|c| scenario.campaigns.iter().find(|x| &x.name == c))
            .map(|c| c.brand.clone())
            .filter(|b| !b.is_empty())
            .collect();
        b.sort();
        b.dedup();
        b
    };
    let events = read_csv(&truth.join("events.csv"))
        .into_iter()
        .map(|r| {
            let d = date(&r[0]);
            Event {
                date: d,
                family: r[1].clone(),
                kind: r[2].clone(),
                brands: if r[1].is_empty() {
                    affiliate_brands(d)
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    Counts {
        families: fam
            .into_iter()
            .map(|((d, k), c)| CountRow::on(d, k, c))
            .collect(),
        campaigns: camp
            .into_iter()
            .map(|((d, k), c)| CountRow::on(d, k, c))
            .collect(),
        brands: brand
            .into_iter()
            .map(|((d, k), c)| CountRow::on(d, k, c))
            .collect(),
        mix: mix
            .into_iter()
            .map(|((d, k, c), n)| MixRow::on(d, k, c, n))
            .collect(),
        senders: senders
            .into_iter()
            .map(|((d, k, c), n)| MixRow::on(d, k, c, n))
            .collect(),
        events,
    }
}

/// How the alerts compare with the scripted events.
#[derive(Debug, Default)]
pub struct Score {
    /// Events with no alert of their kind within ±1 day.
    pub missed: Vec<String>,
    /// Alerts that found a scripted event.
    pub found: Vec<String>,
    /// Other alerts on a scripted event's family within ±1 day of it
    /// (another side of the same event: Rustock's mix shifting when its
    /// spam drops), and campaign or brand alerts near any event.
    pub corroborating: Vec<String>,
    /// Family alerts (volume and mix) with no scripted event of their
    /// family near them: the false alerts an analyst would chase.
    pub false_family: Vec<String>,
    /// Campaign and brand alerts with no scripted event near them.
    pub false_other: Vec<String>,
    /// Family alerts in all.
    pub family_alerts: usize,
}

impl Score {
    /// Every false alert.
    pub fn false_alerts(&self) -> Vec<&String> {
        self.false_family.iter().chain(&self.false_other).collect()
    }
}

fn line(a: &Alert) -> String {
    format!(
        "{} {:<10} {:<11} {:>10.3} → {:<10.3} {} [{}]",
        a.date(),
        a.family,
        a.kind.as_str(),
        a.level_before,
        a.level_after,
        a.evidence,
        a.series
    )
}

/// Score `family_alerts` (family volume and mix) against `events` with a
/// family, `brand_alerts` against the events without one (an affiliate
/// program closing must show on its brand's series) and `campaign_alerts`
/// against the moves (a customer's campaign going to the event's family);
/// other campaign alerts corroborate or are false.
pub fn score(
    events: &[Event],
    family_alerts: &[Alert],
    campaign_alerts: &[Alert],
    brand_alerts: &[Alert],
) -> Score {
    let near = |a: &Alert, e: &Event| (a.date() - e.date).num_days().abs() <= 1;
    let mut s = Score {
        family_alerts: family_alerts.len(),
        ..Default::default()
    };
    let mut used = vec![false; family_alerts.len()];
    let mut used_b = vec![false; brand_alerts.len()];
    let mut used_c = vec![false; campaign_alerts.len()];
    for e in events {
        let (pool, used) = if e.kind == "move" {
            (campaign_alerts, &mut used_c)
        } else if e.family.is_empty() {
            (brand_alerts, &mut used_b)
        } else {
            (family_alerts, &mut used)
        };
        let hit = pool.iter().position(|a| {
            near(a, e)
                && a.kind.as_str() == e.kind
                && if e.kind == "move" {
                    a.series.contains(&format!("→ {})", e.family))
                } else if e.family.is_empty() {
                    e.brands.contains(&a.family)
                } else {
                    a.family == e.family
                }
        });
        match hit {
            Some(i) => {
                used[i] = true;
                s.found.push(format!(
                    "{} {} {} ← {}",
                    e.date,
                    if e.family.is_empty() {
                        e.brands.join("/")
                    } else {
                        e.family.clone()
                    },
                    e.kind,
                    line(&pool[i])
                ));
            }
            None => s.missed.push(format!(
                "{} {} {}",
                e.date,
                if e.family.is_empty() {
                    format!("(brand {})", e.brands.join("/"))
                } else {
                    e.family.clone()
                },
                e.kind
            )),
        }
    }
    for (i, a) in family_alerts.iter().enumerate() {
        if used[i] {
            continue;
        }
        if events.iter().any(|e| e.family == a.family && near(a, e)) {
            s.corroborating.push(line(a));
        } else {
            s.false_family.push(line(a));
        }
    }
    let others = campaign_alerts
        .iter()
        .enumerate()
        .filter(|(i, _)| !used_c[*i])
        .map(|(_, a)| a)
        .chain(
            brand_alerts
                .iter()
                .enumerate()
                .filter(|(i, _)| !used_b[*i])
                .map(|(_, a)| a),
        );
    for a in others {
        // A campaign or brand changes when an affiliate program closes,
        // and when a family that sends it goes quiet, drops or returns.
        if events.iter().any(|e| near(a, e)) {
            s.corroborating.push(line(a));
        } else {
            s.false_other.push(line(a));
        }
    }
    s
}
