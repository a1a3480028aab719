//! Change points in count series: PELT with a negative-binomial cost,
//! and with a multinomial cost for activity mixes.
//!
//! # Why PELT with a negative-binomial cost
//!
//! A family's daily trap volume is a count, and it is *overdispersed*: a
//! botnet's output varies from day to day far more than a Poisson
//! process of the same mean would (bots come and go, templates rotate,
//! the trap's share of the Internet's mail wobbles). In the simulated
//! winter a family of 400 messages a day has a day-to-day spread about
//! twice the Poisson one; in real trap data it is larger still.
//!
//! - A **Poisson** cost (and the `changepoint` crate's Bayesian online
//!   Poisson–Gamma model, which has the same Poisson likelihood per
//!   observation) treats that spread as signal and cuts a steady series
//!   into many segments; raising the penalty to hide them also hides
//!   the small families' real changes, because the Poisson evidence of a
//!   change grows with the level.
//! - A **negative-binomial** cost with the variance `μ + φμ²` keeps
//!   Poisson behaviour at low counts (a family sending 3 messages a day)
//!   and a constant *relative* spread at high counts, which is how bot
//!   volume behaves. `φ` is estimated once per series from its
//!   day-to-day differences with a median (see [`dispersion`]), so the
//!   few days that straddle a real change do not inflate it.
//! - **PELT** (Killick, Fearnhead & Eckley 2012) finds the exact
//!   minimum of "cost of the segments + penalty × number of change
//!   points" in about linear time. The alerts are retrospective (the
//!   whole winter is on disk), so an exact offline segmentation with
//!   exact dates is what we want; an online method's detection delay and
//!   run-length posterior would add nothing but a hazard rate to tune.
//!   It is deterministic: same input, same change points.
//!
//! With the mean of a segment at its maximum-likelihood value (the
//! sample mean) and `φ` fixed, the negative log-likelihood of a segment
//! depends only on its length and its sum, up to terms that are the
//! same for every segmentation, so every segment cost is O(1) from
//! prefix sums.

/// A segment cost: the negative log-likelihood of `data[start..end]`
/// under its own best parameters (constants shared by all segmentations
/// left out).
pub trait SegmentCost {
    /// Number of observations.
    fn len(&self) -> usize;
    /// No observations.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Cost of the half-open segment `start..end` (`start < end`).
    fn cost(&self, start: usize, end: usize) -> f64;
}

/// The optimal segmentation under `cost` with `penalty` per change point
/// and segments at least `min_seg` long: the start index of every
/// segment but the first, ascending.
pub fn pelt(cost: &impl SegmentCost, penalty: f64, min_seg: usize) -> Vec<usize> {
    let n = cost.len();
    let min_seg = min_seg.max(1);
    if n < 2 * min_seg {
        return Vec::new();
    }
    // best[t]: optimal cost of data[..t]; last[t]: start of its last segment.
    let mut best = vec![f64::INFINITY; n + 1];
    let mut last = vec![0usize; n + 1];
    best[0] = -penalty;
    let mut candidates: Vec<usize> = Vec::new();
    for t in min_seg..=n {
        // The newest admissible start of a last segment ending at t.
        let s_new = t - min_seg;
        if best[s_new].is_finite() {
            candidates.push(s_new);
        }
        let mut f_t = f64::INFINITY;
        let mut arg = 0;
        let mut vals = Vec::with_capacity(candidates.len());
        for &s in &candidates {
            let v = best[s] + cost.cost(s, t) + penalty;
            vals.push(v);
            // Ties go to the earliest start: fewer, longer segments.
            if v < f_t {
                f_t = v;
                arg = s;
            }
        }
        best[t] = f_t;
        last[t] = arg;
        // Pruning (K = 0 holds for likelihood costs): a start that cannot
        // beat the optimum now, even without a penalty, never will.
        let mut keep = Vec::with_capacity(candidates.len());
        for (i, &s) in candidates.iter().enumerate() {
            if vals[i] - penalty <= f_t {
                keep.push(s);
            }
        }
        candidates = keep;
    }
    let mut cps = Vec::new();
    let mut t = n;
    while t > 0 {
        let s = last[t];
        if s > 0 {
            cps.push(s);
        }
        t = s;
    }
    cps.reverse();
    cps
}

/// Negative-binomial cost of a count series with dispersion `phi`
/// (variance `μ + φμ²`; `phi = 0` is Poisson).
pub struct NegBinomialCost {
    prefix: Vec<f64>,
    phi: f64,
}

