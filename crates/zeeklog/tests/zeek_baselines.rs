//! Our rows against Zeek's own logs for the same traffic.
//!
//! Each test builds the events a correct decoder produces for a trace
//! whose Zeek output is in `shared/data/zeek-baselines/` (see its
//! SOURCES.md), renders them with [`zeek_row`] and compares field by
//! field, by column name, with Zeek's rows. `ts` is masked in the
//! baselines and uids are Zeek's random ones, so both are skipped; the
//! few columns botscope does not model (file ids, certificate
//! fingerprints) are checked to hold what Zeek writes when it has no
//! such data. botscope's extra columns are not in the baselines.
//!
//! When the data is missing these tests are skipped with a message,
//! except under `CI=true`, where they fail.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use botscope_event::*;
use botscope_zeeklog::*;

fn data_root() -> PathBuf {
    match std::env::var_os("BOTSCOPE_DATA") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// The baseline file `rel` under `zeek-baselines/`, or `None` (skip)
/// when it is missing outside CI.
fn baseline(rel: &str) -> Option<PathBuf> {
    let p = data_root().join("zeek-baselines").join(rel);
    if p.is_file() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("test data missing under CI=true: {}", p.display());
    }
    eprintln!("SKIPPED: test data not found: {}", p.display());
    None
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn meta(orig: &str, op: u16, resp: &str, rp: u16, proto: Transport) -> Meta {
    Meta {
        ts: Ts(1_300_000_000_000_000),
        uid: Uid(42),
        id: ConnId {
            orig_h: ip(orig),
            orig_p: op,
            resp_h: ip(resp),
            resp_p: rp,
            proto,
        },
    }
}

fn tcp(orig: &str, op: u16, resp: &str, rp: u16) -> Option<Meta> {
    Some(meta(orig, op, resp, rp, Transport::Tcp))
}

fn udp(orig: &str, op: u16, resp: &str, rp: u16) -> Option<Meta> {
    Some(meta(orig, op, resp, rp, Transport::Udp))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// How a comparison treats some baseline columns.
#[derive(Default)]
struct Rules<'a> {
    /// Columns botscope does not model: (name, what we must write).
    not_modelled: &'a [(&'a str, &'a str)],
    /// Baseline columns (from policy scripts) we do not have.
    not_ours: &'a [&'a str],
    /// Which baseline rows, in file order (all when `None`).
    rows: Option<std::ops::Range<usize>>,
}

