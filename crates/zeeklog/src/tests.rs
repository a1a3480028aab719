//! Unit tests: column walks against the field tables, escaping, JSON.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use botscope_event::*;

use crate::columns::{emit, IfEmpty, Sink};
use crate::*;

/// Records the (name, type) of every column a walk produces.
#[derive(Default)]
struct Recorder(Vec<(&'static str, &'static str)>);

impl Sink for Recorder {
    fn time(&mut self, n: &'static str, _: Option<Ts>) {
        self.0.push((n, "time"));
    }
    fn interval(&mut self, n: &'static str, _: Option<botscope_event::Duration>) {
        self.0.push((n, "interval"));
    }
    fn string(&mut self, n: &'static str, _: Option<&str>) {
        self.0.push((n, "string"));
    }
    fn enumeration(&mut self, n: &'static str, _: Option<&str>) {
        self.0.push((n, "enum"));
    }
    fn uid(&mut self, n: &'static str, _: Option<Uid>) {
        self.0.push((n, "string"));
    }
    fn count(&mut self, n: &'static str, _: Option<u64>) {
        self.0.push((n, "count"));
    }
    fn port(&mut self, n: &'static str, _: Option<u16>) {
        self.0.push((n, "port"));
    }
    fn addr(&mut self, n: &'static str, _: Option<IpAddr>) {
        self.0.push((n, "addr"));
    }
    fn boolean(&mut self, n: &'static str, _: Option<bool>) {
        self.0.push((n, "bool"));
    }
    fn joined<T: AsRef<str>>(&mut self, n: &'static str, _: &[T]) {
        self.0.push((n, "string"));
    }
    fn strings<T: AsRef<str>>(&mut self, n: &'static str, ty: &'static str, _: &[T], _: IfEmpty) {
        self.0.push((n, ty));
    }
    fn addrs(&mut self, n: &'static str, _: &[IpAddr], _: IfEmpty) {
        self.0.push((n, "vector[addr]"));
    }
    fn seconds(&mut self, n: &'static str, _: &[u32], _: IfEmpty) {
        self.0.push((n, "vector[interval]"));
    }
}

fn meta() -> Meta {
    Meta {
        ts: Ts(1_258_535_653_123_456),
        uid: Uid(123_456_789),
        id: ConnId {
            orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            orig_p: 1234,
            resp_h: IpAddr::V6(Ipv6Addr::LOCALHOST),
            resp_p: 80,
            proto: Transport::Tcp,
        },
    }
}

fn conn() -> Conn {
    Conn {
        meta: meta(),
        service: vec![botscope_event::Service::SMTP, botscope_event::Service::SSL],
        duration: Some(botscope_event::Duration(1_500_000)),
        orig_bytes: Some(10),
        resp_bytes: None,
        conn_state: ConnState::SF,
        local_orig: None,
        local_resp: Some(true),
        missed_bytes: 0,
        history: "ShADadFf".into(),
        orig_pkts: 5,
        orig_ip_bytes: 300,
        resp_pkts: 4,
        resp_ip_bytes: 200,
        ip_proto: 6,
        tunnel_parents: Vec::new(),
    }
}

fn weird() -> Weird {
    Weird {
        ts: Ts(5),
        uid: None,
        id: None,
        name: "truncated_IP".into(),
        addl: None,
        source: Some("a.pcap:1234".into()),
    }
}

