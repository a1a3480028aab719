//! The dataset commands: `ingest`, `sql`, `timeline`, `compact`, `rehunt`.
//! Flags and printing only; the work is in `botscope-store`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use botscope_store::ingest::Status;
use botscope_store::{By, Every, IngestConfig, Store};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::{EXIT_INPUT_ERRORS, EXIT_OK};

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// The dataset (created if missing): a folder, or object storage
    /// (`s3://`, `az://`, `gs://` bucket/prefix).
    #[arg(long)]
    pub store: PathBuf,
    /// Family attribution model for mail inputs (used by the mail
    /// analyser; checked to exist).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: number of cores).
    #[arg(long, short = 'j')]
    pub threads: Option<usize>,
    /// No summary on stderr (errors are still printed).
    #[arg(long, short)]
    pub quiet: bool,
    /// The captures were taken at a spam trap: the messages carved from
    /// their SMTP sessions become `mail` rows (attributed with the
    /// session's dialect). Without it, capture mail stays out of the
    /// `mail` table: a sandbox's spam is not trap mail.
    #[arg(long)]
    pub capture_mail: bool,
    /// Captures, Zeek logs, binetflow files, mail, or folders of them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SqlFormat {
    Table,
    Csv,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct SqlArgs {
    /// The dataset: a folder, or object storage (`s3://`, `az://`, `gs://`
    /// bucket/prefix).
    #[arg(long)]
    pub store: PathBuf,
    /// Output format: an aligned table, CSV with a header, or a JSON array
    /// of objects.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    /// Time travel: query the store as it was after its first N
    /// transactions (store version N; `inputs` records each) or at a time
    /// (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_name = "VERSION|TIME")]
    pub as_of: Option<String>,
    /// The query (DataFusion SQL).
    pub query: String,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ByArg {
    Family,
    Category,
    Brand,
    Campaign,
    Activity,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum EveryArg {
    Hour,
    Day,
    Week,
}

#[derive(clap::Args, Debug)]
pub struct TimelineArgs {
    /// The dataset: a folder, or object storage (`s3://`, `az://`, `gs://`
    /// bucket/prefix).
    #[arg(long)]
    pub store: PathBuf,
    /// What to count by: mail family, category, brand or campaign (messages),
    /// or activity class (connections).
    #[arg(long, value_enum)]
    pub by: ByArg,
    /// Bucket width (weeks start on Monday, UTC).
    #[arg(long, value_enum, default_value_t = EveryArg::Day)]
    pub every: EveryArg,
    /// Print each key's share of its bucket (0..1) instead of counts.
    #[arg(long)]
    pub share: bool,
    /// Print JSON rows `{bucket, key, count, share}` (every key in every
    /// bucket, zeros included).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct CompactArgs {
    /// The dataset: a folder, or object storage (`s3://`, `az://`, `gs://`
    /// bucket/prefix).
    #[arg(long)]
    pub store: PathBuf,
    /// VACUUM: delete data files that left the tables more than this many
    /// hours ago (and files no commit ever named, as old), as Delta's
    /// VACUUM does; time travel to before then stops working. 0 deletes
    /// every such file now.
    #[arg(long, default_value_t = 168, value_name = "HOURS")]
    pub retain_hours: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RehuntArgs {
    /// The dataset: a folder, or object storage (`s3://`, `az://`, `gs://`
    /// bucket/prefix).
    #[arg(long)]
    pub store: PathBuf,
    /// Activity rules (TOML: any threshold of the activity analysis, e.g.
    /// `click_min_forged = 2`); default: the built-in thresholds.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Family attribution model (from `botscope learn`): re-attribute the
    /// stored mail from the fingerprints kept in the `mail` table.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Report what would change without updating the tables.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the changes as JSON.
    #[arg(long)]
    pub json: bool,
}

fn status_name(s: &Status) -> String {
    match s {
        Status::Added(_) => "added".into(),
        Status::AlreadyIngested => "already ingested".into(),
        Status::Duplicate(first) => format!("same content as {first}"),
        Status::MailNeedsAnalyser => "mail input: needs the mail analyser".into(),
        Status::NotRecognised => "not recognised".into(),
        Status::Failed(e) => format!("failed: {e}"),
    }
}

pub fn ingest(args: &IngestArgs, tty: bool) -> Result<u8> {
    let model = match &args.model {
        Some(p) => Some(
            botscope_mail::Model::load(p)
                .with_context(|| format!("reading model {}", p.display()))?,
        ),
        None => None,
    };
    let store = Store::open(&args.store)
        .with_context(|| format!("cannot open store {}", args.store.display()))?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 256);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("thread pool")?;
    let (files, _) = botscope_wire::collect_inputs(&args.inputs);
    let pb = if tty && !args.quiet {
        let pb = ProgressBar::new(files.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} files {wide_bar} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let cfg = IngestConfig {
        mail: Some(std::sync::Arc::new(botscope_mail::MailAnalyzer::new(
            botscope_mail::MailConfig::default(),
            model,
        ))),
        capture_mail: args.capture_mail,
        ..IngestConfig::default()
    };
    let report = pool.install(|| {
        botscope_store::ingest(&store, &args.inputs, &cfg, &|o| {
            pb.set_message(o.path.clone());
            pb.inc(1);
        })
    });
    pb.finish_and_clear();
    let counts = report.counts();
    if args.json {
        let v = json!({
            "store": args.store.display().to_string(),
            "inputs": counts,
            "rows": report.rows,
            "files": report.files.iter().map(|f| json!({
                "path": f.path,
                "kind": f.kind.as_str(),
                "status": status_name(&f.status),
                "rows": match &f.status { Status::Added(r) => json!(r), _ => json!({}) },
                "errors": f.errors,
            })).collect::<Vec<_>>(),
            "errors": report.errors,
        });
        println!("{v}");
    } else if !args.quiet {
        let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
        for f in &report.files {
            let k = match &f.status {
                Status::Duplicate(_) => "same content as another input".to_string(),
                Status::Failed(_) => "failed".to_string(),
                s => status_name(s),
            };
            *by_status.entry(k).or_insert(0) += 1;
        }
        eprintln!("ingest into {}:", args.store.display());
        for (k, n) in &by_status {
            eprintln!("  {n:>6} input(s): {k}");
        }
        for (t, n) in &report.rows {
            eprintln!("  {n:>10} {t} rows added");
        }
    }
    for e in &report.errors {
        eprintln!("  error: {e}");
    }
    for f in &report.files {
        if let Status::Failed(e) = &f.status {
            eprintln!("  error: {}: {e}", f.path);
        }
        for e in f.errors.iter().take(5) {
            eprintln!("  error: {e}");
        }
    }
    Ok(if report.has_errors() {
        EXIT_INPUT_ERRORS
    } else {
        EXIT_OK
    })
}

pub fn sql(args: &SqlArgs) -> Result<u8> {
    use botscope_store::datafusion::arrow;
    Store::open_read(&args.store)?;
    let as_of = match &args.as_of {
        None => None,
        Some(a) => Some(botscope_store::query::AsOf::parse(a).with_context(|| {
            format!(
                "--as-of {a:?}: not a store version (digits) nor a time (RFC 3339 or YYYY-MM-DD)"
            )
        })?),
    };
    let batches = botscope_store::query::sql_as_of(&args.store, &args.query, as_of)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        SqlFormat::Table => {
            let s = arrow::util::pretty::pretty_format_batches(&batches)?;
            writeln!(out, "{}", crate::term_safe(&s.to_string()))?;
        }
        SqlFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in &batches {
                w.write(b)?;
            }
        }
        SqlFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            let refs: Vec<&_> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            drop(w);
            writeln!(out)?;
        }
    }
    Ok(EXIT_OK)
}

