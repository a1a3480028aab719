//! TLS / SSL analyzer: one `ssl.log` row per connection, with JA3, JA3S
//! and JA4 fingerprints.
//!
//! Records are reassembled per direction (a record may span calls; records
//! whose body we need are buffered up to
//! [`ProtoConfig::tls_max_record_bytes`], application data is skipped
//! without copying) and handshake messages are reassembled across records
//! (same cap). The hellos are decoded by [`hello`]; cipher suite names come
//! from `tls-parser`'s IANA table.
//!
//! **No panics on any input**: record and handshake lengths are checked
//! against the bytes present and the caps before use; a record header that
//! makes no sense stops the analysis of that direction with a weird.
//!
//! Zeek semantics (`scripts/base/protocols/ssl/main.zeek`, `consts.zeek`):
//! - `version` is the server's choice (`supported_versions` in TLS 1.3),
//!   named `SSLv2`, `SSLv3`, `TLSv10`..`TLSv13`, `TLSv13-draftNN`,
//!   `unknown-N`; `cipher` the IANA name or `unknown-N`; `curve` from the
//!   ECDHE ServerKeyExchange or the TLS 1.3 `key_share`;
//! - `resumed`: the server echoed the client's session id (not in TLS 1.3,
//!   where the id is always echoed) or accepted a pre-shared key;
//! - `established`: both sides sent ChangeCipherSpec (TLS <= 1.2), or both
//!   sent application-data records after the hellos (TLS 1.3);
//! - `last_alert`: the last alert seen in clear;
//! - `ssl_history`: Zeek's letters (upper case from the originator), capped
//!   at 100.
//!
//! The row is emitted as soon as the connection is established (nothing
//! after that is readable; the analyzer then returns [`Status::Done`]), or
//! at [`Analyzer::finish`].
//!
//! With a key log ([`ProtoConfig::tls_keylog`]) that holds the session's
//! secrets, records after the handshake are decrypted ([`decrypt`]) and
//! the application data is probed and analyzed as a stream of its own
//! (HTTP inside HTTPS gives `http.log` rows on this connection's uid);
//! the analyzer then reads on until the connection ends.

pub mod decrypt;
pub mod hello;

use botscope_event::{Event, Ssl, Ts};
use tls_parser::{TlsCipherKx, TlsCipherSuite};

use crate::nested::Nested;
use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};
use decrypt::{Decrypter, Plain};
use hello::{ClientHello, Reader, ServerHello};

/// Longest `ssl_history` kept (Zeek's `SSL::max_ssl_history_length`).
const MAX_HISTORY: usize = 100;
/// Largest legal TLS record body (2^14 + 2048).
const MAX_LEGAL_RECORD: usize = 18432;

const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPDATA: u8 = 23;
const CT_HEARTBEAT: u8 = 24;

/// Zeek's name for a protocol version.
pub fn version_name(v: u16) -> String {
    let s = match v {
        0x0002 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv10",
        0x0302 => "TLSv11",
        0x0303 => "TLSv12",
        0x0304 => "TLSv13",
        0xfeff => "DTLSv10",
        0xfefd => "DTLSv12",
        0xfefc => "DTLSv13",
        _ if v / 0xff == 0x7f => return format!("TLSv13-draft{}", v % 0x7f),
        _ => return format!("unknown-{v}"),
    };
    s.to_string()
}

/// IANA name of a cipher suite (`unknown-N` otherwise, like Zeek).
pub fn cipher_name(id: u32) -> String {
    let v2 = match id {
        0x01_0080 => Some("SSLv20_CK_RC4_128_WITH_MD5"),
        0x02_0080 => Some("SSLv20_CK_RC4_128_EXPORT40_WITH_MD5"),
        0x03_0080 => Some("SSLv20_CK_RC2_128_CBC_WITH_MD5"),
        0x04_0080 => Some("SSLv20_CK_RC2_128_CBC_EXPORT40_WITH_MD5"),
        0x05_0080 => Some("SSLv20_CK_IDEA_128_CBC_WITH_MD5"),
        0x06_0040 => Some("SSLv20_CK_DES_64_CBC_WITH_MD5"),
        0x07_00c0 => Some("SSLv20_CK_DES_192_EDE3_CBC_WITH_MD5"),
        _ => None,
    };
    if let Some(n) = v2 {
        return n.to_string();
    }
    u16::try_from(id)
        .ok()
        .and_then(TlsCipherSuite::from_id)
        .map(|c| c.name.to_string())
        .unwrap_or_else(|| format!("unknown-{id}"))
}

