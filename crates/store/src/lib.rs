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
pub use store::{version, Committed, FailPoint, InputRecord, LedgerEntry, Store, Writer};
pub use tables::{ActivityRow, AlertRow, Table};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(String),
    #[error("parquet: {0}")]
    Parquet(String),
    #[error("arrow: {0}")]
    Arrow(String),
    #[error("schema: {0}")]
    Schema(String),
    #[error("sql: {0}")]
    Sql(String),
    #[error("ledger: {0}")]
    Ledger(String),
    #[error("delta: {0}")]
    Delta(String),
    #[error("simulated crash at {0}")]
    Injected(String),
}
