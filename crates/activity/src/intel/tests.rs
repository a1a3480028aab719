//! Each format read from a small file written for the test
//! (`tests/data/intel/`), matching, and the scan over hand-made events.

use std::net::IpAddr;
use std::path::PathBuf;

use botscope_event::{Conn, ConnId, ConnState, Dns, Event, Http, Meta, Ssl, Transport, Ts, Uid};

use super::*;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/intel")
        .join(name)
}

fn load(name: &str) -> (Intel, Feed) {
    let mut intel = Intel::new();
    let feed = intel
        .load_path(&data(name))
        .unwrap_or_else(|e| panic!("{e}"))
        .clone();
    (intel, feed)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn plain_list_every_kind_comments_hosts_lines_and_defanged() {
    let (intel, feed) = load("plain.txt");
    assert_eq!(feed.format, Format::Plain);
    assert_eq!(feed.loaded, 9, "{feed:?}");
    assert_eq!(feed.skipped_total(), 2, "{:?}", feed.skipped);
    assert!(
        feed.examples.iter().any(|e| e.ends_with(
            "plain.txt:11: not an indicator (IP, CIDR, domain, URL, SHA-256, JA3, JA4): not"
        )),
        "{:?}",
        feed.examples
    );
    assert!(feed
        .examples
        .iter()
        .any(|e| e.contains("plain.txt:13: SHA-1")));
    let e = intel.match_ip(ip("192.0.2.10")).unwrap();
    assert_eq!((e.kind, e.origin.as_str()), (IntelKind::Ip, "line 3"));
    assert_eq!(
        intel.match_ip(ip("198.51.100.254")).unwrap().value,
        "198.51.100.0/24"
    );
    assert_eq!(
        intel.match_ip(ip("2001:db8:1::5")).unwrap().kind,
        IntelKind::Net
    );
    assert!(intel.match_ip(ip("198.51.101.1")).is_none());
    assert!(intel.match_domain("www.cdn.evil.example").is_some());
    assert!(intel.match_domain("EVIL.example.").is_some());
    assert!(intel.match_domain("notevil.example").is_none());
    assert!(intel.match_domain("ads.hosts-style.example").is_some());
    assert!(intel
        .match_url("HTTP://Payload.Example:80/bin/x.exe#frag")
        .is_some());
    assert!(intel.match_url("http://payload.example/bin/x.ex").is_none());
    assert!(intel
        .match_sha256("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08")
        .is_some());
    assert!(intel
        .match_ja3("e7d705a3286e19ea42f587b344ee6865")
        .is_some());
    assert!(intel
        .match_ja4("t13d1516h2_8daaf6152771_b186095e22b6")
        .is_some());
    // A plain list does not say what its entries are.
    assert_eq!(intel.match_ip(ip("192.0.2.10")).unwrap().class, None);
}

#[test]
fn urlhaus_csv() {
    let (intel, feed) = load("urlhaus.csv");
    assert_eq!(feed.format, Format::UrlhausCsv);
    assert_eq!((feed.loaded, feed.skipped_total()), (2, 1), "{feed:?}");
    assert!(
        feed.examples[0].contains("urlhaus.csv:12: not a URL"),
        "{:?}",
        feed.examples
    );
    let e = intel.match_url("http://203.0.113.7:43512/Mozi.m").unwrap();
    assert_eq!(e.class, Some(Class::Download));
    assert_eq!(e.origin, "line 10");
    assert_eq!(
        e.threat.as_deref(),
        Some("malware_download [32-bit,elf,mips,Mozi]")
    );
    assert!(intel
        .match_url("http://dl.bad.example/files/loader.exe")
        .is_some());
    // A URL entry is not its host.
    assert!(intel.match_domain("dl.bad.example").is_none());
}

#[test]
fn threatfox_csv_with_its_comma_space_separators() {
    let (intel, feed) = load("threatfox.csv");
    assert_eq!(feed.format, Format::ThreatfoxCsv);
    assert_eq!((feed.loaded, feed.skipped_total()), (3, 1), "{feed:?}");
    assert!(feed.skipped.keys().any(|k| k.starts_with("md5_hash")));
    let e = intel.match_ip(ip("192.0.2.55")).unwrap();
    assert_eq!(e.class, Some(Class::C2));
    assert_eq!(e.threat.as_deref(), Some("Emotet [Emotet]"));
    let e = intel.match_domain("a.cnc.threatfox.example").unwrap();
    assert_eq!(e.threat.as_deref(), Some("Cobalt Strike [CobaltStrike]"));
    let e = intel
        .match_url("https://drop.threatfox.example/a.php")
        .unwrap();
    assert_eq!(e.class, Some(Class::Download));
}

#[test]
fn threatfox_json_export() {
    let (intel, feed) = load("threatfox.json");
    assert_eq!(feed.format, Format::ThreatfoxJson);
    assert_eq!((feed.loaded, feed.skipped_total()), (2, 1), "{feed:?}");
    let e = intel.match_ip(ip("198.51.100.77")).unwrap();
    assert_eq!(
        (e.class, e.origin.as_str()),
        (Some(Class::C2), "ioc 1500010")
    );
    assert_eq!(e.threat.as_deref(), Some("QakBot"));
    let e = intel
        .match_sha256("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")
        .unwrap();
    assert_eq!(e.class, Some(Class::Download));
}

#[test]
fn threatfox_api_answer() {
    let mut intel = Intel::new();
    let json = br#"{"query_status":"ok","data":[{"id":"7","ioc":"c2.api.example","ioc_type":"domain","threat_type":"botnet_cc","malware_printable":"IcedID"}]}"#;
    let feed = intel.load_bytes("api.json", json).unwrap();
    assert_eq!((feed.format, feed.loaded), (Format::ThreatfoxJson, 1));
    assert_eq!(
        intel.match_domain("c2.api.example").unwrap().origin,
        "ioc 7"
    );
}

#[test]
fn feodo_and_sslbl_blocklists() {
    let (intel, feed) = load("feodo.csv");
    assert_eq!(feed.format, Format::Feodo);
    assert_eq!((feed.loaded, feed.skipped_total()), (2, 1), "{feed:?}");
    let e = intel.match_ip(ip("203.0.113.99")).unwrap();
    assert_eq!(
        (e.class, e.threat.as_deref()),
        (Some(Class::C2), Some("Dridex"))
    );

    let (intel, feed) = load("sslbl-ip.csv");
    assert_eq!((feed.format, feed.loaded), (Format::SslblIp, 2));
    assert_eq!(
        intel.match_ip(ip("192.0.2.201")).unwrap().class,
        Some(Class::C2)
    );

    let (intel, feed) = load("sslbl-ja3.csv");
    assert_eq!((feed.format, feed.loaded), (Format::SslblJa3, 2));
    let e = intel.match_ja3("8991A387E4CC841740F25D6F5139F92D").unwrap();
    assert_eq!(e.threat.as_deref(), Some("Adwind"));
}

#[test]
fn feodo_plain_ip_list_keeps_its_class() {
    let mut intel = Intel::new();
    let text = b"# Feodo Tracker Botnet C2 IP Blocklist\n# comment\n192.0.2.9\n";
    let feed = intel.load_bytes("ipblocklist.txt", text).unwrap();
    assert_eq!((feed.format, feed.loaded), (Format::Feodo, 1));
    assert_eq!(
        intel.match_ip(ip("192.0.2.9")).unwrap().class,
        Some(Class::C2)
    );
}

#[test]
fn header_only_csv_without_banner() {
    let mut intel = Intel::new();
    let text = b"domain,first_seen,malware\nbad.csv.example,2026-01-01,Foo\n";
    let feed = intel.load_bytes("mine.csv", text).unwrap();
    assert_eq!((feed.format, feed.loaded), (Format::Csv, 1), "{feed:?}");
    let e = intel.match_domain("bad.csv.example").unwrap();
    assert_eq!(
        (e.threat.as_deref(), e.origin.as_str()),
        (Some("Foo"), "line 2")
    );
}

#[test]
fn misp_event_with_objects_and_to_ids() {
    let (intel, feed) = load("misp-event.json");
    assert_eq!(feed.format, Format::MispEvent);
    assert_eq!(feed.loaded, 6, "{feed:?}");
    assert_eq!(feed.skipped_total(), 2, "{:?}", feed.skipped);
    assert!(feed
        .skipped
        .contains_key("to_ids off (context, not for detection)"));
    let e = intel.match_ip(ip("203.0.113.50")).unwrap();
    assert_eq!(e.threat.as_deref(), Some("Phishing campaign with AsyncRAT"));
    assert_eq!(e.origin, "attribute a0000000-0000-4000-8000-000000000002");
    assert!(intel.match_domain("rat.misp.example").is_some());
    assert!(intel
        .match_url("http://rat.misp.example/gate.php")
        .is_some());
    assert!(intel
        .match_ja3("0123456789abcdef0123456789abcdef")
        .is_some());
    let e = intel
        .match_sha256("fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9")
        .unwrap();
    assert_eq!(e.class_or_default(), Class::Download);
    assert_eq!(
        intel
            .match_ip(ip("198.51.100.200"))
            .unwrap()
            .class_or_default(),
        Class::C2
    );
}

#[test]
fn misp_feed_folder_or_its_manifest() {
    for path in ["misp-feed", "misp-feed/manifest.json"] {
        let (intel, feed) = load(path);
        assert_eq!(feed.format, Format::MispFeed);
        assert_eq!(feed.name, "misp-feed");
        assert_eq!(feed.loaded, 2, "{feed:?}");
        assert_eq!(feed.skipped.get("event file missing"), Some(&1));
        assert_eq!(
            feed.skipped.get("manifest key is not an event UUID"),
            Some(&1)
        );
        assert!(intel.match_ip(ip("192.0.2.66")).is_some());
        assert_eq!(
            intel
                .match_domain("mirai.misp-feed.example")
                .unwrap()
                .threat
                .as_deref(),
            Some("Mirai C2 servers")
        );
    }
}

#[test]
fn stix_bundle_patterns() {
    let (intel, feed) = load("stix.json");
    assert_eq!(feed.format, Format::Stix);
    assert_eq!(feed.loaded, 5, "{feed:?}");
    assert_eq!(feed.skipped_total(), 3, "{:?}", feed.skipped);
    assert!(feed.skipped.contains_key("revoked indicator"));
    assert!(feed
        .skipped
        .contains_key("pattern with AND: not one observable to match"));
    let e = intel.match_ip(ip("203.0.113.201")).unwrap();
    assert_eq!(e.class, Some(Class::C2));
    assert_eq!(e.origin, "indicator--00000000-0000-4000-8000-000000000002");
    assert!(intel.match_domain("trick.stix.example").is_some());
    assert!(intel.match_domain("bot.stix.example").is_some());
    assert!(intel.match_url("http://stix.example/it's.php").is_some());
    assert!(intel
        .match_sha256("4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a")
        .is_some());
    assert!(intel.match_ip(ip("192.0.2.1")).is_none());
    assert!(intel.match_ip(ip("192.0.2.2")).is_none());
}

#[test]
fn stix_pattern_parser() {
    use super::json::parse_pattern;
    assert_eq!(
        parse_pattern("[file:hashes.'SHA-256' = 'ab'] OR [url:value='http://x/\\'']").unwrap(),
        vec![
            ("file:hashes.'SHA-256'".to_string(), "ab".to_string()),
            ("url:value".to_string(), "http://x/'".to_string())
        ]
    );
    assert!(parse_pattern("[domain-name:value LIKE '%.x']").is_err());
    assert!(parse_pattern("[ipv4-addr:value = '1.2.3.4'] REPEATS 5 TIMES").is_err());
    assert!(parse_pattern("[url:value = 'unterminated]").is_err());
    assert!(parse_pattern("").is_err());
    assert!(parse_pattern("'''''[[[===").is_err());
}

#[test]
fn errors_name_the_file_and_line() {
    let mut intel = Intel::new();
    let e = intel
        .load_bytes("bad.json", b"{\n \"Event\": {\n  \"info\": \n}")
        .unwrap_err();
    let s = e.to_string();
    assert!(s.starts_with("bad.json:4: bad JSON"), "{s}");
    let e = intel.load_bytes("x.json", b"{\"hello\": 1}").unwrap_err();
    assert!(e.to_string().contains("not a STIX 2.1 bundle"), "{e}");
    let e = intel
        .load_bytes("x.gz", b"\x1f\x8b\x08\x00\x00")
        .unwrap_err();
    assert!(e.to_string().contains("binary"), "{e}");
    let e = intel.load_path(&data("does-not-exist.txt")).unwrap_err();
    assert!(
        e.to_string().contains("does-not-exist.txt: cannot read"),
        "{e}"
    );
    let e = intel.load_path(&data("")).unwrap_err();
    assert!(e.to_string().contains("no manifest.json"), "{e}");
    let e = intel.load_bytes("empty.txt", b"").unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    assert!(intel.feeds().is_empty());
}

#[test]
fn overlong_lines_and_duplicates_are_counted() {
    let mut intel = Intel::new();
    let mut text = b"192.0.2.1\n".to_vec();
    text.extend(std::iter::repeat_n(b'a', MAX_LINE + 10));
    text.extend_from_slice(b"\n192.0.2.1\r\nok.example\n");
    let feed = intel.load_bytes("l.txt", &text).unwrap().clone();
    assert_eq!(feed.loaded, 2);
    assert_eq!(feed.skipped.get("line over 64 KiB"), Some(&1));
    assert_eq!(feed.skipped.get("listed already"), Some(&1));
    assert!(feed.examples.iter().any(|e| e == "l.txt:3: listed already"));
}

#[test]
fn urls_normalise() {
    assert_eq!(
        normalize_url("HTTP://A.B:80").as_deref(),
        Some("http://a.b/")
    );
    assert_eq!(
        normalize_url("https://a.b:443/x?y#z").as_deref(),
        Some("https://a.b/x?y")
    );
    assert_eq!(
        normalize_url("http://a.b?q").as_deref(),
        Some("http://a.b/?q")
    );
    assert_eq!(
        normalize_url("http://u:p@a.b:8080/").as_deref(),
        Some("http://a.b:8080/")
    );
    assert_eq!(normalize_url("a.b/x"), None);
    assert_eq!(normalize_url("http:///x"), None);
}

fn meta(orig: &str, resp: &str, port: u16, t: i64, uid: u64) -> Meta {
    Meta {
        ts: Ts(t * 1_000_000),
        uid: Uid(uid),
        id: ConnId {
            orig_h: ip(orig),
            orig_p: 40000,
            resp_h: ip(resp),
            resp_p: port,
            proto: Transport::Tcp,
        },
    }
}

fn conn(m: Meta) -> Event {
    Event::Conn(Conn {
        meta: m,
        service: vec![],
        duration: None,
        orig_bytes: Some(10),
        resp_bytes: Some(10),
        conn_state: ConnState::SF,
        local_orig: None,
        local_resp: None,
        missed_bytes: 0,
        history: "ShADadFf".into(),
        orig_pkts: 5,
        orig_ip_bytes: 300,
        resp_pkts: 5,
        resp_ip_bytes: 300,
        ip_proto: 6,
        tunnel_parents: Vec::new(),
    })
}

#[test]
fn scan_matches_connections_names_urls_hashes_and_fingerprints() {
    let mut intel = Intel::new();
    for f in ["feodo.csv", "plain.txt", "sslbl-ja3.csv"] {
        intel.load_path(&data(f)).unwrap();
    }
    let host = "10.0.0.5";
    let events = vec![
        conn(meta(host, "203.0.113.99", 443, 10, 1)),
        conn(meta(host, "203.0.113.99", 443, 70, 2)),
        conn(meta(host, "8.8.8.8", 443, 71, 3)),
        Event::Dns(Dns {
            meta: Some(meta(host, "10.0.0.1", 53, 5, 4)),
            query: Some("x.evil.example".into()),
            ..Dns::default()
        }),
        Event::Http(Http {
            meta: Some(meta("10.0.0.6", "192.0.2.99", 80, 20, 5)),
            host: Some("payload.example".into()),
            uri: Some("/bin/x.exe".into()),
            resp_body_sha256: Some(
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            ),
            ..Http::default()
        }),
        Event::Ssl(Ssl {
            meta: Some(meta("10.0.0.7", "192.0.2.98", 443, 30, 6)),
            server_name: Some("www.evil.example".into()),
            ja3: Some("b386946a5a44d1ddcc843bc75336dfce".into()),
            ..Ssl::default()
        }),
    ];
    let m = scan(&events, &intel);
    let got: Vec<(String, &str, &str, &str, u64)> = m
        .iter()
        .map(|m| {
            (
                m.host.to_string(),
                m.seen_in,
                m.observed.as_str(),
                m.feed.as_str(),
                m.count,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "10.0.0.5".into(),
                "dns query",
                "x.evil.example",
                "plain.txt",
                1
            ),
            (
                "10.0.0.5".into(),
                "connection",
                "203.0.113.99",
                "feodo.csv",
                2
            ),
            (
                "10.0.0.6".into(),
                "http url",
                "http://payload.example/bin/x.exe",
                "plain.txt",
                1
            ),
            (
                "10.0.0.6".into(),
                "http response body",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "plain.txt",
                1
            ),
            (
                "10.0.0.7".into(),
                "tls sni",
                "www.evil.example",
                "plain.txt",
                1
            ),
            (
                "10.0.0.7".into(),
                "tls ja3",
                "b386946a5a44d1ddcc843bc75336dfce",
                "sslbl-ja3.csv",
                1
            ),
        ],
        "{m:#?}"
    );
    let feodo = &m[1];
    assert_eq!(feodo.class, Class::C2);
    assert_eq!((feodo.first, feodo.last), (Ts(10_000_000), Ts(70_000_000)));
    assert_eq!(
        feodo.sentence(),
        "threat intel: ip 203.0.113.99 in connection ×2 is listed by feodo.csv line 9 (Dridex)"
    );
    assert!(m[0].sentence().contains(", listed as evil.example"));
    assert_eq!(m[3].class, Class::Download);
    assert!(scan(&events, &Intel::new()).is_empty());
}

#[test]
fn every_loaded_entry_matches_itself() {
    for f in [
        "plain.txt",
        "urlhaus.csv",
        "threatfox.csv",
        "threatfox.json",
        "feodo.csv",
        "sslbl-ip.csv",
        "sslbl-ja3.csv",
        "misp-event.json",
        "misp-feed",
        "stix.json",
    ] {
        let (intel, feed) = load(f);
        assert_eq!(feed.loaded as usize, intel.entries().len(), "{f}");
        for e in intel.entries() {
            let hit = match e.kind {
                IntelKind::Ip => intel.match_ip(ip(&e.value)),
                IntelKind::Net => intel.match_ip(ip(e.value.split('/').next().unwrap())),
                IntelKind::Domain => intel.match_domain(&e.value),
                IntelKind::Url => intel.match_url(&e.value),
                IntelKind::Sha256 => intel.match_sha256(&e.value),
                IntelKind::Ja3 => intel.match_ja3(&e.value),
                IntelKind::Ja4 => intel.match_ja4(&e.value),
            };
            assert_eq!(hit, Some(e), "{f}: {e:?}");
        }
    }
}
