//! Hostile and odd input: no panic, bounded work, same answer every
//! time; the configuration file.

use botscope_event::Ts;
use botscope_timeline::{
    detect, move_alerts, volume_alerts, AlertConfig, AlertKind, CountRow, ErrorKind, MixRow, DAY_US,
};
use chrono::NaiveDate;

fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

fn d(m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2010, m, day).unwrap()
}

#[test]
fn random_rows_never_panic_and_give_the_same_alerts_in_any_order() {
    let mut seed = 42;
    let keys = ["Rustock", "", "<script>", "ż", "a\u{0}b", "Cutwail"];
    let classes = ["spam", "c2", "click_fraud", "dns", "", "x"];
    for round in 0..30 {
        let n = 50 + (lcg(&mut seed) % 400) as usize;
        let base = 14_000i64 * DAY_US;
        let mut rows = Vec::new();
        let mut mix = Vec::new();
        for _ in 0..n {
            let day = (lcg(&mut seed) % 120) as i64;
            let ts = match lcg(&mut seed) % 50 {
                0 => Ts(i64::MIN),
                1 => Ts(i64::MAX),
                _ => Ts(base + day * DAY_US + (lcg(&mut seed) % 86_400) as i64 * 1_000_000),
            };
            let count = match lcg(&mut seed) % 40 {
                0 => u64::MAX,
                1..=8 => 0,
                _ => lcg(&mut seed) % 500,
            };
            let key = keys[(lcg(&mut seed) % keys.len() as u64) as usize];
            rows.push(CountRow::new(ts, key, count));
            let class = classes[(lcg(&mut seed) % classes.len() as u64) as usize];
            mix.push(MixRow::new(ts, key, class, count % 1000));
        }
        let cfg = AlertConfig {
            max_days: 400,
            ..Default::default()
        };
        let mut a = detect(&rows, &mix, &cfg).expect("detect");
        let ma = move_alerts(&mix, "x", &cfg).expect("moves");
        rows.reverse();
        mix.reverse();
        let b = detect(&rows, &mix, &cfg).expect("detect");
        assert_eq!(a, b, "round {round}: order changed the alerts");
        let mb = move_alerts(&mix, "x", &cfg).expect("moves");
        assert_eq!(ma, mb, "round {round}: order changed the moves");
        a.alerts.extend(ma.alerts);
        for al in &a.alerts {
            assert!(al.level_before.is_finite() && al.level_after.is_finite());
            assert!(!al.evidence.is_empty());
        }
    }
}

#[test]
fn caps_bound_the_work_and_are_counted() {
    let rows: Vec<CountRow> = (0..50)
        .map(|i| CountRow::on(d(12, 1), format!("f{i:02}"), 10 + i))
        .collect();
    let cfg = AlertConfig {
        max_keys: 5,
        ..Default::default()
    };
    let det = volume_alerts(&rows, "messages/day", &cfg).expect("alerts");
    assert_eq!(det.series, 5);
    assert_eq!(det.skipped.keys, 45);
    assert_eq!(det.skipped.key_rows, 45);
}

#[test]
fn a_silence_then_a_return_in_plain_words() {
    // 30 days at ~200, 10 days of nothing, 20 days back at ~190.
    let mut rows = Vec::new();
    let start = d(11, 1);
    for t in 0..60u64 {
        let day = start + chrono::Days::new(t);
        let v = match t {
            0..30 => 200 + (t * 7) % 13,
            30..40 => 0,
            _ => 190 + (t * 5) % 11,
        };
        if v > 0 {
            rows.push(CountRow::on(day, "Lethic", v));
        }
        rows.push(CountRow::on(day, "Cutwail", 150 + (t * 3) % 9));
    }
    let det = volume_alerts(&rows, "messages/day", &AlertConfig::default()).expect("alerts");
    let kinds: Vec<(NaiveDate, &str, AlertKind)> = det
        .alerts
        .iter()
        .map(|a| (a.date(), a.family.as_str(), a.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (d(12, 1), "Lethic", AlertKind::Silence),
            (d(12, 11), "Lethic", AlertKind::Return),
        ]
    );
    assert_eq!(
        det.alerts[0].evidence,
        "quiet since 1 Dec: nothing for 10 days (206/day before)"
    );
    assert!(
        det.alerts[1]
            .evidence
            .starts_with("back overnight: 0 → 195/day"),
        "{}",
        det.alerts[1].evidence
    );
    assert_eq!(det.alerts[0].ts, botscope_timeline::day_start(d(12, 1)));
    assert_eq!(det.alerts[0].series, "messages/day: Lethic");
}

