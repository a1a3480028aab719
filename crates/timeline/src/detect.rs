//! The alert rules over the change points.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use botscope_event::Ts;

use crate::config::AlertConfig;
use crate::error::Error;
use crate::fmt::{count, day_month, pct, per_day};
use crate::pelt::{dispersion, pelt, MultinomialCost, NegBinomialCost};
use crate::series::{CountRow, KeyMix, MixRow, MixSeries, Skipped, Sparse};

/// What kind of event an [`Alert`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A family with steady volume sends nothing for days.
    Silence,
    /// A family's volume and share fall by a large factor (overnight or
    /// over weeks).
    Drop,
    /// Volume resumes after a silence or a drop.
    Return,
    /// A family's activity mix changes (a class appears, vanishes, or
    /// its share changes by a large factor).
    Shift,
    /// Any other large change of level.
    Changepoint,
    /// A campaign's or brand's mail moves from one family to another
    /// (a spam customer changing botnet).
    Move,
}

impl AlertKind {
    /// The name written in the `alert` table and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Silence => "silence",
            AlertKind::Drop => "drop",
            AlertKind::Return => "return",
            AlertKind::Shift => "shift",
            AlertKind::Changepoint => "changepoint",
            AlertKind::Move => "move",
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dated event of a family's timeline (a row of the `alert` table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The day it happened: UTC midnight (integer microseconds in JSON).
    #[serde(with = "crate::series::ts_micros")]
    pub ts: Ts,
    /// The family (or whatever key the series was counted by).
    pub family: String,
    pub kind: AlertKind,
    /// Level before: mean per day of the `baseline_days` before (for
    /// `shift`, the share of the main class, 0..1).
    pub level_before: f64,
    /// Level after: mean per day of the segment after (for `shift`, the
    /// share of the main class, 0..1).
    pub level_after: f64,
    /// What happened, in plain language ("quiet since 28 Dec …").
    pub evidence: String,
    /// What was measured, e.g. `trap messages/day: Rustock`.
    pub series: String,
}

impl Alert {
    /// The UTC date of [`Alert::ts`].
    pub fn date(&self) -> chrono::NaiveDate {
        crate::series::date_of(self.ts)
    }
}

/// The alerts of one run and what was left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Alerts by date, then family, then kind.
    pub alerts: Vec<Alert>,
    /// Series analysed.
    pub series: usize,
    /// Days covered (the longest series).
    pub days: usize,
    /// Rows, series and classes left out by the caps.
    pub skipped: Skipped,
}

impl Detection {
    fn merge(&mut self, other: Detection) {
        self.alerts.extend(other.alerts);
        self.series += other.series;
        self.days = self.days.max(other.days);
        self.skipped.keys += other.skipped.keys;
        self.skipped.key_rows += other.skipped.key_rows;
        self.skipped.old_rows += other.skipped.old_rows;
        self.skipped.classes += other.skipped.classes;
    }

    fn sort(&mut self) {
        self.alerts.sort_by(|a, b| {
            a.ts.cmp(&b.ts)
                .then_with(|| a.family.cmp(&b.family))
                .then_with(|| a.kind.cmp(&b.kind))
                .then_with(|| a.series.cmp(&b.series))
        });
    }
}

/// Alerts from both kinds of series: `volume` (trap messages per family
/// per day: silence, drop, return, changepoint) and `mix` (sandbox
/// connections per family, class and day: shift).
pub fn detect(volume: &[CountRow], mix: &[MixRow], cfg: &AlertConfig) -> Result<Detection, Error> {
    let mut d = volume_alerts(volume, "trap messages/day", cfg)?;
    d.merge(shift_alerts(mix, "sandbox connections/day", cfg)?);
    d.sort();
    Ok(d)
}

