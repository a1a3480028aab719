//! Opening inputs: files or stdin, transparently decompressed, and folders
//! walked in a stable order.
//!
//! Compression is detected from the first bytes of the stream (gzip
//! `1f 8b`, xz `fd 37 7a 58 5a 00`, zstd `28 b5 2f fd`), never from the file
//! name. Nothing here panics on file content; decoder failures surface as
//! I/O errors from `read`, which the capture reader reports as
//! [`ErrorKind::Decompress`].

use std::fs::{self, File};
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::{Error, ErrorKind};

/// Which decompressor was put in front of the raw stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    /// Detect from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Counts raw (compressed) bytes pulled from the underlying source, for
/// progress reporting.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An opened input: the decompressed stream plus what we learned opening it.
pub(crate) struct Opened {
    pub(crate) reader: Box<dyn Read + Send>,
    pub(crate) compression: Compression,
    /// Raw bytes read from the source so far (before decompression).
    pub(crate) raw_bytes: Arc<AtomicU64>,
}

fn io_err(path: &str, e: io::Error) -> Error {
    Error::new(ErrorKind::Io(e), path, None)
}

/// Read up to `buf.len()` bytes, stopping early only at end of stream.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Put a decompressor (if the magic bytes call for one) in front of `raw`.
pub(crate) fn wrap_reader(raw: Box<dyn Read + Send>, name: &str) -> Result<Opened, Error> {
    let raw_bytes = Arc::new(AtomicU64::new(0));
    let mut counted = Counting {
        inner: raw,
        count: Arc::clone(&raw_bytes),
    };
    let mut head = [0u8; 6];
    let n = read_full(&mut counted, &mut head).map_err(|e| io_err(name, e))?;
    let head = &head[..n];
    let compression = Compression::detect(head);
    let stream = Cursor::new(head.to_vec()).chain(counted);
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(stream),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            stream,
        ))),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(
            BufReader::with_capacity(1 << 16, stream),
        )),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(stream)
                .map_err(|e| Error::new(ErrorKind::Decompress(e.to_string()), name, Some(0)))?,
        ),
    };
    Ok(Opened {
        reader,
        compression,
        raw_bytes,
    })
}

pub(crate) fn open_raw(path: &Path) -> Result<Opened, Error> {
    let name = path.display().to_string();
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        let f = File::open(path).map_err(|e| io_err(&name, e))?;
        if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(io_err(
                &name,
                io::Error::other("is a directory (use collect_inputs)"),
            ));
        }
        Box::new(f)
    };
    wrap_reader(raw, &name)
}

/// Open `path` (`-` is stdin) for reading, decompressing gzip, xz or zstd
/// when the first bytes say so.
pub fn open_input(path: &Path) -> Result<Box<dyn Read + Send>, Error> {
    open_raw(path).map(|o| o.reader)
}

fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Expand `paths` into the list of files to read.
///
/// Files (and `-`) are kept as given, in the given order. Folders are
/// walked recursively, entries sorted by name, skipping hidden entries
/// (names starting with `.`) and not following symlinked folders found
/// inside the walk (so a symlink loop cannot recurse forever). Every file is
/// kept whatever its extension: a file that is not a capture fails later
/// with [`ErrorKind::BadMagic`]. Paths that cannot be read are returned as
/// errors and the walk goes on.
pub fn collect_inputs(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Error>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            files.push(p.clone());
            continue;
        }
        match fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut files, &mut errors),
            Ok(_) => files.push(p.clone()),
            Err(e) => errors.push(io_err(&p.display().to_string(), e)),
        }
    }
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<Error>) {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            errors.push(io_err(&dir.display().to_string(), e));
            return;
        }
    };
    let mut entries: Vec<PathBuf> = Vec::new();
    for ent in rd {
        match ent {
            Ok(ent) => entries.push(ent.path()),
            Err(e) => errors.push(io_err(&dir.display().to_string(), e)),
        }
    }
    entries.sort();
    for p in entries {
        if is_hidden(&p) {
            continue;
        }
        let is_link = fs::symlink_metadata(&p)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        match fs::metadata(&p) {
            Ok(m) if m.is_dir() => {
                if !is_link {
                    walk(&p, files, errors);
                }
            }
            Ok(m) if m.is_file() => files.push(p),
            Ok(_) => {} // sockets, fifos, devices inside a folder: not captures
            Err(e) => errors.push(io_err(&p.display().to_string(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], c: Compression) -> Vec<u8> {
        let compressed: Vec<u8> = match c {
            Compression::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(data, 1).unwrap(),
            _ => data.to_vec(),
        };
        assert_eq!(Compression::detect(&compressed), c);
        let mut o = wrap_reader(Box::new(Cursor::new(compressed.clone())), "t").unwrap();
        assert_eq!(o.compression, c);
        let mut out = Vec::new();
        o.reader.read_to_end(&mut out).unwrap();
        assert_eq!(o.raw_bytes.load(Ordering::Relaxed), compressed.len() as u64);
        out
    }

    #[test]
    fn decompression_by_magic() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Xz,
            Compression::Zstd,
        ] {
            assert_eq!(roundtrip(&data, c), data, "{c:?}");
        }
        // Short inputs (shorter than the magic probe) pass through intact.
        assert_eq!(roundtrip(b"ab", Compression::None), b"ab");
        assert_eq!(roundtrip(b"", Compression::None), b"");
    }

    #[test]
    fn corrupt_gzip_is_a_read_error_not_a_panic() {
        let mut bad = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        bad.extend_from_slice(&[0xff; 64]);
        let mut o = wrap_reader(Box::new(Cursor::new(bad)), "t").unwrap();
        let mut out = Vec::new();
        assert!(o.reader.read_to_end(&mut out).is_err());
    }

    #[test]
    fn walks_folders_sorted_skipping_hidden() {
        let base = std::env::temp_dir().join(format!("botscope-wire-walk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("b/sub")).unwrap();
        fs::create_dir_all(base.join(".hidden")).unwrap();
        for f in [
            "b/z.pcap",
            "b/a.bin",
            "b/sub/m",
            "c.pcapng",
            ".dot",
            ".hidden/x",
        ] {
            fs::write(base.join(f), b"x").unwrap();
        }
        let (files, errs) = collect_inputs(&[base.clone(), base.join("missing")]);
        let rel: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(&base).unwrap().display().to_string())
            .collect();
        assert_eq!(rel, ["b/a.bin", "b/sub/m", "b/z.pcap", "c.pcapng"]);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().contains("missing"));
        fs::remove_dir_all(&base).unwrap();
    }
}

