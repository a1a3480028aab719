//! The MIME entities of a carved mail message, as Zeek's MIME analyzer
//! hands them to file analysis (`files.log` rows with source `SMTP`).
//!
//! A walker over the carved bytes, not a mail parser: only the headers
//! that shape entities are read (`Content-Type`, its `boundary` and
//! `name`, `Content-Transfer-Encoding`, `Content-Disposition`), part
//! boundaries are found with `memchr`'s substring search, and nothing is
//! decoded but the leaf entities' content, once. Each leaf entity's
//! content is the raw bytes between its header block and the line break
//! before the next delimiter, decoded by its `Content-Transfer-Encoding`
//! (base64 and quoted-printable, leniently: a bad byte is skipped, as
//! Zeek goes on). Charsets are not converted: a file is bytes.
//!
//! Entities are numbered in the order they begin, containers included
//! (Zeek's entity depth): a `multipart/mixed` message with a
//! `multipart/alternative` first part has its text part at depth 3.
//! A `message/rfc822` part is one entity (its inner parts are not
//! numbered). File names are taken as Zeek's
//! `extract_filename_from_content_disposition` takes them, from
//! `Content-Disposition` or a `Content-Type` with a `name` parameter (the
//! last such header wins). At most [`MAX_ENTITIES`] entities are read
//! per message and multiparts nest at most [`MAX_NESTING`] deep. Never
//! panics.

use std::borrow::Cow;
use std::ops::Range;

/// Most entities described per message.
pub const MAX_ENTITIES: usize = 64;
/// Deepest multipart nesting followed (deeper multiparts are leaves).
pub const MAX_NESTING: usize = 16;
/// Bytes kept of one header value.
const MAX_VALUE: usize = 2048;

/// One leaf entity of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity<'a> {
    /// 1-based position among the message's entities (containers count).
    pub depth: u32,
    /// Byte range of its raw (still encoded) content in the message.
    pub raw: Range<usize>,
    /// Its `Content-Transfer-Encoding`.
    pub encoding: TransferEncoding,
    /// The file name its headers give (see the module docs).
    pub filename: Option<String>,
    /// Its `Content-Type`'s `type/subtype`, lower-cased, without
    /// parameters (`None` when absent or empty).
    pub media_type: Option<String>,
    bytes: &'a [u8],
    in_multipart: bool,
}

/// How an entity's content is encoded for transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferEncoding {
    /// `7bit`, `8bit`, `binary`, absent or unknown: the bytes as they are.
    Identity,
    Base64,
    QuotedPrintable,
}

impl<'a> Entity<'a> {
    /// The content, transfer-decoded: borrowed from the message when it
    /// is not encoded.
    pub fn content(&self) -> Cow<'a, [u8]> {
        match self.encoding {
            TransferEncoding::Identity => Cow::Borrowed(self.bytes),
            TransferEncoding::Base64 => Cow::Owned(base64_lenient(self.bytes)),
            TransferEncoding::QuotedPrintable => {
                Cow::Owned(quoted_printable(self.bytes, self.in_multipart))
            }
        }
    }

    /// SHA-256 and length of the decoded content, without holding it
    /// whole: base64 (the encoding of nearly every attachment) is decoded
    /// a cache-sized chunk at a time into the hash, instead of into a
    /// fresh buffer as long as the file.
    pub fn content_sha256(&self) -> ([u8; 32], usize) {
        use sha2::Digest;
        if self.encoding == TransferEncoding::Base64 {
            let mut h = sha2::Sha256::new();
            let mut n = 0;
            let whole =
                crate::util::base64_lines_stream(self.bytes, crate::util::STREAM_CHUNK, |d| {
                    h.update(d);
                    n += d.len();
                });
            if whole {
                return (h.finalize().into(), n);
            }
            // Not well-formed: the table decoder reads it, as content()
            // would after trying the SIMD decoder a second time.
            let c = crate::util::base64_table(self.bytes, true).unwrap_or_default();
            return (sha2::Sha256::digest(&c).into(), c.len());
        }
        let c = self.content();
        (sha2::Sha256::digest(&c).into(), c.len())
    }

    /// The decoded content's length, without decoding base64.
    pub fn decoded_len(&self) -> usize {
        match self.encoding {
            TransferEncoding::Identity => self.bytes.len(),
            TransferEncoding::Base64 => crate::util::base64_len(self.bytes),
            TransferEncoding::QuotedPrintable => {
                quoted_printable_len(self.bytes, self.in_multipart)
            }
        }
    }

    /// The first `n` bytes (or fewer) of the decoded content, decoding
    /// only what they need: enough to judge its type.
    pub fn head(&self, n: usize) -> Cow<'a, [u8]> {
        match self.encoding {
            TransferEncoding::Identity => Cow::Borrowed(self.bytes.get(..n).unwrap_or(self.bytes)),
            // Four characters give three bytes; line breaks and stray
            // bytes add some: twice what whole lines would need is read
            // (more stray bytes than that: the whole is decoded).
            TransferEncoding::Base64 => {
                let take = (n / 3 + 1) * 8 + 8;
                let mut v = match self.bytes.get(..take) {
                    Some(b) => base64_lenient(b),
                    None => base64_lenient(self.bytes),
                };
                if v.len() < n && take < self.bytes.len() {
                    v = base64_lenient(self.bytes);
                }
                v.truncate(n);
                Cow::Owned(v)
            }
            // Whole lines holding at least three raw bytes per byte
            // wanted (more trailing blanks than that: the whole).
            TransferEncoding::QuotedPrintable => {
                let line_end = self
                    .bytes
                    .get(n * 3..)
                    .and_then(|rest| memchr::memchr(b'\n', rest))
                    .map(|i| n * 3 + i + 1);
                let mut v = match line_end {
                    Some(e) if e < self.bytes.len() => {
                        let v = quoted_printable(&self.bytes[..e], false);
                        if v.len() >= n {
                            v
                        } else {
                            self.content().into_owned()
                        }
                    }
                    _ => self.content().into_owned(),
                };
                v.truncate(n);
                Cow::Owned(v)
            }
        }
    }
}

