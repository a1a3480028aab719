//! HTTP/1.x analyzer with Zeek `http.log` semantics.
//!
//! Each direction is a small state machine (header block → body → next
//! message) fed in-order bytes in arbitrary chunks. Header blocks are
//! buffered up to [`ProtoConfig::http_max_header_bytes`]; bodies are
//! streamed and never buffered whole: only the first
//! [`ProtoConfig::body_prefix_bytes`] of a response and
//! [`ProtoConfig::req_body_prefix_bytes`] of a request are kept (plus a
//! few hundred bytes for content-magic detection) and a running SHA-256
//! covers what was seen.
//!
//! Requests are queued (pipelining, capped by [`ProtoConfig::max_pending`])
//! and paired with responses in order; one [`Http`] event is emitted per
//! request when its response completes, or at [`Analyzer::finish`].
//!
//! Body lengths are transfer-decoded (de-chunked) lengths and, as in Zeek,
//! `Content-Encoding: gzip` / `deflate` bodies are decompressed on the fly:
//! lengths, prefixes (content magic) and SHA-256 describe the decoded
//! content, the way Zeek's file analysis sees it. Decoding is bounded by
//! [`ProtoConfig::http_max_decoded_body`] (decompression bombs) and input
//! is fed in small slices so one packet cannot inflate into a huge buffer.
//! A body that fails to decode, or is cut by a gap, is counted on from
//! there in wire bytes and reported with a weird.
//!
//! **No panics on any input**: every slice of wire bytes is bounds-checked
//! and wire lengths use checked or saturating arithmetic. Caps that are hit
//! are reported with a weird, never silently.

use std::borrow::Cow;
use std::collections::VecDeque;

use botscope_event::{Event, Http, Ts};
use sha2::{Digest, Sha256};

use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

/// Methods recognised by [`probe`] and by resynchronisation after a gap.
/// The parser itself accepts any token as a method, as bots invent some.
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"TRACE",
    b"CONNECT",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"MKACTIVITY",
    b"CHECKOUT",
    b"MERGE",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
    b"NOTIFY",
    b"POLL",
    b"BCOPY",
    b"BDELETE",
    b"BMOVE",
    b"BPROPFIND",
    b"BPROPPATCH",
    b"RPC_IN_DATA",
    b"RPC_OUT_DATA",
];

/// Body bytes kept internally for content-magic detection.
const MAGIC_BYTES: usize = 512;
/// Longest chunk-size line (with extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// Bytes needed to decide whether a line starts an HTTP message.
const RESYNC_PROBE: usize = 16;
/// Most headers handed to httparse before falling back to the lenient parser.
const MAX_HEADERS: usize = 128;
/// Headers whose presence means a proxy was involved (Zeek's list).
const PROXY_HEADERS: &[&str] = &[
    "FORWARDED",
    "X-FORWARDED-FOR",
    "X-FORWARDED-FROM",
    "CLIENT-IP",
    "VIA",
    "XROXY-CONNECTION",
    "PROXY-CONNECTION",
];
/// Most distinct `proxied` entries kept per request.
const MAX_PROXIED: usize = 16;

// ---------------------------------------------------------------------------
// Probe

/// Is this the start of an HTTP/1.x stream from `dir`?
///
/// Client side: a known method (case-sensitive, like Zeek), a space, a URI
/// and ` HTTP/1.` on the first line. Server side: `HTTP/1.x NNN`.
pub fn probe(dir: Dir, data: &[u8]) -> Probe {
    match dir {
        Dir::Orig => probe_request(data),
        Dir::Resp => probe_response(data),
    }
}

fn probe_request(data: &[u8]) -> Probe {
    let line_end = memchr::memchr(b'\n', data);
    let line = strip_eol(match line_end {
        Some(e) => data.get(..e).unwrap_or_default(),
        None => data,
    });
    let known_start = METHODS
        .iter()
        .any(|m| data.starts_with(m) || (data.len() < m.len() && m.starts_with(data)));
    // "<token> <uri> HTTP/d.d" (or "<token> HTTP/d.d", an empty URI) as
    // Zeek reads a request line: any method token (QUERY, CCM_POST,
    // methods bots invent).
    if line_end.is_some() || line.len() > 64 || memchr::memmem::find(line, b" HTTP/").is_some() {
        if let Ok(l) = request_line(line) {
            if *l.version != *b"0.9" && is_token(l.method) {
                return Probe::Certain;
            }
        }
    }
    let Some(sp) = line.iter().position(|&b| b == b' ') else {
        // No request line yet, or a mangled one ("OPTIONSHTTP/1.1"): if
        // it starts like a method, let the reply decide (Zeek logs the
        // reply of a request it could not parse).
        return if known_start && line.len() <= 8192 {
            Probe::Unsure
        } else {
            Probe::NotForUs
        };
    };
    let method = line.get(..sp).unwrap_or_default();
    let rest = line.get(sp + 1..).unwrap_or_default();
    if memchr::memmem::find(rest, b"HTTP/1.").is_some_and(|pos| pos > 0) {
        // A version after an odd method or URI ("GET /HTTP/1.1" is an
        // HTTP/0.9 request to Zeek): the reply decides.
        return Probe::Unsure;
    }
    if !METHODS.contains(&method) {
        return Probe::NotForUs;
    }
    if line_end.is_some() || line.len() > 8192 {
        Probe::NotForUs
    } else {
        Probe::Unsure
    }
}

/// An HTTP token (RFC 9110 `tchar`s), as a method is.
fn is_token(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 64
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

fn probe_response(data: &[u8]) -> Probe {
    const PAT: &[u8] = b"HTTP/1.";
    let n = data.len().min(PAT.len());
    // Zeek takes `http/` in lower case too (weird `lowercase_HTTP_keyword`).
    if !data
        .get(..n)
        .is_some_and(|d| d.eq_ignore_ascii_case(&PAT[..n]))
    {
        return Probe::NotForUs;
    }
    // "HTTP/1.x NNN": a digit, a space and three digits after the prefix.
    for i in 7..12 {
        let Some(&b) = data.get(i) else {
            return Probe::Unsure;
        };
        let ok = if i == 8 {
            b == b' '
        } else {
            b.is_ascii_digit()
        };
        if !ok {
            return Probe::NotForUs;
        }
    }
    Probe::Certain
}

/// Does `line` (the first bytes of a line) start an HTTP message from the
/// given side? `None`: not enough bytes to tell.
fn starts_message(is_orig: bool, line: &[u8]) -> Option<bool> {
    if is_orig {
        for m in METHODS {
            let n = m.len();
            if line.len() <= n {
                if m.starts_with(line) {
                    return None;
                }
                continue;
            }
            if line.starts_with(m) && line.get(n) == Some(&b' ') {
                return line
                    .get(n + 1)
                    .map(|&b| b != b' ' && b != b'\r' && b != b'\n');
            }
        }
        Some(false)
    } else {
        const PAT: &[u8] = b"HTTP/1.";
        let n = line.len().min(PAT.len());
        if line.get(..n) != PAT.get(..n) {
            Some(false)
        } else if n < PAT.len() {
            None
        } else {
            Some(true)
        }
    }
}

// ---------------------------------------------------------------------------
// Small text helpers shared with the SMTP analyzer.

/// Bytes as a `String`: valid UTF-8 is kept, other bytes become `\xNN`
/// (Zeek's escaping).
pub(crate) fn bytes_to_string(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            let mut out = String::with_capacity(b.len() + 8);
            push_lossy(&mut out, b);
            out
        }
    }
}

/// [`bytes_to_string`] appended to `out`.
pub(crate) fn push_lossy(out: &mut String, b: &[u8]) {
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
}

/// The request URI as Zeek logs it (`unescape_URI`): `%XX` and IIS's
/// `%uXXXX` decoded, a `%` that starts neither kept as is. When the
/// decoded bytes are not UTF-8 the URI is kept as sent (a `String` cannot
/// carry the raw bytes Zeek would escape as `\xNN`).
pub(crate) fn unescape_uri(uri: &[u8]) -> String {
    if !uri.contains(&b'%') {
        return bytes_to_string(uri);
    }
    let hex = |c: u8| -> Option<u8> { (c as char).to_digit(16).map(|d| d as u8) };
    let mut out = Vec::with_capacity(uri.len());
    let mut i = 0;
    while i < uri.len() {
        let c = uri[i];
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        let (a, b) = (uri.get(i + 1).copied(), uri.get(i + 2).copied());
        if let (Some(h), Some(l)) = (a.and_then(hex), b.and_then(hex)) {
            out.push(h << 4 | l);
            i += 3;
        } else if a == Some(b'u')
            && uri.len() >= i + 6
            && uri[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit)
        {
            let d: Vec<u8> = uri[i + 2..i + 6].iter().filter_map(|&c| hex(c)).collect();
            out.push(d[0] << 4 | d[1]);
            out.push(d[2] << 4 | d[3]);
            i += 6;
        } else {
            out.push(c);
            i += 1;
        }
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(_) => bytes_to_string(uri),
    }
}

/// Lenient base64 decoder (standard and URL-safe alphabets, whitespace
/// ignored, stops at padding). `None` on any other byte.
pub(crate) fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    crate::util::base64(input, false)
}

