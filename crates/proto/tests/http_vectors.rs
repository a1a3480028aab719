//! HTTP analyzer on streams extracted from real captures (by
//! `tests/data/http/extract.py`), compared with Zeek's own logs
//! (`../shared/data/zeek-baselines`) and with what tshark reports for
//! the same captures (values written down below).

mod http_support;

use botscope_event::{Event, Http};
use botscope_proto::http::HttpAnalyzer;
use botscope_proto::ProtoConfig;
use http_support::{load, run, shared, z, zeek_log, zset, Feed, Vector};

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

/// Events of a vector; whole records, random pieces and 1..3-byte pieces
/// must give identical events.
fn https_checked(rel: &str) -> Vec<Http> {
    let v = load(rel);
    let whole = https(&v, Feed::Whole);
    let random = https(&v, Feed::Random(0x9e37_79b9_7f4a_7c15, 700));
    assert_eq!(
        whole, random,
        "{rel}: random pieces differ from whole records"
    );
    let small = https(&v, Feed::Random(7, 3));
    assert_eq!(
        whole, small,
        "{rel}: 1..3-byte pieces differ from whole records"
    );
    whole
}

/// (method, uri, status, response_body_len) as tshark reports them.
fn assert_rows(rows: &[Http], want: &[(&str, &str, u16, u64)]) {
    assert_eq!(rows.len(), want.len(), "row count");
    for (i, (h, w)) in rows.iter().zip(want).enumerate() {
        assert_eq!(h.trans_depth as usize, i + 1);
        assert_eq!(h.method.as_deref(), Some(w.0), "row {i}");
        assert_eq!(h.uri.as_deref(), Some(w.1), "row {i}");
        assert_eq!(h.status_code, Some(w.2), "row {i}");
        assert_eq!(h.response_body_len, w.3, "row {i} {}", w.1);
    }
}

#[test]
fn pipelined_requests_match_zeek() {
    let rows = https_checked("http/pipelined-0.bsv");
    let Some(dir) = shared(
        "zeek-baselines/zeek-http-pipelined-requests/scripts.base.protocols.http.http-pipelining",
    ) else {
        return;
    };
    let zeek = zeek_log(&dir.join("http.log"));
    assert_eq!(rows.len(), zeek.len());
    for (h, z_row) in rows.iter().zip(&zeek) {
        assert_eq!(h.trans_depth.to_string(), z_row["trans_depth"]);
        assert_eq!(z(&h.method), z_row["method"]);
        assert_eq!(z(&h.host), z_row["host"]);
        assert_eq!(z(&h.uri), z_row["uri"]);
        assert_eq!(z(&h.referrer), z_row["referrer"]);
        assert_eq!(z(&h.version), z_row["version"]);
        assert_eq!(z(&h.user_agent), z_row["user_agent"]);
        assert_eq!(h.request_body_len.to_string(), z_row["request_body_len"]);
        assert_eq!(
            h.status_code.map(|c| c.to_string()).unwrap_or_default(),
            z_row["status_code"]
        );
        assert_eq!(z(&h.status_msg), z_row["status_msg"]);
        // Lengths and magic are of the decoded content, as in Zeek (the
        // first two responses are gzip: 946 and 6716 bytes on the wire).
        assert_eq!(h.response_body_len.to_string(), z_row["response_body_len"]);
        assert_eq!(zset(&h.resp_mime_types), z_row["resp_mime_types"]);
    }
    assert_eq!(rows[0].response_body_len, 2675);
    assert_eq!(rows[1].response_body_len, 21421);
    assert_eq!(rows[0].resp_mime_types, ["text/plain"]);
    assert_eq!(rows[2].response_body_len, 94);
    assert_eq!(rows[2].resp_mime_types, ["image/gif"]);
}

