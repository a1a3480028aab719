//! `ingest`: inputs in, rows out, each distinct content once.
//!
//! Each file (folders are walked recursively) is recognised by its
//! content, decompressed first when it is gzip, xz or zstd:
//! - pcap / pcapng captures → the decoding engine;
//! - Zeek logs (TSV or JSON lines) → the Zeek importer; the logs of one
//!   Zeek run (same folder, same name stem: `simda-005-conn.log`,
//!   `simda-005-http.log`) form one unit, so the activity analysis sees
//!   their connections and requests together;
//! - CTU-13 binetflow → the binetflow importer;
//! - mbox, Maildir messages and `.eml` files are recognised and counted
//!   ("needs the mail analyser"): the mail analysis writes them with
//!   [`Writer::write_mail`](crate::Writer::write_mail);
//! - anything else is reported as not recognised.
//!
//! Every unit is decoded and analysed on the rayon pool and committed as
//! one transaction named by its content: its events (conn, http, smtp,
//! dns, ssl, irc) and its activity verdicts (one row per host × class).
//! A file whose SHA-256 is already in the ledger is skipped, so a second
//! run adds nothing and an interrupted run resumes where it stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use botscope_activity::{analyze, ActivityConfig};
use botscope_engine::{analyze_file, EngineConfig};
use botscope_event::{Event, EventSink};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::store::{InputRecord, Store};
use crate::tables::activity_rows;

pub use botscope_wire::input::{sniff, sniff_bytes, InputKind, SNIFF_BYTES};

/// SHA-256 of a file's bytes as stored.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Most mail files (single messages, small mboxes) of one folder committed
/// in one transaction.
pub const EML_PER_UNIT: usize = 5_000;
/// Most bytes of mail files of one folder committed in one transaction.
pub const MAIL_BYTES_PER_UNIT: u64 = 64 << 20;

/// Knobs of an ingest run.
#[derive(Clone, Default)]
pub struct IngestConfig {
    pub engine: EngineConfig,
    pub activity: ActivityConfig,
    /// The mail analyser for mail inputs (mbox, Maildir files, .eml):
    /// each message becomes a `mail` row. Without one, mail inputs are
    /// counted as [`Status::MailNeedsAnalyser`] and skipped.
    pub mail: Option<std::sync::Arc<botscope_mail::MailAnalyzer>>,
    /// Messages carved from the SMTP sessions of captures become `mail`
    /// rows too, each with its session's envelope and dialect (a capture
    /// taken at a spam trap). Off by default: a sandbox run's spam is not
    /// trap mail, and would change every family's share of the trap.
    pub capture_mail: bool,
}

impl std::fmt::Debug for IngestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestConfig")
            .field("engine", &self.engine)
            .field("activity", &self.activity)
            .field("mail", &self.mail.is_some())
            .field("capture_mail", &self.capture_mail)
            .finish()
    }
}

/// What happened to one input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Rows added (per table).
    Added(BTreeMap<String, u64>),
    /// Its content is already in the store.
    AlreadyIngested,
    /// Same content as another input of this run.
    Duplicate(String),
    /// Mail input: needs the mail analyser.
    MailNeedsAnalyser,
    NotRecognised,
    Failed(String),
}

/// One input file and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOutcome {
    pub path: String,
    pub kind: InputKind,
    pub status: Status,
    /// Problems that did not stop the input (bad lines, a truncated
    /// capture): `<path>:<line or offset>: reason`.
    pub errors: Vec<String>,
}

/// What an ingest run did.
#[derive(Clone, Debug, Default)]
pub struct IngestReport {
    pub files: Vec<FileOutcome>,
    /// Rows added by this run, per table.
    pub rows: BTreeMap<String, u64>,
    /// Paths that could not be listed or read.
    pub errors: Vec<String>,
}

impl IngestReport {
    /// Inputs per status name (`added`, `already_ingested`, …).
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for f in &self.files {
            let k = match f.status {
                Status::Added(_) => "added",
                Status::AlreadyIngested => "already_ingested",
                Status::Duplicate(_) => "duplicate_in_run",
                Status::MailNeedsAnalyser => "mail_needs_mail_analyser",
                Status::NotRecognised => "not_recognised",
                Status::Failed(_) => "failed",
            };
            *m.entry(k).or_insert(0) += 1;
        }
        m
    }

    /// Some input could not be read completely.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
            || self
                .files
                .iter()
                .any(|f| matches!(f.status, Status::Failed(_)) || !f.errors.is_empty())
    }
}

