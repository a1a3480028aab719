//! Reading messages from every supported input.
//!
//! Inputs are sniffed by content, not by name (after transparent gzip, xz
//! or zstd decompression via [`botscope_wire::open_input`]):
//!
//! - pcap/pcapng: decoded by the engine; every message carved from an SMTP
//!   DATA phase is yielded with a session [`Envelope`] (client address,
//!   HELO, MAIL FROM, RCPT TO, the client's command dialect);
//! - a file starting with `From ` is an mbox (mboxrd, which also reads
//!   mboxo): one message per `From_` line that starts the file or follows
//!   an empty line, `>From ` unescaped one level;
//! - anything else whose first line is a header field is one message
//!   (`.eml`, a Maildir entry).
//!
//! Folders are walked recursively (sorted, hidden entries skipped; see
//! [`botscope_wire::collect_inputs`]), which reads Maildir `cur/` and
//! `new/` directly: plain walking needs no extra dependency and yields the
//! same files as the `maildir` crate would, in a stable order. A Maildir's
//! `tmp/` (messages still being delivered) is skipped, and so are files
//! met during a walk that are neither mail nor captures (README, label
//! lists); they are counted in [`ReadStats::skipped_files`]. A file named
//! explicitly is always read as mail.
//!
//! Memory stays bounded whatever the input: a message is held only up to
//! [`MailConfig::max_message_bytes`]; the rest of it is counted and dropped
//! and the message is yielded with `truncated_from` set.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use botscope_engine::{analyze_file, EngineConfig};
use botscope_event::{Event, Ts};

use crate::config::MailConfig;
use crate::envelope::Envelope;

/// One message as read, before analysis.
#[derive(Debug)]
pub struct RawMessage<'a> {
    /// `FILE#INDEX` (index from 0 within the file) or, for a capture,
    /// `FILE#UID-DEPTH` (the engine's carved-message name).
    pub source: &'a str,
    /// The message bytes (at most `max_message_bytes`).
    pub raw: &'a [u8],
    pub envelope: Option<&'a Envelope>,
    /// The message's real size when it was cut at `max_message_bytes`.
    pub truncated_from: Option<u64>,
    /// The file it came from.
    pub path: &'a Path,
    /// The command-line argument (file or folder) the file was found under.
    pub root: &'a Path,
}

/// What a read pass saw.
#[derive(Clone, Debug, Default)]
pub struct ReadStats {
    /// Files opened.
    pub files: u64,
    /// Messages yielded.
    pub messages: u64,
    /// Captures decoded (messages carved from SMTP sessions).
    pub captures: u64,
    /// Files met in a folder walk that are neither mail nor captures.
    pub skipped_files: Vec<String>,
    /// Inputs that could not be read (or were read only partly), with the
    /// reason: the run went on.
    pub errors: Vec<String>,
}

/// The kind of input, sniffed from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Capture,
    Mbox,
    Message,
    NotMail,
}

/// The one input sniffer (`botscope_wire::sniff_bytes`, which `ingest`
/// and `trace` use too), read for mail: a message file needs a header
/// field first and two of the fields every message has.
fn sniff(head: &[u8]) -> Kind {
    use botscope_wire::input::InputKind as K;
    match botscope_wire::input::sniff_bytes(head) {
        K::Pcap | K::Pcapng => Kind::Capture,
        K::Mbox => Kind::Mbox,
        K::Eml => Kind::Message,
        _ => Kind::NotMail,
    }
}

/// The first line is `Name: value` with a printable ASCII field name.
pub(crate) fn looks_like_header(head: &[u8]) -> bool {
    let mut n = 0;
    for &b in head.iter().take(200) {
        match b {
            b':' => return n > 0,
            33..=126 => n += 1,
            _ => return false,
        }
    }
    false
}

fn is_maildir_tmp(p: &Path) -> bool {
    let Some(parent) = p.parent() else {
        return false;
    };
    if parent.file_name().is_none_or(|n| n != "tmp") {
        return false;
    }
    parent
        .parent()
        .is_some_and(|md| md.join("cur").is_dir() || md.join("new").is_dir())
}

