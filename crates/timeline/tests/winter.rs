//! Acceptance on the simulator: the winter of 2010-11 (scale 1, every
//! day from 1 Sep 2010 to 31 Jan 2011). Every scripted event of
//! `truth/events.csv` must be found within ±1 day with its kind; the
//! steady family (Cutwail) must raise no alert; the alerts that match
//! no scripted event are counted and bounded.
//!
//! Seed 1 is the seed the thresholds were tuned on; seed 7 is a second
//! world, but it was used to tune the presence rule (issue 14), so it is
//! "seen" (EVALUATION_SEEDS.md at the repository root lists the seeds
//! reserved for evaluation).

mod winter_common;

use botscope_timeline::{detect, move_alerts, volume_alerts, AlertConfig, AlertKind};
use winter_common::*;

fn check(seed: u64) {
    let (dir, _guard) = world(seed);
    let c = counts(&dir);
    assert!(
        c.events.len() >= 6,
        "seed {seed}: {} scripted events",
        c.events.len()
    );
    let cfg = AlertConfig::default();
    let fam = detect(&c.families, &c.mix, &cfg).expect("detect");
    let mut camp = volume_alerts(&c.campaigns, "trap messages/day", &cfg).expect("campaigns");
    let moves = move_alerts(&c.senders, "trap messages/day by campaign", &cfg).expect("moves");
    camp.alerts.extend(moves.alerts);
    let brand = volume_alerts(&c.brands, "trap messages/day by brand", &cfg).expect("brands");
    let s = score(&c.events, &fam.alerts, &camp.alerts, &brand.alerts);
    println!(
        "seed {seed}: {} family alerts, {} campaign alerts",
        fam.alerts.len(),
        camp.alerts.len()
    );
    for f in &s.found {
        println!("  found  {f}");
    }
    for f in &s.corroborating {
        println!("  also   {f}");
    }
    for f in s.false_alerts() {
        println!("  FALSE  {f}");
    }
    for m in &s.missed {
        println!("  MISSED {m}");
    }
    assert!(s.missed.is_empty(), "seed {seed}: missed {:?}", s.missed);
    let cutwail: Vec<_> = fam
        .alerts
        .iter()
        .filter(|a| a.family == "Cutwail")
        .collect();
    assert!(
        cutwail.is_empty(),
        "seed {seed}: Cutwail alerts {cutwail:?}"
    );
    assert!(
        s.false_alerts().len() <= 2,
        "seed {seed}: {} false alerts: {:#?}",
        s.false_alerts().len(),
        s.false_alerts()
    );
    // The story in words.
    let lethic = fam
        .alerts
        .iter()
        .find(|a| a.family == "Lethic" && a.kind == AlertKind::Silence)
        .expect("Lethic silence");
    assert!(
        lethic.evidence.starts_with("quiet since 28 Dec"),
        "{}",
        lethic.evidence
    );
    assert_eq!(lethic.level_after, 0.0);
    assert!(lethic.level_before > 50.0, "{}", lethic.level_before);
    let back = fam
        .alerts
        .iter()
        .find(|a| a.family == "Rustock" && a.kind == AlertKind::Return)
        .expect("Rustock return");
    assert!(
        back.evidence.starts_with("back overnight"),
        "{}",
        back.evidence
    );
    assert!(back.level_after > 100.0 * back.level_before.max(1.0));
}

#[test]
fn winter_events_found_on_the_tuning_seed() {
    check(1);
}

#[test]
fn winter_events_found_on_a_second_seed() {
    check(7);
}
