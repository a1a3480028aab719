//! Input rows and the dense daily series built from them.

use std::collections::BTreeMap;

use botscope_event::Ts;
use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// Days since 1970-01-01 of the UTC day holding `ts`.
pub fn day_number(ts: Ts) -> i64 {
    ts.0.div_euclid(DAY_US)
}

/// The UTC date holding `ts` (1970-01-01 for out-of-range values).
pub fn date_of(ts: Ts) -> NaiveDate {
    DateTime::from_timestamp(ts.0.div_euclid(1_000_000), 0)
        .map_or(NaiveDate::default(), |d| d.date_naive())
}

/// UTC midnight starting `date`.
pub fn day_start(date: NaiveDate) -> Ts {
    let days = date.signed_duration_since(NaiveDate::default()).num_days();
    Ts(days.saturating_mul(DAY_US))
}

fn date_of_day(day: i64) -> NaiveDate {
    date_of(Ts(day.saturating_mul(DAY_US)))
}

/// Serde for [`Ts`] as integer microseconds since the Unix epoch.
pub mod ts_micros {
    use botscope_event::Ts;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Ts, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(ts.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ts, D::Error> {
        i64::deserialize(d).map(Ts)
    }
}

/// One count of a series: `count` events of `key` (a family, campaign,
/// category…) in the bucket starting at `bucket`. Rows are summed per UTC
/// day, so hourly buckets work too; rows for the same key and day add up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountRow {
    #[serde(with = "ts_micros")]
    pub bucket: Ts,
    pub key: String,
    pub count: u64,
}

impl CountRow {
    pub fn new(bucket: Ts, key: impl Into<String>, count: u64) -> CountRow {
        CountRow {
            bucket,
            key: key.into(),
            count,
        }
    }

    /// A row for a whole UTC day.
    pub fn on(date: NaiveDate, key: impl Into<String>, count: u64) -> CountRow {
        CountRow::new(day_start(date), key, count)
    }
}

/// One count of an activity mix: `count` connections (or verdicts) of
/// `class` (spam, c2, click_fraud…) by `key` (a family) in the bucket
/// starting at `bucket`, summed per UTC day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixRow {
    #[serde(with = "ts_micros")]
    pub bucket: Ts,
    pub key: String,
    pub class: String,
    pub count: u64,
}

impl MixRow {
    pub fn new(bucket: Ts, key: impl Into<String>, class: impl Into<String>, count: u64) -> Self {
        MixRow {
            bucket,
            key: key.into(),
            class: class.into(),
            count,
        }
    }

    /// A row for a whole UTC day.
    pub fn on(
        date: NaiveDate,
        key: impl Into<String>,
        class: impl Into<String>,
        count: u64,
    ) -> MixRow {
        MixRow::new(day_start(date), key, class, count)
    }
}

/// What could not be used, by reason (the analysis goes on without it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Series beyond [`crate::AlertConfig::max_keys`] (the smallest by
    /// total are left out).
    pub keys: u64,
    /// Rows of those series.
    pub key_rows: u64,
    /// Rows older than the last [`crate::AlertConfig::max_days`] days.
    pub old_rows: u64,
    /// Classes beyond [`crate::AlertConfig::max_classes`] in a family's
    /// mix (the smallest are left out).
    pub classes: u64,
}

/// Dense daily counts per key over one run of days: day `t` is
/// `first_day + t`; a day without rows counts 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DailySeries {
    /// The first day (UTC).
    pub first_day: NaiveDate,
    /// Number of days.
    pub days: usize,
    /// Keys in name order.
    pub keys: Vec<String>,
    /// `counts[k][t]`: count of `keys[k]` on day `t`.
    pub counts: Vec<Vec<u64>>,
    /// What was left out.
    pub skipped: Skipped,
}

