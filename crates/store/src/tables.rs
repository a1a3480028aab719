//! The tables of the dataset: one Arrow schema per event kind, rows to
//! record batches and back. `docs/schema.md` documents every column.
//!
//! Conventions:
//! - every time is `Timestamp(Microsecond, "UTC")` (Spark rejects
//!   nanoseconds); durations are `Float64` seconds, as Zeek prints them;
//! - counts are `Int64`, ports `Int32` (Parquet readers such as Spark
//!   handle unsigned types badly, so none are used);
//! - addresses are strings (`192.0.2.1`, `2001:db8::1`), uids Zeek's
//!   `C…` strings;
//! - Zeek sets and vectors are lists of strings; an empty list is Zeek's
//!   `(empty)`, a null is unset (`-`);
//! - connection-bound tables share the envelope `ts, source, uid, orig_h,
//!   orig_p, resp_h, resp_p, proto`, where `source` is the input file.
//!
//! Each table is defined once, by a row struct (`ConnRow`, `HttpRow`, …):
//! its serde derive gives the table's Arrow schema, the writer and the
//! reader (serde_arrow), so a column's name, type and position cannot
//! drift between them. Conversions between the events and the rows are
//! the only per-column code.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, FieldRef, Schema, SchemaRef};
use botscope_event::{
    Conn, ConnId, ConnState, Dns, Duration, Http, Irc, MailMessage, Meta, Smtp, Ssl, Transport, Ts,
    Uid,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};

use crate::cols::ts_type;
use crate::Error;

/// A table of the dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Conn,
    Http,
    Smtp,
    Dns,
    Ssl,
    Irc,
    Mail,
    /// Per-hour message counts by family, category, brand and campaign,
    /// written with every `mail` part in the same commit (a rollup the
    /// timelines read instead of scanning every message).
    MailHourly,
    Activity,
    Alert,
}

impl Table {
    pub const ALL: [Table; 10] = [
        Table::Conn,
        Table::Http,
        Table::Smtp,
        Table::Dns,
        Table::Ssl,
        Table::Irc,
        Table::Mail,
        Table::MailHourly,
        Table::Activity,
        Table::Alert,
    ];

    /// The table's name: its folder and its SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Conn => "conn",
            Table::Http => "http",
            Table::Smtp => "smtp",
            Table::Dns => "dns",
            Table::Ssl => "ssl",
            Table::Irc => "irc",
            Table::Mail => "mail",
            Table::MailHourly => "mail_hourly",
            Table::Activity => "activity",
            Table::Alert => "alert",
        }
    }

    pub fn parse(s: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The Arrow schema of the table's files (without the `date`
    /// partition column).
    pub fn schema(self) -> SchemaRef {
        let fields = match self {
            Table::Conn => ConnRow::fields(),
            Table::Http => HttpRow::fields(),
            Table::Smtp => SmtpRow::fields(),
            Table::Dns => DnsRow::fields(),
            Table::Ssl => SslRow::fields(),
            Table::Irc => IrcRow::fields(),
            Table::Mail => MailRow::fields(),
            Table::MailHourly => MailHourly::fields(),
            Table::Activity => ActivityRecord::fields(),
            Table::Alert => AlertRecord::fields(),
        };
        Arc::new(Schema::new(fields.unwrap_or_default()))
    }
}

/// One microsecond day: the partition of a time.
pub const DAY_US: i64 = 86_400_000_000;

/// `YYYY-MM-DD` of a time in microseconds (UTC).
pub fn date_of(ts_us: i64) -> String {
    let days = ts_us.div_euclid(DAY_US);
    chrono::DateTime::from_timestamp(days.saturating_mul(86_400), 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| UNKNOWN_DATE.to_string())
}

/// The partition of rows without a time.
pub const UNKNOWN_DATE: &str = "unknown";

/// A row with the input it came from.
pub type Sourced<'a, T> = (&'a str, &'a T);

// ---------------------------------------------------------------------
// rows: one struct per table

/// A table's row type: its serde derive is the table's columns, in order.
pub(crate) trait Row: Serialize + DeserializeOwned {
    /// The table's name (in errors).
    const TABLE: &'static str;
    /// Columns holding times (`i64` µs since the epoch), stored as
    /// `timestamp[µs, UTC]`.
    const TIMES: &'static [&'static str];

    /// The fields traced from the type, kept for the process.
    fn cache() -> &'static OnceLock<Result<Vec<FieldRef>, String>>;

    /// The table's Arrow fields.
    fn fields() -> Result<Vec<FieldRef>, Error> {
        Self::cache()
            .get_or_init(|| trace::<Self>(Self::TIMES))
            .clone()
            .map_err(|e| Error::schema(format!("{}: {e}", Self::TABLE)))
    }
}

macro_rules! row {
    ($t:ty, $table:literal, [$($time:literal),*]) => {
        impl Row for $t {
            const TABLE: &'static str = $table;
            const TIMES: &'static [&'static str] = &[$($time),*];
            fn cache() -> &'static std::sync::OnceLock<Result<Vec<arrow_schema::FieldRef>, String>> {
                static FIELDS: std::sync::OnceLock<Result<Vec<arrow_schema::FieldRef>, String>> =
                    std::sync::OnceLock::new();
                &FIELDS
            }
        }
    };
}
pub(crate) use row;