/// Zeek's name for a named group / curve.
pub fn curve_name(g: u16) -> String {
    let s = match g {
        1 => "sect163k1",
        2 => "sect163r1",
        3 => "sect163r2",
        4 => "sect193r1",
        5 => "sect193r2",
        6 => "sect233k1",
        7 => "sect233r1",
        8 => "sect239k1",
        9 => "sect283k1",
        10 => "sect283r1",
        11 => "sect409k1",
        12 => "sect409r1",
        13 => "sect571k1",
        14 => "sect571r1",
        15 => "secp160k1",
        16 => "secp160r1",
        17 => "secp160r2",
        18 => "secp192k1",
        19 => "secp192r1",
        20 => "secp224k1",
        21 => "secp224r1",
        22 => "secp256k1",
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        31 => "brainpoolP256r1tls13",
        32 => "brainpoolP384r1tls13",
        33 => "brainpoolP512r1tls13",
        34 => "GC256A",
        35 => "GC256B",
        36 => "GC256C",
        37 => "GC256D",
        38 => "GC512A",
        39 => "GC512B",
        40 => "GC512C",
        41 => "curveSM2",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        512 => "MLKEM512",
        513 => "MLKEM768",
        514 => "MLKEM1024",
        4587 => "SecP256r1MLKEM768",
        4588 => "X25519MLKEM768",
        4589 => "SecP384r1MLKEM1024",
        4590 => "curveSM2MLKEM768",
        16696 => "CECPQ2",
        25497 => "X25519Kyber768Draft00",
        25498 => "SecP256r1Kyber768Draft00",
        0xff01 => "arbitrary_explicit_prime_curves",
        0xff02 => "arbitrary_explicit_char2_curves",
        _ if hello::is_grease(g) => return format!("grease_0x{g:04X}"),
        _ => return format!("unknown-{g}"),
    };
    s.to_string()
}

/// Zeek's name for an alert description.
pub fn alert_name(d: u8) -> String {
    let s = match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        117 => "general_error",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => return format!("unknown-{d}"),
    };
    s.to_string()
}

/// Zeek's `ssl_history` letter for a handshake message type (upper case).
fn handshake_letter(t: u8) -> u8 {
    match t {
        0 => b'H',
        1 => b'C',
        2 => b'S',
        3 => b'V',
        4 => b'T',
        5 => b'E',
        6 => b'J',
        8 => b'O',
        11 => b'X',
        12 => b'K',
        13 => b'R',
        14 => b'N',
        15 => b'Y',
        16 => b'G',
        20 => b'F',
        21 => b'W',
        22 => b'U',
        23 => b'A',
        24 => b'P',
        254 => b'M',
        _ => b'Z',
    }
}

/// Is `h` a plausible TLS record header (type, version, length)?
fn record_header_ok(h: &[u8; 5]) -> bool {
    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
    (CT_CCS..=CT_HEARTBEAT).contains(&h[0]) && h[1] == 3 && h[2] <= 4 && len <= MAX_LEGAL_RECORD
}

