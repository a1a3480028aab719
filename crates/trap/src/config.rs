//! The trap's configuration: one TOML file holds every limit.
//!
//! Every field has a documented default; a file only needs the fields it
//! changes. Unknown fields are an error (a typo must not silently leave a
//! limit at its default).
//!
//! ```toml
//! # botscope trap --config trap.toml
//! hostname = "mx.trap.example"      # our name in the greeting and Received:
//! domains = ["trap.example"]        # or "any" (the default): accept every domain
//! starttls = true                   # offer STARTTLS
//! tls_cert = "/etc/trap/cert.pem"   # PEM chain; without it a self-signed one is made
//! tls_key = "/etc/trap/key.pem"
//! greet_delay_ms = 0                # wait before the greeting (early talkers are recorded)
//!
//! [limits]
//! max_message_size = 10240000       # bytes after dot-unstuffing, our Received: excluded
//! max_recipients = 100              # per message (RFC 5321 4.5.3.1.8 minimum)
//! max_line_length = 4096            # one command line, CRLF included
//! max_sessions = 1024               # open sessions in total
//! max_sessions_per_ip = 32          # open sessions from one client address
//! command_timeout_s = 60            # waiting for a command (and for writes)
//! data_timeout_s = 120              # waiting for the next bytes inside DATA
//! session_deadline_s = 600          # whole session, however busy (slowloris)
//! max_buffered_bytes = 262144       # message bytes held in memory per session; more spill to tmp/
//! max_errors = 20                   # bad commands before 421 and close
//! max_messages_per_session = 100    # messages in one session before 421 and close
//! max_recorded_commands = 256       # commands kept in one session record (all are counted)
//! max_commit_batch = 512            # messages made durable by one sync (group commit)
//! max_unfiled_bytes = 67108864      # logged but not yet written to new/; past it, 250s wait
//! session_log_max_bytes = 268435456 # sessions.jsonl is rotated past this size (whole lines)
//! session_log_keep = 8              # rotated logs kept: sessions.jsonl.1 (newest) .. .8
//!
//! [auth]
//! advertise = false                 # offer AUTH PLAIN LOGIN CRAM-MD5 in EHLO
//! record_credentials = false        # keep the credentials bots try, decoded, in sessions.jsonl
//! ```
//!
//! `max_sessions_per_ip` is a trade-off: a bot (or a NAT full of them)
//! opening more connections at once from one address than the limit gets
//! `421 4.7.0 ... too many connections from your address` for the extra
//! ones — with the default 32, a client opening 50 at once has 18 refused
//! (each counted in `limits_hit`). That caps what one address can hold of
//! the trap (sockets, memory, the 1024 of `max_sessions`), so one bot
//! cannot lock the others out; a load test from one address
//! (`smtp-source -s 50`) must raise it, as `bench/trap.sh` does.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Which recipient domains the trap accepts.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Domains {
    /// `"any"`: every recipient is accepted (the default).
    #[default]
    Any,
    /// Only these domains (and their subdomains), compared case-insensitively;
    /// other recipients get `550 5.7.1 relay access denied`.
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDomains {
    Word(String),
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for Domains {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawDomains::deserialize(d)? {
            RawDomains::Word(w) if w.trim().eq_ignore_ascii_case("any") => Ok(Domains::Any),
            RawDomains::Word(w) => Err(serde::de::Error::custom(format!(
                "domains: expected \"any\" or a list of domains, got {w:?}"
            ))),
            RawDomains::List(l) => Ok(Domains::parse(&l.join(","))),
        }
    }
}

impl Serialize for Domains {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Domains::Any => s.serialize_str("any"),
            Domains::List(l) => l.serialize(s),
        }
    }
}

impl Domains {
    /// Parses the command line form: `any` or a comma-separated list.
    pub fn parse(s: &str) -> Domains {
        if s.trim().eq_ignore_ascii_case("any") {
            return Domains::Any;
        }
        Domains::List(
            s.split(',')
                .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
        )
    }