impl NegBinomialCost {
    pub fn new(counts: &[f64], phi: f64) -> NegBinomialCost {
        let mut prefix = Vec::with_capacity(counts.len() + 1);
        prefix.push(0.0);
        let mut acc = 0.0;
        for &c in counts {
            acc += c.max(0.0);
            prefix.push(acc);
        }
        NegBinomialCost {
            prefix,
            phi: if phi.is_finite() { phi.max(0.0) } else { 0.0 },
        }
    }
}

impl SegmentCost for NegBinomialCost {
    fn len(&self) -> usize {
        self.prefix.len() - 1
    }

    fn cost(&self, start: usize, end: usize) -> f64 {
        let s = self.prefix[end] - self.prefix[start];
        let n = (end - start) as f64;
        if s <= 0.0 || n <= 0.0 {
            return 0.0;
        }
        let mu = s / n;
        if self.phi < 1e-9 {
            // Poisson: -(S ln μ - nμ), without the ln(y!) terms.
            return s - s * mu.ln();
        }
        let r = 1.0 / self.phi;
        // -(n r ln(r/(r+μ)) + S ln(μ/(r+μ))), without the terms in y alone.
        -(n * r * (r / (r + mu)).ln() + s * (mu / (r + mu)).ln())
    }
}

/// Multinomial cost of a sequence of class-count vectors (the activity
/// mix of a family day by day): `-Σ_c X_c ln(X_c / N)` over a segment's
/// class totals `X_c` and their sum `N`. Days with no observation add
/// nothing.
pub struct MultinomialCost {
    /// `prefix[c][t]`: count of class `c` on days `..t`.
    prefix: Vec<Vec<f64>>,
    len: usize,
}

impl MultinomialCost {
    /// `rows[t][c]`: count of class `c` on day `t`; every row as long as
    /// the first.
    pub fn new(rows: &[Vec<f64>]) -> MultinomialCost {
        let k = rows.first().map_or(0, Vec::len);
        let mut prefix = vec![Vec::with_capacity(rows.len() + 1); k];
        for p in &mut prefix {
            p.push(0.0);
        }
        for row in rows {
            for (c, p) in prefix.iter_mut().enumerate() {
                let last = *p.last().unwrap_or(&0.0);
                p.push(last + row.get(c).copied().unwrap_or(0.0).max(0.0));
            }
        }
        MultinomialCost {
            prefix,
            len: rows.len(),
        }
    }
}

impl SegmentCost for MultinomialCost {
    fn len(&self) -> usize {
        self.len
    }

    fn cost(&self, start: usize, end: usize) -> f64 {
        let mut total = 0.0;
        let mut sum_xlogx = 0.0;
        for p in &self.prefix {
            let x = p[end] - p[start];
            if x > 0.0 {
                total += x;
                sum_xlogx += x * x.ln();
            }
        }
        if total <= 0.0 {
            return 0.0;
        }
        -(sum_xlogx - total * total.ln())
    }
}

/// The median of a χ² variable with one degree of freedom.
const CHI2_1_MEDIAN: f64 = 0.454_936_423_119_572_8;

