//! Splitting a capture across flow-hash shards must not change what is
//! logged: same rows (order aside) as decoding on one thread, on every
//! shared capture and on all of them concatenated in one stream.

use std::path::{Path, PathBuf};

use botscope_engine::{analyze_file, EngineConfig};
use botscope_event::Event;

fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.join("SOURCES.md").exists() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("shared data not found at {} (CI=true)", dir.display());
    }
    eprintln!("SKIP: shared data not found at {}", dir.display());
    None
}

fn rows(path: &Path, shards: usize) -> Vec<String> {
    let cfg = EngineConfig {
        shards,
        ..EngineConfig::default()
    };
    let (sinks, summary) = analyze_file(path, &cfg, |_| Vec::<Event>::new());
    let mut v: Vec<String> = sinks
        .into_iter()
        .flatten()
        .map(|e| format!("{e:?}"))
        .collect();
    v.sort();
    v.push(format!(
        "packets={} conns={}",
        summary.packets, summary.flow.connections
    ));
    v
}

#[test]
fn sharded_decoding_equals_single_threaded() {
    let Some(data) = data_dir() else { return };
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in ["botnet-pcaps", "protocol-pcaps"] {
        for e in std::fs::read_dir(data.join(sub)).expect("read_dir") {
            let p = e.expect("entry").path();
            if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng" | "cap")
            ) {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 40);
    let mut compared = 0;
    for f in &files {
        let one = rows(f, 1);
        for shards in [2, 3] {
            let many = rows(f, shards);
            assert_eq!(
                one.len(),
                many.len(),
                "{} with {shards} shards: row count",
                f.display()
            );
            for (a, b) in one.iter().zip(&many) {
                assert_eq!(a, b, "{} with {shards} shards", f.display());
            }
        }
        compared += one.len();
    }
    assert!(compared > 500, "too few rows: {compared}");
}
