//! FTP control connections: `ftp.log` rows and the data connections they
//! announce.
//!
//! Follows Zeek's FTP analyzer and `base/protocols/ftp` scripts:
//! - a client line is a command word (upper-cased) and an argument; a
//!   server line is a reply (`NNN text`, `NNN-` opening a multi-line
//!   reply, continuation lines);
//! - each reply is paired with the most plausible pending command
//!   (Zeek's `get_pending_cmd` scoring: a reply code the command may
//!   get, the command or its argument quoted in the reply, then the
//!   oldest);
//! - a command's row is written when the next command arrives, when
//!   several commands wait for replies, or at the end of the session —
//!   with the latest reply, as Zeek does;
//! - `PORT`/`EPRT` and the replies to `PASV`/`EPSV` announce a data
//!   connection: an [`Expectation`] named `ftp-data`, linked to this
//!   connection's uid;
//! - file commands get a `ftp://server/path` argument built from the
//!   working directory (`CWD`, `CDUP`, `PWD` replies);
//! - the password is logged only for guest users (`anonymous`, `ftp`,
//!   `ftpuser`, `guest`), `<hidden>` otherwise.
//!
//! By default only the commands Zeek logs by default get a row
//! ([`ZEEK_LOGGED_COMMANDS`]); [`ProtoConfig::ftp_log_all_commands`]
//! logs every command (logins, `SYST`, `QUIT`, ...).
//!
//! Lines are capped at [`ProtoConfig::max_line_bytes`] (weird
//! `line_too_long`, the line is dropped up to its newline); at most
//! [`MAX_PENDING_COMMANDS`] commands wait for replies (weird
//! `FTP_too_many_pending_commands`); user, password, argument and reply
//! text are cut as Zeek cuts them. Never panics.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use botscope_event::{Event, Ftp, FtpDataChannel, Ts};

use crate::{Analyzer, Ctx, Dir, Expectation, Probe, ProtoConfig, Status};

/// The service name of an announced data connection.
pub const DATA_SERVICE: botscope_event::Service = botscope_event::Service::FTP_DATA;

/// Commands Zeek's `FTP::logged_commands` holds by default.
pub const ZEEK_LOGGED_COMMANDS: &[&str] = &[
    "APPE", "DELE", "RETR", "STOR", "STOU", "ACCT", "PORT", "PASV", "EPRT", "EPSV",
];

/// User names whose password Zeek logs (`FTP::guest_ids`).
pub const GUEST_IDS: &[&str] = &["anonymous", "ftp", "ftpuser", "guest"];

/// Commands waiting for a reply (`FTP::max_pending_commands`).
pub const MAX_PENDING_COMMANDS: usize = 20;
/// Longest user and password kept (`FTP::max_user_length`, `max_password_length`).
pub const MAX_USER_BYTES: usize = 128;
/// Longest argument and reply text logged (`FTP::max_arg_length`, `max_reply_msg_length`).
pub const MAX_ARG_BYTES: usize = 4096;
/// Longest command word; longer ones are not commands (weird
/// `FTP_max_command_length_exceeded`), as in Zeek.
pub const MAX_COMMAND_BYTES: usize = 100;

/// Commands whose argument names a file or directory (`ftp://` URL).
const FILE_CMDS: &[&str] = &[
    "APPE", "CWD", "DELE", "MKD", "RETR", "RMD", "RNFR", "RNTO", "STOR", "STOU", "REST", "SIZE",
    "MDTM",
];

