//! The event contract of botscope.
//!
//! Every decoder emits typed events that share one envelope ([`Meta`]):
//! a capture timestamp, the connection uid and the connection 5-tuple.
//! Names and meanings follow Zeek's logs (`conn`, `http`, `smtp`, `dns`,
//! `ssl`, `irc`, `ftp`, `ssh`, `weird`) so analysts can read our output with the tools
//! they already have. Optional fields are `Option`s: `None` is Zeek's
//! unset field (`-`), an empty `Vec` is Zeek's `(empty)` set.
//!
//! This crate holds only plain data: no I/O, no parsing.

use std::fmt;
use std::net::IpAddr;

/// A point in time, in microseconds since the Unix epoch (UTC).
///
/// Microseconds are what Zeek prints and what Parquet consumers (Spark)
/// accept, so that is the resolution the whole pipeline keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub i64);

impl Ts {
    /// Build from whole seconds and a sub-second part in nanoseconds.
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Ts {
        Ts(secs
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(nanos / 1000)))
    }

    /// Seconds as a float (for display only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Microseconds elapsed from `earlier` to `self` (never negative).
    pub fn since(self, earlier: Ts) -> Duration {
        Duration(self.0.saturating_sub(earlier.0).max(0))
    }
}

impl fmt::Display for Ts {
    /// Zeek's `time` rendering: seconds with six decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let v = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:06}", v / 1_000_000, v % 1_000_000)
    }
}

/// A length of time in microseconds (Zeek's `interval`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ts(self.0).fmt(f)
    }
}

/// A link-layer header type (the `LINKTYPE_*` registry numbers used in pcap
/// and pcapng files). Open: any value is representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback, address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// DLT_RAW as numbered on some BSDs (raw IPv4/IPv6).
    pub const DLT_RAW_12: LinkType = LinkType(12);
    /// DLT_RAW as numbered on OpenBSD (raw IPv4/IPv6).
    pub const DLT_RAW_14: LinkType = LinkType(14);
    /// Raw IPv4 or IPv6, version from the first nibble.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback, address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// PPP: the 2-byte PPP protocol, possibly after an HDLC-like
    /// `ff 03` address/control pair (DLT 9).
    pub const PPP: LinkType = LinkType(9);
    /// FDDI: frame control, two MAC addresses, then 802.2 LLC (DLT 10).
    pub const FDDI: LinkType = LinkType(10);
    /// PPP in HDLC-like framing (RFC 1662), `ff 03` then the protocol.
    pub const PPP_HDLC: LinkType = LinkType(50);
    /// Cisco HDLC: address, control, then an ethertype.
    pub const C_HDLC: LinkType = LinkType(104);
    /// IEEE 802.11 frames without a radio header.
    pub const IEEE802_11: LinkType = LinkType(105);
    /// IEEE 802.11 frames after a radiotap header.
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    /// IEEE 802.15.4 without FCS (not decoded: no IP there).
    pub const IEEE802_15_4_NOFCS: LinkType = LinkType(230);
    /// Linux netfilter NFLOG: a header and TLVs, the packet in one of them.
    pub const NFLOG: LinkType = LinkType(239);

    /// A short name for reports (the `LINKTYPE_` registry name).
    pub fn name(self) -> &'static str {
        match self {
            LinkType::NULL => "NULL",
            LinkType::ETHERNET => "ETHERNET",
            LinkType::DLT_RAW_12 | LinkType::DLT_RAW_14 | LinkType::RAW => "RAW",
            LinkType::LOOP => "LOOP",
            LinkType::LINUX_SLL => "LINUX_SLL",
            LinkType::IPV4 => "IPV4",
            LinkType::IPV6 => "IPV6",
            LinkType::LINUX_SLL2 => "LINUX_SLL2",
            LinkType::PPP => "PPP",
            LinkType::FDDI => "FDDI",
            LinkType::PPP_HDLC => "PPP_HDLC",
            LinkType::C_HDLC => "C_HDLC",
            LinkType::IEEE802_11 => "IEEE802_11",
            LinkType::IEEE802_11_RADIOTAP => "IEEE802_11_RADIOTAP",
            LinkType::IEEE802_15_4_NOFCS => "IEEE802_15_4_NOFCS",
            LinkType(195) => "IEEE802_15_4_WITHFCS",
            LinkType::NFLOG => "NFLOG",
            _ => "unknown",
        }
    }
}

