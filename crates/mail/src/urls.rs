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
        let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
        let u = if lower.starts_with("www.") {
            format!("http://{u}")
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
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
                    self.push(&v.replace(['\r', '\n'], ""));
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
    if out.contains('&') {
        out = out
            .replace("&nbsp;", " ")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"");
    }
    out
}

/// The host of an `http(s)://` URL, lower-cased, without port or user.
pub fn host_of(url: &str) -> Option<String> {
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
