//! `botscope logs`: captures → Zeek-compatible logs.
//!
//! Files are decoded in parallel (one worker per core, each taking the
//! next file in order) and their rows are written in input order, so the
//! same inputs always give the same logs. Rows of a file that is ahead of
//! the one being written are held back under a byte cap; past it, its
//! worker waits (the file being written never waits, so this cannot
//! deadlock) and no new file is started: memory stays bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use botscope_engine::{analyze_file, EngineConfig, FileSummary};
use botscope_event::{CarvedMessage, Event, EventSink};
use botscope_zeeklog::{LogFormat, LogWriterSet};
use crossbeam_channel::Sender;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::{Format, LogsArgs, EXIT_INPUT_ERRORS, EXIT_OK};

/// Bytes of rows held back (waiting for earlier files) before workers
/// pause. A row weighs [`ROW_WEIGHT`] plus its carved message, if any.
const MAX_HELD_BYTES: usize = 256 << 20;
const ROW_WEIGHT: usize = 256;
const BATCH: usize = 2048;
/// Bytes of rows (see [`weight`]) per batch.
const BATCH_BYTES: usize = 8 << 20;

enum Msg {
    /// File index, rows, their weight in bytes.
    Batch(usize, Vec<Event>, usize),
    Done(usize, FileSummary),
}

fn weight(ev: &Event) -> usize {
    match ev {
        Event::Message(m) => ROW_WEIGHT + m.data.len(),
        _ => ROW_WEIGHT,
    }
}

/// Carved messages go to their own writer thread: they need no ordering,
/// so they are never held back behind an earlier file, and the log writer
/// stays free for rows. Returns (messages written, first error).
fn mail_writer(
    dir: PathBuf,
    rx: crossbeam_channel::Receiver<CarvedMessage>,
) -> (u64, Option<String>) {
    let mut written = 0;
    for m in rx {
        match botscope_zeeklog::write_mail_file(&dir, &m) {
            Ok(_) => written += 1,
            Err(e) => return (written, Some(e.to_string())),
        }
    }
    (written, None)
}

/// Batches events from a worker to the single writer thread.
struct ChannelSink<'a> {
    /// Carved messages go to the mail writer thread.
    mail: &'a Sender<CarvedMessage>,
    file: usize,
    tx: Sender<Msg>,
    buf: Vec<Event>,
    weight: usize,
    held: &'a AtomicUsize,
    /// Index of the file being written.
    current: &'a AtomicUsize,
}

impl EventSink for ChannelSink<'_> {
    fn emit(&mut self, ev: Event) {
        if let Event::Message(m) = ev {
            // The mail thread only stops on a write error, reported at
            // the end of the run.
            let _ = self.mail.send(m);
            return;
        }
        self.weight += weight(&ev);
        self.buf.push(ev);
        if self.buf.len() >= BATCH || self.weight >= BATCH_BYTES {
            self.send();
        }
    }
}

impl ChannelSink<'_> {
    fn send(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        // Ahead of the file being written and over the cap: wait.
        loop {
            let cur = self.current.load(Ordering::Acquire);
            // usize::MAX: the writer failed and is gone; stop waiting.
            if cur == self.file
                || cur == usize::MAX
                || self.held.load(Ordering::Acquire) <= MAX_HELD_BYTES
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(BATCH));
        let w = std::mem::take(&mut self.weight);
        self.held.fetch_add(w, Ordering::AcqRel);
        // The writer only goes away on a fatal error; the run is failing
        // then and the batch does not matter.
        let _ = self.tx.send(Msg::Batch(self.file, full, w));
    }
}

/// Writes batches in file order, holding back later files' batches.
struct OrderedWriter<'a> {
    writer: &'a mut LogWriterSet,
    current: usize,
    held_batches: BTreeMap<usize, Vec<(Vec<Event>, usize)>>,
    done: BTreeMap<usize, FileSummary>,
    summaries: Vec<FileSummary>,
    held: &'a AtomicUsize,
    /// Shared with the workers: the file being written.
    current_shared: &'a AtomicUsize,
}

