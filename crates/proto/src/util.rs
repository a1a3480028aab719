//! Small helpers shared by the parsers.

/// Whitespace between base64 digits (skipped).
const SKIP: u8 = 0x40;
/// `=`: the padding ends the digits.
const PAD: u8 = 0x41;
/// A byte outside the alphabet.
const BAD: u8 = 0xff;
/// Each byte's base64 digit value (0..=63), or `SKIP`, `PAD`, `BAD`.
const TABLE: [u8; 256] = {
    let mut t = [BAD; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'-' as usize] = 62;
    t[b'/' as usize] = 63;
    t[b'_' as usize] = 63;
    t[b'=' as usize] = PAD;
    t[b' ' as usize] = SKIP;
    t[b'\t' as usize] = SKIP;
    t[b'\r' as usize] = SKIP;
    t[b'\n' as usize] = SKIP;
    t
};

/// The length of what [`base64`] (lenient) decodes `input` to, without
/// decoding it: six bits per digit before the padding. Digits are
/// classified by branch-free comparisons counted in bytes, 255 at a time,
/// so the count vectorizes (with `||` and a `usize` count it did not: two
/// instructions a byte, most of a mail attachment's cost).
pub(crate) fn base64_len(input: &[u8]) -> usize {
    let end = memchr::memchr(b'=', input).unwrap_or(input.len());
    let digit = |c: u8| {
        u8::from(c.wrapping_sub(b'A') < 26)
            | u8::from(c.wrapping_sub(b'a') < 26)
            | u8::from(c.wrapping_sub(b'0') < 10)
            | u8::from(c == b'+')
            | u8::from(c == b'/')
            | u8::from(c == b'-')
            | u8::from(c == b'_')
    };
    let digits: usize = input[..end]
        .chunks(255)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &b| n.wrapping_add(digit(b)))))
        .sum();
    digits * 6 / 8
}

/// Well-formed base64 in lines (the standard alphabet, padding only at
/// the end: every attachment a mailer wrote), decoded whole by
/// [`base64_lines_stream`]. `None` for anything else (another byte,
/// padding inside, a dangling digit, non-zero trailing bits), which
/// [`base64`]'s table decoder then reads; where this succeeds, the two
/// agree (the test at the end of this file).
fn base64_lines_simd(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    base64_lines_stream(input, STREAM_CHUNK, |d| out.extend_from_slice(d)).then_some(out)
}

/// Digits decoded per step by [`base64_lines_stream`]: a multiple of four
/// that stays in the L1/L2 cache with its decoded bytes.
pub(crate) const STREAM_CHUNK: usize = 32 * 1024;

/// Base64 in lines without the whole output: each line's digits (trailing
/// blanks dropped) gathered `chunk` at a time (a multiple of four) into
/// one buffer, decoded in place by SIMD and handed to `f` in order. The
/// last four digits are always kept for the final step, where up to two
/// `=` of padding at the very end are stripped. `false` for anything but
/// well-formed base64 (see [`base64_lines_simd`]; some of the content may
/// have reached `f` by then: the caller starts over with [`base64`]).
pub(crate) fn base64_lines_stream(input: &[u8], chunk: usize, mut f: impl FnMut(&[u8])) -> bool {
    let chunk = (chunk / 4).max(1) * 4;
    let cap = chunk + 4;
    let mut buf: Vec<u8> = Vec::with_capacity(cap.min(input.len() + 4));
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', input).chain(std::iter::once(input.len())) {
        let mut line = input.get(start..end).unwrap_or_default();
        start = end + 1;
        while let [rest @ .., b'\r' | b' ' | b'\t'] = line {
            line = rest;
        }
        while !line.is_empty() {
            let (now, later) = line.split_at((cap - buf.len()).min(line.len()));
            buf.extend_from_slice(now);
            line = later;
            if buf.len() == cap {
                let mut keep = [0u8; 4];
                keep.copy_from_slice(&buf[chunk..]);
                buf.truncate(chunk);
                match base64_simd::STANDARD_NO_PAD.decode_inplace(&mut buf) {
                    Ok(d) => f(d),
                    Err(_) => return false,
                }
                buf.clear();
                buf.extend_from_slice(&keep);
            }
        }
    }
    for _ in 0..2 {
        if buf.last() == Some(&b'=') {
            buf.pop();
        }
    }
    match base64_simd::STANDARD_NO_PAD.decode_inplace(&mut buf) {
        Ok(d) => {
            if !d.is_empty() {
                f(d);
            }
            true
        }
        Err(_) => false,
    }
}

