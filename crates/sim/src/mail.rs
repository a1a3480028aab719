//! Spam messages as a family writes them, and the trap's mbox.
//!
//! One generator makes every message, for the trap (`mail/*.mbox`) and
//! for the sandbox's SMTP sessions alike. Messages are written with `\n`
//! line ends; [`smtp_data`] turns one into a dot-stuffed CRLF DATA block,
//! [`push_mboxrd`] into an mboxrd entry.

use std::io::{self, Write};

use chrono::{DateTime, Datelike, Timelike};

use crate::encode::{base64, base64_lines, csv_field, fake_pe, quoted_printable, zip_one};
use crate::rng::{stream, Rng};
use crate::scenario::{BodyKind, SubjectEncoding, TransferEncoding};
use crate::template::{push_u64, Template, Var, Vars};
use crate::words::{FIRST, LAST};
use crate::world::{day_start_us, offset, Bot, CampaignW, FamilyW, HeaderW, World};

const URL_START: u8 = 0x01;
const URL_END: u8 = 0x02;

/// What one message needs besides the family and campaign.
pub(crate) struct MessageSpec<'a> {
    pub family: &'a FamilyW,
    pub campaign: &'a CampaignW,
    /// Live registrable domains of the campaign that day.
    pub domains: &'a [String],
    pub bot: &'a Bot,
    /// When the bot wrote it (µs since the epoch, true UTC).
    pub send_us: i64,
    /// The recipient named in `To:`.
    pub rcpt: &'a str,
}

/// What the truth files need to know about a message.
pub(crate) struct MessageMeta {
    pub message_id: String,
    pub sender: String,
}

struct Ctx<'a> {
    spec: &'a MessageSpec<'a>,
    sender: &'a str,
    sender_domain: &'a str,
    name: &'a str,
}

impl Ctx<'_> {
    fn user(&self) -> &str {
        self.spec.rcpt.split('@').next().unwrap_or("")
    }
}

struct UrlVars<'a> {
    domain: &'a str,
    host: &'a str,
}

impl Vars for UrlVars<'_> {
    fn put(&self, v: Var, _: &mut Rng, out: &mut Vec<u8>) {
        match v {
            Var::Domain => out.extend_from_slice(self.domain.as_bytes()),
            Var::Host => out.extend_from_slice(self.host.as_bytes()),
            _ => {}
        }
    }
}

