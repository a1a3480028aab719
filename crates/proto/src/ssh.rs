//! SSH: identification strings, the algorithms the key exchange settles
//! on, the server's host key fingerprint, and Zeek's guess of the
//! authentication outcome — one `ssh.log` row per connection.
//!
//! After the identification lines (`SSH-2.0-OpenSSH_9.2`; a server may
//! send other lines first), SSH-2 binary packets are read in clear up to
//! each side's `NEWKEYS`: `KEXINIT` (algorithm lists; the client's first
//! choice the server also offers wins, as Zeek's scripts pick it) and the
//! key exchange reply (the host key blob, fingerprinted `SHA256:` +
//! unpadded base64 like `ssh-keygen -l`).
//!
//! Past `NEWKEYS` everything is encrypted. The authentication outcome is
//! then inferred from the sizes of the server's encrypted deliveries,
//! exactly as Zeek's SSH analyzer does: the first one after the client
//! spoke is the `SERVICE_ACCEPT`; a delivery 16 bytes shorter is a
//! `USERAUTH_SUCCESS`; the next one otherwise is a `USERAUTH_FAILURE`
//! (skipping one banner-sized delivery), and each later delivery of that
//! same size another failed attempt. It is a guess, as Zeek's is.
//!
//! Caps: identification lines at 255 bytes as RFC 4253 says (longer ones
//! are a violation), at most [`MAX_PRE_BANNER_LINES`] lines before it,
//! binary packets at [`MAX_PACKET_BYTES`], name-lists kept to
//! [`MAX_NAMES`] names. Never panics.

use std::net::IpAddr;

use base64::Engine as _;
use botscope_event::{Event, Ssh, Ts};
use sha2::Digest as _;

use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

/// Longest identification line (RFC 4253 §4.2: 255 with CR LF).
pub const MAX_ID_LINE: usize = 255;
/// Lines a server may send before its identification.
pub const MAX_PRE_BANNER_LINES: usize = 64;
/// Largest clear-text binary packet read (RFC 4253 asks for 35,000; key
/// exchange replies with large host keys fit).
pub const MAX_PACKET_BYTES: usize = 256 * 1024;
/// Names kept per name-list of a `KEXINIT`.
pub const MAX_NAMES: usize = 64;

const MSG_KEXINIT: u8 = 20;
const MSG_NEWKEYS: u8 = 21;
const MSG_KEX_REPLY: u8 = 31;
const MSG_KEX_GEX_REPLY: u8 = 33;

/// SSH: each side sends `SSH-<major>.<minor>-...` first; a server may
/// send text lines before it (RFC 4253 §4.2). Certain on a well-formed
/// identification from either side.
pub fn probe(input: &crate::ProbeInput<'_>) -> Probe {
    let c = side_probe(input.orig, false);
    let s = side_probe(input.resp, true);
    match (c, s) {
        (Probe::NotForUs, _) | (_, Probe::NotForUs) => Probe::NotForUs,
        (Probe::Certain, _) | (_, Probe::Certain) => Probe::Certain,
        _ => Probe::Unsure,
    }
}

/// One side's first bytes: its identification, or (server only) text
/// lines before it.
fn side_probe(data: &[u8], server: bool) -> Probe {
    if data.is_empty() {
        return Probe::Unsure;
    }
    let mut rest = data;
    loop {
        let line = match memchr::memchr(b'\n', rest) {
            Some(i) => &rest[..i],
            None => rest,
        };
        let complete = line.len() < rest.len();
        let head = line.get(..8).unwrap_or(line);
        let n = head.len().min(4);
        if n > 0 && head[..n] == b"SSH-"[..n] {
            if head.len() < 8 {
                return if complete {
                    Probe::NotForUs
                } else {
                    Probe::Unsure
                };
            }
            let ok = matches!(head[4], b'1' | b'2') && head[5] == b'.' && head[6].is_ascii_digit();
            return if ok { Probe::Certain } else { Probe::NotForUs };
        }
        // Not an identification: only a server may send other lines, and
        // only text.
        let text = line
            .iter()
            .all(|&b| b == b'\t' || b == b'\r' || (0x20..0x7f).contains(&b) || b >= 0x80);
        if !server || !text {
            return Probe::NotForUs;
        }
        if !complete {
            return Probe::Unsure;
        }
        rest = &rest[line.len() + 1..];
        if rest.is_empty() {
            return Probe::Unsure;
        }
    }
}

