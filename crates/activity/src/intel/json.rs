//! JSON feeds: STIX 2.1 bundles, MISP events and feeds, ThreatFox
//! exports. Each is parsed whole (the caller bounds the size).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::load::{err, normalize, read_bounded, threat_type_class, threatfox_kind, Format};
use super::{skip, Candidate, Feed, Intel, IntelError, IntelKind, MAX_JSON_BYTES, MAX_MISP_EVENTS};
use crate::Class;

/// Load a JSON feed; `dir` is the folder of a MISP feed's manifest.
pub(super) fn load(
    intel: &mut Intel,
    path: &Path,
    bytes: &[u8],
    dir: Option<&Path>,
) -> Result<Feed, IntelError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| err(path, Some(e.line() as u64), format!("bad JSON: {e}")))?;
    let format = sniff(&v).ok_or_else(|| {
        err(
            path,
            None,
            "JSON that is not a STIX 2.1 bundle, a MISP event or feed manifest, or a ThreatFox export",
        )
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut feed = Feed::new(name, PathBuf::from(path), format);
    match format {
        Format::Stix => stix(intel, &mut feed, &v),
        Format::MispEvent => {
            for ev in misp_events(&v) {
                misp_event(intel, &mut feed, ev);
            }
        }
        Format::MispFeed => {
            let Some(dir) = dir else {
                return Err(err(
                    path,
                    None,
                    "a MISP feed manifest needs its folder: give the folder or manifest.json",
                ));
            };
            feed.name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string());
            feed.path = dir.to_path_buf();
            misp_feed(intel, &mut feed, &v, dir);
        }
        Format::ThreatfoxJson => threatfox(intel, &mut feed, &v),
        _ => {}
    }
    Ok(feed)
}