impl Vars for Ctx<'_> {
    fn put(&self, v: Var, rng: &mut Rng, out: &mut Vec<u8>) {
        let s = self.spec;
        match v {
            Var::Domain => out.extend_from_slice(self.sender_domain.as_bytes()),
            Var::Brand => out.extend_from_slice(s.campaign.brand.as_bytes()),
            Var::Recipient => out.extend_from_slice(s.rcpt.as_bytes()),
            Var::User => out.extend_from_slice(self.user().as_bytes()),
            Var::RcptDomain => {
                out.extend_from_slice(s.rcpt.rsplit('@').next().unwrap_or("").as_bytes())
            }
            Var::Sender => out.extend_from_slice(self.sender.as_bytes()),
            Var::Name => out.extend_from_slice(self.name.as_bytes()),
            Var::BotIp => out.extend_from_slice(s.bot.ip.to_string().as_bytes()),
            Var::Helo => out.extend_from_slice(s.bot.helo.as_bytes()),
            Var::Url => {
                let domain = match s.domains.len() {
                    0 => "example.com",
                    n => s.domains[rng.index(n)].as_str(),
                };
                let host = s
                    .family
                    .mail
                    .url_host
                    .to_string(rng, &UrlVars { domain, host: "" });
                let urls = &s.campaign.urls;
                out.push(URL_START);
                urls[rng.index(urls.len())].render(
                    rng,
                    &UrlVars {
                        domain,
                        host: &host,
                    },
                    out,
                );
                out.push(URL_END);
            }
            Var::Host => {}
        }
    }
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn two(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn civil(secs: i64) -> chrono::NaiveDateTime {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .naive_utc()
}

/// `Wed, 01 Sep 2010 00:00:12 +0000` (UTC).
pub(crate) fn rfc2822_utc(out: &mut Vec<u8>, secs: i64, zone: &str) {
    let t = civil(secs);
    out.extend_from_slice(DAYS[t.weekday().num_days_from_monday() as usize].as_bytes());
    out.extend_from_slice(b", ");
    two(out, t.day());
    out.push(b' ');
    out.extend_from_slice(MONTHS[t.month0() as usize].as_bytes());
    out.push(b' ');
    push_u64(out, t.year().max(0) as u64);
    out.push(b' ');
    two(out, t.hour());
    out.push(b':');
    two(out, t.minute());
    out.push(b':');
    two(out, t.second());
    out.push(b' ');
    out.extend_from_slice(zone.as_bytes());
}

/// asctime form for the mbox `From ` line: `Wed Sep  1 00:00:12 2010`.
fn asctime(out: &mut Vec<u8>, secs: i64) {
    let t = civil(secs);
    out.extend_from_slice(DAYS[t.weekday().num_days_from_monday() as usize].as_bytes());
    out.push(b' ');
    out.extend_from_slice(MONTHS[t.month0() as usize].as_bytes());
    out.push(b' ');
    if t.day() < 10 {
        out.push(b' ');
        push_u64(out, u64::from(t.day()));
    } else {
        two(out, t.day());
    }
    out.push(b' ');
    two(out, t.hour());
    out.push(b':');
    two(out, t.minute());
    out.push(b':');
    two(out, t.second());
    out.push(b' ');
    push_u64(out, t.year().max(0) as u64);
}

/// Append `Name: value\n`, folding long values at spaces.
fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    let mut col = name.len() + 2;
    let mut rest = value;
    while col + rest.len() > 78 {
        // Break before the last space that keeps the line within 78.
        let room = 78usize.saturating_sub(col);
        let cut = rest[..room.min(rest.len())]
            .iter()
            .rposition(|b| *b == b' ')
            .filter(|&i| i > 0);
        let Some(cut) = cut else { break };
        out.extend_from_slice(&rest[..cut]);
        out.push(b'\n');
        rest = &rest[cut..];
        col = 0;
    }
    out.extend_from_slice(rest);
    out.push(b'\n');
}

/// Word-wrap each line of `text` at 76 columns (long words stay whole).
fn wrap(text: &[u8], out: &mut Vec<u8>) {
    for line in text.split_inclusive(|b| *b == b'\n') {
        let (body, nl) = match line.strip_suffix(b"\n") {
            Some(b) => (b, true),
            None => (line, false),
        };
        let mut rest = body;
        while rest.len() > 76 {
            let cut = rest[..77]
                .iter()
                .rposition(|b| *b == b' ')
                .filter(|&i| i > 0);
            let Some(cut) = cut else { break };
            out.extend_from_slice(&rest[..cut]);
            out.push(b'\n');
            rest = &rest[cut + 1..];
        }
        out.extend_from_slice(rest);
        if nl {
            out.push(b'\n');
        }
    }
}

fn strip_markers(raw: &[u8], out: &mut Vec<u8>) {
    out.extend(
        raw.iter()
            .copied()
            .filter(|b| *b != URL_START && *b != URL_END),
    );
}

fn html_escape(b: u8, out: &mut Vec<u8>) {
    match b {
        b'<' => out.extend_from_slice(b"&lt;"),
        b'>' => out.extend_from_slice(b"&gt;"),
        b'&' => out.extend_from_slice(b"&amp;"),
        b'"' => out.extend_from_slice(b"&quot;"),
        _ => out.push(b),
    }
}

