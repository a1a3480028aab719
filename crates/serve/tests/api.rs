//! The JSON API, the SQL console's limits, access control and live
//! updates, over HTTP against a running server.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use botscope_serve::{start, Access, ServeConfig};
use common::*;
use serde_json::json;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn header<'a>(h: &'a [(String, String)], k: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn the_api_answers_from_the_store_and_the_sql_console_only_reads() {
    let dir = temp("api");
    let ds = dir.join("ds");
    dataset(&ds);
    let rt = runtime();
    let mut cfg = ServeConfig::new(ds.clone());
    cfg.limits.sql_rows = 100;
    let running = rt
        .block_on(start(cfg, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let a = running.addr;

    // Overview: totals and per-family volume and share.
    let (s, o) = get_json(a, "/api/overview");
    assert_eq!(s, 200);
    let expected = 40 * 60 + 60 * 20 + 60 * 10 + 1;
    assert_eq!(o["totals"]["messages"], expected);
    assert_eq!(o["families"][0]["name"], "rustock");
    assert_eq!(o["totals"]["hosts"], 1);
    let share_series = o["share"]["series"].as_array().unwrap();
    let last_day: f64 = share_series
        .iter()
        .map(|s| {
            s["values"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .as_f64()
                .unwrap_or(0.0)
        })
        .sum();
    assert!(
        (last_day - 100.0).abs() < 0.1,
        "shares of a day sum to 100: {last_day}"
    );

    // The silence is an alert with its series around it.
    let (_, alerts) = get_json(a, "/api/alerts");
    let silence = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "silence" && x["key"] == "rustock")
        .cloned()
        .expect("silence alert");
    assert_eq!(silence["date"], "2010-12-11");
    let (s, detail) = get_json(
        a,
        &format!("/api/alert/{}", silence["id"].as_str().unwrap()),
    );
    assert_eq!(s, 200);
    assert!(!detail["chart"]["x"].as_array().unwrap().is_empty());

    // Family page: volume and alerts; unknown family: 404.
    let (_, f) = get_json(a, "/api/family/Rustock");
    assert_eq!(f["messages"], 40 * 60);
    assert!(f["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["kind"] == "silence"));
    assert_eq!(get_json(a, "/api/family/nonesuch").0, 404);
    // Spam volume and sandbox activity on one time axis: the trap's 60
    // days (Rustock's silent ones counted as zeros) and the capture on
    // day 49.
    assert_eq!(f["volume"]["x"], f["mix"]["x"]);
    assert_eq!(f["volume"]["x"].as_array().unwrap().len(), 60);
    assert_eq!(f["mix"]["series"][0]["values"][49], 900);

    // Host: both activities, the small one too, with its evidence; its
    // indicators, and the exports.
    let (_, h) = get_json(a, &format!("/api/host/{HOST}"));
    let classes: Vec<&str> = h["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["spam", "click_fraud"]);
    assert_eq!(h["activities"][1]["evidence"][0], HOSTILE_EVIDENCE);
    let iocs: Vec<(String, String)> = h["iocs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_string(),
                i["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        iocs.contains(&("ip".into(), "203.0.113.25".into())),
        "{iocs:?}"
    );
    assert!(
        iocs.contains(&("domain".into(), "games.example".into())),
        "{iocs:?}"
    );
    let (s, hd, stix) = get(a, "/api/iocs.stix.json");
    assert_eq!(s, 200);
    assert!(header(&hd, "content-disposition")
        .unwrap()
        .contains("iocs.stix.json"));
    let stix: serde_json::Value = serde_json::from_slice(&stix).unwrap();
    assert_eq!(stix["type"], "bundle");
    let (_, _, misp) = get(a, "/api/iocs.misp.json");
    let misp: serde_json::Value = serde_json::from_slice(&misp).unwrap();
    assert!(misp["Event"]["Attribute"].as_array().unwrap().len() >= 2);

    // Search by IP, domain, Message-ID and subject words.
    let (_, r) = get_json(a, "/api/search?q=10.0.2.15");
    assert_eq!(r["kind"], "ip");
    assert_eq!(r["results"][0]["table"], "activity");
    let (_, r) = get_json(a, "/api/search?q=games.example");
    assert_eq!(r["kind"], "domain");
    assert!(r["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["table"] == "activity"));
    let (_, r) = get_json(a, "/api/search?q=pills.example");
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["table"] == "mail"),
        "{r}"
    );
    let (_, r) = get_json(a, "/api/search?q=%3C1.91.rustock@bot.example%3E");
    assert_eq!(r["kind"], "message_id");
    assert_eq!(r["results"][0]["rows"].as_array().unwrap().len(), 1, "{r}");
    let (_, r) = get_json(a, "/api/search?q=alert(1)");
    assert_eq!(
        r["results"][0]["rows"][0]["subject"], HOSTILE_SUBJECT,
        "{r}"
    );
    // A quote in a search is data, not SQL.
    let (s, _) = get_json(a, "/api/search?q=x'%20OR%20'1'='1");
    assert_eq!(s, 200);

    // CSV downloads; a cell that starts like a formula is defused.
    let (s, hd, csv) = get(a, "/api/campaigns?format=csv");
    assert_eq!(s, 200);
    assert!(header(&hd, "content-type").unwrap().starts_with("text/csv"));
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("name,families,messages,sample\n"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 3);

    // SQL console: queries run, capped; nothing else does.
    let post = |sql: &str| {
        let body = json!({ "sql": sql }).to_string();
        let (s, _, b) = request(
            a,
            "POST",
            "/api/sql",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        (
            s,
            serde_json::from_slice::<serde_json::Value>(&b).unwrap_or_default(),
        )
    };
    let (s, r) = post("SELECT family, count(*) AS n FROM mail GROUP BY family ORDER BY n DESC");
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["rows"][0], json!(["rustock", "2400"]));
    let (s, r) = post("SELECT * FROM mail");
    assert_eq!(s, 200);
    assert_eq!(r["rows"].as_array().unwrap().len(), 100);
    assert_eq!(r["truncated"], true);
    for bad in [
        "CREATE TABLE t AS SELECT 1",
        "DROP TABLE mail",
        "INSERT INTO alert SELECT * FROM alert",
        "COPY mail TO '/tmp/botscope-stolen.csv'",
        "SET datafusion.execution.batch_size = 1",
        "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc/passwd'",
    ] {
        let (s, r) = post(bad);
        assert_eq!(s, 400, "{bad} was allowed: {r}");
    }
    assert!(!std::path::Path::new("/tmp/botscope-stolen.csv").exists());
    let long = format!("SELECT 1 -- {}", "x".repeat(10_000));
    assert_eq!(post(&long).0, 413);
    // Bodies past the cap are refused before they are read whole.
    let (s, _, _) = request(
        a,
        "POST",
        "/api/sql",
        &[("Content-Type", "application/json")],
        &vec![b' '; 100_000],
    );
    assert_eq!(s, 413);

    // Every answer carries the policy.
    for p in ["/", "/api/overview", "/static/app.js", "/nonesuch"] {
        let (_, hd, _) = get(a, p);
        assert_eq!(
            header(&hd, "content-security-policy"),
            Some(botscope_serve::guard::CSP),
            "{p}"
        );
        assert_eq!(header(&hd, "x-content-type-options"), Some("nosniff"));
    }
    assert_eq!(get(a, "/nonesuch").0, 404);
    rt.block_on(running.stop());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_commit_to_the_store_reaches_open_event_streams_and_the_pages() {
    let dir = temp("live");
    let ds = dir.join("ds");
    dataset(&ds);
    let rt = runtime();
    let mut cfg = ServeConfig::new(ds.clone());
    cfg.poll = Duration::from_millis(100);
    let running = rt
        .block_on(start(cfg, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let a = running.addr;
    let before = get_json(a, "/api/overview").1["totals"]["messages"]
        .as_u64()
        .unwrap();

    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: {a}\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut saw_hello = false;
    while !saw_hello {
        line.clear();
        r.read_line(&mut line).unwrap();
        saw_hello = line.starts_with("event: hello");
    }
    // Another writer commits (as the trap's feed or an ingest would).
    let started = Instant::now();
    {
        let store = botscope_store::Store::open(&ds).unwrap();
        let mut w = store.writer();
        let mut m = botscope_event::MailMessage {
            source: "late.eml".into(),
            received_ts: Some(botscope_event::Ts(START + 59 * DAY)),
            family: "lethic".into(),
            category: "pharma".into(),
            ..Default::default()
        };
        m.subject = Some("late".into());
        w.write_mail(&[m]).unwrap();
        w.commit(Vec::new()).unwrap();
    }
    let data = loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.starts_with("event: update") {
            line.clear();
            r.read_line(&mut line).unwrap();
            break line.trim_start_matches("data:").trim().to_string();
        }
    };
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["messages"].as_u64(), Some(before + 1), "{v}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        get_json(a, "/api/overview").1["totals"]["messages"].as_u64(),
        Some(before + 1)
    );
    rt.block_on(running.stop());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn off_loopback_only_with_credentials_and_the_token_becomes_a_cookie() {
    let dir = temp("auth");
    let ds = dir.join("ds");
    dataset(&ds);
    let rt = runtime();
    // Open access refuses a non-loopback address.
    let e = rt
        .block_on(start(
            ServeConfig::new(ds.clone()),
            "0.0.0.0:0".parse().unwrap(),
        ))
        .err()
        .expect("open on 0.0.0.0 must be refused");
    assert!(e.to_string().contains("--token"), "{e}");

    let token = "s3cret-token-for-the-lab-0001";
    let mut cfg = ServeConfig::new(ds.clone());
    cfg.access = Access::Token(token.into());
    let running = rt
        .block_on(start(cfg, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let a = running.addr;
    assert_eq!(get(a, "/api/overview").0, 401);
    assert_eq!(get(a, "/").0, 401);
    let bearer = format!("Bearer {token}");
    assert_eq!(
        request(
            a,
            "GET",
            "/api/overview",
            &[("Authorization", &bearer)],
            b""
        )
        .0,
        200
    );
    assert_eq!(
        request(
            a,
            "GET",
            "/api/overview",
            &[("Authorization", "Bearer wrong-token-wrong-token")],
            b""
        )
        .0,
        401
    );
    let (s, hd, _) = get(a, &format!("/hosts?token={token}"));
    assert_eq!(s, 303);
    assert_eq!(header(&hd, "location"), Some("/hosts"));
    let cookie = header(&hd, "set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let kv = cookie.split(';').next().unwrap();
    assert_eq!(
        request(a, "GET", "/api/hosts", &[("Cookie", kv)], b"").0,
        200
    );
    rt.block_on(running.stop());

    // Users with argon2 hashes, over Basic authentication.
    let users = dir.join("users");
    std::fs::write(
        &users,
        format!("alice:{}\n", Access::hash_password("wonderland").unwrap()),
    )
    .unwrap();
    let mut cfg = ServeConfig::new(ds.clone());
    cfg.access = Access::users_file(&users).unwrap();
    let running = rt
        .block_on(start(cfg, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let a = running.addr;
    let (s, hd, _) = get(a, "/");
    assert_eq!(s, 401);
    assert!(header(&hd, "www-authenticate")
        .unwrap()
        .starts_with("Basic"));
    use base64::Engine;
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:wonderland")
    );
    let bad = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:looking-glass")
    );
    assert_eq!(
        request(a, "GET", "/api/overview", &[("Authorization", &good)], b"").0,
        200
    );
    assert_eq!(
        request(a, "GET", "/api/overview", &[("Authorization", &bad)], b"").0,
        401
    );
    rt.block_on(running.stop());

    // The rate limit: past the burst, 429.
    let mut cfg = ServeConfig::new(ds.clone());
    cfg.limits.requests_per_sec = 5;
    let running = rt
        .block_on(start(cfg, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let codes: Vec<u16> = (0..30).map(|_| get(running.addr, "/api").0).collect();
    assert!(codes.contains(&429), "{codes:?}");
    assert!(
        codes.iter().filter(|&&c| c == 200).count() >= 10,
        "{codes:?}"
    );
    rt.block_on(running.stop());
    std::fs::remove_dir_all(&dir).ok();
}
