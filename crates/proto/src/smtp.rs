//! SMTP analyzer with Zeek `smtp.log` semantics, plus message carving.
//!
//! Both directions are line based (CRLF, bare LF tolerated); a line is
//! buffered up to [`ProtoConfig::max_line_bytes`] (longer lines are cut,
//! with a `smtp_line_too_long` weird). Client commands wait in a queue
//! (capped by [`ProtoConfig::max_pending`]) for their replies, which are
//! paired in order, so PIPELINING works. After `DATA` and a 354 reply (or
//! `BDAT`) the message is carved, dot-unstuffed, up to
//! [`ProtoConfig::max_message_bytes`], and emitted as a [`CarvedMessage`].
//!
//! Rows are logged as Zeek does: when the reply to the end of data
//! arrives, when a new `MAIL FROM` starts after client activity, when the
//! server accepts `STARTTLS` (then [`Status::StartTls`] is returned), and
//! at the end of the connection. Header fields come from the top-level
//! header block of the message. As in Zeek, `first_received` ends up as
//! the last `Received` header in the block (the oldest hop) and
//! `second_received` the one before it; `path` is the responder, the
//! originator, then one address per `Received` header.
//!
//! `commands`, `pipelined` and `auth_user` describe the session so far
//! (they carry over from row to row).
//!
//! **No panics on any input**: bytes are only sliced after length checks,
//! lengths read from the wire (`BDAT`) use checked arithmetic, and every
//! buffer is capped.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;

use botscope_event::{CarvedMessage, Event, Smtp, Ts};

use crate::http::{base64_decode, bytes_to_string, trim_blank};
use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

/// Most verbs kept in `commands`.
const MAX_COMMANDS: usize = 64;
/// Longest verb kept in `commands`.
const MAX_VERB: usize = 32;
/// Most recipients kept per transaction.
const MAX_RCPT: usize = 1024;
/// Most `To`/`Cc` entries kept per message.
const MAX_ADDRS: usize = 1024;
/// Most addresses in `path`.
const MAX_PATH: usize = 64;
/// Decoded bytes of a mail part that its type is judged from.
const SNIFF_BYTES: usize = 512;
/// Most arrival times kept per message (later packets share the last).
const MAX_MARKS: usize = 4096;
/// Malformed replies in a row before the analyzer reports a violation.
const MAX_BAD_REPLIES: u32 = 8;

// ---------------------------------------------------------------------------
// Probe

/// Is this the start of an SMTP stream from `dir`?
///
/// Server side: a `220 ` / `220-` greeting followed by text. Client side:
/// `EHLO ` / `HELO ` (case-insensitive).
pub fn probe(dir: Dir, data: &[u8]) -> Probe {
    match dir {
        Dir::Resp => {
            let head = data.get(..4).unwrap_or(data);
            let ok_prefix = head.iter().enumerate().all(|(i, &b)| match i {
                0 => b == b'2',
                1 => b == b'2',
                2 => b == b'0',
                _ => b == b' ' || b == b'-',
            });
            if !ok_prefix {
                return Probe::NotForUs;
            }
            match data.get(4) {
                None => Probe::Unsure,
                Some(&b) if b.is_ascii_graphic() || b >= 0x80 => Probe::Certain,
                Some(_) => Probe::NotForUs,
            }
        }
        Dir::Orig => {
            let head = data.get(..5).unwrap_or(data);
            let matches = |pat: &[u8]| {
                pat.get(..head.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(head))
            };
            if !(matches(b"EHLO ") || matches(b"HELO ")) {
                Probe::NotForUs
            } else if head.len() < 5 {
                Probe::Unsure
            } else {
                Probe::Certain
            }
        }
    }
}

// ---------------------------------------------------------------------------
// State

