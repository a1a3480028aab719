//! IRC analyzer: `irc.log` rows as Zeek's `base/protocols/irc` writes
//! them, DCC SEND expectations, and STARTTLS.
//!
//! Lines are split on `\n` (a trailing `\r` dropped) per direction; a line
//! longer than [`ProtoConfig::max_line_bytes`] is reported once as a weird
//! and dropped up to its end. IRCv3 message tags (`@a=b `) and the
//! `:prefix` are skipped.
//!
//! **No panics on any input**: lines are handled as bytes and only turned
//! into text (lossily) for the logged fields.
//!
//! Logged like Zeek (`main.zeek`, `dcc-send.zeek`, the IRC analyzer's
//! parameter splitting), only for lines from the originator:
//! - `NICK n`: command `NICK`, value `n`; the session nick is set after the
//!   row is written;
//! - `USER u h s :real name`: value `u`, addl `h s <real>`, where Zeek
//!   builds the real name by concatenating the words from the 4th on and
//!   adding a space after every word but the first (so `:Tim Wojtulewicz`
//!   becomes `TimWojtulewicz `); reproduced exactly;
//! - `JOIN #a,#b k1`: one row per channel, addl ` with channel key: 'k1'`
//!   or empty;
//! - `PRIVMSG t :\x01DCC SEND file ip port size\x01` (either direction): a
//!   `DCC` row with `dcc_file_name` / `dcc_file_size`, and an
//!   [`Expectation`] for `ip:port` (service `irc-dcc-data`). As in Zeek the
//!   row is a copy of the session record, so `value` and `addl` are those
//!   of the previous logged command (in Zeek's baseline: the channel of the
//!   last JOIN). `dcc_mime_type` is left to the engine, which sees the data
//!   connection.
//!
//! Other commands are not logged (Zeek's set); PRIVMSG/NOTICE lines are
//! counted ([`IrcAnalyzer::privmsg_count`]) for C&C hunting.
//!
//! Caps (every row copies the session, so one line must not fan out into
//! many large rows): at most [`ProtoConfig::irc_max_join_channels`] rows
//! per `JOIN` (weird `irc_too_many_channels` with the count of the rest),
//! and nick, user, value, addl and DCC file name are cut to
//! [`ProtoConfig::irc_max_field_bytes`] (weird `irc_field_too_long`, once
//! per connection).
//!
//! STARTTLS: the client's `STARTTLS` followed by the server's `670`
//! numeric returns [`Status::StartTls`].

use std::net::{IpAddr, Ipv4Addr};

use botscope_event::{Event, Irc};

use crate::util::truncate_str;
use crate::{Analyzer, Ctx, Dir, Expectation, Probe, ProtoConfig, Status};

/// Service name given to announced DCC data connections.
pub const DCC_SERVICE: botscope_event::Service = botscope_event::Service::IRC_DCC_DATA;

/// Probe the first bytes of a direction.
pub fn probe(_dir: Dir, data: &[u8]) -> Probe {
    let line_end = memchr::memchr(b'\n', data);
    let line = &data[..line_end.unwrap_or(data.len())];
    let complete = line_end.is_some();
    let line = skip_tags(line, complete);
    let Some(line) = line else {
        return if complete {
            Probe::NotForUs
        } else {
            Probe::Unsure
        };
    };
    // A client that opens with STARTTLS (IRCv3 tls) is undecided until the
    // server answers with its `670` numeric.
    let bare = line.strip_suffix(b"\r").unwrap_or(line);
    if bare.eq_ignore_ascii_case(b"STARTTLS") {
        return Probe::Unsure;
    }
    const CLIENT: [&[u8]; 6] = [
        b"NICK ",
        b"USER ",
        b"PASS ",
        b"CAP LS",
        b"CAP REQ ",
        b"CAP END",
    ];
    for k in CLIENT {
        match prefix_match(line, k) {
            Probe::NotForUs => {}
            p => {
                return if complete && p == Probe::Unsure {
                    Probe::NotForUs
                } else {
                    p
                }
            }
        }
    }
    if let Some(rest) = line.strip_prefix(b":") {
        // `:server NOTICE ...` or `:server 001 ...`
        let Some(sp) = memchr::memchr(b' ', rest) else {
            return if !complete && rest.len() < 256 && rest.iter().all(|b| b.is_ascii_graphic()) {
                Probe::Unsure
            } else {
                Probe::NotForUs
            };
        };
        if sp == 0 || !rest[..sp].iter().all(|b| b.is_ascii_graphic()) {
            return Probe::NotForUs;
        }
        let cmd = &rest[sp + 1..];
        if let p @ (Probe::Certain | Probe::Unsure) = prefix_match(cmd, b"NOTICE ") {
            return if complete && p == Probe::Unsure {
                Probe::NotForUs
            } else {
                p
            };
        }
        let digits = cmd
            .iter()
            .take(3)
            .take_while(|b| b.is_ascii_digit())
            .count();
        return match cmd.get(3) {
            Some(b' ') if digits == 3 => Probe::Certain,
            None if digits == cmd.len() && !complete => Probe::Unsure,
            _ => Probe::NotForUs,
        };
    }
    Probe::NotForUs
}

