//! Application-protocol parsers behind one trait.
//!
//! Each protocol module (`http`, `smtp`, `dns`, `tls`, `irc`, `ftp`,
//! `ssh`, ...) provides:
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
pub use botscope_event::Service;
use botscope_event::{ConnId, Event, EventSink, Meta, Ts, Uid, Weird};

pub mod detect;
pub mod dns;
pub mod dtls;
pub mod extract;
pub mod ftp;
pub mod http;
pub mod irc;
pub mod mailbox;
pub mod mime;
pub mod multipart;
mod nested;
pub mod offload;
pub mod quic;
pub mod smtp;
pub mod ssh;
pub mod starttls;
pub mod tls;
mod util;
pub mod websocket;
pub mod x509;

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
    /// Service to give that connection in `conn.log`.
    pub service: Service,
    /// When the expectation was made.
    pub ts: Ts,
    /// The connection that announced it (FTP control), when the engine
    /// should link the two.
    pub parent: Option<Uid>,
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
    /// How many leading response-body bytes are kept on each HTTP event
    /// for magic detection and evidence. Default 512.
    pub body_prefix_bytes: usize,
    /// How many leading request-body bytes are kept on each HTTP event.
    /// Default 2 KiB: requests with bodies are few, and what an exploit
    /// or an exfiltration sends (a command with the URL it fetches, a
    /// form of stolen fields) is often past the first 512 bytes of a
    /// SOAP or form envelope.
    pub req_body_prefix_bytes: usize,
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
    /// Most certificates parsed from one Certificate message (each is an
    /// `x509.log` row); the rest are counted (weird
    /// `SSL_too_many_certificates`). Default 16.
    pub tls_max_certificates: usize,
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
    /// Write an `ftp.log` row for every FTP command (logins, `SYST`,
    /// `QUIT`, ...), not only those Zeek logs by default (transfers and
    /// data-channel commands, [`ftp::ZEEK_LOGGED_COMMANDS`]). Default
    /// `false`.
    pub ftp_log_all_commands: bool,
    /// SHA-256 every HTTP body, as Zeek's `hash-all-files` policy does.
    /// Default `false`: only downloads are hashed (executables, archives,
    /// documents, unknown binaries: what payload and intel matching
    /// use); pages, scripts, JSON and images are measured and typed but
    /// not hashed, which was a fifth of decoding time. Extracted bodies,
    /// mail attachments and FTP transfers are always hashed.
    pub http_hash_all_bodies: bool,
    /// TLS secrets (an `SSLKEYLOGFILE`): sessions found in it are
    /// decrypted and their application data analyzed like a TCP stream
    /// of its own (HTTP inside HTTPS gets `http.log` rows). Default none.
    pub tls_keylog: Option<std::sync::Arc<tls::decrypt::KeyLog>>,
    /// Write the files the traffic carried (HTTP bodies, mail entities,
    /// FTP transfers) into a folder, capped ([`extract::Limits`]).
    /// Default none.
    pub extract: Option<std::sync::Arc<extract::Extractor>>,
    /// Hash HTTP bodies longer than [`offload::OFFLOAD_AFTER`] on a helper
    /// thread; their events then carry placeholders that the consumer
    /// must resolve with [`offload::resolve`] before use (the engine's
    /// handler does, in order). Worth it only when a core would
    /// otherwise idle (`botscope logs` and `ingest` set it when their
    /// workers are fewer than the cores, `trace` when there is a second
    /// core). Default `false`.
    pub offload_hashes: bool,
}

