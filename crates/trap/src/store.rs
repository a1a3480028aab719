//! Durable storage: a write-ahead log, a Maildir and a JSON-lines session
//! log.
//!
//! ```text
//! STORE/trap/.lock                    one trap per store (flock)
//! STORE/trap/wal/SEQ.log              write-ahead log segments (checksummed records)
//! STORE/trap/maildir/tmp/ID           a message being received or filed
//! STORE/trap/maildir/new/ID,S=BYTES   a stored message (our Received: + the message as sent)
//! STORE/trap/maildir/cur/             (left to readers, Maildir convention)
//! STORE/trap/sessions.jsonl           one SessionRecord per line, appended about a second at most after a session ends
//! STORE/trap/sessions.jsonl.1 .. .N    rotated session logs, .1 the newest
//! ```
//!
//! `ID` is `SECS.MUSECSPpidQseq.HOSTNAME`: made by the trap from its clock,
//! process id, a counter and its configured host name, never from anything
//! the client sent.
//!
//! A message is durable before its `250`. A message held in memory (up to
//! `limits.max_buffered_bytes`, nearly all spam) is handed to the committer
//! thread, which appends the messages of every session waiting at that
//! moment to the current segment of the write-ahead log as checksummed
//! records and makes them durable with **one** `fdatasync` (group commit)
//! before acknowledging each. A filing thread then writes each logged
//! message into the Maildir (`tmp/ID`, renamed into `new/`) without a
//! sync of its own, and hands it to the [`Sink`]. A segment is retired
//! (at 64 MiB, after 30 s, or at close) once all its messages are filed:
//! one `syncfs` makes those files and renames durable, then the segment is
//! deleted. At the next start, the records of segments still present are
//! written into `new/` again (a message a reader already moved to `cur/`
//! is compared with its record and rewritten only if it differs), so a
//! crash between the `250` and the file's own durability loses
//! nothing; a record cut by the crash was never acknowledged and is
//! skipped. Why: creating, syncing and renaming a file per message before
//! its `250` cost ~140 µs of kernel CPU per message on the path to the
//! reply (BENCHMARKS.md, "`botscope trap` vs Postfix smtp-sink").
//!
//! A message bigger than `max_buffered_bytes` is streamed into `tmp/ID`
//! instead, fdatasynced, and renamed into `new/` by the committer, which
//! makes a batch of renames durable with one fsync of `new/` before
//! acknowledging each. After a crash, files left in `tmp/` were never
//! acknowledged and are removed at the next start. Session records are
//! queued as sessions end, without waking the committer (a wake-up per
//! session cost a context switch per message under load): it appends them
//! after its next group commit, or within a second when no message comes.
//! They are synced at most once a second (nobody waits for them), so a
//! crash loses at most the last two seconds of them. The
//! session log is rotated between whole records once it passes
//! `limits.session_log_max_bytes`, keeping `limits.session_log_keep` old
//! files ([`LogRotation`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::record::{SessionRecord, Sink, StoredMessage};
use crate::stats::Stats;
use crate::wal;

/// The store's folders and files.
#[derive(Clone, Debug)]
pub struct Layout {
    /// `STORE/trap`
    pub root: PathBuf,
    /// `STORE/trap/maildir`
    pub maildir: PathBuf,
    pub tmp: PathBuf,
    pub new: PathBuf,
    pub cur: PathBuf,
    /// `STORE/trap/wal`
    pub wal: PathBuf,
    /// `STORE/trap/sessions.jsonl`
    pub sessions: PathBuf,
}

impl Layout {
    pub fn new(store: &Path) -> Layout {
        let root = store.join("trap");
        let maildir = root.join("maildir");
        Layout {
            tmp: maildir.join("tmp"),
            new: maildir.join("new"),
            cur: maildir.join("cur"),
            sessions: root.join("sessions.jsonl"),
            wal: root.join("wal"),
            maildir,
            root,
        }
    }
}

/// When `sessions.jsonl` is rotated and how many old logs are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRotation {
    /// Rotate before a write that would take the log past this size.
    pub max_bytes: u64,
    /// Rotated logs kept (`sessions.jsonl.1` .. `.keep`).
    pub keep: u32,
}