/// TCP flag bits (the low 8 bits of the flags field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    #[inline]
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    #[inline]
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    #[inline]
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    #[inline]
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    #[inline]
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    #[inline]
    pub fn urg(self) -> bool {
        self.0 & Self::URG != 0
    }
    #[inline]
    pub fn ece(self) -> bool {
        self.0 & Self::ECE != 0
    }
    #[inline]
    pub fn cwr(self) -> bool {
        self.0 & Self::CWR != 0
    }
}

/// Transport protocol of a connection (Zeek's `transport_proto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    Tcp,
    Udp,
    Icmp,
    /// Any other IP protocol number; logged as `unknown_transport`.
    Other(u8),
}

impl Transport {
    /// The name Zeek logs for this transport.
    pub fn zeek_name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Icmp => "icmp",
            Transport::Other(_) => "unknown_transport",
        }
    }

    /// The IP protocol number (`ip_proto` column).
    pub fn ip_proto(self, ipv6: bool) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Udp => 17,
            Transport::Icmp => {
                if ipv6 {
                    58
                } else {
                    1
                }
            }
            Transport::Other(n) => n,
        }
    }
}

/// The 5-tuple of a connection, oriented originator → responder.
///
/// For ICMP, `orig_p` is the ICMP type and `resp_p` the code, as in Zeek.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId {
    pub orig_h: IpAddr,
    pub orig_p: u16,
    pub resp_h: IpAddr,
    pub resp_p: u16,
    pub proto: Transport,
}

/// A connection identifier, rendered like Zeek's (`C` + base62).
///
/// botscope derives it deterministically from the capture, so the same
/// input always gives the same uids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(pub u64);

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut buf = [0u8; 12];
        let mut n = self.0;
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = DIGITS[(n % 62) as usize];
            n /= 62;
            if n == 0 || i == 1 {
                break;
            }
        }
        i -= 1;
        buf[i] = b'C';
        // Only ASCII digits were written.
        f.write_str(std::str::from_utf8(&buf[i..]).unwrap_or("C0"))
    }
}

/// Which side of a connection sent something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From the originator (the client).
    Orig,
    /// From the responder (the server).
    Resp,
}

impl Dir {
    pub fn flip(self) -> Dir {
        match self {
            Dir::Orig => Dir::Resp,
            Dir::Resp => Dir::Orig,
        }
    }
    pub fn is_orig(self) -> bool {
        self == Dir::Orig
    }
}

/// The envelope every connection-bound event carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Capture time of the first packet of this event.
    pub ts: Ts,
    pub uid: Uid,
    pub id: ConnId,
}

/// Zeek's `conn_state` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    S0,
    S1,
    SF,
    REJ,
    S2,
    S3,
    RSTO,
    RSTR,
    RSTOS0,
    RSTRH,
    SH,
    SHR,
    OTH,
}

impl ConnState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::S0 => "S0",
            ConnState::S1 => "S1",
            ConnState::SF => "SF",
            ConnState::REJ => "REJ",
            ConnState::S2 => "S2",
            ConnState::S3 => "S3",
            ConnState::RSTO => "RSTO",
            ConnState::RSTR => "RSTR",
            ConnState::RSTOS0 => "RSTOS0",
            ConnState::RSTRH => "RSTRH",
            ConnState::SH => "SH",
            ConnState::SHR => "SHR",
            ConnState::OTH => "OTH",
        }
    }
}

/// An application protocol, by the name Zeek gives it in `conn.log`'s
/// `service` column (its analyzer names, lower case).
///
/// An open set, like a link type number: the constants are the names
/// botscope's analyzers and tunnel decoders give, [`Service::ALL`] lists
/// them for readers of logs and datasets ([`Service::from_name`]), and
/// [`Service::new`] names any other. Compared by value, never by
/// spelling a string at each use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Service(&'static str);

