//! `botscope trap` with real mail clients from Debian: swaks (single
//! sessions, STARTTLS, pipelining), Postfix's smtp-source (load), and a
//! SIGKILL in the middle of a run (nothing that got a 250 may be lost).
//!
//! The clients must be installed (`.ci/run` installs them); without them
//! the tests skip with a message, except under `CI=true` where they fail.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{botscope, temp_dir, tool};

struct TrapProc {
    child: Child,
    addr: String,
    stderr: Arc<std::sync::Mutex<Vec<String>>>,
}

impl TrapProc {
    fn start(store: &Path, extra: &[&str]) -> TrapProc {
        let mut child = botscope()
            .args([
                "trap",
                "--listen",
                "127.0.0.1:0",
                "--hostname",
                "trap.example",
                "--store",
            ])
            .arg(store)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start botscope trap");
        let err = child.stderr.take().unwrap();
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(rest) = l.strip_prefix("botscope trap: listening on ") {
                    let addr = rest.split(',').next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                keep.lock().unwrap().push(l);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("trap did not start: {:?}", lines.lock().unwrap()));
        TrapProc {
            child,
            addr,
            stderr: lines,
        }
    }

    fn port(&self) -> &str {
        self.addr.rsplit(':').next().unwrap()
    }

    /// SIGTERM and wait: the trap finishes its sessions and exits 0.
    fn stop(self) -> (i32, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let out = self.child.wait_with_output().expect("wait for trap");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

fn stored(store: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(store.join("trap/maildir/new"))
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn sessions(store: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(store.join("trap/sessions.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line of sessions.jsonl is JSON"))
        .collect()
}

/// What follows our Received: header.
fn after_received(msg: &[u8]) -> &[u8] {
    assert!(msg.starts_with(b"Received: from "));
    let mut rest = msg;
    loop {
        let i = rest.iter().position(|&b| b == b'\n').unwrap() + 1;
        rest = &rest[i..];
        if !rest.starts_with(b"\t") {
            return rest;
        }
    }
}

/// The id in swaks' transcript line `<~  250 2.0.0 Ok: queued as ID`.
fn queued_id(transcript: &str) -> Option<String> {
    transcript
        .lines()
        .find_map(|l| l.split("250 2.0.0 Ok: queued as ").nth(1))
        .map(|s| s.trim().to_string())
}

fn swaks(server: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("swaks")
        .args(["--server", server, "--timeout", "20"])
        .args(args)
        .output()
        .expect("run swaks");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn swaks_plain_starttls_and_pipelining() {
    if tool("swaks").is_none() {
        return;
    }
    let store = temp_dir("trap-swaks");
    let trap = TrapProc::start(&store, &[]);
    let server = trap.addr.clone();
    let mut ids = Vec::new();
    for (name, extra) in [
        ("plain", &[][..]),
        ("tls", &["-tls"][..]),
        ("pipeline", &["--pipeline"][..]),
        ("tls+pipeline", &["-tls", "--pipeline"][..]),
    ] {
        let mut args = vec![
            "--to",
            "x@trap.example",
            "--from",
            "bot@spam.example",
            "--ehlo",
            "bot.example",
        ];
        args.extend_from_slice(extra);
        let (ok, t) = swaks(&server, &args);
        assert!(ok, "swaks {name} failed:\n{t}");
        let id = queued_id(&t).unwrap_or_else(|| panic!("no 250 for {name}:\n{t}"));
        ids.push((name, id));
    }
    let (code, _) = trap.stop();
    assert_eq!(code, 0);
    let files = stored(&store);
    assert_eq!(files.len(), 4);
    for (name, id) in &ids {
        let (_, msg) = files
            .iter()
            .find(|(f, _)| f.starts_with(&format!("{id},S=")))
            .unwrap_or_else(|| panic!("{name}: {id} not in new/"));
        let text = String::from_utf8_lossy(msg);
        let with = if name.starts_with("tls") {
            "ESMTPS"
        } else {
            "ESMTP "
        };
        assert!(text.contains(&format!("with {with}")), "{name}: {text}");
        assert!(text.contains("from bot.example ([127.0.0.1]"), "{text}");
        assert!(text.contains("\r\nSubject: test "), "{text}");
        assert!(text.contains("\r\nX-Mailer: swaks"), "{text}");
        assert!(
            text.ends_with("\r\n\r\nThis is a test mailing\r\n\r\n\r\n"),
            "{text:?}"
        );
    }
    let recs = sessions(&store);
    assert_eq!(recs.len(), 4);
    let tls: Vec<bool> = recs.iter().map(|r| r["tls"].as_bool().unwrap()).collect();
    assert_eq!(tls, [false, true, false, true]);
    let pipelined: Vec<u64> = recs
        .iter()
        .map(|r| r["pipelined_commands"].as_u64().unwrap())
        .collect();
    assert_eq!(pipelined[0], 0);
    assert!(pipelined[2] >= 2 && pipelined[3] >= 2, "{pipelined:?}");
    for r in &recs {
        assert_eq!(r["quit"], true);
        assert_eq!(r["helo"], "bot.example");
        assert_eq!(
            r["messages"][0]["envelope"]["mail_from"],
            "bot@spam.example"
        );
    }
}

#[test]
fn smtp_source_load_is_stored_completely() {
    if tool("smtp-source").is_none() {
        return;
    }
    let store = temp_dir("trap-smtp-source");
    let trap = TrapProc::start(&store, &["--max-size", "100000", "--json"]);
    let st = Command::new(tool("smtp-source").unwrap())
        .args([
            "-s",
            "10",
            "-m",
            "300",
            "-l",
            "3000",
            "-f",
            "bot@spam.example",
            "-t",
            "x@trap.example",
        ])
        .arg(&trap.addr)
        .status()
        .expect("run smtp-source");
    assert!(st.success());
    let (code, json) = trap.stop();
    assert_eq!(code, 0);
    let counters: serde_json::Value = serde_json::from_str(&json).expect("--json counters");
    assert_eq!(counters["messages_stored"], 300);
    assert_eq!(
        counters["sessions"], 300,
        "smtp-source opens a session per message"
    );
    assert_eq!(counters["store_errors"], 0);
    assert_eq!(counters["limits_hit"]["max_message_size"], 0);
    let files = stored(&store);
    assert_eq!(files.len(), 300, "every message smtp-source sent");
    for (name, msg) in &files {
        let body = after_received(msg);
        // smtp-source's message: its headers, then -l bytes of "NXXX..." lines.
        assert!(body.starts_with(b"From: <bot@spam.example>\r\n"), "{name}");
        assert!(body.windows(9).any(|w| w == b"\r\n\r\n1XXXX"), "{name}");
        assert!(body.len() > 3000, "{name}");
        assert!(name.ends_with(&format!(",S={}", msg.len())));
    }
    let recs = sessions(&store);
    let msgs: usize = recs
        .iter()
        .map(|r| r["messages"].as_array().unwrap().len())
        .sum();
    assert_eq!(msgs, 300);
}

#[test]
fn sigkill_in_the_middle_loses_no_acknowledged_message() {
    if tool("swaks").is_none() {
        return;
    }
    let store = temp_dir("trap-crash");
    let data = temp_dir("trap-crash-data");
    let trap = TrapProc::start(&store, &[]);
    let server = trap.addr.clone();
    let stop = Arc::new(AtomicBool::new(false));
    // Each worker sends distinct messages (sizes 1 KB .. 400 KB) with swaks
    // until the trap is gone, and keeps what got a 250.
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let server = server.clone();
            let data = data.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut sent = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let lines = 1 + (i * 7919 + w * 104_729) % 8000;
                    let mut msg = format!("X-Seq: {w}-{i}\r\nSubject: crash test {w}-{i}\r\n\r\n");
                    for l in 0..lines {
                        msg.push_str(&format!(
                            "worker {w} message {i} line {l} .....................\r\n"
                        ));
                    }
                    let file = data.join(format!("{w}-{i}.eml"));
                    std::fs::write(&file, &msg).unwrap();
                    // swaks ends the data with CRLF . CRLF after its own CRLF.
                    let expected = format!("{msg}\r\n").into_bytes();
                    sent.push((format!("{w}-{i}"), expected.clone()));
                    let at = format!("@{}", file.display());
                    let (ok, t) = swaks(&server, &["--to", "x@trap.example", "--data", &at]);
                    match queued_id(&t) {
                        Some(id) => acked.push((id, format!("{w}-{i}"), expected)),
                        None => {
                            assert!(!ok, "swaks succeeded without a 250:\n{t}");
                            break; // the trap is gone
                        }
                    }
                }
                (acked, sent)
            })
        })
        .collect();
    // Background load from smtp-source keeps the committer busy, so the
    // kill lands amid fsyncs and renames too.
    let load = tool("smtp-source").map(|src| {
        Command::new(src)
            .args([
                "-s",
                "20",
                "-m",
                "1000000",
                "-l",
                "2000",
                "-f",
                "load@spam.example",
                "-t",
                "x@trap.example",
            ])
            .arg(&server)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start smtp-source")
    });
    // Let messages flow, then SIGKILL while transactions are in flight.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = trap.child;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    if let Some(mut load) = load {
        let _ = load.kill();
        let _ = load.wait();
    }
    let mut acked = Vec::new();
    let mut sent = BTreeMap::new();
    for w in workers {
        let (a, s) = w.join().unwrap();
        acked.extend(a);
        sent.extend(s);
    }
    assert!(
        acked.len() >= 10,
        "only {} messages acknowledged before the kill",
        acked.len()
    );
    // Restart on the same store: the lock of the killed process is gone,
    // tmp/ leftovers are removed, messages acknowledged but not yet filed
    // are written from the write-ahead log, and mail flows again.
    let trap = TrapProc::start(&store, &[]);
    assert!(std::fs::read_dir(store.join("trap/maildir/tmp"))
        .unwrap()
        .next()
        .is_none());
    assert!(
        std::fs::read_dir(store.join("trap/wal"))
            .unwrap()
            .next()
            .is_none(),
        "the replayed write-ahead log is deleted at start"
    );
    let files = stored(&store);
    // Every acknowledged message is there, whole.
    for (id, seq, expected) in &acked {
        let (_, msg) = files
            .iter()
            .find(|(f, _)| f.starts_with(&format!("{id},S=")))
            .unwrap_or_else(|| panic!("acknowledged message {seq} ({id}) lost"));
        assert_eq!(
            after_received(msg),
            &expected[..],
            "message {seq} not whole"
        );
    }
    // Whatever else is in new/ (logged, but killed before the 250 left) is
    // whole too: no partial file is ever visible.
    let mut load_payload = None;
    let mut load_stored = 0;
    for (name, msg) in &files {
        // The size in the name is what was written before the rename.
        let s_eq: usize = name.rsplit(",S=").next().unwrap().parse().unwrap();
        assert_eq!(s_eq, msg.len(), "{name} is not the size it was stored with");
        let body = after_received(msg);
        if body.starts_with(b"From: <load@spam.example>") {
            // smtp-source's messages: headers, a blank line, then -l bytes.
            let i = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let payload = &body[i..];
            assert!(payload.ends_with(b"\r\n"), "{name} is partial");
            assert_eq!(
                *load_payload.get_or_insert(payload.to_vec()),
                payload,
                "{name} is partial"
            );
            load_stored += 1;
            continue;
        }
        let seq = String::from_utf8_lossy(body)
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("X-Seq: "))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{name}: not one of ours"));
        assert_eq!(body, &sent[&seq][..], "{name} is partial");
    }
    let (ok, t) = swaks(&trap.addr, &["--to", "x@trap.example"]);
    assert!(ok && queued_id(&t).is_some(), "{t}");
    let port = trap.port().to_string();
    let log = trap.stderr.clone();
    let (code, _) = trap.stop();
    assert_eq!(code, 0, "{:?}", log.lock().unwrap());
    assert_eq!(stored(&store).len(), files.len() + 1);
    // The session log is whole JSON lines even after the kill.
    let recs = sessions(&store);
    assert!(recs
        .iter()
        .any(|r| r["server_port"].as_u64().map(|p| p.to_string()) == Some(port.clone())));
    eprintln!(
        "crash test: {} swaks messages acknowledged, {} sent; {} in new/ after SIGKILL and restart, {} of them from smtp-source",
        acked.len(),
        sent.len(),
        files.len(),
        load_stored
    );
}

