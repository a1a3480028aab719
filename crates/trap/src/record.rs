//! What the trap keeps about each session and message, and the hook that
//! hands stored messages on (to mail analysis and the event store).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use botscope_event::{MailMessage, Ts};

pub use crate::auth::{AuthAttempt, Credentials};
use serde::{Deserialize, Serialize};

/// One command as the client sent it: a feature for family attribution
/// (bots differ in case, spacing, order and pipelining).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// Milliseconds since the connection was accepted.
    pub t_ms: u64,
    /// The verb with its case kept (`ehlo`, `EHLO`, `Ehlo`).
    pub verb: String,
    /// The whole line, CRLF removed, at most 256 characters; `AUTH` lines
    /// keep only `AUTH` and a registered mechanism name (never an initial
    /// response; lines inside an AUTH exchange are not commands and are
    /// not listed here, see [`SessionRecord::auth`]).
    pub line: String,
    /// Sent before the reply to the previous command was written.
    pub pipelined: bool,
    /// Our reply code.
    pub reply: u16,
    /// The line ended in a bare LF.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bare_lf: bool,
}

/// The envelope of one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Envelope {
    /// `MAIL FROM` address (empty for the null sender `<>`).
    pub mail_from: String,
    /// Accepted `RCPT TO` addresses, in order.
    pub rcpt_to: Vec<String>,
    /// `SIZE=` announced in `MAIL FROM`, if any.
    pub size_announced: Option<u64>,
    /// `BODY=` parameter as given (`8BITMIME`, `7BIT`), if any.
    pub body: Option<String>,
    /// `SMTPUTF8` was given.
    #[serde(default)]
    pub smtputf8: bool,
}

/// One message the client tried to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// The trap's id (the stored file's base name), or empty if nothing was
    /// stored.
    pub id: String,
    pub envelope: Envelope,
    /// Message size in bytes after dot-unstuffing, our `Received:` excluded.
    pub size: u64,
    /// When `DATA` was accepted (RFC 3339, UTC).
    pub received: String,
    /// Path of the stored file relative to the store folder, if stored.
    pub path: Option<String>,
    /// `stored`, `too_big`, `store_error`, `aborted` (the session ended
    /// inside DATA).
    pub outcome: String,
    /// Lines ended by a bare LF.
    pub bare_lf_lines: u64,
    /// Lone-dot lines that were not `<CRLF>.<CRLF>` (`\n.\n`, `\n.\r\n`,
    /// `\r\n.\n`, a dot and a bare CR): SMTP smuggling attempts. They did
    /// not end the message; they are in it as sent.
    #[serde(default)]
    pub smuggling_sequences: u64,
    /// Message bytes arrived before our `354` reply (pipelined into DATA).
    pub data_before_354: bool,
}

/// Everything recorded about one SMTP session: one line of
/// `sessions.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Unique per trap run and store (`S<unix-secs>P<pid>N<seq>`).
    pub session: String,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub server_port: u16,
    /// Connection accepted (RFC 3339, UTC).
    pub start: String,
    pub duration_ms: u64,
    /// The first HELO/EHLO argument, as sent.
    pub helo: Option<String>,
    /// `HELO` or `EHLO` (or another case of them), as sent first.
    pub helo_verb: Option<String>,
    /// STARTTLS completed.
    pub tls: bool,
    /// Commands in order (at most `max_recorded_commands`).
    pub commands: Vec<CommandRecord>,
    /// All commands, recorded or not.
    pub command_count: u64,
    /// Commands sent before the reply to the previous one.
    pub pipelined_commands: u64,
    /// Bytes arrived before our greeting (only seen with `greet_delay_ms`).
    pub early_talker: bool,
    /// The client sent QUIT.
    pub quit: bool,
    /// `quit`, `client_closed`, `command_timeout`, `data_timeout`,
    /// `session_deadline`, `too_many_errors`, `too_many_messages`,
    /// `io_error`, `tls_error`, `shutdown`.
    pub end: String,
    pub messages: Vec<MessageRecord>,
    /// Limits this session hit, in order (names as in [`crate::Stats`]).
    pub limits_hit: Vec<String>,
    pub bytes_in: u64,
    pub errors: u32,
    /// AUTH attempts, in order (at most 32; all are counted in
    /// `auth_attempts`). Credentials only with `auth.record_credentials`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth: Vec<AuthAttempt>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub auth_attempts: u64,
    /// Bytes of BDAT chunks read and thrown away (CHUNKING is not offered;
    /// a chunk is consumed by its announced size, never read as commands).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bdat_discarded_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A message that is durably in the Maildir.
#[derive(Clone, Debug)]
pub struct StoredMessage {
    /// Absolute path of the file in `new/`.
    pub path: PathBuf,
    /// The trap's id (file base name without `,S=`).
    pub id: String,
    pub session: String,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub helo: Option<String>,
    pub tls: bool,
    pub envelope: Envelope,
    /// Size after unstuffing, our `Received:` excluded.
    pub size: u64,
    pub received: SystemTime,
    /// The session's command verbs so far, as sent (the recorded ones:
    /// at most `max_recorded_commands`): the SMTP dialect, for mail
    /// analysis.
    pub commands: Vec<String>,
    /// The client sent commands before their replies in this session.
    pub pipelined: bool,
}

impl StoredMessage {
    /// The receive time as the event contract's timestamp.
    pub fn received_ts(&self) -> Ts {
        let d = self.received.duration_since(UNIX_EPOCH).unwrap_or_default();
        Ts::from_secs_nanos(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        )
    }

    /// The row of the `mail` table known without reading the message:
    /// envelope, client and receive time. Mail analysis fills the rest
    /// (subject, family, URLs ...) from the file at `path`.
    pub fn mail_row(&self) -> MailMessage {
        MailMessage {
            source: self.path.display().to_string(),
            received_ts: Some(self.received_ts()),
            sender_ip: Some(self.client_ip),
            helo: self.helo.clone(),
            mail_from: Some(self.envelope.mail_from.clone()),
            rcpt_to: self.envelope.rcpt_to.clone(),
            family: "unknown".into(),
            category: "other".into(),
            size: self.size,
            ..MailMessage::default()
        }
    }
}

/// Where stored messages and finished sessions go next.
///
/// `message_stored` sees each message once it is durable and its file is
/// in `new/`: for a message held in memory (nearly all), on the filing
/// thread, in log order, after its `250` (the file written, not yet synced
/// on its own; the write-ahead log holds the durable copy); for a message
/// spilled to `tmp/`, on the committer thread after the rename into `new/`
/// and the directory fsync, before its `250`. Messages an earlier run
/// logged and the next start replays into `new/` are not passed to it
/// (the dataset feed's `catch_up` reads them from the Maildir).
/// `session_closed` runs on the committer thread right after the
/// session's line is written to `sessions.jsonl` (synced within a second),
/// possibly before the filing thread has passed on that session's last
/// messages. Both must be quick — hand real work to a channel — because
/// the next commit or filing waits; a panic in `message_stored` is caught
/// and logged.
pub trait Sink: Send + Sync + 'static {
    /// A message is durably stored and its file is in `new/`.
    fn message_stored(&self, _msg: &StoredMessage) {}
    /// A session ended and its record is in `sessions.jsonl`.
    fn session_closed(&self, _rec: &SessionRecord) {}
}

/// A sink that does nothing (the Maildir and session log are the output).
pub struct NoSink;

impl Sink for NoSink {}