/// One event of every kind, with meta, and those without meta.
fn samples() -> Vec<(Event, &'static [(&'static str, &'static str)])> {
    let m = Some(meta());
    vec![
        (Event::Conn(conn()), CONN_FIELDS),
        (
            Event::Http(Http {
                meta: m,
                ..Http::default()
            }),
            HTTP_FIELDS,
        ),
        (Event::Http(Http::default()), HTTP_FIELDS),
        (
            Event::Smtp(Smtp {
                meta: m,
                ..Smtp::default()
            }),
            SMTP_FIELDS,
        ),
        (
            Event::Dns(Dns {
                meta: m,
                ..Dns::default()
            }),
            DNS_FIELDS,
        ),
        (Event::Dns(Dns::default()), DNS_FIELDS),
        (
            Event::Ssl(Ssl {
                meta: m,
                ..Ssl::default()
            }),
            SSL_FIELDS,
        ),
        (
            Event::X509(X509 {
                meta: m,
                ..X509::default()
            }),
            X509_FIELDS,
        ),
        (Event::X509(X509::default()), X509_FIELDS),
        (
            Event::Irc(Irc {
                meta: m,
                ..Irc::default()
            }),
            IRC_FIELDS,
        ),
        (
            Event::Ftp(Ftp {
                meta: m,
                command: "RETR".into(),
                data_channel: Some(FtpDataChannel {
                    passive: true,
                    orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                    resp_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                    resp_p: 50000,
                }),
                ..Ftp::default()
            }),
            FTP_FIELDS,
        ),
        (Event::Ftp(Ftp::default()), FTP_FIELDS),
        (
            Event::Ssh(Ssh {
                meta: m,
                version: Some(2),
                ..Ssh::default()
            }),
            SSH_FIELDS,
        ),
        (Event::Weird(weird()), WEIRD_FIELDS),
        (Event::Tunnel(tunnel()), TUNNEL_FIELDS),
    ]
}

fn tunnel() -> Tunnel {
    Tunnel {
        ts: Ts(1_258_535_653_123_456),
        uid: Uid(123_456_789),
        id: ConnId {
            orig_h: IpAddr::V4(Ipv4Addr::new(172, 27, 1, 66)),
            orig_p: 0,
            resp_h: IpAddr::V4(Ipv4Addr::new(66, 59, 109, 137)),
            resp_p: 0,
            proto: Transport::Other(47),
        },
        tunnel_type: "Tunnel::GRE",
        action: "Tunnel::DISCOVER",
    }
}

fn tsv(ev: &Event) -> String {
    let mut out = Vec::new();
    zeek_row(ev, &mut out);
    String::from_utf8(out).unwrap()
}

fn json(ev: &Event) -> serde_json::Map<String, serde_json::Value> {
    let mut out = Vec::new();
    json_row(ev, &mut out);
    assert_eq!(out.last(), Some(&b'\n'));
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    match serde_json::from_slice(&out).unwrap() {
        serde_json::Value::Object(m) => m,
        v => panic!("not an object: {v}"),
    }
}

#[test]
fn every_walk_matches_its_field_table() {
    for (ev, fields) in samples() {
        let mut r = Recorder::default();
        assert!(emit(&ev, &mut r));
        assert_eq!(r.0, fields, "{}", ev.log_name());
        assert_eq!(fields_for(ev.log_name()), Some(fields));
        // And the TSV row has exactly one value per column.
        let row = tsv(&ev);
        assert!(row.ends_with('\n'));
        assert_eq!(row.trim_end_matches('\n').split('\t').count(), fields.len());
    }
}

#[test]
fn messages_have_no_row() {
    let ev = Event::Message(CarvedMessage {
        meta: meta(),
        trans_depth: 1,
        helo: None,
        mailfrom: None,
        rcptto: vec![],
        data: b"Subject: x\r\n\r\nhi".to_vec(),
        truncated: false,
    });
    let mut out = Vec::new();
    zeek_row(&ev, &mut out);
    json_row(&ev, &mut out);
    assert!(out.is_empty());
}

#[test]
fn conn_row_renders_every_type() {
    let row = tsv(&Event::Conn(conn()));
    let want = "1258535653.123456\tC8M0kX\t10.0.0.1\t1234\t::1\t80\ttcp\tsmtp,ssl\t1.500000\t10\t-\tSF\t-\tT\t0\tShADadFf\t5\t300\t4\t200\t-\t6\n";
    assert_eq!(Uid(123_456_789).to_string(), "C8M0kX");
    assert_eq!(row, want);
}

#[test]
fn tunnel_row_and_tunnel_parents_as_zeek_writes_them() {
    // Zeek's core.tunnels.gre tunnel.log row, uid aside.
    let row = tsv(&Event::Tunnel(tunnel()));
    assert_eq!(
        row,
        "1258535653.123456\tC8M0kX\t172.27.1.66\t0\t66.59.109.137\t0\tTunnel::GRE\tTunnel::DISCOVER\n"
    );
    let mut c = conn();
    c.tunnel_parents = vec![Uid(123_456_789), Uid(61)];
    let row = tsv(&Event::Conn(c));
    assert!(row.ends_with("\tC8M0kX,Cz\t6\n"), "{row}");
}

