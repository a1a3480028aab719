//! The dataset end to end: every table round-trips through Parquet and
//! DataFusion; ingest is idempotent and crash-safe; the simulator's
//! captures come out with the truth's connection counts; timelines equal
//! counts computed independently.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use botscope_event::{
    Conn, ConnId, ConnState, Dns, Duration, Event, Http, Irc, MailMessage, Meta, Smtp, Ssl,
    Transport, Ts, Uid,
};
use botscope_store::tables::{self, ActivityRow, AlertRow};
use botscope_store::{ingest, By, Every, FailPoint, IngestConfig, Store, Table};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("botscope-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `../shared/data` beside the repository (or `$BOTSCOPE_DATA`); `None`
/// skips, except under CI where missing data fails.
fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("BOTSCOPE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if dir.join("SOURCES.md").exists() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("shared data not found at {} (CI=true)", dir.display());
    }
    eprintln!("SKIP: shared data not found at {}", dir.display());
    None
}

fn q(dir: &Path, sql: &str) -> Vec<arrow_array::RecordBatch> {
    botscope_store::sql(dir, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn count(dir: &Path, table: &str) -> i64 {
    let b = q(dir, &format!("SELECT count(*) AS n FROM {table}"));
    let a = b[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .expect("count is Int64");
    a.value(0)
}

fn meta(i: u64, ts: i64, v6: bool) -> Meta {
    let (o, r): (IpAddr, IpAddr) = if v6 {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
    } else {
        ("10.0.0.1".parse().unwrap(), "192.0.2.7".parse().unwrap())
    };
    Meta {
        ts: Ts(ts),
        uid: Uid(i * 7919 + 3),
        id: ConnId {
            orig_h: o,
            orig_p: 40000 + i as u16,
            resp_h: r,
            resp_p: 80,
            proto: Transport::Tcp,
        },
    }
}

const DEC20: i64 = 1_292_803_200_000_000; // 2010-12-20 00:00 UTC
const DAY: i64 = 86_400_000_000;

/// Rows with every field set, and rows with every optional field unset,
/// over two days.
fn synthetic() -> (
    Vec<Event>,
    Vec<MailMessage>,
    Vec<ActivityRow>,
    Vec<AlertRow>,
) {
    let mut ev = Vec::new();
    for i in 0..6u64 {
        let full = i % 2 == 0;
        let ts = DEC20 + (i as i64) * DAY / 3 + 123_457;
        let m = meta(i, ts, i == 3);
        ev.push(Event::Conn(Conn {
            meta: Meta {
                id: ConnId {
                    proto: if i == 5 {
                        Transport::Other(47)
                    } else {
                        Transport::Tcp
                    },
                    ..m.id
                },
                ..m
            },
            service: if full {
                vec![botscope_event::Service::SMTP, botscope_event::Service::SSL]
            } else {
                vec![]
            },
            duration: full.then_some(Duration(1_500_001)),
            orig_bytes: full.then_some(10),
            resp_bytes: full.then_some(u64::from(u32::MAX) + 5),
            conn_state: if full {
                ConnState::SF
            } else {
                ConnState::RSTOS0
            },
            local_orig: full.then_some(true),
            local_resp: full.then_some(false),
            missed_bytes: i,
            history: if full {
                "ShADadFf".into()
            } else {
                String::new()
            },
            orig_pkts: 3,
            orig_ip_bytes: 200,
            resp_pkts: 4,
            resp_ip_bytes: 300,
            ip_proto: if i == 5 { 47 } else { 6 },
            tunnel_parents: Vec::new(),
        }));
        let s = |x: &str| full.then(|| x.to_string());
        ev.push(Event::Http(Http {
            meta: full.then_some(m),
            trans_depth: i as u32,
            method: s("GET"),
            host: s("www.example.com"),
            uri: s("/a?b=c\t\"<script>"),
            referrer: s("http://ads.example.net/"),
            version: s("1.1"),
            user_agent: s("Mozilla/4.0 (compatible; MSIE 6.0)"),
            origin: s("-"),
            request_body_len: 5,
            response_body_len: 70000,
            status_code: full.then_some(200),
            status_msg: s("OK"),
            info_code: full.then_some(100),
            info_msg: s("Continue"),
            username: s("u"),
            password: s("p"),
            proxied: if full {
                vec!["X-Forwarded-For -> 1.2.3.4".into()]
            } else {
                vec![]
            },
            orig_mime_types: vec![],
            orig_filenames: vec![],
            resp_filenames: vec![],
            resp_mime_types: if full {
                vec!["application/x-dosexec".into()]
            } else {
                vec![]
            },
            req_content_type: s("application/octet-stream"),
            resp_content_type: s("text/html"),
            location: s("http://x/"),
            req_body_prefix: if full { vec![0, 1, 2, 255] } else { vec![] },
            resp_body_prefix: b"MZ\x90\x00".to_vec(),
            req_body_sha256: s("ab"),
            resp_body_sha256: s("cd"),
            resp_body_incomplete: full,
        }));
        ev.push(Event::Smtp(Smtp {
            meta: Some(m),
            trans_depth: 1,
            helo: s("bot.example"),
            mailfrom: s("<a@b>"),
            rcptto: vec!["<x@y>".into(), "<z@w>".into()],
            date: s("Mon, 20 Dec 2010 10:00:00 +0000"),
            from: s("A <a@b>"),
            to: vec!["x@y".into()],
            cc: vec![],
            reply_to: s("r@b"),
            msg_id: s("<1@b>"),
            in_reply_to: s("<0@b>"),
            subject: s("Ｖiagra ✓"),
            x_originating_ip: full.then(|| "198.51.100.9".parse().unwrap()),
            first_received: s("from a"),
            second_received: s("from b"),
            last_reply: s("250 ok"),
            path: vec!["192.0.2.7".parse().unwrap(), "10.0.0.1".parse().unwrap()],
            user_agent: s("ua"),
            tls: full,
            commands: vec!["EHLO".into(), "MAIL".into()],
            pipelined: full,
            auth_user: s("user"),
            message_file: s("mail/x.eml"),
            fuids: vec!["FhpcIZNqEURpMhhhN1".into()],
        }));
        ev.push(Event::Dns(Dns {
            meta: Some(m),
            trans_id: 65535,
            rtt: full.then_some(Duration(250)),
            query: s("mx.example.com"),
            qclass: full.then_some(1),
            qclass_name: s("C_INTERNET"),
            qtype: full.then_some(15),
            qtype_name: s("MX"),
            rcode: full.then_some(0),
            rcode_name: s("NOERROR"),
            aa: full,
            tc: false,
            rd: true,
            ra: full,
            z: 1,
            answers: if full {
                vec!["mail.example.com".into()]
            } else {
                vec![]
            },
            ttls: if full { vec![3600, u32::MAX] } else { vec![] },
            rejected: false,
            opcode: full.then_some(0),
            opcode_name: s("query"),
        }));
        ev.push(Event::Ssl(Ssl {
            meta: Some(m),
            version: s("TLSv12"),
            cipher: s("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            curve: s("x25519"),
            server_name: s("example.com"),
            resumed: full,
            last_alert: s("close_notify"),
            next_protocol: s("h2"),
            established: full,
            ssl_history: "CsxknGIi".into(),
            client_alpn: vec!["h2".into(), "http/1.1".into()],
            ja3: s("771,4865"),
            ja3s: s("771,49199"),
            ja4: s("t13d1516h2_8daaf6152771_02713d6af862"),
            ..Ssl::default()
        }));
        ev.push(Event::Irc(Irc {
            meta: Some(m),
            nick: s("bot123"),
            user: s("u"),
            command: s("JOIN"),
            value: s("#chan"),
            addl: s("key"),
            dcc_file_name: s("x.exe"),
            dcc_file_size: full.then_some(1234),
            dcc_mime_type: s("application/x-dosexec"),
        }));
    }
    let mut mail = Vec::new();
    for i in 0..5i64 {
        let full = i % 2 == 0;
        let s = |x: &str| full.then(|| x.to_string());
        mail.push(MailMessage {
            source: format!("mail/2010-12-20.mbox#{i}"),
            received_ts: (i != 3).then_some(Ts(DEC20 + i * DAY / 2)),
            message_id: s("<m@x>"),
            sender_ip: full.then(|| "203.0.113.5".parse().unwrap()),
            helo: s("helo"),
            mail_from: s("<a@b>"),
            rcpt_to: vec!["<t@trap>".into()],
            subject: s("\"><img src=x onerror=alert(1)>"),
            date_header: s("Mon, 20 Dec 2010"),
            date_ts: full.then_some(Ts(DEC20 - 5)),
            family: if full {
                "Rustock".into()
            } else {
                "unknown".into()
            },
            family_confidence: 0.25 * i as f64,
            campaign: s("pharma-1"),
            category: "pharma".into(),
            brand: s("Canadian Pharmacy"),
            urls: vec!["http://a.ru/x".into()],
            domains: vec!["a.ru".into()],
            size: 1000 + i as u64,
            error: (!full).then(|| "no body".to_string()),
            fingerprint: if full {
                vec![
                    "mailer=Microsoft Outlook Express 6".into(),
                    "mid=<D{12}@{host}>".into(),
                ]
            } else {
                Vec::new()
            },
        });
    }
    let act = vec![
        ActivityRow {
            source: "pcap/rustock/2010-12-20.pcap".into(),
            host: "192.168.56.101".parse().unwrap(),
            class: "spam".into(),
            first: Ts(DEC20 + 5),
            last: Ts(DEC20 + DAY + 9),
            connections: 400,
            requests: 380,
            bytes: 1 << 33,
            share: 0.97,
            peers: vec!["mx1.example".into()],
            evidence: vec!["HELO x".into(), "42 MX hosts".into()],
            confidence: Some(0.9),
        },
        ActivityRow {
            source: "pcap/rustock/2010-12-21.pcap".into(),
            host: "2001:db8::5".parse().unwrap(),
            class: "click_fraud".into(),
            first: Ts(DEC20 + DAY),
            last: Ts(DEC20 + DAY),
            connections: 3,
            requests: 3,
            bytes: 0,
            share: 0.01,
            peers: vec![],
            evidence: vec![],
            confidence: None,
        },
    ];
    let alerts = vec![
        AlertRow {
            ts: Ts(DEC20 + 8 * DAY),
            family: "Rustock".into(),
            kind: "silence".into(),
            level_before: 41.5,
            level_after: 0.0,
            evidence: "quiet since 2010-12-28".into(),
            series: "family:Rustock".into(),
        },
        AlertRow {
            ts: Ts(DEC20 + 20 * DAY),
            family: "Rustock".into(),
            kind: "return".into(),
            level_before: 0.0,
            level_after: 39.0,
            evidence: "back overnight".into(),
            series: "family:Rustock".into(),
        },
    ];
    (ev, mail, act, alerts)
}

fn write_all(
    dir: &Path,
    source: &str,
    ev: &[Event],
    mail: &[MailMessage],
    act: &[ActivityRow],
    al: &[AlertRow],
) {
    let store = Store::open(dir).expect("open");
    let mut w = store.writer();
    w.write_events(source, ev).expect("events");
    w.write_mail(mail).expect("mail");
    w.write_activity(act).expect("activity");
    w.write_alerts(al).expect("alerts");
    w.commit(Vec::new()).expect("commit");
}

fn sorted<T: Clone, K: Ord>(v: &[T], k: impl Fn(&T) -> K) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort_by_key(|x| k(x));
    v
}

/// Every event of `ev` of one kind, read back through DataFusion.
fn read_back(dir: &Path) -> Vec<(String, Event)> {
    let mut out = Vec::new();
    for b in q(dir, "SELECT * FROM conn") {
        let (rows, bad) = tables::read_conn(&b).unwrap();
        assert_eq!(bad, 0);
        out.extend(rows.into_iter().map(|(s, r)| (s, Event::Conn(r))));
    }
    for b in q(dir, "SELECT * FROM http") {
        out.extend(
            tables::read_http(&b)
                .unwrap()
                .into_iter()
                .map(|(s, r)| (s, Event::Http(r))),
        );
    }
    for b in q(dir, "SELECT * FROM smtp") {
        out.extend(
            tables::read_smtp(&b)
                .unwrap()
                .into_iter()
                .map(|(s, r)| (s, Event::Smtp(r))),
        );
    }
    for b in q(dir, "SELECT * FROM dns") {
        out.extend(
            tables::read_dns(&b)
                .unwrap()
                .into_iter()
                .map(|(s, r)| (s, Event::Dns(r))),
        );
    }
    for b in q(dir, "SELECT * FROM ssl") {
        out.extend(
            tables::read_ssl(&b)
                .unwrap()
                .into_iter()
                .map(|(s, r)| (s, Event::Ssl(r))),
        );
    }
    for b in q(dir, "SELECT * FROM irc") {
        out.extend(
            tables::read_irc(&b)
                .unwrap()
                .into_iter()
                .map(|(s, r)| (s, Event::Irc(r))),
        );
    }
    out
}

fn ev_key(e: &Event) -> String {
    format!("{e:?}")
}

#[test]
fn every_table_round_trips_through_parquet_and_datafusion() {
    let dir = temp("roundtrip");
    let (ev, mail, act, al) = synthetic();
    write_all(&dir, "synthetic.pcap", &ev, &mail, &act, &al);

    let back = read_back(&dir);
    assert!(back.iter().all(|(s, _)| s == "synthetic.pcap"));
    let back: Vec<Event> = back.into_iter().map(|(_, e)| e).collect();
    assert_eq!(sorted(&back, ev_key), sorted(&ev, ev_key));

    let mut m = Vec::new();
    for b in q(&dir, "SELECT * FROM mail") {
        m.extend(tables::read_mail(&b).unwrap());
    }
    assert_eq!(
        sorted(&m, |x| x.source.clone()),
        sorted(&mail, |x| x.source.clone())
    );
    let mut a = Vec::new();
    for b in q(&dir, "SELECT * FROM activity") {
        a.extend(tables::read_activity(&b).unwrap());
    }
    assert_eq!(sorted(&a, |x| x.source.clone()), act);
    let mut l = Vec::new();
    for b in q(&dir, "SELECT * FROM alert") {
        l.extend(tables::read_alert(&b).unwrap());
    }
    assert_eq!(sorted(&l, |x| x.ts), al);

    // Partitions follow the rows' dates; a message without any time is in
    // `unknown`.
    let dates = q(&dir, "SELECT DISTINCT date FROM mail ORDER BY date");
    let s = botscope_store::datafusion::arrow::util::pretty::pretty_format_batches(&dates)
        .unwrap()
        .to_string();
    assert!(
        s.contains("2010-12-20") && s.contains("2010-12-21") && s.contains("unknown"),
        "{s}"
    );
    assert_eq!(count(&dir, "conn"), 6);
    let b = q(&dir, "SELECT count(*) FROM conn WHERE date = '2010-12-21'");
    let n = b[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(
        n, 3,
        "rows at +0, +1/3, +2/3 day on the 20th, the rest on the 21st"
    );
    // The rollup agrees with the mail table.
    let b = q(
        &dir,
        "SELECT CAST(sum(messages) AS BIGINT) FROM mail_hourly",
    );
    let n = b[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, 5);
    // Timestamps are microseconds, UTC (what Spark reads).
    let f = std::fs::read_dir(dir.join("conn/date=2010-12-20"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let batches = botscope_store::store::read_parquet(&f.path()).unwrap();
    assert_eq!(
        batches[0]
            .schema()
            .field_with_name("ts")
            .unwrap()
            .data_type(),
        &arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()))
    );
    // Every table is a Delta table.
    for t in Table::ALL {
        assert!(
            dir.join(t.name()).join("_delta_log").is_dir(),
            "{}",
            t.name()
        );
    }
}

#[test]
fn real_captures_round_trip() {
    let Some(data) = data_dir() else { return };
    let dir = temp("real-roundtrip");
    let mut all = Vec::new();
    let store = Store::open(&dir).unwrap();
    let mut w = store.writer();
    for name in [
        "botnet-pcaps/spambot-smtp-sessions-smtperr.pcap",
        "botnet-pcaps/infostealer-payload-dll-download-2019.pcap",
        "botnet-pcaps/compromised-site-google-referer-2015.pcap",
        "botnet-pcaps/cryptowall4-c2.pcapng",
    ] {
        let p = data.join(name);
        let (shards, _) =
            botscope_engine::analyze_file(&p, &Default::default(), |_| Vec::<Event>::new());
        let ev: Vec<Event> = shards
            .into_iter()
            .flatten()
            // Not dataset tables (yet): weirds, carved mail, files.log rows.
            .filter(|e| !matches!(e, Event::Weird(_) | Event::Message(_) | Event::File(_)))
            .collect();
        assert!(!ev.is_empty(), "{name}");
        w.write_events(name, &ev).unwrap();
        all.extend(ev.into_iter().map(|e| (name.to_string(), e)));
    }
    w.commit(Vec::new()).unwrap();
    drop(store);
    let back = read_back(&dir);
    let k = |x: &(String, Event)| format!("{}{:?}", x.0, x.1);
    assert_eq!(back.len(), all.len());
    assert_eq!(sorted(&back, k), sorted(&all, k));
}

fn sim_world(name: &str, from: u32, to: u32, mail: bool) -> PathBuf {
    let dir = temp(name);
    let sc = botscope_sim::load_scenario("winter-2010").unwrap();
    let opts = botscope_sim::SimOptions {
        seed: 1,
        scale: 1.0,
        from: chrono::NaiveDate::from_ymd_opt(2010, 12, from),
        to: chrono::NaiveDate::from_ymd_opt(2010, 12, to),
        pcaps: !mail,
        mail,
        trap_captures: false,
    };
    botscope_sim::simulate(&sc, &opts, &dir).unwrap();
    dir
}

fn noop(_: &botscope_store::ingest::FileOutcome) {}

#[test]
fn simulated_captures_give_the_truths_connection_counts_and_ingest_is_idempotent() {
    let world = sim_world("sim-ingest", 20, 26, false);
    let dir = temp("sim-ingest-store");
    let store = Store::open(&dir).unwrap();
    let rep = ingest(
        &store,
        &[world.join("pcap")],
        &IngestConfig::default(),
        &noop,
    );
    assert!(!rep.has_errors(), "{:?}", rep.errors);
    assert_eq!(rep.counts().get("added"), Some(&42), "6 families × 7 days");

    // truth/connections.csv: per capture and per day.
    let truth = std::fs::read_to_string(world.join("truth/connections.csv")).unwrap();
    let mut want: BTreeMap<(String, String), i64> = BTreeMap::new();
    for line in truth.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let ts: f64 = f[6].parse().unwrap();
        let day = tables::date_of((ts * 1e6) as i64);
        *want.entry((f[0].to_string(), day)).or_insert(0) += 1;
    }
    let got_rows = q(
        &dir,
        "SELECT source, date, count(*) AS n FROM conn GROUP BY source, date ORDER BY source, date",
    );
    let mut got: BTreeMap<(String, String), i64> = BTreeMap::new();
    for b in &got_rows {
        let src = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        let date = b
            .column(1)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        let n = b
            .column(2)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            let rel = Path::new(src.value(i))
                .strip_prefix(&world)
                .unwrap()
                .display()
                .to_string();
            got.insert((rel, date.value(i).to_string()), n.value(i));
        }
    }
    assert_eq!(got, want);
    let total = count(&dir, "conn");
    assert_eq!(total, truth.lines().count() as i64 - 1);
    assert!(count(&dir, "activity") > 0);
    assert!(count(&dir, "http") > 0 && count(&dir, "smtp") > 0 && count(&dir, "dns") > 0);

    // Second run: nothing added, same counts.
    let rep2 = ingest(
        &store,
        &[world.join("pcap")],
        &IngestConfig::default(),
        &noop,
    );
    assert_eq!(rep2.counts().get("already_ingested"), Some(&42));
    assert!(rep2.rows.is_empty());
    assert_eq!(count(&dir, "conn"), total);

    // Activity verdicts: Rustock's captures show spam and click fraud.
    let b = q(
        &dir,
        "SELECT DISTINCT class FROM activity WHERE source LIKE '%rustock%' ORDER BY class",
    );
    let s = botscope_store::datafusion::arrow::util::pretty::pretty_format_batches(&b)
        .unwrap()
        .to_string();
    assert!(s.contains("spam") && s.contains("click_fraud"), "{s}");

    // Rehunt with the same rules changes nothing; stricter rules drop
    // verdicts and say which.
    let rep = botscope_store::rehunt(&store, &Default::default(), false).unwrap();
    assert!(rep.new.is_empty() && rep.removed.is_empty(), "{rep:?}");
    assert_eq!(rep.unchanged as i64, count(&dir, "activity"));
    let strict = botscope_activity::ActivityConfig {
        click_min_forged: 1_000_000,
        ..Default::default()
    };
    let rep = botscope_store::rehunt(&store, &strict, false).unwrap();
    assert!(rep.new.is_empty());
    assert!(!rep.removed.is_empty());
    assert!(rep.removed.iter().all(|r| r.class == "click_fraud"));
    let b = q(
        &dir,
        "SELECT count(*) FROM activity WHERE class = 'click_fraud'",
    );
    let n = b[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, 0, "the activity table was updated");
    // And back: the default rules find them again as new.
    let rep = botscope_store::rehunt(&store, &Default::default(), false).unwrap();
    assert!(!rep.new.is_empty() && rep.new.iter().all(|r| r.class == "click_fraud"));

    // Compaction: fewer files, same rows.
    let before: usize = Table::ALL
        .iter()
        .map(|t| {
            store
                .parts(*t)
                .unwrap()
                .values()
                .map(Vec::len)
                .sum::<usize>()
        })
        .sum();
    let c = botscope_store::compact(&store).unwrap();
    let after: usize = Table::ALL
        .iter()
        .map(|t| {
            store
                .parts(*t)
                .unwrap()
                .values()
                .map(Vec::len)
                .sum::<usize>()
        })
        .sum();
    assert!(after < before, "{before} → {after}");
    assert_eq!(c.files_before - c.files_after, before - after);
    assert_eq!(count(&dir, "conn"), total);
    for t in Table::ALL {
        for files in store.parts(t).unwrap().values() {
            assert_eq!(files.len(), 1, "{}", t.name());
        }
    }
}

#[test]
fn an_interrupted_ingest_resumes_without_double_counting() {
    let Some(data) = data_dir() else { return };
    let inputs = vec![
        data.join("botnet-pcaps"),
        data.join("stratosphere-zeek-logs"),
    ];
    // Reference: one clean run.
    let clean = temp("crash-clean");
    let store = Store::open(&clean).unwrap();
    let rep = ingest(&store, &inputs, &IngestConfig::default(), &noop);
    assert!(rep.counts()["added"] >= 10);
    let commit_failures: Vec<_> = rep
        .files
        .iter()
        .filter(|f| matches!(&f.status, botscope_store::ingest::Status::Failed(e) if e.contains("delta")))
        .map(|f| format!("{}: {:?}", f.path, f.status))
        .collect();
    assert!(commit_failures.is_empty(), "{commit_failures:?}");
    drop(store);
    let want: Vec<i64> = ["conn", "http", "dns", "smtp", "activity"]
        .iter()
        .map(|t| count(&clean, t))
        .collect();
    assert!(want[0] > 1000);

    for fp in [
        FailPoint::BeforeCommit,
        FailPoint::MidCommit,
        FailPoint::BeforeInputs,
    ] {
        let dir = temp(&format!("crash-{fp:?}"));
        let mut store = Store::open(&dir).unwrap();
        store.set_fail_point(Some(fp));
        let rep = ingest(&store, &inputs, &IngestConfig::default(), &noop);
        assert!(rep.files.iter().any(|f| matches!(&f.status, botscope_store::ingest::Status::Failed(e) if e.contains("simulated crash"))));
        assert!(
            store.ingested().unwrap().is_empty(),
            "{fp:?}: no input counts as ingested"
        );
        drop(store);
        // No recovery step: the re-run adds what is missing, and no table
        // gets an input's rows twice.
        let store = Store::open(&dir).unwrap();
        let rep = ingest(&store, &inputs, &IngestConfig::default(), &noop);
        assert!(
            rep.files
                .iter()
                .all(|f| !matches!(f.status, botscope_store::ingest::Status::Failed(_))),
            "{fp:?}: {:?}",
            rep.errors
        );
        drop(store);
        let got: Vec<i64> = ["conn", "http", "dns", "smtp", "activity"]
            .iter()
            .map(|t| count(&dir, t))
            .collect();
        assert_eq!(got, want, "{fp:?}");
        // Each table a plain Delta table.
        assert!(dir.join("conn/_delta_log").is_dir());
        assert!(dir.join("inputs/_delta_log").is_dir());
    }
}

#[test]
fn real_data_ingest_zeek_logs_binetflow_and_captures() {
    let Some(data) = data_dir() else { return };
    let dir = temp("real-ingest");
    let store = Store::open(&dir).unwrap();
    let rep = ingest(
        &store,
        &[
            data.join("stratosphere-zeek-logs"),
            data.join("ctu13/capture20110818-2.window-154750-154920.binetflow"),
            data.join("botnet-pcaps/spambot-auth-relay-port2525.pcap"),
            data.join("spam-csdmc2010"),
        ],
        &IngestConfig::default(),
        &noop,
    );
    let c = rep.counts();
    // simda-005 conn+dns+http is one unit; njrat one; the flow file; the capture.
    assert_eq!(c.get("added"), Some(&6), "{c:?}");
    assert!(
        c.get("mail_needs_mail_analyser").copied().unwrap_or(0) > 100,
        "{c:?}"
    );
    let ledger = store.ledger().unwrap();
    assert_eq!(ledger.len(), 4);
    let simda = ledger
        .iter()
        .find(|e| e.inputs.len() == 3)
        .expect("simda unit");
    assert!(simda.inputs.iter().all(|i| i.path.contains("simda-005")));
    // Zeek conn rows equal the log's data lines.
    let simda_conn =
        std::fs::read_to_string(data.join("stratosphere-zeek-logs/simda-005-conn.log")).unwrap();
    let lines = simda_conn
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count() as i64;
    let b = q(
        &dir,
        "SELECT count(*) FROM conn WHERE source LIKE '%simda-005-conn.log'",
    );
    let n = b[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, lines);
    // Simda's click fraud is found over its conn + http logs together.
    let b = q(
        &dir,
        "SELECT count(*) FROM activity WHERE class = 'click_fraud' AND source LIKE '%simda%'",
    );
    let n = b[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, 1);
    // binetflow rows.
    let flow = std::fs::read_to_string(
        data.join("ctu13/capture20110818-2.window-154750-154920.binetflow"),
    )
    .unwrap();
    let b = q(
        &dir,
        "SELECT count(*) FROM conn WHERE source LIKE '%.binetflow'",
    );
    let n = b[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap()
        .value(0);
    assert!(n > 0 && n < flow.lines().count() as i64);
}

/// Mail rows built from the simulator's truth/messages.csv.
fn truth_messages(world: &Path) -> Vec<MailMessage> {
    let text = std::fs::read_to_string(world.join("truth/messages.csv")).unwrap();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        // file,index,message_id,family,campaign,category,brand,bot_ip,received_ts
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 9, "{line}");
        let t = chrono::DateTime::parse_from_rfc3339(f[8]).unwrap();
        out.push(MailMessage {
            source: format!("{}#{}", f[0], f[1]),
            received_ts: Some(Ts(t.timestamp_micros())),
            message_id: Some(f[2].to_string()),
            sender_ip: f[7].parse().ok(),
            family: f[3].to_string(),
            family_confidence: 1.0,
            campaign: Some(f[4].to_string()),
            category: f[5].to_string(),
            brand: Some(f[6].to_string()),
            size: 1,
            ..Default::default()
        });
    }
    out
}

#[test]
fn timelines_equal_independent_counts() {
    let world = sim_world("sim-mail", 20, 31, true);
    let msgs = truth_messages(&world);
    assert!(msgs.len() > 1000);
    let dir = temp("timeline");
    let store = Store::open(&dir).unwrap();
    // Written in several transactions, as a trap would over time.
    for chunk in msgs.chunks(msgs.len() / 3 + 1) {
        let mut w = store.writer();
        w.write_mail(chunk).unwrap();
        w.commit(Vec::new()).unwrap();
    }
    for (by, every, field) in [
        (By::Family, Every::Day, 0),
        (By::Category, Every::Week, 1),
        (By::Brand, Every::Hour, 2),
        (By::Campaign, Every::Day, 3),
    ] {
        let mut want: BTreeMap<(i64, String), u64> = BTreeMap::new();
        for m in &msgs {
            let k = match field {
                0 => m.family.clone(),
                1 => m.category.clone(),
                2 => m.brand.clone().unwrap(),
                _ => m.campaign.clone().unwrap(),
            };
            *want
                .entry((every.bucket(m.received_ts.unwrap().0), k))
                .or_insert(0) += 1;
        }
        let rows = botscope_store::timeline(&dir, by, every).unwrap();
        let got: BTreeMap<(i64, String), u64> = rows
            .iter()
            .filter(|r| r.count > 0)
            .map(|r| ((r.bucket, r.key.clone()), r.count))
            .collect();
        assert_eq!(got, want, "{by:?} {every:?}");
        // Shares sum to one in every non-empty bucket.
        let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
        for r in &rows {
            *sums.entry(r.bucket).or_insert(0.0) += r.share;
        }
        assert!(sums.values().all(|s| (s - 1.0).abs() < 1e-9 || *s == 0.0));
    }
    // Compaction keeps the counts.
    botscope_store::compact(&store).unwrap();
    let rows = botscope_store::timeline(&dir, By::Family, Every::Day).unwrap();
    let total: u64 = rows.iter().map(|r| r.count).sum();
    assert_eq!(total, msgs.len() as u64);
}

/// Per truth campaign: its messages in the `mail` table by campaign id.
fn campaign_ids_by_truth(dir: &Path, world: &Path) -> BTreeMap<String, BTreeMap<String, u64>> {
    use arrow_array::cast::AsArray;
    let bare = |s: &str| s.trim_matches(|c| c == '<' || c == '>').to_string();
    let truth: BTreeMap<String, String> = truth_messages(world)
        .into_iter()
        .filter_map(|m| Some((bare(&m.message_id?), m.campaign?)))
        .collect();
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for b in q(dir, "SELECT message_id, campaign FROM mail") {
        let ids = b.column(0).as_string::<i32>();
        let camps = b.column(1).as_string::<i32>();
        for (id, c) in ids.iter().zip(camps.iter()) {
            if let (Some(t), Some(c)) = (id.and_then(|i| truth.get(&bare(i))), c) {
                *out.entry(t.clone())
                    .or_default()
                    .entry(c.to_string())
                    .or_insert(0) += 1;
            }
        }
    }
    out
}

#[test]
fn a_campaign_keeps_its_id_across_ingests() {
    let world = sim_world("sim-book", 20, 25, true);
    let mut days: Vec<PathBuf> = std::fs::read_dir(world.join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    days.sort();
    assert!(days.len() >= 6, "{days:?}");
    let dir = temp("book");
    let cfg = IngestConfig {
        mail: Some(std::sync::Arc::new(botscope_mail::MailAnalyzer::new(
            botscope_mail::MailConfig::default(),
            None,
        ))),
        ..Default::default()
    };
    // One day per ingest run, each a new process's worth of state: the
    // store is opened afresh and the clusterer comes from the book.
    for day in &days {
        let store = Store::open(&dir).unwrap();
        let rep = botscope_store::ingest(&store, std::slice::from_ref(day), &cfg, &noop);
        assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    }
    assert!(dir.join(botscope_store::store::CAMPAIGN_BOOK).is_file());
    let by_truth = campaign_ids_by_truth(&dir, &world);
    assert!(by_truth.len() >= 8, "{by_truth:?}");
    // Each true campaign's mail sits mostly under one id over six days of
    // daily ingests (its domains change every day; subject templates link
    // the days): what the campaign's series in `botscope alerts` needs.
    // Clustered per ingest, as before the book, a day's share would be
    // about a sixth. Messages the clusterer cannot link (a subject with a
    // name and no domain it shares) keep ids of their own.
    for (name, ids) in &by_truth {
        let all: u64 = ids.values().sum();
        let top = ids.values().max().copied().unwrap_or(0);
        println!(
            "{name}: {top} of {all} messages under one id, {} ids",
            ids.len()
        );
        assert!(
            top as f64 >= 0.8 * all as f64,
            "{name}: {top} of {all} messages under its main id ({} ids)",
            ids.len()
        );
    }
    let rows = botscope_store::timeline(&dir, By::Campaign, Every::Day).unwrap();
    let keys: BTreeSet<&String> = rows
        .iter()
        .filter(|r| r.count > 0)
        .map(|r| &r.key)
        .collect();
    let ids: BTreeSet<&String> = by_truth.values().flat_map(|m| m.keys()).collect();
    assert!(
        keys.len() <= ids.len(),
        "{} series for {} ids",
        keys.len(),
        ids.len()
    );
    // The same ingest again adds nothing and changes no id.
    let store = Store::open(&dir).unwrap();
    botscope_store::ingest(&store, &days, &cfg, &noop);
    assert_eq!(campaign_ids_by_truth(&dir, &world), by_truth);
}

/// Parquet parts of the current version of `t`, relative to the store.
fn current_parts(store: &Store, t: Table) -> Vec<String> {
    let mut v: Vec<String> = store.parts(t).unwrap().into_values().flatten().collect();
    v.sort();
    v
}

#[test]
fn time_travel_compaction_vacuum_and_migration_from_the_ledger_format() {
    use botscope_store::query::{sql_as_of, AsOf};
    let (ev, mail, act, al) = synthetic();
    let dir = temp("delta-history");
    write_all(&dir, "a.pcap", &ev, &mail, &act, &al);
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_all(&dir, "b.pcap", &ev, &mail, &act, &al);
    let one = count(&dir, "conn") / 2;
    assert!(one > 0);
    let at = |a: AsOf| {
        let b = sql_as_of(&dir, "SELECT count(*) AS n FROM conn", Some(a)).unwrap();
        b[0].column(0)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap()
            .value(0)
    };
    assert_eq!(at(AsOf::Version(0)), 0, "before the first transaction");
    assert_eq!(at(AsOf::Version(1)), one, "after the first transaction");
    assert_eq!(at(AsOf::Version(2)), 2 * one);
    assert_eq!(
        at(AsOf::parse("2001-01-01").unwrap()),
        0,
        "before the store"
    );
    assert!(sql_as_of(&dir, "SELECT 1", Some(AsOf::Version(9))).is_err());
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.version(), 2);
    assert_eq!(store.ledger().unwrap().len(), 2);

    // Compaction: one file per partition, rows unchanged; the replaced
    // files and a dead writer's part stay on disk until VACUUM.
    let before = current_parts(&store, Table::Conn);
    assert!(before.len() >= 4, "{before:?}");
    {
        let mut w = store.writer();
        let conns: Vec<(&str, &Conn)> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Conn(c) => Some(("dead.pcap", c)),
                _ => None,
            })
            .collect();
        w.write_conn(&conns).unwrap();
        // dropped without a commit
    }
    let rep = botscope_store::compact(&store).unwrap();
    assert!(rep.files_after < rep.files_before, "{rep:?}");
    assert_eq!(count(&dir, "conn"), 2 * one);
    let after = current_parts(&store, Table::Conn);
    assert!(after.iter().all(|p| !before.contains(p)));
    assert!(dir.join(&before[0]).is_file(), "kept for time travel");
    assert_eq!(at(AsOf::Version(2)), 2 * one, "history still readable");
    assert_eq!(at(AsOf::Version(1)), one);
    let deleted = botscope_store::maintain::vacuum(&store, 0).unwrap();
    assert!(
        deleted > before.len(),
        "replaced files and the orphan: {deleted}"
    );
    assert!(!dir.join(&before[0]).exists());
    assert_eq!(count(&dir, "conn"), 2 * one);
    drop(store);

    // A dataset of the old format: the same part files under a ledger.
    let old = temp("delta-migrate");
    let store = Store::open_read(&dir).unwrap();
    let mut lines = String::new();
    for (i, t) in Table::ALL.iter().enumerate() {
        let parts = current_parts(&store, *t);
        for p in &parts {
            let to = old.join(p);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(dir.join(p), &to).unwrap();
        }
        let add: Vec<(String, String)> = parts
            .iter()
            .map(|p| (format!("_staging/t{i}/0.parquet"), p.clone()))
            .collect();
        lines.push_str(
            &serde_json::json!({
                "tx": format!("t{i}"), "op": "ingest", "time": "2026-11-27T01:20:00Z",
                "inputs": [{"hash": format!("{i:064x}"), "path": format!("in{i}.pcap"), "bytes": 10, "kind": "pcap"}],
                "rows": {}, "add": add, "remove": []
            })
            .to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(old.join("_ledger.jsonl"), &lines).unwrap();
    std::fs::write(old.join("_lock"), b"").unwrap();
    let err = Store::open(&old).err().expect("old format refused");
    assert!(err.to_string().contains("botscope migrate"), "{err}");
    let rep = botscope_store::migrate(&old).unwrap();
    assert_eq!(rep.transactions, Table::ALL.len());
    for t in Table::ALL {
        assert_eq!(count(&old, t.name()), count(&dir, t.name()), "{}", t.name());
    }
    let store = Store::open(&old).unwrap();
    assert_eq!(store.ingested().unwrap().len(), Table::ALL.len());
    assert!(old.join("_ledger.jsonl.migrated").is_file());
    assert!(!old.join("_lock").exists());
    assert!(botscope_store::migrate(&old).is_err(), "done once");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&old);
}

