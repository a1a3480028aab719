//! DNS analyzer: one `dns.log` row per query/reply pair, as Zeek logs it.
//!
//! Messages arrive whole over UDP (one datagram per [`Analyzer::data`]
//! call) or framed by a 2-byte length over TCP (a message may span calls;
//! at most [`ProtoConfig::dns_max_tcp_message`] bytes are buffered).
//!
//! Parsing is our own zero-copy reader ([`Header`], [`read_name`],
//! [`parse_message`]) rather than `simple-dns`: Zeek logs whatever it could
//! extract from a malformed message (partial names, the question of a
//! reply whose answers are garbage), renders names without escaping dots,
//! and renders TXT character-strings one by one with their lengths, none of
//! which `simple-dns` exposes. `simple-dns` serves as an independent oracle
//! in the tests instead.
//!
//! **No panics on any input**: every read is bounds-checked, compression
//! pointers must point strictly backwards (so pointer chains terminate),
//! names are capped at 255 wire bytes, and the pending query/reply tables
//! are capped by [`ProtoConfig::max_pending`]. A message keeps at most
//! [`ProtoConfig::dns_max_answers`] answers, each rendered to at most
//! [`ProtoConfig::dns_max_answer_bytes`] (a 64 KiB reply could otherwise
//! hold thousands of answers, or one TXT rendering of ~256 KiB); answers
//! dropped or cut are counted and reported (weirds `DNS_too_many_answers`,
//! `DNS_answer_too_long`).
//!
//! Zeek semantics kept here (see `scripts/base/protocols/dns/main.zeek`):
//! - queries and replies are told apart by the QR bit, paired by
//!   transaction id; a reply with no query seen leaves `qclass`, `qtype`,
//!   `RD`, `TC` and `Z` unset (Zeek takes them from the request only);
//! - `query` is lower-cased, without the trailing dot; non-printable bytes
//!   are written `\xNN` (Zeek's log escaping);
//! - `answers` holds only the answer section, rendered like Zeek (A/AAAA
//!   address, CNAME/NS/PTR/MX/SRV name, SOA mname, `TXT <len> <text>` per
//!   character-string joined by spaces, `<unknown type=N>`, ...); record
//!   types Zeek's scripts do not render (HINFO, CAA, OPT, TSIG, WKS) are
//!   left out, as in Zeek;
//! - `rejected` is T when a reply has a non-zero rcode and no question, or
//!   a question and no records at all (Zeek's `dns_rejected` event);
//! - type, class, rcode and opcode names come from Zeek's `consts.zeek`
//!   (`*` for ANY; unknown values `query-N`, `qclass-N`, `rcode-N`,
//!   `opcode-N`).
//!
//! - `AA`, `RA` and `rtt` come from a reply with at least one answer
//!   record (Zeek sets them while reading answers): a reply without
//!   answers leaves them unset (`F`, `-`).
//!
//! - only standard queries, NOTIFY and dynamic updates are logged;
//!   messages sent to a multicast group (mDNS) are rows of their own,
//!   never paired; a reply's `query` without its request is the owner
//!   of its first answer;
//! - NetBIOS name service (port 137): names decoded, NetBIOS opcode
//!   names, node status (type 33) named `NBSTAT`.
//!
//! - dynamic updates: the prerequisite and update records of the reply
//!   are the answers (`pre: NoRRSet CNAME name`, `del: RRSet A`,
//!   `add: A name addr`), the zone is no question.
//!
//! Differences: with several questions the first one is logged.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use botscope_event::{Dns, Event, Ts};

use crate::util::truncate_str;
use crate::{Analyzer, Ctx, Dir, Probe, ProtoConfig, Status};

/// Length of the fixed DNS header.
pub const HEADER_LEN: usize = 12;
/// Most questions accepted in one message (Zeek's `dns_max_queries`).
pub const MAX_QUESTIONS: u16 = 25;
/// Longest name on the wire (RFC 1035).
pub const MAX_NAME_WIRE_LEN: usize = 255;
/// Most compression pointers followed while reading one name.
const MAX_POINTER_HOPS: usize = 64;

/// QR bit of a DNS message: `true` for a response. `false` when the
/// message is too short to tell.
pub fn is_response(msg: &[u8]) -> bool {
    msg.get(2).is_some_and(|b| b & 0x80 != 0)
}

/// The fixed 12-byte header of a DNS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    /// The header of `msg`, `None` when shorter than [`HEADER_LEN`].
    pub fn parse(msg: &[u8]) -> Option<Header> {
        let h = msg.get(..HEADER_LEN)?;
        let be = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        Some(Header {
            id: be(0),
            flags: be(2),
            qdcount: be(4),
            ancount: be(6),
            nscount: be(8),
            arcount: be(10),
        })
    }
    pub fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    pub fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    pub fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    pub fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }
    pub fn ra(&self) -> bool {
        self.flags & 0x0080 != 0
    }
    /// The three reserved bits (Z, AD, CD), as Zeek reports them.
    pub fn z(&self) -> u8 {
        ((self.flags >> 4) & 0x7) as u8
    }
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

