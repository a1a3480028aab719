//! The store's tables as Delta Lake tables, through delta-rs
//! (`deltalake`): loading, creating, committing parts, reading the
//! `inputs` table. Everything async runs on one runtime of the process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, DataType, Remove, StructField, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use url::Url;

use crate::cols::{ts_type, Cols, Get};
use crate::store::{read_parquet, InputRecord, LedgerEntry, INPUTS};
use crate::Error;

/// The partition column of every event table.
pub const DATE: &str = "date";

pub(crate) fn dl(e: impl std::fmt::Display) -> Error {
    Error::Delta(e.to_string())
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

/// The URL of the table `name` under `root`.
pub fn table_url(root: &Path, name: &str) -> Result<Url, Error> {
    Url::from_directory_path(root.join(name))
        .map_err(|()| Error::Io(format!("{}: not an absolute path", root.display())))
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

/// The tables of one store, loaded on first use and kept.
pub struct Lake {
    root: PathBuf,
    tables: Mutex<HashMap<String, DeltaTable>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Lake {
    pub fn new(root: &Path) -> Result<Lake, Error> {
        Ok(Lake {
            root: root.to_path_buf(),
            tables: Mutex::new(HashMap::new()),
        })
    }

    fn take(&self, name: &str) -> Option<DeltaTable> {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
    }

    fn keep(&self, name: &str, t: DeltaTable) {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), t);
    }

    /// The table `name` at its latest version; `None` when it does not
    /// exist yet.
    async fn latest(&self, name: &str) -> Result<Option<DeltaTable>, Error> {
        if let Some(mut t) = self.take(name) {
            t.update_incremental(None).await.map_err(dl)?;
            return Ok(Some(t));
        }
        load(&table_url(&self.root, name)?).await
    }

    /// The table `name`, created (empty, with `schema`) when missing. Two
    /// writers creating it at once: one creates, the other loads.
    async fn latest_or_create(
        &self,
        name: &str,
        schema: &Schema,
        partitioned: bool,
    ) -> Result<DeltaTable, Error> {
        if let Some(t) = self.latest(name).await? {
            return Ok(t);
        }
        let url = table_url(&self.root, name)?;
        std::fs::create_dir_all(self.root.join(name))
            .map_err(|e| Error::Io(format!("{}: {e}", self.root.join(name).display())))?;
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
        match b.await {
            Ok(t) => Ok(t),
            Err(e) => match load(&url).await? {
                // Another writer made it first.
                Some(t) => Ok(t),
                None => Err(dl(format!("{url}: cannot create the table: {e}"))),
            },
        }
    }

    /// The data files of table `name` now (empty when it does not exist).
    pub fn files(&self, name: &str) -> Result<Vec<FileInfo>, Error> {
        block(async {
            let Some(t) = self.latest(name).await? else {
                return Ok(Vec::new());
            };
            let out = files_of(&t);
            self.keep(name, t);
            out
        })
    }

    /// Commit `adds` and `removes` to table `name` in one Delta commit
    /// (creating the table when missing). With `app`, the commit carries
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
    ) -> Result<bool, Error> {
        if adds.is_empty() && removes.is_empty() {
            return Ok(false);
        }
        block(async {
            let mut t = self.latest_or_create(name, &schema, partitioned).await?;
            let mut res = commit_to(&t, adds, removes, app, data_change, partitioned).await;
            if let (Err(_), Some(app)) = (&res, app) {
                // Another writer committed the same input to this table
                // between our look and our commit (Delta refuses the
                // second commit of one application transaction): done.
                if t.update_incremental(None).await.is_ok() {
                    if let Ok(snap) = t.snapshot() {
                        if let Ok(Some(_)) =
                            snap.transaction_version(t.log_store().as_ref(), app).await
                        {
                            res = Ok(false);
                        }
                    }
                }
            }
            self.keep(name, t);
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
        block(async {
            let t = self.latest_or_create(name, &schema, true).await?;
            let res = if parts.is_empty() {
                Ok(false)
            } else {
                commit_to(&t, parts, &[], None, true, true).await
            };
            self.keep(name, t);
            res.map(|_| ())
        })
    }

    /// Commit the rows of transactions to `inputs` (one file, one
    /// commit): one row per input, or one without an input for a
    /// transaction that read none.
    pub fn commit_inputs(
        &self,
        root: &Path,
        props: &WriterProperties,
        entries: &[LedgerEntry],
        app: Option<&str>,
    ) -> Result<(), Error> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let batch = inputs_batch(entries)?;
        let rel = format!("part-{}.parquet", first.tx);
        let path = root.join(INPUTS).join(&rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|er| Error::Io(format!("{}: {er}", p.display())))?;
        }
        let perr =
            |er: parquet::errors::ParquetError| Error::Parquet(format!("{}: {er}", path.display()));
        let f = std::fs::File::create(&path)
            .map_err(|er| Error::Io(format!("{}: {er}", path.display())))?;
        let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props.clone())).map_err(perr)?;
        w.write(&batch).map_err(perr)?;
        let f = w.into_inner().map_err(perr)?;
        f.sync_all()
            .map_err(|er| Error::Io(format!("{}: {er}", path.display())))?;
        let size = f
            .metadata()
            .map_err(|er| Error::Io(format!("{}: {er}", path.display())))?
            .len();
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
            for b in read_parquet(&self.root.join(INPUTS).join(&f.path))? {
                for h in Get::new(&b, "inputs").str("hash")?.into_iter().flatten() {
                    out.insert(h);
                }
            }
        }
        Ok(out)
    }

    /// Transactions whose `inputs` commit is at version `from` or later,
    /// and the version after the latest (to read from next time).
    pub fn inputs_from(&self, from: u64) -> Result<(Vec<LedgerEntry>, u64), Error> {
        let dir = self.root.join(INPUTS);
        let Some(latest) = log_version(&dir) else {
            return Ok((Vec::new(), 0));
        };
        if from > latest {
            return Ok((Vec::new(), latest + 1));
        }
        // Files added since `from`, from the commits themselves; the whole
        // table when a commit file is gone (expired log) or from is 0.
        let mut paths: Option<Vec<String>> = (from > 0).then(Vec::new);
        if let Some(list) = paths.as_mut() {
            for v in from..=latest {
                let p = dir.join("_delta_log").join(format!("{v:020}.json"));
                let Ok(text) = std::fs::read_to_string(&p) else {
                    paths = None;
                    break;
                };
                for line in text.lines() {
                    let Ok(j) = serde_json::from_str::<serde_json::Value>(line) else {
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
            let path = dir.join(p.replace("%20", " "));
            for b in read_parquet(&path)? {
                rows.extend(read_inputs(&b)?);
            }
        }
        Ok((group_entries(rows), latest + 1))
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

async fn commit_to(
    t: &DeltaTable,
    adds: &[Part],
    removes: &[String],
    app: Option<&str>,
    data_change: bool,
    partitioned: bool,
) -> Result<bool, Error> {
    let snap = t.snapshot().map_err(dl)?;
    if let Some(app) = app {
        let done = snap
            .transaction_version(t.log_store().as_ref(), app)
            .await
            .map_err(dl)?;
        if done.is_some() {
            return Ok(false);
        }
    }
    let now = now_ms();
    let mut actions = Vec::with_capacity(adds.len() + removes.len());
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
        return Ok(false);
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
    CommitBuilder::from(props)
        .with_actions(actions)
        .build(Some(snap), t.log_store(), op)
        .await
        .map_err(|e| dl(format!("{}: commit: {e}", t.table_url())))?;
    Ok(true)
}

/// The Arrow schema of the `inputs` table.
pub fn inputs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("tx", ArrowType::Utf8, true),
        Field::new("op", ArrowType::Utf8, true),
        Field::new("time", ts_type(), true),
        Field::new("hash", ArrowType::Utf8, true),
        Field::new("path", ArrowType::Utf8, true),
        Field::new("bytes", ArrowType::Int64, true),
        Field::new("kind", ArrowType::Utf8, true),
        Field::new("rows", ArrowType::Utf8, true),
    ]))
}