/// A client command awaiting its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Data,
    /// The end of a DATA message (the lone ".").
    EndOfData,
    Bdat {
        last: bool,
    },
    StartTls,
    Auth(AuthMech),
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthMech {
    Plain,
    /// LOGIN: how many credential lines the client has sent so far.
    Login(u8),
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Commands,
    /// Inside a DATA message.
    Data {
        line_start: bool,
        dot: DotState,
    },
    /// This many BDAT chunk bytes still to come.
    Bdat {
        remaining: u64,
        last: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DotState {
    None,
    /// A "." at the start of a line.
    Dot,
    /// ".\r" at the start of a line.
    DotCr,
}

/// Line assembly for one direction.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    /// The current line passed the cap (already reported).
    overflow: bool,
    /// After a gap: drop bytes up to the next newline.
    skip: bool,
}

/// The distinct values already in the row's `rcptto`, `to` and `cc`, so
/// that de-duplication is one hash lookup, not a scan of up to 1,024
/// strings as long as a line (or a header).
#[derive(Default)]
struct SeenAddrs {
    rcpt: HashSet<String>,
    to: HashSet<String>,
    cc: HashSet<String>,
}

/// A message being carved.
struct Message {
    ts: Ts,
    data: Vec<u8>,
    /// When the data reached each length (a point per packet, capped at
    /// [`MAX_MARKS`]): the time span of each MIME entity.
    marks: Vec<(usize, Ts)>,
    truncated: bool,
    /// Its headers go into the row (not for a DATA message sent while a
    /// BDAT message was still open: Zeek does not parse it).
    headers: bool,
}

/// A line break followed by a dot: where DATA may end or a dot is unstuffed.
static LINE_DOT: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\n."));

/// One grown message buffer per thread, passed from message to message
/// whatever the connection: a message is gathered in it and leaves as an
/// exact-size copy. Grown afresh for every message, its doublings touched
/// twice the message's size in new memory (zeroed by the kernel, 2 MiB
/// at a time under transparent huge pages) plus a copy per doubling.
mod spare {
    use std::cell::Cell;

    /// A larger buffer is not kept (its memory goes back to the allocator).
    const MAX_KEPT: usize = 4 << 20;

    thread_local! {
        static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }

    pub(super) fn take() -> Vec<u8> {
        SPARE.with(Cell::take)
    }

    pub(super) fn give(mut v: Vec<u8>) {
        if v.capacity() <= MAX_KEPT {
            v.clear();
            SPARE.with(|s| {
                // Keep the larger of the two.
                let old = s.take();
                s.set(if old.capacity() > v.capacity() {
                    old
                } else {
                    v
                });
            });
        }
    }
}

/// SMTP analyzer for one connection.
pub struct SmtpAnalyzer {
    max_line: usize,
    max_msg: usize,
    max_pending: usize,
    orig: Lines,
    resp: Lines,
    client: Client,
    pending: VecDeque<Cmd>,
    /// A 334 challenge arrived: the next client line answers it.
    auth_expect: Option<AuthMech>,
    /// Row being filled, and when it was started.
    cur: Smtp,
    cur_ts: Option<Ts>,
    /// What `cur`'s address lists hold.
    seen: SeenAddrs,
    received_ips: Vec<IpAddr>,
    activity: bool,
    messages: u32,
    helo: Option<String>,
    commands: Vec<String>,
    pipelined: bool,
    auth_user: Option<String>,
    msg: Option<Message>,
    /// STARTTLS accepted: the rest is TLS.
    tls: bool,
    /// Row of a transferred message, waiting for the reply to its end.
    awaiting: Option<Smtp>,
    /// Messages started before the reply to their DATA was seen, whose
    /// reply is still to come.
    implied_pending: u32,
    /// DATA commands sent, and the count when a message was last started
    /// without its reply (each DATA starts at most one).
    data_cmds: u64,
    implied_at: u64,
    /// Replies that parsed, and malformed replies in a row.
    good_replies: u64,
    bad_replies: u32,
    /// The server side does not speak SMTP: report a violation.
    violation: bool,
    extract: Option<std::sync::Arc<crate::extract::Extractor>>,
}

impl SmtpAnalyzer {
    pub fn new(config: &ProtoConfig) -> Self {
        SmtpAnalyzer {
            max_line: config.max_line_bytes.max(16),
            max_msg: config.max_message_bytes,
            max_pending: config.max_pending.max(1),
            orig: Lines::default(),
            resp: Lines::default(),
            client: Client::Commands,
            pending: VecDeque::new(),
            auth_expect: None,
            cur: Smtp {
                trans_depth: 1,
                ..Smtp::default()
            },
            cur_ts: None,
            seen: SeenAddrs::default(),
            received_ips: Vec::new(),
            activity: false,
            messages: 0,
            helo: None,
            commands: Vec::new(),
            pipelined: false,
            auth_user: None,
            msg: None,
            tls: false,
            awaiting: None,
            implied_pending: 0,
            data_cmds: 0,
            implied_at: 0,
            good_replies: 0,
            bad_replies: 0,
            violation: false,
            extract: config.extract.clone(),
        }
    }
}

impl Analyzer for SmtpAnalyzer {
    fn service(&self) -> botscope_event::Service {
        botscope_event::Service::SMTP
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        if self.tls {
            return Status::Done;
        }
        if self.cur_ts.is_none() {
            self.cur_ts = Some(ctx.ts);
        }
        let mut rest = data;
        while !rest.is_empty() {
            let used = if dir == Dir::Orig && self.client != Client::Commands {
                self.message_bytes(ctx, rest)
            } else {
                self.line_bytes(ctx, dir, rest)
            };
            rest = rest.get(used..).unwrap_or_default();
            if self.tls {
                return Status::StartTls;
            }
            if std::mem::take(&mut self.violation) {
                return Status::Violation;
            }
        }
        Status::Continue
    }

    fn gap(&mut self, ctx: &mut Ctx<'_>, dir: Dir, len: u64) -> Status {
        if self.tls {
            return Status::Done;
        }
        match (dir, self.client) {
            (Dir::Orig, Client::Data { .. }) => {
                if let Some(m) = self.msg.as_mut() {
                    m.truncated = true;
                }
                // Where the gap ends is unknown. Take it as a line start:
                // the lone "." is often sent in a segment of its own, and
                // a false ".\r\n" right after a gap is unlikely.
                self.client = Client::Data {
                    line_start: true,
                    dot: DotState::None,
                };
            }
            (Dir::Orig, Client::Bdat { remaining, last }) => {
                if let Some(m) = self.msg.as_mut() {
                    m.truncated = true;
                }
                if len <= remaining {
                    let remaining = remaining - len;
                    self.client = Client::Bdat { remaining, last };
                    if remaining == 0 {
                        self.bdat_chunk_done(ctx, last);
                    }
                } else {
                    // The gap ran past the chunk: where it ends is
                    // unknown; take it as a line start, as Zeek resumes
                    // (a client sends its next command in a segment of
                    // its own more often than not).
                    self.bdat_chunk_done(ctx, last);
                    self.orig.buf.clear();
                    self.orig.overflow = false;
                    self.orig.skip = false;
                }
            }
            _ => {
                let lines = match dir {
                    Dir::Orig => &mut self.orig,
                    Dir::Resp => &mut self.resp,
                };
                lines.buf.clear();
                lines.overflow = false;
                lines.skip = true;
            }
        }
        Status::Continue
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        if self.tls {
            return;
        }
        if let Some(row) = self.awaiting.take() {
            ctx.emit(Event::Smtp(row));
        }
        if self.msg.is_some() {
            // The connection ended inside the message.
            if let Some(m) = self.msg.as_mut() {
                m.truncated = true;
            }
            self.end_message(ctx);
            self.client = Client::Commands;
        }
        if self.activity {
            self.emit_row(ctx);
        }
    }
}

impl SmtpAnalyzer {
    // -- line assembly ------------------------------------------------------

    /// Take bytes of one line from `data`; handle the line when complete.
    fn line_bytes(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> usize {
        let max_line = self.max_line;
        let lines = match dir {
            Dir::Orig => &mut self.orig,
            Dir::Resp => &mut self.resp,
        };
        let nl = memchr::memchr(b'\n', data);
        let used = nl.map_or(data.len(), |i| i + 1);
        if lines.skip {
            if nl.is_some() {
                lines.skip = false;
            }
            return used;
        }
        let chunk = data.get(..used).unwrap_or_default();
        if nl.is_some() && lines.buf.is_empty() && chunk.len() <= max_line {
            // Fast path: the whole line is here.
            self.handle_line(ctx, dir, chunk);
            return used;
        }
        let room = max_line.saturating_sub(lines.buf.len());
        if chunk.len() > room && !lines.overflow {
            lines.overflow = true;
            ctx.weird(
                "smtp_line_too_long",
                Some(format!("{} line over {} bytes", dir_name(dir), max_line)),
            );
        }
        lines
            .buf
            .extend_from_slice(chunk.get(..chunk.len().min(room)).unwrap_or_default());
        if nl.is_some() {
            let line = std::mem::take(&mut lines.buf);
            lines.overflow = false;
            self.handle_line(ctx, dir, &line);
            let lines = match dir {
                Dir::Orig => &mut self.orig,
                Dir::Resp => &mut self.resp,
            };
            // Keep the allocation for the next line.
            if lines.buf.is_empty() {
                lines.buf = line;
                lines.buf.clear();
            }
        }
        used
    }

    fn handle_line(&mut self, ctx: &mut Ctx<'_>, dir: Dir, raw: &[u8]) {
        match dir {
            Dir::Orig => self.client_line(ctx, raw),
            Dir::Resp => self.server_line(ctx, raw),
        }
    }

    // -- client -------------------------------------------------------------

    fn client_line(&mut self, ctx: &mut Ctx<'_>, raw: &[u8]) {
        let line = strip_eol(raw);
        if let Some(mech) = self.auth_expect.take() {
            self.auth_response(mech, line);
            return;
        }
        if line.is_empty() {
            return;
        }
        let sp = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let verb = line.get(..sp).unwrap_or_default();
        let arg = trim_blank(line.get(sp..).unwrap_or_default());

        // DATA still awaits its reply (354 missed, or the client did not
        // wait for it): a line that is no command, or looks like a
        // header, starts the message.
        if self.pending.back() == Some(&Cmd::Data)
            && self.implied_at != self.data_cmds
            && (!is_known_verb(verb) || looks_like_header(line))
        {
            self.implied_at = self.data_cmds;
            self.implied_pending = self.implied_pending.saturating_add(1);
            self.start_message(ctx);
            self.client = Client::Data {
                line_start: true,
                dot: DotState::None,
            };
            self.message_bytes(ctx, raw);
            return;
        }

        if self.commands.len() < MAX_COMMANDS {
            let v = verb.get(..verb.len().min(MAX_VERB)).unwrap_or_default();
            self.commands.push(bytes_to_string(v));
        }
        let upper = ascii_upper(verb);
        let cmd = match upper.as_slice() {
            b"HELO" | b"EHLO" => {
                let h = bytes_to_string(arg);
                self.helo = Some(h.clone());
                self.cur.helo = Some(h);
                Cmd::Other
            }
            b"MAIL" if starts_with_ci(arg, b"FROM:") => {
                if self.activity {
                    self.emit_row(ctx);
                }
                if let Some(a) = extract_email_addrs(arg).into_iter().next() {
                    self.cur.mailfrom = Some(a);
                }
                self.activity = true;
                Cmd::Other
            }
            b"RCPT" if starts_with_ci(arg, b"TO:") => {
                for a in extract_email_addrs(arg) {
                    let a = a.replace("ORCPT=rfc822;", "").replace("ORCPT=rfc822", "");
                    if self.seen.rcpt.contains(&a) {
                        continue;
                    }
                    if self.cur.rcptto.len() >= MAX_RCPT {
                        ctx.weird("smtp_too_many_recipients", Some(MAX_RCPT.to_string()));
                        break;
                    }
                    self.seen.rcpt.insert(a.clone());
                    self.cur.rcptto.push(a);
                }
                self.activity = true;
                Cmd::Other
            }
            b"DATA" => {
                self.data_cmds = self.data_cmds.saturating_add(1);
                Cmd::Data
            }
            b"BDAT" => self.bdat_command(ctx, arg),
            b"STARTTLS" => Cmd::StartTls,
            b"AUTH" => self.auth_command(arg),
            _ => Cmd::Other,
        };
        self.push_pending(ctx, cmd);
    }

    fn push_pending(&mut self, ctx: &mut Ctx<'_>, cmd: Cmd) {
        if !self.pending.is_empty() {
            self.pipelined = true;
        }
        if self.pending.len() >= self.max_pending {
            ctx.weird(
                "smtp_too_many_pending_commands",
                Some(self.max_pending.to_string()),
            );
            self.pending.pop_front();
        }
        self.pending.push_back(cmd);
    }

    fn bdat_command(&mut self, ctx: &mut Ctx<'_>, arg: &[u8]) -> Cmd {
        let mut toks = arg
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty());
        let size = toks.next().and_then(parse_u64);
        let last = toks.next().is_some_and(|t| t.eq_ignore_ascii_case(b"LAST"));
        match size {
            Some(remaining) => {
                if self.msg.is_none() {
                    self.start_message(ctx);
                }
                self.client = Client::Bdat { remaining, last };
                if remaining == 0 {
                    self.bdat_chunk_done(ctx, last);
                }
            }
            None => ctx.weird("smtp_bad_bdat_size", Some(bytes_to_string(arg))),
        }
        Cmd::Bdat { last }
    }

    fn auth_command(&mut self, arg: &[u8]) -> Cmd {
        let mut toks = arg
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty());
        let mech = toks.next().map(ascii_upper).unwrap_or_default();
        let initial = toks.next().filter(|t| *t != b"=");
        match mech.as_slice() {
            b"PLAIN" => {
                if let Some(i) = initial {
                    self.auth_response(AuthMech::Plain, i);
                }
                Cmd::Auth(AuthMech::Plain)
            }
            b"LOGIN" => match initial {
                Some(i) => {
                    self.auth_response(AuthMech::Login(0), i);
                    Cmd::Auth(AuthMech::Login(1))
                }
                None => Cmd::Auth(AuthMech::Login(0)),
            },
            _ => Cmd::Auth(AuthMech::Other),
        }
    }

    /// A base64 credential line (after a 334 challenge, or inline).
    fn auth_response(&mut self, mech: AuthMech, line: &[u8]) {
        let Some(decoded) = base64_decode(trim_blank(line)) else {
            return;
        };
        match mech {
            AuthMech::Plain => {
                // authzid NUL authcid NUL passwd
                let mut parts = decoded.split(|&b| b == 0);
                let authzid = parts.next().unwrap_or_default();
                let authcid = parts.next().unwrap_or_default();
                let user = if authcid.is_empty() { authzid } else { authcid };
                if !user.is_empty() {
                    self.auth_user = Some(bytes_to_string(user));
                }
            }
            AuthMech::Login(0) => {
                if !decoded.is_empty() {
                    self.auth_user = Some(bytes_to_string(&decoded));
                }
            }
            // The password, or an unknown mechanism: nothing kept.
            AuthMech::Login(_) | AuthMech::Other => {}
        }
    }

    // -- server -------------------------------------------------------------

    fn server_line(&mut self, ctx: &mut Ctx<'_>, raw: &[u8]) {
        let line = strip_eol(raw);
        if line.is_empty() {
            return;
        }
        let code = match line.get(..3) {
            Some([a, b, c]) if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
            }
            _ => {
                let addl = bytes_to_string(line.get(..line.len().min(64)).unwrap_or_default());
                ctx.weird("smtp_malformed_reply", Some(addl));
                self.bad_replies = self.bad_replies.saturating_add(1);
                // Not SMTP at all (POP3, IMAP, TLS...), or lost for good.
                if self.good_replies == 0 || self.bad_replies >= MAX_BAD_REPLIES {
                    self.violation = true;
                }
                return;
            }
        };
        self.good_replies = self.good_replies.saturating_add(1);
        self.bad_replies = 0;
        let cont = line.get(3) == Some(&b'-');
        let text = line.get(4..).unwrap_or_default();
        let ends_message = matches!(
            self.pending.front(),
            Some(Cmd::EndOfData | Cmd::Bdat { last: true })
        );
        let slot = match self.awaiting.as_mut() {
            Some(row) if ends_message => &mut row.last_reply,
            _ => &mut self.cur.last_reply,
        };
        // "CODE text", written over the previous reply's string.
        let reply = slot.get_or_insert_with(String::new);
        reply.clear();
        reply.push_str(itoa::Buffer::new().format(code));
        reply.push(' ');
        crate::http::push_lossy(reply, text);
        if cont {
            return;
        }
        let Some(&cmd) = self.pending.front() else {
            // Greeting or unsolicited reply.
            return;
        };
        if code == 354 && cmd != Cmd::Data {
            // A 354 for a DATA we no longer wait for.
            return;
        }
        match cmd {
            Cmd::Data => {
                self.pending.pop_front();
                if self.implied_pending > 0 {
                    // The message was already taken from the client side.
                    self.implied_pending -= 1;
                } else if code == 354 {
                    self.start_message(ctx);
                    self.client = Client::Data {
                        line_start: true,
                        dot: DotState::None,
                    };
                    self.partial_line_to_message(ctx);
                }
            }
            Cmd::EndOfData | Cmd::Bdat { last: true } => {
                self.pending.pop_front();
                if let Some(row) = self.awaiting.take() {
                    ctx.emit(Event::Smtp(row));
                }
            }
            Cmd::StartTls => {
                self.pending.pop_front();
                if code == 220 {
                    self.cur.tls = true;
                    self.activity = true;
                    self.emit_row(ctx);
                    self.tls = true;
                }
            }
            Cmd::Auth(mech) => {
                if code == 334 {
                    self.auth_expect = Some(mech);
                    if let Some(Cmd::Auth(AuthMech::Login(n))) = self.pending.front_mut() {
                        *n = n.saturating_add(1);
                    }
                } else {
                    self.pending.pop_front();
                }
            }
            Cmd::Bdat { last: false } | Cmd::Other => {
                self.pending.pop_front();
            }
        }
    }

    // -- message carving ----------------------------------------------------

    /// The 354 arrived while part of a client line was buffered: those
    /// bytes were sent after `DATA`, so they start the message (at a line
    /// start), not a command.
    fn partial_line_to_message(&mut self, ctx: &mut Ctx<'_>) {
        if self.orig.buf.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.orig.buf);
        self.orig.overflow = false;
        let mut rest = buf.as_slice();
        while !rest.is_empty() {
            // The buffer holds no newline, so the message takes it all;
            // stay correct should that change.
            let used = if self.client == Client::Commands {
                self.line_bytes(ctx, Dir::Orig, rest)
            } else {
                self.message_bytes(ctx, rest)
            };
            rest = rest.get(used..).unwrap_or_default();
        }
        if self.orig.buf.is_empty() {
            let mut buf = buf;
            buf.clear();
            self.orig.buf = buf;
        }
    }

    fn start_message(&mut self, ctx: &mut Ctx<'_>) {
        // A DATA message while a BDAT message is still open (RFC 3030
        // forbids mixing them): the BDAT message ends here, and the new
        // one is carved but not read into the row, as Zeek does not.
        let headers = match self.msg.take() {
            Some(mut old) => {
                ctx.weird("smtp_data_during_bdat", None);
                old.truncated = true;
                self.msg = Some(old);
                self.end_message(ctx);
                false
            }
            None => true,
        };
        self.msg = Some(Message {
            ts: ctx.ts,
            data: spare::take(),
            marks: Vec::new(),
            truncated: false,
            headers,
        });
    }

    fn push_msg(&mut self, ctx: &mut Ctx<'_>, bytes: &[u8]) {
        let max = self.max_msg;
        let Some(m) = self.msg.as_mut() else {
            return;
        };
        if m.marks.len() < MAX_MARKS && m.marks.last().is_none_or(|&(_, t)| t != ctx.ts) {
            m.marks.push((m.data.len(), ctx.ts));
        }
        let room = max.saturating_sub(m.data.len());
        if bytes.len() > room {
            if !m.truncated || m.data.len() < max {
                ctx.weird("smtp_message_too_long", Some(max.to_string()));
            }
            m.truncated = true;
        }
        m.data
            .extend_from_slice(bytes.get(..bytes.len().min(room)).unwrap_or_default());
    }

    /// Bytes of a DATA message or BDAT chunk; returns bytes used.
    fn message_bytes(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> usize {
        match self.client {
            Client::Commands => 0,
            Client::Bdat { remaining, last } => {
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                self.push_msg(ctx, data.get(..take).unwrap_or_default());
                let remaining = remaining.saturating_sub(take as u64);
                self.client = Client::Bdat { remaining, last };
                if remaining == 0 {
                    self.bdat_chunk_done(ctx, last);
                }
                take
            }
            Client::Data { line_start, dot } => self.data_bytes(ctx, data, line_start, dot),
        }
    }

    fn data_bytes(
        &mut self,
        ctx: &mut Ctx<'_>,
        data: &[u8],
        mut line_start: bool,
        mut dot: DotState,
    ) -> usize {
        let mut i = 0;
        while let Some(&b) = data.get(i) {
            match dot {
                DotState::Dot => {
                    if b == b'\n' {
                        return self.data_end(ctx, i + 1);
                    }
                    if b == b'\r' {
                        dot = DotState::DotCr;
                        i += 1;
                        continue;
                    }
                    // Stuffed dot: dropped; this byte is line content.
                    dot = DotState::None;
                    line_start = false;
                    continue;
                }
                DotState::DotCr => {
                    if b == b'\n' {
                        return self.data_end(ctx, i + 1);
                    }
                    self.push_msg(ctx, b"\r");
                    dot = DotState::None;
                    line_start = false;
                    continue;
                }
                DotState::None => {}
            }
            if line_start && b == b'.' {
                dot = DotState::Dot;
                i += 1;
                continue;
            }
            // Only a dot at the start of a line matters: everything up to
            // the next line that starts with one is message content, taken
            // in one piece rather than a line at a time.
            let rest = data.get(i..).unwrap_or_default();
            match LINE_DOT.find(rest) {
                Some(p) => {
                    self.push_msg(ctx, rest.get(..=p).unwrap_or_default());
                    i += p + 1;
                    line_start = true;
                }
                None => {
                    self.push_msg(ctx, rest);
                    i = data.len();
                    line_start = rest.last() == Some(&b'\n');
                }
            }
        }
        self.client = Client::Data { line_start, dot };
        data.len()
    }

    /// The lone "." was seen; `used` bytes of the current input consumed.
    fn data_end(&mut self, ctx: &mut Ctx<'_>, used: usize) -> usize {
        self.end_message(ctx);
        self.message_done(ctx);
        self.client = Client::Commands;
        self.push_pending(ctx, Cmd::EndOfData);
        used
    }

    fn bdat_chunk_done(&mut self, ctx: &mut Ctx<'_>, last: bool) {
        self.client = Client::Commands;
        if last {
            self.end_message(ctx);
            self.message_done(ctx);
        }
    }

    /// A message was transferred: its row waits for the server's verdict
    /// (commands pipelined after the message go to a new row).
    fn message_done(&mut self, ctx: &mut Ctx<'_>) {
        // Zeek counts a message transferred when the server answers it: in
        // a capture of the client's side only, every row is depth 1.
        if self.good_replies > 0 {
            self.messages = self.messages.saturating_add(1);
        }
        if let Some(old) = self.awaiting.take() {
            ctx.emit(Event::Smtp(old));
        }
        self.awaiting = Some(self.take_row(ctx));
    }

    /// Emit the carved message and take its header fields into the row.
    fn end_message(&mut self, ctx: &mut Ctx<'_>) {
        let Some(m) = self.msg.take() else {
            return;
        };
        if m.headers {
            self.parse_headers(&m.data);
            self.entity_files(ctx, &m);
        }
        self.activity = true;
        let ev = CarvedMessage {
            meta: ctx.meta_at(m.ts),
            trans_depth: self.cur.trans_depth,
            helo: self.cur.helo.clone(),
            mailfrom: self.cur.mailfrom.clone(),
            rcptto: self.cur.rcptto.clone(),
            data: m.data.to_vec(),
            truncated: m.truncated,
        };
        spare::give(m.data);
        ctx.emit(Event::Message(ev));
    }

    /// A `files.log` row for each MIME entity of the message (Zeek's
    /// SMTP file analysis), their ids into the row's `fuids`.
    fn entity_files(&mut self, ctx: &mut Ctx<'_>, m: &Message) {
        let at = |off: usize| {
            let i = m.marks.partition_point(|&(o, _)| o <= off);
            m.marks.get(i.saturating_sub(1)).map_or(m.ts, |&(_, t)| t)
        };
        for e in crate::mime::entities(&m.data) {
            let (start, end) = (at(e.raw.start), at(e.raw.end.saturating_sub(1)));
            let n =
                0x534d_5450_0000_0000 | u64::from(self.cur.trans_depth) << 16 | u64::from(e.depth);
            let fuid = crate::http::fuid(ctx.uid, n, true);
            // Its type from its first bytes, decoded alone.
            let mime_type = crate::util::mime_from_magic(&e.head(SNIFF_BYTES));
            // Attachments (a file name, or content that is not text) are
            // decoded and hashed: the files an analyst looks up. A text
            // body is only measured, unless it is extracted (then its
            // copy is hashed too). A part cut by the message cap has no
            // hash worth computing.
            let attachment =
                e.filename.is_some() || !mime_type.is_some_and(|m| m.starts_with("text/"));
            let cut = m.truncated && e.raw.end >= m.data.len();
            // Without extraction the hash is taken as the content is
            // decoded, never holding it whole.
            let (sha256, seen_bytes, extracted) = match &self.extract {
                Some(x) => {
                    let c = e.content();
                    let sha256 = (!cut).then(|| {
                        use sha2::Digest;
                        hex::encode(sha2::Sha256::digest(&c))
                    });
                    (sha256, c.len(), x.write_whole(&c, start, "SMTP", &fuid))
                }
                None if attachment && !cut => {
                    let (h, n) = e.content_sha256();
                    (Some(hex::encode(h)), n, None)
                }
                // Measured only: a text body, or a part cut short.
                None => (None, e.decoded_len(), None),
            };
            ctx.emit(Event::File(botscope_event::File {
                meta: Some(ctx.meta_at(start)),
                fuid: fuid.clone(),
                source: "SMTP",
                depth: e.depth,
                analyzers: if sha256.is_some() {
                    vec!["SHA256"]
                } else {
                    Vec::new()
                },
                mime_type: mime_type.map(str::to_string),
                filename: e.filename,
                duration: Some(end.since(start)),
                is_orig: true,
                seen_bytes: seen_bytes as u64,
                total_bytes: None,
                missing_bytes: 0,
                sha256,
                extracted_cutoff: extracted.as_ref().map(|e| e.cutoff),
                extracted_size: extracted.as_ref().map(|e| e.size),
                extracted: extracted.map(|e| e.name),
            }));
            self.cur.fuids.push(fuid);
        }
    }

    fn parse_headers(&mut self, msg: &[u8]) {
        let mut name: Vec<u8> = Vec::new();
        let mut value: Vec<u8> = Vec::new();
        let mut have = false;
        for raw in msg.split_inclusive(|&b| b == b'\n') {
            let line = strip_eol(raw);
            if line.is_empty() {
                break;
            }
            if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                if have {
                    value.extend_from_slice(line);
                }
                continue;
            }
            if have {
                self.header(&name, trim_blank(&value));
            }
            have = false;
            if let Some(c) = line.iter().position(|&b| b == b':') {
                name.clear();
                name.extend_from_slice(trim_blank(line.get(..c).unwrap_or_default()));
                value.clear();
                value.extend_from_slice(line.get(c + 1..).unwrap_or_default());
                have = !name.is_empty();
            }
            // The last line of a capped message may be cut: it still counts.
            if !raw.ends_with(b"\n") {
                break;
            }
        }
        if have {
            self.header(&name, trim_blank(&value));
        }
    }

    fn header(&mut self, name: &[u8], value: &[u8]) {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let v = || bytes_to_string(value);
        if is("message-id") {
            self.cur.msg_id = Some(v());
        } else if is("received") {
            if let Some(prev) = self.cur.first_received.take() {
                self.cur.second_received = Some(prev);
            }
            self.cur.first_received = Some(v());
            let ips = extract_ips_wrapped(value, true);
            let ip = if ips.len() > 1 {
                ips.get(1)
            } else {
                ips.first()
            };
            if let Some(&ip) = ip {
                if self.received_ips.last() != Some(&ip) && self.received_ips.len() < MAX_PATH {
                    self.received_ips.push(ip);
                }
            }
        } else if is("in-reply-to") {
            self.cur.in_reply_to = Some(v());
        } else if is("subject") {
            self.cur.subject = Some(v());
        } else if is("from") {
            self.cur.from = Some(v());
        } else if is("reply-to") {
            self.cur.reply_to = Some(v());
        } else if is("date") {
            self.cur.date = Some(v());
        } else if is("to") {
            add_addrs(&mut self.cur.to, &mut self.seen.to, value);
        } else if is("cc") {
            add_addrs(&mut self.cur.cc, &mut self.seen.cc, value);
        } else if is("x-originating-ip") {
            if let Some(&ip) = extract_ips(value).first() {
                self.cur.x_originating_ip = Some(ip);
            }
        } else if is("x-mailer") || is("user-agent") || is("x-user-agent") {
            self.cur.user_agent = Some(v());
        }
    }

    // -- rows ---------------------------------------------------------------

    /// Log the current row and start a new one.
    fn emit_row(&mut self, ctx: &mut Ctx<'_>) {
        let row = self.take_row(ctx);
        ctx.emit(Event::Smtp(row));
    }

    /// Finish the current row and start a new one (helo carried over).
    fn take_row(&mut self, ctx: &mut Ctx<'_>) -> Smtp {
        let mut row = std::mem::take(&mut self.cur);
        let ts = self.cur_ts.unwrap_or(ctx.ts);
        row.meta = Some(ctx.meta_at(ts));
        let mut path = vec![ctx.id.resp_h, ctx.id.orig_h];
        for ip in self.received_ips.drain(..) {
            if path.last() != Some(&ip) {
                path.push(ip);
            }
        }
        row.path = path;
        row.commands = self.commands.clone();
        row.pipelined = self.pipelined;
        row.auth_user = self.auth_user.clone();
        row.message_file = None;
        self.seen = SeenAddrs::default();
        // Zeek: trans_depth is fixed when the row starts.
        self.cur = Smtp {
            trans_depth: self.messages.saturating_add(1),
            helo: self.helo.clone(),
            ..Smtp::default()
        };
        self.cur_ts = Some(ctx.ts);
        self.activity = false;
        row
    }
}

