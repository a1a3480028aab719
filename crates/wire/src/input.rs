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
use std::sync::{mpsc, Arc};

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
    open_raw_ahead(path, false)
}

/// [`open_raw`], a compressed stream decompressed on a helper thread
/// ([`ReadAhead`]) when `read_ahead`.
pub(crate) fn open_raw_ahead(path: &Path, read_ahead: bool) -> Result<Opened, Error> {
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
    let mut opened = wrap_reader(raw, &name)?;
    // Only decompression is worth a thread: an uncompressed file's copy
    // out of the page cache costs less than handing chunks between
    // threads (0.05 s of system time per GB here).
    if read_ahead && opened.compression != Compression::None {
        opened.reader = ReadAhead::spawn(opened.reader);
    }
    Ok(opened)
}

/// Bytes of one read-ahead chunk.
const READ_AHEAD_CHUNK: usize = 256 << 10;
/// Chunks in flight between the helper thread and its reader.
const READ_AHEAD_CHUNKS: usize = 4;
/// Most bytes a [`ReadAhead`] holds.
pub const READ_AHEAD_BYTES: usize = READ_AHEAD_CHUNK * READ_AHEAD_CHUNKS;

/// A stream read on a helper thread, up to [`READ_AHEAD_BYTES`] ahead of
/// its consumer, in chunks that go back and forth between the two (no
/// allocation after the first few reads).
///
/// Bytes arrive in order; an error of the inner stream is returned after
/// every byte read before it, then the stream ends. Dropping the reader
/// stops the thread (it is blocked on a channel whose other end is gone).
pub struct ReadAhead {
    filled: mpsc::Receiver<io::Result<(Vec<u8>, usize)>>,
    empty: mpsc::SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    len: usize,
    pos: usize,
}

