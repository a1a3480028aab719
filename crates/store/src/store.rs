//! The dataset on disk: atomic commits of Parquet parts through a ledger.
//!
//! # Layout
//! ```text
//! DIR/_ledger.jsonl                         one JSON line per committed transaction
//! DIR/_lock                                 held by the one writer (advisory file lock)
//! DIR/_campaigns.jsonl                      the campaign book: what the campaign clusterer
//!                                           learned (keys, merges, hub domains), so a
//!                                           campaign keeps its id from one ingest to the next
//! DIR/_staging/TX/N.parquet                 parts of a transaction not yet committed
//! DIR/TABLE/date=YYYY-MM-DD/part-TX-N.parquet
//! ```
//!
//! # Commit protocol (crash safety)
//! 1. every part of a transaction is written under `_staging/TX/`,
//!    fsynced, and the staging folder fsynced;
//! 2. the ledger line (parts to add as staged → final path, files to
//!    remove, the input's content hash) is appended and fsynced: **this is
//!    the commit point**;
//! 3. the parts are renamed into their partitions (and replaced files
//!    removed), the partition folders fsynced, and `_staging/TX` deleted.
//!
//! Opening the store for writing recovers: a staging folder whose
//! transaction is in the ledger is rolled forward (step 3 again; every
//! action is idempotent), one that is not is deleted (rolled back), and a
//! torn last ledger line (a crash inside step 2) is cut off. So after a
//! crash at any point an input's rows are either all visible and its hash
//! in the ledger, or none visible and the hash absent: re-running the same
//! ingest adds each input exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use botscope_event::{Conn, Dns, Event, Http, Irc, MailMessage, Smtp, Ssl};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::tables::{self, ActivityRow, AlertRow, Table, UNKNOWN_DATE};
use crate::Error;

pub const LEDGER: &str = "_ledger.jsonl";
/// The campaign book (see [`Store::campaign_ids`]).
pub const CAMPAIGN_BOOK: &str = "_campaigns.jsonl";
const LOCK: &str = "_lock";
const STAGING: &str = "_staging";

/// Where a simulated crash happens (tests of crash safety).
///
/// Set with [`Store::set_fail_point`] (the commit returns
/// [`Error::Injected`] and leaves the disk as a crash would) or with the
/// environment variable `BOTSCOPE_STORE_CRASH=before-ledger|after-ledger|mid-apply`
/// (the process aborts there: a real crash, used by the CLI tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailPoint {
    /// Parts staged, ledger line not written.
    BeforeLedger,
    /// Ledger line written, no part moved into place.
    AfterLedger,
    /// Ledger line written, half the parts moved into place.
    MidApply,
}

impl FailPoint {
    fn parse(s: &str) -> Option<FailPoint> {
        match s {
            "before-ledger" => Some(FailPoint::BeforeLedger),
            "after-ledger" => Some(FailPoint::AfterLedger),
            "mid-apply" => Some(FailPoint::MidApply),
            _ => None,
        }
    }
}

/// The input an ingest transaction read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// SHA-256 of the file's bytes as stored (before decompression).
    pub hash: String,
    pub path: String,
    pub bytes: u64,
    /// `pcap`, `pcapng`, `zeek`, `binetflow`, `mail`, …
    pub kind: String,
}

/// One committed transaction: one line of `_ledger.jsonl`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub tx: String,
    /// `ingest`, `append`, `compact` or `replace`.
    pub op: String,
    /// Commit time, RFC 3339 (informational only).
    pub time: String,
    /// The inputs an ingest read (one, or the logs of one Zeek run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputRecord>,
    /// Rows added, per table.
    #[serde(default)]
    pub rows: BTreeMap<String, u64>,
    /// Parts: staged path → final path, both relative to the store.
    #[serde(default)]
    pub add: Vec<(String, String)>,
    /// Files removed (relative to the store).
    #[serde(default)]
    pub remove: Vec<String>,
}