struct Input {
    path: PathBuf,
    kind: InputKind,
    hash: String,
    bytes: u64,
}

/// `p` is a file in the `tmp/` folder of a Maildir (beside `new/` and `cur/`).
fn in_maildir_tmp(p: &Path) -> bool {
    let Some(dir) = p.parent() else { return false };
    dir.file_name().is_some_and(|n| n == "tmp")
        && dir
            .parent()
            .is_some_and(|m| m.join("new").is_dir() && m.join("cur").is_dir())
}

/// The Zeek run a log belongs to: folder + name without the log kind.
fn zeek_stem(p: &Path) -> (PathBuf, String) {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let base = name.split(".log").next().unwrap_or(&name).to_string();
    let mut parts: Vec<&str> = base.split(['-', '_', '.']).collect();
    for drop in [
        &[
            "conn", "http", "dns", "smtp", "ssl", "irc", "files", "weird", "x509",
        ][..],
        &["labeled", "labelled"][..],
    ] {
        if parts.len() > 1 && parts.last().is_some_and(|l| drop.contains(l)) {
            parts.pop();
        } else if parts.len() == 1 && parts.last().is_some_and(|l| drop.contains(l)) {
            parts.clear();
        }
    }
    (
        p.parent().map(Path::to_path_buf).unwrap_or_default(),
        parts.join("-"),
    )
}

/// Ingest `inputs` into `store`. `progress` is called once per input file
/// as it finishes (from worker threads).
pub fn ingest(
    store: &Store,
    inputs: &[PathBuf],
    cfg: &IngestConfig,
    progress: &(dyn Fn(&FileOutcome) + Sync),
) -> IngestReport {
    let mut report = IngestReport {
        ..IngestReport::default()
    };
    let (files, errs) = botscope_wire::collect_inputs(inputs);
    report.errors.extend(errs.iter().map(|e| e.to_string()));
    // A Maildir's tmp/ holds messages still being delivered: not read,
    // as every Maildir reader does.
    let files: Vec<PathBuf> = files.into_iter().filter(|p| !in_maildir_tmp(p)).collect();
    let done = match store.ingested() {
        Ok(d) => d,
        Err(e) => {
            report.errors.push(e.to_string());
            return report;
        }
    };
    // Recognise and hash in parallel.
    let scanned: Vec<Result<Input, FileOutcome>> = files
        .par_iter()
        .map(|p| {
            let kind = sniff(p);
            let fail = |s: Status| FileOutcome {
                path: p.display().to_string(),
                kind,
                status: s,
                errors: Vec::new(),
            };
            if kind == InputKind::Unknown {
                return Err(fail(Status::NotRecognised));
            }
            if kind.is_mail() && cfg.mail.is_none() {
                return Err(fail(Status::MailNeedsAnalyser));
            }
            match hash_file(p) {
                Ok((hash, bytes)) => Ok(Input {
                    path: p.clone(),
                    kind,
                    hash,
                    bytes,
                }),
                Err(e) => Err(fail(Status::Failed(format!("{}: {e}", p.display())))),
            }
        })
        .collect();
    // Drop what is already in the store or repeated in this run, then
    // group Zeek logs into units.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut units: BTreeMap<(PathBuf, String), Vec<Input>> = BTreeMap::new();
    // Per folder: (files, bytes, unit number) of the mail unit being filled.
    let mut eml_count: BTreeMap<PathBuf, (usize, u64, usize)> = BTreeMap::new();
    for s in scanned {
        let inp = match s {
            Ok(i) => i,
            Err(o) => {
                progress(&o);
                report.files.push(o);
                continue;
            }
        };
        let path = inp.path.display().to_string();
        let dup = if done.contains(&inp.hash) {
            Some(Status::AlreadyIngested)
        } else {
            seen.get(&inp.hash)
                .map(|first| Status::Duplicate(first.clone()))
        };
        if let Some(status) = dup {
            let o = FileOutcome {
                path,
                kind: inp.kind,
                status,
                errors: Vec::new(),
            };
            progress(&o);
            report.files.push(o);
            continue;
        }
        seen.insert(inp.hash.clone(), path.clone());
        let key = if inp.kind == InputKind::Zeek {
            let (d, stem) = zeek_stem(&inp.path);
            (d, format!("zeek:{stem}"))
        } else if inp.kind.is_mail() {
            // Mail files of one folder (Maildir, .eml folders, folders of
            // small mboxes) share a transaction and its part files, up to
            // EML_PER_UNIT files or MAIL_BYTES_PER_UNIT bytes, instead of
            // one transaction (and tiny parts) per message.
            let dir = inp.path.parent().map(Path::to_path_buf).unwrap_or_default();
            let u = eml_count.entry(dir.clone()).or_insert((0, 0, 0));
            if u.0 >= EML_PER_UNIT || (u.0 > 0 && u.1 + inp.bytes > MAIL_BYTES_PER_UNIT) {
                *u = (0, 0, u.2 + 1);
            }
            u.0 += 1;
            u.1 += inp.bytes;
            (dir, format!("mail:{:08}", u.2))
        } else {
            (inp.path.clone(), String::new())
        };
        units.entry(key).or_default().push(inp);
    }
    let units: Vec<Vec<Input>> = units.into_values().collect();
    // A compressed capture is decompressed, and large downloads hashed, on
    // threads of their own only when the pool leaves cores idle (fewer
    // units than threads); otherwise they would compete with the workers.
    let mut own = cfg.clone();
    let idle_core = units.len() < rayon::current_num_threads();
    own.engine.wire.read_ahead &= idle_core;
    own.engine.proto.offload_hashes |= idle_core;
    let cfg = &own;
    let outcomes: Vec<Vec<FileOutcome>> = units
        .par_iter()
        .map(|u| {
            let out = ingest_unit(store, u, cfg);
            for o in &out {
                progress(o);
            }
            out
        })
        .collect();
    for o in outcomes.into_iter().flatten() {
        if let Status::Added(rows) = &o.status {
            for (t, n) in rows {
                *report.rows.entry(t.clone()).or_insert(0) += n;
            }
        }
        report.files.push(o);
    }
    report.files.sort_by(|a, b| a.path.cmp(&b.path));
    report
}

