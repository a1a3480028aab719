//! Rendered captures decoded back by botscope's own engine: the HTTP,
//! SMTP and DNS rows, the carved message, conn.log states and byte
//! counts, and the truth rows one to one with conn.log.

mod net_support;

use std::collections::BTreeSet;
use std::net::IpAddr;

use botscope_event::{ConnState, Event, Transport};
use botscope_sim::net::{render_pcap, render_pcap_with, NetConfig};
use botscope_sim::plan::{Activity, Close, SandboxDay, TruthConn};
use net_support::*;

fn render(day: &SandboxDay, cfg: &NetConfig) -> (Vec<Event>, Vec<TruthConn>) {
    let mut bytes = Vec::new();
    let truth = render_pcap_with(day, cfg, &mut bytes);
    let f = TempFile::new("engine", &bytes);
    (decode(f.path()), truth)
}

fn v4(ip: std::net::Ipv4Addr) -> IpAddr {
    IpAddr::V4(ip)
}

/// Every check of the reference day, for one rendering.
fn check_day(seed: u64, cfg: &NetConfig) {
    let day = day(seed);
    let (events, truth) = render(&day, cfg);

    let weirds: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Weird(w) => Some(w.name.clone()),
            _ => None,
        })
        .collect();
    assert!(weirds.is_empty(), "weirds: {weirds:?}");

    // HTTP
    let http: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Http(h) => Some(h),
            _ => None,
        })
        .collect();
    assert_eq!(http.len(), 4, "{http:#?}");
    let post = http
        .iter()
        .find(|h| h.method.as_deref() == Some("POST"))
        .expect("C&C POST");
    assert_eq!(post.host.as_deref(), Some("cnc.badhost.ru"));
    assert_eq!(post.uri.as_deref(), Some(C2_URI));
    assert_eq!(post.request_body_len, c2_body().len() as u64);
    assert_eq!(post.response_body_len, 8);
    assert_eq!(post.status_code, Some(200));
    let dl = http
        .iter()
        .find(|h| h.uri.as_deref() == Some(DL_URI))
        .expect("download");
    assert_eq!(dl.method.as_deref(), Some("GET"));
    assert_eq!(dl.host.as_deref(), Some("dl.example.org"));
    assert_eq!(dl.response_body_len, PE_LEN as u64);
    assert_eq!(dl.resp_mime_types, ["application/x-dosexec"]);
    assert!(!dl.resp_body_incomplete);
    let clicks: Vec<_> = http
        .iter()
        .filter(|h| h.uri.as_deref() == Some(CLICK_URI))
        .collect();
    assert_eq!(clicks.len(), 2);
    for c in clicks {
        assert_eq!(c.host.as_deref(), Some("ads.example.org"));
        assert_eq!(c.referrer.as_deref(), Some(REFERER));
        assert_eq!(c.status_code, Some(302));
    }

    // SMTP and the carved message
    let smtp: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Smtp(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(smtp.len(), 1, "{smtp:#?}");
    assert_eq!(smtp[0].helo.as_deref(), Some(HELO));
    assert_eq!(smtp[0].mailfrom.as_deref(), Some(MAIL_FROM));
    assert_eq!(smtp[0].rcptto, RCPTS);
    let msgs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(msgs.len(), 1);
    assert!(!msgs[0].truncated);
    assert_eq!(msgs[0].data, message(), "carved message = the message sent");

    // DNS
    let queries: BTreeSet<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Dns(d) => d.query.clone(),
            _ => None,
        })
        .collect();
    let want: BTreeSet<String> = DNS_NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(queries, want);
    let answered = events
        .iter()
        .filter(|e| matches!(e, Event::Dns(d) if !d.answers.is_empty()))
        .count();
    assert_eq!(answered, DNS_NAMES.len());

    // conn.log: one row per truth row, same 5-tuple, state and bytes.
    let conns: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Conn(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(conns.len(), truth.len());
    for (t, a) in truth.iter().zip(&day.activities) {
        let hits: Vec<_> = conns
            .iter()
            .filter(|c| {
                c.meta.id.orig_h == v4(t.orig_h)
                    && c.meta.id.orig_p == t.orig_p
                    && c.meta.id.resp_h == v4(t.resp_h)
                    && c.meta.id.resp_p == t.resp_p
                    && c.meta.id.proto.zeek_name() == t.proto
            })
            .collect();
        assert_eq!(hits.len(), 1, "one conn row for {t:?}");
        let c = hits[0];
        assert_eq!(c.meta.ts.0, t.ts_us, "conn ts is the planned start");
        assert_eq!(c.missed_bytes, 0);
        match a {
            Activity::Tcp(tc) => {
                assert_eq!(c.meta.id.proto, Transport::Tcp);
                let (o, r) = bytes_by_side(tc);
                assert_eq!((c.orig_bytes, c.resp_bytes), (Some(o), Some(r)), "{t:?}");
                let want = match tc.close {
                    Close::ClientRst => ConnState::RSTO,
                    _ => ConnState::SF,
                };
                assert_eq!(c.conn_state, want, "{t:?} history {}", c.history);
            }
            Activity::Udp(u) => {
                assert_eq!(c.meta.id.proto, Transport::Udp);
                let r = u.reply.as_ref().map_or(0, |r| r.1.len() as u64);
                assert_eq!(
                    (c.orig_bytes, c.resp_bytes),
                    (Some(u.request.len() as u64), Some(r))
                );
                assert_eq!(c.conn_state, ConnState::SF);
            }
        }
    }
}

#[test]
fn reference_day_decodes_to_what_was_planned() {
    check_day(42, &NetConfig::default());
}

#[test]
fn other_seeds_decode_the_same() {
    for seed in [1, 2, 3, 0xdead_beef] {
        check_day(seed, &NetConfig::default());
    }
}

#[test]
fn sequence_wrap_decodes_the_same() {
    let cfg = NetConfig {
        fixed_isn: Some((u32::MAX - 3000, u32::MAX - 100_000)),
        ..NetConfig::default()
    };
    check_day(9, &cfg);
}

#[test]
fn truth_rows_follow_the_plan() {
    let day = day(42);
    let mut bytes = Vec::new();
    let truth = render_pcap(&day, &mut bytes);
    assert_eq!(truth.len(), day.activities.len());
    for (t, a) in truth.iter().zip(&day.activities) {
        assert_eq!(t.pcap, day.name);
        assert_eq!(t.orig_h, day.host);
        assert!((1025..=5000).contains(&t.orig_p));
        assert_eq!(t.ts_us, a.ts_us());
        match a {
            Activity::Tcp(c) => {
                assert_eq!(
                    (t.resp_h, t.resp_p, t.proto, t.class),
                    (c.server, c.port, "tcp", c.class)
                );
            }
            Activity::Udp(u) => {
                assert_eq!(
                    (t.resp_h, t.resp_p, t.proto, t.class),
                    (u.server, u.port, "udp", u.class)
                );
            }
        }
    }
    let ports: BTreeSet<u16> = truth.iter().map(|t| t.orig_p).collect();
    assert_eq!(ports.len(), truth.len(), "a port per connection");
}
