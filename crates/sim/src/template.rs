//! Text templates of the scenario: literal text with `{token}`s.
//!
//! Random tokens: `{digits:N}`, `{hex:N}` (lower case), `{HEX:N}`,
//! `{alpha:N}`, `{ALPHA:N}`, `{alnum:N}` (N = 1..=64), `{num:A-B}`,
//! `{pick:a|b|c}`, `{word}`, `{Word}`, `{first}`, `{last}`, `{tld}`.
//! Context tokens (which ones a field allows is checked at load time):
//! `{domain}`, `{host}`, `{brand}`, `{url}`, `{recipient}`, `{user}`,
//! `{rcpt_domain}`, `{sender}`, `{name}`, `{bot_ip}`, `{helo}`.
//! `{{` and `}}` are literal braces.
//!
//! Templates are compiled once when the scenario is loaded; rendering
//! appends to a byte buffer and cannot fail.

use crate::rng::Rng;
use crate::words::{FIRST, LAST, TLDS, WORDS};
use crate::Error;

/// A context value a template can refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    Domain,
    Host,
    Brand,
    Url,
    Recipient,
    User,
    RcptDomain,
    Sender,
    Name,
    BotIp,
    Helo,
}

impl Var {
    fn from_name(s: &str) -> Option<Var> {
        Some(match s {
            "domain" => Var::Domain,
            "host" => Var::Host,
            "brand" => Var::Brand,
            "url" => Var::Url,
            "recipient" => Var::Recipient,
            "user" => Var::User,
            "rcpt_domain" => Var::RcptDomain,
            "sender" => Var::Sender,
            "name" => Var::Name,
            "bot_ip" => Var::BotIp,
            "helo" => Var::Helo,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Var::Domain => "domain",
            Var::Host => "host",
            Var::Brand => "brand",
            Var::Url => "url",
            Var::Recipient => "recipient",
            Var::User => "user",
            Var::RcptDomain => "rcpt_domain",
            Var::Sender => "sender",
            Var::Name => "name",
            Var::BotIp => "bot_ip",
            Var::Helo => "helo",
        }
    }
}

/// Supplies context values while rendering.
pub trait Vars {
    fn put(&self, var: Var, rng: &mut Rng, out: &mut Vec<u8>);
}

/// No context (templates that allow no context tokens).
pub struct NoVars;

impl Vars for NoVars {
    fn put(&self, _: Var, _: &mut Rng, _: &mut Vec<u8>) {}
}

#[derive(Clone, Debug)]
enum Piece {
    Lit(Box<str>),
    Chars(Charset, u8),
    Num(u64, u64),
    Pick(Vec<Box<str>>),
    Word { cap: bool },
    First,
    Last,
    Tld,
    Var(Var),
}

#[derive(Clone, Copy, Debug)]
enum Charset {
    Digits,
    Hex,
    HexUp,
    Alpha,
    AlphaUp,
    Alnum,
}

impl Charset {
    fn table(self) -> &'static [u8] {
        match self {
            Charset::Digits => b"0123456789",
            Charset::Hex => b"0123456789abcdef",
            Charset::HexUp => b"0123456789ABCDEF",
            Charset::Alpha => b"abcdefghijklmnopqrstuvwxyz",
            Charset::AlphaUp => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            Charset::Alnum => b"abcdefghijklmnopqrstuvwxyz0123456789",
        }
    }
}

/// A compiled template.
#[derive(Clone, Debug)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// What characters the rendered text may contain, checked at load time
/// for the literal parts (random tokens are always alphanumeric words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    /// Printable ASCII on one line (header values, names).
    Line,
    /// Printable ASCII plus newlines and tabs (bodies).
    Multiline,
}

