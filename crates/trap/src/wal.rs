//! The write-ahead log of messages held in memory (see [`crate::store`]
//! for how it fits): segments of checksummed records, the thread that
//! files logged messages into the Maildir, and the replay at start.
//!
//! A record:
//!
//! ```text
//! "BSW1" | payload length (u32 LE) | CRC-32 of the payload (u32 LE) | payload
//! payload = name length (u16 LE) | name (`ID,S=BYTES`) | the message file's bytes
//! ```
//!
//! Segments are written only by the committer thread, a whole group of
//! records per `write` followed by one `fdatasync`; a write that fails
//! ends the segment (the next group starts a new one), so a segment is a
//! run of whole records, possibly followed by one torn write that no
//! `250` acknowledged.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::record::{Sink, StoredMessage};
use crate::stats::Stats;

const MAGIC: &[u8; 4] = b"BSW1";
const HEADER: usize = 12;
/// A segment is retired once it holds this much.
pub const SEGMENT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// ... or once it is this old (so a quiet trap does not keep one forever).
pub const SEGMENT_MAX_AGE: Duration = Duration::from_secs(30);
/// Longest record payload replay accepts (the committer never writes more
/// than a message held in memory: `max_buffered_bytes` plus headers, and
/// that limit is validated far below this).
const MAX_PAYLOAD: usize = 1 << 30;

/// Appends one record for `name` and `bytes` to `out`.
pub fn encode(out: &mut Vec<u8>, name: &str, bytes: &[u8]) {
    let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
    let len = 2 + name.len() + bytes.len();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&(name.len() as u16).to_le_bytes());
    crc.update(name);
    crc.update(bytes);
    out.reserve(HEADER + len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(bytes);
}

/// The whole records at the start of `seg`, as (name, message bytes), and
/// the number of bytes after them that are not a whole, valid record.
pub fn decode(seg: &[u8]) -> (Vec<(&str, &[u8])>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while seg.len() - at >= HEADER {
        let h = &seg[at..at + HEADER];
        if &h[..4] != MAGIC {
            break;
        }
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let crc = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if !(2..=MAX_PAYLOAD).contains(&len) || seg.len() - at - HEADER < len {
            break;
        }
        let payload = &seg[at + HEADER..at + HEADER + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        let nlen = u16::from_le_bytes([payload[0], payload[1]]) as usize;
        let Some(name) = payload
            .get(2..2 + nlen)
            .and_then(|n| std::str::from_utf8(n).ok())
        else {
            break;
        };
        if !safe_name(name) {
            break;
        }
        out.push((name, &payload[2 + nlen..]));
        at += HEADER + len;
    }
    (out, seg.len() - at)
}

/// A name replay may create in `new/`: one plain path component.
fn safe_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// The segments under `dir`, oldest first (`SEQ.log`, SEQ a number).
pub fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((seq, e.path()));
    }
    out.sort();
    Ok(out)
}

/// The name of segment `seq`.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.log"))
}

/// Writes `bytes` as `dir/NAME` through `tmp/` (no sync on Linux, where
/// a segment's `syncfs` covers it; elsewhere the file is synced here).
fn file_message(tmp: &Path, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let t = tmp.join(name.split(':').next().unwrap_or(name));
    let n = dir.join(name);
    let r = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&t)?;
        f.write_all(bytes)?;
        #[cfg(not(target_os = "linux"))]
        f.sync_data()?;
        drop(f);
        fs::rename(&t, &n)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&t);
    }
    r.map(|()| n)
}

/// Makes everything written on `dir`'s file system durable.
#[cfg(target_os = "linux")]
fn sync_fs(dir: &File) -> io::Result<()> {
    rustix::fs::syncfs(dir).map_err(io::Error::from)
}

/// Without `syncfs` (and `sync(2)` may return before the writes are done
/// on some systems), each filed file is synced by `file_message` instead.
#[cfg(not(target_os = "linux"))]
fn sync_fs(_dir: &File) -> io::Result<()> {
    Ok(())
}

/// The filer's nice value: under a burst, answering clients comes first
/// and filing catches up when the sessions leave CPU time (the messages
/// are durable in the log meanwhile; `max_unfiled_bytes` bounds the lag).
const FILER_NICE: i32 = 10;

/// A segment file bigger than this is not one the committer wrote (a
/// segment ends past 64 MiB by at most one group): replay refuses it.
const MAX_SEGMENT_READ: u64 = 1 << 30;