/// The fields of row type `R` with the dataset's conventions: strings
/// `Utf8`, lists `List<item>` (not null: an empty list is Zeek's
/// `(empty)`), `Vec<u8>` as `Binary`, the `times` as timestamps, every
/// other column nullable.
fn trace<R: DeserializeOwned>(times: &[&str]) -> Result<Vec<FieldRef>, String> {
    let opts = TracingOptions::default()
        .strings_as_large_utf8(false)
        .sequence_as_large_list(false)
        .bytes_as_large_binary(false);
    let traced = Vec::<FieldRef>::from_type::<R>(opts).map_err(|e| e.to_string())?;
    Ok(traced
        .iter()
        .map(|f| {
            let name = f.name().as_str();
            Arc::new(match f.data_type() {
                DataType::List(item) if item.data_type() == &DataType::UInt8 => {
                    Field::new(name, DataType::Binary, true)
                }
                DataType::List(item) => Field::new(
                    name,
                    DataType::List(Arc::new(Field::new("item", item.data_type().clone(), true))),
                    false,
                ),
                DataType::Int64 if times.contains(&name) => Field::new(name, ts_type(), true),
                t => Field::new(name, t.clone(), true),
            })
        })
        .collect())
}

/// `rows` as one record batch of `R`'s table.
pub(crate) fn to_batch<R: Row, W: Serialize>(rows: &[W]) -> Result<RecordBatch, Error> {
    rows_to_batch::<R, _>(rows.iter())
}

/// The rows `rows` yields as one record batch of `R`'s table, each row
/// serialized as it comes (no vector of rows: a part has a million).
fn rows_to_batch<R: Row, W: Serialize>(
    rows: impl ExactSizeIterator<Item = W>,
) -> Result<RecordBatch, Error> {
    let err = |e: serde_arrow::Error| Error::arrow(format!("{}: {e}", R::TABLE));
    let mut b = serde_arrow::ArrayBuilder::from_arrow(&R::fields()?).map_err(err)?;
    b.reserve(rows.len());
    for r in rows {
        b.push(&r).map_err(err)?;
    }
    b.into_record_batch().map_err(err)
}

/// The rows of a batch of `R`'s table. Columns the batch lacks (a file
/// written before they were added) read as null or empty; columns `R`
/// does not know are ignored.
pub(crate) fn from_batch<R: Row>(b: &RecordBatch) -> Result<Vec<R>, Error> {
    serde_arrow::from_record_batch(b).map_err(|e| Error::schema(format!("{}: {e}", R::TABLE)))
}

// ---------------------------------------------------------------------
// envelope

/// A row struct of a connection-bound table: the envelope columns
/// `ts source uid orig_h orig_p resp_h resp_p proto`, then the table's own.
macro_rules! enveloped {
    ($(#[$m:meta])* struct $name:ident<$lt:lifetime> { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Serialize, Deserialize, Default)]
        #[serde(default)]
        struct $name<$lt> {
            ts: Option<i64>,
            source: Cow<$lt, str>,
            uid: Option<String>,
            orig_h: Option<String>,
            orig_p: Option<i32>,
            resp_h: Option<String>,
            resp_p: Option<i32>,
            proto: Option<Cow<$lt, str>>,
            $($body)*
        }

        impl<$lt> $name<$lt> {
            /// A row with the envelope of `meta` from input `source`.
            fn envelope(source: &$lt str, meta: Option<&Meta>) -> $name<$lt> {
                $name {
                    ts: meta.map(|m| m.ts.0),
                    source: Cow::Borrowed(source),
                    uid: meta.map(|m| m.uid.to_string()),
                    orig_h: meta.map(|m| m.id.orig_h.to_string()),
                    orig_p: meta.map(|m| i32::from(m.id.orig_p)),
                    resp_h: meta.map(|m| m.id.resp_h.to_string()),
                    resp_p: meta.map(|m| i32::from(m.id.resp_p)),
                    proto: meta.map(|m| Cow::Borrowed(m.id.proto.zeek_name())),
                    ..Default::default()
                }
            }

            /// The envelope read back (`None` when it does not parse);
            /// `ip_proto` names a transport Zeek has no name for.
            fn meta(&self, ip_proto: Option<i32>) -> Option<Meta> {
                Some(Meta {
                    ts: Ts(self.ts?),
                    uid: parse_uid(self.uid.as_deref()?)?,
                    id: ConnId {
                        orig_h: self.orig_h.as_deref()?.parse().ok()?,
                        orig_p: u16::try_from(self.orig_p?).ok()?,
                        resp_h: self.resp_h.as_deref()?.parse().ok()?,
                        resp_p: u16::try_from(self.resp_p?).ok()?,
                        proto: proto_of(self.proto.as_deref()?, ip_proto),
                    },
                })
            }
        }
    };
}

/// Parse Zeek's `C` + base62 rendering back into a [`Uid`].
pub fn parse_uid(s: &str) -> Option<Uid> {
    let digits = s.strip_prefix('C')?;
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'Z' => b - b'A' + 10,
            b'a'..=b'z' => b - b'a' + 36,
            _ => return None,
        };
        n = n.checked_mul(62)?.checked_add(u64::from(d))?;
    }
    Some(Uid(n))
}

fn proto_of(name: &str, ip_proto: Option<i32>) -> Transport {
    match name {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        "icmp" => Transport::Icmp,
        _ => Transport::Other(ip_proto.and_then(|n| u8::try_from(n).ok()).unwrap_or(0)),
    }
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u64_of(v: Option<i64>) -> u64 {
    v.and_then(|x| u64::try_from(x).ok()).unwrap_or(0)
}

fn secs(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.0 as f64 / 1e6)
}

fn dur(s: Option<f64>) -> Option<Duration> {
    s.filter(|x| x.is_finite())
        .map(|x| Duration((x * 1e6).round() as i64))
}

fn u16_of(v: Option<i32>) -> Option<u16> {
    v.and_then(|x| u16::try_from(x).ok())
}

fn u8_of(v: Option<i32>) -> Option<u8> {
    v.and_then(|x| u8::try_from(x).ok())
}

fn u32_of(v: Option<i64>) -> u32 {
    v.and_then(|x| u32::try_from(x).ok()).unwrap_or(0)
}

