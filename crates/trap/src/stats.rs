//! Counters of everything the trap did and every limit it hit.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

/// Where log lines go.
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

/// A limit of [`crate::Limits`] being hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    MessageSize,
    Recipients,
    LineLength,
    Sessions,
    SessionsPerIp,
    CommandTimeout,
    DataTimeout,
    SessionDeadline,
    /// A message outgrew `max_buffered_bytes` and spilled to disk (not a
    /// refusal; counted so the memory bound can be seen working).
    BufferSpill,
    Errors,
    MessagesPerSession,
}

impl Limit {
    pub const ALL: [Limit; 11] = [
        Limit::MessageSize,
        Limit::Recipients,
        Limit::LineLength,
        Limit::Sessions,
        Limit::SessionsPerIp,
        Limit::CommandTimeout,
        Limit::DataTimeout,
        Limit::SessionDeadline,
        Limit::BufferSpill,
        Limit::Errors,
        Limit::MessagesPerSession,
    ];

    /// The name in logs, session records and the JSON summary.
    pub fn name(self) -> &'static str {
        match self {
            Limit::MessageSize => "max_message_size",
            Limit::Recipients => "max_recipients",
            Limit::LineLength => "max_line_length",
            Limit::Sessions => "max_sessions",
            Limit::SessionsPerIp => "max_sessions_per_ip",
            Limit::CommandTimeout => "command_timeout",
            Limit::DataTimeout => "data_timeout",
            Limit::SessionDeadline => "session_deadline",
            Limit::BufferSpill => "max_buffered_bytes",
            Limit::Errors => "max_errors",
            Limit::MessagesPerSession => "max_messages_per_session",
        }
    }
}

/// Live counters, shared by every session.
#[derive(Default)]
pub struct Stats {
    pub sessions: AtomicU64,
    pub messages_stored: AtomicU64,
    pub bytes_stored: AtomicU64,
    pub store_errors: AtomicU64,
    pub tls_sessions: AtomicU64,
    pub tls_failures: AtomicU64,
    pub accept_errors: AtomicU64,
    /// Incomplete files of a previous run removed from `tmp/` at start.
    pub tmp_cleaned: AtomicU64,
    /// Messages written into `new/` at start from the write-ahead log
    /// (acknowledged by a run that stopped before it filed them).
    pub wal_replayed: AtomicU64,
    /// Bytes at the end of the write-ahead log that were not a whole,
    /// checksummed record at start (a write cut by a crash before any
    /// `250` for it was sent); skipped.
    pub wal_torn_bytes: AtomicU64,
    /// AUTH exchanges clients started (every one failed).
    pub auth_attempts: AtomicU64,
    /// Lone-dot lines inside DATA that were not `<CRLF>.<CRLF>` (SMTP
    /// smuggling attempts; kept as message data).
    pub smuggling_attempts: AtomicU64,
    /// Times `sessions.jsonl` was rotated.
    pub session_log_rotations: AtomicU64,
    limits: [AtomicU64; 11],
    log: Option<LogFn>,
}

/// A snapshot of [`Stats`], as printed at exit (`--json`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub sessions: u64,
    pub messages_stored: u64,
    pub bytes_stored: u64,
    pub store_errors: u64,
    pub tls_sessions: u64,
    pub tls_failures: u64,
    pub accept_errors: u64,
    pub tmp_cleaned: u64,
    pub wal_replayed: u64,
    pub wal_torn_bytes: u64,
    pub auth_attempts: u64,
    pub smuggling_attempts: u64,
    pub session_log_rotations: u64,
    /// Hits per limit name.
    pub limits_hit: std::collections::BTreeMap<String, u64>,
}

impl Stats {
    /// Counters that log limit hits through `log` (the first 20 of each
    /// kind, then every power of two, so a flood cannot flood the log).
    pub fn with_log(log: Option<LogFn>) -> Stats {
        Stats {
            log,
            ..Stats::default()
        }
    }

    /// Counts (and maybe logs) one hit of `limit` by `peer`.
    pub fn hit(&self, limit: Limit, peer: SocketAddr) {
        let n = self.limits[limit as usize].fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(log) = &self.log {
            if n <= 20 || n.is_power_of_two() {
                log(&format!(
                    "limit {} hit by {peer} ({n} time{} so far)",
                    limit.name(),
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
    }

    pub fn limit_count(&self, limit: Limit) -> u64 {
        self.limits[limit as usize].load(Ordering::Relaxed)
    }

    pub fn log(&self, msg: &str) {
        if let Some(log) = &self.log {
            log(msg);
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            sessions: g(&self.sessions),
            messages_stored: g(&self.messages_stored),
            bytes_stored: g(&self.bytes_stored),
            store_errors: g(&self.store_errors),
            tls_sessions: g(&self.tls_sessions),
            tls_failures: g(&self.tls_failures),
            accept_errors: g(&self.accept_errors),
            tmp_cleaned: g(&self.tmp_cleaned),
            wal_replayed: g(&self.wal_replayed),
            wal_torn_bytes: g(&self.wal_torn_bytes),
            auth_attempts: g(&self.auth_attempts),
            smuggling_attempts: g(&self.smuggling_attempts),
            session_log_rotations: g(&self.session_log_rotations),
            limits_hit: Limit::ALL
                .iter()
                .map(|&l| (l.name().to_string(), self.limit_count(l)))
                .collect(),
        }
    }
}