/// What recovery found when the store was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Committed transactions finished (rolled forward).
    pub rolled_forward: Vec<String>,
    /// Uncommitted transactions discarded.
    pub rolled_back: Vec<String>,
    /// A torn last ledger line was cut off.
    pub torn_ledger_line: bool,
}

/// An open dataset folder.
pub struct Store {
    root: PathBuf,
    /// Held for writers; `None` for read-only opens.
    _lock: Option<File>,
    recovery: Recovery,
    fail: Option<FailPoint>,
    seq: Arc<AtomicU64>,
    props: WriterProperties,
    /// Serialises ledger appends of concurrent writers.
    commit_lock: Mutex<()>,
}

/// Campaign books read so far in this process, by store folder: the
/// clusterer and how far into the book it has read. A writer reads only
/// what other writers appended since (the book is append-only), so the
/// trap's feed, which opens the store for each batch, does not re-read
/// the whole book each time.
static BOOKS: std::sync::LazyLock<Mutex<std::collections::HashMap<PathBuf, Book>>> =
    std::sync::LazyLock::new(Default::default);

/// A campaign book as read so far.
struct Book {
    /// The book file's identity (device, inode) when read: a book
    /// replaced under the same path (a store deleted and made again) is
    /// read afresh.
    file: Option<(u64, u64)>,
    /// Bytes read (whole lines).
    read: u64,
    campaigns: botscope_mail::Campaigns,
}

fn file_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        fs::metadata(path).ok().map(|m| (0, m.len()))
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

