//! `botscope ingest`, `sql`, `timeline`, `compact`, `rehunt` end to end,
//! including a real process crash in the middle of an ingest, and the
//! PySpark script against `botscope timeline`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{botscope, data_dir, get_json, temp_dir};

fn run(args: &[&str], env: Option<(&str, &str)>) -> (i32, String, String) {
    let mut c = botscope();
    c.args(args);
    if let Some((k, v)) = env {
        c.env(k, v);
    }
    let o = c.output().expect("run botscope");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn sql_json(store: &Path, q: &str) -> serde_json::Value {
    let (code, out, err) = run(
        &[
            "sql",
            "--store",
            &store.display().to_string(),
            "--format",
            "json",
            q,
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn n(store: &Path, table: &str) -> i64 {
    let v = sql_json(store, &format!("SELECT count(*) AS n FROM {table}"));
    v[0]["n"].as_i64().unwrap_or(0)
}

#[test]
fn a_killed_ingest_resumes_and_counts_each_input_once() {
    let Some(data) = data_dir() else { return };
    let inputs = [
        data.join("botnet-pcaps").display().to_string(),
        data.join("stratosphere-zeek-logs").display().to_string(),
    ];
    let clean = temp_dir("ds-clean");
    let s = clean.display().to_string();
    let (code, out, err) = run(
        &[
            "ingest", "--json", "-j", "1", "--store", &s, &inputs[0], &inputs[1],
        ],
        None,
    );
    // Exit 1: one shared capture is truncated (reported, the rest kept).
    assert!(code == 0 || code == 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["inputs"]["added"].as_u64().unwrap() >= 10, "{v}");
    let want: Vec<i64> = ["conn", "http", "dns", "activity"]
        .iter()
        .map(|t| n(&clean, t))
        .collect();

    for point in ["before-commit", "mid-commit", "before-inputs"] {
        let dir = temp_dir(&format!("ds-crash-{point}"));
        let s = dir.display().to_string();
        // The process aborts at the first commit's crash point.
        let (code, _, _) = run(
            &["ingest", "-j", "1", "--store", &s, &inputs[0], &inputs[1]],
            Some(("BOTSCOPE_STORE_CRASH", point)),
        );
        assert_ne!(code, 0, "{point}: the process was meant to crash");
        let (code, out, err) = run(
            &[
                "ingest", "--json", "-j", "1", "--store", &s, &inputs[0], &inputs[1],
            ],
            None,
        );
        assert!(code == 0 || code == 1, "{point}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        // The input whose commits the crash cut short is not counted as
        // ingested: it is ingested again (its tables committed before the
        // crash are skipped by their transaction id, the rest committed).
        assert!(v["inputs"]["added"].as_u64() >= Some(10), "{point}: {v}");
        let got: Vec<i64> = ["conn", "http", "dns", "activity"]
            .iter()
            .map(|t| n(&dir, t))
            .collect();
        assert_eq!(got, want, "{point}");
        // A third run adds nothing.
        let (_, out, _) = run(
            &["ingest", "--json", "--store", &s, &inputs[0], &inputs[1]],
            None,
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["inputs"]["added"].is_null(), "{v}");
        assert_eq!(v["rows"], serde_json::json!({}));
    }
}

#[test]
fn an_ingest_killed_with_sigkill_leaves_valid_tables_and_resumes() {
    let Some(data) = data_dir() else { return };
    let input = data.join("botnet-pcaps").display().to_string();
    let clean = temp_dir("ds-kill-clean");
    let (code, _, err) = run(
        &["ingest", "--store", &clean.display().to_string(), &input],
        None,
    );
    assert!(code == 0 || code == 1, "{err}");
    let want: Vec<i64> = ["conn", "http", "dns", "inputs"]
        .iter()
        .map(|t| n(&clean, t))
        .collect();
    // Killed at different moments of its run (decoding, between and
    // inside commits): whatever it left is a valid store, and the same
    // ingest again gives the clean counts.
    for ms in [150u64, 400, 900, 1500] {
        let dir = temp_dir(&format!("ds-kill-{ms}"));
        let s = dir.display().to_string();
        let mut c = botscope();
        c.args(["ingest", "-j", "2", "--store", &s, &input]);
        c.stdout(std::process::Stdio::null());
        c.stderr(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if dir.join("conn/_delta_log").is_dir() {
            let _ = n(&dir, "conn"); // readable as it is
        }
        let (code, _, err) = run(&["ingest", "--store", &s, &input], None);
        assert!(code == 0 || code == 1, "{ms} ms: {err}");
        let got: Vec<i64> = ["conn", "http", "dns", "inputs"]
            .iter()
            .map(|t| n(&dir, t))
            .collect();
        assert_eq!(got, want, "killed after {ms} ms");
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&clean);
}

#[test]
fn four_ingest_processes_at_once_commit_each_input_once() {
    let Some(data) = data_dir() else { return };
    let pcaps = data.join("botnet-pcaps");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&pcaps)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{}", pcaps.display());
    let dir = temp_dir("ds-four");
    let s = dir.display().to_string();
    // Four processes, each its own quarter of the captures, and every one
    // also given the first capture (the same input from four writers).
    let quarters: Vec<Vec<String>> = (0..4)
        .map(|k| {
            let mut v: Vec<String> = files
                .iter()
                .skip(1)
                .enumerate()
                .filter(|(i, _)| i % 4 == k)
                .map(|(_, p)| p.display().to_string())
                .collect();
            v.push(files[0].display().to_string());
            v
        })
        .collect();
    ingest_at_once(&s, &quarters);
    // Each capture once in `inputs` (a capture that fails to decode is
    // not recorded), and conn equals a one-process ingest of the same set.
    let v = sql_json(
        &dir,
        "SELECT hash, count(*) AS n FROM inputs WHERE hash IS NOT NULL GROUP BY hash HAVING count(*) > 1",
    );
    assert_eq!(v.as_array().map(Vec::len), Some(0), "an input twice: {v}");
    let one = temp_dir("ds-one");
    let mut args = vec![
        "ingest".to_string(),
        "--store".into(),
        one.display().to_string(),
    ];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let (code, _, err) = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(code == 0 || code == 1, "{err}");
    for t in ["conn", "http", "dns", "smtp", "inputs"] {
        assert_eq!(n(&dir, t), n(&one, t), "{t}");
    }
    assert!(n(&dir, "conn") > 100);
    // The same captures again: nothing added.
    let mut again = vec![
        "ingest".to_string(),
        "--json".into(),
        "--store".into(),
        s.clone(),
    ];
    again.extend(files.iter().map(|p| p.display().to_string()));
    let (_, out, _) = run(&again.iter().map(String::as_str).collect::<Vec<_>>(), None);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["inputs"]["added"].is_null(), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&one);
}

#[test]
fn sql_formats_timeline_compact_rehunt() {
    let Some(data) = data_dir() else { return };
    let dir = temp_dir("ds-cli");
    let s = dir.display().to_string();
    let (code, _, err) = run(
        &[
            "ingest",
            "--store",
            &s,
            &data.join("stratosphere-zeek-logs").display().to_string(),
            &data
                .join("botnet-pcaps/spambot-smtp-sessions-smtperr.pcap")
                .display()
                .to_string(),
            &data.join("spam-csdmc2010").display().to_string(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    // CSDMC2010's 4,186 .eml files (4 of them byte-identical to others)
    // go through the mail analysis into the mail table.
    assert!(err.contains("4182 mail rows added"), "{err}");

    let q = "SELECT date, count(*) AS n FROM conn GROUP BY date ORDER BY date";
    let (code, table, _) = run(&["sql", "--store", &s, q], None);
    assert_eq!(code, 0);
    assert!(
        table.contains("| date ") && table.contains("| n "),
        "{table}"
    );
    let (_, csv, _) = run(&["sql", "--store", &s, "--format", "csv", q], None);
    let json = sql_json(&dir, q);
    let csv_rows: Vec<&str> = csv.lines().collect();
    assert_eq!(csv_rows[0], "date,n");
    assert_eq!(csv_rows.len() - 1, json.as_array().unwrap().len());
    let total: i64 = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["n"].as_i64().unwrap())
        .sum();
    assert_eq!(total, n(&dir, "conn"));
    // A bad query is an error, not a panic.
    let (code, _, err) = run(&["sql", "--store", &s, "SELECT nope FROM conn"], None);
    assert_eq!(code, 2, "{err}");

    // Activity timeline: connections per class per day equal the activity rows.
    let (code, out, err) = run(
        &[
            "timeline", "--store", &s, "--by", "activity", "--every", "day", "--json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut got: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in rows.as_array().unwrap() {
        if r["count"].as_i64().unwrap() > 0 {
            got.insert(
                (
                    r["bucket"].as_str().unwrap().to_string(),
                    r["key"].as_str().unwrap().to_string(),
                ),
                r["count"].as_i64().unwrap(),
            );
        }
    }
    let want_rows = sql_json(
        &dir,
        "SELECT date, class, CAST(sum(connections) AS BIGINT) AS n FROM activity GROUP BY date, class",
    );
    let want: BTreeMap<(String, String), i64> = want_rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["date"].as_str().unwrap().to_string(),
                    r["class"].as_str().unwrap().to_string(),
                ),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let (code, table, _) = run(
        &["timeline", "--store", &s, "--by", "activity", "--share"],
        None,
    );
    assert_eq!(code, 0);
    assert!(table.starts_with("day"), "{table}");

    let before = n(&dir, "conn");
    let (code, out, _) = run(&["compact", "--store", &s, "--json"], None);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["files_after"].as_u64() < v["files_before"].as_u64(),
        "{v}"
    );
    assert_eq!(n(&dir, "conn"), before);

    // Rehunt: same rules, no change; a rules file raising the click-fraud
    // bar removes Simda's click fraud, and says so.
    let (code, out, _) = run(&["rehunt", "--store", &s, "--json"], None);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["new"], serde_json::json!([]));
    assert_eq!(v["removed"], serde_json::json!([]));
    let rules = dir.join("strict.toml");
    std::fs::write(&rules, "click_min_forged = 100000\n").unwrap();
    let (code, out, err) = run(
        &[
            "rehunt",
            "--store",
            &s,
            "--rules",
            &rules.display().to_string(),
            "--dry-run",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("removed") && out.contains("click_fraud") && out.contains("simda"),
        "{out}"
    );
    std::fs::write(&rules, "no_such_rule = 1\n").unwrap();
    let (code, _, err) = run(
        &[
            "rehunt",
            "--store",
            &s,
            "--rules",
            &rules.display().to_string(),
        ],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("no_such_rule"), "{err}");
}

/// A python with pyspark: `$BOTSCOPE_PYSPARK_PYTHON`, the venv `.ci/run`
/// makes, or `python3`. `None` skips, except under CI.
fn pyspark_python() -> Option<PathBuf> {
    python_with("pyspark")
}

/// A python that imports `modules` (comma-separated), as [`pyspark_python`].
fn python_with(modules: &str) -> Option<PathBuf> {
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("BOTSCOPE_PYSPARK_PYTHON") {
        cands.push(p.into());
    }
    if let Some(h) = std::env::var_os("HOME") {
        cands.push(Path::new(&h).join(".cache/botscope-pyspark/bin/python"));
    }
    cands.push("python3".into());
    for c in cands {
        let ok = Command::new(&c)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(c);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{modules} not found (CI=true: .ci/run installs it)");
    }
    eprintln!("SKIP: {modules} not installed");
    None
}

#[test]
fn other_delta_readers_see_what_botscope_sql_sees() {
    let Some(data) = data_dir() else { return };
    let Some(py) = python_with("deltalake, polars, pyarrow") else {
        return;
    };
    let dir = temp_dir("ds-readers");
    let s = dir.display().to_string();
    let inputs = [
        data.join("stratosphere-zeek-logs").display().to_string(),
        data.join("botnet-pcaps/spambot-smtp-sessions-smtperr.pcap")
            .display()
            .to_string(),
        data.join("botnet-pcaps/sality-botnet.pcap")
            .display()
            .to_string(),
    ];
    // Two ingests (two commits per table), then a compaction (files
    // replaced: the old ones stay on disk, out of the tables).
    for i in &inputs {
        let (code, _, err) = run(&["ingest", "--store", &s, i], None);
        assert!(code == 0 || code == 1, "{err}");
    }
    let (code, _, err) = run(&["compact", "--store", &s], None);
    assert_eq!(code, 0, "{err}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/delta_read.py");
    let o = Command::new(&py)
        .arg(&script)
        .args(["--store", &s])
        .output()
        .expect("run python");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theirs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tables = theirs.as_object().unwrap();
    for t in ["conn", "http", "dns", "smtp", "activity", "inputs"] {
        assert!(tables.contains_key(t), "{t} missing: {theirs}");
    }
    let mut nonzero = 0;
    for (t, v) in tables {
        let rows = n(&dir, t);
        assert_eq!(v["rows"].as_i64(), Some(rows), "{t}: deltalake rows");
        assert_eq!(v["polars_rows"].as_i64(), Some(rows), "{t}: polars rows");
        for (col, sum) in v["sums"].as_object().unwrap() {
            let q = format!("SELECT CAST(coalesce(sum(\"{col}\"), 0) AS BIGINT) AS s FROM {t}");
            let ours = sql_json(&dir, &q)[0]["s"].as_i64().unwrap_or(0);
            assert_eq!(sum.as_i64(), Some(ours), "{t}.{col}");
            nonzero += usize::from(ours != 0);
        }
    }
    assert!(n(&dir, "conn") > 100);
    assert!(nonzero >= 5, "sums compared: {theirs}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pyspark_daily_counts_equal_botscope_timeline() {
    let Some(py) = pyspark_python() else { return };
    // Mail rows from the simulator's truth (the mail analysis is another
    // crate): a week of the winter, through the library writer.
    let world = temp_dir("ds-spark-world");
    let o = botscope()
        .args([
            "simulate",
            "--quiet",
            "--scenario",
            "winter-2010",
            "--seed",
            "3",
            "--from",
            "2010-12-24",
            "--to",
            "2010-12-31",
            "--no-pcaps",
            "--out",
        ])
        .arg(&world)
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = std::fs::read_to_string(world.join("truth/messages.csv")).unwrap();
    let mut msgs = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let t = chrono::DateTime::parse_from_rfc3339(f[8]).unwrap();
        msgs.push(botscope_event::MailMessage {
            source: format!("{}#{}", f[0], f[1]),
            received_ts: Some(botscope_event::Ts(t.timestamp_micros())),
            family: f[3].to_string(),
            campaign: Some(f[4].to_string()),
            category: f[5].to_string(),
            brand: Some(f[6].to_string()),
            ..Default::default()
        });
    }
    assert!(msgs.len() > 500);
    let dir = temp_dir("ds-spark");
    {
        let store = botscope_store::Store::open(&dir).unwrap();
        for chunk in msgs.chunks(msgs.len() / 2 + 1) {
            let mut w = store.writer();
            w.write_mail(chunk).unwrap();
            w.commit(Vec::new()).unwrap();
        }
    }
    let s = dir.display().to_string();
    let (code, out, err) = run(
        &[
            "timeline", "--store", &s, "--by", "family", "--every", "day", "--json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let ours: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ours: BTreeMap<(String, String), i64> = ours
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["count"].as_i64() > Some(0))
        .map(|r| {
            (
                (
                    r["bucket"].as_str().unwrap().to_string(),
                    r["key"].as_str().unwrap().to_string(),
                ),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/spark_daily_counts.py");
    let o = Command::new(&py)
        .arg(&script)
        .args(["--store", &s, "--master", "local[2]", "--json"])
        .output()
        .expect("run pyspark");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let spark: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let spark: BTreeMap<(String, String), i64> = spark
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["bucket"].as_str().unwrap().to_string(),
                    r["key"].as_str().unwrap().to_string(),
                ),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(spark.len() >= 8 * 4, "{spark:?}");
    assert_eq!(spark, ours);
}

/// One `botscope ingest -j 1 --store STORE` process per argument list,
/// all started at once; each must end with 0 or 1 (a truncated capture).
fn ingest_at_once<S: AsRef<std::ffi::OsStr>>(store: &str, args: &[Vec<S>]) {
    let children: Vec<std::process::Child> = args
        .iter()
        .map(|a| {
            let mut c = botscope();
            c.args(["ingest", "--json", "-j", "1", "--store", store]);
            c.args(a);
            c.stdout(std::process::Stdio::piped());
            c.stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for ch in children {
        let o = ch.wait_with_output().unwrap();
        let code = o.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Wait (30 s at most) until server `what` accepts on loopback `port`.
fn wait_for_port(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A moto S3 server on loopback, started and stopped by the test.
struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    fn start(py: &Path) -> Moto {
        let port = free_port();
        let child = Command::new(py)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto");
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_for_port(port, "moto");
        // The bucket, with the same client library S3 users have.
        let o = Command::new(py)
            .args([
                "-c",
                &format!(
                    "import boto3; boto3.client('s3', endpoint_url='{endpoint}', \
                     aws_access_key_id='test', aws_secret_access_key='test', \
                     region_name='us-east-1').create_bucket(Bucket='lab')"
                ),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Moto { child, endpoint }
    }

    /// Set the environment object storage clients read (this process and
    /// the `botscope` processes it starts).
    fn env(&self) {
        for (k, v) in [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ] {
            // SAFETY: set before any thread of this test reads them; the
            // other tests of this binary do not use object storage.
            unsafe { std::env::set_var(k, v) };
        }
    }
}

#[test]
fn a_store_on_s3_ingests_queries_reports_and_takes_the_trap_feed() {
    let Some(data) = data_dir() else { return };
    let Some(py) = python_with("moto.server, boto3") else {
        return;
    };
    let moto = Moto::start(&py);
    moto.env();
    let url = "s3://lab/botscope/ds";
    let local = temp_dir("ds-s3-local");
    let l = local.display().to_string();
    let inputs = [
        data.join("stratosphere-zeek-logs").display().to_string(),
        data.join("botnet-pcaps/spambot-smtp-sessions-smtperr.pcap")
            .display()
            .to_string(),
    ];
    for store in [url, l.as_str()] {
        let (code, out, err) = run(
            &["ingest", "--json", "--store", store, &inputs[0], &inputs[1]],
            None,
        );
        assert!(code == 0 || code == 1, "{store}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["inputs"]["added"].as_u64() >= Some(4), "{store}: {v}");
    }
    let u = Path::new(url);
    for t in ["conn", "http", "dns", "smtp", "activity", "inputs"] {
        assert_eq!(n(u, t), n(&local, t), "{t}");
    }
    assert!(n(u, "conn") > 100);
    // Again: nothing added (the inputs table on S3 is read back).
    let (_, out, _) = run(&["ingest", "--json", "--store", url, &inputs[0]], None);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["inputs"]["added"].is_null(), "{v}");
    // Time travel, timeline, alerts, report, compaction on S3.
    let (code, out, err) = run(
        &[
            "sql",
            "--store",
            url,
            "--as-of",
            "0",
            "--format",
            "json",
            "SELECT count(*) AS n FROM inputs",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"n\":"), "{out}");
    let (code, out, err) = run(
        &[
            "timeline", "--store", url, "--by", "activity", "--every", "day", "--json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with('['), "{out}");
    let (code, _, err) = run(&["alerts", "--store", url, "--json"], None);
    assert_eq!(code, 0, "{err}");
    let page = local.join("s3-report");
    let (code, _, err) = run(
        &[
            "report",
            "--store",
            url,
            "--out",
            &page.display().to_string(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(page.join("index.html")).unwrap();
    assert!(html.contains("<html"), "{html}");
    let (code, _, err) = run(&["compact", "--store", url, "--retain-hours", "0"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(u, "conn"), n(&local, "conn"));

    // The dashboard on the S3 store: its figures, and an ingest by
    // another process reaching it (the store's version polled on S3).
    let mut serve = botscope()
        .args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"])
        .args(["--store", url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start botscope serve");
    let dashboard = common::dashboard_address(&mut serve);
    let inputs_now = sql_json(u, "SELECT count(DISTINCT hash) AS n FROM inputs")[0]["n"]
        .as_i64()
        .unwrap();
    let o = get_json(&dashboard, "/api/overview");
    assert_eq!(o["totals"]["inputs"].as_i64(), Some(inputs_now), "{o}");
    let v0 = o["version"].as_u64().expect("version");
    let more = data
        .join("botnet-pcaps/spambot-auth-relay-port2525.pcap")
        .display()
        .to_string();
    let (code, _, err) = run(&["ingest", "--store", url, &more], None);
    assert!(code == 0 || code == 1, "{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let o = get_json(&dashboard, "/api/overview");
        if o["version"].as_u64() > Some(v0) {
            assert_eq!(o["totals"]["inputs"].as_i64(), Some(inputs_now + 1), "{o}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the dashboard did not see the new ingest: {o}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let _ = serve.kill();
    let _ = serve.wait();

    // The trap's feed into the S3 store: a message from a real corpus.
    let spam = std::fs::read_dir(data.join("spam-csdmc2010/spam"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "eml"))
        .unwrap();
    let feed = botscope_store::LiveMail::start(
        u.to_path_buf(),
        std::sync::Arc::new(botscope_mail::MailAnalyzer::new(
            botscope_mail::MailConfig::default(),
            None,
        )),
        botscope_store::LiveConfig::default(),
        None,
    );
    feed.push(botscope_store::PendingMessage {
        path: spam.clone(),
        envelope: botscope_mail::Envelope {
            session: true,
            mail_from: Some("bot@example.com".into()),
            rcpt_to: vec!["trap@example.net".into()],
            ..Default::default()
        },
    });
    let stats = feed.finish();
    assert_eq!(stats.messages, 1, "{stats:?}");
    assert_eq!(n(u, "mail"), 1);
    let v = sql_json(u, "SELECT path FROM inputs WHERE kind = 'eml'");
    assert_eq!(
        v[0]["path"].as_str(),
        Some(spam.display().to_string().as_str())
    );
    drop(moto);
    let _ = std::fs::remove_dir_all(&local);
}

#[test]
fn a_pyspark_job_hands_captures_to_ingest_workers_and_reads_the_tables() {
    let Some(data) = data_dir() else { return };
    let Some(py) = python_with("pyspark, deltalake") else {
        return;
    };
    let dir = temp_dir("ds-spark-ingest");
    let s = dir.display().to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/spark_ingest.py");
    let pcaps = data.join("botnet-pcaps");
    let o = Command::new(&py)
        .arg(&script)
        .args([
            "--store",
            &s,
            "--botscope",
            env!("CARGO_BIN_EXE_botscope"),
            "--master",
            "local[2]",
            "--slices",
            "4",
        ])
        .arg(&pcaps)
        .output()
        .expect("run pyspark");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 4, "{v}");
    for w in workers {
        let code = w["exit"].as_i64().unwrap();
        assert!(code == 0 || code == 1, "{w}");
    }
    let added: i64 = workers.iter().filter_map(|w| w["added"].as_i64()).sum();
    let recorded = sql_json(
        &dir,
        "SELECT count(DISTINCT hash) AS n FROM inputs WHERE hash IS NOT NULL",
    )[0]["n"]
        .as_i64()
        .unwrap();
    assert_eq!(added, recorded, "{v}");
    assert!(recorded >= 8, "{v}");
    // What Spark read through the Delta log's file list is what botscope
    // sql counts, source by source.
    assert_eq!(v["conn_rows"].as_i64(), Some(n(&dir, "conn")), "{v}");
    let ours = sql_json(
        &dir,
        "SELECT source, count(*) AS n FROM conn GROUP BY source",
    );
    let ours: BTreeMap<String, i64> = ours
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    let spark: BTreeMap<String, i64> = v["sources"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_i64().unwrap()))
        .collect();
    assert_eq!(spark, ours);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Azurite (Microsoft's Azure Storage emulator, from npm) serving Blob
/// storage on loopback, started and stopped by the test: `$BOTSCOPE_AZURITE`
/// or the copy `.ci/run` installs. `None` skips, except under CI.
struct Azurite {
    child: std::process::Child,
    port: u16,
    _data: PathBuf,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The emulator's well-known development account (public, in Azure's docs).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl Azurite {
    fn start(py: &Path) -> Option<Azurite> {
        let bin = std::env::var_os("BOTSCOPE_AZURITE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| {
                    Path::new(&h).join(".cache/botscope-npm/node_modules/.bin/azurite-blob")
                })
            })
            .filter(|p| p.exists());
        let Some(bin) = bin else {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("azurite-blob not found (CI=true: .ci/run installs it)");
            }
            eprintln!("SKIP: azurite-blob not installed");
            return None;
        };
        let port = free_port();
        let data = temp_dir("azurite");
        std::fs::create_dir_all(&data).unwrap();
        let child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--location", &data.display().to_string()])
            // No telemetry: this machine talks to nothing but itself.
            .args(["--silent", "--skipApiVersionCheck", "--disableTelemetry"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start azurite");
        wait_for_port(port, "azurite");
        let az = Azurite {
            child,
            port,
            _data: data,
        };
        // The container, with the client library Azure users have.
        let o = Command::new(py)
            .args([
                "-c",
                &format!(
                    "from azure.storage.blob import BlobServiceClient; \
                     BlobServiceClient.from_connection_string(\
                     'DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};\
                     AccountKey={AZURITE_KEY};\
                     BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};')\
                     .create_container('lab')"
                ),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Some(az)
    }

    /// Set the environment Azure clients read (this process and the
    /// `botscope` processes it starts).
    fn env(&self) {
        let url = format!("http://127.0.0.1:{}", self.port);
        for (k, v) in [
            ("AZURE_STORAGE_USE_EMULATOR", "true"),
            ("AZURITE_BLOB_STORAGE_URL", url.as_str()),
            ("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT),
            ("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY),
        ] {
            // SAFETY: set before any thread of this test reads them; the
            // other tests of this binary do not use Azure.
            unsafe { std::env::set_var(k, v) };
        }
    }
}

/// An `az://` store (Azure Blob storage, emulated): two ingest processes
/// of the same inputs at once commit each input once, through Azure's
/// conditional writes; SQL, time travel and compaction give what the same
/// ingest into a folder gives.
#[test]
fn a_store_on_azure_blob_storage_takes_two_writers_at_once() {
    let Some(data) = data_dir() else { return };
    let Some(py) = python_with("azure.storage.blob") else {
        return;
    };
    let Some(az) = Azurite::start(&py) else {
        return;
    };
    az.env();
    let url = "az://lab/botscope/ds";
    let local = temp_dir("ds-az-local");
    let l = local.display().to_string();
    let inputs = [
        data.join("botnet-pcaps").display().to_string(),
        data.join("stratosphere-zeek-logs").display().to_string(),
    ];
    let (code, _, err) = run(&["ingest", "--store", &l, &inputs[0], &inputs[1]], None);
    assert!(code == 0 || code == 1, "{err}");
    let both: Vec<Vec<String>> = (0..2).map(|_| inputs.to_vec()).collect();
    ingest_at_once(url, &both);
    let u = Path::new(url);
    for t in ["conn", "http", "dns", "smtp", "activity"] {
        assert_eq!(n(u, t), n(&local, t), "{t}");
    }
    assert!(n(u, "conn") > 100);
    let hashes = sql_json(
        u,
        "SELECT count(*) AS n, count(DISTINCT hash) AS d FROM inputs WHERE hash IS NOT NULL",
    );
    assert_eq!(hashes[0]["n"], hashes[0]["d"], "an input committed twice");
    let (code, out, err) = run(
        &[
            "sql",
            "--store",
            url,
            "--as-of",
            "1",
            "--format",
            "json",
            "SELECT count(*) AS n FROM inputs",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"n\":"), "{out}");
    let (code, _, err) = run(&["compact", "--store", url, "--retain-hours", "0"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(u, "conn"), n(&local, "conn"));
    drop(az);
    let _ = std::fs::remove_dir_all(&local);
}
