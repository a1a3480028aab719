//! `trace`: decode or import inputs and say what each host does, without
//! storing anything (the pipeline behind `botscope trace` and the demo;
//! [`ingest`](crate::ingest()) is the same analysis committed to the
//! dataset).
//!
//! Every input is recognised by content (one sniffer,
//! [`botscope_wire::input::sniff`]): Zeek logs and CTU-13 binetflow files
//! are imported, everything else goes to the decoding engine. Carved
//! messages are attributed as they are decoded when a mail analyser is
//! given; events past [`ActivityConfig::max_events`] are counted, not kept.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use botscope_activity::intel::{Intel, IntelMatch};
use botscope_activity::{analyze_with_intel, ActivityConfig, Capture, Class, HostReport};
use botscope_engine::{analyze_file, EngineConfig};
use botscope_event::Event;
use botscope_mail::{Envelope, MailAnalyzer};
use botscope_wire::input::InputKind;

/// What [`trace_inputs_full`] found.
pub struct Traced {
    pub hosts: Vec<HostReport>,
    pub verdicts: Vec<botscope_activity::ConnVerdict>,
    /// Input errors (unreadable files, bad log lines with file and line).
    pub errors: Vec<String>,
    /// Rows of imported logs not imported (or imported with a loss), by
    /// reason, summed over the files.
    pub skipped: BTreeMap<String, u64>,
    /// Indicators of compromise from the verdicts.
    pub iocs: Vec<botscope_activity::ioc::Ioc>,
    /// With a mail model: carved messages per sending host and family.
    pub families: BTreeMap<IpAddr, BTreeMap<String, FamilyCount>>,
    /// The infected hosts of a sandbox run (empty: network traffic).
    pub sandbox: Vec<IpAddr>,
    /// The sandbox host was inferred, not given.
    pub inferred: bool,
    /// With `--intel` feeds: every listed indicator the hosts touched.
    pub intel: Vec<IntelMatch>,
}

/// Carved messages of one host attributed to one family.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FamilyCount {
    pub messages: u64,
    /// Sum of the attribution confidences (mean = sum / messages).
    pub confidence_sum: f64,
}

/// Decode or import the inputs and analyse every host. Each input
/// is sniffed by content: Zeek logs (TSV or JSON lines) and CTU-13
/// binetflow files are imported, everything else goes to the decoding
/// engine.
pub fn trace_inputs_full(
    inputs: &[PathBuf],
    cfg: &ActivityConfig,
    mail: Option<&MailAnalyzer>,
) -> Traced {
    trace_inputs_with(inputs, cfg, mail, &Capture::Network, None)
}

/// [`trace_inputs_full`] for a capture taken where `capture` says (a
/// sandbox run or network traffic), also matching the events against
/// threat intelligence feeds.
pub fn trace_inputs_with(
    inputs: &[PathBuf],
    cfg: &ActivityConfig,
    mail: Option<&MailAnalyzer>,
    capture: &Capture,
    intel: Option<&Intel>,
) -> Traced {
    trace_inputs_engine(inputs, cfg, mail, capture, intel, &EngineConfig::default())
}

/// [`trace_inputs_with`] decoding with `engine` (a TLS key log, caps).
pub fn trace_inputs_engine(
    inputs: &[PathBuf],
    cfg: &ActivityConfig,
    mail: Option<&MailAnalyzer>,
    capture: &Capture,
    intel: Option<&Intel>,
    engine: &EngineConfig,
) -> Traced {
    let (files, errs) = botscope_wire::collect_inputs(inputs);
    let mut errors: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let mut events: Vec<Event> = Vec::new();
    let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
    let mut families: BTreeMap<IpAddr, BTreeMap<String, FamilyCount>> = BTreeMap::new();
    for f in &files {
        // One sniffer for every command (botscope_wire::input::sniff).
        let kind = botscope_wire::input::sniff(f);
        if kind.is_mail() && !inputs.contains(f) {
            *skipped
                .entry("mail files in the folders (read by `botscope mail`)".to_string())
                .or_insert(0) += 1;
            continue;
        }
        if matches!(kind, InputKind::Zeek | InputKind::Binetflow) {
            let res = if kind == InputKind::Zeek {
                botscope_zeeklog::read_zeek_log(f)
            } else {
                botscope_zeeklog::read_binetflow(f)
            };
            match res {
                Ok(mut r) => {
                    errors.extend(r.errors);
                    for (reason, n) in r.skipped {
                        *skipped.entry(reason).or_insert(0) += n;
                    }
                    let room = cfg.max_events.saturating_sub(events.len());
                    if r.events.len() > room {
                        let dropped = (r.events.len() - room) as u64;
                        r.events.truncate(room);
                        over_cap(&mut errors, &mut skipped, f, dropped, cfg.max_events);
                    }
                    events.extend(r.events);
                }
                Err(e) => errors.push(e.to_string()),
            }
            continue;
        }
        let room = cfg.max_events.saturating_sub(events.len());
        let (sinks, summary) = analyze_file(f, engine, |_| TraceSink {
            events: Vec::new(),
            room,
            dropped: 0,
            mail,
            families: Vec::new(),
        });
        if summary.not_a_capture && !inputs.contains(f) {
            // Met while walking a folder: not an input, counted.
            *skipped
                .entry(
                    "files in the folders that are not captures, Zeek logs or binetflow"
                        .to_string(),
                )
                .or_insert(0) += 1;
            continue;
        }
        if let Some(e) = summary.error {
            errors.push(e);
        }
        let mut dropped = 0;
        for s in sinks {
            dropped += s.dropped;
            for (host, family, confidence) in s.families {
                let c = families.entry(host).or_default().entry(family).or_default();
                c.messages += 1;
                c.confidence_sum += confidence;
            }
            let room = cfg.max_events.saturating_sub(events.len());
            dropped += s.events.len().saturating_sub(room) as u64;
            events.extend(s.events.into_iter().take(room));
        }
        if dropped > 0 {
            over_cap(&mut errors, &mut skipped, f, dropped, cfg.max_events);
        }
    }
    let a = analyze_with_intel(&events, cfg, capture, intel);
    let (mut hosts, verdicts) = (a.hosts, a.verdicts);
    let iocs = botscope_activity::ioc::iocs(&events, &verdicts);
    let intel = intel
        .map(|i| botscope_activity::intel::scan(&events, i))
        .unwrap_or_default();
    add_family_evidence(&mut hosts, &families);
    Traced {
        hosts,
        verdicts,
        errors,
        skipped,
        iocs,
        families,
        sandbox: a.sandbox,
        inferred: a.inferred,
        intel,
    }
}