/// Read every message under `paths` (files or folders), calling `f` for
/// each. Per-input failures are recorded in the returned stats and the
/// pass goes on.
pub fn for_each_message<F>(paths: &[PathBuf], cfg: &MailConfig, mut f: F) -> ReadStats
where
    F: FnMut(&RawMessage<'_>),
{
    let mut stats = ReadStats::default();
    let mut traps = TrapLogs::default();
    for root in paths {
        let walked = root.is_dir();
        let (files, errs) = botscope_wire::collect_inputs(std::slice::from_ref(root));
        stats.errors.extend(errs.into_iter().map(|e| e.to_string()));
        for path in files {
            if walked && is_maildir_tmp(&path) {
                stats.skipped_files.push(path.display().to_string());
                continue;
            }
            let env = traps.envelope(&path, &mut stats);
            read_file(&path, root, walked, cfg, env.as_ref(), &mut stats, &mut f);
        }
    }
    stats
}

/// The session logs of `botscope trap` stores met while reading: a
/// message the trap stored (`STORE/trap/maildir/{new,cur}/ID,S=…`) gets
/// its session's dialect (command verbs as sent, pipelining) from
/// `STORE/trap/sessions.jsonl` and its rotated copies, by `ID`. A log is
/// read once per process while it is unchanged (`ingest` reads message
/// files one call at a time), see [`cached_sessions`].
#[derive(Default)]
struct TrapLogs {
    /// Trap folder → message id → its session's dialect.
    logs: HashMap<PathBuf, Arc<SessionDialects>>,
}

/// Message id → (its session's command verbs, pipelined).
type SessionDialects = HashMap<String, Arc<(Vec<String>, bool)>>;

/// The fields of a `sessions.jsonl` record that the dialect needs.
#[derive(serde::Deserialize)]
struct SessionLine {
    #[serde(default)]
    commands: Vec<CommandLine>,
    #[serde(default)]
    pipelined_commands: u64,
    #[serde(default)]
    messages: Vec<MessageLine>,
}

#[derive(serde::Deserialize)]
struct CommandLine {
    verb: String,
}

#[derive(serde::Deserialize)]
struct MessageLine {
    id: String,
}

/// Longest `sessions.jsonl` line read (the trap keeps at most 256
/// commands of 256 characters and a few hundred messages per session).
const MAX_SESSION_LINE: usize = 4 << 20;

impl TrapLogs {
    fn envelope(&mut self, path: &Path, stats: &mut ReadStats) -> Option<Envelope> {
        let box_dir = path.parent()?;
        if !matches!(box_dir.file_name()?.to_str()?, "new" | "cur") {
            return None;
        }
        let maildir = box_dir.parent()?;
        if maildir.file_name()?.to_str()? != "maildir" {
            return None;
        }
        let trap = maildir.parent()?;
        if !trap.join("sessions.jsonl").is_file() {
            return None;
        }
        let log = self
            .logs
            .entry(trap.to_path_buf())
            .or_insert_with(|| cached_sessions(trap, stats));
        let name = path.file_name()?.to_str()?;
        let id = name.split([',', ':']).next()?;
        let d = log.get(id)?;
        Some(Envelope {
            commands: d.0.clone(),
            pipelined: d.1,
            ..Envelope::default()
        })
    }
}

/// A trap's session dialects, read again only when `sessions.jsonl`
/// changed (its length or modification time).
fn cached_sessions(trap: &Path, stats: &mut ReadStats) -> Arc<SessionDialects> {
    type Cache = HashMap<PathBuf, (u64, Option<std::time::SystemTime>, Arc<SessionDialects>)>;
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
    let meta = std::fs::metadata(trap.join("sessions.jsonl")).ok();
    let stamp = (
        meta.as_ref().map_or(0, |m| m.len()),
        meta.and_then(|m| m.modified().ok()),
    );
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(c) = cache.lock() {
        if let Some((len, mtime, d)) = c.get(trap) {
            if (*len, *mtime) == stamp {
                return d.clone();
            }
        }
    }
    let d = Arc::new(load_sessions(trap, stats));
    if let Ok(mut c) = cache.lock() {
        c.insert(trap.to_path_buf(), (stamp.0, stamp.1, d.clone()));
    }
    d
}

/// Read a trap's session logs (`sessions.jsonl`, then `.1`, `.2` …):
/// message id → its session's dialect. Unreadable lines are counted as
/// errors and skipped.
fn load_sessions(trap: &Path, stats: &mut ReadStats) -> SessionDialects {
    let mut out = HashMap::new();
    let mut files = vec![trap.join("sessions.jsonl")];
    files.extend(
        (1..=1000)
            .map(|i| trap.join(format!("sessions.jsonl.{i}")))
            .take_while(|p| p.is_file()),
    );
    for file in files {
        let Ok(fh) = std::fs::File::open(&file) else {
            continue;
        };
        let mut r = BufReader::new(fh);
        let mut line = Vec::new();
        let mut bad = 0u64;
        loop {
            line.clear();
            match read_line_capped(&mut r, &mut line, MAX_SESSION_LINE) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    stats.errors.push(format!("{}: {e}", file.display()));
                    break;
                }
            }
            let Ok(rec) = serde_json::from_slice::<SessionLine>(&line) else {
                bad += 1;
                continue;
            };
            let d = Arc::new((
                rec.commands.into_iter().map(|c| c.verb).collect::<Vec<_>>(),
                rec.pipelined_commands > 0,
            ));
            for m in rec.messages.into_iter().filter(|m| !m.id.is_empty()) {
                out.insert(m.id, d.clone());
            }
        }
        if bad > 0 {
            stats.errors.push(format!(
                "{}: {bad} session records unreadable (skipped)",
                file.display()
            ));
        }
    }
    out
}

