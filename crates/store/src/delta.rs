//! The store's tables as Delta Lake tables, through delta-rs
//! (`deltalake`): loading, creating, committing parts, reading the
//! `inputs` table. Everything async runs on one runtime of the process.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use botscope_wire::input::InputKind;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{
    Action, Add, DataType, Metadata, MetadataExt, Remove, StructField, StructType, Transaction,
};
use deltalake::logstore::ObjectStoreRef;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures_util::StreamExt;
use object_store::path::Path as ObjPath;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use url::Url;

use crate::store::{read_parquet, InputRecord, LedgerEntry, Op, INPUTS};
use crate::tables::{from_batch, row, to_batch, Row};
use crate::Error;

/// The partition column of every event table.
pub const DATE: &str = "date";

pub(crate) fn dl(e: impl std::fmt::Display) -> Error {
    Error::delta(e.to_string())
}

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("botscope-store")
        .enable_all()
        .build()
        .expect("tokio runtime for the store")
});

/// Run `f` to completion on the store's runtime, from synchronous code
/// (from inside another runtime too: then on a thread of its own).
pub fn block<F>(f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| RT.block_on(f))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    } else {
        RT.block_on(f)
    }
}

/// A data file written by a writer, to be committed.
#[derive(Clone, Debug)]
pub struct Part {
    /// Relative to the table's folder.
    pub path: String,
    pub date: Option<String>,
    pub size: u64,
    pub rows: u64,
}

/// A data file of a table's current version.
#[derive(Clone, Debug)]
pub struct FileInfo {
    /// Relative to the table's folder.
    pub path: String,
    pub date: Option<String>,
    pub size: u64,
}

/// Where a store lives: a local folder, or a URL of object storage
/// (`s3://bucket/prefix`, `gs://…`, `az://…`; `file://` is a folder).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    Url(Url),
}

impl Location {
    /// The store named by `p`: a URL when its text starts with
    /// `SCHEME://`, a folder (made absolute) otherwise.
    pub fn of(p: &Path) -> Result<Location, Error> {
        let s = p.to_string_lossy();
        if let Some((scheme, _)) = s.split_once("://") {
            let is_scheme = scheme.len() > 1
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b));
            if is_scheme {
                let mut u =
                    Url::parse(&s).map_err(|e| Error::io(format!("{s}: not a store URL: {e}")))?;
                if u.scheme() == "file" {
                    let d = u
                        .to_file_path()
                        .map_err(|()| Error::io(format!("{s}: not a local path")))?;
                    return Ok(Location::Dir(d));
                }
                if !u.path().ends_with('/') {
                    let path = format!("{}/", u.path());
                    u.set_path(&path);
                }
                return Ok(Location::Url(u));
            }
        }
        let d = std::path::absolute(p).map_err(|e| Error::io(format!("{}: {e}", p.display())))?;
        Ok(Location::Dir(d))
    }

    /// The folder, for a local store.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Location::Dir(d) => Some(d),
            Location::Url(_) => None,
        }
    }

    /// The URL of the table `name`.
    pub fn table_url(&self, name: &str) -> Result<Url, Error> {
        match self {
            Location::Dir(d) => Url::from_directory_path(d.join(name))
                .map_err(|()| Error::io(format!("{}: not an absolute path", d.display()))),
            Location::Url(u) => u
                .join(&format!("{name}/"))
                .map_err(|e| Error::io(format!("{u}: {e}"))),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(d) => write!(f, "{}", d.display()),
            Location::Url(u) => write!(f, "{u}"),
        }
    }
}

/// The URL of the table `name` of the store at `root` (a folder or a
/// URL, see [`Location::of`]).
pub fn table_url(root: &Path, name: &str) -> Result<Url, Error> {
    Location::of(root)?.table_url(name)
}

/// An object store rooted at `url` (its credentials and endpoint from the
/// environment: `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_ALLOW_HTTP`, …).
fn object_store_at(url: &Url) -> Result<ObjectStoreRef, Error> {
    Ok(DeltaTableBuilder::from_url(url.clone())
        .map_err(dl)?
        .build()
        .map_err(dl)?
        .object_store())
}

