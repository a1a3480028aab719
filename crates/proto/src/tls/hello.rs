//! ClientHello / ServerHello decoding and the JA3, JA3S and JA4
//! fingerprints.
//!
//! Own zero-copy reader over the handshake body: the fingerprints need the
//! raw extension ids in wire order (including unknown ones), which is what
//! this reader keeps. Every read is bounds-checked; a length that overruns
//! its container ends the parse with what was read so far.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// RFC 8701 GREASE value (`0x?a?a` with equal bytes).
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// A bounds-checked cursor over untrusted bytes.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.data.len() {
            return None;
        }
        let (a, b) = self.data.split_at(n);
        self.data = b;
        Some(a)
    }
    pub(crate) fn u24(&mut self) -> Option<usize> {
        let b = self.take(3)?;
        Some((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
    /// What has not been read.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.data
    }
    /// A sub-reader of a `u8`-length-prefixed vector.
    pub(crate) fn vec8(&mut self) -> Option<Reader<'a>> {
        let n = usize::from(self.u8()?);
        self.take(n).map(Reader::new)
    }
    /// A sub-reader of a `u16`-length-prefixed vector.
    pub(crate) fn vec16(&mut self) -> Option<Reader<'a>> {
        let n = usize::from(self.u16()?);
        self.take(n).map(Reader::new)
    }
    /// All remaining `u16` values (an odd trailing byte is ignored).
    pub(crate) fn u16s(self) -> impl Iterator<Item = u16> + 'a {
        self.data
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }
}

/// What a ClientHello offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// `legacy_version` of the hello.
    pub version: u16,
    pub session_id: Vec<u8>,
    pub ciphers: Vec<u16>,
    /// Extension ids in wire order.
    pub extensions: Vec<u16>,
    pub server_name: Option<String>,
    pub alpn: Vec<String>,
    /// First ALPN value as raw bytes (JA4 uses its first and last byte).
    pub alpn_first_raw: Option<Vec<u8>>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
    pub sig_algs: Vec<u16>,
    pub supported_versions: Vec<u16>,
    /// The hello was cut short or had a length that overran its
    /// container; the fields hold what was read.
    pub truncated: bool,
}

/// Printable rendering of wire bytes: ASCII kept, the rest `\xNN`.
pub(crate) fn escaped(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if s.bytes().all(|c| (0x20..0x7f).contains(&c)) => s.to_string(),
        _ => {
            let mut out = String::with_capacity(b.len());
            for &c in b {
                if (0x20..0x7f).contains(&c) {
                    out.push(char::from(c));
                } else {
                    let _ = write!(out, "\\x{c:02x}");
                }
            }
            out
        }
    }
}

impl ClientHello {
    /// Decode the body of a handshake message of type 1.
    pub fn parse(body: &[u8]) -> Option<ClientHello> {
        Self::parse_inner(body, false)
    }

    /// A DTLS ClientHello: a cookie follows the session id.
    pub fn parse_dtls(body: &[u8]) -> Option<ClientHello> {
        Self::parse_inner(body, true)
    }

    fn parse_inner(body: &[u8], dtls: bool) -> Option<ClientHello> {
        let mut r = Reader::new(body);
        let mut ch = ClientHello {
            version: r.u16()?,
            ..ClientHello::default()
        };
        r.take(32)?;
        ch.session_id = r.vec8()?.data.to_vec();
        if dtls {
            r.vec8()?;
        }
        ch.ciphers = r.vec16()?.u16s().collect();
        let Some(_comp) = r.vec8() else {
            ch.truncated = true;
            return Some(ch);
        };
        if r.is_empty() {
            return Some(ch);
        }
        let ext_len = usize::from(r.u16().unwrap_or(0));
        let avail = r.data.len();
        if ext_len > avail {
            ch.truncated = true;
        }
        let mut exts = Reader::new(r.take(ext_len.min(avail)).unwrap_or(&[]));
        while !exts.is_empty() {
            let (Some(id), Some(data)) = (exts.u16(), exts.vec16()) else {
                ch.truncated = true;
                break;
            };
            ch.extensions.push(id);
            ch.extension(id, data);
        }
        Some(ch)
    }

