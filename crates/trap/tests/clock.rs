//! The default timeouts and the receive time, deterministically: tokio's
//! paused clock drives the session's timers, an injected wall clock
//! stamps the Received: header and the records.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use botscope_trap::{Limit, Trap, TrapConfig, TrapOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn trap(name: &str) -> (Trap, std::path::PathBuf) {
    let dir =
        std::env::temp_dir().join(format!("botscope-trap-clock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = TrapConfig {
        hostname: "trap.example".into(),
        starttls: false,
        ..TrapConfig::default()
    };
    let mut opts = TrapOptions::new(cfg, dir.clone());
    // 2010-12-25 00:00:00 UTC: Rustock's Christmas silence.
    opts.clock = Arc::new(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_293_235_200));
    (Trap::new(opts).unwrap(), dir)
}

async fn reply(r: &mut BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>) -> String {
    let mut all = String::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).await.unwrap() == 0 {
            return all;
        }
        all.push_str(&l);
        if l.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_busy_session_ends_at_the_600_s_deadline_and_an_idle_one_after_60_s() {
    let (trap, dir) = trap("deadline");
    let peer = "198.51.100.9:1234".parse().unwrap();
    // Busy: a NOOP every 45 s never trips the 60 s command timeout; the
    // whole-session deadline (600 s) ends it.
    let (client, server) = tokio::io::duplex(4096);
    let (r, mut w) = tokio::io::split(client);
    let mut r = BufReader::new(r);
    let t0 = tokio::time::Instant::now();
    let driver = async {
        assert!(reply(&mut r).await.starts_with("220 trap.example"));
        loop {
            tokio::time::sleep(Duration::from_secs(45)).await;
            if w.write_all(b"NOOP\r\n").await.is_err() {
                break;
            }
            let rep = reply(&mut r).await;
            if rep.starts_with("421") {
                assert!(rep.contains("session time limit exceeded"), "{rep}");
                break;
            }
            assert!(rep.starts_with("250"), "{rep}");
        }
    };
    let (rec, ()) = tokio::join!(trap.serve_stream(server, peer), driver);
    assert_eq!(rec.end, "session_deadline");
    assert!(t0.elapsed() >= Duration::from_secs(600));
    assert_eq!(rec.duration_ms, 600_000, "ended at the deadline itself");
    assert_eq!(rec.command_count, 13); // at 45, 90, ... 585 s
    assert_eq!(rec.commands[0].t_ms, 45_000);
    assert_eq!(rec.start, "2010-12-25T00:00:00.000000Z");

    // Idle: 421 after the 60 s command timeout.
    let (client, server) = tokio::io::duplex(4096);
    let (r, _w) = tokio::io::split(client);
    let mut r = BufReader::new(r);
    let t0 = tokio::time::Instant::now();
    let driver = async {
        assert!(reply(&mut r).await.starts_with("220"));
        let rep = reply(&mut r).await;
        assert!(rep.starts_with("421 4.4.2"), "{rep}");
    };
    let (rec, ()) = tokio::join!(trap.serve_stream(server, peer), driver);
    assert_eq!(rec.end, "command_timeout");
    assert_eq!(t0.elapsed().as_secs(), 60);
    let stats = trap.stats();
    assert_eq!(stats.limit_count(Limit::SessionDeadline), 1);
    assert_eq!(stats.limit_count(Limit::CommandTimeout), 1);
    trap.close();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_received_header_carries_the_injected_time_and_the_client() {
    let (trap, dir) = trap("received");
    let peer = "[2001:db8::7]:4711".parse().unwrap();
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (r, mut w) = tokio::io::split(client);
    let mut r = BufReader::new(r);
    let driver = async {
        reply(&mut r).await;
        w.write_all(b"HELO [192.0.2.1]\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@trap.example>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n")
            .await
            .unwrap();
        let mut codes = Vec::new();
        for _ in 0..6 {
            codes.push(reply(&mut r).await[..3].to_string());
        }
        assert_eq!(codes, ["250", "250", "250", "354", "250", "221"]);
    };
    let (rec, ()) = tokio::join!(trap.serve_stream(server, peer), driver);
    trap.close();
    let path = dir.join(rec.messages[0].path.as_ref().unwrap());
    let text = std::fs::read_to_string(path).unwrap();
    let id = &rec.messages[0].id;
    assert_eq!(
        text,
        format!(
            "Received: from [192.0.2.1] ([IPv6:2001:db8::7] port 4711)\r\n\tby trap.example (botscope-trap) with ESMTP id {id}\r\n\tfor <x@trap.example>;\r\n\tSat, 25 Dec 2010 00:00:00 +0000\r\nSubject: hi\r\n\r\nbody\r\n"
        )
    );
    assert!(id.starts_with("1293235200.M0P"));
    assert_eq!(rec.messages[0].received, "2010-12-25T00:00:00.000000Z");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(start_paused = true)]
async fn a_client_stalling_inside_data_is_cut_after_120_s_and_nothing_is_kept() {
    let (trap, dir) = trap("data-timeout");
    let peer = "198.51.100.9:1234".parse().unwrap();
    let (client, server) = tokio::io::duplex(4096);
    let (r, mut w) = tokio::io::split(client);
    let mut r = BufReader::new(r);
    let driver = async {
        reply(&mut r).await;
        w.write_all(b"HELO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@trap.example>\r\nDATA\r\nSubject: half\r\n")
            .await
            .unwrap();
        for _ in 0..4 {
            reply(&mut r).await;
        }
        let rep = reply(&mut r).await;
        assert!(rep.starts_with("421 4.4.2"), "{rep}");
    };
    let (rec, ()) = tokio::join!(trap.serve_stream(server, peer), driver);
    assert_eq!(rec.end, "data_timeout");
    assert_eq!(rec.messages[0].outcome, "aborted");
    assert_eq!(trap.stats().limit_count(Limit::DataTimeout), 1);
    trap.close();
    assert_eq!(
        std::fs::read_dir(dir.join("trap/maildir/new"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(dir.join("trap/maildir/tmp"))
            .unwrap()
            .count(),
        0
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn messages_per_session_are_capped() {
    let dir = std::env::temp_dir().join(format!("botscope-trap-clock-msgs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = TrapConfig {
        starttls: false,
        ..TrapConfig::default()
    };
    cfg.limits.max_messages_per_session = 2;
    let trap = Trap::new(TrapOptions::new(cfg, dir.clone())).unwrap();
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (r, mut w) = tokio::io::split(client);
    let mut r = BufReader::new(r);
    let driver = async {
        reply(&mut r).await;
        let one = "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@trap.example>\r\nDATA\r\nhi\r\n.\r\n";
        w.write_all(format!("HELO x\r\n{one}{one}{one}").as_bytes())
            .await
            .unwrap();
        let mut codes = Vec::new();
        loop {
            let rep = reply(&mut r).await;
            if rep.is_empty() {
                break;
            }
            codes.push(rep[..3].to_string());
        }
        assert_eq!(
            codes,
            ["250", "250", "250", "354", "250", "250", "250", "354", "250", "421"]
        );
    };
    let (rec, ()) = tokio::join!(
        trap.serve_stream(server, "192.0.2.1:1".parse().unwrap()),
        driver
    );
    assert_eq!(rec.end, "too_many_messages");
    assert_eq!(rec.messages.len(), 2);
    assert_eq!(trap.stats().limit_count(Limit::MessagesPerSession), 1);
    trap.close();
    let _ = std::fs::remove_dir_all(dir);
}