/// The HTML part: paragraphs of the text, URLs as links.
fn to_html(raw: &[u8], charset: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(
        b"<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=",
    );
    out.extend_from_slice(charset.as_bytes());
    out.extend_from_slice(b"\">\n</head>\n<body>\n");
    let text = std::str::from_utf8(raw).unwrap_or("");
    for para in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        out.extend_from_slice(b"<p>");
        let mut in_url = false;
        let mut url_start = 0;
        let bytes = para.trim_matches('\n').as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                URL_START => {
                    in_url = true;
                    url_start = i + 1;
                }
                URL_END if in_url => {
                    in_url = false;
                    let url = &bytes[url_start..i];
                    out.extend_from_slice(b"<a href=\"");
                    url.iter().for_each(|&c| html_escape(c, out));
                    out.extend_from_slice(b"\">");
                    url.iter().for_each(|&c| html_escape(c, out));
                    out.extend_from_slice(b"</a>");
                }
                _ if in_url => {}
                b'\n' => out.extend_from_slice(b"<br>\n"),
                _ => html_escape(b, out),
            }
        }
        out.extend_from_slice(b"</p>\n");
    }
    out.extend_from_slice(b"</body>\n</html>\n");
}

fn encode_text(text: &[u8], enc: TransferEncoding, out: &mut Vec<u8>) {
    match enc {
        TransferEncoding::SevenBit | TransferEncoding::EightBit => {
            out.extend_from_slice(text);
            if !text.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
        TransferEncoding::QuotedPrintable => {
            quoted_printable(text, out);
            if !out.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
        TransferEncoding::Base64 => {
            // Canonical text form has CRLF line ends.
            let mut crlf = Vec::with_capacity(text.len() + text.len() / 40);
            for &b in text {
                if b == b'\n' {
                    crlf.push(b'\r');
                }
                crlf.push(b);
            }
            base64_lines(&crlf, out);
        }
    }
}

fn text_part_headers(out: &mut Vec<u8>, subtype: &str, charset: &str, enc: TransferEncoding) {
    out.extend_from_slice(b"Content-Type: text/");
    out.extend_from_slice(subtype.as_bytes());
    out.extend_from_slice(b"; charset=\"");
    out.extend_from_slice(charset.as_bytes());
    out.extend_from_slice(b"\"\nContent-Transfer-Encoding: ");
    out.extend_from_slice(enc.as_str().as_bytes());
    out.extend_from_slice(b"\n\n");
}

fn encoded_subject(subject: &[u8], how: SubjectEncoding, charset: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let chunk = match how {
        SubjectEncoding::None => {
            out.extend_from_slice(subject);
            return;
        }
        SubjectEncoding::B => 36,
        SubjectEncoding::Q => 24,
    };
    for (i, part) in subject.chunks(chunk).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\n ");
        }
        out.extend_from_slice(b"=?");
        out.extend_from_slice(charset.as_bytes());
        if how == SubjectEncoding::B {
            out.extend_from_slice(b"?B?");
            base64(part, out);
        } else {
            out.extend_from_slice(b"?Q?");
            for &b in part {
                match b {
                    b' ' => out.push(b'_'),
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                        out.push(b)
                    }
                    _ => out.extend_from_slice(&[
                        b'=',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 15)],
                    ]),
                }
            }
        }
        out.extend_from_slice(b"?=");
    }
}

fn boundary(t: &Template, rng: &mut Rng, avoid: Option<&str>) -> String {
    loop {
        let b = t.to_string(rng, &crate::template::NoVars);
        if Some(b.as_str()) != avoid {
            return b;
        }
    }
}