fn opath(rel: &str) -> ObjPath {
    ObjPath::from(rel.trim_start_matches('/'))
}

/// Load the table at `url`; `None` when there is none yet.
pub async fn load(url: &Url) -> Result<Option<DeltaTable>, Error> {
    if url.scheme() == "file" {
        if let Ok(p) = url.to_file_path() {
            if !p.join("_delta_log").is_dir() {
                return Ok(None);
            }
        }
    }
    let mut t = DeltaTableBuilder::from_url(url.clone())
        .map_err(dl)?
        .build()
        .map_err(dl)?;
    match t.load().await {
        Ok(()) => Ok(Some(t)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(dl(format!("{url}: {e}"))),
    }
}

/// The latest version in a local table's `_delta_log` (by file names
/// alone: cheap enough to poll).
pub fn log_version(table_dir: &Path) -> Option<u64> {
    let rd = std::fs::read_dir(table_dir.join("_delta_log")).ok()?;
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name();
            let n = n.to_str()?;
            let v = n.strip_suffix(".json")?;
            if v.len() == 20 && v.bytes().all(|b| b.is_ascii_digit()) {
                v.parse::<u64>().ok()
            } else {
                None
            }
        })
        .max()
}

/// The Delta schema of an Arrow schema, with the `date` partition column
/// when `partitioned`.
fn delta_columns(schema: &Schema, partitioned: bool) -> Result<Vec<StructField>, Error> {
    let st: StructType = schema.try_into_kernel().map_err(dl)?;
    let mut cols: Vec<StructField> = st.fields().cloned().collect();
    if partitioned {
        cols.push(StructField::new(DATE, DataType::STRING, true));
    }
    Ok(cols)
}

type Slot = Arc<tokio::sync::Mutex<Option<DeltaTable>>>;

/// The tables of one store, loaded on first use and kept.
pub struct Lake {
    loc: Location,
    /// The store's root as an object store (object storage only).
    root_store: Option<ObjectStoreRef>,
    tables: Mutex<HashMap<String, Slot>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `batches` (of one schema) as one Parquet file written to `out`.
fn write_batches<W: std::io::Write + Send>(
    out: W,
    batches: &[RecordBatch],
    props: &WriterProperties,
    what: &str,
) -> Result<W, Error> {
    let perr = |e: parquet::errors::ParquetError| Error::parquet(format!("{what}: {e}"));
    let Some(first) = batches.first() else {
        return Err(Error::parquet(format!("{what}: no batch")));
    };
    let mut w = ArrowWriter::try_new(out, first.schema(), Some(props.clone())).map_err(perr)?;
    for b in batches {
        w.write(b).map_err(perr)?;
    }
    w.into_inner().map_err(perr)
}

impl Lake {
    pub fn new(loc: Location) -> Result<Lake, Error> {
        let root_store = match &loc {
            Location::Dir(_) => None,
            Location::Url(u) => Some(object_store_at(u)?),
        };
        Ok(Lake {
            loc,
            root_store,
            tables: Mutex::new(HashMap::new()),
        })
    }

    pub fn location(&self) -> &Location {
        &self.loc
    }

    /// Write `batches` as one Parquet file at `rel` (relative to the
    /// store); returns its size. A local file is on disk (fsynced) when
    /// this returns; an object is whole once its upload completes.
    pub fn write_parquet(
        &self,
        rel: &str,
        batches: &[RecordBatch],
        props: &WriterProperties,
    ) -> Result<u64, Error> {
        match &self.loc {
            Location::Dir(d) => {
                let path = d.join(rel);
                if let Some(p) = path.parent() {
                    std::fs::create_dir_all(p)
                        .map_err(|e| Error::io(format!("{}: {e}", p.display())))?;
                }
                let io = |e: std::io::Error| Error::io(format!("{}: {e}", path.display()));
                let f = std::fs::File::create(&path).map_err(io)?;
                let f = write_batches(f, batches, props, &path.display().to_string())?;
                // On disk before any commit names it.
                f.sync_all().map_err(io)?;
                Ok(f.metadata().map_err(io)?.len())
            }
            Location::Url(u) => {
                let bytes = write_batches(Vec::new(), batches, props, &format!("{u}{rel}"))?;
                let n = bytes.len() as u64;
                self.put(rel, bytes)?;
                Ok(n)
            }
        }
    }