/// Silence, drop, return and changepoint alerts of every key of
/// `rows`; `what` names the measure in [`Alert::series`] (e.g.
/// `"trap messages/day"`). Shares are of the total of all keys.
pub fn volume_alerts(rows: &[CountRow], what: &str, cfg: &AlertConfig) -> Result<Detection, Error> {
    cfg.validate()?;
    let Some(s) = Sparse::from_rows(rows, cfg.max_keys, cfg.max_days) else {
        return Ok(Detection::default());
    };
    let totals: Vec<f64> = s.totals().iter().map(|&x| x as f64).collect();
    let mut d = Detection {
        series: s.keys.len(),
        days: s.days,
        skipped: s.skipped.clone(),
        ..Default::default()
    };
    // A key below this total has no segment steady enough for any alert.
    let least = cfg.min_steady_level * cfg.min_segment_days as f64;
    // Keys in parallel; results gathered in key order (deterministic).
    let per_key: Vec<Vec<Alert>> = (0..s.keys.len())
        .into_par_iter()
        .map(|k| {
            let key = &s.keys[k];
            let total: f64 = s.points[k].iter().map(|p| p.1 as f64).sum();
            if total < least {
                return Vec::new();
            }
            let y: Vec<f64> = s.dense(k).iter().map(|&x| x as f64).collect();
            let series = format!("{what}: {key}");
            volume_events(&y, &totals, s.first_day, cfg)
                .into_iter()
                .map(|ev| ev.into_alert(s.first_day, key, &series))
                .collect()
        })
        .collect();
    d.alerts = per_key.into_iter().flatten().collect();
    d.sort();
    Ok(d)
}

/// Shift alerts of every key of `rows` (classes in
/// [`AlertConfig::mix_ignore`] left out); `what` names the measure.
pub fn shift_alerts(rows: &[MixRow], what: &str, cfg: &AlertConfig) -> Result<Detection, Error> {
    per_mix_key(rows, what, cfg, mix_events)
}

/// Move alerts of every key of `rows` (a campaign or brand, its classes
/// the families that sent its mail): one family stops sending it as
/// another starts, at one change point of the mix ([`AlertConfig::move_min_share`]).
/// `what` names the measure. Classes in [`AlertConfig::mix_ignore`] are
/// left out, as for shifts (leave out `unknown` senders here).
pub fn move_alerts(rows: &[MixRow], what: &str, cfg: &AlertConfig) -> Result<Detection, Error> {
    per_mix_key(rows, what, cfg, move_events)
}

/// The mix series of `rows` (capped as configured), `events` run on each
/// key in parallel.
fn per_mix_key(
    rows: &[MixRow],
    what: &str,
    cfg: &AlertConfig,
    events: fn(&MixSeries, &KeyMix, &str, &AlertConfig) -> Vec<Alert>,
) -> Result<Detection, Error> {
    cfg.validate()?;
    let m = MixSeries::from_rows(
        rows,
        &cfg.mix_ignore,
        cfg.max_keys,
        cfg.max_days,
        cfg.max_classes,
    );
    let mut d = Detection {
        series: m.keys.len(),
        days: m.days,
        skipped: m.skipped.clone(),
        ..Default::default()
    };
    let per_key: Vec<Vec<Alert>> = m
        .keys
        .par_iter()
        .map(|km| events(&m, km, what, cfg))
        .collect();
    d.alerts = per_key.into_iter().flatten().collect();
    d.sort();
    Ok(d)
}

/// A key's mix as dense rows and its change points (segment bounds, the
/// first 0 and the last the number of days); `None` when too short.
fn mix_bounds(
    m: &MixSeries,
    km: &KeyMix,
    cfg: &AlertConfig,
) -> Option<(Vec<Vec<f64>>, Vec<usize>)> {
    let rows: Vec<Vec<f64>> = km
        .dense(m.days)
        .iter()
        .map(|r| r.iter().map(|&x| x as f64).collect())
        .collect();
    let n = rows.len();
    let observed = rows.iter().filter(|r| r.iter().any(|&x| x > 0.0)).count();
    if km.classes.len() < 2 || observed < 2 * cfg.min_segment_days {
        return None;
    }
    let cost = MultinomialCost::new(&rows);
    let penalty = cfg.shift_penalty * (observed.max(2) as f64).ln();
    let mut bounds = vec![0];
    bounds.extend(pelt(&cost, penalty, cfg.min_segment_days));
    bounds.push(n);
    Some((rows, bounds))
}

