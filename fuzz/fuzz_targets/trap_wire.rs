#![no_main]
//! The trap's framing of untrusted client bytes: command lines (our
//! `find_line`, then `smtp_proto::Request::parse`, then what the session
//! record keeps of the line: AUTH redaction, paths as sent, `SIZE=` and
//! BDAT sizes read exactly), AUTH exchanges fed every following line as a
//! SASL response, and the DATA stream decoder, which must give the same
//! message however the bytes are split into reads and end only at
//! `<CRLF>.<CRLF>` (SMTP smuggling).
use botscope_trap::auth::{response_token, AuthLine, Exchange, Next};
use botscope_trap::wire::{
    bdat_size, find_line, line_for_record, path_as_sent, size_param, verb_as_sent, DataDecoder,
    LineEnd,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let max = 512 + usize::from(sel) * 16;
    // Commands until the first DATA line, as the session does.
    let mut buf = rest;
    let mut exchange: Option<Exchange> = None;
    loop {
        match find_line(buf, max) {
            LineEnd::Line(n) => {
                assert!(n >= 1 && n <= buf.len() && n <= max);
                let line = &buf[..n];
                assert_eq!(line.last(), Some(&b'\n'));
                let verb = verb_as_sent(line);
                assert!(verb.len() <= 16);
                let shown = line_for_record(line, 256);
                assert!(shown.chars().count() <= 256);
                if let Some(mut ex) = exchange.take() {
                    // Inside an exchange a line is a SASL response only.
                    if let Next::Challenge(_) = ex.respond(response_token(line)) {
                        exchange = Some(ex);
                    }
                    buf = &buf[n..];
                    continue;
                }
                if let Some(a) = AuthLine::parse(line) {
                    // The record keeps `AUTH` and a registered mechanism
                    // name, never anything else of the line.
                    let rec = a.for_record();
                    assert!(rec.len() <= 4 + 1 + 20, "{rec:?}");
                    assert!(rec.get(..4).is_some_and(|v| v.eq_ignore_ascii_case("AUTH")));
                    if let Some(m) = a.known_mechanism() {
                        assert!(m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
                    }
                    if let (true, Some(m)) = (a.is_command, a.mechanism) {
                        let record = sel & 1 == 1;
                        let (ex, next) =
                            Exchange::start(m, a.initial_response, record, || "<1@x>".into());
                        if !record {
                            assert_eq!(ex.credentials, Default::default());
                        }
                        if let Next::Challenge(_) = next {
                            exchange = Some(ex);
                        }
                    }
                    buf = &buf[n..];
                    continue;
                }
                if let Some(p) = path_as_sent(line) {
                    assert!(p.chars().count() <= 512);
                }
                let _ = size_param(line);
                let _ = bdat_size(line);
                let parsed = smtp_proto::Request::parse(&mut line.iter());
                buf = &buf[n..];
                if matches!(parsed, Ok(smtp_proto::Request::Data)) {
                    break;
                }
            }
            LineEnd::TooLong => {
                assert!(buf.len() >= max);
                match memchr::memchr(b'\n', buf) {
                    Some(i) => buf = &buf[i + 1..],
                    None => return,
                }
            }
            LineEnd::Incomplete => return,
        }
    }
    // The rest is the DATA stream: whole, and in reads of varying size.
    let mut whole = Vec::new();
    let mut d = DataDecoder::new();
    let fed = d.feed(buf, |s| whole.extend_from_slice(s));
    assert!(fed.consumed <= buf.len());
    assert_eq!(d.total, whole.len() as u64);
    assert!(whole.len() <= buf.len());
    let mut split = Vec::new();
    let mut d2 = DataDecoder::new();
    let mut at = 0;
    let mut step = usize::from(sel % 7) + 1;
    let mut done_at = None;
    while at < buf.len() {
        let end = (at + step).min(buf.len());
        let f = d2.feed(&buf[at..end], |s| split.extend_from_slice(s));
        if f.done {
            done_at = Some(at + f.consumed);
            break;
        }
        at = end;
        step = step * 3 % 11 + 1;
    }
    assert_eq!(split, whole);
    assert_eq!(done_at.is_some(), fed.done);
    if let Some(c) = done_at {
        assert_eq!(c, fed.consumed);
    }
    assert_eq!(d2.smuggling, d.smuggling);
    if fed.done {
        // Only `<CRLF>.<CRLF>` ends DATA (or a lone `.` CRLF first of all,
        // right after the DATA line's CRLF).
        let ended = &buf[..fed.consumed];
        assert!(
            ended == b".\r\n" || ended.ends_with(b"\r\n.\r\n"),
            "ended at {:?}",
            &ended[ended.len().saturating_sub(8)..]
        );
    }
});
