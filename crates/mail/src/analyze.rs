//! One message in, one [`MailMessage`] out.
//!
//! No panic on any input: every slice is bounds-checked, every cap of
//! [`MailConfig`] is checked before the MIME parser runs (size, header
//! section, line length) or right after it (parts, depth), and a message
//! that hits one still gets its row, with `error` naming the cap.

use std::borrow::Cow;
use std::net::IpAddr;

use botscope_event::{MailMessage, Ts};
use mail_parser::{Header, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::config::MailConfig;
use crate::dict::Dictionary;
use crate::envelope::Envelope;
use crate::error::{Error, ErrorKind};
use crate::model::Model;
use crate::reader::{looks_like_header, RawMessage};
use crate::rules::Rules;
use crate::shape::{addr_shape, shape};
use crate::urls::{host_of, registrable_domain, UrlSet};

/// Seconds since the epoch of a UTC civil time; `None` when out of range.
pub(crate) fn civil_ts(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Ts> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
    Some(Ts(secs.checked_mul(1_000_000)?))
}

/// A `Date:`-style time, when plausible (years 1980–2100, a zone within
/// ±14 h): the time in UTC.
fn plausible(dt: &mail_parser::DateTime) -> Option<Ts> {
    if !(1980..=2100).contains(&dt.year) || dt.tz_hour > 14 || dt.tz_minute > 59 || !dt.is_valid() {
        return None;
    }
    let local = civil_ts(
        i32::from(dt.year),
        u32::from(dt.month),
        u32::from(dt.day),
        u32::from(dt.hour),
        u32::from(dt.minute),
        u32::from(dt.second),
    )?;
    let off = (i64::from(dt.tz_hour) * 3600 + i64::from(dt.tz_minute) * 60) * 1_000_000;
    Some(Ts(if dt.tz_before_gmt {
        local.0 + off
    } else {
        local.0 - off
    }))
}

fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            !(v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast())
        }
        IpAddr::V6(v) => {
            let s = v.segments()[0];
            !(v.is_loopback()
                || v.is_unspecified()
                || (s & 0xfe00) == 0xfc00
                || (s & 0xffc0) == 0xfe80)
        }
    }
}

/// Base64 content shorter than this is parsed as it is (not worth a copy).
const BINARY_SKIP_MIN: usize = 512;

/// Bytes of base64 content as mail-parser decodes it without trouble: the
/// alphabet, padding and blanks. (Anything else, `-` included, makes it
/// end the part early or read it as text, so such content is kept.)
const BASE64_CLEAN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'+' | b'/' | b'=' | b' ' | b'\t' | b'\r' | b'\n');
        b += 1;
    }
    t
};

/// Whether every byte of `content` is in [`BASE64_CLEAN`]: line by line,
/// a well-formed line checked by SIMD, any other byte by byte.
fn clean_base64(content: &[u8]) -> bool {
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', content).chain(std::iter::once(content.len())) {
        let line = content.get(start..nl).unwrap_or_default();
        start = nl + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || base64_simd::STANDARD.check(line).is_ok() {
            continue;
        }
        if !line.iter().all(|&b| BASE64_CLEAN[b as usize]) {
            return false;
        }
    }
    true
}

/// `bytes` as text, invalid UTF-8 replaced (validated first: most header
/// bytes are ASCII, which the plain check reads a word at a time).
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// At most `n` characters of `s` (copied whole when it is short enough).
fn take_chars(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect()
    }
}

/// `raw` without the content of its binary attachments: leaf parts whose
/// `Content-Type` is present and neither text, multipart nor message, with
/// base64 content made only of the alphabet, padding and blanks. The part
/// stays (headers, place in the tree, name), its content empty, so the
/// parser does not decode what no feature reads. Top-level headers keep
/// their offsets. Also returns how many parts' content was left out
/// (borrowed, 0 when none). Each should parse as an empty binary part;
/// where the parser sees fewer (malformed MIME), the analyser parses the
/// message whole.
pub fn without_binary_content(raw: &[u8]) -> (Cow<'_, [u8]>, usize) {
    // Most messages carry no base64 part at all.
    let lower = memchr::memmem::find(raw, b"ase64").is_some();
    if !lower && memchr::memmem::find(raw, b"ASE64").is_none() {
        return (Cow::Borrowed(raw), 0);
    }
    let mut cut: Vec<std::ops::Range<usize>> = Vec::new();
    for e in botscope_proto::mime::entities(raw) {
        if e.encoding != botscope_proto::mime::TransferEncoding::Base64
            || e.raw.len() < BINARY_SKIP_MIN
        {
            continue;
        }
        let binary = e.media_type.as_deref().is_some_and(|t| {
            let top = t.split('/').next().unwrap_or(t);
            !matches!(top, "text" | "multipart" | "message")
        });
        let Some(content) = raw.get(e.raw.clone()) else {
            continue;
        };
        if binary && clean_base64(content) {
            cut.push(e.raw);
        }
    }
    if cut.is_empty() {
        return (Cow::Borrowed(raw), 0);
    }
    let n = cut.len();
    let removed: usize = cut.iter().map(|r| r.len()).sum();
    let mut out = Vec::with_capacity(raw.len() - removed);
    let mut at = 0;
    for r in cut {
        if r.start < at {
            continue;
        }
        out.extend_from_slice(&raw[at..r.start]);
        at = r.end;
    }
    out.extend_from_slice(&raw[at..]);
    (Cow::Owned(out), n)
}

/// Binary parts without content among the message's own parts.
fn empty_binary_parts(msg: &Message<'_>) -> usize {
    msg.parts
        .iter()
        .filter(
            |p| matches!(&p.body, PartType::Binary(b) | PartType::InlineBinary(b) if b.is_empty()),
        )
        .count()
}

/// End of the header section: the offset of the empty line.
fn header_end(raw: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &raw[from..]) {
        let nl = from + i;
        let next = raw.get(nl + 1..).unwrap_or(&[]);
        if next.starts_with(b"\n") || next.starts_with(b"\r\n") {
            return Some(nl + 1);
        }
        from = nl + 1;
    }
    None
}