/// Case-insensitive prefix test: Certain if `line` starts with `k`, Unsure
/// if `line` is a shorter prefix of `k`.
fn prefix_match(line: &[u8], k: &[u8]) -> Probe {
    if line.len() >= k.len() {
        if line[..k.len()].eq_ignore_ascii_case(k) {
            Probe::Certain
        } else {
            Probe::NotForUs
        }
    } else if k[..line.len()].eq_ignore_ascii_case(line) {
        Probe::Unsure
    } else {
        Probe::NotForUs
    }
}

/// Skip IRCv3 message tags (`@k=v;... `). `None` if the tags are not
/// finished in this (incomplete) line.
fn skip_tags(line: &[u8], complete: bool) -> Option<&[u8]> {
    if line.first() != Some(&b'@') {
        return Some(line);
    }
    match memchr::memchr(b' ', line) {
        Some(sp) => Some(&line[sp + 1..]),
        None if complete => Some(&[]),
        None => None,
    }
}

/// One parsed IRC line: command (upper-cased) and parameters as bytes.
struct Line<'a> {
    command: &'a [u8],
    /// Everything after the command (leading spaces removed).
    params: &'a [u8],
}

fn parse_line(line: &[u8]) -> Option<Line<'_>> {
    let mut l = skip_tags(line, true)?;
    l = trim_start(l);
    if l.first() == Some(&b':') {
        let sp = memchr::memchr(b' ', l)?;
        l = trim_start(&l[sp..]);
    }
    let end = memchr::memchr(b' ', l).unwrap_or(l.len());
    let command = &l[..end];
    if command.is_empty() {
        return None;
    }
    Some(Line {
        command,
        params: trim_start(&l[end..]),
    })
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    s
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Words separated by single spaces, empty words dropped.
fn words(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.split(|&c| c == b' ').filter(|w| !w.is_empty())
}

/// Per-direction line buffer.
#[derive(Default)]
struct LineBuf {
    buf: Vec<u8>,
    /// Dropping the rest of an over-long line.
    discarding: bool,
}

/// `irc.log` producer for one connection.
pub struct IrcAnalyzer {
    max_line: usize,
    /// Most rows per JOIN line.
    max_join: usize,
    /// Longest text field kept in the session or a row.
    max_field: usize,
    field_cap_reported: bool,
    bufs: [LineBuf; 2],
    /// Zeek's session record: nick, user and the last command's fields.
    session: Irc,
    session_ts: Option<botscope_event::Ts>,
    starttls_requested: bool,
    long_line_reported: bool,
    privmsgs: u64,
    status: Status,
}

impl IrcAnalyzer {
    pub fn new(config: &ProtoConfig) -> Self {
        IrcAnalyzer {
            max_line: config.max_line_bytes.max(16),
            max_join: config.irc_max_join_channels,
            max_field: config.irc_max_field_bytes,
            field_cap_reported: false,
            bufs: Default::default(),
            session: Irc::default(),
            session_ts: None,
            starttls_requested: false,
            long_line_reported: false,
            privmsgs: 0,
            status: Status::Continue,
        }
    }

    /// PRIVMSG and NOTICE lines seen (both directions).
    pub fn privmsg_count(&self) -> u64 {
        self.privmsgs
    }

    /// A logged text field, cut to the field cap.
    fn field(&mut self, ctx: &mut Ctx<'_>, b: &[u8]) -> String {
        let mut t = text(b.get(..self.max_field).unwrap_or(b));
        self.cap_field(ctx, &mut t, b.len());
        t
    }