impl Service {
    pub const HTTP: Service = Service("http");
    pub const SMTP: Service = Service("smtp");
    pub const DNS: Service = Service("dns");
    /// TLS, DTLS and QUIC's handshake (Zeek's analyzer is named SSL).
    pub const SSL: Service = Service("ssl");
    pub const IRC: Service = Service("irc");
    pub const IRC_DCC_DATA: Service = Service("irc-dcc-data");
    pub const POP3: Service = Service("pop3");
    pub const IMAP: Service = Service("imap");
    pub const FTP: Service = Service("ftp");
    pub const FTP_DATA: Service = Service("ftp-data");
    pub const SSH: Service = Service("ssh");
    pub const RDP: Service = Service("rdp");
    pub const RDPEUDP: Service = Service("rdpeudp");
    pub const SMB: Service = Service("smb");
    pub const POSTGRESQL: Service = Service("postgresql");
    pub const MYSQL: Service = Service("mysql");
    pub const KRB: Service = Service("krb");
    pub const KRB_TCP: Service = Service("krb_tcp");
    pub const LDAP_TCP: Service = Service("ldap_tcp");
    pub const LDAP_UDP: Service = Service("ldap_udp");
    pub const SOCKS: Service = Service("socks");
    pub const XMPP: Service = Service("xmpp");
    pub const DHCP: Service = Service("dhcp");
    pub const NTP: Service = Service("ntp");
    pub const SNMP: Service = Service("snmp");
    pub const SIP: Service = Service("sip");
    pub const QUIC: Service = Service("quic");
    /// Zeek's DTLS analyzer name (botscope logs DTLS handshakes as `ssl`).
    pub const DTLS: Service = Service("dtls");
    pub const WEBSOCKET: Service = Service("websocket");
    pub const AYIYA: Service = Service("ayiya");
    pub const GENEVE: Service = Service("geneve");
    pub const GTPV1: Service = Service("gtpv1");
    pub const TEREDO: Service = Service("teredo");
    pub const VXLAN: Service = Service("vxlan");

    /// Every name above: what a reader of Zeek logs or of the dataset
    /// recognises.
    pub const ALL: [Service; 36] = [
        Service::HTTP,
        Service::SMTP,
        Service::DNS,
        Service::SSL,
        Service::IRC,
        Service::IRC_DCC_DATA,
        Service::POP3,
        Service::IMAP,
        Service::FTP,
        Service::FTP_DATA,
        Service::SSH,
        Service::RDP,
        Service::RDPEUDP,
        Service::SMB,
        Service::POSTGRESQL,
        Service::MYSQL,
        Service::KRB,
        Service::KRB_TCP,
        Service::LDAP_TCP,
        Service::LDAP_UDP,
        Service::SOCKS,
        Service::XMPP,
        Service::DHCP,
        Service::NTP,
        Service::SNMP,
        Service::SIP,
        Service::QUIC,
        Service::DTLS,
        Service::WEBSOCKET,
        Service::AYIYA,
        Service::GENEVE,
        Service::GTPV1,
        Service::TEREDO,
        Service::VXLAN,
        // Zeek's own names for analyzers botscope does not run, seen in
        // imported logs.
        Service("dce_rpc"),
        Service("ntlm"),
    ];

    /// A service by another name (lower case, as Zeek logs it).
    pub const fn new(name: &'static str) -> Service {
        Service(name)
    }