#[test]
fn a_trap_outage_blames_no_family() {
    // Every family halves together: shares hold, so no drop; the level
    // change is a plain change point at most.
    let mut rows = Vec::new();
    for t in 0..60u64 {
        let day = d(10, 1) + chrono::Days::new(t);
        let f = if t < 30 { 1.0 } else { 0.3 };
        rows.push(CountRow::on(day, "A", (300.0 * f) as u64 + t % 7));
        rows.push(CountRow::on(day, "B", (100.0 * f) as u64 + t % 5));
    }
    let det = volume_alerts(&rows, "messages/day", &AlertConfig::default()).expect("alerts");
    assert!(
        det.alerts.iter().all(|a| a.kind == AlertKind::Changepoint),
        "{det:#?}"
    );
    assert!(det.alerts.iter().all(|a| a.date() == d(10, 31)), "{det:#?}");
}

#[test]
fn config_from_toml() {
    let cfg = AlertConfig::from_toml("silence_days = 4\ndrop_factor = 0.3\n").expect("toml");
    assert_eq!(cfg.silence_days, 4);
    assert_eq!(cfg.drop_factor, 0.3);
    assert_eq!(cfg.penalty, AlertConfig::default().penalty);
    let e = AlertConfig::from_toml("silense_days = 4").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::ConfigParse(_)), "{e}");
    assert!(e.to_string().contains("silense_days"), "{e}");
    let e = AlertConfig::from_toml("drop_factor = 1.5").unwrap_err();
    assert!(e.to_string().contains("drop_factor"), "{e}");
    // The defaults written out read back the same.
    let text = toml::to_string(&AlertConfig::default()).expect("to toml");
    assert_eq!(
        AlertConfig::from_toml(&text).expect("round trip"),
        AlertConfig::default()
    );
}

#[test]
fn a_small_new_activity_under_a_big_one_is_a_shift() {
    // A spamming bot: ~100 C&C and ~40 spam connections a day; from day
    // 20 one click-fraud GET a day (under 1 %) — too small to move the
    // mix's change points, but new. A download now and then (about two
    // days in five, at random) is not news, nor is its absence for a week.
    let mut seed = 7u64;
    let mut rows = Vec::new();
    let start = d(11, 10);
    for t in 0..55u64 {
        let day = start + chrono::Days::new(t);
        let ts = botscope_timeline::day_start(day);
        rows.push(MixRow::new(ts, "Rustock", "c2", 95 + lcg(&mut seed) % 10));
        rows.push(MixRow::new(ts, "Rustock", "spam", 35 + lcg(&mut seed) % 10));
        if t >= 20 {
            rows.push(MixRow::new(ts, "Rustock", "click_fraud", 1));
        }
        if lcg(&mut seed) % 5 < 2 {
            rows.push(MixRow::new(ts, "Rustock", "download", 1));
        }
    }
    let det = detect(&[], &rows, &AlertConfig::default()).expect("alerts");
    let got: Vec<(NaiveDate, AlertKind)> = det.alerts.iter().map(|a| (a.date(), a.kind)).collect();
    assert_eq!(
        got,
        vec![(d(11, 30), AlertKind::Shift)],
        "{:#?}",
        det.alerts
    );
    let a = &det.alerts[0];
    assert!(
        a.evidence.starts_with("click_fraud appeared: 0% → 0.7")
            && a.evidence
                .contains("seen on 35 of the 35 observed days since"),
        "{}",
        a.evidence
    );
    assert_eq!((a.level_before, a.family.as_str()), (0.0, "Rustock"));

    // It stops again: named as well.
    let cut: Vec<MixRow> = rows
        .iter()
        .filter(|r| {
            !(r.class == "click_fraud" && r.bucket.0 >= botscope_timeline::day_start(d(12, 20)).0)
        })
        .cloned()
        .collect();
    let det = detect(&[], &cut, &AlertConfig::default()).expect("alerts");
    let got: Vec<(NaiveDate, AlertKind)> = det.alerts.iter().map(|a| (a.date(), a.kind)).collect();
    assert_eq!(
        got,
        vec![(d(11, 30), AlertKind::Shift), (d(12, 20), AlertKind::Shift)],
        "{:#?}",
        det.alerts
    );
    assert!(
        det.alerts[1].evidence.starts_with("click_fraud stopped"),
        "{}",
        det.alerts[1].evidence
    );
}