    /// Cut `t` (`len` bytes before conversion) to the field cap; the
    /// first cut of the connection is reported.
    fn cap_field(&mut self, ctx: &mut Ctx<'_>, t: &mut String, len: usize) {
        let cut = truncate_str(t, self.max_field) || len > self.max_field;
        if cut && !self.field_cap_reported {
            self.field_cap_reported = true;
            ctx.weird(
                "irc_field_too_long",
                Some(format!("{len} bytes, cut to {}", self.max_field)),
            );
        }
    }

    fn log(&mut self, ctx: &mut Ctx<'_>) {
        let mut row = self.session.clone();
        row.meta = Some(ctx.meta_at(self.session_ts.unwrap_or(ctx.ts)));
        ctx.emit(Event::Irc(row));
    }

    fn line(&mut self, ctx: &mut Ctx<'_>, dir: Dir, raw: &[u8]) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Some(line) = parse_line(raw) else {
            return;
        };
        let orig = dir.is_orig();
        let cmd = line.command;
        if cmd.eq_ignore_ascii_case(b"NICK") {
            self.session_ts = Some(ctx.ts);
            if orig {
                let nick = words(line.params).next().unwrap_or_default();
                let nick = nick.strip_prefix(b":").unwrap_or(nick);
                let nick = self.field(ctx, nick);
                self.session.command = Some("NICK".into());
                self.session.value = Some(nick.clone());
                self.log(ctx);
                self.session.nick = Some(nick);
            }
        } else if cmd.eq_ignore_ascii_case(b"USER") {
            self.session_ts = Some(ctx.ts);
            if orig {
                let parts: Vec<&[u8]> = words(line.params).collect();
                let get = |i: usize| parts.get(i).map(|p| text(p)).unwrap_or_default();
                let mut real = Vec::new();
                for (i, p) in parts.iter().enumerate().skip(3) {
                    real.extend_from_slice(p);
                    if i > 3 {
                        real.push(b' ');
                    }
                }
                let real = real.strip_prefix(b":").unwrap_or(&real);
                let user = self.field(ctx, parts.first().copied().unwrap_or_default());
                let mut addl = format!("{} {} {}", get(1), get(2), text(real));
                let addl_len = addl.len();
                self.cap_field(ctx, &mut addl, addl_len);
                self.session.command = Some("USER".into());
                self.session.value = Some(user.clone());
                self.session.addl = Some(addl);
                self.log(ctx);
                self.session.user = Some(user);
            }
        } else if cmd.eq_ignore_ascii_case(b"JOIN") {
            self.session_ts = Some(ctx.ts);
            if orig {
                self.session.command = Some("JOIN".into());
                let mut w = words(line.params);
                let chans = w.next().unwrap_or_default();
                let chans = chans.strip_prefix(b":").unwrap_or(chans);
                let keys = w.next().unwrap_or_default();
                let mut keys = keys.split(|&c| c == b',');
                let (mut logged, mut dropped) = (0usize, 0usize);
                for ch in chans.split(|&c| c == b',') {
                    let key = keys.next().unwrap_or_default();
                    if ch.is_empty() {
                        continue;
                    }
                    if logged >= self.max_join {
                        dropped += 1;
                        continue;
                    }
                    logged += 1;
                    let value = self.field(ctx, ch);
                    let addl = if key.is_empty() {
                        String::new()
                    } else {
                        let mut a = format!(" with channel key: '{}'", text(key));
                        let len = a.len();
                        self.cap_field(ctx, &mut a, len);
                        a
                    };
                    self.session.value = Some(value);
                    self.session.addl = Some(addl);
                    self.log(ctx);
                }
                if dropped > 0 {
                    ctx.weird(
                        "irc_too_many_channels",
                        Some(format!("{logged} logged, {dropped} not")),
                    );
                }
            }
        } else if cmd.eq_ignore_ascii_case(b"PRIVMSG") || cmd.eq_ignore_ascii_case(b"NOTICE") {
            self.privmsgs += 1;
            if cmd.eq_ignore_ascii_case(b"PRIVMSG") {
                self.dcc(ctx, line.params);
            }
        } else if orig && cmd.eq_ignore_ascii_case(b"STARTTLS") {
            self.starttls_requested = true;
        } else if !orig && cmd == b"670" && self.starttls_requested {
            self.status = Status::StartTls;
        } else if !orig && cmd == b"691" {
            self.starttls_requested = false;
        }
    }

    /// `target :\x01DCC SEND name ip port size\x01`
    fn dcc(&mut self, ctx: &mut Ctx<'_>, params: &[u8]) {
        let Some(colon) = memchr::memchr(b':', params) else {
            return;
        };
        let msg = &params[colon + 1..];
        let Some(body) = msg.strip_prefix(b"\x01DCC ") else {
            return;
        };
        let body = body.strip_suffix(b"\x01").unwrap_or(body);
        self.session_ts = Some(ctx.ts);
        let parts: Vec<&[u8]> = words(body).collect();
        let [kind, name, ip, port, rest @ ..] = parts.as_slice() else {
            return;
        };
        if !kind.eq_ignore_ascii_case(b"SEND") {
            return;
        }
        let num = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<u64>().ok();
        let (Some(ip), Some(port)) = (num(ip), num(port)) else {
            ctx.weird("irc_invalid_dcc_send", Some(text(body)));
            return;
        };
        let (Ok(ip), Ok(port)) = (u32::try_from(ip), u16::try_from(port)) else {
            ctx.weird("irc_invalid_dcc_send", Some(text(body)));
            return;
        };
        let size = rest.first().and_then(|s| num(s));
        let mut row = self.session.clone();
        row.command = Some("DCC".into());
        row.dcc_file_name = Some(self.field(ctx, name));
        row.dcc_file_size = size;
        row.meta = Some(ctx.meta());
        ctx.emit(Event::Irc(row));
        ctx.expectations.push(Expectation {
            orig_h: None,
            resp_h: IpAddr::V4(Ipv4Addr::from(ip)),
            resp_p: port,
            service: DCC_SERVICE,
            ts: ctx.ts,
            parent: None,
        });
    }

    fn feed(&mut self, ctx: &mut Ctx<'_>, dir: Dir, mut data: &[u8]) {
        let si = usize::from(!dir.is_orig());
        while !data.is_empty() {
            let nl = memchr::memchr(b'\n', data);
            let b = &mut self.bufs[si];
            match nl {
                Some(i) => {
                    let (chunk, rest) = (&data[..i], &data[i + 1..]);
                    data = rest;
                    if b.discarding {
                        b.discarding = false;
                        continue;
                    }
                    if b.buf.is_empty() {
                        if chunk.len() <= self.max_line {
                            self.line(ctx, dir, chunk);
                        } else {
                            self.too_long(ctx, chunk.len());
                        }
                    } else if b.buf.len() + chunk.len() <= self.max_line {
                        let mut line = std::mem::take(&mut b.buf);
                        line.extend_from_slice(chunk);
                        self.line(ctx, dir, &line);
                        line.clear();
                        self.bufs[si].buf = line;
                    } else {
                        b.buf.clear();
                        self.too_long(ctx, self.max_line + 1);
                    }
                }
                None => {
                    if !b.discarding {
                        if b.buf.len() + data.len() <= self.max_line {
                            b.buf.extend_from_slice(data);
                        } else {
                            b.buf.clear();
                            b.discarding = true;
                            self.too_long(ctx, self.max_line + 1);
                        }
                    }
                    return;
                }
            }
            if self.status == Status::StartTls {
                return;
            }
        }
    }

    fn too_long(&mut self, ctx: &mut Ctx<'_>, len: usize) {
        if !self.long_line_reported {
            self.long_line_reported = true;
            ctx.weird("irc_line_too_long", Some(format!(">= {len} bytes")));
        }
    }
}

impl Analyzer for IrcAnalyzer {
    fn service(&self) -> botscope_event::Service {
        botscope_event::Service::IRC
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        if self.status != Status::Continue {
            // STARTTLS was already reported: the TLS analyzer owns the rest.
            return Status::Done;
        }
        self.feed(ctx, dir, data);
        self.status
    }

    fn gap(&mut self, _ctx: &mut Ctx<'_>, dir: Dir, _len: u64) -> Status {
        // Resynchronise at the next line end.
        let b = &mut self.bufs[usize::from(!dir.is_orig())];
        b.buf.clear();
        b.discarding = true;
        self.status
    }

    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}