/// Borrowed strings of a row being written, owned ones of a row read.
fn own(v: Option<Cow<'_, str>>) -> Option<String> {
    v.map(Cow::into_owned)
}

fn cow(v: &Option<String>) -> Option<Cow<'_, str>> {
    v.as_deref().map(Cow::Borrowed)
}

/// Rows of `rows` through `f`, then one batch of `R`'s table.
fn batch_of<'a, T, R: Row, W: Serialize>(
    rows: &'a [Sourced<'a, T>],
    f: impl Fn(&'a str, &'a T) -> W,
) -> Result<RecordBatch, Error> {
    rows_to_batch::<R, W>(rows.iter().map(|&(s, r)| f(s, r)))
}

// ---------------------------------------------------------------------
// conn

const STATES: [ConnState; 13] = [
    ConnState::S0,
    ConnState::S1,
    ConnState::SF,
    ConnState::REJ,
    ConnState::S2,
    ConnState::S3,
    ConnState::RSTO,
    ConnState::RSTR,
    ConnState::RSTOS0,
    ConnState::RSTRH,
    ConnState::SH,
    ConnState::SHR,
    ConnState::OTH,
];

enveloped! {
    struct ConnRow<'a> {
        service: Vec<Cow<'a, str>>,
        duration: Option<f64>,
        orig_bytes: Option<i64>,
        resp_bytes: Option<i64>,
        conn_state: Option<Cow<'a, str>>,
        local_orig: Option<bool>,
        local_resp: Option<bool>,
        missed_bytes: Option<i64>,
        history: Option<Cow<'a, str>>,
        orig_pkts: Option<i64>,
        orig_ip_bytes: Option<i64>,
        resp_pkts: Option<i64>,
        resp_ip_bytes: Option<i64>,
        ip_proto: Option<i32>,
    }
}
row!(ConnRow<'static>, "conn", ["ts"]);

pub fn conn_batch(rows: &[Sourced<'_, Conn>]) -> Result<RecordBatch, Error> {
    batch_of::<_, ConnRow<'static>, _>(rows, |s, r| ConnRow {
        service: r
            .service
            .iter()
            .map(|x| Cow::Borrowed(x.as_ref()))
            .collect(),
        duration: secs(r.duration),
        orig_bytes: r.orig_bytes.map(i64_of),
        resp_bytes: r.resp_bytes.map(i64_of),
        conn_state: Some(Cow::Borrowed(r.conn_state.as_str())),
        local_orig: r.local_orig,
        local_resp: r.local_resp,
        missed_bytes: Some(i64_of(r.missed_bytes)),
        history: Some(Cow::Borrowed(&r.history)),
        orig_pkts: Some(i64_of(r.orig_pkts)),
        orig_ip_bytes: Some(i64_of(r.orig_ip_bytes)),
        resp_pkts: Some(i64_of(r.resp_pkts)),
        resp_ip_bytes: Some(i64_of(r.resp_ip_bytes)),
        ip_proto: Some(i32::from(r.ip_proto)),
        ..ConnRow::envelope(s, Some(&r.meta))
    })
}

/// Conn rows of a batch; rows whose envelope does not parse are skipped
/// and counted in the second value.
pub fn read_conn(b: &RecordBatch) -> Result<(Vec<(String, Conn)>, u64), Error> {
    let rows = from_batch::<ConnRow<'static>>(b)?;
    let mut out = Vec::with_capacity(rows.len());
    let mut bad = 0;
    for r in rows {
        let Some(meta) = r.meta(r.ip_proto) else {
            bad += 1;
            continue;
        };
        let conn_state = STATES
            .into_iter()
            .find(|s| Some(s.as_str()) == r.conn_state.as_deref())
            .unwrap_or(ConnState::OTH);
        out.push((
            r.source.into_owned(),
            Conn {
                meta,
                service: r
                    .service
                    .iter()
                    .filter_map(|s| botscope_event::Service::from_name(s))
                    .collect(),
                duration: dur(r.duration),
                orig_bytes: r.orig_bytes.and_then(|x| u64::try_from(x).ok()),
                resp_bytes: r.resp_bytes.and_then(|x| u64::try_from(x).ok()),
                conn_state,
                local_orig: r.local_orig,
                local_resp: r.local_resp,
                missed_bytes: u64_of(r.missed_bytes),
                history: own(r.history).unwrap_or_default(),
                orig_pkts: u64_of(r.orig_pkts),
                orig_ip_bytes: u64_of(r.orig_ip_bytes),
                resp_pkts: u64_of(r.resp_pkts),
                resp_ip_bytes: u64_of(r.resp_ip_bytes),
                ip_proto: u8_of(r.ip_proto).unwrap_or(0),
                tunnel_parents: Vec::new(),
            },
        ));
    }
    Ok((out, bad))
}

// ---------------------------------------------------------------------
// http