fn read_file<F>(
    path: &Path,
    root: &Path,
    walked: bool,
    cfg: &MailConfig,
    env: Option<&Envelope>,
    stats: &mut ReadStats,
    f: &mut F,
) where
    F: FnMut(&RawMessage<'_>),
{
    let name = path.display().to_string();
    let input = match botscope_wire::open_input(path) {
        Ok(r) => r,
        Err(e) => {
            stats.errors.push(e.to_string());
            return;
        }
    };
    stats.files += 1;
    // The decompressing reader may return short reads: gather a head.
    let mut input = input;
    let mut head = Vec::with_capacity(botscope_wire::input::SNIFF_BYTES as usize);
    if let Err(e) = input
        .by_ref()
        .take(botscope_wire::input::SNIFF_BYTES)
        .read_to_end(&mut head)
    {
        stats.errors.push(format!("{name}: {e}"));
        return;
    }
    let kind = sniff(&head);
    match kind {
        Kind::Capture => {
            drop(input);
            stats.captures += 1;
            read_capture(path, root, stats, f);
        }
        Kind::Mbox => {
            let mut r = BufReader::with_capacity(64 << 10, io::Cursor::new(head).chain(input));
            if let Err(e) = read_mbox(&mut r, path, root, cfg, stats, f) {
                stats
                    .errors
                    .push(format!("{name}: {e} (messages before it were read)"));
            }
        }
        Kind::NotMail if walked => stats.skipped_files.push(name),
        Kind::Message | Kind::NotMail => {
            // One message: the head, then the rest read straight into the
            // same buffer (no 64 KiB read buffer to zero per file).
            let mut buf = head;
            match read_capped_after(&mut input, cfg.max_message_bytes, &mut buf) {
                Ok(total) => {
                    let source = format!("{name}#0");
                    stats.messages += 1;
                    f(&RawMessage {
                        source: &source,
                        raw: &buf,
                        envelope: env,
                        truncated_from: (total > buf.len() as u64).then_some(total),
                        path,
                        root,
                    });
                }
                Err(e) => stats.errors.push(format!("{name}: {e}")),
            }
        }
    }
}

/// Keep at most `cap` bytes in `buf`, which holds the input's first
/// bytes, reading the rest of `r` after them; count (and drop) what is
/// beyond. Returns the total size.
fn read_capped_after<R: Read>(r: &mut R, cap: usize, buf: &mut Vec<u8>) -> io::Result<u64> {
    let head = buf.len() as u64;
    buf.truncate(cap);
    let room = cap - buf.len();
    let n = r.by_ref().take(room as u64).read_to_end(buf)?;
    let rest = io::copy(r, &mut io::sink())?;
    Ok(head + n as u64 + rest)
}

/// Read one line (through `\n`), keeping at most `keep` bytes of it in
/// `line`. Returns the line's full length, 0 at end of input.
fn read_line_capped<R: BufRead>(r: &mut R, line: &mut Vec<u8>, keep: usize) -> io::Result<u64> {
    line.clear();
    let mut total = 0u64;
    loop {
        let (done, used) = {
            let avail = match r.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(total);
            }
            let (done, used) = match memchr::memchr(b'\n', avail) {
                Some(i) => (true, i + 1),
                None => (false, avail.len()),
            };
            let room = keep.saturating_sub(line.len());
            line.extend_from_slice(&avail[..used.min(room)]);
            (done, used)
        };
        r.consume(used);
        total += used as u64;
        if done {
            return Ok(total);
        }
    }
}