/// Why a name could not be read completely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The message ends inside the name.
    Truncated,
    /// A label type other than a length or a pointer (0x40, 0x80).
    BadLabelType,
    /// A compression pointer that does not point strictly backwards.
    ForwardPointer,
    /// More than 255 bytes, or too many pointers.
    TooLong,
}

impl NameError {
    /// Zeek's weird name for this error.
    pub fn weird_name(self) -> &'static str {
        match self {
            NameError::Truncated => "DNS_label_len_gt_pkt",
            NameError::BadLabelType => "DNS_label_too_long",
            NameError::ForwardPointer => "DNS_label_forward_compress_offset",
            NameError::TooLong => "DNS_NAME_too_long",
        }
    }
}

/// Read the (possibly compressed) name at `start` of `msg`, appending its
/// text to `out` (lower-cased, no trailing dot, non-printable bytes as
/// `\xNN`). Returns the offset just after the name in the message. On
/// error `out` holds the labels read so far.
pub fn read_name(msg: &[u8], start: usize, out: &mut String) -> Result<usize, NameError> {
    let mut pos = start;
    // Bytes at or after `bound` may not be read: after a jump from a
    // pointer at p, only bytes before p are allowed, so pointer chains
    // strictly decrease and always end.
    let mut bound = msg.len();
    let mut end: Option<usize> = None;
    let mut wire_len = 1usize;
    let mut hops = 0usize;
    let mut first = true;
    loop {
        if pos >= bound {
            return Err(NameError::Truncated);
        }
        let len = msg[pos];
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok(end.unwrap_or(pos + 1));
                }
                let len = usize::from(len);
                let lstart = pos + 1;
                let lend = lstart + len;
                if lend > bound {
                    return Err(NameError::Truncated);
                }
                wire_len += len + 1;
                if wire_len > MAX_NAME_WIRE_LEN {
                    return Err(NameError::TooLong);
                }
                if !first {
                    out.push('.');
                }
                first = false;
                push_escaped_lower(out, &msg[lstart..lend]);
                pos = lend;
            }
            0xc0 => {
                if pos + 2 > bound {
                    return Err(NameError::Truncated);
                }
                let target = (usize::from(len & 0x3f) << 8) | usize::from(msg[pos + 1]);
                if end.is_none() {
                    end = Some(pos + 2);
                }
                if target >= pos {
                    return Err(NameError::ForwardPointer);
                }
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return Err(NameError::TooLong);
                }
                bound = pos;
                pos = target;
            }
            _ => return Err(NameError::BadLabelType),
        }
    }
}

