//! Write logs with `LogWriterSet`, read them back with `read_zeek_tsv`.

use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use botscope_event::*;
use botscope_zeeklog::*;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("botscope-zeeklog-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + StdDuration::from_secs(secs)
}

fn meta(uid: u64) -> Meta {
    Meta {
        ts: Ts(1_700_000_000_250_000),
        uid: Uid(uid),
        id: ConnId {
            orig_h: "192.0.2.1".parse().unwrap(),
            orig_p: 49152,
            resp_h: "2001:db8::25".parse().unwrap(),
            resp_p: 25,
            proto: Transport::Tcp,
        },
    }
}

const NASTY: &str = "GET\t/x\n#fields\\x09 -,(empty)\r\u{e9}";

fn events() -> Vec<Event> {
    let message = CarvedMessage {
        meta: meta(7),
        trans_depth: 2,
        helo: Some("bot".into()),
        mailfrom: Some("a@b".into()),
        rcptto: vec!["c@d".into()],
        data: b"Subject: hi\r\n\r\nbinary \x00\xff body\r\n".to_vec(),
        truncated: false,
    };
    vec![
        Event::Http(Http {
            meta: Some(meta(1)),
            trans_depth: 1,
            method: Some(NASTY.into()),
            uri: Some("-".into()),
            user_agent: Some("(empty)".into()),
            host: Some(String::new()),
            proxied: vec!["a,b".into(), "-".into()],
            resp_body_prefix: b"\x00\x01".to_vec(),
            ..Http::default()
        }),
        Event::Http(Http {
            meta: Some(meta(1)),
            trans_depth: 2,
            ..Http::default()
        }),
        Event::Smtp(Smtp {
            meta: Some(meta(7)),
            trans_depth: 2,
            subject: Some(NASTY.into()),
            rcptto: vec!["x@y".into(), "z,w@v".into()],
            path: vec!["192.0.2.1".parse::<IpAddr>().unwrap()],
            message_file: Some(mail_file_name(Uid(7), 2)),
            ..Smtp::default()
        }),
        Event::Message(message),
        Event::Weird(Weird {
            ts: Ts(1_700_000_001_000_000),
            uid: None,
            id: None,
            name: "truncated_packet".into(),
            addl: Some(NASTY.into()),
            source: Some("in.pcap:0x1234".into()),
        }),
    ]
}

fn col(fields: &[String], row: &[String], name: &str) -> String {
    row[fields.iter().position(|f| f == name).unwrap()].clone()
}