    /// The name logged.
    pub const fn name(self) -> &'static str {
        self.0
    }

    /// A name read from a log or a dataset: one of [`Service::ALL`]
    /// (case-insensitive), else `None`.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL
            .iter()
            .copied()
            .find(|s| s.0.eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for Service {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One `conn.log` row.
#[derive(Clone, Debug, PartialEq)]
pub struct Conn {
    pub meta: Meta,
    /// Services detected from content, in the order they were confirmed
    /// (e.g. `["smtp", "ssl"]` after STARTTLS).
    pub service: Vec<Service>,
    pub duration: Option<Duration>,
    pub orig_bytes: Option<u64>,
    pub resp_bytes: Option<u64>,
    pub conn_state: ConnState,
    pub local_orig: Option<bool>,
    pub local_resp: Option<bool>,
    pub missed_bytes: u64,
    pub history: String,
    pub orig_pkts: u64,
    pub orig_ip_bytes: u64,
    pub resp_pkts: u64,
    pub resp_ip_bytes: u64,
    pub ip_proto: u8,
    /// uids of the tunnels that carried this connection (Zeek's
    /// `tunnel_parents`): the outer UDP connection of a VXLAN, Geneve,
    /// GTP, Teredo or AYIYA tunnel, or the tunnel id of an IP / GRE tunnel
    /// (see [`Tunnel`]). Empty when not tunnelled.
    pub tunnel_parents: Vec<Uid>,
}

/// One `tunnel.log` row: a tunnel seen for the first time (`DISCOVER`) or
/// its outer connection ended (`CLOSE`).
#[derive(Clone, Debug, PartialEq)]
pub struct Tunnel {
    pub ts: Ts,
    /// The tunnel's uid: the outer connection's for tunnels over UDP, an
    /// id derived from the endpoints for IP and GRE tunnels.
    pub uid: Uid,
    /// Outer endpoints (ports 0 for IP and GRE tunnels).
    pub id: ConnId,
    /// Zeek's `Tunnel::Type` value, e.g. `Tunnel::GRE`, `Tunnel::VXLAN`.
    pub tunnel_type: &'static str,
    /// Zeek's `Tunnel::Action` value: `Tunnel::DISCOVER` or `Tunnel::CLOSE`.
    pub action: &'static str,
}

/// One `http.log` row: a request and, when seen, its response.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Http {
    pub meta: Option<Meta>,
    pub trans_depth: u32,
    pub method: Option<String>,
    pub host: Option<String>,
    pub uri: Option<String>,
    pub referrer: Option<String>,
    pub version: Option<String>,
    pub user_agent: Option<String>,
    pub origin: Option<String>,
    pub request_body_len: u64,
    pub response_body_len: u64,
    pub status_code: Option<u16>,
    pub status_msg: Option<String>,
    pub info_code: Option<u16>,
    pub info_msg: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub proxied: Vec<String>,
    pub orig_mime_types: Vec<String>,
    pub resp_mime_types: Vec<String>,
    /// File names the request carried (`Content-Disposition` of the
    /// request or of its multipart parts), as Zeek's `orig_filenames`.
    pub orig_filenames: Vec<String>,
    /// File names the response carried, as Zeek's `resp_filenames`.
    pub resp_filenames: Vec<String>,
    /// Request `Content-Type` header as sent (not from magic).
    pub req_content_type: Option<String>,
    /// Response `Content-Type` header as sent (not from magic).
    pub resp_content_type: Option<String>,
    /// Response `Location` header, for redirects.
    pub location: Option<String>,
    /// First bytes of the (de-chunked) request body, capped.
    pub req_body_prefix: Vec<u8>,
    /// First bytes of the (de-chunked) response body, capped.
    pub resp_body_prefix: Vec<u8>,
    /// SHA-256 of the whole request body as seen (lowercase hex).
    pub req_body_sha256: Option<String>,
    /// SHA-256 of the whole response body as seen (lowercase hex).
    pub resp_body_sha256: Option<String>,
    /// The body was cut by a gap in the capture or a cap.
    pub resp_body_incomplete: bool,
}

/// One `smtp.log` row: one mail transaction of a session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Smtp {
    pub meta: Option<Meta>,
    pub trans_depth: u32,
    pub helo: Option<String>,
    pub mailfrom: Option<String>,
    pub rcptto: Vec<String>,
    pub date: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub reply_to: Option<String>,
    pub msg_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub subject: Option<String>,
    pub x_originating_ip: Option<IpAddr>,
    pub first_received: Option<String>,
    pub second_received: Option<String>,
    pub last_reply: Option<String>,
    pub path: Vec<IpAddr>,
    pub user_agent: Option<String>,
    pub tls: bool,
    /// Client command verbs in order, as sent (case kept), capped:
    /// the session's dialect, a feature for family attribution.
    pub commands: Vec<String>,
    /// The client sent several commands before reading a reply.
    pub pipelined: bool,
    /// Authenticated user name, when AUTH PLAIN/LOGIN was seen in clear.
    pub auth_user: Option<String>,
    /// Name of the carved message file (see [`CarvedMessage`]), if any.
    pub message_file: Option<String>,
    /// `files.log` ids of the message's MIME entities, in order.
    pub fuids: Vec<String>,
}

