//! What the activity stage costs next to decoding, on one capture:
//! `cargo run --release -p botscope-activity --example stage_cost -- FILE`
//! (bench/trace.sh runs it on the decoding engine's benchmark capture).
//!
//! Decodes the capture into events (one thread, as `botscope trace`
//! does), then runs [`botscope_activity::analyze`] and the indicator
//! extraction on them, and prints both times, best of `REPS` runs.

use std::time::Instant;

use botscope_activity::{analyze, ioc, ActivityConfig};
use botscope_engine::{analyze_file, EngineConfig};
use botscope_event::Event;

const REPS: usize = 3;

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: stage_cost CAPTURE");
        std::process::exit(2);
    };
    let path = std::path::PathBuf::from(path);
    let cfg = ActivityConfig::default();
    let (mut decode, mut activity) = (f64::MAX, f64::MAX);
    let mut counts = (0, 0, 0);
    for _ in 0..REPS {
        let t = Instant::now();
        let (shards, summary) =
            analyze_file(&path, &EngineConfig::default(), |_| Vec::<Event>::new());
        let events: Vec<Event> = shards
            .into_iter()
            .flatten()
            .filter(|e| !matches!(e, Event::Message(_)))
            .collect();
        decode = decode.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let (hosts, verdicts) = analyze(&events, &cfg);
        let iocs = ioc::iocs(&events, &verdicts);
        activity = activity.min(t.elapsed().as_secs_f64());
        counts = (summary.packets, events.len(), hosts.len());
        if std::env::var_os("STAGE_COST_SIZES").is_some() {
            let mut by: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
            for e in &events {
                let (k, n) = match e {
                    Event::Http(h) => (
                        "http",
                        h.req_body_prefix.len()
                            + h.resp_body_prefix.len()
                            + h.uri.as_ref().map_or(0, |u| u.len()),
                    ),
                    Event::Conn(c) => ("conn", c.history.len()),
                    other => (other.log_name(), 0),
                };
                let v = by.entry(k).or_default();
                v.0 += 1;
                v.1 += n;
            }
            eprintln!("{by:?} size_of Event {}", std::mem::size_of::<Event>());
        }
        std::hint::black_box(iocs);
    }
    println!(
        "packets {} events {} hosts {}: decode {decode:.3} s, activity {activity:.3} s, activity / decode {:.1}%",
        counts.0,
        counts.1,
        counts.2,
        100.0 * activity / decode
    );
}
