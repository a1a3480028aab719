//! Numbers and dates for evidence text.

use chrono::NaiveDate;

/// A count with thousands separators: `41,230`; below 10 with one
/// decimal (`0.7`), so a near-silence does not read as `1`.
pub fn count(x: f64) -> String {
    if !x.is_finite() {
        return "?".into();
    }
    if x.abs() < 10.0 && x.fract() != 0.0 {
        return format!("{x:.1}");
    }
    let v = x.round() as i128;
    let digits = v.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if v < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `41,230/day`.
pub fn per_day(x: f64) -> String {
    format!("{}/day", count(x))
}

/// A share as a percentage: `12.1%`; small shares keep two significant
/// digits (`0.04%`).
pub fn pct(share: f64) -> String {
    let p = share * 100.0;
    if !p.is_finite() {
        "?".into()
    } else if p == 0.0 {
        "0%".into()
    } else if p.abs() < 0.1 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// `28 Dec`.
pub fn day_month(d: NaiveDate) -> String {
    d.format("%-d %b").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_a_report() {
        assert_eq!(count(41230.0), "41,230");
        assert_eq!(count(1234567.4), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(0.66), "0.7");
        assert_eq!(count(0.0), "0");
        assert_eq!(count(f64::NAN), "?");
        assert_eq!(per_day(104.2), "104/day");
        assert_eq!(pct(0.121), "12.1%");
        assert_eq!(pct(0.0004), "0.04%");
        assert_eq!(pct(0.0), "0%");
        assert_eq!(
            day_month(NaiveDate::from_ymd_opt(2010, 12, 28).unwrap()),
            "28 Dec"
        );
    }
}
