//! The dataset's count series and what is computed from them: the alerts
//! (`botscope alerts`), the report's tables (`botscope report`) and the
//! dashboard's pages (`botscope serve`) all read the store through here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use botscope_event::Ts;
use botscope_report::{ReportData, TopRow};
use botscope_store::datafusion::arrow::array::RecordBatch;
use botscope_store::datafusion::arrow::util::display::array_value_to_string;
use botscope_store::{AlertRow, By, Every, Store, Table};
use botscope_timeline::{detect, move_alerts, volume_alerts, Alert, AlertConfig, CountRow, MixRow};

use crate::Error;

/// Everything the alerts are computed from.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Trap messages per family per day.
    pub volume: Vec<CountRow>,
    /// Trap messages per campaign per day.
    pub campaigns: Vec<CountRow>,
    /// Trap messages per brand per day.
    pub brands: Vec<CountRow>,
    /// Sandbox connections per family (the capture's folder), activity
    /// class and day.
    pub mix: Vec<MixRow>,
    /// Trap messages per campaign, sending family and day (attributed
    /// families only: `unknown` is no botnet to move to).
    pub senders: Vec<MixRow>,
}

/// The family a sandbox input belongs to: its folder's name, as
/// `botscope learn` labels it (`pcap/rustock/2010-12-20.pcap` → `rustock`).
pub fn family_of_source(source: &str) -> String {
    Path::new(source)
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_else(|| "(unknown)".into())
}

/// Every cell of `batches` as text (`None` for nulls), row by row.
pub fn cells(batches: &[RecordBatch]) -> Result<Vec<Vec<Option<String>>>, Error> {
    let mut out = Vec::new();
    for b in batches {
        for row in 0..b.num_rows() {
            let mut r = Vec::with_capacity(b.num_columns());
            for col in b.columns() {
                r.push(if col.is_null(row) {
                    None
                } else {
                    Some(array_value_to_string(col, row).map_err(|e| Error::Data(e.to_string()))?)
                });
            }
            out.push(r);
        }
    }
    Ok(out)
}

/// The store has rows in `t`.
pub fn has_table(store: &Store, t: Table) -> bool {
    store.parts(t).map(|p| !p.is_empty()).unwrap_or(false)
}

/// Read the count series from the dataset.
pub fn series(dir: &Path) -> Result<Series, Error> {
    let store = Store::open_read(dir)?;
    let rows = |by: By| -> Result<Vec<CountRow>, Error> {
        Ok(botscope_store::timeline(dir, by, Every::Day)?
            .into_iter()
            .map(|r| CountRow::new(Ts(r.bucket), r.key, r.count))
            .collect())
    };
    let mut s = Series::default();
    if has_table(&store, Table::Mail) {
        s.volume = rows(By::Family)?;
        s.campaigns = rows(By::Campaign)?;
        s.brands = rows(By::Brand)?;
        let merged: BTreeMap<String, String> = store.merged_campaigns()?.into_iter().collect();
        let q = "SELECT CAST(date_trunc('day', ts) AS BIGINT) AS day, campaign, family, \
                 CAST(SUM(messages) AS BIGINT) AS n FROM mail_hourly \
                 WHERE ts IS NOT NULL AND campaign IS NOT NULL AND family <> 'unknown' \
                 GROUP BY 1, 2, 3";
        let mut sums: BTreeMap<(i64, String, String), u64> = BTreeMap::new();
        for r in cells(&botscope_store::sql(dir, q)?)? {
            let (Some(day), Some(c), Some(f), Some(n)) = (&r[0], &r[1], &r[2], &r[3]) else {
                continue;
            };
            let c = merged.get(c).unwrap_or(c).clone();
            *sums
                .entry((day.parse().unwrap_or(0), c, f.clone()))
                .or_insert(0) += n.parse().unwrap_or(0);
        }
        s.senders = sums
            .into_iter()
            .map(|((day, c, f), n)| MixRow::new(Ts(day), c, f, n))
            .collect();
    }
    if has_table(&store, Table::Activity) {
        let q = "SELECT source, class, CAST(date_trunc('day', first) AS BIGINT) AS day, \
                 CAST(connections AS BIGINT) AS n FROM activity";
        let batches = botscope_store::sql(dir, q)?;
        let mut sums: BTreeMap<(i64, String, String), u64> = BTreeMap::new();
        for r in cells(&batches)? {
            let (Some(src), Some(class), Some(day), Some(n)) = (&r[0], &r[1], &r[2], &r[3]) else {
                continue;
            };
            let day: i64 = day.parse().unwrap_or(0);
            let n: u64 = n.parse().unwrap_or(0);
            *sums
                .entry((day, family_of_source(src), class.clone()))
                .or_insert(0) += n;
        }
        s.mix = sums
            .into_iter()
            .map(|((day, fam, class), n)| MixRow::new(Ts(day), fam, class, n))
            .collect();
    }
    Ok(s)
}

