//! The botscope world simulator: a labelled botnet winter.
//!
//! A scenario (data, not code) describes botnet families, campaigns,
//! daily volume curves, behaviours per period and dated events. The
//! simulator turns it — deterministically for a given seed — into
//! spam-trap mail (`mail/YYYY-MM-DD.mbox`), sandbox captures
//! (`pcap/FAMILY/YYYY-MM-DD.pcap`) and ground truth (`truth/*.csv`).
//!
//! This crate is only ever used to make test worlds: no analysis code
//! depends on it.

pub mod net;
pub mod plan;