/// A message carved from an SMTP DATA phase, dot-unstuffed.
#[derive(Clone, Debug, PartialEq)]
pub struct CarvedMessage {
    pub meta: Meta,
    pub trans_depth: u32,
    pub helo: Option<String>,
    pub mailfrom: Option<String>,
    pub rcptto: Vec<String>,
    pub data: Vec<u8>,
    /// The message was cut by a cap or a capture gap.
    pub truncated: bool,
}

/// One `dns.log` row: a query and its reply when seen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dns {
    pub meta: Option<Meta>,
    pub trans_id: u16,
    pub rtt: Option<Duration>,
    pub query: Option<String>,
    pub qclass: Option<u16>,
    pub qclass_name: Option<String>,
    pub qtype: Option<u16>,
    pub qtype_name: Option<String>,
    pub rcode: Option<u8>,
    pub rcode_name: Option<String>,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub z: u8,
    pub answers: Vec<String>,
    /// TTL of each answer, seconds.
    pub ttls: Vec<u32>,
    pub rejected: bool,
    pub opcode: Option<u8>,
    pub opcode_name: Option<String>,
}

/// One `ssl.log` row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ssl {
    pub meta: Option<Meta>,
    /// e.g. `TLSv12`, `TLSv13`, `SSLv2`.
    pub version: Option<String>,
    /// IANA name, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
    pub cipher: Option<String>,
    pub curve: Option<String>,
    pub server_name: Option<String>,
    pub resumed: bool,
    pub last_alert: Option<String>,
    /// ALPN protocol chosen by the server.
    pub next_protocol: Option<String>,
    pub established: bool,
    pub ssl_history: String,
    /// ALPN protocols offered by the client.
    pub client_alpn: Vec<String>,
    pub ja3: Option<String>,
    pub ja3s: Option<String>,
    pub ja4: Option<String>,
    /// SHA-256 fingerprints of the server's certificates, host certificate
    /// first. `None` when no certificate was seen (TLS 1.3, QUIC, a
    /// session cut before the Certificate message), as Zeek leaves it
    /// unset; once any certificate is seen both chains are set.
    pub cert_chain_fps: Option<Vec<String>>,
    /// SHA-256 fingerprints of the client's certificates.
    pub client_cert_chain_fps: Option<Vec<String>>,
    /// The SNI names the host certificate (a SAN DNS name or, without
    /// SANs, the subject CN; `*.` wildcards match one label). `None`
    /// without SNI or without a host certificate.
    pub sni_matches_cert: Option<bool>,
    /// Subject and issuer of the host certificate (RFC 2253), as Zeek
    /// logs them with `SSL::log_include_server_certificate_subject_issuer`.
    pub subject: Option<String>,
    pub issuer: Option<String>,
    /// Subject and issuer of the client's first certificate.
    pub client_subject: Option<String>,
    pub client_issuer: Option<String>,
}