#[test]
fn zeek_logs_round_trip() {
    let dir = TempDir::new("zeek");
    let mut w = LogWriterSet::create(&dir.0, LogFormat::Zeek, at(1_700_000_000)).unwrap();
    assert!(dir.0.join("mail").is_dir());
    for ev in events() {
        w.write(&ev).unwrap();
    }
    assert_eq!(w.last_mail_file(), Some(mail_file_name(Uid(7), 2).as_str()));
    let summary = w.finish_at(at(1_700_000_060)).unwrap();
    assert_eq!(summary.mail_files, 1);
    let rows: Vec<(&str, u64)> = summary.rows.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(rows, [("http", 2), ("smtp", 1), ("weird", 1)]);

    // Logs that got no row are not created.
    for absent in ["conn.log", "dns.log", "ssl.log", "irc.log"] {
        assert!(!dir.0.join(absent).exists(), "{absent}");
    }

    // Header and #close lines.
    let text = fs::read_to_string(dir.0.join("http.log")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8 + 2 + 1);
    assert_eq!(
        text.lines()
            .take(8)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
        zeek_header("http", "2023-11-14-22-13-20")
    );
    assert_eq!(lines[10], "#close\t2023-11-14-22-14-20");

    // Read back: the unescaped values are the ones written.
    let (fields, rows) = read_zeek_tsv(dir.0.join("http.log")).unwrap();
    let names: Vec<&str> = HTTP_FIELDS.iter().map(|f| f.0).collect();
    assert_eq!(fields, names);
    assert_eq!(rows.len(), 2);
    assert_eq!(col(&fields, &rows[0], "method"), NASTY);
    assert_eq!(col(&fields, &rows[0], "ts"), "1700000000.250000");
    assert_eq!(col(&fields, &rows[0], "uid"), Uid(1).to_string());
    assert_eq!(col(&fields, &rows[0], "id.resp_h"), "2001:db8::25");
    assert_eq!(col(&fields, &rows[0], "trans_depth"), "1");
    // "-" and "(empty)" read back as themselves: the raw form tells a
    // real "-" from an unset field.
    assert_eq!(col(&fields, &rows[0], "uri"), "-");
    assert_eq!(col(&fields, &rows[1], "uri"), "-");
    let raw = read_zeek_tsv_raw(dir.0.join("http.log")).unwrap();
    assert_eq!(col(&raw.fields, &raw.rows[0], "uri"), r"\x2d");
    assert_eq!(col(&raw.fields, &raw.rows[1], "uri"), "-");
    assert_eq!(col(&raw.fields, &raw.rows[0], "user_agent"), r"\x28empty)");
    assert_eq!(col(&raw.fields, &raw.rows[0], "host"), "(empty)");
    let proxied = col(&raw.fields, &raw.rows[0], "proxied");
    let elems: Vec<Vec<u8>> = zeek_split_container(&proxied)
        .into_iter()
        .map(zeek_unescape)
        .collect();
    assert_eq!(elems, [b"a,b".to_vec(), b"-".to_vec()]);
    let types: Vec<&str> = HTTP_FIELDS.iter().map(|f| f.1).collect();
    assert_eq!(raw.types, types);

    let (fields, rows) = read_zeek_tsv(dir.0.join("smtp.log")).unwrap();
    assert_eq!(col(&fields, &rows[0], "subject"), NASTY);
    assert_eq!(col(&fields, &rows[0], "message_file"), "C7-2.eml");
    assert_eq!(col(&fields, &rows[0], "fuids"), "(empty)");

    let (fields, rows) = read_zeek_tsv(dir.0.join("weird.log")).unwrap();
    assert_eq!(col(&fields, &rows[0], "addl"), NASTY);
    assert_eq!(col(&fields, &rows[0], "uid"), "-");
    assert_eq!(col(&fields, &rows[0], "notice"), "F");

    // The carved message, byte for byte.
    let mail = fs::read(dir.0.join("mail").join("C7-2.eml")).unwrap();
    assert_eq!(mail, b"Subject: hi\r\n\r\nbinary \x00\xff body\r\n");
}

#[test]
fn concatenated_logs_read_as_one() {
    let dir = TempDir::new("concat");
    let mut all = Vec::new();
    for run in 0..2 {
        let sub = dir.0.join(format!("run{run}"));
        let mut w = LogWriterSet::create(&sub, LogFormat::Zeek, at(0)).unwrap();
        for ev in events() {
            w.write(&ev).unwrap();
        }
        w.finish_at(at(1)).unwrap();
        all.extend(fs::read(sub.join("http.log")).unwrap());
    }
    let cat = dir.0.join("cat.log");
    fs::write(&cat, &all).unwrap();
    let (fields, rows) = read_zeek_tsv(&cat).unwrap();
    assert_eq!(fields.len(), HTTP_FIELDS.len());
    assert_eq!(rows.len(), 4);
    assert_eq!(col(&fields, &rows[2], "method"), NASTY);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = TempDir::new("json");
    let mut w = LogWriterSet::create(&dir.0, LogFormat::Json, at(0)).unwrap();
    for ev in events() {
        w.write(&ev).unwrap();
    }
    let summary = w.finish().unwrap();
    assert_eq!(summary.rows["http"], 2);
    let text = fs::read_to_string(dir.0.join("http.log")).unwrap();
    assert_eq!(text.lines().count(), 2);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["method"], NASTY);
    assert_eq!(first["uri"], "-");
    assert_eq!(first["host"], "");
    assert_eq!(first["proxied"], serde_json::json!(["a,b", "-"]));
    assert_eq!(first["id.resp_p"], 25);
    assert!(first.get("resp_body_prefix").is_none());
    let smtp = fs::read_to_string(dir.0.join("smtp.log")).unwrap();
    let smtp: serde_json::Value = serde_json::from_str(smtp.trim_end()).unwrap();
    assert_eq!(smtp["rcptto"], serde_json::json!(["x@y", "z,w@v"]));
    assert!(dir.0.join("mail/C7-2.eml").is_file());
}

#[test]
fn unwritable_directory_is_a_named_error() {
    let dir = TempDir::new("blocked");
    fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    let err = match LogWriterSet::create(&file, LogFormat::Zeek, at(0)) {
        Err(e) => e,
        Ok(_) => panic!("created logs under a file"),
    };
    assert!(matches!(err.kind(), ErrorKind::CreateDir { .. }));
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}
