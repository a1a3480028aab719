//! Importers: Zeek logs (TSV and JSON lines) and CTU-13 `.binetflow`
//! flow files turned into [`botscope_event::Event`]s, so the activity
//! detectors run on them as on captures.
//!
//! Both importers read on past bad lines: a line with the wrong number of
//! columns, a bad number or a bad address is dropped, counted in
//! [`ImportResult::skipped`] and reported in [`ImportResult::errors`] as
//! `<path>:<line>: <reason>` (at most [`MAX_ERRORS`] messages are kept;
//! the counts are always complete). They never panic on any input.
//! Files may be compressed (gzip, xz, zstd: detected by magic).
//!
//! # Zeek logs
//! - TSV: one or more blocks, each with its own `#separator`, `#fields`,
//!   `#types` and `#path`; JSON lines: detected by a first non-blank byte
//!   `{`, one object per line.
//! - The log kind comes from `#path` (TSV), `_path` (JSON) or else the file
//!   name (`simda-005-conn.log` → `conn`). `conn`, `http`, `dns`, `smtp`
//!   and `ssl` are read; rows of any other log are skipped with a reason.
//! - `ts` (seconds) → [`Ts`] microseconds; the `uid` string is hashed with
//!   64-bit FNV-1a ([`uid_from_str`]) so one uid gives the same [`Uid`] in
//!   every log of a capture; `id.*` → [`ConnId`]; the transport comes from
//!   `proto` (conn, dns; TCP when absent) or is TCP (http, smtp, ssl).
//! - `-` is unset, `(empty)` an empty string or container; containers are
//!   split on the set separator. Known `service` names are kept (others
//!   dropped and counted); unknown `conn_state` values become `OTH`
//!   (counted).
//! - A `label` column (Stratosphere's labelled logs) is kept in
//!   [`ImportResult::labels`].
//!
//! # CTU-13 binetflow
//! Argus flows as CSV (`StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,
//! Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label`), one
//! [`Conn`] per TCP, UDP or ICMP flow (other protocols are skipped and
//! counted). `StartTime` is UTC (`2011/08/18 10:19:13.328`); ports are
//! decimal, hex (`0x0303`, ICMP type/code) or empty (0). Argus gives IP
//! bytes, not payload: `orig_bytes`/`orig_ip_bytes` are `SrcBytes` and
//! `resp_bytes`/`resp_ip_bytes` are `TotBytes - SrcBytes`; `orig_pkts` is
//! `TotPkts` (Argus does not split packets by direction). The Argus
//! `State` is mapped to the closest `conn_state` ([`argus_state`]).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use botscope_event::{
    Conn, ConnId, ConnState, Dns, Duration, Event, Http, Meta, Smtp, Ssl, Transport, Ts, Uid,
};

use crate::{zeek_unescape, Error};

/// At most this many per-line error messages are kept.
pub const MAX_ERRORS: usize = 100;

/// What an importer read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportResult {
    /// One event per imported row, in file order.
    pub events: Vec<Event>,
    /// Data lines read (header and comment lines not counted).
    pub lines: u64,
    /// Rows not imported (or imported with a loss), by reason.
    pub skipped: BTreeMap<String, u64>,
    /// `<path>:<line>: <reason>` for bad lines, at most [`MAX_ERRORS`].
    pub errors: Vec<String>,
    /// Ground-truth labels (binetflow `Label`, Zeek `label` column), by
    /// connection uid.
    pub labels: Vec<(Uid, String)>,
}

impl ImportResult {
    fn skip(&mut self, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_insert(0) += 1;
    }

    fn bad_line(&mut self, path: &Path, line: u64, reason: &str) {
        self.skip("bad line");
        if self.errors.len() < MAX_ERRORS {
            self.errors
                .push(format!("{}:{line}: {reason}", path.display()));
        }
    }
}

