//! `botscope mail` and `botscope learn`: flags and printing only; the
//! analysis is in `botscope-mail`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use botscope_mail::{
    family_label, for_each_message, to_json, CampaignNames, Campaigns, Dictionary, MailAnalyzer,
    MailConfig, MailMessage, Model, Rules,
};
use serde_json::json;

use crate::{EXIT_INPUT_ERRORS, EXIT_OK};

#[derive(clap::Args, Debug)]
pub struct MailArgs {
    /// Family model written by `botscope learn` (without one every message
    /// is `unknown` unless a rule matches).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Hand-written family rules (YAML) that add to or override the model.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Category/brand dictionary replacing the shipped one (same YAML format
    /// as crates/mail/data/categories.yaml).
    #[arg(long)]
    pub dictionary: Option<PathBuf>,
    /// One JSON object per message on stdout.
    #[arg(long)]
    pub json: bool,
    /// Counts by family, category, brand and campaign, and every message
    /// that failed with its reason (after the messages with --json, as one
    /// more JSON line `{"summary": ...}`).
    #[arg(long)]
    pub summary: bool,
    /// mbox files, Maildirs, folders of .eml, single messages, captures
    /// (.gz/.xz/.zst are opened directly).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct LearnArgs {
    /// Where to write the model (JSON).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Family of every source (default: from the folder names, see below).
    #[arg(long)]
    pub family: Option<String>,
    /// Least share of a message's fingerprint the best family must have
    /// emitted for the message to be attributed (else `unknown`).
    #[arg(long, default_value_t = 0.6)]
    pub min_match: f64,
    /// Print the learning summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Sandbox captures and/or mail of known families.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Default)]
struct Counts {
    family: BTreeMap<String, u64>,
    category: BTreeMap<String, u64>,
    brand: BTreeMap<String, u64>,
    campaign: BTreeMap<String, u64>,
    /// Names learned for the campaigns (words their subjects repeat,
    /// their main domain).
    names: CampaignNames,
    failed: Vec<(String, String)>,
    messages: u64,
}

fn top(m: &BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = m.iter().map(|(k, c)| (k.clone(), *c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Rows held for campaign clustering before they are written.
const MAX_PENDING_ROWS: usize = 200_000;

/// Write the held rows with their clustered campaign ids, and count them.
fn flush_rows(
    pending: &mut Vec<(usize, MailMessage)>,
    clusters: &mut Campaigns,
    args: &MailArgs,
    out: &mut impl Write,
    counts: &mut Counts,
    write_err: &mut Option<std::io::Error>,
) {
    for (item, mut row) in pending.drain(..) {
        if let Some(id) = clusters.id(item) {
            row.campaign = Some(id);
        }
        counts.messages += 1;
        if let Some(e) = &row.error {
            counts.failed.push((row.source.clone(), e.clone()));
        } else {
            *counts.family.entry(row.family.clone()).or_default() += 1;
            *counts.category.entry(row.category.clone()).or_default() += 1;
            *counts
                .brand
                .entry(row.brand.clone().unwrap_or_else(|| "-".to_string()))
                .or_default() += 1;
            if let Some(c) = &row.campaign {
                *counts.campaign.entry(c.clone()).or_default() += 1;
                counts.names.add(c, row.subject.as_deref(), &row.domains);
            }
        }
        let res = if args.json {
            writeln!(out, "{}", to_json(&row))
        } else if !args.summary {
            writeln!(
                out,
                "{}\t{}\t{:.2}\t{}\t{}\t{}\t{}{}",
                crate::term_safe(&row.source),
                row.family,
                row.family_confidence,
                row.category,
                crate::term_safe(row.brand.as_deref().unwrap_or("-")),
                crate::term_safe(row.campaign.as_deref().unwrap_or("-")),
                crate::term_safe(
                    &row.subject
                        .as_deref()
                        .unwrap_or("-")
                        .replace(['\t', '\n', '\r'], " ")
                ),
                row.error
                    .as_deref()
                    .map(|e| format!("\terror: {e}"))
                    .unwrap_or_default(),
            )
        } else {
            Ok(())
        };
        if let Err(e) = res {
            write_err.get_or_insert(e);
        }
    }
}

pub fn run_mail(args: &MailArgs) -> Result<u8> {
    let model = match &args.model {
        Some(p) => Some(Model::load(p).with_context(|| format!("reading model {}", p.display()))?),
        None => None,
    };
    let mut analyzer = MailAnalyzer::new(MailConfig::default(), model);
    if let Some(p) = &args.rules {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        analyzer =
            analyzer.with_rules(Rules::from_yaml(&text).with_context(|| p.display().to_string())?);
    }
    if let Some(p) = &args.dictionary {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        analyzer = analyzer.with_dictionary(
            Dictionary::from_yaml(&text).with_context(|| p.display().to_string())?,
        );
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut counts = Counts::default();
    let mut write_err: Option<std::io::Error> = None;
    // Campaigns are clustered over the messages (botscope_mail::campaign):
    // rows wait until their cluster is known, at most MAX_PENDING_ROWS at
    // a time (then written with the clusters as they stand; the clusterer
    // keeps going, so later rows still join earlier campaigns' ids).
    let mut clusters = Campaigns::new();
    let mut pending: Vec<(usize, MailMessage)> = Vec::new();
    let stats = for_each_message(&args.inputs, analyzer.config(), |m| {
        let row = analyzer.analyze_raw(m);
        let item = clusters.add(&row.domains, row.subject.as_deref());
        pending.push((item, row));
        if pending.len() >= MAX_PENDING_ROWS {
            flush_rows(
                &mut pending,
                &mut clusters,
                args,
                &mut out,
                &mut counts,
                &mut write_err,
            );
        }
    });
    flush_rows(
        &mut pending,
        &mut clusters,
        args,
        &mut out,
        &mut counts,
        &mut write_err,
    );
    if let Some(e) = write_err {
        return Err(e).context("writing results");
    }
    if args.summary {
        if args.json {
            let v = json!({"summary": {
                "messages": counts.messages,
                "failed": counts.failed.iter().map(|(s, e)| json!({"source": s, "error": e})).collect::<Vec<_>>(),
                "family": counts.family,
                "category": counts.category,
                "brand": counts.brand,
                "campaigns": counts.campaign.len(),
                "top_campaigns": top(&counts.campaign, 20).into_iter().map(|(c, n)| json!({"campaign": c, "name": counts.names.name(&c), "messages": n})).collect::<Vec<_>>(),
                "input_errors": stats.errors,
                "skipped_files": stats.skipped_files,
            }});
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "messages: {} ({} failed)",
                counts.messages,
                counts.failed.len()
            )?;
            for (title, m, n) in [
                ("family", &counts.family, usize::MAX),
                ("category", &counts.category, usize::MAX),
                ("brand", &counts.brand, usize::MAX),
            ] {
                writeln!(out, "\nby {title}:")?;
                for (k, c) in top(m, n) {
                    writeln!(out, "  {c:>8}  {}", crate::term_safe(&k))?;
                }
            }
            writeln!(
                out,
                "\nby campaign (top 20), named by what its mail repeats:"
            )?;
            for (k, c) in top(&counts.campaign, 20) {
                let name = counts.names.name(&k).unwrap_or_default();
                writeln!(out, "  {c:>8}  {k}  {}", crate::term_safe(&name))?;
            }
            writeln!(out, "\ncampaigns: {}", counts.campaign.len())?;
            if !counts.failed.is_empty() {
                writeln!(out, "\nfailed:")?;
                for (s, e) in &counts.failed {
                    writeln!(out, "  {s}: {e}")?;
                }
            }
            if !stats.skipped_files.is_empty() {
                writeln!(
                    out,
                    "\nskipped (not mail): {}",
                    stats.skipped_files.join(", ")
                )?;
            }
        }
    }
    out.flush()?;
    for e in &stats.errors {
        eprintln!("botscope mail: {e}");
    }
    Ok(if stats.errors.is_empty() && counts.failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_INPUT_ERRORS
    })
}

pub fn run_learn(args: &LearnArgs) -> Result<u8> {
    let analyzer = MailAnalyzer::new(MailConfig::default(), None);
    let mut model = Model::default();
    model.min_match = args.min_match;
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut unlabelled: u64 = 0;
    let stats = for_each_message(&args.inputs, analyzer.config(), |m| {
        let label = args.family.clone().or_else(|| family_label(m.root, m.path));
        let Some(label) = label else {
            unlabelled += 1;
            return;
        };
        if m.truncated_from.is_some() {
            failed.push((m.source.to_string(), "message_too_large".to_string()));
            return;
        }
        match analyzer.features(m.raw, m.envelope) {
            Ok(f) => model.learn(&label, &f.tokens),
            Err(e) => failed.push((m.source.to_string(), e.to_string())),
        }
    });
    std::fs::write(&args.out, model.to_json())
        .with_context(|| format!("writing {}", args.out.display()))?;
    let fams: BTreeMap<&String, u64> = model
        .families
        .iter()
        .map(|(k, v)| (k, v.messages))
        .collect();
    if args.json {
        println!(
            "{}",
            json!({"model": args.out.display().to_string(), "families": fams,
                   "failed": failed.iter().map(|(s, e)| json!({"source": s, "error": e})).collect::<Vec<_>>(),
                   "unlabelled": unlabelled, "input_errors": stats.errors})
        );
    } else {
        eprintln!(
            "botscope learn: {} messages from {} files ({} captures) → {}",
            stats.messages,
            stats.files,
            stats.captures,
            args.out.display()
        );
        for (f, n) in &fams {
            eprintln!("  {n:>8}  {f}");
        }
        for (s, e) in &failed {
            eprintln!("  failed: {s}: {e}");
        }
    }
    for e in &stats.errors {
        eprintln!("botscope learn: {e}");
    }
    if model.families.is_empty() {
        anyhow::bail!("no labelled message found: nothing learned");
    }
    Ok(if stats.errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_INPUT_ERRORS
    })
}
