//! POP3 and IMAP: service detection and STARTTLS only.
//!
//! Zeek writes no log for these protocols either; what matters here is
//! that `conn.log` names the service (a POP3 credential-checking bot is
//! a behaviour worth seeing) and that a TLS session started with `STLS`
//! (POP3) or `STARTTLS` (IMAP) reaches the TLS analyzer, so its SNI and
//! JA3/JA4 are logged.
//!
//! Line-based, both directions; lines are capped at
//! [`ProtoConfig::max_line_bytes`]: a longer line is reported
//! (`line_too_long`) and dropped up to its newline, so its tail is never
//! read as a command. After a gap, bytes up to the next newline are
//! dropped too. Never panics.

use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

/// Which mailbox protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mailbox {
    Pop3,
    Imap,
}

fn first_line(data: &[u8]) -> (&[u8], bool) {
    match memchr::memchr(b'\n', data) {
        Some(i) => (&data[..i], true),
        None => (data, false),
    }
}

/// `ours` is a prefix of `line` → Certain; `line` (incomplete) is a prefix
/// of `ours` → Unsure.
fn starts(line: &[u8], complete: bool, ours: &[u8]) -> Probe {
    if line.len() >= ours.len() {
        if line[..ours.len()].eq_ignore_ascii_case(ours) {
            Probe::Certain
        } else {
            Probe::NotForUs
        }
    } else if !complete && ours[..line.len()].eq_ignore_ascii_case(line) {
        Probe::Unsure
    } else {
        Probe::NotForUs
    }
}

/// POP3: the server greets with `+OK`; a client opening with `USER`,
/// `CAPA`, `STLS` or `AUTH` is undecided until the server speaks.
pub fn probe_pop3(dir: Dir, data: &[u8]) -> Probe {
    let (line, complete) = first_line(data);
    match dir {
        Dir::Resp => starts(line, complete, b"+OK"),
        Dir::Orig => {
            for k in [&b"USER "[..], b"CAPA", b"STLS", b"AUTH ", b"APOP "] {
                if starts(line, complete, k) != Probe::NotForUs {
                    return Probe::Unsure;
                }
            }
            Probe::NotForUs
        }
    }
}

/// IMAP: the server greets with `* OK` or `* PREAUTH`; a client line is a
/// tag followed by a command.
pub fn probe_imap(dir: Dir, data: &[u8]) -> Probe {
    let (line, complete) = first_line(data);
    match dir {
        Dir::Resp => match starts(line, complete, b"* OK") {
            Probe::NotForUs => starts(line, complete, b"* PREAUTH"),
            p => p,
        },
        Dir::Orig => {
            let Some(sp) = memchr::memchr(b' ', line) else {
                return if !complete && line.len() < 32 && line.iter().all(u8::is_ascii_alphanumeric)
                {
                    Probe::Unsure
                } else {
                    Probe::NotForUs
                };
            };
            let tag = &line[..sp];
            if tag.is_empty() || tag.len() > 32 || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return Probe::NotForUs;
            }
            let cmd = &line[sp + 1..];
            for k in [&b"CAPABILITY"[..], b"LOGIN ", b"STARTTLS", b"AUTHENTICATE "] {
                if starts(cmd, complete, k) != Probe::NotForUs {
                    return Probe::Unsure;
                }
            }
            Probe::NotForUs
        }
    }
}

/// Per-direction line assembly.
#[derive(Default)]
struct LineBuf {
    buf: Vec<u8>,
    /// Dropping the rest of an over-long line (or of the line a gap cut),
    /// up to its newline.
    skipping: bool,
}

/// Follows a POP3 or IMAP session until TLS starts.
pub struct MailboxAnalyzer {
    kind: Mailbox,
    max_line: usize,
    bufs: [LineBuf; 2],
    /// The client asked for TLS (IMAP: with this tag).
    tls_requested: Option<Vec<u8>>,
    /// Login attempts seen in clear (POP3 `PASS`, IMAP `LOGIN`).
    logins: u64,
}

impl MailboxAnalyzer {
    pub fn new(kind: Mailbox, config: &ProtoConfig) -> Self {
        MailboxAnalyzer {
            kind,
            max_line: config.max_line_bytes,
            bufs: Default::default(),
            tls_requested: None,
            logins: 0,
        }
    }

    /// Login attempts seen in clear text so far.
    pub fn login_attempts(&self) -> u64 {
        self.logins
    }

