//! Byte-level SMTP framing on the server side: command lines and the DATA
//! stream. No I/O and no state beyond a few bytes, so both are fuzzed
//! (`fuzz/fuzz_targets/trap_session.rs`) and cannot panic on any input.
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
/// lines that start with one, and stops at a line holding only `.`.
///
/// A bare LF ends a line as CRLF does (bots send bare LFs; the stored
/// message keeps the bytes as sent), and is counted in `bare_lf`. The
/// terminator's CRLF is not part of the message; the message's own last
/// line ending is.
#[derive(Clone, Debug)]
pub struct DataDecoder {
    state: DataState,
    last: u8,
    /// Unstuffed message bytes seen so far (stored or not).
    pub total: u64,
    /// Lines ended by a bare LF.
    pub bare_lf: u64,
    /// Lines whose leading dot was removed.
    pub unstuffed: u64,
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
            total: 0,
            bare_lf: 0,
            unstuffed: 0,
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
                            self.bare_lf += 1;
                            return Fed {
                                consumed: i,
                                done: true,
                            };
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
                        return Fed {
                            consumed: i + 1,
                            done: true,
                        };
                    }
                    // ".\r" then something else: the dot was stuffing.
                    self.unstuffed += 1;
                    self.last = b'\r';
                    emit(b"\r", &mut self.total);
                    self.state = DataState::Mid;
                }
                DataState::Mid => {
                    let rest = &input[i..];
                    match memchr(b'\n', rest) {
                        Some(j) => {
                            let prev = if j == 0 { self.last } else { rest[j - 1] };
                            if prev != b'\r' {
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
        let fed = d.feed(b"a\nb\r\n.\n", |s| out.extend_from_slice(s));
        assert!(fed.done);
        assert_eq!(out, b"a\nb\r\n");
        assert_eq!(d.bare_lf, 2); // "a\n" and the ".\n" terminator
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
}
