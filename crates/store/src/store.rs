//! The dataset as Delta Lake tables: one table per event kind, commits
//! through each table's Delta log.
//!
//! # Layout
//! ```text
//! DIR/conn/_delta_log/00000000000000000000.json   the table's commits (Delta Lake)
//! DIR/conn/date=YYYY-MM-DD/part-TX-N.parquet       its data files (hive partitions)
//! DIR/http/ … DIR/alert/                          the other tables, the same way
//! DIR/inputs/                                     one row per input ingested (and
//!                                                 per commit), committed last
//! DIR/_campaigns.jsonl                            the campaign book: what the campaign
//!                                                 clusterer learned, so a campaign keeps
//!                                                 its id from one ingest to the next
//! ```
//!
//! Every table is a plain Delta table (protocol 1/2, no deletion vectors,
//! partitioned by the string column `date`), so Spark, Trino, DuckDB,
//! Polars and the Python `deltalake` package read it as it is.
//!
//! # Commits, many writers, crash safety
//! A [`Writer`] writes its Parquet parts straight into the partitions:
//! a file no commit names is invisible to every reader (VACUUM removes
//! such orphans). [`Writer::commit`] then commits, table by table, the
//! parts it wrote (one Delta commit per table), and last one row per
//! input into `inputs`. Delta commits are atomic and optimistic: any
//! number of processes may write at once; a commit that loses the race for
//! a version is checked against the winner and retried (appends never
//! conflict). There is no lock and no recovery step.
//!
//! Delta has no transaction across tables. An ingest names its commits
//! with an application transaction id derived from the input's content
//! hash, so after a crash between two of its table commits, the same
//! ingest again commits only the tables whose commit is missing: each
//! input's rows are in each table exactly once, and the input counts as
//! ingested (in `inputs`) only once every table has them. A reader that
//! looks between two table commits of one ingest sees some of its tables
//! before the others.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use botscope_event::{Conn, Dns, Event, Http, Irc, MailMessage, Smtp, Ssl};
use botscope_wire::input::InputKind;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::delta::{self, Lake, Location};
use crate::tables::{self, ActivityRow, AlertRow, Table, UNKNOWN_DATE};
use crate::Error;

/// The campaign book (see [`Store::campaign_ids`]).
pub const CAMPAIGN_BOOK: &str = "_campaigns.jsonl";
/// The campaign book on object storage: one file per addition.
pub const CAMPAIGN_DIR: &str = "_campaigns/";
/// The table of inputs and commits.
pub const INPUTS: &str = "inputs";

/// Where a simulated crash happens (tests of crash safety).
///
/// Set with [`Store::set_fail_point`] (the commit returns
/// [`Error::Injected`] and leaves the store as a crash would) or with the
/// environment variable `BOTSCOPE_STORE_CRASH=before-commit|mid-commit|before-inputs`
/// (the process aborts there: a real crash, used by the CLI tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailPoint {
    /// Parts written, nothing committed.
    BeforeCommit,
    /// The first table committed, the others not.
    MidCommit,
    /// Every table committed, the inputs not.
    BeforeInputs,
}

