//! The `#open`/`#close` stamps: `YYYY-MM-DD-HH-MM-SS`, UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Render `t` as Zeek renders `#open`/`#close` (`%Y-%m-%d-%H-%M-%S`).
///
/// Zeek uses local time; botscope uses UTC so that output does not
/// depend on the machine (Zeek's own tests run with `TZ=UTC`). Times
/// before 1970 render as the epoch.
pub fn zeek_time_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}-{:02}-{:02}-{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`, for non-negative counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        zeek_time_stamp(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn stamps_match_gnu_date() {
        // Expected values from `date -u -d @N +%Y-%m-%d-%H-%M-%S`.
        assert_eq!(at(0), "1970-01-01-00-00-00");
        assert_eq!(at(1_258_535_653), "2009-11-18-09-14-13");
        assert_eq!(at(951_782_400), "2000-02-29-00-00-00");
        assert_eq!(at(4_102_444_799), "2099-12-31-23-59-59");
    }

    #[test]
    fn before_epoch_is_epoch() {
        let t = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(zeek_time_stamp(t), "1970-01-01-00-00-00");
    }
}
