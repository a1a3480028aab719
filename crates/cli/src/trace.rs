//! `botscope trace`: what each infected host does, every activity on its
//! own line however small.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use botscope_activity::intel::{Intel, IntelMatch};
use botscope_activity::{ActivityConfig, Capture, Class, HostReport};
use botscope_engine::EngineConfig;
use botscope_mail::{MailAnalyzer, MailConfig, Model};
pub use botscope_store::trace::{trace_inputs_engine, trace_inputs_full, Traced};
use serde_json::json;
use std::net::IpAddr;

use crate::{TraceArgs, EXIT_INPUT_ERRORS, EXIT_OK};

/// Activities under this share of a host's connections are repeated in
/// the "small activities" section, so none hides under a big one.
const SMALL_SHARE: f64 = 0.05;

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
    // One thread analyses each capture in turn: with a second core, large
    // downloads are hashed beside it (as `botscope logs -j 1` does).
    let idle_core = std::thread::available_parallelism().map_or(1, |n| n.get()) > 1;
    let engine = EngineConfig {
        proto: botscope_proto::ProtoConfig {
            tls_keylog: crate::load_keylog(&args.tls_keylog)?,
            http_hash_all_bodies: args.hash_all_files,
            offload_hashes: idle_core,
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
        botscope_zeeklog::ioc::write_iocs(path, &iocs)
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
    use botscope_store::trace::trace_inputs_with;

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