/// Reply codes each command may get (Zeek's `FTP::cmd_reply_code`, RFC 959
/// and extensions).
fn reply_fits(cmd: &str, code: u16) -> bool {
    let codes: &[u16] = match cmd {
        "<init>" => &[120, 220, 421, 0],
        "USER" => &[230, 331, 332, 421, 530, 500, 501],
        "PASS" => &[230, 202, 332, 421, 530, 500, 501, 503],
        "ACCT" => &[230, 202, 421, 530, 500, 501, 503],
        "CWD" => &[250, 421, 500, 501, 502, 530, 550],
        "CDUP" => &[200, 250, 421, 500, 501, 502, 530, 550],
        "SMNT" => &[202, 250, 421, 500, 501, 502, 530, 550],
        "REIN" => &[120, 220, 421, 500, 502],
        "QUIT" => &[221, 500, 0],
        "PORT" => &[200, 421, 500, 501, 530],
        "PASV" => &[227, 421, 500, 501, 502, 530],
        "MODE" => &[200, 421, 500, 501, 502, 504, 530],
        "TYPE" => &[200, 421, 500, 501, 504, 530],
        "STRU" => &[200, 421, 500, 501, 504, 530],
        "ALLO" => &[200, 202, 421, 500, 501, 504, 530],
        "REST" => &[200, 350, 421, 500, 501, 502, 530],
        "STOR" | "STOU" => &[
            110, 125, 150, 226, 250, 421, 425, 426, 451, 551, 552, 532, 450, 452, 553, 500, 501,
            530, 550,
        ],
        "RETR" => &[
            110, 125, 150, 226, 250, 421, 425, 426, 451, 450, 500, 501, 530, 550,
        ],
        "LIST" | "NLST" => &[
            125, 150, 226, 250, 421, 425, 426, 451, 450, 500, 501, 502, 530, 550,
        ],
        "APPE" => &[
            125, 150, 226, 250, 421, 425, 426, 451, 551, 552, 532, 450, 550, 452, 553, 500, 501,
            502, 530,
        ],
        "RNFR" => &[350, 421, 450, 550, 500, 501, 502, 530],
        "RNTO" => &[250, 421, 532, 553, 500, 501, 502, 503, 530],
        "DELE" => &[250, 421, 450, 550, 500, 501, 502, 530],
        "RMD" => &[250, 421, 500, 501, 502, 530, 550],
        "MKD" => &[257, 421, 500, 501, 502, 530, 550],
        "PWD" => &[257, 421, 500, 501, 502, 550],
        "ABOR" => &[225, 226, 421, 500, 501, 502],
        "SYST" => &[215, 421, 500, 501, 502, 530],
        "STAT" => &[211, 212, 213, 421, 450, 500, 501, 502, 530],
        "HELP" => &[200, 211, 214, 421, 500, 501, 502],
        "SITE" => &[200, 202, 214, 500, 501, 502, 530],
        "NOOP" => &[200, 421, 500],
        "LPRT" => &[500, 501, 521],
        "FEAT" => &[211, 500, 502],
        "OPTS" => &[200, 451, 501],
        "EPSV" => &[229, 500, 501],
        "EPRT" => &[200, 500, 501, 522],
        "SIZE" | "MDTM" => &[213, 500, 501, 550],
        "MLST" | "MLSD" => &[150, 226, 250, 500, 501, 550],
        "CLNT" => &[200, 500],
        "MACB" => &[200, 500, 550],
        "<missing>" => &[0],
        _ => &[],
    };
    codes.contains(&code)
}

/// Commands that are surely FTP when a client opens with them.
const OPENING_COMMANDS: &[&[u8]] = &[
    b"USER ", b"AUTH ", b"FEAT", b"SYST", b"OPTS ", b"PASS ", b"CLNT ",
];

/// FTP: the server greets with `220`/`120` (a multi-line greeting
/// allowed); the client sends `USER` (or `AUTH TLS`, `FEAT`, ...).
///
/// As Zeek's DPD, the greeting alone does not decide (SMTP greets with
/// `220` too): the client's command does. On the ports Zeek registers for
/// FTP (21, 2811) a greeting or a client command alone is enough.
pub fn probe(input: &crate::ProbeInput<'_>) -> Probe {
    let ftp_port = matches!(input.resp_p, 21 | 2811);
    let server = if input.resp.is_empty() {
        Probe::Unsure
    } else {
        probe_greeting(input.resp)
    };
    if server == Probe::NotForUs {
        return Probe::NotForUs;
    }
    let client = if input.orig.is_empty() {
        Probe::Unsure
    } else {
        probe_opening(input.orig)
    };
    // A greeting that names FTP (`ProFTPD`, `vsFTPd`, `Microsoft FTP
    // Service`, ...) and not SMTP speaks for itself.
    let greeting = crate::first_line(input.resp);
    let names_ftp = crate::contains_ci(greeting, b"FTP") && !crate::contains_ci(greeting, b"SMTP");
    match (server, client) {
        (_, Probe::NotForUs) => Probe::NotForUs,
        (Probe::Certain, Probe::Certain) => Probe::Certain,
        (Probe::Certain, _) if names_ftp => Probe::Certain,
        (Probe::Certain, _) | (_, Probe::Certain) if ftp_port => Probe::Certain,
        _ => Probe::Unsure,
    }
}

