//! DTLS (TLS over UDP, RFC 6347 / 9147): an `ssl.log` row per connection.
//!
//! DTLS records carry an epoch and sequence number, and handshake messages
//! carry a message sequence and may be fragmented and retransmitted. This
//! module undoes exactly that: it reassembles each handshake message of
//! epoch 0 (in-order fragments, bounded by
//! [`ProtoConfig::tls_max_record_bytes`]), drops retransmissions, and
//! hands the result to the TLS analyzer as the byte stream TLS would have
//! sent, so versions (`DTLSv10`, `DTLSv12`), ciphers, history letters,
//! certificates (`x509.log`) and fingerprints (JA4 `d` form) come from one
//! place. Datagrams that are not DTLS (STUN or RTP sharing the port, RFC
//! 7983) are passed over.
//!
//! **No panics on any input**: record and fragment lengths are checked
//! against the datagram before use.

use crate::tls::TlsAnalyzer;
use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPDATA: u8 = 23;
/// Most handshake message sequence numbers remembered per direction.
const MAX_DONE: usize = 64;
/// Largest body of one synthetic TLS record.
const TLS_RECORD: usize = 16384;

fn dtls_version(hi: u8, lo: u8) -> bool {
    hi == 0xfe && matches!(lo, 0xff | 0xfd | 0xfc)
}

/// Probe a UDP datagram: a DTLS handshake record of epoch 0 holding the
/// start of a ClientHello.
pub fn probe(data: &[u8]) -> Probe {
    match data {
        [CT_HANDSHAKE, hi, lo, 0, 0, _, _, _, _, _, _, l0, l1, 1, ..] if dtls_version(*hi, *lo) => {
            let len = usize::from(u16::from_be_bytes([*l0, *l1]));
            if len >= 12 && 13 + len <= data.len() {
                Probe::Certain
            } else {
                Probe::NotForUs
            }
        }
        _ => Probe::NotForUs,
    }
}

/// Handshake reassembly of one direction.
#[derive(Default)]
struct Side {
    /// Message being reassembled: sequence, type, length, bytes so far.
    cur: Option<(u16, u8, usize, Vec<u8>)>,
    /// Sequence numbers already delivered (retransmissions are dropped).
    done: Vec<u16>,
}

/// `ssl.log` producer for one DTLS connection (UDP datagrams).
pub struct DtlsAnalyzer {
    tls: TlsAnalyzer,
    max: usize,
    sides: [Side; 2],
    out: Vec<u8>,
    /// Decided at the first ClientHello: the responder is the DTLS client
    /// (WebRTC peers), so each side is fed as the other.
    flipped: Option<bool>,
}

impl DtlsAnalyzer {
    pub fn new(config: &ProtoConfig) -> Self {
        DtlsAnalyzer {
            tls: TlsAnalyzer::new_dtls(config),
            max: config.tls_max_record_bytes,
            sides: Default::default(),
            out: Vec::new(),
            flipped: None,
        }
    }

