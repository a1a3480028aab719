//! Tunnel decapsulation, as Zeek's tunnel analyzers do it: one layer at a
//! time, stateless.
//!
//! [`decapsulate`] looks at a decoded [`Packet`] and, when it carries a
//! tunnelled packet, returns the inner frame and what kind of tunnel it
//! was. The caller decodes the inner frame ([`Inner::decode`]) and may
//! call [`decapsulate`] again on the result; capping that nesting is the
//! caller's job (the engine's `max_tunnel_depth`).
//!
//! Recognised, with Zeek's rules:
//! * IP in IP: IPv4 or IPv6 (protocol 4 / 41) inside IPv4 or IPv6
//!   (`Tunnel::IP`; 6in4, 4in6, ...).
//! * GRE (protocol 47, and GRE in UDP port 4754, RFC 8086): version 0 with
//!   checksum, key and sequence fields; inner IPv4, IPv6, transparent
//!   Ethernet bridging (0x6558), ERSPAN type I/II (0x88be) and III
//!   (0x22eb), Aruba 802.11 (0x8200..0x82ff); version 1 (PPTP enhanced GRE)
//!   carrying PPP (`Tunnel::GRE`).
//! * VXLAN (UDP 4789): the I flag must be set; inner Ethernet
//!   (`Tunnel::VXLAN`).
//! * Geneve (UDP 6081): version 0, options skipped; inner Ethernet, IPv4 or
//!   IPv6 (`Tunnel::GENEVE`).
//! * GTPv1-U (UDP 2152): version 1, protocol type GTP, message type 0xff
//!   (T-PDU, user data) only; optional fields and extension headers
//!   skipped; inner IPv4 or IPv6 (`Tunnel::GTPv1`).
//! * Teredo (UDP, any port, by content as Zeek's protocol detection does):
//!   optional authentication and origin indicators, then an IPv6 header
//!   whose payload length matches the datagram exactly, or a bubble
//!   (`Tunnel::TEREDO`).
//! * AYIYA (UDP 5072): forward opcode, identity and signature skipped, next
//!   header IPv4 or IPv6 (`Tunnel::AYIYA`).
//!
//! PPPoE sessions are a link layer (see [`crate::packet`]), not a tunnel.
//!
//! # No panics
//! Every field is read through checked getters; header lengths read from
//! the wire are compared with what is present before they are used.

use crate::capture::LinkType;
use crate::packet::{decode, decode_ip, ethernet, DecodeError, Packet, L4};

/// The kind of tunnel, named as Zeek's `Tunnel::Type` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TunnelType {
    /// IP in IP (4in4, 6in4, 4in6, 6in6).
    Ip,
    Gre,
    Vxlan,
    Geneve,
    Gtpv1,
    Teredo,
    Ayiya,
}

impl TunnelType {
    /// Zeek's enum value, as written in `tunnel.log`.
    pub fn zeek_name(self) -> &'static str {
        match self {
            TunnelType::Ip => "Tunnel::IP",
            TunnelType::Gre => "Tunnel::GRE",
            TunnelType::Vxlan => "Tunnel::VXLAN",
            TunnelType::Geneve => "Tunnel::GENEVE",
            TunnelType::Gtpv1 => "Tunnel::GTPv1",
            TunnelType::Teredo => "Tunnel::TEREDO",
            TunnelType::Ayiya => "Tunnel::AYIYA",
        }
    }

    /// The `service` Zeek gives the outer UDP connection of this tunnel
    /// (`None` for tunnels that are not carried by a UDP connection).
    pub fn service(self) -> Option<botscope_event::Service> {
        use botscope_event::Service;
        match self {
            TunnelType::Vxlan => Some(Service::VXLAN),
            TunnelType::Geneve => Some(Service::GENEVE),
            TunnelType::Gtpv1 => Some(Service::GTPV1),
            TunnelType::Teredo => Some(Service::TEREDO),
            TunnelType::Ayiya => Some(Service::AYIYA),
            TunnelType::Ip | TunnelType::Gre => None,
        }
    }

    /// Zeek names the outer connection's service only after the tunnel
    /// was seen in both directions (`Tunnel::delay_teredo_confirmation`,
    /// on by default, for Teredo only: ordinary UDP can look like it).
    pub fn confirmed_both_ways(self) -> bool {
        self == TunnelType::Teredo
    }

    /// Whether the outer packet is a UDP datagram that stays a connection
    /// of its own (Zeek logs it in `conn.log`); IP and GRE tunnels are
    /// identified by their endpoints' addresses only.
    pub fn over_udp(self) -> bool {
        self.service().is_some()
    }
}

