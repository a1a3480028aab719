//! QUIC: the TLS hellos inside Initial packets, as an `ssl.log` row.
//!
//! Initial packets are protected with keys anyone can derive from the
//! client's first Destination Connection ID and a public per-version salt
//! (RFC 9001 §5.2 for v1, RFC 9369 §3.3 for v2, the drafts' salts for
//! draft-23..34). This module derives them with `ring` (HKDF-SHA256,
//! AES-128 header protection, AES-128-GCM), removes header protection,
//! decrypts, reassembles the CRYPTO frames of each direction (bounded by
//! [`ProtoConfig::tls_max_record_bytes`]) and reads the ClientHello and
//! ServerHello with the TLS module's decoders: SNI, ALPN offered, JA3 and
//! JA4 (`q` form), the server's version, cipher and key-share group.
//!
//! Zeek semantics (`scripts/base/protocols/quic`, `ssl.log` for QUIC):
//! `ssl_history` has `C` per ClientHello (again after a Retry, which
//! changes the keys) and `s` for the ServerHello; `established` stays
//! false (the rest of the handshake is encrypted with keys we cannot
//! derive); `resumed` is the server accepting a pre-shared key.
//!
//! **No panics on any input**: every length read from a packet is checked
//! against the datagram; decryption failures are counted (weird
//! `QUIC_initial_decrypt_failed`, once per connection), never fatal.

use botscope_event::{Event, Ssl, Ts};
use ring::aead::quic::{HeaderProtectionKey, AES_128};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use ring::hkdf::{KeyType, Prk, Salt, HKDF_SHA256};

use crate::tls::hello::{ClientHello, ServerHello};
use crate::tls::{cipher_name, curve_name, version_name};
use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

/// Smallest UDP payload carrying a client Initial (RFC 9000 §14.1).
pub const MIN_CLIENT_INITIAL: usize = 1200;
/// Most out-of-order CRYPTO fragments held per direction.
const MAX_PENDING_FRAGMENTS: usize = 64;
/// Most packets looked at in one datagram (coalesced packets).
const MAX_PACKETS_PER_DATAGRAM: usize = 8;

/// QUIC version 1 (RFC 9000).
pub const V1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const V2: u32 = 0x6b33_43cf;

/// The Initial salt of a QUIC version, or `None` for versions whose
/// Initial packets we cannot read.
fn initial_salt(version: u32) -> Option<&'static [u8; 20]> {
    const SALT_V1: [u8; 20] = [
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c,
        0xad, 0xcc, 0xbb, 0x7f, 0x0a,
    ];
    const SALT_V2: [u8; 20] = [
        0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d,
        0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
    ];
    // draft-29 .. draft-34
    const SALT_D29: [u8; 20] = [
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11,
        0xe0, 0x43, 0x90, 0xa8, 0x99,
    ];
    // draft-23 .. draft-28
    const SALT_D23: [u8; 20] = [
        0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63,
        0x65, 0xbe, 0xf9, 0xf5, 0x02,
    ];
    match version {
        V1 => Some(&SALT_V1),
        V2 => Some(&SALT_V2),
        0xff00_001d..=0xff00_0022 => Some(&SALT_D29),
        0xff00_0017..=0xff00_001c => Some(&SALT_D23),
        _ => None,
    }
}

/// Is `t` (the two type bits of a long header) an Initial packet?
fn is_initial(version: u32, t: u8) -> bool {
    if version == V2 {
        t == 0b01
    } else {
        t == 0b00
    }
}

