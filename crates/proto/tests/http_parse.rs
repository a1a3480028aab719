//! HTTP analyzer on hand-written byte vectors: framing, pairing, gaps,
//! malformed input, caps, and a seeded random no-panic test. Every vector
//! is fed whole, one byte per call and in random pieces, and must give the
//! same events each way.

mod http_support;

use botscope_event::{Event, Http, Ts, Weird};
use botscope_proto::http::{probe, HttpAnalyzer};
use botscope_proto::{Dir, Probe, ProtoConfig, Status};
use http_support::{run, vector, xorshift, Feed, Rec, Vector};
use sha2::{Digest, Sha256};

use Dir::{Orig as O, Resp as R};

fn run_cfg(cfg: &ProtoConfig, v: &Vector, feed: Feed) -> (Vec<Event>, Option<Status>) {
    let mut an = HttpAnalyzer::new(cfg);
    let out = run(&mut an, cfg, v, feed);
    (out.events, out.stopped)
}

/// Run whole, bytewise and in random pieces; all must agree.
fn check_cfg(cfg: &ProtoConfig, v: &Vector) -> (Vec<Http>, Vec<Weird>, Option<Status>) {
    let (whole, st) = run_cfg(cfg, v, Feed::Whole);
    let (bytewise, st_b) = run_cfg(cfg, v, Feed::Bytewise);
    assert_eq!(whole, bytewise, "bytewise feeding differs");
    assert_eq!(st, st_b);
    for seed in 1..4u64 {
        let (rnd, _) = run_cfg(cfg, v, Feed::Random(seed, 9));
        assert_eq!(whole, rnd, "random pieces (seed {seed}) differ");
    }
    let mut https = Vec::new();
    let mut weirds = Vec::new();
    for e in whole {
        match e {
            Event::Http(h) => https.push(h),
            Event::Weird(w) => weirds.push(w),
            // files.log rows: checked by `bodies_are_files`.
            Event::File(_) => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
    (https, weirds, st)
}

fn check(parts: &[(Dir, &[u8])]) -> (Vec<Http>, Vec<Weird>) {
    let (h, w, _) = check_cfg(&ProtoConfig::default(), &vector(parts));
    (h, w)
}

fn names(w: &[Weird]) -> Vec<&str> {
    w.iter().map(|w| w.name.as_str()).collect()
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[test]
fn simple_get() {
    let (h, w) = check(&[
        (
            O,
            b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: bot/1.0\r\nReferer: http://r/\r\nOrigin: http://o\r\nX-Forwarded-For: 1.2.3.4\r\nVia: 1.1 proxy\r\nAuthorization: Basic dXNlcjpzZWNyZXQ=\r\n\r\n",
        ),
        (
            R,
            b"HTTP/1.1 302 Found\r\nLocation: http://next/\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<html></html>",
        ),
    ]);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(h.len(), 1);
    let h = &h[0];
    assert_eq!(h.meta.map(|m| m.ts), Some(Ts(1_000_000)));
    assert_eq!(h.trans_depth, 1);
    assert_eq!(h.method.as_deref(), Some("GET"));
    assert_eq!(h.host.as_deref(), Some("example.com:8080"));
    assert_eq!(h.uri.as_deref(), Some("/index.html?q=1"));
    assert_eq!(h.version.as_deref(), Some("1.1"));
    assert_eq!(h.user_agent.as_deref(), Some("bot/1.0"));
    assert_eq!(h.referrer.as_deref(), Some("http://r/"));
    assert_eq!(h.origin.as_deref(), Some("http://o"));
    assert_eq!(h.username.as_deref(), Some("user"));
    assert_eq!(h.password, None);
    assert_eq!(
        h.proxied,
        ["X-FORWARDED-FOR -> 1.2.3.4", "VIA -> 1.1 proxy"]
    );
    assert_eq!(h.status_code, Some(302));
    assert_eq!(h.status_msg.as_deref(), Some("Found"));
    assert_eq!(h.location.as_deref(), Some("http://next/"));
    assert_eq!(h.resp_content_type.as_deref(), Some("text/html"));
    assert_eq!(h.response_body_len, 13);
    assert_eq!(h.resp_body_prefix, b"<html></html>");
    // A page is measured and typed, not hashed (only downloads are).
    assert_eq!(h.resp_body_sha256, None);
    assert_eq!(h.resp_mime_types, ["text/html"]);
    assert_eq!(h.request_body_len, 0);
    assert_eq!(h.req_body_sha256, None);
    assert!(!h.resp_body_incomplete);
}

#[test]
fn post_body_and_bare_lf() {
    let (h, _) = check(&[
        (O, b"POST /gate.php HTTP/1.0\nContent-Type: application/octet-stream\nContent-Length: 6\n\nMZ\x90\x00\x03\x00"),
        (R, b"HTTP/1.0 200 OK\n\nok"),
    ]);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].version.as_deref(), Some("1.0"));
    assert_eq!(h[0].request_body_len, 6);
    assert_eq!(
        h[0].req_content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(h[0].orig_mime_types, ["application/x-dosexec"]);
    assert_eq!(h[0].req_body_prefix, b"MZ\x90\x00\x03\x00");
    // No length on the response: read until close.
    assert_eq!(h[0].response_body_len, 2);
    assert!(!h[0].resp_body_incomplete);
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let body = b"hello, world! this is chunked";
    let (h, w) = check(&[
        (O, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        (
            R,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n8 ; name=\"v\"\r\n, world!\r\n10\r\n this is chunked\r\n0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n",
        ),
        (O, b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"),
        (R, b"HTTP/1.1 204 No Content\r\n\r\n"),
    ]);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].response_body_len, body.len() as u64);
    assert_eq!(h[0].resp_body_prefix, body);
    assert_eq!(h[0].resp_body_sha256, None, "text is not hashed");
    assert_eq!(h[1].status_code, Some(204));
    assert_eq!(h[1].trans_depth, 2);
}

#[test]
fn pipelined_pairing_in_order() {
    let (h, _) = check(&[
        (O, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
        (
            R,
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\naaaHTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
        ),
    ]);
    let got: Vec<_> = h
        .iter()
        .map(|h| {
            (
                h.trans_depth,
                h.uri.clone().unwrap_or_default(),
                h.status_code,
                h.response_body_len,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "/a".to_string(), Some(200), 3),
            // HEAD: Content-Length describes a body that is not sent.
            (2, "/b".to_string(), Some(200), 0),
            (3, "/c".to_string(), Some(404), 2),
        ]
    );
}

#[test]
fn interim_100_continue() {
    let (h, _) = check(&[
        (
            O,
            b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        ),
        (R, b"HTTP/1.1 100 Continue\r\n\r\n"),
        (O, b"data"),
        (R, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].info_code, Some(100));
    assert_eq!(h[0].info_msg.as_deref(), Some("Continue"));
    assert_eq!(h[0].status_code, Some(201));
    assert_eq!(h[0].request_body_len, 4);
}

#[test]
fn no_body_statuses() {
    let (h, _) = check(&[
        (O, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"),
        (
            R,
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        ),
    ]);
    let st: Vec<_> = h
        .iter()
        .map(|h| (h.status_code, h.response_body_len))
        .collect();
    assert_eq!(st, [(Some(304), 0), (Some(204), 0), (Some(200), 1)]);
}

#[test]
fn connect_switches_to_tunnel() {
    let v = vector(&[
        (
            O,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        ),
        (
            R,
            b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01\x00\x05hello",
        ),
        (O, b"\x16\x03\x01\x02\x00"),
    ]);
    let (h, _, st) = check_cfg(&ProtoConfig::default(), &v);
    assert_eq!(st, Some(Status::Done));
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].method.as_deref(), Some("CONNECT"));
    assert_eq!(h[0].status_code, Some(200));
    assert_eq!(h[0].response_body_len, 0);
}

#[test]
fn response_without_request_is_logged() {
    let (h, w) = check(&[(R, b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nxx")]);
    assert_eq!(names(&w), ["unmatched_HTTP_reply"]);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].method, None);
    assert_eq!(h[0].status_code, Some(500));
    assert_eq!(h[0].response_body_len, 2);
}

#[test]
fn unanswered_and_cut_off_at_finish() {
    let (h, _) = check(&[
        (O, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
        (
            R,
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-this",
        ),
    ]);
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].uri.as_deref(), Some("/a"));
    assert_eq!(h[0].response_body_len, 9);
    assert!(h[0].resp_body_incomplete);
    assert_eq!(h[1].uri.as_deref(), Some("/b"));
    assert_eq!(h[1].status_code, None);
}

#[test]
fn lenient_fallback_for_bad_header_bytes() {
    // A control byte in a value and obsolete line folding: httparse
    // rejects these, the fallback keeps the fields.
    let (h, _) = check(&[
        (
            O,
            b"GET /x HTTP/1.1\r\nHost: evil\x01host\r\nUser-Agent: Mozilla/4.0\r\n (compatible; folded)\r\nBadHeaderNoColon\r\n\r\n",
        ),
        (R, b"HTTP/1.1 200 OK\r\nX-Bad: \x7f\x00\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].host.as_deref(), Some("evil\u{1}host"));
    assert_eq!(
        h[0].user_agent.as_deref(),
        Some("Mozilla/4.0 (compatible; folded)")
    );
    assert_eq!(h[0].response_body_len, 2);
    // Odd request line (no version): HTTP/0.9 style, spaces in the URI.
    // As Zeek reads it, the URI runs to the last whitespace before where
    // the version would be, and the whole answer is the body.
    let (h, _) = check(&[
        (O, b"GET /a b c\r\n\r\n"),
        (R, b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].uri.as_deref(), Some("/a b"));
    assert_eq!(h[0].version.as_deref(), Some("0.9"));
    assert_eq!(h[0].status_code, Some(0));
    assert_eq!(h[0].response_body_len, 38);
}

#[test]
fn invalid_utf8_is_escaped() {
    let (h, _) = check(&[(
        O,
        b"GET /\xff\xfe HTTP/1.1\r\nUser-Agent: \xc3\xa9t\xe9\r\n\r\n",
    )]);
    assert_eq!(h[0].uri.as_deref(), Some("/\\xff\\xfe"));
    assert_eq!(h[0].user_agent.as_deref(), Some("\u{e9}t\\xe9"));
}

#[test]
fn absurd_and_negative_content_length() {
    for cl in [&b"99999999999999999999"[..], b"-5", b"12abc", b"5, 6"] {
        let mut req = b"POST / HTTP/1.1\r\nContent-Length: ".to_vec();
        req.extend_from_slice(cl);
        req.extend_from_slice(b"\r\n\r\n");
        let (h, w) = check(&[
            (O, &req),
            (R, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ]);
        assert!(
            names(&w).contains(&"HTTP_bad_content_length"),
            "{cl:?}: {w:?}"
        );
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].request_body_len, 0);
        assert_eq!(h[0].status_code, Some(200));
    }
    // Response side: Zeek takes an unparsable length as 0.
    let (h, w) = check(&[
        (O, b"GET / HTTP/1.1\r\n\r\n"),
        (
            R,
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        ),
    ]);
    assert_eq!(names(&w), ["HTTP_bad_content_length"]);
    assert_eq!(h[0].response_body_len, 0);
}

#[test]
fn chunk_size_overflow_and_junk() {
    for size in [&b"ffffffffffffffffff"[..], b"zz", b"-1"] {
        let mut resp =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n".to_vec();
        resp.extend_from_slice(size);
        resp.extend_from_slice(b"\r\nxxxxxxxxxxxxxxxx\r\n");
        let (h, w) = check(&[(O, b"GET / HTTP/1.1\r\n\r\n"), (R, &resp)]);
        assert!(names(&w).contains(&"HTTP_bad_chunk_size"), "{w:?}");
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].response_body_len, 3);
        assert!(h[0].resp_body_incomplete);
    }
    // Huge but valid chunk size: counted, never allocated.
    let (h, _) = check(&[
        (O, b"GET / HTTP/1.1\r\n\r\n"),
        (
            R,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nabc",
        ),
    ]);
    assert_eq!(h[0].response_body_len, 3);
    assert!(h[0].resp_body_incomplete);
}

#[test]
fn header_cap_and_endless_line() {
    let cfg = ProtoConfig {
        http_max_header_bytes: 256,
        ..ProtoConfig::default()
    };
    let mut req = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    req.extend(std::iter::repeat_n(b'A', 5000));
    req.extend_from_slice(b"\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    let v = vector(&[
        (O, &req),
        (R, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let (h, w, _) = check_cfg(&cfg, &v);
    assert_eq!(names(&w), ["HTTP_header_too_long"]);
    // Resynchronised on the next request line.
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].uri.as_deref(), Some("/after"));
    assert_eq!(h[0].status_code, Some(200));
}

#[test]
fn pending_queue_cap() {
    let cfg = ProtoConfig {
        max_pending: 2,
        ..ProtoConfig::default()
    };
    let v = vector(&[(
        O,
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
    )]);
    let (h, w, _) = check_cfg(&cfg, &v);
    assert_eq!(names(&w), ["HTTP_too_many_pending_requests"]);
    let uris: Vec<_> = h.iter().filter_map(|h| h.uri.as_deref()).collect();
    assert_eq!(uris, ["/1", "/2", "/3"]);
}

#[test]
fn body_prefix_cap() {
    let cfg = ProtoConfig {
        body_prefix_bytes: 4,
        http_hash_all_bodies: true,
        ..ProtoConfig::default()
    };
    let body = vec![b'x'; 10_000];
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n".to_vec();
    resp.extend_from_slice(&body);
    let v = vector(&[(O, b"GET / HTTP/1.1\r\n\r\n"), (R, &resp)]);
    let (h, _, _) = check_cfg(&cfg, &v);
    assert_eq!(h[0].resp_body_prefix, b"xxxx");
    assert_eq!(h[0].response_body_len, 10_000);
    assert_eq!(
        h[0].resp_body_sha256.as_deref(),
        Some(sha_hex(&body).as_str())
    );
    assert_eq!(h[0].resp_mime_types, ["text/plain"]);
}

#[test]
fn request_bodies_keep_a_longer_prefix_than_responses() {
    // What an exploit tells its target to fetch sits past 512 bytes of a
    // SOAP envelope: requests keep 2 KiB by default, responses 512.
    let mut req = b"POST /wls-wsat/x HTTP/1.1\r\nContent-Length: 3000\r\n\r\n".to_vec();
    let mut body = vec![b' '; 3000];
    body[1500..1529].copy_from_slice(b"http://example.test/a.exe    ");
    req.extend_from_slice(&body);
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n".to_vec();
    resp.extend_from_slice(&[b'y'; 3000]);
    let v = vector(&[(O, &req), (R, &resp)]);
    let (h, _, _) = check_cfg(&ProtoConfig::default(), &v);
    assert_eq!(h[0].req_body_prefix.len(), 2048);
    assert!(h[0]
        .req_body_prefix
        .windows(26)
        .any(|w| w == b"http://example.test/a.exe "));
    assert_eq!(h[0].resp_body_prefix.len(), 512);
    assert_eq!(h[0].request_body_len, 3000);
}

#[test]
fn multipart_uploads_and_attachments_name_their_files() {
    // A form upload: the parts' types by content and the file's name.
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n42\r\n--XyZ\r\nContent-Disposition: form-data; name=\"logs\"; filename=\"US_1.zip\"\r\nContent-Type: zip\r\n\r\nPK\x03\x04rest\r\n--XyZ--\r\n";
    let mut req = format!(
        "POST /up HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    let resp = b"HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename=\"test.json\"\r\nContent-Length: 2\r\n\r\n{}";
    let v = vector(&[(O, &req), (R, resp)]);
    let (h, _, _) = check_cfg(&ProtoConfig::default(), &v);
    assert_eq!(h[0].orig_filenames, ["US_1.zip"]);
    assert_eq!(h[0].orig_mime_types, ["text/plain", "application/zip"]);
    assert_eq!(h[0].request_body_len, body.len() as u64);
    assert_eq!(h[0].resp_filenames, ["test.json"]);
}

#[test]
fn bodies_are_files() {
    let req = b"POST /up HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename=a.exe\r\nContent-Length: 4\r\n\r\nMZ\x90\x00";
    let v = vector(&[(O, req), (R, resp)]);
    let files = |v: &Vector| -> Vec<botscope_event::File> {
        run_cfg(&ProtoConfig::default(), v, Feed::Whole)
            .0
            .into_iter()
            .filter_map(|e| match e {
                Event::File(f) => Some(f),
                _ => None,
            })
            .collect()
    };
    let f = files(&v);
    assert_eq!(f.len(), 2, "{f:?}");
    let (up, down) = (&f[0], &f[1]);
    assert!(up.is_orig && !down.is_orig);
    assert_eq!((up.seen_bytes, down.seen_bytes), (5, 4));
    assert_eq!(down.mime_type.as_deref(), Some("application/x-dosexec"));
    assert_eq!(down.filename.as_deref(), Some("a.exe"));
    assert_eq!(down.source, "HTTP");
    assert_eq!(down.depth, 1);
    assert_eq!(
        down.sha256.as_deref(),
        Some(sha_hex(b"MZ\x90\x00").as_str())
    );
    assert!(up.fuid.starts_with('F') && up.fuid.len() == 18 && up.fuid != down.fuid);
    // The same capture gives the same file ids.
    assert_eq!(files(&v)[1].fuid, down.fuid);
}

fn with_gap(mut v: Vector, at: usize, dir: Dir, len: u64) -> Vector {
    v.recs.insert(at, Rec::Gap(dir, Ts(1_000_000), len));
    v
}

#[test]
fn gap_inside_body_of_known_length() {
    let v = vector(&[
        (O, b"GET /f HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n"),
        (
            R,
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nMZ\x90\x00",
        ),
        // 990 bytes missing here.
        (R, b"tail!!HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"),
    ]);
    let v = with_gap(v, 2, R, 990);
    let (h, w, _) = check_cfg(&ProtoConfig::default(), &v);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].response_body_len, 1000);
    assert!(h[0].resp_body_incomplete);
    assert_eq!(h[0].resp_mime_types, ["application/x-dosexec"]);
    // Hash and prefix cover what was seen.
    assert_eq!(h[0].resp_body_prefix, b"MZ\x90\x00");
    assert_eq!(
        h[0].resp_body_sha256.as_deref(),
        Some(sha_hex(b"MZ\x90\x00tail!!").as_str())
    );
    assert_eq!(h[1].uri.as_deref(), Some("/g"));
    assert_eq!(h[1].response_body_len, 1);
    assert!(!h[1].resp_body_incomplete);
}

#[test]
fn gap_in_chunk_data_and_beyond() {
    // Inside chunk data: counted and continued.
    let v = vector(&[
        (O, b"GET / HTTP/1.1\r\n\r\n"),
        (
            R,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01",
        ),
        (R, b"89\r\n0\r\n\r\n"),
    ]);
    let (h, _, _) = check_cfg(&ProtoConfig::default(), &with_gap(v, 2, R, 6));
    assert_eq!(h[0].response_body_len, 10);
    assert!(h[0].resp_body_incomplete);
    // A gap larger than the body: resync on the next status line.
    let v = vector(&[
        (O, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
        (R, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01"),
        (
            R,
            b"e of some line\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        ),
    ]);
    let (h, _, _) = check_cfg(&ProtoConfig::default(), &with_gap(v, 2, R, 500));
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].response_body_len, 10);
    assert!(h[0].resp_body_incomplete);
    assert_eq!(h[1].status_code, Some(404));
}

#[test]
fn gap_in_headers_resyncs_on_next_request() {
    let v = vector(&[
        (O, b"GET /lost HTTP/1.1\r\nHost: a\r\nUser-Ag"),
        (
            O,
            b"ent: x\r\n\r\nPOST /next HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
        ),
        (R, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let (h, w, _) = check_cfg(&ProtoConfig::default(), &with_gap(v, 1, O, 20));
    assert_eq!(names(&w), ["HTTP_gap_in_header"]);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].method.as_deref(), Some("POST"));
    assert_eq!(h[0].uri.as_deref(), Some("/next"));
    assert_eq!(h[0].request_body_len, 2);
    // A gap right before a request line: nothing lost of the next one.
    let v = vector(&[
        (O, b"GET /a HTTP/1.1\r\n\r\n"),
        (O, b"GET /b HTTP/1.1\r\n\r\n"),
    ]);
    let (h, _, _) = check_cfg(&ProtoConfig::default(), &with_gap(v, 1, O, 77));
    let uris: Vec<_> = h.iter().filter_map(|h| h.uri.as_deref()).collect();
    assert_eq!(uris, ["/a", "/b"]);
}

#[test]
fn garbage_and_binary_input() {
    let mut bin = Vec::new();
    let mut s = 0x1234_5678_u64;
    for _ in 0..4096 {
        bin.push(xorshift(&mut s) as u8);
    }
    let (h, w) = check(&[(O, &bin), (R, &bin)]);
    assert!(
        h.is_empty()
            || h.iter()
                .all(|h| h.method.is_some() || h.status_code.is_some())
    );
    assert!(!w.is_empty());
    let (h, w) = check(&[
        (O, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n\n"),
        (R, b"SSH-2.0-OpenSSH\r\n"),
    ]);
    assert!(h.is_empty());
    assert_eq!(names(&w), ["bad_HTTP_request", "bad_HTTP_reply"]);
}

#[test]
fn probe_answers() {
    assert_eq!(probe(O, b"GET / HTTP/1.1\r\n"), Probe::Certain);
    assert_eq!(probe(O, b"PROPFIND /dav HTTP/1.1\r\n"), Probe::Certain);
    assert_eq!(probe(O, b"POST /x"), Probe::Unsure);
    assert_eq!(probe(O, b"P"), Probe::Unsure);
    // Any method token, as Zeek's HTTP analyzer (lower case included).
    assert_eq!(probe(O, b"post / HTTP/1.1\r\n"), Probe::Certain);
    assert_eq!(probe(O, b"EHLO mail\r\n"), Probe::NotForUs);
    assert_eq!(probe(O, b""), Probe::Unsure);
    assert_eq!(probe(R, b"HTTP/1.0 404 Not Found\r\n"), Probe::Certain);
    assert_eq!(probe(R, b"HTTP/1."), Probe::Unsure);
    assert_eq!(probe(R, b"220 mail ESMTP\r\n"), Probe::NotForUs);
}

/// Random bytes, random valid-looking fragments, random gaps: no panic,
/// and piece size never changes the events.
#[test]
fn random_input_never_panics() {
    const FRAGS: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"\r\n",
        b"5\r\nhello\r\n",
        b"0\r\n\r\n",
        b"ffffffffffffffffff\r\n",
        b"HEAD /x HTTP/1.0\r\n",
        b"CONNECT a:1 HTTP/1.1\r\n",
        b"Host: x\r\n",
        b"\x00\xff\x80",
    ];
    let cfg = ProtoConfig {
        http_max_header_bytes: 512,
        max_pending: 4,
        body_prefix_bytes: 16,
        ..ProtoConfig::default()
    };
    let mut s = 0xdead_beef_cafe_f00d_u64;
    for round in 0..300 {
        let mut recs = Vec::new();
        for _ in 0..(xorshift(&mut s) % 20) {
            let dir = if xorshift(&mut s).is_multiple_of(2) {
                O
            } else {
                R
            };
            match xorshift(&mut s) % 8 {
                0 => recs.push(Rec::Gap(dir, Ts(round), xorshift(&mut s) % 2000)),
                1 | 2 => {
                    let n = (xorshift(&mut s) % 600) as usize;
                    let bytes = (0..n).map(|_| xorshift(&mut s) as u8).collect();
                    recs.push(Rec::Data(dir, Ts(round), bytes));
                }
                _ => {
                    let mut bytes = Vec::new();
                    for _ in 0..(1 + xorshift(&mut s) % 6) {
                        bytes.extend_from_slice(FRAGS[(xorshift(&mut s) as usize) % FRAGS.len()]);
                    }
                    recs.push(Rec::Data(dir, Ts(round), bytes));
                }
            }
        }
        let v = Vector {
            id: http_support::test_id(),
            recs,
        };
        let (whole, _) = run_cfg(&cfg, &v, Feed::Whole);
        let (pieces, _) = run_cfg(&cfg, &v, Feed::Random(round as u64 + 1, 5));
        assert_eq!(whole, pieces, "round {round}");
    }
}

/// Only downloads are hashed, and their hash covers every byte however
/// the body arrives: split into small segments, the decision waits for
/// the magic bytes, then hashes what it held and the rest.
#[test]
fn downloads_hashed_in_pieces_pages_not() {
    let mut exe = b"MZ\x90\x00\x03\x00".to_vec();
    exe.extend((0..3000u32).map(|i| (i * 7 % 251) as u8));
    let page = b"<html><body>".repeat(100);
    let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", exe.len()).into_bytes();
    resp.extend_from_slice(&exe);
    resp.extend_from_slice(
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", page.len()).as_bytes(),
    );
    resp.extend_from_slice(&page);
    let mut recs: Vec<(Dir, &[u8])> =
        vec![(O, b"GET /a.exe HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")];
    recs.extend(resp.chunks(97).map(|c| (R, c)));
    let v = vector(&recs);
    let (h, w, _) = check_cfg(&ProtoConfig::default(), &v);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].resp_mime_types, ["application/x-dosexec"]);
    assert_eq!(
        h[0].resp_body_sha256.as_deref(),
        Some(sha_hex(&exe).as_str())
    );
    assert_eq!(h[1].resp_mime_types, ["text/html"]);
    assert_eq!(h[1].resp_body_sha256, None);
    // Asked for, every body is hashed.
    let all = ProtoConfig {
        http_hash_all_bodies: true,
        ..ProtoConfig::default()
    };
    let (h, _, _) = check_cfg(&all, &v);
    assert_eq!(
        h[0].resp_body_sha256.as_deref(),
        Some(sha_hex(&exe).as_str())
    );
    assert_eq!(
        h[1].resp_body_sha256.as_deref(),
        Some(sha_hex(&page).as_str())
    );
}

/// A download shorter than the magic window is hashed when it ends.
#[test]
fn short_download_hashed_at_its_end() {
    let v = vector(&[
        (O, b"GET /x HTTP/1.1\r\n\r\n"),
        (
            R,
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPK\x03\x04\x00\x01",
        ),
    ]);
    let (h, _, _) = check_cfg(&ProtoConfig::default(), &v);
    assert_eq!(h[0].resp_mime_types, ["application/zip"]);
    assert_eq!(
        h[0].resp_body_sha256.as_deref(),
        Some(sha_hex(b"PK\x03\x04\x00\x01").as_str())
    );
}
