//! HTTP analyzer on streams extracted from real captures, compared with
//! Zeek's own logs (`/work/shared/data/zeek-baselines`) and with values
//! tshark reports for the same captures.

mod http_support;

use botscope_event::{Event, Http};
use botscope_proto::http::HttpAnalyzer;
use botscope_proto::ProtoConfig;
use http_support::{load, run, shared, z, zeek_log, Feed, Vector};

fn https(v: &Vector, feed: Feed) -> Vec<Http> {
    let cfg = ProtoConfig::default();
    let mut an = HttpAnalyzer::new(&cfg);
    run(&mut an, &cfg, v, feed)
        .events
        .into_iter()
        .filter_map(|e| match e {
            Event::Http(h) => Some(h),
            _ => None,
        })
        .collect()
}

/// Whole records, single bytes and random pieces give the same events.
fn https_checked(rel: &str) -> Vec<Http> {
    let v = load(rel);
    let whole = https(&v, Feed::Whole);
    let random = https(&v, Feed::Random(0x9e37_79b9_7f4a_7c15, 700));
    assert_eq!(whole, random, "{rel}: random pieces differ from whole records");
    let small = https(&v, Feed::Random(7, 3));
    assert_eq!(whole, small, "{rel}: 1..3-byte pieces differ from whole records");
    whole
}

#[test]
fn dump() {
    for f in ["pipelined-0", "m57-0", "sanders-ppa1e-0", "sanders-ppa1e-1", "bro-org-0", "bro-org-1", "compromised-site-0", "emotet-0", "infostealer-0"] {
        let v = load(&format!("http/{f}.bsv"));
        for h in https(&v, Feed::Whole) {
            eprintln!("{f}: {} {} {:?} {:?} {:?} ref={:?} ua={:?} req={} resp={} {:?} {:?} mime={:?}/{:?} inc={} ct={:?}", h.trans_depth, h.meta.unwrap().ts, h.method, h.host, h.uri, h.referrer, h.user_agent.as_deref().map(|s| &s[..s.len().min(20)]), h.request_body_len, h.response_body_len, h.status_code, h.status_msg, h.orig_mime_types, h.resp_mime_types, h.resp_body_incomplete, h.resp_content_type);
        }
    }
}
