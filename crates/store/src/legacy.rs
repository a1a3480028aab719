//! Datasets written before the store became Delta Lake tables: Parquet
//! parts committed through a ledger of our own (`_ledger.jsonl`, a
//! `_staging/` folder, a `_lock`). [`migrate`] turns one into Delta
//! tables in place: the part files stay where they are (the layout was
//! already Delta's), each table's current files are committed as its
//! first version, and each ledger entry becomes rows of `inputs`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::Deserialize;

use crate::delta::Part;
use crate::store::{InputRecord, LedgerEntry, Op, INPUTS};
use crate::tables::Table;
use crate::{Error, Store};

/// The old ledger's file name.
pub const LEDGER: &str = "_ledger.jsonl";

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("{}: {e}", path.display()))
}

/// A store folder still in the old format cannot be opened: say how to
/// convert it.
pub fn refuse_ledger(dir: &Path) -> Result<(), Error> {
    if dir.join(LEDGER).is_file() && !dir.join(INPUTS).join("_delta_log").is_dir() {
        return Err(Error::io(format!(
            "{}: a dataset in the old ledger format; convert it with `botscope migrate --store {}`",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// One line of the old ledger.
#[derive(Deserialize)]
struct OldEntry {
    tx: String,
    op: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    inputs: Vec<InputRecord>,
    #[serde(default)]
    rows: BTreeMap<String, u64>,
    /// staged path -> final path
    #[serde(default)]
    add: Vec<(String, String)>,
    #[serde(default)]
    remove: Vec<String>,
}

/// What [`migrate`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Ledger entries carried over.
    pub transactions: usize,
    pub inputs: usize,
    /// Data files committed, per table.
    pub files: BTreeMap<String, usize>,
    pub rows: BTreeMap<String, u64>,
    /// Interrupted transactions finished (in the ledger) or dropped (not).
    pub rolled_forward: usize,
    pub rolled_back: usize,
}

/// Read the old ledger: whole, valid lines (a torn last line is what a
/// crash while appending leaves: dropped).
fn read_ledger(path: &Path) -> Result<Vec<OldEntry>, Error> {
    let f = fs::File::open(path).map_err(|e| io(path, e))?;
    let mut out = Vec::new();
    let mut lines = BufReader::new(f).split(b'\n').peekable();
    let mut n = 0;
    while let Some(line) = lines.next() {
        n += 1;
        let line = line.map_err(|e| io(path, e))?;
        match serde_json::from_slice::<OldEntry>(&line) {
            Ok(e) => out.push(e),
            Err(_) if lines.peek().is_none() => break,
            Err(e) => return Err(Error::ledger(format!("{}: line {n}: {e}", path.display()))),
        }
    }
    Ok(out)
}

/// Convert the old-format dataset at `dir` into Delta tables in place.
/// Idempotent: a folder already converted is left as it is (an error
/// says so); a run interrupted part-way can be run again.
pub fn migrate(dir: &Path) -> Result<MigrateReport, Error> {
    let ledger_path = dir.join(LEDGER);
    if !ledger_path.is_file() {
        return Err(Error::io(format!(
            "{}: no {LEDGER}: not a dataset of the old format (or already migrated)",
            dir.display()
        )));
    }
    let entries = read_ledger(&ledger_path)?;
    let mut rep = MigrateReport::default();
    // Finish what the old format would have finished on open: a staged
    // transaction in the ledger is moved into place, one not in it dropped.
    let staging = dir.join("_staging");
    if let Ok(rd) = fs::read_dir(&staging) {
        let by_tx: BTreeMap<&str, &OldEntry> = entries.iter().map(|e| (e.tx.as_str(), e)).collect();
        for ent in rd.flatten() {
            let tx = ent.file_name().to_string_lossy().to_string();
            match by_tx.get(tx.as_str()) {
                Some(e) => {
                    for (staged, fin) in &e.add {
                        let (from, to) = (dir.join(staged), dir.join(fin));
                        if from.exists() {
                            if let Some(p) = to.parent() {
                                fs::create_dir_all(p).map_err(|er| io(p, er))?;
                            }
                            fs::rename(&from, &to).map_err(|er| io(&from, er))?;
                        }
                    }
                    for r in &e.remove {
                        let _ = fs::remove_file(dir.join(r));
                    }
                    rep.rolled_forward += 1;
                }
                None => rep.rolled_back += 1,
            }
            let _ = fs::remove_dir_all(ent.path());
        }
    }
    let store = Store::new_unchecked(dir)?;
    for t in Table::ALL {
        let tdir = dir.join(t.name());
        if tdir.join("_delta_log").is_dir() {
            continue; // committed by an earlier run of this migration
        }
        let mut parts = Vec::new();
        if let Ok(rd) = fs::read_dir(&tdir) {
            for p in rd.flatten() {
                let name = p.file_name().to_string_lossy().to_string();
                let Some(date) = name.strip_prefix("date=") else {
                    continue;
                };
                for f in fs::read_dir(p.path())
                    .map_err(|e| io(&p.path(), e))?
                    .flatten()
                {
                    let fname = f.file_name().to_string_lossy().to_string();
                    if !(fname.starts_with("part-") && fname.ends_with(".parquet")) {
                        continue;
                    }
                    let path = f.path();
                    let file = fs::File::open(&path).map_err(|e| io(&path, e))?;
                    let size = file.metadata().map_err(|e| io(&path, e))?.len();
                    let rows = SerializedFileReader::new(file)
                        .map_err(|e| Error::parquet(format!("{}: {e}", path.display())))?
                        .metadata()
                        .file_metadata()
                        .num_rows();
                    parts.push(Part {
                        path: format!("date={date}/{fname}"),
                        date: Some(date.to_string()),
                        size,
                        rows: rows.max(0) as u64,
                    });
                }
            }
        }
        parts.sort_by(|a, b| a.path.cmp(&b.path));
        rep.files.insert(t.name().to_string(), parts.len());
        rep.rows
            .insert(t.name().to_string(), parts.iter().map(|p| p.rows).sum());
        // Even an empty table gets its log, so the next run skips it.
        store
            .lake()
            .create_or_commit(t.name(), t.schema(), &parts)?;
    }
    if !dir.join(INPUTS).join("_delta_log").is_dir() {
        let mut carried: Vec<LedgerEntry> = entries
            .iter()
            .map(|e| LedgerEntry {
                tx: e.tx.clone(),
                op: Op::parse(&e.op),
                time: e.time.clone(),
                inputs: e.inputs.clone(),
                rows: e.rows.clone(),
                versions: BTreeMap::new(),
            })
            .collect();
        rep.transactions = carried.len();
        rep.inputs = carried.iter().map(|e| e.inputs.len()).sum();
        let mut versions = BTreeMap::new();
        for t in Table::ALL {
            if let Some(v) = store.lake().log_version(t.name())? {
                versions.insert(t.name().to_string(), v);
            }
        }
        carried.push(LedgerEntry {
            tx: format!("migrate-{}", chrono::Utc::now().timestamp_millis()),
            op: Op::Migrate,
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            versions,
            ..Default::default()
        });
        // One file named by the migration (the last entry).
        carried.rotate_right(1);
        store.lake().commit_inputs(store.props(), &carried, None)?;
    }
    let done = dir.join(format!("{LEDGER}.migrated"));
    fs::rename(&ledger_path, &done).map_err(|e| io(&ledger_path, e))?;
    let _ = fs::remove_file(dir.join("_lock"));
    let _ = fs::remove_dir(&staging);
    Ok(rep)
}
