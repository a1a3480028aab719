//! Indicator export: CSV, STIX 2.1 bundle, MISP event.
//!
//! Output is deterministic: ids are UUIDs derived from the indicator's
//! content (SHA-256, version/variant bits set as for a name-based UUID)
//! and timestamps are the times the indicator was seen, never "now".

use std::io::Write;
use std::path::Path;

use botscope_activity::ioc::{Ioc, IocKind};
use botscope_event::Ts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::Error;

/// Export format, chosen from the file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IocFormat {
    Csv,
    /// `*.stix.json`
    Stix,
    /// `*.misp.json`
    Misp,
}

impl IocFormat {
    /// `.stix.json` → STIX, `.misp.json` → MISP, anything else → CSV.
    pub fn from_path(p: &Path) -> IocFormat {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".stix.json") {
            IocFormat::Stix
        } else if name.ends_with(".misp.json") {
            IocFormat::Misp
        } else {
            IocFormat::Csv
        }
    }
}

/// A name-based UUID from `parts` (stable across runs).
pub fn stable_uuid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// RFC 3339 with milliseconds, UTC (`2010-12-23T06:45:19.000Z`).
fn rfc3339(t: Ts) -> String {
    chrono::DateTime::from_timestamp_micros(t.0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_string())
}

/// A STIX pattern string literal: `'` and `\` escaped.
fn stix_str(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\'', "\\'")
}

fn stix_pattern(i: &Ioc) -> Option<String> {
    let v = stix_str(&i.value);
    Some(match i.kind {
        IocKind::Domain => format!("[domain-name:value = '{v}']"),
        IocKind::Url | IocKind::Referer => format!("[url:value = '{v}']"),
        IocKind::Ip => {
            let t = if i.value.contains(':') {
                "ipv6-addr"
            } else {
                "ipv4-addr"
            };
            format!("[{t}:value = '{v}']")
        }
        IocKind::Sha256 => format!("[file:hashes.'SHA-256' = '{v}']"),
        IocKind::Helo => {
            // Only HELO names that are host names are observables.
            let host_like = i.value.contains('.')
                && i.value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
            if !host_like {
                return None;
            }
            format!("[domain-name:value = '{v}']")
        }
    })
}

fn describe(i: &Ioc) -> String {
    format!(
        "{} {} seen {} times from infected host {} ({} .. {})",
        i.class.as_str(),
        i.kind.as_str(),
        i.count,
        i.host,
        rfc3339(i.first),
        rfc3339(i.last)
    )
}

/// The STIX 2.1 bundle (one indicator per IOC).
pub fn stix_bundle(iocs: &[Ioc]) -> Value {
    let mut objects = Vec::new();
    let identity = format!("identity--{}", stable_uuid(&["botscope"]));
    let created = iocs.iter().map(|i| i.first).min().unwrap_or_default();
    objects.push(json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity,
        "created": rfc3339(created),
        "modified": rfc3339(created),
        "name": "botscope",
        "identity_class": "system",
    }));
    for i in iocs {
        let Some(pattern) = stix_pattern(i) else {
            continue;
        };
        let host = i.host.to_string();
        let id = stable_uuid(&[i.kind.as_str(), &i.value, i.class.as_str(), &host]);
        objects.push(json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": format!("indicator--{id}"),
            "created_by_ref": identity,
            "created": rfc3339(i.first),
            "modified": rfc3339(i.last),
            "name": format!("{} {}", i.class.as_str(), i.kind.as_str()),
            "description": describe(i),
            "indicator_types": ["malicious-activity"],
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": rfc3339(i.first),
            "labels": [i.class.as_str()],
        }));
    }
    let ids: Vec<String> = objects
        .iter()
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .collect();
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", stable_uuid(&ids.iter().map(String::as_str).collect::<Vec<_>>())),
        "objects": objects,
    })
}

/// The MISP event (one attribute per IOC).
pub fn misp_event(iocs: &[Ioc]) -> Value {
    let first = iocs.iter().map(|i| i.first).min().unwrap_or_default();
    let date = rfc3339(first).get(..10).unwrap_or("1970-01-01").to_string();
    let attrs: Vec<Value> = iocs
        .iter()
        .map(|i| {
            let (t, cat) = match i.kind {
                IocKind::Domain => ("domain", "Network activity"),
                IocKind::Url => ("url", "Network activity"),
                IocKind::Referer => ("url", "Network activity"),
                IocKind::Ip => ("ip-dst", "Network activity"),
                IocKind::Sha256 => ("sha256", "Payload delivery"),
                IocKind::Helo => ("text", "Network activity"),
            };
            let host = i.host.to_string();
            json!({
                "uuid": stable_uuid(&[i.kind.as_str(), &i.value, i.class.as_str(), &host]),
                "type": t,
                "category": cat,
                "value": i.value,
                "to_ids": i.kind != IocKind::Helo,
                "comment": describe(i),
                "first_seen": rfc3339(i.first),
                "last_seen": rfc3339(i.last),
            })
        })
        .collect();
    let ids: Vec<&str> = attrs.iter().filter_map(|a| a["uuid"].as_str()).collect();
    json!({
        "Event": {
            "uuid": stable_uuid(&ids),
            "info": "botscope trace: indicators of botnet activity",
            "date": date,
            "threat_level_id": "2",
            "analysis": "2",
            "distribution": "0",
            "Attribute": attrs,
        }
    })
}

/// `iocs` in `format`, as the bytes of a file.
pub fn iocs_bytes(format: IocFormat, iocs: &[Ioc]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    match format {
        IocFormat::Csv => {
            out.extend_from_slice(b"kind,value,class,host,first,last,count\n");
            for i in iocs {
                let v = if i.value.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", i.value.replace('"', "\"\""))
                } else {
                    i.value.clone()
                };
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    i.kind.as_str(),
                    v,
                    i.class.as_str(),
                    i.host,
                    rfc3339(i.first),
                    rfc3339(i.last),
                    i.count
                );
            }
        }
        IocFormat::Stix => {
            out = serde_json::to_vec_pretty(&stix_bundle(iocs)).unwrap_or_default();
            out.push(b'\n');
        }
        IocFormat::Misp => {
            out = serde_json::to_vec_pretty(&misp_event(iocs)).unwrap_or_default();
            out.push(b'\n');
        }
    }
    out
}

/// Write `iocs` to `path` in the format its name asks for.
pub fn write_iocs(path: &Path, iocs: &[Ioc]) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::write(path.to_path_buf(), e);
    std::fs::write(path, iocs_bytes(IocFormat::from_path(path), iocs)).map_err(fail)
}
