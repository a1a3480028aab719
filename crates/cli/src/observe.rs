//! `botscope alerts` and `botscope report`: the dataset's count series
//! (crate `store`) through the alert detector (crate `timeline`) and the
//! report writer (crate `report`). Glue only.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use botscope_report::ReportOptions;
pub use botscope_serve::observe::{compute_alerts, report_data, save_alerts, series};
use botscope_timeline::{Alert, AlertConfig};
use serde_json::json;

use crate::EXIT_OK;

#[derive(clap::Args, Debug)]
pub struct AlertsArgs {
    /// The dataset written by `botscope ingest` (a folder, or an `s3://`,
    /// `az://`, `gs://` URL).
    #[arg(long)]
    pub store: PathBuf,
    /// Alert thresholds (TOML; fields of docs/timeline.md). Defaults
    /// otherwise.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// One JSON object per alert, one per line.
    #[arg(long)]
    pub json: bool,
    /// Do not replace the dataset's `alert` table with these alerts.
    #[arg(long)]
    pub no_save: bool,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The dataset written by `botscope ingest` (a folder, or an `s3://`,
    /// `az://`, `gs://` URL).
    #[arg(long)]
    pub store: PathBuf,
    /// Output folder for index.html and the charts (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Alert thresholds (TOML), as for `botscope alerts`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Page title.
    #[arg(long, default_value = "botscope: spam trap and sandbox report")]
    pub title: String,
}

fn load_config(path: Option<&Path>) -> Result<AlertConfig> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            AlertConfig::from_toml(&text).with_context(|| format!("in {}", p.display()))
        }
        None => Ok(AlertConfig::default()),
    }
}

pub fn alerts(args: &AlertsArgs) -> Result<u8> {
    let cfg = load_config(args.config.as_deref())?;
    let s = series(&args.store)
        .with_context(|| format!("cannot read store {}", args.store.display()))?;
    let alerts = compute_alerts(&s, &cfg)?;
    if !args.no_save {
        save_alerts(&args.store, &alerts)
            .with_context(|| format!("cannot save alerts in {}", args.store.display()))?;
    }
    print_alerts(&alerts, args.json);
    Ok(EXIT_OK)
}

/// Alerts as a table, or one JSON object per line.
pub fn print_alerts(alerts: &[Alert], json: bool) {
    if json {
        for a in alerts {
            println!(
                "{}",
                json!({
                    "date": a.date().to_string(),
                    "family": a.family,
                    "kind": a.kind.as_str(),
                    "level_before": a.level_before,
                    "level_after": a.level_after,
                    "evidence": a.evidence,
                    "series": a.series,
                })
            );
        }
    } else if alerts.is_empty() {
        println!("no alerts");
    } else {
        println!(
            "{:<11} {:<22} {:<12} evidence",
            "date", "family / campaign", "kind"
        );
        for a in alerts {
            println!(
                "{:<11} {:<22} {:<12} {}",
                a.date().format("%Y-%m-%d"),
                crate::term_safe(&a.family),
                a.kind.as_str(),
                crate::term_safe(&a.evidence)
            );
        }
    }
}

pub fn report(args: &ReportArgs) -> Result<u8> {
    let cfg = load_config(args.config.as_deref())?;
    let dir = &args.store;
    let s = series(dir).with_context(|| format!("cannot read store {}", dir.display()))?;
    let alerts = compute_alerts(&s, &cfg)?;
    let data = report_data(dir, &s, alerts, &args.title)
        .with_context(|| format!("cannot read store {}", dir.display()))?;
    let files = botscope_report::write_report(&data, &ReportOptions::default(), &args.out)
        .with_context(|| format!("cannot write the report to {}", args.out.display()))?;
    for f in &files.files {
        println!("{}", f.display());
    }
    Ok(EXIT_OK)
}
