//! **download**: an HTTP response whose content, judged by magic (the
//! `resp_mime_types` the engine fills from the first body bytes, or the
//! body prefix itself), is a PE, an ELF, an OLE/MSI file, a Java class or
//! a ZIP whose first entry is a PE or a JAR. Never by extension or
//! `Content-Type` alone. Evidence: URL, type, SHA-256. A fetch from an
//! operating-system update service (`os-update` in the background list:
//! Windows Update and the like) is not a payload.
//!
//! Also:
//! - an encrypted payload (a large, high-entropy body of no known type)
//!   right after exploit content (Flash, Java, Silverlight) within
//!   [`crate::ActivityConfig::ek_chain_window_s`], or, in a sandbox,
//!   from a host the background list does not explain;
//! - a body whose declared type (Content-Type or URL extension: an image,
//!   a page, a document) its magic contradicts, large and opaque: a
//!   payload disguised (a verdict in a sandbox, a lead on a network).

use botscope_event::Http;

use super::{http_host, url_of, Ctx, HostView};
use crate::evidence::{Evidence, Threat};
use crate::Class;

/// Executable content by magic, never by name or declared type.
pub(crate) fn executable_kind(h: &Http) -> Option<&'static str> {
    let p = &h.resp_body_prefix;
    for m in &h.resp_mime_types {
        match m.as_str() {
            "application/x-dosexec" => return Some("PE"),
            "application/x-executable" => return Some("ELF"),
            "application/x-ole-storage" => return Some("OLE/MSI"),
            "application/x-java-applet" => return Some("Java class"),
            "application/java-archive" => return Some("JAR"),
            _ => {}
        }
    }
    if p.starts_with(b"MZ") {
        return Some("PE");
    }
    if p.starts_with(b"\x7fELF") {
        return Some("ELF");
    }
    if p.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        return Some("OLE/MSI");
    }
    if p.starts_with(b"\xca\xfe\xba\xbe") {
        return Some("Java class");
    }
    zip_first_entry(p).and_then(|name| {
        let n = name.to_ascii_lowercase();
        if n.starts_with("meta-inf/") || n.ends_with(".class") {
            Some("JAR")
        } else if [
            ".exe", ".dll", ".scr", ".com", ".pif", ".cpl", ".sys", ".msi",
        ]
        .iter()
        .any(|e| n.ends_with(e))
        {
            Some("ZIP with PE")
        } else {
            None
        }
    })
}

/// The name of the first entry of a ZIP local file header.
pub(crate) fn zip_first_entry(p: &[u8]) -> Option<String> {
    if !p.starts_with(b"PK\x03\x04") {
        return None;
    }
    let n = usize::from(u16::from_le_bytes([*p.get(26)?, *p.get(27)?]));
    let name = p.get(30..30usize.checked_add(n)?)?;
    Some(String::from_utf8_lossy(name).into_owned())
}

/// The type a response claims: by Content-Type, else by URL extension.
fn declared(x: &Http) -> Option<&'static str> {
    let ct = x
        .resp_content_type
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    let path = x
        .uri
        .as_deref()
        .unwrap_or("")
        .split('?')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("image/")
        || [".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico"]
            .iter()
            .any(|e| path.ends_with(e))
    {
        return Some("image");
    }
    if ct.starts_with("text/")
        || [".txt", ".html", ".htm", ".css"]
            .iter()
            .any(|e| path.ends_with(e))
    {
        return Some("text");
    }
    None
}

/// Does the body's magic match its declared kind?
fn magic_matches(kind: &str, x: &Http) -> bool {
    let p = &x.resp_body_prefix;
    match kind {
        "image" => {
            p.starts_with(b"\x89PNG")
                || p.starts_with(b"\xff\xd8\xff")
                || p.starts_with(b"GIF8")
                || p.starts_with(b"BM")
                || p.starts_with(b"\x00\x00\x01\x00")
                || p.starts_with(b"RIFF")
                || p.starts_with(b"<svg")
                || p.starts_with(b"<?xml")
        }
        // Text: mostly printable.
        _ => {
            p.iter()
                .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
                .count()
                * 10
                >= p.len() * 9
        }
    }
}

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    payloads(cx, h, out);
    for &i in &h.conns {
        let r = &cx.recs[i];
        for x in &r.http {
            let Some(kind) = executable_kind(x) else {
                continue;
            };
            let ts = x.meta.map_or(r.ts, |m| m.ts);
            let sha = x.resp_body_sha256.as_deref().unwrap_or("-");
            let host = http_host(r, x);
            if cx.background.name(&host) == Some("os-update") {
                // Windows Update and the like serve executables all day:
                // an operating-system update is not a payload.
                out.push(
                    Evidence::new(h.ip, Class::Download, ts, Threat::Info, 1.0)
                        .text(format!(
                            "{} {} {kind} from {host}: an operating-system update service (background list), not a payload",
                            x.method.as_deref().unwrap_or("GET"),
                            url_of(x)
                        ))
                        .conns([i]),
                );
                continue;
            }
            out.push(
                Evidence::new(h.ip, Class::Download, ts, Threat::High, 0.9)
                    .text(format!(
                        "{} {} {kind} {} bytes sha256={sha} (type by magic, not by name or declared type)",
                        x.method.as_deref().unwrap_or("GET"),
                        url_of(x),
                        x.response_body_len,
                    ))
                    .conns([i])
                    .ind(http_host(r, x))
                    .ind(r.id.resp_h.to_string())
                    .ind(url_of(x))
                    .ind(sha),
            );
        }
    }
}