/// Put the attributed families first in each spamming host's evidence:
/// "mail family Rustock: 312 of 320 carved messages (mean confidence 0.93)".
fn add_family_evidence(
    hosts: &mut [HostReport],
    families: &BTreeMap<IpAddr, BTreeMap<String, FamilyCount>>,
) {
    for h in hosts {
        let Some(fams) = families.get(&h.host) else {
            continue;
        };
        let Some(spam) = h.activities.iter_mut().find(|a| a.class == Class::Spam) else {
            continue;
        };
        let total: u64 = fams.values().map(|c| c.messages).sum();
        let mut ranked: Vec<(&String, &FamilyCount)> = fams.iter().collect();
        ranked.sort_by(|a, b| b.1.messages.cmp(&a.1.messages).then(a.0.cmp(b.0)));
        let lines: Vec<String> = ranked
            .iter()
            .map(|(name, c)| {
                format!(
                    "mail family {name}: {} of {total} carved messages (mean confidence {:.2})",
                    c.messages,
                    c.confidence_sum / c.messages.max(1) as f64
                )
            })
            .collect();
        spam.evidence.splice(0..0, lines);
    }
}

/// Keeps the events the activity detectors and indicators read, as they
/// are decoded: carved message bodies (whole mails) and weird events are
/// dropped at once instead of being held until the end of the file, and
/// at most `room` events are kept (the rest counted).
struct TraceSink<'a> {
    events: Vec<Event>,
    room: usize,
    dropped: u64,
    /// With a model, each carved message is attributed as it is decoded
    /// (then dropped): (sending host, family, confidence).
    mail: Option<&'a MailAnalyzer>,
    families: Vec<(IpAddr, String, f64)>,
}

impl botscope_event::EventSink for TraceSink<'_> {
    fn emit(&mut self, ev: Event) {
        if let (Event::Message(m), Some(mail)) = (&ev, self.mail) {
            let env = Envelope {
                session: true,
                received_ts: Some(m.meta.ts),
                client_ip: Some(m.meta.id.orig_h),
                helo: m.helo.clone(),
                mail_from: m.mailfrom.clone(),
                rcpt_to: m.rcptto.clone(),
                ..Envelope::default()
            };
            let row = mail.analyze(String::new(), &m.data, Some(&env));
            self.families
                .push((m.meta.id.orig_h, row.family, row.family_confidence));
            return;
        }
        if matches!(ev, Event::Message(_) | Event::Weird(_) | Event::File(_)) {
            return;
        }
        if self.events.len() < self.room {
            self.events.push(ev);
        } else {
            self.dropped += 1;
        }
    }
}

/// Report events dropped at the [`ActivityConfig::max_events`] cap.
fn over_cap(
    errors: &mut Vec<String>,
    skipped: &mut BTreeMap<String, u64>,
    f: &Path,
    dropped: u64,
    cap: usize,
) {
    errors.push(format!(
        "{}: {dropped} events not analysed: trace holds at most {cap} events",
        f.display()
    ));
    *skipped
        .entry(format!("events over the {cap}-event cap"))
        .or_insert(0) += dropped;
}