    /// Whether mail to `address` (`local@domain`) is accepted.
    pub fn accepts(&self, address: &str) -> bool {
        match self {
            Domains::Any => true,
            Domains::List(list) => {
                let Some((_, domain)) = address.rsplit_once('@') else {
                    return false;
                };
                let domain = domain.trim_end_matches('.');
                list.iter().any(|d| {
                    domain.eq_ignore_ascii_case(d)
                        || (domain.len() > d.len()
                            && domain.is_char_boundary(domain.len() - d.len() - 1)
                            && domain[domain.len() - d.len()..].eq_ignore_ascii_case(d)
                            && domain.as_bytes()[domain.len() - d.len() - 1] == b'.')
                })
            }
        }
    }
}

/// Every cap of the trap, each with its default. Hitting one is counted in
/// [`crate::Stats`], logged, and noted in the session record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest message accepted, in bytes after dot-unstuffing (our
    /// `Received:` header not counted). Advertised in `EHLO` as `SIZE`; a
    /// larger `MAIL ... SIZE=` is refused up front, a larger body gets `552`
    /// after its end and nothing of it is kept. Default 10,240,000 (Postfix's).
    pub max_message_size: u64,
    /// Recipients per message; more get `452 4.5.3`. Default 100.
    pub max_recipients: usize,
    /// Longest command line in bytes, CRLF included; longer lines get `500
    /// 5.5.2` and are skipped up to their end. Data lines are not limited
    /// (they are streamed), only the message size is. Default 4096.
    pub max_line_length: usize,
    /// Open sessions in total; a connection beyond it gets `421` and is
    /// closed at once. Default 1024.
    pub max_sessions: usize,
    /// Open sessions from one client IP address; a connection beyond it
    /// gets `421 4.7.0` and is closed at once (counted as
    /// `max_sessions_per_ip`). The trade-off: lower keeps one address (one
    /// bot, or one NAT) from taking the trap's sessions from the others;
    /// higher records more of a bot that opens many connections at once.
    /// With the default a client opening 50 at once has 18 refused; a load
    /// generator on one address must raise it. Default 32.
    pub max_sessions_per_ip: usize,
    /// Seconds to wait for a command, or for a reply to be written. Default 60.
    pub command_timeout_s: u64,
    /// Seconds to wait for more bytes inside DATA. Default 120.
    pub data_timeout_s: u64,
    /// Seconds a session may last in all, however busy it is (a client
    /// trickling one byte at a time is closed by this). Default 600.
    pub session_deadline_s: u64,
    /// Message bytes one session holds in memory; a bigger message spills
    /// to its file in `tmp/` as it arrives. With the line buffer this bounds
    /// a session's memory. Default 262,144.
    pub max_buffered_bytes: usize,
    /// Bad commands (unknown, syntax, out of sequence) before `421` and
    /// close. Default 20.
    pub max_errors: u32,
    /// Messages in one session before `421` and close. Default 100.
    pub max_messages_per_session: usize,
    /// Commands kept in one session record; later ones are only counted.
    /// Default 256.
    pub max_recorded_commands: usize,
    /// Messages made durable together by one sync of the write-ahead log
    /// (or, for messages spilled to `tmp/`, one fsync of `new/`): the group
    /// commit. Default 512.
    pub max_commit_batch: usize,
    /// Message bytes durable in the write-ahead log but not yet written
    /// into the Maildir's `new/` (held in memory for the thread that
    /// files them). Past it, the next group commit waits for the filing:
    /// the trap slows down instead of growing. Default 67,108,864 (64 MiB).
    pub max_unfiled_bytes: usize,
    /// Size in bytes past which `sessions.jsonl` is rotated (between whole
    /// records): it becomes `sessions.jsonl.1`, older ones move up by one.
    /// At least 4096. Default 268,435,456 (256 MiB).
    pub session_log_max_bytes: u64,
    /// Rotated session logs kept (`sessions.jsonl.1` newest ...
    /// `sessions.jsonl.N` oldest); older ones are deleted, so the logs take
    /// at most about `(session_log_keep + 1) × session_log_max_bytes`. 0
    /// keeps none. Default 8.
    pub session_log_keep: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 10_240_000,
            max_recipients: 100,
            max_line_length: 4096,
            max_sessions: 1024,
            max_sessions_per_ip: 32,
            command_timeout_s: 60,
            data_timeout_s: 120,
            session_deadline_s: 600,
            max_buffered_bytes: 256 * 1024,
            max_errors: 20,
            max_messages_per_session: 100,
            max_recorded_commands: 256,
            max_commit_batch: 512,
            max_unfiled_bytes: 64 * 1024 * 1024,
            session_log_max_bytes: 256 * 1024 * 1024,
            session_log_keep: 8,
        }
    }
}