/// Base64, standard and URL-safe alphabets, whitespace skipped, stopping
/// at padding. Any other byte: `None`, or with `lenient` skipped (as a
/// mail reader goes on past a stray byte).
///
/// Four characters at a time through a table while they are all in the
/// alphabet (the body of every line of a mail part); a character at a
/// time otherwise.
pub(crate) fn base64(input: &[u8], lenient: bool) -> Option<Vec<u8>> {
    if lenient {
        if let Some(v) = base64_lines_simd(input) {
            return Some(v);
        }
    }
    base64_table(input, lenient)
}

/// [`base64`] without trying the SIMD decoder first: for input it has
/// already turned down.
pub(crate) fn base64_table(input: &[u8], lenient: bool) -> Option<Vec<u8>> {
    let mut out = vec![0u8; input.len() / 4 * 3 + 3];
    let mut o = 0;
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut i = 0;
    while i < input.len() {
        if bits == 0 {
            // Whole quanta while all four are digits.
            while let Some(q) = input.get(i..i + 4) {
                let (a, b, c, d) = (
                    TABLE[q[0] as usize],
                    TABLE[q[1] as usize],
                    TABLE[q[2] as usize],
                    TABLE[q[3] as usize],
                );
                if (a | b | c | d) >= SKIP {
                    break;
                }
                let v = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
                if let Some(w) = out.get_mut(o..o + 3) {
                    w.copy_from_slice(&v.to_be_bytes()[1..]);
                }
                o += 3;
                i += 4;
            }
        }
        let Some(&c) = input.get(i) else {
            break;
        };
        i += 1;
        let v = match TABLE[c as usize] {
            PAD => break,
            SKIP => continue,
            BAD if lenient => continue,
            BAD => return None,
            v => v,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if let Some(w) = out.get_mut(o) {
                *w = ((acc >> bits) & 0xff) as u8;
            }
            o += 1;
            acc &= (1 << bits) - 1;
        }
    }
    out.truncate(o);
    Some(out)
}

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
    if let Some(js) = javascript(data, head, &lower) {
        return Some(js);
    }
    if lower.starts_with(b"<!doctype html")
        || lower.starts_with(b"<html")
        || lower.starts_with(b"<head")
        || lower.starts_with(b"<script")
    {
        return Some("text/html");
    }
    if lower.starts_with(b"<?xml") {
        // XHTML: an HTML doctype or element at the start of a line.
        let body: Vec<u8> = data[..data.len().min(512)]
            .iter()
            .map(|b| b.to_ascii_lowercase())
            .collect();
        let at_line = |pat: &[u8]| {
            body.windows(pat.len() + 1)
                .any(|w| w[0] == b'\n' && &w[1..] == pat)
        };
        if at_line(b"<!doctype html") || at_line(b"<html") {
            return Some("text/html");
        }
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

/// Zeek's JavaScript signatures (`file-javascript2`..`6` of its
/// `general.sig`): `<script type="text/javascript">`, `for (;;);`,
/// `document.write(`, `(function(){`, `<script>` then `var`/`function`.
fn javascript(data: &[u8], head: &[u8], lower: &[u8]) -> Option<&'static str> {
    const JS: &str = "application/javascript";
    // Leading CR, LF, spaces and tabs (what the signatures skip).
    let lead = data
        .iter()
        .take_while(|&&b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .count();
    let rest = &data[lead..];
    let blank = |b: &u8| matches!(b, b' ' | b'\t');
    if rest.starts_with(b"for (;;);") {
        return Some(JS);
    }
    if let Some(r) = rest.strip_prefix(b"document.write") {
        let r = r.strip_prefix(b"ln").unwrap_or(r);
        let r = r
            .strip_prefix(b" ")
            .or_else(|| r.strip_prefix(b"\t"))
            .unwrap_or(r);
        if r.starts_with(b"(") {
            return Some(JS);
        }
    }
    // `(function()` then blanks or LF (not CR), then `{`, from byte 0.
    if let Some(r) = data.strip_prefix(b"(function()") {
        let k = r.iter().take_while(|b| blank(b) || **b == b'\n').count();
        if r.get(k) == Some(&b'{') {
            return Some(JS);
        }
    }
    if lower.starts_with(b"<script") {
        let tag = &lower[7..];
        let n = tag.iter().take_while(|b| blank(b)).count();
        let attrs = &tag[n..];
        if n > 0 {
            for a in [&b"type="[..], b"language="] {
                if let Some(v) = attrs.strip_prefix(a) {
                    let v = v
                        .strip_prefix(b"\"")
                        .or_else(|| v.strip_prefix(b"'"))
                        .unwrap_or(v);
                    let v = v.strip_prefix(b"text/").unwrap_or(v);
                    if v.starts_with(b"javascript") {
                        return Some(JS);
                    }
                }
            }
        }
        if let Some(after) = head.get(7..).and_then(|t| t.strip_prefix(b">")) {
            let k = after
                .iter()
                .take_while(|&&b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
                .count();
            let a = &after[k..];
            if a.starts_with(b"var ") || a.starts_with(b"function ") {
                return Some(JS);
            }
        }
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
    // Controls other than \t \n \v \f \r, and DEL; checked without
    // branches a run of bytes at a time, so it vectorizes.
    let control =
        |b: u8| u8::from(b < 0x09) | u8::from(b.wrapping_sub(0x0e) < 0x12) | u8::from(b == 0x7f);
    !d.chunks(64)
        .any(|c| c.iter().fold(0u8, |a, &b| a | control(b)) != 0)
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
        // Zeek's JavaScript and XHTML signatures.
        let js = Some("application/javascript");
        assert_eq!(mime_from_magic(b"document.write(\"<IFRAME"), js);
        assert_eq!(mime_from_magic(b"\r\n  document.writeln (x)"), js);
        assert_eq!(mime_from_magic(b"(function()\n{ var a;"), js);
        assert_eq!(
            mime_from_magic(b"(function()\r\n{ var a;"),
            Some("text/plain")
        );
        assert_eq!(mime_from_magic(b"<script type=\"text/javascript\">x"), js);
        assert_eq!(mime_from_magic(b"<script>\nvar x = 1;"), js);
        assert_eq!(
            mime_from_magic(b"<script>alert(1)</script>"),
            Some("text/html")
        );
        assert_eq!(
            mime_from_magic(b"<?xml version=\"1.0\"?>\n<!DOCTYPE html\n PUBLIC"),
            Some("text/html")
        );
        assert_eq!(
            mime_from_magic(b"<?xml version=\"1.0\"?>\n<feed>"),
            Some("application/xml")
        );
        assert_eq!(
            mime_from_magic(b"body { color: red }\n"),
            Some("text/plain")
        );
        assert_eq!(mime_from_magic(b"\x00\x01\x02\x03\x04"), None);
        assert_eq!(mime_from_magic(b""), None);
    }

    /// The decoder a character at a time, as it was: the reference.
    fn base64_reference(input: &[u8], lenient: bool) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0u32);
        for &c in input {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' | b'-' => 62,
                b'/' | b'_' => 63,
                b'=' => break,
                b' ' | b'\t' | b'\r' | b'\n' => continue,
                _ if lenient => continue,
                _ => return None,
            };
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push(((acc >> bits) & 0xff) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Some(out)
    }

    #[test]
    fn base64_fast_path_agrees_with_the_reference() {
        let alphabet =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_= \t\r\n!*\x00\xff\x0c";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut fast = 0;
        for n in 0..4000usize {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 200) as usize;
            // Mostly digits, sometimes anything: lines, stray bytes, padding.
            let v: Vec<u8> = (0..len)
                .map(|k| {
                    let r = seed.rotate_left((k % 64) as u32) ^ (k as u64).wrapping_mul(0x9e37);
                    let pick = if n % 3 == 0 {
                        r % alphabet.len() as u64
                    } else {
                        r % 64
                    };
                    alphabet[pick as usize]
                })
                .collect();
            // Mail's shape: lines of 76 digits.
            let v = if n % 5 == 1 {
                v.chunks(76).flat_map(|l| [l, b"\r\n"].concat()).collect()
            } else {
                v
            };
            for lenient in [false, true] {
                assert_eq!(base64(&v, lenient), base64_reference(&v, lenient), "{v:?}");
            }
            fast += usize::from(base64_lines_simd(&v).is_some());
            for chunk in [4, 8, 60, 76, 300, STREAM_CHUNK] {
                let mut got = Vec::new();
                let ok = base64_lines_stream(&v, chunk, |d| got.extend_from_slice(d));
                match base64_lines_simd(&v) {
                    Some(whole) => assert!(ok && got == whole, "{chunk} {v:?}"),
                    None => assert!(!ok, "{chunk} {v:?}"),
                }
                if ok {
                    assert_eq!(Some(got), base64_reference(&v, true), "{chunk} {v:?}");
                }
            }
            assert_eq!(base64_len(&v), base64_reference(&v, true).unwrap().len());
        }
        assert_eq!(base64(b"TWFu\r\nTWE=", false).unwrap(), b"ManMa");
        // Long enough for the length's count to take many runs of 255.
        let long: Vec<u8> = b"TWFu\r\nTW!FuTWFu TWFuT\r\n"
            .iter()
            .copied()
            .cycle()
            .take(100_003)
            .collect();
        assert_eq!(
            base64_len(&long),
            base64_reference(&long, true).unwrap().len()
        );
        // The SIMD path took a good share of the inputs above.
        assert!(fast > 500, "{fast}");
        assert_eq!(
            base64_lines_simd(b"TWFu\r\nTWE= \r\n").as_deref(),
            Some(&b"ManMa"[..])
        );
    }

    /// Mail-shaped base64 (lines of one length, the last one padded), with
    /// now and then a ragged line, a blank, a stray byte or a line break
    /// of another kind: streamed in steps of any size, it decodes as whole.
    #[test]
    fn base64_stream_of_lines_agrees_with_the_whole() {
        let digits = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut both = 0;
        for n in 0..3000 {
            let width = [4, 8, 60, 72, 76, 64, 57][n % 7];
            let lines = (next() % 40) as usize;
            let mut v = Vec::new();
            for l in 0..lines {
                let mut w = width;
                if next() % 23 == 0 {
                    w = (next() % 90) as usize;
                }
                for _ in 0..w {
                    v.push(digits[(next() % 64) as usize]);
                }
                if l + 1 == lines {
                    let pad = (next() % 3) as usize;
                    v.extend(std::iter::repeat_n(b'=', pad));
                }
                match next() % 37 {
                    0 => v.push(b' '),
                    1 => v.push(b'!'),
                    2 => v.extend_from_slice(b"\r\r"),
                    3 => v.extend_from_slice(b" \t"),
                    _ => {}
                }
                v.extend_from_slice(if n % 3 == 0 { b"\n" } else { b"\r\n" });
                if next() % 31 == 0 {
                    v.extend_from_slice(b"\r\n");
                }
            }
            if n % 4 == 0 {
                v.truncate(v.len().saturating_sub((next() % 5) as usize));
            }
            let whole = base64_lines_simd(&v);
            both += usize::from(whole.is_some());
            for chunk in [4, 8, 60, 76, 300, STREAM_CHUNK] {
                let mut got = Vec::new();
                let ok = base64_lines_stream(&v, chunk, |d| got.extend_from_slice(d));
                match &whole {
                    Some(w) => {
                        assert!(ok && &got == w, "{chunk} {:?}", String::from_utf8_lossy(&v))
                    }
                    None => assert!(!ok, "{chunk} {:?}", String::from_utf8_lossy(&v)),
                }
                if ok {
                    assert_eq!(Some(got), base64_reference(&v, true), "{chunk}");
                }
            }
        }
        // Most inputs were good base64: the fast path was exercised.
        assert!(both > 1000, "{both}");
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
