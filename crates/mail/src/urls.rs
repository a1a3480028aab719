//! URLs and registrable domains from text and HTML.
//!
//! Sources: `href`/`src`/`action` attribute values in HTML (quoted or
//! not), and URLs found by `linkify` in text (and in HTML text). Before
//! searching, common obfuscations are undone: `hxxp`/`hXXp`/`h**p`
//! schemes, `[.]`, `(.)`, `{.}`, `[dot]` and `(dot)`. A redirector whose
//! query carries another URL (`?url=http%3A%2F%2F...`) yields both.
//! Domains are registrable domains from the Public Suffix List (`psl`,
//! compiled in); IP-literal hosts are kept as they are.

use linkify::{LinkFinder, LinkKind};

/// Whether `b` may hold an obfuscated URL (`xxp`, `**p`, `[.]`, `(dot)`…):
/// one pass of memchr instead of a substring search per pattern.
fn maybe_obfuscated(b: &[u8]) -> bool {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    for i in memchr::memchr3_iter(b'x', b'X', b'*', b) {
        if at(i + 1) == b[i] && matches!(at(i + 2), b'p' | b'P') {
            return true;
        }
    }
    for i in memchr::memchr3_iter(b'[', b'(', b'{', b) {
        if at(i + 1) == b'.' || (at(i + 1) == b'd' && at(i + 2) == b'o' && at(i + 3) == b't') {
            return true;
        }
    }
    false
}

/// Undo common URL obfuscations.
pub fn deobfuscate(text: &str) -> std::borrow::Cow<'_, str> {
    if !maybe_obfuscated(text.as_bytes()) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut s = text.to_string();
    for (from, to) in [
        ("hxxps://", "https://"),
        ("hxxp://", "http://"),
        ("hXXps://", "https://"),
        ("hXXp://", "http://"),
        ("HXXPS://", "https://"),
        ("HXXP://", "http://"),
        ("h**ps://", "https://"),
        ("h**p://", "http://"),
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    std::borrow::Cow::Owned(s)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Collects URLs of one message, deduplicated, in order of appearance,
/// at most `max`.
pub struct UrlSet {
    pub urls: Vec<String>,
    max: usize,
}

impl UrlSet {
    pub fn new(max: usize) -> Self {
        UrlSet {
            urls: Vec::new(),
            max,
        }
    }

    fn push(&mut self, u: &str) {
        if self.urls.len() >= self.max {
            return;
        }
        let u = u
            .trim()
            .trim_end_matches(['.', ',', ')', ']', '>', '"', '\'', ';']);
        let starts = |p: &str| u.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
        let u = if starts("www.") {
            format!("http://{u}")
        } else if starts("http://") || starts("https://") {
            u.to_string()
        } else {
            return;
        };
        if u.len() > 2048 || host_of(&u).is_none() {
            return;
        }
        // A redirector carrying another URL in its query yields it too.
        let inner = u.find('?').and_then(|q| {
            let query = &u[q..];
            let l = query.to_ascii_lowercase();
            ["http%3a%2f%2f", "https%3a%2f%2f", "=http://", "=https://"]
                .iter()
                .find_map(|p| l.find(p))
                .map(|i| {
                    let start = if query.as_bytes()[i] == b'=' {
                        i + 1
                    } else {
                        i
                    };
                    let rest = &query[start..];
                    let end = rest.find('&').unwrap_or(rest.len());
                    percent_decode(&rest[..end])
                })
        });
        if !self.urls.contains(&u) {
            self.urls.push(u);
        }
        if let Some(inner) = inner {
            if inner.starts_with("http")
                && !self.urls.contains(&inner)
                && self.urls.len() < self.max
                && host_of(&inner).is_some()
            {
                self.urls.push(inner);
            }
        }
    }

    /// URLs in plain text.
    pub fn add_text(&mut self, text: &str) {
        let text = deobfuscate(text);
        let mut finder = LinkFinder::new();
        finder.kinds(&[LinkKind::Url]);
        finder.url_must_have_scheme(false);
        for link in finder.links(&text) {
            if self.urls.len() >= self.max {
                break;
            }
            self.push(link.as_str());
        }
    }

    /// URLs in HTML: attribute values first, then the text. Returns the
    /// text (tags removed).
    pub fn add_html(&mut self, html: &str) -> String {
        let html = deobfuscate(html);
        let bytes = html.as_bytes();
        let lower = html.to_ascii_lowercase();
        for attr in ["href", "src", "action"] {
            let finder = memchr::memmem::Finder::new(attr);
            let mut from = 0;
            while let Some(i) = lower.get(from..).and_then(|l| finder.find(l.as_bytes())) {
                let mut j = from + i + attr.len();
                from = j;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j >= bytes.len() || bytes[j] != b'=' {
                    continue;
                }
                j += 1;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                let (start, end) = match bytes.get(j) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let s = j + 1;
                        let e = memchr::memchr(q, &bytes[s..])
                            .map(|k| s + k)
                            .unwrap_or(bytes.len());
                        (s, e)
                    }
                    Some(_) => {
                        let e = bytes[j..]
                            .iter()
                            .position(|b| b.is_ascii_whitespace() || *b == b'>')
                            .map(|k| j + k)
                            .unwrap_or(bytes.len());
                        (j, e)
                    }
                    None => break,
                };
                if let Some(v) = html.get(start..end) {
                    if memchr::memchr2(b'\r', b'\n', v.as_bytes()).is_some() {
                        self.push(&v.replace(['\r', '\n'], ""));
                    } else {
                        self.push(v);
                    }
                }
                from = end.max(from);
                if self.urls.len() >= self.max {
                    return strip_tags(&html);
                }
            }
        }
        let text = strip_tags(&html);
        self.add_text(&text);
        text
    }
}

