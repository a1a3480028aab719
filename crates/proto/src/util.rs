//! Small helpers shared by the parsers.

/// MIME type of content judged from its first bytes ("magic"), the way
/// Zeek's file analysis names them. `None` when nothing matches.
///
/// Executables are recognised by content, never by name or header.
pub fn mime_from_magic(data: &[u8]) -> Option<&'static str> {
    const SIGS: &[(&[u8], &str)] = &[
        (b"MZ", "application/x-dosexec"),
        (b"\x7fELF", "application/x-executable"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            "application/x-ole-storage",
        ),
        (b"PK\x03\x04", "application/zip"),
        (b"PK\x05\x06", "application/zip"),
        (b"Rar!\x1a\x07", "application/x-rar"),
        (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
        (b"MSCF", "application/vnd.ms-cab-compressed"),
        (b"\x1f\x8b", "application/x-gzip"),
        (b"BZh", "application/x-bzip2"),
        (b"\xfd7zXZ\x00", "application/x-xz"),
        (b"%PDF-", "application/pdf"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"BM", "image/x-ms-bmp"),
        (b"\x00\x00\x01\x00", "image/x-icon"),
        (b"FWS", "application/x-shockwave-flash"),
        (b"CWS", "application/x-shockwave-flash"),
        (b"ZWS", "application/x-shockwave-flash"),
        (b"\xca\xfe\xba\xbe", "application/x-java-applet"),
        (b"\xd4\xc3\xb2\xa1", "application/vnd.tcpdump.pcap"),
        (b"\xa1\xb2\xc3\xd4", "application/vnd.tcpdump.pcap"),
        (b"\x4d\x3c\xb2\xa1", "application/vnd.tcpdump.pcap"),
        (b"\xa1\xb2\x3c\x4d", "application/vnd.tcpdump.pcap"),
        (b"\x0a\x0d\x0d\x0a", "application/vnd.tcpdump.pcap"),
        (b"RIFF", "application/x-riff"),
        (b"OggS", "application/ogg"),
        (b"ID3", "audio/mpeg"),
    ];
    if data.is_empty() {
        return None;
    }
    for (sig, mime) in SIGS {
        if data.starts_with(sig) {
            // "BM" and "MZ"-like two-byte magics are weak; require more
            // evidence for BMP (a plausible header size).
            if *mime == "image/x-ms-bmp" && data.len() < 14 {
                continue;
            }
            return Some(mime);
        }
    }
    let head = trim_ascii_start(&data[..data.len().min(512)]);
    let lower: Vec<u8> = head
        .iter()
        .take(64)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    if lower.starts_with(b"<!doctype html")
        || lower.starts_with(b"<html")
        || lower.starts_with(b"<head")
        || lower.starts_with(b"<script")
    {
        return Some("text/html");
    }
    if lower.starts_with(b"<?xml") {
        return Some("application/xml");
    }
    if (lower.starts_with(b"{") || lower.starts_with(b"[")) && looks_textual(head) {
        return Some("text/json");
    }
    if looks_textual(&data[..data.len().min(512)]) {
        return Some("text/plain");
    }
    None
}

/// Cut `s` to at most `max` bytes (at a character boundary). `true` when
/// something was cut.
pub(crate) fn truncate_str(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let end = s.floor_char_boundary(max);
    s.truncate(end);
    true
}

fn trim_ascii_start(mut d: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = d {
        if first.is_ascii_whitespace() {
            d = rest;
        } else {
            break;
        }
    }
    d
}

/// Mostly printable ASCII / UTF-8 text with line structure.
fn looks_textual(d: &[u8]) -> bool {
    if d.is_empty() {
        return false;
    }
    let bad = d
        .iter()
        .filter(|&&b| b < 0x09 || (b > 0x0d && b < 0x20) || b == 0x7f)
        .count();
    bad == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic() {
        assert_eq!(
            mime_from_magic(b"MZ\x90\x00"),
            Some("application/x-dosexec")
        );
        assert_eq!(mime_from_magic(b"GIF89a...."), Some("image/gif"));
        assert_eq!(mime_from_magic(b"  <html><body>"), Some("text/html"));
        assert_eq!(
            mime_from_magic(b"body { color: red }\n"),
            Some("text/plain")
        );
        assert_eq!(mime_from_magic(b"\x00\x01\x02\x03\x04"), None);
        assert_eq!(mime_from_magic(b""), None);
    }

    #[test]
    fn truncate_at_char_boundary() {
        let mut s = "aé".to_string();
        assert!(truncate_str(&mut s, 2));
        assert_eq!(s, "a");
        let mut s = "abc".to_string();
        assert!(!truncate_str(&mut s, 3));
        assert_eq!(s, "abc");
    }
}