impl Default for ProtoConfig {
    fn default() -> Self {
        ProtoConfig {
            http_max_header_bytes: 64 * 1024,
            http_max_decoded_body: 64 * 1024 * 1024,
            body_prefix_bytes: 512,
            req_body_prefix_bytes: 2048,
            max_line_bytes: 16 * 1024,
            max_message_bytes: 32 * 1024 * 1024,
            max_pending: 64,
            tls_max_record_bytes: 64 * 1024,
            tls_max_certificates: 16,
            dns_max_tcp_message: 65535,
            dns_max_answers: 100,
            dns_max_answer_bytes: 256 * 1024,
            irc_max_join_channels: 16,
            irc_max_field_bytes: 512,
            ftp_log_all_commands: false,
            http_hash_all_bodies: false,
            tls_keylog: None,
            extract: None,
            offload_hashes: false,
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
    fn service(&self) -> Service;

    /// In-order bytes from `dir`.
    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status;

    /// `len` bytes from `dir` are missing from the capture. The analyzer
    /// resynchronises if its protocol allows it, or returns `Done`.
    fn gap(&mut self, ctx: &mut Ctx<'_>, dir: Dir, len: u64) -> Status;

    /// The connection is over: emit whatever is pending.
    fn finish(&mut self, ctx: &mut Ctx<'_>);

    /// Whether the bytes so far confirm the protocol (Zeek's analyzer
    /// confirmation): the service is named in `conn.log` only from then
    /// on. Most probes are certain enough to confirm at once; SSH waits
    /// for both identification strings.
    fn confirmed(&self) -> bool {
        true
    }

    /// Services confirmed inside this protocol's payload (a protocol
    /// tunnelled through WebSocket), in the order they were confirmed.
    fn tunnelled(&self) -> &[Service] {
        &[]
    }

    /// After this analyzer returned [`Status::Done`]: what the rest of
    /// the connection carries when the protocol handed it over (HTTP
    /// `101 Switching Protocols`, `CONNECT`).
    fn handover(&self) -> Handover {
        Handover::None
    }
}

/// What follows when a protocol hands its connection over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Handover {
    /// Nothing known: stop analyzing.
    #[default]
    None,
    /// Another protocol, unknown: detect it from its bytes (an HTTP
    /// `CONNECT` tunnel, an `Upgrade` to something else).
    Reprobe,
    /// WebSocket frames (HTTP `Upgrade: websocket`).
    WebSocket,
}

/// What a probe sees: the first bytes each direction sent (capped by the
/// engine's probe window), which direction just spoke, and the ports.
#[derive(Clone, Copy, Debug)]
pub struct ProbeInput<'a> {
    /// The direction whose bytes just arrived.
    pub dir: Dir,
    pub orig: &'a [u8],
    pub resp: &'a [u8],
    pub orig_p: u16,
    pub resp_p: u16,
}

impl<'a> ProbeInput<'a> {
    /// The bytes of the direction that just spoke.
    pub fn mine(&self) -> &'a [u8] {
        match self.dir {
            Dir::Orig => self.orig,
            Dir::Resp => self.resp,
        }
    }

    /// Either port is one of `ports`.
    pub fn port_in(&self, ports: &[u16]) -> bool {
        ports.contains(&self.orig_p) || ports.contains(&self.resp_p)
    }
}

/// Probe one UDP datagram (either direction) for a protocol found by
/// content rather than port: a QUIC client Initial that decrypts with its
/// version's public keys, or a DTLS ClientHello. Returns the analyzer to
/// attach and the `conn.log` services it stands for (Zeek: `quic,ssl`
/// and `ssl`).
pub fn probe_udp(
    data: &[u8],
    config: &ProtoConfig,
) -> Option<(Box<dyn Analyzer>, &'static [Service])> {
    if quic::probe(data) == Probe::Certain {
        return Some((
            Box::new(quic::QuicAnalyzer::new(config)),
            &[Service::QUIC, Service::SSL],
        ));
    }
    if dtls::probe(data) == Probe::Certain {
        return Some((Box::new(dtls::DtlsAnalyzer::new(config)), &[Service::SSL]));
    }
    None
}

/// Application protocols botscope can detect and parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpService {
    Http,
    Smtp,
    Dns,
    Tls,
    Irc,
    Pop3,
    Imap,
    Ftp,
    Ssh,
    Rdp,
    Smb,
    Postgresql,
    Mysql,
    KrbTcp,
    LdapTcp,
    Socks,
    /// XMPP: its opening turns into TLS ([`starttls`]).
    Xmpp,
}