/// Trim ASCII spaces and tabs at both ends.
pub(crate) fn trim_blank(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if *first == b' ' || *first == b'\t' || *first == b'\r' || *first == b'\n' {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if *last == b' ' || *last == b'\t' || *last == b'\r' || *last == b'\n' {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Strip one trailing `\n` and then one `\r`.
fn strip_eol(mut line: &[u8]) -> &[u8] {
    if let [rest @ .., b'\n'] = line {
        line = rest;
    }
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    line
}

// ---------------------------------------------------------------------------
// Body accounting

/// Streaming decompressor for a `Content-Encoding`.
enum Inflate {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Raw(flate2::write::DeflateDecoder<Vec<u8>>),
    /// `deflate` before its first two bytes tell zlib from raw deflate;
    /// holds the first byte when it came alone.
    Deflate(Option<u8>),
}

/// Input slice fed to the decompressor at once: deflate expands at most
/// ~1032:1, so one slice inflates to at most ~4 MiB.
const INFLATE_SLICE: usize = 4096;

impl Inflate {
    fn for_encoding(value: &[u8]) -> Option<Inflate> {
        let v = trim_blank(value);
        if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Some(Inflate::Gzip(flate2::write::GzDecoder::new(Vec::new())))
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Some(Inflate::Deflate(None))
        } else {
            None
        }
    }

    /// Feed compressed bytes; decoded output is appended to `out`.
    fn write(&mut self, d: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        if let Inflate::Deflate(held) = *self {
            // RFC 9110 says zlib; many servers send raw deflate. Telling
            // them apart takes the first two bytes, which may come in
            // separate writes (a 1-byte first chunk).
            let first = held.or_else(|| d.first().copied());
            let second = if held.is_some() { d.first() } else { d.get(1) };
            let (Some(b0), Some(&b1)) = (first, second) else {
                *self = Inflate::Deflate(first);
                return Ok(());
            };
            let zlib = b0 & 0x0f == 8 && (u16::from(b0) << 8 | u16::from(b1)) % 31 == 0;
            *self = if zlib {
                Inflate::Zlib(flate2::write::ZlibDecoder::new(Vec::new()))
            } else {
                Inflate::Raw(flate2::write::DeflateDecoder::new(Vec::new()))
            };
            if let Some(b) = held {
                self.decode(&[b], out)?;
            }
        }
        self.decode(d, out)
    }

    fn decode(&mut self, d: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        use std::io::Write;
        let buf = match self {
            Inflate::Gzip(g) => {
                g.write_all(d)?;
                g.flush()?;
                g.get_mut()
            }
            Inflate::Zlib(z) => {
                z.write_all(d)?;
                z.flush()?;
                z.get_mut()
            }
            Inflate::Raw(r) => {
                r.write_all(d)?;
                r.flush()?;
                r.get_mut()
            }
            Inflate::Deflate(_) => return Ok(()),
        };
        out.append(buf);
        Ok(())
    }
}

/// A body being streamed: length, leading bytes and running hash.
struct Body {
    inflate: Option<Inflate>,
    /// Scratch for decoded bytes of one slice.
    decoded: Vec<u8>,
    max_decoded: u64,
    /// Decoding stopped: the decompressor failed on the data.
    decode_failed: bool,
    /// Decoding stopped: the decoded size cap was reached.
    decode_capped: bool,
    len: u64,
    head: Vec<u8>,
    head_cap: usize,
    /// How many of `head`'s bytes the event keeps.
    keep: usize,
    /// A gap happened before `head` was full: stop filling it.
    head_frozen: bool,
    hash: Hash,
    incomplete: bool,
    /// A multipart body: its parts' file names and types.
    multipart: Option<Box<crate::multipart::Multipart>>,
    /// The last decoded byte.
    last: u8,
    /// Bytes lost to gaps (counted in `len`).
    missing: u64,
    /// When the body began.
    start: Ts,
    /// `--extract-files`: where to write the body, once it has a byte.
    extract: Option<std::sync::Arc<crate::extract::Extractor>>,
    sink: Option<crate::extract::Sink>,
    /// Large bodies hash on the helper thread ([`crate::offload`]).
    offload: bool,
}

/// Whether a body's bytes are hashed (SHA-256).
enum Hash {
    /// Not yet known: fewer than [`MAGIC_BYTES`] seen. `all`: hash
    /// whatever the content (extraction, or every body asked for).
    Undecided {
        all: bool,
    },
    On(Sha256),
    /// Past [`crate::offload::OFFLOAD_AFTER`] bytes: on the helper thread.
    Offloaded(crate::offload::Pending),
    Off,
}

/// Is content of this magic type a download, whose hash the analysis
/// uses (payload IOCs, intel)? Text (HTML, scripts, JSON, XML) and media
/// are not; anything unrecognised is, as an unknown binary may be an
/// encrypted payload.
fn is_download(mime: Option<&str>) -> bool {
    match mime {
        None => true,
        Some(m) => {
            !(m.starts_with("text/")
                || m.starts_with("image/")
                || m.starts_with("audio/")
                || m.starts_with("video/")
                || matches!(
                    m,
                    "application/xml"
                        | "application/javascript"
                        | "application/ogg"
                        | "application/x-riff"
                ))
        }
    }
}

/// What a finished body contributes to the log record.
struct BodyOut {
    len: u64,
    prefix: Vec<u8>,
    sha256: Option<String>,
    mime: Option<&'static str>,
    incomplete: bool,
    decode_failed: bool,
    decode_capped: bool,
    /// A multipart body's parts: (file names, types by content).
    parts: Option<(Vec<String>, Vec<String>)>,
    missing: u64,
    start: Ts,
    /// The extracted copy, named once the file id is known.
    sink: Option<crate::extract::Sink>,
}

impl Body {
    fn new(prefix_bytes: usize) -> Body {
        Body {
            inflate: None,
            decoded: Vec::new(),
            max_decoded: u64::MAX,
            decode_failed: false,
            decode_capped: false,
            len: 0,
            head: Vec::new(),
            head_cap: prefix_bytes.max(MAGIC_BYTES),
            keep: prefix_bytes,
            head_frozen: false,
            hash: Hash::Undecided { all: false },
            incomplete: false,
            multipart: None,
            last: b'\n',
            missing: 0,
            start: Ts(0),
            extract: None,
            sink: None,
            offload: false,
        }
    }

    /// The body begins at `ts` (its file's start in files.log).
    fn starting(mut self, ts: Ts) -> Body {
        self.start = ts;
        self
    }

    /// Write the (decoded) body into the `--extract-files` folder. An
    /// extracted body is always hashed (its files.log row names the file
    /// written).
    fn extracting(mut self, ex: Option<&std::sync::Arc<crate::extract::Extractor>>) -> Body {
        self.extract = ex.cloned();
        if self.extract.is_some() {
            self.hash = Hash::Undecided { all: true };
        }
        self
    }

    /// Hash every body, not only downloads ([`ProtoConfig::http_hash_all_bodies`]).
    fn hashing_all(mut self, all: bool) -> Body {
        if all {
            self.hash = Hash::Undecided { all: true };
        }
        self
    }

    /// Hash a large body on the helper thread ([`ProtoConfig::offload_hashes`]).
    fn offloading(mut self, offload: bool) -> Body {
        self.offload = offload;
        self
    }

    /// Follow the parts of a `multipart/*` body (`content_type` is the
    /// header's value).
    fn with_content_type(mut self, content_type: Option<&str>) -> Body {
        self.multipart = content_type
            .and_then(|c| crate::multipart::boundary(c.as_bytes()))
            .map(|b| Box::new(crate::multipart::Multipart::new(b)));
        self
    }

    /// Decode `Content-Encoding` bytes before accounting (gzip/deflate).
    fn with_encoding(mut self, encoding: Option<&[u8]>, max_decoded: u64) -> Body {
        self.inflate = encoding.and_then(Inflate::for_encoding);
        self.max_decoded = max_decoded;
        self
    }

    fn feed(&mut self, d: &[u8]) {
        if d.is_empty() {
            return;
        }
        let Some(mut inf) = self.inflate.take() else {
            self.account(d);
            return;
        };
        let mut decoded = std::mem::take(&mut self.decoded);
        let mut rest = d;
        while !rest.is_empty() {
            let n = rest.len().min(INFLATE_SLICE);
            let (piece, tail) = rest.split_at(n);
            rest = tail;
            decoded.clear();
            if inf.write(piece, &mut decoded).is_err() {
                // Not really compressed (or corrupt): count the rest on
                // the wire from here.
                self.decode_failed = true;
                self.account(&decoded);
                self.account(piece);
                self.account(rest);
                self.decoded = decoded;
                return;
            }
            let room = self.max_decoded.saturating_sub(self.len);
            if decoded.len() as u64 > room {
                decoded.truncate(room as usize);
                self.account(&decoded);
                self.decode_capped = true;
                self.incomplete = true;
                self.decoded = decoded;
                return;
            }
            self.account(&decoded);
        }
        decoded.clear();
        self.decoded = decoded;
        self.inflate = Some(inf);
    }

    fn account(&mut self, d: &[u8]) {
        if d.is_empty() || self.decode_capped {
            return;
        }
        self.len = self.len.saturating_add(d.len() as u64);
        match &mut self.hash {
            Hash::On(_) if self.offload && self.len > crate::offload::OFFLOAD_AFTER => {
                if let Hash::On(sha) = std::mem::replace(&mut self.hash, Hash::Off) {
                    self.hash = match crate::offload::Pending::start(sha) {
                        Ok(mut p) => {
                            p.update(d);
                            Hash::Offloaded(p)
                        }
                        Err(mut sha) => {
                            self.offload = false;
                            sha.update(d);
                            Hash::On(sha)
                        }
                    };
                }
            }
            Hash::On(sha) => sha.update(d),
            Hash::Offloaded(p) => p.update(d),
            Hash::Undecided { .. } | Hash::Off => {}
        }
        if let Some(ex) = self.extract.take() {
            self.sink = ex.begin();
        }
        if let Some(s) = self.sink.as_mut() {
            s.write(d);
        }
        if let Some(m) = self.multipart.as_mut() {
            m.feed(d);
        }
        if let Some(&b) = d.last() {
            self.last = b;
        }
        let mut taken = 0;
        if !self.head_frozen && self.head.len() < self.head_cap {
            taken = (self.head_cap - self.head.len()).min(d.len());
            self.head
                .extend_from_slice(d.get(..taken).unwrap_or_default());
        }
        // Undecided, every byte so far is in `head` (a gap decides first):
        // decide once the magic has its bytes, hash them, then the rest.
        if matches!(self.hash, Hash::Undecided { .. }) && self.head.len() >= MAGIC_BYTES {
            self.decide_hash();
            if let Hash::On(sha) = &mut self.hash {
                sha.update(d.get(taken..).unwrap_or_default());
            }
        }
    }

    /// Whether this body is hashed, from its first bytes: downloads
    /// (executables, archives, documents, applets, anything not known to
    /// be text or media) are; pages, scripts, JSON and images, the bulk
    /// of HTTP bytes, are not unless every body is hashed. The hash then
    /// covers the bytes in `head` so far.
    fn decide_hash(&mut self) {
        let Hash::Undecided { all } = self.hash else {
            return;
        };
        let wanted = all || is_download(crate::mime_from_magic(&self.head));
        self.hash = if wanted {
            let mut sha = Sha256::new();
            sha.update(&self.head);
            Hash::On(sha)
        } else {
            Hash::Off
        };
    }

    fn gap(&mut self, n: u64) {
        // `head` stops here: decide on what it holds.
        self.decide_hash();
        // A decompressor cannot continue across missing bytes.
        self.inflate = None;
        if let Some(s) = self.sink.as_mut() {
            s.gap(n);
        }
        self.len = self.len.saturating_add(n);
        self.missing = self.missing.saturating_add(n);
        self.incomplete = true;
        self.head_frozen = true;
    }

    fn finish(mut self) -> BodyOut {
        self.decide_hash();
        let mime = if self.head.is_empty() {
            None
        } else {
            crate::mime_from_magic(&self.head)
        };
        // Zeek reads a multipart body line by line and counts each line
        // with its CRLF, the last one too: a body that does not end in a
        // line break is logged 2 bytes longer than it is.
        let len = if self.multipart.is_some() && self.len > 0 && self.last != b'\n' {
            self.len.saturating_add(2)
        } else {
            self.len
        };
        let parts = self.multipart.map(|mut m| {
            m.finish();
            (m.filenames, m.mime_types)
        });
        let mut prefix = self.head;
        prefix.truncate(self.keep);
        BodyOut {
            len,
            prefix,
            sha256: match self.hash {
                Hash::On(sha) if self.len > 0 => Some(hex::encode(sha.finalize())),
                // Its files.log row and its HTTP row: two placeholders.
                Hash::Offloaded(p) => Some(p.finish(2)),
                _ => None,
            },
            mime,
            incomplete: self.incomplete,
            decode_failed: self.decode_failed,
            decode_capped: self.decode_capped,
            parts,
            missing: self.missing,
            start: self.start,
            sink: self.sink,
        }
    }
}

// ---------------------------------------------------------------------------
// Per-direction state

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    /// Reading a chunk-size line.
    Size,
    /// This many chunk-data bytes still to come.
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd,
    /// Trailer lines after the last chunk.
    Trailer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked(ChunkState),
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Collecting a start line and header block.
    Headers,
    /// Streaming a body.
    Body(Framing),
    /// Lost sync: looking for a line that starts a message.
    Resync,
    /// CONNECT or Upgrade: the rest is not HTTP.
    Tunnel,
}

/// Response header fields kept until the response completes.
#[derive(Default)]
struct RespHead {
    version: Option<String>,
    code: u16,
    msg: Option<String>,
    content_type: Option<String>,
    location: Option<String>,
    /// `Content-Disposition`'s file name.
    filename: Option<String>,
}

struct Side {
    is_orig: bool,
    phase: Phase,
    /// Header block bytes so far.
    buf: Vec<u8>,
    /// Start of the current (incomplete) header line in `buf`.
    line_start: usize,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    first_line_checked: bool,
    start_ts: Ts,
    body: Option<Body>,
    /// Chunk-size or trailer line being collected.
    line: Vec<u8>,
    trailer_bytes: usize,
    /// Resync: are we at the start of a line?
    rs_line_start: bool,
    rs_buf: Vec<u8>,
    rs_ts: Ts,
    /// Transaction the current message belongs to.
    cur_id: u64,
    resp: RespHead,
}

impl Side {
    fn new(is_orig: bool) -> Side {
        Side {
            is_orig,
            phase: Phase::Headers,
            buf: Vec::new(),
            line_start: 0,
            scanned: 0,
            first_line_checked: false,
            start_ts: Ts::default(),
            body: None,
            line: Vec::new(),
            trailer_bytes: 0,
            rs_line_start: true,
            rs_buf: Vec::new(),
            rs_ts: Ts::default(),
            cur_id: 0,
            resp: RespHead::default(),
        }
    }

    fn reset_headers(&mut self) {
        self.buf.clear();
        self.line_start = 0;
        self.scanned = 0;
        self.first_line_checked = false;
    }

    fn enter_resync(&mut self, line_start: bool) {
        self.reset_headers();
        self.phase = Phase::Resync;
        self.rs_line_start = line_start;
        self.rs_buf.clear();
        self.line.clear();
    }

    fn dir(&self) -> &'static str {
        if self.is_orig {
            "orig"
        } else {
            "resp"
        }
    }
}