    fn line(&mut self, dir: Dir, line: &[u8]) -> Status {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match (self.kind, dir) {
            (Mailbox::Pop3, Dir::Orig) => {
                if line.eq_ignore_ascii_case(b"STLS") {
                    self.tls_requested = Some(Vec::new());
                } else if line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"PASS ") {
                    self.logins += 1;
                }
            }
            (Mailbox::Pop3, Dir::Resp) => {
                if self.tls_requested.take().is_some() && line.starts_with(b"+OK") {
                    return Status::StartTls;
                }
            }
            (Mailbox::Imap, Dir::Orig) => {
                if let Some(sp) = memchr::memchr(b' ', line) {
                    let cmd = &line[sp + 1..];
                    if cmd.eq_ignore_ascii_case(b"STARTTLS") {
                        self.tls_requested = Some(line[..sp].to_vec());
                    } else if cmd.len() >= 6 && cmd[..6].eq_ignore_ascii_case(b"LOGIN ") {
                        self.logins += 1;
                    }
                }
            }
            (Mailbox::Imap, Dir::Resp) => {
                if let Some(tag) = &self.tls_requested {
                    if !tag.is_empty()
                        && line.len() > tag.len() + 3
                        && line.starts_with(tag)
                        && line[tag.len()..].starts_with(b" OK")
                    {
                        self.tls_requested = None;
                        return Status::StartTls;
                    }
                }
            }
        }
        Status::Continue
    }
}