/// Write one message (headers and body, `\n` line ends) to `out`.
pub(crate) fn write_message(spec: &MessageSpec, rng: &mut Rng, out: &mut Vec<u8>) -> MessageMeta {
    let fam = spec.family;
    let m = fam.mail_on(spec.send_us.div_euclid(86_400_000_000));
    let camp = spec.campaign;
    let rcpt_domain = spec.rcpt.rsplit('@').next().unwrap_or("");
    let sender = m.sender.to_string(rng, &SenderVars(rcpt_domain));
    let sender_domain = sender.rsplit('@').next().unwrap_or("").to_string();
    let name = format!(
        "{} {}",
        FIRST[rng.index(FIRST.len())],
        LAST[rng.index(LAST.len())]
    );
    let ctx = Ctx {
        spec,
        sender: &sender,
        sender_domain: &sender_domain,
        name: &name,
    };
    let message_id = m.message_id.to_string(rng, &ctx);

    let mut subject = Vec::with_capacity(80);
    camp.subjects[rng.index(camp.subjects.len())].render(rng, &ctx, &mut subject);
    let mut raw = Vec::with_capacity(1024);
    camp.bodies[rng.index(camp.bodies.len())].render(rng, &ctx, &mut raw);
    if !raw.ends_with(b"\n") {
        raw.push(b'\n');
    }
    let attachment = camp
        .attachment
        .as_ref()
        .map(|t| t.to_string(rng, &crate::template::NoVars));
    let multipart_alt = m.body == BodyKind::Alternative;
    let outer_b = if multipart_alt || attachment.is_some() {
        Some(boundary(&m.boundary, rng, None))
    } else {
        None
    };
    let inner_b = if multipart_alt && attachment.is_some() {
        Some(boundary(&m.boundary, rng, outer_b.as_deref()))
    } else {
        None
    };

    // Headers in the family's order.
    let mut v = Vec::with_capacity(128);
    for h in &m.headers {
        v.clear();
        let name = match h {
            HeaderW::MessageId(n) => {
                v.extend_from_slice(message_id.as_bytes());
                n
            }
            HeaderW::Date(n) => {
                let secs = spec.send_us.div_euclid(1_000_000) + spec.bot.skew_s;
                let dt = DateTime::from_timestamp(secs, 0)
                    .unwrap_or_default()
                    .with_timezone(&offset(spec.bot.tz_s));
                let _ = write!(v, "{}", dt.format_with_items(m.date_items.iter()));
                n
            }
            HeaderW::From(n) => {
                m.from.render(rng, &ctx, &mut v);
                n
            }
            HeaderW::To(n) => {
                m.to.render(rng, &ctx, &mut v);
                n
            }
            HeaderW::Subject(n) => {
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b": ");
                encoded_subject(&subject, m.subject_encoding, &m.charset, out);
                out.push(b'\n');
                continue;
            }
            HeaderW::MimeVersion(n) => {
                v.extend_from_slice(b"1.0");
                n
            }
            HeaderW::ContentType(n) => {
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b": ");
                match (&outer_b, attachment.is_some()) {
                    (Some(b), true) => {
                        let _ = write!(out, "multipart/mixed;\n\tboundary=\"{b}\"");
                    }
                    (Some(b), false) => {
                        let _ = write!(out, "multipart/alternative;\n\tboundary=\"{b}\"");
                    }
                    (None, _) => {
                        let sub = if m.body == BodyKind::Html {
                            "html"
                        } else {
                            "plain"
                        };
                        let _ = write!(out, "text/{sub}; charset=\"{}\"", m.charset);
                    }
                }
                out.push(b'\n');
                continue;
            }
            HeaderW::ContentTransferEncoding(n) => {
                // A multipart body itself is 7bit (its parts say theirs).
                let enc = if outer_b.is_some() {
                    "7bit"
                } else {
                    m.encoding.as_str()
                };
                v.extend_from_slice(enc.as_bytes());
                n
            }
            HeaderW::XMailer(n, t) => {
                t.render(rng, &ctx, &mut v);
                n
            }
            HeaderW::Extra(n, t) => {
                t.render(rng, &ctx, &mut v);
                n
            }
        };
        push_header(out, name, &v);
    }
    out.push(b'\n');

    // Body.
    let mut text = Vec::with_capacity(raw.len());
    let mut html = Vec::new();
    let mut wrapped = Vec::with_capacity(raw.len() + 64);
    let wants_text = m.body != BodyKind::Html;
    let wants_html = m.body != BodyKind::Text;
    if wants_text {
        strip_markers(&raw, &mut wrapped);
        wrap(&wrapped, &mut text);
    }
    if wants_html {
        wrapped.clear();
        to_html(&raw, &m.charset, &mut wrapped);
        wrap(&wrapped, &mut html);
    }
    let write_alternative = |out: &mut Vec<u8>, b: &str, preamble: Option<&str>| {
        if let Some(p) = preamble {
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(b"\n\n");
        }
        let _ = writeln!(out, "--{b}");
        text_part_headers(out, "plain", &m.charset, m.encoding);
        encode_text(&text, m.encoding, out);
        let _ = write!(out, "\n--{b}\n");
        text_part_headers(out, "html", &m.charset, m.encoding);
        encode_text(&html, m.encoding, out);
        let _ = write!(out, "\n--{b}--\n");
    };
    match (&outer_b, &attachment) {
        (None, _) => encode_text(if wants_text { &text } else { &html }, m.encoding, out),
        (Some(b), None) => write_alternative(out, b, m.preamble.as_deref()),
        (Some(b), Some(file)) => {
            if let Some(p) = &m.preamble {
                out.extend_from_slice(p.as_bytes());
                out.extend_from_slice(b"\n\n");
            }
            let _ = writeln!(out, "--{b}");
            match &inner_b {
                Some(ib) => {
                    let _ = write!(
                        out,
                        "Content-Type: multipart/alternative;\n\tboundary=\"{ib}\"\n\n"
                    );
                    write_alternative(out, ib, None);
                }
                None => {
                    let sub = if wants_text { "plain" } else { "html" };
                    text_part_headers(out, sub, &m.charset, m.encoding);
                    encode_text(if wants_text { &text } else { &html }, m.encoding, out);
                }
            }
            let _ = write!(out, "\n--{b}\n");
            let _ = write!(
                out,
                "Content-Type: application/zip;\n\tname=\"{file}\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment;\n\tfilename=\"{file}\"\n\n"
            );
            let zip = fake_attachment(rng, file, spec.send_us);
            base64_lines(&zip, out);
            let _ = write!(out, "\n--{b}--\n");
        }
    }
    MessageMeta { message_id, sender }
}