/// Append `bytes` lower-cased, with bytes outside printable ASCII written
/// `\xNN` as Zeek's log writer does.
fn push_escaped_lower(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (0x20..0x7f).contains(&b) {
            out.push(char::from(b.to_ascii_lowercase()));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// Append `bytes` as they are, except bytes outside printable ASCII
/// written `\xNN`.
fn push_escaped(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.bytes().all(|b| (0x20..0x7f).contains(&b)) => out.push_str(s),
        _ => {
            for &b in bytes {
                if (0x20..0x7f).contains(&b) {
                    out.push(char::from(b));
                } else {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
        }
    }
}

/// The first question of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// What one DNS message says, as far as it could be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub header: Option<Header>,
    /// The first question (possibly with a partial name).
    pub question: Option<Question>,
    /// Owner name of the first answer record.
    pub first_owner: Option<String>,
    /// Rendered answers (answer section only) and their TTLs, at most
    /// [`AnswerCaps::max_answers`].
    pub answers: Vec<String>,
    pub ttls: Vec<u32>,
    /// Answers read but not kept: past [`AnswerCaps::max_answers`].
    pub answers_dropped: usize,
    /// Answer records Zeek's scripts read without rendering (WKS): they
    /// set a row's AA, RA and rtt like rendered ones.
    pub silent_answers: usize,
    /// Answers kept but cut to [`AnswerCaps::max_answer_bytes`].
    pub answers_cut: usize,
    /// The first problem met, as a Zeek weird name and detail.
    pub weird: Option<(&'static str, Option<String>)>,
}

fn be16(msg: &[u8], pos: usize) -> Option<u16> {
    let b = msg.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(msg: &[u8], pos: usize) -> Option<u32> {
    let b = msg.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Caps on the answers one message may produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerCaps {
    /// Most answers kept ([`ProtoConfig::dns_max_answers`]).
    pub max_answers: usize,
    /// Longest rendering of one answer
    /// ([`ProtoConfig::dns_max_answer_bytes`]).
    pub max_answer_bytes: usize,
}

impl AnswerCaps {
    pub fn from_config(config: &ProtoConfig) -> Self {
        AnswerCaps {
            max_answers: config.dns_max_answers,
            max_answer_bytes: config.dns_max_answer_bytes,
        }
    }
}

impl Default for AnswerCaps {
    /// The caps of [`ProtoConfig::default`].
    fn default() -> Self {
        Self::from_config(&ProtoConfig::default())
    }
}

/// Parse header, questions and the answer section of `msg`, with the
/// default [`AnswerCaps`]. Never fails: what could not be read is missing
/// and `weird` says why.
pub fn parse_message(msg: &[u8]) -> Message {
    parse_message_capped(msg, AnswerCaps::default())
}

/// [`parse_message`] with explicit caps on the answers.
pub fn parse_message_capped(msg: &[u8], caps: AnswerCaps) -> Message {
    parse_message_for(msg, caps, false)
}

/// [`parse_message_capped`]; `netbios`: a NetBIOS name service message,
/// whose opcode 5 is a name registration, not a dynamic update.
pub fn parse_message_for(msg: &[u8], caps: AnswerCaps, netbios: bool) -> Message {
    let mut m = Message::default();
    let Some(h) = Header::parse(msg) else {
        m.weird = Some(("DNS_truncated_len_lt_hdr_len", None));
        return m;
    };
    m.header = Some(h);
    if h.qdcount > MAX_QUESTIONS {
        m.weird = Some(("DNS_Conn_count_too_large", Some(h.qdcount.to_string())));
        return m;
    }
    let mut pos = HEADER_LEN;
    for i in 0..h.qdcount {
        let mut name = String::new();
        let res = read_name(msg, pos, &mut name);
        let (next, qtype, qclass) = match res {
            Ok(next) => match (be16(msg, next), be16(msg, next + 2)) {
                (Some(t), Some(c)) => (Some(next + 4), Some(t), Some(c)),
                _ => {
                    m.weird = Some(("DNS_truncated_quest_too_short", None));
                    (None, None, None)
                }
            },
            Err(e) => {
                m.weird = Some((e.weird_name(), None));
                (None, None, None)
            }
        };
        if i == 0 && (qtype.is_some() || !name.is_empty()) {
            m.question = Some(Question {
                name,
                qtype: qtype.unwrap_or(0),
                qclass: qclass.unwrap_or(0),
            });
        }
        match next {
            Some(n) => pos = n,
            None => return m,
        }
    }
    if h.opcode() == 5 && !netbios {
        // A dynamic update (RFC 2136): the answer and authority counts
        // are the prerequisite and update sections, rendered as Zeek's
        // `pre:`, `del:` and `add:` answers.
        for k in 0..u32::from(h.ancount) + u32::from(h.nscount) {
            match parse_update_rr(msg, pos, &mut m, caps, k < u32::from(h.ancount)) {
                Some(next) => pos = next,
                None => return m,
            }
        }
        return m;
    }
    for _ in 0..h.ancount {
        match parse_rr(msg, pos, &mut m, caps) {
            Some(next) => pos = next,
            None => return m,
        }
    }
    m
}

/// One prerequisite (`prereq`) or update record of a dynamic update,
/// rendered as Zeek's `dns_dynamic_update_pre`/`_del` and add handlers
/// do. Returns the offset after it.
fn parse_update_rr(
    msg: &[u8],
    pos: usize,
    m: &mut Message,
    caps: AnswerCaps,
    prereq: bool,
) -> Option<usize> {
    let Rr {
        owner,
        rtype,
        class,
        ttl,
        rstart,
        rend,
    } = read_rr(msg, pos, m)?;
    let rdata = &msg[rstart..rend];
    const NONE: u16 = 254;
    const ANY: u16 = 255;
    let tname = qtype_name(rtype);
    let text = if prereq {
        Some(match (class, rtype) {
            (NONE, ANY) => format!("pre: NameNotInUse {owner}"),
            (ANY, ANY) => format!("pre: NameInUse {owner}"),
            (NONE, _) => format!("pre: NoRRSet {tname} {owner}"),
            _ => format!("pre: RRSetExists {tname} {owner}"),
        })
    } else {
        match (class, rtype) {
            (ANY, ANY) => Some(format!("del: RRSet * {owner}")),
            (NONE, _) => Some(format!("del: RR {tname} {owner}")),
            (ANY, _) => Some(format!("del: RRSet {tname}")),
            _ => match render_rdata(msg, rtype, rstart, rdata, &owner) {
                Ok(Some(v)) if matches!(rtype, 1 | 28 | 38) => {
                    Some(format!("add: {tname} {owner} {v}"))
                }
                Ok(Some(v)) => Some(format!("add: {v}")),
                _ => None,
            },
        }
    };
    if let Some(mut t) = text {
        if m.answers.len() >= caps.max_answers {
            m.answers_dropped += 1;
        } else {
            if truncate_str(&mut t, caps.max_answer_bytes) {
                m.answers_cut += 1;
            }
            m.answers.push(t);
            m.ttls.push(ttl);
        }
    }
    Some(rend)
}

/// A resource record's fixed part; its data is `msg[rstart..rend]`.
struct Rr {
    owner: String,
    rtype: u16,
    class: u16,
    ttl: u32,
    rstart: usize,
    rend: usize,
}

/// Read the record at `pos` (owner name, type, class, TTL, data bounds),
/// noting the first owner; `None` (with the weird) when it is cut short.
fn read_rr(msg: &[u8], pos: usize, m: &mut Message) -> Option<Rr> {
    let mut owner = String::new();
    let after_name = match read_name(msg, pos, &mut owner) {
        Ok(n) => n,
        Err(e) => {
            m.weird = Some((e.weird_name(), None));
            return None;
        }
    };
    let (Some(rtype), Some(class), Some(ttl), Some(rdlen)) = (
        be16(msg, after_name),
        be16(msg, after_name + 2),
        be32(msg, after_name + 4),
        be16(msg, after_name + 8),
    ) else {
        m.weird = Some(("DNS_truncated_ans_too_short", None));
        return None;
    };
    let rstart = after_name + 10;
    let rend = rstart + usize::from(rdlen);
    if msg.get(rstart..rend).is_none() {
        m.weird = Some(("DNS_truncated_RR_rdlength_lt_len", None));
        return None;
    }
    if m.first_owner.is_none() {
        m.first_owner = Some(owner.clone());
    }
    Some(Rr {
        owner,
        rtype,
        class,
        ttl,
        rstart,
        rend,
    })
}

/// Parse one answer record at `pos`, appending its rendering to `m`
/// (within `caps`). Returns the offset after the record, `None` when it
/// cannot go on.
fn parse_rr(msg: &[u8], pos: usize, m: &mut Message, caps: AnswerCaps) -> Option<usize> {
    let Rr {
        owner,
        rtype,
        ttl,
        rstart,
        rend,
        ..
    } = read_rr(msg, pos, m)?;
    let rdata = &msg[rstart..rend];
    if rtype == 11 {
        m.silent_answers += 1;
    }
    if m.answers.len() >= caps.max_answers {
        // Full: count what would have been logged, without rendering it.
        if !unrendered_type(rtype) {
            m.answers_dropped += 1;
        }
        return Some(rend);
    }
    match render_rdata(msg, rtype, rstart, rdata, &owner) {
        Ok(Some(mut s)) => {
            if truncate_str(&mut s, caps.max_answer_bytes) {
                m.answers_cut += 1;
            }
            m.answers.push(s);
            m.ttls.push(ttl);
        }
        Ok(None) => {}
        Err(w) => {
            if m.weird.is_none() {
                m.weird = Some((w, Some(rtype.to_string())));
            }
        }
    }
    Some(rend)
}

/// Record types Zeek parses but its base scripts do not render (HINFO,
/// CAA, OPT, TKEY, TSIG, WKS).
fn unrendered_type(rtype: u16) -> bool {
    matches!(rtype, 11 | 13 | 41 | 249 | 250 | 257)
}

/// Zeek's rendering of one answer. `Ok(None)`: a type Zeek does not log.
fn render_rdata(
    msg: &[u8],
    rtype: u16,
    rstart: usize,
    rdata: &[u8],
    owner: &str,
) -> Result<Option<String>, &'static str> {
    let name_at = |off: usize| -> Result<String, &'static str> {
        let mut s = String::new();
        read_name(msg, off, &mut s).map_err(NameError::weird_name)?;
        Ok(s)
    };
    if unrendered_type(rtype) {
        return Ok(None);
    }
    let s = match rtype {
        1 => {
            let b: [u8; 4] = rdata.try_into().map_err(|_| "DNS_RR_bad_length")?;
            Ipv4Addr::from(b).to_string()
        }
        28 | 38 => {
            let b: [u8; 16] = rdata.try_into().map_err(|_| "DNS_RR_bad_length")?;
            Ipv6Addr::from(b).to_string()
        }
        2 | 5 | 12 => name_at(rstart)?,
        6 => name_at(rstart)?,
        15 => {
            if rdata.len() < 3 {
                return Err("DNS_RR_bad_length");
            }
            name_at(rstart + 2)?
        }
        33 => {
            if rdata.len() < 7 {
                return Err("DNS_RR_bad_length");
            }
            name_at(rstart + 6)?
        }
        16 | 99 => {
            let tag = if rtype == 16 { "TXT" } else { "SPF" };
            let mut out = String::new();
            let mut rest = rdata;
            while let Some((&n, tail)) = rest.split_first() {
                let n = usize::from(n);
                let Some(text) = tail.get(..n) else {
                    return Err("DNS_TXT_char_str_past_rdlen");
                };
                if !out.is_empty() {
                    out.push(' ');
                }
                let _ = write!(out, "{tag} {n} ");
                push_escaped(&mut out, text);
                rest = &tail[n..];
            }
            out
        }
        46 => {
            // type covered (2) algorithm labels ttl expiration inception tag signer
            let covered = be16(rdata, 0).ok_or("DNS_RR_bad_length")?;
            if rdata.len() < 18 {
                return Err("DNS_RR_bad_length");
            }
            let signer = name_at(rstart + 18)?;
            let signer = if signer.is_empty() {
                "<Root>".to_string()
            } else {
                signer
            };
            format!("RRSIG {covered} {signer}")
        }
        48 => {
            let alg = rdata.get(3).ok_or("DNS_RR_bad_length")?;
            format!("DNSKEY {alg}")
        }
        47 => format!("NSEC {owner} {}", name_at(rstart)?),
        50 => "NSEC3".to_string(),
        51 => "NSEC3PARAM".to_string(),
        43 => {
            let (Some(alg), Some(dt)) = (rdata.get(2), rdata.get(3)) else {
                return Err("DNS_RR_bad_length");
            };
            format!("DS {alg} {dt}")
        }
        65534 => "BIND9 signing signal".to_string(),
        44 => {
            let fp = rdata.get(2..).ok_or("DNS_RR_bad_length")?;
            format!("SSHFP: {}", hex::encode(fp))
        }
        29 => {
            let (Some(size), Some(h), Some(v)) = (rdata.get(1), rdata.get(2), rdata.get(3)) else {
                return Err("DNS_RR_bad_length");
            };
            format!("LOC:  {size} {h} {v}")
        }
        _ => format!("<unknown type={rtype}>"),
    };
    Ok(Some(s))
}

/// Zeek's name for a query type (`consts.zeek`, `query-N` otherwise).
pub fn qtype_name(t: u16) -> String {
    let s = match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAP-PTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        31 => "EID",
        32 => "NIMLOC",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        40 => "SINK",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        56 => "NINFO",
        57 => "RKEY",
        58 => "TALINK",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        100 => "UINFO",
        101 => "UID",
        102 => "GID",
        103 => "UNSPEC",
        104 => "NID",
        105 => "L32",
        106 => "L64",
        107 => "LP",
        108 => "EUI48",
        109 => "EUI64",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "*",
        256 => "URI",
        257 => "CAA",
        32768 => "TA",
        32769 => "DLV",
        65281 => "WINS",
        65282 => "WINS-R",
        65422 => "XPF",
        65521 => "INTEGRITY",
        _ => return format!("query-{t}"),
    };
    s.to_string()
}

/// Zeek's name for a class.
pub fn qclass_name(c: u16) -> String {
    let s = match c {
        1 => "C_INTERNET",
        2 => "C_CSNET",
        3 => "C_CHAOS",
        4 => "C_HESIOD",
        254 => "C_NONE",
        255 => "C_ANY",
        _ => return format!("qclass-{c}"),
    };
    s.to_string()
}

/// Zeek's name for a (header) rcode.
pub fn rcode_name(r: u8) -> String {
    let s = match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSet",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return format!("unassigned-{r}"),
    };
    s.to_string()
}

/// Zeek's name for an opcode.
/// The query columns of a row, from a request.
fn fill_query(ctx: &Ctx<'_>, row: &mut Dns, h: Header, m: &Message) {
    row.rd = h.rd();
    row.tc = h.tc();
    row.z = h.z();
    row.opcode = Some(h.opcode());
    row.opcode_name = Some(opcode_name_for(ctx, h.opcode()));
    // A dynamic update's question section names the zone: Zeek raises no
    // request for it and names the row after the records instead.
    if h.opcode() == 5 && !is_netbios(ctx) {
        return;
    }
    if let Some(q) = &m.question {
        row.query = Some(q.name.clone());
        row.qtype = Some(q.qtype);
        row.qtype_name = Some(if q.qtype == 33 && is_netbios(ctx) {
            // NetBIOS node status uses SRV's number.
            "NBSTAT".to_string()
        } else {
            qtype_name(q.qtype)
        });
        row.qclass = Some(q.qclass);
        row.qclass_name = Some(qclass_name(q.qclass));
    }
}

fn is_netbios(ctx: &Ctx<'_>) -> bool {
    ctx.id.resp_p == 137 || ctx.id.orig_p == 137
}

/// The opcode's name, NetBIOS's own names on port 137 (Zeek's
/// `netbios_opcodes`).
fn opcode_name_for(ctx: &Ctx<'_>, o: u8) -> String {
    if !is_netbios(ctx) {
        return opcode_name(o);
    }
    match o {
        0 => "netbios-query".to_string(),
        5 => "netbios-registration".to_string(),
        6 => "netbios-release".to_string(),
        7 => "netbios-WACK".to_string(),
        8 => "netbios-refresh".to_string(),
        _ => format!("opcode-{o}"),
    }
}

/// A NetBIOS name in its first-level encoding (32 letters `A`-`P`, two
/// per byte) decoded: the 15-character name without its trailing
/// spaces, the 16th (service type) byte dropped. `None` when `s` is not
/// such a name.
pub fn decode_netbios_name(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = Vec::with_capacity(16);
    for pair in b.chunks_exact(2) {
        let hi = pair[0]
            .to_ascii_uppercase()
            .checked_sub(b'A')
            .filter(|v| *v < 16)?;
        let lo = pair[1]
            .to_ascii_uppercase()
            .checked_sub(b'A')
            .filter(|v| *v < 16)?;
        out.push(hi << 4 | lo);
    }
    out.truncate(15);
    while out.last().is_some_and(|&c| c == b' ' || c == 0) {
        out.pop();
    }
    if out.is_empty() {
        return None;
    }
    Some(crate::http::bytes_to_string(&out))
}

pub fn opcode_name(o: u8) -> String {
    let s = match o {
        0 => "query",
        1 => "iquery",
        2 => "server-status",
        4 => "notify",
        5 => "dynamic-update",
        6 => "dso",
        _ => return format!("opcode-{o}"),
    };
    s.to_string()
}

/// Does `msg` look like the start of a DNS message? `complete` says the
/// whole message is present (UDP); otherwise a name cut short is Unsure.
fn probe_message(msg: &[u8], complete: bool) -> Probe {
    let Some(h) = Header::parse(msg) else {
        return if complete {
            Probe::NotForUs
        } else {
            Probe::Unsure
        };
    };
    if !matches!(h.opcode(), 0 | 1 | 2 | 4 | 5) || h.qdcount > MAX_QUESTIONS {
        return Probe::NotForUs;
    }
    if h.qdcount == 0 {
        // A reply without a question: a failed one, or one that only
        // announces records (mDNS responses): its first record must read
        // as one (a name, a known type, a known class).
        if h.qr() && h.rcode() != 0 && h.ancount == 0 {
            return Probe::Unsure;
        }
        if !h.qr() || h.ancount == 0 || h.ancount > 64 {
            return Probe::NotForUs;
        }
        let mut name = String::new();
        return match read_name(msg, HEADER_LEN, &mut name) {
            Ok(next) => match (be16(msg, next), be16(msg, next + 2)) {
                (Some(t), Some(class))
                    if matches!(t, 1..=65 | 99 | 249..=257)
                        && matches!(class & 0x7fff, 1 | 3 | 4 | 254 | 255) =>
                {
                    Probe::Certain
                }
                (None, _) | (_, None) if !complete => Probe::Unsure,
                _ => Probe::NotForUs,
            },
            Err(NameError::Truncated) if !complete => Probe::Unsure,
            Err(_) => Probe::NotForUs,
        };
    }
    if !h.qr() && h.ancount > 16 {
        return Probe::NotForUs;
    }
    let mut name = String::new();
    match read_name(msg, HEADER_LEN, &mut name) {
        Ok(next) if next + 4 <= msg.len() => {
            let class = be16(msg, next + 2).unwrap_or(0);
            // IN, CH, HS, NONE, ANY, with the mDNS unicast bit allowed.
            if matches!(class & 0x7fff, 1 | 3 | 4 | 254 | 255) {
                Probe::Certain
            } else {
                Probe::NotForUs
            }
        }
        Ok(_) | Err(NameError::Truncated) if !complete => Probe::Unsure,
        _ => Probe::NotForUs,
    }
}

/// Probe one UDP datagram.
pub fn probe(_dir: Dir, data: &[u8]) -> Probe {
    probe_message(data, true)
}

/// Probe the first bytes of a DNS-over-TCP stream (2-byte length prefix).
pub fn probe_tcp(_dir: Dir, data: &[u8]) -> Probe {
    let Some(len) = be16(data, 0) else {
        return Probe::Unsure;
    };
    let len = usize::from(len);
    if len < HEADER_LEN {
        return Probe::NotForUs;
    }
    let body = &data[2..];
    if body.len() >= len {
        probe_message(&body[..len], true)
    } else {
        probe_message(body, false)
    }
}

/// One side's DNS-over-TCP framing state.
#[derive(Default)]
struct TcpFramer {
    buf: Vec<u8>,
    /// Bytes still to drop of a message larger than the cap.
    skip: usize,
}

struct Pending {
    ts: Ts,
    row: Dns,
}

/// `dns.log` producer for one UDP flow or TCP connection.
pub struct DnsAnalyzer {
    tcp: bool,
    max_pending: usize,
    max_tcp_message: usize,
    caps: AnswerCaps,
    answers_dropped: u64,
    answers_cut: u64,
    framers: [TcpFramer; 2],
    pending_queries: VecDeque<Pending>,
    pending_replies: VecDeque<Pending>,
    pending_cap_reported: bool,
}

impl DnsAnalyzer {
    /// Analyzer for DNS over TCP (length-prefixed messages).
    pub fn new_tcp(config: &ProtoConfig) -> Self {
        Self::new(config, true)
    }

    /// Analyzer for DNS over UDP (one message per datagram).
    pub fn new_udp(config: &ProtoConfig) -> Self {
        Self::new(config, false)
    }

    fn new(config: &ProtoConfig, tcp: bool) -> Self {
        DnsAnalyzer {
            tcp,
            max_pending: config.max_pending.max(1),
            max_tcp_message: config.dns_max_tcp_message,
            caps: AnswerCaps::from_config(config),
            answers_dropped: 0,
            answers_cut: 0,
            framers: Default::default(),
            pending_queries: VecDeque::new(),
            pending_replies: VecDeque::new(),
            pending_cap_reported: false,
        }
    }

    /// Answers not kept so far: past [`ProtoConfig::dns_max_answers`].
    pub fn answers_dropped(&self) -> u64 {
        self.answers_dropped
    }

    /// Answers cut so far to [`ProtoConfig::dns_max_answer_bytes`].
    pub fn answers_cut(&self) -> u64 {
        self.answers_cut
    }

    fn emit(ctx: &mut Ctx<'_>, p: Pending) {
        let mut row = p.row;
        row.meta = Some(ctx.meta_at(p.ts));
        ctx.emit(Event::Dns(row));
    }

    fn cap_hit(&mut self, ctx: &mut Ctx<'_>) {
        if !self.pending_cap_reported {
            self.pending_cap_reported = true;
            ctx.weird(
                "DNS_pending_msgs_cap",
                Some(format!("max_pending={}", self.max_pending)),
            );
        }
    }

    /// Handle one whole DNS message.
    fn message(&mut self, ctx: &mut Ctx<'_>, msg: &[u8]) {
        let m = parse_message_for(msg, self.caps, is_netbios(ctx));
        if let Some((name, addl)) = &m.weird {
            ctx.weird(name, addl.clone());
        }
        if m.answers_dropped > 0 {
            self.answers_dropped = self
                .answers_dropped
                .saturating_add(m.answers_dropped as u64);
            ctx.weird(
                "DNS_too_many_answers",
                Some(format!(
                    "{} kept, {} dropped",
                    m.answers.len(),
                    m.answers_dropped
                )),
            );
        }
        if m.answers_cut > 0 {
            self.answers_cut = self.answers_cut.saturating_add(m.answers_cut as u64);
            ctx.weird(
                "DNS_answer_too_long",
                Some(format!(
                    "{} cut to {} bytes",
                    m.answers_cut, self.caps.max_answer_bytes
                )),
            );
        }
        let Some(h) = m.header else {
            return;
        };
        // Zeek logs standard queries, NOTIFY and dynamic updates only.
        if !matches!(h.opcode(), 0 | 4 | 5) {
            return;
        }
        let mut m = m;
        if ctx.id.resp_p == 137 || ctx.id.orig_p == 137 {
            // NetBIOS name service: names in their first-level encoding
            // are logged decoded (Zeek's `decode_netbios_name`).
            if let Some(q) = m.question.as_mut() {
                if let Some(d) = decode_netbios_name(&q.name) {
                    q.name = d;
                }
            }
        }
        if ctx.id.resp_h.is_multicast() {
            // Zeek does not pair messages sent to a multicast group (mDNS
            // answers nobody's query in particular): each is a row.
            let mut row = Dns {
                trans_id: h.id,
                ..Dns::default()
            };
            let ts = ctx.ts;
            if h.qr() {
                self.fill_reply(ctx, &mut row, h, &m, None);
            } else {
                fill_query(ctx, &mut row, h, &m);
            }
            Self::emit(ctx, Pending { ts, row });
            return;
        }
        if h.qr() {
            self.reply(ctx, h, m);
        } else {
            self.query(ctx, h, m);
        }
    }

    /// The reply's columns of a row (`query_ts`: when its query was
    /// seen, if it was).
    fn fill_reply(
        &self,
        ctx: &Ctx<'_>,
        row: &mut Dns,
        h: Header,
        m: &Message,
        query_ts: Option<Ts>,
    ) {
        let ts = ctx.ts;
        let rcode = h.rcode();
        let rejected = (rcode != 0 && h.qdcount == 0)
            || (m.question.is_some() && h.ancount == 0 && h.nscount == 0 && h.arcount == 0);
        row.rcode = Some(rcode);
        row.rcode_name = Some(rcode_name(rcode));
        // Zeek sets AA, RA, rtt (and a query name the request did not
        // give) while it reads an answer record (`DNS::do_reply`): a
        // reply without answers leaves them unset.
        // Records Zeek's scripts do not render (TKEY, TSIG, OPT, ...)
        // do not count.
        let answered = !m.answers.is_empty() || m.answers_dropped > 0 || m.silent_answers > 0;
        if answered {
            row.aa = h.aa();
            row.ra = h.ra();
            if row.query.is_none() {
                row.query = m.first_owner.clone();
            }
        }
        row.rejected |= rejected;
        if row.opcode.is_none() {
            row.opcode = Some(h.opcode());
            row.opcode_name = Some(opcode_name_for(ctx, h.opcode()));
        }
        if let Some(qts) = query_ts.filter(|_| answered) {
            let rtt = ts.since(qts);
            if rtt.0 > 0 {
                row.rtt = Some(rtt);
            }
        }
        row.answers.extend(m.answers.iter().cloned());
        row.ttls.extend(m.ttls.iter().copied());
    }

    fn query(&mut self, ctx: &mut Ctx<'_>, h: Header, m: Message) {
        let ts = ctx.ts;
        // A reply seen before its query (Zeek pairs them too).
        if let Some(i) = self
            .pending_replies
            .iter()
            .position(|p| p.row.trans_id == h.id)
        {
            if let Some(mut p) = self.pending_replies.remove(i) {
                fill_query(ctx, &mut p.row, h, &m);
                Self::emit(ctx, p);
            }
            return;
        }
        // A new query reusing an outstanding id: the old one went unanswered.
        if let Some(i) = self
            .pending_queries
            .iter()
            .position(|p| p.row.trans_id == h.id)
        {
            if let Some(old) = self.pending_queries.remove(i) {
                Self::emit(ctx, old);
            }
        }
        let mut row = Dns {
            trans_id: h.id,
            ..Dns::default()
        };
        fill_query(ctx, &mut row, h, &m);
        self.pending_queries.push_back(Pending { ts, row });
        if self.pending_queries.len() > self.max_pending {
            self.cap_hit(ctx);
            if let Some(old) = self.pending_queries.pop_front() {
                Self::emit(ctx, old);
            }
        }
    }

    fn reply(&mut self, ctx: &mut Ctx<'_>, h: Header, m: Message) {
        let ts = ctx.ts;
        if let Some(i) = self
            .pending_queries
            .iter()
            .position(|p| p.row.trans_id == h.id)
        {
            if let Some(mut p) = self.pending_queries.remove(i) {
                let qts = p.ts;
                self.fill_reply(ctx, &mut p.row, h, &m, Some(qts));
                Self::emit(ctx, p);
            }
            return;
        }
        let mut row = Dns {
            trans_id: h.id,
            ..Dns::default()
        };
        self.fill_reply(ctx, &mut row, h, &m, None);
        self.pending_replies.push_back(Pending { ts, row });
        if self.pending_replies.len() > self.max_pending {
            self.cap_hit(ctx);
            if let Some(old) = self.pending_replies.pop_front() {
                Self::emit(ctx, old);
            }
        }
    }

    fn tcp_data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, mut data: &[u8]) {
        let side = usize::from(!dir.is_orig());
        let max = self.max_tcp_message;
        loop {
            let f = &mut self.framers[side];
            if f.skip > 0 {
                let n = f.skip.min(data.len());
                f.skip -= n;
                data = &data[n..];
                if f.skip > 0 {
                    return;
                }
            }
            if f.buf.is_empty() {
                // Fast path: whole frames straight from the input.
                let Some(len) = be16(data, 0) else {
                    f.buf.extend_from_slice(data);
                    return;
                };
                let len = usize::from(len);
                if len > max {
                    f.skip = len;
                    data = &data[2..];
                    ctx.weird("DNS_tcp_message_too_large", Some(len.to_string()));
                    continue;
                }
                match data.get(2..2 + len) {
                    Some(msg) => {
                        self.message(ctx, msg);
                        data = &data[2 + len..];
                        if data.is_empty() {
                            return;
                        }
                    }
                    None => {
                        f.buf.extend_from_slice(data);
                        return;
                    }
                }
            } else {
                // Complete the buffered frame with as few bytes as needed.
                if f.buf.len() < 2 {
                    let need = 2 - f.buf.len();
                    let n = need.min(data.len());
                    f.buf.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if f.buf.len() < 2 {
                        return;
                    }
                }
                let len = usize::from(u16::from_be_bytes([f.buf[0], f.buf[1]]));
                if len > max {
                    f.buf.clear();
                    f.skip = len;
                    ctx.weird("DNS_tcp_message_too_large", Some(len.to_string()));
                    continue;
                }
                let need = 2 + len - f.buf.len();
                let n = need.min(data.len());
                f.buf.extend_from_slice(&data[..n]);
                data = &data[n..];
                if f.buf.len() < 2 + len {
                    return;
                }
                let buf = std::mem::take(&mut self.framers[side].buf);
                self.message(ctx, &buf[2..]);
                let mut buf = buf;
                buf.clear();
                self.framers[side].buf = buf;
                if data.is_empty() {
                    return;
                }
            }
        }
    }
}

