//! A live feed of stored messages into the dataset: what `botscope trap`
//! uses so that trapped mail shows up in `timeline` within seconds.
//!
//! The trap hands over each message once it is durable and its file is
//! in its Maildir's `new/`
//! ([`LiveMail::push`], cheap: a channel send). A feeder thread collects
//! them and, every `flush_every` (or at `max_batch` messages), analyses
//! them and commits their `mail` rows (and `mail_hourly` rollup) in one
//! transaction whose ledger entry lists each message file with its
//! SHA-256 — exactly what `botscope ingest STORE/trap/maildir` records —
//! so a later ingest of the Maildir never counts them twice.
//!
//! Other writers (`botscope ingest` of captures into the same dataset)
//! can commit while the trap does (Delta commits are optimistic; see
//! [`crate::store`]). When the dataset cannot be
//! written for long (disk full), at most `max_pending` messages wait in
//! memory; older ones are dropped from the feed (never from the Maildir)
//! and counted: `botscope ingest STORE/trap/maildir` brings them in later.
//!
//! Before each commit the feeder reads the inputs committed since its
//! last look and drops the messages already there (a `botscope ingest` of
//! the Maildir that ran in between, or a commit of its own whose error
//! came after the commit point), so nothing is counted twice.
//!
//! [`LiveMail::catch_up`] ingests what is already in the Maildir's `new/`
//! and `cur/` and not yet in the dataset (messages of a run that ended
//! before its last commit, or of a run without the feed); call it once the
//! trap owns the Maildir (its `tmp/` is never read).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use botscope_event::MailMessage;
use botscope_mail::{Envelope, MailAnalyzer};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ingest::{ingest, IngestConfig, InputKind};
use crate::store::{InputRecord, Store};

/// Knobs of the feed.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Longest time a stored message waits before its commit.
    pub flush_every: Duration,
    /// Commit at once when this many messages wait.
    pub max_batch: usize,
    /// Most messages held while the dataset cannot be written.
    pub max_pending: usize,
    /// Largest message file read; bigger ones are skipped and counted
    /// `unreadable` (`botscope ingest` of the Maildir adds them with an
    /// error row).
    pub max_file_bytes: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            flush_every: Duration::from_secs(2),
            max_batch: 20_000,
            max_pending: 200_000,
            max_file_bytes: 64 << 20,
        }
    }
}

/// One stored message and what the SMTP session knew about it.
#[derive(Clone, Debug)]
pub struct PendingMessage {
    /// The message file (the trap's Maildir `new/` file).
    pub path: PathBuf,
    /// Receive time, client address, HELO, MAIL FROM, RCPT TO. These are
    /// authoritative: they override what the headers say.
    pub envelope: Envelope,
}

/// What the feed did so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveStats {
    /// Messages committed to the dataset by the feed.
    pub messages: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Messages of earlier runs brought in on start.
    pub caught_up: u64,
    /// Message files that could not be read (gone, unreadable).
    pub unreadable: u64,
    /// Commits that failed for another reason (retried).
    pub commit_errors: u64,
    /// Messages dropped from the feed because too many waited (they stay
    /// in the Maildir).
    pub dropped: u64,
}

type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

/// The feed: see the module docs.
pub struct LiveMail {
    tx: Mutex<Option<mpsc::SyncSender<Msg>>>,
    handle: Mutex<Option<JoinHandle<()>>>,
    /// The feeder thread, to wake it early (a full batch, `finish`).
    feeder: Option<Thread>,
    /// Messages pushed and not yet committed or dropped (in the channel or
    /// in the feeder's open batch).
    waiting: Arc<AtomicUsize>,
    max_batch: usize,
    stats: Arc<Mutex<LiveStats>>,
    log: Option<LogFn>,
}

enum Msg {
    Message(PendingMessage),
    CatchUp(Vec<PathBuf>),
}