struct SenderVars<'a>(&'a str);

impl Vars for SenderVars<'_> {
    fn put(&self, v: Var, _: &mut Rng, out: &mut Vec<u8>) {
        if v == Var::RcptDomain {
            out.extend_from_slice(self.0.as_bytes());
        }
    }
}

/// A zip holding a small harmless PE named like the zip.
fn fake_attachment(rng: &mut Rng, file: &str, when_us: i64) -> Vec<u8> {
    let stem = file.rsplit_once('.').map_or(file, |x| x.0);
    let inner = format!("{stem}.exe");
    let mut pe = Vec::with_capacity(12 * 1024);
    let secs = when_us.div_euclid(1_000_000);
    let size = rng.range(3, 10) as usize * 1024;
    fake_pe(rng, size, secs.clamp(0, u32::MAX as i64) as u32, &mut pe);
    let t = civil(secs);
    let dos_time = ((t.hour() << 11) | (t.minute() << 5) | (t.second() / 2)) as u16;
    let dos_date =
        (((t.year() - 1980).clamp(0, 127) as u32) << 9 | (t.month() << 5) | t.day()) as u16;
    zip_one(&inner, &pe, dos_time, dos_date)
}

/// Append `msg` (with `\n` line ends) as an mboxrd entry: `From ` line,
/// the trap's `Received:` header, the message with `>*From ` lines
/// quoted once more, and a blank line.
pub(crate) fn push_mboxrd(out: &mut Vec<u8>, msg: &[u8]) {
    for line in msg.split_inclusive(|b| *b == b'\n') {
        let quotes = line.iter().take_while(|b| **b == b'>').count();
        if line[quotes..].starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    if !msg.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// `msg` as an SMTP DATA payload: CRLF line ends, dot-stuffed, ended by
/// `.\r\n`.
pub(crate) fn smtp_data(msg: &[u8], out: &mut Vec<u8>) {
    out.reserve(msg.len() + msg.len() / 30 + 8);
    for line in msg.split_inclusive(|b| *b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        if body.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

/// Render a recipient address from local-part templates and a domain.
pub(crate) fn recipient(rng: &mut Rng, local_parts: &[Template], domain: &str) -> String {
    let mut v = Vec::with_capacity(40);
    local_parts[rng.index(local_parts.len())].render(rng, &crate::template::NoVars, &mut v);
    v.make_ascii_lowercase();
    v.push(b'@');
    v.extend_from_slice(domain.as_bytes());
    String::from_utf8(v).unwrap_or_default()
}

/// Totals of one trap day.
#[derive(Default)]
pub(crate) struct TrapDay {
    pub messages: u64,
    pub bytes: u64,
    /// `truth/messages.csv` rows.
    pub csv: Vec<u8>,
}

/// One message handed to the trap: who, the envelope, the bytes and when
/// the session starts.
struct TrapDelivery<'a> {
    bot: &'a Bot,
    sender: &'a str,
    rcpt: &'a str,
    msg: &'a [u8],
    ts_us: i64,
}

/// The SMTP session in which a bot hands one message to the trap, in its
/// family's dialect (greeting verb, HELO name, command case, a space after
/// the colon, pipelining, how it ends): what a capture at the trap shows.
/// The trap answers as a Postfix would, within a millisecond.
fn trap_session(
    fam: &FamilyW,
    trap: &crate::world::TrapW,
    d: &TrapDelivery<'_>,
    rng: &mut Rng,
) -> crate::plan::TcpConversation {
    use crate::plan::{Close, Side, TcpConversation, Turn};
    use crate::scenario::SessionEnd;
    let TrapDelivery {
        bot,
        sender,
        rcpt,
        msg,
        ts_us,
    } = *d;
    let s = &fam.smtp;
    let verb = |upper: &str| s.verb(upper);
    let colon = s.colon();
    let mut turns = Vec::new();
    let server = |rng: &mut Rng, bytes: Vec<u8>| Turn {
        side: Side::Server,
        delay_us: rng.range(100, 1_000),
        bytes,
    };
    let client = |rng: &mut Rng, bytes: Vec<u8>| Turn {
        side: Side::Client,
        delay_us: rng.range(s.command_delay_us.0, s.command_delay_us.1),
        bytes,
    };
    let host = &trap.host;
    turns.push(server(
        rng,
        format!("220 {host} ESMTP Postfix\r\n").into_bytes(),
    ));
    let hello = format!(
        "{} {}\r\n",
        verb(if s.ehlo { "EHLO" } else { "HELO" }),
        bot.helo
    );
    turns.push(client(rng, hello.into_bytes()));
    let reply = if s.ehlo {
        format!("250-{host}\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 DSN\r\n")
    } else {
        format!("250 {host}\r\n")
    };
    turns.push(server(rng, reply.into_bytes()));
    let mail_from = format!("{}{colon}<{sender}>\r\n", verb("MAIL FROM"));
    let rcpt_to = format!("{}{colon}<{rcpt}>\r\n", verb("RCPT TO"));
    let data_cmd = format!("{}\r\n", verb("DATA"));
    let data_ok = b"354 End data with <CR><LF>.<CR><LF>\r\n".to_vec();
    if s.pipelining {
        turns.push(client(
            rng,
            format!("{mail_from}{rcpt_to}{data_cmd}").into_bytes(),
        ));
        let mut r = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n".to_vec();
        r.extend_from_slice(&data_ok);
        turns.push(server(rng, r));
    } else {
        turns.push(client(rng, mail_from.into_bytes()));
        turns.push(server(rng, b"250 2.1.0 Ok\r\n".to_vec()));
        turns.push(client(rng, rcpt_to.into_bytes()));
        turns.push(server(rng, b"250 2.1.5 Ok\r\n".to_vec()));
        turns.push(client(rng, data_cmd.into_bytes()));
        turns.push(server(rng, data_ok));
    }
    let mut data = Vec::with_capacity(msg.len() + msg.len() / 30 + 8);
    smtp_data(msg, &mut data);
    turns.push(Turn {
        side: Side::Client,
        delay_us: rng.range(1_000, 10_000),
        bytes: data,
    });
    let mut queued = b"250 2.0.0 Ok: queued as ".to_vec();
    for _ in 0..10 {
        queued.push(b"0123456789ABCDEF"[rng.index(16)]);
    }
    queued.extend_from_slice(b"\r\n");
    turns.push(server(rng, queued));
    let close = match s.end {
        SessionEnd::Quit => {
            turns.push(client(rng, format!("{}\r\n", verb("QUIT")).into_bytes()));
            turns.push(server(rng, b"221 2.0.0 Bye\r\n".to_vec()));
            Close::ServerFin
        }
        SessionEnd::Rst => Close::ClientRst,
        SessionEnd::Fin => Close::ClientFin,
    };
    TcpConversation {
        ts_us,
        client: Some(bot.ip),
        server: trap.ip,
        port: 25,
        class: crate::plan::Class::Spam,
        turns,
        close,
    }
}

/// Write the trap's mbox of `day` to `w`; with `sessions`, also the SMTP
/// session that delivered each message (one message per session), for a
/// capture taken at the trap. The mbox is the same either way.
pub(crate) fn write_trap_day(
    world: &World,
    seed: u64,
    day: i64,
    scale: f64,
    file: &str,
    w: &mut dyn Write,
    mut sessions: Option<&mut Vec<crate::plan::Activity>>,
) -> io::Result<TrapDay> {
    // Who sends what when: (second of day, family, number in family, campaign).
    let mut plan: Vec<(u32, u16, u32, u16)> = Vec::new();
    for (fi, fam) in world.families.iter().enumerate() {
        let counts = world.trap_counts(seed, fi, day, scale);
        let mut rng = Rng::from_parts(&[seed, stream::TIMES, fam.hash, day as u64]);
        let mut j = 0u32;
        for (ci, n) in counts {
            for _ in 0..n {
                plan.push((rng.below(86_400) as u32, fi as u16, j, ci as u16));
                j += 1;
            }
        }
    }
    plan.sort_unstable();

    let mut domains: Vec<Option<Vec<String>>> = vec![None; world.campaigns.len()];
    let mut out = TrapDay::default();
    let mut msg = Vec::with_capacity(8 * 1024);
    let mut entry = Vec::with_capacity(16 * 1024);
    let day_us = day_start_us(day);
    let date = crate::world::day_str(day);
    for (index, &(sec, fi, j, ci)) in plan.iter().enumerate() {
        let fam = &world.families[usize::from(fi)];
        let camp = &world.campaigns[usize::from(ci)];
        let live = domains[usize::from(ci)]
            .get_or_insert_with(|| world.campaign_domains(seed, usize::from(ci), day));
        let mut rng = Rng::from_parts(&[seed, stream::MESSAGE, fam.hash, day as u64, u64::from(j)]);
        let bot = fam.bot(rng.below(u64::from(fam.pool_size)));
        let trap_domain = &world.trap.domains[rng.index(world.trap.domains.len())];
        let rcpt = recipient(&mut rng, &world.trap.local_parts, trap_domain);
        let recv_secs = day_us / 1_000_000 + i64::from(sec);
        let send_us =
            (recv_secs - rng.range(1, 40) as i64) * 1_000_000 + rng.below(1_000_000) as i64;
        msg.clear();
        let spec = MessageSpec {
            family: fam,
            campaign: camp,
            domains: live,
            bot: &bot,
            send_us,
            rcpt: &rcpt,
        };
        let meta = write_message(&spec, &mut rng, &mut msg);

        entry.clear();
        entry.extend_from_slice(b"From ");
        entry.extend_from_slice(meta.sender.as_bytes());
        entry.push(b' ');
        asctime(&mut entry, recv_secs);
        entry.push(b'\n');
        // The trap's own Received header.
        let _ = write!(
            entry,
            "Received: from {} ([{}])\n\tby {} ({}) with {} id ",
            bot.helo,
            bot.ip,
            world.trap.host,
            world.trap.ip,
            if fam.smtp.ehlo { "ESMTP" } else { "SMTP" }
        );
        for _ in 0..10 {
            entry.push(b"0123456789ABCDEF"[rng.index(16)]);
        }
        let _ = write!(entry, "\n\tfor <{rcpt}>; ");
        rfc2822_utc(&mut entry, recv_secs, "+0000");
        entry.push(b'\n');
        push_mboxrd(&mut entry, &msg);
        w.write_all(&entry)?;
        if let Some(acts) = sessions.as_deref_mut() {
            // Its own stream: the mbox stays what it is without sessions.
            let mut srng = Rng::from_parts(&[
                seed,
                stream::TRAP_SESSION,
                fam.hash,
                day as u64,
                u64::from(j),
            ]);
            // The session starts a few seconds before the trap's receive
            // time (the DATA's end).
            let start = (recv_secs - 2) * 1_000_000 + srng.below(1_000_000) as i64;
            let d = TrapDelivery {
                bot: &bot,
                sender: &meta.sender,
                rcpt: &rcpt,
                msg: &msg,
                ts_us: start,
            };
            acts.push(crate::plan::Activity::Tcp(trap_session(
                fam,
                &world.trap,
                &d,
                &mut srng,
            )));
        }
        out.bytes += entry.len() as u64;
        out.messages += 1;

        // Truth row.
        let c = &mut out.csv;
        csv_field(c, file);
        let _ = write!(c, ",{index},");
        csv_field(c, &meta.message_id);
        c.push(b',');
        csv_field(c, &fam.name);
        c.push(b',');
        csv_field(c, &camp.name);
        let _ = write!(c, ",{},", camp.category.as_str());
        csv_field(c, &camp.brand);
        let t = civil(recv_secs);
        let _ = writeln!(
            c,
            ",{},{date}T{:02}:{:02}:{:02}Z",
            bot.ip,
            t.hour(),
            t.minute(),
            t.second()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mboxrd_quotes_from_lines() {
        let mut out = Vec::new();
        push_mboxrd(
            &mut out,
            b"Subject: x\n\nFrom here\n>From there\nnot From\n",
        );
        assert_eq!(out, b"Subject: x\n\n>From here\n>>From there\nnot From\n\n");
    }

    #[test]
    fn data_is_dot_stuffed() {
        let mut out = Vec::new();
        smtp_data(b"a\n.b\n..\n", &mut out);
        assert_eq!(out, b"a\r\n..b\r\n...\r\n.\r\n");
    }

    #[test]
    fn header_folding() {
        let mut out = Vec::new();
        let long = "word ".repeat(30);
        push_header(&mut out, "X-Long", long.trim().as_bytes());
        for l in out.split(|b| *b == b'\n') {
            assert!(l.len() <= 78, "{}", String::from_utf8_lossy(l));
        }
        assert!(out.windows(2).any(|w| w == b"\n "));
    }

    #[test]
    fn dates() {
        let mut out = Vec::new();
        rfc2822_utc(&mut out, 1_283_299_212, "+0000");
        assert_eq!(out, b"Wed, 01 Sep 2010 00:00:12 +0000");
        out.clear();
        asctime(&mut out, 1_283_299_212);
        assert_eq!(out, b"Wed Sep  1 00:00:12 2010");
    }
}