fn escaped(s: &str, in_container: bool) -> String {
    let mut out = Vec::new();
    zeek_escape(s.as_bytes(), in_container, &mut out);
    // The variant for strings known to be UTF-8 writes the same bytes.
    let mut again = Vec::new();
    crate::tsv::zeek_escape_str(s, in_container, &mut again);
    assert_eq!(again, out, "{s:?}");
    String::from_utf8(out).unwrap()
}

/// Counts and times written without the formatter read as `Display`
/// writes them.
#[test]
fn numbers_as_display_writes_them() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut values: Vec<i64> = vec![
        0,
        1,
        -1,
        999_999,
        -999_999,
        1_000_000,
        -1_000_000,
        i64::MAX,
        i64::MIN,
    ];
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Every magnitude, both signs.
        values.push((x as i64) >> (x % 64));
    }
    for v in values {
        let mut out = Vec::new();
        crate::tsv::push_micros(&mut out, v);
        assert_eq!(String::from_utf8(out).unwrap(), Ts(v).to_string(), "{v}");
        let mut out = Vec::new();
        crate::tsv::push_count(&mut out, v.unsigned_abs());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            v.unsigned_abs().to_string()
        );
        // Addresses from the same bits.
        let b = v.to_be_bytes();
        for a in [
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            IpAddr::V4(Ipv4Addr::new(b[4] % 10, 0, b[6], 0)),
            IpAddr::V6(Ipv6Addr::from(
                u128::from(v as u64) << 64 | u128::from(b[0]),
            )),
        ] {
            let mut out = Vec::new();
            crate::tsv::push_addr(&mut out, a);
            assert_eq!(String::from_utf8(out).unwrap(), a.to_string());
        }
    }
}

#[test]
fn escaping_follows_zeeks_ascii_writer() {
    // Zeek's baselines ascii-escape-binary and
    // ascii-utf8-enabled-control-characters.
    assert_eq!(escaped("foo \n\t\0 bar", false), r"foo \x0a\x09\x00 bar");
    assert_eq!(escaped("AB\\xffCD\0", false), r"AB\\xffCD\x00");
    assert_eq!(escaped("\r\x1b\x7f", false), r"\x0d\x1b\x7f");
    // Valid UTF-8 passes (enable_utf_8=T), invalid bytes are escaped.
    assert_eq!(escaped("foo \u{ae} bar", false), "foo \u{ae} bar");
    let mut out = Vec::new();
    zeek_escape(b"AB\xffCD\xc2", false, &mut out);
    assert_eq!(out, br"AB\xffCD\xc2");
    // Reserved words.
    assert_eq!(escaped("", false), "(empty)");
    assert_eq!(escaped("-", false), r"\x2d");
    assert_eq!(escaped("(empty)", false), r"\x28empty)");
    assert_eq!(escaped("--", false), "--");
    assert_eq!(escaped("-", true), r"\x2d");
    // Commas only inside containers.
    assert_eq!(escaped("a,b", false), "a,b");
    assert_eq!(escaped("a,b", true), r"a\x2cb");
}