/// A Zeek uid string as a [`Uid`]: 64-bit FNV-1a of its bytes (stable
/// across runs, files and platforms).
pub fn uid_from_str(s: &str) -> Uid {
    Uid(fnv1a(s.as_bytes()))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn read_all(path: &Path) -> Result<Vec<u8>, Error> {
    let mut r = botscope_wire::open_input(path)
        .map_err(|e| Error::read(path.to_path_buf(), std::io::Error::other(e.to_string())))?;
    let mut buf = Vec::new();
    r.read_to_end(&mut buf)
        .map_err(|e| Error::read(path.to_path_buf(), e))?;
    Ok(buf)
}

// ---------------------------------------------------------------------
// Zeek logs

/// Read a Zeek `conn`, `http`, `dns`, `smtp` or `ssl` log, TSV or JSON
/// lines (see the module documentation).
///
/// Fails only when the file cannot be read; bad lines are reported in
/// the result.
pub fn read_zeek_log(path: &Path) -> Result<ImportResult, Error> {
    let bytes = read_all(path)?;
    Ok(parse_zeek_log(path, &bytes))
}

/// [`read_zeek_log`] on bytes already in memory; `path` names them in
/// messages and gives the log kind when the content does not.
pub fn parse_zeek_log(path: &Path, bytes: &[u8]) -> ImportResult {
    let mut res = ImportResult::default();
    let file_kind = kind_from_file_name(path);
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        read_json_lines(path, bytes, file_kind, &mut res);
    } else {
        read_tsv(path, bytes, file_kind, &mut res);
    }
    res
}

/// The log kind named by a file name: the first of `conn`, `http`, `dns`,
/// `smtp`, `ssl` among its `-`, `_`, `.` separated parts.
fn kind_from_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    name.split(['-', '_', '.'])
        .find(|p| matches!(*p, "conn" | "http" | "dns" | "smtp" | "ssl"))
        .map(str::to_string)
}

/// One field of a row.
enum Val {
    Unset,
    Str(String),
    List(Vec<String>),
}

/// One row, by column name (names borrowed from the header or the JSON
/// object: no copy per row).
struct Rec<'a> {
    map: HashMap<&'a str, Val>,
}

type R<T> = Result<T, String>;

impl Rec<'_> {
    fn str(&self, k: &str) -> Option<String> {
        match self.map.get(k) {
            None | Some(Val::Unset) => None,
            Some(Val::Str(s)) => Some(s.clone()),
            Some(Val::List(l)) => Some(l.join(",")),
        }
    }

    fn list(&self, k: &str) -> Vec<String> {
        match self.map.get(k) {
            None | Some(Val::Unset) => Vec::new(),
            Some(Val::Str(s)) if s.is_empty() => Vec::new(),
            Some(Val::Str(s)) => s.split(',').map(str::to_string).collect(),
            Some(Val::List(l)) => l.clone(),
        }
    }

    fn num<T: std::str::FromStr>(&self, k: &str) -> R<Option<T>> {
        match self.str(k) {
            None => Ok(None),
            Some(s) => s
                .trim()
                .parse::<T>()
                .map(Some)
                .map_err(|_| format!("bad {k} {s:?}")),
        }
    }

    fn bool(&self, k: &str) -> R<Option<bool>> {
        match self.str(k).as_deref() {
            None => Ok(None),
            Some("T") | Some("true") => Ok(Some(true)),
            Some("F") | Some("false") => Ok(Some(false)),
            Some(s) => Err(format!("bad {k} {s:?}")),
        }
    }

    fn secs(&self, k: &str) -> R<Option<i64>> {
        match self.str(k) {
            None => Ok(None),
            Some(s) => parse_secs(&s)
                .map(Some)
                .ok_or_else(|| format!("bad {k} {s:?}")),
        }
    }

    fn addr(&self, k: &str) -> R<IpAddr> {
        let s = self.str(k).ok_or_else(|| format!("missing {k}"))?;
        s.trim().parse().map_err(|_| format!("bad {k} {s:?}"))
    }

    fn port(&self, k: &str) -> R<u16> {
        self.num::<u16>(k)?.ok_or_else(|| format!("missing {k}"))
    }
}