impl Default for LogRotation {
    fn default() -> Self {
        let l = crate::config::Limits::default();
        LogRotation {
            max_bytes: l.session_log_max_bytes,
            keep: l.session_log_keep,
        }
    }
}

/// The name of the `n`th rotated log next to `log` (`sessions.jsonl.n`).
pub fn rotated_log(log: &Path, n: u32) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{n}"));
    log.with_file_name(name)
}

/// A storage failure at start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}: another trap is using this store")]
    Locked(PathBuf),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

enum Job {
    Message {
        tmp: PathBuf,
        new: PathBuf,
        stored: Box<StoredMessage>,
        ack: tokio::sync::oneshot::Sender<io::Result<()>>,
    },
    /// A message held in memory: into the write-ahead log.
    Logged {
        /// The file name in `new/` (`ID,S=BYTES`).
        name: String,
        bytes: Vec<u8>,
        stored: Box<StoredMessage>,
        ack: tokio::sync::oneshot::Sender<io::Result<()>>,
    },
}

/// Session records waiting for the committer, and whether it has stopped
/// taking them (after its last write at close).
#[derive(Default)]
struct Ended {
    closed: bool,
    records: Vec<SessionRecord>,
}

/// The Maildir writer; cheap to share (`Arc`).
pub struct Store {
    pub layout: Layout,
    hostname: String,
    pid: u32,
    seq: AtomicU64,
    jobs: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    ended: Arc<std::sync::Mutex<Ended>>,
    committer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    _lock: File,
}

/// A message being received into `tmp/`.
pub struct PendingMessage {
    pub id: String,
    pub tmp: PathBuf,
    file: Option<File>,
    /// Bytes written to the file so far.
    pub written: u64,
}

