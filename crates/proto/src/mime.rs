//! The MIME entities of a carved mail message, as Zeek's MIME analyzer
//! hands them to file analysis (`files.log` rows with source `SMTP`).
//!
//! The structure (multipart boundaries, nested parts, `Content-*`
//! headers) is read by `mail-parser`; each leaf entity's content is the
//! raw bytes between its header block and the line break before the next
//! boundary, decoded by its `Content-Transfer-Encoding` (base64 and
//! quoted-printable, leniently: a bad byte is skipped, as Zeek goes on).
//! Charsets are not converted: a file is bytes.
//!
//! Entities are numbered in the order they begin, containers included
//! (Zeek's entity depth): a `multipart/mixed` message with a
//! `multipart/alternative` first part has its text part at depth 3.
//! At most [`MAX_ENTITIES`] entities are read per message. Never panics.

use mail_parser::{Encoding, MessageParser, MimeHeaders, PartType};

/// Most entities described per message.
pub const MAX_ENTITIES: usize = 64;

/// One leaf entity of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity<'a> {
    /// 1-based position among the message's entities (containers count).
    pub depth: u32,
    /// Byte range of its raw (still encoded) content in the message.
    pub raw: std::ops::Range<usize>,
    /// The content, transfer-decoded: borrowed from the message when it
    /// was not encoded, base64 decoded once (by the parser).
    pub content: std::borrow::Cow<'a, [u8]>,
    /// `filename` of `Content-Disposition`, else `name` of `Content-Type`.
    pub filename: Option<String>,
}

/// The leaf entities of `msg`, in order. A message that is not MIME is
/// one entity: its body.
pub fn entities(msg: &[u8]) -> Vec<Entity<'_>> {
    use std::borrow::Cow;
    let Some(m) = MessageParser::new().with_mime_headers().parse(msg) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, part) in m.parts.into_iter().enumerate().take(MAX_ENTITIES) {
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        let start = (part.offset_body as usize).min(msg.len());
        let end = (part.offset_end as usize).clamp(start, msg.len());
        let raw = msg.get(start..end).unwrap_or_default();
        if raw.is_empty() {
            continue;
        }
        let filename = part
            .attachment_name()
            .map(|n| n.chars().filter(|c| !c.is_control()).take(256).collect());
        let content: Cow<'_, [u8]> = match (part.encoding, part.body) {
            // The parser decoded a binary part already: take its bytes.
            (Encoding::Base64, PartType::Binary(c) | PartType::InlineBinary(c)) => c,
            // A text part was also charset-converted: decode the raw bytes.
            (Encoding::Base64, _) => Cow::Owned(base64_lenient(raw)),
            (Encoding::QuotedPrintable, _) => Cow::Owned(quoted_printable(raw, i > 0)),
            (Encoding::None, _) => Cow::Borrowed(raw),
        };
        out.push(Entity {
            depth: u32::try_from(i + 1).unwrap_or(u32::MAX),
            raw: start..start + raw.len(),
            content,
            filename,
        });
    }
    out
}

/// Base64 with whitespace and any byte outside the alphabet skipped; stops
/// at padding.
pub fn base64_lenient(input: &[u8]) -> Vec<u8> {
    crate::util::base64(input, true).unwrap_or_default()
}

/// Quoted-printable (RFC 2045 §6.7) as Zeek decodes it, line by line:
/// trailing spaces and tabs dropped, `=XX` a byte, `=` at the end of a
/// line a soft break, any other line ends in CRLF; a malformed `=` is
/// kept. `in_multipart`: the content ended before a boundary, whose line
/// break is the last line's end (so a final empty line counts).
pub fn quoted_printable(input: &[u8], in_multipart: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if !in_multipart && input.ends_with(b"\n") {
        // The message's last line break ends its last line.
        lines.pop();
    }
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let end = line
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |p| p + 1);
        let line = line.get(..end).unwrap_or_default();
        let mut soft = false;
        let mut i = 0;
        while let Some(&b) = line.get(i) {
            if b != b'=' {
                out.push(b);
                i += 1;
                continue;
            }
            if i + 1 == line.len() {
                soft = true;
                break;
            }
            match (
                line.get(i + 1).and_then(|&h| hex(h)),
                line.get(i + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        if !soft {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"X\"\r\n\r\npreamble\r\n--X\r\nContent-Type: multipart/alternative; boundary=\"Y\"\r\n\r\n--Y\r\nContent-Type: text/plain\r\n\r\nhello\r\n\r\n--Y\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p class=3D\"a\">hi=\r\nthere</p>\r\n--Y--\r\n--X\r\nContent-Type: application/octet-stream; name=\"x.exe\"\r\nContent-Disposition: attachment; filename=\"run.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMA\r\nAAAE\r\n--X--\r\n";

    #[test]
    fn entities_numbered_and_decoded() {
        let e = entities(MSG);
        let got: Vec<(u32, &[u8], Option<&str>)> = e
            .iter()
            .map(|e| (e.depth, &e.content[..], e.filename.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, &b"hello\r\n"[..], None),
                (4, &b"<p class=\"a\">hithere</p>\r\n"[..], None),
                (5, &b"MZ\x90\x00\x03\x00\x00\x00\x04"[..], Some("run.exe")),
            ]
        );
    }

    #[test]
    fn plain_message_is_one_entity() {
        let e = entities(b"Subject: x\r\n\r\nbody line\r\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].depth, 1);
        assert_eq!(&e[0].content[..], b"body line\r\n");
    }

    #[test]
    fn qp_and_base64_never_panic() {
        assert_eq!(quoted_printable(b"a=\r\nb=4", false), b"ab=4\r\n");
        assert_eq!(quoted_printable(b"a \t\r\n", true), b"a\r\n\r\n");
        assert_eq!(quoted_printable(b"=", false), b"");
        assert_eq!(quoted_printable(b"=zz", false), b"=zz\r\n");
        assert_eq!(base64_lenient(b"TW!F*u"), b"Man");
        for n in 0..64u8 {
            let v: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            let _ = entities(&v);
        }
    }
}
