//! Byte-level SMTP framing on the server side: command lines and the DATA
//! stream. No I/O and no state beyond a few bytes, so both are fuzzed
//! (`fuzz/fuzz_targets/trap_wire.rs`) and cannot panic on any input.
//!
//! Why our own framing next to `smtp-proto`: its `RequestReceiver` caps lines
//! at a fixed 4096 bytes and returns an error that does not say how much was
//! skipped; its `DataReceiver` starts without a preceding CRLF, so it misses
//! a terminator or a dot to unstuff on the very first line of the body
//! (`DATA` then `.` at once ends an empty message), and it appends into an
//! unbounded `Vec`. We split lines ourselves (cap from the config, bare LF
//! accepted and recorded: bots send it) and hand each complete command line
//! to `smtp_proto::Request::parse`.

use memchr::memchr;

/// Where the next command line ends in `buf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnd {
    /// A complete line of this many bytes, LF included.
    Line(usize),
    /// No LF yet and still below the cap: read more.
    Incomplete,
    /// No LF within `max` bytes: the line is too long.
    TooLong,
}

/// Finds the end of the first line of `buf` (up to and including the LF),
/// refusing lines longer than `max` bytes.
pub fn find_line(buf: &[u8], max: usize) -> LineEnd {
    let window = &buf[..buf.len().min(max)];
    match memchr(b'\n', window) {
        Some(i) => LineEnd::Line(i + 1),
        None if buf.len() >= max => LineEnd::TooLong,
        None => LineEnd::Incomplete,
    }
}

/// The command verb as the client wrote it (case kept), at most 16
/// printable bytes; empty for an empty line.
pub fn verb_as_sent(line: &[u8]) -> String {
    line.iter()
        .take_while(|&&b| b != b' ' && b != b'\t' && b != b'\r' && b != b'\n')
        .take(16)
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

/// The line as text for the session record: CRLF removed, control bytes
/// shown as `?`, invalid UTF-8 replaced, cut at `max` characters.
pub fn line_for_record(line: &[u8], max: usize) -> String {
    let trimmed = line
        .strip_suffix(b"\n")
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .unwrap_or(line);
    String::from_utf8_lossy(trimmed)
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The path of a `MAIL FROM:<...>` or `RCPT TO:<...>` line as sent:
/// between the first `<` and its `>` (a `>` inside a quoted local part
/// does not end it), source route (`@a,@b:`) removed, at most 512
/// characters, control bytes shown as `?`. `smtp-proto` drops the quotes
/// of a quoted local part (`"john doe"@example.com` would be recorded as
/// `john doe@example.com`, another address) and turns `<postmaster>` into
/// the null path; the record keeps what was sent.
pub fn path_as_sent(line: &[u8]) -> Option<String> {
    let open = memchr(b'<', line)?;
    let rest = &line[open + 1..];
    let mut in_quote = false;
    let mut escaped = false;
    let mut end = None;
    for (i, &b) in rest.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if in_quote => escaped = true,
            b'"' => in_quote = !in_quote,
            b'>' if !in_quote => {
                end = Some(i);
                break;
            }
            b'\n' => break,
            _ => {}
        }
    }
    let mut path = &rest[..end?];
    if path.first() == Some(&b'@') {
        // A source route ends at the first colon (routes hold no quotes).
        if let Some(c) = memchr(b':', path) {
            path = &path[c + 1..];
        }
    }
    Some(
        String::from_utf8_lossy(path)
            .chars()
            .take(512)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect(),
    )
}

/// A number parameter (`SIZE=`, BDAT's chunk size) read exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Number {
    Value(u64),
    /// Digits only, but more than a `u64` holds.
    Overflow,
    /// Empty or not all digits.
    Invalid,
}

/// Reads a decimal number without wrapping or saturating (`smtp-proto`
/// saturates and then wraps: `SIZE=99999999999999999999999` came out as a
/// small size and was accepted).
pub fn number(digits: &[u8]) -> Number {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Number::Invalid;
    }
    let mut v: u64 = 0;
    for &d in digits {
        match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
        {
            Some(n) => v = n,
            None => return Number::Overflow,
        }
    }
    Number::Value(v)
}

