//! TLS decryption with a key log (the NSS `SSLKEYLOGFILE` format that
//! browsers, curl, sandboxes and Wireshark use).
//!
//! Supported: TLS 1.2 AEAD suites (AES-128/256-GCM, ChaCha20-Poly1305;
//! key block from the `CLIENT_RANDOM` master secret) and TLS 1.3 (AES-GCM,
//! ChaCha20-Poly1305; keys from the `*_HANDSHAKE_TRAFFIC_SECRET` and
//! `*_TRAFFIC_SECRET_0` lines). CBC suites, RSA-exported pre-master lines
//! and TLS 1.3 key updates are not: the connection is read as without
//! keys (weird `SSL_decrypt_unsupported_cipher`, `SSL_decrypt_failed`).
//!
//! A record is authenticated by its AEAD tag before anything is handed
//! on, so a wrong key or a lost record never yields garbage: decryption
//! of that direction stops instead. Every length is checked; never
//! panics.

use std::collections::HashMap;
use std::path::Path;

use ring::aead::{
    Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305,
};
use ring::hkdf::{Prk, HKDF_SHA256, HKDF_SHA384};
use ring::hmac;

/// The secrets of one session, by the key log's labels.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    /// `CLIENT_RANDOM`: the TLS <= 1.2 master secret (48 bytes).
    pub master: Option<Vec<u8>>,
    pub client_hs: Option<Vec<u8>>,
    pub server_hs: Option<Vec<u8>>,
    pub client_app: Option<Vec<u8>>,
    pub server_app: Option<Vec<u8>>,
}

/// A key log: secrets by client random.
#[derive(Clone, Debug, Default)]
pub struct KeyLog {
    sessions: HashMap<[u8; 32], Secrets>,
    /// Lines that were neither a known label nor a comment or blank.
    pub skipped: usize,
}

/// Most sessions a key log holds (a log is one line per session, a
/// long-running browser's can be large; beyond, lines are skipped).
const MAX_SESSIONS: usize = 1 << 20;

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl KeyLog {
    /// Parse key-log text. Unknown labels and malformed lines are counted
    /// in [`KeyLog::skipped`].
    pub fn parse(text: &str) -> KeyLog {
        let mut k = KeyLog::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut f = line.split_ascii_whitespace();
            let (Some(label), Some(cr), Some(secret), None) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                k.skipped += 1;
                continue;
            };
            let (Some(cr), Some(secret)) = (unhex(cr), unhex(secret)) else {
                k.skipped += 1;
                continue;
            };
            let Ok(cr) = <[u8; 32]>::try_from(cr.as_slice()) else {
                k.skipped += 1;
                continue;
            };
            if k.sessions.len() >= MAX_SESSIONS && !k.sessions.contains_key(&cr) {
                k.skipped += 1;
                continue;
            }
            let s = k.sessions.entry(cr).or_default();
            let slot = match label {
                "CLIENT_RANDOM" if secret.len() == 48 => &mut s.master,
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut s.client_hs,
                "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut s.server_hs,
                "CLIENT_TRAFFIC_SECRET_0" => &mut s.client_app,
                "SERVER_TRAFFIC_SECRET_0" => &mut s.server_app,
                _ => {
                    k.skipped += 1;
                    continue;
                }
            };
            *slot = Some(secret);
        }
        k.sessions.retain(|_, s| {
            s.master.is_some()
                || s.client_hs.is_some()
                || s.server_hs.is_some()
                || s.client_app.is_some()
                || s.server_app.is_some()
        });
        k
    }

    /// Read a key-log file.
    pub fn load(path: &Path) -> std::io::Result<KeyLog> {
        let bytes = std::fs::read(path)?;
        Ok(KeyLog::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn get(&self, client_random: &[u8]) -> Option<&Secrets> {
        <[u8; 32]>::try_from(client_random)
            .ok()
            .and_then(|cr| self.sessions.get(&cr))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aead {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha,
}

impl Aead {
    fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm | Aead::ChaCha => 32,
        }
    }

    fn ring(self) -> &'static ring::aead::Algorithm {
        match self {
            Aead::Aes128Gcm => &AES_128_GCM,
            Aead::Aes256Gcm => &AES_256_GCM,
            Aead::ChaCha => &CHACHA20_POLY1305,
        }
    }
}

