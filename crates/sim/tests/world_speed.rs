//! Generation speed (run it in release):
//!
//! ```sh
//! cargo test --release -p botscope-sim --test world_speed -- --ignored --nocapture
//! ```
//!
//! `BOTSCOPE_SIM_SCALE` (default 2) and `BOTSCOPE_SIM_DAYS` (default 7,
//! from 1 Dec 2010) set the size of the run.

mod world_common;

use std::time::Instant;

use botscope_sim::{load_scenario, simulate, SimOptions};
use world_common::*;

#[test]
#[ignore = "a benchmark: run in release with --ignored"]
fn generation_speed() {
    let env = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let scale = env("BOTSCOPE_SIM_SCALE", 2.0);
    let days = env("BOTSCOPE_SIM_DAYS", 7.0) as u64;
    let s = load_scenario("winter-2010").unwrap();
    let from = date(2010, 12, 1);
    let to = from + chrono::Duration::days(days as i64 - 1);
    for (label, pcaps, mail) in [
        ("mail only", false, true),
        ("pcaps only", true, false),
        ("both", true, true),
    ] {
        let dir = TempDir::new("speed");
        let opts = SimOptions {
            seed: 1,
            scale,
            from: Some(from),
            to: Some(to),
            pcaps,
            mail,
            trap_captures: false,
        };
        let t = Instant::now();
        let sum = simulate(&s, &opts, dir.path()).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let truth: u64 = ["messages.csv", "connections.csv", "events.csv"]
            .iter()
            .map(|f| std::fs::metadata(dir.path().join("truth").join(f)).map_or(0, |m| m.len()))
            .sum();
        let bytes = sum.mail_bytes + sum.pcap_bytes + truth;
        println!(
            "{label}: scale {scale}, {days} days: {} messages, {} captures, {:.1} MB in {secs:.2} s = {:.0} MB/s",
            sum.messages,
            sum.pcaps,
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / secs
        );
    }
}
