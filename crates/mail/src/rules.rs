//! Hand-written family rules (YAML) that add to or override the model.
//!
//! ```yaml
//! rules:
//!   - name: newbot-mid            # shown nowhere but in errors; for you
//!     family: newbot
//!     confidence: 0.9             # default 1.0
//!     mode: override              # override (default): wins over the model
//!                                 # fill: only when the model says unknown
//!     all:                        # every condition must hold
//!       - feature: mid            # a fingerprint kind (mid, date, tz, mailer, ua,
//!         equals: "<x12$x8@a>"    # from, to, ct, mime, bnd, cs, cte, helo, greet,
//!                                 # cmds, pipe, hseq, h, lag, date_bogus)
//!       - header: X-Mailer        # a sender header (trap headers excluded)
//!         contains: "Outlook Express 6.00.2900.2180"   # case-insensitive
//! ```
//! Rules are tried in file order; the first that matches wins.

use serde::Deserialize;

use crate::analyze::Features;
use crate::error::{Error, ErrorKind};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: Vec<Rule>,
}

/// How a rule combines with the model.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Override,
    Fill,
}

/// One condition.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cond {
    pub feature: Option<String>,
    pub header: Option<String>,
    pub equals: Option<String>,
    pub contains: Option<String>,
}

/// One rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub family: String,
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub mode: Mode,
    pub all: Vec<Cond>,
}

/// A set of rules.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Cond {
    fn test(&self, value: &str) -> bool {
        let eq = self.equals.as_ref().is_none_or(|e| e == value);
        let has = self
            .contains
            .as_ref()
            .is_none_or(|c| value.to_ascii_lowercase().contains(&c.to_ascii_lowercase()));
        eq && has
    }

    fn holds(&self, f: &Features) -> bool {
        if let Some(kind) = &self.feature {
            let prefix = format!("{kind}=");
            return f
                .tokens
                .iter()
                .filter_map(|t| t.strip_prefix(&prefix))
                .any(|v| self.test(v));
        }
        if let Some(name) = &self.header {
            return f
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .any(|(_, v)| self.test(v));
        }
        false
    }
}

impl Rules {
    /// Parse a rules file.
    pub fn from_yaml(text: &str) -> Result<Rules, Error> {
        let f: RulesFile = serde_yaml::from_str(text)
            .map_err(|e| Error::new(ErrorKind::Config(format!("rules: {e}"))))?;
        for r in &f.rules {
            if r.all.is_empty() {
                return Err(Error::new(ErrorKind::Config(format!(
                    "rules: rule {} has no conditions",
                    r.name
                ))));
            }
            for c in &r.all {
                if c.feature.is_some() == c.header.is_some() {
                    return Err(Error::new(ErrorKind::Config(format!(
                        "rules: rule {}: each condition needs exactly one of feature, header",
                        r.name
                    ))));
                }
                if c.equals.is_none() && c.contains.is_none() {
                    return Err(Error::new(ErrorKind::Config(format!(
                        "rules: rule {}: a condition needs equals or contains",
                        r.name
                    ))));
                }
            }
        }
        Ok(Rules { rules: f.rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether a condition reads a header's value (`header:`), so that
    /// every header's value must be read for [`Rules::apply`].
    pub fn reads_headers(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.all.iter().any(|c| c.header.is_some()))
    }

    /// The first matching rule: (family, confidence, overrides the model).
    pub fn apply(&self, f: &Features) -> Option<(String, f64, bool)> {
        self.rules
            .iter()
            .find(|r| r.all.iter().all(|c| c.holds(f)))
            .map(|r| {
                (
                    r.family.to_ascii_lowercase(),
                    r.confidence.unwrap_or(1.0).clamp(0.0, 1.0),
                    r.mode == Mode::Override,
                )
            })
    }
}
