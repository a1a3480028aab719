//! Generalised shapes of header values: the fingerprint of a mailer is in
//! how it writes a Message-ID, a Date or a boundary, not in the values.

/// Generalise `s`: every run of letters and digits becomes a class token
/// and punctuation is kept, so `<5ad001cbd9db$0cfcc7e2@user>` becomes
/// `<x12$x8@a>`.
///
/// Classes: `D` digits (with the length when 3 or more), `x`/`X` lower- or
/// upper-case hex of 6+ characters (with the length), `a` lower-case
/// letters, `A` upper-case letters, `Aa` capitalised word, `aA` mixed-case
/// letters, `m` other letter-digit mixes (with the length when 6+).
/// Whitespace runs become one space; other non-ASCII characters `?`.
/// The result is at most `max` bytes.
pub fn shape(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && out.len() < max {
        let c = b[i];
        if c.is_ascii_alphanumeric() {
            let start = i;
            let (mut digits, mut lower, mut upper, mut lhex, mut uhex) =
                (0usize, 0usize, 0usize, true, true);
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                let ch = b[i];
                if ch.is_ascii_digit() {
                    digits += 1;
                } else if ch.is_ascii_lowercase() {
                    lower += 1;
                    uhex = false;
                    if ch > b'f' {
                        lhex = false;
                    }
                } else {
                    upper += 1;
                    lhex = false;
                    if ch > b'F' {
                        uhex = false;
                    }
                }
                i += 1;
            }
            let len = i - start;
            let letters = lower + upper;
            if letters == 0 {
                if len >= 3 {
                    push_class(&mut out, b'D', len);
                } else {
                    out.push('D');
                }
            } else if digits > 0 && len >= 6 && lhex && upper == 0 {
                push_class(&mut out, b'x', len);
            } else if digits > 0 && len >= 6 && uhex && lower == 0 {
                push_class(&mut out, b'X', len);
            } else if digits == 0 {
                if upper == 0 {
                    out.push('a');
                } else if lower == 0 {
                    out.push('A');
                } else if b[start].is_ascii_uppercase() && upper == 1 {
                    out.push_str("Aa");
                } else {
                    out.push_str("aA");
                }
            } else if len >= 6 {
                push_class(&mut out, b'm', len);
            } else {
                out.push('m');
            }
        } else if c.is_ascii_whitespace() {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push(' ');
        } else if c < 0x80 {
            out.push(c as char);
            i += 1;
        } else {
            // Skip the rest of this UTF-8 sequence.
            i += 1;
            while i < b.len() && (b[i] & 0xc0) == 0x80 {
                i += 1;
            }
            out.push('?');
        }
    }
    out.truncate(max);
    out
}

/// A class letter and a run length (`D12`), written without formatting
/// machinery or a temporary string.
fn push_class(out: &mut String, class: u8, len: usize) {
    out.push(char::from(class));
    out.push_str(itoa::Buffer::new().format(len));
}

/// Shape of a display address (`"Name" <a@b>`): words become `w`, so the
/// quoting and bracketing style of the mailer remains.
pub fn addr_shape(s: &str, max: usize) -> String {
    // At most `max` bytes plus the last character written.
    let mut out = String::with_capacity(max + 4);
    let mut in_word = false;
    for ch in s.trim().chars() {
        if out.len() >= max {
            break;
        }
        if ch.is_alphanumeric() || ch == '.' || ch == '_' || ch == '-' || ch == '+' {
            if !in_word {
                out.push('w');
                in_word = true;
            }
        } else {
            in_word = false;
            if ch.is_whitespace() {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            } else {
                out.push(ch);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_lengths_of_every_size() {
        for len in [3usize, 9, 10, 99, 100, 1234] {
            assert_eq!(shape(&"7".repeat(len), 100), format!("D{len}"));
            assert_eq!(shape(&"a1".repeat(len), 100), format!("x{}", 2 * len));
            assert_eq!(shape(&"Q1".repeat(len), 100), format!("m{}", 2 * len));
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(
            shape("<5ad001cbd9db$0cfcc7e2$fa47a3e1@user>", 100),
            "<x12$x8$x8@a>"
        );
        assert_eq!(
            shape("<4C91639C.1366960@forummedal.us>", 100),
            "<X8.D7@a.a>"
        );
        assert_eq!(
            shape("Mon, 20 Dec 2010 00:53:53 +0100", 100),
            "Aa, D Aa D4 D:D:D +D4"
        );
        assert_eq!(
            shape("----=_NextPart_000_7841_01CB3258.282D66C2", 100),
            "----=_aA_D3_D4_X8.X8"
        );
        assert_eq!(shape("é日本", 100), "???");
        assert_eq!(
            addr_shape("\"Jeffrey Adams\" <cyclefleet@pasta.com>", 50),
            "\"w w\" <w@w>"
        );
    }
}