/// The AEAD and the PRF/HKDF hash of a cipher suite (`true` = SHA-384).
fn suite(cipher: u16) -> Option<(Aead, bool)> {
    Some(match cipher {
        0x1301 => (Aead::Aes128Gcm, false),
        0x1302 => (Aead::Aes256Gcm, true),
        0x1303 => (Aead::ChaCha, false),
        0x009c | 0x009e | 0x00a0 | 0x00a2 | 0x00a4 | 0x00a8 | 0x00aa | 0x00ac | 0xc02b | 0xc02d
        | 0xc02f | 0xc031 => (Aead::Aes128Gcm, false),
        0x009d | 0x009f | 0x00a1 | 0x00a3 | 0x00a5 | 0x00a9 | 0x00ab | 0x00ad | 0xc02c | 0xc02e
        | 0xc030 | 0xc032 => (Aead::Aes256Gcm, true),
        0xcca8..=0xccae => (Aead::ChaCha, false),
        _ => return None,
    })
}

/// One direction's key: the AEAD key and its IV (4 bytes implicit salt
/// for TLS 1.2 GCM, 12 bytes otherwise).
struct DirKey {
    key: LessSafeKey,
    iv: [u8; 12],
    iv_len: usize,
}

impl DirKey {
    fn new(a: Aead, key: &[u8], iv: &[u8]) -> Option<DirKey> {
        let key = LessSafeKey::new(UnboundKey::new(a.ring(), key).ok()?);
        let mut v = [0u8; 12];
        v.get_mut(..iv.len())?.copy_from_slice(iv);
        Some(DirKey {
            key,
            iv: v,
            iv_len: iv.len(),
        })
    }
}

/// TLS 1.2 PRF (RFC 5246 §5): P_hash over `label || seed`.
fn prf(sha384: bool, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    let alg = if sha384 {
        hmac::HMAC_SHA384
    } else {
        hmac::HMAC_SHA256
    };
    let key = hmac::Key::new(alg, secret);
    let mut ls = Vec::with_capacity(label.len() + seed.len());
    ls.extend_from_slice(label);
    ls.extend_from_slice(seed);
    let mut a = hmac::sign(&key, &ls);
    let mut done = 0;
    while done < out.len() {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(a.as_ref());
        ctx.update(&ls);
        let block = ctx.sign();
        let n = block.as_ref().len().min(out.len() - done);
        out[done..done + n].copy_from_slice(&block.as_ref()[..n]);
        done += n;
        a = hmac::sign(&key, a.as_ref());
    }
}

/// Keys of TLS 1.3 traffic secret `secret`.
fn tls13_key(a: Aead, sha384: bool, secret: &[u8]) -> Option<DirKey> {
    let alg = if sha384 { HKDF_SHA384 } else { HKDF_SHA256 };
    let prk = Prk::new_less_safe(alg, secret);
    let mut key = vec![0u8; a.key_len()];
    let mut iv = [0u8; 12];
    crate::quic::expand_label(&prk, b"key", &mut key)?;
    crate::quic::expand_label(&prk, b"iv", &mut iv)?;
    DirKey::new(a, &key, &iv)
}

/// What a decrypted record holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Plain {
    /// Application data.
    AppData,
    /// Anything else (handshake, alert): not handed on.
    Other(u8),
}

/// One direction's decryption state: candidate keys in the order the
/// protocol uses them (TLS 1.3: handshake, then application), the one in
/// use and its record sequence number.
struct DirState {
    keys: Vec<DirKey>,
    at: usize,
    seq: u64,
    dead: bool,
}

/// Decryption of one connection.
pub struct Decrypter {
    tls13: bool,
    aead: Aead,
    sides: [DirState; 2],
    /// Records decrypted and failed, for the caller's weirds.
    pub failures: u64,
}

/// Why a connection cannot be decrypted although its keys are logged.
#[derive(Debug, PartialEq, Eq)]
pub enum NoDecrypt {
    UnsupportedCipher,
    MissingSecrets,
}