/// Decimal seconds (`1258535653.123456`, `-0.5`, `1e-6`) as microseconds.
fn parse_secs(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits_ok = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !whole.is_empty() && digits_ok(whole) && digits_ok(frac) && whole.len() <= 12 {
        let w: i64 = whole.parse().ok()?;
        let mut f: i64 = 0;
        for (i, b) in frac.bytes().take(6).enumerate() {
            f += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
        }
        let v = w * 1_000_000 + f;
        return Some(if neg { -v } else { v });
    }
    // Exponent forms and the like.
    let v: f64 = s.parse().ok()?;
    if !v.is_finite() || v.abs() > 1e12 {
        return None;
    }
    Some((v * 1e6).round() as i64)
}

fn transport(s: Option<&str>) -> R<Transport> {
    match s {
        None | Some("tcp") => Ok(Transport::Tcp),
        Some("udp") => Ok(Transport::Udp),
        Some("icmp") => Ok(Transport::Icmp),
        Some("unknown_transport") => Ok(Transport::Other(0)),
        Some(o) => Err(format!("bad proto {o:?}")),
    }
}

fn conn_state(s: &str) -> Option<ConnState> {
    Some(match s {
        "S0" => ConnState::S0,
        "S1" => ConnState::S1,
        "SF" => ConnState::SF,
        "REJ" => ConnState::REJ,
        "S2" => ConnState::S2,
        "S3" => ConnState::S3,
        "RSTO" => ConnState::RSTO,
        "RSTR" => ConnState::RSTR,
        "RSTOS0" => ConnState::RSTOS0,
        "RSTRH" => ConnState::RSTRH,
        "SH" => ConnState::SH,
        "SHR" => ConnState::SHR,
        "OTH" => ConnState::OTH,
        _ => return None,
    })
}

fn service_name(s: &str) -> Option<botscope_event::Service> {
    botscope_event::Service::from_name(s)
}

