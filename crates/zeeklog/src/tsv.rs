//! Zeek's ASCII (TSV) log format.
//!
//! Rendering follows Zeek's ASCII writer (`threading/formatters/Ascii.cc`
//! and `ODesc::AddBytes`, with Zeek's default `LogAscii::enable_utf_8=T`):
//!
//! - unset field → `-`; empty string or empty container → `(empty)`;
//! - a string that is exactly `-` or `(empty)` gets its first byte
//!   written as `\xHH` (`\x2d`, `\x28empty)`) so it cannot be read as
//!   unset/empty;
//! - a backslash is written as `\\`; ASCII control bytes (including tab
//!   and newline) and DEL as `\xHH` (lower-case hex); bytes that are not
//!   valid UTF-8 as `\xHH`; valid UTF-8 passes through;
//! - inside a set or vector, the set separator `,` is written `\x2c`;
//! - bool `T`/`F`; time and interval with six decimals.
//!
//! So no value can add a column or a line to a row.

use std::io::Write;
use std::net::IpAddr;

use botscope_event::{Duration, Event, Ts, Uid};

use crate::columns::{self, IfEmpty, Sink};
use crate::fields::fields_for;

const UNSET: &[u8] = b"-";
const EMPTY: &[u8] = b"(empty)";
const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&[
        b'\\',
        b'x',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 15)],
    ]);
}

fn needs_escape(b: u8, in_container: bool) -> bool {
    b < 0x20 || b == 0x7f || b == b'\\' || (in_container && b == b',')
}

/// Escape a valid UTF-8 run (no reserved-word handling).
fn escape_utf8_run(out: &mut Vec<u8>, s: &[u8], in_container: bool) {
    // The common case, nothing to escape, checked without branches a run
    // of bytes at a time (it vectorizes; `any` over `needs_escape` did not).
    let comma = u8::from(in_container);
    let flag = |b: u8| {
        u8::from(b < 0x20)
            | u8::from(b == 0x7f)
            | u8::from(b == b'\\')
            | (comma & u8::from(b == b','))
    };
    if !s
        .chunks(64)
        .any(|c| c.iter().fold(0u8, |a, &b| a | flag(b)) != 0)
    {
        out.extend_from_slice(s);
        return;
    }
    for &b in s {
        if b == b'\\' {
            out.extend_from_slice(b"\\\\");
        } else if needs_escape(b, in_container) {
            push_hex(out, b);
        } else {
            out.push(b);
        }
    }
}

/// Append `value` as one Zeek TSV string value, escaped as Zeek's ASCII
/// writer does (see the module doc). `in_container` is true for an
/// element of a set or vector, where `,` must be escaped too.
///
/// Takes bytes so callers can log raw protocol bytes: invalid UTF-8 is
/// escaped byte by byte.
pub fn zeek_escape(value: &[u8], in_container: bool, out: &mut Vec<u8>) {
    let Some(rest) = reserved(value, out) else {
        return;
    };
    for chunk in rest.utf8_chunks() {
        escape_utf8_run(out, chunk.valid().as_bytes(), in_container);
        for &b in chunk.invalid() {
            push_hex(out, b);
        }
    }
}

/// [`zeek_escape`] for text already known to be UTF-8 (every string
/// field of an event): the same bytes out, without validating it again.
pub fn zeek_escape_str(value: &str, in_container: bool, out: &mut Vec<u8>) {
    // What is left of a valid string after its first ASCII byte is valid.
    if let Some(rest) = reserved(value.as_bytes(), out) {
        escape_utf8_run(out, rest, in_container);
    }
}

/// The values that would read as Zeek's markers: an empty value is
/// written `(empty)` (nothing left to escape: `None`); one that reads as
/// `-` or `(empty)` has its first byte hex-escaped. The rest of the value.
fn reserved<'a>(value: &'a [u8], out: &mut Vec<u8>) -> Option<&'a [u8]> {
    if value.is_empty() {
        out.extend_from_slice(EMPTY);
        return None;
    }
    if value == UNSET || value == EMPTY {
        push_hex(out, value[0]);
        return value.get(1..);
    }
    Some(value)
}

/// A count in decimal, as `{}` writes it (without the formatter).
pub(crate) fn push_count(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// An address as `Display` writes it: IPv4 dotted without the formatter
/// (most rows hold two), IPv6 through it (its zero compression).
pub(crate) fn push_addr(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(itoa::Buffer::new().format(o).as_bytes());
            }
        }
        IpAddr::V6(_) => {
            let _ = write!(out, "{a}");
        }
    }
}

/// Zeek's `time`/`interval`: seconds with six decimals, as [`Ts`]'s
/// `Display` writes them (without the formatter).
pub(crate) fn push_micros(out: &mut Vec<u8>, us: i64) {
    if us < 0 {
        out.push(b'-');
    }
    let v = us.unsigned_abs();
    push_count(out, v / 1_000_000);
    let frac = v % 1_000_000;
    let mut d = [b'0'; 7];
    d[0] = b'.';
    let mut f = frac;
    for slot in d[1..].iter_mut().rev() {
        *slot = b'0' + (f % 10) as u8;
        f /= 10;
    }
    out.extend_from_slice(&d);
}

