//! Application-protocol parsers behind one trait.
//!
//! Each protocol module (`http`, `smtp`, `dns`, `tls`, `irc`) provides:
//! - a `probe` function that looks at the first bytes a direction sent and
//!   answers [`Probe::Certain`], [`Probe::Unsure`] or [`Probe::NotForUs`];
//! - an analyzer type implementing [`Analyzer`], fed in-order bytes per
//!   direction by the stream layer, emitting typed events from
//!   `botscope_event` into the [`Ctx`] sink.
//!
//! **No panics on any input.** Every parser here reads untrusted bytes:
//! lengths are checked before slicing, arithmetic on wire lengths is
//! checked or saturating, and every buffer is capped by a field of
//! [`ProtoConfig`]. Hitting a cap is reported as a weird (never silent).
//! The fuzz targets in `fuzz/` exercise each analyzer.

use std::net::IpAddr;

pub use botscope_event::Dir;
use botscope_event::{ConnId, Event, EventSink, Meta, Ts, Uid, Weird};

pub mod dns;
pub mod http;
pub mod irc;
pub mod mailbox;
pub mod smtp;
pub mod tls;
mod util;

pub use util::mime_from_magic;

/// A probe's answer about the first bytes of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// These bytes are this protocol.
    Certain,
    /// Could be; show me more bytes.
    Unsure,
    /// Not this protocol.
    NotForUs,
}

/// What an analyzer wants after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Keep feeding bytes.
    Continue,
    /// Nothing more of interest: stop feeding this connection.
    Done,
    /// The peers agreed on STARTTLS: every byte after the ones just fed
    /// (in both directions) is TLS. The caller attaches a TLS analyzer.
    StartTls,
    /// The bytes violate the protocol badly enough that the analyzer has
    /// given up (Zeek's "protocol violation").
    Violation,
}

/// A connection that an analyzer announced (IRC DCC, FTP data, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// Originator address if known.
    pub orig_h: Option<IpAddr>,
    pub resp_h: IpAddr,
    pub resp_p: u16,
    /// Service name to give that connection in `conn.log`.
    pub service: &'static str,
    /// When the expectation was made.
    pub ts: Ts,
}

/// Caps and knobs for every parser, with documented defaults.
#[derive(Clone, Debug)]
pub struct ProtoConfig {
    /// Longest header block (request/status line + headers) an HTTP
    /// parser buffers before giving up on the message. Default 64 KiB.
    pub http_max_header_bytes: usize,
    /// Most bytes a `Content-Encoding: gzip/deflate` HTTP body may decode
    /// to; beyond, decoding stops (weird `HTTP_decoded_body_too_large`).
    /// Default 64 MiB.
    pub http_max_decoded_body: u64,
    /// How many leading body bytes are kept on each HTTP event for magic
    /// detection and evidence. Default 512.
    pub body_prefix_bytes: usize,
    /// Longest line an SMTP or IRC parser buffers. Default 16 KiB
    /// (RFC 5321 allows 1000, bots send more).
    pub max_line_bytes: usize,
    /// Largest SMTP message carved; bytes beyond are counted, the message
    /// is marked truncated. Default 32 MiB.
    pub max_message_bytes: usize,
    /// Most outstanding requests (HTTP pipelining, DNS queries) kept per
    /// connection. Default 64.
    pub max_pending: usize,
    /// Longest TLS handshake record reassembled. Default 64 KiB.
    pub tls_max_record_bytes: usize,
    /// Largest DNS-over-TCP message. Default 65535.
    pub dns_max_tcp_message: usize,
    /// Most answers kept per DNS message; the rest are counted and
    /// dropped (weird `DNS_too_many_answers`). Default 100.
    pub dns_max_answers: usize,
    /// Longest rendering of one DNS answer; longer ones are cut (weird
    /// `DNS_answer_too_long`). Zeek logs answers whole: the default,
    /// 256 KiB, holds the longest rendering a DNS message allows (64 KiB
    /// of TXT data, every byte escaped as `\xNN`), so it only bounds
    /// memory, never cuts a real answer.
    pub dns_max_answer_bytes: usize,
    /// Most `irc.log` rows written for one `JOIN` line (one per channel);
    /// the remaining channels are counted (weird `irc_too_many_channels`).
    /// Default 16.
    pub irc_max_join_channels: usize,
    /// Longest nick, user, value, addl or DCC file name an IRC session
    /// keeps (every row copies them); longer ones are cut (weird
    /// `irc_field_too_long`, once per connection). Default 512 bytes.
    pub irc_max_field_bytes: usize,
}

impl Default for ProtoConfig {
    fn default() -> Self {
        ProtoConfig {
            http_max_header_bytes: 64 * 1024,
            http_max_decoded_body: 64 * 1024 * 1024,
            body_prefix_bytes: 512,
            max_line_bytes: 16 * 1024,
            max_message_bytes: 32 * 1024 * 1024,
            max_pending: 64,
            tls_max_record_bytes: 64 * 1024,
            dns_max_tcp_message: 65535,
            dns_max_answers: 100,
            dns_max_answer_bytes: 256 * 1024,
            irc_max_join_channels: 16,
            irc_max_field_bytes: 512,
        }
    }
}