/// Probe the first bytes a side sent: a TLS handshake record carrying a
/// ClientHello (or ServerHello), or an SSLv2 CLIENT-HELLO.
pub fn probe(_dir: Dir, data: &[u8]) -> Probe {
    let Some(&b0) = data.first() else {
        return Probe::Unsure;
    };
    if b0 == CT_HANDSHAKE {
        if data.get(1).is_some_and(|&b| b != 3) || data.get(2).is_some_and(|&b| b > 4) {
            return Probe::NotForUs;
        }
        let Some(h) = data.get(..6) else {
            return Probe::Unsure;
        };
        let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
        if !(4..=MAX_LEGAL_RECORD).contains(&len) {
            return Probe::NotForUs;
        }
        return if matches!(h[5], 1 | 2) {
            Probe::Certain
        } else {
            Probe::NotForUs
        };
    }
    if b0 & 0x80 != 0 {
        // SSLv2: 2-byte length, CLIENT-HELLO (1), version 0x0002 or 0x03xx.
        let Some(h) = data.get(..5) else {
            return if data.get(2).is_none_or(|&t| t == 1) {
                Probe::Unsure
            } else {
                Probe::NotForUs
            };
        };
        let len = (usize::from(b0 & 0x7f) << 8) | usize::from(h[1]);
        let v2 = h[3] == 0 && h[4] == 2;
        let v3 = h[3] == 3 && h[4] <= 4;
        if h[2] == 1 && (v2 || v3) && len >= 9 {
            return Probe::Certain;
        }
        return Probe::NotForUs;
    }
    Probe::NotForUs
}

/// Per-direction reassembly state.
#[derive(Default)]
struct Side {
    /// Partial record header.
    hdr: [u8; 5],
    hdr_len: usize,
    /// Content type and body of the record being buffered.
    rec_type: u8,
    body: Vec<u8>,
    body_need: usize,
    /// Bytes of a record body to pass over without looking.
    skip: usize,
    /// Handshake messages spanning records.
    hs: Vec<u8>,
    hs_dead: bool,
    records: u64,
    ccs: bool,
    app_data: bool,
    /// Stopped: the byte stream made no sense.
    dead: bool,
    /// The record being buffered is to be decrypted; its header.
    sealed: Option<[u8; 5]>,
}

/// `ssl.log` producer for one connection.
pub struct TlsAnalyzer {
    max_record: usize,
    max_certs: usize,
    /// Fed by [`crate::dtls`]: hellos carry a cookie, JA4 says `d`.
    dtls: bool,
    sides: [Side; 2],
    row: Ssl,
    start_ts: Option<Ts>,
    client_session_id: Vec<u8>,
    client_hello_seen: bool,
    /// Negotiated version and cipher, once the server has spoken.
    version: Option<u16>,
    cipher: Option<u16>,
    emitted: bool,
    client_random: Option<[u8; 32]>,
    server_random: Option<[u8; 32]>,
    /// Decryption with the key log, and what the plaintext carries.
    dec: Option<Box<(Decrypter, Nested)>>,
}

impl TlsAnalyzer {
    pub fn new(config: &ProtoConfig) -> Self {
        TlsAnalyzer {
            max_record: config.tls_max_record_bytes.max(5),
            max_certs: config.tls_max_certificates,
            dtls: false,
            sides: Default::default(),
            row: Ssl::default(),
            start_ts: None,
            client_session_id: Vec::new(),
            client_hello_seen: false,
            version: None,
            cipher: None,
            emitted: false,
            client_random: None,
            server_random: None,
            dec: None,
        }
    }

    /// An analyzer for the TLS stream [`crate::dtls`] rebuilds from
    /// DTLS records.
    pub fn new_dtls(config: &ProtoConfig) -> Self {
        TlsAnalyzer {
            dtls: true,
            ..Self::new(config)
        }
    }

    /// The peers play opposite roles to the connection's (the responder
    /// sent the ClientHello): Zeek marks it with `^` in `ssl_history`.
    /// The caller then feeds each side as the other direction.
    pub fn note_flip(&mut self) {
        if self.row.ssl_history.len() < MAX_HISTORY {
            self.row.ssl_history.push('^');
        }
    }

    fn tls13(&self) -> bool {
        self.version
            .is_some_and(|v| v == 0x0304 || v == 0xfefc || v >> 8 == 0x7f)
    }