/// Each class's share of the total over days `a..b`.
fn class_shares(rows: &[Vec<f64>], classes: usize, a: usize, b: usize) -> Vec<f64> {
    let mut tot = vec![0.0; classes];
    for r in &rows[a..b] {
        for (t, x) in tot.iter_mut().zip(r) {
            *t += x;
        }
    }
    let all: f64 = tot.iter().sum();
    tot.iter()
        .map(|x| if all > 0.0 { x / all } else { 0.0 })
        .collect()
}

fn move_events(m: &MixSeries, km: &KeyMix, what: &str, cfg: &AlertConfig) -> Vec<Alert> {
    let Some((rows, bounds)) = mix_bounds(m, km, cfg) else {
        return Vec::new();
    };
    let k = km.classes.len();
    let active = |a: usize, b: usize| {
        let days = b - a;
        let on = rows[a..b]
            .iter()
            .filter(|r| r.iter().any(|&x| x > 0.0))
            .count();
        days > 0 && 2 * on > days
    };
    let near = cfg.min_segment_days.max(1);
    let mut out = Vec::new();
    for w in bounds.windows(3) {
        let (b, a) = (
            class_shares(&rows, k, w[0], w[1]),
            class_shares(&rows, k, w[1], w[2]),
        );
        // Mail on most days just before and just after the change.
        if !active(w[1].saturating_sub(near).max(w[0]), w[1])
            || !active(w[1], (w[1] + near).min(w[2]))
        {
            continue;
        }
        let best = |f: &dyn Fn(usize) -> Option<f64>| -> Option<usize> {
            (0..k)
                .filter_map(|c| f(c).map(|x| (c, x)))
                .max_by(|x, y| x.1.total_cmp(&y.1).then_with(|| y.0.cmp(&x.0)))
                .map(|x| x.0)
        };
        // Messages per day of each class on each side: a family whose
        // share falls only because another floods the campaign has not
        // stopped sending it (its own volume must fall as a drop's does).
        let rate = |c: usize, from: usize, to: usize| -> f64 {
            rows[from..to].iter().map(|r| r[c]).sum::<f64>() / (to - from).max(1) as f64
        };
        let gained = best(&|c| {
            (b[c] <= cfg.move_absent_share
                && a[c] >= cfg.move_min_share
                && rate(c, w[0], w[1]) <= cfg.drop_factor * rate(c, w[1], w[2]))
            .then_some(a[c])
        });
        let lost = best(&|c| {
            (a[c] <= cfg.move_absent_share
                && b[c] >= cfg.move_min_share
                && rate(c, w[1], w[2]) <= cfg.drop_factor * rate(c, w[0], w[1]))
            .then_some(b[c])
        });
        let (Some(to), Some(from)) = (gained, lost) else {
            continue;
        };
        let (tn, fname) = (&km.classes[to], &km.classes[from]);
        out.push(Alert {
            ts: crate::series::day_start(m.date(w[1])),
            family: km.key.clone(),
            kind: AlertKind::Move,
            level_before: b[from],
            level_after: a[to],
            evidence: format!(
                "moved from {fname} to {tn}: {fname} {} → {}, {tn} {} → {} of its messages",
                pct(b[from]),
                pct(a[from]),
                pct(b[to]),
                pct(a[to])
            ),
            series: format!("{what} by family ({fname} → {tn}): {}", km.key),
        });
    }
    out
}

/// A segment between change points.
#[derive(Clone, Copy, Debug)]
struct Seg {
    start: usize,
    end: usize,
    sum: f64,
    total: f64,
}

