//! Shared helpers for the end-to-end tests: where the shared data is,
//! running `botscope logs`, and reading Zeek TSV / JSON logs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared/data` beside the repository (or `$BOTSCOPE_DATA`).
///
/// Returns `None` (the caller skips with a message) when the data is
/// missing, except under CI (`CI=true`), where missing data is a failure.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("BOTSCOPE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data")
                .to_path_buf()
        });
    if dir.join("SOURCES.md").exists() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!(
            "shared data not found at {} (CI=true: tests that need it must not skip)",
            dir.display()
        );
    }
    eprintln!("SKIP: shared data not found at {}", dir.display());
    None
}

pub fn botscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_botscope"))
}

/// A fresh empty folder under the target dir's tmp.
pub fn temp_dir(name: &str) -> PathBuf {
    let base = std::env::temp_dir().join(format!("botscope-test-{}", std::process::id()));
    let d = base.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// Run `botscope logs` on one input; returns the output folder and the
/// exit code.
pub fn run_logs(input: &Path, format: &str, tag: &str) -> (PathBuf, i32, String) {
    let out = temp_dir(tag);
    let o = botscope()
        .args(["logs", "--quiet", "--format", format, "--out"])
        .arg(&out)
        .arg(input)
        .output()
        .expect("run botscope");
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    (out, o.status.code().unwrap_or(-1), stderr)
}

/// One log row: column name → value as written (`-` unset).
pub type Row = HashMap<String, String>;

/// Read Zeek TSV rows: handles `#fields` headers (several blocks per
/// file), btest's `###` first line, and `zeek-cut -m` files whose first
/// line is the field names.
pub fn read_tsv(path: &Path) -> Vec<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut blocks: Vec<Vec<Row>> = Vec::new();
    let mut fields: Option<Vec<String>> = None;
    for line in text.lines() {
        if line.starts_with("###") || line.is_empty() {
            continue;
        }
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = Some(f.split('\t').map(str::to_string).collect());
            blocks.push(Vec::new());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some(f) = &fields else {
            // zeek-cut -m: the first line names the columns.
            fields = Some(line.split('\t').map(str::to_string).collect());
            blocks.push(Vec::new());
            continue;
        };
        let row: Row = f
            .iter()
            .cloned()
            .zip(line.split('\t').map(str::to_string))
            .collect();
        if let Some(b) = blocks.last_mut() {
            b.push(row);
        }
    }
    blocks
}

/// Read our JSON-lines log; a missing file is an empty log.
pub fn read_json(path: &Path) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: bad JSON {e}: {l}", path.display()))
        })
        .collect()
}

/// A JSON field as a plain string (arrays joined with ',').
pub fn jstr(v: &serde_json::Value, key: &str) -> String {
    match v.get(key) {
        None | Some(serde_json::Value::Null) => "-".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// Every capture file in a shared-data folder, sorted.
pub fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng" | "cap")
            )
        })
        .collect();
    v.sort();
    v
}

/// The path of a client program, or `None` (skip) when it is missing
/// outside CI.
pub fn tool(name: &str) -> Option<PathBuf> {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Some(p);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{name} not installed (CI=true: .ci/run must install it)");
    }
    eprintln!("SKIP: {name} not installed (apt-get install swaks postfix)");
    None
}

/// GET `path` from the HTTP server at `addr` (`host:port`) and parse the
/// body as JSON (`Null` when it is not).
pub fn get_json(addr: &str, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let i = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    serde_json::from_slice(&raw[i + 4..]).unwrap_or(serde_json::Value::Null)
}

/// The dashboard address (`host:port`) a `botscope serve` child started
/// with a piped stderr prints (`dashboard on http://ADDR/`); the rest of
/// its stderr is drained on a thread so the child never blocks on it.
pub fn dashboard_address(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let err = std::io::BufReader::new(child.stderr.take().expect("stderr piped"));
    let mut lines = err.lines().map_while(Result::ok);
    let addr = lines
        .find_map(|l| {
            l.split("dashboard on http://")
                .nth(1)
                .map(|a| a.trim_end_matches('/').to_string())
        })
        .expect("serve printed no dashboard address");
    std::thread::spawn(move || lines.for_each(drop));
    addr
}
