//! Speed of the alerts on synthetic families (see `bench/alerts.sh`).
//!
//! ```sh
//! cargo run --release -p botscope-timeline --example alerts_bench -- FAMILIES DAYS [CSV]
//! ```
//!
//! Each family has a level between 20 and 500 messages a day, ±20%
//! day-to-day noise and three dated changes (drops, silences, returns).
//! With `CSV`, the series are also written as `family,day,count` for the
//! peer. Prints one line: families, days, seconds per run, daily points
//! per second, alerts.

use std::io::Write;
use std::time::Instant;

use botscope_event::Ts;
use botscope_timeline::{volume_alerts, AlertConfig, CountRow, DAY_US};

fn lcg(seed: &mut u64) -> f64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*seed >> 11) as f64 / (1u64 << 53) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let families: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let days: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(365);
    let mut seed = 7;
    let mut rows = Vec::with_capacity(families * days);
    for f in 0..families {
        let base = 20.0 + 480.0 * lcg(&mut seed);
        let mut changes: Vec<(usize, f64)> = (0..3)
            .map(|_| {
                let at = (lcg(&mut seed) * days as f64) as usize;
                let factor = [0.0, 0.2, 1.0, 2.5][(lcg(&mut seed) * 4.0) as usize % 4];
                (at, factor)
            })
            .collect();
        changes.sort_by_key(|c| c.0);
        for t in 0..days {
            let factor = changes.iter().rev().find(|c| c.0 <= t).map_or(1.0, |c| c.1);
            let v = (base * factor * (0.8 + 0.4 * lcg(&mut seed))).round() as u64;
            if v > 0 {
                rows.push(CountRow::new(
                    Ts(14_000 * DAY_US + t as i64 * DAY_US),
                    format!("family{f:04}"),
                    v,
                ));
            }
        }
    }
    if let Some(path) = args.get(3) {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create csv"));
        for r in &rows {
            let day = r.bucket.0 / DAY_US - 14_000;
            writeln!(w, "{},{day},{}", r.key, r.count).expect("write csv");
        }
    }
    let cfg = AlertConfig {
        max_keys: families.max(1),
        max_days: days.max(1),
        ..Default::default()
    };
    // Warm up once, then time a few runs.
    let n_alerts = volume_alerts(&rows, "messages/day", &cfg)
        .expect("alerts")
        .alerts
        .len();
    let runs = 3;
    let t = Instant::now();
    for _ in 0..runs {
        let d = volume_alerts(&rows, "messages/day", &cfg).expect("alerts");
        assert_eq!(d.alerts.len(), n_alerts);
    }
    let secs = t.elapsed().as_secs_f64() / runs as f64;
    println!(
        "families {families} days {days} seconds {secs:.4} points_per_s {:.0} alerts {n_alerts}",
        (families * days) as f64 / secs
    );
}