/// What ingest keeps of a capture's events, as they come: the tables'
/// rows and what the activity analysis reads (certificates too); carved
/// messages only when they become mail rows. A spam run's carved
/// messages are never held together in memory only to be dropped.
struct Kept {
    events: Vec<Event>,
    messages: bool,
}

impl EventSink for Kept {
    fn emit(&mut self, ev: Event) {
        let keep = match &ev {
            Event::Conn(_)
            | Event::Http(_)
            | Event::Smtp(_)
            | Event::Dns(_)
            | Event::Ssl(_)
            | Event::Irc(_)
            | Event::X509(_) => true,
            Event::Message(_) => self.messages,
            Event::File(_) | Event::Ftp(_) | Event::Ssh(_) | Event::Weird(_) | Event::Tunnel(_) => {
                false
            }
        };
        if keep {
            self.events.push(ev);
        }
    }
}

/// What one input of a unit gave: connection events, mail rows, problems.
struct InputRead {
    events: Vec<Event>,
    mail: Vec<botscope_event::MailMessage>,
    errors: Vec<String>,
}

/// Decode, import or analyse one input.
fn read_input(inp: &Input, cfg: &IngestConfig) -> InputRead {
    let mut r = InputRead {
        events: Vec::new(),
        mail: Vec::new(),
        errors: Vec::new(),
    };
    match inp.kind {
        InputKind::Pcap | InputKind::Pcapng => {
            let mut ecfg = cfg.engine.clone();
            ecfg.shards = 1;
            let keep_messages = cfg.capture_mail && cfg.mail.is_some();
            let (sinks, summary) = analyze_file(&inp.path, &ecfg, |_| Kept {
                events: Vec::new(),
                messages: keep_messages,
            });
            let sinks: Vec<Vec<Event>> = sinks.into_iter().map(|k| k.events).collect();
            if let Some(e) = summary.error {
                r.errors.push(e);
            }
            // Messages carved from a capture stay out of the mail table
            // (a sandbox run's spam is not trap mail, and it would change
            // every family's share of the trap), unless asked for: a
            // capture taken at the trap gives each message its session.
            if cfg.capture_mail {
                if let Some(mail) = &cfg.mail {
                    let name = inp.path.display().to_string();
                    botscope_mail::for_each_session_message(
                        &name,
                        sinks.iter().flatten(),
                        |source, raw, env| {
                            let row = mail.analyze(source.to_string(), raw, Some(env));
                            if let Some(e) = &row.error {
                                r.errors.push(format!("{source}: {e}"));
                            }
                            r.mail.push(row);
                        },
                    );
                }
            }
            for s in sinks {
                if keep_messages {
                    r.events
                        .extend(s.into_iter().filter(|e| !matches!(e, Event::Message(_))));
                } else if r.events.is_empty() {
                    r.events = s;
                } else {
                    r.events.extend(s);
                }
            }
        }
        InputKind::Zeek | InputKind::Binetflow => {
            let res = if inp.kind == InputKind::Zeek {
                botscope_zeeklog::read_zeek_log(&inp.path)
            } else {
                botscope_zeeklog::read_binetflow(&inp.path)
            };
            match res {
                Ok(x) => {
                    r.errors.extend(x.errors);
                    r.events.extend(x.events);
                }
                Err(e) => r.errors.push(e.to_string()),
            }
        }
        InputKind::Mbox | InputKind::Eml => {
            if let Some(mail) = &cfg.mail {
                let stats = botscope_mail::for_each_message(
                    std::slice::from_ref(&inp.path),
                    mail.config(),
                    |m| r.mail.push(mail.analyze_raw(m)),
                );
                r.errors.extend(stats.errors);
                r.errors.extend(
                    r.mail
                        .iter()
                        .filter_map(|m| m.error.as_ref().map(|e| format!("{}: {e}", m.source))),
                );
            }
        }
        _ => {}
    }
    r
}

