//! Protocols whose connections turn into TLS after a plaintext opening,
//! as Zeek follows them: MySQL (SSLRequest), PostgreSQL (SSLRequest and
//! the server's `S`), XMPP (`<starttls/>` and `<proceed/>`), RDP (X.224
//! negotiation selecting TLS or CredSSP).
//!
//! Each [`Prelude`] reads only the opening, decides when the peers agreed
//! on TLS and returns [`Status::StartTls`]; the engine then attaches the
//! TLS analyzer to the bytes that follow (the conn.log services become
//! e.g. `mysql,ssl`, as Zeek logs them). A session that stays in the
//! clear ends the prelude with [`Status::Done`] (the service remains).
//!
//! **No panics on any input**: every read is bounds-checked; at most
//! [`ProtoConfig::max_line_bytes`] of each direction are held.

use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

/// Which opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Mysql,
    Postgresql,
    Xmpp,
    Rdp,
}

impl Kind {
    /// Zeek's service name.
    pub fn name(self) -> botscope_event::Service {
        use botscope_event::Service;
        match self {
            Kind::Mysql => Service::MYSQL,
            Kind::Postgresql => Service::POSTGRESQL,
            Kind::Xmpp => Service::XMPP,
            Kind::Rdp => Service::RDP,
        }
    }

    /// Probe the first bytes a side sent.
    pub fn probe(self, dir: Dir, data: &[u8]) -> Probe {
        match self {
            Kind::Mysql => probe_mysql(dir, data),
            Kind::Postgresql => probe_postgresql(dir, data),
            Kind::Xmpp => probe_xmpp(dir, data),
            Kind::Rdp => probe_rdp(dir, data),
        }
    }
}

/// PostgreSQL SSLRequest: length 8, code 80877103.
const PG_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// The MySQL server greeting (protocol 10): `len(3) seq=0 0x0a
/// version-string NUL`, the version starting with a digit.
fn probe_mysql(dir: Dir, data: &[u8]) -> Probe {
    if dir.is_orig() {
        // The server speaks first; a client opening is not MySQL's.
        return Probe::NotForUs;
    }
    match data {
        [l0, l1, l2, 0, 0x0a, v, rest @ ..] => {
            let len = usize::from(*l0) | usize::from(*l1) << 8 | usize::from(*l2) << 16;
            if !(20..=1024).contains(&len) || !v.is_ascii_digit() {
                return Probe::NotForUs;
            }
            match rest.iter().take(64).position(|&b| b == 0) {
                Some(n) if rest[..n].iter().all(|b| b.is_ascii_graphic()) => Probe::Certain,
                Some(_) => Probe::NotForUs,
                None if rest.len() >= 64 => Probe::NotForUs,
                None => Probe::Unsure,
            }
        }
        _ if data.len() >= 6 => Probe::NotForUs,
        _ => Probe::Unsure,
    }
}

/// A PostgreSQL SSLRequest or v3 StartupMessage from the client.
fn probe_postgresql(dir: Dir, data: &[u8]) -> Probe {
    if !dir.is_orig() {
        return Probe::NotForUs;
    }
    let n = data.len().min(8);
    if data[..n] == PG_SSL_REQUEST[..n] {
        return if n == 8 {
            Probe::Certain
        } else {
            Probe::Unsure
        };
    }
    match data {
        [0, l1, l2, l3, 0, 3, 0, 0, ..] => {
            let len = u32::from_be_bytes([0, *l1, *l2, *l3]);
            if (9..=10_000).contains(&len) {
                Probe::Certain
            } else {
                Probe::NotForUs
            }
        }
        _ if data.len() >= 8 => Probe::NotForUs,
        [a, ..] if *a != 0 => Probe::NotForUs,
        _ => Probe::Unsure,
    }
}

/// An XMPP stream header from the client (`<?xml ...?>` then
/// `<stream:stream`).
fn probe_xmpp(dir: Dir, data: &[u8]) -> Probe {
    if !dir.is_orig() {
        return Probe::NotForUs;
    }
    let s = trim_ws(data);
    if s.is_empty() {
        return Probe::Unsure;
    }
    if s[0] != b'<' {
        return Probe::NotForUs;
    }
    if memchr::memmem::find(s, b"<stream:stream").is_some() {
        return Probe::Certain;
    }
    let xml_decl = b"<?xml";
    let n = s.len().min(xml_decl.len());
    if s[..n] == xml_decl[..n] && s.len() < 512 {
        Probe::Unsure
    } else {
        Probe::NotForUs
    }
}

/// An RDP client opening: TPKT (version 3) carrying an X.224 Connection
/// Request.
fn probe_rdp(dir: Dir, data: &[u8]) -> Probe {
    if !dir.is_orig() {
        return Probe::NotForUs;
    }
    match data {
        [3, 0, h, l, li, cr, ..] => {
            let len = usize::from(u16::from_be_bytes([*h, *l]));
            if (11..=4096).contains(&len) && usize::from(*li) + 5 <= len && cr & 0xf0 == 0xe0 {
                Probe::Certain
            } else {
                Probe::NotForUs
            }
        }
        [3] | [3, 0] | [3, 0, _] | [3, 0, _, _] | [3, 0, _, _, _] | [] => Probe::Unsure,
        _ => Probe::NotForUs,
    }
}

