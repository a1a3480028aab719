//! Service detection for protocols botscope names but does not log:
//! RDP, SOCKS, MySQL, PostgreSQL, SMB, Kerberos and LDAP on TCP; DHCP,
//! NTP, SNMP, SIP, Kerberos, LDAP and RDP-UDP on UDP.
//!
//! Each probe reads the fixed header of the protocol's opening message
//! and checks its internal lengths and constants — what Zeek's analyzer
//! parses before it confirms the protocol — so an arbitrary payload on
//! the protocol's port is not named. Probes are pure functions of the
//! first bytes (at most the engine's probe window), never allocate, and
//! never panic.
//!
//! [`DetectOnly`] is the analyzer behind a TCP detection: it names the
//! connection and asks for no more bytes.

use crate::{Analyzer, Ctx, Dir, Probe, ProbeInput, Status};

/// Big-endian u16/u32 at `i`, if there.
fn be16(d: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes(d.get(i..i + 2)?.try_into().ok()?))
}
fn be32(d: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(i..i + 4)?.try_into().ok()?))
}

/// Too few bytes yet to decide: `Unsure`, unless the caller knows the
/// side is done.
fn short(d: &[u8], need: usize) -> bool {
    d.len() < need
}

// ---------------------------------------------------------------------------
// TCP

/// RDP: a TPKT header (`03 00`, length) around an X.224 Connection
/// Request from the client (`E0`) answered by a Connection Confirm
/// (`D0`). As Zeek's DPD, the request must carry an RDP cookie
/// (`Cookie: mstshash=`) unless the server port is RDP's (3389), and the
/// server's confirm decides.
pub fn probe_rdp(input: &ProbeInput<'_>) -> Probe {
    let tpkt = |d: &[u8], code: u8| -> Probe {
        if d.is_empty() {
            return Probe::Unsure;
        }
        if d[0] != 3 || d.get(1).is_some_and(|&b| b != 0) {
            return Probe::NotForUs;
        }
        if short(d, 11) {
            return Probe::Unsure;
        }
        let len = usize::from(be16(d, 2).unwrap_or(0));
        // X.224 length indicator counts the bytes after itself; DST-REF
        // of a request and a confirm's class byte follow the code.
        let li = usize::from(d[4]);
        if len < 11 || li + 5 != len || d[5] & 0xf0 != code || d[6..8] != [0, 0] {
            return Probe::NotForUs;
        }
        Probe::Certain
    };
    let client = tpkt(input.orig, 0xe0);
    if client == Probe::Certain
        && input.resp_p != 3389
        && memchr::memmem::find(input.orig, b"Cookie: mstshash=").is_none()
    {
        return Probe::NotForUs;
    }
    match (client, tpkt(input.resp, 0xd0)) {
        (Probe::NotForUs, _) | (_, Probe::NotForUs) => Probe::NotForUs,
        (Probe::Certain, Probe::Certain) => Probe::Certain,
        _ => Probe::Unsure,
    }
}

/// SOCKS 4/5: the client's request or greeting and the server's reply
/// must both fit (Zeek's DPD pairs them too).
pub fn probe_socks(input: &ProbeInput<'_>) -> Probe {
    let (c, s) = (input.orig, input.resp);
    let Some(&v) = c.first() else {
        return if s.is_empty() {
            Probe::Unsure
        } else {
            Probe::NotForUs
        };
    };
    match v {
        4 => {
            // VN CD DSTPORT(2) DSTIP(4) USERID NUL [host NUL for 4a]
            if c.len() < 9 {
                return Probe::Unsure;
            }
            if !matches!(c[1], 1 | 2) || !c[8..].contains(&0) {
                return if c.len() > 512 || !matches!(c[1], 1 | 2) {
                    Probe::NotForUs
                } else {
                    Probe::Unsure
                };
            }
            match s {
                [] | [0] => Probe::Unsure,
                [0, 0x5a..=0x5d, ..] if s.len() < 8 => Probe::Unsure,
                [0, 0x5a..=0x5d, ..] => Probe::Certain,
                _ => Probe::NotForUs,
            }
        }
        5 => {
            // VER NMETHODS METHODS...
            let Some(&n) = c.get(1) else {
                return Probe::Unsure;
            };
            if n == 0 {
                return Probe::NotForUs;
            }
            if c.len() < 2 + usize::from(n) {
                return Probe::Unsure;
            }
            match s {
                [] | [5] => Probe::Unsure,
                [5, 0 | 1 | 2 | 3 | 0xff, ..] => Probe::Certain,
                _ => Probe::NotForUs,
            }
        }
        _ => Probe::NotForUs,
    }
}