/// HTML to text: tags dropped (replaced by a space), common entities
/// decoded.
pub fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let b = html.as_bytes();
    let mut i = 0;
    // Text up to a `<` is kept, the tag up to its `>` becomes one blank
    // (a tag left open drops the rest). Both are ASCII: every cut is at
    // a character boundary.
    loop {
        let Some(k) = memchr::memchr(b'<', &b[i..]) else {
            out.push_str(&html[i..]);
            break;
        };
        out.push_str(&html[i..i + k]);
        i += k + 1;
        let Some(k) = memchr::memchr(b'>', &b[i..]) else {
            break;
        };
        out.push(' ');
        i += k + 1;
    }
    if memchr::memchr(b'&', out.as_bytes()).is_some() {
        out = decode_entities(&out);
    }
    out
}

/// `&nbsp;`, `&amp;`, `&lt;`, `&gt;` and `&quot;` decoded in one pass,
/// with the result of replacing them one after the other in that order
/// (what this did before): an `&` made from `&amp;` starts an `&lt;`,
/// `&gt;` or `&quot;` with the text after it, never an `&nbsp;` or
/// another `&amp;`.
fn decode_entities(s: &str) -> String {
    const LATER: [(&str, char); 3] = [("lt;", '<'), ("gt;", '>'), ("quot;", '"')];
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'&', b.get(i..).unwrap_or_default()) {
        let at = i + k;
        // `&` is ASCII: every cut here is at a character boundary.
        out.push_str(s.get(i..at).unwrap_or_default());
        let rest = s.get(at + 1..).unwrap_or_default();
        i = at + 1;
        if rest.starts_with("nbsp;") {
            out.push(' ');
            i += 5;
            continue;
        }
        let (amp, rest) = match rest.strip_prefix("amp;") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if amp {
            i += 4;
        }
        match LATER.iter().find(|(name, _)| rest.starts_with(name)) {
            Some((name, c)) => {
                out.push(*c);
                i += name.len();
            }
            None => out.push('&'),
        }
    }
    out.push_str(s.get(i..).unwrap_or_default());
    out
}