fn fsync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(dir, e))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Store {
    /// Open (creating if missing) the store at `dir` for writing: takes
    /// the writer lock and recovers from an interrupted run.
    pub fn open(dir: &Path) -> Result<Store, Error> {
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked(lock_path.display().to_string()))
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(&lock_path, e)),
        }
        let mut s = Store::new(dir, Some(lock));
        s.recovery = s.recover()?;
        Ok(s)
    }

    /// Open an existing store for reading. When no writer holds the lock,
    /// an interrupted run is recovered first (so readers never see a
    /// half-applied transaction left by a crash).
    pub fn open_read(dir: &Path) -> Result<Store, Error> {
        if !dir.is_dir() {
            return Err(Error::Io(format!(
                "{}: no such store folder",
                dir.display()
            )));
        }
        match Store::open(dir) {
            Ok(mut s) => {
                s._lock = None;
                Ok(s)
            }
            Err(Error::Locked(_)) => Ok(Store::new(dir, None)),
            // A read-only folder: read what is there.
            Err(Error::Io(_)) => Ok(Store::new(dir, None)),
            Err(e) => Err(e),
        }
    }

    fn new(dir: &Path, lock: Option<File>) -> Store {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
            .set_created_by("botscope".to_string())
            .build();
        Store {
            root: dir.to_path_buf(),
            _lock: lock,
            recovery: Recovery::default(),
            fail: std::env::var("BOTSCOPE_STORE_CRASH")
                .ok()
                .and_then(|s| FailPoint::parse(&s)),
            seq: Arc::new(AtomicU64::new(0)),
            props,
            commit_lock: Mutex::new(()),
        }
    }

    /// Campaign ids for messages given as (registrable domains, subject),
    /// clustered with every message this store's campaign book has seen
    /// (`_campaigns.jsonl`, read on first use and appended with what these
    /// messages taught it): a campaign keeps its id across ingests, days
    /// and processes. `None` for a message with no domain and no specific
    /// subject. Callers serialise on the book, so units ingested in
    /// parallel see each other's campaigns. Writers only.
    pub fn campaign_ids<'a, I>(&self, messages: I) -> Result<Vec<Option<String>>, Error>
    where
        I: IntoIterator<Item = (&'a [String], Option<&'a str>)>,
    {
        if self._lock.is_none() {
            return Err(Error::Io(format!(
                "{}: the campaign book is written by the store's writer only",
                self.root.display()
            )));
        }
        let key = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        let mut books = BOOKS.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.root.join(CAMPAIGN_BOOK);
        let file = file_identity(&path);
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let fresh = || {
            // Replayed changes are not recorded; what `add` learns is.
            let mut campaigns = botscope_mail::Campaigns::new();
            campaigns.record_changes(true);
            Book {
                file: None,
                read: 0,
                campaigns,
            }
        };
        let book = books.entry(key).or_insert_with(fresh);
        if book.read > 0 && (book.file != file || len < book.read) {
            *book = fresh();
        }
        book.file = file;
        let c = &mut book.campaigns;
        book.read = read_campaign_book(&path, book.read, c, true)?;
        let read = &mut book.read;
        let items: Vec<usize> = messages.into_iter().map(|(d, s)| c.add(d, s)).collect();
        let ids = items.into_iter().map(|i| c.id(i)).collect();
        // The ids are read: the per-message slots are not needed again
        // (a trap running for months would otherwise keep one per message).
        c.forget_messages();
        let changes = c.take_changes();
        if !changes.is_empty() {
            let mut text = String::new();
            for ch in &changes {
                if let Ok(line) = serde_json::to_string(ch) {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            let appended = (|| -> std::io::Result<()> {
                let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
                f.write_all(text.as_bytes())?;
                // Before the rows that carry these ids are committed: a
                // book that lost its tail would give a known campaign a
                // new id.
                f.sync_data()
            })();
            if let Err(e) = appended {
                // What the clusterer learned is not on disk: forget it, so
                // the next call reads the book as it is.
                *book = fresh();
                return Err(io(&path, e));
            }
            *read += text.len() as u64;
            book.file = file_identity(&path);
        }
        Ok(ids)
    }

    /// Campaigns that joined an older one after rows were written with
    /// their own id: (old id, the id it goes by now), from the campaign
    /// book. Count series map old ids through this.
    pub fn merged_campaigns(&self) -> Result<Vec<(String, String)>, Error> {
        merged_campaigns(&self.root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What recovery did when this store was opened.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Simulate a crash at `p` in the next commits (tests).
    pub fn set_fail_point(&mut self, p: Option<FailPoint>) {
        self.fail = p;
    }

    /// A new transaction.
    pub fn writer(&self) -> Writer<'_> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        self.writer_named(format!("{nanos:x}{:x}{n:x}", std::process::id()))
    }

    /// A transaction with a chosen id (must be unique in the store, and a
    /// plain file-name-safe string).
    fn writer_named(&self, tx: String) -> Writer<'_> {
        Writer {
            store: self,
            tx,
            staged: Vec::new(),
            remove: Vec::new(),
            rows: BTreeMap::new(),
            op: "append".to_string(),
        }
    }

    /// A transaction for ingesting one input, named by its content hash.
    pub fn ingest_writer(&self, hash: &str) -> Writer<'_> {
        let short: String = hash
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(16)
            .collect();
        let mut w = self.writer_named(format!("i{short}"));
        w.op = "ingest".to_string();
        w
    }

    /// Every committed transaction, in order. A torn last line is ignored.
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>, Error> {
        Ok(read_ledger(&self.root.join(LEDGER))?.0)
    }

    /// Ledger entries appended at or after byte `offset` (whole lines
    /// only), and the offset to read from next time. An offset past the
    /// end (the ledger was replaced) reads from the start.
    pub fn ledger_from(&self, offset: u64) -> Result<(Vec<LedgerEntry>, u64), Error> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self.root.join(LEDGER);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(io(&path, e)),
        };
        let len = f.metadata().map_err(|e| io(&path, e))?.len();
        let start = if offset > len { 0 } else { offset };
        f.seek(SeekFrom::Start(start)).map_err(|e| io(&path, e))?;
        let mut buf = Vec::new();
        f.take(len - start)
            .read_to_end(&mut buf)
            .map_err(|e| io(&path, e))?;
        let whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut out = Vec::new();
        for line in buf[..whole].split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            let e: LedgerEntry = serde_json::from_slice(line).map_err(|e| {
                Error::Ledger(format!("{}: after byte {start}: {e}", path.display()))
            })?;
            out.push(e);
        }
        Ok((out, start + whole as u64))
    }

    /// Content hashes of every input already ingested.
    pub fn ingested(&self) -> Result<BTreeSet<String>, Error> {
        Ok(self
            .ledger()?
            .into_iter()
            .flat_map(|e| e.inputs.into_iter().map(|i| i.hash))
            .collect())
    }

    /// The part files of a table, sorted, by partition (`date` value).
    pub fn parts(&self, t: Table) -> Result<BTreeMap<String, Vec<PathBuf>>, Error> {
        let dir = self.root.join(t.name());
        let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&dir, e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| io(&dir, e))?;
            let name = ent.file_name().to_string_lossy().to_string();
            let Some(date) = name.strip_prefix("date=") else {
                continue;
            };
            let pdir = ent.path();
            let mut files = Vec::new();
            for f in fs::read_dir(&pdir).map_err(|e| io(&pdir, e))? {
                let f = f.map_err(|e| io(&pdir, e))?;
                let n = f.file_name().to_string_lossy().to_string();
                if n.starts_with("part-") && n.ends_with(".parquet") {
                    files.push(f.path());
                }
            }
            files.sort();
            if !files.is_empty() {
                out.insert(date.to_string(), files);
            }
        }
        Ok(out)
    }

    /// Read every row group of a table's files (in partition order).
    pub fn read_table(&self, t: Table) -> Result<Vec<RecordBatch>, Error> {
        let mut out = Vec::new();
        for files in self.parts(t)?.into_values() {
            for f in files {
                out.extend(read_parquet(&f)?);
            }
        }
        Ok(out)
    }

    fn recover(&self) -> Result<Recovery, Error> {
        let mut rec = Recovery::default();
        let ledger_path = self.root.join(LEDGER);
        let staging = self.root.join(STAGING);
        // The usual case costs no ledger read (a feed opens the store for
        // every commit): nothing staged, and the ledger ends with a whole
        // line (entries are one JSON line each, written with their newline
        // in one append; a crash mid-append leaves no final newline).
        let staged = fs::read_dir(&staging)
            .map(|mut r| r.next().is_some())
            .unwrap_or(false);
        if !staged && ledger_ends_whole(&ledger_path)? {
            return Ok(rec);
        }
        let (entries, good_len, torn) = read_ledger(&ledger_path)?;
        if torn {
            let f = OpenOptions::new()
                .write(true)
                .open(&ledger_path)
                .map_err(|e| io(&ledger_path, e))?;
            f.set_len(good_len).map_err(|e| io(&ledger_path, e))?;
            f.sync_all().map_err(|e| io(&ledger_path, e))?;
            rec.torn_ledger_line = true;
        }
        let Ok(rd) = fs::read_dir(&staging) else {
            return Ok(rec);
        };
        let by_tx: BTreeMap<&str, &LedgerEntry> =
            entries.iter().map(|e| (e.tx.as_str(), e)).collect();
        let mut txs: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        txs.sort();
        for tx in txs {
            match by_tx.get(tx.as_str()) {
                Some(entry) => {
                    self.apply(entry, None)?;
                    rec.rolled_forward.push(tx);
                }
                None => {
                    let d = staging.join(&tx);
                    fs::remove_dir_all(&d).map_err(|e| io(&d, e))?;
                    rec.rolled_back.push(tx);
                }
            }
        }
        Ok(rec)
    }

    /// Step 3 of the commit: move staged parts into place, remove replaced
    /// files, drop the staging folder. Idempotent.
    fn apply(&self, e: &LedgerEntry, fail: Option<FailPoint>) -> Result<(), Error> {
        let mut dirs = BTreeSet::new();
        let half = e.add.len() / 2;
        for (i, (staged, fin)) in e.add.iter().enumerate() {
            if fail == Some(FailPoint::MidApply) && i == half && half > 0 {
                return Err(crash(FailPoint::MidApply));
            }
            let from = self.root.join(staged);
            let to = self.root.join(fin);
            if from.exists() {
                if let Some(p) = to.parent() {
                    fs::create_dir_all(p).map_err(|er| io(p, er))?;
                    dirs.insert(p.to_path_buf());
                }
                fs::rename(&from, &to).map_err(|er| io(&from, er))?;
            }
        }
        for r in &e.remove {
            let p = self.root.join(r);
            match fs::remove_file(&p) {
                Ok(()) => {
                    if let Some(d) = p.parent() {
                        dirs.insert(d.to_path_buf());
                    }
                }
                Err(er) if er.kind() == std::io::ErrorKind::NotFound => {}
                Err(er) => return Err(io(&p, er)),
            }
        }
        for d in &dirs {
            fsync_dir(d)?;
            // A partition emptied by a replace disappears.
            if fs::read_dir(d)
                .map(|mut r| r.next().is_none())
                .unwrap_or(false)
            {
                let _ = fs::remove_dir(d);
            }
        }
        let st = self.root.join(STAGING).join(&e.tx);
        if st.exists() {
            fs::remove_dir_all(&st).map_err(|er| io(&st, er))?;
        }
        Ok(())
    }

    fn append_ledger(&self, e: &LedgerEntry) -> Result<(), Error> {
        let path = self.root.join(LEDGER);
        let mut line = serde_json::to_string(e).map_err(|er| Error::Io(er.to_string()))?;
        line.push('\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|er| io(&path, er))?;
        f.write_all(line.as_bytes()).map_err(|er| io(&path, er))?;
        f.sync_all().map_err(|er| io(&path, er))?;
        fsync_dir(&self.root)
    }
}