/// Is `t` a Retry packet?
fn is_retry(version: u32, t: u8) -> bool {
    if version == V2 {
        t == 0b00
    } else {
        t == 0b11
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
pub(crate) fn expand_label(prk: &Prk, label: &[u8], out: &mut [u8]) -> Option<()> {
    let len = u16::try_from(out.len()).ok()?;
    let full_len = u8::try_from(6 + label.len()).ok()?;
    let info: [&[u8]; 5] = [&len.to_be_bytes(), &[full_len], b"tls13 ", label, &[0]];
    prk.expand(&info, Len(out.len())).ok()?.fill(out).ok()
}

/// The packet-protection keys of one direction.
struct Keys {
    aead: LessSafeKey,
    iv: [u8; 12],
    hp: HeaderProtectionKey,
}

impl Keys {
    fn derive(version: u32, dcid: &[u8], server: bool) -> Option<Keys> {
        let salt = initial_salt(version)?;
        let initial = Salt::new(HKDF_SHA256, salt).extract(dcid);
        let mut secret = [0u8; 32];
        let label: &[u8] = if server { b"server in" } else { b"client in" };
        expand_label(&initial, label, &mut secret)?;
        let prk = Prk::new_less_safe(HKDF_SHA256, &secret);
        let (lk, li, lh): (&[u8], &[u8], &[u8]) = if version == V2 {
            (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")
        } else {
            (b"quic key", b"quic iv", b"quic hp")
        };
        let mut key = [0u8; 16];
        let mut iv = [0u8; 12];
        let mut hp = [0u8; 16];
        expand_label(&prk, lk, &mut key)?;
        expand_label(&prk, li, &mut iv)?;
        expand_label(&prk, lh, &mut hp)?;
        Some(Keys {
            aead: LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &key).ok()?),
            iv,
            hp: HeaderProtectionKey::new(&AES_128, &hp).ok()?,
        })
    }
}

/// A QUIC variable-length integer (RFC 9000 §16).
fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let first = *b.get(*pos)?;
    let n = 1usize << (first >> 6);
    let bytes = b.get(*pos..*pos + n)?;
    let mut v = u64::from(first & 0x3f);
    for &x in &bytes[1..] {
        v = (v << 8) | u64::from(x);
    }
    *pos += n;
    Some(v)
}

/// The fields of a long-header packet needed to read it.
struct LongHeader<'a> {
    version: u32,
    ptype: u8,
    dcid: &'a [u8],
    /// Offset of the packet number (Initial only).
    pn_offset: usize,
    /// End of this packet in the datagram.
    end: usize,
}

/// Parse the long header at the start of `d`. For packets other than
/// Initial, `pn_offset` is 0 and `end` is the datagram's end unless a
/// length field says otherwise.
fn long_header(d: &[u8]) -> Option<LongHeader<'_>> {
    let b0 = *d.first()?;
    if b0 & 0x80 == 0 {
        return None;
    }
    let version = u32::from_be_bytes(d.get(1..5)?.try_into().ok()?);
    let mut pos = 5;
    let dl = usize::from(*d.get(pos)?);
    if dl > 20 {
        return None;
    }
    let dcid = d.get(pos + 1..pos + 1 + dl)?;
    pos += 1 + dl;
    let sl = usize::from(*d.get(pos)?);
    if sl > 20 {
        return None;
    }
    d.get(pos + 1..pos + 1 + sl)?;
    pos += 1 + sl;
    let ptype = (b0 >> 4) & 0x03;
    let mut h = LongHeader {
        version,
        ptype,
        dcid,
        pn_offset: 0,
        end: d.len(),
    };
    if version == 0 || is_retry(version, ptype) {
        return Some(h);
    }
    if is_initial(version, ptype) {
        let tl = usize::try_from(varint(d, &mut pos)?).ok()?;
        pos = pos.checked_add(tl)?;
    }
    let len = usize::try_from(varint(d, &mut pos)?).ok()?;
    h.pn_offset = pos;
    h.end = pos.checked_add(len)?;
    if h.end > d.len() {
        return None;
    }
    Some(h)
}

/// Probe a UDP datagram: a client Initial of a version we can read,
/// padded to 1200 bytes, whose protection opens with the derived keys.
pub fn probe(data: &[u8]) -> Probe {
    if data.len() < MIN_CLIENT_INITIAL || data[0] & 0xc0 != 0xc0 {
        return Probe::NotForUs;
    }
    let Some(h) = long_header(data) else {
        return Probe::NotForUs;
    };
    if !is_initial(h.version, h.ptype) || initial_salt(h.version).is_none() {
        return Probe::NotForUs;
    }
    let Some(keys) = Keys::derive(h.version, h.dcid, false) else {
        return Probe::NotForUs;
    };
    let mut buf = Vec::new();
    match open(&keys, data, &h, &mut buf, None) {
        Some(_) => Probe::Certain,
        None => Probe::NotForUs,
    }
}