/// One `x509.log` row: a certificate seen in a TLS handshake, with the
/// facts the activity analysis uses (self-signed, validity, SANs).
///
/// Field meanings follow Zeek's `X509::Info` (`certificate.*`, `san.*`,
/// `basic_constraints.*`); `fingerprint` is the SHA-256 of the DER bytes,
/// as in Zeek 6+.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct X509 {
    /// When the certificate was seen, and on which connection.
    pub meta: Option<Meta>,
    /// SHA-256 of the DER encoding, lower-case hex.
    pub fingerprint: String,
    /// X.509 version (1..=3).
    pub version: u32,
    /// Serial number, upper-case hex (OpenSSL's rendering).
    pub serial: String,
    /// Distinguished names in RFC 2253 order (`CN=a,O=b,C=c`).
    pub subject: String,
    pub issuer: String,
    pub not_valid_before: Option<Ts>,
    pub not_valid_after: Option<Ts>,
    /// Public-key and signature algorithm names (`rsaEncryption`,
    /// `sha256WithRSAEncryption`, dotted OID when unnamed).
    pub key_alg: String,
    pub sig_alg: String,
    /// `rsa`, `dsa`, `ecdsa`, or the algorithm's name for other keys.
    pub key_type: Option<String>,
    pub key_length: Option<u64>,
    /// RSA public exponent, decimal.
    pub exponent: Option<String>,
    /// Named curve of an EC key (`prime256v1`, `secp384r1`).
    pub curve: Option<String>,
    pub san_dns: Vec<String>,
    pub san_uri: Vec<String>,
    pub san_email: Vec<String>,
    pub san_ip: Vec<IpAddr>,
    /// Basic constraints: `None` without the extension.
    pub basic_constraints_ca: Option<bool>,
    pub basic_constraints_path_len: Option<u32>,
    /// Sent by the server as the first certificate of its chain.
    pub host_cert: bool,
    /// Sent by the client.
    pub client_cert: bool,
    /// Subject equals issuer and the certificate's signature verifies
    /// with its own key (or the algorithm is one we cannot verify).
    pub self_signed: bool,
    /// Whether the signature verified with the certificate's own key;
    /// `None` when not tried (subject differs from issuer) or the
    /// algorithm is unsupported.
    pub self_signature_ok: Option<bool>,
}

impl X509 {
    /// Seconds from `not_valid_before` to `not_valid_after` (0 when
    /// inverted or unknown).
    pub fn validity_secs(&self) -> i64 {
        match (self.not_valid_before, self.not_valid_after) {
            (Some(a), Some(b)) => (b.0.saturating_sub(a.0) / 1_000_000).max(0),
            _ => 0,
        }
    }

    /// Subject alternative names of every kind.
    pub fn san_count(&self) -> usize {
        self.san_dns.len() + self.san_uri.len() + self.san_email.len() + self.san_ip.len()
    }

    /// Whether `at` lies outside the validity period.
    pub fn expired_at(&self, at: Ts) -> bool {
        self.not_valid_after.is_some_and(|t| at > t)
            || self.not_valid_before.is_some_and(|t| at < t)
    }
}

/// One `irc.log` row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Irc {
    pub meta: Option<Meta>,
    pub nick: Option<String>,
    pub user: Option<String>,
    pub command: Option<String>,
    pub value: Option<String>,
    pub addl: Option<String>,
    pub dcc_file_name: Option<String>,
    pub dcc_file_size: Option<u64>,
    pub dcc_mime_type: Option<String>,
}

/// The data connection an FTP command announced (`PORT`, `EPRT`, or the
/// reply to `PASV`/`EPSV`): Zeek's `data_channel` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FtpDataChannel {
    /// `true` for `PASV`/`EPSV` (the client connects to the server).
    pub passive: bool,
    pub orig_h: IpAddr,
    pub resp_h: IpAddr,
    pub resp_p: u16,
}

/// Which way a file moves over an FTP data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FtpTransfer {
    /// `STOR`, `STOU`, `APPE`: client to server (exfiltration, drops).
    Upload,
    /// `RETR`: server to client (payload download).
    Download,
    /// `LIST`, `NLST`, `MLSD`: a directory listing.
    Listing,
}

/// One `ftp.log` row: a client command and the server reply it got
/// (Zeek's pairing, including its guesses when replies are missing).
///
/// `ts` is the time of the command. `arg` of a file command (`RETR`,
/// `STOR`, `CWD`, ...) is the `ftp://server/path` URL built from the
/// working directory, as Zeek logs it; `file_name` keeps the argument as
/// sent. `password` is `<hidden>` unless the user is a guest
/// (`anonymous`, `ftp`, `ftpuser`, `guest`), like Zeek by default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ftp {
    pub meta: Option<Meta>,
    /// `<unknown>` before any `USER`.
    pub user: String,
    pub password: Option<String>,
    /// Upper-cased command (`<init>` for the server greeting).
    pub command: String,
    pub arg: Option<String>,
    /// MIME type of the transferred file, judged from its first bytes.
    pub mime_type: Option<String>,
    /// Size announced by the server (`150 ... (N bytes)`, `213 N`).
    pub file_size: Option<u64>,
    pub reply_code: Option<u16>,
    pub reply_msg: Option<String>,
    pub data_channel: Option<FtpDataChannel>,
    /// botscope: the command's argument as the client sent it.
    pub file_name: Option<String>,
    /// botscope: uid of the data connection that carried the transfer.
    pub data_uid: Option<Uid>,
    /// botscope: payload bytes seen on that data connection (both
    /// directions) when the reply was logged.
    pub data_bytes: Option<u64>,
}

