//! Timelines and alerts: daily series per family, shares, change points
//! and the labs' dated, plain-language events.
//!
//! The input is plain counts — the store (or a test) counts, this crate
//! only reads rows:
//! - [`CountRow`]: `count` messages of `key` (a family, or a campaign…)
//!   in a bucket, summed per UTC day into a [`DailySeries`];
//! - [`MixRow`]: `count` connections of activity `class` (spam, c2,
//!   click_fraud…) by a family in a bucket, summed per day into a
//!   [`MixSeries`].
//!
//! [`detect`] (or [`volume_alerts`] and [`shift_alerts`] on their own)
//! returns [`Alert`]s, each with `ts` (the day, UTC midnight), `family`,
//! `kind`, `level_before`, `level_after`, `evidence` and `series`, the
//! columns of the store's `alert` table.
//!
//! # The alerts
//! Every alert sits on a change point of the series (see [`pelt`] for
//! the method: PELT with a negative-binomial cost on volumes, a
//! multinomial cost on mixes). The rules, with thresholds from
//! [`AlertConfig`]:
//! - **silence**: the segment after a change point has no message at
//!   all for at least `silence_days`, and the segment before was steady
//!   (`min_steady_level` a day, seen for `min_baseline_days`):
//!   "quiet since 28 Dec: nothing for 35 days …".
//! - **drop**: the family's volume *and* its share of all volume fall to
//!   at most `drop_factor` of the level before — overnight (one change
//!   point) or as a decline spread over several change points within
//!   `max_decline_days`, dated where the decline began: "share fell from
//!   41.2% to 0.1% overnight (330/day → 0.7/day)".
//! - **return**: after a silence or a drop, volume back to at least
//!   `return_fraction` of the level before it: "back overnight: 0 →
//!   376/day …".
//! - **shift**: a change point of the activity mix where a class's
//!   share changes by at least `shift_min_change` and by a factor of
//!   `shift_factor` (appearing from nothing and vanishing included):
//!   "click_fraud appeared: 0% → 1.4% of connections".
//! - **changepoint**: any other change point where the level changes by
//!   `changepoint_factor` or more.
//!
//! Same input, same alerts: nothing here reads a clock or a random
//! source. No input panics: the series are bounded by the caps in
//! [`AlertConfig`] and what they leave out is counted in [`Skipped`].

mod config;
mod detect;
mod error;
pub mod fmt;
pub mod pelt;
mod series;

pub use config::AlertConfig;
pub use detect::{detect, move_alerts, shift_alerts, volume_alerts, Alert, AlertKind, Detection};
pub use error::{Error, ErrorKind};
pub use series::{
    date_of, day_number, day_start, ts_micros, CountRow, DailySeries, KeyMix, MixRow, MixSeries,
    Skipped, DAY_US,
};
