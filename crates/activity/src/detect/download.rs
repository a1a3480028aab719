//! **download**: an HTTP response whose content, judged by magic (the
//! `resp_mime_types` the engine fills from the first body bytes, or the
//! body prefix itself), is a PE, an ELF, an OLE/MSI file, a Java class or
//! a ZIP whose first entry is a PE or a JAR. Never by extension or
//! `Content-Type` alone. Evidence: URL, type, SHA-256. A fetch from an
//! operating-system update service (`os-update` in the background list:
//! Windows Update and the like) is not a payload.

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

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
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