/// Turn one row of log `kind` into an event (or a skip reason).
fn row_event(kind: &str, rec: &Rec, res: &mut ImportResult) -> R<Option<Event>> {
    if !matches!(kind, "conn" | "http" | "dns" | "smtp" | "ssl") {
        res.skip(format!("{kind} log (not imported)"));
        return Ok(None);
    }
    let ts = Ts(rec.secs("ts")?.ok_or("missing ts")?);
    let orig_h = rec.addr("id.orig_h")?;
    let resp_h = rec.addr("id.resp_h")?;
    let orig_p = rec.port("id.orig_p")?;
    let resp_p = rec.port("id.resp_p")?;
    let proto = match kind {
        "conn" | "dns" => transport(rec.str("proto").as_deref())?,
        _ => Transport::Tcp,
    };
    let uid = match rec.str("uid") {
        Some(u) => uid_from_str(&u),
        None => uid_from_str(&format!(
            "{ts}|{orig_h}|{orig_p}|{resp_h}|{resp_p}|{}",
            proto.zeek_name()
        )),
    };
    let meta = Meta {
        ts,
        uid,
        id: ConnId {
            orig_h,
            orig_p,
            resp_h,
            resp_p,
            proto,
        },
    };
    let ev = match kind {
        "conn" => {
            let mut service = Vec::new();
            for s in rec.list("service") {
                match service_name(&s) {
                    Some(n) => service.push(n),
                    None => res.skip(format!("conn: service {s:?} dropped")),
                }
            }
            let state_s = rec.str("conn_state").unwrap_or_default();
            let conn_state = conn_state(&state_s).unwrap_or_else(|| {
                res.skip(format!("conn: conn_state {state_s:?} read as OTH"));
                ConnState::OTH
            });
            let ipv6 = orig_h.is_ipv6();
            if let Some(l) = rec.str("label") {
                res.labels.push((uid, l));
            }
            Event::Conn(Conn {
                meta,
                service,
                duration: rec.secs("duration")?.map(Duration),
                orig_bytes: rec.num("orig_bytes")?,
                resp_bytes: rec.num("resp_bytes")?,
                conn_state,
                local_orig: rec.bool("local_orig")?,
                local_resp: rec.bool("local_resp")?,
                missed_bytes: rec.num("missed_bytes")?.unwrap_or(0),
                history: rec.str("history").unwrap_or_default(),
                orig_pkts: rec.num("orig_pkts")?.unwrap_or(0),
                orig_ip_bytes: rec.num("orig_ip_bytes")?.unwrap_or(0),
                resp_pkts: rec.num("resp_pkts")?.unwrap_or(0),
                resp_ip_bytes: rec.num("resp_ip_bytes")?.unwrap_or(0),
                ip_proto: rec.num("ip_proto")?.unwrap_or(proto.ip_proto(ipv6)),
                tunnel_parents: rec
                    .list("tunnel_parents")
                    .iter()
                    .map(|u| uid_from_str(u))
                    .collect(),
            })
        }
        "http" => Event::Http(Http {
            meta: Some(meta),
            trans_depth: rec.num("trans_depth")?.unwrap_or(0),
            method: rec.str("method"),
            host: rec.str("host"),
            uri: rec.str("uri"),
            referrer: rec.str("referrer"),
            version: rec.str("version"),
            user_agent: rec.str("user_agent"),
            origin: rec.str("origin"),
            request_body_len: rec.num("request_body_len")?.unwrap_or(0),
            response_body_len: rec.num("response_body_len")?.unwrap_or(0),
            status_code: rec.num("status_code")?,
            status_msg: rec.str("status_msg"),
            info_code: rec.num("info_code")?,
            info_msg: rec.str("info_msg"),
            username: rec.str("username"),
            password: rec.str("password"),
            proxied: rec.list("proxied"),
            orig_mime_types: rec.list("orig_mime_types"),
            orig_filenames: rec.list("orig_filenames"),
            resp_filenames: rec.list("resp_filenames"),
            resp_mime_types: rec.list("resp_mime_types"),
            req_content_type: rec.str("req_content_type"),
            resp_content_type: rec.str("resp_content_type"),
            location: rec.str("location"),
            req_body_sha256: rec.str("req_body_sha256"),
            resp_body_sha256: rec.str("resp_body_sha256"),
            ..Http::default()
        }),
        "dns" => {
            let mut ttls = Vec::new();
            for t in rec.list("TTLs") {
                let us = parse_secs(&t).ok_or_else(|| format!("bad TTLs {t:?}"))?;
                ttls.push(u32::try_from(us.max(0) / 1_000_000).unwrap_or(u32::MAX));
            }
            Event::Dns(Dns {
                meta: Some(meta),
                trans_id: rec.num("trans_id")?.unwrap_or(0),
                rtt: rec.secs("rtt")?.map(Duration),
                query: rec.str("query"),
                qclass: rec.num("qclass")?,
                qclass_name: rec.str("qclass_name"),
                qtype: rec.num("qtype")?,
                qtype_name: rec.str("qtype_name"),
                rcode: rec.num("rcode")?,
                rcode_name: rec.str("rcode_name"),
                aa: rec.bool("AA")?.unwrap_or(false),
                tc: rec.bool("TC")?.unwrap_or(false),
                rd: rec.bool("RD")?.unwrap_or(false),
                ra: rec.bool("RA")?.unwrap_or(false),
                z: rec.num("Z")?.unwrap_or(0),
                answers: rec.list("answers"),
                ttls,
                rejected: rec.bool("rejected")?.unwrap_or(false),
                opcode: rec.num("opcode")?,
                opcode_name: rec.str("opcode_name"),
            })
        }
        "smtp" => {
            let mut path = Vec::new();
            for a in rec.list("path") {
                path.push(
                    a.trim()
                        .parse()
                        .map_err(|_| format!("bad path address {a:?}"))?,
                );
            }
            let x_originating_ip = match rec.str("x_originating_ip") {
                None => None,
                Some(a) => Some(
                    a.trim()
                        .parse()
                        .map_err(|_| format!("bad x_originating_ip {a:?}"))?,
                ),
            };
            Event::Smtp(Smtp {
                meta: Some(meta),
                trans_depth: rec.num("trans_depth")?.unwrap_or(0),
                helo: rec.str("helo"),
                mailfrom: rec.str("mailfrom"),
                rcptto: rec.list("rcptto"),
                date: rec.str("date"),
                from: rec.str("from"),
                to: rec.list("to"),
                cc: rec.list("cc"),
                reply_to: rec.str("reply_to"),
                msg_id: rec.str("msg_id"),
                in_reply_to: rec.str("in_reply_to"),
                subject: rec.str("subject"),
                x_originating_ip,
                first_received: rec.str("first_received"),
                second_received: rec.str("second_received"),
                last_reply: rec.str("last_reply"),
                path,
                user_agent: rec.str("user_agent"),
                tls: rec.bool("tls")?.unwrap_or(false),
                commands: rec.list("commands"),
                pipelined: rec.bool("pipelined")?.unwrap_or(false),
                auth_user: rec.str("auth_user"),
                message_file: rec.str("message_file"),
                fuids: rec.list("fuids"),
            })
        }
        _ => Event::Ssl(Ssl {
            meta: Some(meta),
            version: rec.str("version"),
            cipher: rec.str("cipher"),
            curve: rec.str("curve"),
            server_name: rec.str("server_name"),
            resumed: rec.bool("resumed")?.unwrap_or(false),
            last_alert: rec.str("last_alert"),
            next_protocol: rec.str("next_protocol"),
            established: rec.bool("established")?.unwrap_or(false),
            ssl_history: rec.str("ssl_history").unwrap_or_default(),
            client_alpn: rec.list("client_alpn"),
            ja3: rec.str("ja3"),
            ja3s: rec.str("ja3s"),
            ja4: rec.str("ja4"),
            cert_chain_fps: rec
                .str("cert_chain_fps")
                .map(|_| rec.list("cert_chain_fps")),
            client_cert_chain_fps: rec
                .str("client_cert_chain_fps")
                .map(|_| rec.list("client_cert_chain_fps")),
            sni_matches_cert: rec.bool("sni_matches_cert")?,
            subject: rec.str("subject"),
            issuer: rec.str("issuer"),
            client_subject: rec.str("client_subject"),
            client_issuer: rec.str("client_issuer"),
        }),
    };
    Ok(Some(ev))
}