/// Everything read from one message before attribution.
#[derive(Clone, Debug, Default)]
pub struct Features {
    /// Fingerprint tokens, `kind=value` (see the crate docs for the kinds).
    pub tokens: Vec<String>,
    /// The sender's top-level headers (trap headers removed): name as
    /// written, value unfolded, at most 100.
    pub headers: Vec<(String, String)>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub date_header: Option<String>,
    pub date_ts: Option<Ts>,
    pub received_ts: Option<Ts>,
    pub sender_ip: Option<IpAddr>,
    pub helo: Option<String>,
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
    pub urls: Vec<String>,
    pub domains: Vec<String>,
    pub hosts: Vec<String>,
    /// Decoded text (text parts and HTML without tags), capped.
    pub text: String,
    pub attachment_names: Vec<String>,
}

impl Features {
    pub fn push(&mut self, kind: &str, value: &str) {
        self.tokens.push(token(kind, value));
    }
}

/// A fingerprint token, `kind=value`.
fn token(kind: &str, value: &str) -> String {
    let mut t = String::with_capacity(kind.len() + 1 + value.len());
    t.push_str(kind);
    t.push('=');
    t.push_str(value);
    t
}

/// The headers whose values become tokens (`hv` in `features_with`).
const HEADER_SHAPES: [&str; 7] = [
    "Message-ID",
    "Date",
    "X-Mailer",
    "User-Agent",
    "From",
    "To",
    "Content-Type",
];

/// The analyser: holds the caps, the dictionary, the model and the rules.
/// Cheap to share between threads (`&self` everywhere).
pub struct MailAnalyzer {
    cfg: MailConfig,
    parser: MessageParser,
    dict: Dictionary,
    model: Option<Model>,
    rules: Rules,
}

impl MailAnalyzer {
    /// An analyser with the shipped dictionary and no hand-written rules.
    /// Without a model every message is `unknown` (unless a rule says
    /// otherwise).
    pub fn new(cfg: MailConfig, model: Option<Model>) -> MailAnalyzer {
        MailAnalyzer {
            cfg,
            // Headers whose parsed value no feature reads are not parsed:
            // Received headers are read only where needed (the first from
            // a public address: a long relay chain of real mail cost a
            // tenth of the time when all were parsed), addresses and the
            // rest only raw.
            parser: parser(),
            dict: Dictionary::builtin(),
            model: model.map(|mut m| {
                m.compile();
                m
            }),
            rules: Rules::default(),
        }
    }

    /// Use another category/brand dictionary.
    pub fn with_dictionary(mut self, dict: Dictionary) -> Self {
        self.dict = dict;
        self
    }

    /// Add hand-written family rules (they add to or override the model).
    pub fn with_rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// Parse every header as mail-parser's default does (addresses,
    /// Received chains, list headers...), which no feature reads: the
    /// features are the same, only slower (except where a `Resent-Date`
    /// parsed so would swallow the next header: see [`parser`]). For the
    /// tests that check so.
    #[doc(hidden)]
    pub fn with_every_header_parsed(mut self) -> Self {
        self.parser = MessageParser::default();
        self
    }

    pub fn config(&self) -> &MailConfig {
        &self.cfg
    }

    /// Analyse one message. Never fails: a message that cannot be analysed
    /// gets a row with `error` set.
    pub fn analyze(&self, source: String, raw: &[u8], envelope: Option<&Envelope>) -> MailMessage {
        self.analyze_inner(source, raw, envelope, None)
    }

    /// Analyse a message as yielded by [`crate::for_each_message`].
    pub fn analyze_raw(&self, m: &RawMessage<'_>) -> MailMessage {
        self.analyze_inner(m.source.to_string(), m.raw, m.envelope, m.truncated_from)
    }

    fn analyze_inner(
        &self,
        source: String,
        raw: &[u8],
        envelope: Option<&Envelope>,
        truncated_from: Option<u64>,
    ) -> MailMessage {
        let size = truncated_from.unwrap_or(raw.len() as u64);
        let mut row = MailMessage {
            source,
            size,
            family: "unknown".to_string(),
            category: "other".to_string(),
            ..MailMessage::default()
        };
        if let Some(env) = envelope {
            row.received_ts = env.received_ts;
            row.sender_ip = env.client_ip;
            row.helo = env.helo.clone();
            row.mail_from = env.mail_from.clone();
            row.rcpt_to = env.rcpt_to.clone();
        }
        let over = truncated_from
            .filter(|_| true)
            .or((raw.len() > self.cfg.max_message_bytes).then_some(raw.len() as u64));
        if let Some(size) = over {
            row.error = Some(
                Error::new(ErrorKind::MessageTooLarge {
                    size,
                    cap: self.cfg.max_message_bytes,
                })
                .to_string(),
            );
            return row;
        }
        // Only the values of HEADER_SHAPES' headers (the tokens made from
        // them) are unfolded, unless a rule reads headers: nothing else on
        // this path reads a header's value.
        match self.features_with(raw, envelope, self.rules.reads_headers()) {
            Ok(f) => self.fill(&mut row, f),
            Err(e) => row.error = Some(e.to_string()),
        }
        row
    }

    fn fill(&self, row: &mut MailMessage, f: Features) {
        let (category, brand) = self.dict.classify(
            f.subject.as_deref().unwrap_or(""),
            &f.text,
            &f.attachment_names,
            &f.hosts,
        );
        let (mut family, mut conf) = match &self.model {
            Some(m) => m.attribute(&f.tokens),
            None => ("unknown".to_string(), 0.0),
        };
        if let Some((fam, c, overrides)) = self.rules.apply(&f) {
            if overrides || family == "unknown" {
                family = fam;
                conf = c;
            }
        }
        row.campaign = Some(campaign_id(&category, brand.as_deref(), &f));
        row.category = category;
        row.brand = brand;
        row.family = family;
        row.family_confidence = conf;
        row.received_ts = f.received_ts.or(row.received_ts);
        row.sender_ip = f.sender_ip.or(row.sender_ip);
        row.helo = f.helo.or(row.helo.take());
        row.mail_from = row.mail_from.take().or(f.mail_from);
        if row.rcpt_to.is_empty() {
            row.rcpt_to = f.rcpt_to;
        }
        row.message_id = f.message_id;
        row.subject = f.subject;
        row.date_header = f.date_header;
        row.date_ts = f.date_ts;
        row.urls = f.urls;
        row.domains = f.domains;
        row.fingerprint = f.tokens;
    }