/// Everything an analyzer may use while handling bytes.
pub struct Ctx<'a> {
    /// Capture time of the segment (or datagram) being delivered.
    pub ts: Ts,
    pub uid: Uid,
    pub id: ConnId,
    pub config: &'a ProtoConfig,
    pub sink: &'a mut dyn EventSink,
    pub expectations: &'a mut Vec<Expectation>,
}

impl Ctx<'_> {
    /// The envelope for an event that starts now.
    pub fn meta(&self) -> Meta {
        Meta {
            ts: self.ts,
            uid: self.uid,
            id: self.id,
        }
    }

    /// The envelope for an event that started at `ts`.
    pub fn meta_at(&self, ts: Ts) -> Meta {
        Meta {
            ts,
            uid: self.uid,
            id: self.id,
        }
    }

    pub fn emit(&mut self, ev: Event) {
        self.sink.emit(ev);
    }

    /// Report an anomaly on this connection (`weird.log`).
    pub fn weird(&mut self, name: &str, addl: Option<String>) {
        let w = Weird {
            ts: self.ts,
            uid: Some(self.uid),
            id: Some(self.id),
            name: name.to_string(),
            addl,
            source: None,
        };
        self.sink.emit(Event::Weird(w));
    }
}

/// One application-protocol parser attached to one connection.
///
/// The stream layer calls [`Analyzer::data`] with in-order bytes of one
/// direction at a time (for UDP: one whole datagram per call),
/// [`Analyzer::gap`] when bytes were lost, and [`Analyzer::finish`]
/// exactly once when the connection ends (close, timeout or end of
/// input). Implementations keep protocol state machines apart from byte
/// parsing, and never panic.
pub trait Analyzer: Send {
    /// The service name for `conn.log` (`http`, `smtp`, `dns`, `ssl`, `irc`).
    fn service(&self) -> &'static str;

    /// In-order bytes from `dir`.
    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status;

    /// `len` bytes from `dir` are missing from the capture. The analyzer
    /// resynchronises if its protocol allows it, or returns `Done`.
    fn gap(&mut self, ctx: &mut Ctx<'_>, dir: Dir, len: u64) -> Status;

    /// The connection is over: emit whatever is pending.
    fn finish(&mut self, ctx: &mut Ctx<'_>);
}

/// Application protocols botscope can detect and parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    Http,
    Smtp,
    Dns,
    Tls,
    Irc,
    Pop3,
    Imap,
}

impl Service {
    /// Every protocol probed on TCP, in probing order.
    pub const TCP_ALL: [Service; 7] = [
        Service::Tls,
        Service::Http,
        Service::Smtp,
        Service::Irc,
        Service::Dns,
        Service::Pop3,
        Service::Imap,
    ];

    /// Zeek's service name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Http => "http",
            Service::Smtp => "smtp",
            Service::Dns => "dns",
            Service::Tls => "ssl",
            Service::Irc => "irc",
            Service::Pop3 => "pop3",
            Service::Imap => "imap",
        }
    }

    /// Ask this protocol's probe about the first bytes from `dir` on a TCP
    /// connection between ports `orig_p` → `resp_p`.
    pub fn probe_tcp(self, dir: Dir, data: &[u8], orig_p: u16, resp_p: u16) -> Probe {
        match self {
            Service::Http => http::probe(dir, data),
            Service::Smtp => smtp::probe(dir, data),
            Service::Tls => tls::probe(dir, data),
            Service::Irc => irc::probe(dir, data),
            Service::Pop3 => mailbox::probe_pop3(dir, data),
            Service::Imap => mailbox::probe_imap(dir, data),
            Service::Dns => {
                if orig_p == 53 || resp_p == 53 || orig_p == 5353 || resp_p == 5353 {
                    dns::probe_tcp(dir, data)
                } else {
                    Probe::NotForUs
                }
            }
        }
    }

    /// A fresh analyzer for a TCP connection.
    pub fn new_tcp_analyzer(self, config: &ProtoConfig) -> Box<dyn Analyzer> {
        match self {
            Service::Http => Box::new(http::HttpAnalyzer::new(config)),
            Service::Smtp => Box::new(smtp::SmtpAnalyzer::new(config)),
            Service::Dns => Box::new(dns::DnsAnalyzer::new_tcp(config)),
            Service::Tls => Box::new(tls::TlsAnalyzer::new(config)),
            Service::Irc => Box::new(irc::IrcAnalyzer::new(config)),
            Service::Pop3 => Box::new(mailbox::MailboxAnalyzer::new(
                mailbox::Mailbox::Pop3,
                config,
            )),
            Service::Imap => Box::new(mailbox::MailboxAnalyzer::new(
                mailbox::Mailbox::Imap,
                config,
            )),
        }
    }
}