#[test]
fn hostile_strings_cannot_add_columns_or_lines() {
    let nasty = "x\ty\nz\\\r,-\0\u{7f}\u{1b}[31m";
    let h = Http {
        meta: Some(meta()),
        method: Some(nasty.into()),
        uri: Some("-".into()),
        user_agent: Some("(empty)".into()),
        host: Some(String::new()),
        proxied: vec![nasty.into(), "-".into(), String::new()],
        resp_mime_types: vec!["a,b".into()],
        ..Http::default()
    };
    let row = tsv(&Event::Http(h));
    let cols: Vec<&str> = row.trim_end_matches('\n').split('\t').collect();
    assert_eq!(cols.len(), HTTP_FIELDS.len());
    assert_eq!(row.matches('\n').count(), 1);
    let col = |name: &str| cols[HTTP_FIELDS.iter().position(|f| f.0 == name).unwrap()];
    assert_eq!(col("method"), r"x\x09y\x0az\\\x0d,-\x00\x7f\x1b[31m");
    assert_eq!(col("uri"), r"\x2d");
    assert_eq!(col("user_agent"), r"\x28empty)");
    assert_eq!(col("host"), "(empty)");
    assert_eq!(
        col("proxied"),
        r"x\x09y\x0az\\\x0d\x2c-\x00\x7f\x1b[31m,\x2d,(empty)"
    );
    assert_eq!(col("resp_mime_types"), r"a\x2cb");
    assert_eq!(col("tags"), "(empty)");
    assert_eq!(col("orig_mime_types"), "-");
    assert_eq!(col("origin"), "-");
}

#[test]
fn randomized_strings_keep_the_row_shape() {
    let alphabet = [
        "\t", "\n", "\\", ",", "-", "(empty)", "\0", "a", "\u{e9}", "\r", "x27",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..500 {
        let mut s = String::new();
        for _ in 0..(state % 12) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            s.push_str(alphabet[(state % alphabet.len() as u64) as usize]);
        }
        let ev = Event::Dns(Dns {
            meta: Some(meta()),
            query: Some(s.clone()),
            answers: vec![s.clone(), s.clone()],
            ..Dns::default()
        });
        let row = tsv(&ev);
        assert_eq!(row.matches('\n').count(), 1);
        let cols: Vec<&str> = row.trim_end_matches('\n').split('\t').collect();
        assert_eq!(cols.len(), DNS_FIELDS.len());
        // The query unescapes back to the original.
        if !s.is_empty() {
            assert_eq!(zeek_unescape(cols[9]), s.as_bytes(), "{s:?}");
        }
        // The answers split into exactly two elements.
        let answers = zeek_split_container(cols[21]);
        assert_eq!(answers.len(), 2, "{s:?} -> {}", cols[21]);
        if s.is_empty() {
            // Zeek's own ambiguity: an empty string logs as (empty).
            assert_eq!(cols[9], "(empty)");
        } else {
            assert_eq!(zeek_unescape(answers[1]), s.as_bytes());
        }
    }
}

#[test]
fn header_lines() {
    let h = zeek_header("weird", "2026-01-02-03-04-05");
    let want = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
                #path\tweird\n#open\t2026-01-02-03-04-05\n\
                #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tname\taddl\tnotice\tpeer\tsource\n\
                #types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tbool\tstring\tstring\n";
    assert_eq!(h, want);
    assert_eq!(h.lines().count(), 8);
    assert_eq!(zeek_header("nope", "x").lines().count(), 8);
    assert_eq!(
        zeek_close_line("2026-01-02-03-04-05"),
        "#close\t2026-01-02-03-04-05\n"
    );
}

#[test]
fn weird_without_connection() {
    let row = tsv(&Event::Weird(weird()));
    assert_eq!(
        row,
        "0.000005\t-\t-\t-\t-\t-\ttruncated_IP\t-\tF\t-\ta.pcap:1234\n"
    );
    let j = json(&Event::Weird(weird()));
    let keys: Vec<&str> = j.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert_eq!(j["ts"], serde_json::json!(0.000005));
    assert_eq!(j["notice"], serde_json::json!(false));
    assert_eq!(j["source"], "a.pcap:1234");
}

