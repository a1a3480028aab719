//! `botscope serve` as a running service: a message sent with swaks to its
//! trap shows on the dashboard within 5 s, and a real capture dropped into
//! a watched folder shows its host's activity within 10 s.
//!
//! Needs swaks (installed by `.ci/run`) and the shared data; without them
//! the test skips with a message, except under `CI=true` where it fails.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{botscope, data_dir, get_json, temp_dir, tool};

struct Serve {
    child: Child,
    dashboard: String,
    trap: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(store: &Path, watch: &Path) -> Serve {
    let mut child = botscope()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--trap",
            "127.0.0.1:0",
            "--rate-limit",
            "0",
            "--store",
        ])
        .arg(store)
        .arg("--watch")
        .arg(watch)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start botscope serve");
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("[serve] {l}");
            let _ = tx.send(l);
        }
    });
    let (mut dashboard, mut trap) = (String::new(), String::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    while dashboard.is_empty() || trap.is_empty() {
        let l = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("serve printed no addresses");
        if let Some(a) = l.split("dashboard on http://").nth(1) {
            dashboard = a.trim_end_matches('/').to_string();
        }
        if let Some(a) = l.split("trap listening on ").nth(1) {
            trap = a.trim().to_string();
        }
    }
    Serve {
        child,
        dashboard,
        trap,
    }
}

#[test]
fn trap_mail_and_dropped_captures_reach_the_dashboard_within_seconds() {
    let Some(swaks) = tool("swaks") else { return };
    let Some(data) = data_dir() else { return };
    let capture = data.join("botnet-pcaps/spambot-auth-relay-port2525.pcap");
    assert!(capture.exists(), "{}", capture.display());
    let dir = temp_dir("serve-live");
    let (store, drop_dir) = (dir.join("store"), dir.join("drop"));
    std::fs::create_dir_all(&drop_dir).unwrap();
    let s = start(&store, &drop_dir);

    // A message to the trap, sent by swaks.
    let subject = "Serve live test <b>bold</b>";
    let sent = Instant::now();
    let out = Command::new(swaks)
        .args([
            "--server",
            &s.trap,
            "--timeout",
            "20",
            "--to",
            "victim@trap.example",
            "--from",
            "bot@spam.example",
        ])
        .args([
            "--header",
            &format!("Subject: {subject}"),
            "--header",
            "Message-Id: <serve-live-1@spam.example>",
        ])
        .output()
        .expect("run swaks");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    loop {
        let r = get_json(&s.dashboard, "/api/search?q=serve-live-1@spam.example");
        let found = r["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["table"] == "mail")
            .flat_map(|g| g["rows"].as_array().cloned().unwrap_or_default())
            .any(|row| row["subject"] == subject);
        // On the overview too (its snapshot follows the store's commits).
        let o = get_json(&s.dashboard, "/api/overview");
        if found && o["totals"]["messages"].as_u64() >= Some(1) {
            break;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the trapped message is not on the dashboard after 5 s: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took_mail = sent.elapsed();
    let o = get_json(&s.dashboard, "/api/overview");
    assert_eq!(o["trap"]["messages_stored"], 1, "{o}");
    assert_eq!(o["families"][0]["messages"], 1, "{o}");

    // A real capture copied into the watched folder (written under a
    // hidden name and renamed, as uploaders do).
    let dropped = Instant::now();
    let tmp = drop_dir.join(".incoming.pcap");
    std::fs::copy(&capture, &tmp).unwrap();
    std::fs::rename(&tmp, drop_dir.join("spambot.pcap")).unwrap();
    let host = loop {
        let hosts = get_json(&s.dashboard, "/api/hosts");
        if let Some(h) = hosts.as_array().into_iter().flatten().find(|h| {
            h["classes"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "spam"))
        }) {
            break h["host"].as_str().unwrap().to_string();
        }
        assert!(
            dropped.elapsed() < Duration::from_secs(10),
            "no spam host on the dashboard 10 s after the drop: {hosts}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let took_capture = dropped.elapsed();
    let h = get_json(&s.dashboard, &format!("/api/host/{host}"));
    let spam = h["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["class"] == "spam")
        .unwrap();
    assert!(!spam["evidence"].as_array().unwrap().is_empty(), "{h}");
    // The same file again (another name): nothing added.
    let inputs_before = get_json(&s.dashboard, "/api/overview")["totals"]["inputs"].clone();
    std::fs::copy(&capture, drop_dir.join("again.pcap")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = get_json(&s.dashboard, "/api/overview");
        if o["status"]["watch_already"].as_u64() == Some(1) {
            assert_eq!(o["status"]["watch_ingested"], 1, "{o}");
            assert_eq!(o["totals"]["inputs"], inputs_before, "{o}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second copy was not looked at: {o}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "mail on the dashboard after {took_mail:?}, the capture's host after {took_capture:?}"
    );
    drop(s);
    std::fs::remove_dir_all(&dir).ok();
}