#[test]
fn m57_partial_content_matches_zeek() {
    // Every packet of this trace is captured twice: duplicates are trimmed
    // by the stream layer (here, the extractor), as Zeek's reassembler does.
    let rows = https_checked("http/m57-0.bsv");
    assert_rows(
        &rows,
        &[
            (
                "GET",
                "/msdownload/update/software/secu/2009/07/windows6.0-kb971657-x86_d80725113915f67a2693bd66a9307243fa3f8e2c.psf",
                206,
                14576,
            ),
            (
                "GET",
                "/msdownload/update/software/secu/2009/08/windows6.0-kb967723-x86_16e93210ffe3ebc84c10663eb438a1c6a378c840.psf",
                206,
                6285,
            ),
            (
                "GET",
                "/msdownload/update/software/secu/2009/09/windows6.0-kb974455-x86_9aaeb6b9d0769b3dd3e6f4a5e1440a6cd223674c.psf",
                206,
                77046,
            ),
        ],
    );
    let Some(dir) = shared("zeek-baselines/zeek-http-m57-long-49583-80/scripts.base.protocols.http.m57-long-download-windowsupdate-1")
    else {
        return;
    };
    let zeek = zeek_log(&dir.join("http.log.cut"));
    assert_eq!(rows.len(), zeek.len());
    for (h, z_row) in rows.iter().zip(&zeek) {
        assert_eq!(z(&h.host), z_row["host"]);
        assert_eq!(z(&h.uri), z_row["uri"]);
        assert_eq!(z(&h.user_agent), z_row["user_agent"]);
        assert_eq!(z(&h.status_msg), z_row["status_msg"]);
        assert_eq!(h.response_body_len.to_string(), z_row["response_body_len"]);
        assert!(!h.resp_body_incomplete);
    }
}

#[test]
fn bro_org_keep_alive_matches_tshark() {
    let rows = https_checked("http/bro-org-0.bsv");
    assert_rows(
        &rows,
        &[
            ("GET", "/", 200, 15961),
            ("GET", "/css/pygments.css", 200, 2957),
            ("GET", "/js/jquery.tweet.js", 200, 8894),
            ("GET", "/js/superfish.js", 200, 3833),
            ("GET", "/images/bro-eyes.png", 200, 46415),
            ("GET", "/images/to-top.gif", 200, 172),
            ("GET", "/js/breadcrumbs.js", 200, 3180),
        ],
    );
    assert!(rows.iter().all(|h| h.host.as_deref() == Some("bro.org")));
    assert_eq!(rows[0].resp_mime_types, ["text/html"]);
    assert_eq!(rows[4].resp_mime_types, ["image/png"]);
    assert_eq!(rows[1].referrer.as_deref(), Some("http://bro.org/"));
    let rows = https_checked("http/bro-org-1.bsv");
    assert_rows(
        &rows,
        &[
            ("GET", "/css/print.css", 200, 334),
            ("GET", "/js/jquery.zrssfeed.js", 200, 3325),
            ("GET", "/images/logo-icsi.png", 200, 5686),
            ("GET", "/images/logo-nsf.jpg", 200, 186859),
            ("GET", "/download/index.html", 200, 26270),
            ("GET", "/images/logo-bro.png", 200, 10869),
        ],
    );
    assert_eq!(rows[3].resp_mime_types, ["image/jpeg"]);
    let h = &rows[3];
    assert_eq!(h.resp_body_prefix.len(), 512);
    assert_eq!(h.resp_body_sha256, None, "an image is not a download");
}

#[test]
fn sanders_http_matches_tshark() {
    let rows = https_checked("http/sanders-ppa1e-0.bsv");
    assert_rows(&rows, &[("GET", "/download.html", 200, 18070)]);
    assert_eq!(rows[0].host.as_deref(), Some("www.ethereal.com"));
    assert_eq!(
        rows[0].referrer.as_deref(),
        Some("http://www.ethereal.com/development.html")
    );
    assert_eq!(
        rows[0].resp_content_type.as_deref(),
        Some("text/html; charset=ISO-8859-1")
    );
    let rows = https_checked("http/sanders-ppa1e-1.bsv");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].host.as_deref(),
        Some("pagead2.googlesyndication.com")
    );
    // gzip: 1272 bytes on the wire, 3608 decoded (tshark's
    // "Content-encoded entity body (gzip): 1272 bytes -> 3608 bytes").
    assert_eq!(rows[0].response_body_len, 3608);
}