impl Seg {
    fn mean(&self) -> f64 {
        self.sum / (self.end - self.start) as f64
    }
    fn share(&self) -> f64 {
        if self.total > 0.0 {
            self.sum / self.total
        } else {
            0.0
        }
    }
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// An alert of a volume series, by day index.
#[derive(Debug)]
struct VolEvent {
    day: usize,
    kind: AlertKind,
    before: f64,
    after: f64,
    evidence: String,
}

impl VolEvent {
    fn into_alert(self, first_day: chrono::NaiveDate, key: &str, series: &str) -> Alert {
        let date = first_day
            .checked_add_days(chrono::Days::new(self.day as u64))
            .unwrap_or(chrono::NaiveDate::MAX);
        Alert {
            ts: crate::series::day_start(date),
            family: key.to_string(),
            kind: self.kind,
            level_before: self.before,
            level_after: self.after,
            evidence: self.evidence,
            series: series.to_string(),
        }
    }
}

fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// The events of one count series `y` (with `totals` of all series per
/// day, for shares).
fn volume_events(
    y: &[f64],
    totals: &[f64],
    first_day: chrono::NaiveDate,
    cfg: &AlertConfig,
) -> Vec<VolEvent> {
    let date = |t: usize| {
        first_day
            .checked_add_days(chrono::Days::new(t as u64))
            .unwrap_or(chrono::NaiveDate::MAX)
    };
    // A series starts on its first non-zero day: before, it was not seen.
    let Some(first) = y.iter().position(|&v| v > 0.0) else {
        return Vec::new();
    };
    let n = y.len();
    let phi = dispersion(&y[first..], cfg.max_dispersion);
    let cost = NegBinomialCost::new(&y[first..], phi);
    let penalty = cfg.penalty * ((n - first).max(2) as f64).ln();
    let mut bounds = vec![first];
    bounds.extend(
        pelt(&cost, penalty, cfg.min_segment_days)
            .into_iter()
            .map(|c| c + first),
    );
    bounds.push(n);
    let segs: Vec<Seg> = bounds
        .windows(2)
        .map(|w| Seg {
            start: w[0],
            end: w[1],
            sum: y[w[0]..w[1]].iter().sum(),
            total: totals[w[0]..w[1]].iter().sum(),
        })
        .collect();

    // The mean of the `baseline_days` before `day`, not before `from`.
    let baseline = |from: usize, day: usize| -> (f64, usize) {
        let a = day.saturating_sub(cfg.baseline_days).max(from);
        (mean(&y[a..day]), day - a)
    };
    // Steady before `day`: enough days seen, and the segment before at a
    // steady level.
    let steady = |b: &Seg, day: usize| -> bool {
        day - first >= cfg.min_baseline_days && b.mean() >= cfg.min_steady_level
    };
    let share_before = |b: &Seg, day: usize| -> f64 {
        let a = day.saturating_sub(cfg.baseline_days).max(b.start);
        let t: f64 = totals[a..day].iter().sum();
        if t > 0.0 {
            y[a..day].iter().sum::<f64>() / t
        } else {
            0.0
        }
    };
    let is_drop = |b: &Seg, a: &Seg, day: usize| -> bool {
        a.sum > 0.0
            && steady(b, day)
            && a.mean() <= cfg.drop_factor * b.mean()
            && a.share() <= cfg.drop_factor * b.share()
    };
    let is_silence = |b: &Seg, a: &Seg| -> bool {
        a.sum == 0.0 && a.len() >= cfg.silence_days && steady(b, a.start)
    };

    let mut out = Vec::new();
    // Level before the last silence or drop, while waiting for a return.
    let mut low_ref: Option<f64> = None;
    let mut i = 1;
    while i < segs.len() {
        let (b, a) = (segs[i - 1], segs[i]);
        let day = a.start;
        if is_silence(&b, &a) {
            let (before, _) = baseline(b.start, day);
            let to_end = a.end == n;
            let evidence = if to_end {
                format!(
                    "quiet since {}: nothing for {} days, to the end of the data ({} before)",
                    day_month(date(day)),
                    a.len(),
                    per_day(before)
                )
            } else {
                format!(
                    "quiet since {}: nothing for {} days ({} before)",
                    day_month(date(day)),
                    a.len(),
                    per_day(before)
                )
            };
            out.push(VolEvent {
                day,
                kind: AlertKind::Silence,
                before,
                after: 0.0,
                evidence,
            });
            low_ref = Some(before);
            i += 1;
            continue;
        }
        if is_drop(&b, &a, day) {
            let (before, _) = baseline(b.start, day);
            let sb = share_before(&b, day);
            out.push(VolEvent {
                day,
                kind: AlertKind::Drop,
                before,
                after: a.mean(),
                evidence: format!(
                    "share fell from {} to {} overnight ({} → {})",
                    pct(sb),
                    pct(a.share()),
                    per_day(before),
                    per_day(a.mean())
                ),
            });
            low_ref = Some(before);
            i += 1;
            continue;
        }
        if let Some(reference) = low_ref {
            if a.mean() >= cfg.return_fraction * reference
                && b.mean() <= cfg.drop_factor * reference
            {
                let overnight = y[day] >= 0.5 * a.mean();
                let how = if overnight {
                    "back overnight".to_string()
                } else {
                    let reach = (day..a.end)
                        .find(|&t| y[t] >= 0.5 * a.mean())
                        .unwrap_or(day);
                    format!("back within {} days", reach - day + 1)
                };
                out.push(VolEvent {
                    day,
                    kind: AlertKind::Return,
                    before: b.mean(),
                    after: a.mean(),
                    evidence: format!(
                        "{how}: {} → {} ({} of all; {} before the {})",
                        count(b.mean()),
                        per_day(a.mean()),
                        pct(a.share()),
                        per_day(reference),
                        if b.sum == 0.0 { "silence" } else { "drop" }
                    ),
                });
                low_ref = None;
                i += 1;
                continue;
            }
        }
        // A decline over several change points: the longest run of
        // falling segments within `max_decline_days`, cut before any
        // step that is a drop or a silence by itself.
        let mut j = i;
        while j + 1 < segs.len()
            && segs[j + 1].mean() < segs[j].mean()
            && segs[j + 1].start - day <= cfg.max_decline_days
            && !is_silence(&segs[j], &segs[j + 1])
            && !is_drop(&segs[j], &segs[j + 1], segs[j + 1].start)
            && segs[j + 1].sum > 0.0
        {
            j += 1;
        }
        let last = segs[j];
        if a.mean() < b.mean() && is_drop(&b, &last, day) {
            let onset = decline_onset(y, b.start, day, last.end);
            let (before, _) = baseline(b.start.min(onset), onset);
            let sb = share_before(&b, onset.max(b.start + 1));
            out.push(VolEvent {
                day: onset,
                kind: AlertKind::Drop,
                before,
                after: last.mean(),
                evidence: format!(
                    "share fell from {} to {} over {} days ({} → {})",
                    pct(sb),
                    pct(last.share()),
                    last.start.saturating_sub(onset).max(1),
                    per_day(before),
                    per_day(last.mean())
                ),
            });
            low_ref = Some(before);
            i = j + 1;
            continue;
        }
        let (lo, hi) = if a.mean() < b.mean() {
            (a.mean(), b.mean())
        } else {
            (b.mean(), a.mean())
        };
        if a.sum > 0.0
            && hi >= cfg.min_steady_level
            && hi >= cfg.changepoint_factor * lo
            && b.len() >= cfg.min_baseline_days.min(cfg.min_segment_days)
        {
            let verb = if a.mean() > b.mean() { "rose" } else { "fell" };
            out.push(VolEvent {
                day,
                kind: AlertKind::Changepoint,
                before: b.mean(),
                after: a.mean(),
                evidence: format!(
                    "level {verb} from {} to {} (share {} → {})",
                    per_day(b.mean()),
                    per_day(a.mean()),
                    pct(b.share()),
                    pct(a.share())
                ),
            });
        }
        i += 1;
    }
    out
}

/// The first day of a gradual decline whose first change point PELT put
/// at `cp` (the segment before starts at `from`; the decline runs to
/// `to`). PELT puts a step where a gradual fall has gone about half a
/// step, days after it began; the onset is the corner of the best
/// "flat, then bending down" fit — `y = α` up to the corner `t0`, then
/// `α + β·x + γ·x²` with `x = t − t0` — by least squares over the weeks
/// around `cp`. The quadratic term follows the usual convex shape of a
/// decay (steep first, then levelling off); a straight line would pull
/// the corner early. The first day of the new regime is `t0 + 1`.
fn decline_onset(y: &[f64], from: usize, cp: usize, to: usize) -> usize {
    let lo = cp.saturating_sub(21).max(from);
    let hi = (cp + 14).min(to);
    if hi <= lo + 6 {
        return cp;
    }
    let mut best = (f64::INFINITY, cp);
    let first = cp.saturating_sub(8).max(lo + 2);
    let last = cp.min(hi - 3);
    for t0 in first..=last {
        let x = |t: usize| t.saturating_sub(t0) as f64;
        // Normal equations of y = α + βx + γx².
        let mut a = [[0.0f64; 3]; 3];
        let mut b = [0.0f64; 3];
        for (t, &yt) in y.iter().enumerate().take(hi).skip(lo) {
            let v = [1.0, x(t), x(t) * x(t)];
            for r in 0..3 {
                for c in 0..3 {
                    a[r][c] += v[r] * v[c];
                }
                b[r] += v[r] * yt;
            }
        }
        let Some(coef) = solve3(a, b) else { continue };
        let sse: f64 = (lo..hi)
            .map(|t| {
                let fit = coef[0] + coef[1] * x(t) + coef[2] * x(t) * x(t);
                (y[t] - fit).powi(2)
            })
            .sum();
        if sse < best.0 {
            best = (sse, t0 + 1);
        }
    }
    best.1
}

/// Solve a 3×3 linear system by Gaussian elimination with partial
/// pivoting; `None` when it is singular.
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for c in 0..3 {
        let p = (c..3).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-9 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        for r in 0..3 {
            if r != c {
                let f = a[r][c] / a[c][c];
                let pivot = a[c];
                for (x, p) in a[r].iter_mut().zip(pivot).skip(c) {
                    *x -= f * p;
                }
                b[r] -= f * b[c];
            }
        }
    }
    Some([b[0] / a[0][0], b[1] / a[1][1], b[2] / a[2][2]])
}

