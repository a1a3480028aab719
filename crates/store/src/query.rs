//! SQL over the dataset (DataFusion) and count timelines.
//!
//! Every table is registered by name as a listing table over
//! `DIR/TABLE/`, with the hive partition column `date` (a string,
//! `YYYY-MM-DD`); a table with no files yet is registered empty with the
//! same schema, so every query that names it works.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::cols::Get;
use crate::tables::Table;
use crate::Error;

fn df(e: impl std::fmt::Display) -> Error {
    Error::Sql(e.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("tokio runtime: {e}")))
}

/// A DataFusion session with every table of the store at `dir`.
pub async fn context(dir: &Path) -> Result<SessionContext, Error> {
    let cfg = SessionConfig::new().with_information_schema(true).set_bool(
        "datafusion.execution.parquet.schema_force_view_types",
        false,
    );
    let ctx = SessionContext::new_with_config(cfg);
    let root =
        std::path::absolute(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
    for t in Table::ALL {
        let schema = t.schema();
        let tdir = root.join(t.name());
        let has_files = tdir.is_dir()
            && std::fs::read_dir(&tdir)
                .map(|mut r| r.next().is_some())
                .unwrap_or(false);
        if has_files {
            let opts = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![("date".to_string(), DataType::Utf8)]);
            let url = ListingTableUrl::parse(format!("{}/", tdir.display())).map_err(df)?;
            let config = ListingTableConfig::new(url)
                .with_listing_options(opts)
                .with_schema(schema);
            let table = ListingTable::try_new(config).map_err(df)?;
            ctx.register_table(t.name(), Arc::new(table)).map_err(df)?;
        } else {
            let mut fields: Vec<Field> = schema.fields().iter().map(|f| (**f).clone()).collect();
            fields.push(Field::new("date", DataType::Utf8, false));
            let s = Arc::new(Schema::new(fields));
            let mem = MemTable::try_new(s, vec![vec![]]).map_err(df)?;
            ctx.register_table(t.name(), Arc::new(mem)).map_err(df)?;
        }
    }
    Ok(ctx)
}

/// Run one SQL statement over the store at `dir`.
pub fn sql(dir: &Path, query: &str) -> Result<Vec<RecordBatch>, Error> {
    runtime()?.block_on(async {
        let ctx = context(dir).await?;
        let frame = ctx.sql(query).await.map_err(df)?;
        frame.collect().await.map_err(df)
    })
}

/// How a timeline groups rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Family,
    Category,
    Brand,
    Campaign,
    /// Activity classes from the `activity` table (count: connections).
    Activity,
}

impl By {
    pub fn parse(s: &str) -> Option<By> {
        Some(match s {
            "family" => By::Family,
            "category" => By::Category,
            "brand" => By::Brand,
            "campaign" => By::Campaign,
            "activity" => By::Activity,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            By::Family => "family",
            By::Category => "category",
            By::Brand => "brand",
            By::Campaign => "campaign",
            By::Activity => "activity",
        }
    }
}

/// Bucket width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    Hour,
    Day,
    /// ISO weeks, starting on Monday.
    Week,
}

impl Every {
    pub fn parse(s: &str) -> Option<Every> {
        Some(match s {
            "hour" => Every::Hour,
            "day" => Every::Day,
            "week" => Every::Week,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Every::Hour => "hour",
            Every::Day => "day",
            Every::Week => "week",
        }
    }
    /// Width in microseconds.
    pub fn micros(self) -> i64 {
        match self {
            Every::Hour => 3_600_000_000,
            Every::Day => 86_400_000_000,
            Every::Week => 7 * 86_400_000_000,
        }
    }
    /// Start of the bucket holding `t` (µs); weeks start on Monday.
    pub fn bucket(self, t: i64) -> i64 {
        match self {
            // 1970-01-01 was a Thursday: shift so buckets start on Monday.
            Every::Week => {
                let off = 3 * 86_400_000_000;
                let w = self.micros();
                (t + off) - (t + off).rem_euclid(w) - off
            }
            _ => t - t.rem_euclid(self.micros()),
        }
    }
    /// How a bucket start is printed.
    pub fn label(self, t: i64) -> String {
        let Some(d) = chrono::DateTime::from_timestamp_micros(t) else {
            return t.to_string();
        };
        match self {
            Every::Hour => d.format("%Y-%m-%dT%H:00Z").to_string(),
            _ => d.format("%Y-%m-%d").to_string(),
        }
    }
}

/// The key of rows with no brand or campaign.
pub const NO_KEY: &str = "(none)";

/// One cell of a timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineRow {
    /// Start of the bucket, µs since the epoch (UTC).
    pub bucket: i64,
    pub key: String,
    /// Messages (mail keys) or connections (activity).
    pub count: u64,
    /// `count` over the bucket's total (0 when the bucket is empty).
    pub share: f64,
}