#[test]
fn compromised_site_chunked_and_gap() {
    let rows = https_checked("http/compromised-site-0.bsv");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].host.as_deref(), Some("www.annaharrison.com"));
    let r = rows[0].referrer.as_deref().unwrap_or_default();
    assert!(r.starts_with("http://www.google.co.uk/url?"), "{r}");
    // Chunked: the logged length is the de-chunked length.
    assert_eq!(rows[0].resp_mime_types, ["text/html"]);
    assert!(!rows[0].resp_body_incomplete);
    // A segment of the second response body is missing from the capture:
    // its bytes still count and the body is marked incomplete.
    assert_eq!(rows[1].response_body_len, 733);
    assert!(rows[1].resp_body_incomplete);
    assert_eq!(rows[2].response_body_len, 34152);
    assert_eq!(rows[2].resp_mime_types, ["image/jpeg"]);
}

#[test]
fn emotet_c2_posts_with_gaps() {
    let rows = https_checked("http/emotet-0.bsv");
    assert_eq!(rows.len(), 2);
    for h in &rows {
        assert_eq!(h.method.as_deref(), Some("POST"));
        assert_eq!(h.host.as_deref(), Some("74.120.55.163"));
        assert!(h
            .req_content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("multipart/form-data; boundary=")));
        assert!(h
            .user_agent
            .as_deref()
            .is_some_and(|u| u.starts_with("Mozilla/4.0 (compatible; MSIE 7.0;")));
    }
    // Request bodies: tshark's Content-Length (4772, 4788), plus the 2
    // bytes Zeek adds to a multipart body that does not end in a line
    // break (it counts each line with its CRLF, the last one too).
    assert_eq!(rows[0].request_body_len, 4772 + 2);
    assert_eq!(rows[1].request_body_len, 4788 + 2);
    assert!(rows[0]
        .req_body_prefix
        .starts_with(b"\r\n-----------------------------887112469033623"));
    // The response body lost segments: Content-Length still counted.
    assert_eq!(rows[0].status_code, Some(200));
    assert_eq!(rows[0].response_body_len, 142628);
    assert!(rows[0].resp_body_incomplete);
    // The capture ends before the second response.
    assert_eq!(rows[1].status_code, None);
}

#[test]
fn infostealer_dll_downloads() {
    // Bodies were thinned to 4 KiB (the rest turned into gaps) to keep the
    // vector small: lengths still match tshark's Content-Length values.
    let rows = https_checked("http/infostealer-0.bsv");
    assert_rows(
        &rows,
        &[
            // gzip-encoded (tshark: 36 bytes -> 29 bytes): decoded length.
            ("POST", "/288", 200, 29),
            ("GET", "/freebl3.dll", 200, 334288),
            ("GET", "/mozglue.dll", 200, 137168),
            ("GET", "/msvcp140.dll", 200, 440120),
            ("GET", "/nss3.dll", 200, 1246160),
            ("GET", "/softokn3.dll", 200, 144848),
            ("GET", "/vcruntime140.dll", 200, 83784),
            // gzip-encoded (tshark: 22 bytes -> 2 bytes).
            ("POST", "/", 200, 2),
        ],
    );
    for h in &rows[1..7] {
        assert_eq!(h.resp_mime_types, ["application/x-dosexec"], "{:?}", h.uri);
        assert_eq!(
            h.resp_content_type.as_deref(),
            Some("application/x-msdos-program")
        );
        assert!(h.resp_body_prefix.starts_with(b"MZ"));
        assert_eq!(h.host.as_deref(), Some("eroomia.com"));
    }
    assert_eq!(rows[0].request_body_len, 25);
    assert_eq!(rows[7].request_body_len, 134727);
}
