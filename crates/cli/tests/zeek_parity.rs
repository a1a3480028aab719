//! Zeek parity on Zeek's own regression corpus.
//!
//! `shared/data/zeek-btest/map.tsv` names, for 276 of Zeek's btests, the
//! trace a test read and the standard log (conn, http, dns, ssl, smtp,
//! irc) Zeek is expected to write. This test runs `botscope logs` once per
//! trace and compares every baseline row with ours: a multiset match on
//! the 5-tuple and the content columns the baseline has (`ts`, `uid` and
//! file ids are never compared). It prints, per log, rows / matched / %,
//! and per trace the rows missed, and asserts a floor per log at the
//! level measured (see PARITY.md); raise a floor when a fix lands.
//!
//! Rows that differ only because Zeek ran bare (`-b`: only the scripts a
//! test loads, so e.g. `service` or the MIME types stay unset) count as
//! matched: under `bare`, a column Zeek leaves unset that needs a script
//! the test may not load is not compared, and a `service` Zeek logs must
//! be a subset of ours.
//!
//! Environment:
//! - `PARITY_DETAIL=conn` prints every unmatched baseline row of that log
//!   with the closest row of ours (same 5-tuple) and the columns that
//!   differ; `PARITY_DETAIL=conn:tunnels/` (or `all:icmp`) narrows to
//!   traces whose path contains the text after `:`.
//! - `PARITY_TRACES=text` decodes and compares only the traces whose path
//!   contains `text` (floors are then not asserted).
//! - `PARITY_JOBS=n` runs n decoders at once (default: cores).
//! - `PARITY_BIN=path` decodes with that `botscope` binary instead of the
//!   one cargo built for this test (e.g. a copy, to compare two builds
//!   without rebuilding).
//!
//! The per-baseline figures are also written to
//! `$CARGO_TARGET_TMPDIR/zeek-parity.tsv` (baseline, log, trace, rows,
//! matched) to diff runs before and after a change.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use common::{botscope, data_dir, read_tsv, Row};

/// Floors per log (percent of baseline rows matched). Measured values
/// are in PARITY.md; a fix that raises one should raise its floor.
const FLOORS: &[(&str, f64)] = &[
    ("conn", 96.4),
    ("http", 95.0),
    ("dns", 96.1),
    ("ssl", 100.0),
    ("smtp", 100.0),
    ("irc", 100.0),
];

const LOGS: &[&str] = &["conn", "http", "dns", "ssl", "smtp", "irc"];

/// The 5-tuple columns (compared when the baseline has them).
const ID: &[&str] = &["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"];

/// Content columns compared per log, when the baseline has them. Left
/// out: `ts`, `uid`, file ids (`*fuids`, random per run), conn's
/// `local_orig`/`local_resp` (site configuration, not traffic), and
/// columns that only policy scripts or test redefs add (`orig_l2_addr`,
/// `speculative_service`, `client_header_names`, `subject`, dns's `auth`
/// and `addl`, ...).
fn content_columns(log: &str) -> &'static [&'static str] {
    match log {
        "conn" => &[
            "proto",
            "service",
            "duration",
            "orig_bytes",
            "resp_bytes",
            "conn_state",
            "missed_bytes",
            "history",
            "orig_pkts",
            "orig_ip_bytes",
            "resp_pkts",
            "resp_ip_bytes",
            "tunnel_parents",
            "ip_proto",
        ],
        "http" => &[
            "trans_depth",
            "method",
            "host",
            "uri",
            "referrer",
            "version",
            "user_agent",
            "origin",
            "request_body_len",
            "response_body_len",
            "status_code",
            "status_msg",
            "info_code",
            "info_msg",
            "tags",
            "username",
            "password",
            "proxied",
            "orig_filenames",
            "orig_mime_types",
            "resp_filenames",
            "resp_mime_types",
        ],
        "dns" => &[
            "proto",
            "trans_id",
            "rtt",
            "query",
            "qclass",
            "qclass_name",
            "qtype",
            "qtype_name",
            "rcode",
            "rcode_name",
            "AA",
            "TC",
            "RD",
            "RA",
            "Z",
            "answers",
            "TTLs",
            "rejected",
            "opcode",
            "opcode_name",
        ],
        "ssl" => &[
            "version",
            "cipher",
            "curve",
            "server_name",
            "resumed",
            "last_alert",
            "next_protocol",
            "established",
            "ssl_history",
            "cert_chain_fps",
            "client_cert_chain_fps",
            "sni_matches_cert",
        ],
        "smtp" => &[
            "trans_depth",
            "helo",
            "mailfrom",
            "rcptto",
            "date",
            "from",
            "to",
            "cc",
            "reply_to",
            "msg_id",
            "in_reply_to",
            "subject",
            "x_originating_ip",
            "first_received",
            "second_received",
            "last_reply",
            "path",
            "user_agent",
            "tls",
        ],
        "irc" => &[
            "nick",
            "user",
            "command",
            "value",
            "addl",
            "dcc_file_name",
            "dcc_file_size",
            "dcc_mime_type",
        ],
        _ => &[],
    }
}

