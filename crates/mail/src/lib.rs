//! Spam-trap analysis: mbox, Maildir, `.eml` and messages carved from SMTP
//! sessions in, one [`MailMessage`] per message out.
//!
//! ```no_run
//! use botscope_mail::{for_each_message, MailAnalyzer, MailConfig, Model};
//! let model = Model::load("model.json".as_ref()).ok();
//! let analyzer = MailAnalyzer::new(MailConfig::default(), model);
//! let paths = vec!["trap/".into()];
//! let stats = for_each_message(&paths, analyzer.config(), |m| {
//!     let row = analyzer.analyze_raw(m);
//!     println!("{} {} {}", row.source, row.family, row.category);
//! });
//! eprintln!("{} messages, {} unreadable inputs", stats.messages, stats.errors.len());
//! ```
//!
//! What a message becomes:
//! - the trap's receive time, sending IP and HELO (top public `Received:`
//!   hop, the mbox `From_` line, or the SMTP session); the `Date:` header
//!   is kept as a feature only;
//! - a fingerprint ([`Features::tokens`], `kind=value`): header names in
//!   order (`hseq`) and present (`h`), Message-ID shape (`mid`), Date shape
//!   (`date`), zone (`tz`), bogus date (`date_bogus`), Date vs receive lag
//!   (`lag`), `mailer`, `ua`, From/To formatting (`from`, `to`),
//!   Content-Type formatting (`ct`), MIME tree (`mime`), boundary shape
//!   (`bnd`), charsets (`cs`), transfer encodings (`cte`), HELO shape
//!   (`helo`), EHLO or HELO (`greet`), and when the SMTP session's
//!   commands are known (a capture, the live trap) the dialect: command
//!   case (`case`), the first transaction's verbs (`cmds`) and pipelining
//!   (`pipe`), which attribution uses as a gate ([`Model`]);
//! - URLs (text, HTML attributes, de-obfuscated, redirector targets) and
//!   registrable domains (Public Suffix List);
//! - category and brand from the data-driven [`Dictionary`]
//!   (`data/categories.yaml`);
//! - a stable campaign id ([`analyze::campaign_id`]);
//! - family and confidence from the learned [`Model`] and hand-written
//!   [`Rules`], or `unknown`.
//!
//! Untrusted input never panics; every limit is in [`MailConfig`].
//!
//! Attachments are read for their names, types and place in the MIME
//! tree, never for their content: the base64 content of a binary part is
//! left out before the MIME parser runs
//! ([`analyze::without_binary_content`]), so it is not decoded.
//! On well-formed MIME the features are those of a whole parse (every
//! message of the CSDMC2010 corpus and of simulated trap mail is checked
//! both ways in `tests/attachments.rs`); `MailConfig::decode_attachments`
//! parses messages whole.

pub mod analyze;
pub mod campaign;
pub mod config;
pub mod dict;
pub mod envelope;
pub mod error;
pub mod json;
pub mod model;
pub mod reader;
pub mod rules;
pub mod shape;
pub mod urls;

pub use analyze::{url_template, Features, MailAnalyzer};
pub use botscope_event::MailMessage;
pub use campaign::{CampaignNames, Campaigns};
pub use config::MailConfig;
pub use dict::Dictionary;
pub use envelope::Envelope;
pub use error::{Error, ErrorKind};
pub use json::to_json;
pub use model::{family_label, Model};
pub use reader::{for_each_message, for_each_session_message, RawMessage, ReadStats};
pub use rules::Rules;

/// A seeded xorshift generator for the unit tests' random inputs (the
/// same input on every run).
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