enveloped! {
    struct HttpRow<'a> {
        trans_depth: Option<i64>,
        method: Option<Cow<'a, str>>,
        host: Option<Cow<'a, str>>,
        uri: Option<Cow<'a, str>>,
        referrer: Option<Cow<'a, str>>,
        version: Option<Cow<'a, str>>,
        user_agent: Option<Cow<'a, str>>,
        origin: Option<Cow<'a, str>>,
        request_body_len: Option<i64>,
        response_body_len: Option<i64>,
        status_code: Option<i32>,
        status_msg: Option<Cow<'a, str>>,
        info_code: Option<i32>,
        info_msg: Option<Cow<'a, str>>,
        username: Option<Cow<'a, str>>,
        password: Option<Cow<'a, str>>,
        proxied: Cow<'a, [String]>,
        orig_mime_types: Cow<'a, [String]>,
        resp_mime_types: Cow<'a, [String]>,
        orig_filenames: Cow<'a, [String]>,
        resp_filenames: Cow<'a, [String]>,
        req_content_type: Option<Cow<'a, str>>,
        resp_content_type: Option<Cow<'a, str>>,
        location: Option<Cow<'a, str>>,
        req_body_prefix: Option<Cow<'a, [u8]>>,
        resp_body_prefix: Option<Cow<'a, [u8]>>,
        req_body_sha256: Option<Cow<'a, str>>,
        resp_body_sha256: Option<Cow<'a, str>>,
        resp_body_incomplete: Option<bool>,
    }
}
row!(HttpRow<'static>, "http", ["ts"]);

pub fn http_batch(rows: &[Sourced<'_, Http>]) -> Result<RecordBatch, Error> {
    batch_of::<_, HttpRow<'static>, _>(rows, |s, r| HttpRow {
        trans_depth: Some(i64::from(r.trans_depth)),
        method: cow(&r.method),
        host: cow(&r.host),
        uri: cow(&r.uri),
        referrer: cow(&r.referrer),
        version: cow(&r.version),
        user_agent: cow(&r.user_agent),
        origin: cow(&r.origin),
        request_body_len: Some(i64_of(r.request_body_len)),
        response_body_len: Some(i64_of(r.response_body_len)),
        status_code: r.status_code.map(i32::from),
        status_msg: cow(&r.status_msg),
        info_code: r.info_code.map(i32::from),
        info_msg: cow(&r.info_msg),
        username: cow(&r.username),
        password: cow(&r.password),
        proxied: Cow::Borrowed(&r.proxied),
        orig_mime_types: Cow::Borrowed(&r.orig_mime_types),
        resp_mime_types: Cow::Borrowed(&r.resp_mime_types),
        orig_filenames: Cow::Borrowed(&r.orig_filenames),
        resp_filenames: Cow::Borrowed(&r.resp_filenames),
        req_content_type: cow(&r.req_content_type),
        resp_content_type: cow(&r.resp_content_type),
        location: cow(&r.location),
        req_body_prefix: Some(Cow::Borrowed(&r.req_body_prefix)),
        resp_body_prefix: Some(Cow::Borrowed(&r.resp_body_prefix)),
        req_body_sha256: cow(&r.req_body_sha256),
        resp_body_sha256: cow(&r.resp_body_sha256),
        resp_body_incomplete: Some(r.resp_body_incomplete),
        ..HttpRow::envelope(s, r.meta.as_ref())
    })
}

pub fn read_http(b: &RecordBatch) -> Result<Vec<(String, Http)>, Error> {
    Ok(from_batch::<HttpRow<'static>>(b)?
        .into_iter()
        .map(|r| {
            let meta = r.meta(None);
            (
                r.source.into_owned(),
                Http {
                    meta,
                    trans_depth: u32_of(r.trans_depth),
                    method: own(r.method),
                    host: own(r.host),
                    uri: own(r.uri),
                    referrer: own(r.referrer),
                    version: own(r.version),
                    user_agent: own(r.user_agent),
                    origin: own(r.origin),
                    request_body_len: u64_of(r.request_body_len),
                    response_body_len: u64_of(r.response_body_len),
                    status_code: u16_of(r.status_code),
                    status_msg: own(r.status_msg),
                    info_code: u16_of(r.info_code),
                    info_msg: own(r.info_msg),
                    username: own(r.username),
                    password: own(r.password),
                    proxied: r.proxied.into_owned(),
                    orig_mime_types: r.orig_mime_types.into_owned(),
                    resp_mime_types: r.resp_mime_types.into_owned(),
                    orig_filenames: r.orig_filenames.into_owned(),
                    resp_filenames: r.resp_filenames.into_owned(),
                    req_content_type: own(r.req_content_type),
                    resp_content_type: own(r.resp_content_type),
                    location: own(r.location),
                    req_body_prefix: r.req_body_prefix.map(Cow::into_owned).unwrap_or_default(),
                    resp_body_prefix: r.resp_body_prefix.map(Cow::into_owned).unwrap_or_default(),
                    req_body_sha256: own(r.req_body_sha256),
                    resp_body_sha256: own(r.resp_body_sha256),
                    resp_body_incomplete: r.resp_body_incomplete.unwrap_or(false),
                },
            )
        })
        .collect())
}

// ---------------------------------------------------------------------
// smtp