    /// Store `bytes` at `rel` (object storage only).
    pub fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<(), Error> {
        let Some(store) = &self.root_store else {
            return Err(Error::io(format!("{}: not object storage", self.loc)));
        };
        block(async {
            store
                .put(&opath(rel), bytes::Bytes::from(bytes).into())
                .await
                .map(|_| ())
                .map_err(|e| Error::io(format!("{}{rel}: {e}", self.loc)))
        })
    }

    /// The bytes at `rel`; `None` when there is no such file.
    pub fn read_bytes(&self, rel: &str) -> Result<Option<bytes::Bytes>, Error> {
        match &self.loc {
            Location::Dir(d) => match std::fs::read(d.join(rel)) {
                Ok(b) => Ok(Some(b.into())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(format!("{}: {e}", d.join(rel).display()))),
            },
            Location::Url(_) => {
                let Some(store) = &self.root_store else {
                    return Ok(None);
                };
                block(async {
                    match store.get(&opath(rel)).await {
                        Ok(r) => r
                            .bytes()
                            .await
                            .map(Some)
                            .map_err(|e| Error::io(format!("{}{rel}: {e}", self.loc))),
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(Error::io(format!("{}{rel}: {e}", self.loc))),
                    }
                })
            }
        }
    }

    /// Every batch of the Parquet file at `rel`.
    pub fn read_parquet(&self, rel: &str) -> Result<Vec<RecordBatch>, Error> {
        match &self.loc {
            Location::Dir(d) => read_parquet(&d.join(rel)),
            Location::Url(u) => {
                let what = format!("{u}{rel}");
                let b = self
                    .read_bytes(rel)?
                    .ok_or_else(|| Error::io(format!("{what}: not found")))?;
                let r = ParquetRecordBatchReaderBuilder::try_new(b)
                    .and_then(|b| b.with_batch_size(64 * 1024).build())
                    .map_err(|e| Error::parquet(format!("{what}: {e}")))?;
                r.map(|b| b.map_err(|e| Error::parquet(format!("{what}: {e}"))))
                    .collect()
            }
        }
    }