/// The `SIZE=` parameter of a `MAIL FROM:<...>` line (RFC 1870), if any.
pub fn size_param(line: &[u8]) -> Option<Number> {
    let open = memchr(b'<', line)?;
    let close = open + 1 + memchr::memrchr(b'>', &line[open + 1..])?;
    line[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .find_map(|p| {
            let (k, v) = p.split_at(p.iter().position(|&b| b == b'=')?);
            k.eq_ignore_ascii_case(b"SIZE").then(|| number(&v[1..]))
        })
}

/// The chunk size of a `BDAT n [LAST]` line (RFC 3030).
pub fn bdat_size(line: &[u8]) -> Number {
    let mut words = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let _verb = words.next();
    words.next().map_or(Number::Invalid, number)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataState {
    /// At the start of a line.
    LineStart,
    /// A line started with `.` (dropped: dot-unstuffing).
    Dot,
    /// The line so far is `.` CR.
    DotCr,
    /// Inside a line.
    Mid,
}

/// What one [`DataDecoder::feed`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the input consumed (all of it unless `done`).
    pub consumed: usize,
    /// The terminating `.` line was seen; bytes after `consumed` are the
    /// next commands.
    pub done: bool,
}

/// Decodes the DATA stream of RFC 5321 4.5.2: removes the leading dot of
/// lines that start with one, and stops at `<CRLF>.<CRLF>` only.
///
/// A bare LF ends a line as CRLF does (bots send bare LFs; the stored
/// message keeps the bytes as sent), and is counted in `bare_lf`. But a
/// lone dot is the end of the message only when the line before it ended
/// in CRLF and the dot line itself ends in CRLF: the other spellings
/// (`\n.\n`, `\n.\r\n`, `\r\n.\n`, and a dot followed by a bare CR)
/// are what SMTP smuggling uses to end a message early at one server and
/// not at another, so that the rest of the body is read as a second
/// message with a forged envelope. Such a dot line is kept in the message
/// as sent (its dot included) and counted in `smuggling`. The
/// terminator's CRLF is not part of the message; the message's own last
/// line ending is. The DATA command line counts as a CRLF-ended line.
#[derive(Clone, Debug)]
pub struct DataDecoder {
    state: DataState,
    last: u8,
    /// The line before the current one ended in CRLF (not a bare LF).
    prev_crlf: bool,
    /// Unstuffed message bytes seen so far (stored or not).
    pub total: u64,
    /// Lines ended by a bare LF.
    pub bare_lf: u64,
    /// Lines whose leading dot was removed.
    pub unstuffed: u64,
    /// Lone-dot lines that were not `<CRLF>.<CRLF>` (kept as data):
    /// smuggling-like end-of-data sequences.
    pub smuggling: u64,
}

impl Default for DataDecoder {
    fn default() -> Self {
        DataDecoder::new()
    }
}

impl DataDecoder {
    pub fn new() -> DataDecoder {
        DataDecoder {
            state: DataState::LineStart,
            last: b'\n',
            prev_crlf: true,
            total: 0,
            bare_lf: 0,
            unstuffed: 0,
            smuggling: 0,
        }
    }

    /// Feeds bytes; unstuffed message bytes are handed to `out` (possibly in
    /// several pieces).
    pub fn feed(&mut self, input: &[u8], mut out: impl FnMut(&[u8])) -> Fed {
        let mut i = 0;
        let mut emit = |s: &[u8], total: &mut u64| {
            if !s.is_empty() {
                *total = total.saturating_add(s.len() as u64);
                out(s);
            }
        };
        while i < input.len() {
            match self.state {
                DataState::LineStart => {
                    if input[i] == b'.' {
                        self.state = DataState::Dot;
                        i += 1;
                    } else {
                        self.state = DataState::Mid;
                    }
                }
                DataState::Dot => {
                    let b = input[i];
                    i += 1;
                    match b {
                        b'\r' => self.state = DataState::DotCr,
                        b'\n' => {
                            // `.` LF: never the end; the line is data, dot
                            // kept.
                            self.bare_lf += 1;
                            self.smuggling += 1;
                            emit(b".\n", &mut self.total);
                            self.last = b'\n';
                            self.prev_crlf = false;
                            self.state = DataState::LineStart;
                        }
                        _ => {
                            // ".x": the dot was stuffing.
                            self.unstuffed += 1;
                            self.state = DataState::Mid;
                            self.last = b;
                            emit(&[b], &mut self.total);
                        }
                    }
                }
                DataState::DotCr => {
                    if input[i] == b'\n' {
                        if self.prev_crlf {
                            return Fed {
                                consumed: i + 1,
                                done: true,
                            };
                        }
                        // LF `.` CRLF: a lone dot after a bare LF is data.
                        i += 1;
                        self.smuggling += 1;
                        emit(b".\r\n", &mut self.total);
                        self.last = b'\n';
                        self.prev_crlf = true;
                        self.state = DataState::LineStart;
                        continue;
                    }
                    // ".\r" then something else: a bare CR after a lone
                    // dot (smuggling-like); the dot was stuffing.
                    self.unstuffed += 1;
                    self.smuggling += 1;
                    self.last = b'\r';
                    emit(b"\r", &mut self.total);
                    self.state = DataState::Mid;
                }
                DataState::Mid => {
                    let rest = &input[i..];
                    match memchr(b'\n', rest) {
                        Some(j) => {
                            let prev = if j == 0 { self.last } else { rest[j - 1] };
                            self.prev_crlf = prev == b'\r';
                            if !self.prev_crlf {
                                self.bare_lf += 1;
                            }
                            emit(&rest[..=j], &mut self.total);
                            self.last = b'\n';
                            self.state = DataState::LineStart;
                            i += j + 1;
                        }
                        None => {
                            emit(rest, &mut self.total);
                            if let Some(&l) = rest.last() {
                                self.last = l;
                            }
                            i = input.len();
                        }
                    }
                }
            }
        }
        Fed {
            consumed: input.len(),
            done: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_chunks(chunks: &[&[u8]]) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut d = DataDecoder::new();
        let mut out = Vec::new();
        for (n, c) in chunks.iter().enumerate() {
            let fed = d.feed(c, |s| out.extend_from_slice(s));
            if fed.done {
                let mut rest = c[fed.consumed..].to_vec();
                for c in &chunks[n + 1..] {
                    rest.extend_from_slice(c);
                }
                assert_eq!(d.total, out.len() as u64);
                return (out, Some(rest));
            }
        }
        (out, None)
    }

    #[test]
    fn unstuffs_and_stops_at_the_dot_line() {
        let (m, rest) = decode_chunks(&[b"Subject: x\r\n\r\n..hidden\r\n.\r\nQUIT\r\n"]);
        assert_eq!(m, b"Subject: x\r\n\r\n.hidden\r\n");
        assert_eq!(rest.unwrap(), b"QUIT\r\n");
    }

    #[test]
    fn empty_message_and_first_line_dot() {
        let (m, rest) = decode_chunks(&[b".\r\n"]);
        assert_eq!(m, b"");
        assert_eq!(rest.unwrap(), b"");
        let (m, _) = decode_chunks(&[b"..a\r\n.\r\n"]);
        assert_eq!(m, b".a\r\n");
    }

    #[test]
    fn every_split_point_gives_the_same_message() {
        let input: &[u8] = b"a\r\n.\rb\r\n..\r\n.x\nline\n\r\n.\r\nNOOP\r\n";
        let (whole, rest) = decode_chunks(&[input]);
        assert_eq!(whole, b"a\r\n\rb\r\n.\r\nx\nline\n\r\n");
        assert_eq!(rest.as_deref(), Some(&b"NOOP\r\n"[..]));
        for i in 0..input.len() {
            for j in i..input.len() {
                let (m, r) = decode_chunks(&[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(m, whole, "split at {i},{j}");
                assert_eq!(r, rest, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn bare_lf_lines_and_terminator() {
        let mut d = DataDecoder::new();
        let mut out = Vec::new();
        let fed = d.feed(b"a\nb\r\n.\r\n", |s| out.extend_from_slice(s));
        assert!(fed.done);
        assert_eq!(out, b"a\nb\r\n");
        assert_eq!(d.bare_lf, 1);
        assert_eq!(d.smuggling, 0);
    }

    /// Issue 17: `\n.\n`, `\n.\r\n` and `\r\n.\n` ended DATA, so the rest of
    /// the body became a second message with a forged envelope. Only
    /// `<CRLF>.<CRLF>` ends it now; the other dot lines stay in the body,
    /// dot and all, and are counted.
    #[test]
    fn issue17_smuggling_sequences_do_not_end_data() {
        for (seq, bare) in [
            (&b"\n.\n"[..], 2),
            (&b"\n.\r\n"[..], 1),
            (&b"\r\n.\n"[..], 1),
            (&b"\r\n.\rX"[..], 0),
        ] {
            let mut input = b"Subject: a".to_vec();
            input.extend_from_slice(seq);
            input
                .extend_from_slice(b"MAIL FROM:<forged@bank.example>\r\nRCPT TO:<v@x.example>\r\n");
            let body = input.clone();
            input.extend_from_slice(b".\r\nQUIT\r\n");
            let (m, rest) = decode_chunks(&[&input]);
            let mut d = DataDecoder::new();
            d.feed(&input, |_| {});
            assert_eq!(d.smuggling, 1, "{seq:?}");
            assert_eq!(d.bare_lf, bare, "{seq:?}");
            assert_eq!(rest.as_deref(), Some(&b"QUIT\r\n"[..]), "{seq:?}");
            if seq.ends_with(b"X") {
                // ".\rX": the dot was stuffing, the bare CR is kept.
                assert_eq!(m, b"Subject: a\r\n\rXMAIL FROM:<forged@bank.example>\r\nRCPT TO:<v@x.example>\r\n");
            } else {
                assert_eq!(m, body, "{seq:?}: one message, bytes as sent");
            }
            for i in 0..input.len() {
                let (m2, r2) = decode_chunks(&[&input[..i], &input[i..]]);
                assert_eq!((m2, r2), (m.clone(), rest.clone()), "split at {i}");
            }
        }
        // A lone dot first in DATA still ends an empty message, and the
        // real terminator after a bare-LF line's CRLF-ended successor too.
        let (m, rest) = decode_chunks(&[b"a\nb\r\n.\r\n"]);
        assert_eq!(m, b"a\nb\r\n");
        assert_eq!(rest.unwrap(), b"");
    }

    #[test]
    fn crlf_dot_inside_a_line_is_data() {
        let (m, rest) = decode_chunks(&[b"x.\r\ny\r.\r\n", b"\r\n.\r\n"]);
        assert_eq!(m, b"x.\r\ny\r.\r\n\r\n");
        assert_eq!(rest.unwrap(), b"");
    }

    #[test]
    fn lines() {
        assert_eq!(find_line(b"EHLO x\r\nMAIL", 512), LineEnd::Line(8));
        assert_eq!(find_line(b"EHLO x", 512), LineEnd::Incomplete);
        assert_eq!(find_line(&[b'a'; 600], 512), LineEnd::TooLong);
        assert_eq!(find_line(&[b'a'; 512], 512), LineEnd::TooLong);
        assert_eq!(verb_as_sent(b"eHlo x\r\n"), "eHlo");
        assert_eq!(verb_as_sent(b"\x01\xffX y"), "??X");
        assert_eq!(
            line_for_record(b"MAIL FROM:<a\x00b>\r\n", 100),
            "MAIL FROM:<a?b>"
        );
        assert_eq!(line_for_record(b"abcdef\n", 3), "abc");
    }

    /// Issue 17: quoted local parts kept their quotes lost; `<postmaster>`
    /// became the null path; `SIZE=` wrapped around.
    #[test]
    fn issue17_paths_and_numbers_as_sent() {
        assert_eq!(
            path_as_sent(b"RCPT TO:<\"john doe\"@example.com>\r\n").as_deref(),
            Some("\"john doe\"@example.com")
        );
        assert_eq!(
            path_as_sent(b"RCPT TO:<\"a>b\\\"c\"@x.example> NOTIFY=NEVER\r\n").as_deref(),
            Some("\"a>b\\\"c\"@x.example")
        );
        assert_eq!(
            path_as_sent(b"rcpt to:<PostMaster>\r\n").as_deref(),
            Some("PostMaster")
        );
        assert_eq!(
            path_as_sent(b"MAIL FROM:<@a.example,@b.example:u@c.example>\r\n").as_deref(),
            Some("u@c.example")
        );
        assert_eq!(path_as_sent(b"MAIL FROM:<>\r\n").as_deref(), Some(""));
        assert_eq!(path_as_sent(b"MAIL FROM:<a@b\r\n"), None);
        assert_eq!(
            size_param(b"MAIL FROM:<a@b> SIZE=99999999999999999999999\r\n"),
            Some(Number::Overflow)
        );
        assert_eq!(
            size_param(b"MAIL FROM:<a@b> BODY=8BITMIME size=1000\r\n"),
            Some(Number::Value(1000))
        );
        assert_eq!(
            size_param(b"MAIL FROM:<a@b> SIZE=12ab\r\n"),
            Some(Number::Invalid)
        );
        assert_eq!(size_param(b"MAIL FROM:<a@b>\r\n"), None);
        assert_eq!(number(b"18446744073709551615"), Number::Value(u64::MAX));
        assert_eq!(number(b"18446744073709551616"), Number::Overflow);
        assert_eq!(bdat_size(b"BDAT 12 LAST\r\n"), Number::Value(12));
        assert_eq!(bdat_size(b"BDAT\r\n"), Number::Invalid);
    }
}