impl Ftp {
    /// The file transfer this command is, if any (by its verb).
    pub fn transfer(&self) -> Option<FtpTransfer> {
        match self.command.as_str() {
            "STOR" | "STOU" | "APPE" => Some(FtpTransfer::Upload),
            "RETR" => Some(FtpTransfer::Download),
            "LIST" | "NLST" | "MLSD" => Some(FtpTransfer::Listing),
            _ => None,
        }
    }
}

/// One `ssh.log` row: one SSH connection's versions, software and
/// authentication outcome (Zeek's heuristics; SSH is encrypted after the
/// key exchange, so the outcome is inferred from packet sizes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ssh {
    pub meta: Option<Meta>,
    /// Protocol major version (1 or 2).
    pub version: Option<u8>,
    /// `Some(true)` when authentication looked successful, `Some(false)`
    /// when it looked failed, `None` when it could not be determined.
    pub auth_success: Option<bool>,
    /// Authentication attempts counted by the heuristic.
    pub auth_attempts: u32,
    /// `INBOUND` or `OUTBOUND` when the local networks are known; unset
    /// otherwise (botscope knows no local networks yet).
    pub direction: Option<String>,
    /// The client's identification string (`SSH-2.0-OpenSSH_8.9`).
    pub client: Option<String>,
    pub server: Option<String>,
    /// Negotiated algorithms, when the KEXINIT messages were seen.
    pub cipher_alg: Option<String>,
    pub mac_alg: Option<String>,
    pub compression_alg: Option<String>,
    pub kex_alg: Option<String>,
    pub host_key_alg: Option<String>,
    /// `SHA256:` + unpadded base64 of the server host key, when the key
    /// exchange reply was seen (what `ssh-keygen -l` prints).
    pub host_key_fingerprint: Option<String>,
}

/// One `weird.log` row: something unexpected in the traffic or the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Weird {
    pub ts: Ts,
    pub uid: Option<Uid>,
    pub id: Option<ConnId>,
    /// Zeek's weird name where Zeek has one (e.g. `truncated_IP`).
    pub name: String,
    pub addl: Option<String>,
    /// The input file and byte offset, when the anomaly is in the file.
    pub source: Option<String>,
}

/// One analysed spam-trap message: a row of the `mail` table.
///
/// Produced by the `mail` crate from mbox/Maildir/.eml files, from messages
/// carved out of SMTP sessions, and from the live trap. `received_ts` is
/// the trap's time (top `Received:` header, envelope or mbox `From_` line);
/// the sender's `Date:` header is kept as a feature only (`date_header`,
/// `date_ts`) because bots forge it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MailMessage {
    /// Where the message came from: `FILE#INDEX` (index from 0 within an
    /// mbox or folder), or the trap's stored file name.
    pub source: String,
    /// Receive time at the trap; `None` when no trustworthy time exists.
    pub received_ts: Option<Ts>,
    pub message_id: Option<String>,
    /// The connecting client's address as the trap saw it.
    pub sender_ip: Option<IpAddr>,
    pub helo: Option<String>,
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
    /// Decoded subject.
    pub subject: Option<String>,
    /// The raw `Date:` header, as sent.
    pub date_header: Option<String>,
    /// The `Date:` header parsed, when it parses to a plausible time.
    pub date_ts: Option<Ts>,
    /// Attributed botnet family, or `unknown`.
    pub family: String,
    /// Confidence of `family` in `[0, 1]`.
    pub family_confidence: f64,
    /// Stable campaign id (same input, same id).
    pub campaign: Option<String>,
    /// `pharma`, `replica`, `dating`, `casino`, `stock`, `phishing`,
    /// `malware`, `advance_fee` or `other`.
    pub category: String,
    /// Brand or affiliate program, e.g. `Canadian Pharmacy`.
    pub brand: Option<String>,
    pub urls: Vec<String>,
    /// Registrable domains of `urls` (Public Suffix List).
    pub domains: Vec<String>,
    /// Message size in bytes, as received.
    pub size: u64,
    /// Why the message could not be analysed (the row still exists).
    pub error: Option<String>,
    /// The fingerprint tokens family attribution read (`kind=value`):
    /// kept so a new model can re-attribute stored mail (`rehunt`).
    pub fingerprint: Vec<String>,
}

