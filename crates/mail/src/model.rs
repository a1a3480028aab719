//! The learned family model.
//!
//! Learning counts, per family, in how many of its sandbox messages each
//! fingerprint token occurs (see [`crate::Features::tokens`]). Attribution
//! is naive Bayes over the tokens a message has: the score of family `f`
//! is `ln P(f) + Σ ln((count(f,t) + ½) / (messages(f) + 1))` over the
//! message's tokens known to the model. The winner must also *match*: the
//! share of the message's tokens that the winner has ever emitted must be
//! at least `min_match` (default 0.6; absent features such as
//! `date=none` are left out of the share), otherwise the message is `unknown`
//! — a botnet the model never saw shares little of any learned
//! fingerprint, so it shows up as unattributed rather than as a wrong
//! name. `family_confidence` is the posterior times the match share.
//!
//! **The SMTP dialect comes first.** When a message carries its session's
//! dialect (`greet`, `case`, `cmds`, `pipe`: see [`DIALECT_KINDS`]; a
//! session's commands are known, not only the EHLO/HELO a trap's
//! `Received:` header tells), only
//! the families whose sandbox sessions showed every one of those tokens
//! (in at least 1 % of their messages) compete: a bot's SMTP code is what
//! its herder cannot cheaply change, while a template changes overnight
//! or is shared by several botnets renting themselves to one affiliate
//! program (B@bel, Stringhini et al., 2012). The dialect then weighs as
//! much as all other tokens together in the match share (so a family's
//! new template needs only a fifth of its other tokens seen before to
//! keep its name). If no family spoke that dialect, all compete and the
//! match share decides as before.
//!
//! The model is plain JSON (`serde`), written by `botscope learn`.

use std::collections::BTreeMap;
use std::path::Path;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// Format name written in every model file.
pub const MODEL_FORMAT: &str = "botscope-mail-model";

/// What was learned about one family.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FamilyModel {
    /// Messages learned from.
    pub messages: u64,
    /// Messages that had each token.
    pub tokens: BTreeMap<String, u64>,
}

/// A family model: learned fingerprints of each family.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub version: u32,
    /// Least share of a message's tokens the best family must have seen.
    pub min_match: f64,
    pub families: BTreeMap<String, FamilyModel>,
    #[serde(skip)]
    compiled: Option<Compiled>,
}

/// Token kinds that describe the SMTP dialect (see the module docs).
pub const DIALECT_KINDS: &[&str] = &["greet", "case", "cmds", "pipe"];

/// Least share of a family's messages that must show a dialect token for
/// the family to pass the dialect gate.
const DIALECT_MIN_SHARE: f64 = 0.01;

fn is_dialect(token: &str) -> bool {
    token
        .split_once('=')
        .is_some_and(|(k, _)| DIALECT_KINDS.contains(&k))
}

#[derive(Clone, Debug)]
struct Compiled {
    names: Vec<String>,
    prior: Vec<f64>,
    /// Per family: the log-probability of a token it never emitted.
    unseen: Vec<f64>,
    /// Token → per family (log-probability, emitted at all, share of the
    /// family's messages with it).
    tokens: FxHashMap<String, Vec<(f64, bool, f64)>>,
    /// Per family: it was learned from sessions (has dialect tokens).
    has_dialect: Vec<bool>,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            format: MODEL_FORMAT.to_string(),
            version: 1,
            min_match: 0.6,
            families: BTreeMap::new(),
            compiled: None,
        }
    }
}

impl Model {
    /// Count one message of `family` (family names are lower-cased).
    pub fn learn(&mut self, family: &str, tokens: &[String]) {
        let fam = self
            .families
            .entry(family.to_ascii_lowercase())
            .or_default();
        fam.messages += 1;
        let mut uniq: Vec<&String> = tokens.iter().collect();
        uniq.sort_unstable();
        uniq.dedup();
        for t in uniq {
            *fam.tokens.entry(t.clone()).or_default() += 1;
        }
        self.compiled = None;
    }