    /// Names (relative to the store) of the files under `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        match &self.loc {
            Location::Dir(d) => {
                let mut out = Vec::new();
                if let Ok(rd) = std::fs::read_dir(d.join(prefix)) {
                    for e in rd.flatten() {
                        if e.path().is_file() {
                            out.push(format!(
                                "{}/{}",
                                prefix.trim_end_matches('/'),
                                e.file_name().to_string_lossy()
                            ));
                        }
                    }
                }
                out.sort();
                Ok(out)
            }
            Location::Url(_) => {
                let Some(store) = &self.root_store else {
                    return Ok(Vec::new());
                };
                block(async {
                    let mut s = store.list(Some(&opath(prefix)));
                    let mut out = Vec::new();
                    while let Some(m) = s.next().await {
                        let m = m.map_err(|e| Error::io(format!("{}{prefix}: {e}", self.loc)))?;
                        out.push(m.location.to_string());
                    }
                    out.sort();
                    Ok(out)
                })
            }
        }
    }

    /// The latest version of table `name` (`None`: no table yet).
    pub fn log_version(&self, name: &str) -> Result<Option<u64>, Error> {
        match &self.loc {
            Location::Dir(d) => Ok(log_version(&d.join(name))),
            Location::Url(_) => Ok(self
                .list(&format!("{name}/_delta_log/"))?
                .iter()
                .filter_map(|p| {
                    let n = p.rsplit('/').next()?;
                    let v = n.strip_suffix(".json")?;
                    (v.len() == 20 && v.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| v.parse::<u64>().ok())
                        .flatten()
                })
                .max()),
        }
    }

    /// The slot of table `name`: the table as last loaded, behind a lock
    /// that this process's commits to the table take in turn (so each
    /// brings the loaded table up to date instead of loading it again).
    fn slot(&self, name: &str) -> Slot {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// Bring the table in `slot` to its latest version (load it the first
    /// time; `None` stays when it does not exist yet).
    async fn refresh(&self, name: &str, slot: &mut Option<DeltaTable>) -> Result<(), Error> {
        match slot {
            Some(t) => t.update_incremental(None).await.map_err(dl),
            None => {
                *slot = load(&self.loc.table_url(name)?).await?;
                Ok(())
            }
        }
    }

    /// [`Lake::refresh`], creating the table (empty, with `schema`) when
    /// missing. Two writers creating it at once: one creates, the other
    /// loads.
    async fn refresh_or_create<'a>(
        &self,
        name: &str,
        slot: &'a mut Option<DeltaTable>,
        schema: &Schema,
        partitioned: bool,
    ) -> Result<&'a mut DeltaTable, Error> {
        self.refresh(name, slot).await?;
        if slot.is_none() {
            let url = self.loc.table_url(name)?;
            if let Location::Dir(d) = &self.loc {
                std::fs::create_dir_all(d.join(name))
                    .map_err(|e| Error::io(format!("{}: {e}", d.join(name).display())))?;
            }
            let t = DeltaTableBuilder::from_url(url.clone())
                .map_err(dl)?
                .build()
                .map_err(dl)?;
            let mut b = t
                .create()
                .with_table_name(name)
                .with_columns(delta_columns(schema, partitioned)?)
                .with_save_mode(SaveMode::Ignore);
            if partitioned {
                b = b.with_partition_columns([DATE]);
            }
            *slot = match b.await {
                Ok(t) => Some(t),
                Err(e) => match load(&url).await? {
                    // Another writer made it first.
                    Some(t) => Some(t),
                    None => return Err(dl(format!("{url}: cannot create the table: {e}"))),
                },
            };
        }
        slot.as_mut()
            .ok_or_else(|| Error::delta(format!("{name}: no table")))
    }

    /// The data files of table `name` now (empty when it does not exist).
    pub fn files(&self, name: &str) -> Result<Vec<FileInfo>, Error> {
        let slot = self.slot(name);
        block(async {
            let mut t = slot.lock().await;
            self.refresh(name, &mut t).await?;
            match t.as_ref() {
                Some(t) => files_of(t),
                None => Ok(Vec::new()),
            }
        })
    }

    /// Commit `adds` and `removes` to table `name` in one Delta commit
    /// (creating the table when missing); the version committed, or
    /// `None` when there was nothing to do. With `app`, the commit carries
    /// that application transaction, and is skipped when the table
    /// already has it (the same input committed before a crash).
    #[allow(clippy::too_many_arguments)]
    pub fn commit(
        &self,
        name: &str,
        schema: SchemaRef,
        partitioned: bool,
        adds: &[Part],
        removes: &[String],
        app: Option<&str>,
        data_change: bool,
    ) -> Result<Option<u64>, Error> {
        if adds.is_empty() && removes.is_empty() {
            return Ok(None);
        }
        let slot = self.slot(name);
        block(async {
            let mut guard = slot.lock().await;
            let t = self
                .refresh_or_create(name, &mut guard, &schema, partitioned)
                .await?;
            let mut res = commit_to(t, &schema, adds, removes, app, data_change, partitioned).await;
            // delta-rs retries a commit that lost the race for a version
            // when the winner does not conflict with it. What it gives up
            // on here: a second writer's creation of the same table (its
            // metadata committed again as the next version), or the same
            // input committed by another writer (one application
            // transaction twice). Look at the table as it is now and try
            // again: commit_to skips an input already committed.
            for _ in 0..3 {
                if res.is_ok() || t.update_incremental(None).await.is_err() {
                    break;
                }
                res = commit_to(t, &schema, adds, removes, app, data_change, partitioned).await;
            }
            res
        })
    }

    /// Make table `name` (when missing) and commit `parts` to it, if any.
    pub fn create_or_commit(
        &self,
        name: &str,
        schema: SchemaRef,
        parts: &[Part],
    ) -> Result<(), Error> {
        let slot = self.slot(name);
        block(async {
            let mut guard = slot.lock().await;
            let t = self
                .refresh_or_create(name, &mut guard, &schema, true)
                .await?;
            if !parts.is_empty() {
                commit_to(t, &schema, parts, &[], None, true, true).await?;
            }
            Ok(())
        })
    }

    /// Commit the rows of transactions to `inputs` (one file, one
    /// commit): one row per input, or one without an input for a
    /// transaction that read none.
    pub fn commit_inputs(
        &self,
        props: &WriterProperties,
        entries: &[LedgerEntry],
        app: Option<&str>,
    ) -> Result<(), Error> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let batch = inputs_batch(entries)?;
        let rel = format!("part-{}.parquet", first.tx);
        let size = self.write_parquet(
            &format!("{INPUTS}/{rel}"),
            std::slice::from_ref(&batch),
            props,
        )?;
        let part = Part {
            path: rel,
            date: None,
            size,
            rows: batch.num_rows() as u64,
        };
        self.commit(INPUTS, inputs_schema(), false, &[part], &[], app, true)?;
        Ok(())
    }

    /// Content hashes of every input recorded.
    pub fn ingested(&self) -> Result<BTreeSet<String>, Error> {
        let mut out = BTreeSet::new();
        for f in self.files(INPUTS)? {
            for b in self.read_parquet(&format!("{INPUTS}/{}", f.path))? {
                for r in from_batch::<InputsRecord<'static>>(&b)? {
                    if let Some(h) = r.hash {
                        out.insert(h.into_owned());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every transaction recorded in `inputs` as of its version `v`.
    pub fn inputs_at(&self, v: u64) -> Result<Vec<LedgerEntry>, Error> {
        let url = self.loc.table_url(INPUTS)?;
        let files = block(async {
            let Some(mut t) = load(&url).await? else {
                return Err(Error::io(format!("{url}: no inputs table")));
            };
            t.load_version(v)
                .await
                .map_err(|e| dl(format!("{url}: store version {v}: {e}")))?;
            files_of(&t)
        })?;
        let mut rows = Vec::new();
        for f in files {
            for b in self.read_parquet(&format!("{INPUTS}/{}", f.path))? {
                rows.extend(read_inputs(&b)?);
            }
        }
        Ok(group_entries(rows))
    }

    /// Transactions committed after the first `from` (their `inputs`
    /// commits are versions `from + 1 ..`), and the latest version.
    pub fn inputs_from(&self, from: u64) -> Result<(Vec<LedgerEntry>, u64), Error> {
        let Some(latest) = self.log_version(INPUTS)? else {
            return Ok((Vec::new(), 0));
        };
        if from >= latest {
            return Ok((Vec::new(), latest));
        }
        // Files added since `from`, from the commits themselves; the whole
        // table when a commit file is gone (expired log) or from is 0.
        let mut paths: Option<Vec<String>> = (from > 0).then(Vec::new);
        if let Some(list) = paths.as_mut() {
            for v in from + 1..=latest {
                let Some(text) = self.read_bytes(&format!("{INPUTS}/_delta_log/{v:020}.json"))?
                else {
                    paths = None;
                    break;
                };
                for line in text.split(|&b| b == b'\n') {
                    let Ok(j) = serde_json::from_slice::<serde_json::Value>(line) else {
                        continue;
                    };
                    if let Some(add) = j.get("add") {
                        if add.get("dataChange").and_then(|d| d.as_bool()) == Some(true) {
                            if let Some(p) = add.get("path").and_then(|p| p.as_str()) {
                                list.push(p.to_string());
                            }
                        }
                    }
                }
            }
        }
        let paths = match paths {
            Some(p) => p,
            None => self.files(INPUTS)?.into_iter().map(|f| f.path).collect(),
        };
        let mut rows = Vec::new();
        for p in paths {
            for b in self.read_parquet(&format!("{INPUTS}/{}", p.replace("%20", " ")))? {
                rows.extend(read_inputs(&b)?);
            }
        }
        Ok((group_entries(rows), latest))
    }
}

fn files_of(t: &DeltaTable) -> Result<Vec<FileInfo>, Error> {
    let snap = t.snapshot().map_err(dl)?;
    Ok(snap
        .log_data()
        .into_iter()
        .map(|f| FileInfo {
            path: f.path().to_string(),
            date: f.partition_values_map().get(DATE).cloned().flatten(),
            size: f.size().max(0) as u64,
        })
        .collect())
}

/// The table's metadata with the columns of `schema` it lacks added
/// (nullable, after its own): `None` when it has them all. This is how a
/// table takes a column added by a later botscope (schema evolution):
/// the commit that first writes the column carries the new schema, files
/// written before read the column as null.
fn evolved(t: &DeltaTable, schema: &Schema, partitioned: bool) -> Result<Option<Metadata>, Error> {
    let snap = t.snapshot().map_err(dl)?;
    let current = snap.schema();
    let mut fields: Vec<StructField> = current.fields().cloned().collect();
    let before = fields.len();
    for f in delta_columns(schema, partitioned)? {
        if current.field(f.name()).is_none() {
            fields.push(StructField::new(
                f.name().clone(),
                f.data_type().clone(),
                true,
            ));
        }
    }
    if fields.len() == before {
        return Ok(None);
    }
    let st = StructType::try_new(fields).map_err(dl)?;
    snap.metadata()
        .clone()
        .with_schema(&st)
        .map(Some)
        .map_err(dl)
}

#[allow(clippy::too_many_arguments)]
async fn commit_to(
    t: &DeltaTable,
    schema: &Schema,
    adds: &[Part],
    removes: &[String],
    app: Option<&str>,
    data_change: bool,
    partitioned: bool,
) -> Result<Option<u64>, Error> {
    let snap = t.snapshot().map_err(dl)?;
    if let Some(app) = app {
        let done = snap
            .transaction_version(t.log_store().as_ref(), app)
            .await
            .map_err(dl)?;
        if done.is_some() {
            return Ok(None);
        }
    }
    let now = now_ms();
    let mut actions = Vec::with_capacity(adds.len() + removes.len() + 1);
    if !adds.is_empty() {
        if let Some(m) = evolved(t, schema, partitioned)? {
            actions.push(Action::Metadata(m));
        }
    }
    for p in adds {
        let mut pv = HashMap::new();
        if let Some(d) = &p.date {
            pv.insert(DATE.to_string(), Some(d.clone()));
        }
        actions.push(Action::Add(Add {
            path: p.path.clone(),
            partition_values: pv,
            size: p.size as i64,
            modification_time: now,
            data_change,
            stats: Some(format!("{{\"numRecords\":{}}}", p.rows)),
            ..Default::default()
        }));
    }
    if !removes.is_empty() {
        let current: HashMap<String, FileInfo> = files_of(t)?
            .into_iter()
            .map(|f| (f.path.clone(), f))
            .collect();
        for r in removes {
            let Some(f) = current.get(r) else {
                continue;
            };
            let mut pv = HashMap::new();
            if let Some(d) = &f.date {
                pv.insert(DATE.to_string(), Some(d.clone()));
            }
            actions.push(Action::Remove(Remove {
                path: f.path.clone(),
                data_change,
                deletion_timestamp: Some(now),
                extended_file_metadata: Some(true),
                partition_values: Some(pv),
                size: Some(f.size as i64),
                ..Default::default()
            }));
        }
    }
    if actions.is_empty() {
        return Ok(None);
    }
    let op = if !data_change {
        DeltaOperation::Optimize {
            predicate: None,
            target_size: 0,
        }
    } else {
        DeltaOperation::Write {
            mode: if removes.is_empty() {
                SaveMode::Append
            } else {
                SaveMode::Overwrite
            },
            partition_by: partitioned.then(|| vec![DATE.to_string()]),
            predicate: None,
        }
    };
    let mut props = CommitProperties::default().with_max_retries(200);
    if let Some(app) = app {
        props = props.with_application_transaction(Transaction::new(app, 1));
    }
    let done = CommitBuilder::from(props)
        .with_actions(actions)
        .build(Some(snap), t.log_store(), op)
        .await
        .map_err(|e| dl(format!("{}: commit: {e}", t.table_url())))?;
    Ok(Some(done.version()))
}

/// One row of the `inputs` table (this struct is the table): one input
/// of a transaction, or the transaction alone when it read none.
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub(crate) struct InputsRecord<'a> {
    tx: Cow<'a, str>,
    op: Option<Cow<'a, str>>,
    time: Option<i64>,
    hash: Option<Cow<'a, str>>,
    path: Option<Cow<'a, str>>,
    bytes: Option<i64>,
    kind: Option<Cow<'a, str>>,
    /// Rows added per table, JSON.
    rows: Option<Cow<'a, str>>,
    /// The Delta version of each table the transaction committed, JSON.
    versions: Option<Cow<'a, str>>,
}
row!(InputsRecord<'static>, "inputs", ["time"]);

/// The Arrow schema of the `inputs` table.
pub fn inputs_schema() -> SchemaRef {
    Arc::new(Schema::new(
        <InputsRecord<'static> as Row>::fields().unwrap_or_default(),
    ))
}

fn inputs_batch(entries: &[LedgerEntry]) -> Result<RecordBatch, Error> {
    let mut rows: Vec<InputsRecord<'_>> = Vec::new();
    for e in entries {
        let time = chrono::DateTime::parse_from_rfc3339(&e.time)
            .map(|t| t.timestamp_micros())
            .ok();
        let counts = serde_json::to_string(&e.rows).unwrap_or_default();
        let versions = serde_json::to_string(&e.versions).unwrap_or_default();
        let inputs: Vec<Option<&InputRecord>> = if e.inputs.is_empty() {
            vec![None]
        } else {
            e.inputs.iter().map(Some).collect()
        };
        for i in inputs {
            rows.push(InputsRecord {
                tx: Cow::Borrowed(&e.tx),
                op: Some(Cow::Borrowed(e.op.as_str())),
                time,
                hash: i.map(|x| Cow::Borrowed(x.hash.as_str())),
                path: i.map(|x| Cow::Borrowed(x.path.as_str())),
                bytes: i.map(|x| i64::try_from(x.bytes).unwrap_or(i64::MAX)),
                kind: i.map(|x| Cow::Borrowed(x.kind.as_str())),
                rows: Some(Cow::Owned(counts.clone())),
                versions: Some(Cow::Owned(versions.clone())),
            });
        }
    }
    to_batch::<InputsRecord<'static>, _>(&rows)
}

/// One row of `inputs`, read back.
struct InputRow {
    tx: String,
    op: Op,
    time: Option<i64>,
    input: Option<InputRecord>,
    rows: String,
    versions: String,
}

fn read_inputs(b: &RecordBatch) -> Result<Vec<InputRow>, Error> {
    Ok(from_batch::<InputsRecord<'static>>(b)?
        .into_iter()
        .map(|r| InputRow {
            tx: r.tx.into_owned(),
            op: Op::parse(r.op.as_deref().unwrap_or_default()),
            time: r.time,
            input: r.hash.map(|h| InputRecord {
                hash: h.into_owned(),
                path: r.path.map(Cow::into_owned).unwrap_or_default(),
                bytes: r.bytes.unwrap_or(0).max(0) as u64,
                kind: InputKind::parse(r.kind.as_deref().unwrap_or_default()),
            }),
            rows: r.rows.map(Cow::into_owned).unwrap_or_default(),
            versions: r.versions.map(Cow::into_owned).unwrap_or_default(),
        })
        .collect())
}

/// Rows of `inputs` as transactions, in commit-time order.
fn group_entries(rows: Vec<InputRow>) -> Vec<LedgerEntry> {
    let mut order: Vec<(Option<i64>, String)> = Vec::new();
    let mut by_tx: BTreeMap<String, LedgerEntry> = BTreeMap::new();
    for r in rows {
        let e = by_tx.entry(r.tx.clone()).or_insert_with(|| {
            order.push((r.time, r.tx.clone()));
            LedgerEntry {
                tx: r.tx.clone(),
                op: r.op,
                time: r
                    .time
                    .and_then(chrono::DateTime::from_timestamp_micros)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
                inputs: Vec::new(),
                rows: serde_json::from_str(&r.rows).unwrap_or_default(),
                versions: serde_json::from_str(&r.versions).unwrap_or_default(),
            }
        });
        if let Some(i) = r.input {
            e.inputs.push(i);
        }
    }
    order.sort();
    order
        .into_iter()
        .filter_map(|(_, tx)| by_tx.remove(&tx))
        .collect()
}
