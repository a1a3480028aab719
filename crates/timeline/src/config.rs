//! Every threshold of the alerts, with its default, in one struct.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// Thresholds of the change points and alerts. The doc comment of each
/// field is its user documentation; every field has a default, so a TOML
/// file need only name what it changes:
///
/// ```toml
/// silence_days = 4
/// drop_factor = 0.3
/// mix_ignore = ["benign", "dns", "scan"]
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Penalty per change point of a volume series, in units of
    /// `ln(days)` (3 is three times the BIC penalty: only changes that
    /// are clear against the series' own day-to-day spread).
    pub penalty: f64,
    /// Shortest segment between change points, in days: shorter blips
    /// (a one-day trap outage) are no change.
    pub min_segment_days: usize,
    /// **silence**: days in a row with nothing from a family before it
    /// counts as quiet.
    pub silence_days: usize,
    /// Smallest mean daily volume of a family for it to count as
    /// "steady" before a silence or a drop (messages per day).
    pub min_steady_level: f64,
    /// Days of steady volume a silence or a drop needs before it.
    pub min_baseline_days: usize,
    /// Days before an event whose mean is reported as `level_before`.
    pub baseline_days: usize,
    /// **drop**: the family's volume *and* its share of all volume fall
    /// to at most this fraction of what they were (0.4: fell by 60% or
    /// more). Both must fall: when the whole trap drops, shares hold and
    /// no family is blamed; when others grow, a steady family's share
    /// falls but its volume does not.
    pub drop_factor: f64,
    /// A decline spread over several change points (an affiliate program
    /// closing, campaigns dying out) counts as one drop when it happens
    /// within this many days.
    pub max_decline_days: usize,
    /// **return**: after a silence or a drop, volume back to at least
    /// this fraction of the level before it.
    pub return_fraction: f64,
    /// **changepoint**: any other change point where the level changes by
    /// at least this factor (up or down).
    pub changepoint_factor: f64,
    /// Penalty per change point of an activity mix, in units of
    /// `ln(days)` (the mix uses a multinomial cost).
    pub shift_penalty: f64,
    /// **shift**: smallest change of a class's share of the mix
    /// (0.005 = half a percentage point)…
    pub shift_min_change: f64,
    /// …and smallest factor of that change (3: tripled, or fell to a
    /// third, or appeared from nothing, or vanished).
    pub shift_factor: f64,
    /// Activity classes left out of the mix (background that every host
    /// has).
    pub mix_ignore: Vec<String>,
    /// **move** (a campaign's or brand's mail changing botnet): at a
    /// change point of its mix of sending families, one family that sent
    /// at least this share of it stops (to at most `move_absent_share`)
    /// while another that sent at most `move_absent_share` takes at least
    /// this share, with mail on most days on both sides (a campaign that
    /// pauses and restarts elsewhere is no overnight move). The family that
    /// stops must also send at most `drop_factor` of its messages per day
    /// before (its share falling because another floods the campaign is
    /// no move), and the one that starts at least `1 / drop_factor` times.
    pub move_min_share: f64,
    /// See `move_min_share`: the share below which a family counts as not
    /// sending (attribution errors leave a few percent everywhere).
    pub move_absent_share: f64,
    /// Most series (families, campaigns…) analysed, the largest kept;
    /// the rest are counted as skipped. Memory follows the rows plus one
    /// series at a time; time is about keys × days (PELT prunes; its
    /// worst case is keys × days²).
    pub max_keys: usize,
    /// Most days in a series (ten years); older rows are skipped.
    pub max_days: usize,
    /// Most activity classes per family; the rest are skipped.
    pub max_classes: usize,
    /// Largest dispersion `φ` (variance `μ + φμ²`) the volume cost may use.
    pub max_dispersion: f64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            penalty: 3.0,
            min_segment_days: 3,
            silence_days: 3,
            min_steady_level: 5.0,
            min_baseline_days: 7,
            baseline_days: 14,
            drop_factor: 0.4,
            max_decline_days: 90,
            return_fraction: 0.25,
            changepoint_factor: 2.0,
            shift_penalty: 10.0,
            shift_min_change: 0.005,
            shift_factor: 3.0,
            mix_ignore: vec!["benign".into(), "dns".into()],
            move_min_share: 0.25,
            move_absent_share: 0.05,
            max_keys: 1_000,
            max_days: 3_660,
            max_classes: 64,
            max_dispersion: 10.0,
        }
    }
}

impl AlertConfig {
    /// Parse from TOML (unknown fields are errors) and check the values.
    pub fn from_toml(text: &str) -> Result<AlertConfig, Error> {
        let cfg: AlertConfig =
            toml::from_str(text).map_err(|e| ErrorKind::ConfigParse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Check every value; the error names the field.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &'static str, msg: &str| -> Result<(), Error> {
            Err(ErrorKind::Config {
                field,
                message: msg.to_string(),
            }
            .into())
        };
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !pos(self.penalty) {
            return bad("penalty", "must be a positive number");
        }
        if !(self.move_absent_share >= 0.0
            && self.move_absent_share < self.move_min_share
            && self.move_min_share <= 1.0)
        {
            return bad(
                "move_min_share",
                "needs 0 <= move_absent_share < move_min_share <= 1",
            );
        }
        if !pos(self.shift_penalty) {
            return bad("shift_penalty", "must be a positive number");
        }
        if self.min_segment_days == 0 {
            return bad("min_segment_days", "must be at least 1");
        }
        if self.silence_days == 0 {
            return bad("silence_days", "must be at least 1");
        }
        if !(self.min_steady_level.is_finite() && self.min_steady_level >= 0.0) {
            return bad("min_steady_level", "must be a number ≥ 0");
        }
        if self.min_baseline_days == 0 || self.baseline_days == 0 {
            return bad("baseline_days", "baseline days must be at least 1");
        }
        if !(self.drop_factor > 0.0 && self.drop_factor < 1.0) {
            return bad("drop_factor", "must be in (0, 1)");
        }
        if !(self.return_fraction > 0.0 && self.return_fraction <= 1.0) {
            return bad("return_fraction", "must be in (0, 1]");
        }
        if !(self.changepoint_factor.is_finite() && self.changepoint_factor > 1.0) {
            return bad("changepoint_factor", "must be greater than 1");
        }
        if !(self.shift_min_change > 0.0 && self.shift_min_change < 1.0) {
            return bad("shift_min_change", "must be in (0, 1)");
        }
        if !(self.shift_factor.is_finite() && self.shift_factor > 1.0) {
            return bad("shift_factor", "must be greater than 1");
        }
        if !(self.max_dispersion.is_finite() && self.max_dispersion >= 0.0) {
            return bad("max_dispersion", "must be a number ≥ 0");
        }
        if self.max_keys == 0 || self.max_days == 0 || self.max_classes == 0 {
            return bad("max_keys", "caps must be at least 1");
        }
        Ok(())
    }
}