impl Template {
    /// Compile `src`; `field` names the scenario field in errors and
    /// `allowed` lists the context tokens this field may use.
    pub fn parse(src: &str, field: &str, allowed: &[Var], text: Text) -> Result<Self, Error> {
        let bad = |msg: String| Error::field(field, format!("{msg} in template {src:?}"));
        for c in src.chars() {
            let ok = match c {
                ' '..='~' => true,
                '\n' | '\t' => text == Text::Multiline,
                _ => false,
            };
            if !ok {
                return Err(bad(format!(
                    "character {c:?} is not allowed (printable ASCII{})",
                    if text == Text::Multiline {
                        ", newlines and tabs"
                    } else {
                        " on one line"
                    }
                )));
            }
        }
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let b = src.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'{' if b.get(i + 1) == Some(&b'{') => {
                    lit.push('{');
                    i += 2;
                }
                b'}' if b.get(i + 1) == Some(&b'}') => {
                    lit.push('}');
                    i += 2;
                }
                b'}' => return Err(bad("unmatched `}` (write `}}` for a literal brace)".into())),
                b'{' => {
                    let Some(end) = src[i + 1..].find('}') else {
                        return Err(bad("unclosed `{`".into()));
                    };
                    let token = &src[i + 1..i + 1 + end];
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit).into()));
                    }
                    pieces.push(parse_token(token, allowed).map_err(bad)?);
                    i += end + 2;
                }
                _ => {
                    // Copy a run of ordinary characters (ASCII checked above).
                    let start = i;
                    while i < b.len() && b[i] != b'{' && b[i] != b'}' {
                        i += 1;
                    }
                    lit.push_str(&src[start..i]);
                }
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit.into()));
        }
        Ok(Template { pieces })
    }

    /// Append the rendering to `out`.
    pub fn render(&self, rng: &mut Rng, vars: &dyn Vars, out: &mut Vec<u8>) {
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.extend_from_slice(s.as_bytes()),
                Piece::Chars(cs, n) => {
                    let t = cs.table();
                    for _ in 0..*n {
                        out.push(t[rng.index(t.len())]);
                    }
                }
                Piece::Num(lo, hi) => {
                    let v = rng.range(*lo, *hi);
                    push_u64(out, v);
                }
                Piece::Pick(options) => {
                    out.extend_from_slice(options[rng.index(options.len())].as_bytes())
                }
                Piece::Word { cap } => {
                    let w = WORDS[rng.index(WORDS.len())].as_bytes();
                    if *cap {
                        out.push(w[0].to_ascii_uppercase());
                        out.extend_from_slice(&w[1..]);
                    } else {
                        out.extend_from_slice(w);
                    }
                }
                Piece::First => out.extend_from_slice(FIRST[rng.index(FIRST.len())].as_bytes()),
                Piece::Last => out.extend_from_slice(LAST[rng.index(LAST.len())].as_bytes()),
                Piece::Tld => out.extend_from_slice(TLDS[rng.index(TLDS.len())].as_bytes()),
                Piece::Var(v) => vars.put(*v, rng, out),
            }
        }
    }

    /// Render to a new string.
    pub fn to_string(&self, rng: &mut Rng, vars: &dyn Vars) -> String {
        let mut out = Vec::with_capacity(32);
        self.render(rng, vars, &mut out);
        // Literals are ASCII (checked at parse) and every token writes ASCII
        // or a context value that is itself a rendered template.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Whether the template uses the context token `var`.
    pub fn uses(&self, var: Var) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Var(v) if *v == var))
    }

    /// Whether every piece only writes characters from `allowed` (used to
    /// check MIME boundaries and domain names).
    pub fn only_chars(&self, allowed: impl Fn(u8) -> bool) -> bool {
        self.pieces.iter().all(|p| match p {
            Piece::Lit(s) => s.bytes().all(&allowed),
            Piece::Pick(o) => o.iter().all(|s| s.bytes().all(&allowed)),
            Piece::Chars(cs, _) => cs.table().iter().all(|c| allowed(*c)),
            Piece::Num(..) => b"0123456789".iter().all(|c| allowed(*c)),
            Piece::Word { cap: false } | Piece::Tld => b"az".iter().all(|c| allowed(*c)),
            Piece::Word { cap: true } | Piece::First | Piece::Last => {
                b"azAZ".iter().all(|c| allowed(*c))
            }
            Piece::Var(_) => false,
        })
    }
}