/// One request (and, once seen, its response) waiting to be logged.
struct Txn {
    id: u64,
    http: Http,
    ts: Ts,
}

/// State shared by both directions.
struct Shared {
    /// What the connection carries after a `101` or a `CONNECT` tunnel.
    handover: crate::Handover,
    pending: VecDeque<Txn>,
    depth: u32,
    next_id: u64,
    max_header: usize,
    prefix_bytes: usize,
    req_prefix_bytes: usize,
    max_decoded: u64,
    max_pending: usize,
    extract: Option<std::sync::Arc<crate::extract::Extractor>>,
    hash_all: bool,
    offload: bool,
    /// An HTTP/0.9 request was taken without the blank line that ends
    /// its (empty) header block: Zeek ends that message at the close,
    /// after its reply was logged, and logs an empty row for it.
    open_09: bool,
}

impl Shared {
    fn new_id(&mut self) -> u64 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    fn new_depth(&mut self) -> u32 {
        self.depth = self.depth.saturating_add(1);
        self.depth
    }

    fn find(&mut self, id: u64) -> Option<&mut Txn> {
        self.pending.iter_mut().find(|t| t.id == id)
    }
}

/// HTTP/1.x analyzer for one connection.
pub struct HttpAnalyzer {
    orig: Side,
    resp: Side,
    sh: Shared,
}

impl HttpAnalyzer {
    pub fn new(config: &ProtoConfig) -> Self {
        HttpAnalyzer {
            orig: Side::new(true),
            resp: Side::new(false),
            sh: Shared {
                handover: crate::Handover::None,
                pending: VecDeque::new(),
                depth: 0,
                next_id: 0,
                max_header: config.http_max_header_bytes.max(64),
                prefix_bytes: config.body_prefix_bytes,
                req_prefix_bytes: config.req_body_prefix_bytes,
                max_decoded: config.http_max_decoded_body,
                max_pending: config.max_pending.max(1),
                extract: config.extract.clone(),
                hash_all: config.http_hash_all_bodies,
                offload: config.offload_hashes,
                open_09: false,
            },
        }
    }
}

impl Analyzer for HttpAnalyzer {
    fn service(&self) -> botscope_event::Service {
        botscope_event::Service::HTTP
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        let HttpAnalyzer { orig, resp, sh } = self;
        let (side, other) = match dir {
            Dir::Orig => (orig, resp),
            Dir::Resp => (resp, orig),
        };
        let mut rest = data;
        while !rest.is_empty() {
            let used = match side.phase {
                Phase::Tunnel => return Status::Done,
                Phase::Headers => headers(side, other, sh, ctx, rest),
                Phase::Body(f) => body(side, other, sh, ctx, f, rest),
                Phase::Resync => resync(side, ctx, rest),
            };
            rest = rest.get(used..).unwrap_or_default();
        }
        if side.phase == Phase::Tunnel {
            Status::Done
        } else {
            Status::Continue
        }
    }