fn emit_row(path: &Path, lineno: u64, kind: Option<&str>, rec: &Rec, res: &mut ImportResult) {
    let Some(kind) = kind else {
        res.skip("unknown log kind (no #path, _path or telling file name)");
        return;
    };
    match row_event(kind, rec, res) {
        Ok(Some(ev)) => res.events.push(ev),
        Ok(None) => {}
        Err(reason) => res.bad_line(path, lineno, &reason),
    }
}

/// The header state of one TSV block.
struct Block {
    sep: Vec<u8>,
    set_sep: String,
    empty: String,
    unset: String,
    path: Option<String>,
    fields: Option<Vec<String>>,
    types: Vec<String>,
}

impl Block {
    fn new() -> Block {
        Block {
            sep: b"\t".to_vec(),
            set_sep: ",".into(),
            empty: "(empty)".into(),
            unset: "-".into(),
            path: None,
            fields: None,
            types: Vec::new(),
        }
    }
}

fn split_on<'a>(line: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(pos) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(&rest[..pos]);
        rest = &rest[pos + sep.len()..];
    }
    out.push(rest);
    out
}

fn unescape(v: &str) -> String {
    if !v.contains('\\') {
        // Nothing escaped (almost every field): one copy, no re-validation.
        return v.to_string();
    }
    match String::from_utf8(zeek_unescape(v)) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn read_tsv(path: &Path, bytes: &[u8], file_kind: Option<String>, res: &mut ImportResult) {
    let mut block = Block::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let lineno = n as u64 + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line[0] == b'#' {
            if let Some(v) = line.strip_prefix(b"#separator ") {
                let sep = zeek_unescape(&String::from_utf8_lossy(v));
                if sep.is_empty() {
                    res.bad_line(path, lineno, "empty #separator");
                    block.sep = b"\t".to_vec();
                } else {
                    block = Block::new();
                    block.sep = sep;
                }
                continue;
            }
            let parts: Vec<String> = split_on(line, &block.sep)
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            let value = parts.get(1).cloned().unwrap_or_default();
            match parts[0].as_str() {
                "#set_separator" => block.set_sep = unescape(&value),
                "#empty_field" => block.empty = value,
                "#unset_field" => block.unset = value,
                "#path" => block.path = Some(value),
                "#fields" => {
                    block.fields = Some(parts[1..].to_vec());
                    block.types.clear();
                }
                "#types" => block.types = parts[1..].to_vec(),
                _ => {}
            }
            continue;
        }
        res.lines += 1;
        let Some(fields) = &block.fields else {
            res.bad_line(path, lineno, "data row before any #fields line");
            continue;
        };
        let values = split_on(line, &block.sep);
        if values.len() != fields.len() {
            let msg = format!("{} values for {} fields", values.len(), fields.len());
            res.bad_line(path, lineno, &msg);
            continue;
        }
        let mut map = HashMap::with_capacity(fields.len());
        for (i, (name, raw)) in fields.iter().zip(values).enumerate() {
            let raw = String::from_utf8_lossy(raw);
            let is_container = block
                .types
                .get(i)
                .is_some_and(|t| t.starts_with("set[") || t.starts_with("vector["));
            let val = if raw == block.unset {
                Val::Unset
            } else if raw == block.empty {
                if is_container {
                    Val::List(Vec::new())
                } else {
                    Val::Str(String::new())
                }
            } else if is_container && !block.set_sep.is_empty() {
                Val::List(raw.split(block.set_sep.as_str()).map(unescape).collect())
            } else {
                Val::Str(unescape(&raw))
            };
            map.insert(name.as_str(), val);
        }
        let kind = block.path.clone().or_else(|| file_kind.clone());
        emit_row(path, lineno, kind.as_deref(), &Rec { map }, res);
    }
}