fn trim_ws(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

/// The plaintext opening of one connection.
pub struct Prelude {
    kind: Kind,
    max: usize,
    /// Bytes held per direction (orig, resp) until a decision.
    buf: [Vec<u8>; 2],
    /// The client asked for TLS (MySQL, PostgreSQL, XMPP).
    asked: bool,
}

impl Prelude {
    pub fn new(kind: Kind, config: &ProtoConfig) -> Self {
        Prelude {
            kind,
            max: config.max_line_bytes.max(64),
            buf: Default::default(),
            asked: false,
        }
    }

    fn mysql(&mut self, dir: Dir) -> Status {
        if !dir.is_orig() {
            return Status::Continue;
        }
        let b = &self.buf[0];
        let [l0, l1, l2, _seq, rest @ ..] = b.as_slice() else {
            return Status::Continue;
        };
        let len = usize::from(*l0) | usize::from(*l1) << 8 | usize::from(*l2) << 16;
        let Some(payload) = rest.get(..len) else {
            return Status::Continue;
        };
        // CLIENT_SSL (0x0800) in the capability flags; an SSLRequest is
        // the 32-byte head of a HandshakeResponse, sent alone.
        let ssl = payload.get(..2).is_some_and(|c| c[1] & 0x08 != 0);
        if ssl && len == 32 {
            Status::StartTls
        } else {
            Status::Done
        }
    }

    fn postgresql(&mut self, dir: Dir) -> Status {
        if dir.is_orig() {
            if !self.asked && self.buf[0].len() >= 8 {
                if self.buf[0][..8] == PG_SSL_REQUEST {
                    self.asked = true;
                    self.buf[0].drain(..8);
                } else {
                    return Status::Done;
                }
            }
            return Status::Continue;
        }
        match (self.asked, self.buf[1].first()) {
            (true, Some(b'S')) => Status::StartTls,
            (true, Some(_)) | (false, Some(_)) => Status::Done,
            _ => Status::Continue,
        }
    }

    fn xmpp(&mut self, dir: Dir) -> Status {
        let i = usize::from(!dir.is_orig());
        let token: &[u8] = if dir.is_orig() {
            b"<starttls"
        } else {
            b"<proceed"
        };
        let found = memchr::memmem::find(&self.buf[i], token).is_some();
        if found && dir.is_orig() {
            self.asked = true;
        } else if found && self.asked {
            return Status::StartTls;
        }
        // Keep only a tail long enough to catch a token cut in two.
        let keep = 16;
        let b = &mut self.buf[i];
        if b.len() > keep {
            b.drain(..b.len() - keep);
        }
        Status::Continue
    }

    fn rdp(&mut self, dir: Dir) -> Status {
        if dir.is_orig() {
            return Status::Continue;
        }
        let b = &self.buf[1];
        let [3, 0, h, l, ..] = b.as_slice() else {
            return if b.len() >= 4 {
                Status::Done
            } else {
                Status::Continue
            };
        };
        let len = usize::from(u16::from_be_bytes([*h, *l]));
        let Some(tpdu) = b.get(4..len.max(4)) else {
            return Status::Continue;
        };
        // X.224 Connection Confirm, then an RDP_NEG_RSP (type 2) with the
        // selected protocol: anything but standard RDP security (0) is
        // TLS (1), CredSSP (2) or CredSSP with early auth (8).
        match tpdu {
            [_li, cc, _, _, _, _, _, 2, _flags, _, _, p0, p1, p2, p3, ..] if cc & 0xf0 == 0xd0 => {
                if u32::from_le_bytes([*p0, *p1, *p2, *p3]) != 0 {
                    Status::StartTls
                } else {
                    Status::Done
                }
            }
            _ => Status::Done,
        }
    }
}

impl Analyzer for Prelude {
    fn service(&self) -> botscope_event::Service {
        self.kind.name()
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        let i = usize::from(!dir.is_orig());
        let room = self.max.saturating_sub(self.buf[i].len());
        if data.len() > room {
            ctx.weird(
                "starttls_prelude_too_long",
                Some(format!("{} {}", self.kind.name(), data.len())),
            );
            return Status::Done;
        }
        self.buf[i].extend_from_slice(data);
        match self.kind {
            Kind::Mysql => self.mysql(dir),
            Kind::Postgresql => self.postgresql(dir),
            Kind::Xmpp => self.xmpp(dir),
            Kind::Rdp => self.rdp(dir),
        }
    }

    fn gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Dir, _len: u64) -> Status {
        Status::Done
    }

    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes() {
        let greet = b"\x4a\x00\x00\x00\x0a5.7.31\x00rest";
        assert_eq!(probe_mysql(Dir::Resp, greet), Probe::Certain);
        assert_eq!(probe_mysql(Dir::Orig, greet), Probe::NotForUs);
        assert_eq!(probe_postgresql(Dir::Orig, &PG_SSL_REQUEST), Probe::Certain);
        assert_eq!(
            probe_postgresql(Dir::Orig, b"GET / HTTP/1.1"),
            Probe::NotForUs
        );
        assert_eq!(
            probe_xmpp(Dir::Orig, b"<?xml version='1.0'?><stream:stream to='x'>"),
            Probe::Certain
        );
        assert_eq!(probe_xmpp(Dir::Orig, b"<?xm"), Probe::Unsure);
        assert_eq!(probe_xmpp(Dir::Orig, b"EHLO x"), Probe::NotForUs);
        let cr = [3, 0, 0, 19, 14, 0xe0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0];
        assert_eq!(probe_rdp(Dir::Orig, &cr), Probe::Certain);
        assert_eq!(probe_rdp(Dir::Orig, b"\x16\x03\x01"), Probe::NotForUs);
    }
}