impl FailPoint {
    fn parse(s: &str) -> Option<FailPoint> {
        match s {
            "before-commit" => Some(FailPoint::BeforeCommit),
            "mid-commit" => Some(FailPoint::MidCommit),
            "before-inputs" => Some(FailPoint::BeforeInputs),
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
    /// What the input is (recorded by name: `pcap`, `pcapng`, `zeek`,
    /// `binetflow`, `mbox`, `eml`).
    #[serde(with = "kind_name")]
    pub kind: InputKind,
}

/// [`InputKind`] kept by its name in the old ledger's JSON.
mod kind_name {
    use botscope_wire::input::InputKind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(k: &InputKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<InputKind, D::Error> {
        let s = String::deserialize(d)?;
        Ok(InputKind::parse(&s))
    }
}

/// What a transaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Op {
    /// Inputs read, decoded and analysed (named by their content hashes).
    Ingest,
    /// Rows from a library writer (mail, alerts).
    #[default]
    Append,
    /// Small files merged (no row changes).
    Compact,
    /// A table's rows replaced (`alerts` saved again).
    Replace,
    /// Mail re-attributed by a new model.
    Rehunt,
    /// A dataset of the old ledger format converted.
    Migrate,
    /// An operation this version does not know (a newer writer's).
    #[serde(other)]
    Other,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ingest => "ingest",
            Op::Append => "append",
            Op::Compact => "compact",
            Op::Replace => "replace",
            Op::Rehunt => "rehunt",
            Op::Migrate => "migrate",
            Op::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Op {
        match s {
            "ingest" => Op::Ingest,
            "append" => Op::Append,
            "compact" => Op::Compact,
            "replace" => Op::Replace,
            "rehunt" => Op::Rehunt,
            "migrate" => Op::Migrate,
            _ => Op::Other,
        }
    }
}

/// One committed transaction, as the `inputs` table records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub tx: String,
    pub op: Op,
    /// Commit time, RFC 3339.
    pub time: String,
    /// The inputs an ingest read (one, or the logs of one Zeek run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputRecord>,
    /// Rows added, per table.
    #[serde(default)]
    pub rows: BTreeMap<String, u64>,
    /// The version of each table this transaction committed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, u64>,
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
    /// Files read (object storage).
    names: BTreeSet<String>,
    campaigns: botscope_mail::Campaigns,
}

impl Book {
    /// A book read from nothing yet. Replayed changes are not recorded;
    /// what `add` learns is.
    fn new() -> Book {
        let mut campaigns = botscope_mail::Campaigns::new();
        campaigns.record_changes(true);
        Book {
            file: None,
            read: 0,
            names: BTreeSet::new(),
            campaigns,
        }
    }
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
    Error::io(format!("{}: {e}", path.display()))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An open dataset.
pub struct Store {
    root: PathBuf,
    lake: Lake,
    writable: bool,
    fail: Option<FailPoint>,
    seq: Arc<AtomicU64>,
    props: WriterProperties,
}

impl Store {
    /// Open (creating if missing) the store at `dir` for writing. Any
    /// number of writers, in this process or others, may have it open.
    ///
    /// `dir` is a folder, or the URL of a prefix of object storage
    /// (`s3://bucket/prefix`: see [`crate::delta::Location::of`]).
    pub fn open(dir: &Path) -> Result<Store, Error> {
        if let Location::Dir(d) = Location::of(dir)? {
            fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
            crate::legacy::refuse_ledger(&d)?;
        }
        Store::new(dir, true)
    }

    /// Open an existing store for reading.
    pub fn open_read(dir: &Path) -> Result<Store, Error> {
        if let Location::Dir(d) = Location::of(dir)? {
            if !d.is_dir() {
                return Err(Error::io(format!("{}: no such store folder", d.display())));
            }
            crate::legacy::refuse_ledger(&d)?;
        }
        Store::new(dir, false)
    }

    /// Open without looking for the old format (the migration itself).
    pub(crate) fn new_unchecked(dir: &Path) -> Result<Store, Error> {
        Store::new(dir, true)
    }

    pub(crate) fn props(&self) -> &WriterProperties {
        &self.props
    }