fn json_scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(b) => Some(if *b { "T" } else { "F" }.into()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn read_json_lines(path: &Path, bytes: &[u8], file_kind: Option<String>, res: &mut ImportResult) {
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let lineno = n as u64 + 1;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        res.lines += 1;
        let obj = match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                res.bad_line(path, lineno, "not a JSON object");
                continue;
            }
            Err(e) => {
                res.bad_line(path, lineno, &format!("bad JSON: {e}"));
                continue;
            }
        };
        let mut map = HashMap::with_capacity(obj.len());
        let mut kind = file_kind.clone();
        for (k, v) in &obj {
            let val = match v {
                serde_json::Value::Array(a) => {
                    Val::List(a.iter().filter_map(json_scalar).collect())
                }
                other => match json_scalar(other) {
                    Some(s) => Val::Str(s),
                    None => Val::Unset,
                },
            };
            if k == "_path" {
                if let Val::Str(s) = &val {
                    kind = Some(s.clone());
                }
            }
            map.insert(k.as_str(), val);
        }
        emit_row(path, lineno, kind.as_deref(), &Rec { map }, res);
    }
}

// ---------------------------------------------------------------------
// CTU-13 binetflow

/// The binetflow header columns this reader needs.
const BINETFLOW_COLUMNS: [&str; 11] = [
    "StartTime",
    "Dur",
    "Proto",
    "SrcAddr",
    "Sport",
    "DstAddr",
    "Dport",
    "State",
    "TotPkts",
    "TotBytes",
    "SrcBytes",
];

/// Read a CTU-13 `.binetflow` file (plain or compressed; see the module
/// documentation).
///
/// Fails only when the file cannot be read or has no usable header; bad
/// lines are reported in the result.
pub fn read_binetflow(path: &Path) -> Result<ImportResult, Error> {
    let bytes = read_all(path)?;
    parse_binetflow(path, &bytes)
}