    /// The fingerprint and extracted fields of one message (what `learn`
    /// uses); fails when a cap is hit or the message has no headers.
    pub fn features(&self, raw: &[u8], envelope: Option<&Envelope>) -> Result<Features, Error> {
        self.features_with(raw, envelope, true)
    }

    /// [`MailAnalyzer::features`]; with `all_values` false, only the
    /// headers a token is made from ([`HEADER_SHAPES`]) get their values
    /// in `Features::headers`, the others an empty value (unfolding every
    /// header of a long relay chain, DKIM signatures included, was 7 % of
    /// a real message's analysis).
    fn features_with(
        &self,
        raw: &[u8],
        envelope: Option<&Envelope>,
        all_values: bool,
    ) -> Result<Features, Error> {
        let cfg = &self.cfg;
        let mut raw = raw;
        // A stray mbox From_ line on top of a single message.
        if raw.starts_with(b"From ") {
            let nl = memchr::memchr(b'\n', raw)
                .map(|i| i + 1)
                .unwrap_or(raw.len());
            raw = &raw[nl..];
        }
        if raw.is_empty() {
            return Err(Error::new(ErrorKind::Empty));
        }
        if raw.len() > cfg.max_message_bytes {
            return Err(Error::new(ErrorKind::MessageTooLarge {
                size: raw.len() as u64,
                cap: cfg.max_message_bytes,
            }));
        }
        if !looks_like_header(raw) {
            return Err(Error::new(ErrorKind::NoHeaders));
        }
        match header_end(&raw[..raw.len().min(cfg.max_header_bytes + 2)]) {
            Some(_) => {}
            None if raw.len() > cfg.max_header_bytes => {
                return Err(Error::new(ErrorKind::HeaderTooLarge {
                    cap: cfg.max_header_bytes,
                }))
            }
            None => {}
        }
        let mut last = 0usize;
        // A message no longer than the cap has no line longer than it.
        let lines: &[u8] = if raw.len() > cfg.max_line_bytes {
            raw
        } else {
            &[]
        };
        for nl in memchr::memchr_iter(b'\n', lines).chain(std::iter::once(lines.len())) {
            if nl - last > cfg.max_line_bytes {
                return Err(Error::new(ErrorKind::LineTooLong {
                    offset: last,
                    cap: cfg.max_line_bytes,
                }));
            }
            last = nl + 1;
        }
        // Top-level headers keep their offsets in `parsed` (only bodies
        // of parts are left out), so header offsets index `raw` too.
        let (parsed, cuts) = if cfg.decode_attachments {
            (Cow::Borrowed(raw), 0)
        } else {
            without_binary_content(raw)
        };
        let mut msg = self
            .parser
            .parse(&parsed[..])
            .ok_or_else(|| Error::new(ErrorKind::Unparseable))?;
        // Malformed MIME that the parser reads otherwise than the walker
        // (a part it does not see): parsed whole, as it is.
        if cuts > 0 && empty_binary_parts(&msg) < cuts {
            msg = self
                .parser
                .parse(raw)
                .ok_or_else(|| Error::new(ErrorKind::Unparseable))?;
        }
        let (parts, depth) = mime_size(&msg, cfg.max_depth);
        if depth > cfg.max_depth {
            return Err(Error::new(ErrorKind::TooDeep {
                depth,
                cap: cfg.max_depth,
            }));
        }
        if parts > cfg.max_parts {
            return Err(Error::new(ErrorKind::TooManyParts {
                parts,
                cap: cfg.max_parts,
            }));
        }
        // Sized for a typical message (two dozen tokens), so that the
        // list is not grown four times.
        let mut f = Features {
            tokens: Vec::with_capacity(32),
            ..Features::default()
        };
        let headers = &msg.root_part().headers;
        let session = envelope.is_some_and(|e| e.session);

        // The trap's hop: the first Received header from a public address,
        // or the one `botscope trap` wrote (whatever the client's address:
        // a trap on a private network or loopback is still the trap)
        // (mailbox input only; in a session the client's bytes carry none).
        let mut trap_idx: Option<usize> = None;
        if !session {
            for (i, h) in headers.iter().enumerate() {
                // A hop whose value has no word `from` names no client
                // address (mail-parser sets `from_ip` only after a `from`
                // token), so it cannot be the trap's: not parsed.
                if h.name != HeaderName::Received || !names_a_client(raw, h) {
                    continue;
                }
                if let Some(r) = received_of(raw, h) {
                    let ours = i == 0
                        && r.from_ip.is_some()
                        && raw_value(raw, h).contains(" (botscope-trap) with ");
                    if ours || r.from_ip.is_some_and(|ip| is_public(&ip)) {
                        trap_idx = Some(i);
                        f.sender_ip = r.from_ip;
                        f.helo = r.helo.as_ref().or(r.from.as_ref()).map(host_string);
                        f.received_ts = r.date.as_ref().and_then(plausible);
                        if let Some(rcpt) = &r.for_ {
                            let rcpt = rcpt.trim_matches(['<', '>', ' ']);
                            if !rcpt.is_empty() {
                                f.rcpt_to.push(take_chars(rcpt, 255));
                            }
                        }
                        if let Some(p) = &r.with {
                            f.push(
                                "greet",
                                if *p == mail_parser::Protocol::SMTP {
                                    "HELO"
                                } else {
                                    "EHLO"
                                },
                            );
                        }
                        break;
                    }
                }
            }
            if f.received_ts.is_none() {
                // Another receiving hop's time, then a delivery header.
                f.received_ts = headers
                    .iter()
                    .filter(|h| h.name == HeaderName::Received)
                    .filter_map(|h| received_of(raw, h))
                    .find_map(|r| r.date.as_ref().and_then(plausible));
            }
            if f.received_ts.is_none() {
                f.received_ts = headers
                    .iter()
                    .filter(|h| h.name.as_str().eq_ignore_ascii_case("Delivery-Date"))
                    .find_map(|h| {
                        let v = raw_value(raw, h);
                        crate::reader::from_line_time(format!("From x {v}").as_bytes())
                    });
            }
            if f.received_ts.is_none() {
                f.received_ts = envelope.and_then(|e| e.received_ts);
            }
        } else if let Some(env) = envelope {
            f.received_ts = env.received_ts;
            f.sender_ip = env.client_ip;
            f.helo = env.helo.clone();
        }
        // The SMTP dialect, when the session's commands are known (a
        // capture, or the live trap with or without its Received header):
        // the bot's code, which a template change leaves as it was.
        if let Some(env) = envelope.filter(|e| !e.commands.is_empty()) {
            for (k, v) in dialect_tokens(&env.commands, env.pipelined) {
                if k == "greet" {
                    // The Received header's guess, if any, gives way.
                    f.tokens.retain(|t| !t.starts_with("greet="));
                }
                f.push(k, &v);
            }
        }
        if let Some(h) = &f.helo {
            let kind = if h.parse::<IpAddr>().is_ok() || h.starts_with('[') {
                "ip".to_string()
            } else {
                shape(h, 40)
            };
            f.push("helo", &kind);
        }

        // The sender's headers: those after the trap's hop.
        let first = trap_idx.map_or(0, |i| i + 1);
        let kept = headers.len().saturating_sub(first);
        let mut seq = String::with_capacity(16 * kept.min(40));
        f.headers.reserve_exact(kept.min(100));
        for (n, h) in headers.iter().enumerate().skip(first) {
            let name = raw_name(raw, h);
            if n - first < 40 {
                if !seq.is_empty() {
                    seq.push(',');
                }
                seq.push_str(&name);
            }
            if f.headers.len() < 100 {
                let value =
                    if all_values || HEADER_SHAPES.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
                        raw_value(raw, h)
                    } else {
                        String::new()
                    };
                f.headers.push((name, value));
            }
        }
        f.push("hseq", &seq);
        let mut names: Vec<&str> = f.headers.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        // The header tokens are made while the names are borrowed from
        // `f.headers`, and added after (same order as pushing each).
        let mut toks: Vec<String> = names.iter().map(|n| token("h", n)).collect();
        let hv = |name: &str| {
            f.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let [mid, date, mailer, ua, from, to, ctype] = HEADER_SHAPES.map(hv);
        toks.push(token(
            "mid",
            &mid.map_or("none".to_string(), |v| shape(v, 80)),
        ));
        toks.push(token(
            "date",
            &date.map_or("none".to_string(), |v| shape(v, 60)),
        ));
        if let Some(d) = date {
            if let Some(z) = d.split_whitespace().last() {
                toks.push(token("tz", &take_chars(z, 12)));
            }
        }
        toks.push(token(
            "mailer",
            mailer.map_or("none", |v| v.get(..80).unwrap_or(v)),
        ));
        if let Some(ua) = ua {
            toks.push(token("ua", ua.get(..80).unwrap_or(ua)));
        }
        toks.push(token(
            "from",
            &from.map_or("none".to_string(), |v| addr_shape(v, 40)),
        ));
        toks.push(token(
            "to",
            &to.map_or("none".to_string(), |v| addr_shape(v, 40)),
        ));
        if let Some(ct) = ctype {
            toks.push(token("ct", &ct_shape(ct)));
        }
        f.tokens.append(&mut toks);
        f.date_header = date.map(str::to_string);
        f.date_ts = msg.date().and_then(plausible);
        if date.is_some() && f.date_ts.is_none() {
            f.push("date_bogus", "1");
        }
        if let (Some(d), Some(r)) = (f.date_ts, f.received_ts) {
            f.push("lag", lag_bucket((d.0 - r.0) / 1_000_000));
        }
        f.message_id = msg.message_id().map(str::to_string);
        f.subject = msg.subject().map(|s| take_chars(s, 1000));
        f.mail_from = envelope.and_then(|e| e.mail_from.clone());
        if let Some(env) = envelope.filter(|e| !e.rcpt_to.is_empty()) {
            f.rcpt_to = env.rcpt_to.clone();
        }

        // MIME structure, charsets, encodings, text, URLs.
        let mut tree = String::with_capacity(64);
        mime_tree(&msg, 0, 0, &mut tree);
        f.push("mime", &tree);
        if let Some(b) = msg
            .root_part()
            .content_type()
            .and_then(|c| c.attribute("boundary"))
        {
            f.push("bnd", &shape(b, 60));
        }
        let mut charsets: Vec<String> = Vec::new();
        let mut ctes: Vec<String> = Vec::new();
        let mut urls = UrlSet::new(cfg.max_urls);
        let has_plain = msg
            .parts
            .iter()
            .any(|p| matches!(p.body, PartType::Text(_)));
        for part in &msg.parts {
            if let Some(cs) = part.content_type().and_then(|c| c.attribute("charset")) {
                let cs = cs.to_ascii_lowercase();
                if !charsets.contains(&cs) && charsets.len() < 8 {
                    charsets.push(cs);
                }
            }
            if let Some(cte) = part.content_transfer_encoding() {
                let cte = cte.to_ascii_lowercase();
                if !ctes.contains(&cte) && ctes.len() < 8 {
                    ctes.push(cte);
                }
            }
            let room = cfg.max_text_bytes.saturating_sub(f.text.len());
            match &part.body {
                PartType::Text(t) if room > 0 => {
                    let t = clip(t, room);
                    urls.add_text(t);
                    f.text.push_str(t);
                    f.text.push('\n');
                }
                PartType::Html(h) if room > 0 => {
                    let h = clip(h, room);
                    let t = urls.add_html(h);
                    // The HTML twin of a text part says the same words.
                    if !has_plain {
                        f.text.push_str(clip(&t, room));
                        f.text.push('\n');
                    }
                }
                _ => {}
            }
            if let Some(name) = part.attachment_name() {
                if f.attachment_names.len() < 20 {
                    f.attachment_names.push(take_chars(name, 200));
                }
            }
        }
        charsets.sort();
        ctes.sort();
        f.push("cs", &charsets.join(","));
        f.push("cte", &ctes.join(","));
        for u in &urls.urls {
            if let Some(h) = host_of(u) {
                if let Some(d) = registrable_domain(&h) {
                    if !f.domains.contains(&d) {
                        f.domains.push(d);
                    }
                }
                if !f.hosts.contains(&h) {
                    f.hosts.push(h);
                }
            }
        }
        f.urls = urls.urls;
        Ok(f)
    }
}