/// Family alerts (silence, drop, return, changepoint, shift) and campaign
/// alerts, sorted by date.
pub fn compute_alerts(s: &Series, cfg: &AlertConfig) -> Result<Vec<Alert>, Error> {
    let mut d = detect(&s.volume, &s.mix, cfg)?;
    let c = volume_alerts(&s.campaigns, "trap messages/day by campaign", cfg)?;
    d.alerts.extend(c.alerts);
    // Brands and affiliate programs ("Canadian Pharmacy"): messages
    // without one are not a series of their own, but they count in the
    // whole a brand's share is taken of (all trap mail, as for families):
    // with two brands found, a share of the branded mail alone would
    // hide a brand's fall.
    let b = volume_alerts(&s.brands, "trap messages/day by brand", cfg)?;
    d.alerts.extend(
        b.alerts
            .into_iter()
            .filter(|a| a.family != "(none)" && !a.family.is_empty()),
    );
    // A campaign changing botnet (a spam customer moving): its mix of
    // sending families, every family counted.
    let move_cfg = AlertConfig {
        mix_ignore: Vec::new(),
        ..cfg.clone()
    };
    let m = move_alerts(&s.senders, "trap messages/day by campaign", &move_cfg)?;
    d.alerts.extend(m.alerts);
    d.alerts.sort_by(|a, b| {
        (a.ts, &a.family, a.kind.as_str()).cmp(&(b.ts, &b.family, b.kind.as_str()))
    });
    Ok(d.alerts)
}

/// Replace the dataset's `alert` table with `alerts`.
pub fn save_alerts(dir: &Path, alerts: &[Alert]) -> Result<(), Error> {
    let store = Store::open(dir)?;
    let mut w = store.writer();
    w.replace_table(Table::Alert)?;
    let rows: Vec<AlertRow> = alerts
        .iter()
        .map(|a| AlertRow {
            ts: a.ts,
            family: a.family.clone(),
            kind: a.kind.as_str().to_string(),
            level_before: a.level_before,
            level_after: a.level_after,
            evidence: a.evidence.clone(),
            series: a.series.clone(),
        })
        .collect();
    w.write_alerts(&rows)?;
    w.commit(Vec::new())?;
    Ok(())
}

/// Top rows of a two-key count: `name → (family → count)` plus a sample
/// detail per name.
fn top_rows(rows: Vec<Vec<Option<String>>>, family_of: impl Fn(&str) -> String) -> Vec<TopRow> {
    let mut by: BTreeMap<String, (u64, BTreeSet<String>, String)> = BTreeMap::new();
    for r in rows {
        let (Some(name), Some(fam), Some(n)) = (&r[0], &r[1], &r[2]) else {
            continue;
        };
        let e = by.entry(name.clone()).or_default();
        e.0 += n.parse::<u64>().unwrap_or(0);
        e.1.insert(family_of(fam));
        if e.2.is_empty() {
            e.2 = r.get(3).cloned().flatten().unwrap_or_default();
        }
    }
    let mut v: Vec<TopRow> = by
        .into_iter()
        .map(|(name, (count, fams, detail))| TopRow {
            name,
            detail,
            families: fams.into_iter().collect(),
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    v
}

/// The peers of one activity class: each host × input whose activity
/// names the peer counts once; the sample is the first evidence line of
/// that class that mentions the peer.
fn peer_rows(dir: &Path, class: &str) -> Result<Vec<TopRow>, Error> {
    let peers = cells(&botscope_store::sql(
        dir,
        &format!(
            "SELECT unnest(peers) AS peer, source FROM activity WHERE class = '{class}' \
             ORDER BY source"
        ),
    )?)?;
    let evidence = cells(&botscope_store::sql(
        dir,
        &format!(
            "SELECT source, unnest(evidence) AS ev FROM activity WHERE class = '{class}' \
             ORDER BY source"
        ),
    )?)?;
    let rows = peers
        .into_iter()
        .filter_map(|r| {
            let peer = r.first().cloned().flatten()?;
            let source = r.get(1).cloned().flatten()?;
            let sample = evidence
                .iter()
                .filter_map(|e| e.get(1).cloned().flatten())
                .find(|e| e.contains(peer.as_str()));
            Some(vec![
                Some(peer),
                Some(source),
                Some("1".to_string()),
                sample,
            ])
        })
        .collect();
    Ok(top_rows(rows, family_of_source))
}

/// Campaigns, then brands: name, families, messages and a sample subject.
pub fn campaigns_and_brands(dir: &Path) -> Result<(Vec<TopRow>, Vec<TopRow>), Error> {
    let same = |f: &str| f.to_string();
    let q = |col: &str| {
        format!(
            "SELECT {col}, family, count(*) AS n, min(subject) AS sample FROM mail \
             WHERE {col} IS NOT NULL GROUP BY {col}, family"
        )
    };
    Ok((
        top_rows(cells(&botscope_store::sql(dir, &q("campaign"))?)?, same),
        top_rows(cells(&botscope_store::sql(dir, &q("brand"))?)?, same),
    ))
}

/// What `botscope report` draws: the series, the alerts and the top
/// tables of the dataset at `dir`.
pub fn report_data(
    dir: &Path,
    s: &Series,
    alerts: Vec<Alert>,
    title: &str,
) -> Result<ReportData, Error> {
    let store = Store::open_read(dir)?;
    let mut data = ReportData {
        title: title.to_string(),
        subtitle: format!("dataset {}", dir.display()),
        volume: s.volume.clone(),
        volume_unit: "messages".into(),
        mix: s.mix.clone(),
        alerts,
        ..ReportData::default()
    };
    if has_table(&store, Table::Mail) {
        (data.campaigns, data.brands) = campaigns_and_brands(dir)?;
        let campaigns = cells(&botscope_store::sql(
            dir,
            "SELECT count(DISTINCT campaign) FROM mail",
        )?)?;
        if let Some(Some(n)) = campaigns.first().and_then(|r| r.first()) {
            data.figures.push(("campaigns".into(), n.clone()));
        }
    }
    if has_table(&store, Table::Activity) {
        // Each host × input whose click-fraud (or C&C) activity names the
        // peer counts once; the sample is that activity's first evidence.
        data.clicked_sites = peer_rows(dir, "click_fraud")?;
        data.c2_servers = peer_rows(dir, "c2")?;
    }
    Ok(data)
}