    fn gap(&mut self, ctx: &mut Ctx<'_>, dir: Dir, len: u64) -> Status {
        let HttpAnalyzer { orig, resp, sh } = self;
        let (side, other) = match dir {
            Dir::Orig => (orig, resp),
            Dir::Resp => (resp, orig),
        };
        match side.phase {
            Phase::Tunnel => return Status::Done,
            Phase::Headers => {
                if !side.buf.is_empty() {
                    ctx.weird("HTTP_gap_in_header", Some(side.dir().to_string()));
                }
                side.enter_resync(true);
            }
            Phase::Resync => side.enter_resync(true),
            Phase::Body(Framing::UntilClose) => {
                if let Some(b) = side.body.as_mut() {
                    b.gap(len);
                }
            }
            Phase::Body(Framing::Length(rem))
            | Phase::Body(Framing::Chunked(ChunkState::Data(rem))) => {
                let covered = len.min(rem);
                if let Some(b) = side.body.as_mut() {
                    b.gap(covered);
                }
                let left = rem - covered;
                if len > rem {
                    // Lost more than the body: the next message start is gone too.
                    complete_message(side, other, sh, ctx, true);
                    if side.phase != Phase::Tunnel {
                        side.enter_resync(true);
                    }
                } else if let Phase::Body(Framing::Length(_)) = side.phase {
                    if left == 0 {
                        complete_message(side, other, sh, ctx, true);
                    } else {
                        side.phase = Phase::Body(Framing::Length(left));
                    }
                } else if left == 0 {
                    side.phase = Phase::Body(Framing::Chunked(ChunkState::DataEnd));
                } else {
                    side.phase = Phase::Body(Framing::Chunked(ChunkState::Data(left)));
                }
            }
            Phase::Body(Framing::Chunked(_)) => {
                if let Some(b) = side.body.as_mut() {
                    b.incomplete = true;
                }
                complete_message(side, other, sh, ctx, true);
                if side.phase != Phase::Tunnel {
                    side.enter_resync(true);
                }
            }
        }
        if side.phase == Phase::Tunnel {
            Status::Done
        } else {
            Status::Continue
        }
    }

    fn handover(&self) -> crate::Handover {
        self.sh.handover
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        let HttpAnalyzer { orig, resp, sh } = self;
        finish_side(orig, resp, sh, ctx);
        finish_side(resp, orig, sh, ctx);
        while let Some(t) = sh.pending.pop_front() {
            emit(ctx, t);
        }
        if std::mem::take(&mut sh.open_09) {
            let t = Txn {
                id: sh.new_id(),
                http: Http {
                    trans_depth: sh.new_depth(),
                    ..Http::default()
                },
                ts: ctx.ts,
            };
            emit(ctx, t);
        }
    }
}

/// End of connection for one direction: close a body in progress.
fn finish_side(side: &mut Side, other: &mut Side, sh: &mut Shared, ctx: &mut Ctx<'_>) {
    match side.phase {
        Phase::Body(f) => {
            // A body read until close ends normally here; others were cut.
            let cut = f != Framing::UntilClose;
            complete_message(side, other, sh, ctx, cut);
        }
        Phase::Headers if !side.buf.is_empty() => {
            ctx.weird("HTTP_unfinished_header", Some(side.dir().to_string()));
            side.reset_headers();
        }
        _ => {}
    }
}

fn emit(ctx: &mut Ctx<'_>, t: Txn) {
    let mut http = t.http;
    // Zeek's `version` is the reply's: a request never answered has none.
    if http.status_code.is_none() {
        http.version = None;
    }
    http.meta = Some(ctx.meta_at(t.ts));
    ctx.emit(Event::Http(http));
}

// ---------------------------------------------------------------------------
// Header phase

/// Collect a header block; returns how many bytes of `data` were used.
fn headers(
    side: &mut Side,
    other: &mut Side,
    sh: &mut Shared,
    ctx: &mut Ctx<'_>,
    data: &[u8],
) -> usize {
    if !side.is_orig
        && side.buf.is_empty()
        && other.phase == Phase::Headers
        && !other.buf.is_empty()
    {
        // The server answers while the client's header block is still
        // open: an HTTP/0.9 request has no headers and no blank line
        // after its request line. Take the request as it stands.
        let first_end = memchr::memchr(b'\n', &other.buf);
        let is09 = first_end.is_some_and(|e| {
            request_line(strip_eol(&other.buf[..e])).is_ok_and(|l| *l.version == *b"0.9")
        });
        if is09 {
            let mut block = std::mem::take(&mut other.buf);
            block.extend_from_slice(b"\r\n");
            other.reset_headers();
            on_request(other, sh, ctx, &block);
            sh.open_09 = true;
        }
    }
    if !side.is_orig && side.buf.is_empty() {
        // The answer to an HTTP/0.9 request has no status line nor
        // headers: every byte until the close is its body (Zeek logs it
        // with version 0.9, code 0 and reason `<empty>`).
        if let Some(t) = sh.pending.front() {
            if t.http.version.as_deref() == Some("0.9") && t.http.status_code.is_none() {
                side.cur_id = t.id;
                side.start_ts = ctx.ts;
                side.resp = RespHead {
                    version: Some("0.9".into()),
                    code: 0,
                    msg: Some("<empty>".into()),
                    ..RespHead::default()
                };
                side.body = Some(
                    Body::new(sh.prefix_bytes)
                        .starting(ctx.ts)
                        .hashing_all(sh.hash_all)
                        .offloading(sh.offload)
                        .extracting(sh.extract.as_ref()),
                );
                side.phase = Phase::Body(Framing::UntilClose);
                return 0;
            }
        }
    }
    if side.buf.is_empty() {
        // Blank lines between messages (after a POST body, keep-alive).
        let skip = data
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if skip > 0 {
            return skip;
        }
        side.start_ts = ctx.ts;
    }
    let old_len = side.buf.len();
    let room = sh.max_header.saturating_sub(old_len);
    let take = data.len().min(room);
    side.buf
        .extend_from_slice(data.get(..take).unwrap_or_default());

    let mut end = None;
    loop {
        let from = side.scanned.max(side.line_start);
        let hay = side.buf.get(from..).unwrap_or_default();
        let Some(off) = memchr::memchr(b'\n', hay) else {
            side.scanned = side.buf.len();
            break;
        };
        let nl = from + off;
        let line = side.buf.get(side.line_start..nl).unwrap_or_default();
        let empty = line.is_empty() || line == b"\r";
        if !side.first_line_checked {
            side.first_line_checked = true;
            if !first_line_ok(side.is_orig, line) {
                let name = if side.is_orig {
                    request_line(strip_eol(line))
                        .err()
                        .unwrap_or("bad_HTTP_request")
                } else {
                    "bad_HTTP_reply"
                };
                let addl = bytes_to_string(line.get(..line.len().min(64)).unwrap_or_default());
                ctx.weird(name, Some(addl));
                // Resume after this line.
                let used = (nl + 1).saturating_sub(old_len).min(take);
                side.enter_resync(true);
                return used.max(1);
            }
        } else if empty {
            end = Some(nl + 1);
            break;
        }
        side.line_start = nl + 1;
        side.scanned = nl + 1;
    }

    match end {
        Some(e) => {
            let used = e.saturating_sub(old_len);
            let block = std::mem::take(&mut side.buf);
            let block_ref = block.get(..e).unwrap_or_default();
            if side.is_orig {
                on_request(side, sh, ctx, block_ref);
                // An HTTP/0.9 request while an earlier reply's body is
                // still being read: that reply ends here (Zeek:
                // `http_09_reply_before_request`), and what the server
                // sends next answers the 0.9 request.
                let is09 = sh
                    .pending
                    .back()
                    .is_some_and(|t| t.http.version.as_deref() == Some("0.9"));
                if is09 && matches!(other.phase, Phase::Body(_)) && other.cur_id != side.cur_id {
                    ctx.weird("http_09_reply_before_request", None);
                    complete_message(other, side, sh, ctx, false);
                }
            } else {
                on_response(side, other, sh, ctx, block_ref);
            }
            // Reuse the allocation.
            side.buf = block;
            side.buf.clear();
            side.line_start = 0;
            side.scanned = 0;
            side.first_line_checked = false;
            used.max(1)
        }
        None => {
            if side.buf.len() >= sh.max_header {
                ctx.weird("HTTP_header_too_long", Some(side.dir().to_string()));
                side.enter_resync(false);
            }
            take.max(1).min(data.len())
        }
    }
}

/// Could `line` (without the newline) be a request/status line?
fn first_line_ok(is_orig: bool, line: &[u8]) -> bool {
    let line = strip_eol(line);
    if is_orig {
        request_line(line).is_ok()
    } else {
        line.get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"HTTP/"))
    }
}

/// Zeek's HTTP analyzer is registered for these server ports: there it
/// reads whatever a client sends, and the reply decides.
pub const ZEEK_PORTS: &[u16] = &[80, 81, 631, 1080, 3128, 8000, 8080, 8888];

/// The probe on one of [`ZEEK_PORTS`], after [`probe`] said no: a
/// request line Zeek parses (HTTP/0.9 included) is HTTP, and any other
/// client opening waits for the reply.
pub fn probe_on_port(dir: Dir, data: &[u8]) -> Probe {
    match dir {
        Dir::Orig => {
            let line_end = memchr::memchr(b'\n', data);
            // An HTTP/0.9 line must name a path or a URL: `SSH-2.0-X
            // Ubuntu` is a token and a word too.
            let parses = |line: &[u8]| {
                request_line(line).is_ok_and(|l| {
                    *l.version != *b"0.9"
                        || l.uri.starts_with(b"/")
                        || memchr::memmem::find(l.uri, b"://").is_some()
                })
            };
            match line_end {
                Some(e) if parses(strip_eol(&data[..e])) => Probe::Certain,
                _ if data.len() <= 8192 => Probe::Unsure,
                _ => Probe::NotForUs,
            }
        }
        Dir::Resp => probe_response(data),
    }
}