#[test]
fn json_rows_have_zeek_keys_and_types() {
    let j = json(&Event::Conn(conn()));
    assert_eq!(j["ts"].as_f64(), Some(1_258_535_653.123_456));
    assert_eq!(j["uid"], "C8M0kX");
    assert_eq!(j["id.orig_h"], "10.0.0.1");
    assert_eq!(j["id.orig_p"], 1234);
    assert_eq!(j["id.resp_h"], "::1");
    assert_eq!(j["id.resp_p"], 80);
    assert_eq!(j["proto"], "tcp");
    assert_eq!(j["service"], "smtp,ssl");
    assert_eq!(j["duration"].as_f64(), Some(1.5));
    assert_eq!(j["local_resp"], true);
    assert_eq!(j["ip_proto"], 6);
    for absent in ["resp_bytes", "local_orig", "tunnel_parents"] {
        assert!(!j.contains_key(absent), "{absent}");
    }
    // Exactly the table's columns, minus the unset ones, in order.
    let want: Vec<&str> = CONN_FIELDS
        .iter()
        .map(|f| f.0)
        .filter(|n| !["resp_bytes", "local_orig", "tunnel_parents"].contains(n))
        .collect();
    let mut keys: Vec<&str> = j.keys().map(String::as_str).collect();
    let mut sorted_want = want.clone();
    keys.sort_unstable();
    sorted_want.sort_unstable();
    assert_eq!(keys, sorted_want);
    let mut raw = Vec::new();
    json_row(&Event::Conn(conn()), &mut raw);
    let raw = String::from_utf8(raw).unwrap();
    let pos: Vec<usize> = want
        .iter()
        .map(|k| raw.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{raw}");

    let d = json(&Event::Dns(Dns {
        meta: Some(meta()),
        trans_id: 7,
        rtt: Some(botscope_event::Duration(250)),
        query: Some("a\"b\\c\nd".into()),
        aa: true,
        answers: vec!["1.2.3.4".into(), "x,y".into()],
        ttls: vec![900, 7200],
        ..Dns::default()
    }));
    assert_eq!(d["proto"], "tcp");
    assert_eq!(d["rtt"].as_f64(), Some(0.00025));
    assert_eq!(d["query"], "a\"b\\c\nd");
    assert_eq!(d["AA"], true);
    assert_eq!(d["TC"], false);
    assert_eq!(d["answers"], serde_json::json!(["1.2.3.4", "x,y"]));
    assert_eq!(d["TTLs"], serde_json::json!([900.0, 7200.0]));
    assert!(d["TTLs"][0].is_f64());
    assert!(!d.contains_key("qtype"));

    let h = json(&Event::Http(Http {
        meta: Some(meta()),
        req_body_prefix: b"\x00\x01binary".to_vec(),
        resp_body_prefix: b"MZ\x90".to_vec(),
        req_body_sha256: Some("ab".repeat(32)),
        status_code: Some(200),
        ..Http::default()
    }));
    assert_eq!(h["tags"], serde_json::json!([]));
    assert_eq!(h["status_code"], 200);
    assert_eq!(h["req_body_sha256"], "ab".repeat(32));
    assert!(!h.contains_key("proxied"));
    assert!(!h.keys().any(|k| k.contains("prefix")));

    let s = json(&Event::Smtp(Smtp {
        meta: Some(meta()),
        path: vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
        commands: vec!["EHLO".into(), "MAIL".into()],
        pipelined: true,
        ..Smtp::default()
    }));
    assert_eq!(s["fuids"], serde_json::json!([]));
    assert_eq!(s["path"], serde_json::json!(["::1"]));
    assert_eq!(s["commands"], serde_json::json!(["EHLO", "MAIL"]));
    assert_eq!(s["pipelined"], true);
    assert_eq!(s["tls"], false);
    assert!(!s.contains_key("rcptto"));

    // No meta: no envelope keys at all.
    let bare = json(&Event::Ssl(Ssl::default()));
    assert!(!bare.contains_key("ts"));
    assert!(!bare.contains_key("id.orig_h"));
    assert_eq!(bare["ssl_history"], "");
}

#[test]
fn json_strings_escape_controls() {
    let mut out = Vec::new();
    crate::json::json_str(&mut out, "\u{1}\u{8}\u{c}\t\"\\/\u{e9}");
    assert_eq!(out, "\"\\u0001\\b\\f\\t\\\"\\\\/\u{e9}\"".as_bytes());
}

#[test]
fn json_numbers_are_exact() {
    let ev = |ts: i64| {
        json(&Event::Weird(Weird {
            ts: Ts(ts),
            ..weird()
        }))
    };
    assert_eq!(ev(0)["ts"].to_string(), "0.0");
    assert_eq!(ev(1_000_000)["ts"].to_string(), "1.0");
    assert_eq!(ev(1_300_000)["ts"].to_string(), "1.3");
    assert_eq!(ev(-1_500_000)["ts"].to_string(), "-1.5");
    let mut out = Vec::new();
    json_row(
        &Event::Weird(Weird {
            ts: Ts(1_258_535_653_000_001),
            ..weird()
        }),
        &mut out,
    );
    assert!(String::from_utf8(out)
        .unwrap()
        .starts_with("{\"ts\":1258535653.000001,"));
}

#[test]
fn certificate_columns_render_as_zeek() {
    let ssl = Event::Ssl(Ssl {
        meta: Some(meta()),
        cert_chain_fps: Some(vec!["aa".into(), "bb".into()]),
        client_cert_chain_fps: Some(Vec::new()),
        sni_matches_cert: Some(true),
        subject: Some("CN=x".into()),
        ..Ssl::default()
    });
    let row = tsv(&ssl);
    assert!(row.contains("\taa,bb\t(empty)\tT\t"), "{row}");
    assert!(row.ends_with("\tCN=x\t-\t-\t-\n"), "{row}");
    let none = tsv(&Event::Ssl(Ssl::default()));
    assert!(none.contains("\t-\t-\t-\t"), "{none}");
    let cert = Event::X509(X509 {
        meta: Some(meta()),
        fingerprint: "ff".into(),
        version: 3,
        serial: "0B6771".into(),
        subject: "CN=a".into(),
        issuer: "CN=a".into(),
        not_valid_before: Some(Ts(1_000_000)),
        not_valid_after: Some(Ts(2_000_000)),
        key_alg: "rsaEncryption".into(),
        sig_alg: "sha1WithRSAEncryption".into(),
        key_type: Some("rsa".into()),
        key_length: Some(1024),
        exponent: Some("65537".into()),
        san_dns: vec!["a".into(), "b".into()],
        san_ip: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))],
        basic_constraints_ca: Some(true),
        basic_constraints_path_len: Some(0),
        host_cert: true,
        self_signed: true,
        ..X509::default()
    });
    let row = tsv(&cert);
    let cols: Vec<&str> = row.trim_end().split('\t').collect();
    assert_eq!(cols.len(), X509_FIELDS.len());
    assert_eq!(
        cols[1..],
        [
            "ff",
            "3",
            "0B6771",
            "CN=a",
            "CN=a",
            "1.000000",
            "2.000000",
            "rsaEncryption",
            "sha1WithRSAEncryption",
            "rsa",
            "1024",
            "65537",
            "-",
            "a,b",
            "-",
            "-",
            "10.0.0.1",
            "T",
            "0",
            "T",
            "F",
            "T"
        ]
    );
}