/// Shift alerts of one key's activity mix.
fn mix_events(m: &MixSeries, km: &KeyMix, what: &str, cfg: &AlertConfig) -> Vec<Alert> {
    let Some((rows, bounds)) = mix_bounds(m, km, cfg) else {
        return Vec::new();
    };
    let shares = |a: usize, b: usize| class_shares(&rows, km.classes.len(), a, b);
    let mut out = Vec::new();
    for w in bounds.windows(3) {
        let (b, a) = (shares(w[0], w[1]), shares(w[1], w[2]));
        if b.iter().all(|&x| x == 0.0) || a.iter().all(|&x| x == 0.0) {
            continue;
        }
        // Classes whose share changed enough, largest change first.
        let mut changed: Vec<(usize, f64)> = (0..km.classes.len())
            .filter_map(|c| {
                let (sb, sa) = (b[c], a[c]);
                let diff = (sa - sb).abs();
                let (lo, hi) = if sa < sb { (sa, sb) } else { (sb, sa) };
                (diff >= cfg.shift_min_change && hi >= cfg.shift_factor * lo).then_some((c, diff))
            })
            .collect();
        if changed.is_empty() {
            continue;
        }
        changed.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        // A class that appears is the news even when another moves more.
        if let Some(pos) = changed.iter().position(|&(c, _)| b[c] == 0.0) {
            let c = changed.remove(pos);
            changed.insert(0, c);
        }
        let phrase = |c: usize| -> String {
            let name = &km.classes[c];
            let (sb, sa) = (b[c], a[c]);
            if sb == 0.0 {
                format!("{name} appeared: 0% → {}", pct(sa))
            } else if sa == 0.0 {
                format!("{name} stopped: {} → 0%", pct(sb))
            } else if sa > sb {
                format!("{name} rose from {} to {}", pct(sb), pct(sa))
            } else {
                format!("{name} fell from {} to {}", pct(sb), pct(sa))
            }
        };
        let main = changed[0].0;
        let mut evidence = changed
            .iter()
            .take(3)
            .map(|&(c, _)| phrase(c))
            .collect::<Vec<_>>()
            .join("; ");
        evidence.push_str(" of connections");
        out.push(Alert {
            ts: crate::series::day_start(m.date(w[1])),
            family: km.key.clone(),
            kind: AlertKind::Shift,
            level_before: b[main],
            level_after: a[main],
            evidence,
            series: format!("{what} by class ({} share): {}", km.classes[main], km.key),
        });
    }
    let onsets: Vec<Alert> = onset_events(m, km, &rows, what, cfg)
        .into_iter()
        .filter(|o| !out.iter().any(|a| (a.ts.0 - o.ts.0).abs() <= DAY_US))
        .collect();
    out.extend(onsets);
    out.sort_by_key(|a| a.ts);
    out
}