/// [`Store::merged_campaigns`] of the dataset in `dir`, read from its
/// campaign book alone (no lock, no recovery: the book is append-only).
pub fn merged_campaigns(dir: &Path) -> Result<Vec<(String, String)>, Error> {
    let mut c = botscope_mail::Campaigns::new();
    read_campaign_book(&dir.join(CAMPAIGN_BOOK), 0, &mut c, false)?;
    Ok(c.merged_ids())
}

/// Apply the campaign book's lines from byte `from` to `c`; returns the
/// offset read to (the end of the last whole line). A torn last line (a
/// crash while appending) is left unread, and cut off when `repair` (the
/// writer, who holds the lock); a line that is not a change is skipped.
fn read_campaign_book(
    path: &Path,
    from: u64,
    c: &mut botscope_mail::Campaigns,
    repair: bool,
) -> Result<u64, Error> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(path, e)),
    };
    let len = f.metadata().map_err(|e| io(path, e))?.len();
    if len <= from {
        return Ok(len.min(from));
    }
    f.seek(SeekFrom::Start(from)).map_err(|e| io(path, e))?;
    let mut data = Vec::with_capacity((len - from) as usize);
    f.read_to_end(&mut data).map_err(|e| io(path, e))?;
    let whole = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    for line in data[..whole].split(|&b| b == b'\n') {
        if let Ok(ch) = serde_json::from_slice::<botscope_mail::campaign::CampaignChange>(line) {
            c.apply(&ch);
        }
    }
    let end = from + whole as u64;
    if repair && whole < data.len() {
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(end))
            .map_err(|e| io(path, e))?;
    }
    Ok(end)
}