/// A campaign's daily mail by sending family: (day, family, messages).
fn senders(days: u64, f: impl Fn(u64, &mut u64) -> Vec<(&'static str, u64)>) -> Vec<MixRow> {
    let mut seed = 11u64;
    let start = d(10, 1);
    let mut rows = Vec::new();
    for t in 0..days {
        let ts = botscope_timeline::day_start(start + chrono::Days::new(t));
        for (fam, n) in f(t, &mut seed) {
            if n > 0 {
                rows.push(MixRow::new(ts, "stock-pump", fam, n));
            }
        }
    }
    rows
}

#[test]
fn a_customer_moving_botnet_is_a_move_and_a_silence_is_not() {
    // ~15 a day from Xarvester and ~15 from Cutwail; from day 40 Bagle
    // takes Xarvester's part. A stray misattributed message now and then.
    let moved = senders(80, |t, s| {
        let stray = u64::from(lcg(s).is_multiple_of(10));
        vec![
            ("Cutwail", 12 + lcg(s) % 6),
            (if t < 40 { "Xarvester" } else { "Bagle" }, 10 + lcg(s) % 8),
            ("Grum", stray),
        ]
    });
    let cfg = AlertConfig::default();
    let det = move_alerts(&moved, "trap messages/day by campaign", &cfg).expect("moves");
    let got: Vec<(NaiveDate, AlertKind)> = det.alerts.iter().map(|a| (a.date(), a.kind)).collect();
    assert_eq!(got, vec![(d(11, 10), AlertKind::Move)], "{:#?}", det.alerts);
    let a = &det.alerts[0];
    assert!(
        a.evidence
            .starts_with("moved from Xarvester to Bagle: Xarvester ")
            && a.series.contains("(Xarvester → Bagle): stock-pump"),
        "{a:?}"
    );
    assert!(a.level_before > 0.3 && a.level_after > 0.3, "{a:?}");

    // Xarvester goes silent and nobody takes over: no move.
    let silent = senders(80, |t, s| {
        vec![
            ("Cutwail", 12 + lcg(s) % 6),
            ("Xarvester", if t < 40 { 10 + lcg(s) % 8 } else { 0 }),
        ]
    });
    let det = move_alerts(&silent, "x", &cfg).expect("moves");
    assert!(det.alerts.is_empty(), "{:#?}", det.alerts);

    // A campaign that pauses for two weeks and comes back on another
    // botnet is no overnight move.
    let restarted = senders(80, |t, s| match t {
        0..=29 => vec![("Lethic", 20 + lcg(s) % 8)],
        30..=43 => vec![],
        _ => vec![("Rustock", 20 + lcg(s) % 8)],
    });
    let det = move_alerts(&restarted, "x", &cfg).expect("moves");
    assert!(det.alerts.is_empty(), "{:#?}", det.alerts);

    // Another family floods the campaign: the steady one's share falls
    // to a few percent, but it still sends as much as before.
    let flooded = senders(80, |t, s| {
        vec![
            ("Grum", 14 + lcg(s) % 4),
            (
                "Rustock",
                if t < 40 {
                    u64::from(lcg(s).is_multiple_of(20))
                } else {
                    280 + lcg(s) % 30
                },
            ),
        ]
    });
    let det = move_alerts(&flooded, "x", &cfg).expect("moves");
    assert!(det.alerts.is_empty(), "{:#?}", det.alerts);

    // Steady senders with noisy attribution: nothing.
    let steady = senders(80, |_, s| {
        vec![
            ("Cutwail", 12 + lcg(s) % 6),
            ("Xarvester", 10 + lcg(s) % 8),
            ("Bagle", u64::from(lcg(s).is_multiple_of(4))),
        ]
    });
    let det = move_alerts(&steady, "x", &cfg).expect("moves");
    assert!(det.alerts.is_empty(), "{:#?}", det.alerts);
}