/// The time in an mbox `From_` line (`From sender Mon Dec 20 00:00:31 2010`),
/// taken as UTC.
pub(crate) fn from_line_time(line: &[u8]) -> Option<Ts> {
    let s = std::str::from_utf8(line).ok()?;
    let toks: Vec<&str> = s.split_whitespace().collect();
    if toks.len() < 6 {
        return None;
    }
    // asctime: ... Www Mmm dd hh:mm:ss yyyy (an optional zone may follow).
    let (mon, day, hms, year) = {
        let n = toks.len();
        let yi = if toks[n - 1].len() == 4 && toks[n - 1].bytes().all(|b| b.is_ascii_digit()) {
            n - 1
        } else {
            n.checked_sub(2)?
        };
        if yi < 3 {
            return None;
        }
        (toks[yi - 3], toks[yi - 2], toks[yi - 1], toks[yi])
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let d: u32 = day.parse().ok()?;
    let y: i32 = year.parse().ok()?;
    let mut it = hms.split(':');
    let h: u32 = it.next()?.parse().ok()?;
    let mi: u32 = it.next()?.parse().ok()?;
    let se: u32 = it.next().unwrap_or("0").parse().ok()?;
    crate::analyze::civil_ts(y, m, d, h, mi, se)
}

fn read_mbox<R: BufRead, F>(
    r: &mut R,
    path: &Path,
    root: &Path,
    cfg: &MailConfig,
    stats: &mut ReadStats,
    f: &mut F,
) -> io::Result<()>
where
    F: FnMut(&RawMessage<'_>),
{
    let name = path.display().to_string();
    let cap = cfg.max_message_bytes;
    let mut line = Vec::with_capacity(256);
    let mut msg: Vec<u8> = Vec::new();
    let mut total: u64 = 0;
    let mut started = false;
    let mut prev_empty = true;
    let mut env = Envelope::default();
    let mut index = 0u64;
    let mut emit =
        |msg: &mut Vec<u8>, total: u64, env: &Envelope, index: &mut u64, stats: &mut ReadStats| {
            // The empty line before the next From_ line belongs to the separator.
            let mut total = total;
            if msg.ends_with(b"\n\n") {
                msg.pop();
                total = total.saturating_sub(1);
            } else if msg.ends_with(b"\r\n\r\n") {
                msg.truncate(msg.len() - 2);
                total = total.saturating_sub(2);
            }
            let source = format!("{name}#{index}");
            stats.messages += 1;
            f(&RawMessage {
                source: &source,
                raw: msg,
                envelope: Some(env),
                truncated_from: (total > msg.len() as u64).then_some(total),
                path,
                root,
            });
            *index += 1;
            msg.clear();
        };
    loop {
        // Keep enough of a line to recognise `From ` / `>From ` even when
        // the message is already full.
        let keep = cap.saturating_sub(msg.len()).max(64);
        let n = read_line_capped(r, &mut line, keep)?;
        if n == 0 {
            break;
        }
        if prev_empty && line.starts_with(b"From ") {
            if started {
                emit(&mut msg, total, &env, &mut index, stats);
            }
            started = true;
            total = 0;
            env = Envelope {
                session: false,
                received_ts: from_line_time(&line),
                mail_from: std::str::from_utf8(&line[5..])
                    .ok()
                    .and_then(|s| s.split_whitespace().next())
                    .filter(|s| *s != "-")
                    .map(str::to_string),
                ..Envelope::default()
            };
            prev_empty = false;
            continue;
        }
        prev_empty = line == b"\n" || line == b"\r\n";
        // mboxrd: one level of `>` comes off `>+From ` lines.
        let body: &[u8] = {
            let gt = line.iter().take_while(|&&b| b == b'>').count();
            if gt > 0 && line[gt..].starts_with(b"From ") {
                &line[1..]
            } else {
                &line[..]
            }
        };
        let len = n - (line.len() - body.len()) as u64;
        total += len;
        // A line longer than what was kept is cut with the message.
        let room = cap.saturating_sub(msg.len());
        msg.extend_from_slice(&body[..body.len().min(room)]);
    }
    if started {
        emit(&mut msg, total, &env, &mut index, stats);
    }
    Ok(())
}

/// Carve the messages of the SMTP sessions in one capture.
fn read_capture<F>(path: &Path, root: &Path, stats: &mut ReadStats, f: &mut F)
where
    F: FnMut(&RawMessage<'_>),
{
    let name = path.display().to_string();
    let cfg = EngineConfig::default();
    let (sinks, summary) = analyze_file(path, &cfg, |_| Vec::<Event>::new());
    if let Some(e) = &summary.error {
        let e = if e.starts_with(&name) {
            e.clone()
        } else {
            format!("{name}: {e}")
        };
        stats
            .errors
            .push(format!("{e} (messages before it were read)"));
    }
    let events = sinks.iter().flatten();
    stats.messages += for_each_session_message(&name, events, |source, raw, env| {
        f(&RawMessage {
            source,
            raw,
            envelope: Some(env),
            truncated_from: None,
            path,
            root,
        });
    });
}

/// The messages carved from SMTP sessions among decoded `events` (one
/// capture's), each with its session's envelope: client, HELO, envelope
/// addresses and the dialect (command verbs as sent, pipelining), read
/// from the `smtp.log` row of the same transaction. `f` gets the source
/// name (`{name}#{message file name}`), the bytes and the envelope.
/// Returns the number of messages.
pub fn for_each_session_message<'e, I, F>(name: &str, events: I, mut f: F) -> u64
where
    I: Iterator<Item = &'e Event> + Clone,
    F: FnMut(&str, &[u8], &Envelope),
{
    let mut dialects = rustc_hash::FxHashMap::default();
    for ev in events.clone() {
        if let Event::Smtp(s) = ev {
            if let Some(m) = &s.meta {
                dialects.insert((m.uid, s.trans_depth), (&s.commands, s.pipelined));
            }
        }
    }
    let mut n = 0;
    for ev in events {
        if let Event::Message(m) = ev {
            let (commands, pipelined) = dialects
                .get(&(m.meta.uid, m.trans_depth))
                .map(|(c, p)| ((*c).clone(), *p))
                .unwrap_or_default();
            let env = Envelope {
                session: true,
                received_ts: Some(m.meta.ts),
                client_ip: Some(m.meta.id.orig_h),
                helo: m.helo.clone(),
                mail_from: m.mailfrom.clone(),
                rcpt_to: m.rcptto.clone(),
                commands,
                pipelined,
            };
            let source = format!(
                "{name}#{}",
                botscope_engine::message_file_name(m.meta.uid, m.trans_depth)
            );
            n += 1;
            f(&source, &m.data, &env);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_line_times() {
        let t = from_line_time(b"From a@b.c Mon Dec 20 00:00:31 2010\n").unwrap();
        assert_eq!(t, Ts(1_292_803_231_000_000));
        assert!(from_line_time(b"From - Tue Sep 01 17:26:15 2009\n").is_some());
        assert!(from_line_time(b"From nothing\n").is_none());
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"From x"), Kind::Mbox);
        assert_eq!(sniff(b"Received: x\nFrom: a\n"), Kind::Message);
        assert_eq!(sniff(b"# readme"), Kind::NotMail);
        // The trap's session log is text with a colon on its first line.
        assert_eq!(sniff(b"{\"session\":\"S1\",\"from\":1}\n"), Kind::NotMail);
        assert_eq!(sniff(&[0xd4, 0xc3, 0xb2, 0xa1, 0]), Kind::Capture);
    }

    #[test]
    fn long_lines_stay_bounded() {
        let mut data = b"From a Mon Dec 20 00:00:31 2010\nSubject: x\n\n".to_vec();
        data.extend(std::iter::repeat_n(b'a', 5 << 20));
        data.extend_from_slice(b"\n\nFrom b Mon Dec 20 00:00:32 2010\nSubject: y\n\nhi\n");
        let cfg = MailConfig {
            max_message_bytes: 1 << 20,
            ..MailConfig::default()
        };
        let mut r = io::Cursor::new(data);
        let mut stats = ReadStats::default();
        let mut seen = Vec::new();
        read_mbox(
            &mut r,
            Path::new("x"),
            Path::new("x"),
            &cfg,
            &mut stats,
            &mut |m: &RawMessage<'_>| seen.push((m.raw.len(), m.truncated_from)),
        )
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, 1 << 20);
        assert!(seen[0].1.unwrap() > 5 << 20);
        assert_eq!(seen[1].1, None);
    }
}