/// MySQL: the server greets first with a handshake packet (3-byte
/// length, sequence 0, protocol 10, a NUL-terminated version).
pub fn probe_mysql(input: &ProbeInput<'_>) -> Probe {
    let s = input.resp;
    if s.is_empty() {
        // The client waits for the greeting.
        return if input.orig.is_empty() {
            Probe::Unsure
        } else {
            Probe::NotForUs
        };
    }
    if short(s, 6) {
        return Probe::Unsure;
    }
    let len = usize::from(s[0]) | usize::from(s[1]) << 8 | usize::from(s[2]) << 16;
    if s[3] != 0 || !(40..=1024).contains(&len) {
        return Probe::NotForUs;
    }
    match s[4] {
        10 => {
            // Version: printable up to NUL, starting with a digit.
            let ver = &s[5..s.len().min(5 + 64)];
            match ver.iter().position(|&b| b == 0) {
                Some(0) => Probe::NotForUs,
                Some(n) if s[5].is_ascii_digit() && ver[..n].iter().all(u8::is_ascii_graphic) => {
                    Probe::Certain
                }
                Some(_) => Probe::NotForUs,
                None if ver.len() < 64 && ver.iter().all(u8::is_ascii_graphic) => Probe::Unsure,
                None => Probe::NotForUs,
            }
        }
        _ => Probe::NotForUs,
    }
}

/// PostgreSQL: the client's first message is a StartupMessage (length,
/// protocol 3.0) or an SSLRequest/GSSENCRequest (length 8, magic code).
pub fn probe_postgresql(input: &ProbeInput<'_>) -> Probe {
    let c = input.orig;
    if c.is_empty() {
        return if input.resp.is_empty() {
            Probe::Unsure
        } else {
            Probe::NotForUs
        };
    }
    if short(c, 8) {
        return Probe::Unsure;
    }
    let len = be32(c, 0).unwrap_or(0);
    let code = be32(c, 4).unwrap_or(0);
    match code {
        // SSLRequest, GSSENCRequest, CancelRequest.
        80_877_103 | 80_877_104 if len == 8 => Probe::Certain,
        80_877_102 if len == 16 => Probe::Certain,
        // Protocol 3.0 startup: parameters, NUL-terminated pairs.
        0x0003_0000 if (9..=10_000).contains(&len) => {
            if c.len() >= 9 && !c[8].is_ascii_alphabetic() && c[8] != 0 {
                Probe::NotForUs
            } else {
                Probe::Certain
            }
        }
        _ => Probe::NotForUs,
    }
}