/// Start-up: every record of the segments left by an earlier run is
/// written into `new/` — or, when a reader already moved the message to
/// `cur/`, that file is checked against the record and rewritten if it
/// differs (a power loss can leave it empty) — made durable, and the
/// segments are deleted. Returns (messages written, torn bytes skipped,
/// the next segment number).
pub fn replay(wal: &Path, tmp: &Path, new: &Path, cur: &Path) -> io::Result<(u64, u64, u64)> {
    let segs = segments(wal)?;
    let next = match segs.last() {
        None => 1,
        Some((s, p)) => s.checked_add(1).ok_or_else(|| {
            io::Error::other(format!("{}: segment number too large", p.display()))
        })?,
    };
    if segs.is_empty() {
        return Ok((0, 0, next));
    }
    let read = |path: &Path| -> io::Result<Vec<u8>> {
        let len = fs::metadata(path)?.len();
        if len > MAX_SEGMENT_READ {
            return Err(io::Error::other(format!(
                "{}: {len} bytes, not a segment this trap wrote (at most {MAX_SEGMENT_READ}); move it away to start",
                path.display()
            )));
        }
        fs::read(path)
    };
    // The names logged, then the ones of them a reader moved to cur/
    // (cur/ may be large: only those are kept).
    let mut logged = std::collections::HashSet::new();
    for (_, path) in &segs {
        let data = read(path)?;
        for (name, _) in decode(&data).0 {
            logged.insert(name.to_string());
        }
    }
    let mut in_cur = std::collections::HashMap::new();
    for e in fs::read_dir(cur)?.flatten() {
        let Some(n) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let base = n.split(':').next().unwrap_or(&n);
        if logged.contains(base) {
            in_cur.insert(base.to_string(), n);
        }
    }
    drop(logged);
    let (mut written, mut torn) = (0u64, 0u64);
    for (_, path) in &segs {
        let data = read(path)?;
        let (records, rest) = decode(&data);
        torn += rest as u64;
        for (name, bytes) in records {
            match in_cur.get(name) {
                Some(full) => {
                    if fs::read(cur.join(full)).ok().as_deref() != Some(bytes) {
                        file_message(tmp, cur, full, bytes)?;
                        written += 1;
                    }
                }
                None => {
                    file_message(tmp, new, name, bytes)?;
                    written += 1;
                }
            }
        }
    }
    for d in [new, cur] {
        let dir = File::open(d)?;
        sync_fs(&dir)?;
        dir.sync_all()?;
    }
    for (_, path) in &segs {
        fs::remove_file(path)?;
    }
    File::open(wal)?.sync_all()?;
    Ok((written, torn, next))
}

/// Bytes logged but not yet filed, shared by the committer (which waits
/// when they pass the limit) and the filer.
#[derive(Default)]
pub struct Backlog {
    state: Mutex<BacklogState>,
    filed: Condvar,
}

#[derive(Default)]
struct BacklogState {
    /// Bytes unfiled.
    bytes: usize,
    /// The filer has stopped.
    stopped: bool,
    /// The committer is waiting in [`Backlog::wait_below`]: only then is
    /// there anyone to wake (a notify is a system call even with no
    /// waiter, and the filer subtracts after every group). One flag is
    /// enough because there is one waiter: the committer's thread
    /// ([`Log::after_group`], `&mut self`).
    waiting: bool,
}

impl Backlog {
    fn lock(&self) -> std::sync::MutexGuard<'_, BacklogState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, n: usize) {
        self.lock().bytes += n;
    }

    fn sub(&self, n: usize) {
        let mut g = self.lock();
        g.bytes = g.bytes.saturating_sub(n);
        if g.waiting {
            self.filed.notify_all();
        }
    }

    fn filer_stopped(&self) {
        let mut g = self.lock();
        g.stopped = true;
        self.filed.notify_all();
    }

    /// Waits until at most `limit` bytes are unfiled (or the filer is
    /// gone: then nothing more will be filed in this run, and the
    /// messages wait in the log for the next start's replay).
    fn wait_below(&self, limit: usize) {
        let mut g = self.lock();
        while g.bytes > limit && !g.stopped {
            g.waiting = true;
            g = self.filed.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        g.waiting = false;
    }
}

/// What the committer sends the filer.
pub enum FilerJob {
    /// The messages of one group commit (one wake-up of the filer per
    /// group, not per message).
    Files(Vec<Logged>),
    /// Every message of this segment has been sent: make the files durable
    /// and delete it.
    Retire(PathBuf),
}

/// A message durable in the log, to be filed.
pub struct Logged {
    pub name: String,
    pub bytes: Vec<u8>,
    pub stored: Box<StoredMessage>,
}

/// The committer's side of the log: the open segment and the filer.
pub struct Log {
    dir: PathBuf,
    seg: Option<(File, u64, Instant, PathBuf)>,
    next_seq: u64,
    filer: Option<mpsc::Sender<FilerJob>>,
    handle: Option<std::thread::JoinHandle<()>>,
    backlog: Arc<Backlog>,
    max_unfiled: usize,
    buf: Vec<u8>,
    /// This group's durable messages, sent to the filer together.
    to_file: Vec<Logged>,
}