/// SMTP AUTH (RFC 4954). The trap never authenticates anyone: every
/// exchange is played to its end (`334` prompts) and fails with `535
/// 5.7.8`. Lines sent inside an exchange are SASL responses, never
/// commands, and are never recorded as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Offer `AUTH PLAIN LOGIN CRAM-MD5` in the `EHLO` reply. Without it
    /// AUTH is not advertised, but a client that tries anyway still goes
    /// through the exchange. Default false.
    pub advertise: bool,
    /// Keep the credentials bots try, decoded (user, password, CRAM-MD5
    /// digest ...), in the session record's `auth` attempts: a dialect
    /// feature (credential lists are shared within a botnet). Off by
    /// default: `sessions.jsonl` then holds no credentials at all, only
    /// the mechanism and how the exchange went. Default false.
    pub record_credentials: bool,
}

/// The trap's configuration file (`--config FILE`), see the module doc.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrapConfig {
    /// Our host name, in the greeting, `EHLO` reply, `Received:` header and
    /// stored file names. Default `botscope-trap`.
    pub hostname: String,
    /// Accepted recipient domains. Default `any`.
    pub domains: Domains,
    /// Offer STARTTLS. Default true.
    pub starttls: bool,
    /// PEM certificate chain for STARTTLS; without it a self-signed
    /// certificate for `hostname` is generated at start.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Milliseconds to wait before the greeting; a client that talks
    /// before it is recorded as an early talker. Default 0.
    pub greet_delay_ms: u64,
    /// Log lines for limit hits: the first 20 of each kind, then each
    /// power of two. Default true.
    pub log_limit_hits: bool,
    pub limits: Limits,
    pub auth: AuthConfig,
}

impl Default for TrapConfig {
    fn default() -> Self {
        TrapConfig {
            hostname: "botscope-trap".into(),
            domains: Domains::Any,
            starttls: true,
            tls_cert: None,
            tls_key: None,
            greet_delay_ms: 0,
            log_limit_hits: true,
            limits: Limits::default(),
            auth: AuthConfig::default(),
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl TrapConfig {
    /// Reads and checks a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<TrapConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        TrapConfig::from_toml(&text, path)
    }

    /// Parses a TOML configuration (`path` names it in errors).
    pub fn from_toml(text: &str, path: &Path) -> Result<TrapConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Checks values that would make the trap unusable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let bad = |what: &str| {
            Err(ConfigError::Invalid(format!(
                "limits.{what} must be at least 1"
            )))
        };
        if l.max_line_length < 512 {
            return Err(ConfigError::Invalid(
                "limits.max_line_length must be at least 512 (RFC 5321 4.5.3.1.4)".into(),
            ));
        }
        if l.max_sessions == 0 {
            return bad("max_sessions");
        }
        if l.max_sessions_per_ip == 0 {
            return bad("max_sessions_per_ip");
        }
        if l.max_recipients == 0 {
            return bad("max_recipients");
        }
        if l.max_buffered_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "limits.max_buffered_bytes must be at least 1024".into(),
            ));
        }
        if l.command_timeout_s == 0 || l.data_timeout_s == 0 || l.session_deadline_s == 0 {
            return Err(ConfigError::Invalid(
                "limits: timeouts must be at least 1 s".into(),
            ));
        }
        if l.max_commit_batch == 0 {
            return bad("max_commit_batch");
        }
        if l.max_unfiled_bytes == 0 {
            return bad("max_unfiled_bytes");
        }
        if l.session_log_max_bytes < 4096 {
            return Err(ConfigError::Invalid(
                "limits.session_log_max_bytes must be at least 4096".into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key go together".into(),
            ));
        }
        if !valid_hostname(&self.hostname) {
            return Err(ConfigError::Invalid(format!(
                "hostname {:?}: letters, digits, '-' and '.' only, at most 180",
                self.hostname
            )));
        }
        Ok(())
    }
}

