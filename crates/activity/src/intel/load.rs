//! Reading feed files: format sniffing, plain lists and abuse.ch CSVs.
//! JSON formats are in `json.rs`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{json, parse_cidr, skip, Candidate, Feed, Intel, IntelError, IntelKind};
use super::{MAX_JSON_BYTES, MAX_LINE, MAX_TEXT_BYTES};
use crate::url::host_only;
use crate::Class;

/// The format a feed was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One indicator per line.
    Plain,
    /// abuse.ch URLhaus CSV (`# id,dateadded,url,…`).
    UrlhausCsv,
    /// abuse.ch ThreatFox CSV (`ioc_value`, `ioc_type`, `threat_type`).
    ThreatfoxCsv,
    /// abuse.ch ThreatFox JSON export or API answer.
    ThreatfoxJson,
    /// abuse.ch Feodo Tracker C2 IP blocklist (CSV or plain).
    Feodo,
    /// abuse.ch SSLBL C2 IP blocklist.
    SslblIp,
    /// abuse.ch SSLBL JA3 fingerprint blocklist.
    SslblJa3,
    /// Another CSV with an abuse.ch-style header naming a known column.
    Csv,
    /// One MISP event (or a list of them).
    MispEvent,
    /// A MISP feed folder: `manifest.json` and one file per event.
    MispFeed,
    /// A STIX 2.1 bundle.
    Stix,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Plain => "plain list",
            Format::UrlhausCsv => "URLhaus CSV",
            Format::ThreatfoxCsv => "ThreatFox CSV",
            Format::ThreatfoxJson => "ThreatFox JSON",
            Format::Feodo => "Feodo Tracker blocklist",
            Format::SslblIp => "SSLBL IP blocklist",
            Format::SslblJa3 => "SSLBL JA3 blocklist",
            Format::Csv => "CSV",
            Format::MispEvent => "MISP event",
            Format::MispFeed => "MISP feed",
            Format::Stix => "STIX 2.1 bundle",
        }
    }

    /// What every entry of a feed of this format is, when the feed says.
    fn default_class(self) -> Option<Class> {
        match self {
            Format::UrlhausCsv => Some(Class::Download),
            Format::Feodo | Format::SslblIp | Format::SslblJa3 => Some(Class::C2),
            _ => None,
        }
    }
}