impl Decrypter {
    /// The decrypter of a session, from its hellos' randoms, the
    /// negotiated version and cipher suite and its logged secrets.
    pub fn new(
        secrets: &Secrets,
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        tls13: bool,
        cipher: u16,
    ) -> Result<Decrypter, NoDecrypt> {
        let (aead, sha384) = suite(cipher).ok_or(NoDecrypt::UnsupportedCipher)?;
        let mut sides: [DirState; 2] = std::array::from_fn(|_| DirState {
            keys: Vec::new(),
            at: 0,
            seq: 0,
            dead: false,
        });
        if tls13 {
            let pairs = [
                (&secrets.client_hs, &secrets.client_app),
                (&secrets.server_hs, &secrets.server_app),
            ];
            for (side, (hs, app)) in sides.iter_mut().zip(pairs) {
                for s in [hs, app].into_iter().flatten() {
                    if let Some(k) = tls13_key(aead, sha384, s) {
                        side.keys.push(k);
                    }
                }
            }
        } else {
            let master = secrets.master.as_ref().ok_or(NoDecrypt::MissingSecrets)?;
            let (kl, il) = match aead {
                Aead::ChaCha => (32, 12),
                _ => (aead.key_len(), 4),
            };
            let mut seed = [0u8; 64];
            seed[..32].copy_from_slice(server_random);
            seed[32..].copy_from_slice(client_random);
            let mut block = vec![0u8; 2 * (kl + il)];
            prf(sha384, master, b"key expansion", &seed, &mut block);
            let (ck, rest) = block.split_at(kl);
            let (sk, rest) = rest.split_at(kl);
            let (ci, si) = rest.split_at(il);
            for (side, (k, iv)) in sides.iter_mut().zip([(ck, ci), (sk, si)]) {
                if let Some(d) = DirKey::new(aead, k, iv) {
                    side.keys.push(d);
                }
            }
        }
        if sides.iter().all(|s| s.keys.is_empty()) {
            return Err(NoDecrypt::MissingSecrets);
        }
        Ok(Decrypter {
            tls13,
            aead,
            sides,
            failures: 0,
        })
    }

    /// Whether `orig`'s direction can still be decrypted.
    pub fn alive(&self, orig: bool) -> bool {
        let s = &self.sides[usize::from(!orig)];
        !s.dead && !s.keys.is_empty()
    }