/// Our own host name goes into file names and headers: keep it plain.
pub(crate) fn valid_hostname(h: &str) -> bool {
    // 180, not DNS's 253: the host name ends every message's file name
    // (`SECS.MUSECSPpidQseq.HOSTNAME,S=BYTES`), which must fit in 255 bytes.
    !h.is_empty()
        && h.len() <= 180
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses_and_matches_defaults() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start())
            .filter(|l| !l.starts_with("# botscope"))
            .collect::<Vec<_>>()
            .join("\n");
        let cfg: TrapConfig = toml::from_str(&example).expect("module doc example parses");
        // The documented limits are the defaults.
        assert_eq!(cfg.limits, Limits::default());
        assert_eq!(cfg.auth, AuthConfig::default());
        assert_eq!(cfg.domains, Domains::List(vec!["trap.example".into()]));
        assert_eq!(cfg.greet_delay_ms, 0);
    }

    #[test]
    fn unknown_fields_are_errors() {
        assert!(toml::from_str::<TrapConfig>("[limits]\nmax_mesage_size = 1\n").is_err());
        assert!(toml::from_str::<TrapConfig>("hostnme = \"x\"\n").is_err());
    }

    #[test]
    fn domains_any_or_list() {
        let c: TrapConfig = toml::from_str("domains = \"any\"").unwrap();
        assert_eq!(c.domains, Domains::Any);
        let c: TrapConfig = toml::from_str("domains = [\"a.example\"]").unwrap();
        assert!(c.domains.accepts("x@a.example"));
        assert!(c.domains.accepts("x@mx.A.example"));
        assert!(!c.domains.accepts("x@ba.example"));
        assert!(!c.domains.accepts("x@b.example"));
        assert!(!c.domains.accepts("nodomain"));
        assert!(toml::from_str::<TrapConfig>("domains = \"some\"").is_err());
        assert_eq!(Domains::parse("ANY"), Domains::Any);
        assert_eq!(
            Domains::parse("a.example, B.example."),
            Domains::List(vec!["a.example".into(), "b.example".into()])
        );
    }

    #[test]
    fn validation() {
        let mut c = TrapConfig::default();
        assert!(c.validate().is_ok());
        c.limits.max_line_length = 100;
        assert!(c.validate().is_err());
        let mut c = TrapConfig {
            hostname: "a/b".into(),
            ..TrapConfig::default()
        };
        assert!(c.validate().is_err());
        // The longest host name whose message file names still fit in 255
        // bytes (`SECS.MUSECSPpidQseq.HOST,S=BYTES` at their longest).
        c.hostname = "a".repeat(180);
        assert!(c.validate().is_ok());
        // Seconds until the year 5138, Linux's largest pid, any counter
        // and size.
        let longest = format!(
            "{}.M999999P{}Q{}.{},S={}",
            99_999_999_999u64,
            4_194_304,
            u64::MAX,
            c.hostname,
            u64::MAX
        );
        assert!(longest.len() <= 255, "{}", longest.len());
        c.hostname = "a".repeat(181);
        assert!(c.validate().is_err());
        c.hostname = "ok.example".into();
        c.tls_cert = Some("x".into());
        assert!(c.validate().is_err());
    }
}