fn parse_token(token: &str, allowed: &[Var]) -> Result<Piece, String> {
    let (name, arg) = match token.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (token, None),
    };
    let count = |cs: Charset| -> Result<Piece, String> {
        let n: u8 = arg
            .and_then(|a| a.parse().ok())
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| format!("`{{{token}}}` needs a length 1..=64, like `{{{name}:8}}`"))?;
        Ok(Piece::Chars(cs, n))
    };
    let no_arg = |p: Piece| -> Result<Piece, String> {
        match arg {
            None => Ok(p),
            Some(_) => Err(format!("`{{{token}}}` takes no argument")),
        }
    };
    match name {
        "digits" => count(Charset::Digits),
        "hex" => count(Charset::Hex),
        "HEX" => count(Charset::HexUp),
        "alpha" => count(Charset::Alpha),
        "ALPHA" => count(Charset::AlphaUp),
        "alnum" => count(Charset::Alnum),
        "num" => {
            let parsed = arg.and_then(|a| {
                let (lo, hi) = a.split_once('-')?;
                Some((
                    lo.trim().parse::<u64>().ok()?,
                    hi.trim().parse::<u64>().ok()?,
                ))
            });
            match parsed {
                Some((lo, hi)) if lo <= hi => Ok(Piece::Num(lo, hi)),
                _ => Err(format!("`{{{token}}}` needs a range like `{{num:1-99}}`")),
            }
        }
        "pick" => {
            let options: Vec<Box<str>> = arg.unwrap_or("").split('|').map(Into::into).collect();
            if arg.is_none() || options.len() < 2 {
                return Err(format!(
                    "`{{{token}}}` needs two or more options like `{{pick:a|b}}`"
                ));
            }
            Ok(Piece::Pick(options))
        }
        "word" => no_arg(Piece::Word { cap: false }),
        "Word" => no_arg(Piece::Word { cap: true }),
        "first" => no_arg(Piece::First),
        "last" => no_arg(Piece::Last),
        "tld" => no_arg(Piece::Tld),
        other => match Var::from_name(other) {
            Some(v) if allowed.contains(&v) && arg.is_none() => Ok(Piece::Var(v)),
            Some(v) if arg.is_none() => Err(format!(
                "`{{{}}}` cannot be used here (allowed context tokens: {})",
                v.name(),
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed
                        .iter()
                        .map(|v| format!("{{{}}}", v.name()))
                        .collect::<Vec<_>>()
                        .join(" ")
                }
            )),
            _ => Err(format!("unknown token `{{{token}}}`")),
        },
    }
}

/// Append the decimal form of `v`.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> String {
        let t = Template::parse(src, "f", &[], Text::Line).unwrap();
        t.to_string(&mut Rng::new(1), &NoVars)
    }

    #[test]
    fn tokens() {
        let s = render("<{digits:12}.{hex:8}@x{{y}}>");
        assert_eq!(s.len(), "<123456789012.abcdef01@x{y}>".len());
        assert!(s[1..13].bytes().all(|b| b.is_ascii_digit()));
        let n: u64 = render("{num:5-7}").parse().unwrap();
        assert!((5..=7).contains(&n));
        assert!(["a", "b"].contains(&render("{pick:a|b}").as_str()));
    }

    #[test]
    fn errors_name_the_field() {
        for bad in [
            "{digits}",
            "{nope}",
            "{url}",
            "{",
            "}",
            "{pick:a}",
            "{num:9-1}",
            "é",
        ] {
            let e = Template::parse(bad, "campaigns[0].subjects[1]", &[], Text::Line).unwrap_err();
            assert!(e.to_string().contains("campaigns[0].subjects[1]"), "{e}");
        }
    }
}
