//! `botscope logs`: captures → Zeek-compatible logs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};
use botscope_engine::{analyze_file, EngineConfig, FileSummary};
use botscope_event::{Event, EventSink};
use botscope_report::{LogFormat, LogWriterSet};
use crossbeam_channel::Sender;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde_json::json;

use crate::{Format, LogsArgs, EXIT_INPUT_ERRORS, EXIT_OK};

/// Batches events from a worker to the single writer thread.
struct ChannelSink {
    tx: Sender<Vec<Event>>,
    buf: Vec<Event>,
}

const BATCH: usize = 2048;

impl EventSink for ChannelSink {
    fn emit(&mut self, ev: Event) {
        self.buf.push(ev);
        if self.buf.len() >= BATCH {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(BATCH));
            // The writer only goes away on a fatal error; dropping the
            // batch then is fine, the run is failing anyway.
            let _ = self.tx.send(full);
        }
    }
}

impl ChannelSink {
    fn flush(mut self) {
        if !self.buf.is_empty() {
            let _ = self.tx.send(std::mem::take(&mut self.buf));
        }
    }
}

pub fn run(args: &LogsArgs, tty: bool) -> Result<u8> {
    let started = Instant::now();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut input_errors: Vec<String> = Vec::new();
    let mut walk: Vec<PathBuf> = Vec::new();
    for p in &args.inputs {
        if p.as_os_str() == "-" {
            files.push(p.clone());
        } else {
            walk.push(p.clone());
        }
    }
    let (found, errs) = botscope_wire::collect_inputs(&walk);
    files.extend(found);
    input_errors.extend(errs.iter().map(|e| e.to_string()));

    let format = match args.format {
        Format::Zeek => LogFormat::Zeek,
        Format::Json => LogFormat::Json,
    };
    let mut writer = LogWriterSet::create(&args.out, format, SystemTime::now())
        .with_context(|| format!("cannot create output folder {}", args.out.display()))?;

    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start worker threads")?;

    let progress = if tty && !args.quiet {
        let pb = ProgressBar::new(files.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} files {wide_bar} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    } else {
        ProgressBar::hidden()
    };

    let cfg = EngineConfig::default();
    let summaries: Mutex<Vec<FileSummary>> = Mutex::new(Vec::new());
    let (tx, rx) = crossbeam_channel::bounded::<Vec<Event>>(64);
    let mut write_error: Option<anyhow::Error> = None;
    std::thread::scope(|s| {
        let files = &files;
        let cfg = &cfg;
        let summaries = &summaries;
        let progress = &progress;
        s.spawn(move || {
            pool.install(|| {
                files.par_iter().for_each(|f| {
                    let sink = ChannelSink {
                        tx: tx.clone(),
                        buf: Vec::with_capacity(BATCH),
                    };
                    let (sink, summary) = analyze_file(f, cfg, sink);
                    sink.flush();
                    if let Ok(mut v) = summaries.lock() {
                        v.push(summary);
                    }
                    progress.inc(1);
                });
            });
            drop(tx);
        });
        for batch in rx {
            if write_error.is_some() {
                continue;
            }
            for ev in &batch {
                if let Err(e) = writer.write(ev) {
                    write_error = Some(anyhow::Error::new(e).context("cannot write logs"));
                    break;
                }
            }
        }
    });
    progress.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e);
    }
    let logs = writer.finish().context("cannot finish logs")?;

    let mut summaries = summaries.into_inner().unwrap_or_default();
    summaries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut skipped: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut packets, mut bytes, mut conns) = (0u64, 0u64, 0u64);
    for s in &summaries {
        packets += s.packets;
        bytes += s.bytes;
        conns += s.flow.connections;
        for (k, v) in &s.skipped {
            *skipped.entry(k).or_insert(0) += v;
        }
        if let Some(e) = &s.error {
            input_errors.push(e.clone());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let v = json!({
            "files": summaries.len(),
            "packets": packets,
            "bytes": bytes,
            "connections": conns,
            "rows": logs.rows,
            "mail_files": logs.mail_files,
            "skipped_packets": skipped,
            "errors": input_errors,
            "seconds": secs,
        });
        println!("{v}");
    }
    if !args.quiet {
        eprintln!(
            "botscope logs: {} files, {} packets, {} bytes, {} connections in {:.2}s ({:.1} MB/s)",
            summaries.len(),
            packets,
            bytes,
            conns,
            secs,
            bytes as f64 / 1e6 / secs.max(1e-9)
        );
        let rows: Vec<String> = logs
            .rows
            .iter()
            .map(|(k, v)| format!("{k}.log {v}"))
            .collect();
        eprintln!(
            "  rows: {}",
            if rows.is_empty() {
                "none".to_string()
            } else {
                rows.join(", ")
            }
        );
        if logs.mail_files > 0 {
            eprintln!(
                "  carved messages: {} (in {}/mail/)",
                logs.mail_files,
                args.out.display()
            );
        }
        if !skipped.is_empty() {
            let s: Vec<String> = skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
            eprintln!("  skipped packets: {}", s.join(", "));
        }
        for e in &input_errors {
            eprintln!("  error: {e}");
        }
    }
    Ok(if input_errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_INPUT_ERRORS
    })
}