fn compare(baseline: &Path, log: &str, events: &[Event], rules: Rules) {
    let fields = fields_for(log).unwrap();
    let zeek = read_zeek_tsv_raw(baseline).unwrap();
    let zeek_rows = match rules.rows.clone() {
        Some(r) => &zeek.rows[r],
        None => &zeek.rows[..],
    };
    assert_eq!(
        zeek_rows.len(),
        events.len(),
        "row count of {}",
        baseline.display()
    );
    for (i, (ev, want)) in events.iter().zip(zeek_rows).enumerate() {
        let mut out = Vec::new();
        zeek_row(ev, &mut out);
        let line = String::from_utf8(out).unwrap();
        let ours: Vec<&str> = line.strip_suffix('\n').unwrap().split('\t').collect();
        assert_eq!(ours.len(), fields.len());
        let mut compared = 0;
        for (name, zeek_value) in zeek.fields.iter().zip(want) {
            let Some(col) = fields.iter().position(|f| f.0 == name) else {
                assert!(
                    rules.not_ours.contains(&name.as_str()),
                    "{log}: no column {name}"
                );
                continue;
            };
            let ours = ours[col];
            match name.as_str() {
                "ts" => {
                    assert_eq!(zeek_value, "XXXXXXXXXX.XXXXXX");
                    let (s, f) = ours.split_once('.').unwrap();
                    assert!(
                        s.bytes().all(|b| b.is_ascii_digit()) && f.len() == 6,
                        "{ours}"
                    );
                }
                "uid" => assert!(ours.starts_with('C') && zeek_value.starts_with('C')),
                _ => {
                    if let Some((_, v)) = rules.not_modelled.iter().find(|(n, _)| n == name) {
                        assert_eq!(ours, *v, "{log} row {i} column {name} (not modelled)");
                    } else {
                        assert_eq!(ours, zeek_value, "{log} row {i} column {name}");
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 5, "{log}: only {compared} columns compared");
    }
}

#[allow(clippy::too_many_arguments)]
fn conn_event(
    m: Option<Meta>,
    service: Vec<Service>,
    duration_us: i64,
    bytes: (u64, u64),
    local: bool,
    history: &str,
    orig: (u64, u64),
    resp: (u64, u64),
) -> Event {
    Event::Conn(Conn {
        meta: m.unwrap(),
        service,
        duration: Some(botscope_event::Duration(duration_us)),
        orig_bytes: Some(bytes.0),
        resp_bytes: Some(bytes.1),
        conn_state: ConnState::SF,
        local_orig: Some(local),
        local_resp: Some(local),
        missed_bytes: 0,
        history: history.into(),
        orig_pkts: orig.0,
        orig_ip_bytes: orig.1,
        resp_pkts: resp.0,
        resp_ip_bytes: resp.1,
        ip_proto: 6,
        tunnel_parents: Vec::new(),
    })
}

#[test]
fn conn_irc_dcc_send() {
    let Some(p) = baseline("zeek-irc-dcc-send/scripts.base.protocols.irc.basic/conn.log") else {
        return;
    };
    let events = [
        conn_event(
            tcp("10.0.0.22", 43614, "10.0.0.7", 59130),
            vec![Service::IRC_DCC_DATA],
            162_309,
            (352, 1_320_211),
            true,
            "ShAadDfF",
            (127, 6964),
            (962, 1_370_247),
        ),
        conn_event(
            tcp("10.0.0.22", 38016, "10.0.0.7", 59214),
            vec![],
            22_539_051,
            (22, 10),
            true,
            "ShAaDdfF",
            (7, 394),
            (8, 438),
        ),
        conn_event(
            tcp("10.0.0.7", 59069, "10.0.0.22", 6667),
            vec![Service::IRC],
            169_871_683,
            (638, 9679),
            true,
            "ShADadfF",
            (43, 2886),
            (37, 11611),
        ),
    ];
    compare(&p, "conn", &events, Rules::default());
}

#[test]
fn conn_irc_starttls_two_services() {
    let Some(p) = baseline("zeek-tls-irc-starttls/scripts.base.protocols.irc.starttls/conn.log")
    else {
        return;
    };
    let events = [conn_event(
        tcp("203.143.168.47", 55123, "185.18.76.170", 6667),
        vec![Service::IRC, Service::SSL],
        4_923_144,
        (913, 1903),
        false,
        "ShADadFRf",
        (11, 1469),
        (9, 2379),
    )];
    compare(&p, "conn", &events, Rules::default());
}

#[test]
fn http_pipelined_requests() {
    let Some(p) = baseline(
        "zeek-http-pipelined-requests/scripts.base.protocols.http.http-pipelining/http.log",
    ) else {
        return;
    };
    let reqs = [
        (
            "/style/enhanced.css",
            "http://www.mozilla.org/projects/calendar/",
            2675,
            "text/plain",
        ),
        (
            "/script/urchin.js",
            "http://www.mozilla.org/projects/calendar/",
            21421,
            "text/plain",
        ),
        (
            "/images/template/screen/bullet_utility.png",
            "http://www.mozilla.org/style/screen.css",
            94,
            "image/gif",
        ),
        (
            "/images/template/screen/key-point-top.png",
            "http://www.mozilla.org/style/screen.css",
            2349,
            "image/png",
        ),
        (
            "/projects/calendar/images/header-sunbird.png",
            "http://www.mozilla.org/projects/calendar/calendar.css",
            27579,
            "image/png",
        ),
    ];
    let events: Vec<Event> = reqs
        .iter()
        .enumerate()
        .map(|(i, (uri, referrer, len, mime))| {
            Event::Http(Http {
                meta: tcp("192.168.1.104", 1673, "63.245.209.11", 80),
                trans_depth: i as u32 + 1,
                method: Some("GET".into()),
                host: Some("www.mozilla.org".into()),
                uri: Some(uri.to_string()),
                referrer: Some(referrer.to_string()),
                version: Some("1.1".into()),
                user_agent: Some(
                    "Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.9.1.5) \
                     Gecko/20091102 Firefox/3.5.5"
                        .into(),
                ),
                response_body_len: *len,
                status_code: Some(200),
                status_msg: Some("OK".into()),
                resp_mime_types: strings(&[mime]),
                resp_content_type: Some("text/css".into()),
                resp_body_sha256: Some("00".repeat(32)),
                ..Http::default()
            })
        })
        .collect();
    let rules = Rules {
        not_modelled: &[("resp_fuids", "-")],
        ..Rules::default()
    };
    compare(&p, "http", &events, rules);
}

#[test]
fn smtp_attachment_msg() {
    let Some(p) =
        baseline("zeek-smtp-attachment-msg/scripts.base.protocols.smtp.attachment-msg/smtp.log")
    else {
        return;
    };
    let events = [Event::Smtp(Smtp {
        meta: tcp("::1", 56660, "::1", 25),
        trans_depth: 1,
        helo: Some("localhost.localdomain".into()),
        mailfrom: Some("sender@example.com".into()),
        rcptto: strings(&["recipient@example.com"]),
        from: Some("sender@example.com".into()),
        to: strings(&["recipient@example.com"]),
        subject: Some("subject".into()),
        path: vec![ip("::1"), ip("::1")],
        commands: strings(&["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]),
        message_file: Some("C0-1.eml".into()),
        ..Smtp::default()
    })];
    let rules = Rules {
        not_modelled: &[("fuids", "(empty)")],
        ..Rules::default()
    };
    compare(&p, "smtp", &events, rules);
}

#[test]
fn smtp_starttls() {
    let Some(p) = baseline("zeek-tls-smtp-starttls/scripts.base.protocols.smtp.starttls/smtp.log")
    else {
        return;
    };
    let events = [Event::Smtp(Smtp {
        meta: tcp("192.168.4.149", 54170, "74.125.142.26", 25),
        trans_depth: 1,
        helo: Some("openssl.client.net".into()),
        last_reply: Some("220 2.0.0 Ready to start TLS".into()),
        path: vec![ip("74.125.142.26"), ip("192.168.4.149")],
        tls: true,
        ..Smtp::default()
    })];
    // fuids is compared here: Zeek has no file either and logs (empty).
    compare(&p, "smtp", &events, Rules::default());
}

fn dns_event(
    m: Option<Meta>,
    trans_id: u16,
    query: &str,
    ra: bool,
    answers: &[&str],
    ttls: &[u32],
) -> Event {
    Event::Dns(Dns {
        meta: m,
        trans_id,
        query: Some(query.into()),
        rcode: Some(0),
        rcode_name: Some("NOERROR".into()),
        aa: true,
        ra,
        answers: strings(answers),
        ttls: ttls.to_vec(),
        opcode: Some(0),
        opcode_name: Some("query".into()),
        ..Dns::default()
    })
}

#[test]
fn dns53_eight_answers() {
    let Some(p) = baseline("zeek-dns53/scripts.base.protocols.dns.flip/dns.log") else {
        return;
    };
    let answers = [
        "206.109.64.186",
        "216.1.205.81",
        "205.149.163.211",
        "134.53.131.135",
        "134.53.131.192",
        "128.104.18.148",
        "204.152.186.139",
        "63.77.33.226",
    ];
    let events = [dns_event(
        udp("10.20.1.31", 53, "207.158.192.40", 53),
        25701,
        "us.v27.distributed.net",
        true,
        &answers,
        &[900; 8],
    )];
    compare(&p, "dns", &events, Rules::default());
}

#[test]
fn dns_multiple_txt_strings() {
    let Some(p) =
        baseline("zeek-dns-txt-multiple/scripts.base.protocols.dns.multiple-txt-strings/dns.log")
    else {
        return;
    };
    let txt = "TXT 127 k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDPdPfyJM2R2GqMyZM1flTzFeDIU+e7\
               KmiKRw5yz3Xht+cgEIiHmm5lIGBuWCc5rtiy0CcxePpqccPKjn TXT 98 HSrDI23PU+HOuqJ6ergE1IOsL6LOEg\
               G6YT53vMb8Z6UiBSsYPlrDEC+8CUIkTLMLXJauRK5bNRKV1ATGzGFpf3TjZtWwIDAQAB";
    let events = [dns_event(
        udp("192.150.187.50", 51946, "68.142.255.16", 53),
        28079,
        "flkr._domainkey.flickr.com",
        false,
        &[
            "fa14._domainkey.flickr.com",
            "fa14._domainkey.yahoo.com",
            txt,
        ],
        &[900, 900, 7200],
    )];
    compare(&p, "dns", &events, Rules::default());
}

fn ssl_event(
    m: Option<Meta>,
    cipher: &str,
    curve: Option<&str>,
    sni: Option<&str>,
    version: &str,
    next_protocol: Option<&str>,
    history: &str,
) -> Event {
    Event::Ssl(Ssl {
        meta: m,
        version: Some(version.into()),
        cipher: Some(cipher.into()),
        curve: curve.map(Into::into),
        server_name: sni.map(Into::into),
        next_protocol: next_protocol.map(Into::into),
        established: true,
        ssl_history: history.into(),
        ja3: Some("0".repeat(32)),
        client_alpn: strings(&["h2", "http/1.1"]),
        ..Ssl::default()
    })
}

/// Zeek saw certificates; these writer tests build their events without
/// them (certificate parsing is tested in `cli/tests/tls_breadth.rs`).
const NO_CERTS: &[(&str, &str)] = &[("cert_chain_fps", "-"), ("client_cert_chain_fps", "-")];

#[test]
fn ssl_ecdhe() {
    let Some(p) = baseline("zeek-tls-ecdhe/scripts.base.protocols.ssl.ecdhe/ssl.log") else {
        return;
    };
    let events = [ssl_event(
        tcp("192.168.18.50", 56981, "74.125.239.97", 443),
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        Some("secp256r1"),
        None,
        "TLSv12",
        None,
        "CsxknGIti",
    )];
    let rules = Rules {
        not_modelled: NO_CERTS,
        ..Rules::default()
    };
    compare(&p, "ssl", &events, rules);
}

#[test]
fn ssl_smtp_and_irc_starttls() {
    if let Some(p) = baseline("zeek-tls-smtp-starttls/scripts.base.protocols.smtp.starttls/ssl.log")
    {
        let events = [ssl_event(
            tcp("192.168.4.149", 54170, "74.125.142.26", 25),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Some("secp256r1"),
            None,
            "TLSv12",
            None,
            "CsxknGIti",
        )];
        let rules = Rules {
            not_modelled: NO_CERTS,
            ..Rules::default()
        };
        compare(&p, "ssl", &events, rules);
    }
    if let Some(p) = baseline("zeek-tls-irc-starttls/scripts.base.protocols.irc.starttls/ssl.log") {
        let events = [ssl_event(
            tcp("203.143.168.47", 55123, "185.18.76.170", 6667),
            "TLS_RSA_WITH_AES_256_GCM_SHA384",
            None,
            None,
            "TLSv12",
            None,
            "CsxrnXGIti",
        )];
        let rules = Rules {
            not_modelled: NO_CERTS,
            ..Rules::default()
        };
        compare(&p, "ssl", &events, rules);
    }
}

#[test]
fn ssl_tls13_kyber_from_concatenated_log() {
    let Some(p) = baseline(
        "zeek-tls-chrome-1250-tls-x25519-kyber/scripts.base.protocols.ssl.tls13/ssl-out.log",
    ) else {
        return;
    };
    // Only the 7th block (its one row, the 11th) is from this pcap. No
    // certificates in TLS 1.3: every column is compared.
    let events = [ssl_event(
        tcp("0.0.51.217", 13783, "142.250.200.14", 443),
        "TLS_AES_128_GCM_SHA256",
        Some("X25519Kyber768Draft00"),
        Some("lh3.google.com"),
        "TLSv13",
        None,
        "CsiI",
    )];
    let rules = Rules {
        rows: Some(10..11),
        ..Rules::default()
    };
    compare(&p, "ssl", &events, rules);
}

#[test]
fn ssl_with_policy_columns() {
    let Some(p) = baseline(
        "zeek-tls-signed_certificate_timestamp/scripts.policy.protocols.ssl.validate-sct/ssl-all.log",
    ) else {
        return;
    };
    let events = [ssl_event(
        tcp("192.168.178.73", 60640, "97.107.139.108", 443),
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        Some("secp256r1"),
        Some("ritter.vg"),
        "TLSv12",
        Some("http/1.1"),
        "CsxuknGIti",
    )];
    let rules = Rules {
        not_modelled: &[
            ("cert_chain_fps", "-"),
            ("client_cert_chain_fps", "-"),
            ("sni_matches_cert", "-"),
        ],
        not_ours: &["validation_status", "valid_ct_logs", "valid_ct_operators"],
        rows: Some(0..1),
    };
    compare(&p, "ssl", &events, rules);
}

#[test]
fn irc_basic() {
    let Some(p) = baseline("zeek-irc-dcc-send/scripts.base.protocols.irc.basic/irc.log") else {
        return;
    };
    let m = tcp("10.0.0.7", 59069, "10.0.0.22", 6667);
    let s = |v: &str| Some(v.to_string());
    let events = [
        Irc {
            meta: m,
            command: s("NICK"),
            value: s("tim2"),
            ..Irc::default()
        },
        Irc {
            meta: m,
            nick: s("tim2"),
            command: s("USER"),
            value: s("tim"),
            addl: s("tim 10.0.0.22 TimWojtulewicz "),
            ..Irc::default()
        },
        Irc {
            meta: m,
            nick: s("tim2"),
            user: s("tim"),
            command: s("JOIN"),
            value: s("#testing"),
            addl: s(""),
            ..Irc::default()
        },
        Irc {
            meta: m,
            nick: s("tim2"),
            user: s("tim"),
            command: s("DCC"),
            value: s("#testing"),
            addl: s(""),
            dcc_file_name: s("ssh.trace"),
            dcc_file_size: Some(1_320_211),
            dcc_mime_type: s("application/vnd.tcpdump.pcap"),
        },
    ]
    .map(Event::Irc);
    // The DCC row has a file id; the others have none and are compared.
    compare(
        &p,
        "irc",
        &events[..3],
        Rules {
            rows: Some(0..3),
            ..Rules::default()
        },
    );
    let rules = Rules {
        not_modelled: &[("fuid", "-")],
        rows: Some(3..4),
        ..Rules::default()
    };
    compare(&p, "irc", &events[3..], rules);
}

/// Our header lines against the baseline's, `#open` aside: identical for
/// logs without extras, and Zeek's columns as a prefix of ours otherwise.
#[test]
fn headers_equal_zeeks() {
    let cases = [
        (
            "conn",
            "zeek-irc-dcc-send/scripts.base.protocols.irc.basic/conn.log",
            &[][..],
        ),
        (
            "irc",
            "zeek-irc-dcc-send/scripts.base.protocols.irc.basic/irc.log",
            &[],
        ),
        (
            "dns",
            "zeek-dns53/scripts.base.protocols.dns.flip/dns.log",
            &[],
        ),
        (
            "http",
            "zeek-http-pipelined-requests/scripts.base.protocols.http.http-pipelining/http.log",
            &[
                "req_content_type",
                "resp_content_type",
                "location",
                "req_body_sha256",
                "resp_body_sha256",
            ],
        ),
        (
            "smtp",
            "zeek-smtp-attachment-msg/scripts.base.protocols.smtp.attachment-msg/smtp.log",
            &["commands", "pipelined", "auth_user", "message_file"],
        ),
        (
            "ssl",
            "zeek-tls-ecdhe/scripts.base.protocols.ssl.ecdhe/ssl.log",
            &[
                "ja3",
                "ja3s",
                "ja4",
                "client_alpn",
                "subject",
                "issuer",
                "client_subject",
                "client_issuer",
            ],
        ),
    ];
    for (log, rel, extras) in cases {
        let Some(p) = baseline(rel) else {
            continue;
        };
        let text = std::fs::read_to_string(&p).unwrap();
        let theirs: Vec<&str> = text.lines().skip(1).take(8).collect();
        let header = zeek_header(log, "2026-01-01-00-00-00");
        let ours: Vec<&str> = header.lines().collect();
        assert_eq!(ours.len(), 8);
        for (o, t) in ours.iter().zip(&theirs) {
            if t.starts_with("#open") {
                // The btest canonifier turned "#open\t<date>" into
                // "#open XXXX-XX-XX-XX-XX-XX".
                assert_eq!(*o, "#open\t2026-01-01-00-00-00");
                assert_eq!(*t, "#open XXXX-XX-XX-XX-XX-XX");
            } else if t.starts_with("#fields") || t.starts_with("#types") {
                let o: Vec<&str> = o.split('\t').collect();
                let t: Vec<&str> = t.split('\t').collect();
                assert_eq!(o.len(), t.len() + extras.len(), "{log}: {t:?}");
                assert_eq!(o[..t.len()], t[..], "{log}");
                if t[0] == "#fields" {
                    assert_eq!(o[t.len()..], extras[..], "{log}");
                }
            } else {
                assert_eq!(o, t, "{log}");
            }
        }
        // And the file ends as ours do.
        let close = text.lines().last().unwrap();
        assert!(close.starts_with("#close"), "{close}");
    }
}

/// The reader on Zeek's own concatenated log: 7 header blocks, 11 rows.
#[test]
fn reader_reads_zeeks_concatenated_ssl_log() {
    let Some(p) = baseline(
        "zeek-tls-chrome-1250-tls-x25519-kyber/scripts.base.protocols.ssl.tls13/ssl-out.log",
    ) else {
        return;
    };
    let (fields, rows) = read_zeek_tsv(&p).unwrap();
    let zeek_cols: Vec<&str> = SSL_FIELDS.iter().map(|f| f.0).take(fields.len()).collect();
    assert_eq!(fields, zeek_cols);
    assert_eq!(rows.len(), 11);
    assert!(rows.iter().all(|r| r.len() == fields.len()));
    assert_eq!(rows[10][9], "lh3.google.com");
    assert_eq!(rows[0][11], "protocol_version");
    let raw = read_zeek_tsv_raw(&p).unwrap();
    assert_eq!(raw.types[15], "vector[string]");
}