/// The eight header lines Zeek writes at the top of a log (each ending
/// in `\n`): separators, `#path`, `#open` (a `YYYY-MM-DD-HH-MM-SS`
/// stamp, see [`zeek_time_stamp`](crate::zeek_time_stamp)), `#fields`
/// and `#types`. For a `path` this crate does not know, `#fields` and
/// `#types` are empty.
pub fn zeek_header(path: &str, open: &str) -> String {
    zeek_header_with(path, open, fields_for(path).unwrap_or(&[]))
}

/// Like [`zeek_header`] with explicit columns (name, Zeek type).
pub fn zeek_header_with(path: &str, open: &str, fields: &[(&str, &str)]) -> String {
    let mut h = String::with_capacity(512);
    h.push_str("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n");
    h.push_str("#path\t");
    h.push_str(path);
    h.push_str("\n#open\t");
    h.push_str(open);
    h.push_str("\n#fields");
    for (name, _) in fields {
        h.push('\t');
        h.push_str(name);
    }
    h.push_str("\n#types");
    for (_, ty) in fields {
        h.push('\t');
        h.push_str(ty);
    }
    h.push('\n');
    h
}

/// The line Zeek writes at the end of a log.
pub fn zeek_close_line(close: &str) -> String {
    format!("#close\t{close}\n")
}

/// Append `ev` as one Zeek TSV row, newline included, no header.
/// [`Event::Message`] has no row: nothing is written.
pub fn zeek_row(ev: &Event, out: &mut Vec<u8>) {
    let mut row = TsvRow {
        out,
        started: false,
    };
    if columns::emit(ev, &mut row) {
        row.out.push(b'\n');
    }
}

struct TsvRow<'a> {
    out: &'a mut Vec<u8>,
    started: bool,
}

impl TsvRow<'_> {
    fn sep(&mut self) {
        if self.started {
            self.out.push(b'\t');
        }
        self.started = true;
    }

    /// Separator, then `-` for `None` or the value written by `f`.
    fn field<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Vec<u8>, T)) {
        self.sep();
        match v {
            None => self.out.extend_from_slice(UNSET),
            Some(v) => f(self.out, v),
        }
    }

    /// Separator, then `-`/`(empty)` for no items, else the items
    /// written by `f` separated by `,`.
    fn list<T: Copy>(
        &mut self,
        items: &[T],
        if_empty: IfEmpty,
        mut f: impl FnMut(&mut Vec<u8>, T),
    ) {
        self.sep();
        if items.is_empty() {
            self.out.extend_from_slice(match if_empty {
                IfEmpty::Unset => UNSET,
                IfEmpty::Empty => EMPTY,
            });
            return;
        }
        for (i, &item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            f(self.out, item);
        }
    }
}

// Writing into a Vec<u8> cannot fail, so the `write!` results are
// ignored below.
impl Sink for TsvRow<'_> {
    fn time(&mut self, _: &'static str, v: Option<Ts>) {
        self.field(v, |o, t| push_micros(o, t.0));
    }

    fn interval(&mut self, _: &'static str, v: Option<Duration>) {
        self.field(v, |o, d| push_micros(o, d.0));
    }

    fn string(&mut self, _: &'static str, v: Option<&str>) {
        self.field(v, |o, s| zeek_escape_str(s, false, o));
    }

    fn enumeration(&mut self, name: &'static str, v: Option<&str>) {
        self.string(name, v);
    }

    fn uid(&mut self, _: &'static str, v: Option<Uid>) {
        self.field(v, |o, u| {
            let _ = write!(o, "{u}");
        });
    }

    fn count(&mut self, _: &'static str, v: Option<u64>) {
        self.field(v, push_count);
    }

    fn port(&mut self, name: &'static str, v: Option<u16>) {
        self.count(name, v.map(u64::from));
    }

    fn addr(&mut self, _: &'static str, v: Option<IpAddr>) {
        self.field(v, push_addr);
    }

    fn boolean(&mut self, _: &'static str, v: Option<bool>) {
        self.field(v, |o, b| o.push(if b { b'T' } else { b'F' }));
    }

    fn joined<T: AsRef<str>>(&mut self, _: &'static str, items: &[T]) {
        // A plain Zeek string: commas are not escaped.
        self.sep();
        match items {
            [] => return self.out.extend_from_slice(UNSET),
            // Only a single name can collide with `-`/`(empty)`.
            [one] => return zeek_escape_str(one.as_ref(), false, self.out),
            _ => {}
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            escape_utf8_run(self.out, item.as_ref().as_bytes(), false);
        }
    }

    fn strings<T: AsRef<str>>(
        &mut self,
        _: &'static str,
        _: &'static str,
        items: &[T],
        if_empty: IfEmpty,
    ) {
        self.sep();
        if items.is_empty() {
            self.out.extend_from_slice(match if_empty {
                IfEmpty::Unset => UNSET,
                IfEmpty::Empty => EMPTY,
            });
            return;
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            zeek_escape_str(item.as_ref(), true, self.out);
        }
    }

    fn addrs(&mut self, _: &'static str, items: &[IpAddr], if_empty: IfEmpty) {
        self.list(items, if_empty, push_addr);
    }

    fn seconds(&mut self, _: &'static str, items: &[u32], if_empty: IfEmpty) {
        self.list(items, if_empty, |o, s| {
            let _ = write!(o, "{s}.000000");
        });
    }
}