/// A request line as Zeek's `HTTP_RequestLine`/`ParseRequest` read it.
struct RequestLine<'a> {
    method: &'a [u8],
    uri: &'a [u8],
    /// `"1.1"`, `"0.9"` (no version: an HTTP/0.9 request), or the raw
    /// text after `HTTP/` when it is not `d.d`.
    version: Cow<'a, [u8]>,
}

/// A byte class as a table: one load per byte, where `contains` on the
/// list of separators was a `memchr` call per byte of every request line.
/// `uri`: the URI characters (letters, digits and `listed`); otherwise
/// visible ASCII but `listed` (an HTTP token's characters).
const fn byte_class(uri: bool, listed: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if uri {
            b.is_ascii_alphanumeric()
        } else {
            b >= 33 && b < 127
        };
        c += 1;
    }
    let mut i = 0;
    while i < listed.len() {
        t[listed[i] as usize] = uri;
        i += 1;
    }
    t
}

static TOKEN_CHARS: [bool; 256] = byte_class(false, b"()<>@,;:\\\"/[]?={}");
static URI_CHARS: [bool; 256] = byte_class(true, b":/?#[]@!$&'()*+,;=-_.~%");

fn is_token_char(c: u8) -> bool {
    TOKEN_CHARS[usize::from(c)]
}

fn is_uri_char(c: u8) -> bool {
    URI_CHARS[usize::from(c)]
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Zeek's request-line rules: the method is an HTTP token followed by
/// whitespace; the URI runs up to the last whitespace before `HTTP/`
/// (empty when the line goes straight to `HTTP/`); no `HTTP/` at all is
/// an HTTP/0.9 request, valid only for a method of 3+ characters and a
/// URI. `Err` holds the weird's name.
fn request_line(line: &[u8]) -> Result<RequestLine<'_>, &'static str> {
    let end = line.len();
    let m = line.iter().take_while(|&&c| is_token_char(c)).count();
    if m == 0 {
        let with_version = end >= 9
            && line
                .get(end - 9..end - 3)
                .is_some_and(|t| t.eq_ignore_ascii_case(b" HTTP/"));
        return Err(if with_version {
            "bad_HTTP_request_with_version"
        } else {
            "bad_HTTP_request"
        });
    }
    let rest = m + line[m..].iter().take_while(|&&c| is_ws(c)).count();
    if rest == m {
        return Err("bad_HTTP_request");
    }
    let starts_http = |i: usize| {
        line.get(i..i + 5)
            .is_some_and(|t| t.eq_ignore_ascii_case(b"HTTP/"))
    };
    let mut end_of_uri = rest + line[rest..].iter().take_while(|&&c| is_uri_char(c)).count();
    if end_of_uri >= end && starts_http(rest) {
        end_of_uri = rest;
    }
    let mut vs = end_of_uri;
    while vs < end {
        end_of_uri = vs;
        vs += line[vs..].iter().take_while(|&&c| is_ws(c)).count();
        if starts_http(vs) {
            break;
        }
        vs += 1;
    }
    let version: Cow<'_, [u8]> = if vs >= end {
        Cow::Borrowed(b"0.9")
    } else {
        let v = &line[vs + 5..];
        match v {
            [a, b'.', c, ..] if a.is_ascii_digit() && c.is_ascii_digit() => Cow::Borrowed(&v[..3]),
            _ => Cow::Borrowed(v),
        }
    };
    let uri = &line[rest..end_of_uri.min(end)];
    if *version == *b"0.9" && (m < 3 || uri.is_empty()) {
        return Err("bad_HTTP_request");
    }
    Ok(RequestLine {
        method: &line[..m],
        uri,
        version,
    })
}

/// A parsed header block: start line tokens and header fields.
struct Parsed<'a> {
    /// Request: method, uri, version. Response: version, code, reason.
    a: &'a [u8],
    b: Cow<'a, [u8]>,
    c: Cow<'a, [u8]>,
    headers: Vec<(&'a [u8], Cow<'a, [u8]>)>,
}

fn parse_block<'a>(is_orig: bool, block: &'a [u8]) -> Option<Parsed<'a>> {
    let mut hdrs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    if is_orig {
        let mut req = httparse::Request::new(&mut hdrs);
        if let Ok(httparse::Status::Complete(_)) = req.parse(block) {
            let version: &'static [u8] = match req.version {
                Some(0) => b"1.0",
                _ => b"1.1",
            };
            let headers = req
                .headers
                .iter()
                .map(|h| (h.name.as_bytes(), Cow::Borrowed(h.value)))
                .collect();
            return Some(Parsed {
                a: req.method.unwrap_or_default().as_bytes(),
                b: Cow::Borrowed(req.path.unwrap_or_default().as_bytes()),
                c: Cow::Borrowed(version),
                headers,
            });
        }
    } else {
        let mut resp = httparse::Response::new(&mut hdrs);
        if let Ok(httparse::Status::Complete(_)) = resp.parse(block) {
            let version: &'static [u8] = match resp.version {
                Some(0) => b"1.0",
                _ => b"1.1",
            };
            let code = format!("{:03}", resp.code?).into_bytes();
            let headers = resp
                .headers
                .iter()
                .map(|h| (h.name.as_bytes(), Cow::Borrowed(h.value)))
                .collect();
            return Some(Parsed {
                a: version,
                b: Cow::Owned(code),
                c: Cow::Borrowed(resp.reason.unwrap_or_default().as_bytes()),
                headers,
            });
        }
    }
    parse_lenient(is_orig, block)
}

/// Line-splitting parser for what httparse rejects (bad header bytes,
/// obsolete line folding, odd versions, too many headers).
fn parse_lenient(is_orig: bool, block: &[u8]) -> Option<Parsed<'_>> {
    let mut lines = block.split(|&b| b == b'\n').map(strip_eol);
    let first = lines.next()?;
    let mut toks = first
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|t| !t.is_empty());
    let (a, b, c): (&[u8], Cow<'_, [u8]>, Cow<'_, [u8]>) = if is_orig {
        let method = toks.next()?;
        let uri = toks.next().unwrap_or_default();
        let version = match toks.next_back() {
            Some(v) => {
                let v = v.strip_prefix(b"HTTP/").unwrap_or(v);
                Cow::Borrowed(v)
            }
            None => Cow::Borrowed(&b"0.9"[..]),
        };
        (method, Cow::Borrowed(uri), version)
    } else {
        let sp = first.iter().position(|&b| b == b' ' || b == b'\t');
        let (ver, rest) = match sp {
            Some(sp) => (first.get(..sp)?, first.get(sp + 1..).unwrap_or_default()),
            None => (first, &b""[..]),
        };
        let ver = match ver.get(..5) {
            Some(p) if p.eq_ignore_ascii_case(b"HTTP/") => &ver[5..],
            _ => ver,
        };
        let rest = trim_blank(rest);
        let csp = rest
            .iter()
            .position(|&b| b == b' ' || b == b'\t')
            .unwrap_or(rest.len());
        let code = rest.get(..csp).unwrap_or_default();
        let reason = trim_blank(rest.get(csp..).unwrap_or_default());
        (ver, Cow::Borrowed(code), Cow::Borrowed(reason))
    };
    let mut headers: Vec<(&[u8], Cow<'_, [u8]>)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            // Obsolete line folding: continue the previous value.
            if let Some((_, v)) = headers.last_mut() {
                let cont = trim_blank(line);
                let mut owned = v.to_vec();
                owned.push(b' ');
                owned.extend_from_slice(cont);
                *v = Cow::Owned(owned);
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim_blank(line.get(..colon).unwrap_or_default());
        let value = trim_blank(line.get(colon + 1..).unwrap_or_default());
        if name.is_empty() {
            continue;
        }
        headers.push((name, Cow::Borrowed(value)));
    }
    Some(Parsed { a, b, c, headers })
}

/// Interpretation of the framing headers of one message.
#[derive(Default)]
struct FramingHeaders {
    chunked: bool,
    content_length: Option<Option<u64>>,
    /// `Content-Encoding` value, for decoding the body.
    encoding: Option<Vec<u8>>,
}

impl FramingHeaders {
    /// Record `name: value` if it is a framing header (requests and
    /// responses alike); `false` for any other header.
    fn take(&mut self, ctx: &mut Ctx<'_>, name: &[u8], value: &[u8]) -> bool {
        if name.eq_ignore_ascii_case(b"content-length") {
            let cl = parse_content_length(value);
            if cl.is_none() {
                ctx.weird("HTTP_bad_content_length", Some(bytes_to_string(value)));
            }
            self.content_length = Some(cl);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.chunked |= has_chunked(value);
        } else if name.eq_ignore_ascii_case(b"content-encoding") {
            self.encoding = Some(value.to_vec());
        } else {
            return false;
        }
        true
    }
}

fn parse_content_length(v: &[u8]) -> Option<u64> {
    let v = trim_blank(v);
    // "5, 5" (duplicated by proxies): accept when every value agrees.
    let mut out: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let part = trim_blank(part);
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut n: u64 = 0;
        for &d in part {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        match out {
            Some(prev) if prev != n => return None,
            _ => out = Some(n),
        }
    }
    out
}

fn has_chunked(v: &[u8]) -> bool {
    v.split(|&b| b == b',')
        .any(|t| trim_blank(t).eq_ignore_ascii_case(b"chunked"))
}