    /// Build the lookup tables (done by [`crate::MailAnalyzer::new`]).
    pub fn compile(&mut self) {
        let total: u64 = self.families.values().map(|f| f.messages).sum();
        let names: Vec<String> = self.families.keys().cloned().collect();
        let n = names.len();
        let mut prior = Vec::with_capacity(n);
        let mut unseen = Vec::with_capacity(n);
        let mut tokens: FxHashMap<String, Vec<(f64, bool, f64)>> = FxHashMap::default();
        let mut has_dialect = Vec::with_capacity(n);
        for (i, fam) in self.families.values().enumerate() {
            let m = fam.messages.max(1) as f64;
            prior.push((m / total.max(1) as f64).ln());
            let un = (0.5 / (m + 1.0)).ln();
            unseen.push(un);
            has_dialect.push(fam.tokens.keys().any(|t| t.starts_with("cmds=")));
            for (t, &c) in &fam.tokens {
                let e = tokens.entry(t.clone()).or_default();
                if e.is_empty() {
                    e.resize(n, (0.0, false, 0.0));
                }
                e[i] = (((c as f64 + 0.5) / (m + 1.0)).ln(), true, c as f64 / m);
            }
        }
        // Fill the families that never emitted a token.
        for v in tokens.values_mut() {
            for (i, e) in v.iter_mut().enumerate() {
                if !e.1 {
                    e.0 = unseen[i];
                }
            }
        }
        self.compiled = Some(Compiled {
            names,
            prior,
            unseen,
            tokens,
            has_dialect,
        });
    }

    /// Family and confidence of a message's tokens (`unknown` when nothing
    /// fits).
    pub fn attribute(&self, tokens: &[String]) -> (String, f64) {
        let owned;
        let c = match &self.compiled {
            Some(c) => c,
            None => {
                let mut m = self.clone();
                m.compile();
                owned = m.compiled.expect("compiled");
                &owned
            }
        };
        let n = c.names.len();
        if n == 0 || tokens.is_empty() {
            return ("unknown".to_string(), 0.0);
        }
        let mut score = c.prior.clone();
        let mut hits = vec![0usize; n];
        let mut counted = 0usize;
        // Dialect tokens among them (counted and hit).
        let mut d_hits = vec![0usize; n];
        let mut d_counted = 0usize;
        // The dialect gate: families that spoke every dialect token of
        // this message (only families learned from sessions take part).
        let mut speaks = c.has_dialect.clone();
        let mut dialect = false;
        // Only a whole session dialect gates: `greet` alone (read from a
        // trap's Received header) is one bit, an ordinary token.
        let session = tokens.iter().any(|t| t.starts_with("cmds="));
        for t in tokens {
            // An absent feature (`date=none`, `cs=`) scores but does not
            // count as a match: sharing an absence says little.
            let value = memchr::memchr(b'=', t.as_bytes()).map(|i| &t.as_bytes()[i + 1..]);
            let informative = !matches!(value, Some(b"" | b"none" | b"-"));
            counted += usize::from(informative);
            let stats = c.tokens.get(t.as_str());
            if session && is_dialect(t) {
                dialect = true;
                d_counted += usize::from(informative);
                if let Some(v) = stats {
                    for (i, h) in d_hits.iter_mut().enumerate() {
                        *h += usize::from(v[i].1 && informative);
                    }
                }
                for (i, s) in speaks.iter_mut().enumerate() {
                    *s &= stats.is_some_and(|v| v[i].2 >= DIALECT_MIN_SHARE);
                }
            }
            if let Some(v) = stats {
                for (i, (lp, seen, _)) in v.iter().enumerate() {
                    score[i] += lp;
                    hits[i] += usize::from(*seen && informative);
                }
            }
        }
        let _ = &c.unseen;
        let gated = dialect && speaks.iter().any(|&s| s);
        let (best, &top) = score
            .iter()
            .enumerate()
            .filter(|(i, _)| !gated || speaks[*i])
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .expect("a family passes");
        let z: f64 = score
            .iter()
            .enumerate()
            .filter(|(i, _)| !gated || speaks[*i])
            .map(|(_, s)| (s - top).exp())
            .sum();
        let posterior = 1.0 / z;
        let matched = if gated {
            // The dialect weighs as much as all the rest together: a
            // family that changed its template is still its bots.
            let rest = (hits[best] - d_hits[best]) as f64 / (counted - d_counted).max(1) as f64;
            0.5 * d_hits[best] as f64 / d_counted.max(1) as f64 + 0.5 * rest
        } else {
            hits[best] as f64 / counted.max(1) as f64
        };
        if matched < self.min_match {
            return ("unknown".to_string(), 0.0);
        }
        (
            c.names[best].clone(),
            (posterior * matched * 1000.0).round() / 1000.0,
        )
    }

