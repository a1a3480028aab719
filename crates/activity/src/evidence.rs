//! The one evidence type every detector emits, and its weight.
//!
//! A detector never decides a verdict. It says what it saw and what it
//! checked, how bad that would be ([`Threat`]) and how sure it is
//! (`confidence`, 0..1). [`crate::weigh`] adds `threat × confidence` of
//! the evidence of one host and one class over a time window (the way
//! Stratosphere Slips accumulates evidence): at or over
//! [`crate::ActivityConfig::verdict_threshold`] it is a verdict, under it
//! a lead, printed apart.

use std::net::IpAddr;

use botscope_event::Ts;

use crate::Class;

/// How bad the activity would be if the evidence is right (Slips'
/// threat levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Threat {
    /// Worth knowing, never a verdict on its own (0).
    Info,
    /// 0.2.
    Low,
    /// 0.5.
    Medium,
    /// 0.8.
    High,
    /// 1.0.
    Critical,
}

impl Threat {
    /// The factor of this level in the weight.
    pub fn value(self) -> f64 {
        match self {
            Threat::Info => 0.0,
            Threat::Low => 0.2,
            Threat::Medium => 0.5,
            Threat::High => 0.8,
            Threat::Critical => 1.0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Threat::Info => "info",
            Threat::Low => "low",
            Threat::Medium => "medium",
            Threat::High => "high",
            Threat::Critical => "critical",
        }
    }
}

/// One piece of evidence about one host.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    /// The host the evidence is about (the infected one: the originator
    /// of the connections, or the target of an inbound attack).
    pub host: IpAddr,
    pub class: Class,
    /// When it was seen (the first connection it rests on).
    pub ts: Ts,
    pub threat: Threat,
    /// How sure the detector is, 0..1.
    pub confidence: f64,
    /// Addresses, host names, URLs, hashes it names (capped).
    pub indicators: Vec<String>,
    /// One sentence: what was seen and what was checked.
    pub text: String,
    /// The connections it rests on (indices into the analysis' own list).
    pub(crate) conns: Vec<usize>,
}

/// Indicators kept per evidence item.
pub const MAX_INDICATORS: usize = 16;

impl Evidence {
    pub(crate) fn new(host: IpAddr, class: Class, ts: Ts, threat: Threat, confidence: f64) -> Self {
        Evidence {
            host,
            class,
            ts,
            threat,
            confidence: if confidence.is_finite() {
                confidence.clamp(0.0, 1.0)
            } else {
                0.0
            },
            indicators: Vec::new(),
            text: String::new(),
            conns: Vec::new(),
        }
    }

    pub(crate) fn text(mut self, t: impl Into<String>) -> Self {
        self.text = t.into();
        self
    }

    pub(crate) fn conns(mut self, c: impl IntoIterator<Item = usize>) -> Self {
        self.conns.extend(c);
        self
    }

    /// Add an indicator (an address, a host name, a URL, a hash), once.
    pub(crate) fn ind(mut self, v: impl Into<String>) -> Self {
        let v = v.into();
        if !v.is_empty()
            && v != "-"
            && self.indicators.len() < MAX_INDICATORS
            && !self.indicators.contains(&v)
        {
            self.indicators.push(v);
        }
        self
    }

    /// Add several indicators, each once.
    pub(crate) fn inds(self, v: impl IntoIterator<Item = String>) -> Self {
        v.into_iter().fold(self, Self::ind)
    }

    /// `threat × confidence`.
    pub fn weight(&self) -> f64 {
        self.threat.value() * self.confidence
    }
}