impl Log {
    /// Starts the filer thread.
    pub fn start(
        dir: PathBuf,
        next_seq: u64,
        tmp: PathBuf,
        new: PathBuf,
        max_unfiled: usize,
        stats: Arc<Stats>,
        sink: Arc<dyn Sink>,
    ) -> io::Result<Log> {
        let (tx, rx) = mpsc::channel();
        let backlog = Arc::new(Backlog::default());
        let filer = Filer {
            rx,
            new_dir: File::open(&new)?,
            tmp,
            new,
            backlog: backlog.clone(),
            stats,
            sink,
            failed: false,
            sync_failed: false,
        };
        let handle = std::thread::Builder::new()
            .name("trap-filer".into())
            .spawn(move || filer.run())?;
        Ok(Log {
            dir,
            seg: None,
            next_seq,
            filer: Some(tx),
            handle: Some(handle),
            backlog,
            max_unfiled: max_unfiled.max(1),
            buf: Vec::new(),
            to_file: Vec::new(),
        })
    }

    fn open_segment(&mut self) -> io::Result<()> {
        if self.seg.is_some() {
            return Ok(());
        }
        let path = segment_path(&self.dir, self.next_seq);
        self.next_seq += 1;
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        // The segment's directory entry must survive a crash too.
        File::open(&self.dir)?.sync_all()?;
        self.seg = Some((f, 0, Instant::now(), path));
        Ok(())
    }

    /// Appends the records of `msgs` and makes them durable with one
    /// `fdatasync`. On success each message goes to the filer; on error
    /// the segment is ended (a torn write stays at its end).
    pub fn append(&mut self, msgs: &[(&str, &[u8])]) -> io::Result<()> {
        self.buf.clear();
        for (name, bytes) in msgs {
            encode(&mut self.buf, name, bytes);
        }
        let r = self.open_segment().and_then(|()| {
            let (f, len, _, _) = self.seg.as_mut().expect("segment opened");
            f.write_all(&self.buf)?;
            f.sync_data()?;
            *len += self.buf.len() as u64;
            Ok(())
        });
        if self.buf.capacity() > 4 * 1024 * 1024 {
            self.buf = Vec::new();
        }
        if r.is_err() {
            // Never write after a failed write: the next group starts a
            // new segment. This one is retired like any other once its
            // acknowledged messages are filed.
            self.retire();
        }
        r
    }

    /// Queues a durable message for the filer (sent with the rest of its
    /// group by [`Log::after_group`]).
    pub fn file(&mut self, name: String, bytes: Vec<u8>, stored: Box<StoredMessage>) {
        self.backlog.add(bytes.len());
        self.to_file.push(Logged {
            name,
            bytes,
            stored,
        });
    }

    fn send_files(&mut self) {
        if self.to_file.is_empty() {
            return;
        }
        let group = std::mem::take(&mut self.to_file);
        if let Some(tx) = &self.filer {
            let _ = tx.send(FilerJob::Files(group));
        }
    }

    /// Sends the group's messages to the filer, retires the segment if it
    /// is full or old, and waits while too much is unfiled.
    pub fn after_group(&mut self) {
        self.send_files();
        if let Some((_, len, opened, _)) = &self.seg {
            if *len >= SEGMENT_MAX_BYTES || opened.elapsed() >= SEGMENT_MAX_AGE {
                self.retire();
            }
        }
        self.backlog.wait_below(self.max_unfiled);
    }

    /// Called when no message came for a while: retires an old segment.
    pub fn idle(&mut self) {
        if let Some((_, _, opened, _)) = &self.seg {
            if opened.elapsed() >= SEGMENT_MAX_AGE {
                self.retire();
            }
        }
    }

    fn retire(&mut self) {
        self.send_files();
        if let Some((_, _, _, path)) = self.seg.take() {
            if let Some(tx) = &self.filer {
                let _ = tx.send(FilerJob::Retire(path));
            }
        }
    }

    /// Files everything, retires the last segment and stops the filer.
    pub fn close(&mut self) {
        self.retire();
        self.filer.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.close();
    }
}

struct Filer {
    rx: mpsc::Receiver<FilerJob>,
    new_dir: File,
    tmp: PathBuf,
    new: PathBuf,
    backlog: Arc<Backlog>,
    stats: Arc<Stats>,
    sink: Arc<dyn Sink>,
    /// A message of the current segment could not be filed: keep the
    /// segment for the next start's replay.
    failed: bool,
    /// The last `syncfs` failed: an error is reported once, so the
    /// segment after it is kept too.
    sync_failed: bool,
}

/// Tells the committer when the filer stops, however it stops.
struct Alive(Arc<Backlog>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.filer_stopped();
    }
}