/// Decode, analyse and commit one unit (one capture, one flow file, the
/// logs of one Zeek run, or a batch of message files). The unit's inputs
/// are read in parallel (a Zeek run's conn, http, dns … logs at once),
/// then combined in order.
fn ingest_unit(store: &Store, unit: &[Input], cfg: &IngestConfig) -> Vec<FileOutcome> {
    let reads: Vec<InputRead> = unit.par_iter().map(|inp| read_input(inp, cfg)).collect();
    let mut events: Vec<Event> = Vec::new();
    let mut errors: Vec<Vec<String>> = Vec::new();
    let mut source_of_event: Vec<(usize, usize)> = Vec::new(); // (input index, events end)
    let mut mail_rows: Vec<botscope_event::MailMessage> = Vec::new();
    for (i, r) in reads.into_iter().enumerate() {
        if events.is_empty() {
            events = r.events;
        } else {
            events.extend(r.events);
        }
        mail_rows.extend(r.mail);
        errors.push(r.errors);
        source_of_event.push((i, events.len()));
    }
    let fail = |msg: String| -> Vec<FileOutcome> {
        unit.iter()
            .zip(&errors)
            .map(|(inp, errs)| FileOutcome {
                path: inp.path.display().to_string(),
                kind: inp.kind,
                status: Status::Failed(msg.clone()),
                errors: errs.clone(),
            })
            .collect()
    };
    // Campaigns clustered with all the mail the store has seen (its
    // campaign book), so a campaign keeps its id from one day's mbox to
    // the next; a message with neither a domain nor a specific subject
    // keeps its own id.
    let ids = if mail_rows.is_empty() {
        Ok(Vec::new())
    } else {
        store.campaign_ids(
            mail_rows
                .iter()
                .map(|m| (m.domains.as_slice(), m.subject.as_deref())),
        )
    };
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => return fail(format!("campaign book: {e}")),
    };
    for (m, id) in mail_rows.iter_mut().zip(ids) {
        if let Some(id) = id {
            m.campaign = Some(id);
        }
    }
    // The unit's name: its first input (the one a Zeek run's rows say
    // they came from is each log's own path).
    let unit_source = unit
        .first()
        .map(|i| i.path.display().to_string())
        .unwrap_or_default();
    let mut unit_hash = Sha256::new();
    for inp in unit {
        unit_hash.update(inp.hash.as_bytes());
    }
    let unit_hash = hex::encode(unit_hash.finalize());
    let mut w = store.ingest_writer(&unit_hash);
    let mut start = 0;
    for (i, end) in &source_of_event {
        let src = unit[*i].path.display().to_string();
        if let Err(e) = w.write_events(&src, &events[start..*end]) {
            return fail(e.to_string());
        }
        start = *end;
    }
    if !events.is_empty() {
        let (hosts, _) = analyze(&events, &cfg.activity);
        if let Err(e) = w.write_activity(&activity_rows(&unit_source, &hosts)) {
            return fail(e.to_string());
        }
    }
    if !mail_rows.is_empty() {
        if let Err(e) = w.write_mail(&mail_rows) {
            return fail(e.to_string());
        }
    }
    let records: Vec<InputRecord> = unit
        .iter()
        .map(|i| InputRecord {
            hash: i.hash.clone(),
            path: i.path.display().to_string(),
            bytes: i.bytes,
            kind: i.kind,
        })
        .collect();
    match w.commit(records) {
        Ok(c) => {
            // Rows are reported on the unit's first file.
            let mut out = Vec::new();
            for (k, (inp, errs)) in unit.iter().zip(&errors).enumerate() {
                out.push(FileOutcome {
                    path: inp.path.display().to_string(),
                    kind: inp.kind,
                    status: Status::Added(if k == 0 {
                        c.rows.clone()
                    } else {
                        BTreeMap::new()
                    }),
                    errors: errs.clone(),
                });
            }
            out
        }
        Err(e) => fail(e.to_string()),
    }
}

