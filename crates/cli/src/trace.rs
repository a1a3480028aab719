//! `botscope trace`: what each infected host does, every activity on its
//! own line however small.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};

use botscope_wire::input::InputKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use botscope_activity::intel::{Intel, IntelMatch};
use botscope_activity::{analyze_with_intel, ActivityConfig, Capture, Class, HostReport};
use botscope_engine::{analyze_file, EngineConfig};
use botscope_event::Event;
use botscope_mail::{Envelope, MailAnalyzer, MailConfig, Model};
use serde_json::json;
use std::net::IpAddr;

use crate::{TraceArgs, EXIT_INPUT_ERRORS, EXIT_OK};

/// Activities under this share of a host's connections are repeated in
/// the "small activities" section, so none hides under a big one.
const SMALL_SHARE: f64 = 0.05;

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
                botscope_report::read_zeek_log(f)
            } else {
                botscope_report::read_binetflow(f)
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

fn ts(t: botscope_event::Ts) -> String {
    chrono::DateTime::from_timestamp_micros(t.0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// The per-host table an analyst reads.
pub fn render(hosts: &[HostReport]) -> String {
    let mut out = String::new();
    for h in hosts {
        let _ = writeln!(out, "host {}", h.host);
        let _ = writeln!(
            out,
            "  {:<12} {:>7} {:>8} {:>7} {:>12}  {:<19}  {:<19}  peers",
            "activity", "conns", "requests", "share", "bytes", "first", "last"
        );
        for a in &h.activities {
            let _ = writeln!(
                out,
                "  {:<12} {:>7} {:>8} {:>6.1}% {:>12}  {:<19}  {:<19}  {}",
                a.class.as_str(),
                a.connections,
                a.requests,
                100.0 * a.share,
                a.bytes,
                ts(a.first),
                ts(a.last),
                a.peers.join(", ")
            );
        }
        let small: Vec<_> = h
            .activities
            .iter()
            .filter(|a| a.share < SMALL_SHARE && a.class != Class::Benign)
            .collect();
        if !small.is_empty() {
            let _ = writeln!(
                out,
                "  small activities (under {:.0}% of this host's connections):",
                100.0 * SMALL_SHARE
            );
            for a in small {
                let _ = writeln!(
                    out,
                    "    {} — {} connections ({:.2}%), e.g. {}",
                    a.class.as_str(),
                    a.connections,
                    100.0 * a.share,
                    a.evidence.first().map(String::as_str).unwrap_or("-")
                );
            }
        }
        for a in &h.activities {
            if a.class == Class::Benign || a.evidence.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  evidence, {} (confidence {:.2}):",
                a.class.as_str(),
                a.confidence
            );
            for e in a.evidence.iter().take(3) {
                let _ = writeln!(out, "    {e}");
            }
        }
        if !h.leads.is_empty() {
            let _ = writeln!(
                out,
                "  leads (evidence under the verdict threshold, not verdicts):"
            );
            for l in &h.leads {
                let _ = writeln!(
                    out,
                    "    {} (score {:.2}): {}",
                    l.class.as_str(),
                    l.score,
                    l.evidence.first().map(String::as_str).unwrap_or("-")
                );
            }
        }
        out.push('\n');
    }
    out
}

/// The threat-intelligence matches, by host: what was seen, where, and
/// which feed entry lists it.
pub fn render_intel(matches: &[IntelMatch]) -> String {
    let mut out = String::new();
    if matches.is_empty() {
        return out;
    }
    let _ = writeln!(out, "threat intelligence matches");
    let mut last: Option<IpAddr> = None;
    for m in matches {
        if last != Some(m.host) {
            let _ = writeln!(out, "  host {}", m.host);
            last = Some(m.host);
        }
        let _ = writeln!(
            out,
            "    {:<8} {}  {}..{}",
            m.class.as_str(),
            m.sentence(),
            ts(m.first),
            ts(m.last)
        );
    }
    out.push('\n');
    out
}

/// Load every `--intel` feed, saying on stderr what each gave.
fn load_intel(paths: &[PathBuf]) -> Result<Option<Intel>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut intel = Intel::new();
    for p in paths {
        let feed = intel
            .load_path(p)
            .map_err(|e| anyhow::anyhow!("threat intel feed {e}"))?;
        eprintln!(
            "  intel: {} ({}): {} indicators, {} skipped",
            feed.name,
            feed.format.as_str(),
            feed.loaded,
            feed.skipped_total()
        );
        for (reason, n) in &feed.skipped {
            eprintln!("    skipped {n}: {reason}");
        }
        for e in &feed.examples {
            eprintln!("    e.g. {e}");
        }
    }
    Ok(Some(intel))
}

/// A filter list larger than this is refused (EasyList is about 2 MB).
const MAX_FILTER_LIST_BYTES: u64 = 64 << 20;

/// Read a user's EasyList-format filter list (plain or compressed).
fn read_filter_list(path: &Path) -> Result<String> {
    let r = botscope_wire::open_input(path)
        .map_err(|e| anyhow::anyhow!("cannot read filter list {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    r.take(MAX_FILTER_LIST_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read filter list {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILTER_LIST_BYTES {
        anyhow::bail!(
            "filter list {} is over {} MiB",
            path.display(),
            MAX_FILTER_LIST_BYTES >> 20
        );
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What the analysis assumed about where the capture was taken, for
/// the reader.
pub fn capture_line(t: &Traced) -> String {
    if t.sandbox.is_empty() {
        return "network traffic: a host is innocent until evidence accumulates (--sandbox for a sandbox run)".into();
    }
    let hosts: Vec<String> = t.sandbox.iter().map(ToString::to_string).collect();
    format!(
        "sandbox run of {}{}: what it does that the OS background does not explain is suspect",
        hosts.join(", "),
        if t.inferred {
            " (inferred: the local host with the most connections to outside addresses; name it with --sandbox=HOST)"
        } else {
            ""
        }
    )
}

pub fn run(args: &TraceArgs) -> Result<u8> {
    let mut cfg = ActivityConfig::default();
    for f in &args.filters {
        cfg.ad_filters.push(read_filter_list(f)?);
    }
    for f in &args.background {
        let text = read_filter_list(f)?;
        let bad = botscope_activity::Background::new(std::slice::from_ref(&text)).bad_lines;
        if let Some((line, _)) = bad.first() {
            anyhow::bail!(
                "background list {}: line {line} is not `CATEGORY domain NAME` or `CATEGORY port udp/N` ({} such lines)",
                f.display(),
                bad.len()
            );
        }
        cfg.background.push(text);
    }
    let capture = match &args.sandbox {
        Some(hosts) => Capture::Sandbox(hosts.clone()),
        None => Capture::Network,
    };
    let mail = match &args.model {
        Some(p) => {
            let model = Model::load(p).with_context(|| format!("reading model {}", p.display()))?;
            Some(MailAnalyzer::new(MailConfig::default(), Some(model)))
        }
        None => None,
    };
    let intel = load_intel(&args.intel)?;
    let engine = EngineConfig {
        proto: botscope_proto::ProtoConfig {
            tls_keylog: crate::load_keylog(&args.tls_keylog)?,
            http_hash_all_bodies: args.hash_all_files,
            ..Default::default()
        },
        ..EngineConfig::default()
    };
    let traced = trace_inputs_engine(
        &args.inputs,
        &cfg,
        mail.as_ref(),
        &capture,
        intel.as_ref(),
        &engine,
    );
    let capture_text = capture_line(&traced);
    let Traced {
        hosts,
        verdicts,
        errors,
        skipped,
        iocs,
        families,
        sandbox,
        inferred,
        intel: matches,
    } = traced;
    if let Some(path) = &args.iocs {
        botscope_report::ioc::write_iocs(path, &iocs)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        let v = json!({
            "hosts": hosts.iter().map(|h| json!({
                "host": h.host.to_string(),
                "activities": h.activities.iter().map(|a| {
                    let mut v = json!({
                    "class": a.class.as_str(),
                    "connections": a.connections,
                    "requests": a.requests,
                    "bytes": a.bytes,
                    "share": a.share,
                    "first": a.first.as_secs_f64(),
                    "last": a.last.as_secs_f64(),
                    "peers": a.peers,
                    "evidence": a.evidence,
                    "indicators": a.indicators,
                    "confidence": a.confidence,
                    "score": a.score,
                    });
                    if a.class == Class::Spam {
                        if let Some(f) = families.get(&h.host) {
                            v["families"] = f
                                .iter()
                                .map(|(k, c)| (k.clone(), json!(c.messages)))
                                .collect::<serde_json::Map<_, _>>()
                                .into();
                        }
                    }
                    v
                }).collect::<Vec<_>>(),
                "leads": h.leads.iter().map(|l| json!({
                    "class": l.class.as_str(),
                    "score": l.score,
                    "first": l.first.as_secs_f64(),
                    "evidence": l.evidence,
                    "indicators": l.indicators,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "capture": {
                "mode": if sandbox.is_empty() { "network" } else { "sandbox" },
                "hosts": sandbox.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "inferred": inferred,
            },
            "skipped": { "errors": errors, "rows": skipped },
        });
        let mut v = v;
        if let Some(intel) = &intel {
            v["intel"] = matches
                .iter()
                .map(|m| {
                    json!({
                        "host": m.host.to_string(),
                        "class": m.class.as_str(),
                        "kind": m.kind.as_str(),
                        "observed": m.observed,
                        "seen_in": m.seen_in,
                        "indicator": m.indicator,
                        "feed": m.feed,
                        "origin": m.origin,
                        "threat": m.threat,
                        "first": m.first.as_secs_f64(),
                        "last": m.last.as_secs_f64(),
                        "count": m.count,
                    })
                })
                .collect::<Vec<_>>()
                .into();
            v["intel_feeds"] = intel
                .feeds()
                .iter()
                .map(|f| {
                    json!({
                        "name": f.name,
                        "path": f.path.display().to_string(),
                        "format": f.format.as_str(),
                        "loaded": f.loaded,
                        "skipped": f.skipped,
                    })
                })
                .collect::<Vec<_>>()
                .into();
        }
        println!("{v}");
    } else {
        println!("{}\n", crate::term_safe(&capture_text));
        print!("{}", crate::term_safe(&render(&hosts)));
        print!("{}", crate::term_safe(&render_intel(&matches)));
    }
    if let Some(path) = &args.connections {
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        );
        writeln!(w, "orig_h,orig_p,resp_h,resp_p,proto,ts,class")?;
        for v in &verdicts {
            let class = if v.is_dns { "dns" } else { v.class.as_str() };
            writeln!(
                w,
                "{},{},{},{},{},{},{}",
                v.id.orig_h,
                v.id.orig_p,
                v.id.resp_h,
                v.id.resp_p,
                v.id.proto.zeek_name(),
                v.ts,
                class
            )?;
        }
        w.flush()?;
    }
    for e in &errors {
        eprintln!("  error: {e}");
    }
    for (reason, n) in &skipped {
        eprintln!("  skipped {n} rows: {reason}");
    }
    Ok(if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_INPUT_ERRORS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `../shared/data` (or `$BOTSCOPE_DATA`); `None` (skip) when missing,
    /// a failure under `CI=true`.
    fn data_dir() -> Option<PathBuf> {
        let dir = std::env::var_os("BOTSCOPE_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
        if dir.join("SOURCES.md").exists() {
            return Some(dir);
        }
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("shared data not found at {} (CI=true)", dir.display());
        }
        eprintln!("SKIP: shared data not found at {}", dir.display());
        None
    }

    #[test]
    fn held_events_are_capped_and_the_rest_counted() {
        let Some(data) = data_dir() else { return };
        let flows = data.join("ctu13/capture20110818-2.window-154750-154920.binetflow");
        let pcap = data.join("botnet-pcaps/spambot-smtp-sessions-smtperr.pcap");
        let inputs = [flows.clone(), pcap.clone()];
        let full = trace_inputs_full(&inputs, &ActivityConfig::default(), None);
        assert!(full.errors.is_empty(), "{:?}", full.errors);
        let cfg = ActivityConfig {
            max_events: 1000,
            ..ActivityConfig::default()
        };
        let capped = trace_inputs_full(&inputs, &cfg, None);
        assert!(capped.verdicts.len() <= 1000);
        assert_eq!(capped.errors.len(), 2, "{:?}", capped.errors);
        assert!(capped.errors[0].contains("window-154750-154920.binetflow: "));
        assert!(capped.errors[0].contains("events not analysed"));
        let dropped = capped.skipped["events over the 1000-event cap"];
        // Every binetflow row is one connection event: all but 1000 of
        // them, and every event of the capture, are counted.
        assert!(dropped as usize >= full.verdicts.len() - 1000, "{dropped}");
    }

    #[test]
    fn sandbox_host_inferred_and_said_so() {
        let Some(data) = data_dir() else { return };
        let pcap = data.join("malware-real/sl-2019-amadey.pcap");
        let inputs = [pcap];
        let cfg = ActivityConfig::default();
        let t = trace_inputs_with(&inputs, &cfg, None, &Capture::Sandbox(Vec::new()), None);
        let host: IpAddr = "192.168.100.132".parse().expect("address");
        assert_eq!(t.sandbox, vec![host]);
        assert!(t.inferred);
        assert!(
            capture_line(&t).contains("inferred"),
            "{}",
            capture_line(&t)
        );
        let h = t.hosts.iter().find(|h| h.host == host).expect("host");
        assert!(h.activity(Class::C2).is_some(), "{}", render(&t.hosts));
        // Named: not inferred.
        let named = trace_inputs_with(&inputs, &cfg, None, &Capture::Sandbox(vec![host]), None);
        assert!(!named.inferred && named.sandbox == vec![host]);
        // As network traffic nothing needs sandbox reasoning.
        let net = trace_inputs_full(&inputs, &cfg, None);
        assert!(net.sandbox.is_empty());
        assert!(capture_line(&net).starts_with("network traffic"));
    }
}