// ---------------------------------------------------------------------------
// What an input is

/// What an input is, by content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputKind {
    Pcap,
    Pcapng,
    Zeek,
    Binetflow,
    /// An mbox file (`From ` first line).
    Mbox,
    /// One RFC 5322 message (`.eml`, a Maildir file).
    Eml,
    #[default]
    Unknown,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Pcap => "pcap",
            InputKind::Pcapng => "pcapng",
            InputKind::Zeek => "zeek",
            InputKind::Binetflow => "binetflow",
            InputKind::Mbox => "mbox",
            InputKind::Eml => "eml",
            InputKind::Unknown => "unknown",
        }
    }

    /// The kind named by [`InputKind::as_str`] (`mail`, an older name
    /// for one message, is [`InputKind::Eml`]); anything else is
    /// [`InputKind::Unknown`].
    pub fn parse(s: &str) -> InputKind {
        match s {
            "pcap" => InputKind::Pcap,
            "pcapng" => InputKind::Pcapng,
            "zeek" => InputKind::Zeek,
            "binetflow" => InputKind::Binetflow,
            "mbox" => InputKind::Mbox,
            "eml" | "mail" => InputKind::Eml,
            _ => InputKind::Unknown,
        }
    }

    pub fn is_mail(self) -> bool {
        matches!(self, InputKind::Mbox | InputKind::Eml)
    }
}

/// Bytes looked at to recognise an input.
pub const SNIFF_BYTES: u64 = 4096;

/// Recognise an input from its first (decompressed) bytes.
pub fn sniff_bytes(head: &[u8]) -> InputKind {
    if head.len() >= 4 {
        let m = [head[0], head[1], head[2], head[3]];
        match m {
            [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d] => return InputKind::Pcap,
            [0x0a, 0x0d, 0x0d, 0x0a] => return InputKind::Pcapng,
            _ => {}
        }
    }
    let first_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    if first_line.starts_with(b"#separator") || first_line.starts_with(b"#fields") {
        return InputKind::Zeek;
    }
    if first_line.starts_with(b"StartTime,") {
        return InputKind::Binetflow;
    }
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    if head.get(start) == Some(&b'{') && memfind(head, b"\"id.orig_h\"") {
        return InputKind::Zeek;
    }
    if first_line.starts_with(b"From ") {
        return InputKind::Mbox;
    }
    if looks_like_message(head) {
        return InputKind::Eml;
    }
    InputKind::Unknown
}

fn memfind(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

/// RFC 5322 headers: the first line is a header field, and the head
/// holds at least two of the fields every message has.
fn looks_like_message(head: &[u8]) -> bool {
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(colon) = first.iter().position(|&b| b == b':') else {
        return false;
    };
    if colon == 0
        || !first[..colon]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        return false;
    }
    let lower: Vec<u8> = head.to_ascii_lowercase();
    let fields: [&[u8]; 7] = [
        b"\nreceived:",
        b"\nfrom:",
        b"\nsubject:",
        b"\nmessage-id:",
        b"\ndate:",
        b"\nto:",
        b"\nreturn-path:",
    ];
    let mut with_nl = b"\n".to_vec();
    with_nl.extend_from_slice(&lower);
    fields.iter().filter(|f| memfind(&with_nl, f)).count() >= 2
}

/// Recognise the file at `path` (decompressing first).
pub fn sniff(path: &Path) -> InputKind {
    let Ok(r) = open_input(path) else {
        return InputKind::Unknown;
    };
    let mut head = Vec::with_capacity(SNIFF_BYTES as usize);
    if r.take(SNIFF_BYTES).read_to_end(&mut head).is_err() && head.is_empty() {
        return InputKind::Unknown;
    }
    sniff_bytes(&head)
}