// ---------------------------------------------------------------------------
// Helpers

fn dir_name(dir: Dir) -> &'static str {
    match dir {
        Dir::Orig => "orig",
        Dir::Resp => "resp",
    }
}

fn strip_eol(mut line: &[u8]) -> &[u8] {
    if let [rest @ .., b'\n'] = line {
        line = rest;
    }
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    line
}

fn ascii_upper(b: &[u8]) -> Vec<u8> {
    b.get(..b.len().min(MAX_VERB))
        .unwrap_or_default()
        .to_ascii_uppercase()
}

fn starts_with_ci(b: &[u8], pat: &[u8]) -> bool {
    b.get(..pat.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(pat))
}

fn parse_u64(t: &[u8]) -> Option<u64> {
    if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in t {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

const KNOWN_VERBS: &[&[u8]] = &[
    b"HELO",
    b"EHLO",
    b"MAIL",
    b"RCPT",
    b"DATA",
    b"BDAT",
    b"RSET",
    b"QUIT",
    b"NOOP",
    b"VRFY",
    b"EXPN",
    b"HELP",
    b"AUTH",
    b"STARTTLS",
    b"TURN",
    b"ETRN",
    b"XCLIENT",
    b"XFORWARD",
];

fn is_known_verb(verb: &[u8]) -> bool {
    KNOWN_VERBS.iter().any(|v| v.eq_ignore_ascii_case(verb))
}

/// `Name: value` with a printable token as the name.
fn looks_like_header(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(c) if c > 0 => line
            .get(..c)
            .is_some_and(|n| n.iter().all(|&b| b.is_ascii_graphic())),
        _ => false,
    }
}

/// Zeek's `extract_email_addrs_vec`: `local@domain` tokens delimited by
/// `<`, `,`, `:`, blanks on the left and `>`, `,`, `;`, blanks on the right.
///
/// Linear in `s`: the scan left from an `@` stops at the previous `@`, and
/// the scan right only runs when the local part is valid, after which the
/// search resumes at the end of the match (or right after the `@` when
/// the domain is empty, having looked at one byte).
fn extract_email_addrs(s: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(off) = s.get(from..).and_then(|r| memchr::memchr(b'@', r)) {
        let at = from + off;
        let mut start = at;
        while start > 0 {
            match s.get(start - 1) {
                Some(b'<' | b',' | b':' | b' ' | b'\t' | b'@') | None => break,
                Some(_) => start -= 1,
            }
        }
        let left_ok = start < at
            && (start == 0 || matches!(s.get(start - 1), Some(b'<' | b',' | b':' | b' ' | b'\t')));
        if !left_ok {
            from = at + 1;
            continue;
        }
        let end = s
            .get(at + 1..)
            .and_then(|r| {
                r.iter()
                    .position(|b| matches!(b, b'>' | b',' | b';' | b' ' | b'\t'))
            })
            .map_or(s.len(), |p| at + 1 + p);
        if end > at + 1 {
            if let Some(addr) = s.get(start..end) {
                out.push(bytes_to_string(addr));
            }
            from = end;
        } else {
            from = at + 1;
        }
        if out.len() >= MAX_RCPT {
            break;
        }
    }
    out
}

/// Zeek's `split_mime_email_addresses`: split on commas outside double
/// quotes, trim, keep distinct values (`seen` holds what `list` holds).
fn add_addrs(list: &mut Vec<String>, seen: &mut HashSet<String>, value: &[u8]) {
    let mut in_quote = false;
    let mut start = 0;
    let mut push = |part: &[u8]| {
        let p = trim_blank(part);
        if p.is_empty() || list.len() >= MAX_ADDRS {
            return;
        }
        let s = bytes_to_string(p);
        if !seen.contains(&s) {
            seen.insert(s.clone());
            list.push(s);
        }
    };
    for (i, &b) in value.iter().enumerate() {
        match b {
            b'"' => in_quote = !in_quote,
            b',' if !in_quote => {
                push(value.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    push(value.get(start..).unwrap_or_default());
}

/// IP addresses mentioned in a header value, in order.
fn extract_ips(value: &[u8]) -> Vec<IpAddr> {
    extract_ips_wrapped(value, false)
}

/// [`extract_ips`]; with `wrapped`, only addresses between a matching
/// pair of brackets, parentheses, braces or spaces, or making up the
/// whole value (Zeek's `extract_ip_addresses(value, T)`, which its SMTP
/// script uses for `Received:` so that `[IPv6:...]` literals and
/// address-like strings are left out of `path`).
fn extract_ips_wrapped(value: &[u8], wrapped: bool) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let is_tok = |b: u8| b.is_ascii_hexdigit() || b == b'.' || b == b':';
    let mut i = 0;
    while i < value.len() {
        // "IPv6:" address literal prefix (RFC 5321).
        if value
            .get(i..i + 5)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"IPv6:"))
        {
            i += 5;
            continue;
        }
        if !value.get(i).copied().is_some_and(is_tok) {
            i += 1;
            continue;
        }
        let start = i;
        while value.get(i).copied().is_some_and(is_tok) {
            i += 1;
        }
        let tok = value.get(start..i).unwrap_or_default();
        let tok = trim_matches(tok, |b| b == b'.' || b == b':');
        if tok.len() < 7 || !tok.iter().any(u8::is_ascii_digit) {
            continue;
        }
        let colons = tok.iter().filter(|&&b| b == b':').count();
        let plausible = if colons == 0 {
            tok.iter().filter(|&&b| b == b'.').count() == 3
        } else {
            colons >= 2
        };
        if !plausible {
            continue;
        }
        if wrapped {
            let lead = value[start..i]
                .iter()
                .take_while(|&&b| b == b'.' || b == b':')
                .count();
            let (b, e) = (start + lead, start + lead + tok.len());
            let before = b.checked_sub(1).and_then(|k| value.get(k)).copied();
            let after = value.get(e).copied();
            let ok = matches!(
                (before, after),
                (None, None)
                    | (Some(b'['), Some(b']'))
                    | (Some(b'('), Some(b')'))
                    | (Some(b'{'), Some(b'}'))
                    | (Some(b' '), Some(b' '))
            );
            if !ok {
                continue;
            }
        }
        if let Some(ip) = std::str::from_utf8(tok)
            .ok()
            .and_then(|t| t.parse::<IpAddr>().ok())
        {
            out.push(ip);
            if out.len() >= MAX_PATH {
                break;
            }
        }
    }
    out
}

fn trim_matches(mut b: &[u8], f: impl Fn(u8) -> bool) -> &[u8] {
    while let [first, rest @ ..] = b {
        if f(*first) {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if f(*last) {
            b = rest;
        } else {
            break;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_extraction_like_zeek() {
        assert_eq!(extract_email_addrs(b"FROM:<a@b.c> SIZE=123"), ["a@b.c"]);
        assert_eq!(extract_email_addrs(b"FROM:<>"), Vec::<String>::new());
        assert_eq!(
            extract_email_addrs(b"TO:<x@y> ORCPT=rfc822;x@y"),
            ["x@y", "ORCPT=rfc822;x@y"]
        );
        assert_eq!(
            extract_email_addrs(b"FROM: bob@example.com"),
            ["bob@example.com"]
        );
        assert_eq!(extract_email_addrs(b"@@@"), Vec::<String>::new());
    }

    #[test]
    fn ips_in_headers() {
        let v = b"from mail.example.com (mail.example.com [1.2.3.4]) by mx (Postfix) with ESMTP id 12:34:56; Tue, 1 Jan 2019 10:20:30 +0000";
        assert_eq!(extract_ips(v), ["1.2.3.4".parse::<IpAddr>().unwrap()]);
        let v = b"from [IPv6:2001:db8::1] by [10.0.0.1]";
        assert_eq!(
            extract_ips(v),
            [
                "2001:db8::1".parse::<IpAddr>().unwrap(),
                "10.0.0.1".parse().unwrap()
            ]
        );
        assert!(extract_ips(b"deadbeef cafe 1.2.3 a:b").is_empty());
        // Received: only wrapped addresses (an IPv6 literal's `IPv6:`
        // prefix unwraps it, as in Zeek).
        let v = b"from x (x [IPv6:2607:f8b0::42f]) by y ([23.128.96.19]:56766) id 1.2.3.4;";
        assert_eq!(
            extract_ips_wrapped(v, true),
            ["23.128.96.19".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            extract_ips_wrapped(b"10.0.0.1", true),
            ["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn address_lists() {
        let (mut v, mut seen) = (Vec::new(), HashSet::new());
        add_addrs(&mut v, &mut seen, b"\"Doe, John\" <j@d>, a@b ,a@b,, c@d");
        assert_eq!(v, ["\"Doe, John\" <j@d>", "a@b", "c@d"]);
        add_addrs(&mut v, &mut seen, b"c@d, e@f");
        assert_eq!(v, ["\"Doe, John\" <j@d>", "a@b", "c@d", "e@f"]);
    }

    #[test]
    fn probes() {
        assert_eq!(
            probe(Dir::Resp, b"220 mx.example.com ESMTP\r\n"),
            Probe::Certain
        );
        assert_eq!(probe(Dir::Resp, b"220-mx"), Probe::Certain);
        assert_eq!(probe(Dir::Resp, b"22"), Probe::Unsure);
        assert_eq!(probe(Dir::Resp, b"220 "), Probe::Unsure);
        assert_eq!(probe(Dir::Resp, b"HTTP/1.1 200"), Probe::NotForUs);
        assert_eq!(probe(Dir::Resp, b"250 ok"), Probe::NotForUs);
        assert_eq!(probe(Dir::Orig, b"ehlo x"), Probe::Certain);
        assert_eq!(probe(Dir::Orig, b"HEL"), Probe::Unsure);
        assert_eq!(probe(Dir::Orig, b"GET / HTTP/1.1"), Probe::NotForUs);
    }
}