impl OrderedWriter<'_> {
    fn write_batch(&mut self, batch: &[Event], w: usize) -> Result<()> {
        for ev in batch {
            self.writer.write(ev).context("cannot write logs")?;
        }
        self.held.fetch_sub(w, Ordering::AcqRel);
        Ok(())
    }

    fn on(&mut self, msg: Msg) -> Result<()> {
        match msg {
            Msg::Batch(i, b, w) if i == self.current => self.write_batch(&b, w)?,
            Msg::Batch(i, b, w) => self.held_batches.entry(i).or_default().push((b, w)),
            Msg::Done(i, s) => {
                self.done.insert(i, s);
            }
        }
        // Advance over finished files, flushing what they held.
        while let Some(s) = self.done.remove(&self.current) {
            if let Some(bs) = self.held_batches.remove(&self.current) {
                for (b, w) in bs {
                    self.write_batch(&b, w)?;
                }
            }
            self.summaries.push(s);
            self.current += 1;
            self.current_shared.store(self.current, Ordering::Release);
            if let Some(bs) = self.held_batches.remove(&self.current) {
                for (b, w) in bs {
                    self.write_batch(&b, w)?;
                }
            }
        }
        Ok(())
    }
}

pub fn run(args: &LogsArgs, tty: bool) -> Result<u8> {
    let started = Instant::now();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut explicit: BTreeSet<PathBuf> = BTreeSet::new();
    let mut input_errors: Vec<String> = Vec::new();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    for p in &args.inputs {
        if p.as_os_str() == "-" {
            files.push(p.clone());
            explicit.insert(p.clone());
            continue;
        }
        if !p.is_dir() {
            explicit.insert(p.clone());
        }
        let (found, errs) = botscope_wire::collect_inputs(std::slice::from_ref(p));
        // The same file named twice (or also found in a folder) is read
        // once: reading it again would log every connection twice.
        for f in found {
            let key = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            if seen.insert(key) {
                files.push(f);
            }
        }
        input_errors.extend(errs.iter().map(|e| e.to_string()));
    }

    let format = match args.format {
        Format::Zeek => LogFormat::Zeek,
        Format::Json => LogFormat::Json,
    };
    let mut writer = LogWriterSet::create(&args.out, format, SystemTime::now())
        .with_context(|| format!("cannot create output folder {}", args.out.display()))?;

    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 256);

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

    // Fewer files than cores: split each file across flow-hash shards.
    let workers = threads.min(files.len().max(1));
    let (mail_tx, mail_rx) = crossbeam_channel::bounded::<CarvedMessage>(64);
    let mail_dir = args.out.join("mail");
    let mut mail_result = (0u64, None);
    let extract = match &args.extract_files {
        None => None,
        Some(dir) => Some(std::sync::Arc::new(
            botscope_proto::extract::Extractor::new(
                dir,
                botscope_proto::extract::Limits {
                    max_file_bytes: args.extract_limit,
                    max_files: args.extract_max_files,
                    max_total_bytes: args.extract_max_bytes,
                },
            )
            .with_context(|| format!("cannot create extraction folder {}", dir.display()))?,
        )),
    };
    // Compressed captures get a decompression thread, and large bodies
    // their SHA-256 on a helper thread, only when the workers leave a
    // core idle; otherwise the helpers would compete with them.
    let idle_core = threads < std::thread::available_parallelism().map_or(1, |n| n.get());
    let wire = botscope_wire::WireConfig {
        read_ahead: idle_core,
        ..Default::default()
    };
    let cfg = EngineConfig {
        shards: (threads / workers).max(1),
        wire,
        proto: botscope_proto::ProtoConfig {
            tls_keylog: crate::load_keylog(&args.tls_keylog)?,
            http_hash_all_bodies: args.hash_all_files,
            extract: extract.clone(),
            offload_hashes: idle_core,
            ..Default::default()
        },
        ..EngineConfig::default()
    };
    let next = AtomicUsize::new(0);
    let held = AtomicUsize::new(0);
    let current = AtomicUsize::new(0);
    let (tx, rx) = crossbeam_channel::bounded::<Msg>(256);
    let mut out = OrderedWriter {
        writer: &mut writer,
        current: 0,
        held_batches: BTreeMap::new(),
        done: BTreeMap::new(),
        summaries: Vec::new(),
        held: &held,
        current_shared: &current,
    };
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        let mail_thread = s.spawn(move || mail_writer(mail_dir, mail_rx));
        for _ in 0..workers {
            let tx = tx.clone();
            let mail_tx = mail_tx.clone();
            let (files, cfg, next, held, progress, explicit, current) =
                (&files, &cfg, &next, &held, &progress, &explicit, &current);
            s.spawn(move || loop {
                // Back-pressure: wait while too many rows are held back.
                while held.load(Ordering::Acquire) > MAX_HELD_BYTES
                    && current.load(Ordering::Acquire) != usize::MAX
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                let (sinks, summary) = analyze_file(f, cfg, |_| ChannelSink {
                    mail: &mail_tx,
                    file: i,
                    tx: tx.clone(),
                    buf: Vec::with_capacity(BATCH),
                    weight: 0,
                    held,
                    current,
                });
                // A non-capture met while walking a folder is not an
                // input: drop its rows (its file-level weird).
                let ignored = summary.not_a_capture && !explicit.contains(f);
                for mut sink in sinks {
                    if !ignored {
                        sink.send();
                    }
                }
                progress.inc(1);
                if tx.send(Msg::Done(i, summary)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        drop(mail_tx);
        for msg in rx {
            if let Err(e) = out.on(msg) {
                if let Ok(mut f) = failed.lock() {
                    f.get_or_insert(e);
                }
                // Unblock workers and let them finish quickly.
                held.store(0, Ordering::Release);
                current.store(usize::MAX, Ordering::Release);
                next.store(usize::MAX / 2, Ordering::Relaxed);
                break;
            }
        }
        mail_result = mail_thread
            .join()
            .unwrap_or((0, Some("mail writer thread failed".to_string())));
    });
    progress.finish_and_clear();
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    let summaries = std::mem::take(&mut out.summaries);
    if let (_, Some(e)) = &mail_result {
        anyhow::bail!("cannot write carved messages: {e}");
    }
    let mut logs = writer.finish().context("cannot finish logs")?;
    logs.mail_files += mail_result.0;

    let mut skipped: BTreeMap<&str, u64> = BTreeMap::new();
    let mut weirds: BTreeMap<String, u64> = BTreeMap::new();
    let mut not_captures: Vec<String> = Vec::new();
    let (mut packets, mut bytes, mut conns, mut read) = (0u64, 0u64, 0u64, 0usize);
    for s in &summaries {
        if s.not_a_capture && !explicit.contains(&PathBuf::from(&s.path)) {
            // Found while walking a folder: not ours to read.
            not_captures.push(s.path.clone());
            continue;
        }
        read += 1;
        packets += s.packets;
        bytes += s.bytes;
        conns += s.flow.connections;
        for (k, v) in &s.skipped {
            *skipped.entry(k).or_insert(0) += v;
        }
        for (k, v) in &s.weirds {
            *weirds.entry(k.to_string()).or_insert(0) += v;
        }
        for (k, v) in &s.analyzer_weirds {
            *weirds.entry(k.clone()).or_insert(0) += v;
        }
        if let Some(e) = &s.error {
            input_errors.push(e.clone());
        }
    }
    if let Some(e) = extract.as_ref().and_then(|x| x.first_error()) {
        let n = extract.as_ref().map_or(0, |x| x.stats().errors);
        input_errors.push(format!("{n} extracted files not written, first: {e}"));
    }
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let v = json!({
            "files": read,
            "packets": packets,
            "bytes": bytes,
            "connections": conns,
            "rows": logs.rows,
            "mail_files": logs.mail_files,
            "skipped_packets": skipped,
            "weirds": weirds,
            "skipped_files_not_captures": not_captures,
            "errors": input_errors,
            "extracted": extract.as_ref().map(|x| {
                let st = x.stats();
                json!({
                    "files": st.files,
                    "bytes": st.bytes,
                    "cut": st.cut,
                    "refused": st.refused,
                    "errors": st.errors,
                })
            }),
            "seconds": secs,
        });
        println!("{v}");
    }
    if !args.quiet {
        eprintln!(
            "botscope logs: {} files, {} packets, {} bytes, {} connections in {:.2}s ({:.1} MB/s)",
            read,
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
        if let Some(x) = &extract {
            let st = x.stats();
            eprintln!(
                "  extracted files: {} ({} bytes) in {}; cut by --extract-limit/--extract-max-bytes: {}; not written (--extract-max-files): {}",
                st.files,
                st.bytes,
                x.dir().display(),
                st.cut,
                st.refused
            );
        }
        if !skipped.is_empty() {
            let s: Vec<String> = skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
            eprintln!("  skipped packets: {}", s.join(", "));
        }
        if !weirds.is_empty() {
            let s: Vec<String> = weirds.iter().map(|(k, v)| format!("{k} {v}")).collect();
            eprintln!("  weirds: {}", s.join(", "));
        }
        if !not_captures.is_empty() {
            eprintln!(
                "  skipped files (not a capture): {}",
                not_captures.join(", ")
            );
        }
    }
    // Errors are the reason for a non-zero exit: printed even with --quiet.
    for e in &input_errors {
        eprintln!("  error: {e}");
    }
    Ok(if input_errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_INPUT_ERRORS
    })
}