impl ReadAhead {
    /// Read `inner` on a new thread. If no thread can be started, `inner`
    /// itself is returned, read in the caller's thread.
    pub fn spawn(inner: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        let (filled_tx, filled) = mpsc::sync_channel(READ_AHEAD_CHUNKS);
        let (empty, empty_rx) = mpsc::sync_channel::<Vec<u8>>(READ_AHEAD_CHUNKS);
        // The thread takes the stream out; if it never starts, it is here.
        let slot = Arc::new(std::sync::Mutex::new(Some(inner)));
        let theirs = Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || {
                let Some(mut inner) = theirs.lock().ok().and_then(|mut g| g.take()) else {
                    return;
                };
                drop(theirs);
                let mut made = 0;
                loop {
                    let mut chunk = if made < READ_AHEAD_CHUNKS {
                        made += 1;
                        vec![0; READ_AHEAD_CHUNK]
                    } else {
                        match empty_rx.recv() {
                            Ok(c) => c,
                            Err(_) => return,
                        }
                    };
                    // One read, not a full chunk: a pipe's bytes go on
                    // as they come.
                    let got = loop {
                        match inner.read(&mut chunk) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            r => break r,
                        }
                    };
                    match got {
                        Ok(0) => return,
                        Ok(n) => {
                            if filled_tx.send(Ok((chunk, n))).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = filled_tx.send(Err(e));
                            return;
                        }
                    }
                }
            });
        if spawned.is_err() {
            if let Some(inner) = slot.lock().ok().and_then(|mut g| g.take()) {
                return inner;
            }
        }
        Box::new(ReadAhead {
            filled,
            empty,
            cur: Vec::new(),
            len: 0,
            pos: 0,
        })
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.len {
            match self.filled.recv() {
                Ok(Ok((chunk, n))) => {
                    let old = std::mem::replace(&mut self.cur, chunk);
                    if !old.is_empty() {
                        // The thread may have stopped: the chunk is dropped.
                        let _ = self.empty.try_send(old);
                    }
                    self.len = n.min(self.cur.len());
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The thread is done: end of stream.
                Err(_) => return Ok(0),
            }
        }
        let have = self.cur.get(self.pos..self.len).unwrap_or_default();
        let n = have.len().min(buf.len());
        buf[..n].copy_from_slice(&have[..n]);
        self.pos += n;
        Ok(n)
    }
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
    fn a_message_is_two_known_fields_at_line_starts_in_any_case() {
        for (head, eml) in [
            (&b"Received: from x\r\nSubject: hi\r\n\r\nbody"[..], true),
            (b"X-Spam: 1\nFROM: a@b\nsubject: s\n", true),
            (b"Return-Path: <a@b>\r\nMessage-ID: <1@b>\r\n", true),
            // One field, however often.
            (b"Subject: a\nSubject: b\n\nSubject: c", false),
            // A field name inside a line does not count.
            (b"X-Note: from: a date: b\nSubject: s\n", false),
            (b"X-Note: y\n from: a\n", false),
            // The first line is not a header field.
            (b"hello world\nFrom: a\nDate: b\n", false),
            (b": x\nFrom: a\nDate: b\n", false),
            (b"", false),
        ] {
            assert_eq!(
                sniff_bytes(head) == InputKind::Eml,
                eml,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
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

    /// Hands out its bytes in pieces of varying size, then an error (if
    /// any); notes when it is dropped.
    struct Pieces {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        fail: bool,
        dropped: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.data.len() {
                return if self.fail {
                    Err(io::Error::other("disk on fire"))
                } else {
                    Ok(0)
                };
            }
            self.step = (self.step * 7 + 13) % 70_001;
            let n = (self.step + 1)
                .min(buf.len())
                .min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl Drop for Pieces {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    fn pieces(
        len: usize,
        fail: bool,
    ) -> (Box<dyn Read + Send>, Arc<std::sync::atomic::AtomicBool>) {
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let data = (0..len).map(|i| (i * 31 % 253) as u8).collect();
        let p = Pieces {
            data,
            pos: 0,
            step: 1,
            fail,
            dropped: Arc::clone(&dropped),
        };
        (Box::new(p), dropped)
    }

    #[test]
    fn read_ahead_gives_the_same_bytes_then_the_error() {
        let len = 3 * READ_AHEAD_BYTES + 12_345;
        let want: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
        // Whole stream, read in odd sizes.
        let mut ra = ReadAhead::spawn(pieces(len, false).0);
        let mut got = Vec::new();
        let mut buf = vec![0; 100_003];
        let mut k = 1;
        loop {
            k = (k * 5 + 3) % buf.len();
            let n = ra.read(&mut buf[..k.max(1)]).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), want.len());
        assert!(got == want);
        // An error comes after every byte before it, then the stream ends.
        let mut ra = ReadAhead::spawn(pieces(len, true).0);
        let mut got = Vec::new();
        let err = ra.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
        assert!(got == want);
        assert_eq!(ra.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn dropping_a_read_ahead_stops_its_thread() {
        let (inner, dropped) = pieces(64 * READ_AHEAD_BYTES, false);
        let mut ra = ReadAhead::spawn(inner);
        let mut buf = [0; 10];
        ra.read_exact(&mut buf).unwrap();
        drop(ra);
        // The thread drops the stream when it sees the reader gone.
        let t = std::time::Instant::now();
        while !dropped.load(Ordering::SeqCst) {
            assert!(
                t.elapsed().as_secs() < 10,
                "read-ahead thread still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn big_files_are_read_ahead_with_the_same_packets() {
        use crate::{CaptureReader, WireConfig};
        let base = std::env::temp_dir().join(format!("botscope-wire-ra-{}", std::process::id()));
        fs::create_dir_all(&base).unwrap();
        let pkt = crate::testutil::v4_tcp(&[7; 1400]);
        let recs: Vec<(u32, u32, &[u8], u32)> = (0..4_000u32)
            .map(|i| (i, 0, pkt.as_slice(), pkt.len() as u32))
            .collect();
        let bytes = crate::testutil::pcap(false, false, 1, 65535, &recs);
        let plain = base.join("big.pcap");
        fs::write(&plain, &bytes).unwrap();
        let gz = base.join("big.pcap.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&bytes).unwrap();
        fs::write(&gz, e.finish().unwrap()).unwrap();
        for path in [&plain, &gz] {
            let mut counts = Vec::new();
            for read_ahead in [false, true] {
                let cfg = WireConfig {
                    read_ahead,
                    ..WireConfig::default()
                };
                let mut r = CaptureReader::open(path, &cfg).unwrap();
                let (mut n, mut sum) = (0u64, 0u64);
                while let Some(p) = r.next_packet().unwrap() {
                    n += 1;
                    sum += p.ts.0 as u64 + p.data.len() as u64;
                }
                counts.push((n, sum));
            }
            assert_eq!(counts[0], counts[1], "{}", path.display());
            assert_eq!(counts[0].0, 4_000);
        }
        fs::remove_dir_all(&base).unwrap();
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
    // Each field at the start of a line, in any case.
    let fields: [&[u8]; 7] = [
        b"received:",
        b"from:",
        b"subject:",
        b"message-id:",
        b"date:",
        b"to:",
        b"return-path:",
    ];
    let mut seen = [false; 7];
    let starts = std::iter::once(0).chain(
        head.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1),
    );
    for at in starts {
        let line = &head[at..];
        for (k, f) in fields.iter().enumerate() {
            if line
                .get(..f.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(f))
            {
                seen[k] = true;
                if seen.iter().filter(|s| **s).count() >= 2 {
                    return true;
                }
            }
        }
    }
    false
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