fn sniff(v: &Value) -> Option<Format> {
    let has = |o: &Value, k: &str| o.get(k).is_some();
    match v {
        Value::Object(o) => {
            if v.get("type").and_then(Value::as_str) == Some("bundle") {
                return Some(Format::Stix);
            }
            if has(v, "Event") || v.get("response").is_some_and(Value::is_array) {
                return Some(Format::MispEvent);
            }
            if let Some(d) = v.get("data").and_then(Value::as_array) {
                if d.first()
                    .is_some_and(|i| has(i, "ioc") || has(i, "ioc_value"))
                {
                    return Some(Format::ThreatfoxJson);
                }
            }
            let first = o.values().next()?;
            if first
                .as_array()
                .and_then(|a| a.first())
                .is_some_and(|i| has(i, "ioc_value"))
            {
                return Some(Format::ThreatfoxJson);
            }
            if first.is_object() && has(first, "info") {
                return Some(Format::MispFeed);
            }
            None
        }
        Value::Array(a) => {
            let i = a.first()?;
            if has(i, "Event") {
                Some(Format::MispEvent)
            } else if has(i, "ioc_value") || has(i, "ioc") {
                Some(Format::ThreatfoxJson)
            } else if has(i, "pattern")
                || i.get("type").and_then(Value::as_str) == Some("indicator")
            {
                Some(Format::Stix)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn add(
    intel: &mut Intel,
    feed: &mut Feed,
    raw: &str,
    kind: IntelKind,
    origin: &str,
    threat: Option<&str>,
    class: Option<Class>,
) {
    match normalize(raw, Some(kind)) {
        Ok((kind, value)) => intel.add_at(
            feed,
            Candidate {
                kind,
                value,
                origin: origin.to_string(),
                threat: threat.filter(|t| !t.is_empty()).map(str::to_string),
                class,
            },
            None,
        ),
        Err(reason) => skip_at(feed, origin, &reason),
    }
}

/// Count a skipped object, naming it by its id instead of a line.
fn skip_at(feed: &mut Feed, origin: &str, reason: &str) {
    let before = feed.examples.len();
    skip(feed, None, reason);
    if feed.examples.len() > before {
        if let Some(last) = feed.examples.last_mut() {
            *last = format!("{} ({origin}): {reason}", feed.path.display());
        }
    }
}

// ---- STIX 2.1 ----

fn stix(intel: &mut Intel, feed: &mut Feed, v: &Value) {
    let objects = match v {
        Value::Array(a) => a.as_slice(),
        _ => v
            .get("objects")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    };
    for (n, o) in objects.iter().enumerate() {
        if o.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        let id = o
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("object {n}"));
        if o.get("revoked").and_then(Value::as_bool) == Some(true) {
            skip_at(feed, &id, "revoked indicator");
            continue;
        }
        if let Some(t) = o.get("pattern_type").and_then(Value::as_str) {
            if t != "stix" {
                skip_at(feed, &id, &format!("pattern_type {t} not read (stix only)"));
                continue;
            }
        }
        let Some(pattern) = o.get("pattern").and_then(Value::as_str) else {
            skip_at(feed, &id, "indicator without a pattern");
            continue;
        };
        let labels: Vec<&str> = o
            .get("labels")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let class = labels.iter().find_map(|l| Class::parse(l));
        let threat = o
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| labels.first().copied());
        match parse_pattern(pattern) {
            Ok(cmps) => {
                for (path, value) in cmps {
                    match path_kind(&path) {
                        Some(kind) => add(intel, feed, &value, kind, &id, threat, class),
                        None => skip_at(feed, &id, &format!("pattern object {path} not matched")),
                    }
                }
            }
            Err(reason) => skip_at(feed, &id, &reason),
        }
    }
}

/// What a STIX object path compares.
fn path_kind(path: &str) -> Option<IntelKind> {
    let p: String = path
        .chars()
        .filter(|c| !matches!(c, '\'' | '"'))
        .flat_map(char::to_lowercase)
        .collect();
    match p.as_str() {
        "ipv4-addr:value" | "ipv6-addr:value" | "network-traffic:dst_ref.value" => {
            Some(IntelKind::Ip)
        }
        "domain-name:value" => Some(IntelKind::Domain),
        "url:value" => Some(IntelKind::Url),
        _ => {
            let h = p.strip_prefix("file:hashes.")?;
            let h: String = h.chars().filter(|c| !matches!(c, '-' | '_')).collect();
            (h == "sha256").then_some(IntelKind::Sha256)
        }
    }
}

#[derive(Debug, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
    Op(String),
    Str(String),
}

fn tokens(p: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let b: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '[' | '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ']' | ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            '\'' => {
                let (s, next) = quoted(&b, i)?;
                out.push(Tok::Str(s));
                i = next;
            }
            '=' | '!' | '<' | '>' => {
                let mut op = String::from(c);
                if b.get(i + 1) == Some(&'=') {
                    op.push('=');
                    i += 1;
                }
                out.push(Tok::Op(op));
                i += 1;
            }
            _ => {
                let mut w = String::new();
                while i < b.len() {
                    let c = b[i];
                    if c == '\'' && w.ends_with('.') {
                        // A quoted path step: file:hashes.'SHA-256'
                        let (s, next) = quoted(&b, i)?;
                        w.push('\'');
                        w.push_str(&s);
                        w.push('\'');
                        i = next;
                        continue;
                    }
                    if c.is_whitespace() || "[]()'=!<>".contains(c) {
                        break;
                    }
                    w.push(c);
                    i += 1;
                }
                out.push(Tok::Word(w));
            }
        }
        if out.len() > 10_000 {
            return Err("pattern too long".into());
        }
    }
    Ok(out)
}

/// The string literal starting at `b[i] == '\''`: (value, index after).
fn quoted(b: &[char], i: usize) -> Result<(String, usize), String> {
    let mut s = String::new();
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            '\\' if j + 1 < b.len() => {
                s.push(b[j + 1]);
                j += 2;
            }
            '\'' => return Ok((s, j + 1)),
            c => {
                s.push(c);
                j += 1;
            }
        }
    }
    Err("unterminated string in pattern".into())
}