pub(super) fn err(path: &Path, line: Option<u64>, message: impl Into<String>) -> IntelError {
    IntelError {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Read `path` (a file, or a MISP feed folder) into `intel`.
pub(super) fn load(intel: &mut Intel, path: &Path) -> Result<Feed, IntelError> {
    if path.is_dir() {
        let manifest = path.join("manifest.json");
        if !manifest.is_file() {
            return Err(err(
                path,
                None,
                "a folder is read only as a MISP feed, and it has no manifest.json",
            ));
        }
        return load_json_file(intel, &manifest, Some(path));
    }
    let f = File::open(path).map_err(|e| err(path, None, format!("cannot read: {e}")))?;
    let mut r = BufReader::with_capacity(64 * 1024, f);
    let head = r
        .fill_buf()
        .map_err(|e| err(path, None, format!("cannot read: {e}")))?;
    if looks_like_json(head) {
        drop(r);
        return load_json_file(intel, path, path.parent());
    }
    if looks_binary(head) {
        return Err(err(
            path,
            None,
            "not a feed: binary content (compressed feeds must be unpacked first)",
        ));
    }
    load_text(intel, path, r)
}

/// Read a feed held in memory.
pub(super) fn load_bytes(intel: &mut Intel, path: &Path, bytes: &[u8]) -> Result<Feed, IntelError> {
    if looks_like_json(bytes) {
        if bytes.len() as u64 > MAX_JSON_BYTES {
            return Err(err(path, None, too_big_json()));
        }
        return json::load(intel, path, bytes, None);
    }
    if looks_binary(bytes) {
        return Err(err(path, None, "not a feed: binary content"));
    }
    load_text(intel, path, bytes)
}

fn too_big_json() -> String {
    format!(
        "JSON feed over {} MiB (parsed whole): split it",
        MAX_JSON_BYTES >> 20
    )
}

fn load_json_file(intel: &mut Intel, path: &Path, dir: Option<&Path>) -> Result<Feed, IntelError> {
    let bytes = read_bounded(path, MAX_JSON_BYTES)?;
    json::load(intel, path, &bytes, dir)
}

/// The whole file, refused over `cap` bytes.
pub(super) fn read_bounded(path: &Path, cap: u64) -> Result<Vec<u8>, IntelError> {
    let f = File::open(path).map_err(|e| err(path, None, format!("cannot read: {e}")))?;
    let mut bytes = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(path, None, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > cap {
        return Err(err(path, None, too_big_json()));
    }
    Ok(bytes)
}

fn looks_like_json(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    head.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{' || b == b'[')
}

fn looks_binary(head: &[u8]) -> bool {
    head.iter().take(4096).any(|&b| b == 0)
}

/// The next line of `r` without its end (`\n`, `\r\n`) into `buf`:
/// `Ok(None)` at the end, `Ok(Some(true))` for a line cut at
/// [`MAX_LINE`] (the rest of it is read and dropped).
fn next_line<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    read: &mut u64,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut any = false;
    let mut long = false;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(if any { Some(long) } else { None });
        }
        any = true;
        let (chunk, done) = match memchr_nl(avail) {
            Some(i) => (&avail[..i], Some(i + 1)),
            None => (avail, None),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        if chunk.len() > room {
            long = true;
        }
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = done.unwrap_or(avail.len());
        *read += used as u64;
        r.consume(used);
        if done.is_some() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(long));
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Where the indicator of each CSV row is, by the header's column names.
#[derive(Clone, Copy, Debug)]
struct Layout {
    value: usize,
    /// The indicator's type is in this column (ThreatFox `ioc_type`) …
    ioc_type: Option<usize>,
    /// … or fixed by the value column's name.
    kind: IntelKind,
    threat: Option<usize>,
    threat_type: Option<usize>,
    tags: Option<usize>,
}

/// A column name as compared: lowercase, no spaces or underscores.
fn col(name: &str) -> String {
    name.trim()
        .trim_matches('"')
        .chars()
        .filter(|c| !matches!(c, '_' | ' ' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A header row (`# id,dateadded,url,…` or a first line
/// `"first_seen_utc","dst_ip",…`): every field a plain name, one of them
/// a column an indicator is read from.
fn layout(fields: &[String]) -> Option<Layout> {
    if fields.len() < 2
        || !fields.iter().all(|f| {
            !f.is_empty()
                && f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '-'))
        })
    {
        return None;
    }
    let names: Vec<String> = fields.iter().map(|f| col(f)).collect();
    let find = |want: &[&str]| want.iter().find_map(|w| names.iter().position(|n| n == w));
    let (value, ioc_type, kind) =
        if let (Some(v), Some(t)) = (find(&["iocvalue", "ioc"]), find(&["ioctype"])) {
            (v, Some(t), IntelKind::Ip)
        } else if let Some(v) = find(&["url"]) {
            (v, None, IntelKind::Url)
        } else if let Some(v) = find(&["sha256hash", "sha256"]) {
            (v, None, IntelKind::Sha256)
        } else if let Some(v) = find(&["ja3md5", "ja3"]) {
            (v, None, IntelKind::Ja3)
        } else if let Some(v) = find(&["ja4"]) {
            (v, None, IntelKind::Ja4)
        } else if let Some(v) = find(&["dstip", "ipaddress", "ip"]) {
            (v, None, IntelKind::Ip)
        } else if let Some(v) = find(&["domain", "hostname"]) {
            (v, None, IntelKind::Domain)
        } else {
            return None;
        };
    Some(Layout {
        value,
        ioc_type,
        kind,
        threat: find(&[
            "malwareprintable",
            "malware",
            "signature",
            "threat",
            "listingreason",
        ]),
        threat_type: find(&["threattype"]),
        tags: find(&["tags"]),
    })
}

/// Split one CSV line: commas outside double quotes, each field trimmed
/// and unquoted (`""` inside quotes is one `"`). Hand-written because
/// ThreatFox separates quoted fields with `", "` (a space before the
/// quote), which strict CSV readers take as unquoted text.
pub(super) fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Which abuse.ch export the banner comments name.
fn banner_format(text: &str) -> Option<Format> {
    let t = text.to_ascii_lowercase();
    if t.contains("urlhaus") {
        Some(Format::UrlhausCsv)
    } else if t.contains("threatfox") {
        Some(Format::ThreatfoxCsv)
    } else if t.contains("feodo") {
        Some(Format::Feodo)
    } else if t.contains("sslbl") || t.contains("ssl blacklist") {
        Some(if t.contains("ja3") {
            Format::SslblJa3
        } else {
            Format::SslblIp
        })
    } else {
        None
    }
}

fn load_text<R: BufRead>(intel: &mut Intel, path: &Path, mut r: R) -> Result<Feed, IntelError> {
    let mut feed = Feed::new(name_of(path), PathBuf::from(path), Format::Plain);
    let mut buf = Vec::new();
    let mut read = 0u64;
    let mut lineno = 0u64;
    let mut banner: Option<Format> = None;
    let mut header: Option<Layout> = None;
    // Decided at the first data line: CSV with a layout, or plain.
    let mut mode: Option<Option<Layout>> = None;
    loop {
        let long = match next_line(&mut r, &mut buf, &mut read) {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => return Err(err(path, Some(lineno + 1), format!("cannot read: {e}"))),
        };
        lineno += 1;
        if read > MAX_TEXT_BYTES {
            return Err(err(
                path,
                Some(lineno),
                format!("text feed over {} MiB", MAX_TEXT_BYTES >> 20),
            ));
        }
        if long {
            skip(
                &mut feed,
                Some(lineno),
                &format!("line over {} KiB", MAX_LINE / 1024),
            );
            continue;
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            continue;
        }
        let comment = text.starts_with('#')
            || text.starts_with(';')
            || text.starts_with("//")
            || text.starts_with('!');
        if comment {
            if mode.is_none() {
                let body = text.trim_start_matches(['#', ';', '/', '!']).trim();
                if banner.is_none() {
                    banner = banner_format(body);
                }
                if let Some(l) = layout(&split_csv(body)) {
                    header = Some(l);
                }
            }
            continue;
        }
        let layout_now = match mode {
            Some(l) => l,
            None => {
                let first = split_csv(text);
                let (l, is_header) = match header {
                    Some(l) => (Some(l), false),
                    None => match layout(&first) {
                        Some(l) => (Some(l), true),
                        None => (None, false),
                    },
                };
                feed.format = match (banner, l) {
                    (Some(f), _) => f,
                    (None, Some(_)) => Format::Csv,
                    (None, None) => Format::Plain,
                };
                mode = Some(l);
                if is_header {
                    continue;
                }
                l
            }
        };
        let cand = match layout_now {
            Some(l) => csv_row(&split_csv(text), &l, feed.format),
            None => plain_line(text, feed.format),
        };
        match cand {
            Ok(mut c) => {
                c.origin = format!("line {lineno}");
                intel.add_at(&mut feed, c, Some(lineno));
            }
            Err(reason) => skip(&mut feed, Some(lineno), &reason),
        }
    }
    if mode.is_none() && feed.skipped_total() == 0 && lineno == 0 {
        return Err(err(path, None, "empty feed"));
    }
    Ok(feed)
}

fn csv_row(fields: &[String], l: &Layout, format: Format) -> Result<Candidate, String> {
    let get = |i: Option<usize>| {
        i.and_then(|i| fields.get(i))
            .map(|s| s.trim())
            .filter(|s| !s.is_empty() && *s != "None" && *s != "n/a")
    };
    let raw = get(Some(l.value)).ok_or_else(|| "no value in the indicator column".to_string())?;
    let kind = match l.ioc_type {
        Some(t) => {
            let t = get(Some(t)).unwrap_or("").to_ascii_lowercase();
            threatfox_kind(&t)?
        }
        None => l.kind,
    };
    let (kind, value) = normalize(raw, Some(kind))?;
    let mut threat = get(l.threat).map(str::to_string);
    if let Some(tags) = get(l.tags) {
        threat = Some(match threat {
            Some(t) => format!("{t} [{tags}]"),
            None => format!("[{tags}]"),
        });
    }
    let class = get(l.threat_type)
        .and_then(threat_type_class)
        .or(format.default_class());
    Ok(Candidate {
        kind,
        value,
        origin: String::new(),
        threat,
        class,
    })
}

/// ThreatFox's `ioc_type`.
pub(super) fn threatfox_kind(t: &str) -> Result<IntelKind, String> {
    Ok(match t {
        "ip:port" | "ip" => IntelKind::Ip,
        "domain" => IntelKind::Domain,
        "url" => IntelKind::Url,
        "sha256_hash" => IntelKind::Sha256,
        "md5_hash" | "sha1_hash" | "sha3_384_hash" => {
            return Err(format!(
                "{t}: no event carries this file hash (SHA-256 only)"
            ))
        }
        "" => return Err("no ioc_type".into()),
        other => return Err(format!("ioc_type {other} not matched")),
    })
}

/// ThreatFox's `threat_type`.
pub(super) fn threat_type_class(t: &str) -> Option<Class> {
    match t.trim().to_ascii_lowercase().as_str() {
        "botnet_cc" => Some(Class::C2),
        "payload_delivery" | "payload" | "malware_download" => Some(Class::Download),
        _ => None,
    }
}

fn plain_line(text: &str, format: Format) -> Result<Candidate, String> {
    let mut tokens = text.split_whitespace();
    let first = tokens.next().unwrap_or("");
    // hosts-file line: `0.0.0.0 evil.example`
    let raw = match (first, tokens.next()) {
        ("0.0.0.0" | "127.0.0.1" | "::" | "::1", Some(name)) if !name.starts_with('#') => name,
        _ => first,
    };
    let (kind, value) = normalize(raw, None)?;
    Ok(Candidate {
        kind,
        value,
        origin: String::new(),
        threat: None,
        class: format.default_class(),
    })
}

/// Undo the usual defanging: `hxxp://`, `[.]`, `(.)`, `[:]`, `[://]`.
fn refang(s: &str) -> String {
    let mut v = s
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("[dot]", ".")
        .replace("[:]", ":")
        .replace("[://]", "://");
    for (from, to) in [
        ("hxxps://", "https://"),
        ("hxxp://", "http://"),
        ("hXXp", "http"),
    ] {
        if v.starts_with(from) {
            v = format!("{to}{}", &v[from.len()..]);
        }
    }
    v
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A JA4 fingerprint: `t13d1516h2_8daaf6152771_b186095e22b6`.
fn is_ja4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('_').collect();
    parts.len() == 3
        && parts[0].len() == 10
        && matches!(parts[0].as_bytes()[0], b't' | b'q' | b'd')
        && parts[0].bytes().all(|b| b.is_ascii_alphanumeric())
        && is_hex(parts[1], 12)
        && is_hex(parts[2], 12)
}

/// A host name: dot-separated labels of letters, digits, `-` and `_`,
/// not all-numeric at the end.
fn is_domain(s: &str) -> bool {
    if s.len() > 253 || !s.contains('.') {
        return false;
    }
    let labels_ok = s.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    labels_ok
        && s.rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()))
}

/// An address with an optional port (`1.2.3.4:443`, `[::1]:80`).
fn ip_port(s: &str) -> Option<std::net::IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (a, p) = s.rsplit_once(':')?;
    p.parse::<u16>().ok()?;
    a.parse().ok()
}

/// The kind and matching form of one indicator value; `hint` when the
/// feed says what it is, else guessed from its shape.
pub(super) fn normalize(raw: &str, hint: Option<IntelKind>) -> Result<(IntelKind, String), String> {
    let v = refang(raw.trim().trim_matches('"'));
    let v = v.as_str();
    let not = |what: &str| {
        Err(format!(
            "not {what}: {}",
            v.chars().take(80).collect::<String>()
        ))
    };
    let as_ip = |v: &str| -> Option<(IntelKind, String)> {
        if v.contains('/') {
            let (net, len) = parse_cidr(v)?;
            let full = if net.is_ipv4() { 32 } else { 128 };
            return Some(if len == full {
                (IntelKind::Ip, net.to_string())
            } else {
                (IntelKind::Net, format!("{net}/{len}"))
            });
        }
        ip_port(v).map(|ip| (IntelKind::Ip, ip.to_string()))
    };
    let as_domain = |v: &str| -> Option<String> {
        let d = host_only(v.trim_start_matches("*.").trim_start_matches('.'));
        is_domain(&d).then_some(d)
    };
    let lower = v.to_ascii_lowercase();
    match hint {
        Some(IntelKind::Ip | IntelKind::Net) => as_ip(v).map_or_else(|| not("an IP address"), Ok),
        Some(IntelKind::Domain) => match as_ip(v) {
            Some(ip) => Ok(ip),
            None => as_domain(v).map_or_else(|| not("a domain"), |d| Ok((IntelKind::Domain, d))),
        },
        Some(IntelKind::Url) => {
            super::normalize_url(v).map_or_else(|| not("a URL"), |u| Ok((IntelKind::Url, u)))
        }
        Some(IntelKind::Sha256) if is_hex(&lower, 64) => Ok((IntelKind::Sha256, lower)),
        Some(IntelKind::Sha256) => not("a SHA-256"),
        Some(IntelKind::Ja3) if is_hex(&lower, 32) => Ok((IntelKind::Ja3, lower)),
        Some(IntelKind::Ja3) => not("a JA3 fingerprint"),
        Some(IntelKind::Ja4) if is_ja4(&lower) => Ok((IntelKind::Ja4, lower)),
        Some(IntelKind::Ja4) => not("a JA4 fingerprint"),
        None => {
            if let Some(ip) = as_ip(v) {
                Ok(ip)
            } else if v.contains("://") {
                super::normalize_url(v).map_or_else(|| not("a URL"), |u| Ok((IntelKind::Url, u)))
            } else if is_hex(&lower, 64) {
                Ok((IntelKind::Sha256, lower))
            } else if is_hex(&lower, 32) {
                // The only MD5 an event carries is a JA3 fingerprint.
                Ok((IntelKind::Ja3, lower))
            } else if is_hex(&lower, 40) {
                Err("SHA-1: no event carries one (SHA-256 only)".into())
            } else if is_ja4(&lower) {
                Ok((IntelKind::Ja4, lower))
            } else if let Some(d) = as_domain(v) {
                Ok((IntelKind::Domain, d))
            } else {
                not("an indicator (IP, CIDR, domain, URL, SHA-256, JA3, JA4)")
            }
        }
    }
}