/// [`read_binetflow`] on bytes already in memory; `path` names them in
/// messages.
pub fn parse_binetflow(path: &Path, bytes: &[u8]) -> Result<ImportResult, Error> {
    let mut res = ImportResult::default();
    let mut lines = bytes.split(|&b| b == b'\n');
    let header = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let header: Vec<&str> = header.trim_end_matches('\r').split(',').collect();
    let mut idx = [0usize; 11];
    for (slot, name) in idx.iter_mut().zip(BINETFLOW_COLUMNS) {
        *slot = header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| {
                Error::malformed(path.to_path_buf(), 1, format!("no {name} column in header"))
            })?;
    }
    let label_col = header.iter().position(|h| h.trim() == "Label");
    for (n, line) in lines.enumerate() {
        let lineno = n as u64 + 2;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        res.lines += 1;
        let text = String::from_utf8_lossy(line);
        let cols: Vec<&str> = text.split(',').collect();
        if cols.len() != header.len() {
            let msg = format!("{} columns, header has {}", cols.len(), header.len());
            res.bad_line(path, lineno, &msg);
            continue;
        }
        let get = |i: usize| cols[idx[i]].trim();
        match binetflow_conn(get, lineno, &text) {
            Ok(Some(conn)) => {
                if let Some(l) = label_col {
                    res.labels.push((conn.meta.uid, cols[l].trim().to_string()));
                }
                res.events.push(Event::Conn(conn));
            }
            Ok(None) => res.skip(format!("binetflow: proto {} (not tcp/udp/icmp)", get(2))),
            Err(reason) => res.bad_line(path, lineno, &reason),
        }
    }
    Ok(res)
}

fn binetflow_conn<'a>(get: impl Fn(usize) -> &'a str, lineno: u64, text: &str) -> R<Option<Conn>> {
    let proto = match get(2) {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        "icmp" => Transport::Icmp,
        _ => return Ok(None),
    };
    let ts = parse_argus_time(get(0)).ok_or_else(|| format!("bad StartTime {:?}", get(0)))?;
    let dur = parse_secs(get(1)).ok_or_else(|| format!("bad Dur {:?}", get(1)))?;
    let addr = |i: usize, name: &str| -> R<IpAddr> {
        get(i)
            .parse()
            .map_err(|_| format!("bad {name} {:?}", get(i)))
    };
    let orig_h = addr(3, "SrcAddr")?;
    let resp_h = addr(5, "DstAddr")?;
    let orig_p = parse_port(get(4)).ok_or_else(|| format!("bad Sport {:?}", get(4)))?;
    let resp_p = parse_port(get(6)).ok_or_else(|| format!("bad Dport {:?}", get(6)))?;
    let count = |i: usize, name: &str| -> R<u64> {
        get(i)
            .parse()
            .map_err(|_| format!("bad {name} {:?}", get(i)))
    };
    let pkts = count(8, "TotPkts")?;
    let tot = count(9, "TotBytes")?;
    let src = count(10, "SrcBytes")?;
    let resp = tot.saturating_sub(src);
    let uid = Uid(fnv1a(format!("binetflow|{lineno}|{text}").as_bytes()));
    Ok(Some(Conn {
        meta: Meta {
            ts,
            uid,
            id: ConnId {
                orig_h,
                orig_p,
                resp_h,
                resp_p,
                proto,
            },
        },
        service: Vec::new(),
        duration: Some(Duration(dur.max(0))),
        orig_bytes: Some(src),
        resp_bytes: Some(resp),
        conn_state: argus_state(proto, get(7)),
        local_orig: None,
        local_resp: None,
        missed_bytes: 0,
        history: String::new(),
        orig_pkts: pkts,
        orig_ip_bytes: src,
        resp_pkts: 0,
        resp_ip_bytes: resp,
        tunnel_parents: Vec::new(),
        ip_proto: proto.ip_proto(orig_h.is_ipv6()),
    }))
}

/// A port: decimal, `0x` hex, or empty (0).
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() {
        return Some(0);
    }
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `2011/08/18 10:19:13.328` (UTC) as a [`Ts`].
fn parse_argus_time(s: &str) -> Option<Ts> {
    let (date, time) = s.split_once(' ')?;
    let mut d = date.split('/');
    let y: i64 = d.next()?.parse().ok()?;
    let m: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut t = time.trim().split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let sec_us = parse_secs(t.next()?)?;
    if t.next().is_some() || !(0..24).contains(&h) || !(0..60).contains(&mi) {
        return None;
    }
    if !(0..61_000_000).contains(&sec_us) || !(1..=9999).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, m, day);
    Some(Ts((days * 86_400 + h * 3600 + mi * 60) * 1_000_000 + sec_us))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The closest Zeek `conn_state` of an Argus flow state.