fn inputs_batch(entries: &[LedgerEntry]) -> Result<arrow_array::RecordBatch, Error> {
    // (entry, input index) per row.
    let rows: Vec<(&LedgerEntry, Option<&InputRecord>, Option<i64>, String)> = entries
        .iter()
        .flat_map(|e| {
            let time = chrono::DateTime::parse_from_rfc3339(&e.time)
                .map(|t| t.timestamp_micros())
                .ok();
            let counts = serde_json::to_string(&e.rows).unwrap_or_default();
            let inputs: Vec<Option<&InputRecord>> = if e.inputs.is_empty() {
                vec![None]
            } else {
                e.inputs.iter().map(Some).collect()
            };
            inputs
                .into_iter()
                .map(move |i| (e, i, time, counts.clone()))
        })
        .collect();
    let mut c = Cols::new();
    c.str("tx", rows.iter().map(|r| Some(r.0.tx.as_str())));
    c.str("op", rows.iter().map(|r| Some(r.0.op.as_str())));
    c.ts("time", rows.iter().map(|r| r.2));
    c.str("hash", rows.iter().map(|r| r.1.map(|x| x.hash.as_str())));
    c.str("path", rows.iter().map(|r| r.1.map(|x| x.path.as_str())));
    c.i64("bytes", rows.iter().map(|r| r.1.map(|x| x.bytes as i64)));
    c.str("kind", rows.iter().map(|r| r.1.map(|x| x.kind.as_str())));
    c.str("rows", rows.iter().map(|r| Some(r.3.as_str())));
    c.finish()
}

/// One row of `inputs`.
struct InputRow {
    tx: String,
    op: String,
    time: Option<i64>,
    input: Option<InputRecord>,
    rows: String,
}

fn read_inputs(b: &arrow_array::RecordBatch) -> Result<Vec<InputRow>, Error> {
    let g = Get::new(b, "inputs");
    let (tx, op, time, hash, path, bytes, kind, rows) = (
        g.str("tx")?,
        g.str("op")?,
        g.ts("time")?,
        g.str("hash")?,
        g.str("path")?,
        g.i64("bytes")?,
        g.str("kind")?,
        g.str("rows")?,
    );
    Ok((0..g.rows())
        .map(|i| InputRow {
            tx: tx[i].clone().unwrap_or_default(),
            op: op[i].clone().unwrap_or_default(),
            time: time[i],
            input: hash[i].clone().map(|h| InputRecord {
                hash: h,
                path: path[i].clone().unwrap_or_default(),
                bytes: bytes[i].unwrap_or(0).max(0) as u64,
                kind: kind[i].clone().unwrap_or_default(),
            }),
            rows: rows[i].clone().unwrap_or_default(),
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
                op: r.op.clone(),
                time: r
                    .time
                    .and_then(chrono::DateTime::from_timestamp_micros)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
                inputs: Vec::new(),
                rows: serde_json::from_str(&r.rows).unwrap_or_default(),
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

/// Every table of `root` that has a Delta log, by name.
pub fn tables_in(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            if e.path().join("_delta_log").is_dir() {
                out.push(e.file_name().to_string_lossy().to_string());
            }
        }
    }
    out.sort();
    out
}
