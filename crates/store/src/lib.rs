//! The event dataset of botscope: Delta Lake tables (delta-rs), one per
//! event kind, hive-partitioned by date, written by any number of
//! processes at once, queried with SQL (DataFusion) and readable by every
//! engine that reads Delta.
//!
//! ```text
//! DIR/conn/_delta_log/…  DIR/conn/date=2010-12-20/part-<tx>-00000.parquet
//! DIR/http/…  DIR/smtp/…  DIR/dns/…  DIR/ssl/…  DIR/irc/…
//! DIR/mail/…  DIR/mail_hourly/…  DIR/activity/…  DIR/alert/…
//! DIR/inputs/…  (one row per input ingested)
//! ```
//!
//! - [`Store`] opens a dataset; [`Store::writer`] starts a transaction
//!   ([`Writer::write_events`], [`Writer::write_mail`],
//!   [`Writer::write_activity`], [`Writer::write_alerts`]) made visible by
//!   [`Writer::commit`]. See [`store`] for the crash-safety protocol.
//! - [`ingest()`] reads captures, Zeek logs and binetflow files into a
//!   store, once per distinct content.
//! - [`sql`] runs a query; [`timeline`] gives count series.
//! - [`compact`] merges small files; [`rehunt`] re-runs the activity
//!   analysis over stored events.
//!
//! `docs/schema.md` documents every column.

mod cols;
pub mod delta;
pub mod ingest;
pub mod legacy;
pub mod live;
pub mod maintain;
pub mod query;
pub mod store;
pub mod tables;
pub mod trace;

/// DataFusion, for callers that format or post-process query results.
pub use datafusion;
pub use ingest::{ingest, IngestConfig, IngestReport, InputKind};
pub use legacy::{migrate, MigrateReport};
pub use live::{LiveConfig, LiveMail, LiveStats, PendingMessage};
pub use maintain::{compact, rehunt, rehunt_mail, CompactReport, MailRehuntReport, RehuntReport};
pub use query::{sql, timeline, By, Every, TimelineRow};
pub use store::{version, Committed, FailPoint, InputRecord, LedgerEntry, Op, Store, Writer};
pub use tables::{ActivityRow, AlertRow, Table};

/// What kind of thing went wrong in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing a file or an object.
    Io,
    /// A Parquet file could not be written or read.
    Parquet,
    /// Arrow columns did not fit together.
    Arrow,
    /// A table or column is not what the store expects.
    Schema,
    /// A query failed (parse, plan or execution).
    Sql,
    /// The old ledger format (`botscope migrate`) could not be read.
    Ledger,
    /// The Delta log: loading, creating or committing a table.
    Delta,
    /// A simulated crash (tests).
    Injected,
}

impl ErrorKind {
    fn prefix(self) -> &'static str {
        match self {
            ErrorKind::Io | ErrorKind::Injected => "",
            ErrorKind::Parquet => "parquet: ",
            ErrorKind::Arrow => "arrow: ",
            ErrorKind::Schema => "schema: ",
            ErrorKind::Sql => "sql: ",
            ErrorKind::Ledger => "ledger: ",
            ErrorKind::Delta => "delta: ",
        }
    }
}

/// Everything that can go wrong in the store: a kind, a message naming
/// the file, table or query, and the underlying error where there is one.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same error with its cause attached (see `source()`).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub(crate) fn io(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Io, m)
    }
    pub(crate) fn parquet(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Parquet, m)
    }
    pub(crate) fn arrow(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Arrow, m)
    }
    pub(crate) fn schema(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Schema, m)
    }
    pub(crate) fn sql(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Sql, m)
    }
    pub(crate) fn ledger(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Ledger, m)
    }
    pub(crate) fn delta(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Delta, m)
    }
    pub(crate) fn injected(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Injected, m)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind == ErrorKind::Injected {
            return write!(f, "simulated crash at {}", self.message);
        }
        write!(f, "{}{}", self.kind.prefix(), self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