    fn new(dir: &Path, writable: bool) -> Result<Store, Error> {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
            .set_created_by("botscope".to_string())
            .build();
        let loc = Location::of(dir)?;
        let root = match &loc {
            Location::Dir(d) => d.clone(),
            Location::Url(u) => PathBuf::from(u.as_str()),
        };
        Ok(Store {
            lake: Lake::new(loc)?,
            root,
            writable,
            fail: std::env::var("BOTSCOPE_STORE_CRASH")
                .ok()
                .and_then(|s| FailPoint::parse(&s)),
            seq: Arc::new(AtomicU64::new(0)),
            props,
        })
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
        if !self.writable {
            return Err(Error::io(format!(
                "{}: the campaign book is written by the store's writer only",
                self.root.display()
            )));
        }
        if self.lake.location().dir().is_none() {
            return self.campaign_ids_objects(messages);
        }
        let key = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        let mut books = BOOKS.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.root.join(CAMPAIGN_BOOK);
        let file = file_identity(&path);
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let fresh = Book::new;
        let book = books.entry(key).or_insert_with(fresh);
        if book.read > 0 && (book.file != file || len < book.read) {
            *book = fresh();
        }
        book.file = file;
        let c = &mut book.campaigns;
        book.read = read_campaign_book(&path, book.read, c, true)?;
        let read = &mut book.read;
        let (ids, text) = learn(c, messages);
        if !text.is_empty() {
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

    /// [`Store::campaign_ids`] on object storage, where nothing can be
    /// appended to: the book is a folder `_campaigns/` of small files,
    /// one per call that taught the clusterer something, named by time
    /// (so many writers add theirs side by side), read in name order.
    fn campaign_ids_objects<'a, I>(&self, messages: I) -> Result<Vec<Option<String>>, Error>
    where
        I: IntoIterator<Item = (&'a [String], Option<&'a str>)>,
    {
        let mut books = BOOKS.lock().unwrap_or_else(|p| p.into_inner());
        let book = books.entry(self.root.clone()).or_insert_with(Book::new);
        for name in self.lake.list(CAMPAIGN_DIR)? {
            if book.names.contains(&name) {
                continue;
            }
            if let Some(bytes) = self.lake.read_bytes(&name)? {
                for line in bytes.split(|&b| b == b'\n') {
                    if let Ok(ch) =
                        serde_json::from_slice::<botscope_mail::campaign::CampaignChange>(line)
                    {
                        book.campaigns.apply(&ch);
                    }
                }
            }
            book.names.insert(name);
        }
        // Replayed changes are not what this call learned.
        book.campaigns.take_changes();
        let (ids, text) = learn(&mut book.campaigns, messages);
        if !text.is_empty() {
            let n = self.seq.fetch_add(1, Ordering::Relaxed);
            let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
            let name = format!(
                "{CAMPAIGN_DIR}{nanos:020}-{:x}-{n:x}.jsonl",
                std::process::id()
            );
            self.lake.put(&name, text.into_bytes())?;
            book.names.insert(name);
        }
        Ok(ids)
    }

    /// Campaigns that joined an older one after rows were written with
    /// their own id: (old id, the id it goes by now), from the campaign
    /// book. Count series map old ids through this.
    pub fn merged_campaigns(&self) -> Result<Vec<(String, String)>, Error> {
        merged_campaigns(&self.root)
    }

    /// The store's folder (for a store on object storage, its URL as a
    /// path, which every function taking a store path accepts).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn lake(&self) -> &Lake {
        &self.lake
    }

    /// Simulate a crash at `p` in the next commits (tests).
    pub fn set_fail_point(&mut self, p: Option<FailPoint>) {
        self.fail = p;
    }

    /// A new transaction.
    pub fn writer(&self) -> Writer<'_> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        self.writer_named(format!("{nanos:x}{:x}{n:x}", std::process::id()), None)
    }

    fn writer_named(&self, tx: String, app: Option<String>) -> Writer<'_> {
        Writer {
            store: self,
            tx,
            app,
            adds: BTreeMap::new(),
            remove: BTreeMap::new(),
            rows: BTreeMap::new(),
            op: Op::Append,
            files: 0,
        }
    }

    /// A transaction for ingesting one input, named by its content hash:
    /// its table commits carry the application transaction id
    /// `botscope-ingest-<hash>`, so the same input committed again after a
    /// crash adds to no table twice.
    pub fn ingest_writer(&self, hash: &str) -> Writer<'_> {
        let clean: String = hash
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(64)
            .collect();
        let short: String = clean.chars().take(16).collect();
        // Part names stay unique when the same input is written again.
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let mut w = self.writer_named(
            format!("i{short}-{nanos:x}{:x}{n:x}", std::process::id()),
            Some(format!("botscope-ingest-{clean}")),
        );
        w.op = Op::Ingest;
        w
    }

    /// Every committed transaction, in commit order.
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>, Error> {
        Ok(self.ledger_from(0)?.0)
    }

    /// Transactions committed after the first `from` (see
    /// [`Store::version`]), and the store's version now (to give as
    /// `from` next time).
    pub fn ledger_from(&self, from: u64) -> Result<(Vec<LedgerEntry>, u64), Error> {
        self.lake.inputs_from(from)
    }

    /// The store's version: the number of transactions committed (every
    /// transaction ends with one commit to the `inputs` table, whose Delta
    /// version this is). It grows with every commit of any writer.
    pub fn version(&self) -> u64 {
        self.lake.log_version(INPUTS).ok().flatten().unwrap_or(0)
    }