/// Columns a bare Zeek run leaves unset unless the test loads the script
/// that fills them (file analysis, x509, DPD's service names).
fn bare_optional(log: &str, col: &str) -> bool {
    matches!(
        (log, col),
        ("conn", "service")
            | (
                "http",
                "orig_filenames" | "orig_mime_types" | "resp_filenames" | "resp_mime_types"
            )
            | (
                "ssl",
                "cert_chain_fps" | "client_cert_chain_fps" | "sni_matches_cert"
            )
            | ("irc", "dcc_mime_type")
    )
}

/// Columns holding a set (order is not meaningful).
fn is_set(col: &str) -> bool {
    matches!(col, "service" | "rcptto" | "to" | "cc" | "tags" | "proxied")
}

/// Columns holding seconds (compared to the microsecond).
fn is_interval(col: &str) -> bool {
    matches!(col, "duration" | "rtt")
}

struct Entry {
    baseline: String,
    log: String,
    trace: String,
    bare: bool,
}

fn read_map(path: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).expect("read map.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("map.tsv header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("map.tsv has no column {name}"))
    };
    let (dir, log, file, trace, bare) = (
        col("baseline_dir"),
        col("log"),
        col("baseline_file"),
        col("trace"),
        col("bare"),
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let g = |i: usize| f.get(i).copied().unwrap_or("-").to_string();
            Entry {
                baseline: format!("{}/{}", g(dir), g(file)),
                log: g(log),
                trace: g(trace),
                bare: g(bare) == "T",
            }
        })
        .collect()
}

/// What decoding one trace gave: our rows per log, or why there are none.
struct Decoded {
    logs: HashMap<String, Vec<Row>>,
    exit: i32,
    stderr: String,
}