/// The dialect tokens of a session's commands (verbs as sent, in order):
/// `greet` (the first verb, upper-cased), `case` (of the verbs' letters:
/// upper, lower or mixed), `cmds` (the first transaction's verbs as sent,
/// repeats in a row folded, up to its `DATA` or `BDAT`: `EHLO,MAIL,RCPT,DATA`
/// whatever the number of recipients or the message's place in the
/// session) and `pipe` (commands sent before their replies).
pub(crate) fn dialect_tokens(commands: &[String], pipelined: bool) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(4);
    let Some(first) = commands.first() else {
        return out;
    };
    out.push(("greet", first.to_ascii_uppercase()));
    let (mut upper, mut lower) = (false, false);
    let mut seq: Vec<&str> = Vec::new();
    for c in commands.iter().take(64) {
        upper |= c.bytes().any(|b| b.is_ascii_uppercase());
        lower |= c.bytes().any(|b| b.is_ascii_lowercase());
        if seq.len() < 8 && seq.last() != Some(&c.as_str()) {
            seq.push(c);
        }
        if c.eq_ignore_ascii_case("DATA") || c.eq_ignore_ascii_case("BDAT") {
            break;
        }
    }
    let case = match (upper, lower) {
        (true, false) => "upper",
        (false, true) => "lower",
        _ => "mixed",
    };
    out.push(("case", case.to_string()));
    out.push(("cmds", seq.join(",")));
    out.push(("pipe", if pipelined { "1" } else { "0" }.to_string()));
    out
}

fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn host_string(h: &mail_parser::Host<'_>) -> String {
    match h {
        mail_parser::Host::Name(n) => take_chars(n, 255),
        mail_parser::Host::IpAddr(ip) => ip.to_string(),
    }
}

/// The header name as written (case kept).
fn raw_name(raw: &[u8], h: &Header<'_>) -> String {
    let s = h.offset_field as usize;
    let e = (h.offset_start as usize).min(raw.len());
    let bytes = raw.get(s..e).unwrap_or(&[]);
    let bytes = bytes.split(|&b| b == b':').next().unwrap_or(bytes);
    let name = lossy(bytes);
    let name = name.trim();
    if name.is_empty() {
        h.name.as_str().to_string()
    } else {
        take_chars(name, 64)
    }
}

/// The parser: only the headers whose parsed value is read are parsed
/// (Subject, Date, Message-ID, and Content-Type, -Disposition and
/// -Transfer-Encoding, which mail-parser itself reads to walk the parts);
/// every other header is skipped to its end and kept with its name and
/// offsets, its value read raw ([`raw_value`]) or not at all. Those read
/// are parsed as mail-parser's default parse reads them;
/// [`MailAnalyzer::with_every_header_parsed`] gives that parse, for the
/// tests that compare the two. A skipped header always ends at its last
/// line: mail-parser's date parser, used by default for `Resent-Date`,
/// can read past the line end after an obsolete one-letter zone and take
/// the next header in (`Date` still can: it is parsed).
fn parser() -> MessageParser {
    use HeaderName as H;
    MessageParser::new()
        .header_text(H::Subject)
        .header_text(H::ContentTransferEncoding)
        .header_date(H::Date)
        .header_id(H::MessageId)
        .header_content_type(H::ContentType)
        .header_content_type(H::ContentDisposition)
        .default_header_ignore()
}

/// A header's value as sent (empty if its offsets are past `raw`).
fn value_bytes<'x>(raw: &'x [u8], h: &Header<'_>) -> &'x [u8] {
    let s = h.offset_start as usize;
    let e = (h.offset_end as usize).min(raw.len());
    raw.get(s..e).unwrap_or_default()
}

/// A Received header parsed from its raw value (the parser skips them:
/// see [`parser`]).
fn received_of<'x>(raw: &'x [u8], h: &Header<'_>) -> Option<mail_parser::Received<'x>> {
    match mail_parser::parsers::MessageStream::new(value_bytes(raw, h)).parse_received() {
        HeaderValue::Received(r) => Some(*r),
        _ => None,
    }
}

/// Whether a Received header's value holds `from` in any case, which
/// every header mail-parser finds a client address in does: its
/// tokenizer sets `from_ip` only in the clause a `from` token opens.
fn names_a_client(raw: &[u8], h: &Header<'_>) -> bool {
    let v = value_bytes(raw, h);
    memchr::memchr2_iter(b'f', b'F', v).any(|i| {
        v.get(i + 1..i + 4)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(b"rom"))
    })
}