    /// Content hashes of every input already ingested.
    pub fn ingested(&self) -> Result<BTreeSet<String>, Error> {
        self.lake.ingested()
    }

    /// The data files of a table as of now, sorted, by partition (`date`
    /// value), named relative to the store (`conn/date=…/part-….parquet`;
    /// read one with [`Store::read_part`]).
    pub fn parts(&self, t: Table) -> Result<BTreeMap<String, Vec<String>>, Error> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in self.lake.files(t.name())? {
            out.entry(f.date.unwrap_or_else(|| UNKNOWN_DATE.to_string()))
                .or_default()
                .push(format!("{}/{}", t.name(), f.path));
        }
        for v in out.values_mut() {
            v.sort();
        }
        Ok(out)
    }

    /// Every batch of one data file named as [`Store::parts`] names it.
    pub fn read_part(&self, rel: &str) -> Result<Vec<RecordBatch>, Error> {
        self.lake.read_parquet(rel)
    }

    /// Read every row group of a table's files (in partition order).
    pub fn read_table(&self, t: Table) -> Result<Vec<RecordBatch>, Error> {
        let mut out = Vec::new();
        for files in self.parts(t)?.into_values() {
            for f in files {
                out.extend(self.read_part(&f)?);
            }
        }
        Ok(out)
    }
}

/// The version of the store at `dir` ([`Store::version`]), read from the
/// `inputs` table's log folder alone (0: no commit yet).
pub fn version(dir: &Path) -> u64 {
    match Location::of(dir) {
        Ok(Location::Dir(d)) => delta::log_version(&d.join(INPUTS)).unwrap_or(0),
        Ok(loc) => Lake::new(loc)
            .and_then(|l| l.log_version(INPUTS))
            .ok()
            .flatten()
            .unwrap_or(0),
        Err(_) => 0,
    }
}

/// Campaign ids of `messages` from the clusterer `c`, and what it learned
/// from them as lines of the campaign book (empty: nothing new).
fn learn<'a, I>(c: &mut botscope_mail::Campaigns, messages: I) -> (Vec<Option<String>>, String)
where
    I: IntoIterator<Item = (&'a [String], Option<&'a str>)>,
{
    let items: Vec<usize> = messages.into_iter().map(|(d, s)| c.add(d, s)).collect();
    let ids = items.into_iter().map(|i| c.id(i)).collect();
    // The ids are read: the per-message slots are not needed again (a
    // trap running for months would otherwise keep one per message).
    c.forget_messages();
    let mut text = String::new();
    for ch in &c.take_changes() {
        if let Ok(line) = serde_json::to_string(ch) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    (ids, text)
}

/// [`Store::merged_campaigns`] of the dataset in `dir`, read from its
/// campaign book alone (no lock, no recovery: the book is append-only).
pub fn merged_campaigns(dir: &Path) -> Result<Vec<(String, String)>, Error> {
    let mut c = botscope_mail::Campaigns::new();
    match Location::of(dir)? {
        Location::Dir(d) => {
            read_campaign_book(&d.join(CAMPAIGN_BOOK), 0, &mut c, false)?;
        }
        loc => {
            let lake = Lake::new(loc)?;
            for name in lake.list(CAMPAIGN_DIR)? {
                if let Some(bytes) = lake.read_bytes(&name)? {
                    for line in bytes.split(|&b| b == b'\n') {
                        if let Ok(ch) =
                            serde_json::from_slice::<botscope_mail::campaign::CampaignChange>(line)
                        {
                            c.apply(&ch);
                        }
                    }
                }
            }
        }
    }
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
    Error::injected(format!("{p:?}"))
}

/// Read every batch of one Parquet file.
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>, Error> {
    let f = File::open(path).map_err(|e| io(path, e))?;
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.with_batch_size(64 * 1024).build())
        .map_err(|e| Error::parquet(format!("{}: {e}", path.display())))?;
    r.map(|b| b.map_err(|e| Error::parquet(format!("{}: {e}", path.display()))))
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

/// One transaction: parts written into their partitions as they come
/// (invisible until committed), made visible table by table at
/// [`Writer::commit`]. A writer dropped without committing leaves orphan
/// files that VACUUM removes.
pub struct Writer<'s> {
    store: &'s Store,
    tx: String,
    /// The application transaction id of an ingest.
    app: Option<String>,
    adds: BTreeMap<&'static str, Vec<delta::Part>>,
    /// Files to remove, by table (paths relative to the table).
    remove: BTreeMap<&'static str, Vec<String>>,
    rows: BTreeMap<String, u64>,
    op: Op,
    files: usize,
}