#[derive(Default)]
struct Side {
    /// Identification string, once read.
    version: Option<String>,
    /// Bytes of the line or packet being assembled.
    buf: Vec<u8>,
    pre_lines: usize,
    /// After `NEWKEYS`: everything is encrypted.
    encrypted: bool,
    /// Given up on this side (violation, gap, SSH-1).
    stopped: bool,
    kexinit: Option<Vec<Vec<String>>>,
}

/// Follows one SSH connection; emits its `ssh.log` row when it ends.
pub struct SshAnalyzer {
    sides: [Side; 2],
    started: Option<Ts>,
    row: Ssh,
    had_gap: bool,
    // Zeek's authentication heuristic.
    saw_encrypted_client_data: bool,
    service_accept_size: usize,
    userauth_failure_size: usize,
    skipped_banner: bool,
    auth_decision_made: bool,
}

impl SshAnalyzer {
    pub fn new(_config: &ProtoConfig) -> Self {
        SshAnalyzer {
            sides: Default::default(),
            started: None,
            row: Ssh::default(),
            had_gap: false,
            saw_encrypted_client_data: false,
            service_accept_size: 0,
            userauth_failure_size: 0,
            skipped_banner: false,
            auth_decision_made: false,
        }
    }

    /// The protocol major version both sides settled on (`1.99` means
    /// "either": the other side decides). Unknown until both spoke.
    fn version(&self) -> Option<u8> {
        let major = |v: &str| -> Option<(u8, bool)> {
            let rest = v.strip_prefix("SSH-")?;
            let proto = rest.split('-').next()?;
            Some(match proto {
                "1.99" => (2, true),
                p if p.starts_with("2.") => (2, false),
                p if p.starts_with("1.") => (1, false),
                _ => return None,
            })
        };
        let c = major(self.sides[0].version.as_deref()?)?;
        let s = major(self.sides[1].version.as_deref()?)?;
        Some(match (c, s) {
            ((c, _), (_, true)) => c,
            ((_, true), (s, _)) => s,
            ((c, _), _) => c,
        })
    }

    fn auth_attempted(&mut self, success: bool) {
        if self.row.auth_success == Some(true) {
            return;
        }
        self.row.auth_success = Some(success);
        self.row.auth_attempts = self.row.auth_attempts.saturating_add(1);
    }

    /// Zeek's `ProcessEncrypted` on one delivery of `len` encrypted bytes.
    fn encrypted(&mut self, dir: Dir, len: usize) {
        if self.auth_decision_made || self.version() != Some(2) {
            return;
        }
        if dir == Dir::Orig {
            self.saw_encrypted_client_data = true;
            return;
        }
        if !self.saw_encrypted_client_data {
            return;
        }
        if self.service_accept_size == 0 {
            self.service_accept_size = len;
            return;
        }
        if self.userauth_failure_size == 0 && len + 16 == self.service_accept_size {
            self.auth_decision_made = true;
            self.auth_attempted(true);
            return;
        }
        if self.userauth_failure_size == 0 {
            if !self.skipped_banner && len > self.service_accept_size + 256 {
                self.skipped_banner = true;
                return;
            }
            self.userauth_failure_size = len;
            return;
        }
        if len == self.userauth_failure_size {
            self.auth_attempted(false);
            return;
        }
        if len + 16 == self.service_accept_size {
            self.auth_decision_made = true;
            self.auth_attempted(true);
        }
    }