    /// Decrypt one record of direction `orig` (`header`: its 5 header
    /// bytes; `body`: the record body, decrypted in place). Returns the
    /// plaintext's kind and range inside `body`, or `None` when the
    /// record does not authenticate under any key still ahead (the
    /// direction is then given up).
    pub fn open(
        &mut self,
        orig: bool,
        header: [u8; 5],
        body: &mut [u8],
    ) -> Option<(Plain, std::ops::Range<usize>)> {
        let tls13 = self.tls13;
        let aead = self.aead;
        let side = &mut self.sides[usize::from(!orig)];
        if side.dead || side.keys.is_empty() {
            return None;
        }
        let explicit = !tls13 && aead != Aead::ChaCha;
        let start = if explicit { 8 } else { 0 };
        if body.len() < start + 16 {
            side.dead = true;
            self.failures += 1;
            return None;
        }
        // Try the key in use, then (TLS 1.3) the next ones from sequence 0.
        let mut copy: Option<Vec<u8>> = None;
        for (k, at) in (side.at..side.keys.len()).enumerate() {
            let seq = if k == 0 { side.seq } else { 0 };
            let dk = &side.keys[at];
            let mut nonce = [0u8; 12];
            if explicit {
                nonce[..4].copy_from_slice(&dk.iv[..4]);
                nonce[4..].copy_from_slice(&body[..8]);
            } else {
                nonce.copy_from_slice(&dk.iv);
                for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                    *n ^= s;
                }
            }
            debug_assert!(dk.iv_len == 4 || dk.iv_len == 12);
            let mut aad = [0u8; 13];
            let aad: &[u8] = if tls13 {
                &header
            } else {
                let plen = (body.len() - start - 16) as u16;
                aad[..8].copy_from_slice(&seq.to_be_bytes());
                aad[8..11].copy_from_slice(&header[..3]);
                aad[11..].copy_from_slice(&plen.to_be_bytes());
                &aad
            };
            // A failed open leaves the buffer unspecified: keep the
            // ciphertext for the next key.
            if side.keys.len() - side.at > 1 && copy.is_none() {
                copy = Some(body.to_vec());
            } else if let Some(c) = &copy {
                body.copy_from_slice(c);
            }
            let ok = dk
                .key
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    &mut body[start..],
                )
                .map(|p| p.len())
                .ok();
            if let Some(plen) = ok {
                side.at = at;
                side.seq = seq.wrapping_add(1);
                let mut range = start..start + plen;
                if !tls13 {
                    return Some((
                        if header[0] == 23 {
                            Plain::AppData
                        } else {
                            Plain::Other(header[0])
                        },
                        range,
                    ));
                }
                // TLS 1.3 inner plaintext: content, the real type, zeros.
                while range.end > range.start && body[range.end - 1] == 0 {
                    range.end -= 1;
                }
                if range.end == range.start {
                    return Some((Plain::Other(0), range));
                }
                let ct = body[range.end - 1];
                range.end -= 1;
                return Some((
                    if ct == 23 {
                        Plain::AppData
                    } else {
                        Plain::Other(ct)
                    },
                    range,
                ));
            }
        }
        side.dead = true;
        self.failures += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_log_lines() {
        let cr = "11".repeat(32);
        let text = format!(
            "# comment\n\nCLIENT_RANDOM {cr} {}\nCLIENT_TRAFFIC_SECRET_0 {cr} {}\nBOGUS {cr} 00\nCLIENT_RANDOM zz 00\nCLIENT_RANDOM {cr} 0011\n",
            "ab".repeat(48),
            "cd".repeat(32)
        );
        let k = KeyLog::parse(&text);
        assert_eq!(k.len(), 1);
        assert_eq!(k.skipped, 3);
        let s = k.get(&[0x11; 32]).expect("session");
        assert_eq!(s.master.as_deref(), Some(&[0xab; 48][..]));
        assert_eq!(s.client_app.as_deref(), Some(&[0xcd; 32][..]));
        assert!(k.get(&[0x12; 32]).is_none());
    }

    #[test]
    fn prf_sha256_known_answer() {
        // The TLS 1.2 PRF test vector published with the IETF TLS WG
        // discussion (secret, "test label", seed; first 100 bytes).
        let secret = unhex("9bbe436ba940f017b17652849a71db35").unwrap();
        let seed = unhex("a0ba9f936cda311827a6f796ffd5198c").unwrap();
        let mut out = [0u8; 32];
        prf(false, &secret, b"test label", &seed, &mut out);
        assert_eq!(
            hex::encode(out),
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
        );
    }

    #[test]
    fn tls12_gcm_round_trip_and_wrong_keys() {
        let secrets = Secrets {
            master: Some(vec![7; 48]),
            ..Default::default()
        };
        let (cr, sr) = ([1u8; 32], [2u8; 32]);
        let mut d = Decrypter::new(&secrets, &cr, &sr, false, 0xc02f).expect("keys");
        // Seal a record the way a client would, with the same keys.
        let mut block = vec![0u8; 40];
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(&sr);
        seed[32..].copy_from_slice(&cr);
        prf(false, &[7; 48], b"key expansion", &seed, &mut block);
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &block[..16]).unwrap());
        for seq in 0u64..3 {
            let explicit = [9u8, 8, 7, 6, 5, 4, 3, seq as u8];
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&block[32..36]);
            nonce[4..].copy_from_slice(&explicit);
            let msg = format!("GET /{seq} HTTP/1.1\r\n\r\n");
            let mut aad = [0u8; 13];
            aad[..8].copy_from_slice(&seq.to_be_bytes());
            aad[8..11].copy_from_slice(&[23, 3, 3]);
            aad[11..].copy_from_slice(&(msg.len() as u16).to_be_bytes());
            let mut buf = msg.as_bytes().to_vec();
            key.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .unwrap();
            let mut body = explicit.to_vec();
            body.extend_from_slice(&buf);
            let len = body.len() as u16;
            let hdr = [23, 3, 3, (len >> 8) as u8, len as u8];
            let (kind, r) = d.open(true, hdr, &mut body).expect("opens");
            assert_eq!(kind, Plain::AppData);
            assert_eq!(&body[r], msg.as_bytes());
        }
        // A tampered record does not open, and the direction stops.
        let mut junk = vec![0u8; 60];
        assert!(d.open(true, [23, 3, 3, 0, 60], &mut junk).is_none());
        assert!(!d.alive(true));
        assert!(d.alive(false));
        // Short bodies and unknown suites.
        assert!(d.open(false, [23, 3, 3, 0, 3], &mut [0u8; 3]).is_none());
        assert!(Decrypter::new(&secrets, &cr, &sr, false, 0x002f).is_err());
        assert!(Decrypter::new(&Secrets::default(), &cr, &sr, false, 0xc02f).is_err());
    }
}