/// SMB over TCP (direct, port 445, or NetBIOS session): a session
/// message (`00`, 3-byte length) holding `\xffSMB`, `\xfeSMB` or
/// `\xfdSMB`.
pub fn probe_smb(input: &ProbeInput<'_>) -> Probe {
    let one = |d: &[u8]| -> Probe {
        if d.is_empty() {
            return Probe::Unsure;
        }
        // NetBIOS session request (0x81) precedes SMB on port 139.
        let d = if d[0] == 0x81 {
            let len = usize::from(be16(d, 2).unwrap_or(0)) + 4;
            if d.len() < 4 {
                return Probe::Unsure;
            }
            match d.get(len..) {
                Some(rest) if !rest.is_empty() => rest,
                _ => return Probe::Unsure,
            }
        } else if d[0] == 0x82 || d[0] == 0x83 {
            // Positive/negative session response.
            match d.get(4..) {
                Some(rest) if !rest.is_empty() => rest,
                _ => return Probe::Unsure,
            }
        } else {
            d
        };
        if d[0] != 0 {
            return Probe::NotForUs;
        }
        if short(d, 8) {
            return Probe::Unsure;
        }
        if matches!(&d[4..8], b"\xffSMB" | b"\xfeSMB" | b"\xfdSMB") {
            Probe::Certain
        } else {
            Probe::NotForUs
        }
    };
    match (one(input.orig), one(input.resp)) {
        (Probe::NotForUs, _) | (_, Probe::NotForUs) => Probe::NotForUs,
        (Probe::Certain, _) | (_, Probe::Certain) => Probe::Certain,
        _ => Probe::Unsure,
    }
}

/// A DER length at `d[i]`: (length, bytes used).
fn der_len(d: &[u8], i: usize) -> Option<(usize, usize)> {
    let b = *d.get(i)?;
    if b < 0x80 {
        return Some((usize::from(b), 1));
    }
    let n = usize::from(b & 0x7f);
    if n == 0 || n > 3 {
        return None;
    }
    let mut v = 0usize;
    for k in 0..n {
        v = v << 8 | usize::from(*d.get(i + 1 + k)?);
    }
    Some((v, 1 + n))
}

/// A Kerberos message: an application-tagged DER value (AS-REQ 10,
/// AS-REP 11, TGS-REQ 12, TGS-REP 13, KRB-ERROR 30) holding a SEQUENCE
/// whose first field is `[0]` or `[1]` (pvno 5 / msg-type).
fn krb_message(d: &[u8]) -> Probe {
    let Some(&tag) = d.first() else {
        return Probe::Unsure;
    };
    if !matches!(tag, 0x6a | 0x6b | 0x6c | 0x6d | 0x7e) {
        return Probe::NotForUs;
    }
    let Some((len, n)) = der_len(d, 1) else {
        return if d.len() < 5 {
            Probe::Unsure
        } else {
            Probe::NotForUs
        };
    };
    let body = 1 + n;
    if len < 8 {
        return Probe::NotForUs;
    }
    match d.get(body) {
        None => Probe::Unsure,
        Some(0x30) => match der_len(d, body + 1) {
            None if d.len() < body + 5 => Probe::Unsure,
            None => Probe::NotForUs,
            Some((_, m)) => match d.get(body + 1 + m) {
                None => Probe::Unsure,
                Some(0xa0 | 0xa1) => Probe::Certain,
                Some(_) => Probe::NotForUs,
            },
        },
        Some(_) => Probe::NotForUs,
    }
}

/// Kerberos over TCP: a 4-byte record length, then a Kerberos message.
pub fn probe_krb_tcp(input: &ProbeInput<'_>) -> Probe {
    let one = |d: &[u8]| -> Probe {
        if d.is_empty() {
            return Probe::Unsure;
        }
        if short(d, 4) {
            return if d.iter().all(|&b| b == 0) {
                Probe::Unsure
            } else {
                Probe::NotForUs
            };
        }
        let len = be32(d, 0).unwrap_or(0);
        if !(16..=1 << 20).contains(&len) {
            return Probe::NotForUs;
        }
        krb_message(&d[4..])
    };
    match (one(input.orig), one(input.resp)) {
        (Probe::NotForUs, _) | (_, Probe::NotForUs) => Probe::NotForUs,
        (Probe::Certain, _) | (_, Probe::Certain) => Probe::Certain,
        _ => Probe::Unsure,
    }
}