/// How the inner packet starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InnerFrame<'a> {
    /// An IPv4 or IPv6 header.
    Ip(&'a [u8]),
    /// An Ethernet II header.
    Ethernet(&'a [u8]),
    /// A PPP protocol field (PPTP), possibly after `ff 03`.
    Ppp(&'a [u8]),
    /// An 802.11 MAC header (Aruba GRE).
    Ieee80211(&'a [u8]),
}

/// One layer of decapsulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inner<'a> {
    pub tunnel: TunnelType,
    pub frame: InnerFrame<'a>,
}

impl<'a> Inner<'a> {
    /// Decode the inner frame down to its transport header.
    pub fn decode(&self) -> Result<Packet<'a>, DecodeError> {
        match self.frame {
            InnerFrame::Ip(b) => decode_ip(b),
            InnerFrame::Ethernet(b) => ethernet(b),
            InnerFrame::Ppp(b) => decode(LinkType::PPP, b),
            InnerFrame::Ieee80211(b) => decode(LinkType::IEEE802_11, b),
        }
    }
}

/// UDP ports of the port-based tunnel analyzers (Zeek's defaults).
pub const VXLAN_PORT: u16 = 4789;
pub const GENEVE_PORT: u16 = 6081;
pub const GTPV1_U_PORT: u16 = 2152;
pub const AYIYA_PORT: u16 = 5072;
pub const GRE_IN_UDP_PORT: u16 = 4754;
pub const TEREDO_PORT: u16 = 3544;

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

#[inline]
fn byte(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

/// The tunnel carried by `p`, if any.
///
/// `Ok(None)`: not a tunnel (the packet is an ordinary one). `Err`: the
/// packet is a tunnel of a known kind but its encapsulation header is
/// malformed or cut (Zeek notes a weird and drops the inner packet).
pub fn decapsulate<'a>(p: &Packet<'a>) -> Result<Option<Inner<'a>>, DecodeError> {
    match p.l4 {
        L4::Other { proto: 4, payload } | L4::Other { proto: 41, payload } => {
            // The inner version must match the protocol number.
            let want = if p.proto == 4 { 4 } else { 6 };
            match byte(payload, 0) {
                Some(b) if b >> 4 == want => Ok(Some(Inner {
                    tunnel: TunnelType::Ip,
                    frame: InnerFrame::Ip(payload),
                })),
                Some(_) => Err(DecodeError::Tunnel(TunnelError::IpVersionMismatch)),
                None => Err(DecodeError::Tunnel(TunnelError::Truncated)),
            }
        }
        L4::Other { proto: 47, payload } => gre(payload).map(Some),
        L4::Udp {
            src_port,
            dst_port,
            payload,
            ..
        } => udp(src_port, dst_port, payload),
        _ => Ok(None),
    }
}

fn udp(sp: u16, dp: u16, payload: &[u8]) -> Result<Option<Inner<'_>>, DecodeError> {
    let either = |port: u16| sp == port || dp == port;
    if dp == VXLAN_PORT {
        return vxlan(payload).map(Some);
    }
    if dp == GENEVE_PORT {
        return geneve(payload).map(Some);
    }
    if either(GTPV1_U_PORT) {
        return gtpv1(payload);
    }
    if either(AYIYA_PORT) {
        return ayiya(payload).map(Some);
    }
    if dp == GRE_IN_UDP_PORT {
        return gre(payload).map(Some);
    }
    // Teredo is found by content on any port, as Zeek's protocol
    // detection does; the checks are strict so ordinary UDP rarely passes.
    Ok(teredo(payload))
}

/// Reasons a tunnel's header is rejected (Zeek weird names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TunnelError {
    /// The encapsulation header is cut short.
    Truncated,
    /// IP-in-IP whose inner version contradicts the protocol number.
    IpVersionMismatch,
    /// GRE version other than 0 and 1, or routing present.
    GreVersion,
    /// GRE protocol not decapsulated.
    GreProtocol,
    /// VXLAN without the I flag.
    VxlanFlags,
    /// Geneve version other than 0, or an inner protocol not decoded.
    Geneve,
    /// GTPv1 header not valid (version, protocol type, length).
    Gtp,
    /// GTPv1 T-PDU whose payload is not IPv4/IPv6.
    GtpPayload,
    /// AYIYA header not valid (opcode, next header, lengths).
    Ayiya,
}