/// The (object path, value) equality comparisons of a STIX pattern made
/// only of `path = 'value'` comparisons joined by `OR` (in one or several
/// observation brackets). `AND`, `FOLLOWEDBY`, other operators and
/// qualifiers (`WITHIN`, `REPEATS`) need more than one observable or a
/// time: such an indicator is not one value to look for, and is refused.
pub(super) fn parse_pattern(p: &str) -> Result<Vec<(String, String)>, String> {
    let t = tokens(p)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Tok::Open | Tok::Close => i += 1,
            Tok::Word(w) if w.eq_ignore_ascii_case("or") => i += 1,
            Tok::Word(w) => {
                let upper = w.to_ascii_uppercase();
                if matches!(
                    upper.as_str(),
                    "AND" | "FOLLOWEDBY" | "WITHIN" | "REPEATS" | "START" | "STOP" | "NOT"
                ) {
                    return Err(format!("pattern with {upper}: not one observable to match"));
                }
                match (t.get(i + 1), t.get(i + 2)) {
                    (Some(Tok::Op(op)), Some(Tok::Str(v))) if op == "=" => {
                        out.push((w.clone(), v.clone()));
                        i += 3;
                    }
                    (Some(Tok::Op(op)), _) => {
                        return Err(format!("pattern operator {op} not matched (= only)"))
                    }
                    (Some(Tok::Word(op)), _) => {
                        return Err(format!(
                            "pattern operator {} not matched (= only)",
                            op.to_ascii_uppercase()
                        ))
                    }
                    _ => return Err("pattern is not path = 'value'".into()),
                }
            }
            Tok::Op(_) | Tok::Str(_) => return Err("pattern is not path = 'value'".into()),
        }
    }
    if out.is_empty() {
        return Err("empty pattern".into());
    }
    Ok(out)
}

// ---- MISP ----

/// The `Event` objects of a MISP event file: `{"Event": …}`,
/// `{"response": [{"Event": …}]}` or `[{"Event": …}, …]`.
fn misp_events(v: &Value) -> Vec<&Value> {
    let list: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        _ => match v.get("response").and_then(Value::as_array) {
            Some(a) => a.iter().collect(),
            None => vec![v],
        },
    };
    list.into_iter().filter_map(|x| x.get("Event")).collect()
}

fn misp_event(intel: &mut Intel, feed: &mut Feed, ev: &Value) {
    let info = ev.get("info").and_then(Value::as_str);
    let attrs = ev
        .get("Attribute")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let obj_attrs = ev
        .get("Object")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("Attribute").and_then(Value::as_array))
        .flatten();
    for (n, a) in attrs.chain(obj_attrs).enumerate() {
        misp_attribute(intel, feed, a, n, info);
    }
}

/// MISP booleans come as `true`, `1` or `"1"`.
fn misp_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_u64() != Some(0)),
        Value::String(s) => Some(!matches!(s.as_str(), "0" | "false" | "")),
        _ => None,
    }
}

