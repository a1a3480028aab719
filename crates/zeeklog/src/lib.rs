//! Zeek-format logs for botscope.
//!
//! Turns [`botscope_event::Event`]s into the logs analysts already read
//! with Zeek tooling: `conn.log`, `http.log`, `smtp.log`, `dns.log`,
//! `ssl.log`, `x509.log`, `irc.log` and `weird.log`, in Zeek's TSV format or its JSON
//! format, plus carved mail as `mail/<uid>-<trans_depth>.eml`.
//!
//! - Columns are Zeek's default columns of each log, in Zeek's order
//!   (the `*_FIELDS` tables, checked against Zeek's own test baselines),
//!   followed by botscope's extra columns. Columns botscope has no data
//!   for (file ids, tunnels) are written as
//!   Zeek writes them when it has none.
//! - Every attacker-controlled string is escaped as Zeek's ASCII writer
//!   escapes it ([`zeek_escape`]), so a value can never add a column or a
//!   line to a row.
//! - Rows are formatted into one reused buffer and written through a
//!   256 KiB buffer per file ([`LogWriterSet`]).
//!
//! [`read_zeek_tsv`] reads such logs back (also Zeek's own, including
//! concatenated ones), for tests and importers.

mod clock;
mod columns;
mod error;
mod fields;
pub mod import;
pub mod ioc;
mod json;
mod reader;
mod tsv;
mod writer;

pub use clock::zeek_time_stamp;
pub use error::{Error, ErrorKind};
pub use fields::{
    fields_for, CONN_FIELDS, DNS_FIELDS, FTP_FIELDS, HTTP_FIELDS, IRC_FIELDS, LOG_NAMES,
    SMTP_FIELDS, SSH_FIELDS, SSL_FIELDS, TUNNEL_FIELDS, WEIRD_FIELDS, X509_FIELDS,
};
pub use import::{parse_binetflow, parse_zeek_log, read_binetflow, read_zeek_log, ImportResult};
pub use json::json_row;
pub use reader::{
    parse_zeek_tsv, read_zeek_tsv, read_zeek_tsv_raw, zeek_split_container, zeek_unescape, ZeekTsv,
};
pub use tsv::{zeek_close_line, zeek_escape, zeek_header, zeek_header_with, zeek_row};
pub use writer::{
    mail_file_name, write_mail_file, LogFormat, LogSummary, LogWriterSet, LOG_BUFFER_BYTES,
};

#[cfg(test)]
mod tests;