impl TunnelError {
    /// Zeek's weird name.
    pub fn weird_name(self) -> &'static str {
        match self {
            TunnelError::Truncated => "truncated_tunnel_header",
            TunnelError::IpVersionMismatch => "ip_tunnel_version_mismatch",
            TunnelError::GreVersion => "unknown_gre_version",
            TunnelError::GreProtocol => "unknown_gre_protocol",
            TunnelError::VxlanFlags => "vxlan_invalid_flags",
            TunnelError::Geneve => "geneve_invalid",
            TunnelError::Gtp => "GTPv1_invalid_header",
            TunnelError::GtpPayload => "GTPv1_payload_not_IP",
            TunnelError::Ayiya => "ayiya_tunnel_invalid",
        }
    }
}

fn err<T>(e: TunnelError) -> Result<T, DecodeError> {
    Err(DecodeError::Tunnel(e))
}

/// GRE (RFC 2784/2890) and enhanced GRE (RFC 2637, PPTP).
fn gre(b: &[u8]) -> Result<Inner<'_>, DecodeError> {
    let (Some(f0), Some(f1), Some(proto)) = (byte(b, 0), byte(b, 1), be16(b, 2)) else {
        return err(TunnelError::Truncated);
    };
    let version = f1 & 0x07;
    let checksum = f0 & 0x80 != 0;
    let routing = f0 & 0x40 != 0;
    let key = f0 & 0x20 != 0;
    let seq = f0 & 0x10 != 0;
    if routing {
        return err(TunnelError::GreVersion);
    }
    let mut off = 4usize;
    match version {
        0 => {
            off += 4 * (usize::from(checksum) + usize::from(key) + usize::from(seq));
        }
        1 => {
            // Enhanced GRE: the key (payload length, call id) is mandatory,
            // then the optional sequence and acknowledgment numbers.
            if proto != 0x880b || !key {
                return err(TunnelError::GreProtocol);
            }
            let ack = f1 & 0x80 != 0;
            off += 4 + 4 * (usize::from(seq) + usize::from(ack));
        }
        _ => return err(TunnelError::GreVersion),
    }
    let Some(rest) = b.get(off..) else {
        return err(TunnelError::Truncated);
    };
    let frame = match proto {
        0x0800 | 0x86dd => InnerFrame::Ip(rest),
        0x6558 => InnerFrame::Ethernet(rest),
        0x880b => {
            if rest.is_empty() {
                // PPTP acknowledgment without payload.
                return err(TunnelError::Truncated);
            }
            InnerFrame::Ppp(rest)
        }
        // ERSPAN type II has a sequence number and an 8-byte header;
        // type I has neither: the mirrored Ethernet frame follows.
        0x88be if seq => match rest.get(8..) {
            Some(eth) => InnerFrame::Ethernet(eth),
            None => return err(TunnelError::Truncated),
        },
        0x88be => InnerFrame::Ethernet(rest),
        // ERSPAN type III: 12-byte header, 8 more with the O flag.
        0x22eb => {
            let Some(flags) = byte(rest, 11) else {
                return err(TunnelError::Truncated);
            };
            let hl = if flags & 0x01 != 0 { 20 } else { 12 };
            match rest.get(hl..) {
                Some(eth) => InnerFrame::Ethernet(eth),
                None => return err(TunnelError::Truncated),
            }
        }
        // Aruba access points tunnel 802.11 frames in this range.
        0x8200..=0x82ff => InnerFrame::Ieee80211(rest),
        _ => return err(TunnelError::GreProtocol),
    };
    Ok(Inner {
        tunnel: TunnelType::Gre,
        frame,
    })
}

fn vxlan(b: &[u8]) -> Result<Inner<'_>, DecodeError> {
    let Some(flags) = byte(b, 0) else {
        return err(TunnelError::Truncated);
    };
    if flags & 0x08 == 0 {
        return err(TunnelError::VxlanFlags);
    }
    match b.get(8..) {
        Some(eth) if eth.len() >= 14 => Ok(Inner {
            tunnel: TunnelType::Vxlan,
            frame: InnerFrame::Ethernet(eth),
        }),
        _ => err(TunnelError::Truncated),
    }
}

fn geneve(b: &[u8]) -> Result<Inner<'_>, DecodeError> {
    let (Some(vo), Some(proto)) = (byte(b, 0), be16(b, 2)) else {
        return err(TunnelError::Truncated);
    };
    if vo >> 6 != 0 {
        return err(TunnelError::Geneve);
    }
    let hl = 8 + usize::from(vo & 0x3f) * 4;
    let Some(rest) = b.get(hl..) else {
        return err(TunnelError::Truncated);
    };
    let frame = match proto {
        0x6558 => InnerFrame::Ethernet(rest),
        0x0800 | 0x86dd => InnerFrame::Ip(rest),
        _ => return err(TunnelError::Geneve),
    };
    Ok(Inner {
        tunnel: TunnelType::Geneve,
        frame,
    })
}