/// The server's first line: `220 ...`, `220-...` or `120 ...`.
fn probe_greeting(data: &[u8]) -> Probe {
    let data = trim_leading_space(data);
    let head = data.get(..4).unwrap_or(data);
    let ok = head.iter().enumerate().all(|(i, &b)| match i {
        0 => b == b'2' || b == b'1',
        1 => b == b'2',
        2 => b == b'0',
        _ => b == b' ' || b == b'-' || b == b'\r' || b == b'\n',
    });
    if !ok {
        return Probe::NotForUs;
    }
    if head.len() < 4 {
        Probe::Unsure
    } else {
        Probe::Certain
    }
}

/// The client's first line: one of [`OPENING_COMMANDS`] (a whole word).
fn probe_opening(data: &[u8]) -> Probe {
    let data = trim_leading_space(data);
    let (line, complete) = match memchr::memchr(b'\n', data) {
        Some(i) => (&data[..i], true),
        None => (data, false),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    for k in OPENING_COMMANDS {
        let word = k.strip_suffix(b" ").unwrap_or(k);
        if line.len() >= word.len() && line[..word.len()].eq_ignore_ascii_case(word) {
            match line.get(word.len()) {
                Some(b' ') => return Probe::Certain,
                None if complete => return Probe::Certain,
                None => return Probe::Unsure,
                Some(_) => {}
            }
        } else if !complete && word[..line.len().min(word.len())].eq_ignore_ascii_case(line) {
            return Probe::Unsure;
        }
    }
    Probe::NotForUs
}

fn trim_leading_space(data: &[u8]) -> &[u8] {
    let n = data
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    &data[n..]
}

/// A command waiting for (or paired with) its reply: Zeek's `CmdArg`.
#[derive(Clone, Debug)]
struct CmdArg {
    ts: Ts,
    cmd: String,
    arg: String,
    seq: u64,
    cwd_consumed: bool,
}

/// Per-direction line assembly.
#[derive(Default)]
struct LineBuf {
    buf: Vec<u8>,
    /// Dropping the rest of an over-long line (or of the line a gap cut).
    skipping: bool,
}

/// Follows one FTP control connection.
pub struct FtpAnalyzer {
    max_line: usize,
    log_all: bool,
    bufs: [LineBuf; 2],
    /// The session exists (Zeek's `c$ftp`): created by the first line.
    started: bool,
    pending: BTreeMap<u64, CmdArg>,
    command_seq: u64,
    cmdarg: Option<CmdArg>,
    reply_code: Option<u16>,
    reply_msg: Option<String>,
    /// Multi-line reply in progress (its code).
    pending_reply: u16,
    user: String,
    password: Option<String>,
    cwd: String,
    file_size: Option<u64>,
    data_channel: Option<FtpDataChannel>,
    /// A server line broke the protocol: stop (Zeek's violation).
    violated: bool,
    /// `AUTH TLS` was accepted: TLS follows.
    start_tls: bool,
}

impl FtpAnalyzer {
    pub fn new(config: &ProtoConfig) -> Self {
        FtpAnalyzer {
            max_line: config.max_line_bytes,
            log_all: config.ftp_log_all_commands,
            bufs: Default::default(),
            started: false,
            pending: BTreeMap::new(),
            command_seq: 0,
            cmdarg: None,
            reply_code: None,
            reply_msg: None,
            pending_reply: 0,
            user: "<unknown>".to_string(),
            password: None,
            cwd: ".".to_string(),
            file_size: None,
            data_channel: None,
            violated: false,
            start_tls: false,
        }
    }

    fn session(&mut self, ctx: &Ctx<'_>) {
        if !self.started {
            self.started = true;
            self.add_pending(ctx.ts, "<init>".to_string(), String::new());
        }
    }

    fn add_pending(&mut self, ts: Ts, cmd: String, arg: String) {
        self.command_seq += 1;
        let seq = self.command_seq;
        self.pending.insert(
            seq,
            CmdArg {
                ts,
                cmd,
                arg,
                seq,
                cwd_consumed: false,
            },
        );
    }

    fn request(&mut self, ctx: &mut Ctx<'_>, line: &[u8]) {
        let line = trim_ws(line);
        let word_len = line
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(line.len());
        let (word, rest) = line.split_at(word_len);
        if word.len() > MAX_COMMAND_BYTES {
            ctx.weird(
                "FTP_max_command_length_exceeded",
                Some(word.len().to_string()),
            );
            return;
        }
        let cmd = if word.is_empty() {
            "<missing>".to_string()
        } else {
            lossy(word).to_ascii_uppercase()
        };
        let mut arg = lossy(trim_ws(rest));

        // The previous command is logged when the next one comes.
        let answered = match (&self.cmdarg, self.reply_code) {
            (Some(ca), Some(_)) => Some(ca.seq),
            _ => None,
        };
        if let Some(seq) = answered {
            if self.pending.remove(&seq).is_some() {
                self.message(ctx);
            }
        }
        self.session(ctx);
        if self.pending.len() < MAX_PENDING_COMMANDS {
            self.add_pending(ctx.ts, cmd.clone(), arg.clone());
        } else {
            ctx.weird(
                "FTP_too_many_pending_commands",
                Some(self.pending.len().to_string()),
            );
        }
        match cmd.as_str() {
            "USER" => {
                if arg.len() > MAX_USER_BYTES {
                    ctx.weird("FTP_user_too_long", Some(arg.len().to_string()));
                    truncate(&mut arg, MAX_USER_BYTES);
                }
                self.user = arg;
            }
            "PASS" => {
                if arg.len() > MAX_USER_BYTES {
                    ctx.weird("FTP_password_too_long", Some(arg.len().to_string()));
                    truncate(&mut arg, MAX_USER_BYTES);
                }
                self.password = Some(arg);
            }
            "PORT" | "EPRT" => {
                let parsed = if cmd == "PORT" {
                    parse_port_list(arg.as_bytes())
                } else {
                    parse_eftp(arg.as_bytes())
                };
                if let Some((h, p)) = parsed {
                    // Active mode: the server connects to the client.
                    self.add_data_channel(
                        ctx,
                        FtpDataChannel {
                            passive: false,
                            orig_h: ctx.id.resp_h,
                            resp_h: h,
                            resp_p: p,
                        },
                    );
                }
            }
            _ => {}
        }
    }

    fn add_data_channel(&mut self, ctx: &mut Ctx<'_>, chan: FtpDataChannel) {
        self.data_channel = Some(chan);
        ctx.expectations.push(Expectation {
            orig_h: Some(chan.orig_h),
            resp_h: chan.resp_h,
            resp_p: chan.resp_p,
            service: DATA_SERVICE,
            ts: ctx.ts,
            parent: Some(ctx.uid),
        });
    }

    fn reply(&mut self, ctx: &mut Ctx<'_>, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let code = reply_code(line);
        let (code, text, cont) = if self.pending_reply != 0 {
            if code == Some(self.pending_reply) && line.get(3) == Some(&b' ') {
                // The end of a multi-line reply.
                self.pending_reply = 0;
                (code.unwrap_or(0), skip_ws(&line[3..]), false)
            } else {
                (code.unwrap_or(0), line, true)
            }
        } else if let (Some(c), Some(b'-')) = (code, line.get(3)) {
            self.pending_reply = c;
            (c, skip_ws(&line[4..]), false)
        } else {
            match code {
                Some(c) if (100..600).contains(&c) && matches!(line.get(3), None | Some(b' ')) => {
                    (c, skip_ws(&line[3..]), false)
                }
                _ => {
                    // Zeek's analyzer stops at a reply without a valid
                    // code (a protocol violation); pending commands are
                    // logged at the end with the last good reply.
                    ctx.weird("FTP_invalid_reply", Some(lossy(line)));
                    self.violated = true;
                    return;
                }
            }
        };
        let mut msg = lossy(text);
        self.session(ctx);

        if cont && code == 0 && self.reply_code.is_some() && !looks_like_reply(msg.as_bytes()) {
            // A continuation line: nothing to pair.
            return;
        }
        let Some(ca) = self.best_pending(code, &msg) else {
            return;
        };
        if msg.len() > MAX_ARG_BYTES {
            ctx.weird("FTP_reply_msg_too_long", Some(msg.len().to_string()));
            truncate(&mut msg, MAX_ARG_BYTES);
        }
        self.reply_code = Some(code);
        self.reply_msg = Some(msg);
        self.cmdarg = Some(ca.clone());
        if cont {
            return;
        }
        let msg = self.reply_msg.clone().unwrap_or_default();
        if (code == 150 && ca.cmd == "RETR") || (code == 213 && ca.cmd == "SIZE") {
            self.file_size = Some(last_count(msg.as_bytes()));
        } else if (code == 227 || code == 229) && (ca.cmd == "PASV" || ca.cmd == "EPSV") {
            let parsed = if code == 227 {
                parse_pasv(msg.as_bytes())
            } else {
                parse_epsv(msg.as_bytes())
            };
            if let Some((mut h, p)) = parsed {
                if code == 229 && h == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
                    h = ctx.id.resp_h;
                }
                self.add_data_channel(
                    ctx,
                    FtpDataChannel {
                        passive: true,
                        orig_h: ctx.id.orig_h,
                        resp_h: h,
                        resp_p: p,
                    },
                );
            }
        }
        if code == 234 && ca.cmd == "AUTH" {
            // RFC 4217: the next bytes of both sides are TLS.
            self.start_tls = true;
        }
        let dir_cmd = matches!(
            (ca.cmd.as_str(), code),
            ("CWD", 250) | ("CDUP", 200) | ("CDUP", 250) | ("PWD", 257) | ("XPWD", 257)
        );
        if dir_cmd && !ca.cwd_consumed {
            if let Some(p) = self.pending.get_mut(&ca.seq) {
                p.cwd_consumed = true;
            }
            if let Some(c) = self.cmdarg.as_mut() {
                c.cwd_consumed = true;
            }
            match ca.cmd.as_str() {
                "CWD" => self.cwd = build_path_compressed(&self.cwd, &ca.arg),
                "CDUP" => self.cwd = build_path_compressed(&self.cwd, "/.."),
                _ => self.cwd = extract_path(&msg),
            }
        }
        if self.pending.len() > 1 {
            self.pending.remove(&ca.seq);
            self.message(ctx);
        }
    }

    /// Zeek's `get_pending_cmd`: the pending command this reply most
    /// plausibly answers.
    fn best_pending(&self, code: u16, msg: &str) -> Option<CmdArg> {
        let mut best: Option<(&CmdArg, i32)> = None;
        for ca in self.pending.values() {
            let mut score = 0;
            if code == 500 || reply_fits(&ca.cmd, code) {
                score += 100;
            }
            if msg.contains(ca.cmd.as_str()) {
                score += 20;
            }
            if msg.contains(ca.arg.as_str()) {
                score += 10;
            }
            // Ascending sequence: a tie keeps the older command.
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((ca, score));
            }
        }
        best.map(|(ca, _)| ca.clone())
    }

    /// Zeek's `ftp_message`: write the current command's row (if logged)
    /// and reset the per-transfer fields.
    fn message(&mut self, ctx: &mut Ctx<'_>) {
        let Some(ca) = &self.cmdarg else { return };
        let guest = GUEST_IDS.iter().any(|g| g.eq_ignore_ascii_case(&self.user));
        let mut arg = if FILE_CMDS.contains(&ca.cmd.as_str()) {
            build_url(ctx.id.resp_h, &self.cwd, &ca.arg)
        } else {
            ca.arg.clone()
        };
        if arg.len() > MAX_ARG_BYTES {
            ctx.weird("FTP_arg_too_long", Some(arg.len().to_string()));
            truncate(&mut arg, MAX_ARG_BYTES);
        }
        if ca.cmd == "PASS" && !guest {
            arg = "<hidden>".to_string();
        }
        let logged = self.log_all || ZEEK_LOGGED_COMMANDS.contains(&ca.cmd.as_str());
        if logged {
            let row = Ftp {
                meta: Some(ctx.meta_at(ca.ts)),
                user: self.user.clone(),
                password: self.password.as_ref().map(|p| {
                    if guest {
                        p.clone()
                    } else {
                        "<hidden>".to_string()
                    }
                }),
                command: ca.cmd.clone(),
                arg: (!arg.is_empty()).then_some(arg),
                mime_type: None,
                file_size: self.file_size,
                reply_code: self.reply_code,
                reply_msg: self.reply_msg.clone(),
                data_channel: self.data_channel,
                file_name: (FILE_CMDS.contains(&ca.cmd.as_str()) && !ca.arg.is_empty())
                    .then(|| ca.arg.clone()),
                data_uid: None,
                data_bytes: None,
            };
            ctx.emit(Event::Ftp(row));
        }
        self.file_size = None;
        self.data_channel = None;
    }

    fn line(&mut self, ctx: &mut Ctx<'_>, dir: Dir, line: &[u8]) {
        match dir {
            Dir::Orig => self.request(ctx, line),
            Dir::Resp => self.reply(ctx, line),
        }
    }
}

