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

use std::collections::BTreeMap;
use std::net::IpAddr;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use botscope_event::{
    Conn, ConnId, ConnState, Dns, Duration, Http, Irc, MailMessage, Meta, Smtp, Ssl, Transport, Ts,
    Uid,
};

use crate::cols::{Cols, Get};
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
        // Building an empty batch defines the schema in one place.
        let b = match self {
            Table::Conn => conn_batch(&[]),
            Table::Http => http_batch(&[]),
            Table::Smtp => smtp_batch(&[]),
            Table::Dns => dns_batch(&[]),
            Table::Ssl => ssl_batch(&[]),
            Table::Irc => irc_batch(&[]),
            Table::Mail => mail_batch(&[]),
            Table::MailHourly => mail_hourly_batch(&[]),
            Table::Activity => activity_batch(&[]),
            Table::Alert => alert_batch(&[]),
        };
        match b {
            Ok(b) => b.schema(),
            // Empty columns always agree in length.
            Err(_) => SchemaRef::new(arrow_schema::Schema::empty()),
        }
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
// envelope

fn uid_str(u: Uid) -> String {
    u.to_string()
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

fn proto_of(name: &str, ip_proto: Option<i64>) -> Transport {
    match name {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        "icmp" => Transport::Icmp,
        _ => Transport::Other(ip_proto.and_then(|n| u8::try_from(n).ok()).unwrap_or(0)),
    }
}

fn envelope(c: &mut Cols, rows: &[(&str, Option<&Meta>)]) {
    c.ts("ts", rows.iter().map(|(_, m)| m.map(|m| m.ts.0)));
    c.str("source", rows.iter().map(|(s, _)| Some(*s)));
    let uids: Vec<Option<String>> = rows
        .iter()
        .map(|(_, m)| m.map(|m| uid_str(m.uid)))
        .collect();
    c.str("uid", uids.iter().map(Option::as_deref));
    let oh: Vec<Option<String>> = rows
        .iter()
        .map(|(_, m)| m.map(|m| m.id.orig_h.to_string()))
        .collect();
    c.str("orig_h", oh.iter().map(Option::as_deref));
    c.i32(
        "orig_p",
        rows.iter().map(|(_, m)| m.map(|m| i32::from(m.id.orig_p))),
    );
    let rh: Vec<Option<String>> = rows
        .iter()
        .map(|(_, m)| m.map(|m| m.id.resp_h.to_string()))
        .collect();
    c.str("resp_h", rh.iter().map(Option::as_deref));
    c.i32(
        "resp_p",
        rows.iter().map(|(_, m)| m.map(|m| i32::from(m.id.resp_p))),
    );
    c.str(
        "proto",
        rows.iter().map(|(_, m)| m.map(|m| m.id.proto.zeek_name())),
    );
}

/// The envelope columns read back: source and meta per row.
struct Env {
    source: Vec<Option<String>>,
    meta: Vec<Option<Meta>>,
}

fn read_envelope(g: &Get<'_>, ip_proto: Option<&[Option<i64>]>) -> Result<Env, Error> {
    let ts = g.ts("ts")?;
    let source = g.str("source")?;
    let uid = g.str("uid")?;
    let oh = g.str("orig_h")?;
    let op = g.i64("orig_p")?;
    let rh = g.str("resp_h")?;
    let rp = g.i64("resp_p")?;
    let proto = g.str("proto")?;
    let mut meta = Vec::with_capacity(g.rows());
    for i in 0..g.rows() {
        let m = (|| {
            let uid = parse_uid(uid[i].as_deref()?)?;
            let orig_h: IpAddr = oh[i].as_deref()?.parse().ok()?;
            let resp_h: IpAddr = rh[i].as_deref()?.parse().ok()?;
            Some(Meta {
                ts: Ts(ts[i]?),
                uid,
                id: ConnId {
                    orig_h,
                    orig_p: u16::try_from(op[i]?).ok()?,
                    resp_h,
                    resp_p: u16::try_from(rp[i]?).ok()?,
                    proto: proto_of(
                        proto[i].as_deref()?,
                        ip_proto.and_then(|p| p.get(i).copied().flatten()),
                    ),
                },
            })
        })();
        meta.push(m);
    }
    Ok(Env { source, meta })
}

fn opt_u64(v: Option<u64>) -> Option<i64> {
    v.map(|x| i64::try_from(x).unwrap_or(i64::MAX))
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

fn s(v: &Option<String>) -> Option<&str> {
    v.as_deref()
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

pub fn conn_batch(rows: &[Sourced<'_, Conn>]) -> Result<RecordBatch, Error> {
    let mut c = Cols::new();
    let env: Vec<_> = rows.iter().map(|(s, r)| (*s, Some(&r.meta))).collect();
    envelope(&mut c, &env);
    c.strs("service", rows.iter().map(|(_, r)| r.service.iter()));
    c.f64("duration", rows.iter().map(|(_, r)| secs(r.duration)));
    c.i64(
        "orig_bytes",
        rows.iter().map(|(_, r)| opt_u64(r.orig_bytes)),
    );
    c.i64(
        "resp_bytes",
        rows.iter().map(|(_, r)| opt_u64(r.resp_bytes)),
    );
    c.str(
        "conn_state",
        rows.iter().map(|(_, r)| Some(r.conn_state.as_str())),
    );
    c.bool("local_orig", rows.iter().map(|(_, r)| r.local_orig));
    c.bool("local_resp", rows.iter().map(|(_, r)| r.local_resp));
    c.i64(
        "missed_bytes",
        rows.iter().map(|(_, r)| opt_u64(Some(r.missed_bytes))),
    );
    c.str(
        "history",
        rows.iter().map(|(_, r)| Some(r.history.as_str())),
    );
    c.i64(
        "orig_pkts",
        rows.iter().map(|(_, r)| opt_u64(Some(r.orig_pkts))),
    );
    c.i64(
        "orig_ip_bytes",
        rows.iter().map(|(_, r)| opt_u64(Some(r.orig_ip_bytes))),
    );
    c.i64(
        "resp_pkts",
        rows.iter().map(|(_, r)| opt_u64(Some(r.resp_pkts))),
    );
    c.i64(
        "resp_ip_bytes",
        rows.iter().map(|(_, r)| opt_u64(Some(r.resp_ip_bytes))),
    );
    c.i32(
        "ip_proto",
        rows.iter().map(|(_, r)| Some(i32::from(r.ip_proto))),
    );
    c.finish()
}

/// Conn rows of a batch; rows whose envelope does not parse are skipped
/// and counted in the second value.
pub fn read_conn(b: &RecordBatch) -> Result<(Vec<(String, Conn)>, u64), Error> {
    let g = Get::new(b, "conn");
    let ip_proto = g.i64("ip_proto")?;
    let env = read_envelope(&g, Some(&ip_proto))?;
    let service = g.strs("service")?;
    let duration = g.f64("duration")?;
    let ob = g.i64("orig_bytes")?;
    let rb = g.i64("resp_bytes")?;
    let state = g.str("conn_state")?;
    let lo = g.bool("local_orig")?;
    let lr = g.bool("local_resp")?;
    let missed = g.i64("missed_bytes")?;
    let history = g.str("history")?;
    let op = g.i64("orig_pkts")?;
    let oib = g.i64("orig_ip_bytes")?;
    let rp = g.i64("resp_pkts")?;
    let rib = g.i64("resp_ip_bytes")?;
    let mut out = Vec::with_capacity(g.rows());
    let mut bad = 0;
    for i in 0..g.rows() {
        let Some(meta) = env.meta[i] else {
            bad += 1;
            continue;
        };
        let conn_state = STATES
            .into_iter()
            .find(|s| Some(s.as_str()) == state[i].as_deref())
            .unwrap_or(ConnState::OTH);
        out.push((
            env.source[i].clone().unwrap_or_default(),
            Conn {
                meta,
                service: service[i]
                    .iter()
                    .filter_map(|s| botscope_event::Service::from_name(s))
                    .collect(),
                duration: dur(duration[i]),
                orig_bytes: ob[i].and_then(|x| u64::try_from(x).ok()),
                resp_bytes: rb[i].and_then(|x| u64::try_from(x).ok()),
                conn_state,
                local_orig: lo[i],
                local_resp: lr[i],
                missed_bytes: u64_of(missed[i]),
                history: history[i].clone().unwrap_or_default(),
                orig_pkts: u64_of(op[i]),
                orig_ip_bytes: u64_of(oib[i]),
                resp_pkts: u64_of(rp[i]),
                resp_ip_bytes: u64_of(rib[i]),
                ip_proto: ip_proto[i].and_then(|x| u8::try_from(x).ok()).unwrap_or(0),
                tunnel_parents: Vec::new(),
            },
        ));
    }
    Ok((out, bad))
}

// ---------------------------------------------------------------------
// http

pub fn http_batch(rows: &[Sourced<'_, Http>]) -> Result<RecordBatch, Error> {
    let mut c = Cols::new();
    let env: Vec<_> = rows.iter().map(|(s, r)| (*s, r.meta.as_ref())).collect();
    envelope(&mut c, &env);
    c.i64(
        "trans_depth",
        rows.iter().map(|(_, r)| Some(i64::from(r.trans_depth))),
    );
    c.str("method", rows.iter().map(|(_, r)| s(&r.method)));
    c.str("host", rows.iter().map(|(_, r)| s(&r.host)));
    c.str("uri", rows.iter().map(|(_, r)| s(&r.uri)));
    c.str("referrer", rows.iter().map(|(_, r)| s(&r.referrer)));
    c.str("version", rows.iter().map(|(_, r)| s(&r.version)));
    c.str("user_agent", rows.iter().map(|(_, r)| s(&r.user_agent)));
    c.str("origin", rows.iter().map(|(_, r)| s(&r.origin)));
    c.i64(
        "request_body_len",
        rows.iter().map(|(_, r)| opt_u64(Some(r.request_body_len))),
    );
    c.i64(
        "response_body_len",
        rows.iter().map(|(_, r)| opt_u64(Some(r.response_body_len))),
    );
    c.i32(
        "status_code",
        rows.iter().map(|(_, r)| r.status_code.map(i32::from)),
    );
    c.str("status_msg", rows.iter().map(|(_, r)| s(&r.status_msg)));
    c.i32(
        "info_code",
        rows.iter().map(|(_, r)| r.info_code.map(i32::from)),
    );
    c.str("info_msg", rows.iter().map(|(_, r)| s(&r.info_msg)));
    c.str("username", rows.iter().map(|(_, r)| s(&r.username)));
    c.str("password", rows.iter().map(|(_, r)| s(&r.password)));
    c.strs("proxied", rows.iter().map(|(_, r)| r.proxied.iter()));
    c.strs(
        "orig_mime_types",
        rows.iter().map(|(_, r)| r.orig_mime_types.iter()),
    );
    c.strs(
        "resp_mime_types",
        rows.iter().map(|(_, r)| r.resp_mime_types.iter()),
    );
    c.strs(
        "orig_filenames",
        rows.iter().map(|(_, r)| r.orig_filenames.iter()),
    );
    c.strs(
        "resp_filenames",
        rows.iter().map(|(_, r)| r.resp_filenames.iter()),
    );
    c.str(
        "req_content_type",
        rows.iter().map(|(_, r)| s(&r.req_content_type)),
    );
    c.str(
        "resp_content_type",
        rows.iter().map(|(_, r)| s(&r.resp_content_type)),
    );
    c.str("location", rows.iter().map(|(_, r)| s(&r.location)));
    c.bin(
        "req_body_prefix",
        rows.iter().map(|(_, r)| Some(r.req_body_prefix.as_slice())),
    );
    c.bin(
        "resp_body_prefix",
        rows.iter()
            .map(|(_, r)| Some(r.resp_body_prefix.as_slice())),
    );
    c.str(
        "req_body_sha256",
        rows.iter().map(|(_, r)| s(&r.req_body_sha256)),
    );
    c.str(
        "resp_body_sha256",
        rows.iter().map(|(_, r)| s(&r.resp_body_sha256)),
    );
    c.bool(
        "resp_body_incomplete",
        rows.iter().map(|(_, r)| Some(r.resp_body_incomplete)),
    );
    c.finish()
}

fn u16_of(v: Option<i64>) -> Option<u16> {
    v.and_then(|x| u16::try_from(x).ok())
}

fn u32_of(v: Option<i64>) -> u32 {
    v.and_then(|x| u32::try_from(x).ok()).unwrap_or(0)
}

pub fn read_http(b: &RecordBatch) -> Result<Vec<(String, Http)>, Error> {
    let g = Get::new(b, "http");
    let env = read_envelope(&g, None)?;
    let depth = g.i64("trans_depth")?;
    let method = g.str("method")?;
    let host = g.str("host")?;
    let uri = g.str("uri")?;
    let referrer = g.str("referrer")?;
    let version = g.str("version")?;
    let ua = g.str("user_agent")?;
    let origin = g.str("origin")?;
    let rql = g.i64("request_body_len")?;
    let rsl = g.i64("response_body_len")?;
    let sc = g.i64("status_code")?;
    let sm = g.str("status_msg")?;
    let ic = g.i64("info_code")?;
    let im = g.str("info_msg")?;
    let user = g.str("username")?;
    let pass = g.str("password")?;
    let proxied = g.strs("proxied")?;
    // Added 2026-12-05: older datasets have no such columns.
    let ofn = g.strs("orig_filenames")?;
    let rfn = g.strs("resp_filenames")?;
    let omt = g.strs("orig_mime_types")?;
    let rmt = g.strs("resp_mime_types")?;
    let rqct = g.str("req_content_type")?;
    let rsct = g.str("resp_content_type")?;
    let loc = g.str("location")?;
    let rqb = g.bin("req_body_prefix")?;
    let rsb = g.bin("resp_body_prefix")?;
    let rqh = g.str("req_body_sha256")?;
    let rsh = g.str("resp_body_sha256")?;
    let inc = g.bool("resp_body_incomplete")?;
    let mut out = Vec::with_capacity(g.rows());
    for i in 0..g.rows() {
        out.push((
            env.source[i].clone().unwrap_or_default(),
            Http {
                meta: env.meta[i],
                trans_depth: u32_of(depth[i]),
                method: method[i].clone(),
                host: host[i].clone(),
                uri: uri[i].clone(),
                referrer: referrer[i].clone(),
                version: version[i].clone(),
                user_agent: ua[i].clone(),
                origin: origin[i].clone(),
                request_body_len: u64_of(rql[i]),
                response_body_len: u64_of(rsl[i]),
                status_code: u16_of(sc[i]),
                status_msg: sm[i].clone(),
                info_code: u16_of(ic[i]),
                info_msg: im[i].clone(),
                username: user[i].clone(),
                password: pass[i].clone(),
                proxied: proxied[i].clone(),
                orig_mime_types: omt[i].clone(),
                resp_mime_types: rmt[i].clone(),
                orig_filenames: ofn[i].clone(),
                resp_filenames: rfn[i].clone(),
                req_content_type: rqct[i].clone(),
                resp_content_type: rsct[i].clone(),
                location: loc[i].clone(),
                req_body_prefix: rqb[i].clone().unwrap_or_default(),
                resp_body_prefix: rsb[i].clone().unwrap_or_default(),
                req_body_sha256: rqh[i].clone(),
                resp_body_sha256: rsh[i].clone(),
                resp_body_incomplete: inc[i].unwrap_or(false),
            },
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------
// smtp

fn ip_strs(v: &[IpAddr]) -> Vec<String> {
    v.iter().map(IpAddr::to_string).collect()
}

pub fn smtp_batch(rows: &[Sourced<'_, Smtp>]) -> Result<RecordBatch, Error> {
    let mut c = Cols::new();
    let env: Vec<_> = rows.iter().map(|(s, r)| (*s, r.meta.as_ref())).collect();
    envelope(&mut c, &env);
    c.i64(
        "trans_depth",
        rows.iter().map(|(_, r)| Some(i64::from(r.trans_depth))),
    );
    c.str("helo", rows.iter().map(|(_, r)| s(&r.helo)));
    c.str("mailfrom", rows.iter().map(|(_, r)| s(&r.mailfrom)));
    c.strs("rcptto", rows.iter().map(|(_, r)| r.rcptto.iter()));
    c.str("date_header", rows.iter().map(|(_, r)| s(&r.date)));
    c.str("from", rows.iter().map(|(_, r)| s(&r.from)));
    c.strs("to", rows.iter().map(|(_, r)| r.to.iter()));
    c.strs("cc", rows.iter().map(|(_, r)| r.cc.iter()));
    c.str("reply_to", rows.iter().map(|(_, r)| s(&r.reply_to)));
    c.str("msg_id", rows.iter().map(|(_, r)| s(&r.msg_id)));
    c.str("in_reply_to", rows.iter().map(|(_, r)| s(&r.in_reply_to)));
    c.str("subject", rows.iter().map(|(_, r)| s(&r.subject)));
    let xo: Vec<Option<String>> = rows
        .iter()
        .map(|(_, r)| r.x_originating_ip.map(|a| a.to_string()))
        .collect();
    c.str("x_originating_ip", xo.iter().map(Option::as_deref));
    c.str(
        "first_received",
        rows.iter().map(|(_, r)| s(&r.first_received)),
    );
    c.str(
        "second_received",
        rows.iter().map(|(_, r)| s(&r.second_received)),
    );
    c.str("last_reply", rows.iter().map(|(_, r)| s(&r.last_reply)));
    c.strs("path", rows.iter().map(|(_, r)| ip_strs(&r.path)));
    c.str("user_agent", rows.iter().map(|(_, r)| s(&r.user_agent)));
    c.bool("tls", rows.iter().map(|(_, r)| Some(r.tls)));
    c.strs("commands", rows.iter().map(|(_, r)| r.commands.iter()));
    c.bool("pipelined", rows.iter().map(|(_, r)| Some(r.pipelined)));
    c.str("auth_user", rows.iter().map(|(_, r)| s(&r.auth_user)));
    c.str("message_file", rows.iter().map(|(_, r)| s(&r.message_file)));
    c.strs("fuids", rows.iter().map(|(_, r)| r.fuids.iter()));
    c.finish()
}

pub fn read_smtp(b: &RecordBatch) -> Result<Vec<(String, Smtp)>, Error> {
    let g = Get::new(b, "smtp");
    let env = read_envelope(&g, None)?;
    let depth = g.i64("trans_depth")?;
    let helo = g.str("helo")?;
    let mailfrom = g.str("mailfrom")?;
    let rcptto = g.strs("rcptto")?;
    let date = g.str("date_header")?;
    let from = g.str("from")?;
    let to = g.strs("to")?;
    let cc = g.strs("cc")?;
    let reply_to = g.str("reply_to")?;
    let msg_id = g.str("msg_id")?;
    let irt = g.str("in_reply_to")?;
    let subject = g.str("subject")?;
    let xo = g.str("x_originating_ip")?;
    let fr = g.str("first_received")?;
    let sr = g.str("second_received")?;
    let lr = g.str("last_reply")?;
    let path = g.strs("path")?;
    let ua = g.str("user_agent")?;
    let tls = g.bool("tls")?;
    let commands = g.strs("commands")?;
    let pipelined = g.bool("pipelined")?;
    let auth = g.str("auth_user")?;
    let mf = g.str("message_file")?;
    // Added later: older datasets have no such column.
    let fuids = g.strs("fuids")?;
    let mut out = Vec::with_capacity(g.rows());
    for i in 0..g.rows() {
        out.push((
            env.source[i].clone().unwrap_or_default(),
            Smtp {
                meta: env.meta[i],
                trans_depth: u32_of(depth[i]),
                helo: helo[i].clone(),
                mailfrom: mailfrom[i].clone(),
                rcptto: rcptto[i].clone(),
                date: date[i].clone(),
                from: from[i].clone(),
                to: to[i].clone(),
                cc: cc[i].clone(),
                reply_to: reply_to[i].clone(),
                msg_id: msg_id[i].clone(),
                in_reply_to: irt[i].clone(),
                subject: subject[i].clone(),
                x_originating_ip: xo[i].as_deref().and_then(|a| a.parse().ok()),
                first_received: fr[i].clone(),
                second_received: sr[i].clone(),
                last_reply: lr[i].clone(),
                path: path[i].iter().filter_map(|a| a.parse().ok()).collect(),
                user_agent: ua[i].clone(),
                tls: tls[i].unwrap_or(false),
                commands: commands[i].clone(),
                pipelined: pipelined[i].unwrap_or(false),
                auth_user: auth[i].clone(),
                message_file: mf[i].clone(),
                fuids: fuids[i].clone(),
            },
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------
// dns

pub fn dns_batch(rows: &[Sourced<'_, Dns>]) -> Result<RecordBatch, Error> {
    let mut c = Cols::new();
    let env: Vec<_> = rows.iter().map(|(s, r)| (*s, r.meta.as_ref())).collect();
    envelope(&mut c, &env);
    c.i32(
        "trans_id",
        rows.iter().map(|(_, r)| Some(i32::from(r.trans_id))),
    );
    c.f64("rtt", rows.iter().map(|(_, r)| secs(r.rtt)));
    c.str("query", rows.iter().map(|(_, r)| s(&r.query)));
    c.i32("qclass", rows.iter().map(|(_, r)| r.qclass.map(i32::from)));
    c.str("qclass_name", rows.iter().map(|(_, r)| s(&r.qclass_name)));
    c.i32("qtype", rows.iter().map(|(_, r)| r.qtype.map(i32::from)));
    c.str("qtype_name", rows.iter().map(|(_, r)| s(&r.qtype_name)));
    c.i32("rcode", rows.iter().map(|(_, r)| r.rcode.map(i32::from)));
    c.str("rcode_name", rows.iter().map(|(_, r)| s(&r.rcode_name)));
    c.bool("AA", rows.iter().map(|(_, r)| Some(r.aa)));
    c.bool("TC", rows.iter().map(|(_, r)| Some(r.tc)));
    c.bool("RD", rows.iter().map(|(_, r)| Some(r.rd)));
    c.bool("RA", rows.iter().map(|(_, r)| Some(r.ra)));
    c.i32("Z", rows.iter().map(|(_, r)| Some(i32::from(r.z))));
    c.strs("answers", rows.iter().map(|(_, r)| r.answers.iter()));
    c.i64s(
        "TTLs",
        rows.iter()
            .map(|(_, r)| r.ttls.iter().map(|t| i64::from(*t)).collect::<Vec<_>>()),
    );
    c.bool("rejected", rows.iter().map(|(_, r)| Some(r.rejected)));
    c.i32("opcode", rows.iter().map(|(_, r)| r.opcode.map(i32::from)));
    c.str("opcode_name", rows.iter().map(|(_, r)| s(&r.opcode_name)));
    c.finish()
}

fn u8_of(v: Option<i64>) -> Option<u8> {
    v.and_then(|x| u8::try_from(x).ok())
}

pub fn read_dns(b: &RecordBatch) -> Result<Vec<(String, Dns)>, Error> {
    let g = Get::new(b, "dns");
    let env = read_envelope(&g, None)?;
    let tid = g.i64("trans_id")?;
    let rtt = g.f64("rtt")?;
    let query = g.str("query")?;
    let qc = g.i64("qclass")?;
    let qcn = g.str("qclass_name")?;
    let qt = g.i64("qtype")?;
    let qtn = g.str("qtype_name")?;
    let rc = g.i64("rcode")?;
    let rcn = g.str("rcode_name")?;
    let aa = g.bool("AA")?;
    let tc = g.bool("TC")?;
    let rd = g.bool("RD")?;
    let ra = g.bool("RA")?;
    let z = g.i64("Z")?;
    let answers = g.strs("answers")?;
    let ttls = g.i64s("TTLs")?;
    let rej = g.bool("rejected")?;
    let op = g.i64("opcode")?;
    let opn = g.str("opcode_name")?;
    let mut out = Vec::with_capacity(g.rows());
    for i in 0..g.rows() {
        out.push((
            env.source[i].clone().unwrap_or_default(),
            Dns {
                meta: env.meta[i],
                trans_id: u16_of(tid[i]).unwrap_or(0),
                rtt: dur(rtt[i]),
                query: query[i].clone(),
                qclass: u16_of(qc[i]),
                qclass_name: qcn[i].clone(),
                qtype: u16_of(qt[i]),
                qtype_name: qtn[i].clone(),
                rcode: u8_of(rc[i]),
                rcode_name: rcn[i].clone(),
                aa: aa[i].unwrap_or(false),
                tc: tc[i].unwrap_or(false),
                rd: rd[i].unwrap_or(false),
                ra: ra[i].unwrap_or(false),
                z: u8_of(z[i]).unwrap_or(0),
                answers: answers[i].clone(),
                ttls: ttls[i]
                    .iter()
                    .filter_map(|t| u32::try_from(*t).ok())
                    .collect(),
                rejected: rej[i].unwrap_or(false),
                opcode: u8_of(op[i]),
                opcode_name: opn[i].clone(),
            },
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------
// ssl

pub fn ssl_batch(rows: &[Sourced<'_, Ssl>]) -> Result<RecordBatch, Error> {
    let mut c = Cols::new();
    let env: Vec<_> = rows.iter().map(|(s, r)| (*s, r.meta.as_ref())).collect();
    envelope(&mut c, &env);
    c.str("version", rows.iter().map(|(_, r)| s(&r.version)));
    c.str("cipher", rows.iter().map(|(_, r)| s(&r.cipher)));
    c.str("curve", rows.iter().map(|(_, r)| s(&r.curve)));
    c.str("server_name", rows.iter().map(|(_, r)| s(&r.server_name)));
    c.bool("resumed", rows.iter().map(|(_, r)| Some(r.resumed)));
    c.str("last_alert", rows.iter().map(|(_, r)| s(&r.last_alert)));
    c.str(
        "next_protocol",
        rows.iter().map(|(_, r)| s(&r.next_protocol)),
    );
    c.bool("established", rows.iter().map(|(_, r)| Some(r.established)));
    c.str(
        "ssl_history",
        rows.iter().map(|(_, r)| Some(r.ssl_history.as_str())),
    );
    c.strs(
        "client_alpn",
        rows.iter().map(|(_, r)| r.client_alpn.iter()),
    );
    c.str("ja3", rows.iter().map(|(_, r)| s(&r.ja3)));
    c.str("ja3s", rows.iter().map(|(_, r)| s(&r.ja3s)));
    c.str("ja4", rows.iter().map(|(_, r)| s(&r.ja4)));
    c.finish()
}

pub fn read_ssl(b: &RecordBatch) -> Result<Vec<(String, Ssl)>, Error> {
    let g = Get::new(b, "ssl");
    let env = read_envelope(&g, None)?;
    let version = g.str("version")?;
    let cipher = g.str("cipher")?;
    let curve = g.str("curve")?;
    let sni = g.str("server_name")?;
    let resumed = g.bool("resumed")?;
    let la = g.str("last_alert")?;
    let np = g.str("next_protocol")?;
    let est = g.bool("established")?;
    let hist = g.str("ssl_history")?;
    let alpn = g.strs("client_alpn")?;
    let ja3 = g.str("ja3")?;
    let ja3s = g.str("ja3s")?;
    let ja4 = g.str("ja4")?;
    let mut out = Vec::with_capacity(g.rows());
    for i in 0..g.rows() {
        out.push((
            env.source[i].clone().unwrap_or_default(),
            Ssl {
                meta: env.meta[i],
                version: version[i].clone(),
                cipher: cipher[i].clone(),
                curve: curve[i].clone(),
                server_name: sni[i].clone(),
                resumed: resumed[i].unwrap_or(false),
                last_alert: la[i].clone(),
                next_protocol: np[i].clone(),
                established: est[i].unwrap_or(false),
                ssl_history: hist[i].clone().unwrap_or_default(),
                client_alpn: alpn[i].clone(),
                ja3: ja3[i].clone(),
                ja3s: ja3s[i].clone(),
                ja4: ja4[i].clone(),
                ..Ssl::default()
            },
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------
// irc

pub fn irc_batch(rows: &[Sourced<'_, Irc>]) -> Result<RecordBatch, Error> {
    let mut c = Cols::new();
    let env: Vec<_> = rows.iter().map(|(s, r)| (*s, r.meta.as_ref())).collect();
    envelope(&mut c, &env);
    c.str("nick", rows.iter().map(|(_, r)| s(&r.nick)));
    c.str("user", rows.iter().map(|(_, r)| s(&r.user)));
    c.str("command", rows.iter().map(|(_, r)| s(&r.command)));
    c.str("value", rows.iter().map(|(_, r)| s(&r.value)));
    c.str("addl", rows.iter().map(|(_, r)| s(&r.addl)));
    c.str(
        "dcc_file_name",
        rows.iter().map(|(_, r)| s(&r.dcc_file_name)),
    );
    c.i64(
        "dcc_file_size",
        rows.iter().map(|(_, r)| opt_u64(r.dcc_file_size)),
    );
    c.str(
        "dcc_mime_type",
        rows.iter().map(|(_, r)| s(&r.dcc_mime_type)),
    );
    c.finish()
}

pub fn read_irc(b: &RecordBatch) -> Result<Vec<(String, Irc)>, Error> {
    let g = Get::new(b, "irc");
    let env = read_envelope(&g, None)?;
    let nick = g.str("nick")?;
    let user = g.str("user")?;
    let command = g.str("command")?;
    let value = g.str("value")?;
    let addl = g.str("addl")?;
    let dfn = g.str("dcc_file_name")?;
    let dfs = g.i64("dcc_file_size")?;
    let dmt = g.str("dcc_mime_type")?;
    let mut out = Vec::with_capacity(g.rows());
    for i in 0..g.rows() {
        out.push((
            env.source[i].clone().unwrap_or_default(),
            Irc {
                meta: env.meta[i],
                nick: nick[i].clone(),
                user: user[i].clone(),
                command: command[i].clone(),
                value: value[i].clone(),
                addl: addl[i].clone(),
                dcc_file_name: dfn[i].clone(),
                dcc_file_size: dfs[i].and_then(|x| u64::try_from(x).ok()),
                dcc_mime_type: dmt[i].clone(),
            },
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------
// mail

/// The partition time of a message: the trap's receive time, else the
/// parsed `Date:` header.
pub fn mail_time(m: &MailMessage) -> Option<i64> {
    m.received_ts.or(m.date_ts).map(|t| t.0)
}

pub fn mail_batch(rows: &[&MailMessage]) -> Result<RecordBatch, Error> {
    let mut c = Cols::new();
    c.ts("ts", rows.iter().map(|r| mail_time(r)));
    c.str("source", rows.iter().map(|r| Some(r.source.as_str())));
    c.ts(
        "received_ts",
        rows.iter().map(|r| r.received_ts.map(|t| t.0)),
    );
    c.str("message_id", rows.iter().map(|r| s(&r.message_id)));
    let ip: Vec<Option<String>> = rows
        .iter()
        .map(|r| r.sender_ip.map(|a| a.to_string()))
        .collect();
    c.str("sender_ip", ip.iter().map(Option::as_deref));
    c.str("helo", rows.iter().map(|r| s(&r.helo)));
    c.str("mail_from", rows.iter().map(|r| s(&r.mail_from)));
    c.strs("rcpt_to", rows.iter().map(|r| r.rcpt_to.iter()));
    c.str("subject", rows.iter().map(|r| s(&r.subject)));
    c.str("date_header", rows.iter().map(|r| s(&r.date_header)));
    c.ts("date_ts", rows.iter().map(|r| r.date_ts.map(|t| t.0)));
    c.str("family", rows.iter().map(|r| Some(r.family.as_str())));
    c.f64(
        "family_confidence",
        rows.iter().map(|r| Some(r.family_confidence)),
    );
    c.str("campaign", rows.iter().map(|r| s(&r.campaign)));
    c.str("category", rows.iter().map(|r| Some(r.category.as_str())));
    c.str("brand", rows.iter().map(|r| s(&r.brand)));
    c.strs("urls", rows.iter().map(|r| r.urls.iter()));
    c.strs("domains", rows.iter().map(|r| r.domains.iter()));
    c.i64("size", rows.iter().map(|r| opt_u64(Some(r.size))));
    c.str("error", rows.iter().map(|r| s(&r.error)));
    c.strs("fingerprint", rows.iter().map(|r| r.fingerprint.iter()));
    c.finish()
}

pub fn read_mail(b: &RecordBatch) -> Result<Vec<MailMessage>, Error> {
    let g = Get::new(b, "mail");
    let source = g.str("source")?;
    let rts = g.ts("received_ts")?;
    let mid = g.str("message_id")?;
    let ip = g.str("sender_ip")?;
    let helo = g.str("helo")?;
    let mf = g.str("mail_from")?;
    let rcpt = g.strs("rcpt_to")?;
    let subject = g.str("subject")?;
    let dh = g.str("date_header")?;
    let dts = g.ts("date_ts")?;
    let family = g.str("family")?;
    let fc = g.f64("family_confidence")?;
    let campaign = g.str("campaign")?;
    let category = g.str("category")?;
    let brand = g.str("brand")?;
    let urls = g.strs("urls")?;
    let domains = g.strs("domains")?;
    let size = g.i64("size")?;
    let error = g.str("error")?;
    // Parts written before the column existed have no fingerprint.
    let mut fingerprint = g.strs("fingerprint")?;
    let mut out = Vec::with_capacity(g.rows());
    for i in 0..g.rows() {
        out.push(MailMessage {
            source: source[i].clone().unwrap_or_default(),
            received_ts: rts[i].map(Ts),
            message_id: mid[i].clone(),
            sender_ip: ip[i].as_deref().and_then(|a| a.parse().ok()),
            helo: helo[i].clone(),
            mail_from: mf[i].clone(),
            rcpt_to: rcpt[i].clone(),
            subject: subject[i].clone(),
            date_header: dh[i].clone(),
            date_ts: dts[i].map(Ts),
            family: family[i].clone().unwrap_or_default(),
            family_confidence: fc[i].unwrap_or(0.0),
            campaign: campaign[i].clone(),
            category: category[i].clone().unwrap_or_default(),
            brand: brand[i].clone(),
            urls: urls[i].clone(),
            domains: domains[i].clone(),
            size: u64_of(size[i]),
            error: error[i].clone(),
            fingerprint: std::mem::take(&mut fingerprint[i]),
        });
    }
    Ok(out)
}

/// One row of the `mail_hourly` rollup.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MailHourly {
    /// Start of the hour (µs); `None` for messages without a time.
    pub hour: Option<i64>,
    pub family: String,
    pub category: String,
    pub brand: Option<String>,
    pub campaign: Option<String>,
    pub messages: i64,
    pub bytes: i64,
}

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
    let mut c = Cols::new();
    c.ts("ts", rows.iter().map(|r| r.hour));
    c.str("family", rows.iter().map(|r| Some(r.family.as_str())));
    c.str("category", rows.iter().map(|r| Some(r.category.as_str())));
    c.str("brand", rows.iter().map(|r| s(&r.brand)));
    c.str("campaign", rows.iter().map(|r| s(&r.campaign)));
    c.i64("messages", rows.iter().map(|r| Some(r.messages)));
    c.i64("bytes", rows.iter().map(|r| Some(r.bytes)));
    c.finish()
}

pub fn read_mail_hourly(b: &RecordBatch) -> Result<Vec<MailHourly>, Error> {
    let g = Get::new(b, "mail_hourly");
    let ts = g.ts("ts")?;
    let family = g.str("family")?;
    let category = g.str("category")?;
    let brand = g.str("brand")?;
    let campaign = g.str("campaign")?;
    let messages = g.i64("messages")?;
    let bytes = g.i64("bytes")?;
    Ok((0..g.rows())
        .map(|i| MailHourly {
            hour: ts[i],
            family: family[i].clone().unwrap_or_default(),
            category: category[i].clone().unwrap_or_default(),
            brand: brand[i].clone(),
            campaign: campaign[i].clone(),
            messages: messages[i].unwrap_or(0),
            bytes: bytes[i].unwrap_or(0),
        })
        .collect())
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

pub fn activity_batch(rows: &[ActivityRow]) -> Result<RecordBatch, Error> {
    let mut c = Cols::new();
    c.ts("ts", rows.iter().map(|r| Some(r.first.0)));
    c.str("source", rows.iter().map(|r| Some(r.source.as_str())));
    let hosts: Vec<String> = rows.iter().map(|r| r.host.to_string()).collect();
    c.str("host", hosts.iter().map(|h| Some(h.as_str())));
    c.str("class", rows.iter().map(|r| Some(r.class.as_str())));
    c.ts("first", rows.iter().map(|r| Some(r.first.0)));
    c.ts("last", rows.iter().map(|r| Some(r.last.0)));
    c.i64(
        "connections",
        rows.iter().map(|r| opt_u64(Some(r.connections))),
    );
    c.i64("requests", rows.iter().map(|r| opt_u64(Some(r.requests))));
    c.i64("bytes", rows.iter().map(|r| opt_u64(Some(r.bytes))));
    c.f64("share", rows.iter().map(|r| Some(r.share)));
    c.strs("peers", rows.iter().map(|r| r.peers.iter()));
    c.strs("evidence", rows.iter().map(|r| r.evidence.iter()));
    c.f64("confidence", rows.iter().map(|r| r.confidence));
    c.finish()
}

pub fn read_activity(b: &RecordBatch) -> Result<Vec<ActivityRow>, Error> {
    let g = Get::new(b, "activity");
    let source = g.str("source")?;
    let host = g.str("host")?;
    let class = g.str("class")?;
    let first = g.ts("first")?;
    let last = g.ts("last")?;
    let conns = g.i64("connections")?;
    let reqs = g.i64("requests")?;
    let bytes = g.i64("bytes")?;
    let share = g.f64("share")?;
    let peers = g.strs("peers")?;
    let evidence = g.strs("evidence")?;
    let conf = g.f64("confidence")?;
    let mut out = Vec::with_capacity(g.rows());
    for i in 0..g.rows() {
        let Some(h) = host[i].as_deref().and_then(|h| h.parse().ok()) else {
            continue;
        };
        out.push(ActivityRow {
            source: source[i].clone().unwrap_or_default(),
            host: h,
            class: class[i].clone().unwrap_or_default(),
            first: Ts(first[i].unwrap_or(0)),
            last: Ts(last[i].unwrap_or(0)),
            connections: u64_of(conns[i]),
            requests: u64_of(reqs[i]),
            bytes: u64_of(bytes[i]),
            share: share[i].unwrap_or(0.0),
            peers: peers[i].clone(),
            evidence: evidence[i].clone(),
            confidence: conf[i],
        });
    }
    Ok(out)
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

pub fn alert_batch(rows: &[AlertRow]) -> Result<RecordBatch, Error> {
    let mut c = Cols::new();
    c.ts("ts", rows.iter().map(|r| Some(r.ts.0)));
    c.str("family", rows.iter().map(|r| Some(r.family.as_str())));
    c.str("kind", rows.iter().map(|r| Some(r.kind.as_str())));
    c.f64("level_before", rows.iter().map(|r| Some(r.level_before)));
    c.f64("level_after", rows.iter().map(|r| Some(r.level_after)));
    c.str("evidence", rows.iter().map(|r| Some(r.evidence.as_str())));
    c.str("series", rows.iter().map(|r| Some(r.series.as_str())));
    c.finish()
}

pub fn read_alert(b: &RecordBatch) -> Result<Vec<AlertRow>, Error> {
    let g = Get::new(b, "alert");
    let ts = g.ts("ts")?;
    let family = g.str("family")?;
    let kind = g.str("kind")?;
    let lb = g.f64("level_before")?;
    let la = g.f64("level_after")?;
    let ev = g.str("evidence")?;
    let series = g.str("series")?;
    Ok((0..g.rows())
        .map(|i| AlertRow {
            ts: Ts(ts[i].unwrap_or(0)),
            family: family[i].clone().unwrap_or_default(),
            kind: kind[i].clone().unwrap_or_default(),
            level_before: lb[i].unwrap_or(f64::NAN),
            level_after: la[i].unwrap_or(f64::NAN),
            evidence: ev[i].clone().unwrap_or_default(),
            series: series[i].clone().unwrap_or_default(),
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
