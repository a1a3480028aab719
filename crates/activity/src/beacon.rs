//! Beacon scoring in the spirit of RITA: how regular are the check-ins
//! of one host to one server?
//!
//! For the intervals between successive connection starts and for the
//! bytes of each connection, two scores in 0..1:
//! - skew: `1 - |Bowley skewness|` (`(q1 + q3 - 2·median) / (q3 - q1)`,
//!   0 when `q3 = q1`), high when the values are symmetric around their
//!   median, as jittered timers are;
//! - dispersion: `1 - MAD / median` (median absolute deviation, clamped
//!   at 0), high when the values are close together.
//!
//! The timing score is the mean of the two interval scores, the size
//! score the mean of the two size scores, and the beacon score the mean
//! of timing and size. Pure functions, no clock: tests feed timestamps.

/// A beacon score with the figures behind it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BeaconScore {
    /// Connections scored.
    pub connections: usize,
    /// Mean interval between connection starts, seconds.
    pub interval_mean: f64,
    /// Standard deviation of the intervals, seconds.
    pub interval_stddev: f64,
    /// Median interval, seconds.
    pub interval_median: f64,
    /// Timing score, 0..1.
    pub timing: f64,
    /// Size score, 0..1.
    pub size: f64,
    /// `(timing + size) / 2`.
    pub score: f64,
}

/// Score connections given as `(start µs, bytes)`, in any order. `None`
/// with fewer than 3 connections (fewer than 2 intervals).
pub fn score(conns: &[(i64, u64)]) -> Option<BeaconScore> {
    if conns.len() < 3 {
        return None;
    }
    let mut starts: Vec<i64> = conns.iter().map(|c| c.0).collect();
    starts.sort_unstable();
    let intervals: Vec<f64> = starts
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]) as f64 / 1e6)
        .collect();
    let sizes: Vec<f64> = conns.iter().map(|c| c.1 as f64).collect();
    let (mean, sd) = mean_sd(&intervals);
    let timing = (skew_score(&intervals) + dispersion_score(&intervals)) / 2.0;
    let size = (skew_score(&sizes) + dispersion_score(&sizes)) / 2.0;
    Some(BeaconScore {
        connections: conns.len(),
        interval_mean: mean,
        interval_stddev: sd,
        interval_median: median_sorted(&sorted(&intervals)),
        timing,
        size,
        score: (timing + size) / 2.0,
    })
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// Quantile by linear interpolation of a sorted, non-empty slice.
fn quantile(s: &[f64], q: f64) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let pos = q * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (s[lo.min(s.len() - 1)], s[hi.min(s.len() - 1)]);
    a + (b - a) * (pos - lo as f64)
}

fn median_sorted(s: &[f64]) -> f64 {
    quantile(s, 0.5)
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// `1 - |Bowley skewness|`.
fn skew_score(v: &[f64]) -> f64 {
    let s = sorted(v);
    let (q1, q2, q3) = (quantile(&s, 0.25), quantile(&s, 0.5), quantile(&s, 0.75));
    let den = q3 - q1;
    let skew = if den.abs() < f64::EPSILON {
        0.0
    } else {
        (q1 + q3 - 2.0 * q2) / den
    };
    (1.0 - skew.abs()).clamp(0.0, 1.0)
}

/// `1 - MAD / median`, clamped to 0..1.
fn dispersion_score(v: &[f64]) -> f64 {
    let s = sorted(v);
    let med = median_sorted(&s);
    if med <= 0.0 {
        return 0.0;
    }
    let dev = sorted(&s.iter().map(|x| (x - med).abs()).collect::<Vec<_>>());
    (1.0 - median_sorted(&dev) / med).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_timer_scores_high_random_low() {
        let regular: Vec<(i64, u64)> = (0..20)
            .map(|i| {
                (
                    i * 900_000_000 + ((i * 7919) % 41 - 20) * 1_000_000,
                    500 + (i as u64 % 4),
                )
            })
            .collect();
        let b = score(&regular).unwrap_or_default();
        assert!(b.score > 0.9, "{b:?}");
        assert!((b.interval_mean - 900.0).abs() < 5.0);
        // Starts that double each time, sizes all over the place.
        let bursty: Vec<(i64, u64)> = (0..12).map(|i| (1i64 << (i + 20), 1u64 << i)).collect();
        let b = score(&bursty).unwrap_or_default();
        assert!(b.score < 0.6, "{b:?}");
        assert!(score(&regular[..2]).is_none());
    }
}
