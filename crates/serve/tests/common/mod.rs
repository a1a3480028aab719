//! Shared by the serve tests: a small dataset written through the store,
//! a plain HTTP client and a headless Chromium driven over the DevTools
//! protocol.
#![allow(dead_code)]

pub mod cdp;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use botscope_event::{MailMessage, Ts};
use botscope_store::{ActivityRow, Store};

pub const DAY: i64 = 86_400_000_000;
/// 2010-11-01 00:00 UTC.
pub const START: i64 = 1_288_569_600_000_000;
pub const HOSTILE_SUBJECT: &str = "<script>alert(1)</script> Cheap meds";
pub const HOSTILE_EVIDENCE: &str = "GET /click Referer: <img src=x onerror=alert(2)>";
pub const HOST: &str = "10.0.2.15";

pub fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("botscope-test-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn message(day: i64, i: u64, family: &str, campaign: &str, subject: &str) -> MailMessage {
    MailMessage {
        source: format!("trap/{day}.mbox#{i}"),
        received_ts: Some(Ts(START + day * DAY + (i as i64 % 80_000) * 1_000_000)),
        message_id: Some(format!("<{day}.{i}.{family}@bot.example>")),
        sender_ip: Some(IpAddr::from([198, 51, 100, (i % 200) as u8])),
        helo: Some("localhost".into()),
        mail_from: Some("x@y.example".into()),
        rcpt_to: vec!["trap@trap.example".into()],
        subject: Some(subject.into()),
        family: family.into(),
        family_confidence: 0.9,
        campaign: Some(campaign.into()),
        category: "pharma".into(),
        brand: Some("Canadian Pharmacy".into()),
        urls: vec!["http://pills.example/buy".into()],
        domains: vec!["pills.example".into()],
        size: 1000,
        ..MailMessage::default()
    }
}

/// Sixty days of trap mail from three families (Rustock silent from day
/// 40), one message with a script in its subject, and a sandbox host with
/// spam and click-fraud activity whose evidence carries markup.
pub fn dataset(dir: &Path) {
    let store = Store::open(dir).unwrap();
    let mut mail = Vec::new();
    let mut i = 0u64;
    for day in 0..60i64 {
        for (fam, n) in [
            ("rustock", if day < 40 { 60 } else { 0 }),
            ("lethic", 20),
            ("grum", 10),
        ] {
            for _ in 0..n {
                i += 1;
                mail.push(message(day, i, fam, &format!("c-{fam}"), "Buy now"));
            }
        }
    }
    mail.push(message(30, 999_999, "lethic", "c-lethic", HOSTILE_SUBJECT));
    let mut w = store.writer();
    w.write_mail(&mail).unwrap();
    let host: IpAddr = HOST.parse().unwrap();
    let row = |class: &str, day: i64, n: u64, peers: Vec<String>, ev: Vec<String>| ActivityRow {
        source: "sandbox/rustock/2010-12-20.pcap".into(),
        host,
        class: class.into(),
        first: Ts(START + day * DAY),
        last: Ts(START + day * DAY + 3_600_000_000),
        connections: n,
        requests: n,
        bytes: n * 1000,
        share: 0.5,
        peers,
        evidence: ev,
        confidence: None,
    };
    w.write_activity(&[
        row(
            "spam",
            49,
            900,
            vec!["203.0.113.25:25".into()],
            vec!["900 SMTP sessions to 40 MX hosts".into()],
        ),
        row(
            "click_fraud",
            49,
            12,
            vec!["games.example".into()],
            vec![HOSTILE_EVIDENCE.into()],
        ),
    ])
    .unwrap();
    w.commit(Vec::new()).unwrap();
}

/// GET `path` (HTTP/1.1, one request per connection): status, headers
/// (lower-case names) and body.
pub fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    request(addr, "GET", path, &[], b"")
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let hdrs: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if hdrs
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, hdrs, body)
}

fn dechunk(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = b[i..].windows(2).position(|w| w == b"\r\n") {
        let n =
            usize::from_str_radix(String::from_utf8_lossy(&b[i..i + p]).trim(), 16).unwrap_or(0);
        i += p + 2;
        if n == 0 || i + n > b.len() {
            break;
        }
        out.extend_from_slice(&b[i..i + n]);
        i += n + 2;
    }
    out
}

pub fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (s, _, b) = get(addr, path);
    (
        s,
        serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
    )
}

/// Chromium's path, or `None` (and a message) when it is not installed;
/// under CI it must be.
pub fn chromium() -> Option<PathBuf> {
    let p = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but Chromium is not at {} (.ci/run installs Debian's chromium)",
            p.display()
        );
    }
    eprintln!(
        "skipping: no Chromium at {} (apt-get install chromium, or set CHROMIUM)",
        p.display()
    );
    None
}