/// Kinds of every file under `inputs` (for summaries).
pub fn kinds(inputs: &[PathBuf]) -> BTreeSet<InputKind> {
    let (files, _) = botscope_wire::collect_inputs(inputs);
    files.iter().map(|p| sniff(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_inputs_by_content() {
        assert_eq!(
            sniff_bytes(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]),
            InputKind::Pcap
        );
        assert_eq!(sniff_bytes(&[0x0a, 0x0d, 0x0d, 0x0a, 0]), InputKind::Pcapng);
        assert_eq!(
            sniff_bytes(b"#separator \\x09\n#set_separator\t,\n"),
            InputKind::Zeek
        );
        assert_eq!(
            sniff_bytes(b"{\"ts\":1.0,\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.1\"}\n"),
            InputKind::Zeek
        );
        assert_eq!(sniff_bytes(b"StartTime,Dur,Proto\n"), InputKind::Binetflow);
        assert_eq!(
            sniff_bytes(b"From MAILER-DAEMON Thu Dec 23 10:00:00 2010\nReceived: x\n"),
            InputKind::Mbox
        );
        assert_eq!(
            sniff_bytes(b"Received: from a\nFrom: b@c\nSubject: hi\n\nbody"),
            InputKind::Eml
        );
        assert_eq!(sniff_bytes(b"hello world\n"), InputKind::Unknown);
        assert_eq!(sniff_bytes(b"Note: not a message\n"), InputKind::Unknown);
        assert_eq!(sniff_bytes(b""), InputKind::Unknown);
    }

    #[test]
    fn zeek_runs_group_by_stem() {
        let a = zeek_stem(Path::new("/d/simda-005-conn.log"));
        let b = zeek_stem(Path::new("/d/simda-005-http.log.gz"));
        let c = zeek_stem(Path::new("/d/njrat-001-labeled-conn.log"));
        assert_eq!(a, b);
        assert_eq!(a.1, "simda-005");
        assert_eq!(c.1, "njrat-001");
        assert_eq!(zeek_stem(Path::new("/z/conn.log")).1, "");
        assert_eq!(
            zeek_stem(Path::new("/z/conn.log")),
            zeek_stem(Path::new("/z/dns.log"))
        );
    }
}