/// An LDAP message: SEQUENCE { INTEGER messageID, [APPLICATION n] op }
/// with n a protocol operation (0..=25 per RFC 4511).
fn ldap_message(d: &[u8]) -> Probe {
    let Some(&t) = d.first() else {
        return Probe::Unsure;
    };
    if t != 0x30 {
        return Probe::NotForUs;
    }
    let Some((_, n)) = der_len(d, 1) else {
        return if d.len() < 5 {
            Probe::Unsure
        } else {
            Probe::NotForUs
        };
    };
    let i = 1 + n;
    match d.get(i) {
        None => return Probe::Unsure,
        Some(0x02) => {}
        Some(_) => return Probe::NotForUs,
    }
    let Some(&idlen) = d.get(i + 1) else {
        return Probe::Unsure;
    };
    if idlen == 0 || idlen > 4 {
        return Probe::NotForUs;
    }
    let op_at = i + 2 + usize::from(idlen);
    match d.get(op_at) {
        None => Probe::Unsure,
        Some(&op) => {
            let class_app = op & 0xc0 == 0x40;
            let num = op & 0x1f;
            if class_app && num <= 25 {
                match der_len(d, op_at + 1) {
                    Some(_) => Probe::Certain,
                    None if d.len() <= op_at + 1 => Probe::Unsure,
                    None => Probe::NotForUs,
                }
            } else {
                Probe::NotForUs
            }
        }
    }
}

/// LDAP over TCP: the client's first message.
pub fn probe_ldap_tcp(input: &ProbeInput<'_>) -> Probe {
    match (ldap_message(input.orig), input.resp.is_empty()) {
        (Probe::Unsure, false) => ldap_message(input.resp),
        (p, _) => p,
    }
}

// ---------------------------------------------------------------------------
// UDP (one datagram)

/// DHCP (BOOTP with the DHCP magic cookie) on its ports.
pub fn probe_dhcp(d: &[u8], orig_p: u16, resp_p: u16) -> Probe {
    let ports = [67, 68];
    if !(ports.contains(&orig_p) && ports.contains(&resp_p)) {
        return Probe::NotForUs;
    }
    if d.len() < 240 {
        return Probe::NotForUs;
    }
    // op 1/2, htype, hlen ≤ 16, magic cookie.
    if matches!(d[0], 1 | 2) && d[2] <= 16 && d[236..240] == [0x63, 0x82, 0x53, 0x63] {
        Probe::Certain
    } else {
        Probe::NotForUs
    }
}

/// NTP on port 123: version 1..4 and a defined mode, at least the
/// 48-byte header (mode 6/7 control messages are shorter).
pub fn probe_ntp(d: &[u8], orig_p: u16, resp_p: u16) -> Probe {
    if orig_p != 123 && resp_p != 123 {
        return Probe::NotForUs;
    }
    let Some(&b) = d.first() else {
        return Probe::NotForUs;
    };
    let version = (b >> 3) & 7;
    let mode = b & 7;
    let ok = match mode {
        1..=5 => (1..=4).contains(&version) && d.len() >= 48,
        6 | 7 => (1..=4).contains(&version) && d.len() >= 8,
        _ => false,
    };
    if ok {
        Probe::Certain
    } else {
        Probe::NotForUs
    }
}

/// SNMP: SEQUENCE { INTEGER version (0, 1, 3), ... } whose length covers
/// the datagram.
pub fn probe_snmp(d: &[u8]) -> Probe {
    if d.first() != Some(&0x30) {
        return Probe::NotForUs;
    }
    let Some((len, n)) = der_len(d, 1) else {
        return Probe::NotForUs;
    };
    if 1 + n + len != d.len() {
        return Probe::NotForUs;
    }
    match d.get(1 + n..1 + n + 3) {
        Some([0x02, 0x01, 0 | 1 | 3]) => Probe::Certain,
        _ => Probe::NotForUs,
    }
}