impl LiveMail {
    /// Start the feeder thread for the dataset at `store_dir`.
    pub fn start(
        store_dir: PathBuf,
        analyzer: Arc<MailAnalyzer>,
        cfg: LiveConfig,
        log: Option<LogFn>,
    ) -> LiveMail {
        // The channel holds at most `max_pending` messages: a feeder stuck
        // on a long catch-up or an unwritable dataset bounds memory.
        let (tx, rx) = mpsc::sync_channel::<Msg>(cfg.max_pending.max(1));
        let stats = Arc::new(Mutex::new(LiveStats::default()));
        let st = Arc::clone(&stats);
        let flog = log.clone();
        let waiting = Arc::new(AtomicUsize::new(0));
        let fw = Arc::clone(&waiting);
        let max_batch = cfg.max_batch.max(1);
        let handle = std::thread::Builder::new()
            .name("botscope-live-mail".into())
            .spawn(move || {
                let mut f = Feeder {
                    dir: store_dir,
                    analyzer,
                    cfg,
                    log: flog,
                    stats: st,
                    ledger_pos: 0,
                    store: None,
                    waiting: fw,
                };
                f.run(rx);
            })
            .ok();
        LiveMail {
            tx: Mutex::new(Some(tx)),
            feeder: handle.as_ref().map(|h| h.thread().clone()),
            handle: Mutex::new(handle),
            waiting,
            max_batch,
            stats,
            log,
        }
    }

    /// Hand over a durable message (returns at once). When the feed is
    /// full the message is left to a later `botscope ingest` of the
    /// Maildir, counted in `dropped` and logged once.
    pub fn push(&self, m: PendingMessage) {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else { return };
        // Counted before the send, so the feeder never takes a message it
        // has not counted (the count only says when to wake it).
        let before = self.waiting.fetch_add(1, Ordering::Relaxed);
        let sent = tx.try_send(Msg::Message(m));
        if sent.is_ok() {
            if before + 1 == self.max_batch {
                if let Some(t) = &self.feeder {
                    t.unpark();
                }
            }
        } else {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        if let Err(mpsc::TrySendError::Full(_)) = sent {
            let first = {
                let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
                s.dropped += 1;
                s.dropped == 1
            };
            if first {
                if let Some(l) = &self.log {
                    l("dataset: the feed is full (the dataset is not being written); messages wait in the Maildir for `botscope ingest` or the next start");
                }
            }
        }
    }

    /// Ingest the messages of these Maildir folders (`new/`, `cur/`) not
    /// yet in the dataset, before the messages pushed after this call.
    pub fn catch_up(&self, dirs: Vec<PathBuf>) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(Msg::CatchUp(dirs));
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> LiveStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Commit what waits and stop the feeder (waits for it).
    pub fn finish(&self) -> LiveStats {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = &self.feeder {
            t.unpark();
        }
        if let Some(h) = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
        self.stats()
    }
}

impl Drop for LiveMail {
    fn drop(&mut self) {
        self.finish();
    }
}

struct Feeder {
    dir: PathBuf,
    analyzer: Arc<MailAnalyzer>,
    cfg: LiveConfig,
    log: Option<LogFn>,
    stats: Arc<Mutex<LiveStats>>,
    /// Store version up to which inputs committed by others were looked at.
    ledger_pos: u64,
    /// The store, kept open between commits (its tables stay loaded).
    store: Option<Store>,
    /// [`LiveMail::waiting`].
    waiting: Arc<AtomicUsize>,
}

impl Feeder {
    fn say(&self, m: &str) {
        if let Some(l) = &self.log {
            l(m);
        }
    }