    /// Append a synthetic TLS record of type `ct` holding `body`.
    fn push_record(out: &mut Vec<u8>, ct: u8, body: &[u8]) {
        for chunk in body.chunks(TLS_RECORD) {
            out.extend_from_slice(&[ct, 3, 3]);
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        if body.is_empty() {
            out.extend_from_slice(&[ct, 3, 3, 0, 0]);
        }
    }

    /// Turn one datagram into TLS bytes in `self.out`.
    fn translate(&mut self, ctx: &mut Ctx<'_>, dir: Dir, mut d: &[u8]) {
        let si = usize::from(!dir.is_orig());
        while let [ct, hi, lo, e0, e1, _, _, _, _, _, _, l0, l1, rest @ ..] = d {
            // 0x0100: OpenSSL's pre-RFC DTLS (DTLS1_BAD_VER).
            if !(dtls_version(*hi, *lo) || (*hi, *lo) == (1, 0)) {
                return;
            }
            let len = usize::from(u16::from_be_bytes([*l0, *l1]));
            let Some(body) = rest.get(..len) else {
                ctx.weird("DTLS_truncated_record", None);
                return;
            };
            d = &rest[len..];
            let epoch = u16::from_be_bytes([*e0, *e1]);
            match *ct {
                CT_HANDSHAKE if epoch == 0 => self.handshake(ctx, si, body),
                // Encrypted handshake (Finished): nothing readable.
                CT_HANDSHAKE => {}
                CT_CCS | CT_ALERT | CT_APPDATA => Self::push_record(&mut self.out, *ct, body),
                _ => {}
            }
        }
    }

    fn handshake(&mut self, ctx: &mut Ctx<'_>, si: usize, mut b: &[u8]) {
        while let [t, a0, a1, a2, s0, s1, o0, o1, o2, f0, f1, f2, rest @ ..] = b {
            let u24 = |x: u8, y: u8, z: u8| {
                (usize::from(x) << 16) | (usize::from(y) << 8) | usize::from(z)
            };
            let total = u24(*a0, *a1, *a2);
            let off = u24(*o0, *o1, *o2);
            let flen = u24(*f0, *f1, *f2);
            let seq = u16::from_be_bytes([*s0, *s1]);
            let Some(frag) = rest.get(..flen) else {
                ctx.weird("DTLS_bad_handshake_fragment", None);
                return;
            };
            b = &rest[flen..];
            let side = &mut self.sides[si];
            if side.done.contains(&seq) {
                continue;
            }
            if total > self.max {
                ctx.weird("SSL_handshake_too_large", Some(total.to_string()));
                side.done.push(seq);
                continue;
            }
            if side.cur.as_ref().is_none_or(|c| c.0 != seq) {
                side.cur = Some((seq, *t, total, Vec::with_capacity(total)));
            }
            let Some((_, ty, need, buf)) = side.cur.as_mut() else {
                continue;
            };
            // In-order fragments (and overlapping retransmissions) only.
            if off <= buf.len() && off + flen > buf.len() && off + flen <= *need {
                let from = buf.len() - off;
                buf.extend_from_slice(&frag[from..]);
            }
            if buf.len() == *need {
                let ty = *ty;
                let buf = std::mem::take(buf);
                side.cur = None;
                if side.done.len() >= MAX_DONE {
                    side.done.remove(0);
                }
                side.done.push(seq);
                let mut msg = Vec::with_capacity(4 + buf.len());
                msg.push(ty);
                msg.extend_from_slice(&(buf.len() as u32).to_be_bytes()[1..]);
                msg.extend_from_slice(&buf);
                Self::push_record(&mut self.out, CT_HANDSHAKE, &msg);
            }
        }
    }
}

impl Analyzer for DtlsAnalyzer {
    fn service(&self) -> botscope_event::Service {
        botscope_event::Service::SSL
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        // RFC 7983: DTLS records start with 20..=63.
        if !data.first().is_some_and(|b| (20..=63).contains(b)) {
            return Status::Continue;
        }
        if self.flipped.is_none() && probe(data) == Probe::Certain {
            let flip = !dir.is_orig();
            if flip {
                self.tls.note_flip();
            }
            self.flipped = Some(flip);
        }
        let dir = if self.flipped == Some(true) {
            dir.flip()
        } else {
            dir
        };
        self.out.clear();
        self.translate(ctx, dir, data);
        if self.out.is_empty() {
            return Status::Continue;
        }
        let out = std::mem::take(&mut self.out);
        let st = self.tls.data(ctx, dir, &out);
        self.out = out;
        st
    }

    fn gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _len: u64) -> Status {
        Status::Continue
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.tls.finish(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_wants_a_client_hello() {
        let mut d = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 1];
        d.extend_from_slice(&[0; 11]);
        assert_eq!(probe(&d), Probe::Certain);
        d[13] = 2;
        assert_eq!(probe(&d), Probe::NotForUs);
        assert_eq!(probe(&d[..5]), Probe::NotForUs);
    }
}