impl Analyzer for MailboxAnalyzer {
    fn service(&self) -> botscope_event::Service {
        match self.kind {
            Mailbox::Pop3 => botscope_event::Service::POP3,
            Mailbox::Imap => botscope_event::Service::IMAP,
        }
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        let i = usize::from(dir == Dir::Resp);
        let mut rest = data;
        while !rest.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(nl) => {
                    let lb = &mut self.bufs[i];
                    if std::mem::take(&mut lb.skipping) {
                        rest = &rest[nl + 1..];
                        continue;
                    }
                    if lb.buf.len() + nl > self.max_line {
                        lb.buf.clear();
                        ctx.weird("line_too_long", Some(self.service().to_string()));
                        rest = &rest[nl + 1..];
                        continue;
                    }
                    let mut buf = std::mem::take(&mut lb.buf);
                    let st = if buf.is_empty() {
                        self.line(dir, &rest[..nl])
                    } else {
                        buf.extend_from_slice(&rest[..nl]);
                        let st = self.line(dir, &buf);
                        buf.clear();
                        st
                    };
                    self.bufs[i].buf = buf;
                    rest = &rest[nl + 1..];
                    if st != Status::Continue {
                        return st;
                    }
                }
                None => {
                    let lb = &mut self.bufs[i];
                    if lb.skipping {
                        // Still inside a dropped line.
                    } else if lb.buf.len() + rest.len() > self.max_line {
                        lb.buf.clear();
                        lb.skipping = true;
                        ctx.weird("line_too_long", Some(self.service().to_string()));
                    } else {
                        lb.buf.extend_from_slice(rest);
                    }
                    rest = &[];
                }
            }
        }
        Status::Continue
    }

    fn gap(&mut self, _ctx: &mut Ctx<'_>, dir: Dir, _len: u64) -> Status {
        // Where the next line starts is unknown: resynchronise after the
        // next newline.
        let lb = &mut self.bufs[usize::from(dir == Dir::Resp)];
        lb.buf.clear();
        lb.skipping = true;
        Status::Continue
    }

    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use botscope_event::{ConnId, Event, Transport, Ts, Uid};
    use std::net::{IpAddr, Ipv4Addr};

    fn feed(an: &mut MailboxAnalyzer, script: &[(Dir, &[u8])]) -> Vec<Status> {
        feed_weirds(an, script).0
    }

    /// Statuses of each call, and the weirds reported.
    fn feed_weirds(
        an: &mut MailboxAnalyzer,
        script: &[(Dir, &[u8])],
    ) -> (Vec<Status>, Vec<String>) {
        let cfg = ProtoConfig::default();
        let mut sink: Vec<Event> = Vec::new();
        let mut exp = Vec::new();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let st = script
            .iter()
            .map(|(d, b)| {
                let mut ctx = Ctx {
                    ts: Ts(0),
                    uid: Uid(1),
                    id: ConnId {
                        orig_h: ip,
                        orig_p: 1,
                        resp_h: ip,
                        resp_p: 110,
                        proto: Transport::Tcp,
                    },
                    config: &cfg,
                    sink: &mut sink,
                    expectations: &mut exp,
                };
                an.data(&mut ctx, *d, b)
            })
            .collect();
        let weirds = sink
            .into_iter()
            .filter_map(|e| match e {
                Event::Weird(w) => Some(w.name),
                _ => None,
            })
            .collect();
        (st, weirds)
    }

    /// Review finding: after `line_too_long` the buffer was cleared and the
    /// tail of the long line was later read as a line of its own, so a
    /// tail of `STLS` asked for TLS.
    #[test]
    fn mailbox_long_line_tail_is_not_a_command() {
        use Status::{Continue, StartTls};
        let cfg = ProtoConfig {
            max_line_bytes: 64,
            ..ProtoConfig::default()
        };
        let long = [b'A'; 100];
        let mut an = MailboxAnalyzer::new(Mailbox::Pop3, &cfg);
        let (st, weirds) = feed_weirds(
            &mut an,
            &[
                (Dir::Resp, b"+OK ready\r\n"),
                (Dir::Orig, &long),
                (Dir::Orig, b"STLS\r\n"),
                (Dir::Resp, b"+OK Begin TLS\r\n"),
                // A real STLS on a line of its own still works.
                (Dir::Orig, b"STLS\r\n"),
                (Dir::Resp, b"+OK Begin TLS\r\n"),
            ],
        );
        assert_eq!(
            st,
            [Continue, Continue, Continue, Continue, Continue, StartTls]
        );
        assert_eq!(weirds, ["line_too_long"]);

        // The same, one byte per call: one weird, not one per byte.
        let mut an = MailboxAnalyzer::new(Mailbox::Pop3, &cfg);
        let mut script: Vec<(Dir, &[u8])> = long.chunks(1).map(|c| (Dir::Orig, c)).collect();
        script.push((Dir::Orig, b"STLS\r\n"));
        script.push((Dir::Resp, b"+OK Begin TLS\r\n"));
        let (st, weirds) = feed_weirds(&mut an, &script);
        assert!(st.iter().all(|s| *s == Continue));
        assert_eq!(weirds, ["line_too_long"]);

        // IMAP: a tagged STARTTLS as the tail, and an over-long line that
        // ends in the same call.
        let mut an = MailboxAnalyzer::new(Mailbox::Imap, &cfg);
        let mut whole = long.to_vec();
        whole.extend_from_slice(b" a2 STARTTLS\r\n");
        let (st, weirds) = feed_weirds(
            &mut an,
            &[
                (Dir::Resp, b"* OK ready\r\n"),
                (Dir::Orig, &long),
                (Dir::Orig, b"a1 STARTTLS\r\n"),
                (Dir::Resp, b"a1 OK Begin TLS negotiation now\r\n"),
                (Dir::Orig, &whole),
                (Dir::Resp, b"a2 OK Begin TLS negotiation now\r\n"),
            ],
        );
        assert!(st.iter().all(|s| *s == Continue), "{st:?}");
        assert_eq!(weirds, ["line_too_long", "line_too_long"]);
    }

    #[test]
    fn probes() {
        assert_eq!(probe_pop3(Dir::Resp, b"+OK POP3 ready\r\n"), Probe::Certain);
        assert_eq!(probe_pop3(Dir::Resp, b"+O"), Probe::Unsure);
        assert_eq!(probe_pop3(Dir::Orig, b"USER bob\r\n"), Probe::Unsure);
        assert_eq!(probe_pop3(Dir::Resp, b"220 smtp\r\n"), Probe::NotForUs);
        assert_eq!(
            probe_imap(Dir::Resp, b"* OK [CAPABILITY IMAP4rev1] ready\r\n"),
            Probe::Certain
        );
        assert_eq!(probe_imap(Dir::Orig, b"a1 STARTTLS\r\n"), Probe::Unsure);
        assert_eq!(
            probe_imap(Dir::Orig, b"GET / HTTP/1.1\r\n"),
            Probe::NotForUs
        );
        assert_eq!(probe_imap(Dir::Resp, b"+OK"), Probe::NotForUs);
    }

    #[test]
    fn pop3_stls_and_logins() {
        let mut an = MailboxAnalyzer::new(Mailbox::Pop3, &ProtoConfig::default());
        let st = feed(
            &mut an,
            &[
                (Dir::Resp, b"+OK ready\r\n"),
                (Dir::Orig, b"USER a\r\nPASS b\r\n"),
                (Dir::Resp, b"-ERR no\r\n"),
                (Dir::Orig, b"ST"),
                (Dir::Orig, b"LS\r\n"),
                (Dir::Resp, b"+OK Begin TLS\r\n"),
            ],
        );
        assert_eq!(st.last(), Some(&Status::StartTls));
        assert_eq!(an.login_attempts(), 1);
    }

    #[test]
    fn imap_starttls_needs_matching_tag() {
        let mut an = MailboxAnalyzer::new(Mailbox::Imap, &ProtoConfig::default());
        let st = feed(
            &mut an,
            &[
                (Dir::Resp, b"* OK ready\r\n"),
                (Dir::Orig, b"a2 STARTTLS\r\n"),
                (Dir::Resp, b"a1 OK other\r\n"),
                (Dir::Resp, b"a2 OK Begin TLS negotiation now\r\n"),
            ],
        );
        assert_eq!(
            st,
            vec![
                Status::Continue,
                Status::Continue,
                Status::Continue,
                Status::StartTls
            ]
        );
    }
}
