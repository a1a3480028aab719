//! Evaluation on reserved seeds (EVALUATION_SEEDS.md): three whole
//! winters of the simulator that no threshold, rule or scenario value
//! was tuned on. For each: every scripted event found within ±1 day with
//! its kind (an affiliate program's close on its brand's series), and
//! precision beside recall: family alerts with no scripted event of
//! their family within a day are false. The figures are printed (run
//! with `--nocapture`) and recorded in the crate's ACCURACY.md.
//!
//! These seeds are run to report, never to tune: if a rule changes
//! because of what this test printed, the seed moves to "seen" in
//! EVALUATION_SEEDS.md and a new one takes its place.

mod winter_common;

use botscope_timeline::{detect, move_alerts, volume_alerts, AlertConfig};
use winter_common::*;

/// Precision and recall of one reserved world.
fn evaluate(seed: u64) -> Score {
    let (dir, _guard) = world(seed);
    let c = counts(&dir);
    let cfg = AlertConfig::default();
    let fam = detect(&c.families, &c.mix, &cfg).expect("detect");
    let mut camp = volume_alerts(&c.campaigns, "trap messages/day", &cfg).expect("campaigns");
    let moves = move_alerts(&c.senders, "trap messages/day by campaign", &cfg).expect("moves");
    camp.alerts.extend(moves.alerts);
    let brand = volume_alerts(&c.brands, "trap messages/day by brand", &cfg).expect("brands");
    let s = score(&c.events, &fam.alerts, &camp.alerts, &brand.alerts);
    let events = c.events.len();
    let found = s.found.len();
    let true_family = s.family_alerts - s.false_family.len();
    println!(
        "seed {seed}: recall {found}/{events} scripted events; precision {true_family}/{} \
         family alerts near a scripted event of their family ({} campaign/brand alerts away from every event)",
        s.family_alerts,
        s.false_other.len()
    );
    for f in &s.found {
        println!("  found  {f}");
    }
    for f in &s.false_family {
        println!("  FALSE  {f}");
    }
    for f in &s.false_other {
        println!("  false (campaign/brand) {f}");
    }
    for m in &s.missed {
        println!("  MISSED {m}");
    }
    assert!(events >= 6, "seed {seed}: {events} scripted events");
    s
}

fn check(seed: u64) {
    let s = evaluate(seed);
    assert!(s.missed.is_empty(), "seed {seed}: missed {:#?}", s.missed);
    assert!(
        s.false_family.is_empty(),
        "seed {seed}: family alerts away from every scripted event: {:#?}",
        s.false_family
    );
}

#[test]
fn reserved_seed_5151() {
    check(5151);
}

#[test]
fn reserved_seed_5252() {
    check(5252);
}

#[test]
fn reserved_seed_5353() {
    check(5353);
}