/// The leaf entities of `msg`, in order. A message that is not MIME is
/// one entity: its body.
pub fn entities(msg: &[u8]) -> Vec<Entity<'_>> {
    let mut w = Walker {
        msg,
        count: 0,
        out: Vec::new(),
    };
    w.entity(0..msg.len(), 0, false);
    w.out
}

#[derive(Default)]
struct Headers {
    content_type: Option<Vec<u8>>,
    encoding: Option<Vec<u8>>,
    filename: Option<String>,
}

struct Walker<'a> {
    msg: &'a [u8],
    count: usize,
    out: Vec<Entity<'a>>,
}

impl<'a> Walker<'a> {
    /// One entity spanning `range` (headers, blank line, body).
    fn entity(&mut self, range: Range<usize>, nesting: usize, in_multipart: bool) {
        if self.count >= MAX_ENTITIES {
            return;
        }
        self.count += 1;
        let depth = u32::try_from(self.count).unwrap_or(u32::MAX);
        let (h, body_start) = self.headers(range.clone());
        let body = body_start.min(range.end)..range.end;
        if nesting < MAX_NESTING {
            if let Some(b) = h
                .content_type
                .as_deref()
                .and_then(crate::multipart::boundary)
            {
                self.multipart(body, &b, nesting + 1);
                return;
            }
        }
        let raw = self.msg.get(body.clone()).unwrap_or_default();
        if raw.is_empty() {
            return;
        }
        let enc = h
            .encoding
            .as_deref()
            .map(|e| e.trim_ascii().to_ascii_lowercase());
        let encoding = match enc.as_deref() {
            Some(b"base64") => TransferEncoding::Base64,
            Some(b"quoted-printable") => TransferEncoding::QuotedPrintable,
            _ => TransferEncoding::Identity,
        };
        let media_type = h.content_type.as_deref().and_then(media_type);
        self.out.push(Entity {
            depth,
            raw: body,
            encoding,
            filename: h.filename,
            media_type,
            bytes: raw,
            in_multipart,
        });
    }