enveloped! {
    struct SmtpRow<'a> {
        trans_depth: Option<i64>,
        helo: Option<Cow<'a, str>>,
        mailfrom: Option<Cow<'a, str>>,
        rcptto: Cow<'a, [String]>,
        /// Zeek's `date` (the header), renamed: `date` is the partition.
        date_header: Option<Cow<'a, str>>,
        from: Option<Cow<'a, str>>,
        to: Cow<'a, [String]>,
        cc: Cow<'a, [String]>,
        reply_to: Option<Cow<'a, str>>,
        msg_id: Option<Cow<'a, str>>,
        in_reply_to: Option<Cow<'a, str>>,
        subject: Option<Cow<'a, str>>,
        x_originating_ip: Option<String>,
        first_received: Option<Cow<'a, str>>,
        second_received: Option<Cow<'a, str>>,
        last_reply: Option<Cow<'a, str>>,
        path: Vec<String>,
        user_agent: Option<Cow<'a, str>>,
        tls: Option<bool>,
        commands: Cow<'a, [String]>,
        pipelined: Option<bool>,
        auth_user: Option<Cow<'a, str>>,
        message_file: Option<Cow<'a, str>>,
        fuids: Cow<'a, [String]>,
    }
}
row!(SmtpRow<'static>, "smtp", ["ts"]);

pub fn smtp_batch(rows: &[Sourced<'_, Smtp>]) -> Result<RecordBatch, Error> {
    batch_of::<_, SmtpRow<'static>, _>(rows, |s, r| SmtpRow {
        trans_depth: Some(i64::from(r.trans_depth)),
        helo: cow(&r.helo),
        mailfrom: cow(&r.mailfrom),
        rcptto: Cow::Borrowed(&r.rcptto),
        date_header: cow(&r.date),
        from: cow(&r.from),
        to: Cow::Borrowed(&r.to),
        cc: Cow::Borrowed(&r.cc),
        reply_to: cow(&r.reply_to),
        msg_id: cow(&r.msg_id),
        in_reply_to: cow(&r.in_reply_to),
        subject: cow(&r.subject),
        x_originating_ip: r.x_originating_ip.map(|a| a.to_string()),
        first_received: cow(&r.first_received),
        second_received: cow(&r.second_received),
        last_reply: cow(&r.last_reply),
        path: r.path.iter().map(IpAddr::to_string).collect(),
        user_agent: cow(&r.user_agent),
        tls: Some(r.tls),
        commands: Cow::Borrowed(&r.commands),
        pipelined: Some(r.pipelined),
        auth_user: cow(&r.auth_user),
        message_file: cow(&r.message_file),
        fuids: Cow::Borrowed(&r.fuids),
        ..SmtpRow::envelope(s, r.meta.as_ref())
    })
}

pub fn read_smtp(b: &RecordBatch) -> Result<Vec<(String, Smtp)>, Error> {
    Ok(from_batch::<SmtpRow<'static>>(b)?
        .into_iter()
        .map(|r| {
            let meta = r.meta(None);
            (
                r.source.into_owned(),
                Smtp {
                    meta,
                    trans_depth: u32_of(r.trans_depth),
                    helo: own(r.helo),
                    mailfrom: own(r.mailfrom),
                    rcptto: r.rcptto.into_owned(),
                    date: own(r.date_header),
                    from: own(r.from),
                    to: r.to.into_owned(),
                    cc: r.cc.into_owned(),
                    reply_to: own(r.reply_to),
                    msg_id: own(r.msg_id),
                    in_reply_to: own(r.in_reply_to),
                    subject: own(r.subject),
                    x_originating_ip: r.x_originating_ip.and_then(|a| a.parse().ok()),
                    first_received: own(r.first_received),
                    second_received: own(r.second_received),
                    last_reply: own(r.last_reply),
                    path: r.path.iter().filter_map(|a| a.parse().ok()).collect(),
                    user_agent: own(r.user_agent),
                    tls: r.tls.unwrap_or(false),
                    commands: r.commands.into_owned(),
                    pipelined: r.pipelined.unwrap_or(false),
                    auth_user: own(r.auth_user),
                    message_file: own(r.message_file),
                    fuids: r.fuids.into_owned(),
                },
            )
        })
        .collect())
}

// ---------------------------------------------------------------------
// dns

enveloped! {
    #[allow(non_snake_case)]
    struct DnsRow<'a> {
        trans_id: Option<i32>,
        rtt: Option<f64>,
        query: Option<Cow<'a, str>>,
        qclass: Option<i32>,
        qclass_name: Option<Cow<'a, str>>,
        qtype: Option<i32>,
        qtype_name: Option<Cow<'a, str>>,
        rcode: Option<i32>,
        rcode_name: Option<Cow<'a, str>>,
        AA: Option<bool>,
        TC: Option<bool>,
        RD: Option<bool>,
        RA: Option<bool>,
        Z: Option<i32>,
        answers: Cow<'a, [String]>,
        TTLs: Vec<i64>,
        rejected: Option<bool>,
        opcode: Option<i32>,
        opcode_name: Option<Cow<'a, str>>,
    }
}
row!(DnsRow<'static>, "dns", ["ts"]);

pub fn dns_batch(rows: &[Sourced<'_, Dns>]) -> Result<RecordBatch, Error> {
    batch_of::<_, DnsRow<'static>, _>(rows, |s, r| DnsRow {
        trans_id: Some(i32::from(r.trans_id)),
        rtt: secs(r.rtt),
        query: cow(&r.query),
        qclass: r.qclass.map(i32::from),
        qclass_name: cow(&r.qclass_name),
        qtype: r.qtype.map(i32::from),
        qtype_name: cow(&r.qtype_name),
        rcode: r.rcode.map(i32::from),
        rcode_name: cow(&r.rcode_name),
        AA: Some(r.aa),
        TC: Some(r.tc),
        RD: Some(r.rd),
        RA: Some(r.ra),
        Z: Some(i32::from(r.z)),
        answers: Cow::Borrowed(&r.answers),
        TTLs: r.ttls.iter().map(|t| i64::from(*t)).collect(),
        rejected: Some(r.rejected),
        opcode: r.opcode.map(i32::from),
        opcode_name: cow(&r.opcode_name),
        ..DnsRow::envelope(s, r.meta.as_ref())
    })
}

pub fn read_dns(b: &RecordBatch) -> Result<Vec<(String, Dns)>, Error> {
    Ok(from_batch::<DnsRow<'static>>(b)?
        .into_iter()
        .map(|r| {
            let meta = r.meta(None);
            (
                r.source.into_owned(),
                Dns {
                    meta,
                    trans_id: u16_of(r.trans_id).unwrap_or(0),
                    rtt: dur(r.rtt),
                    query: own(r.query),
                    qclass: u16_of(r.qclass),
                    qclass_name: own(r.qclass_name),
                    qtype: u16_of(r.qtype),
                    qtype_name: own(r.qtype_name),
                    rcode: u8_of(r.rcode),
                    rcode_name: own(r.rcode_name),
                    aa: r.AA.unwrap_or(false),
                    tc: r.TC.unwrap_or(false),
                    rd: r.RD.unwrap_or(false),
                    ra: r.RA.unwrap_or(false),
                    z: u8_of(r.Z).unwrap_or(0),
                    answers: r.answers.into_owned(),
                    ttls: r
                        .TTLs
                        .iter()
                        .filter_map(|t| u32::try_from(*t).ok())
                        .collect(),
                    rejected: r.rejected.unwrap_or(false),
                    opcode: u8_of(r.opcode),
                    opcode_name: own(r.opcode_name),
                },
            )
        })
        .collect())
}