/// Dispersion `φ ≥ 0` of a count series (variance `μ + φμ²`), from its
/// day-to-day differences: for neighbours `a`, `b` with mean `m`,
/// `(a − b)² / 2(m + φm²)` is about χ²(1) when both days share a level,
/// so `φ` is the value that puts the median of those ratios at the
/// χ²(1) median. A median, because the few pairs that straddle a real
/// change are outliers; `0` (Poisson) when the series is no more spread
/// than Poisson; at most `max_phi`.
pub fn dispersion(counts: &[f64], max_phi: f64) -> f64 {
    let pairs: Vec<(f64, f64)> = counts
        .windows(2)
        .filter_map(|w| {
            let m = (w[0] + w[1]) / 2.0;
            (m > 0.0).then(|| ((w[0] - w[1]).powi(2), m))
        })
        .collect();
    if pairs.len() < 3 {
        return 0.0;
    }
    let median_ratio = |phi: f64| {
        let mut r: Vec<f64> = pairs
            .iter()
            .map(|&(d2, m)| d2 / (2.0 * (m + phi * m * m)))
            .collect();
        r.sort_by(f64::total_cmp);
        let mid = r.len() / 2;
        if r.len() % 2 == 1 {
            r[mid]
        } else {
            (r[mid - 1] + r[mid]) / 2.0
        }
    };
    if median_ratio(0.0) <= CHI2_1_MEDIAN {
        return 0.0;
    }
    if median_ratio(max_phi) > CHI2_1_MEDIAN {
        return max_phi;
    }
    let (mut lo, mut hi) = (0.0, max_phi);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if median_ratio(mid) > CHI2_1_MEDIAN {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force optimal partitioning (O(n²) without pruning).
    fn optimal(cost: &impl SegmentCost, penalty: f64, min_seg: usize) -> f64 {
        let n = cost.len();
        let mut best = vec![f64::INFINITY; n + 1];
        best[0] = -penalty;
        for t in min_seg..=n {
            for s in 0..=t - min_seg {
                if best[s].is_finite() {
                    best[t] = best[t].min(best[s] + cost.cost(s, t) + penalty);
                }
            }
        }
        best[n]
    }

    fn total(cost: &impl SegmentCost, cps: &[usize], penalty: f64) -> f64 {
        let mut bounds = vec![0];
        bounds.extend_from_slice(cps);
        bounds.push(cost.len());
        bounds
            .windows(2)
            .map(|w| cost.cost(w[0], w[1]) + penalty)
            .sum::<f64>()
            - penalty
    }

    /// A small deterministic generator for test series.
    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn finds_steps_at_their_dates() {
        let mut seed = 7;
        let mut y = Vec::new();
        for (len, level) in [(40, 100.0), (20, 5.0), (30, 300.0)] {
            for _ in 0..len {
                y.push((level * (0.9 + 0.2 * lcg(&mut seed))).round());
            }
        }
        let phi = dispersion(&y, 10.0);
        let c = NegBinomialCost::new(&y, phi);
        let cps = pelt(&c, 3.0 * (y.len() as f64).ln(), 3);
        assert_eq!(cps, vec![40, 60]);
    }

    #[test]
    fn steady_overdispersed_series_has_no_change_point() {
        let mut seed = 3;
        // ±40% day to day, as real trap volumes wobble.
        let y: Vec<f64> = (0..150)
            .map(|_| (400.0 * (0.6 + 0.8 * lcg(&mut seed))).round())
            .collect();
        let phi = dispersion(&y, 10.0);
        assert!(phi > 0.001, "φ {phi}");
        let nb = pelt(
            &NegBinomialCost::new(&y, phi),
            3.0 * (y.len() as f64).ln(),
            3,
        );
        assert!(nb.is_empty(), "{nb:?}");
        // A Poisson cost cuts the same series to pieces.
        let pois = pelt(&NegBinomialCost::new(&y, 0.0), 3.0 * 150f64.ln(), 3);
        assert!(pois.len() > 3, "{pois:?}");
    }

    #[test]
    fn pruned_search_matches_brute_force() {
        let mut seed = 11;
        for case in 0..20 {
            let n = 20 + case * 3;
            let y: Vec<f64> = (0..n)
                .map(|i| {
                    let level = if (i / 7) % 2 == 0 { 20.0 } else { 45.0 };
                    (level * (0.7 + 0.6 * lcg(&mut seed))).round()
                })
                .collect();
            for phi in [0.0, 0.05] {
                let c = NegBinomialCost::new(&y, phi);
                for min_seg in [1, 3] {
                    let pen = 2.0 * (n as f64).ln();
                    let cps = pelt(&c, pen, min_seg);
                    let got = total(&c, &cps, pen);
                    let want = optimal(&c, pen, min_seg);
                    assert!((got - want).abs() < 1e-6, "case {case}: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn multinomial_finds_a_new_class() {
        // 30 days of spam and c2 only, then 1.5% click fraud appears.
        let mut rows = Vec::new();
        for t in 0..60 {
            let clicks = if t >= 30 { 3.0 } else { 0.0 };
            rows.push(vec![120.0 + (t % 5) as f64, 96.0, clicks]);
        }
        let c = MultinomialCost::new(&rows);
        let cps = pelt(&c, 10.0 * 60f64.ln(), 3);
        assert_eq!(cps, vec![30]);
    }

    #[test]
    fn dispersion_of_poisson_like_series_is_small() {
        let y: Vec<f64> = (0..100)
            .map(|i| 50.0 + ((i * 7) % 15) as f64 - 7.0)
            .collect();
        assert!(dispersion(&y, 10.0) < 0.01);
        assert_eq!(dispersion(&[0.0; 30], 10.0), 0.0);
        assert_eq!(dispersion(&[], 10.0), 0.0);
    }
}