fn crash(p: FailPoint) -> Error {
    if std::env::var("BOTSCOPE_STORE_CRASH").is_ok() {
        // A real crash for the process-level tests.
        std::process::abort();
    }
    Error::Injected(format!("{p:?}"))
}

/// The ledger is missing, empty, or ends with a newline.
fn ledger_ends_whole(path: &Path) -> Result<bool, Error> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(io(path, e)),
    };
    let len = f.metadata().map_err(|e| io(path, e))?.len();
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0u8; 1];
    f.seek(SeekFrom::End(-1))
        .and_then(|_| f.read_exact(&mut last))
        .map_err(|e| io(path, e))?;
    Ok(last[0] == b'\n')
}

/// Read the ledger: entries, byte length of the good prefix, torn tail.
fn read_ledger(path: &Path) -> Result<(Vec<LedgerEntry>, u64, bool), Error> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0, false)),
        Err(e) => return Err(io(path, e)),
    };
    let mut r = BufReader::new(f);
    let mut out = Vec::new();
    let mut good = 0u64;
    let mut buf = Vec::new();
    let mut lineno = 0;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(|e| io(path, e))?;
        if n == 0 {
            return Ok((out, good, false));
        }
        lineno += 1;
        let complete = buf.ends_with(b"\n");
        match serde_json::from_slice::<LedgerEntry>(&buf) {
            Ok(e) if complete => {
                out.push(e);
                good += n as u64;
            }
            _ => {
                // Anything after a bad line is not trusted either: only a
                // crash while appending makes one, and it is the last line.
                let mut rest = Vec::new();
                let _ = std::io::Read::read_to_end(&mut r, &mut rest);
                if !rest.is_empty() || complete {
                    return Err(Error::Ledger(format!(
                        "{}: line {lineno} is not a ledger entry",
                        path.display()
                    )));
                }
                return Ok((out, good, true));
            }
        }
    }
}