impl TcpService {
    /// Every protocol probed on TCP, in probing order: the first probe
    /// that is certain names the connection. One row per protocol; a
    /// protocol added here gets its probe and analyzer in the two
    /// functions below.
    pub const TCP_ALL: [TcpService; 17] = [
        TcpService::Tls,
        TcpService::Http,
        TcpService::Ssh,
        TcpService::Smtp,
        TcpService::Ftp,
        TcpService::Irc,
        TcpService::Dns,
        TcpService::Pop3,
        TcpService::Imap,
        TcpService::Rdp,
        TcpService::Smb,
        TcpService::Postgresql,
        TcpService::Mysql,
        TcpService::KrbTcp,
        TcpService::LdapTcp,
        TcpService::Socks,
        TcpService::Xmpp,
    ];

    /// Zeek's service name.
    pub fn name(self) -> Service {
        match self {
            TcpService::Http => Service::HTTP,
            TcpService::Smtp => Service::SMTP,
            TcpService::Dns => Service::DNS,
            TcpService::Tls => Service::SSL,
            TcpService::Irc => Service::IRC,
            TcpService::Pop3 => Service::POP3,
            TcpService::Imap => Service::IMAP,
            TcpService::Ftp => Service::FTP,
            TcpService::Ssh => Service::SSH,
            TcpService::Rdp => Service::RDP,
            TcpService::Smb => Service::SMB,
            TcpService::Postgresql => Service::POSTGRESQL,
            TcpService::Mysql => Service::MYSQL,
            TcpService::KrbTcp => Service::KRB_TCP,
            TcpService::LdapTcp => Service::LDAP_TCP,
            TcpService::Socks => Service::SOCKS,
            TcpService::Xmpp => Service::XMPP,
        }
    }