pub fn timeline(args: &TimelineArgs) -> Result<u8> {
    let by = match args.by {
        ByArg::Family => By::Family,
        ByArg::Category => By::Category,
        ByArg::Brand => By::Brand,
        ByArg::Campaign => By::Campaign,
        ByArg::Activity => By::Activity,
    };
    let every = match args.every {
        EveryArg::Hour => Every::Hour,
        EveryArg::Day => Every::Day,
        EveryArg::Week => Every::Week,
    };
    Store::open_read(&args.store)?;
    let rows = botscope_store::timeline(&args.store, by, every)?;
    if args.json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "bucket": every.label(r.bucket),
                    "key": r.key,
                    "count": r.count,
                    "share": r.share,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(EXIT_OK);
    }
    // A pivot: one line per bucket, one column per key.
    let keys: BTreeSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    let keys: Vec<&str> = keys.into_iter().collect();
    let mut cells: BTreeMap<i64, BTreeMap<&str, &botscope_store::TimelineRow>> = BTreeMap::new();
    for r in &rows {
        cells.entry(r.bucket).or_default().insert(r.key.as_str(), r);
    }
    let w0 = if every == Every::Hour { 17 } else { 10 };
    let widths: Vec<usize> = keys.iter().map(|k| k.chars().count().max(8)).collect();
    let mut line = format!("{:<w0$}", every.as_str());
    for (k, w) in keys.iter().zip(&widths) {
        line.push_str(&format!("  {k:>w$}"));
    }
    println!("{}", crate::term_safe(line.trim_end()));
    for (b, row) in &cells {
        let mut line = format!("{:<w0$}", every.label(*b));
        for (k, w) in keys.iter().zip(&widths) {
            let cell = match row.get(k) {
                Some(r) if args.share => format!("{:.3}", r.share),
                Some(r) => r.count.to_string(),
                None => "0".to_string(),
            };
            line.push_str(&format!("  {cell:>w$}"));
        }
        println!("{line}");
    }
    Ok(EXIT_OK)
}

