//! MIME multipart bodies (`multipart/form-data` uploads, `multipart/*`
//! answers) read as they stream past: each part's file name (the
//! `filename` of its `Content-Disposition`) and its type by content, the
//! way Zeek's MIME analyzer fills `http.log`'s `*_filenames` and
//! `*_mime_types`. Nested multiparts are followed (their own boundary).
//!
//! Nothing is buffered whole: a line is kept up to [`MAX_LINE`] bytes
//! (a delimiter line is short; a longer line is part content), part
//! headers up to [`MAX_HEADERS`], the first [`SNIFF`] bytes of a part's
//! content for its type. At most [`MAX_PARTS`] parts are described.
//! Never panics.

use crate::util::mime_from_magic;

/// Longest line kept whole.
const MAX_LINE: usize = 1024;
/// Most header bytes kept per part.
const MAX_HEADERS: usize = 8192;
/// Content bytes of a part sniffed for its type.
const SNIFF: usize = 512;
/// Most parts described per body.
pub const MAX_PARTS: usize = 64;
/// Deepest nesting followed.
const MAX_DEPTH: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (or after the last).
    Preamble,
    Headers,
    Content,
}

/// The parts of one multipart body.
#[derive(Debug)]
pub struct Multipart {
    /// `--boundary` of each level, outermost first.
    delims: Vec<Vec<u8>>,
    state: State,
    line: Vec<u8>,
    long_line: bool,
    headers: Vec<u8>,
    sniff: Vec<u8>,
    /// `sniff`'s length when the current line began.
    sniff_mark: usize,
    /// The current part is itself multipart (its content is not sniffed).
    nested: bool,
    parts: usize,
    pub filenames: Vec<String>,
    pub mime_types: Vec<String>,
}

/// The `boundary` parameter of a `multipart/*` content type.
pub fn boundary(content_type: &[u8]) -> Option<Vec<u8>> {
    let ct = String::from_utf8_lossy(content_type);
    let (ty, params) = ct.split_once(';')?;
    if !ty.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    param(params, "boundary").map(String::into_bytes)
}