    /// Ask this protocol's probe about the first bytes of a TCP
    /// connection.
    pub fn probe_tcp(self, input: &ProbeInput<'_>) -> Probe {
        let (dir, data) = (input.dir, input.mine());
        match self {
            TcpService::Http => match http::probe(dir, data) {
                Probe::NotForUs | Probe::Unsure if http::ZEEK_PORTS.contains(&input.resp_p) => {
                    http::probe_on_port(dir, data)
                }
                p => p,
            },
            TcpService::Smtp => {
                let p = smtp::probe(dir, data);
                // A `220` greeting is FTP's too: alone it decides only on
                // SMTP's ports or when it names SMTP; otherwise the
                // client's EHLO/HELO does (Zeek's DPD needs both sides).
                if p == Probe::Certain
                    && dir == Dir::Resp
                    && !input.port_in(&[25, 465, 587])
                    && !contains_ci(first_line(data), b"SMTP")
                {
                    Probe::Unsure
                } else {
                    p
                }
            }
            TcpService::Ftp => ftp::probe(input),
            TcpService::Ssh => ssh::probe(input),
            TcpService::Rdp => detect::probe_rdp(input),
            TcpService::Smb => detect::probe_smb(input),
            TcpService::Postgresql => detect::probe_postgresql(input),
            TcpService::Mysql => detect::probe_mysql(input),
            // Weak signatures (a DER header): on their ports only, as
            // Zeek attaches these analyzers.
            TcpService::KrbTcp if input.port_in(&[88]) => detect::probe_krb_tcp(input),
            TcpService::LdapTcp if input.port_in(&[389, 3268]) => detect::probe_ldap_tcp(input),
            TcpService::KrbTcp | TcpService::LdapTcp => Probe::NotForUs,
            TcpService::Socks => detect::probe_socks(input),
            TcpService::Tls => tls::probe(dir, data),
            TcpService::Irc => irc::probe(dir, data),
            TcpService::Pop3 => mailbox::probe_pop3(dir, data),
            TcpService::Imap => mailbox::probe_imap(dir, data),
            TcpService::Xmpp => starttls::Kind::Xmpp.probe(dir, data),
            TcpService::Dns => {
                if input.port_in(&[53, 5353]) {
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
            TcpService::Http => Box::new(http::HttpAnalyzer::new(config)),
            TcpService::Smtp => Box::new(smtp::SmtpAnalyzer::new(config)),
            TcpService::Dns => Box::new(dns::DnsAnalyzer::new_tcp(config)),
            TcpService::Tls => Box::new(tls::TlsAnalyzer::new(config)),
            TcpService::Irc => Box::new(irc::IrcAnalyzer::new(config)),
            TcpService::Pop3 => Box::new(mailbox::MailboxAnalyzer::new(
                mailbox::Mailbox::Pop3,
                config,
            )),
            TcpService::Imap => Box::new(mailbox::MailboxAnalyzer::new(
                mailbox::Mailbox::Imap,
                config,
            )),
            TcpService::Ftp => Box::new(ftp::FtpAnalyzer::new(config)),
            TcpService::Ssh => Box::new(ssh::SshAnalyzer::new(config)),
            // Named by `detect`; the opening is followed until TLS.
            TcpService::Mysql => Box::new(starttls::Prelude::new(starttls::Kind::Mysql, config)),
            TcpService::Postgresql => {
                Box::new(starttls::Prelude::new(starttls::Kind::Postgresql, config))
            }
            TcpService::Xmpp => Box::new(starttls::Prelude::new(starttls::Kind::Xmpp, config)),
            TcpService::Rdp => Box::new(starttls::Prelude::new(starttls::Kind::Rdp, config)),
            TcpService::Smb | TcpService::KrbTcp | TcpService::LdapTcp | TcpService::Socks => {
                Box::new(detect::DetectOnly(self.name()))
            }
        }
    }
}

/// Protocols named on UDP from one datagram's content (DNS is attached
/// by port, as Zeek does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdpService {
    Dhcp,
    Ntp,
    Snmp,
    Sip,
    Krb,
    LdapUdp,
    Rdpeudp,
}

impl UdpService {
    /// Every protocol probed on UDP, in probing order.
    pub const ALL: [UdpService; 7] = [
        UdpService::Dhcp,
        UdpService::Ntp,
        UdpService::Snmp,
        UdpService::Sip,
        UdpService::Krb,
        UdpService::LdapUdp,
        UdpService::Rdpeudp,
    ];

    /// Zeek's service name.
    pub fn name(self) -> Service {
        match self {
            UdpService::Dhcp => Service::DHCP,
            UdpService::Ntp => Service::NTP,
            UdpService::Snmp => Service::SNMP,
            UdpService::Sip => Service::SIP,
            UdpService::Krb => Service::KRB,
            UdpService::LdapUdp => Service::LDAP_UDP,
            UdpService::Rdpeudp => Service::RDPEUDP,
        }
    }

    /// This protocol's probe on one datagram from `dir`.
    pub fn probe(self, dir: Dir, data: &[u8], orig_p: u16, resp_p: u16) -> Probe {
        let on = |ports: &[u16]| ports.contains(&orig_p) || ports.contains(&resp_p);
        match self {
            UdpService::Dhcp => detect::probe_dhcp(data, orig_p, resp_p),
            UdpService::Ntp => detect::probe_ntp(data, orig_p, resp_p),
            UdpService::Snmp if on(&[161, 162]) => detect::probe_snmp(data),
            UdpService::Sip => detect::probe_sip(data),
            UdpService::Krb if on(&[88]) => detect::probe_krb_udp(data),
            UdpService::LdapUdp if on(&[389]) => detect::probe_ldap_udp(data),
            UdpService::Rdpeudp => detect::probe_rdpeudp(data, dir),
            _ => Probe::NotForUs,
        }
    }
}

/// The first line of `data` (without its newline).
fn first_line(data: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', data) {
        Some(i) => &data[..i],
        None => data,
    }
}

/// `needle` (ASCII) occurs in `hay`, ignoring case.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}