/// SIP: a request line `METHOD sip:... SIP/2.0` or a status line
/// `SIP/2.0 NNN` (Zeek's DPD also lets junk lines come first).
pub fn probe_sip(d: &[u8]) -> Probe {
    const METHODS: &[&[u8]] = &[
        b"INVITE",
        b"ACK",
        b"BYE",
        b"CANCEL",
        b"OPTIONS",
        b"REGISTER",
        b"PRACK",
        b"SUBSCRIBE",
        b"NOTIFY",
        b"PUBLISH",
        b"INFO",
        b"REFER",
        b"MESSAGE",
        b"UPDATE",
    ];
    for line in d.split(|&b| b == b'\n').take(4) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"SIP/2.0 ")
            && line.len() >= 11
            && line[8..11].iter().all(u8::is_ascii_digit)
        {
            return Probe::Certain;
        }
        if let Some(sp) = line.iter().position(|&b| b == b' ') {
            let uri = &line[sp + 1..];
            let scheme = uri
                .get(..4)
                .is_some_and(|u| u.eq_ignore_ascii_case(b"sip:"))
                || uri
                    .get(..5)
                    .is_some_and(|u| u.eq_ignore_ascii_case(b"sips:"))
                || uri
                    .get(..4)
                    .is_some_and(|u| u.eq_ignore_ascii_case(b"tel:"));
            if METHODS.contains(&&line[..sp]) && scheme && line.ends_with(b" SIP/2.0") {
                return Probe::Certain;
            }
        }
    }
    Probe::NotForUs
}

/// Kerberos over UDP: one message per datagram.
pub fn probe_krb_udp(d: &[u8]) -> Probe {
    match krb_message(d) {
        Probe::Certain => Probe::Certain,
        _ => Probe::NotForUs,
    }
}

/// Connection-less LDAP: one message per datagram.
pub fn probe_ldap_udp(d: &[u8]) -> Probe {
    match ldap_message(d) {
        Probe::Certain => Probe::Certain,
        _ => Probe::NotForUs,
    }
}

/// RDP over UDP (MS-RDPEUDP): the SYN datagram (`snSourceAck`
/// 0xFFFFFFFF, the SYN flag, padded to at least 1232 bytes) and the
/// server's SYN+ACK — Zeek confirms on the latter.
pub fn probe_rdpeudp(d: &[u8], dir: Dir) -> Probe {
    if d.len() < 8 {
        return Probe::NotForUs;
    }
    let flags = be16(d, 6).unwrap_or(0);
    let syn = flags & 0x0001 != 0;
    let ack = flags & 0x0004 != 0;
    match dir {
        Dir::Orig if d[..4] == [0xff; 4] && syn && !ack && d.len() >= 1232 => Probe::Unsure,
        Dir::Resp if syn && ack && d.len() >= 1232 => Probe::Certain,
        _ => Probe::NotForUs,
    }
}

/// The analyzer behind a detection-only TCP service: nothing to parse.
pub struct DetectOnly(pub botscope_event::Service);