/// The header value as sent, unfolded and trimmed (at most 2,000 bytes).
fn raw_value(raw: &[u8], h: &Header<'_>) -> String {
    let bytes = value_bytes(raw, h);
    let bytes = &bytes[..bytes.len().min(2000)];
    let v = lossy(bytes);
    if memchr::memchr(b'\n', bytes).is_none() {
        // One line: its trailing CRs are blanks that the trim removes.
        return v.trim().to_string();
    }
    let mut out = String::with_capacity(v.len());
    // The lines (as `split('\n')` gives them), found by memchr: `\n` is
    // ASCII, so every cut is at a character boundary.
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', v.as_bytes()).chain(std::iter::once(v.len()));
    for (i, end) in ends.enumerate() {
        let line = v.get(start..end).unwrap_or_default().trim_end_matches('\r');
        start = end + 1;
        if i > 0 {
            out.push(' ');
            out.push_str(line.trim_start());
        } else {
            out.push_str(line);
        }
    }
    // Trimmed in place (the blank after the colon, a trailing CR).
    let end = out.trim_end().len();
    out.truncate(end);
    let lead = out.len() - out.trim_start().len();
    out.drain(..lead);
    out
}

/// `s` appended with its ASCII letters lowercased (what
/// `push_str(&s.to_ascii_lowercase())` writes, without the copy).
fn push_lowercase(out: &mut String, s: &str) {
    let at = out.len();
    out.push_str(s);
    if let Some(written) = out.get_mut(at..) {
        written.make_ascii_lowercase();
    }
}

/// Content-Type as formatted by the mailer: the boundary and charset
/// values replaced, quoting, spacing and parameter order kept.
fn ct_shape(ct: &str) -> String {
    let mut out = String::with_capacity(ct.len().min(128));
    for (i, param) in ct.split(';').enumerate() {
        if i > 0 {
            out.push(';');
        }
        let p = param.trim_start();
        // One space for each leading blank, whatever it was.
        let lead = param.get(..param.len() - p.len()).unwrap_or_default();
        out.extend(lead.chars().map(|_| ' '));
        match p.split_once('=') {
            Some((k, v)) => {
                push_lowercase(&mut out, k);
                out.push('=');
                out.push_str(if v.starts_with('"') { "\"V\"" } else { "V" });
            }
            None => push_lowercase(&mut out, p),
        }
        if out.len() > 120 {
            break;
        }
    }
    out
}

fn lag_bucket(secs: i64) -> &'static str {
    match secs {
        i64::MIN..=-86_400 => "<-1d",
        -86_399..=-3_600 => "-1d..-1h",
        -3_599..=-300 => "-1h..-5m",
        -299..=-1 => "-5m..0",
        0..=299 => "0..5m",
        300..=3_599 => "5m..1h",
        3_600..=86_399 => "1h..1d",
        _ => ">1d",
    }
}

/// Count parts (nested messages included) and the deepest nesting, with
/// an explicit stack; stops counting past `max_depth`.
fn mime_size(msg: &Message<'_>, max_depth: usize) -> (usize, usize) {
    let mut parts = 0usize;
    let mut deepest = 0usize;
    let mut stack: Vec<(&Message<'_>, u32, usize)> = vec![(msg, 0, 0)];
    while let Some((m, id, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if depth > max_depth {
            continue;
        }
        let Some(p) = m.parts.get(id as usize) else {
            continue;
        };
        parts += 1;
        match &p.body {
            PartType::Multipart(children) => {
                for &c in children {
                    stack.push((m, c, depth + 1));
                }
            }
            PartType::Message(inner) => {
                parts += inner.parts.len().saturating_sub(1);
                stack.push((inner, 0, depth + 1));
            }
            _ => {}
        }
    }
    (parts, deepest)
}

/// `multipart/alternative(text/plain,text/html)`; depth already bounded.
fn mime_tree(msg: &Message<'_>, id: u32, depth: usize, out: &mut String) {
    if out.len() > 200 || depth > 8 {
        return;
    }
    let Some(p) = msg.parts.get(id as usize) else {
        return;
    };
    match p.content_type() {
        Some(c) => {
            push_lowercase(out, c.ctype());
            out.push('/');
            push_lowercase(out, c.subtype().unwrap_or(""));
        }
        None => out.push('-'),
    }
    if let PartType::Multipart(children) = &p.body {
        out.push('(');
        for (i, &c) in children.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            mime_tree(msg, c, depth + 1, out);
        }
        out.push(')');
    }
}

/// A campaign id: the same template gives the same id on every run.
///
/// AutoRE's idea, kept simple: spam of one campaign shares its URL
/// signature (registrable domains rotate, but the public suffix and the
/// path template do not) and its category and brand; without URLs the
/// body skeleton (the first long words) stands in for the URL signature.
pub fn campaign_id(category: &str, brand: Option<&str>, f: &Features) -> String {
    let mut key = String::with_capacity(160);
    key.push_str(category);
    key.push('|');
    key.push_str(brand.unwrap_or(""));
    key.push('|');
    let mut sigs: Vec<String> = Vec::new();
    for u in f.urls.iter().take(3) {
        if host_of(u).is_none() {
            continue;
        }
        let sig = url_template(u);
        if !sigs.contains(&sig) {
            sigs.push(sig);
        }
    }
    sigs.sort();
    if sigs.is_empty() {
        // The first twelve long words without digits: the split stops there.
        let mut n = 0;
        crate::dict::words_while(&f.text, |w| {
            if w.len() >= 4 && !w.bytes().any(|b| b.is_ascii_digit()) {
                key.push_str(w);
                key.push(' ');
                n += 1;
            }
            n < 12
        });
    } else {
        key.push_str(&sigs.join(" "));
    }
    format!("c-{:012x}", fnv64(key.as_bytes()) >> 16)
}

/// A spam URL as a template, the way AutoRE (Xie et al., 2008) generalises
/// the URLs of one campaign: the host is dropped (a campaign moves to new
/// domains every day; its registrable domains group it within a day, not
/// across days), and each path segment, query name and value is kept when
/// it reads as a word or a file name, else replaced by its class: `#` for
/// digits, `*` for a token that looks generated (letters and digits
/// mixed, hex, or letters no language would write). Per message, with no
/// state: the same campaign gets the same template whatever its tracking
/// tokens.
pub fn url_template(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find(['/', '?']).map_or("/", |i| &rest[i..]);
    let path = path.split('#').next().unwrap_or(path);
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let mut out = String::with_capacity(32);
    for seg in p.split('/').filter(|s| !s.is_empty()).take(8) {
        out.push('/');
        out.push_str(&token_class(seg));
    }
    if out.is_empty() || p.ends_with('/') {
        out.push('/');
    }
    if !q.is_empty() {
        out.push('?');
        for (i, kv) in q.split('&').filter(|s| !s.is_empty()).take(8).enumerate() {
            if i > 0 {
                out.push('&');
            }
            match kv.split_once('=') {
                Some((k, v)) => {
                    out.push_str(&token_class(k));
                    out.push('=');
                    out.push_str(&token_class(v));
                }
                None => out.push_str(&token_class(kv)),
            }
        }
    }
    out
}

/// One URL token as a template part (see [`url_template`]).
fn token_class(t: &str) -> String {
    if t.is_empty() {
        return String::new();
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return "#".to_string();
    }
    // A file name: its stem classified, its extension kept.
    if let Some((stem, ext)) = t.rsplit_once('.') {
        if !stem.is_empty()
            && (1..=5).contains(&ext.len())
            && ext.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return format!("{}.{}", token_class(stem), ext.to_ascii_lowercase());
        }
    }
    let wordy = t.len() <= 32
        && t.split(['-', '_', '+']).all(|w| {
            !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphabetic()) && reads_as_word(w)
        });
    if wordy {
        t.to_ascii_lowercase()
    } else {
        "*".to_string()
    }
}