/// Read every batch of one Parquet file.
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>, Error> {
    let f = File::open(path).map_err(|e| io(path, e))?;
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.with_batch_size(64 * 1024).build())
        .map_err(|e| Error::Parquet(format!("{}: {e}", path.display())))?;
    r.map(|b| b.map_err(|e| Error::Parquet(format!("{}: {e}", path.display()))))
        .collect()
}

/// Group rows by the date of their time (rows without one: `unknown`).
fn by_date<'a, T>(
    rows: impl IntoIterator<Item = &'a T>,
    time: impl Fn(&T) -> Option<i64>,
) -> BTreeMap<String, Vec<&'a T>>
where
    T: 'a,
{
    let mut out: BTreeMap<String, Vec<&'a T>> = BTreeMap::new();
    let mut last: Option<(i64, String)> = None;
    for r in rows {
        let date = match time(r) {
            Some(t) => {
                let day = t.div_euclid(tables::DAY_US);
                match &last {
                    Some((d, s)) if *d == day => s.clone(),
                    _ => {
                        let s = tables::date_of(t);
                        last = Some((day, s.clone()));
                        s
                    }
                }
            }
            None => UNKNOWN_DATE.to_string(),
        };
        out.entry(date).or_default().push(r);
    }
    out
}

/// What a commit did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    pub tx: String,
    pub rows: BTreeMap<String, u64>,
    pub files: usize,
}

/// One transaction: rows written as staged parts, visible at
/// [`Writer::commit`]. Dropping a writer without committing leaves its
/// staging folder, which the next writer open deletes.
pub struct Writer<'s> {
    store: &'s Store,
    tx: String,
    staged: Vec<(String, String)>,
    remove: Vec<String>,
    rows: BTreeMap<String, u64>,
    op: String,
}