    fn history(&mut self, dir: Dir, letter: u8) {
        if self.row.ssl_history.len() < MAX_HISTORY {
            let c = if dir.is_orig() {
                letter.to_ascii_uppercase()
            } else {
                letter.to_ascii_lowercase()
            };
            self.row.ssl_history.push(char::from(c));
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

    fn check_established(&mut self) {
        if self.row.established || self.version.is_none() {
            return;
        }
        let [o, r] = &self.sides;
        let done = if self.tls13() {
            o.app_data && r.app_data
        } else {
            o.ccs && r.ccs
        };
        if done {
            self.row.established = true;
        }
    }

    /// Feed one direction's bytes through record reassembly.
    fn feed(&mut self, ctx: &mut Ctx<'_>, dir: Dir, mut data: &[u8]) {
        let si = usize::from(!dir.is_orig());
        while !data.is_empty() && !self.sides[si].dead && (!self.emitted || self.dec.is_some()) {
            let tls13 = self.tls13();
            let sslv2 = self.version == Some(0x0002);
            let side = &mut self.sides[si];
            if side.skip > 0 {
                let n = side.skip.min(data.len());
                side.skip -= n;
                data = &data[n..];
                continue;
            }
            if side.body_need > 0 {
                let n = side.body_need.min(data.len());
                side.body.extend_from_slice(&data[..n]);
                side.body_need -= n;
                data = &data[n..];
                if side.body_need == 0 {
                    let body = std::mem::take(&mut side.body);
                    let t = side.rec_type;
                    if let Some(hdr) = side.sealed.take() {
                        self.sealed_record(ctx, dir, hdr, body);
                        continue;
                    }
                    self.record(ctx, dir, t, &body);
                    let mut body = body;
                    body.clear();
                    self.sides[si].body = body;
                }
                continue;
            }
            // Record header.
            let n = (5 - side.hdr_len).min(data.len());
            side.hdr[side.hdr_len..side.hdr_len + n].copy_from_slice(&data[..n]);
            side.hdr_len += n;
            data = &data[n..];
            if side.hdr_len < 5 {
                return;
            }
            side.hdr_len = 0;
            let h = side.hdr;
            let first = side.records == 0;
            side.records += 1;
            if first && h[0] & 0x80 != 0 {
                // SSLv2 record: 2-byte header, the 3 bytes read belong to
                // the body.
                let len = (usize::from(h[0] & 0x7f) << 8) | usize::from(h[1]);
                if len < 3 {
                    side.dead = true;
                    ctx.weird("SSLv2_record_too_short", None);
                    return;
                }
                side.rec_type = 0x80;
                side.body.clear();
                side.body.extend_from_slice(&h[2..]);
                side.body_need = len - 3;
                if side.body_need == 0 {
                    let body = std::mem::take(&mut side.body);
                    self.record(ctx, dir, 0x80, &body);
                }
                continue;
            }
            if sslv2 {
                // After an SSLv2 exchange everything is SSLv2 and encrypted.
                side.dead = true;
                return;
            }
            let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
            if !record_header_ok(&h) {
                // A protocol violation: like Zeek, which removes the
                // analyzer, nothing more is read from either side.
                for s in &mut self.sides {
                    s.dead = true;
                }
                ctx.weird(
                    "SSL_bad_record_header",
                    Some(format!("{:02x}{:02x}{:02x} len={len}", h[0], h[1], h[2])),
                );
                return;
            }
            let encrypted_hs = h[0] == CT_HANDSHAKE && side.ccs && !tls13;
            let encrypted_alert = h[0] == CT_ALERT && side.ccs && !tls13;
            if h[0] == CT_APPDATA || encrypted_hs || encrypted_alert {
                let readable = self.dec.as_ref().is_some_and(|d| d.0.alive(dir.is_orig()))
                    && len <= MAX_LEGAL_RECORD;
                if h[0] == CT_APPDATA {
                    side.app_data = true;
                }
                if readable {
                    side.sealed = Some(h);
                    side.rec_type = h[0];
                    side.body.clear();
                    side.body_need = len;
                    if len == 0 {
                        side.sealed = None;
                    }
                } else if encrypted_alert && len <= self.max_record {
                    // Read as before: an alert's length tells it is
                    // encrypted.
                    side.rec_type = h[0];
                    side.body.clear();
                    side.body_need = len;
                } else {
                    side.skip = len;
                }
                if h[0] == CT_APPDATA {
                    self.check_established();
                }
                continue;
            }
            if len > self.max_record {
                side.skip = len;
                ctx.weird("SSL_record_too_large", Some(len.to_string()));
                continue;
            }
            if data.len() >= len {
                // Zero-copy: the whole body is in this call.
                let (body, rest) = data.split_at(len);
                data = rest;
                self.record(ctx, dir, h[0], body);
            } else {
                side.rec_type = h[0];
                side.body.clear();
                side.body.reserve(len);
                side.body_need = len;
            }
        }
    }

    /// One complete record body.
    fn record(&mut self, ctx: &mut Ctx<'_>, dir: Dir, ct: u8, body: &[u8]) {
        match ct {
            CT_CCS => {
                self.history(dir, b'I');
                self.sides[usize::from(!dir.is_orig())].ccs = true;
                self.check_established();
            }
            // Encrypted alerts are longer than one level/description pair.
            CT_ALERT
                if body.len() == 2 || (body.len().is_multiple_of(2) && !self.sides_ccs(dir)) =>
            {
                for a in body.chunks_exact(2) {
                    self.history(dir, b'L');
                    self.row.last_alert = Some(alert_name(a[1]));
                }
            }
            CT_HANDSHAKE => self.handshake_record(ctx, dir, body),
            CT_HEARTBEAT => self.history(dir, b'B'),
            0x80 => self.sslv2(ctx, dir, body),
            _ => {}
        }
    }

    /// A record to decrypt: its plaintext application data goes to the
    /// nested analyzer.
    fn sealed_record(&mut self, ctx: &mut Ctx<'_>, dir: Dir, hdr: [u8; 5], mut body: Vec<u8>) {
        let Some(d) = self.dec.as_mut() else { return };
        let (dec, nested) = &mut **d;
        match dec.open(dir.is_orig(), hdr, &mut body) {
            Some((Plain::AppData, r)) => nested.data(ctx, dir, &body[r]),
            Some((Plain::Other(_), _)) => {}
            None => ctx.weird(
                "SSL_decrypt_failed",
                Some(format!("{dir:?} record of {} bytes", body.len())),
            ),
        }
        if !dec.alive(true) && !dec.alive(false) {
            let (_, mut nested) = *self.dec.take().expect("checked above");
            nested.finish(ctx);
        }
        let si = usize::from(!dir.is_orig());
        let mut body = body;
        body.clear();
        self.sides[si].body = body;
    }

    /// After the ServerHello: the session's keys, when the key log holds
    /// them.
    fn start_decryption(&mut self, ctx: &mut Ctx<'_>) {
        let (Some(log), Some(cr), Some(sr), Some(cipher)) = (
            ctx.config.tls_keylog.as_ref(),
            self.client_random,
            self.server_random,
            self.cipher,
        ) else {
            return;
        };
        if self.dec.is_some() || self.dtls {
            return;
        }
        let Some(secrets) = log.get(&cr) else { return };
        match Decrypter::new(secrets, &cr, &sr, self.tls13(), cipher) {
            Ok(d) => {
                let n = Nested::new(ctx.config, ctx.id.orig_p, ctx.id.resp_p);
                self.dec = Some(Box::new((d, n)));
            }
            Err(decrypt::NoDecrypt::UnsupportedCipher) => ctx.weird(
                "SSL_decrypt_unsupported_cipher",
                Some(cipher_name(u32::from(cipher))),
            ),
            Err(decrypt::NoDecrypt::MissingSecrets) => {
                ctx.weird("SSL_decrypt_missing_secrets", None)
            }
        }
    }

    fn sides_ccs(&self, dir: Dir) -> bool {
        self.sides[usize::from(!dir.is_orig())].ccs
    }

    /// One handshake record body. Messages spanning records are buffered
    /// in `Side::hs`; each byte is copied there once, and the buffer is
    /// parsed again only once the length its first message announced has
    /// arrived, so tiny records cost linear time.
    fn handshake_record(&mut self, ctx: &mut Ctx<'_>, dir: Dir, body: &[u8]) {
        let si = usize::from(!dir.is_orig());
        let max = self.max_record;
        let side = &mut self.sides[si];
        if side.hs_dead {
            return;
        }
        if side.hs.is_empty() {
            let used = self.handshake_messages(ctx, dir, body);
            let side = &mut self.sides[si];
            if !side.hs_dead {
                side.hs
                    .extend_from_slice(body.get(used..).unwrap_or_default());
            }
            return;
        }
        side.hs.extend_from_slice(body);
        let need = match *side.hs.as_slice() {
            [_, a, b, c, ..] => {
                let len = (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c);
                // Over the cap: parse now, which reports it.
                if len > max {
                    0
                } else {
                    4 + len
                }
            }
            _ => 4,
        };
        if side.hs.len() < need {
            return;
        }
        let hs = std::mem::take(&mut side.hs);
        let used = self.handshake_messages(ctx, dir, &hs);
        let side = &mut self.sides[si];
        if !side.hs_dead {
            let mut hs = hs;
            // Only the consumed prefix goes; what stays is at most what
            // this record added.
            hs.drain(..used.min(hs.len()));
            side.hs = hs;
        }
    }

    /// Handle the whole handshake messages at the start of `input`;
    /// returns how many bytes they took.
    fn handshake_messages(&mut self, ctx: &mut Ctx<'_>, dir: Dir, input: &[u8]) -> usize {
        let mut pos = 0;
        while let Some(&[t, a, b, c]) = input.get(pos..).and_then(|r| r.get(..4)) {
            let len = (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c);
            if len > self.max_record {
                ctx.weird("SSL_handshake_too_large", Some(len.to_string()));
                self.sides[usize::from(!dir.is_orig())].hs_dead = true;
                return input.len();
            }
            let Some(msg) = input.get(pos + 4..pos + 4 + len) else {
                break;
            };
            pos += 4 + len;
            self.handshake(ctx, dir, t, msg);
        }
        pos
    }

    fn handshake(&mut self, ctx: &mut Ctx<'_>, dir: Dir, t: u8, msg: &[u8]) {
        match t {
            1 => {
                self.history(dir, b'C');
                let parsed = if self.dtls {
                    ClientHello::parse_dtls(msg)
                } else {
                    ClientHello::parse(msg)
                };
                let Some(ch) = parsed else {
                    ctx.weird("SSL_bad_client_hello", None);
                    return;
                };
                if ch.truncated {
                    ctx.weird("SSL_client_hello_ext_overflow", None);
                }
                if self.row.server_name.is_none() {
                    self.row.server_name = ch.server_name.clone();
                }
                if self.client_random.is_none() {
                    self.client_random = msg.get(2..34).and_then(|r| r.try_into().ok());
                }
                if !self.client_hello_seen {
                    self.client_hello_seen = true;
                    self.row.client_alpn = ch.alpn.clone();
                    self.row.ja3 = Some(ch.ja3());
                    self.row.ja4 = Some(if self.dtls {
                        ch.ja4_over('d')
                    } else {
                        ch.ja4()
                    });
                    self.client_session_id = ch.session_id;
                }
            }
            2 | 6 => {
                let Some(sh) = ServerHello::parse(msg) else {
                    self.history(dir, handshake_letter(t));
                    ctx.weird("SSL_bad_server_hello", None);
                    return;
                };
                self.history(dir, if sh.retry { b'J' } else { handshake_letter(t) });
                self.version = Some(sh.version);
                self.cipher = Some(sh.cipher);
                self.row.version = Some(version_name(sh.version));
                self.row.cipher = Some(cipher_name(u32::from(sh.cipher)));
                if let Some(g) = sh.key_share_group {
                    self.row.curve = Some(curve_name(g));
                }
                if sh.alpn.is_some() {
                    self.row.next_protocol = sh.alpn.clone();
                }
                let tls13 = self.tls13();
                if sh.psk
                    || (!tls13
                        && !sh.session_id.is_empty()
                        && sh.session_id == self.client_session_id)
                {
                    self.row.resumed = true;
                }
                if !sh.retry {
                    self.row.ja3s = Some(sh.ja3s());
                    self.server_random = msg.get(2..34).and_then(|r| r.try_into().ok());
                    self.start_decryption(ctx);
                }
            }
            11 => {
                self.history(dir, b'X');
                if !self.tls13() {
                    self.certificates(ctx, dir, msg);
                }
            }
            12 => {
                self.history(dir, b'K');
                let ecdhe = self
                    .cipher
                    .and_then(TlsCipherSuite::from_id)
                    .is_some_and(|c| matches!(c.kx, TlsCipherKx::Ecdhe | TlsCipherKx::Ecdh));
                // ECParameters: curve_type 3 (named_curve), then the group.
                if let (true, [3, hi, lo, ..]) = (ecdhe, msg) {
                    self.row.curve = Some(curve_name(u16::from_be_bytes([*hi, *lo])));
                }
            }
            _ => self.history(dir, handshake_letter(t)),
        }
    }

    /// A TLS <= 1.2 Certificate message: a 3-byte list length, then
    /// certificates each with a 3-byte length. Each certificate becomes an
    /// `x509.log` event; the fingerprints fill the chain columns.
    fn certificates(&mut self, ctx: &mut Ctx<'_>, dir: Dir, msg: &[u8]) {
        let mut r = Reader::new(msg);
        let Some(list) = r.u24().and_then(|n| r.take(n)) else {
            ctx.weird("SSL_bad_certificate_message", None);
            return;
        };
        let client = dir.is_orig();
        // Once any certificate is seen both chains are set (Zeek).
        let chain = self.row.cert_chain_fps.get_or_insert_with(Vec::new);
        let mut fps = std::mem::take(if client {
            self.row.client_cert_chain_fps.get_or_insert_with(Vec::new)
        } else {
            chain
        });
        self.row.client_cert_chain_fps.get_or_insert_with(Vec::new);
        let mut r = Reader::new(list);
        let mut skipped = 0usize;
        while let Some(der) = r.u24().and_then(|n| r.take(n)) {
            if fps.len() >= self.max_certs {
                skipped += 1;
                continue;
            }
            let first = fps.is_empty();
            let fp = match crate::x509::parse(der) {
                Some(mut cert) => {
                    cert.meta = Some(ctx.meta());
                    cert.host_cert = first && !client;
                    cert.client_cert = client;
                    if cert.host_cert {
                        if let Some(sni) = &self.row.server_name {
                            self.row.sni_matches_cert =
                                Some(crate::x509::hostname_matches(&cert, sni));
                        }
                        self.row.subject = Some(cert.subject.clone());
                        self.row.issuer = Some(cert.issuer.clone());
                    }
                    if first && client {
                        self.row.client_subject = Some(cert.subject.clone());
                        self.row.client_issuer = Some(cert.issuer.clone());
                    }
                    let fp = cert.fingerprint.clone();
                    ctx.emit(Event::X509(cert));
                    fp
                }
                None => {
                    let fp = crate::x509::fingerprint(der);
                    ctx.weird("x509_certificate_parse_error", Some(fp.clone()));
                    fp
                }
            };
            fps.push(fp);
        }
        if skipped > 0 {
            ctx.weird("SSL_too_many_certificates", Some(skipped.to_string()));
        }
        if !r.rest().is_empty() {
            ctx.weird("SSL_bad_certificate_message", None);
        }
        if client {
            self.row.client_cert_chain_fps = Some(fps);
        } else {
            self.row.cert_chain_fps = Some(fps);
        }
    }

    /// An SSLv2 record body (after the 2-byte header).
    fn sslv2(&mut self, ctx: &mut Ctx<'_>, dir: Dir, body: &[u8]) {
        let mut r = Reader::new(body);
        match r.u8() {
            // CLIENT-HELLO: version, cipher-specs len, session-id len,
            // challenge len, cipher specs (3 bytes each), ...
            Some(1) => {
                self.history(dir, b'C');
                let (Some(_v), Some(cs_len), Some(_sid), Some(_ch)) =
                    (r.u16(), r.u16(), r.u16(), r.u16())
                else {
                    ctx.weird("SSLv2_bad_client_hello", None);
                    return;
                };
                if r.take(usize::from(cs_len)).is_none() {
                    ctx.weird("SSLv2_bad_client_hello", None);
                }
                self.client_hello_seen = true;
            }
            // SERVER-HELLO: session-id-hit, cert type, version, cert len,
            // cipher-specs len, connection-id len, cert, cipher specs.
            Some(4) => {
                self.history(dir, b'S');
                let (Some(_hit), Some(_ct), Some(v), Some(cert_len), Some(cs_len), Some(_cid)) =
                    (r.u8(), r.u8(), r.u16(), r.u16(), r.u16(), r.u16())
                else {
                    ctx.weird("SSLv2_bad_server_hello", None);
                    return;
                };
                self.version = Some(v);
                self.row.version = Some(version_name(v));
                let _ = r.take(usize::from(cert_len));
                if let Some([a, b, c, ..]) = r.take(usize::from(cs_len)) {
                    let id = (u32::from(*a) << 16) | (u32::from(*b) << 8) | u32::from(*c);
                    self.row.cipher = Some(cipher_name(id));
                }
            }
            _ => {}
        }
    }
}

impl Analyzer for TlsAnalyzer {
    fn service(&self) -> botscope_event::Service {
        botscope_event::Service::SSL
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        if self.emitted && self.dec.is_none() {
            return Status::Done;
        }
        if self.start_ts.is_none() {
            self.start_ts = Some(ctx.ts);
        }
        self.feed(ctx, dir, data);
        if !self.emitted && self.row.established && self.row.version.is_some() {
            self.emit(ctx);
        }
        if self.emitted {
            return if self.dec.is_some() {
                Status::Continue
            } else {
                Status::Done
            };
        }
        let nothing_parsed = !self.client_hello_seen && self.version.is_none();
        if self.sides.iter().any(|s| s.dead) && nothing_parsed {
            return Status::Violation;
        }
        if self.sides.iter().all(|s| s.dead) {
            return Status::Done;
        }
        Status::Continue
    }

    fn gap(&mut self, ctx: &mut Ctx<'_>, dir: Dir, len: u64) -> Status {
        let si = usize::from(!dir.is_orig());
        let side = &mut self.sides[si];
        // Inside a skipped body the gap costs nothing.
        if side.skip > 0 && side.hdr_len == 0 && len <= side.skip as u64 {
            side.skip -= len as usize;
            return Status::Continue;
        }
        ctx.weird("SSL_content_gap", Some(format!("{dir:?} {len}")));
        side.dead = true;
        if let Some(d) = &mut self.dec {
            // Record framing is lost: the plaintext stream has a hole.
            d.1.gap(ctx, dir, len);
        }
        if self.sides.iter().all(|s| s.dead) {
            return Status::Done;
        }
        Status::Continue
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(mut d) = self.dec.take() {
            d.1.finish(ctx);
        }
        if self.client_hello_seen || self.version.is_some() || !self.row.ssl_history.is_empty() {
            self.emit(ctx);
        }
    }
}