pub fn compact(args: &CompactArgs) -> Result<u8> {
    let store = Store::open(&args.store)
        .with_context(|| format!("cannot open store {}", args.store.display()))?;
    let rep = botscope_store::compact(&store)?;
    let vac = botscope_store::maintain::vacuum(&store, args.retain_hours)?;
    if args.json {
        println!(
            "{}",
            json!({
                "partitions": rep.partitions,
                "files_before": rep.files_before,
                "files_after": rep.files_after,
                "rows": rep.rows,
                "vacuumed_files": vac,
                "skipped": rep.skipped,
            })
        );
    } else {
        for s in &rep.skipped {
            eprintln!("warning: {s}");
        }
        eprintln!(
            "compacted {} partition(s): {} files → {} ({} rows); vacuum deleted {} file(s) older than {} h",
            rep.partitions.len(),
            rep.files_before,
            rep.files_after,
            rep.rows,
            vac,
            args.retain_hours
        );
    }
    Ok(EXIT_OK)
}

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// The dataset folder written before the store was Delta Lake tables
    /// (it has `_ledger.jsonl`).
    #[arg(long)]
    pub store: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn migrate(args: &MigrateArgs) -> Result<u8> {
    let rep = botscope_store::migrate(&args.store)
        .with_context(|| format!("cannot migrate {}", args.store.display()))?;
    if args.json {
        println!(
            "{}",
            json!({
                "transactions": rep.transactions,
                "inputs": rep.inputs,
                "files": rep.files,
                "rows": rep.rows,
                "rolled_forward": rep.rolled_forward,
                "rolled_back": rep.rolled_back,
            })
        );
    } else {
        eprintln!(
            "migrated {}: {} transaction(s), {} input(s), {} file(s), {} row(s) now in Delta tables",
            args.store.display(),
            rep.transactions,
            rep.inputs,
            rep.files.values().sum::<usize>(),
            rep.rows.values().sum::<u64>()
        );
    }
    Ok(EXIT_OK)
}

pub fn rehunt(args: &RehuntArgs) -> Result<u8> {
    let store = Store::open(&args.store)
        .with_context(|| format!("cannot open store {}", args.store.display()))?;
    let cfg = match &args.rules {
        Some(p) => botscope_store::maintain::load_rules(p)?,
        None => botscope_activity::ActivityConfig::default(),
    };
    let model = match &args.model {
        Some(p) => Some(
            botscope_mail::Model::load(p)
                .with_context(|| format!("reading model {}", p.display()))?,
        ),
        None => None,
    };
    let rep = botscope_store::rehunt(&store, &cfg, args.dry_run)?;
    let mail = match &model {
        Some(m) => Some(botscope_store::rehunt_mail(&store, m, args.dry_run)?),
        None => None,
    };
    let mail_json = mail.as_ref().map(|m| {
        json!({
            "messages": m.messages,
            "changed": m.changed,
            "without_fingerprint": m.without_fingerprint,
            "partitions_rewritten": m.partitions,
            "moves": m.moves.iter().map(|((from, to), n)| json!({"from": from, "to": to, "messages": n})).collect::<Vec<_>>(),
        })
    });
    let row = |r: &botscope_store::ActivityRow| {
        json!({
            "source": r.source,
            "host": r.host.to_string(),
            "class": r.class,
            "connections": r.connections,
            "share": r.share,
            "evidence": r.evidence,
        })
    };
    if args.json {
        println!(
            "{}",
            json!({
                "new": rep.new.iter().map(row).collect::<Vec<_>>(),
                "removed": rep.removed.iter().map(row).collect::<Vec<_>>(),
                "unchanged": rep.unchanged,
                "inputs": rep.units,
                "updated": !args.dry_run,
                "mail": mail_json,
            })
        );
    } else {
        println!(
            "re-analysed {} input(s): {} new verdict(s), {} removed, {} unchanged{}",
            rep.units,
            rep.new.len(),
            rep.removed.len(),
            rep.unchanged,
            if args.dry_run {
                " (dry run: activity table not updated)"
            } else {
                ""
            }
        );
        for r in &rep.new {
            println!(
                "  + {} {} {} ({} connections, {:.1}%) e.g. {}",
                r.source,
                r.host,
                r.class,
                r.connections,
                100.0 * r.share,
                r.evidence.first().map(String::as_str).unwrap_or("-")
            );
        }
        for r in &rep.removed {
            println!(
                "  - {} {} {} ({} connections)",
                r.source, r.host, r.class, r.connections
            );
        }
        if let Some(m) = &mail {
            println!(
                "re-attributed {} stored message(s): {} changed family, {} without a stored fingerprint{}",
                m.messages,
                m.changed,
                m.without_fingerprint,
                if args.dry_run {
                    " (dry run: mail table not updated)"
                } else {
                    ""
                }
            );
            let mut moves: Vec<_> = m.moves.iter().collect();
            moves.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for ((from, to), n) in moves {
                println!("  {from} -> {to}: {n} message(s)");
            }
        }
    }
    Ok(EXIT_OK)
}