impl Writer<'_> {
    /// The transaction id (names its part files).
    pub fn tx(&self) -> &str {
        &self.tx
    }

    /// Write one batch of `t` into partition `date` as a staged part.
    pub fn write_batch(&mut self, t: Table, date: &str, batch: &RecordBatch) -> Result<(), Error> {
        self.write_batches(t, date, std::slice::from_ref(batch))
    }

    /// Write batches (of one schema) of `t` into partition `date` as one
    /// staged part.
    pub fn write_batches(
        &mut self,
        t: Table,
        date: &str,
        batches: &[RecordBatch],
    ) -> Result<(), Error> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(());
        };
        if date.contains(['/', '\\']) || date.starts_with('.') {
            return Err(Error::Io(format!("bad partition name {date:?}")));
        }
        let n = self.staged.len();
        let staged_rel = format!("{STAGING}/{}/{n}.parquet", self.tx);
        let final_rel = format!("{}/date={date}/part-{}-{n:05}.parquet", t.name(), self.tx);
        let path = self.store.root.join(&staged_rel);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).map_err(|e| io(p, e))?;
        }
        let perr =
            |e: parquet::errors::ParquetError| Error::Parquet(format!("{}: {e}", path.display()));
        let f = File::create(&path).map_err(|e| io(&path, e))?;
        let mut w = ArrowWriter::try_new(f, first.schema(), Some(self.store.props.clone()))
            .map_err(perr)?;
        for b in batches {
            w.write(b).map_err(perr)?;
        }
        let f = w.into_inner().map_err(perr)?;
        f.sync_all().map_err(|e| io(&path, e))?;
        self.staged.push((staged_rel, final_rel));
        *self.rows.entry(t.name().to_string()).or_insert(0) += rows as u64;
        Ok(())
    }

    fn write_grouped<T>(
        &mut self,
        t: Table,
        rows: &[T],
        time: impl Fn(&T) -> Option<i64>,
        batch: impl Fn(&[&T]) -> Result<RecordBatch, Error>,
    ) -> Result<(), Error> {
        for (date, group) in by_date(rows, time) {
            // Bounded parts: at most a million rows per file.
            for chunk in group.chunks(1 << 20) {
                let b = batch(chunk)?;
                self.write_batch(t, &date, &b)?;
            }
        }
        Ok(())
    }

    pub fn write_conn(&mut self, rows: &[(&str, &Conn)]) -> Result<(), Error> {
        self.write_grouped(
            Table::Conn,
            rows,
            |r| Some(r.1.meta.ts.0),
            |c| tables::conn_batch(&c.iter().map(|r| **r).collect::<Vec<_>>()),
        )
    }

    pub fn write_http(&mut self, rows: &[(&str, &Http)]) -> Result<(), Error> {
        self.write_grouped(
            Table::Http,
            rows,
            |r| r.1.meta.map(|m| m.ts.0),
            |c| tables::http_batch(&c.iter().map(|r| **r).collect::<Vec<_>>()),
        )
    }

    pub fn write_smtp(&mut self, rows: &[(&str, &Smtp)]) -> Result<(), Error> {
        self.write_grouped(
            Table::Smtp,
            rows,
            |r| r.1.meta.map(|m| m.ts.0),
            |c| tables::smtp_batch(&c.iter().map(|r| **r).collect::<Vec<_>>()),
        )
    }

    pub fn write_dns(&mut self, rows: &[(&str, &Dns)]) -> Result<(), Error> {
        self.write_grouped(
            Table::Dns,
            rows,
            |r| r.1.meta.map(|m| m.ts.0),
            |c| tables::dns_batch(&c.iter().map(|r| **r).collect::<Vec<_>>()),
        )
    }

    pub fn write_ssl(&mut self, rows: &[(&str, &Ssl)]) -> Result<(), Error> {
        self.write_grouped(
            Table::Ssl,
            rows,
            |r| r.1.meta.map(|m| m.ts.0),
            |c| tables::ssl_batch(&c.iter().map(|r| **r).collect::<Vec<_>>()),
        )
    }

    pub fn write_irc(&mut self, rows: &[(&str, &Irc)]) -> Result<(), Error> {
        self.write_grouped(
            Table::Irc,
            rows,
            |r| r.1.meta.map(|m| m.ts.0),
            |c| tables::irc_batch(&c.iter().map(|r| **r).collect::<Vec<_>>()),
        )
    }

    /// Write decoded events of one input (`source`): conn, http, smtp,
    /// dns, ssl and irc rows; weirds and carved messages are not tables.
    pub fn write_events(&mut self, source: &str, events: &[Event]) -> Result<(), Error> {
        let mut conn = Vec::new();
        let mut http = Vec::new();
        let mut smtp = Vec::new();
        let mut dns = Vec::new();
        let mut ssl = Vec::new();
        let mut irc = Vec::new();
        for e in events {
            match e {
                Event::Conn(x) => conn.push((source, x)),
                Event::Http(x) => http.push((source, x)),
                Event::Smtp(x) => smtp.push((source, x)),
                Event::Dns(x) => dns.push((source, x)),
                Event::Ssl(x) => ssl.push((source, x)),
                Event::Irc(x) => irc.push((source, x)),
                // No dataset tables for these yet.
                Event::Ftp(_)
                | Event::Ssh(_)
                | Event::X509(_)
                | Event::File(_)
                | Event::Weird(_)
                | Event::Message(_)
                | Event::Tunnel(_) => {}
            }
        }
        self.write_conn(&conn)?;
        self.write_http(&http)?;
        self.write_smtp(&smtp)?;
        self.write_dns(&dns)?;
        self.write_ssl(&ssl)?;
        self.write_irc(&irc)
    }

    /// Write analysed messages: the `mail` table and, in the same
    /// transaction, their `mail_hourly` rollup rows.
    pub fn write_mail(&mut self, rows: &[MailMessage]) -> Result<(), Error> {
        self.write_grouped(Table::Mail, rows, tables::mail_time, tables::mail_batch)?;
        let refs: Vec<&MailMessage> = rows.iter().collect();
        let hourly = tables::mail_hourly_rows(&refs);
        self.write_grouped(
            Table::MailHourly,
            &hourly,
            |h| h.hour,
            |c| tables::mail_hourly_batch(&c.iter().map(|r| (*r).clone()).collect::<Vec<_>>()),
        )
    }

    pub fn write_activity(&mut self, rows: &[ActivityRow]) -> Result<(), Error> {
        self.write_grouped(
            Table::Activity,
            rows,
            |r| Some(r.first.0),
            |c| tables::activity_batch(&c.iter().map(|r| (*r).clone()).collect::<Vec<_>>()),
        )
    }

    pub fn write_alerts(&mut self, rows: &[AlertRow]) -> Result<(), Error> {
        self.write_grouped(
            Table::Alert,
            rows,
            |r| Some(r.ts.0),
            |c| tables::alert_batch(&c.iter().map(|r| (*r).clone()).collect::<Vec<_>>()),
        )
    }

    /// Remove every current file of `t` in this transaction (the rows
    /// written to `t` in it replace them atomically).
    pub fn replace_table(&mut self, t: Table) -> Result<(), Error> {
        for files in self.store.parts(t)?.into_values() {
            for f in files {
                if let Ok(rel) = f.strip_prefix(&self.store.root) {
                    self.remove.push(rel.to_string_lossy().to_string());
                }
            }
        }
        self.op = "replace".to_string();
        Ok(())
    }

    /// Remove given files (relative to the store) in this transaction.
    pub(crate) fn remove_files(&mut self, files: Vec<String>, op: &str) {
        self.remove.extend(files);
        self.op = op.to_string();
    }

    /// Commit: after this returns, every row written is visible and
    /// `inputs` are in the ledger; after a crash inside it, either all of
    /// it or none of it is.
    pub fn commit(self, inputs: Vec<InputRecord>) -> Result<Committed, Error> {
        let fail = self.store.fail;
        let st = self.store.root.join(STAGING).join(&self.tx);
        if st.exists() {
            fsync_dir(&st)?;
        }
        let entry = LedgerEntry {
            tx: self.tx.clone(),
            op: self.op.clone(),
            time: now_rfc3339(),
            inputs,
            rows: self.rows.clone(),
            add: self.staged.clone(),
            remove: self.remove.clone(),
        };
        if fail == Some(FailPoint::BeforeLedger) {
            return Err(crash(FailPoint::BeforeLedger));
        }
        let _guard = self
            .store
            .commit_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.store.append_ledger(&entry)?;
        if fail == Some(FailPoint::AfterLedger) {
            return Err(crash(FailPoint::AfterLedger));
        }
        self.store.apply(&entry, fail)?;
        Ok(Committed {
            tx: self.tx,
            rows: self.rows,
            files: self.staged.len(),
        })
    }
}