// ---------------------------------------------------------------------
// ssl

enveloped! {
    struct SslRow<'a> {
        version: Option<Cow<'a, str>>,
        cipher: Option<Cow<'a, str>>,
        curve: Option<Cow<'a, str>>,
        server_name: Option<Cow<'a, str>>,
        resumed: Option<bool>,
        last_alert: Option<Cow<'a, str>>,
        next_protocol: Option<Cow<'a, str>>,
        established: Option<bool>,
        ssl_history: Option<Cow<'a, str>>,
        client_alpn: Cow<'a, [String]>,
        ja3: Option<Cow<'a, str>>,
        ja3s: Option<Cow<'a, str>>,
        ja4: Option<Cow<'a, str>>,
    }
}
row!(SslRow<'static>, "ssl", ["ts"]);

pub fn ssl_batch(rows: &[Sourced<'_, Ssl>]) -> Result<RecordBatch, Error> {
    batch_of::<_, SslRow<'static>, _>(rows, |s, r| SslRow {
        version: cow(&r.version),
        cipher: cow(&r.cipher),
        curve: cow(&r.curve),
        server_name: cow(&r.server_name),
        resumed: Some(r.resumed),
        last_alert: cow(&r.last_alert),
        next_protocol: cow(&r.next_protocol),
        established: Some(r.established),
        ssl_history: Some(Cow::Borrowed(&r.ssl_history)),
        client_alpn: Cow::Borrowed(&r.client_alpn),
        ja3: cow(&r.ja3),
        ja3s: cow(&r.ja3s),
        ja4: cow(&r.ja4),
        ..SslRow::envelope(s, r.meta.as_ref())
    })
}

pub fn read_ssl(b: &RecordBatch) -> Result<Vec<(String, Ssl)>, Error> {
    Ok(from_batch::<SslRow<'static>>(b)?
        .into_iter()
        .map(|r| {
            let meta = r.meta(None);
            (
                r.source.into_owned(),
                Ssl {
                    meta,
                    version: own(r.version),
                    cipher: own(r.cipher),
                    curve: own(r.curve),
                    server_name: own(r.server_name),
                    resumed: r.resumed.unwrap_or(false),
                    last_alert: own(r.last_alert),
                    next_protocol: own(r.next_protocol),
                    established: r.established.unwrap_or(false),
                    ssl_history: own(r.ssl_history).unwrap_or_default(),
                    client_alpn: r.client_alpn.into_owned(),
                    ja3: own(r.ja3),
                    ja3s: own(r.ja3s),
                    ja4: own(r.ja4),
                    ..Ssl::default()
                },
            )
        })
        .collect())
}

// ---------------------------------------------------------------------
// irc

enveloped! {
    struct IrcRow<'a> {
        nick: Option<Cow<'a, str>>,
        user: Option<Cow<'a, str>>,
        command: Option<Cow<'a, str>>,
        value: Option<Cow<'a, str>>,
        addl: Option<Cow<'a, str>>,
        dcc_file_name: Option<Cow<'a, str>>,
        dcc_file_size: Option<i64>,
        dcc_mime_type: Option<Cow<'a, str>>,
    }
}
row!(IrcRow<'static>, "irc", ["ts"]);

pub fn irc_batch(rows: &[Sourced<'_, Irc>]) -> Result<RecordBatch, Error> {
    batch_of::<_, IrcRow<'static>, _>(rows, |s, r| IrcRow {
        nick: cow(&r.nick),
        user: cow(&r.user),
        command: cow(&r.command),
        value: cow(&r.value),
        addl: cow(&r.addl),
        dcc_file_name: cow(&r.dcc_file_name),
        dcc_file_size: r.dcc_file_size.map(i64_of),
        dcc_mime_type: cow(&r.dcc_mime_type),
        ..IrcRow::envelope(s, r.meta.as_ref())
    })
}

pub fn read_irc(b: &RecordBatch) -> Result<Vec<(String, Irc)>, Error> {
    Ok(from_batch::<IrcRow<'static>>(b)?
        .into_iter()
        .map(|r| {
            let meta = r.meta(None);
            (
                r.source.into_owned(),
                Irc {
                    meta,
                    nick: own(r.nick),
                    user: own(r.user),
                    command: own(r.command),
                    value: own(r.value),
                    addl: own(r.addl),
                    dcc_file_name: own(r.dcc_file_name),
                    dcc_file_size: r.dcc_file_size.and_then(|x| u64::try_from(x).ok()),
                    dcc_mime_type: own(r.dcc_mime_type),
                },
            )
        })
        .collect())
}

// ---------------------------------------------------------------------
// mail