/// Letters a language could write: vowels in a plausible share and no
/// long consonant run (`pharmacy`, `index`, `buy` yes; `xkqzt`, `bfgjr` no).
fn reads_as_word(w: &str) -> bool {
    let b = w.as_bytes();
    if b.len() <= 3 {
        return true;
    }
    let vowel = |c: u8| {
        matches!(
            c.to_ascii_lowercase(),
            b'a' | b'e' | b'i' | b'o' | b'u' | b'y'
        )
    };
    let vowels = b.iter().filter(|&&c| vowel(c)).count();
    let mut run = 0;
    let mut max_run = 0;
    for &c in b {
        run = if vowel(c) { 0 } else { run + 1 };
        max_run = max_run.max(run);
    }
    // Mixed case inside a token (`aKx9Qz` minus the digits) is generated.
    let inner_upper = b.iter().skip(1).any(|c| c.is_ascii_uppercase())
        && b.iter().skip(1).any(|c| c.is_ascii_lowercase());
    vowels * 5 >= b.len() && vowels * 5 <= b.len() * 4 && max_run <= 4 && !inner_upper
}

pub(crate) fn fnv64(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_or_skipped_match_the_default_parse() {
        let raw = b"Received: from mx.example.org (mx.example.org [203.0.113.9])\r\n\
            \tby trap.example (Postfix) with ESMTP id 4B2C1\r\n\
            \tfor <victim@trap.example>; Sat, 25 Dec 2010 10:11:12 +0000\r\n\
            Received: from [10.1.2.3] (helo=pc17)\r\n\tby mx.example.org with smtp; Sat, 25 Dec 2010 10:11:00 +0000\r\n\
            Received: garbage ((( [\r\n\
            Subject: =?utf-8?q?Caf=C3=A9?=\r\nFrom: \"Bob\" <bob@example.org>\r\n\
            Date: Sat, 25 Dec 2010 10:11:12 +0000\r\nMessage-ID: <a@b>\r\n\
            Content-Type: text/plain; charset=utf-8\r\n\r\nbody\r\n";
        let ours = parser().parse(&raw[..]).unwrap();
        let default = MessageParser::default().parse(&raw[..]).unwrap();
        let (a, b) = (&ours.root_part().headers, &default.root_part().headers);
        assert_eq!(a.len(), b.len());
        let mut received = 0;
        let mut parsed = 0;
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.name, y.name);
            assert_eq!(
                (x.offset_field, x.offset_start, x.offset_end),
                (y.offset_field, y.offset_start, y.offset_end)
            );
            if x.name == HeaderName::Received {
                received += 1;
                assert_eq!(received_of(raw, x).as_ref(), y.value.as_received(), "{x:?}");
            } else if x.value != HeaderValue::Empty {
                parsed += 1;
                assert_eq!(x.value, y.value, "{:?}", x.name);
            }
        }
        assert_eq!(received, 3);
        // Subject, Date, Message-ID, Content-Type; From is skipped.
        assert_eq!(parsed, 4);
        assert_eq!(ours.subject(), Some("Café"));
    }

    #[test]
    fn a_skipped_header_ends_at_its_line_where_the_date_parser_would_not() {
        // mail-parser's date parser reads two bytes after an obsolete
        // one-letter zone, line end or not: parsed so, this Resent-Date
        // takes the From line in. Skipped, it ends at its line.
        let raw = b"Resent-Date: Sat, 1 Jan 2011 10:00:00 Z\r\nFrom: a@b\r\nSubject: s\r\n\r\nx";
        let names = |m: &Message<'_>| -> Vec<String> {
            m.root_part()
                .headers
                .iter()
                .map(|h| h.name.as_str().to_string())
                .collect()
        };
        let ours = parser().parse(&raw[..]).unwrap();
        let default = MessageParser::default().parse(&raw[..]).unwrap();
        assert_eq!(names(&ours), ["Resent-Date", "From", "Subject"]);
        assert_eq!(names(&default), ["Resent-Date", "Subject"]);
    }

    #[test]
    fn a_campaign_without_urls_is_its_first_twelve_long_words() {
        let id = |text: &str| {
            let f = Features {
                text: text.to_string(),
                ..Features::default()
            };
            campaign_id("pharma", None, &f)
        };
        // Twelve long words, "shop" the twelfth: words of three letters or
        // fewer and words with digits do not count, nor does what follows.
        let head = "Dear friend, we have 100 cheap pills: order today from our \
                    licensed online pharmacy shop";
        let a = id(&format!("{head} and more words here"));
        assert_eq!(a, id(&format!("{head} but another tail altogether")));
        assert_eq!(a, id(head));
        assert_ne!(a, id(&head.replace("shop", "store")));
        assert_ne!(a, id(&head.replace("Dear", "Hello")));
    }

    #[test]
    fn url_templates_keep_words_and_generalise_tokens() {
        for (u, t) in [
            ("http://pills-x.com/", "/"),
            ("http://abc.ru/?k3j2h1g8", "/?*"),
            ("http://abc.ru/?a8", "/?*"),
            (
                "http://shop.example.net/buy/index.php?id=12345&ref=aff77",
                "/buy/index.php?id=#&ref=*",
            ),
            ("http://x.cn/Product/Viagra_100mg.html", "/product/*.html"),
            ("http://x.cn/track/3f9a0c2e1b", "/track/*"),
            ("http://x.cn/bfgjrkq/", "/*/"),
        ] {
            assert_eq!(url_template(u), t, "{u}");
        }
    }

    #[test]
    fn civil() {
        assert_eq!(civil_ts(1970, 1, 1, 0, 0, 0), Some(Ts(0)));
        assert_eq!(
            civil_ts(2010, 12, 20, 0, 0, 31),
            Some(Ts(1_292_803_231_000_000))
        );
    }

    /// Random Received values, most without the word `from` (some with
    /// `fro`, `FrOm`, `xfromy`, an address in brackets or parentheses, a
    /// folded line): every one the parser gives a client address is one
    /// `names_a_client` keeps, so skipping the others loses no trap hop.
    #[test]
    fn received_hops_skipped_unparsed_name_no_client() {
        let pieces = [
            "from",
            "FrOm",
            "fro",
            "m",
            "rom",
            "f",
            "xfromy",
            " ",
            "\r\n\t",
            "(",
            ")",
            "[",
            "]",
            "203.0.113.9",
            "10.1.2.3",
            "2001:db8::1",
            "by",
            "with",
            "ESMTP",
            "for",
            "<a@b>",
            ";",
            "Sat, 25 Dec 2010 10:11:12 +0000",
            "mx.example.org",
            "helo=pc",
            "id",
            "=",
        ];
        let mut next = crate::xorshift(0x5851_f42d_4c95_7f2d);
        let (mut with_ip, mut skipped) = (0, 0);
        for _ in 0..5000 {
            let n = 1 + (next() % 16) as usize;
            let mut value = String::new();
            for _ in 0..n {
                value.push_str(pieces[(next() % pieces.len() as u64) as usize]);
                if !next().is_multiple_of(4) {
                    value.push(' ');
                }
            }
            let raw = format!("Received: {value}\r\nSubject: x\r\n\r\nbody\r\n");
            let msg = parser().parse(raw.as_bytes()).unwrap();
            let h = &msg.root_part().headers[0];
            assert_eq!(h.name, HeaderName::Received);
            let ip = received_of(raw.as_bytes(), h).and_then(|r| r.from_ip);
            if names_a_client(raw.as_bytes(), h) {
                with_ip += usize::from(ip.is_some());
            } else {
                skipped += 1;
                assert_eq!(ip, None, "{value:?}");
            }
        }
        // Both kinds were drawn.
        assert!(with_ip > 100 && skipped > 100, "{with_ip} {skipped}");
    }

    #[test]
    fn ct_shapes() {
        assert_eq!(
            ct_shape("multipart/alternative; boundary=\"----=_x\""),
            "multipart/alternative; boundary=\"V\""
        );
        assert_eq!(
            ct_shape("Text/HTML;\u{a0}\tCharSet=UTF-8; Format"),
            "text/html;  charset=V; format"
        );
    }

    /// `ct_shape` and `raw_value` write what they wrote when each piece
    /// was a copy (lowercased names, a string of blanks, a trimmed copy):
    /// random values of ASCII and non-ASCII letters, Unicode blanks,
    /// separators, quotes and folds.
    #[test]
    fn shapes_and_values_write_what_the_copying_versions_wrote() {
        fn ct_shape_copying(ct: &str) -> String {
            let mut out = String::new();
            for (i, p) in ct.split(';').enumerate() {
                if i > 0 {
                    out.push(';');
                }
                let lead: String = p
                    .chars()
                    .take_while(|c| c.is_whitespace())
                    .map(|_| ' ')
                    .collect();
                out.push_str(&lead);
                let p = p.trim_start();
                match p.split_once('=') {
                    Some((k, v)) => {
                        out.push_str(&k.to_ascii_lowercase());
                        out.push('=');
                        out.push_str(if v.starts_with('"') { "\"V\"" } else { "V" });
                    }
                    None => out.push_str(&p.to_ascii_lowercase()),
                }
                if out.len() > 120 {
                    break;
                }
            }
            out
        }
        let pieces = [
            "Text", "html", "Ä", "é", "=", ";", "\"", " ", "\t", "\u{a0}", "\u{3000}", "\r\n ",
            "\n\t", "\r", "\r\n", "x", "BOUNDARY", "-", "0",
        ];
        let mut next = crate::xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let mut v = String::new();
            for _ in 0..next() % 30 {
                v.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            }
            assert_eq!(ct_shape(&v), ct_shape_copying(&v), "{v:?}");
            // A header with this value, read back raw.
            let raw = format!("X-Test:{v}\r\n\r\n");
            let msg = parser().parse(raw.as_bytes()).expect("parses");
            if let Some(h) = msg.root_part().headers.first() {
                let bytes = value_bytes(raw.as_bytes(), h);
                let copying = {
                    let v = lossy(&bytes[..bytes.len().min(2000)]);
                    let unfolded: Vec<&str> =
                        v.split('\n').map(|l| l.trim_end_matches('\r')).collect();
                    let mut out = String::new();
                    for (i, l) in unfolded.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                            out.push_str(l.trim_start());
                        } else {
                            out.push_str(l);
                        }
                    }
                    if v.contains('\n') {
                        out.trim().to_string()
                    } else {
                        v.trim().to_string()
                    }
                };
                assert_eq!(raw_value(raw.as_bytes(), h), copying, "{v:?}");
            }
        }
    }
}