    /// Clear-text bytes of one side; returns how many bytes of `data`
    /// came after this side's `NEWKEYS` (encrypted).
    fn clear(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> usize {
        let i = usize::from(dir == Dir::Resp);
        let mut rest = data;
        while !rest.is_empty() && !self.sides[i].stopped {
            if self.sides[i].encrypted {
                return rest.len();
            }
            if self.sides[i].version.is_none() {
                let Some(nl) = memchr::memchr(b'\n', rest) else {
                    let s = &mut self.sides[i];
                    s.buf.extend_from_slice(rest);
                    if s.buf.len() > MAX_ID_LINE {
                        ctx.weird("SSH_identification_too_long", None);
                        s.stopped = true;
                    }
                    return 0;
                };
                let s = &mut self.sides[i];
                if s.buf.len() + nl > MAX_ID_LINE {
                    ctx.weird("SSH_identification_too_long", None);
                    s.stopped = true;
                    return 0;
                }
                s.buf.extend_from_slice(&rest[..nl]);
                rest = &rest[nl + 1..];
                let line = std::mem::take(&mut s.buf);
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                if line.starts_with(b"SSH-") {
                    let v = String::from_utf8_lossy(line).into_owned();
                    if self.started.is_none() {
                        self.started = Some(ctx.ts);
                    }
                    match dir {
                        Dir::Orig => self.row.client = Some(v.clone()),
                        Dir::Resp => self.row.server = Some(v.clone()),
                    }
                    self.sides[i].version = Some(v);
                    if self.version() == Some(1) {
                        // SSH-1: no clear-text key exchange to read.
                        self.sides[0].stopped = true;
                        self.sides[1].stopped = true;
                    }
                } else {
                    s.pre_lines += 1;
                    if s.pre_lines > MAX_PRE_BANNER_LINES {
                        ctx.weird("SSH_too_many_pre_banner_lines", None);
                        s.stopped = true;
                    }
                }
                continue;
            }
            // Binary packets: uint32 length, then length bytes.
            let s = &mut self.sides[i];
            let need = if s.buf.len() >= 4 {
                let len = u32::from_be_bytes([s.buf[0], s.buf[1], s.buf[2], s.buf[3]]) as usize;
                if !(2..=MAX_PACKET_BYTES).contains(&len) {
                    ctx.weird("SSH_bad_packet_length", Some(len.to_string()));
                    s.stopped = true;
                    return 0;
                }
                4 + len
            } else {
                4
            };
            let take = need.saturating_sub(s.buf.len()).min(rest.len());
            s.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if s.buf.len() < need || need == 4 {
                continue;
            }
            let pkt = std::mem::take(&mut s.buf);
            self.packet(dir, &pkt[4..]);
        }
        0
    }

    /// One clear-text binary packet (after its length field).
    fn packet(&mut self, dir: Dir, body: &[u8]) {
        let i = usize::from(dir == Dir::Resp);
        let Some((&pad, rest)) = body.split_first() else {
            return;
        };
        let payload = rest.get(..rest.len().saturating_sub(usize::from(pad)));
        let Some((&msg, p)) = payload.and_then(|p| p.split_first()) else {
            return;
        };
        match msg {
            MSG_KEXINIT => {
                if let Some(lists) = parse_kexinit(p) {
                    self.sides[i].kexinit = Some(lists);
                    self.negotiate();
                }
            }
            MSG_NEWKEYS => self.sides[i].encrypted = true,
            MSG_KEX_REPLY | MSG_KEX_GEX_REPLY if dir == Dir::Resp => {
                // Which message carries the host key depends on the key
                // exchange both KEXINITs settled on (31 is the group of a
                // group exchange): unknown without both, then no key.
                let Some(kex) = self.row.kex_alg.as_deref() else {
                    return;
                };
                let gex = kex.starts_with("diffie-hellman-group-exchange");
                if (msg == MSG_KEX_GEX_REPLY) == gex {
                    if let Some(key) = read_string(p).map(|(k, _)| k) {
                        let digest = sha2::Sha256::digest(key);
                        self.row.host_key_fingerprint = Some(format!(
                            "SHA256:{}",
                            base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
                        ));
                    }
                }
            }
            _ => {}
        }
    }

    /// Zeek's `find_client_preferred_algorithm` over both `KEXINIT`s.
    fn negotiate(&mut self) {
        let (Some(c), Some(s)) = (&self.sides[0].kexinit, &self.sides[1].kexinit) else {
            return;
        };
        let pick = |k: usize| -> Option<String> {
            let (cl, sl) = (c.get(k)?, s.get(k)?);
            cl.iter().find(|a| sl.contains(a)).cloned()
        };
        let both = |a: usize, b: usize| -> Option<String> {
            let (x, y) = (pick(a)?, pick(b)?);
            Some(if x == y {
                x
            } else {
                format!("To server: {x}, To client: {y}")
            })
        };
        self.row.kex_alg = pick(0);
        self.row.host_key_alg = pick(1);
        self.row.cipher_alg = both(2, 3);
        self.row.mac_alg = both(4, 5);
        self.row.compression_alg = both(6, 7);
    }
}

/// An SSH `string`: uint32 length and bytes.
fn read_string(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(p.get(..4)?.try_into().ok()?) as usize;
    let s = p.get(4..4usize.checked_add(len)?)?;
    Some((s, &p[4 + len..]))
}

/// The ten name-lists of a `KEXINIT` (after the 16-byte cookie).
fn parse_kexinit(p: &[u8]) -> Option<Vec<Vec<String>>> {
    let mut rest = p.get(16..)?;
    let mut lists = Vec::with_capacity(10);
    for _ in 0..10 {
        let (s, r) = read_string(rest)?;
        rest = r;
        lists.push(
            s.split(|&b| b == b',')
                .filter(|n| !n.is_empty())
                .take(MAX_NAMES)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect(),
        );
    }
    Some(lists)
}

/// Zeek's `Site::private_address_space`, which counts as local when no
/// local networks are configured (`private_address_space_is_local`).
fn is_private(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            let o = v.octets();
            o[0] == 10
                || (o[0] == 172 && (16..32).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168)
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 127
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            v.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

impl Analyzer for SshAnalyzer {
    fn service(&self) -> botscope_event::Service {
        botscope_event::Service::SSH
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        if self.had_gap {
            return Status::Continue;
        }
        let i = usize::from(dir == Dir::Resp);
        if self.sides[i].encrypted {
            self.encrypted(dir, data.len());
            return Status::Continue;
        }
        let enc = self.clear(ctx, dir, data);
        if enc > 0 {
            self.encrypted(dir, enc);
        }
        Status::Continue
    }

    fn gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _len: u64) -> Status {
        self.had_gap = true;
        Status::Continue
    }

    /// Both identification strings seen (Zeek names no service on a
    /// half-duplex SSH connection).
    fn confirmed(&self) -> bool {
        self.sides[0].version.is_some() && self.sides[1].version.is_some()
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        if self.row.client.is_none() && self.row.server.is_none() {
            return;
        }
        let mut row = std::mem::take(&mut self.row);
        row.version = self.version();
        let (o, r) = (is_private(ctx.id.orig_h), is_private(ctx.id.resp_h));
        row.direction = match (o, r) {
            (true, false) => Some("OUTBOUND".to_string()),
            (false, true) => Some("INBOUND".to_string()),
            _ => None,
        };
        row.meta = Some(ctx.meta_at(self.started.unwrap_or(ctx.ts)));
        ctx.emit(Event::Ssh(row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reads_the_identification() {
        let p = |orig: &'static [u8], resp: &'static [u8]| {
            probe(&crate::ProbeInput {
                dir: Dir::Orig,
                orig,
                resp,
                orig_p: 40000,
                resp_p: 2222,
            })
        };
        assert_eq!(p(b"", b"SSH-2.0-OpenSSH_9.2\r\n"), Probe::Certain);
        assert_eq!(p(b"SSH-1.99-x", b""), Probe::Certain);
        assert_eq!(p(b"SSH", b""), Probe::Unsure);
        assert_eq!(p(b"SSX-2.0", b""), Probe::NotForUs);
        assert_eq!(p(b"SSH-9.0-x", b""), Probe::NotForUs);
        // A server's text before its identification.
        assert_eq!(p(b"", b"Welcome\r\n"), Probe::Unsure);
        assert_eq!(p(b"", b"Welcome\r\nSSH-2.0-x\r\n"), Probe::Certain);
        assert_eq!(p(b"Welcome\r\n", b""), Probe::NotForUs);
        assert_eq!(p(b"", b"\x16\x03\x01"), Probe::NotForUs);
    }

    #[test]
    fn kexinit_lists_parse_and_cap() {
        let mut p = vec![0u8; 16];
        for i in 0..10 {
            let s = format!("a{i},b{i}");
            p.extend_from_slice(&(s.len() as u32).to_be_bytes());
            p.extend_from_slice(s.as_bytes());
        }
        let l = parse_kexinit(&p).unwrap();
        assert_eq!(l[3], vec!["a3".to_string(), "b3".to_string()]);
        assert!(parse_kexinit(&p[..40]).is_none());
        let mut big = vec![0u8; 16];
        big.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_kexinit(&big).is_none());
    }

    #[test]
    fn private_space_is_local() {
        assert!(is_private("192.168.1.79".parse().unwrap()));
        assert!(is_private("172.28.2.3".parse().unwrap()));
        assert!(!is_private("131.159.21.1".parse().unwrap()));
        assert!(is_private("fe80::1".parse().unwrap()));
    }
}