    /// Read a model file.
    pub fn load(path: &Path) -> Result<Model, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(ErrorKind::Config(format!("{}: {e}", path.display()))))?;
        Model::from_json(&text)
            .map_err(|e| Error::new(ErrorKind::Config(format!("{}: {e}", path.display()))))
    }

    /// Parse a model from JSON.
    pub fn from_json(text: &str) -> Result<Model, Error> {
        let mut m: Model = serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorKind::Config(format!("model: {e}"))))?;
        if m.format != MODEL_FORMAT {
            return Err(Error::new(ErrorKind::Config(format!(
                "model: format is {:?}, expected {MODEL_FORMAT:?}",
                m.format
            ))));
        }
        m.compile();
        Ok(m)
    }

    /// The model as pretty JSON (sorted keys: the same data, the same file).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// The family label of a learning input: the folder under the argument
/// when the file is in a sub-folder of it (`pcap/` → `pcap/rustock/x.pcap`
/// → `rustock`), the argument folder's own name when the file is directly
/// in it, and the parent folder's name for a file argument.
pub fn family_label(root: &Path, path: &Path) -> Option<String> {
    if root.is_dir() {
        if let Ok(rel) = path.strip_prefix(root) {
            let comps: Vec<_> = rel.components().collect();
            if comps.len() > 1 {
                return comps[0].as_os_str().to_str().map(str::to_ascii_lowercase);
            }
        }
        return root
            .canonicalize()
            .ok()?
            .file_name()?
            .to_str()
            .map(str::to_ascii_lowercase);
    }
    path.canonicalize()
        .ok()?
        .parent()?
        .file_name()?
        .to_str()
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn learns_and_refuses_strangers() {
        let mut m = Model::default();
        for _ in 0..10 {
            m.learn("a", &toks(&["mid=x", "date=1", "h=X-A"]));
            m.learn("b", &toks(&["mid=y", "date=2", "h=X-B"]));
        }
        m.compile();
        assert_eq!(m.attribute(&toks(&["mid=x", "date=1", "h=X-A"])).0, "a");
        assert_eq!(m.attribute(&toks(&["mid=y", "date=2", "h=X-Z"])).0, "b");
        assert_eq!(
            m.attribute(&toks(&["mid=z", "date=3", "h=X-Z"])).0,
            "unknown"
        );
        let back = Model::from_json(&m.to_json()).unwrap();
        assert_eq!(back.families, m.families);
    }

    /// A family that changes its template keeps its SMTP dialect: the
    /// dialect gate names it although its new headers look like another
    /// family's; a dialect nobody spoke leaves every family in.
    #[test]
    fn the_dialect_decides_between_lookalike_templates() {
        let mut m = Model::default();
        for _ in 0..20 {
            m.learn(
                "a",
                &toks(&[
                    "greet=EHLO",
                    "case=upper",
                    "cmds=EHLO,MAIL,RCPT,DATA",
                    "pipe=0",
                    "mid=x",
                    "date=1",
                    "h=X-A",
                    "mailer=A",
                ]),
            );
            m.learn(
                "b",
                &toks(&[
                    "greet=EHLO",
                    "case=lower",
                    "cmds=ehlo,mail,rcpt,data",
                    "pipe=1",
                    "mid=y",
                    "date=2",
                    "h=X-B",
                    "mailer=B",
                ]),
            );
        }
        m.compile();
        // a's dialect, b's template but for a's Date (a restyled): a.
        let restyled = toks(&[
            "greet=EHLO",
            "case=upper",
            "cmds=EHLO,MAIL,RCPT,DATA",
            "pipe=0",
            "mid=y",
            "date=1",
            "h=X-B",
            "mailer=B",
        ]);
        assert_eq!(m.attribute(&restyled).0, "a");
        // Nothing of a's template at all: the dialect alone is not enough.
        let mut bare = restyled.clone();
        bare[5] = "date=2".into();
        assert_eq!(m.attribute(&bare).0, "unknown");
        // Without the dialect, the template decides: b.
        assert_eq!(m.attribute(&restyled[4..]).0, "b");
        // A dialect no family spoke: no gate; b's template is half the
        // message, too little for a name.
        let stranger = toks(&[
            "greet=HELO",
            "case=upper",
            "cmds=HELO,MAIL,RCPT,DATA",
            "pipe=0",
            "mid=y",
            "date=2",
            "h=X-B",
            "mailer=B",
        ]);
        assert_eq!(m.attribute(&stranger).0, "unknown");
    }
}