/// Remove header protection and decrypt one Initial packet into `out`
/// (the frames). Returns the packet number.
fn open(
    keys: &Keys,
    d: &[u8],
    h: &LongHeader<'_>,
    out: &mut Vec<u8>,
    largest: Option<u64>,
) -> Option<u64> {
    let pn_off = h.pn_offset;
    // The sample lies inside this packet (not a coalesced next one).
    let sample = d.get(..h.end)?.get(pn_off + 4..pn_off + 20)?;
    let mask = keys.hp.new_mask(sample).ok()?;
    let mut header = d.get(..pn_off + 4)?.to_vec();
    header[0] ^= mask[0] & 0x0f;
    let pn_len = usize::from(header[0] & 0x03) + 1;
    let mut truncated = 0u64;
    for i in 0..pn_len {
        header[pn_off + i] ^= mask[1 + i];
        truncated = (truncated << 8) | u64::from(header[pn_off + i]);
    }
    header.truncate(pn_off + pn_len);
    let pn = decode_pn(largest, truncated, pn_len);
    let mut nonce = keys.iv;
    for (i, b) in pn.to_be_bytes().iter().enumerate() {
        nonce[4 + i] ^= b;
    }
    out.clear();
    out.extend_from_slice(d.get(pn_off + pn_len..h.end)?);
    let plain = keys
        .aead
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&header[..]),
            out,
        )
        .ok()?;
    let n = plain.len();
    out.truncate(n);
    Some(pn)
}

/// Build a protected Initial packet carrying `frames` (the inverse of
/// what [`QuicAnalyzer`] reads): keys from `dcid`, a 4-byte packet number,
/// a client packet padded to [`MIN_CLIENT_INITIAL`]. For tests and the
/// fuzz target, which need valid ciphertext to reach the frame decoder.
pub fn seal_initial(
    version: u32,
    dcid: &[u8],
    scid: &[u8],
    server: bool,
    pn: u32,
    frames: &[u8],
) -> Option<Vec<u8>> {
    let keys = Keys::derive(version, dcid, server)?;
    let ptype: u8 = if version == V2 { 1 } else { 0 };
    let mut hdr = vec![0xc3 | (ptype << 4)];
    hdr.extend_from_slice(&version.to_be_bytes());
    hdr.push(u8::try_from(dcid.len()).ok().filter(|l| *l <= 20)?);
    hdr.extend_from_slice(dcid);
    hdr.push(u8::try_from(scid.len()).ok().filter(|l| *l <= 20)?);
    hdr.extend_from_slice(scid);
    hdr.push(0); // token length
    let mut payload = frames.to_vec();
    if !server {
        // header + 2-byte length + 4-byte pn + payload + 16-byte tag
        let min = MIN_CLIENT_INITIAL.saturating_sub(hdr.len() + 2 + 4 + 16);
        if payload.len() < min {
            payload.resize(min, 0);
        }
    }
    let len = u16::try_from(4 + payload.len() + 16)
        .ok()
        .filter(|l| *l < 0x4000)?;
    hdr.extend_from_slice(&(0x4000 | len).to_be_bytes());
    let pn_off = hdr.len();
    hdr.extend_from_slice(&pn.to_be_bytes());
    let mut nonce = keys.iv;
    for (i, b) in u64::from(pn).to_be_bytes().iter().enumerate() {
        nonce[4 + i] ^= b;
    }
    keys.aead
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&hdr[..]),
            &mut payload,
        )
        .ok()?;
    let mask = keys.hp.new_mask(payload.get(..16)?).ok()?;
    hdr[0] ^= mask[0] & 0x0f;
    for i in 0..4 {
        hdr[pn_off + i] ^= mask[1 + i];
    }
    hdr.extend_from_slice(&payload);
    Some(hdr)
}