/// Schema evolution: a part with a column the table does not have (what
/// a later botscope that adds a column writes) is committed with the new
/// schema; files written before read the column as null, in SQL and in
/// the event readers, and writers of the old schema keep committing.
#[test]
fn a_column_added_later_reads_as_null_in_older_files() {
    use std::sync::Arc;

    use arrow_array::{Array, Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use botscope_store::delta::{Lake, Location, Part};
    use parquet::file::properties::WriterProperties;

    let (ev, mail, act, al) = synthetic();
    let dir = temp("evolve");
    write_all(&dir, "a.pcap", &ev, &mail, &act, &al);
    let old = count(&dir, "conn");
    assert!(old > 0);

    // The same conn rows with one more column, as a newer writer makes them.
    let conns: Vec<(&str, &Conn)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Conn(c) => Some(("b.pcap", c)),
            _ => None,
        })
        .collect();
    let base = tables::conn_batch(&conns).unwrap();
    let mut fields: Vec<Field> = base
        .schema()
        .fields()
        .iter()
        .map(|f| (**f).clone())
        .collect();
    fields.push(Field::new("score", DataType::Int64, true));
    let schema = Arc::new(Schema::new(fields));
    let mut cols = base.columns().to_vec();
    let scores: Vec<i64> = (1..=base.num_rows() as i64).collect();
    cols.push(Arc::new(Int64Array::from(scores.clone())));
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let lake = Lake::new(Location::Dir(dir.clone())).unwrap();
    let rel = "date=2010-12-20/part-evolve-00000.parquet";
    let size = lake
        .write_parquet(
            &format!("conn/{rel}"),
            std::slice::from_ref(&batch),
            &WriterProperties::default(),
        )
        .unwrap();
    let v = lake
        .commit(
            "conn",
            schema,
            true,
            &[Part {
                path: rel.to_string(),
                date: Some("2010-12-20".to_string()),
                size,
                rows: batch.num_rows() as u64,
            }],
            &[],
            None,
            true,
        )
        .unwrap();
    assert!(v.is_some());

    let new = batch.num_rows() as i64;
    let b = q(
        &dir,
        "SELECT count(*) AS n, count(score) AS scored, sum(score) AS total FROM conn",
    );
    let get = |i: usize| {
        b[0].column(i)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    };
    assert_eq!(get(0), old + new, "every row, old files and new");
    assert_eq!(get(1), new, "older files read the new column as null");
    assert_eq!(get(2), scores.iter().sum::<i64>());
    let b = q(&dir, "SELECT score FROM conn WHERE source = 'a.pcap'");
    let nulls: usize = b.iter().map(|b| b.column(0).null_count()).sum();
    assert_eq!(nulls as i64, old);

    // The event readers take both files (the extra column is not theirs).
    let back = read_back(&dir);
    let conn_rows = back
        .iter()
        .filter(|(_, e)| matches!(e, Event::Conn(_)))
        .count();
    assert_eq!(conn_rows as i64, old + new);

    // A writer of the old schema goes on committing to the evolved table,
    // and compaction merges parts of both schemas, keeping the column.
    write_all(&dir, "c.pcap", &ev, &mail, &act, &al);
    assert_eq!(count(&dir, "conn"), 2 * old + new);
    let scored = || {
        let b = q(
            &dir,
            "SELECT count(score) AS scored, sum(score) AS s FROM conn",
        );
        let v = |i: usize| {
            b[0].column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0)
        };
        (v(0), v(1))
    };
    assert_eq!(scored(), (new, scores.iter().sum::<i64>()));
    let store = Store::open(&dir).unwrap();
    let rep = botscope_store::compact(&store).unwrap();
    assert!(rep.skipped.is_empty(), "{:?}", rep.skipped);
    assert!(
        rep.partitions.iter().any(|p| p == "conn/date=2010-12-20"),
        "{rep:?}"
    );
    assert_eq!(count(&dir, "conn"), 2 * old + new);
    assert_eq!(scored(), (new, scores.iter().sum::<i64>()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `trace` hashes large downloads on the helper thread when a core is
/// idle: the payload digests it reports must be those of inline hashing
/// (real capture: a Nuclear exploit-kit payload download, labelled in
/// malware-real). `ingest` turns on the same engine setting.
#[test]
fn trace_hashes_the_same_payloads_on_the_helper_thread() {
    let Some(data) = data_dir() else { return };
    let cap = data.join("malware-real/ac-2015-nuclear-ek-dga-payload.pcap");
    let run = |offload: bool| {
        let engine = botscope_engine::EngineConfig {
            proto: botscope_proto::ProtoConfig {
                offload_hashes: offload,
                ..Default::default()
            },
            ..Default::default()
        };
        let t = botscope_store::trace::trace_inputs_engine(
            std::slice::from_ref(&cap),
            &botscope_activity::ActivityConfig::default(),
            None,
            &botscope_activity::Capture::Network,
            None,
            &engine,
        );
        assert!(t.errors.is_empty(), "{:?}", t.errors);
        t.iocs
    };
    let before = botscope_proto::offload::offloaded();
    let (inline, helper) = (run(false), run(true));
    assert!(
        botscope_proto::offload::offloaded() > before,
        "the helper thread hashed nothing"
    );
    let hashes = |v: &[botscope_activity::ioc::Ioc]| -> Vec<String> {
        v.iter()
            .filter(|i| i.kind == botscope_activity::ioc::IocKind::Sha256)
            .map(|i| i.value.clone())
            .collect()
    };
    assert!(!hashes(&inline).is_empty(), "no payload digest: {inline:?}");
    assert!(hashes(&helper)
        .iter()
        .all(|h| h.len() == 64 && !h.contains('\u{1}')));
    assert_eq!(hashes(&helper), hashes(&inline));
    assert_eq!(helper, inline);
}

/// The trap's dataset feed into `dir` with the default analyser.
fn live_feed(
    dir: PathBuf,
    flush_every: std::time::Duration,
    max_batch: usize,
) -> botscope_store::LiveMail {
    botscope_store::LiveMail::start(
        dir,
        std::sync::Arc::new(botscope_mail::MailAnalyzer::new(
            botscope_mail::MailConfig::default(),
            None,
        )),
        botscope_store::LiveConfig {
            flush_every,
            max_batch,
            ..botscope_store::LiveConfig::default()
        },
        None,
    )
}

/// The live feed (the trap's) sleeps while a batch is open instead of
/// being woken by every message; the push that fills a batch and `finish`
/// wake it. With an interval of an hour, only those wake-ups can commit
/// within this test's deadline. Real spam from CSDMC2010.
#[test]
fn the_live_feed_commits_a_full_batch_and_at_finish_without_waiting_its_interval() {
    use botscope_store::PendingMessage;
    use std::time::{Duration, Instant};
    let Some(data) = data_dir() else { return };
    let mut spam: Vec<PathBuf> = std::fs::read_dir(data.join("spam-csdmc2010/spam"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    spam.sort();
    assert!(spam.len() >= 15, "{} messages", spam.len());
    let dir = temp("live-batch");
    let feed = live_feed(dir.clone(), Duration::from_secs(3600), 10);
    let push = |p: &PathBuf| {
        feed.push(PendingMessage {
            path: p.clone(),
            envelope: botscope_mail::Envelope {
                session: true,
                mail_from: Some("bot@example.com".into()),
                rcpt_to: vec!["trap@example.net".into()],
                ..Default::default()
            },
        })
    };
    let t0 = Instant::now();
    // One message opens the batch and the feeder goes to sleep on it; the
    // ninth after it fills the batch (and must wake it).
    push(&spam[0]);
    std::thread::sleep(Duration::from_millis(300));
    for p in &spam[1..10] {
        push(p);
    }
    let deadline = t0 + Duration::from_secs(120);
    while feed.stats().messages < 10 {
        assert!(
            Instant::now() < deadline,
            "a full batch was not committed: {:?}",
            feed.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(feed.stats().commits, 1, "{:?}", feed.stats());
    for p in &spam[10..15] {
        push(p);
    }
    std::thread::sleep(Duration::from_millis(300));
    // `finish` must wake the sleeping feeder (not wait out the hour).
    let feed = std::sync::Arc::new(feed);
    let (tx, rx) = std::sync::mpsc::channel();
    let f = std::sync::Arc::clone(&feed);
    std::thread::spawn(move || tx.send(f.finish()));
    let stats = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("finish returned while the batch was still open");
    assert_eq!((stats.messages, stats.commits), (15, 2), "{stats:?}");
    assert_eq!(count(&dir, "mail"), 15);
    let _ = std::fs::remove_dir_all(&dir);
}

/// CPU time (user + system, in clock ticks) of this process's threads
/// named `name` (Linux `/proc`).
#[cfg(target_os = "linux")]
fn thread_ticks(name: &str) -> u64 {
    let mut total = 0;
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        total += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        total += f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    total
}

/// A commit that fails (here: the dataset's folder cannot be created)
/// with a full batch waiting must leave the feed asleep until its retry,
/// not spinning on the batch being full.
#[cfg(target_os = "linux")]
#[test]
fn the_live_feed_sleeps_while_a_failed_commit_waits_for_its_retry() {
    use botscope_store::PendingMessage;
    use std::time::{Duration, Instant};
    let dir = temp("live-retry");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let feed = live_feed(file.join("store"), Duration::from_secs(30), 2);
    for i in 0..2 {
        feed.push(PendingMessage {
            path: dir.join(format!("{i}.eml")),
            envelope: botscope_mail::Envelope::default(),
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while feed.stats().commit_errors == 0 {
        assert!(Instant::now() < deadline, "no commit was tried");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = thread_ticks("botscope-live-m");
    std::thread::sleep(Duration::from_millis(1500));
    let spent = thread_ticks("botscope-live-m") - before;
    // A spinning feeder burns the whole 1.5 s (about 150 ticks).
    assert!(
        spent < 50,
        "the feed used {spent} ticks while waiting to retry"
    );
    assert_eq!(feed.stats().commit_errors, 1, "{:?}", feed.stats());
    // Its last commit would retry for 30 s at `finish`: leave it.
    std::mem::forget(feed);
    let _ = std::fs::remove_dir_all(&dir);
}