const DAY_US: i64 = 86_400_000_000;

/// A class too small to move the multinomial change points — the click
/// fraud that was 1 % of a spamming bot's connections — still makes news
/// when it **appears**: absent on at least `min_baseline_days` observed
/// days, then present on most of the next `min_segment_days` or more; or
/// when it **stops** (the mirror image). Counts alone cannot show this
/// under a big class; presence can.
fn onset_events(
    m: &MixSeries,
    km: &KeyMix,
    rows: &[Vec<f64>],
    what: &str,
    cfg: &AlertConfig,
) -> Vec<Alert> {
    // Observed days only (the sandbox did not run every day).
    let days: Vec<usize> = (0..rows.len())
        .filter(|&t| rows[t].iter().any(|&x| x > 0.0))
        .collect();
    let quiet = cfg.min_baseline_days.max(1);
    // Appearing: present on 70 % of the `window` observed days from the
    // first; stopping: present on 90 % of the `2 * window` before (a
    // sporadic class — a download now and then — has gaps that are not
    // news).
    let window = cfg.min_segment_days.saturating_mul(2).max(quiet);
    let long = window.saturating_mul(2);
    let mut out = Vec::new();
    for c in 0..km.classes.len() {
        let present: Vec<bool> = days.iter().map(|&t| rows[t][c] > 0.0).collect();
        let share = |from: usize, to: usize| -> f64 {
            let (mut x, mut all) = (0.0, 0.0);
            for &t in &days[from..to] {
                x += rows[t][c];
                all += rows[t].iter().sum::<f64>();
            }
            if all > 0.0 {
                x / all
            } else {
                0.0
            }
        };
        let mostly = |from: usize, to: usize, tenths: usize| {
            let k = present[from..to].iter().filter(|&&p| p).count();
            10 * k >= tenths * (to - from)
        };
        let mut i = quiet;
        while i.saturating_add(window) <= days.len() {
            let appears = present[i]
                && present[i - quiet..i].iter().all(|&p| !p)
                && mostly(i, i + window, 7)
                && mostly(
                    i,
                    i.saturating_add(window.saturating_mul(4)).min(days.len()),
                    6,
                );
            let stops = !present[i]
                && i.saturating_add(quiet) <= days.len()
                && present[i..i + quiet].iter().all(|&p| !p)
                && i >= long
                && present[i - 1]
                && mostly(i - long, i, 9);
            if !(appears || stops) {
                i += 1;
                continue;
            }
            let name = &km.classes[c];
            let (before, after, evidence) = if appears {
                let a = share(i, i + window);
                let k = present[i..].iter().filter(|&&p| p).count();
                (
                    0.0,
                    a,
                    format!(
                        "{name} appeared: 0% → {} of connections, seen on {k} of the {} observed days since (absent the {quiet} before)",
                        pct(a),
                        days.len() - i
                    ),
                )
            } else {
                let b = share(i - long, i);
                (
                    b,
                    0.0,
                    format!(
                        "{name} stopped: {} → 0% of connections (seen on most of the {long} observed days before, none of the {quiet} after)",
                        pct(b)
                    ),
                )
            };
            out.push(Alert {
                ts: crate::series::day_start(m.date(days[i])),
                family: km.key.clone(),
                kind: AlertKind::Shift,
                level_before: before,
                level_after: after,
                evidence,
                series: format!("{what} by class ({name} presence): {}", km.key),
            });
            i = i.saturating_add(quiet);
        }
    }
    out
}