/// RFC 9000 Appendix A.3.
fn decode_pn(largest: Option<u64>, truncated: u64, len: usize) -> u64 {
    let bits = 8 * len as u32;
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let win = 1u64 << bits;
    let half = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate.saturating_add(half) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(half) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// CRYPTO stream of one direction: a contiguous prefix and held
/// out-of-order fragments, both bounded.
#[derive(Default)]
struct CryptoStream {
    data: Vec<u8>,
    pending: Vec<(u64, Vec<u8>)>,
    /// Bytes of the handshake messages already handled.
    used: usize,
    /// Bytes dropped for being beyond the cap.
    overflow: u64,
}

impl CryptoStream {
    fn add(&mut self, offset: u64, frag: &[u8], cap: usize) {
        let end = offset.saturating_add(frag.len() as u64);
        if end > cap as u64 {
            self.overflow += frag.len() as u64;
            return;
        }
        let have = self.data.len() as u64;
        if offset > have {
            if self.pending.len() < MAX_PENDING_FRAGMENTS {
                self.pending.push((offset, frag.to_vec()));
            } else {
                self.overflow += frag.len() as u64;
            }
            return;
        }
        let skip = usize::try_from(have - offset).unwrap_or(usize::MAX);
        if let Some(new) = frag.get(skip..) {
            self.data.extend_from_slice(new);
        }
        // Held fragments that now touch the prefix.
        loop {
            let have = self.data.len() as u64;
            let Some(i) = self.pending.iter().position(|(o, _)| *o <= have) else {
                break;
            };
            let (o, f) = self.pending.swap_remove(i);
            let skip = usize::try_from(have - o).unwrap_or(usize::MAX);
            if let Some(new) = f.get(skip..) {
                self.data.extend_from_slice(new);
            }
        }
    }

    /// The next complete handshake message (type, body), if any.
    fn next_message(&mut self) -> Option<(u8, &[u8])> {
        let rest = self.data.get(self.used..)?;
        let &[t, a, b, c, ..] = rest else {
            return None;
        };
        let len = (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c);
        let body = rest.get(4..4 + len)?;
        self.used += 4 + len;
        Some((t, body))
    }
}

/// `ssl.log` producer for one QUIC connection (UDP datagrams).
pub struct QuicAnalyzer {
    cap: usize,
    version: u32,
    dcid: Vec<u8>,
    client_keys: Option<Keys>,
    server_keys: Option<Keys>,
    largest: [Option<u64>; 2],
    crypto: [CryptoStream; 2],
    row: Ssl,
    start_ts: Option<Ts>,
    client_hello: bool,
    server_hello: bool,
    decrypt_failures: u64,
    emitted: bool,
    scratch: Vec<u8>,
}

impl QuicAnalyzer {
    pub fn new(config: &ProtoConfig) -> Self {
        QuicAnalyzer {
            cap: config.tls_max_record_bytes,
            version: 0,
            dcid: Vec::new(),
            client_keys: None,
            server_keys: None,
            largest: [None, None],
            crypto: Default::default(),
            row: Ssl::default(),
            start_ts: None,
            client_hello: false,
            server_hello: false,
            decrypt_failures: 0,
            emitted: false,
            scratch: Vec::new(),
        }
    }

    fn rekey(&mut self, version: u32, dcid: &[u8]) -> bool {
        let (Some(c), Some(s)) = (
            Keys::derive(version, dcid, false),
            Keys::derive(version, dcid, true),
        ) else {
            return false;
        };
        self.version = version;
        self.dcid = dcid.to_vec();
        self.client_keys = Some(c);
        self.server_keys = Some(s);
        self.largest = [None, None];
        true
    }

    fn datagram(&mut self, ctx: &mut Ctx<'_>, dir: Dir, mut d: &[u8]) {
        let si = usize::from(!dir.is_orig());
        for _ in 0..MAX_PACKETS_PER_DATAGRAM {
            let Some(h) = long_header(d) else {
                return;
            };
            let end = h.end;
            if h.version != 0 && is_initial(h.version, h.ptype) {
                self.initial(ctx, dir, si, d, &h);
            }
            d = d.get(end..).unwrap_or_default();
            if d.is_empty() {
                return;
            }
        }
    }

    fn initial(&mut self, ctx: &mut Ctx<'_>, dir: Dir, si: usize, d: &[u8], h: &LongHeader<'_>) {
        if initial_salt(h.version).is_none() {
            return;
        }
        let mut out = std::mem::take(&mut self.scratch);
        let mut opened = None;
        if dir.is_orig() {
            if self.client_keys.is_none() || self.version != h.version {
                self.rekey(h.version, h.dcid);
            }
            if let Some(k) = &self.client_keys {
                opened = open(k, d, h, &mut out, self.largest[si]);
            }
            if opened.is_none() && h.dcid != self.dcid.as_slice() {
                // After a Retry the client starts over with new keys.
                if let Some(k) = Keys::derive(h.version, h.dcid, false) {
                    if let Some(pn) = open(&k, d, h, &mut out, None) {
                        self.rekey(h.version, h.dcid);
                        self.crypto = Default::default();
                        opened = Some(pn);
                    }
                }
            }
        } else if let Some(k) = &self.server_keys {
            opened = open(k, d, h, &mut out, self.largest[si]);
        }
        match opened {
            Some(pn) => {
                self.largest[si] = Some(self.largest[si].map_or(pn, |l| l.max(pn)));
                self.frames(ctx, dir, si, &out);
            }
            None => {
                self.decrypt_failures += 1;
                if self.decrypt_failures == 1 {
                    ctx.weird("QUIC_initial_decrypt_failed", None);
                }
            }
        }
        self.scratch = out;
    }

    /// The frames of a decrypted Initial packet: CRYPTO data goes to the
    /// direction's stream; PADDING, PING, ACK and CONNECTION_CLOSE are
    /// passed over; anything else ends the packet.
    fn frames(&mut self, ctx: &mut Ctx<'_>, dir: Dir, si: usize, p: &[u8]) {
        let mut pos = 0;
        while pos < p.len() {
            let Some(t) = varint(p, &mut pos) else {
                return;
            };
            match t {
                0x00 | 0x01 => {}
                0x02 | 0x03 => {
                    let (Some(_), Some(_), Some(n), Some(_)) = (
                        varint(p, &mut pos),
                        varint(p, &mut pos),
                        varint(p, &mut pos),
                        varint(p, &mut pos),
                    ) else {
                        return;
                    };
                    let extra = if t == 0x03 { 3 } else { 0 };
                    for _ in 0..n.saturating_mul(2).saturating_add(extra).min(4096) {
                        if varint(p, &mut pos).is_none() {
                            return;
                        }
                    }
                }
                0x06 => {
                    let (Some(off), Some(len)) = (varint(p, &mut pos), varint(p, &mut pos)) else {
                        return;
                    };
                    let Some(data) = usize::try_from(len)
                        .ok()
                        .and_then(|l| p.get(pos..pos.checked_add(l)?))
                    else {
                        return;
                    };
                    pos += data.len();
                    self.crypto[si].add(off, data, self.cap);
                }
                0x1c | 0x1d => {
                    let _ = varint(p, &mut pos);
                    if t == 0x1c {
                        let _ = varint(p, &mut pos);
                    }
                    let Some(l) = varint(p, &mut pos) else {
                        return;
                    };
                    pos = pos.saturating_add(usize::try_from(l).unwrap_or(usize::MAX));
                }
                _ => return,
            }
        }
        self.messages(ctx, dir, si);
    }

    fn messages(&mut self, ctx: &mut Ctx<'_>, dir: Dir, si: usize) {
        if self.crypto[si].overflow > 0 {
            ctx.weird(
                "QUIC_crypto_too_large",
                Some(self.crypto[si].overflow.to_string()),
            );
            self.crypto[si].overflow = 0;
        }
        while let Some((t, body)) = self.crypto[si].next_message() {
            match (dir.is_orig(), t) {
                (true, 1) => {
                    let ch = ClientHello::parse(body);
                    if self.row.ssl_history.len() < 100 {
                        self.row.ssl_history.push('C');
                    }
                    let Some(ch) = ch else {
                        ctx.weird("SSL_bad_client_hello", None);
                        continue;
                    };
                    if self.row.server_name.is_none() {
                        self.row.server_name = ch.server_name.clone();
                    }
                    if !self.client_hello {
                        self.client_hello = true;
                        self.row.client_alpn = ch.alpn.clone();
                        self.row.ja3 = Some(ch.ja3());
                        self.row.ja4 = Some(ch.ja4_over('q'));
                    }
                }
                (false, 2) => {
                    if self.row.ssl_history.len() < 100 {
                        self.row.ssl_history.push('s');
                    }
                    let Some(sh) = ServerHello::parse(body) else {
                        ctx.weird("SSL_bad_server_hello", None);
                        continue;
                    };
                    self.server_hello = true;
                    self.row.version = Some(version_name(sh.version));
                    self.row.cipher = Some(cipher_name(u32::from(sh.cipher)));
                    if let Some(g) = sh.key_share_group {
                        self.row.curve = Some(curve_name(g));
                    }
                    if sh.alpn.is_some() {
                        self.row.next_protocol = sh.alpn.clone();
                    }
                    self.row.resumed = sh.psk;
                    self.row.ja3s = Some(sh.ja3s());
                }
                _ => {}
            }
        }
    }

    fn emit(&mut self, ctx: &mut Ctx<'_>) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        let mut row = std::mem::take(&mut self.row);
        row.meta = Some(ctx.meta_at(self.start_ts.unwrap_or(ctx.ts)));
        ctx.emit(Event::Ssl(row));
    }
}

impl Analyzer for QuicAnalyzer {
    fn service(&self) -> botscope_event::Service {
        botscope_event::Service::QUIC
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        if self.emitted {
            return Status::Done;
        }
        if self.start_ts.is_none() {
            self.start_ts = Some(ctx.ts);
        }
        self.datagram(ctx, dir, data);
        if self.client_hello && self.server_hello {
            self.emit(ctx);
            return Status::Done;
        }
        Status::Continue
    }

    fn gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _len: u64) -> Status {
        Status::Continue
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        if !self.row.ssl_history.is_empty() {
            self.emit(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        hex::decode(s).unwrap()
    }

    /// RFC 9001 Appendix A.1: keys from DCID 0x8394c8f03e515708.
    #[test]
    fn rfc9001_client_keys() {
        let dcid = unhex("8394c8f03e515708");
        let k = Keys::derive(V1, &dcid, false).unwrap();
        assert_eq!(k.iv.to_vec(), unhex("fa044b2f42a3fd3b46fb255c"));
        // Header protection mask of the A.2 sample.
        let mask =
            k.hp.new_mask(&unhex("d1b1c98dd7689fb8ec11d242b123dc9b"))
                .unwrap();
        assert_eq!(mask.to_vec(), unhex("437b9aec36"));
    }

    /// RFC 9369 Appendix A.1 (QUIC v2) keys from the same DCID.
    #[test]
    fn rfc9369_client_keys() {
        let dcid = unhex("8394c8f03e515708");
        let k = Keys::derive(V2, &dcid, false).unwrap();
        assert_eq!(k.iv.to_vec(), unhex("91f73e2351d8fa91660e909f"));
    }

    #[test]
    fn varints_and_pns() {
        let b = unhex("c2197c5eff14e88c");
        let mut p = 0;
        assert_eq!(varint(&b, &mut p), Some(151_288_809_941_952_652));
        let b = unhex("7bbd");
        let mut p = 0;
        assert_eq!(varint(&b, &mut p), Some(15_293));
        assert_eq!(decode_pn(Some(0xa82f30ea), 0x9b32, 2), 0xa82f9b32);
        assert_eq!(decode_pn(None, 2, 1), 2);
    }

    #[test]
    fn short_or_garbage_is_not_quic() {
        assert_eq!(probe(&[]), Probe::NotForUs);
        let mut d = vec![0xc0u8; 1200];
        d[1..5].copy_from_slice(&1u32.to_be_bytes());
        d[5] = 8;
        assert_eq!(probe(&d), Probe::NotForUs);
    }

    fn ext(id: u16, body: &[u8]) -> Vec<u8> {
        let mut v = id.to_be_bytes().to_vec();
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn hs(t: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![t];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(body);
        v
    }

    fn crypto(off: u64, data: &[u8]) -> Vec<u8> {
        let mut v = vec![0x06, 0x40 | (off >> 8) as u8, off as u8];
        v.extend_from_slice(&[0x40 | (data.len() >> 8) as u8, data.len() as u8]);
        v.extend_from_slice(data);
        v
    }

    fn client_hello() -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[7; 32]);
        b.push(0);
        b.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
        let mut exts = Vec::new();
        let host = b"example.org";
        let mut sni = ((host.len() + 3) as u16).to_be_bytes().to_vec();
        sni.push(0);
        sni.extend_from_slice(&(host.len() as u16).to_be_bytes());
        sni.extend_from_slice(host);
        exts.extend(ext(0, &sni));
        exts.extend(ext(16, &[0, 3, 2, b'h', b'3']));
        exts.extend(ext(43, &[2, 3, 4]));
        b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        b.extend(exts);
        hs(1, &b)
    }

    fn server_hello() -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[9; 32]);
        b.push(0);
        b.extend_from_slice(&[0x13, 0x01, 0]);
        let mut exts = ext(43, &[3, 4]);
        exts.extend(ext(51, &[0, 29, 0, 1, 0]));
        b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        b.extend(exts);
        hs(2, &b)
    }

    fn feed(an: &mut QuicAnalyzer, packets: Vec<(Dir, Vec<u8>)>) -> Vec<botscope_event::Event> {
        use botscope_event::{ConnId, Transport, Uid};
        use std::net::{IpAddr, Ipv4Addr};
        let config = ProtoConfig::default();
        let mut sink: Vec<botscope_event::Event> = Vec::new();
        let mut exp = Vec::new();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for (dir, p) in packets {
            let mut ctx = Ctx {
                ts: Ts(1),
                uid: Uid(1),
                id: ConnId {
                    orig_h: ip,
                    orig_p: 1,
                    resp_h: ip,
                    resp_p: 443,
                    proto: Transport::Udp,
                },
                config: &config,
                sink: &mut sink,
                expectations: &mut exp,
            };
            an.data(&mut ctx, dir, &p);
        }
        sink
    }

    /// After a Retry the client's new Initial uses keys of the new DCID;
    /// the server's Initial too. Zeek's history: `CCs`.
    #[test]
    fn retry_rekeys() {
        let mut an = QuicAnalyzer::new(&ProtoConfig::default());
        let ch = crypto(0, &client_hello());
        let first = seal_initial(V1, &[1; 8], &[9], false, 0, &ch).unwrap();
        let second = seal_initial(V1, &[2; 12], &[9], false, 1, &ch).unwrap();
        let sh = seal_initial(V1, &[2; 12], &[5], true, 0, &crypto(0, &server_hello())).unwrap();
        let ev = feed(
            &mut an,
            vec![(Dir::Orig, first), (Dir::Orig, second), (Dir::Resp, sh)],
        );
        let row = ev
            .iter()
            .find_map(|e| match e {
                botscope_event::Event::Ssl(s) => Some(s),
                _ => None,
            })
            .expect("ssl row");
        assert_eq!(row.ssl_history, "CCs");
        assert_eq!(row.version.as_deref(), Some("TLSv13"));
    }

    fn run(version: u32) -> Vec<botscope_event::Event> {
        let mut an = QuicAnalyzer::new(&ProtoConfig::default());
        let ch = client_hello();
        let (a, b) = ch.split_at(20);
        let dcid = [1, 2, 3, 4, 5, 6, 7, 8];
        // The ClientHello in two packets, second part first.
        let p1 = seal_initial(version, &dcid, &[9], false, 0, &crypto(20, b)).unwrap();
        let p2 = seal_initial(version, &dcid, &[9], false, 1, &crypto(0, a)).unwrap();
        assert_eq!(probe(&p1), Probe::Certain);
        let p3 = seal_initial(version, &dcid, &[5], true, 0, &crypto(0, &server_hello())).unwrap();
        feed(
            &mut an,
            vec![(Dir::Orig, p1), (Dir::Orig, p2), (Dir::Resp, p3)],
        )
    }

    #[test]
    fn hellos_through_sealed_initials() {
        for v in [V1, V2, 0xff00_001d] {
            let ev = run(v);
            let rows: Vec<_> = ev
                .iter()
                .filter_map(|e| match e {
                    botscope_event::Event::Ssl(s) => Some(s),
                    _ => None,
                })
                .collect();
            assert_eq!(rows.len(), 1, "{v:x}: {ev:?}");
            let r = rows[0];
            assert_eq!(r.server_name.as_deref(), Some("example.org"));
            assert_eq!(r.client_alpn, vec!["h3".to_string()]);
            assert_eq!(r.version.as_deref(), Some("TLSv13"));
            assert_eq!(r.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
            assert_eq!(r.curve.as_deref(), Some("x25519"));
            assert_eq!(r.ssl_history, "Cs");
            assert!(r
                .ja4
                .as_deref()
                .is_some_and(|j| j.starts_with("q13d0103h3_")));
        }
    }

    #[test]
    fn crypto_reassembly_out_of_order() {
        let mut s = CryptoStream::default();
        s.add(4, b"efgh", 100);
        assert!(s.data.is_empty());
        s.add(0, b"abcdef", 100);
        assert_eq!(s.data, b"abcdefgh");
        s.add(90, b"0123456789abc", 100);
        assert_eq!(s.overflow, 13);
    }
}