/// Counts per bucket per key over the store at `dir`.
///
/// Mail keys read the `mail_hourly` rollup (written with every `mail`
/// part, so it always agrees with the `mail` table) instead of scanning
/// every message; `activity` sums `connections` of the `activity` table
/// by class, bucketed by the activity's first connection.
///
/// The result is dense: every key has a row in every bucket from the
/// first to the last bucket with data (count 0 where it was silent), so
/// silences are visible to change-point detection. Rows are sorted by
/// bucket, then key.
pub fn timeline(dir: &Path, by: By, every: Every) -> Result<Vec<TimelineRow>, Error> {
    let (table, key, value, time) = match by {
        By::Activity => ("activity", "class", "connections", "first"),
        By::Family => ("mail_hourly", "family", "messages", "ts"),
        By::Category => ("mail_hourly", "category", "messages", "ts"),
        By::Brand => ("mail_hourly", "brand", "messages", "ts"),
        By::Campaign => ("mail_hourly", "campaign", "messages", "ts"),
    };
    let unit = match every {
        Every::Hour => "hour",
        Every::Day => "day",
        Every::Week => "week",
    };
    let q = format!(
        "SELECT date_trunc('{unit}', \"{time}\") AS bucket, \
                COALESCE(\"{key}\", '{NO_KEY}') AS key, \
                CAST(SUM(\"{value}\") AS BIGINT) AS count \
         FROM {table} WHERE \"{time}\" IS NOT NULL GROUP BY 1, 2"
    );
    let batches = sql(dir, &q)?;
    // A campaign that joined an older one after rows were written counts
    // under the id it goes by now.
    let merged: std::collections::HashMap<String, String> = if by == By::Campaign {
        crate::store::merged_campaigns(dir)?.into_iter().collect()
    } else {
        Default::default()
    };
    let mut cells: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for b in &batches {
        let g = Get::new(b, "timeline");
        let bucket = g.ts("bucket")?;
        let key = g.str("key")?;
        let count = g.i64("count")?;
        for i in 0..g.rows() {
            let (Some(t), Some(mut k)) = (bucket[i], key[i].clone()) else {
                continue;
            };
            if let Some(now) = merged.get(&k) {
                k = now.clone();
            }
            let n = count[i].and_then(|c| u64::try_from(c).ok()).unwrap_or(0);
            *cells.entry((every.bucket(t), k)).or_insert(0) += n;
        }
    }
    Ok(densify(cells, every))
}

/// At most this many cells in a dense timeline.
pub const MAX_CELLS: usize = 50_000_000;

fn densify(cells: BTreeMap<(i64, String), u64>, every: Every) -> Vec<TimelineRow> {
    let keys: BTreeSet<&String> = cells.keys().map(|(_, k)| k).collect();
    let (Some(first), Some(last)) = (
        cells.keys().map(|(b, _)| *b).min(),
        cells.keys().map(|(b, _)| *b).max(),
    ) else {
        return Vec::new();
    };
    let mut totals: BTreeMap<i64, u64> = BTreeMap::new();
    for ((b, _), n) in &cells {
        *totals.entry(*b).or_insert(0) += n;
    }
    let nb = ((last - first) / every.micros() + 1) as usize;
    let dense = nb.saturating_mul(keys.len()) <= MAX_CELLS;
    let mut out = Vec::new();
    let mut b = first;
    while b <= last {
        let total = totals.get(&b).copied().unwrap_or(0);
        for k in &keys {
            let n = cells.get(&(b, (*k).clone())).copied().unwrap_or(0);
            if n == 0 && !dense {
                continue;
            }
            out.push(TimelineRow {
                bucket: b,
                key: (*k).clone(),
                count: n,
                share: if total == 0 {
                    0.0
                } else {
                    n as f64 / total as f64
                },
            });
        }
        b += every.micros();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        // 2010-12-29 (Wednesday) 13:00 UTC → Monday 2010-12-27.
        let t = 1_293_627_600_000_000;
        assert_eq!(Every::Week.label(Every::Week.bucket(t)), "2010-12-27");
        assert_eq!(Every::Day.label(Every::Day.bucket(t)), "2010-12-29");
        assert_eq!(
            Every::Hour.label(Every::Hour.bucket(t)),
            "2010-12-29T13:00Z"
        );
        // A Monday midnight is its own bucket.
        let monday = 1_293_408_000_000_000;
        assert_eq!(Every::Week.bucket(monday), monday);
    }

    #[test]
    fn dense_rows_fill_silences_and_shares_sum_to_one() {
        let d = Every::Day.micros();
        let mut cells = BTreeMap::new();
        cells.insert((0, "a".to_string()), 3);
        cells.insert((0, "b".to_string()), 1);
        cells.insert((2 * d, "a".to_string()), 5);
        let rows = densify(cells, Every::Day);
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0].share, 0.75);
        assert_eq!(rows[2].count, 0);
        assert_eq!(rows[3].count, 0);
        assert_eq!(rows[4].share, 1.0);
        assert_eq!(rows[5].share, 0.0);
    }
}