/// The host of an `http(s)://` URL, lower-cased, without port or user.
/// Every cut is at an ASCII byte, so at a character boundary.
pub fn host_of(url: &str) -> Option<String> {
    let b = url.as_bytes();
    let sep = memchr::memchr_iter(b':', b).find(|&i| b.get(i + 1..i + 3) == Some(b"//"))?;
    let rest = url.get(sep + 3..)?;
    let end = rest
        .bytes()
        .position(|c| matches!(c, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let auth = rest.get(..end)?;
    let host = match memchr::memrchr(b'@', auth.as_bytes()) {
        Some(i) => auth.get(i + 1..)?,
        None => auth,
    };
    let host = if host.starts_with('[') {
        host.split_once(']')
            .and_then(|(h, _)| h.get(1..))
            .unwrap_or(host)
    } else {
        match memchr::memchr(b':', host.as_bytes()) {
            Some(i) => host.get(..i)?,
            None => host,
        }
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() || host.len() > 253 || !host.bytes().any(|c| c == b'.' || c == b':') {
        return None;
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':' || b == b'_')
    {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// Registrable domain of a host (`www.shop.example.co.uk` →
/// `example.co.uk`); IP literals are returned as they are.
pub fn registrable_domain(host: &str) -> Option<String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Some(host.to_string());
    }
    psl::domain_str(host).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_stripped_as_a_character_walk_strips_them() {
        // The reading before memchr: one character at a time.
        fn by_chars(html: &str) -> String {
            let mut out = String::new();
            let mut in_tag = false;
            for ch in html.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' if in_tag => {
                        in_tag = false;
                        out.push(' ');
                    }
                    _ if !in_tag => out.push(ch),
                    _ => {}
                }
            }
            out
        }
        for html in [
            "<p>Médicaments <b>à</b> 50%</p>",
            "a > b <i>c</i> d",
            "<<nested>> x",
            "text <a href='x' never closed",
            ">>> <br/>ÜBER<",
            "",
            "no tags at all",
        ] {
            assert_eq!(strip_tags(html), by_chars(html), "{html}");
        }
    }

    /// The one-pass entity decoder gives what the five replacements in a
    /// row gave, on random text made of entity pieces.
    #[test]
    fn entities_decode_as_the_replacements_in_a_row_did() {
        fn in_a_row(s: &str) -> String {
            s.replace("&nbsp;", " ")
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
        }
        let pieces = [
            "&", "amp;", "nbsp;", "lt;", "gt;", "quot;", "&amp;", "&lt;", "&nbsp;", "a", " ", "é",
            ";", "&#38;", "am", "p;",
        ];
        let mut next = crate::xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..5000 {
            let n = (next() % 12) as usize;
            let text: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            assert_eq!(decode_entities(&text), in_a_row(&text), "{text:?}");
        }
    }

    /// `host_of` as it was written before (string searches).
    fn host_of_by_str(url: &str) -> Option<String> {
        let rest = url.split_once("://")?.1;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let auth = &rest[..end];
        let host = auth.rsplit_once('@').map(|(_, h)| h).unwrap_or(auth);
        let host = if host.starts_with('[') {
            host.split_once(']').map(|(h, _)| &h[1..]).unwrap_or(host)
        } else {
            host.split(':').next().unwrap_or(host)
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() || host.len() > 253 || !host.contains(['.', ':']) {
            return None;
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':' || b == b'_')
        {
            return None;
        }
        Some(host)
    }

    /// The byte-level `host_of` gives what the string searches gave, on
    /// random URL-like text.
    #[test]
    fn hosts_are_cut_as_the_string_searches_cut_them() {
        let pieces = [
            "http", "https", "://", ":", "/", "//", "?", "#", "@", "[", "]", ".", "..", "Ex",
            "ample", "com", "-", "_", "80", "::1", "é", " ", "www", "user:pw", "%2F",
        ];
        let mut next = crate::xorshift(0x1234_5678_9abc_def1);
        for _ in 0..20000 {
            let n = (next() % 10) as usize;
            let mut url = String::from(["http://", "HTTPS://", "", "x"][(next() % 4) as usize]);
            url.extend((0..n).map(|_| pieces[(next() % pieces.len() as u64) as usize]));
            assert_eq!(host_of(&url), host_of_by_str(&url), "{url:?}");
        }
    }

    #[test]
    fn finds_and_cleans() {
        let mut s = UrlSet::new(10);
        s.add_html("<a\nhref=3D\"x\">y</a><a href=\"http://Shop.Example.co.uk/a?b=1\">go</a> visit www.pills.ru/x.");
        s.add_text("see hxxp://evil[.]com/path and http://r.ex.com/?url=http%3A%2F%2Fland.biz%2Fp");
        assert!(
            s.urls
                .contains(&"http://Shop.Example.co.uk/a?b=1".to_string()),
            "{:?}",
            s.urls
        );
        assert!(
            s.urls.contains(&"http://www.pills.ru/x".to_string()),
            "{:?}",
            s.urls
        );
        assert!(
            s.urls.contains(&"http://evil.com/path".to_string()),
            "{:?}",
            s.urls
        );
        assert!(
            s.urls.contains(&"http://land.biz/p".to_string()),
            "{:?}",
            s.urls
        );
        let d = registrable_domain(&host_of("http://Shop.Example.co.uk/a").unwrap());
        assert_eq!(d.as_deref(), Some("example.co.uk"));
    }
}