impl Analyzer for DetectOnly {
    fn service(&self) -> botscope_event::Service {
        self.0
    }
    fn data(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _data: &[u8]) -> Status {
        Status::Done
    }
    fn gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _len: u64) -> Status {
        Status::Done
    }
    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(orig: &'static [u8], resp: &'static [u8]) -> ProbeInput<'static> {
        ProbeInput {
            dir: Dir::Orig,
            orig,
            resp,
            orig_p: 40000,
            resp_p: 5000,
        }
    }

    #[test]
    fn rdp_connection_request() {
        let cr = b"\x03\x00\x00\x1f\x1a\xe0\x00\x00\x00\x00\x00Cookie: mstshash=a\r\n";
        let cc = b"\x03\x00\x00\x0b\x06\xd0\x00\x00\x12\x34\x00";
        assert_eq!(probe_rdp(&tcp(cr, b"")), Probe::Unsure);
        assert_eq!(probe_rdp(&tcp(cr, cc)), Probe::Certain);
        assert_eq!(probe_rdp(&tcp(b"\x03\x00\x00", b"")), Probe::Unsure);
        assert_eq!(probe_rdp(&tcp(b"GET / HTTP/1.1\r\n", b"")), Probe::NotForUs);
    }

    #[test]
    fn socks_needs_both_sides() {
        let greet = b"\x05\x01\x00";
        assert_eq!(probe_socks(&tcp(greet, b"")), Probe::Unsure);
        assert_eq!(probe_socks(&tcp(greet, b"\x05\x00")), Probe::Certain);
        assert_eq!(probe_socks(&tcp(greet, b"HTTP/1.1")), Probe::NotForUs);
        let v4 = b"\x04\x01\x00\x50\x0a\x00\x00\x01bob\x00";
        assert_eq!(
            probe_socks(&tcp(v4, b"\x00\x5a\x00\x50\x0a\x00\x00\x01")),
            Probe::Certain
        );
    }

    #[test]
    fn databases() {
        let mut greet = vec![0x4a, 0, 0, 0, 10];
        greet.extend_from_slice(b"5.7.33-log\0");
        greet.resize(0x4a + 4, 0);
        let g: &'static [u8] = Box::leak(greet.into_boxed_slice());
        assert_eq!(probe_mysql(&tcp(b"", g)), Probe::Certain);
        assert_eq!(probe_mysql(&tcp(b"GET /", b"")), Probe::NotForUs);
        assert_eq!(
            probe_postgresql(&tcp(b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"")),
            Probe::Certain
        );
        assert_eq!(
            probe_postgresql(&tcp(b"\x00\x00\x00\x29\x00\x03\x00\x00user\0", b"")),
            Probe::Certain
        );
        assert_eq!(
            probe_postgresql(&tcp(b"GET / HTTP/1.1", b"")),
            Probe::NotForUs
        );
    }

    #[test]
    fn smb_krb_ldap() {
        assert_eq!(
            probe_smb(&tcp(b"\x00\x00\x00\x85\xffSMBr", b"")),
            Probe::Certain
        );
        assert_eq!(
            probe_smb(&tcp(b"\x00\x00\x00\x85GET ", b"")),
            Probe::NotForUs
        );
        // AS-REQ: [APPLICATION 10] SEQUENCE { [1] pvno ...
        let asreq = b"\x00\x00\x00\x20\x6a\x1e\x30\x1c\xa1\x03\x02\x01\x05";
        assert_eq!(probe_krb_tcp(&tcp(asreq, b"")), Probe::Certain);
        // LDAP bind request: SEQUENCE { INTEGER 1, [APPLICATION 0] ... }
        let bind = b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00";
        assert_eq!(probe_ldap_tcp(&tcp(bind, b"")), Probe::Certain);
        assert_eq!(probe_ldap_udp(bind), Probe::Certain);
        assert_eq!(probe_ldap_tcp(&tcp(b"\x30\x0c\x04", b"")), Probe::NotForUs);
    }

    #[test]
    fn udp_protocols() {
        let mut dhcp = vec![0u8; 300];
        dhcp[0] = 1;
        dhcp[2] = 6;
        dhcp[236..240].copy_from_slice(&[0x63, 0x82, 0x53, 0x63]);
        assert_eq!(probe_dhcp(&dhcp, 68, 67), Probe::Certain);
        assert_eq!(probe_dhcp(&dhcp, 5000, 67), Probe::NotForUs);
        let mut ntp = vec![0u8; 48];
        ntp[0] = 0x23; // v4 client
        assert_eq!(probe_ntp(&ntp, 123, 123), Probe::Certain);
        ntp[0] = 0x00;
        assert_eq!(probe_ntp(&ntp, 123, 123), Probe::NotForUs);
        let snmp = b"\x30\x0b\x02\x01\x01\x04\x06public";
        assert_eq!(probe_snmp(snmp), Probe::Certain);
        assert_eq!(probe_snmp(b"\x30\x0b\x02\x01\x01"), Probe::NotForUs);
        assert_eq!(
            probe_sip(b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: x\r\n"),
            Probe::Certain
        );
        assert_eq!(probe_sip(b"SIP/2.0 200 OK\r\n"), Probe::Certain);
        assert_eq!(probe_sip(b"GET / HTTP/1.1\r\n"), Probe::NotForUs);
    }
}