fn framing_for(
    ctx: &mut Ctx<'_>,
    fh: &FramingHeaders,
    is_orig: bool,
    no_body: bool,
) -> Option<Framing> {
    if no_body {
        return None;
    }
    if fh.chunked {
        if fh.content_length.is_some() {
            ctx.weird("HTTP_content_length_and_chunked", None);
        }
        return Some(Framing::Chunked(ChunkState::Size));
    }
    match fh.content_length {
        Some(Some(0)) => None,
        Some(Some(n)) => Some(Framing::Length(n)),
        // Zeek treats an unparsable length as 0.
        Some(None) => None,
        None if is_orig => None,
        None => Some(Framing::UntilClose),
    }
}

fn on_request(side: &mut Side, sh: &mut Shared, ctx: &mut Ctx<'_>, block: &[u8]) {
    let Some(p) = parse_block(true, block) else {
        ctx.weird("bad_HTTP_request", None);
        side.enter_resync(true);
        return;
    };
    // Method, URI and version as Zeek reads the request line (httparse
    // and the lenient parser give the header fields).
    let first = block
        .split(|&b| b == b'\n')
        .next()
        .map(strip_eol)
        .unwrap_or_default();
    let (method, uri, version) = match request_line(first) {
        Ok(l) => (l.method, Cow::Borrowed(l.uri), l.version),
        Err(_) => (p.a, p.b.clone(), p.c.clone()),
    };
    let mut http = Http {
        trans_depth: sh.new_depth(),
        method: Some(bytes_to_string(method)),
        uri: Some(unescape_uri(&uri)),
        version: Some(bytes_to_string(&version)),
        ..Http::default()
    };
    let mut fh = FramingHeaders::default();
    for (name, value) in &p.headers {
        let value: &[u8] = value;
        let n = *name;
        if n.eq_ignore_ascii_case(b"host") {
            http.host = Some(bytes_to_string(value));
        } else if n.eq_ignore_ascii_case(b"referer") {
            http.referrer = Some(bytes_to_string(value));
        } else if n.eq_ignore_ascii_case(b"user-agent") {
            http.user_agent = Some(bytes_to_string(value));
        } else if n.eq_ignore_ascii_case(b"origin") {
            http.origin = Some(bytes_to_string(value));
        } else if n.eq_ignore_ascii_case(b"content-type") {
            http.req_content_type = Some(bytes_to_string(value));
        } else if n.eq_ignore_ascii_case(b"content-disposition") {
            if let Some(f) = crate::multipart::disposition_filename(value) {
                http.orig_filenames.push(f);
            }
        } else if fh.take(ctx, n, value) {
            // A framing header: recorded for the body.
        } else if n.eq_ignore_ascii_case(b"authorization")
            || n.eq_ignore_ascii_case(b"proxy-authorization")
        {
            if let Some(user) = basic_auth_user(value) {
                http.username = Some(user);
            }
        } else if http.proxied.len() < MAX_PROXIED
            && PROXY_HEADERS
                .iter()
                .any(|h| n.eq_ignore_ascii_case(h.as_bytes()))
        {
            let entry = format!(
                "{} -> {}",
                bytes_to_string(n).to_ascii_uppercase(),
                bytes_to_string(value)
            );
            if !http.proxied.contains(&entry) {
                http.proxied.push(entry);
            }
        }
    }
    if sh.pending.len() >= sh.max_pending {
        ctx.weird(
            "HTTP_too_many_pending_requests",
            Some(sh.max_pending.to_string()),
        );
        if let Some(old) = sh.pending.pop_front() {
            emit(ctx, old);
        }
    }
    let id = sh.new_id();
    side.cur_id = id;
    let ct = http.req_content_type.clone();
    sh.pending.push_back(Txn {
        id,
        http,
        ts: side.start_ts,
    });
    match framing_for(ctx, &fh, true, false) {
        Some(f) => {
            side.body = Some(
                Body::new(sh.req_prefix_bytes)
                    .with_encoding(fh.encoding.as_deref(), sh.max_decoded)
                    .with_content_type(ct.as_deref())
                    .starting(ctx.ts)
                    .hashing_all(sh.hash_all)
                    .offloading(sh.offload)
                    .extracting(sh.extract.as_ref()),
            );
            side.phase = Phase::Body(f);
        }
        None => side.phase = Phase::Headers,
    }
}

/// User name from `Basic base64(user:pass)`; the password is not kept.
fn basic_auth_user(value: &[u8]) -> Option<String> {
    let v = trim_blank(value);
    let scheme = v.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = base64_decode(trim_blank(v.get(6..)?))?;
    let user = match decoded.iter().position(|&b| b == b':') {
        Some(c) => decoded.get(..c)?,
        None => &decoded[..],
    };
    Some(bytes_to_string(user))
}

fn on_response(
    side: &mut Side,
    other: &mut Side,
    sh: &mut Shared,
    ctx: &mut Ctx<'_>,
    block: &[u8],
) {
    let Some(p) = parse_block(false, block) else {
        ctx.weird("bad_HTTP_reply", None);
        side.enter_resync(true);
        return;
    };
    let code = match *p.b {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => {
            ctx.weird("bad_HTTP_reply", Some(bytes_to_string(&p.b)));
            side.enter_resync(true);
            return;
        }
    };
    // No whitespace after the code: Zeek has no reason phrase and logs
    // `<empty>`; whitespace then nothing is an empty one.
    let status_line = strip_eol(block.split(|&b| b == b'\n').next().unwrap_or_default());
    let after_code = status_line
        .iter()
        .position(|&c| is_ws(c))
        .map(|sp| sp + status_line[sp..].iter().take_while(|&&c| is_ws(c)).count() + 3);
    let no_reason = after_code.is_none_or(|k| status_line.len() <= k);
    let mut head = RespHead {
        version: Some(bytes_to_string(p.a)),
        code,
        msg: Some(if no_reason {
            "<empty>".to_string()
        } else {
            bytes_to_string(&p.c)
        }),
        ..RespHead::default()
    };
    let mut fh = FramingHeaders::default();
    let mut websocket = false;
    for (name, value) in &p.headers {
        let value: &[u8] = value;
        let n = *name;
        if n.eq_ignore_ascii_case(b"upgrade") {
            websocket |= value
                .windows(9)
                .any(|w| w.eq_ignore_ascii_case(b"websocket"));
        }
        if n.eq_ignore_ascii_case(b"content-type") {
            head.content_type = Some(bytes_to_string(value));
        } else if n.eq_ignore_ascii_case(b"content-disposition") {
            if let Some(f) = crate::multipart::disposition_filename(value) {
                head.filename = Some(f);
            }
        } else if n.eq_ignore_ascii_case(b"location") {
            head.location = Some(bytes_to_string(value));
        } else {
            fh.take(ctx, n, value);
        }
    }

    // Pair with the oldest unanswered request.
    let (id, method_head, method_connect) = match sh.pending.front() {
        Some(t) => {
            let m = t.http.method.as_deref();
            (t.id, m == Some("HEAD"), m == Some("CONNECT"))
        }
        None => {
            ctx.weird("unmatched_HTTP_reply", None);
            let id = sh.new_id();
            let http = Http {
                trans_depth: sh.new_depth(),
                ..Http::default()
            };
            sh.pending.push_back(Txn {
                id,
                http,
                ts: side.start_ts,
            });
            (id, false, false)
        }
    };
    side.cur_id = id;

    if (100..200).contains(&code) && code != 101 {
        // Interim response: note it and wait for the final one.
        if let Some(t) = sh.find(id) {
            t.http.info_code = Some(code);
            t.http.info_msg = head.msg.clone();
            t.http.status_code = Some(code);
            t.http.status_msg = head.msg;
        }
        side.phase = Phase::Headers;
        return;
    }
    if code == 101 {
        // Zeek's scripts note a 101 as an informational reply too.
        if let Some(t) = sh.find(id) {
            t.http.info_code = Some(code);
            t.http.info_msg = head.msg.clone();
        }
    }
    side.resp = head;
    let tunnel = code == 101 || (method_connect && (200..300).contains(&code));
    if tunnel {
        sh.handover = if code == 101 && websocket {
            crate::Handover::WebSocket
        } else {
            crate::Handover::Reprobe
        };
        complete_message(side, other, sh, ctx, false);
        side.phase = Phase::Tunnel;
        other.phase = Phase::Tunnel;
        return;
    }
    let no_body = method_head || code == 204 || code == 304;
    match framing_for(ctx, &fh, false, no_body) {
        Some(f) => {
            side.body = Some(
                Body::new(sh.prefix_bytes)
                    .with_encoding(fh.encoding.as_deref(), sh.max_decoded)
                    .with_content_type(side.resp.content_type.as_deref())
                    .starting(ctx.ts)
                    .hashing_all(sh.hash_all)
                    .offloading(sh.offload)
                    .extracting(sh.extract.as_ref()),
            );
            side.phase = Phase::Body(f);
        }
        None => complete_message(side, other, sh, ctx, false),
    }
}