impl Filer {
    fn run(mut self) {
        #[cfg(target_os = "linux")]
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), FILER_NICE);
        let _alive = Alive(self.backlog.clone());
        while let Ok(job) = self.rx.recv() {
            match job {
                FilerJob::Files(group) => {
                    let mut done = 0;
                    for Logged {
                        name,
                        bytes,
                        mut stored,
                    } in group
                    {
                        let n = bytes.len();
                        match file_message(&self.tmp, &self.new, &name, &bytes) {
                            Ok(path) => {
                                drop(bytes);
                                stored.path = path;
                                // A sink that panics must not stop the
                                // filing (the committer would wait on it).
                                let sink = &self.sink;
                                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    sink.message_stored(&stored)
                                }))
                                .is_err()
                                {
                                    self.stats.log("the message sink panicked");
                                }
                            }
                            Err(e) => {
                                self.failed = true;
                                self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                                self.stats.log(&format!(
                                    "cannot file {name} into new/ ({e}); it stays in the write-ahead log for the next start"
                                ));
                            }
                        }
                        done += n;
                    }
                    self.backlog.sub(done);
                }
                FilerJob::Retire(seg) => {
                    let r = sync_fs(&self.new_dir).and_then(|()| self.new_dir.sync_all());
                    let carried = std::mem::replace(&mut self.sync_failed, r.is_err());
                    match r {
                        Ok(()) if !self.failed && !carried => {
                            let removed = fs::remove_file(&seg).and_then(|()| match seg.parent() {
                                Some(d) => File::open(d)?.sync_all(),
                                None => Ok(()),
                            });
                            if let Err(e) = removed {
                                self.stats.log(&format!(
                                    "cannot remove {}: {e} (replayed at the next start)",
                                    seg.display()
                                ));
                            }
                        }
                        Ok(()) => self.stats.log(&format!(
                            "{} kept for the next start: a message of it could not be filed, or the sync before it failed",
                            seg.display()
                        )),
                        Err(e) => {
                            self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                            self.stats.log(&format!(
                                "cannot sync the Maildir ({e}); {} kept for the next start",
                                seg.display()
                            ));
                        }
                    }
                    self.failed = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committer's wait on the filer: released when the filer has
    /// filed enough (it notifies only while someone waits), or when it
    /// stops.
    #[test]
    fn backlog_wait_is_released_by_filing_or_by_the_filer_stopping() {
        use std::time::Duration;
        let b = Arc::new(Backlog::default());
        b.add(100);
        b.sub(10); // nobody waits: no notify needed, the count still falls
        let (tx, rx) = mpsc::channel();
        let w = Arc::clone(&b);
        let t = std::thread::spawn(move || {
            w.wait_below(10);
            tx.send(()).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "90 > 10 unfiled"
        );
        b.sub(50);
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "40 > 10 unfiled"
        );
        b.sub(35);
        rx.recv_timeout(Duration::from_secs(30))
            .expect("5 <= 10: released");
        t.join().unwrap();
        assert!(!b.lock().waiting);

        b.add(100);
        let (tx, rx) = mpsc::channel();
        let w = Arc::clone(&b);
        let t = std::thread::spawn(move || {
            w.wait_below(10);
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        b.filer_stopped();
        rx.recv_timeout(Duration::from_secs(30))
            .expect("a stopped filer releases the wait");
        t.join().unwrap();
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_skipped() {
        let mut seg = Vec::new();
        encode(&mut seg, "1.M2P3Q0.h,S=5", b"hello");
        encode(&mut seg, "1.M2P3Q1.h,S=0", b"");
        let whole = seg.len();
        encode(&mut seg, "1.M2P3Q2.h,S=3", b"abc");
        let (r, rest) = decode(&seg);
        assert_eq!(
            r,
            vec![
                ("1.M2P3Q0.h,S=5", &b"hello"[..]),
                ("1.M2P3Q1.h,S=0", &b""[..]),
                ("1.M2P3Q2.h,S=3", &b"abc"[..])
            ]
        );
        assert_eq!(rest, 0);
        // Every cut of the last record leaves the first two and counts the rest.
        for cut in whole..seg.len() {
            let (r, rest) = decode(&seg[..cut]);
            assert_eq!(r.len(), 2, "cut at {cut}");
            assert_eq!(rest, cut - whole);
        }
        // A flipped bit anywhere in the last record stops there.
        for i in whole..seg.len() {
            let mut bad = seg.clone();
            bad[i] ^= 0x10;
            let (r, rest) = decode(&bad);
            assert_eq!(r.len(), 2, "flip at {i}");
            assert_eq!(rest, seg.len() - whole);
        }
        // Names that would leave new/ are refused.
        for name in ["../x", "a/b", "", ".."] {
            let mut s = Vec::new();
            encode(&mut s, name, b"x");
            assert!(decode(&s).0.is_empty(), "{name:?}");
        }
    }
}