    /// The header block at the start of `range`: the headers that matter,
    /// and where the body begins (after the blank line, or at the end).
    fn headers(&self, range: Range<usize>) -> (Headers, usize) {
        let mut h = Headers::default();
        let mut pos = range.start;
        // The header being read: its name's kind and its value so far.
        let mut cur: Option<(Kind, Vec<u8>)> = None;
        let body = loop {
            if pos >= range.end {
                break range.end;
            }
            let rest = &self.msg[pos..range.end];
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], pos + i + 1),
                None => (rest, range.end),
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break next;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                if let Some((_, v)) = cur.as_mut() {
                    let room = MAX_VALUE.saturating_sub(v.len());
                    v.extend_from_slice(&line[..line.len().min(room)]);
                }
                pos = next;
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                // Not a header: skipped, as Zeek goes on to the blank line.
                if let Some((k, v)) = cur.take() {
                    h.take(k, v);
                }
                pos = next;
                continue;
            };
            if let Some((k, v)) = cur.take() {
                h.take(k, v);
            }
            let name = line[..colon].trim_ascii();
            let value = &line[colon + 1..];
            cur = Kind::of(name).map(|k| (k, value[..value.len().min(MAX_VALUE)].to_vec()));
            pos = next;
        };
        if let Some((k, v)) = cur.take() {
            h.take(k, v);
        }
        (h, body)
    }

    /// The parts of a multipart body delimited by `--boundary` lines.
    fn multipart(&mut self, body: Range<usize>, boundary: &[u8], nesting: usize) {
        let mut delim = Vec::with_capacity(boundary.len() + 2);
        delim.extend_from_slice(b"--");
        delim.extend_from_slice(boundary);
        let finder = memchr::memmem::Finder::new(&delim);
        let mut search = body.start;
        // Where the current part's content begins (after a delimiter line).
        let mut part_start: Option<usize> = None;
        while search < body.end {
            let Some(i) = finder.find(&self.msg[search..body.end]) else {
                break;
            };
            let at = search + i;
            search = at + delim.len();
            if at > body.start && self.msg[at - 1] != b'\n' {
                continue;
            }
            let after = &self.msg[at + delim.len()..body.end];
            let close = after.starts_with(b"--");
            let line_end =
                memchr::memchr(b'\n', after).map_or(body.end, |j| at + delim.len() + j + 1);
            let tail = &self.msg[at + delim.len() + if close { 2 } else { 0 }..line_end];
            if !tail.iter().all(|b| b.is_ascii_whitespace()) {
                // `--boundaryX`: another boundary that begins alike.
                continue;
            }
            if let Some(start) = part_start.take() {
                // The line break before the delimiter belongs to it.
                let mut end = at;
                if end > start && self.msg[end - 1] == b'\n' {
                    end -= 1;
                    if end > start && self.msg[end - 1] == b'\r' {
                        end -= 1;
                    }
                }
                self.entity(start..end.max(start), nesting, true);
            }
            if close || self.count >= MAX_ENTITIES {
                return;
            }
            part_start = Some(line_end);
            search = line_end;
        }
        // An unterminated last part runs to the end.
        if let Some(start) = part_start {
            self.entity(start..body.end, nesting, true);
        }
    }
}

/// `type/subtype` of a `Content-Type` value: up to its first `;`, blanks
/// trimmed, lower-cased.
fn media_type(value: &[u8]) -> Option<String> {
    let end = memchr::memchr(b';', value).unwrap_or(value.len());
    let t = value[..end].trim_ascii();
    (!t.is_empty()).then(|| String::from_utf8_lossy(t).to_ascii_lowercase())
}

#[derive(Clone, Copy)]
enum Kind {
    ContentType,
    Encoding,
    Disposition,
}

impl Kind {
    fn of(name: &[u8]) -> Option<Kind> {
        if name.eq_ignore_ascii_case(b"content-type") {
            Some(Kind::ContentType)
        } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
            Some(Kind::Encoding)
        } else if name.eq_ignore_ascii_case(b"content-disposition") {
            Some(Kind::Disposition)
        } else {
            None
        }
    }
}

impl Headers {
    fn take(&mut self, kind: Kind, value: Vec<u8>) {
        match kind {
            Kind::ContentType => {
                if has_name_param(&value, false) {
                    self.filename = zeek_filename(&value);
                }
                self.content_type = Some(value);
            }
            Kind::Encoding => self.encoding = Some(value),
            Kind::Disposition => {
                if has_name_param(&value, true) {
                    self.filename = zeek_filename(&value);
                }
            }
        }
    }
}

/// Zeek's tests for a header that names a file: `filename` anywhere in a
/// `Content-Disposition`, `name` followed by blanks and `=` in a
/// `Content-Type`.
fn has_name_param(value: &[u8], disposition: bool) -> bool {
    let lower = value.to_ascii_lowercase();
    if disposition {
        return memchr::memmem::find(&lower, b"filename").is_some();
    }
    memchr::memmem::find_iter(&lower, b"name").any(|i| {
        lower[i + 4..]
            .iter()
            .find(|&&b| b != b' ' && b != b'\t')
            .is_some_and(|&b| b == b'=')
    })
}