/// Keep the last `max_days` days and the `max_keys` largest keys of
/// `(day, key, count)` triples; returns (first day number, days, kept
/// keys with their per-day maps).
fn bound<'a>(
    rows: impl Iterator<Item = (i64, &'a str, u64)> + Clone,
    max_keys: usize,
    max_days: usize,
    skipped: &mut Skipped,
) -> Option<(i64, usize, Vec<&'a str>)> {
    let last = rows.clone().map(|r| r.0).max()?;
    let mut first = rows.clone().map(|r| r.0).min()?;
    let max_days = max_days.max(1) as i64;
    if last - first + 1 > max_days {
        first = last - max_days + 1;
    }
    let mut totals: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (day, key, count) in rows {
        if day < first {
            skipped.old_rows += 1;
            continue;
        }
        let e = totals.entry(key).or_default();
        e.0 = e.0.saturating_add(count);
        e.1 += 1;
    }
    let mut keys: Vec<(&str, u64, u64)> = totals.into_iter().map(|(k, v)| (k, v.0, v.1)).collect();
    if keys.len() > max_keys {
        // Largest first, then by name: deterministic.
        keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        for k in keys.drain(max_keys..) {
            skipped.keys += 1;
            skipped.key_rows += k.2;
        }
        keys.sort_by(|a, b| a.0.cmp(b.0));
    }
    Some((
        first,
        (last - first + 1) as usize,
        keys.into_iter().map(|k| k.0).collect(),
    ))
}

/// Daily counts per key kept sparse: `points[k]` holds `(day, count)`
/// of `keys[k]` (days with rows only, summed), so memory follows the
/// rows, not keys × days.
pub(crate) struct Sparse {
    pub first_day: NaiveDate,
    pub days: usize,
    pub keys: Vec<String>,
    pub points: Vec<Vec<(usize, u64)>>,
    pub skipped: Skipped,
}

impl Sparse {
    pub fn from_rows(rows: &[CountRow], max_keys: usize, max_days: usize) -> Option<Sparse> {
        let mut skipped = Skipped::default();
        let it = rows
            .iter()
            .map(|r| (day_number(r.bucket), r.key.as_str(), r.count));
        let (first, days, keys) = bound(it, max_keys, max_days, &mut skipped)?;
        let index: BTreeMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        let mut maps: Vec<BTreeMap<usize, u64>> = vec![BTreeMap::new(); keys.len()];
        for r in rows {
            let day = day_number(r.bucket);
            if day < first {
                continue;
            }
            if let Some(&k) = index.get(r.key.as_str()) {
                let c = maps[k].entry((day - first) as usize).or_default();
                *c = c.saturating_add(r.count);
            }
        }
        Some(Sparse {
            first_day: date_of_day(first),
            days,
            keys: keys.into_iter().map(str::to_string).collect(),
            points: maps.into_iter().map(|m| m.into_iter().collect()).collect(),
            skipped,
        })
    }

    /// The dense counts of key `k`.
    pub fn dense(&self, k: usize) -> Vec<u64> {
        let mut v = vec![0u64; self.days];
        for &(t, c) in &self.points[k] {
            v[t] = c;
        }
        v
    }

    /// Total of all keys per day.
    pub fn totals(&self) -> Vec<u64> {
        let mut v = vec![0u64; self.days];
        for p in &self.points {
            for &(t, c) in p {
                v[t] = v[t].saturating_add(c);
            }
        }
        v
    }
}

impl DailySeries {
    /// Build from rows, keeping the `max_keys` largest keys and the last
    /// `max_days` days (the rest counted in [`DailySeries::skipped`]).
    /// Dense: memory is keys × days × 8 bytes, so keep the caps modest
    /// (the alerts themselves never build this).
    pub fn from_rows(rows: &[CountRow], max_keys: usize, max_days: usize) -> DailySeries {
        let Some(sp) = Sparse::from_rows(rows, max_keys, max_days) else {
            return DailySeries::default();
        };
        DailySeries {
            first_day: sp.first_day,
            days: sp.days,
            counts: (0..sp.keys.len()).map(|k| sp.dense(k)).collect(),
            keys: sp.keys,
            skipped: sp.skipped,
        }
    }

    /// The date of day `t`.
    pub fn date(&self, t: usize) -> NaiveDate {
        self.first_day
            .checked_add_days(chrono::Days::new(t as u64))
            .unwrap_or(NaiveDate::MAX)
    }