/// The partition time of a message: the trap's receive time, else the
/// parsed `Date:` header.
pub fn mail_time(m: &MailMessage) -> Option<i64> {
    m.received_ts.or(m.date_ts).map(|t| t.0)
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct MailRow<'a> {
    ts: Option<i64>,
    source: Cow<'a, str>,
    received_ts: Option<i64>,
    message_id: Option<Cow<'a, str>>,
    sender_ip: Option<String>,
    helo: Option<Cow<'a, str>>,
    mail_from: Option<Cow<'a, str>>,
    rcpt_to: Cow<'a, [String]>,
    subject: Option<Cow<'a, str>>,
    date_header: Option<Cow<'a, str>>,
    date_ts: Option<i64>,
    family: Option<Cow<'a, str>>,
    family_confidence: Option<f64>,
    campaign: Option<Cow<'a, str>>,
    category: Option<Cow<'a, str>>,
    brand: Option<Cow<'a, str>>,
    urls: Cow<'a, [String]>,
    domains: Cow<'a, [String]>,
    size: Option<i64>,
    error: Option<Cow<'a, str>>,
    /// Added later: parts written before have none.
    fingerprint: Cow<'a, [String]>,
}
row!(MailRow<'static>, "mail", ["ts", "received_ts", "date_ts"]);

pub fn mail_batch(rows: &[&MailMessage]) -> Result<RecordBatch, Error> {
    rows_to_batch::<MailRow<'static>, _>(rows.iter().map(|r| MailRow {
        ts: mail_time(r),
        source: Cow::Borrowed(&r.source),
        received_ts: r.received_ts.map(|t| t.0),
        message_id: cow(&r.message_id),
        sender_ip: r.sender_ip.map(|a| a.to_string()),
        helo: cow(&r.helo),
        mail_from: cow(&r.mail_from),
        rcpt_to: Cow::Borrowed(&r.rcpt_to),
        subject: cow(&r.subject),
        date_header: cow(&r.date_header),
        date_ts: r.date_ts.map(|t| t.0),
        family: Some(Cow::Borrowed(&r.family)),
        family_confidence: Some(r.family_confidence),
        campaign: cow(&r.campaign),
        category: Some(Cow::Borrowed(&r.category)),
        brand: cow(&r.brand),
        urls: Cow::Borrowed(&r.urls),
        domains: Cow::Borrowed(&r.domains),
        size: Some(i64_of(r.size)),
        error: cow(&r.error),
        fingerprint: Cow::Borrowed(&r.fingerprint),
    }))
}

pub fn read_mail(b: &RecordBatch) -> Result<Vec<MailMessage>, Error> {
    Ok(from_batch::<MailRow<'static>>(b)?
        .into_iter()
        .map(|r| MailMessage {
            source: r.source.into_owned(),
            received_ts: r.received_ts.map(Ts),
            message_id: own(r.message_id),
            sender_ip: r.sender_ip.and_then(|a| a.parse().ok()),
            helo: own(r.helo),
            mail_from: own(r.mail_from),
            rcpt_to: r.rcpt_to.into_owned(),
            subject: own(r.subject),
            date_header: own(r.date_header),
            date_ts: r.date_ts.map(Ts),
            family: own(r.family).unwrap_or_default(),
            family_confidence: r.family_confidence.unwrap_or(0.0),
            campaign: own(r.campaign),
            category: own(r.category).unwrap_or_default(),
            brand: own(r.brand),
            urls: r.urls.into_owned(),
            domains: r.domains.into_owned(),
            size: u64_of(r.size),
            error: own(r.error),
            fingerprint: r.fingerprint.into_owned(),
        })
        .collect())
}

/// One row of the `mail_hourly` rollup (this struct is the table).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct MailHourly {
    /// Start of the hour (µs); `None` for messages without a time.
    #[serde(rename = "ts")]
    pub hour: Option<i64>,
    pub family: String,
    pub category: String,
    pub brand: Option<String>,
    pub campaign: Option<String>,
    pub messages: i64,
    pub bytes: i64,
}
row!(MailHourly, "mail_hourly", ["ts"]);

const HOUR_US: i64 = 3_600_000_000;
/// Aggregate messages into rollup rows (sorted).
pub fn mail_hourly_rows(rows: &[&MailMessage]) -> Vec<MailHourly> {
    type Key<'a> = (
        Option<i64>,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
    );
    let mut acc: BTreeMap<Key<'_>, (i64, i64)> = BTreeMap::new();
    for m in rows {
        let hour = mail_time(m).map(|t| t - t.rem_euclid(HOUR_US));
        let e = acc
            .entry((
                hour,
                m.family.as_str(),
                m.category.as_str(),
                m.brand.as_deref(),
                m.campaign.as_deref(),
            ))
            .or_insert((0, 0));
        e.0 += 1;
        e.1 =
            e.1.saturating_add(i64::try_from(m.size).unwrap_or(i64::MAX));
    }
    acc.into_iter()
        .map(|((hour, f, c, b, k), (n, bytes))| MailHourly {
            hour,
            family: f.to_string(),
            category: c.to_string(),
            brand: b.map(str::to_string),
            campaign: k.map(str::to_string),
            messages: n,
            bytes,
        })
        .collect()
}

pub fn mail_hourly_batch(rows: &[MailHourly]) -> Result<RecordBatch, Error> {
    to_batch::<MailHourly, _>(rows)
}

pub fn read_mail_hourly(b: &RecordBatch) -> Result<Vec<MailHourly>, Error> {
    from_batch::<MailHourly>(b)
}

// ---------------------------------------------------------------------
// activity

/// One row of the `activity` table: one activity class of one host, as
/// the activity analysis found it in one input.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityRow {
    /// The input the verdict was computed over.
    pub source: String,
    pub host: IpAddr,
    /// `spam`, `c2`, `download`, `click_fraud`, `scan` or `benign`.
    pub class: String,
    /// Window of the activity: first and last connection start (µs).
    pub first: Ts,
    pub last: Ts,
    pub connections: u64,
    pub requests: u64,
    pub bytes: u64,
    /// Share of the host's connections in this class, 0..1.
    pub share: f64,
    pub peers: Vec<String>,
    pub evidence: Vec<String>,
    /// Confidence in `[0, 1]` when the analyser gives one. The activity
    /// analyser of this version gives none (its verdicts are thresholded
    /// rules), so it writes nulls.
    pub confidence: Option<f64>,
}