    fn extension(&mut self, id: u16, mut d: Reader<'_>) {
        match id {
            0 => {
                if let Some(mut list) = d.vec16() {
                    while let (Some(kind), Some(name)) = (list.u8(), list.vec16()) {
                        if kind == 0 && self.server_name.is_none() {
                            self.server_name = Some(escaped(name.data));
                        }
                    }
                }
            }
            16 => {
                if let Some(mut list) = d.vec16() {
                    while let Some(p) = list.vec8() {
                        if self.alpn_first_raw.is_none() {
                            self.alpn_first_raw = Some(p.data.to_vec());
                        }
                        self.alpn.push(escaped(p.data));
                    }
                }
            }
            10 => {
                if let Some(list) = d.vec16() {
                    self.groups = list.u16s().collect();
                }
            }
            11 => {
                if let Some(list) = d.vec8() {
                    self.point_formats = list.data.to_vec();
                }
            }
            13 => {
                if let Some(list) = d.vec16() {
                    self.sig_algs = list.u16s().collect();
                }
            }
            43 => {
                if let Some(list) = d.vec8() {
                    self.supported_versions = list.u16s().collect();
                }
            }
            _ => {}
        }
    }

    /// The JA3 string: `version,ciphers,extensions,groups,point_formats`.
    pub fn ja3_string(&self) -> String {
        let mut s = String::with_capacity(256);
        let _ = write!(s, "{},", self.version);
        join_dec(
            &mut s,
            self.ciphers.iter().copied().filter(|v| !is_grease(*v)),
        );
        s.push(',');
        join_dec(
            &mut s,
            self.extensions.iter().copied().filter(|v| !is_grease(*v)),
        );
        s.push(',');
        join_dec(
            &mut s,
            self.groups.iter().copied().filter(|v| !is_grease(*v)),
        );
        s.push(',');
        join_dec(&mut s, self.point_formats.iter().map(|&v| u16::from(v)));
        s
    }

    /// JA3: MD5 of [`ClientHello::ja3_string`], lowercase hex.
    pub fn ja3(&self) -> String {
        hex::encode(Md5::digest(self.ja3_string().as_bytes()))
    }

    /// The JA4 `a` part, e.g. `t13d1516h2`.
    pub fn ja4_a(&self) -> String {
        let version = self
            .supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.version);
        let v = match version {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            0xfeff => "d1",
            0xfefd => "d2",
            0xfefc => "d3",
            _ => "00",
        };
        let sni = if self.extensions.contains(&0) {
            'd'
        } else {
            'i'
        };
        let nc = self
            .ciphers
            .iter()
            .filter(|v| !is_grease(**v))
            .count()
            .min(99);
        let ne = self
            .extensions
            .iter()
            .filter(|v| !is_grease(**v))
            .count()
            .min(99);
        let alpn = match self.alpn_first_raw.as_deref() {
            Some([first, .., last]) => alpn_chars(&[*first, *last], *first, *last),
            Some([only]) => alpn_chars(&[*only], *only, *only),
            _ => "00".to_string(),
        };
        format!("t{v}{sni}{nc:02}{ne:02}{alpn}")
    }

    /// JA4 of a hello carried over QUIC (`q`) or DTLS (`d`) instead of
    /// TCP (`t`): the first letter names the transport.
    pub fn ja4_over(&self, transport: char) -> String {
        let mut s = self.ja4();
        if s.starts_with('t') {
            let mut b = [0u8; 4];
            s.replace_range(..1, transport.encode_utf8(&mut b));
        }
        s
    }

    /// JA4: `a_b_c` per the FoxIO JA4 specification (TLS over TCP).
    pub fn ja4(&self) -> String {
        let mut ciphers: Vec<u16> = self
            .ciphers
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect();
        ciphers.sort_unstable();
        let mut exts: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v) && *v != 0x0000 && *v != 0x0010)
            .collect();
        exts.sort_unstable();
        let b = if ciphers.is_empty() {
            "000000000000".to_string()
        } else {
            sha12(&join_hex(&ciphers))
        };
        let c = if exts.is_empty() {
            "000000000000".to_string()
        } else {
            let mut s = join_hex(&exts);
            let sigs: Vec<u16> = self
                .sig_algs
                .iter()
                .copied()
                .filter(|v| !is_grease(*v))
                .collect();
            if !sigs.is_empty() {
                s.push('_');
                s.push_str(&join_hex(&sigs));
            }
            sha12(&s)
        };
        format!("{}_{b}_{c}", self.ja4_a())
    }
}

