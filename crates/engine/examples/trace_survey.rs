//! Packets read per capture: `cargo run -p botscope-engine --example
//! trace_survey -- FILE...` prints, per file, packets read, packets
//! decoded (not skipped), connections logged, the skip reasons and any
//! file-level error (with `SURVEY_CONNS=1`, each connection too). Used to survey Zeek's trace corpus (issue 13).

use botscope_engine::{analyze_file, EngineConfig};
use botscope_event::Event;

fn main() {
    let cfg = EngineConfig::default();
    for arg in std::env::args().skip(1) {
        let (sinks, s) = analyze_file(std::path::Path::new(&arg), &cfg, |_| Vec::<Event>::new());
        let conns = sinks
            .iter()
            .flatten()
            .filter(|e| matches!(e, Event::Conn(_)))
            .count();
        if std::env::var_os("SURVEY_CONNS").is_some() {
            for e in sinks.iter().flatten() {
                if let Event::Conn(c) = e {
                    println!("  {:?} {:?} {}", c.meta.id, c.service, c.history);
                }
            }
        }
        let skipped: Vec<String> = s.skipped.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{arg}\t{}\t{}\t{conns}\t{}\t{}",
            s.packets,
            s.packets.saturating_sub(s.skipped_total()),
            skipped.join(","),
            s.error.as_deref().unwrap_or("-")
        );
    }
}