/// x509.log rows of certificates seen at `times` (hours), in that order.
fn x509_rows(times: &[i64], tag: &str) -> u64 {
    let dir = std::env::temp_dir().join(format!("botscope-x509-{}-{tag}", std::process::id()));
    let mut w = LogWriterSet::create(&dir, LogFormat::Zeek, std::time::UNIX_EPOCH).unwrap();
    for &h in times {
        let mut m = meta();
        m.ts = Ts(1_291_248_000_000_000 + h * 3_600_000_000);
        w.write(&Event::X509(X509 {
            meta: Some(m),
            fingerprint: "ab".into(),
            ..X509::default()
        }))
        .unwrap();
    }
    let rows = w.finish().unwrap().rows.get("x509").copied().unwrap_or(0);
    std::fs::remove_dir_all(&dir).unwrap();
    rows
}

#[test]
fn a_certificate_is_logged_again_a_day_away_whatever_the_arrival_order() {
    // In time order: hour 0 logged, 5 and 23 within its day, 24 a day
    // after it, 30 within a day of 24, 48 a day after 24: Zeek's rule.
    let in_order = [0, 5, 23, 24, 30, 48];
    assert_eq!(x509_rows(&in_order, "a"), 3);
    // The same rows as two shards deliver them (each in order, the
    // second's first batch before the first's): the same three rows.
    assert_eq!(x509_rows(&[24, 30, 48, 0, 5, 23], "b"), 3);
    assert_eq!(x509_rows(&[24, 0, 30, 5, 48, 23], "c"), 3);
}