/// Archives and documents by magic (the engine's `resp_mime_types`).
fn document_kind(m: &str) -> Option<&'static str> {
    Some(match m {
        "application/zip" => "a ZIP archive",
        "application/x-rar" | "application/x-rar-compressed" | "application/vnd.rar" => {
            "a RAR archive"
        }
        "application/x-7z-compressed" => "a 7-Zip archive",
        "application/gzip" | "application/x-gzip" => "a gzip archive",
        "application/pdf" => "a PDF document",
        "application/rtf" | "text/rtf" => "an RTF document",
        "application/msword" | "application/vnd.ms-excel" => "an Office document",
        "application/x-msi" => "an installer",
        "application/vnd.ms-cab-compressed" => "a CAB archive",
        _ => return None,
    })
}

/// Encrypted payloads, disguised bodies, and (in a sandbox) archives and
/// documents: the sandboxed host fetches them from a host the background
/// list does not explain.
fn payloads(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let recs = cx.recs;
    let sandboxed = cx.sandboxed(h.ip);
    let win = (cx.cfg.ek_chain_window_s.max(0.0) * 1e6) as i64;
    let mut last_exploit: Option<botscope_event::Ts> = None;
    let reqs = h.http_in_order(recs);
    for (ts, i, x) in reqs {
        let r = &recs[i];
        if super::exploit::exploit_content(x).is_some() {
            last_exploit = Some(ts);
            continue;
        }
        if executable_kind(x).is_some() {
            continue;
        }
        let server = http_host(r, x);
        if cx.background.name(&server).is_some() {
            continue;
        }
        let p = &x.resp_body_prefix;
        let big = x.response_body_len >= 10_000 && p.len() >= 256;
        let ent = super::exploit::entropy(p);
        let opaque = big && ent >= cx.cfg.encrypted_min_entropy;
        let after_exploit = last_exploit.is_some_and(|t| ts.0.saturating_sub(t.0) <= win);
        let disguised = declared(x).filter(|k| big && !magic_matches(k, x));
        let unknown_type = x.resp_mime_types.is_empty()
            || x.resp_mime_types
                .iter()
                .all(|m| m == "application/octet-stream");
        let doc = x.resp_mime_types.iter().find_map(|m| document_kind(m));
        let (what, t, c) =
            if let (Some(d), true) = (doc, sandboxed && x.response_body_len >= 10_000) {
                (d, Threat::High, 0.8)
            } else if opaque && unknown_type && after_exploit {
                (
                    "encrypted payload right after exploit content",
                    Threat::High,
                    0.9,
                )
            } else if let Some(k) = disguised {
                let what = if k == "image" {
                    "a body declared an image that is none"
                } else {
                    "a body declared text that is binary"
                };
                if sandboxed {
                    (what, Threat::High, 0.8)
                } else {
                    (what, Threat::Low, 0.5)
                }
            } else if opaque && unknown_type && sandboxed {
                ("an encrypted payload of no known type", Threat::High, 0.8)
            } else {
                continue;
            };
        out.push(
            Evidence::new(h.ip, Class::Download, ts, t, c)
                .text(format!(
                    "{} {} {} bytes: {what} (entropy {ent:.2} bits/byte of the first {} bytes, Content-Type {}) sha256={}",
                    x.method.as_deref().unwrap_or("GET"),
                    url_of(x),
                    x.response_body_len,
                    p.len(),
                    x.resp_content_type.as_deref().unwrap_or("-"),
                    x.resp_body_sha256.as_deref().unwrap_or("-"),
                ))
                .conns([i])
                .ind(server)
                .ind(r.id.resp_h.to_string())
                .ind(url_of(x))
                .ind(x.resp_body_sha256.clone().unwrap_or_default()),
        );
    }
}

#[cfg(test)]
mod tests {
    use botscope_event::{Http, Transport};

    use crate::detect::testkit::*;
    use crate::Class;

    #[test]
    fn pe_by_magic_is_a_download_text_is_not() {
        let (a, s) = (ip(10, 0, 0, 5), ip(203, 0, 113, 9));
        let mut ev = http(
            1,
            10.0,
            id(a, s, 80, Transport::Tcp),
            Http {
                method: Some("GET".into()),
                host: Some("x.example".into()),
                uri: Some("/a.png".into()),
                response_body_len: 90_000,
                resp_body_prefix: b"MZ\x90\x00\x03".to_vec(),
                resp_content_type: Some("image/png".into()),
                ..Default::default()
            },
        );
        let r = network(&ev);
        assert_eq!(classes(&r, a), vec![Class::Download]);
        let ev2 = http(
            2,
            10.0,
            id(a, s, 80, Transport::Tcp),
            Http {
                uri: Some("/a.exe".into()),
                resp_body_prefix: b"<html>".to_vec(),
                ..Default::default()
            },
        );
        assert!(classes(&network(&ev2), a).is_empty());
        ev.extend(ev2);
        let r = network(&ev);
        let d = r[0].activity(Class::Download).expect("download");
        assert_eq!(d.connections, 1);
        assert!(d.evidence[0].contains("PE"), "{:?}", d.evidence);
    }

    #[test]
    fn an_os_update_is_not_a_payload() {
        let (a, s) = (ip(10, 0, 0, 5), ip(203, 0, 113, 9));
        let ev = http(
            1,
            10.0,
            id(a, s, 80, Transport::Tcp),
            Http {
                method: Some("GET".into()),
                host: Some("au.download.windowsupdate.com".into()),
                uri: Some("/msdownload/update/kb1.exe".into()),
                resp_body_prefix: b"MZ\x90\x00\x03".to_vec(),
                ..Default::default()
            },
        );
        assert!(classes(&network(&ev), a).is_empty());
    }
}