/// Zeek's `extract_filename_from_content_disposition`: what follows the
/// last `name=` (or `name*=`), up to the closing quote when quoted, an
/// RFC 2231 `charset'language'` prefix removed, `%XX` unescaped.
fn zeek_filename(value: &[u8]) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    // The last `name[blanks]*?=[blanks]`.
    let mut cut = None;
    for i in memchr::memmem::find_iter(&lower, b"name") {
        let mut j = i + 4;
        while matches!(lower.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if lower.get(j) == Some(&b'*') {
            j += 1;
        }
        if lower.get(j) != Some(&b'=') {
            continue;
        }
        j += 1;
        while matches!(lower.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        cut = Some(j);
    }
    let mut f = value.get(cut?..)?;
    if let Some(q) = f.strip_prefix(b"\"") {
        f = q.split(|&b| b == b'"').next().unwrap_or_default();
    } else {
        f = f.trim_ascii_end();
    }
    // RFC 2231: `utf-8'en'name`.
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&+-^_`{}~".contains(b);
    if let Some(a) = f
        .iter()
        .position(|b| !token(b))
        .filter(|&a| a > 0 && f[a] == b'\'')
    {
        let rest = &f[a + 1..];
        if let Some(b) = rest
            .iter()
            .position(|b| !token(b))
            .filter(|&b| rest[b] == b'\'')
        {
            f = &rest[b + 1..];
        }
    }
    let name: String = crate::http::unescape_uri(f)
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect();
    Some(name)
}

/// Base64 with whitespace and any byte outside the alphabet skipped; stops
/// at padding.
pub fn base64_lenient(input: &[u8]) -> Vec<u8> {
    crate::util::base64(input, true).unwrap_or_default()
}

/// Quoted-printable (RFC 2045 §6.7) as Zeek decodes it, line by line:
/// trailing spaces and tabs dropped, `=XX` a byte, `=` at the end of a
/// line a soft break, any other line ends in CRLF; a malformed `=` is
/// kept. `in_multipart`: the content ended before a boundary, whose line
/// break is the last line's end (so a final empty line counts).
pub fn quoted_printable(input: &[u8], in_multipart: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    for line in qp_lines(input, in_multipart) {
        let mut soft = false;
        let mut i = 0;
        while let Some(&b) = line.get(i) {
            if b != b'=' {
                out.push(b);
                i += 1;
                continue;
            }
            if i + 1 == line.len() {
                soft = true;
                break;
            }
            match (
                line.get(i + 1).and_then(|&h| hex(h)),
                line.get(i + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        if !soft {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// The lines of quoted-printable text as Zeek reads them: split at LF,
/// CR and trailing spaces and tabs dropped; when the content did not end
/// before a boundary, the last line break ends the last line (no empty
/// line after it).
fn qp_lines(input: &[u8], in_multipart: bool) -> impl Iterator<Item = &[u8]> {
    let body = match input.strip_suffix(b"\n") {
        Some(b) if !in_multipart => b,
        _ => input,
    };
    body.split(|&b| b == b'\n').map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let end = line
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |p| p + 1);
        line.get(..end).unwrap_or_default()
    })
}

/// The length of what [`quoted_printable`] decodes `input` to, counted
/// line by line without writing it: each `=XX` is one byte, a soft break
/// none, any other line end two.
pub fn quoted_printable_len(input: &[u8], in_multipart: bool) -> usize {
    let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
    let mut n = 0;
    for line in qp_lines(input, in_multipart) {
        let mut len = line.len();
        let mut soft = false;
        let mut skip_to = 0;
        for i in memchr::memchr_iter(b'=', line) {
            if i < skip_to {
                continue;
            }
            if i + 1 == line.len() {
                soft = true;
                len -= 1;
            } else if hex(line.get(i + 1)) && hex(line.get(i + 2)) {
                len -= 2;
                skip_to = i + 3;
            }
        }
        n += len + if soft { 0 } else { 2 };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"X\"\r\n\r\npreamble\r\n--X\r\nContent-Type: multipart/alternative; boundary=\"Y\"\r\n\r\n--Y\r\nContent-Type: text/plain\r\n\r\nhello\r\n\r\n--Y\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p class=3D\"a\">hi=\r\nthere</p>\r\n--Y--\r\n--X\r\nContent-Type: application/octet-stream; name=\"x.exe\"\r\nContent-Disposition: attachment; filename=\"run.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMA\r\nAAAE\r\n--X--\r\n";

    #[test]
    fn entities_numbered_and_decoded() {
        let e = entities(MSG);
        let got: Vec<(u32, Vec<u8>, Option<&str>)> = e
            .iter()
            .map(|e| (e.depth, e.content().into_owned(), e.filename.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, b"hello\r\n".to_vec(), None),
                (4, b"<p class=\"a\">hithere</p>\r\n".to_vec(), None),
                (
                    5,
                    b"MZ\x90\x00\x03\x00\x00\x00\x04".to_vec(),
                    Some("run.exe")
                ),
            ]
        );
    }

    #[test]
    fn media_types_without_parameters() {
        let got: Vec<Option<String>> = entities(MSG).into_iter().map(|e| e.media_type).collect();
        assert_eq!(
            got,
            vec![
                Some("text/plain".to_string()),
                Some("text/html".to_string()),
                Some("application/octet-stream".to_string()),
            ]
        );
        assert_eq!(entities(b"Subject: x\r\n\r\nbody\r\n")[0].media_type, None);
    }

    #[test]
    fn plain_message_is_one_entity() {
        let e = entities(b"Subject: x\r\n\r\nbody line\r\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].depth, 1);
        assert_eq!(&e[0].content()[..], b"body line\r\n");
    }

    #[test]
    fn boundaries_that_begin_alike_and_unterminated_parts() {
        let m = b"Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\nContent-Type: multipart/mixed; boundary=AB\r\n\r\n--AB\r\n\r\none\r\n--AB--\r\n--A\r\n\r\ntwo, never closed";
        let e = entities(m);
        let got: Vec<(u32, Vec<u8>)> = e
            .iter()
            .map(|e| (e.depth, e.content().into_owned()))
            .collect();
        assert_eq!(
            got,
            vec![(3, b"one".to_vec()), (4, b"two, never closed".to_vec())]
        );
        // Lengths and heads without decoding the whole; a damaged base64
        // part (stray bytes, padding inside) takes the table decoder.
        let damaged = b"Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\nTVq!QAA=MA\r\nAA*AE\r\n";
        for e in entities(MSG).into_iter().chain(entities(damaged)) {
            let c = e.content();
            assert_eq!(e.decoded_len(), c.len());
            assert_eq!(&e.head(4)[..], &c[..c.len().min(4)]);
            // Hashed as it is decoded: the same as hashing the whole.
            use sha2::Digest;
            let whole: [u8; 32] = sha2::Sha256::digest(&c).into();
            assert_eq!(e.content_sha256(), (whole, c.len()));
        }
    }

    #[test]
    fn file_names_as_zeek_reads_them() {
        let f = |v: &[u8]| zeek_filename(v);
        assert_eq!(
            f(b" attachment; filename=\"a b.exe\"").as_deref(),
            Some("a b.exe")
        );
        assert_eq!(
            f(b" attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf").as_deref(),
            Some("r\u{e9}sum\u{e9}.pdf")
        );
        // Unquoted and not last: Zeek keeps the rest.
        assert_eq!(
            f(b" attachment; filename=x.zip; size=3").as_deref(),
            Some("x.zip; size=3")
        );
        assert_eq!(f(b" inline").as_deref(), None);
        let m = b"Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\nContent-Type: application/zip; name=\"n.zip\"\r\n\r\nPK\r\n--A\r\nContent-Disposition: attachment;\r\n filename=\"folded.txt\"\r\n\r\nx\r\n--A--\r\n";
        let names: Vec<Option<String>> = entities(m).into_iter().map(|e| e.filename).collect();
        assert_eq!(names, vec![Some("n.zip".into()), Some("folded.txt".into())]);
    }

    #[test]
    fn qp_and_base64_never_panic() {
        assert_eq!(quoted_printable(b"a=\r\nb=4", false), b"ab=4\r\n");
        assert_eq!(quoted_printable(b"a \t\r\n", true), b"a\r\n\r\n");
        assert_eq!(quoted_printable(b"=", false), b"");
        assert_eq!(quoted_printable(b"=zz", false), b"=zz\r\n");
        assert_eq!(base64_lenient(b"TW!F*u"), b"Man");
        for (q, m) in [
            (&b"a=\r\nb=4"[..], false),
            (b"a \t\r\n", true),
            (b"=", false),
            (b"=zz", false),
            (b"=3D=\n=41=4", true),
            (b"x==41\n\n", false),
            (b"x==41\n\n", true),
            (b"", false),
            (b"\n", false),
        ] {
            assert_eq!(
                quoted_printable_len(q, m),
                quoted_printable(q, m).len(),
                "{q:?}"
            );
        }
        for n in 0..64u8 {
            let v: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            let _ = entities(&v);
        }
    }
}