/// The current message of `side` is over (normally or cut). Record its
/// body, and for a response, emit the transaction.
fn complete_message(
    side: &mut Side,
    other: &mut Side,
    sh: &mut Shared,
    ctx: &mut Ctx<'_>,
    cut: bool,
) {
    side.phase = Phase::Headers;
    side.line.clear();
    side.trailer_bytes = 0;
    let mut out = side.body.take().map(|b| {
        let mut o = b.finish();
        o.incomplete |= cut;
        o
    });
    if let Some(o) = &out {
        if o.decode_failed {
            ctx.weird("HTTP_content_decoding_failed", None);
        }
        if o.decode_capped {
            ctx.weird("HTTP_decoded_body_too_large", None);
        }
    }
    if let Some(o) = &mut out {
        if o.len > 0 {
            let (depth, filename) = match sh.pending.iter().find(|t| t.id == side.cur_id) {
                Some(t) => (
                    t.http.trans_depth,
                    if side.is_orig {
                        t.http.orig_filenames.first().cloned()
                    } else {
                        None
                    },
                ),
                None => (0, None),
            };
            let filename = filename
                .or_else(|| o.parts.as_ref().and_then(|p| p.0.first().cloned()))
                .or_else(|| {
                    (!side.is_orig)
                        .then(|| side.resp.filename.clone())
                        .flatten()
                });
            let fuid = fuid(ctx.uid, u64::from(depth), side.is_orig);
            let extracted = o.sink.take().and_then(|s| s.finish(o.start, "HTTP", &fuid));
            ctx.emit(Event::File(botscope_event::File {
                meta: Some(ctx.meta_at(o.start)),
                fuid,
                source: "HTTP",
                depth,
                analyzers: if o.sha256.is_some() {
                    vec!["SHA256"]
                } else {
                    Vec::new()
                },
                mime_type: o.mime.map(str::to_string),
                filename,
                duration: Some(botscope_event::Duration(
                    ctx.ts.0.saturating_sub(o.start.0).max(0),
                )),
                is_orig: side.is_orig,
                seen_bytes: o.len.saturating_sub(o.missing),
                total_bytes: None,
                missing_bytes: o.missing,
                sha256: o.sha256.clone(),
                extracted_cutoff: extracted.as_ref().map(|e| e.cutoff),
                extracted_size: extracted.as_ref().map(|e| e.size),
                extracted: extracted.map(|e| e.name),
            }));
        }
    }
    if side.is_orig {
        if let (Some(t), Some(o)) = (sh.find(side.cur_id), out) {
            t.http.request_body_len = o.len;
            t.http.req_body_prefix = o.prefix;
            t.http.req_body_sha256 = o.sha256;
            match o.parts {
                // A multipart body: its parts' types and file names.
                Some((names, types)) => {
                    t.http.orig_mime_types.extend(types);
                    t.http.orig_filenames.extend(names);
                }
                None => {
                    if let Some(m) = o.mime {
                        t.http.orig_mime_types.push(m.to_string());
                    }
                }
            }
        }
        return;
    }
    let head = std::mem::take(&mut side.resp);
    let pos = sh.pending.iter().position(|t| t.id == side.cur_id);
    let mut txn = match pos.and_then(|p| sh.pending.remove(p)) {
        Some(t) => t,
        None => {
            // The request was evicted from the queue meanwhile.
            let id = sh.new_id();
            Txn {
                id,
                http: Http {
                    trans_depth: sh.new_depth(),
                    ..Http::default()
                },
                ts: side.start_ts,
            }
        }
    };
    let h = &mut txn.http;
    if head.version.is_some() {
        h.version = head.version;
    }
    h.status_code = Some(head.code);
    h.status_msg = head.msg;
    h.resp_content_type = head.content_type;
    h.location = head.location;
    h.resp_filenames.extend(head.filename);
    if let Some(o) = out {
        h.response_body_len = o.len;
        h.resp_body_prefix = o.prefix;
        h.resp_body_sha256 = o.sha256;
        h.resp_body_incomplete = o.incomplete;
        match o.parts {
            Some((names, types)) => {
                h.resp_mime_types.extend(types);
                h.resp_filenames.extend(names);
            }
            None => {
                if let Some(m) = o.mime {
                    h.resp_mime_types.push(m.to_string());
                }
            }
        }
    }
    // A request whose body is still arriving: log what is known now.
    if other.cur_id == txn.id {
        if let (Phase::Body(_), Some(b)) = (other.phase, other.body.as_ref()) {
            h.request_body_len = b.len;
        }
    }
    emit(ctx, txn);
}

/// A file id like Zeek's (`F` and 17 base62 characters), the same for
/// the same body of the same connection in every run.
pub fn fuid(uid: botscope_event::Uid, n: u64, orig: bool) -> String {
    let mut x = uid.0 ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(orig);
    // SplitMix64 finalizer.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(18);
    out.push('F');
    let mut v = u128::from(x) << 32 | u128::from(x.rotate_left(17) as u32);
    for _ in 0..17 {
        out.push(char::from(A[(v % 62) as usize]));
        v /= 62;
    }
    out
}

// ---------------------------------------------------------------------------
// Body phase

fn body(
    side: &mut Side,
    other: &mut Side,
    sh: &mut Shared,
    ctx: &mut Ctx<'_>,
    framing: Framing,
    data: &[u8],
) -> usize {
    match framing {
        Framing::UntilClose => {
            if let Some(b) = side.body.as_mut() {
                b.feed(data);
            }
            data.len()
        }
        Framing::Length(rem) => {
            let take = usize::try_from(rem).unwrap_or(usize::MAX).min(data.len());
            if let Some(b) = side.body.as_mut() {
                b.feed(data.get(..take).unwrap_or_default());
            }
            let left = rem.saturating_sub(take as u64);
            if left == 0 {
                complete_message(side, other, sh, ctx, false);
            } else {
                side.phase = Phase::Body(Framing::Length(left));
            }
            take
        }
        Framing::Chunked(cs) => chunked(side, other, sh, ctx, cs, data),
    }
}

fn chunked(
    side: &mut Side,
    other: &mut Side,
    sh: &mut Shared,
    ctx: &mut Ctx<'_>,
    cs: ChunkState,
    data: &[u8],
) -> usize {
    match cs {
        ChunkState::Data(rem) => {
            let take = usize::try_from(rem).unwrap_or(usize::MAX).min(data.len());
            if let Some(b) = side.body.as_mut() {
                b.feed(data.get(..take).unwrap_or_default());
            }
            let left = rem.saturating_sub(take as u64);
            side.phase = Phase::Body(Framing::Chunked(if left == 0 {
                ChunkState::DataEnd
            } else {
                ChunkState::Data(left)
            }));
            take.max(1).min(data.len())
        }
        ChunkState::DataEnd => match data.first() {
            Some(b'\r') => 1,
            Some(b'\n') => {
                side.phase = Phase::Body(Framing::Chunked(ChunkState::Size));
                1
            }
            _ => {
                // Inaccurate chunk size: try to read a size line here.
                ctx.weird("HTTP_chunk_missing_crlf", Some(side.dir().to_string()));
                side.phase = Phase::Body(Framing::Chunked(ChunkState::Size));
                0
            }
        },
        ChunkState::Size => {
            let (used, complete) = collect_line(&mut side.line, data, MAX_CHUNK_LINE);
            if !complete {
                if side.line.len() >= MAX_CHUNK_LINE {
                    ctx.weird(
                        "HTTP_bad_chunk_size",
                        Some("chunk-size line too long".to_string()),
                    );
                    abort_body(side, other, sh, ctx);
                }
                return used;
            }
            let size_text = trim_blank(strip_eol(&side.line));
            if size_text.is_empty() {
                // A stray blank line before the size: tolerate.
                side.line.clear();
                return used;
            }
            let parsed = parse_chunk_size(size_text);
            let addl = parsed.is_none().then(|| {
                bytes_to_string(size_text.get(..size_text.len().min(32)).unwrap_or_default())
            });
            side.line.clear();
            match parsed {
                Some(0) => {
                    side.trailer_bytes = 0;
                    side.phase = Phase::Body(Framing::Chunked(ChunkState::Trailer));
                }
                Some(n) => side.phase = Phase::Body(Framing::Chunked(ChunkState::Data(n))),
                None => {
                    ctx.weird("HTTP_bad_chunk_size", addl);
                    abort_body(side, other, sh, ctx);
                }
            }
            used
        }
        ChunkState::Trailer => {
            let (used, complete) = collect_line(&mut side.line, data, MAX_CHUNK_LINE);
            side.trailer_bytes = side.trailer_bytes.saturating_add(used);
            if !complete {
                if side.line.len() >= MAX_CHUNK_LINE || side.trailer_bytes > sh.max_header {
                    ctx.weird("HTTP_header_too_long", Some("trailer".to_string()));
                    abort_body(side, other, sh, ctx);
                }
                return used;
            }
            let empty = strip_eol(&side.line).is_empty();
            side.line.clear();
            if empty {
                complete_message(side, other, sh, ctx, false);
            } else if side.trailer_bytes > sh.max_header {
                ctx.weird("HTTP_header_too_long", Some("trailer".to_string()));
                abort_body(side, other, sh, ctx);
            }
            used
        }
    }
}

/// The body can't be followed any more: log it as cut and resync.
fn abort_body(side: &mut Side, other: &mut Side, sh: &mut Shared, ctx: &mut Ctx<'_>) {
    complete_message(side, other, sh, ctx, true);
    if side.phase != Phase::Tunnel {
        side.enter_resync(false);
    }
}

/// Append bytes of `data` up to and including the first `\n` to `line`,
/// keeping at most `cap` bytes. Returns (bytes used, line complete).
fn collect_line(line: &mut Vec<u8>, data: &[u8], cap: usize) -> (usize, bool) {
    let (used, complete) = match memchr::memchr(b'\n', data) {
        Some(i) => (i + 1, true),
        None => (data.len(), false),
    };
    let room = cap.saturating_sub(line.len());
    let chunk = data.get(..used).unwrap_or_default();
    line.extend_from_slice(chunk.get(..chunk.len().min(room)).unwrap_or_default());
    (used, complete)
}