    /// UTC midnight of day `t`.
    pub fn ts(&self, t: usize) -> Ts {
        day_start(self.date(t))
    }

    /// Total of all keys per day.
    pub fn totals(&self) -> Vec<u64> {
        let mut t = vec![0u64; self.days];
        for c in &self.counts {
            for (a, b) in t.iter_mut().zip(c) {
                *a = a.saturating_add(*b);
            }
        }
        t
    }

    /// The counts of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&[u64]> {
        let i = self.keys.binary_search_by(|k| k.as_str().cmp(key)).ok()?;
        Some(&self.counts[i])
    }
}

/// Dense daily class counts per key (activity mixes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MixSeries {
    pub first_day: NaiveDate,
    pub days: usize,
    /// One entry per key, in name order.
    pub keys: Vec<KeyMix>,
    pub skipped: Skipped,
}

/// The daily class counts of one key, sparse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyMix {
    pub key: String,
    /// Classes in name order.
    pub classes: Vec<String>,
    /// `(day, class index, count)` for every day and class with rows,
    /// summed, in day then class order.
    pub cells: Vec<(usize, usize, u64)>,
}

impl KeyMix {
    /// `counts[t][c]`: count of `classes[c]` on day `t`, for `days` days.
    pub fn dense(&self, days: usize) -> Vec<Vec<u64>> {
        let mut v = vec![vec![0u64; self.classes.len()]; days];
        for &(t, c, n) in &self.cells {
            if let Some(x) = v.get_mut(t).and_then(|r| r.get_mut(c)) {
                *x = n;
            }
        }
        v
    }

    /// All connections of the key.
    pub fn total(&self) -> u64 {
        self.cells.iter().fold(0u64, |a, c| a.saturating_add(c.2))
    }
}

impl MixSeries {
    /// Build from rows, leaving out the classes in `ignore`; caps as for
    /// [`DailySeries::from_rows`], plus `max_classes` per key.
    pub fn from_rows(
        rows: &[MixRow],
        ignore: &[String],
        max_keys: usize,
        max_days: usize,
        max_classes: usize,
    ) -> MixSeries {
        let mut skipped = Skipped::default();
        let kept = |r: &&MixRow| !ignore.iter().any(|i| i == &r.class);
        let it = rows
            .iter()
            .filter(kept)
            .map(|r| (day_number(r.bucket), r.key.as_str(), r.count));
        let Some((first, days, keys)) = bound(it, max_keys, max_days, &mut skipped) else {
            return MixSeries::default();
        };
        // key → class → total, to choose the classes kept.
        let mut class_totals: BTreeMap<&str, BTreeMap<&str, u64>> =
            keys.iter().map(|k| (*k, BTreeMap::new())).collect();
        for r in rows.iter().filter(kept) {
            if day_number(r.bucket) < first {
                continue;
            }
            if let Some(m) = class_totals.get_mut(r.key.as_str()) {
                let e = m.entry(r.class.as_str()).or_default();
                *e = e.saturating_add(r.count);
            }
        }
        let mut out = Vec::with_capacity(keys.len());
        let mut index: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
        for (ki, (key, classes)) in class_totals.into_iter().enumerate() {
            let mut cl: Vec<(&str, u64)> = classes.into_iter().collect();
            if cl.len() > max_classes {
                cl.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
                skipped.classes += (cl.len() - max_classes) as u64;
                cl.truncate(max_classes);
                cl.sort_by(|a, b| a.0.cmp(b.0));
            }
            for (ci, c) in cl.iter().enumerate() {
                index.insert((key, c.0), (ki, ci));
            }
            out.push(KeyMix {
                key: key.to_string(),
                classes: cl.iter().map(|c| c.0.to_string()).collect(),
                cells: Vec::new(),
            });
        }
        let mut cells: Vec<BTreeMap<(usize, usize), u64>> = vec![BTreeMap::new(); out.len()];
        for r in rows.iter().filter(kept) {
            let day = day_number(r.bucket);
            if day < first {
                continue;
            }
            if let Some(&(ki, ci)) = index.get(&(r.key.as_str(), r.class.as_str())) {
                let c = cells[ki].entry(((day - first) as usize, ci)).or_default();
                *c = c.saturating_add(r.count);
            }
        }
        for (km, m) in out.iter_mut().zip(cells) {
            km.cells = m.into_iter().map(|((t, c), n)| (t, c, n)).collect();
        }
        MixSeries {
            first_day: date_of_day(first),
            days,
            keys: out,
            skipped,
        }
    }