/// Most GTP extension headers followed before giving up.
const MAX_GTP_EXTENSIONS: usize = 16;

/// GTPv1-U. Messages other than T-PDU (echo, error indication, ...) are
/// GTP but carry no user packet: `Ok(None)`.
fn gtpv1(b: &[u8]) -> Result<Option<Inner<'_>>, DecodeError> {
    let (Some(flags), Some(msg), Some(len)) = (byte(b, 0), byte(b, 1), be16(b, 2)) else {
        return err(TunnelError::Truncated);
    };
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        // Not version 1 / protocol type GTP (GTP' or something else).
        return err(TunnelError::Gtp);
    }
    if usize::from(len) + 8 > b.len() {
        return err(TunnelError::Gtp);
    }
    if msg != 0xff {
        return Ok(None);
    }
    let mut off = 8usize;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number, next extension header type.
        let Some(mut next) = byte(b, 11) else {
            return err(TunnelError::Truncated);
        };
        off = 12;
        let mut n = 0;
        while next != 0 && flags & 0x04 != 0 {
            n += 1;
            if n > MAX_GTP_EXTENSIONS {
                return err(TunnelError::Gtp);
            }
            let Some(units) = byte(b, off) else {
                return err(TunnelError::Truncated);
            };
            if units == 0 {
                return err(TunnelError::Gtp);
            }
            off += usize::from(units) * 4;
            let Some(nx) = byte(b, off - 1) else {
                return err(TunnelError::Truncated);
            };
            next = nx;
        }
    }
    let end = (usize::from(len) + 8).min(b.len());
    let Some(rest) = b.get(off..end) else {
        return err(TunnelError::Truncated);
    };
    match byte(rest, 0) {
        Some(v) if v >> 4 == 4 || v >> 4 == 6 => Ok(Some(Inner {
            tunnel: TunnelType::Gtpv1,
            frame: InnerFrame::Ip(rest),
        })),
        _ => err(TunnelError::GtpPayload),
    }
}

fn ayiya(b: &[u8]) -> Result<Inner<'_>, DecodeError> {
    let (Some(id), Some(sig), Some(op), Some(next)) =
        (byte(b, 0), byte(b, 1), byte(b, 2), byte(b, 3))
    else {
        return err(TunnelError::Truncated);
    };
    // Opcode 1 is "forward"; next header IPv4 or IPv6.
    if op & 0x0f != 1 || !matches!(next, 4 | 41) {
        return err(TunnelError::Ayiya);
    }
    let id_len = 1usize.checked_shl(u32::from(id >> 4)).unwrap_or(usize::MAX);
    let hl = 8usize
        .saturating_add(id_len)
        .saturating_add(usize::from(sig >> 4) * 4);
    match b.get(hl..) {
        Some(ip) if !ip.is_empty() => Ok(Inner {
            tunnel: TunnelType::Ayiya,
            frame: InnerFrame::Ip(ip),
        }),
        _ => err(TunnelError::Ayiya),
    }
}

/// Teredo (RFC 4380), with the checks of Zeek's analyzer: optional
/// authentication and origin indicators, then an IPv6 header whose
/// payload length accounts for exactly the rest of the datagram.
fn teredo(b: &[u8]) -> Option<Inner<'_>> {
    let mut off = 0usize;
    // Authentication indicator: 0x0001, id len, auth len, id, auth, nonce(8), confirmation(1).
    if be16(b, off)? == 0x0001 {
        let id = usize::from(byte(b, off + 2)?);
        let au = usize::from(byte(b, off + 3)?);
        off += 4 + id + au + 8 + 1;
    }
    // Origin indicator: 0x0000, port, address.
    if be16(b, off)? == 0x0000 {
        off += 8;
    }
    let ip = b.get(off..)?;
    if ip.len() < 40 || byte(ip, 0)? >> 4 != 6 {
        return None;
    }
    let plen = usize::from(be16(ip, 4)?);
    // A bubble (no next header, empty payload) may carry trailing bytes,
    // which Zeek accepts (and notes); anything else must fill the datagram
    // exactly, which keeps ordinary UDP from passing for Teredo.
    let bubble = plen == 0 && byte(ip, 6)? == 59;
    if plen + 40 != ip.len() && !bubble {
        return None;
    }
    Some(Inner {
        tunnel: TunnelType::Teredo,
        frame: InnerFrame::Ip(ip),
    })
}

#[cfg(test)]
mod tests;