#[test]
fn a_bad_config_file_is_refused_with_its_name_and_field() {
    let dir = temp_dir("trap-bad-config");
    let cfg = dir.join("trap.toml");
    std::fs::write(&cfg, "[limits]\nmax_mesage_size = 5\n").unwrap();
    let out = botscope()
        .args(["trap", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.join("store"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trap.toml") && err.contains("max_mesage_size"),
        "{err}"
    );
}

/// `botscope sql` on `store`, CSV lines without the header.
fn sql_rows(store: &Path, q: &str) -> Vec<String> {
    let out = botscope()
        .args(["sql", "--format", "csv", "--store"])
        .arg(store)
        .arg(q)
        .output()
        .unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// `botscope ingest --json` of the trap's Maildir into its store.
fn ingest_maildir(store: &Path) -> serde_json::Value {
    let out = botscope()
        .args(["ingest", "--quiet", "--json", "--store"])
        .arg(store)
        .arg(store.join("trap/maildir"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)))
}

/// Stop a trap started with `--json`; its counters.
fn stop_json(trap: TrapProc) -> serde_json::Value {
    let (code, stdout) = trap.stop();
    assert_eq!(code, 0);
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn trapped_mail_reaches_the_dataset_within_seconds_and_only_once() {
    if tool("swaks").is_none() {
        return;
    }
    let store = temp_dir("trap-dataset");
    // A message an earlier run stored but never committed to the dataset.
    let new = store.join("trap/maildir/new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(
        new.join("1290000000.M1P1Q1.trap.example,S=200"),
        "Received: from old.example ([203.0.113.9])\r\n\tby trap.example (botscope trap) with ESMTP id OLD1\r\n\tfor <x@trap.example>; Tue, 21 Dec 2010 10:00:00 +0000\r\n\
         From: a@b.example\r\nTo: x@trap.example\r\nSubject: an earlier message\r\n\
         Date: Tue, 21 Dec 2010 10:00:00 +0000\r\nMessage-ID: <old@b.example>\r\n\r\nhello\r\n",
    )
    .unwrap();
    let trap = TrapProc::start(&store, &["--flush-secs", "0.5", "--json"]);
    let (ok, t) = swaks(
        &trap.addr,
        &[
            "--to",
            "x@trap.example",
            "--from",
            "bot@spam.example",
            "--ehlo",
            "bot.example",
            "--header",
            "Subject: Canadian Pharmacy <b>70% off</b>",
            "--body",
            "Buy now at http://pharma-shop.example/buy",
        ],
    );
    assert!(ok, "{t}");
    let sent = Instant::now();
    let q = "SELECT sender_ip, helo, mail_from, subject FROM mail ORDER BY ts";
    let rows = loop {
        let rows = sql_rows(&store, q);
        if rows.len() >= 2 || sent.elapsed() > Duration::from_secs(30) {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = sent.elapsed();
    assert_eq!(rows.len(), 2, "{rows:?}\n{:?}", trap.stderr.lock().unwrap());
    assert!(
        took < Duration::from_secs(10),
        "visible after {took:?} (flush every 0.5 s)"
    );
    // The earlier run's message (headers), then the live one (session facts).
    assert!(rows[0].starts_with("203.0.113.9,old.example,"), "{rows:?}");
    assert!(
        rows[1].starts_with("127.0.0.1,bot.example,bot@spam.example,Canadian Pharmacy"),
        "{rows:?}"
    );
    // The timeline sees it at once.
    let out = botscope()
        .args([
            "timeline", "--by", "category", "--every", "day", "--json", "--store",
        ])
        .arg(&store)
        .output()
        .unwrap();
    let tl = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && tl.contains("pharma"), "{tl}");
    // Ingesting the Maildir while the trap runs adds nothing: the feed's
    // inputs rows name each file's content hash.
    let rep = ingest_maildir(&store);
    assert_eq!(rep["inputs"]["already_ingested"], 2, "{rep}");
    let stats = stop_json(trap);
    assert_eq!(stats["dataset"]["messages"], 1, "{stats}");
    assert_eq!(stats["dataset"]["caught_up"], 1, "{stats}");
    assert_eq!(sql_rows(&store, "SELECT count(*) FROM mail"), ["2"]);

    // An ingest of the Maildir that commits a message before the feed's
    // next tick: the feed sees it in inputs and does not add it again.
    let trap = TrapProc::start(&store, &["--flush-secs", "4", "--json"]);
    let (ok, t) = swaks(
        &trap.addr,
        &[
            "--to",
            "y@trap.example",
            "--from",
            "bot2@spam.example",
            "--ehlo",
            "bot2.example",
        ],
    );
    assert!(ok, "{t}");
    let rep = ingest_maildir(&store);
    assert_eq!(rep["inputs"]["added"], 1, "{rep}");
    assert_eq!(rep["inputs"]["already_ingested"], 2, "{rep}");
    std::thread::sleep(Duration::from_secs(6));
    let stats = stop_json(trap);
    assert_eq!(stats["dataset"]["messages"], 0, "{stats}");
    assert_eq!(sql_rows(&store, "SELECT count(*) FROM mail"), ["3"]);
}

/// Issue 17: credentials never reach sessions.jsonl. swaks authenticates
/// with PLAIN, LOGIN and CRAM-MD5 against a trap that offers AUTH (every
/// attempt fails with 535); the log holds the mechanisms and outcomes and
/// no user name or password, base64 or clear. With
/// `auth.record_credentials` they are kept, decoded.
#[test]
fn swaks_auth_never_leaves_credentials_in_the_session_log() {
    if tool("swaks").is_none() {
        return;
    }
    let user = "mallory.k";
    let pass = "Pa55w0rd-17";
    let b64 = |s: &str| {
        use std::io::Write;
        let mut c = Command::new("base64")
            .arg("-w0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
    };
    for record in [false, true] {
        let dir = temp_dir(&format!("trap-swaks-auth-{record}"));
        let cfg = dir.join("trap.toml");
        std::fs::write(
            &cfg,
            format!("[auth]\nadvertise = true\nrecord_credentials = {record}\n"),
        )
        .unwrap();
        let store = dir.join("store");
        let trap = TrapProc::start(&store, &["--config", cfg.to_str().unwrap()]);
        let server = trap.addr.clone();
        for mech in ["PLAIN", "LOGIN", "CRAM-MD5"] {
            let (ok, t) = swaks(
                &server,
                &[
                    "--to",
                    "x@trap.example",
                    "--auth",
                    mech,
                    "--auth-user",
                    user,
                    "--auth-password",
                    pass,
                ],
            );
            assert!(!ok, "the trap authenticates nobody:\n{t}");
            assert!(t.contains("535 5.7.8"), "{mech}:\n{t}");
        }
        let (code, _) = trap.stop();
        assert_eq!(code, 0);
        let log = std::fs::read_to_string(store.join("trap/sessions.jsonl")).unwrap();
        let recs = sessions(&store);
        assert_eq!(recs.len(), 3);
        let mechs: Vec<&str> = recs
            .iter()
            .map(|r| r["auth"][0]["mechanism"].as_str().unwrap())
            .collect();
        assert_eq!(mechs, ["PLAIN", "LOGIN", "CRAM-MD5"]);
        for r in &recs {
            assert_eq!(r["auth"][0]["outcome"], "failed", "{r}");
        }
        let plain = b64(&format!("\0{user}\0{pass}"));
        if !record {
            for secret in [user, pass, &b64(user), &b64(pass), &plain, "mallory"] {
                assert!(!log.contains(secret), "{secret:?} leaked into {log}");
            }
            assert!(recs
                .iter()
                .all(|r| r["auth"][0].get("credentials").is_none()));
        } else {
            for r in &recs[..2] {
                assert_eq!(r["auth"][0]["credentials"]["user"], user, "{r}");
                assert_eq!(r["auth"][0]["credentials"]["password"], pass, "{r}");
            }
            let cram = &recs[2]["auth"][0]["credentials"];
            assert_eq!(cram["user"], user);
            let digest = cram["response"].as_str().unwrap();
            assert!(
                digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
                "{digest}"
            );
        }
    }
}

/// Issue 17: SMTP smuggling with a real client. swaks sends a body holding
/// `\r\n.\n MAIL FROM:...` (and `\n.\n`, `\n.\r\n`) exactly as written
/// (`--no-data-fixup`); the trap stores one message holding those bytes
/// and records the attempt, and no forged envelope is in the record.
#[test]
fn swaks_smuggled_end_of_data_is_one_message() {
    if tool("swaks").is_none() {
        return;
    }
    let dir = temp_dir("trap-swaks-smuggle");
    let store = dir.join("store");
    let body: &[u8] = b"Subject: smuggle\r\n\r\nhello\r\n.\n MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@trap.example>\r\nDATA\r\nforged\n.\nmore\n.\r\nend\r\n";
    let data = dir.join("data.eml");
    let mut whole = body.to_vec();
    whole.extend_from_slice(b".\r\n");
    std::fs::write(&data, &whole).unwrap();
    let trap = TrapProc::start(&store, &[]);
    let (ok, t) = swaks(
        &trap.addr.clone(),
        &[
            "--to",
            "x@trap.example",
            "--from",
            "relay@spam.example",
            "--no-data-fixup",
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert!(ok, "{t}");
    assert!(queued_id(&t).is_some(), "{t}");
    let (code, _) = trap.stop();
    assert_eq!(code, 0);
    let files = stored(&store);
    assert_eq!(files.len(), 1, "one message, not two");
    let msg = files.values().next().unwrap();
    assert_eq!(after_received(msg), body);
    let recs = sessions(&store);
    assert_eq!(recs.len(), 1);
    let m = &recs[0]["messages"];
    assert_eq!(m.as_array().unwrap().len(), 1);
    assert_eq!(m[0]["smuggling_sequences"], 3);
    assert_eq!(m[0]["envelope"]["mail_from"], "relay@spam.example");
    assert_eq!(m[0]["envelope"]["rcpt_to"][0], "x@trap.example");
    assert!(!recs[0].to_string().contains("bank.example"));
}