/// Activity rows from the activity analysis of one input.
pub fn activity_rows(source: &str, hosts: &[botscope_activity::HostReport]) -> Vec<ActivityRow> {
    let mut out = Vec::new();
    for h in hosts {
        for a in &h.activities {
            out.push(ActivityRow {
                source: source.to_string(),
                host: h.host,
                class: a.class.as_str().to_string(),
                first: a.first,
                last: a.last,
                connections: a.connections,
                requests: a.requests,
                bytes: a.bytes,
                share: a.share,
                peers: a.peers.clone(),
                evidence: a.evidence.clone(),
                confidence: None,
            });
        }
    }
    out
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct ActivityRecord<'a> {
    ts: Option<i64>,
    source: Cow<'a, str>,
    host: Option<String>,
    class: Option<Cow<'a, str>>,
    first: Option<i64>,
    last: Option<i64>,
    connections: Option<i64>,
    requests: Option<i64>,
    bytes: Option<i64>,
    share: Option<f64>,
    peers: Cow<'a, [String]>,
    evidence: Cow<'a, [String]>,
    confidence: Option<f64>,
}
row!(ActivityRecord<'static>, "activity", ["ts", "first", "last"]);

pub fn activity_batch(rows: &[ActivityRow]) -> Result<RecordBatch, Error> {
    rows_to_batch::<ActivityRecord<'static>, _>(rows.iter().map(|r| ActivityRecord {
        ts: Some(r.first.0),
        source: Cow::Borrowed(&r.source),
        host: Some(r.host.to_string()),
        class: Some(Cow::Borrowed(&r.class)),
        first: Some(r.first.0),
        last: Some(r.last.0),
        connections: Some(i64_of(r.connections)),
        requests: Some(i64_of(r.requests)),
        bytes: Some(i64_of(r.bytes)),
        share: Some(r.share),
        peers: Cow::Borrowed(&r.peers),
        evidence: Cow::Borrowed(&r.evidence),
        confidence: r.confidence,
    }))
}

/// Activity rows of a batch (rows without a host address are skipped).
pub fn read_activity(b: &RecordBatch) -> Result<Vec<ActivityRow>, Error> {
    Ok(from_batch::<ActivityRecord<'static>>(b)?
        .into_iter()
        .filter_map(|r| {
            Some(ActivityRow {
                host: r.host.as_deref()?.parse().ok()?,
                source: r.source.into_owned(),
                class: own(r.class).unwrap_or_default(),
                first: Ts(r.first.unwrap_or(0)),
                last: Ts(r.last.unwrap_or(0)),
                connections: u64_of(r.connections),
                requests: u64_of(r.requests),
                bytes: u64_of(r.bytes),
                share: r.share.unwrap_or(0.0),
                peers: r.peers.into_owned(),
                evidence: r.evidence.into_owned(),
                confidence: r.confidence,
            })
        })
        .collect())
}

// ---------------------------------------------------------------------
// alert

/// One row of the `alert` table: one dated timeline event.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRow {
    /// The day of the event (midnight UTC, µs).
    pub ts: Ts,
    pub family: String,
    /// `silence`, `drop`, `return`, `shift` or `changepoint`.
    pub kind: String,
    pub level_before: f64,
    pub level_after: f64,
    /// Plain-language evidence ("quiet since 2010-12-28 after 41/day").
    pub evidence: String,
    /// The series the event was found in (e.g. `family:rustock`).
    pub series: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct AlertRecord<'a> {
    ts: Option<i64>,
    family: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    level_before: Option<f64>,
    level_after: Option<f64>,
    evidence: Option<Cow<'a, str>>,
    series: Option<Cow<'a, str>>,
}
row!(AlertRecord<'static>, "alert", ["ts"]);

pub fn alert_batch(rows: &[AlertRow]) -> Result<RecordBatch, Error> {
    rows_to_batch::<AlertRecord<'static>, _>(rows.iter().map(|r| AlertRecord {
        ts: Some(r.ts.0),
        family: Some(Cow::Borrowed(&r.family)),
        kind: Some(Cow::Borrowed(&r.kind)),
        level_before: Some(r.level_before),
        level_after: Some(r.level_after),
        evidence: Some(Cow::Borrowed(&r.evidence)),
        series: Some(Cow::Borrowed(&r.series)),
    }))
}

pub fn read_alert(b: &RecordBatch) -> Result<Vec<AlertRow>, Error> {
    Ok(from_batch::<AlertRecord<'static>>(b)?
        .into_iter()
        .map(|r| AlertRow {
            ts: Ts(r.ts.unwrap_or(0)),
            family: own(r.family).unwrap_or_default(),
            kind: own(r.kind).unwrap_or_default(),
            level_before: r.level_before.unwrap_or(f64::NAN),
            level_after: r.level_after.unwrap_or(f64::NAN),
            evidence: own(r.evidence).unwrap_or_default(),
            series: own(r.series).unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_round_trips() {
        for n in [0u64, 1, 61, 62, 12345678901234, u64::MAX] {
            assert_eq!(parse_uid(&Uid(n).to_string()), Some(Uid(n)));
        }
        assert_eq!(parse_uid("C"), None);
        assert_eq!(parse_uid("X12"), None);
        assert_eq!(parse_uid("Czzzzzzzzzzzzzz"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(1_293_062_400_000_000), "2010-12-23");
        assert_eq!(date_of(-1), "1969-12-31");
    }

    #[test]
    fn every_table_has_a_ts_column() {
        for t in Table::ALL {
            let s = t.schema();
            assert!(s.field_with_name("ts").is_ok(), "{}", t.name());
        }
    }
}