impl PendingMessage {
    /// Appends bytes to the tmp file (creating it on first use). Blocking:
    /// call from `spawn_blocking`.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&self.tmp)?,
            );
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(bytes)?;
        }
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes the rest and makes the file's data durable. Blocking.
    pub fn finish(&mut self, rest: &[u8]) -> io::Result<()> {
        self.append(rest)?;
        if let Some(f) = self.file.take() {
            f.sync_data()?;
        }
        Ok(())
    }

    /// Removes the tmp file (message refused or session gone). Blocking.
    pub fn discard(mut self) {
        if self.file.take().is_some() || self.written > 0 {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Store {
    /// Opens (creating) the store under `store`, takes its lock, removes
    /// incomplete messages of a previous run and repairs a session log cut
    /// mid-line, then starts the committer thread.
    pub fn open(
        store: &Path,
        hostname: &str,
        max_batch: usize,
        max_unfiled: usize,
        rotation: LogRotation,
        stats: Arc<Stats>,
        sink: Arc<dyn Sink>,
    ) -> Result<Arc<Store>, StoreError> {
        let layout = Layout::new(store);
        for d in [
            &layout.root,
            &layout.maildir,
            &layout.tmp,
            &layout.new,
            &layout.cur,
            &layout.wal,
        ] {
            fs::create_dir_all(d).map_err(io_at(d))?;
        }
        let lock_path = layout.root.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_at(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(layout.root)),
            Err(fs::TryLockError::Error(e)) => return Err(io_at(&lock_path)(e)),
        }
        // Our directory entries themselves must survive a crash.
        for d in [&layout.maildir, &layout.root, store] {
            if let Ok(f) = File::open(d) {
                let _ = f.sync_all();
            }
        }
        let mut cleaned = 0;
        for e in fs::read_dir(&layout.tmp)
            .map_err(io_at(&layout.tmp))?
            .flatten()
        {
            if fs::remove_file(e.path()).is_ok() {
                cleaned += 1;
            }
        }
        stats.tmp_cleaned.store(cleaned, Ordering::Relaxed);
        // Messages an earlier run acknowledged but had not made durable in
        // the Maildir yet.
        let (replayed, torn, next_seq) =
            wal::replay(&layout.wal, &layout.tmp, &layout.new, &layout.cur)
                .map_err(io_at(&layout.wal))?;
        stats.wal_replayed.store(replayed, Ordering::Relaxed);
        stats.wal_torn_bytes.store(torn, Ordering::Relaxed);
        let log = wal::Log::start(
            layout.wal.clone(),
            next_seq,
            layout.tmp.clone(),
            layout.new.clone(),
            max_unfiled,
            stats.clone(),
            sink.clone(),
        )
        .map_err(io_at(&layout.wal))?;
        repair_log_tail(&layout.sessions).map_err(io_at(&layout.sessions))?;
        let sessions_log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&layout.sessions)
            .map_err(io_at(&layout.sessions))?;
        let log_len = sessions_log
            .metadata()
            .map_err(io_at(&layout.sessions))?
            .len();
        let new_dir = File::open(&layout.new).map_err(io_at(&layout.new))?;
        let (tx, rx) = mpsc::channel();
        let ended = Arc::new(std::sync::Mutex::new(Ended::default()));
        let committer = Committer {
            rx,
            ended: ended.clone(),
            new_dir,
            sessions_log,
            log_path: layout.sessions.clone(),
            log_len,
            rotation,
            max_batch: max_batch.max(1),
            stats,
            sink,
            last_log_sync: std::time::Instant::now(),
            log_dirty: false,
            log,
        };
        let handle = std::thread::Builder::new()
            .name("trap-committer".into())
            .spawn(move || committer.run())
            .map_err(io_at(&layout.root))?;
        Ok(Arc::new(Store {
            layout,
            hostname: hostname.to_string(),
            pid: std::process::id(),
            seq: AtomicU64::new(0),
            jobs: std::sync::Mutex::new(Some(tx)),
            ended,
            committer: std::sync::Mutex::new(Some(handle)),
            _lock: lock,
        }))
    }

    /// A fresh unique id: `SECS.MUSECSPpidQseq.HOSTNAME`.
    pub fn new_id(&self, now: SystemTime) -> String {
        let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let q = self.seq.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}.M{}P{}Q{}.{}",
            d.as_secs(),
            d.subsec_micros(),
            self.pid,
            q,
            self.hostname
        )
    }

    /// Starts a message in `tmp/`; nothing touches the disk until
    /// [`PendingMessage::append`] or [`PendingMessage::finish`].
    pub fn begin(&self, now: SystemTime) -> PendingMessage {
        let id = self.new_id(now);
        PendingMessage {
            tmp: self.layout.tmp.join(&id),
            id,
            file: None,
            written: 0,
        }
    }

    /// Moves a finished (fdatasynced) message into `new/` and returns once
    /// the rename is durable. Returns the final path.
    pub async fn commit(
        &self,
        pending: PendingMessage,
        mut stored: StoredMessage,
    ) -> io::Result<PathBuf> {
        let new = self
            .layout
            .new
            .join(format!("{},S={}", pending.id, pending.written));
        stored.path = new.clone();
        stored.id = pending.id.clone();
        let tmp = pending.tmp.clone();
        let new2 = new.clone();
        self.submit(new, |ack| Job::Message {
            tmp,
            new: new2,
            stored: Box::new(stored),
            ack,
        })
        .await
    }

    /// Queues the job `make` builds around an acknowledgement and waits for
    /// the committer's answer; `new` is the message's path once stored.
    async fn submit(
        &self,
        new: PathBuf,
        make: impl FnOnce(tokio::sync::oneshot::Sender<io::Result<()>>) -> Job,
    ) -> io::Result<PathBuf> {
        let (ack, done) = tokio::sync::oneshot::channel();
        self.send(make(ack))?;
        match done.await {
            Ok(Ok(())) => Ok(new),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("committer stopped")),
        }
    }

    /// Makes a message held in memory durable in the write-ahead log and
    /// returns, once it is, the path it will have in `new/` (written there
    /// right after; see the module doc).
    pub async fn commit_bytes(
        &self,
        pending: PendingMessage,
        bytes: Vec<u8>,
        mut stored: StoredMessage,
    ) -> io::Result<PathBuf> {
        debug_assert_eq!(pending.written, 0, "nothing of it in tmp/");
        let name = format!("{},S={}", pending.id, bytes.len());
        let new = self.layout.new.join(&name);
        stored.path = new.clone();
        stored.id = pending.id;
        self.submit(new, |ack| Job::Logged {
            name,
            bytes,
            stored: Box::new(stored),
            ack,
        })
        .await
    }

    /// Queues a session record for `sessions.jsonl`: written after the
    /// committer's next group commit or within a second, synced within a
    /// second more; nothing waits for it, and the committer is not woken.
    pub fn log_session(&self, rec: SessionRecord) {
        if let Ok(mut g) = self.ended.lock() {
            if !g.closed {
                g.records.push(rec);
            }
        }
    }

    fn send(&self, job: Job) -> io::Result<()> {
        let guard = self
            .jobs
            .lock()
            .map_err(|_| io::Error::other("store poisoned"))?;
        match guard.as_ref() {
            Some(tx) => tx
                .send(job)
                .map_err(|_| io::Error::other("committer stopped")),
            None => Err(io::Error::other("store closed")),
        }
    }

    /// Stops the committer after it has made everything queued durable.
    pub fn close(&self) {
        if let Ok(mut g) = self.jobs.lock() {
            g.take();
        }
        if let Some(h) = self.committer.lock().ok().and_then(|mut g| g.take()) {
            let _ = h.join();
        }
    }
}