impl Analyzer for DnsAnalyzer {
    fn service(&self) -> botscope_event::Service {
        botscope_event::Service::DNS
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        if self.tcp {
            self.tcp_data(ctx, dir, data);
        } else {
            self.message(ctx, data);
        }
        Status::Continue
    }

    fn gap(&mut self, ctx: &mut Ctx<'_>, dir: Dir, len: u64) -> Status {
        if !self.tcp {
            return Status::Continue;
        }
        // Framing is lost; DNS over TCP has no resync point.
        ctx.weird("DNS_tcp_gap", Some(format!("{dir:?} {len}")));
        let side = usize::from(!dir.is_orig());
        self.framers[side] = TcpFramer::default();
        Status::Done
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        for p in self.pending_queries.drain(..) {
            Self::emit(ctx, p);
        }
        for p in self.pending_replies.drain(..) {
            Self::emit(ctx, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_flags() {
        let h = Header::parse(&[0x12, 0x34, 0x85, 0x83, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
        assert!(h.qr() && h.aa() && h.rd() && h.ra() && !h.tc());
        assert_eq!(h.rcode(), 3);
        assert_eq!(h.opcode(), 0);
        assert!(Header::parse(&[0; 11]).is_none());
    }

    #[test]
    fn names() {
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(b"\x03WwW\x07example\x03com\x00");
        msg.extend_from_slice(b"\x04mail\xc0\x10"); // mail.example.com
        let mut s = String::new();
        assert_eq!(read_name(&msg, 12, &mut s), Ok(29));
        assert_eq!(s, "www.example.com");
        s.clear();
        assert_eq!(read_name(&msg, 29, &mut s), Ok(36));
        assert_eq!(s, "mail.example.com");
        // Self pointer and forward pointer.
        let msg2 = [0xc0u8, 0x00, 0xc0, 0x00, 0xc0, 0x08];
        s.clear();
        assert_eq!(read_name(&msg2, 0, &mut s), Err(NameError::ForwardPointer));
        s.clear();
        assert_eq!(read_name(&msg2, 4, &mut s), Err(NameError::ForwardPointer));
        // A backward pointer to a pointer that loops is cut by the bound.
        s.clear();
        assert_eq!(read_name(&msg2, 2, &mut s), Err(NameError::ForwardPointer));
        // Root name.
        s.clear();
        assert_eq!(read_name(&[0u8], 0, &mut s), Ok(1));
        assert_eq!(s, "");
    }
}