/// One `files.log` row: a file a protocol carried (an HTTP body, an FTP
/// transfer, a MIME entity of a mail), as Zeek's file analysis logs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    /// When the file started, and on which connection.
    pub meta: Option<Meta>,
    /// `F` and 17 base62 characters, stable for one file of one run.
    pub fuid: String,
    /// The protocol: `HTTP`, `FTP_DATA`, `SMTP`.
    pub source: &'static str,
    /// Position of the message in its connection (HTTP `trans_depth`);
    /// for mail, the MIME entity's position in its message.
    pub depth: u32,
    /// Analyzers run on it (Zeek's names: `SHA256`, ...).
    pub analyzers: Vec<&'static str>,
    /// Type by content.
    pub mime_type: Option<String>,
    /// The name its protocol gave (`Content-Disposition`, FTP path).
    pub filename: Option<String>,
    pub duration: Option<Duration>,
    /// Sent by the connection's originator.
    pub is_orig: bool,
    pub seen_bytes: u64,
    /// The size announced (`Content-Length`), when one was.
    pub total_bytes: Option<u64>,
    pub missing_bytes: u64,
    pub sha256: Option<String>,
    /// Name of the extracted copy in the `--extract-files` folder.
    pub extracted: Option<String>,
    /// The copy was cut by an extraction cap.
    pub extracted_cutoff: Option<bool>,
    /// Bytes in the copy.
    pub extracted_size: Option<u64>,
}

/// Any event a decoder can produce.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Conn(Conn),
    File(File),
    Http(Http),
    Smtp(Smtp),
    Dns(Dns),
    Ssl(Ssl),
    X509(X509),
    Irc(Irc),
    Ftp(Ftp),
    Ssh(Ssh),
    Weird(Weird),
    Message(CarvedMessage),
    Tunnel(Tunnel),
}

impl Event {
    /// The Zeek log (path) this event belongs to.
    pub fn log_name(&self) -> &'static str {
        match self {
            Event::Conn(_) => "conn",
            Event::Http(_) => "http",
            Event::Smtp(_) => "smtp",
            Event::Dns(_) => "dns",
            Event::Ssl(_) => "ssl",
            Event::X509(_) => "x509",
            Event::Irc(_) => "irc",
            Event::Ftp(_) => "ftp",
            Event::Ssh(_) => "ssh",
            Event::Weird(_) => "weird",
            Event::Message(_) => "mail",
            Event::Tunnel(_) => "tunnel",
            Event::File(_) => "files",
        }
    }
}

/// Where decoders put their events.
pub trait EventSink {
    fn emit(&mut self, ev: Event);
}

impl EventSink for Vec<Event> {
    fn emit(&mut self, ev: Event) {
        self.push(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_renders_like_zeek() {
        assert_eq!(Ts(1_258_535_653_123_456).to_string(), "1258535653.123456");
        assert_eq!(Ts(5).to_string(), "0.000005");
        assert_eq!(
            Ts::from_secs_nanos(10, 999_999_999).to_string(),
            "10.999999"
        );
    }

    #[test]
    fn uid_is_c_plus_base62() {
        let s = Uid(u64::MAX).to_string();
        assert!(s.starts_with('C'));
        assert_eq!(s.len(), 12);
        assert_eq!(Uid(0).to_string(), "C0");
        assert_eq!(Uid(61).to_string(), "Cz");
    }
}