impl Writer<'_> {
    /// The transaction id (names its part files).
    pub fn tx(&self) -> &str {
        &self.tx
    }

    /// Write one batch of `t` into partition `date` as one part.
    pub fn write_batch(&mut self, t: Table, date: &str, batch: &RecordBatch) -> Result<(), Error> {
        self.write_batches(t, date, std::slice::from_ref(batch))
    }

    /// Write batches (of one schema) of `t` into partition `date` as one
    /// part.
    pub fn write_batches(
        &mut self,
        t: Table,
        date: &str,
        batches: &[RecordBatch],
    ) -> Result<(), Error> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            return Ok(());
        }
        if date.contains(['/', '\\', '%', '=']) || date.starts_with('.') || date.is_empty() {
            return Err(Error::io(format!("bad partition name {date:?}")));
        }
        let n = self.files;
        let rel = format!("date={date}/part-{}-{n:05}.parquet", self.tx);
        let size = self.store.lake.write_parquet(
            &format!("{}/{rel}", t.name()),
            batches,
            &self.store.props,
        )?;
        self.adds.entry(t.name()).or_default().push(delta::Part {
            path: rel,
            date: Some(date.to_string()),
            size,
            rows: rows as u64,
        });
        self.files += 1;
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
    /// written to `t` in it replace them in the same commit).
    pub fn replace_table(&mut self, t: Table) -> Result<(), Error> {
        let files: Vec<String> = self
            .store
            .lake
            .files(t.name())?
            .into_iter()
            .map(|f| f.path)
            .collect();
        self.remove.entry(t.name()).or_default().extend(files);
        self.op = Op::Replace;
        Ok(())
    }

    /// Remove given files (relative to the store) in this transaction.
    pub(crate) fn remove_files(&mut self, files: Vec<String>, op: Op) {
        for f in files {
            let f = f.replace('\\', "/");
            if let Some((table, rel)) = f.split_once('/') {
                if let Some(t) = Table::parse(table) {
                    self.remove
                        .entry(t.name())
                        .or_default()
                        .push(rel.to_string());
                }
            }
        }
        self.op = op;
    }

    /// Commit: each table's parts (and removals) in one Delta commit per
    /// table, then the `inputs` rows. After it returns, every row written
    /// is visible and `inputs` are recorded; see the module documentation
    /// for what a crash inside it leaves.
    pub fn commit(self, inputs: Vec<InputRecord>) -> Result<Committed, Error> {
        let fail = self.store.fail;
        if fail == Some(FailPoint::BeforeCommit) {
            return Err(crash(FailPoint::BeforeCommit));
        }
        let mut tables: BTreeSet<&'static str> = self.adds.keys().copied().collect();
        tables.extend(self.remove.keys().copied());
        let data_change = self.op != Op::Compact;
        let mut versions = BTreeMap::new();
        for (i, name) in tables.iter().enumerate() {
            if i == 1 && fail == Some(FailPoint::MidCommit) {
                return Err(crash(FailPoint::MidCommit));
            }
            let t = Table::parse(name).ok_or_else(|| Error::schema(format!("no table {name}")))?;
            let v = self.store.lake.commit(
                name,
                t.schema(),
                true,
                self.adds.get(name).map(Vec::as_slice).unwrap_or(&[]),
                self.remove.get(name).map(Vec::as_slice).unwrap_or(&[]),
                self.app.as_deref(),
                data_change,
            )?;
            if let Some(v) = v {
                versions.insert(name.to_string(), v);
            }
        }
        if fail == Some(FailPoint::BeforeInputs) {
            return Err(crash(FailPoint::BeforeInputs));
        }
        let entry = LedgerEntry {
            tx: self.tx.clone(),
            op: self.op,
            time: now_rfc3339(),
            inputs,
            rows: self.rows.clone(),
            versions,
        };
        self.store
            .lake
            .commit_inputs(&self.store.props, &[entry], self.app.as_deref())?;
        Ok(Committed {
            tx: self.tx,
            rows: self.rows,
            files: self.files,
        })
    }
}