fn decode(trace: &Path, out: &Path) -> Decoded {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).expect("create output folder");
    let mut cmd = match std::env::var_os("PARITY_BIN") {
        Some(bin) => std::process::Command::new(bin),
        None => botscope(),
    };
    let o = cmd
        .args(["logs", "--quiet", "-j", "1", "--format", "zeek", "--out"])
        .arg(out)
        .arg(trace)
        .output()
        .expect("run botscope");
    let mut logs = HashMap::new();
    for log in LOGS {
        let p = out.join(format!("{log}.log"));
        if p.exists() {
            logs.insert(
                (*log).to_string(),
                read_tsv(&p).into_iter().flatten().collect(),
            );
        }
    }
    let _ = std::fs::remove_dir_all(out);
    Decoded {
        logs,
        exit: o.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn norm_set(v: &str) -> BTreeSet<&str> {
    if v == "-" || v == "(empty)" {
        BTreeSet::new()
    } else {
        v.split(',').collect()
    }
}

/// Does our value `have` stand for Zeek's `want` in column `col`?
fn same(log: &str, col: &str, want: &str, have: &str, bare: bool) -> bool {
    if want == have {
        return true;
    }
    if bare && want == "-" && bare_optional(log, col) {
        return true;
    }
    if col == "service" {
        let (w, h) = (norm_set(want), norm_set(have));
        return w == h || (bare && w.is_subset(&h));
    }
    if col == "tunnel_parents" {
        // uids: only whether the connection was inside a tunnel.
        return (want == "-") == (have == "-");
    }
    if is_set(col) {
        return norm_set(want) == norm_set(have);
    }
    if is_interval(col) {
        if let (Ok(w), Ok(h)) = (want.parse::<f64>(), have.parse::<f64>()) {
            return (w - h).abs() <= 1.5e-6;
        }
    }
    false
}

fn row_matches(log: &str, cols: &[&str], want: &Row, have: &Row, bare: bool) -> bool {
    cols.iter().all(|c| {
        let w = want.get(*c).map(String::as_str).unwrap_or("-");
        let h = have.get(*c).map(String::as_str).unwrap_or("<no column>");
        same(log, c, w, h, bare)
    })
}

fn id_of(r: &Row) -> String {
    let g = |k: &str| r.get(k).map(String::as_str).unwrap_or("?").to_string();
    format!(
        "{}:{} -> {}:{}",
        g("id.orig_h"),
        g("id.orig_p"),
        g("id.resp_h"),
        g("id.resp_p")
    )
}

struct Outcome {
    rows: usize,
    matched: usize,
    detail: Vec<String>,
}

/// Greedy multiset match of baseline rows against ours.
fn compare(entry: &Entry, expected: &[Row], ours: &[Row], want_detail: bool) -> Outcome {
    let log = entry.log.as_str();
    let header: Vec<&str> = expected
        .first()
        .map(|r| r.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let cols: Vec<&str> = ID
        .iter()
        .chain(content_columns(log))
        .copied()
        .filter(|c| header.contains(c))
        .collect();
    let mut used = vec![false; ours.len()];
    let mut matched = 0;
    let mut unmatched: Vec<&Row> = Vec::new();
    for want in expected {
        let hit = ours
            .iter()
            .enumerate()
            .find(|(i, have)| !used[*i] && row_matches(log, &cols, want, have, entry.bare));
        match hit {
            Some((i, _)) => {
                used[i] = true;
                matched += 1;
            }
            None => unmatched.push(want),
        }
    }
    let mut detail = Vec::new();
    if want_detail {
        for want in unmatched {
            // Closest unused row of ours: same 5-tuple (either direction),
            // fewest differing columns.
            let ids: Vec<&str> = ID.iter().copied().filter(|c| header.contains(c)).collect();
            let content: Vec<&str> = cols.iter().copied().filter(|c| !ID.contains(c)).collect();
            let diffs = |have: &Row| -> Vec<String> {
                content
                    .iter()
                    .filter_map(|c| {
                        let w = want.get(*c).map(String::as_str).unwrap_or("-");
                        let h = have.get(*c).map(String::as_str).unwrap_or("<no column>");
                        (!same(log, c, w, h, entry.bare))
                            .then(|| format!("{c}: zeek {w:?} ours {h:?}"))
                    })
                    .collect()
            };
            let flipped = |have: &Row| {
                want.get("id.orig_h") == have.get("id.resp_h")
                    && want.get("id.orig_p") == have.get("id.resp_p")
                    && want.get("id.resp_h") == have.get("id.orig_h")
                    && want.get("id.resp_p") == have.get("id.orig_p")
            };
            let best = ours
                .iter()
                .enumerate()
                .filter(|(i, have)| {
                    !used[*i]
                        && (ids.iter().all(|c| want.get(*c) == have.get(*c))
                            || (!ids.is_empty() && flipped(have)))
                })
                .map(|(_, have)| {
                    let mut d = diffs(have);
                    if !ids.is_empty() && flipped(have) {
                        d.insert(0, "direction flipped".to_string());
                    }
                    d
                })
                .min_by_key(Vec::len);
            let what = if ids.is_empty() {
                content
                    .iter()
                    .map(|c| want.get(*c).map(String::as_str).unwrap_or("-"))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                id_of(want)
            };
            detail.push(match best {
                Some(d) => format!("  {what}: {}", d.join("; ")),
                None => format!(
                    "  {what}: no row of ours{}",
                    if ids.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({})",
                            content
                                .iter()
                                .map(|c| format!(
                                    "{c}={}",
                                    want.get(*c).map(String::as_str).unwrap_or("-")
                                ))
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    }
                ),
            });
        }
    }
    Outcome {
        rows: expected.len(),
        matched,
        detail,
    }
}

#[test]
fn zeek_btest_parity() {
    let Some(data) = data_dir() else { return };
    let corpus = data.join("zeek-btest");
    let map = corpus.join("map.tsv");
    if !map.exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{} missing (CI=true)", map.display());
        }
        eprintln!("SKIP: {} missing", map.display());
        return;
    }
    let filter = std::env::var("PARITY_TRACES")
        .ok()
        .filter(|s| !s.is_empty());
    let (detail_log, detail_trace) = match std::env::var("PARITY_DETAIL") {
        Ok(s) if !s.is_empty() => match s.split_once(':') {
            Some((l, t)) => (Some(l.to_string()), Some(t.to_string())),
            None => (Some(s), None),
        },
        _ => (None, None),
    };
    let entries: Vec<Entry> = read_map(&map)
        .into_iter()
        .filter(|e| LOGS.contains(&e.log.as_str()))
        .filter(|e| filter.as_ref().is_none_or(|f| e.trace.contains(f.as_str())))
        .collect();
    assert!(!entries.is_empty(), "no baselines selected");

    // Decode every trace once, several at a time.
    let traces: Vec<String> = entries
        .iter()
        .map(|e| e.trace.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let jobs = std::env::var("PARITY_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let next = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<String, Decoded>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for w in 0..jobs {
            let (traces, next, results, corpus, tmp) = (&traces, &next, &results, &corpus, &tmp);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = traces.get(i) else { break };
                let path = corpus.join("Traces").join(t);
                let d = if path.exists() {
                    decode(
                        &path,
                        &tmp.join(format!("zeek-parity-{}-{w}", std::process::id())),
                    )
                } else {
                    Decoded {
                        logs: HashMap::new(),
                        exit: -1,
                        stderr: "trace missing from the corpus".into(),
                    }
                };
                results.lock().expect("lock").insert(t.clone(), d);
            });
        }
    });
    let results = results.into_inner().expect("lock");

    // Compare.
    let mut per_log: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    // Baseline rows of traces from which we wrote no row of any log.
    let mut unread: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_trace: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let mut tsv = String::from("baseline\tlog\ttrace\tbare\trows\tmatched\n");
    let mut details = String::new();
    let empty: Vec<Row> = Vec::new();
    for e in &entries {
        let expected: Vec<Row> = read_tsv(&corpus.join("Baseline").join(&e.baseline))
            .into_iter()
            .flatten()
            .collect();
        let d = &results[&e.trace];
        let ours = d.logs.get(&e.log).unwrap_or(&empty);
        let show = detail_log
            .as_deref()
            .is_some_and(|l| l == e.log || l == "all")
            && detail_trace.as_deref().is_none_or(|t| e.trace.contains(t));
        let o = compare(e, &expected, ours, show);
        let t = per_log
            .entry(LOGS.iter().find(|l| **l == e.log).expect("log"))
            .or_default();
        t.0 += o.rows;
        t.1 += o.matched;
        if d.logs.values().all(Vec::is_empty) {
            *unread
                .entry(LOGS.iter().find(|l| **l == e.log).expect("log"))
                .or_default() += o.rows;
        }
        let t = per_trace
            .entry((e.log.clone(), e.trace.clone()))
            .or_default();
        t.0 += o.rows;
        t.1 += o.matched;
        tsv.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            e.baseline,
            e.log,
            e.trace,
            if e.bare { "T" } else { "F" },
            o.rows,
            o.matched
        ));
        if show && o.matched < o.rows {
            details.push_str(&format!(
                "{} {} ({}; bare={}; exit {}{}) {}/{} matched, {} rows of ours\n",
                e.log,
                e.trace,
                e.baseline,
                if e.bare { "T" } else { "F" },
                d.exit,
                if d.stderr.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", d.stderr.trim().lines().next().unwrap_or(""))
                },
                o.matched,
                o.rows,
                ours.len()
            ));
            for l in &o.detail {
                details.push_str(l);
                details.push('\n');
            }
        }
    }
    let _ = std::fs::write(tmp.join("zeek-parity.tsv"), &tsv);

    let mut report = String::new();
    report.push_str("\nper trace: rows of Zeek's baselines not matched\n");
    for ((log, trace), (rows, matched)) in &per_trace {
        if matched < rows {
            let d = &results[trace];
            let note = if d.exit != 0 {
                format!(
                    "  [exit {}: {}]",
                    d.exit,
                    d.stderr.trim().lines().next().unwrap_or("")
                )
            } else if d.logs.values().all(Vec::is_empty) {
                "  [no rows]".to_string()
            } else {
                String::new()
            };
            report.push_str(&format!(
                "  {log:<5} {:>5} of {:>5}  {trace}{note}\n",
                rows - matched,
                rows
            ));
        }
    }
    report.push_str(
        "\nlog     rows  matched      %   (rows of traces we read nothing from; % without them)\n",
    );
    for log in LOGS {
        if let Some((rows, matched)) = per_log.get(log) {
            let u = unread.get(log).copied().unwrap_or(0);
            report.push_str(&format!(
                "{log:<5} {rows:>6}  {matched:>7}  {:>5.1}   ({u}; {:.1})\n",
                pct(*matched, *rows),
                pct(*matched, rows - u)
            ));
        }
    }
    if !details.is_empty() {
        println!("{details}");
    }
    println!("{report}");
    println!(
        "figures per baseline: {}",
        tmp.join("zeek-parity.tsv").display()
    );
    // Also on stderr: visible with `cargo test` without --nocapture when
    // a floor fails.
    eprintln!("{report}");

    if filter.is_none() {
        let mut below = Vec::new();
        for (log, floor) in FLOORS {
            let (rows, matched) = per_log.get(log).copied().unwrap_or((0, 0));
            let p = pct(matched, rows);
            if p + 1e-9 < *floor {
                below.push(format!("{log}: {p:.1} % < floor {floor:.1} %"));
            }
        }
        assert!(below.is_empty(), "parity below floor: {}", below.join(", "));
    }
}

fn pct(matched: usize, rows: usize) -> f64 {
    if rows == 0 {
        0.0
    } else {
        100.0 * matched as f64 / rows as f64
    }
}