fn misp_attribute(intel: &mut Intel, feed: &mut Feed, a: &Value, n: usize, info: Option<&str>) {
    let origin = match a.get("uuid").and_then(Value::as_str) {
        Some(u) => format!("attribute {u}"),
        None => format!("attribute {n}"),
    };
    if misp_bool(a.get("deleted")) == Some(true) {
        skip_at(feed, &origin, "deleted attribute");
        return;
    }
    if misp_bool(a.get("to_ids")) == Some(false) {
        skip_at(feed, &origin, "to_ids off (context, not for detection)");
        return;
    }
    let t = a.get("type").and_then(Value::as_str).unwrap_or("");
    let Some(value) = a.get("value").and_then(Value::as_str) else {
        skip_at(feed, &origin, "attribute without a value");
        return;
    };
    let first = value.split('|').next().unwrap_or(value);
    let second = value.split('|').nth(1).unwrap_or("");
    let mut put = |raw: &str, kind| add(intel, feed, raw, kind, &origin, info, None);
    match t {
        "ip-dst" | "ip-src" | "ip-dst|port" | "ip-src|port" => put(first, IntelKind::Ip),
        "domain" | "hostname" | "hostname|port" => put(first, IntelKind::Domain),
        "domain|ip" => {
            put(first, IntelKind::Domain);
            put(second, IntelKind::Ip);
        }
        "url" => put(value, IntelKind::Url),
        "sha256" => put(value, IntelKind::Sha256),
        "filename|sha256" => put(second, IntelKind::Sha256),
        "ja3-fingerprint-md5" => put(value, IntelKind::Ja3),
        _ if t.starts_with("ja4") => put(value, IntelKind::Ja4),
        "md5" | "sha1" | "filename|md5" | "filename|sha1" | "sha512" | "ssdeep" | "imphash" => {
            skip_at(
                feed,
                &origin,
                &format!("MISP {t}: no event carries this hash (SHA-256 only)"),
            )
        }
        _ => skip_at(feed, &origin, &format!("MISP type {t} not matched")),
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn misp_feed(intel: &mut Intel, feed: &mut Feed, manifest: &Value, dir: &Path) {
    let Some(o) = manifest.as_object() else {
        return;
    };
    for (n, uuid) in o.keys().enumerate() {
        if n >= MAX_MISP_EVENTS {
            skip(
                feed,
                None,
                &format!("events over the {MAX_MISP_EVENTS}-event cap"),
            );
            continue;
        }
        if !is_uuid(uuid) {
            skip_at(feed, uuid, "manifest key is not an event UUID");
            continue;
        }
        let file = dir.join(format!("{uuid}.json"));
        if !file.is_file() {
            skip_at(feed, uuid, "event file missing");
            continue;
        }
        let parsed = read_bounded(&file, MAX_JSON_BYTES).and_then(|b| {
            serde_json::from_slice::<Value>(&b)
                .map_err(|e| err(&file, Some(e.line() as u64), format!("bad JSON: {e}")))
        });
        match parsed {
            Ok(v) => {
                let evs = misp_events(&v);
                if evs.is_empty() {
                    skip_at(feed, uuid, "event file without an Event");
                }
                for ev in evs {
                    misp_event(intel, feed, ev);
                }
            }
            Err(e) => {
                let before = feed.examples.len();
                skip(feed, None, "unreadable event file");
                if feed.examples.len() > before {
                    if let Some(last) = feed.examples.last_mut() {
                        *last = e.to_string();
                    }
                }
            }
        }
    }
}

// ---- ThreatFox JSON ----

fn threatfox(intel: &mut Intel, feed: &mut Feed, v: &Value) {
    let mut items: Vec<(String, &Value)> = Vec::new();
    match v {
        Value::Array(a) => {
            items.extend(a.iter().enumerate().map(|(n, i)| (format!("item {n}"), i)))
        }
        Value::Object(o) => {
            if let Some(d) = v.get("data").and_then(Value::as_array) {
                items.extend(d.iter().enumerate().map(|(n, i)| (format!("item {n}"), i)));
            } else {
                for (id, list) in o {
                    for i in list.as_array().into_iter().flatten() {
                        items.push((format!("ioc {id}"), i));
                    }
                }
            }
        }
        _ => {}
    }
    for (origin, item) in items {
        let origin = match item.get("id").and_then(|x| {
            x.as_str()
                .map(str::to_string)
                .or(x.as_u64().map(|n| n.to_string()))
        }) {
            Some(id) => format!("ioc {id}"),
            None => origin,
        };
        let Some(value) = item
            .get("ioc_value")
            .or_else(|| item.get("ioc"))
            .and_then(Value::as_str)
        else {
            skip_at(feed, &origin, "no ioc_value");
            continue;
        };
        let t = item.get("ioc_type").and_then(Value::as_str).unwrap_or("");
        let kind = match threatfox_kind(&t.to_ascii_lowercase()) {
            Ok(k) => k,
            Err(reason) => {
                skip_at(feed, &origin, &reason);
                continue;
            }
        };
        let threat = item
            .get("malware_printable")
            .or_else(|| item.get("malware"))
            .and_then(Value::as_str);
        let class = item
            .get("threat_type")
            .and_then(Value::as_str)
            .and_then(threat_type_class);
        add(intel, feed, value, kind, &origin, threat, class);
    }
}