/// JA4's two ALPN characters: the first and last byte when both are
/// ASCII alphanumerics, else the first and last hex digit of the value.
fn alpn_chars(value: &[u8], first: u8, last: u8) -> String {
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        let mut s = String::with_capacity(2);
        s.push(char::from(first));
        s.push(char::from(last));
        s
    } else {
        let h = hex::encode(value);
        let f = h.chars().next().unwrap_or('0');
        let l = h.chars().last().unwrap_or('0');
        format!("{f}{l}")
    }
}

fn join_dec(s: &mut String, vals: impl Iterator<Item = u16>) {
    for (i, v) in vals.enumerate() {
        if i > 0 {
            s.push('-');
        }
        let _ = write!(s, "{v}");
    }
}

fn join_hex(vals: &[u16]) -> String {
    let mut s = String::with_capacity(vals.len() * 5);
    for (i, v) in vals.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{v:04x}");
    }
    s
}

fn sha12(s: &str) -> String {
    let mut h = hex::encode(Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

/// The `random` of a HelloRetryRequest (RFC 8446 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What a ServerHello chose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// `legacy_version` of the hello.
    pub legacy_version: u16,
    /// The negotiated version (`supported_versions` when present).
    pub version: u16,
    pub session_id: Vec<u8>,
    pub cipher: u16,
    pub extensions: Vec<u16>,
    /// Group of the `key_share` extension (TLS 1.3).
    pub key_share_group: Option<u16>,
    /// The ALPN protocol chosen.
    pub alpn: Option<String>,
    /// `pre_shared_key` was accepted (TLS 1.3 resumption).
    pub psk: bool,
    /// This is a HelloRetryRequest.
    pub retry: bool,
}

impl ServerHello {
    /// Decode the body of a handshake message of type 2 (or 6, the
    /// draft HelloRetryRequest).
    pub fn parse(body: &[u8]) -> Option<ServerHello> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16()?;
        let mut sh = ServerHello {
            legacy_version,
            version: legacy_version,
            ..ServerHello::default()
        };
        let random = r.take(32)?;
        sh.retry = random == HRR_RANDOM;
        // TLS 1.3 drafts before 22 dropped session id and compression.
        let draft = legacy_version >> 8 == 0x7f;
        if !draft {
            sh.session_id = r.vec8()?.data.to_vec();
        }
        sh.cipher = r.u16()?;
        if !draft {
            r.u8()?;
        }
        let Some(mut exts) = r.vec16() else {
            return Some(sh);
        };
        while let (Some(id), Some(mut d)) = (exts.u16(), exts.vec16()) {
            sh.extensions.push(id);
            match id {
                43 => {
                    if let Some(v) = d.u16() {
                        sh.version = v;
                    }
                }
                // key_share (and the drafts' old code point)
                51 | 40 => sh.key_share_group = d.u16(),
                41 => sh.psk = true,
                16 => {
                    if let Some(p) = d.vec16().and_then(|mut l| l.vec8()) {
                        sh.alpn = Some(escaped(p.data));
                    }
                }
                _ => {}
            }
        }
        Some(sh)
    }

    /// JA3S: MD5 of `version,cipher,extensions`.
    pub fn ja3s(&self) -> String {
        let mut s = String::with_capacity(64);
        let _ = write!(s, "{},{},", self.legacy_version, self.cipher);
        join_dec(
            &mut s,
            self.extensions.iter().copied().filter(|v| !is_grease(*v)),
        );
        hex::encode(Md5::digest(s.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x7a7a));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301) && !is_grease(0x0a0b));
    }

    #[test]
    fn reader_never_overruns() {
        let mut r = Reader::new(&[0x00, 0x05, 1, 2]);
        assert!(r.vec16().is_none());
        let mut r = Reader::new(&[0x01]);
        assert!(r.u16().is_none());
        assert!(ClientHello::parse(&[3, 3]).is_none());
        assert!(ServerHello::parse(&[]).is_none());
    }
}