impl Analyzer for FtpAnalyzer {
    fn service(&self) -> botscope_event::Service {
        botscope_event::Service::FTP
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        let i = usize::from(dir == Dir::Resp);
        let mut rest = data;
        while !rest.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                let lb = &mut self.bufs[i];
                if lb.skipping {
                    return Status::Continue;
                }
                if lb.buf.len() + rest.len() > self.max_line {
                    lb.buf.clear();
                    lb.skipping = true;
                    ctx.weird("line_too_long", Some("ftp".to_string()));
                } else {
                    lb.buf.extend_from_slice(rest);
                }
                return Status::Continue;
            };
            let lb = &mut self.bufs[i];
            let (line, after) = (&rest[..nl], &rest[nl + 1..]);
            rest = after;
            if std::mem::take(&mut lb.skipping) {
                continue;
            }
            if lb.buf.len() + line.len() > self.max_line {
                lb.buf.clear();
                ctx.weird("line_too_long", Some("ftp".to_string()));
                continue;
            }
            if lb.buf.is_empty() {
                self.line(ctx, dir, line);
            } else {
                let mut buf = std::mem::take(&mut lb.buf);
                buf.extend_from_slice(line);
                self.line(ctx, dir, &buf);
                buf.clear();
                self.bufs[i].buf = buf;
            }
            if self.violated {
                return Status::Violation;
            }
            if self.start_tls {
                self.start_tls = false;
                return Status::StartTls;
            }
        }
        Status::Continue
    }

    fn gap(&mut self, _ctx: &mut Ctx<'_>, dir: Dir, _len: u64) -> Status {
        // A gap inside a line loses the line (its tail is dropped up to
        // the newline); a gap between lines (a lost command segment, as
        // captures often have) loses nothing more.
        let lb = &mut self.bufs[usize::from(dir == Dir::Resp)];
        if !lb.buf.is_empty() {
            lb.buf.clear();
            lb.skipping = true;
        }
        Status::Continue
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        // Zeek's `finalize_ftp`: every command still pending is logged
        // with the latest reply.
        let pending = std::mem::take(&mut self.pending);
        for (_, ca) in pending {
            self.cmdarg = Some(ca);
            self.message(ctx);
        }
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

fn trim_ws(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\r").unwrap_or(b);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

/// Three leading digits.
fn reply_code(line: &[u8]) -> Option<u16> {
    match line {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Zeek's `/^[1-9][0-9]{2} [[:print:]]{10}.*/` on continuation lines.
fn looks_like_reply(m: &[u8]) -> bool {
    m.len() >= 14
        && (b'1'..=b'9').contains(&m[0])
        && m[1].is_ascii_digit()
        && m[2].is_ascii_digit()
        && m[3] == b' '
        && m[4..14].iter().all(|b| (0x20..0x7f).contains(b))
}

/// Zeek's `extract_count(msg, F)`: the last run of digits, 0 if none.
fn last_count(msg: &[u8]) -> u64 {
    let mut last = 0u64;
    let mut cur: Option<u64> = None;
    for &b in msg {
        if b.is_ascii_digit() {
            let d = u64::from(b - b'0');
            cur = Some(cur.unwrap_or(0).saturating_mul(10).saturating_add(d));
        } else if let Some(v) = cur.take() {
            last = v;
        }
    }
    cur.unwrap_or(last)
}

/// `h1,h2,h3,h4,p1,p2` (each 0..=255), leading spaces allowed before each
/// number as C's `sscanf("%d,...")` does.
fn parse_port_list(s: &[u8]) -> Option<(IpAddr, u16)> {
    if s.len() < 11 {
        return None;
    }
    let mut v = [0u32; 6];
    let mut rest = s;
    for (i, slot) in v.iter_mut().enumerate() {
        rest = skip_ws(rest);
        let (neg, r) = match rest.first() {
            Some(b'-') => (true, &rest[1..]),
            Some(b'+') => (false, &rest[1..]),
            _ => (false, rest),
        };
        let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut x: u32 = 0;
        for &d in &r[..n.min(9)] {
            x = x * 10 + u32::from(d - b'0');
        }
        if neg || n > 3 || x > 255 {
            return None;
        }
        *slot = x;
        rest = &r[n..];
        if i < 5 {
            rest = rest.strip_prefix(b",")?;
        }
    }
    let ip = Ipv4Addr::new(v[0] as u8, v[1] as u8, v[2] as u8, v[3] as u8);
    Some((IpAddr::V4(ip), ((v[4] << 8) | v[5]) as u16))
}

/// Zeek's `parse_ftp_pasv`: after `(`, else after `PORT `, else from the
/// digits before the first comma.
fn parse_pasv(msg: &[u8]) -> Option<(IpAddr, u16)> {
    let start = if let Some(i) = memchr::memchr(b'(', msg) {
        i + 1
    } else if let Some(i) = memchr::memmem::find(msg, b"PORT") {
        (i + 5).min(msg.len())
    } else if let Some(i) = memchr::memchr(b',', msg) {
        let digits = msg[..i]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        i - digits
    } else {
        return None;
    };
    parse_port_list(&msg[start..])
}

/// Zeek's `parse_ftp_epsv`: the `(|||port|)` form after `(`.
fn parse_epsv(msg: &[u8]) -> Option<(IpAddr, u16)> {
    let i = memchr::memchr(b'(', msg)?;
    parse_eftp(&msg[i + 1..])
}

/// `<d>proto<d>addr<d>port<d>` (RFC 2428), the address possibly empty
/// (then `::`, which the caller replaces by the server's address).
fn parse_eftp(s: &[u8]) -> Option<(IpAddr, u16)> {
    let s = skip_ws(s);
    let (&delim, rest) = s.split_first()?;
    let mut parts = rest.splitn(4, |&b| b == delim);
    let proto = parts.next()?;
    if !proto.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let addr = parts.next()?;
    let port = parts.next()?;
    parts.next()?; // the closing delimiter must be there
    let h = if addr.is_empty() {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        std::str::from_utf8(addr).ok()?.parse().ok()?
    };
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let p: u32 = std::str::from_utf8(port).ok()?.parse().ok()?;
    Some((h, u16::try_from(p).ok()?))
}

/// Zeek's `build_url_ftp`: `ftp://<server>/<cwd/arg compressed>`.
fn build_url(server: IpAddr, cwd: &str, arg: &str) -> String {
    let mut path = build_path_compressed(cwd, arg);
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    match server {
        IpAddr::V4(a) => format!("ftp://{a}{path}"),
        IpAddr::V6(a) => format!("ftp://[{a}]{path}"),
    }
}

/// Zeek's `build_path` + `compress_path`.
fn build_path_compressed(dir: &str, file: &str) -> String {
    let absolute = file.starts_with('/')
        || (file.len() >= 3
            && file.as_bytes()[0].is_ascii_alphabetic()
            && file.as_bytes()[1] == b':'
            && matches!(file.as_bytes()[2], b'/' | b'\\'));
    let joined = if absolute || dir.is_empty() {
        file.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{file}")
    } else {
        format!("{dir}/{file}")
    };
    normalize_path(&joined)
}

/// Zeek's `util::normalize_path`: drops empty and (non-leading) `.`
/// components, resolves `..` against a preceding name, no trailing `/`.
fn normalize_path(path: &str) -> String {
    if !path.contains("/.") && !path.contains("//") {
        let mut p = path.to_string();
        if p.len() > 1 && p.ends_with('/') {
            p.pop();
        }
        return p;
    }
    let mut out: Vec<&str> = Vec::new();
    for (i, comp) in path.split('/').enumerate() {
        if comp.is_empty() || (comp == "." && i != 0) {
            continue;
        }
        out.push(comp);
        if comp == ".." && out.len() >= 2 {
            let last = out[out.len() - 2];
            if last != "." && last != ".." {
                out.truncate(out.len() - 2);
            }
        }
    }
    let mut s = String::with_capacity(path.len());
    if path.starts_with('/') {
        s.push('/');
    }
    for c in out {
        s.push_str(c);
        s.push('/');
    }
    if s.len() > 1 && s.ends_with('/') {
        s.pop();
    }
    s
}

/// Zeek's `extract_path`: the first quoted absolute path, else the first
/// unquoted one, else empty.
fn extract_path(msg: &str) -> String {
    let b = msg.as_bytes();
    let abs_at = |i: usize| -> Option<usize> {
        match b.get(i)? {
            b'/' => Some(1),
            c if c.is_ascii_alphabetic()
                && b.get(i + 1) == Some(&b':')
                && matches!(b.get(i + 2), Some(b'/' | b'\\')) =>
            {
                Some(3)
            }
            _ => None,
        }
    };
    // Quoted: "…" starting with an absolute path.
    let mut i = 0;
    while let Some(q) = memchr::memchr(b'"', &b[i..]) {
        let open = i + q;
        if abs_at(open + 1).is_some() {
            if let Some(close) = memchr::memchr(b'"', &b[open + 1..]) {
                return msg[open + 1..open + 1 + close].to_string();
            }
        }
        i = open + 1;
    }
    for start in 0..b.len() {
        if abs_at(start).is_some() {
            let mut end = start;
            while end < b.len() && b[end] != b'"' && b[end] != b' ' {
                end += 1;
            }
            return msg[start..end].to_string();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_compress_as_zeek() {
        assert_eq!(build_path_compressed(".", "robots.txt"), "./robots.txt");
        assert_eq!(build_path_compressed(".", ""), ".");
        assert_eq!(build_path_compressed("/", "robots.txt"), "/robots.txt");
        assert_eq!(build_path_compressed("/a/b", "../c"), "/a/c");
        assert_eq!(build_path_compressed("/a", "/x//y/./z"), "/x/y/z");
        // CDUP: Zeek joins "/.." as an absolute path (so the cwd becomes
        // "/..").
        assert_eq!(build_path_compressed("./pub", "/.."), "/..");
        assert_eq!(build_path_compressed("./pub/x", ".."), "./pub");
        assert_eq!(
            build_url("10.0.0.1".parse().unwrap(), ".", "pub/x.gz"),
            "ftp://10.0.0.1/./pub/x.gz"
        );
        assert_eq!(
            build_url("2001:db8::21".parse().unwrap(), "/", "robots.txt"),
            "ftp://[2001:db8::21]/robots.txt"
        );
    }

    #[test]
    fn pasv_epsv_port_parse() {
        assert_eq!(
            parse_pasv(b"Entering Passive Mode (199,233,217,249,221,90)"),
            Some(("199.233.217.249".parse().unwrap(), 56666))
        );
        assert_eq!(parse_pasv(b"Entering Passive Mode (1,2,3,4,5,256)"), None);
        assert_eq!(
            parse_epsv(b"Entering Extended Passive Mode (|||57086|)"),
            Some(("::".parse().unwrap(), 57086))
        );
        assert_eq!(
            parse_eftp(b"|2|2001:470:1f11:81f:c999:d94:aa7c:2e3e|49189|"),
            Some((
                "2001:470:1f11:81f:c999:d94:aa7c:2e3e".parse().unwrap(),
                49189
            ))
        );
        assert_eq!(parse_eftp(b"|1|10.0.0.1|70000|"), None);
        assert_eq!(parse_port_list(b"114,115"), None);
        assert_eq!(last_count(b"Opening BINARY mode (77 bytes)."), 77);
        assert_eq!(last_count(b"no digits"), 0);
        assert_eq!(
            extract_path("\"/pub/data\" is the current directory"),
            "/pub/data"
        );
        assert_eq!(extract_path("/home/x is cwd"), "/home/x");
    }

    #[test]
    fn probe_needs_the_client_off_port_21() {
        let p = |orig: &'static [u8], resp: &'static [u8], port| {
            probe(&crate::ProbeInput {
                dir: Dir::Orig,
                orig,
                resp,
                orig_p: 40000,
                resp_p: port,
            })
        };
        assert_eq!(p(b"", b"220 (vsFTPd 3.0.5)\r\n", 2121), Probe::Certain);
        assert_eq!(p(b"", b"220 host ready\r\n", 2121), Probe::Unsure);
        assert_eq!(p(b"", b"220 (vsFTPd 3.0.5)\r\n", 21), Probe::Certain);
        assert_eq!(
            p(b"USER bob\r\n", b"220 (vsFTPd 3.0.5)\r\n", 2121),
            Probe::Certain
        );
        assert_eq!(
            p(b"EHLO x\r\n", b"220 mail ESMTP\r\n", 2121),
            Probe::NotForUs
        );
        assert_eq!(p(b"", b"+OK POP3\r\n", 21), Probe::NotForUs);
    }
}