/// Hex chunk size before any `;extension`; `None` on junk or overflow.
fn parse_chunk_size(text: &[u8]) -> Option<u64> {
    let end = text.iter().position(|&b| b == b';').unwrap_or(text.len());
    let digits = trim_blank(text.get(..end).unwrap_or_default());
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        n = n.checked_mul(16)?.checked_add(u64::from(v))?;
    }
    Some(n)
}

// ---------------------------------------------------------------------------
// Resynchronisation

/// Skip bytes until a line that starts a message; returns bytes used.
fn resync(side: &mut Side, ctx: &mut Ctx<'_>, data: &[u8]) -> usize {
    if !side.rs_line_start {
        return match memchr::memchr(b'\n', data) {
            Some(i) => {
                side.rs_line_start = true;
                i + 1
            }
            None => data.len(),
        };
    }
    if side.rs_buf.is_empty() {
        // Decide on the bytes in place when possible.
        let window = data.get(..data.len().min(RESYNC_PROBE)).unwrap_or_default();
        let upto_nl = match memchr::memchr(b'\n', window) {
            Some(i) => window.get(..i).unwrap_or_default(),
            None => window,
        };
        match starts_message(side.is_orig, upto_nl) {
            Some(true) => {
                side.phase = Phase::Headers;
                side.reset_headers();
                return 0;
            }
            Some(false) => {
                side.rs_line_start = false;
                return 0;
            }
            None if upto_nl.len() < window.len() || window.len() >= RESYNC_PROBE => {
                side.rs_line_start = false;
                return 0;
            }
            None => {
                side.rs_ts = ctx.ts;
                side.rs_buf.extend_from_slice(window);
                return window.len();
            }
        }
    }
    // Partial line start kept from earlier calls: add bytes one at a time
    // until the question is decided (at most RESYNC_PROBE bytes).
    let mut used = 0;
    for &b in data {
        if b == b'\n' {
            side.rs_buf.clear();
            side.rs_line_start = true;
            return used + 1;
        }
        side.rs_buf.push(b);
        used += 1;
        match starts_message(side.is_orig, &side.rs_buf) {
            Some(true) => {
                let kept = std::mem::take(&mut side.rs_buf);
                side.reset_headers();
                side.phase = Phase::Headers;
                side.start_ts = side.rs_ts;
                side.buf.extend_from_slice(&kept);
                side.rs_buf = kept;
                side.rs_buf.clear();
                return used;
            }
            Some(false) => {
                side.rs_buf.clear();
                side.rs_line_start = false;
                return used;
            }
            None if side.rs_buf.len() >= RESYNC_PROBE => {
                side.rs_buf.clear();
                side.rs_line_start = false;
                return used;
            }
            None => {}
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes() {
        assert_eq!(parse_chunk_size(b"1a"), Some(26));
        assert_eq!(parse_chunk_size(b"1A;name=value"), Some(26));
        assert_eq!(parse_chunk_size(b"ffffffffffffffffff"), None);
        assert_eq!(parse_chunk_size(b"-1"), None);
        assert_eq!(parse_chunk_size(b""), None);
    }

    #[test]
    fn content_lengths() {
        assert_eq!(parse_content_length(b" 42 "), Some(42));
        assert_eq!(parse_content_length(b"5, 5"), Some(5));
        assert_eq!(parse_content_length(b"5, 6"), None);
        assert_eq!(parse_content_length(b"-5"), None);
        assert_eq!(parse_content_length(b"99999999999999999999"), None);
    }

    #[test]
    fn byte_classes_as_listed() {
        for c in 0..=255u8 {
            let token = (33..127).contains(&c) && !b"()<>@,;:\\\"/[]?={}".contains(&c);
            let uri = c.is_ascii_alphanumeric() || b":/?#[]@!$&'()*+,;=-_.~%".contains(&c);
            assert_eq!(is_token_char(c), token, "{c}");
            assert_eq!(is_uri_char(c), uri, "{c}");
        }
    }

    #[test]
    fn base64() {
        assert_eq!(
            base64_decode(b"dXNlcjpwYXNz").as_deref(),
            Some(&b"user:pass"[..])
        );
        assert_eq!(base64_decode(b"YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode(b"!!"), None);
    }

    #[test]
    fn escaping() {
        assert_eq!(bytes_to_string(b"ab\xffc"), "ab\\xffc");
        assert_eq!(bytes_to_string("é".as_bytes()), "é");
    }

    #[test]
    fn uri_unescaping() {
        assert_eq!(unescape_uri(b"/a%20b%22c"), "/a b\"c");
        assert_eq!(unescape_uri(b"/p%u0041x"), "/p\u{0}Ax");
        assert_eq!(unescape_uri(b"/100%"), "/100%");
        assert_eq!(unescape_uri(b"/%zz%4"), "/%zz%4");
        // Not UTF-8 once decoded: kept as sent.
        assert_eq!(unescape_uri(b"/r%FChma%20x"), "/r%FChma%20x");
    }

    #[test]
    fn zeek_request_lines() {
        let ok = |l: &[u8]| {
            let r = request_line(l).expect("parses");
            (
                bytes_to_string(r.method),
                bytes_to_string(r.uri),
                bytes_to_string(&r.version),
            )
        };
        let t = |m: &str, u: &str, v: &str| (m.to_string(), u.to_string(), v.to_string());
        assert_eq!(ok(b"GET / HTTP/1.1"), t("GET", "/", "1.1"));
        assert_eq!(ok(b"OPTIONS HTTP/1.1"), t("OPTIONS", "", "1.1"));
        assert_eq!(ok(b"GET /HTTP/1.1"), t("GET", "/HTTP/1.1", "0.9"));
        assert_eq!(ok(b"CCM_POST /x y HTTP/1.0"), t("CCM_POST", "/x y", "1.0"));
        assert_eq!(ok(b"GET /zeek.html"), t("GET", "/zeek.html", "0.9"));
        // No whitespace after the method token, no token, a 0.9 request
        // with a short method or no URI.
        assert_eq!(
            request_line(b"GET/ HTTP/1.1").err(),
            Some("bad_HTTP_request")
        );
        assert_eq!(
            request_line(b"\xc3\x82 / HTTP/1.1").err(),
            Some("bad_HTTP_request_with_version")
        );
        assert_eq!(request_line(b"GE /a").err(), Some("bad_HTTP_request"));
        assert_eq!(request_line(b"GET ").err(), Some("bad_HTTP_request"));
        assert!(request_line(b"").is_err());
        // On Zeek's HTTP ports a 0.9 line must name a path.
        assert_eq!(
            probe_on_port(Dir::Orig, b"GET /zeek.html\n"),
            Probe::Certain
        );
        assert_eq!(
            probe_on_port(Dir::Orig, b"SSH-2.0-OpenSSH_8 Ubuntu\r\n"),
            Probe::Unsure
        );
        assert_eq!(
            probe_on_port(Dir::Resp, b"http/1.1 200 OK\r\n"),
            Probe::Certain
        );
    }

    #[test]
    fn probes() {
        assert_eq!(probe(Dir::Orig, b"GET / HTTP/1.1\r\n"), Probe::Certain);
        assert_eq!(probe(Dir::Orig, b"GET /index.html HTTP/1."), Probe::Certain);
        assert_eq!(probe(Dir::Orig, b"GE"), Probe::Unsure);
        assert_eq!(probe(Dir::Orig, b"GET /abc"), Probe::Unsure);
        // Any method token with an HTTP/1.x request line.
        assert_eq!(probe(Dir::Orig, b"get / HTTP/1.1\r\n"), Probe::Certain);
        assert_eq!(probe(Dir::Orig, b"CCM_POST / HTTP/1.\n"), Probe::Certain);
        assert_eq!(probe(Dir::Orig, b"QUERY /q HTTP/1.1\r\n"), Probe::Certain);
        // A mangled request starting like a method: the reply decides.
        assert_eq!(
            probe(Dir::Orig, b"OPTIONSHTTP/1.1\nHost: x\n\n"),
            Probe::Unsure
        );
        assert_eq!(probe(Dir::Orig, b"\xc3\x83 / HTTP/1.\n"), Probe::Unsure);
        assert_eq!(probe(Dir::Orig, b"HELLO world\r\n"), Probe::NotForUs);
        assert_eq!(probe(Dir::Orig, b"GET /\r\n"), Probe::NotForUs);
        assert_eq!(probe(Dir::Orig, b"\x16\x03\x01"), Probe::NotForUs);
        assert_eq!(probe(Dir::Resp, b"HTTP/1.1 200 OK\r\n"), Probe::Certain);
        assert_eq!(probe(Dir::Resp, b"HTTP/1.1 2"), Probe::Unsure);
        assert_eq!(probe(Dir::Resp, b"HTTP/2 200"), Probe::NotForUs);
        assert_eq!(probe(Dir::Resp, b"SSH-2.0"), Probe::NotForUs);
    }

    #[test]
    fn resync_starts() {
        assert_eq!(starts_message(true, b"GET /"), Some(true));
        assert_eq!(starts_message(true, b"GE"), None);
        assert_eq!(starts_message(true, b"GET "), None);
        assert_eq!(starts_message(true, b"GETX"), Some(false));
        assert_eq!(starts_message(false, b"HTTP/1.0 200"), Some(true));
        assert_eq!(starts_message(false, b"HTT"), None);
        assert_eq!(starts_message(false, b"xHTT"), Some(false));
    }
}
