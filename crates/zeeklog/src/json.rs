//! Zeek's JSON log format (`LogAscii::use_json=T`).
//!
//! One object per line; keys are Zeek's column names (`"id.orig_h"`);
//! unset fields are left out (Zeek's default
//! `json_include_unset_fields=F`); `time` is a number of seconds since
//! the epoch (`JSON::TS_EPOCH`, the default); `interval` a number of
//! seconds; `count`/`port` integers; `bool` `true`/`false`; addresses
//! strings; sets and vectors arrays. Numbers are written exactly from
//! the microsecond values, with at least one decimal (`900.0`), as
//! Zeek's rapidjson writer does for such values.
//!
//! botscope's extra columns follow Zeek's. Binary body prefixes are never
//! written; their SHA-256s are.

use std::io::Write;
use std::net::IpAddr;

use botscope_event::{Duration, Event, Ts, Uid};

use crate::columns::{self, IfEmpty, Sink};

/// Append `ev` as one JSON object and a newline. [`Event::Message`] has
/// no row: nothing is written.
pub fn json_row(ev: &Event, out: &mut Vec<u8>) {
    let mut row = JsonRow {
        out,
        started: false,
    };
    if columns::emit(ev, &mut row) {
        if !row.started {
            row.out.push(b'{');
        }
        row.out.extend_from_slice(b"}\n");
    }
}

/// Append `s` as a JSON string literal.
pub(crate) fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    json_str_body(out, s);
    out.push(b'"');
}

/// Append `s` escaped for the inside of a JSON string literal: `"`, `\`
/// and control characters (short forms where JSON has them, else
/// `\u00XX`), as rapidjson (Zeek's JSON writer) does.
fn json_str_body(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 15)]);
        } else {
            out.extend_from_slice(esc);
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Append microseconds as a decimal number of seconds, trailing zeros
/// trimmed but one decimal kept (`900.0`, `0.162309`).
fn json_secs(out: &mut Vec<u8>, micros: i64) {
    if micros < 0 {
        out.push(b'-');
    }
    let v = micros.unsigned_abs();
    let (whole, mut frac) = (v / 1_000_000, v % 1_000_000);
    let _ = write!(out, "{whole}.");
    if frac == 0 {
        out.push(b'0');
        return;
    }
    let mut digits = 6;
    while frac % 10 == 0 {
        frac /= 10;
        digits -= 1;
    }
    let _ = write!(out, "{frac:0digits$}");
}

struct JsonRow<'a> {
    out: &'a mut Vec<u8>,
    started: bool,
}

impl JsonRow<'_> {
    fn key(&mut self, name: &str) {
        self.out.push(if self.started { b',' } else { b'{' });
        self.started = true;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn field<T>(&mut self, name: &str, v: Option<T>, f: impl FnOnce(&mut Vec<u8>, T)) {
        if let Some(v) = v {
            self.key(name);
            f(self.out, v);
        }
    }

    fn list<T: Copy>(
        &mut self,
        name: &str,
        items: &[T],
        if_empty: IfEmpty,
        mut f: impl FnMut(&mut Vec<u8>, T),
    ) {
        if items.is_empty() && if_empty == IfEmpty::Unset {
            return;
        }
        self.key(name);
        self.out.push(b'[');
        for (i, &item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            f(self.out, item);
        }
        self.out.push(b']');
    }
}

// Writing into a Vec<u8> cannot fail, so the `write!` results are
// ignored below.
impl Sink for JsonRow<'_> {
    fn time(&mut self, name: &'static str, v: Option<Ts>) {
        self.field(name, v, |o, t| json_secs(o, t.0));
    }

    fn interval(&mut self, name: &'static str, v: Option<Duration>) {
        self.field(name, v, |o, d| json_secs(o, d.0));
    }

    fn string(&mut self, name: &'static str, v: Option<&str>) {
        self.field(name, v, json_str);
    }

    fn enumeration(&mut self, name: &'static str, v: Option<&str>) {
        self.string(name, v);
    }

    fn uid(&mut self, name: &'static str, v: Option<Uid>) {
        self.field(name, v, |o, u| {
            let _ = write!(o, "\"{u}\"");
        });
    }

    fn count(&mut self, name: &'static str, v: Option<u64>) {
        self.field(name, v, |o, n| {
            let _ = write!(o, "{n}");
        });
    }

    fn port(&mut self, name: &'static str, v: Option<u16>) {
        self.count(name, v.map(u64::from));
    }

    fn addr(&mut self, name: &'static str, v: Option<IpAddr>) {
        self.field(name, v, |o, a| {
            let _ = write!(o, "\"{a}\"");
        });
    }

    fn boolean(&mut self, name: &'static str, v: Option<bool>) {
        self.field(name, v, |o, b| {
            o.extend_from_slice(if b { b"true" } else { b"false" })
        });
    }

    fn joined<T: AsRef<str>>(&mut self, name: &'static str, items: &[T]) {
        if items.is_empty() {
            return;
        }
        self.key(name);
        self.out.push(b'"');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            json_str_body(self.out, item.as_ref());
        }
        self.out.push(b'"');
    }

    fn strings<T: AsRef<str>>(
        &mut self,
        name: &'static str,
        _: &'static str,
        items: &[T],
        if_empty: IfEmpty,
    ) {
        if items.is_empty() && if_empty == IfEmpty::Unset {
            return;
        }
        self.key(name);
        self.out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            json_str(self.out, item.as_ref());
        }
        self.out.push(b']');
    }

    fn addrs(&mut self, name: &'static str, items: &[IpAddr], if_empty: IfEmpty) {
        self.list(name, items, if_empty, |o, a| {
            let _ = write!(o, "\"{a}\"");
        });
    }

    fn seconds(&mut self, name: &'static str, items: &[u32], if_empty: IfEmpty) {
        self.list(name, items, if_empty, |o, s| {
            json_secs(o, i64::from(s) * 1_000_000)
        });
    }
}