///
/// TCP states are `<flags from source>_<flags from destination>`: no
/// answer (`S_`) → `S0`; a reset answer to a SYN (`S_RA`) → `REJ`; FIN both
/// ways → `SF`; a reset from one side → `RSTO`/`RSTR`; a SYN answered by
/// SYN-ACK → `S1`. UDP `CON` (both ways) → `SF`, `INT` (one way) → `S0`.
/// Everything else → `OTH`.
pub fn argus_state(proto: Transport, state: &str) -> ConnState {
    match proto {
        Transport::Tcp => {
            let (src, dst) = state.split_once('_').unwrap_or((state, ""));
            if src.contains('S') && dst.is_empty() {
                ConnState::S0
            } else if src.contains('S') && dst.contains('R') && !dst.contains('S') {
                ConnState::REJ
            } else if src.contains('F') && dst.contains('F') {
                ConnState::SF
            } else if src.contains('R') {
                ConnState::RSTO
            } else if dst.contains('R') {
                ConnState::RSTR
            } else if src.contains('S') && dst.contains('S') {
                ConnState::S1
            } else {
                ConnState::OTH
            }
        }
        Transport::Udp => match state {
            "CON" => ConnState::SF,
            "INT" => ConnState::S0,
            _ => ConnState::OTH,
        },
        _ => ConnState::OTH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secs_and_times() {
        assert_eq!(parse_secs("187.535914"), Some(187_535_914));
        assert_eq!(parse_secs("1.5"), Some(1_500_000));
        assert_eq!(parse_secs("-0.5"), Some(-500_000));
        assert_eq!(parse_secs("1e-6"), Some(1));
        assert_eq!(parse_secs("x"), None);
        assert_eq!(
            parse_argus_time("2011/08/18 10:19:13.328"),
            Some(Ts(1_313_662_753_328_000))
        );
        assert_eq!(parse_argus_time("2011/13/18 10:19:13"), None);
        assert_eq!(parse_port("0x0303"), Some(0x303));
        assert_eq!(parse_port(""), Some(0));
        assert_eq!(parse_port("70000"), None);
    }

    #[test]
    fn uid_hash_is_stable() {
        assert_eq!(uid_from_str(""), Uid(0xcbf2_9ce4_8422_2325));
        assert_eq!(
            uid_from_str("CdcB2k1JTIu3hNzVse"),
            uid_from_str("CdcB2k1JTIu3hNzVse")
        );
        assert_ne!(uid_from_str("Ca"), uid_from_str("Cb"));
    }

    #[test]
    fn argus_states() {
        assert_eq!(argus_state(Transport::Tcp, "S_"), ConnState::S0);
        assert_eq!(argus_state(Transport::Tcp, "S_RA"), ConnState::REJ);
        assert_eq!(argus_state(Transport::Tcp, "FSPA_FSPA"), ConnState::SF);
        assert_eq!(argus_state(Transport::Tcp, "SR_SA"), ConnState::RSTO);
        assert_eq!(argus_state(Transport::Udp, "CON"), ConnState::SF);
        assert_eq!(argus_state(Transport::Icmp, "ECO"), ConnState::OTH);
    }

    #[test]
    fn never_panics_on_noise() {
        let dir =
            std::env::temp_dir().join(format!("botscope-import-noise-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let alphabet = b"#\t\n\\x09afields types,-()separator {}\":0123456789.path conn";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for i in 0..300 {
            let len = (state % 200) as usize;
            let mut buf: Vec<u8> = match i % 3 {
                0 => b"#fields\tts\tuid\tid.orig_h\n#path\tconn\n".to_vec(),
                1 => b"StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label\n".to_vec(),
                _ => b"{".to_vec(),
            };
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                buf.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let p = dir.join("conn.log");
            std::fs::write(&p, &buf).unwrap();
            let _ = read_zeek_log(&p);
            let _ = read_binetflow(&p);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