    /// The date of day `t`.
    pub fn date(&self, t: usize) -> NaiveDate {
        self.first_day
            .checked_add_days(chrono::Days::new(t as u64))
            .unwrap_or(NaiveDate::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2010, m, day).unwrap()
    }

    #[test]
    fn rows_fill_a_dense_series_and_sum_per_day() {
        let rows = vec![
            CountRow::on(d(12, 1), "Rustock", 5),
            CountRow::new(Ts(day_start(d(12, 1)).0 + 3_600_000_000), "Rustock", 2),
            CountRow::on(d(12, 4), "Lethic", 7),
        ];
        let s = DailySeries::from_rows(&rows, 10, 100);
        assert_eq!(s.first_day, d(12, 1));
        assert_eq!(s.days, 4);
        assert_eq!(s.keys, vec!["Lethic", "Rustock"]);
        assert_eq!(s.get("Rustock").unwrap(), &[7, 0, 0, 0]);
        assert_eq!(s.get("Lethic").unwrap(), &[0, 0, 0, 7]);
        assert_eq!(s.totals(), vec![7, 0, 0, 7]);
        assert_eq!(s.date(3), d(12, 4));
        assert_eq!(date_of(s.ts(3)), d(12, 4));
    }

    #[test]
    fn caps_keep_the_largest_keys_and_the_last_days() {
        let rows = vec![
            CountRow::on(d(12, 1), "a", 1),
            CountRow::on(d(12, 10), "b", 50),
            CountRow::on(d(12, 10), "c", 40),
        ];
        let s = DailySeries::from_rows(&rows, 1, 5);
        assert_eq!(s.keys, vec!["b"]);
        assert_eq!(s.days, 5);
        assert_eq!(s.first_day, d(12, 6));
        assert_eq!(s.skipped.old_rows, 1);
        assert_eq!(s.skipped.keys, 1);
        assert_eq!(s.skipped.key_rows, 1);
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        let rows = vec![
            CountRow::new(Ts(i64::MIN), "a", u64::MAX),
            CountRow::new(Ts(i64::MAX), "a", u64::MAX),
        ];
        let s = DailySeries::from_rows(&rows, 10, 100);
        assert_eq!(s.days, 100);
        assert_eq!(s.skipped.old_rows, 1);
        assert_eq!(s.counts[0][99], u64::MAX);
        let _ = s.date(99);
        let _ = date_of(Ts(i64::MIN));
        let m = MixSeries::from_rows(
            &[MixRow::new(Ts(i64::MIN), "a", "spam", 1)],
            &[],
            10,
            100,
            1,
        );
        assert_eq!(m.keys.len(), 1);
    }

    #[test]
    fn mix_leaves_out_ignored_classes_and_caps_classes() {
        let rows = vec![
            MixRow::on(d(12, 1), "Rustock", "spam", 100),
            MixRow::on(d(12, 1), "Rustock", "dns", 500),
            MixRow::on(d(12, 2), "Rustock", "click_fraud", 3),
            MixRow::on(d(12, 2), "Rustock", "c2", 90),
        ];
        let m = MixSeries::from_rows(&rows, &["dns".to_string()], 10, 100, 2);
        assert_eq!(m.days, 2);
        let k = &m.keys[0];
        assert_eq!(k.classes, vec!["c2", "spam"]);
        assert_eq!(k.dense(m.days), vec![vec![0, 100], vec![90, 0]]);
        assert_eq!(k.total(), 190);
        assert_eq!(m.skipped.classes, 1);
    }
}
