//! SQL over the dataset (DataFusion) and count timelines.
//!
//! Every table is registered by name as its Delta table (delta-rs's
//! DataFusion provider: only the files of the version read), with the
//! partition column `date` (a string, `YYYY-MM-DD`), and `inputs`; a
//! table not made yet is registered empty with the same schema, so every
//! query that names it works.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::cols::Get;
use crate::delta;
use crate::store::INPUTS;
use crate::tables::Table;
use crate::Error;

fn df(e: impl std::fmt::Display) -> Error {
    Error::sql(e.to_string())
}

/// A DataFusion session with every table of the store at `dir`, each as
/// of its latest version.
pub async fn context(dir: &Path) -> Result<SessionContext, Error> {
    context_as_of(dir, None).await
}

/// A point in the store's history for time travel: a store version (see
/// [`crate::Store::version`]) or a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// The store as it was after its first N transactions (each table at
    /// the version the N-th left it; see [`crate::Store::version`]).
    Version(u64),
    /// Every table as of this time (microseconds since the epoch, UTC).
    Time(i64),
}

impl AsOf {
    /// `VERSION` (digits) or an RFC 3339 time / `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<AsOf> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().ok().map(AsOf::Version);
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
            return Some(AsOf::Time(t.timestamp_micros()));
        }
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        Some(AsOf::Time(
            d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros(),
        ))
    }
}

/// The type a column is given to SQL: strings as `Utf8` whatever the
/// reader made of them (view types, the dictionary-encoded partition
/// column), so results have the types of the tables' own schemas.
fn plain(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, v) => plain(v),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => DataType::List(
            Arc::new(Field::new(f.name(), plain(f.data_type()), f.is_nullable())),
        ),
        other => other.clone(),
    }
}

/// `provider` as a view whose columns have [`plain`] types.
fn plain_types(
    ctx: &SessionContext,
    provider: Arc<dyn datafusion::catalog::TableProvider>,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>, Error> {
    use datafusion::prelude::{cast, col};
    let schema = provider.schema();
    if schema
        .fields()
        .iter()
        .all(|f| &plain(f.data_type()) == f.data_type())
    {
        return Ok(provider);
    }
    let exprs: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| {
            let c = col(format!("\"{}\"", f.name()));
            let p = plain(f.data_type());
            if &p == f.data_type() {
                c
            } else {
                cast(c, p).alias(f.name())
            }
        })
        .collect();
    let view = ctx
        .read_table(provider)
        .map_err(df)?
        .select(exprs)
        .map_err(df)?
        .into_view();
    Ok(view)
}

/// [`context`] with every table as of `as_of` (time travel); a table made
/// after that point is empty.
pub async fn context_as_of(dir: &Path, as_of: Option<AsOf>) -> Result<SessionContext, Error> {
    let cfg = SessionConfig::new().with_information_schema(true).set_bool(
        "datafusion.execution.parquet.schema_force_view_types",
        false,
    );
    let ctx = SessionContext::new_with_config(cfg);
    let loc = delta::Location::of(dir)?;
    if let Some(d) = loc.dir() {
        crate::legacy::refuse_ledger(d)?;
    }
    // Time travel: a time, or the versions the store's transactions up to
    // number N committed (each recorded in its `inputs` row).
    let (at, versions): (Option<i64>, Option<BTreeMap<String, u64>>) = match as_of {
        None => (None, None),
        Some(AsOf::Time(t)) => (Some(t), None),
        Some(AsOf::Version(v)) => {
            let mut max: BTreeMap<String, u64> = BTreeMap::new();
            for e in delta::Lake::new(loc.clone())?.inputs_at(v)? {
                for (t, ver) in e.versions {
                    let m = max.entry(t).or_insert(ver);
                    *m = (*m).max(ver);
                }
            }
            (None, Some(max))
        }
    };
    let names: Vec<(&str, SchemaRef, bool)> = Table::ALL
        .iter()
        .map(|t| (t.name(), t.schema(), true))
        .chain(std::iter::once((INPUTS, delta::inputs_schema(), false)))
        .collect();
    for (name, schema, partitioned) in names {
        let url = loc.table_url(name)?;
        let mut table = delta::load(&url).await?;
        if let (Some(t), Some(vs)) = (table.as_mut(), versions.as_ref()) {
            match vs.get(name) {
                Some(v) => t
                    .load_version(*v)
                    .await
                    .map_err(|e| Error::delta(format!("{url}: version {v}: {e}")))?,
                // The inputs table itself: as of the store version asked.
                None if name == INPUTS => {
                    if let Some(AsOf::Version(v)) = as_of {
                        t.load_version(v)
                            .await
                            .map_err(|e| Error::delta(format!("{url}: version {v}: {e}")))?;
                    }
                }
                // Nothing committed to it by then.
                None => table = None,
            }
        }
        if let (Some(t), Some(at)) = (table.as_mut(), at) {
            let when = chrono::DateTime::from_timestamp_micros(at)
                .ok_or_else(|| Error::sql(format!("time out of range: {at}")))?;
            match t.load_with_datetime(when).await {
                Ok(()) => {}
                // Made after that time: empty then.
                Err(_) => table = None,
            }
        }
        match table {
            Some(t) => {
                t.update_datafusion_session(&ctx.state()).map_err(df)?;
                let provider = t
                    .table_provider()
                    .with_session(Arc::new(ctx.state()))
                    .await
                    .map_err(df)?;
                ctx.register_table(name, plain_types(&ctx, provider)?)
                    .map_err(df)?;
            }
            None => {
                let mut fields: Vec<Field> =
                    schema.fields().iter().map(|f| (**f).clone()).collect();
                if partitioned {
                    fields.push(Field::new("date", DataType::Utf8, true));
                }
                let s = Arc::new(Schema::new(fields));
                let mem = MemTable::try_new(s, vec![vec![]]).map_err(df)?;
                ctx.register_table(name, Arc::new(mem)).map_err(df)?;
            }
        }
    }
    Ok(ctx)
}

/// Run one SQL statement over the store at `dir`.
pub fn sql(dir: &Path, query: &str) -> Result<Vec<RecordBatch>, Error> {
    sql_as_of(dir, query, None)
}

/// Run one SQL statement over the store at `dir` as of `as_of`.
pub fn sql_as_of(dir: &Path, query: &str, as_of: Option<AsOf>) -> Result<Vec<RecordBatch>, Error> {
    delta::block(async {
        let ctx = context_as_of(dir, as_of).await?;
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