    fn stat(&self, f: impl FnOnce(&mut LiveStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn catch_up(&mut self, dirs: &[PathBuf]) {
        let dirs: Vec<PathBuf> = dirs.iter().filter(|d| d.is_dir()).cloned().collect();
        if dirs.is_empty() {
            return;
        }
        let names = dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let store = match Store::open(&self.dir) {
            Ok(s) => s,
            Err(e) => {
                self.say(&format!(
                    "dataset: catch-up of {names} skipped: {e} (run `botscope ingest {names}` later)"
                ));
                return;
            }
        };
        let cfg = IngestConfig {
            mail: Some(Arc::clone(&self.analyzer)),
            ..IngestConfig::default()
        };
        let rep = ingest(&store, &dirs, &cfg, &|_| {});
        let n = rep.rows.get("mail").copied().unwrap_or(0);
        if n > 0 {
            self.say(&format!(
                "dataset: {n} message(s) of earlier runs ingested from {names}"
            ));
        }
        for e in rep.errors.iter().take(5) {
            self.say(&format!("dataset: catch-up: {e}"));
        }
        self.stat(|s| s.caught_up += n);
    }

    /// Takes one message off the channel into `pending`.
    fn take(&mut self, m: Msg, pending: &mut Vec<PendingMessage>, due: &mut Option<Instant>) {
        match m {
            Msg::Message(m) => {
                if due.is_none() {
                    *due = Some(Instant::now() + self.cfg.flush_every);
                }
                pending.push(m);
                if pending.len() > self.cfg.max_pending {
                    let over = pending.len() - self.cfg.max_pending;
                    pending.drain(..over);
                    self.waiting.fetch_sub(over, Ordering::Relaxed);
                    self.stat(|s| s.dropped += over as u64);
                }
            }
            Msg::CatchUp(dirs) => self.catch_up(&dirs),
        }
    }

    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let mut pending: Vec<PendingMessage> = Vec::new();
        // When the oldest waiting message is due; no commit is tried
        // before `retry` after a failed one (no storm of re-reads).
        let mut due: Option<Instant> = None;
        let mut retry: Option<Instant> = None;
        loop {
            if pending.is_empty() {
                // Nothing waits: block until the first message.
                match rx.recv_timeout(Duration::from_secs(3600)) {
                    Ok(m) => self.take(m, &mut pending, &mut due),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else if let Some(d) = due.max(retry) {
                // A batch is open: sleep until it is due, then take what
                // came meanwhile. A receiver blocked on the channel would
                // be woken by every message (a futex wake and a context
                // switch each, measured on the trap's hot path); parked,
                // it is woken once per commit, or early by `push` (a full
                // batch) and `finish`.
                // A full batch is committed at once, unless a failed commit
                // is waiting out its retry (no spinning until then).
                let now = Instant::now();
                let full = retry.is_none_or(|r| now >= r)
                    && self.waiting.load(Ordering::Relaxed) >= self.cfg.max_batch;
                if now < d && !full {
                    std::thread::park_timeout(d - now);
                }
            }
            let mut closed = false;
            loop {
                match rx.try_recv() {
                    Ok(m) => self.take(m, &mut pending, &mut due),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            if pending.is_empty() {
                if closed {
                    return;
                }
                continue;
            }
            if closed {
                // Last commit: wait out another writer for a while.
                let give_up = Instant::now() + Duration::from_secs(30);
                while !pending.is_empty() && Instant::now() < give_up {
                    if self.flush(&mut pending) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                if !pending.is_empty() {
                    self.say(&format!(
                        "dataset: {} message(s) not committed at exit; they are in the Maildir and come in at the next start (or with `botscope ingest`)",
                        pending.len()
                    ));
                }
                return;
            }
            let now = Instant::now();
            if retry.is_some_and(|r| now < r) {
                continue;
            }
            let time = due.is_some_and(|d| now >= d);
            if !(time || pending.len() >= self.cfg.max_batch) {
                continue;
            }
            if self.flush(&mut pending) {
                due = None;
                retry = None;
            } else {
                retry = Some(Instant::now() + self.cfg.flush_every);
            }
        }
    }

    /// Commit `pending` (emptied on success); false to try again later.
    fn flush(&mut self, pending: &mut Vec<PendingMessage>) -> bool {
        if self.store.is_none() {
            match Store::open(&self.dir) {
                Ok(s) => self.store = Some(s),
                Err(e) => {
                    self.stat(|s| s.commit_errors += 1);
                    self.say(&format!("dataset: cannot open {}: {e}", self.dir.display()));
                    return false;
                }
            }
        }
        let Some(store) = self.store.as_ref() else {
            return false;
        };
        // Inputs committed since the last look (by `botscope ingest`, or by
        // a commit of ours that reported an error after its commit point).
        let (entries, pos) = match store.ledger_from(self.ledger_pos) {
            Ok(x) => x,
            Err(e) => {
                self.stat(|s| s.commit_errors += 1);
                self.say(&format!("dataset: cannot read the ledger: {e}"));
                return false;
            }
        };
        let done: BTreeSet<String> = entries
            .into_iter()
            .flat_map(|e| e.inputs.into_iter().map(|i| i.hash))
            .collect();
        let mut rows: Vec<MailMessage> = Vec::with_capacity(pending.len());
        let mut inputs: Vec<InputRecord> = Vec::with_capacity(pending.len());
        let mut unreadable = 0u64;
        let mut unit = Sha256::new();
        for p in pending.iter() {
            let raw = match read_capped(&p.path, self.cfg.max_file_bytes) {
                Ok(r) => r,
                Err(e) => {
                    unreadable += 1;
                    self.say(&format!("dataset: {}: {e}", p.path.display()));
                    continue;
                }
            };
            let hash = hex::encode(Sha256::digest(&raw));
            if done.contains(&hash) {
                continue;
            }
            unit.update(hash.as_bytes());
            let mut row =
                self.analyzer
                    .analyze(p.path.display().to_string(), &raw, Some(&p.envelope));
            overlay(&mut row, &p.envelope);
            rows.push(row);
            inputs.push(InputRecord {
                hash,
                path: p.path.display().to_string(),
                bytes: raw.len() as u64,
                kind: InputKind::Eml,
            });
        }
        // Campaign ids from the store's campaign book, as `ingest` gives
        // them: the trap's mail and ingested mail share campaigns.
        match store.campaign_ids(
            rows.iter()
                .map(|m| (m.domains.as_slice(), m.subject.as_deref())),
        ) {
            Ok(ids) => {
                for (m, id) in rows.iter_mut().zip(ids) {
                    if let Some(id) = id {
                        m.campaign = Some(id);
                    }
                }
            }
            Err(e) => {
                self.stat(|s| s.commit_errors += 1);
                self.say(&format!("dataset: campaign book: {e}; will retry"));
                return false;
            }
        }
        let n = rows.len() as u64;
        if n > 0 {
            let unit = hex::encode(unit.finalize());
            let mut w = store.ingest_writer(&unit);
            let res = w.write_mail(&rows).and_then(|()| w.commit(inputs));
            if let Err(e) = res {
                self.stat(|s| s.commit_errors += 1);
                self.say(&format!("dataset: commit failed, will retry: {e}"));
                return false;
            }
        }
        self.waiting.fetch_sub(pending.len(), Ordering::Relaxed);
        pending.clear();
        self.ledger_pos = pos;
        self.stat(|s| {
            s.messages += n;
            s.unreadable += unreadable;
            if n > 0 {
                s.commits += 1;
            }
        });
        true
    }
}

/// The session's own facts win over what the headers claim.
fn overlay(row: &mut MailMessage, env: &Envelope) {
    if let Some(t) = env.received_ts {
        row.received_ts = Some(t);
    }
    if env.client_ip.is_some() {
        row.sender_ip = env.client_ip;
    }
    if env.helo.is_some() {
        row.helo = env.helo.clone();
    }
    if env.mail_from.is_some() {
        row.mail_from = env.mail_from.clone();
    }
    if !env.rcpt_to.is_empty() {
        row.rcpt_to = env.rcpt_to.clone();
    }
}

fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    // Sized from the file's length (one `fstat`): the file is read in one
    // `read` and its end found by a second, not by doubling from 32 bytes
    // (eight reads for a 1 KB message; `Take` hides the size hint that
    // `File::read_to_end` would use). A file that grows meanwhile is still
    // read whole up to the cap.
    let len = f.metadata()?.len();
    let mut raw = Vec::with_capacity(len.min(cap.saturating_add(1)) as usize);
    f.take(cap.saturating_add(1)).read_to_end(&mut raw)?;
    if raw.len() as u64 > cap {
        return Err(std::io::Error::other(format!(
            "larger than {cap} bytes; `botscope ingest` it"
        )));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::read_capped;

    #[test]
    fn a_message_file_is_read_whole_up_to_its_cap() {
        let dir = std::env::temp_dir().join(format!("botscope-live-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for len in [0usize, 1, 31, 32, 33, 1319, 8192, 8193, 70_000] {
            let p = dir.join(format!("m{len}"));
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            std::fs::write(&p, &bytes).unwrap();
            assert_eq!(read_capped(&p, 70_000).unwrap(), bytes, "{len} bytes");
            if len > 0 {
                assert_eq!(read_capped(&p, len as u64).unwrap(), bytes, "cap = length");
                let e = read_capped(&p, len as u64 - 1).unwrap_err();
                assert!(e.to_string().contains("larger than"), "{e}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