/// A session log cut mid-line by a crash: drop the partial last line so
/// every line stays a whole JSON record.
fn repair_log_tail(path: &Path) -> io::Result<()> {
    let mut f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let start = end.saturating_sub(buf.len() as u64);
        let n = usize::try_from(end - start).unwrap_or(buf.len());
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            let keep = start + i as u64 + 1;
            if keep != len {
                f.set_len(keep)?;
                f.sync_all()?;
            }
            return Ok(());
        }
        if start == 0 {
            f.set_len(0)?;
            f.sync_all()?;
            return Ok(());
        }
        end = start;
    }
}

struct Committer {
    rx: mpsc::Receiver<Job>,
    ended: Arc<std::sync::Mutex<Ended>>,
    new_dir: File,
    sessions_log: File,
    log_path: PathBuf,
    /// Bytes in the current session log.
    log_len: u64,
    rotation: LogRotation,
    max_batch: usize,
    stats: Arc<Stats>,
    sink: Arc<dyn Sink>,
    last_log_sync: std::time::Instant,
    log_dirty: bool,
    log: wal::Log,
}

/// How often the session log is synced while sessions keep ending.
const LOG_SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Committer {
    /// `sessions.jsonl` becomes `sessions.jsonl.1`, each older log moves up
    /// by one, the one past `keep` is overwritten (or, with `keep` 0, the
    /// log is deleted); a fresh log is started. Between whole records, so
    /// every file stays a JSON-lines file.
    fn rotate(&mut self) -> io::Result<()> {
        self.sessions_log.sync_data()?;
        self.log_dirty = false;
        let keep = self.rotation.keep;
        if keep == 0 {
            fs::remove_file(&self.log_path)?;
        } else {
            for n in (1..keep).rev() {
                match fs::rename(
                    rotated_log(&self.log_path, n),
                    rotated_log(&self.log_path, n + 1),
                ) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            fs::rename(&self.log_path, rotated_log(&self.log_path, 1))?;
        }
        self.sessions_log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        self.log_len = 0;
        if let Some(dir) = self.log_path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.stats
            .session_log_rotations
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn run(mut self) {
        loop {
            let first = match self.rx.recv_timeout(LOG_SYNC_EVERY) {
                Ok(j) => j,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.write_sessions(false);
                    self.log.idle();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(j) => batch.push(j),
                    Err(_) => break,
                }
            }
            self.commit(batch);
            self.write_sessions(false);
            self.log.after_group();
        }
        self.write_sessions(true);
        if self.log_dirty {
            let _ = self.sessions_log.sync_data();
        }
        self.log.close();
    }

    /// Counts a message stored or not (and logs why not).
    fn tally(&self, r: &io::Result<()>, stored: &StoredMessage) {
        match r {
            Ok(()) => {
                self.stats.messages_stored.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .bytes_stored
                    .fetch_add(stored.size, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .log(&format!("cannot store {}: {e}", stored.path.display()));
            }
        }
    }

    fn commit(&mut self, batch: Vec<Job>) {
        let mut messages = Vec::new();
        let mut logged = Vec::new();
        for job in batch {
            match job {
                Job::Logged {
                    name,
                    bytes,
                    stored,
                    ack,
                } => logged.push((name, bytes, stored, ack)),
                Job::Message {
                    tmp,
                    new,
                    stored,
                    ack,
                } => {
                    let r = fs::rename(&tmp, &new);
                    if r.is_err() {
                        let _ = fs::remove_file(&tmp);
                    }
                    messages.push((r, stored, ack));
                }
            }
        }
        if !logged.is_empty() {
            let group: Vec<(&str, &[u8])> = logged
                .iter()
                .map(|(n, b, _, _)| (n.as_str(), b.as_slice()))
                .collect();
            let r = self.log.append(&group);
            drop(group);
            for (name, bytes, stored, ack) in logged {
                let each = match &r {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::new(e.kind(), format!("write-ahead log: {e}"))),
                };
                self.tally(&each, &stored);
                let ok = each.is_ok();
                let _ = ack.send(each);
                if ok {
                    self.log.file(name, bytes, stored);
                }
            }
        }
        if messages.iter().any(|(r, _, _)| r.is_ok()) {
            if let Err(e) = self.new_dir.sync_all() {
                // The renames may not survive a crash: refuse them all.
                for (r, _, _) in messages.iter_mut() {
                    if r.is_ok() {
                        *r = Err(io::Error::new(e.kind(), format!("fsync new/: {e}")));
                    }
                }
            }
        }
        for (r, stored, ack) in messages {
            self.tally(&r, &stored);
            if r.is_ok() {
                self.sink.message_stored(&stored);
            }
            let _ = ack.send(r);
        }
    }

    /// Appends the session records queued since the last call (at close,
    /// the last ones, and stops taking more) and syncs the log if a second
    /// has passed since its last sync.
    fn write_sessions(&mut self, closing: bool) {
        let sessions = match self.ended.lock() {
            Ok(mut g) => {
                g.closed |= closing;
                std::mem::take(&mut g.records)
            }
            Err(_) => Vec::new(),
        };
        let due = self.last_log_sync.elapsed() >= LOG_SYNC_EVERY;
        if sessions.is_empty() {
            if due && self.log_dirty {
                self.last_log_sync = std::time::Instant::now();
                self.log_dirty = false;
                if let Err(e) = self.sessions_log.sync_data() {
                    self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                    self.stats.log(&format!("cannot sync the session log: {e}"));
                }
            }
            return;
        }
        // Session records are not acknowledged to anyone: sync them at
        // most once a second (and at close) so they do not cost every
        // batch a journal commit. The log is rotated between whole
        // records, before the one that would take it past its size.
        let mut text = Vec::new();
        for rec in &sessions {
            let at = text.len();
            if serde_json::to_writer(&mut text, rec).is_err() {
                text.truncate(at);
                continue;
            }
            text.push(b'\n');
            let line = (text.len() - at) as u64;
            let len = self.log_len.saturating_add(at as u64);
            if len > 0 && len.saturating_add(line) > self.rotation.max_bytes {
                let r = self.sessions_log.write_all(&text[..at]);
                self.log_len = len;
                text.drain(..at);
                if let Err(e) = r.and_then(|()| self.rotate()) {
                    self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .log(&format!("cannot rotate the session log: {e}"));
                }
            }
        }
        self.log_len = self.log_len.saturating_add(text.len() as u64);
        let r = self.sessions_log.write_all(&text).and_then(|()| {
            if due {
                self.last_log_sync = std::time::Instant::now();
                self.log_dirty = false;
                self.sessions_log.sync_data()
            } else {
                self.log_dirty = true;
                Ok(())
            }
        });
        if let Err(e) = r {
            self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
            self.stats
                .log(&format!("cannot write the session log: {e}"));
        }
        for rec in &sessions {
            self.sink.session_closed(rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_repair_keeps_whole_lines() {
        let dir = std::env::temp_dir().join(format!("trap-repair-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s.jsonl");
        fs::write(&p, b"{\"a\":1}\n{\"b\":").unwrap();
        repair_log_tail(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"{\"a\":1}\n");
        fs::write(&p, b"{\"b\":").unwrap();
        repair_log_tail(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"");
        fs::write(&p, b"x\n").unwrap();
        repair_log_tail(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"x\n");
        fs::remove_dir_all(&dir).unwrap();
    }
}