/// The value of parameter `name` in `; a=b; name="v"` (quotes removed).
pub fn param(params: &str, name: &str) -> Option<String> {
    for p in params.split(';') {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case(name) {
            let v = v.trim().trim_matches('"').trim();
            if !v.is_empty() && v.len() <= 256 {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// The file name a `Content-Disposition` value gives (`filename=`).
pub fn disposition_filename(value: &[u8]) -> Option<String> {
    let v = String::from_utf8_lossy(value);
    let params = v.split_once(';').map_or("", |(_, p)| p);
    param(params, "filename")
}

impl Multipart {
    pub fn new(boundary: Vec<u8>) -> Multipart {
        let mut d = b"--".to_vec();
        d.extend_from_slice(&boundary);
        Multipart {
            delims: vec![d],
            state: State::Preamble,
            line: Vec::new(),
            long_line: false,
            headers: Vec::new(),
            sniff: Vec::new(),
            sniff_mark: 0,
            nested: false,
            parts: 0,
            filenames: Vec::new(),
            mime_types: Vec::new(),
        }
    }

    /// Decoded body bytes, in order.
    pub fn feed(&mut self, mut d: &[u8]) {
        while !d.is_empty() {
            let (piece, nl) = match memchr::memchr(b'\n', d) {
                Some(i) => (&d[..=i], true),
                None => (d, false),
            };
            d = &d[piece.len()..];
            if self.line.is_empty() && !self.long_line {
                self.sniff_mark = self.sniff.len();
            }
            if self.state == State::Content && self.sniff.len() < SNIFF && !self.nested {
                // Content bytes (a delimiter line among them is taken
                // back below: sniffing only needs the first bytes).
                let take = (SNIFF - self.sniff.len()).min(piece.len());
                self.sniff.extend_from_slice(&piece[..take]);
            }
            let room = MAX_LINE.saturating_sub(self.line.len());
            if piece.len() > room {
                self.long_line = true;
            }
            self.line.extend_from_slice(&piece[..piece.len().min(room)]);
            if nl {
                let line = std::mem::take(&mut self.line);
                let long = std::mem::replace(&mut self.long_line, false);
                if !long {
                    self.on_line(&line);
                }
                let mut line = line;
                line.clear();
                self.line = line;
            }
        }
    }

    fn on_line(&mut self, raw: &[u8]) {
        let line = raw
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(raw);
        // A delimiter of any open level (the innermost first).
        for depth in (0..self.delims.len()).rev() {
            let delim = &self.delims[depth];
            let Some(rest) = line.strip_prefix(delim.as_slice()) else {
                continue;
            };
            let closing = rest.starts_with(b"--");
            if !closing && !rest.iter().all(|b| matches!(b, b' ' | b'\t')) {
                continue;
            }
            // The content ends before this line: drop it from the sniff.
            if self.state == State::Content {
                self.sniff.truncate(self.sniff_mark);
                self.end_part();
            }
            self.delims.truncate(depth + 1);
            if closing {
                if depth == 0 {
                    self.state = State::Preamble;
                } else {
                    self.delims.truncate(depth);
                    // Back in the enclosing part's content, which ended
                    // with its nested body.
                    self.state = State::Content;
                    self.nested = true;
                }
            } else {
                self.state = State::Headers;
                self.headers.clear();
            }
            return;
        }
        match self.state {
            State::Preamble | State::Content => {}
            State::Headers if line.is_empty() => {
                self.start_content();
            }
            State::Headers => {
                if self.headers.len() + line.len() < MAX_HEADERS {
                    self.headers.extend_from_slice(line);
                    self.headers.push(b'\n');
                }
            }
        }
    }

    fn start_content(&mut self) {
        self.state = State::Content;
        self.sniff.clear();
        self.nested = false;
        self.parts += 1;
        if self.parts > MAX_PARTS {
            return;
        }
        let headers = std::mem::take(&mut self.headers);
        // Header lines, folded continuations joined.
        let text = String::from_utf8_lossy(&headers)
            .replace("\n ", " ")
            .replace("\n\t", " ");
        for h in text.lines() {
            let Some((name, value)) = h.split_once(':') else {
                continue;
            };
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-disposition") {
                if let Some(f) = disposition_filename(value.as_bytes()) {
                    if self.filenames.len() < 16 {
                        self.filenames.push(f);
                    }
                }
            } else if name.eq_ignore_ascii_case("content-type") {
                if let Some(b) = boundary(value.trim().as_bytes()) {
                    if self.delims.len() < MAX_DEPTH {
                        let mut d = b"--".to_vec();
                        d.extend_from_slice(&b);
                        self.delims.push(d);
                        self.nested = true;
                    }
                }
            }
        }
    }

    fn end_part(&mut self) {
        if self.parts <= MAX_PARTS && !self.nested {
            if let Some(m) = mime_from_magic(&self.sniff) {
                if self.mime_types.len() < MAX_PARTS {
                    self.mime_types.push(m.to_string());
                }
            }
        }
        self.sniff.clear();
        self.nested = false;
    }

    /// The body ended (a part still open is described).
    pub fn finish(&mut self) {
        if !self.line.is_empty() && !self.long_line {
            let line = std::mem::take(&mut self.line);
            self.on_line(&line);
        }
        if self.state == State::Content {
            self.end_part();
            self.state = State::Preamble;
        }
    }

    /// Parts seen (including those past [`MAX_PARTS`]).
    pub fn parts(&self) -> usize {
        self.parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_upload_parts() {
        assert_eq!(
            boundary(b"multipart/form-data; boundary=----abc"),
            Some(b"----abc".to_vec())
        );
        assert_eq!(boundary(b"text/html; boundary=x"), None);
        let body = b"preamble\r\n------abc\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello world\r\n------abc\r\nContent-Disposition: form-data; name=\"g\"\r\n\r\nMZ\x90\x00\x03\r\n------abc--\r\n";
        // Fed in every split, the same answer.
        for cut in [1usize, 3, 7, 64, body.len()] {
            let mut m = Multipart::new(b"----abc".to_vec());
            for c in body.chunks(cut) {
                m.feed(c);
            }
            m.finish();
            assert_eq!(m.filenames, vec!["a.txt"], "cut {cut}");
            assert_eq!(
                m.mime_types,
                vec!["text/plain", "application/x-dosexec"],
                "cut {cut}"
            );
            assert_eq!(m.parts(), 2);
        }
    }

    #[test]
    fn nested_and_unterminated() {
        let body = b"--out\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n\r\none\r\n--in\r\n\r\ntwo\r\n--in--\r\n--out\r\nContent-Disposition: attachment; filename=x.bin\r\n\r\n\x00\x01";
        let mut m = Multipart::new(b"out".to_vec());
        m.feed(body);
        m.finish();
        assert_eq!(m.mime_types, vec!["text/plain", "text/plain"]);
        assert_eq!(m.filenames, vec!["x.bin"]);
        assert_eq!(
            disposition_filename(b"attachment; filename=\"t.json\""),
            Some("t.json".into())
        );
        assert_eq!(disposition_filename(b"inline"), None);
        // Garbage: no panic, no parts.
        let mut m = Multipart::new(b"b".to_vec());
        m.feed(&[0xff; 5000]);
        m.feed(b"\n--b");
        m.finish();
        assert_eq!(m.parts(), 0);
    }
}
