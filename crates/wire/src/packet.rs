//! Stateless, zero-copy packet decoding: link layer, IPv4 / IPv6, and the
//! transport header (TCP, UDP, ICMP, ICMPv6).
//!
//! [`decode`] starts at the link-layer header, [`decode_ip`] at an IP header
//! (for example a datagram rebuilt by [`crate::Defragmenter`]). The result
//! borrows the input; nothing is allocated.
//!
//! # No panics, and truncation is a result
//!
//! Every read is preceded by a length check (all reads go through checked
//! getters returning `Option`), and lengths from headers are compared
//! with what was captured before they are used. A packet cut by the
//! capture's snaplen is decoded as far as the bytes go: TCP's `payload` is
//! what is present while `payload_len` is what the IP header says. Only
//! headers that are themselves cut or inconsistent give a [`DecodeError`],
//! each with the Zeek weird name analysts know.
//!
//! Supported: Ethernet (with any stack of 802.1Q / 802.1ad / QinQ tags,
//! PPPoE session and MPLS), Linux SLL and SLL2, raw IP (LINKTYPE 101, 228,
//! 229 and DLT 12 / 14), BSD NULL / LOOP (family in either byte order);
//! IPv4 with options, IPv6 with hop-by-hop, routing, fragment, destination
//! options, mobility and AH extension headers; PPP (DLT 9 and PPP in
//! HDLC-like framing, 50), Cisco HDLC (104), FDDI (10, 802.2 LLC/SNAP),
//! IEEE 802.11 (105) and 802.11 behind radiotap (127) data frames with
//! LLC/SNAP, Linux NFLOG (239). Tunnels are unwrapped by
//! [`crate::tunnel`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::capture::LinkType;

/// A decoded packet: network addresses and the transport view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// 4 or 6.
    pub ip_version: u8,
    /// Total IP datagram length from the IP header (IPv4 total length;
    /// IPv6 payload length + 40): what Zeek's `*_ip_bytes` count.
    pub ip_len: u32,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// Transport protocol number (after IPv6 extension headers; for a
    /// fragment, the protocol of the fragmented datagram).
    pub proto: u8,
    /// Transport payload length according to the IP header (after the
    /// transport header): TCP and UDP payload, ICMP data after the 8-byte
    /// ICMP header, the whole IP payload for other protocols, 0 for
    /// fragments. May exceed the bytes captured.
    pub payload_len: u32,
    /// Outermost 802.1Q / 802.1ad VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// Second VLAN id of a QinQ stack.
    pub inner_vlan: Option<u16>,
    /// Whether the IPv4 header checksum is valid (always true for IPv6 and
    /// for IPv4 headers cut by the snaplen).
    pub ip_checksum_ok: bool,
    /// The IPv4 total length field was 0 (TCP segmentation offload on the
    /// capturing host); `ip_len` is then the captured length. Zeek notes
    /// this as the weird `ip_hdr_len_zero`.
    pub ip_len_zero: bool,
    /// `Some` when this packet is a fragment needing [`crate::Defragmenter`]
    /// (then `l4` is [`L4::Fragment`]).
    pub fragment: Option<FragInfo<'a>>,
    pub l4: L4<'a>,
}

impl<'a> Packet<'a> {
    /// The transport payload this packet borrows (TCP, UDP, ICMP data or
    /// the other protocol's IP payload; empty for a fragment).
    pub fn payload(&self) -> &'a [u8] {
        match self.l4 {
            L4::Tcp(t) => t.payload,
            L4::Udp { payload, .. } | L4::Icmp { payload, .. } | L4::Other { payload, .. } => {
                payload
            }
            L4::Fragment => &[],
        }
    }

    /// The same packet with its transport payload borrowed from `payload`
    /// (a copy of [`Packet::payload`]) instead: how a decoded packet moves
    /// to another thread without its frame being decoded again. `None`
    /// for a fragment, whose datagram bytes it also borrows.
    pub fn with_payload<'b>(&self, payload: &'b [u8]) -> Option<Packet<'b>> {
        if self.fragment.is_some() {
            return None;
        }
        let l4 = match self.l4 {
            L4::Tcp(t) => L4::Tcp(TcpSeg { payload, ..t }),
            L4::Udp {
                src_port,
                dst_port,
                truncated,
                ..
            } => L4::Udp {
                src_port,
                dst_port,
                payload,
                truncated,
            },
            L4::Icmp {
                v6,
                icmp_type,
                code,
                ..
            } => L4::Icmp {
                v6,
                icmp_type,
                code,
                payload,
            },
            L4::Other { proto, .. } => L4::Other { proto, payload },
            L4::Fragment => return None,
        };
        Some(Packet {
            src: self.src,
            dst: self.dst,
            ip_version: self.ip_version,
            ip_len: self.ip_len,
            ttl: self.ttl,
            proto: self.proto,
            payload_len: self.payload_len,
            vlan: self.vlan,
            inner_vlan: self.inner_vlan,
            ip_checksum_ok: self.ip_checksum_ok,
            ip_len_zero: self.ip_len_zero,
            fragment: None,
            l4,
        })
    }
}

/// Fragment fields of an IPv4 packet or an IPv6 fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragInfo<'a> {
    /// IPv4 identification (16 bits) or IPv6 fragment identification.
    pub id: u32,
    /// Offset of this fragment's data in the datagram, in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// IPv4 "don't fragment" flag (always false for IPv6).
    pub dont_fragment: bool,
    /// The whole IP packet, from the IP header, trimmed to the IP length
    /// (may be shorter when the capture cut it): feed this to
    /// [`crate::Defragmenter::push`].
    pub ip_packet: &'a [u8],
    /// Length of the unfragmentable part: the IPv4 header, or the IPv6
    /// header and the extension headers before the fragment header.
    pub header_len: usize,
    /// Offset of this fragment's data in `ip_packet`.
    pub data_offset: usize,
    /// IPv6 only: index in `ip_packet` of the next-header byte that names
    /// the fragment header.
    pub next_header_at: usize,
}

/// The transport layer of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4<'a> {
    Tcp(TcpSeg<'a>),
    Udp {
        src_port: u16,
        dst_port: u16,
        /// Payload bytes captured (bounded by the UDP length field).
        payload: &'a [u8],
        /// The capture holds fewer payload bytes than the headers announce.
        truncated: bool,
    },
    Icmp {
        v6: bool,
        icmp_type: u8,
        code: u8,
        /// Captured bytes after the 8-byte ICMP header (empty when fewer
        /// than 8 bytes were captured).
        payload: &'a [u8],
    },
    /// Any other IP protocol (also ESP, IPv6 "no next header", tunnels):
    /// the captured IP payload.
    Other {
        proto: u8,
        payload: &'a [u8],
    },
    /// A fragment: see [`Packet::fragment`].
    Fragment,
}

/// A TCP segment view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSeg<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload length according to the IP header: may exceed
    /// `payload.len()` when the capture was cut by snaplen.
    pub payload_len: u32,
}

pub use botscope_event::TcpFlags;

/// Why a packet (or fragment) could not be decoded. Open set: match with a
/// wildcard arm. [`DecodeError::weird_name`] gives Zeek's weird name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The link-layer header (Ethernet, VLAN tag, SLL, NULL family, PPPoE,
    /// MPLS) is cut short.
    #[error("truncated link-layer header")]
    TruncatedLinkHeader,
    /// The capture's link type is not decoded.
    #[error("unsupported link type {}", .0 .0)]
    UnknownLinkType(LinkType),
    /// ARP, RARP, 802.3/LLC and other non-IP frames: counted, not a weird.
    #[error("non-IP frame (ethertype {ethertype:#06x})")]
    NonIp { ethertype: u16 },
    /// A link-layer protocol (ethertype, NULL family, PPP protocol) we do
    /// not know.
    #[error("unknown link-layer protocol {0:#06x}")]
    UnknownProtocol(u32),
    /// IP version nibble neither 4 nor 6.
    #[error("unknown IP version {0}")]
    UnknownIpVersion(u8),
    /// The IP header (or an IPv6 extension header) is cut short.
    #[error("truncated IP header")]
    TruncatedIp,
    /// IPv4 IHL below 5, or total length below the header length.
    #[error("invalid IP header size")]
    InvalidIpHeaderSize,
    /// The transport header (TCP, UDP, ICMP) is cut short.
    #[error("truncated transport header (protocol {0})")]
    TruncatedHeader(u8),
    /// TCP data offset below 5 words or beyond the segment.
    #[error("bad TCP header length")]
    BadTcpHeaderLen,
    /// UDP length field below 8.
    #[error("bad UDP length")]
    BadUdpLength,
    /// Reassembly: fragments overlap with identical content.
    #[error("fragment overlap")]
    FragmentOverlap,
    /// Reassembly: fragments overlap with different content, or disagree on
    /// the datagram's end.
    #[error("fragment inconsistency")]
    FragmentInconsistency,
    /// Reassembly: a fragment reaches beyond the maximum datagram size.
    #[error("excessively large fragment")]
    ExcessivelyLargeFragment,
    /// Reassembly: a fragment has the "don't fragment" bit set.
    #[error("fragment with DF set")]
    FragmentWithDf,
    /// Reassembly: too many fragments for one datagram (cap).
    #[error("too many fragments for one datagram")]
    TooManyFragments,
    /// Reassembly: a fragment's bytes were cut by the capture's snaplen.
    #[error("fragment truncated by the capture")]
    TruncatedFragment,
    /// Reassembly: the packet pushed is not a fragment.
    #[error("not a fragment")]
    NotAFragment,
    /// A tunnel's encapsulation header is malformed or cut.
    #[error("bad tunnel encapsulation ({})", .0.weird_name())]
    Tunnel(crate::tunnel::TunnelError),
}

impl DecodeError {
    /// Zeek's weird name for this condition.
    pub fn weird_name(&self) -> &'static str {
        match self {
            DecodeError::TruncatedLinkHeader => "truncated_link_header",
            DecodeError::UnknownLinkType(_) => "unknown_link_type",
            DecodeError::NonIp { .. } => "non_ip_packet",
            DecodeError::UnknownProtocol(_) => "unknown_protocol",
            DecodeError::UnknownIpVersion(_) => "unknown_ip_version",
            DecodeError::TruncatedIp => "truncated_IP",
            DecodeError::InvalidIpHeaderSize => "invalid_IP_header_size",
            DecodeError::TruncatedHeader(_) => "truncated_header",
            DecodeError::BadTcpHeaderLen => "bad_TCP_header_len",
            DecodeError::BadUdpLength => "bad_UDP_length",
            DecodeError::FragmentOverlap => "fragment_overlap",
            DecodeError::FragmentInconsistency => "fragment_inconsistency",
            DecodeError::ExcessivelyLargeFragment => "excessively_large_fragment",
            DecodeError::FragmentWithDf => "fragment_with_DF",
            DecodeError::TooManyFragments => "too_many_fragments",
            DecodeError::TruncatedFragment => "truncated_fragment",
            DecodeError::NotAFragment => "not_a_fragment",
            DecodeError::Tunnel(t) => t.weird_name(),
        }
    }

    /// Whether this deserves a weird record (false for plain non-IP
    /// traffic, which is only counted).
    pub fn is_weird(&self) -> bool {
        !matches!(self, DecodeError::NonIp { .. } | DecodeError::NotAFragment)
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

#[inline]
fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}

#[inline]
fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}

#[inline]
fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

#[inline]
fn byte(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

const ET_IPV4: u16 = 0x0800;
const ET_ARP: u16 = 0x0806;
const ET_RARP: u16 = 0x8035;
const ET_IPV6: u16 = 0x86dd;
const ET_PPPOE_SESSION: u16 = 0x8864;
const ET_PPPOE_DISCOVERY: u16 = 0x8863;
const ET_MPLS_UC: u16 = 0x8847;
const ET_MPLS_MC: u16 = 0x8848;

#[inline]
fn is_vlan_tpid(t: u16) -> bool {
    matches!(t, 0x8100 | 0x88a8 | 0x9100 | 0x9200)
}

/// Decode a captured frame of link type `link`.
pub fn decode(link: LinkType, data: &[u8]) -> Result<Packet<'_>, DecodeError> {
    match link {
        LinkType::ETHERNET => ethernet(data),
        LinkType::DLT_RAW_12
        | LinkType::DLT_RAW_14
        | LinkType::RAW
        | LinkType::IPV4
        | LinkType::IPV6 => decode_ip(data),
        LinkType::NULL | LinkType::LOOP => {
            let (Some(le), Some(be)) = (le32(data, 0), be32(data, 0)) else {
                return Err(DecodeError::TruncatedLinkHeader);
            };
            let rest = data.get(4..).unwrap_or(&[]);
            let v4 = |f: u32| f == 2;
            let v6 = |f: u32| matches!(f, 10 | 24 | 28 | 30);
            if v4(le) || v4(be) || v6(le) || v6(be) {
                decode_ip(rest)
            } else {
                Err(DecodeError::UnknownProtocol(le.min(be)))
            }
        }
        LinkType::LINUX_SLL => {
            // Linux cooked v1: packet type, ARPHRD, addr len, addr[8], protocol.
            let proto = be16(data, 14).ok_or(DecodeError::TruncatedLinkHeader)?;
            sll_protocol(proto, data.get(16..).unwrap_or(&[]))
        }
        LinkType::LINUX_SLL2 => {
            // Linux cooked v2: protocol, reserved, ifindex, ARPHRD, type, addr len, addr[8].
            if data.len() < 20 {
                return Err(DecodeError::TruncatedLinkHeader);
            }
            let proto = be16(data, 0).ok_or(DecodeError::TruncatedLinkHeader)?;
            sll_protocol(proto, data.get(20..).unwrap_or(&[]))
        }
        LinkType::PPP | LinkType::PPP_HDLC => {
            // RFC 1662 framing puts `ff 03` (address, control) first;
            // DLT_PPP may or may not carry it.
            let rest = match data {
                [0xff, 0x03, rest @ ..] => rest,
                _ => data,
            };
            ppp(rest)
        }
        LinkType::C_HDLC => {
            // Address (0x0f unicast, 0x8f broadcast), control, ethertype.
            let et = be16(data, 2).ok_or(DecodeError::TruncatedLinkHeader)?;
            ethertype(et, data.get(4..).unwrap_or(&[]), None, None)
        }
        LinkType::FDDI => {
            // Frame control, destination and source MACs (13 bytes), 802.2 LLC.
            let llc = data.get(13..).ok_or(DecodeError::TruncatedLinkHeader)?;
            llc_snap(llc)
        }
        LinkType::IEEE802_11 => ieee802_11(data),
        LinkType::IEEE802_11_RADIOTAP => {
            // Radiotap: version, pad, little-endian total header length.
            let (Some(0), Some(len)) = (byte(data, 0), le16(data, 2)) else {
                return Err(DecodeError::TruncatedLinkHeader);
            };
            let frame = data
                .get(usize::from(len)..)
                .ok_or(DecodeError::TruncatedLinkHeader)?;
            ieee802_11(frame)
        }
        LinkType::NFLOG => nflog(data),
        _ => Err(DecodeError::UnknownLinkType(link)),
    }
}

/// An Ethernet II frame (also the inner frame of VXLAN, Geneve, GRE
/// transparent Ethernet bridging and ERSPAN).
pub fn ethernet(data: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let et = be16(data, 12).ok_or(DecodeError::TruncatedLinkHeader)?;
    let rest = data.get(14..).unwrap_or(&[]);
    if et <= 0x05dc {
        // 802.3 length field: an 802.2 LLC frame follows (SNAP carries IP).
        return llc_snap(rest);
    }
    ethertype(et, rest, None, None)
}

/// The PPP protocol field (1 byte when compressed: odd first byte), then
/// IPv4 / IPv6.
fn ppp(data: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let first = byte(data, 0).ok_or(DecodeError::TruncatedLinkHeader)?;
    let (proto, rest) = if first & 1 == 1 {
        (u16::from(first), data.get(1..).unwrap_or(&[]))
    } else {
        let p = be16(data, 0).ok_or(DecodeError::TruncatedLinkHeader)?;
        (p, data.get(2..).unwrap_or(&[]))
    };
    match proto {
        0x0021 | 0x0057 => decode_ip(rest),
        // LCP, IPCP, IPv6CP, PAP, CHAP, CCP and other control protocols.
        p if p >= 0x8000 => Err(DecodeError::NonIp { ethertype: p }),
        p => Err(DecodeError::UnknownProtocol(u32::from(p))),
    }
}

/// 802.2 LLC: a SNAP header (`aa aa 03`, OUI, ethertype) carries IP;
/// anything else (spanning tree, NetBIOS, IPX, ...) is not IP.
fn llc_snap(llc: &[u8]) -> Result<Packet<'_>, DecodeError> {
    match llc {
        [0xaa, 0xaa, 0x03, _, _, _, e0, e1, rest @ ..] => {
            ethertype(u16::from_be_bytes([*e0, *e1]), rest, None, None)
        }
        [_, _, _, ..] => Err(DecodeError::NonIp { ethertype: 0 }),
        _ => Err(DecodeError::TruncatedLinkHeader),
    }
}

/// An 802.11 MAC frame: data frames carrying LLC/SNAP are decoded;
/// management, control, null-data and protected (encrypted) frames are
/// not IP.
fn ieee802_11(f: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let (Some(fc0), Some(fc1)) = (byte(f, 0), byte(f, 1)) else {
        return Err(DecodeError::TruncatedLinkHeader);
    };
    let ftype = (fc0 >> 2) & 0x3;
    let subtype = fc0 >> 4;
    if fc0 & 0x3 != 0 || ftype != 2 {
        // Protocol version other than 0, management or control frame.
        return Err(DecodeError::NonIp { ethertype: 0 });
    }
    // Data subtypes with bit 2 set carry no data (null, CF-ack/poll only).
    if subtype & 0x4 != 0 {
        return Err(DecodeError::NonIp { ethertype: 0 });
    }
    if fc1 & 0x40 != 0 {
        // Protected frame: encrypted payload.
        return Err(DecodeError::NonIp { ethertype: 0 });
    }
    let mut len = 24usize;
    if fc1 & 0x03 == 0x03 {
        len += 6; // ToDS and FromDS: fourth address
    }
    let qos = subtype & 0x8 != 0;
    if qos {
        len += 2;
        if fc1 & 0x80 != 0 {
            len += 4; // +HTC: order bit on a QoS data frame
        }
    }
    let body = f.get(len..).ok_or(DecodeError::TruncatedLinkHeader)?;
    if qos {
        let qc = byte(f, len - 2 - if fc1 & 0x80 != 0 { 4 } else { 0 }).unwrap_or(0);
        if qc & 0x80 != 0 {
            // A-MSDU: the first subframe (destination, source, length),
            // as Zeek decodes it.
            let sub = body.get(14..).ok_or(DecodeError::TruncatedLinkHeader)?;
            return llc_snap(sub);
        }
    }
    llc_snap(body)
}

/// Linux NFLOG: family, version, resource id, then TLVs (host-order
/// length including the 4-byte TLV header, padded to 4); the packet is in
/// the `NFULA_PAYLOAD` (9) TLV.
fn nflog(data: &[u8]) -> Result<Packet<'_>, DecodeError> {
    const NFULA_PAYLOAD: u16 = 9;
    let family = byte(data, 0).ok_or(DecodeError::TruncatedLinkHeader)?;
    if data.len() < 4 {
        return Err(DecodeError::TruncatedLinkHeader);
    }
    let mut off = 4usize;
    loop {
        let (Some(len), Some(ty)) = (le16(data, off), le16(data, off + 2)) else {
            return Err(DecodeError::TruncatedLinkHeader);
        };
        let len = usize::from(len);
        if len < 4 {
            return Err(DecodeError::TruncatedLinkHeader);
        }
        if ty & 0x7fff == NFULA_PAYLOAD {
            let end = off.saturating_add(len).min(data.len());
            let payload = data.get(off + 4..end).unwrap_or(&[]);
            return match family {
                2 | 10 => decode_ip(payload),
                f => Err(DecodeError::UnknownProtocol(u32::from(f))),
            };
        }
        off = off.saturating_add(len.next_multiple_of(4));
        if off >= data.len() {
            return Err(DecodeError::TruncatedLinkHeader);
        }
    }
}

fn sll_protocol(proto: u16, rest: &[u8]) -> Result<Packet<'_>, DecodeError> {
    match proto {
        // Non-ethertype values of the SLL protocol field (802.3, 802.2, CAN...).
        0x0000..=0x05ff => Err(DecodeError::NonIp { ethertype: proto }),
        _ => ethertype(proto, rest, None, None),
    }
}

/// Dispatch on an ethertype, unwrapping VLAN tags, PPPoE and MPLS.
fn ethertype(
    mut et: u16,
    mut rest: &[u8],
    mut vlan: Option<u16>,
    mut inner_vlan: Option<u16>,
) -> Result<Packet<'_>, DecodeError> {
    loop {
        match et {
            ET_IPV4 | ET_IPV6 => {
                let mut p = decode_ip(rest)?;
                p.vlan = vlan;
                p.inner_vlan = inner_vlan;
                return Ok(p);
            }
            t if is_vlan_tpid(t) => {
                let (Some(tci), Some(next)) = (be16(rest, 0), be16(rest, 2)) else {
                    return Err(DecodeError::TruncatedLinkHeader);
                };
                let id = tci & 0x0fff;
                if vlan.is_none() {
                    vlan = Some(id);
                } else if inner_vlan.is_none() {
                    inner_vlan = Some(id);
                }
                et = next;
                rest = rest.get(4..).unwrap_or(&[]);
            }
            ET_PPPOE_SESSION => {
                // ver/type, code, session id, length, then the PPP protocol.
                let ppp = be16(rest, 6).ok_or(DecodeError::TruncatedLinkHeader)?;
                let payload = rest.get(8..).unwrap_or(&[]);
                return match ppp {
                    0x0021 => decode_ip(payload),
                    0x0057 => decode_ip(payload),
                    _ => Err(DecodeError::NonIp { ethertype: et }),
                }
                .map(|mut p| {
                    p.vlan = vlan;
                    p.inner_vlan = inner_vlan;
                    p
                });
            }
            ET_MPLS_UC | ET_MPLS_MC => {
                // Label stack until the bottom-of-stack bit; then guess IP.
                loop {
                    let lbl = be32(rest, 0).ok_or(DecodeError::TruncatedLinkHeader)?;
                    rest = rest.get(4..).unwrap_or(&[]);
                    if lbl & 0x100 != 0 {
                        break;
                    }
                }
                let mut p = decode_ip(rest)?;
                p.vlan = vlan;
                p.inner_vlan = inner_vlan;
                return Ok(p);
            }
            0x8903 => {
                // Cisco FabricPath: FTag/TTL, then the original frame's
                // MAC addresses and ethertype.
                et = be16(rest, 14).ok_or(DecodeError::TruncatedLinkHeader)?;
                rest = rest.get(16..).unwrap_or(&[]);
            }
            0x88e7 => {
                // 802.1ah provider backbone bridging: the I-TAG, then the
                // customer's MAC addresses and ethertype.
                et = be16(rest, 16).ok_or(DecodeError::TruncatedLinkHeader)?;
                rest = rest.get(18..).unwrap_or(&[]);
            }
            0x8926 => {
                // Cisco VN-Tag: 4 bytes of tag, then the ethertype.
                et = be16(rest, 4).ok_or(DecodeError::TruncatedLinkHeader)?;
                rest = rest.get(6..).unwrap_or(&[]);
            }
            ET_ARP | ET_RARP | ET_PPPOE_DISCOVERY | 0x0000..=0x05dc => {
                return Err(DecodeError::NonIp { ethertype: et })
            }
            other => return Err(DecodeError::UnknownProtocol(u32::from(other))),
        }
    }
}

/// Decode a packet starting at its IPv4 or IPv6 header.
pub fn decode_ip(data: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let first = byte(data, 0).ok_or(DecodeError::TruncatedIp)?;
    match first >> 4 {
        4 => decode_v4(data),
        6 => decode_v6(data),
        v => Err(DecodeError::UnknownIpVersion(v)),
    }
}

fn ipv4_checksum_ok(hdr: &[u8]) -> bool {
    let mut sum: u32 = 0;
    for c in hdr.chunks_exact(2) {
        if let [a, b] = c {
            sum += u32::from(u16::from_be_bytes([*a, *b]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

fn decode_v4(data: &[u8]) -> Result<Packet<'_>, DecodeError> {
    if data.len() < 20 {
        return Err(DecodeError::TruncatedIp);
    }
    let (Some(vihl), Some(total), Some(id), Some(ff), Some(ttl), Some(proto)) = (
        byte(data, 0),
        be16(data, 2),
        be16(data, 4),
        be16(data, 6),
        byte(data, 8),
        byte(data, 9),
    ) else {
        return Err(DecodeError::TruncatedIp);
    };
    let hl = usize::from(vihl & 0x0f) * 4;
    if hl < 20 {
        return Err(DecodeError::InvalidIpHeaderSize);
    }
    // TCP segmentation offload leaves a zero total length in captures taken
    // on the sending host: use the captured length, as Zeek and Wireshark do.
    let len_zero = total == 0;
    let total_len = if len_zero {
        data.len().min(65535)
    } else {
        usize::from(total)
    };
    if total_len < hl {
        return Err(DecodeError::InvalidIpHeaderSize);
    }
    let Some(hdr) = data.get(..hl) else {
        return Err(DecodeError::TruncatedIp);
    };
    let (Some(s), Some(d)) = (data.get(12..16), data.get(16..20)) else {
        return Err(DecodeError::TruncatedIp);
    };
    let src = Ipv4Addr::new(s[0], s[1], s[2], s[3]);
    let dst = Ipv4Addr::new(d[0], d[1], d[2], d[3]);
    // Drop link-layer padding beyond the IP length.
    let ip = data.get(..total_len).unwrap_or(data);
    let payload = ip.get(hl..).unwrap_or(&[]);
    let payload_total = (total_len - hl) as u32;
    let more = ff & 0x2000 != 0;
    let offset = u32::from(ff & 0x1fff) * 8;
    let mut p = Packet {
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        ip_version: 4,
        ip_len: total_len as u32,
        ttl,
        proto,
        payload_len: 0,
        vlan: None,
        inner_vlan: None,
        ip_checksum_ok: ipv4_checksum_ok(hdr),
        ip_len_zero: len_zero,
        fragment: None,
        l4: L4::Fragment,
    };
    if more || offset != 0 {
        p.fragment = Some(FragInfo {
            id: u32::from(id),
            offset,
            more,
            dont_fragment: ff & 0x4000 != 0,
            ip_packet: ip,
            header_len: hl,
            data_offset: hl,
            next_header_at: 9,
        });
        return Ok(p);
    }
    let (l4, plen) = transport(proto, false, payload, payload_total)?;
    p.l4 = l4;
    p.payload_len = plen;
    Ok(p)
}

fn decode_v6(data: &[u8]) -> Result<Packet<'_>, DecodeError> {
    if data.len() < 40 {
        return Err(DecodeError::TruncatedIp);
    }
    let (Some(plen), Some(mut nh), Some(hlim), Some(s), Some(d)) = (
        be16(data, 4),
        byte(data, 6),
        byte(data, 7),
        data.get(8..24),
        data.get(24..40),
    ) else {
        return Err(DecodeError::TruncatedIp);
    };
    let mut sa = [0u8; 16];
    sa.copy_from_slice(s);
    let mut da = [0u8; 16];
    da.copy_from_slice(d);
    // A zero payload length means a jumbogram (or a broken header): use
    // what was captured.
    let ip_len = if plen == 0 {
        data.len()
    } else {
        40 + usize::from(plen)
    };
    let ip = data.get(..ip_len).unwrap_or(data);
    let mut p = Packet {
        src: IpAddr::V6(Ipv6Addr::from(sa)),
        dst: IpAddr::V6(Ipv6Addr::from(da)),
        ip_version: 6,
        ip_len: ip_len as u32,
        ttl: hlim,
        proto: nh,
        payload_len: 0,
        vlan: None,
        inner_vlan: None,
        ip_checksum_ok: true,
        ip_len_zero: false,
        fragment: None,
        l4: L4::Fragment,
    };
    let mut off = 40usize;
    let mut nh_at = 6usize;
    loop {
        match nh {
            // Hop-by-hop, routing, destination options, mobility.
            0 | 43 | 60 | 135 => {
                let (Some(next), Some(len)) = (byte(ip, off), byte(ip, off + 1)) else {
                    return Err(DecodeError::TruncatedIp);
                };
                nh_at = off;
                nh = next;
                off += (usize::from(len) + 1) * 8;
            }
            // Authentication header: length in 4-byte units, minus 2.
            51 => {
                let (Some(next), Some(len)) = (byte(ip, off), byte(ip, off + 1)) else {
                    return Err(DecodeError::TruncatedIp);
                };
                nh_at = off;
                nh = next;
                off += (usize::from(len) + 2) * 4;
            }
            44 => {
                let (Some(next), Some(fo), Some(id)) =
                    (byte(ip, off), be16(ip, off + 2), be32(ip, off + 4))
                else {
                    return Err(DecodeError::TruncatedIp);
                };
                let offset = u32::from(fo & 0xfff8);
                let more = fo & 1 != 0;
                if offset != 0 || more {
                    p.proto = next;
                    p.fragment = Some(FragInfo {
                        id,
                        offset,
                        more,
                        dont_fragment: false,
                        ip_packet: ip,
                        header_len: off,
                        data_offset: off + 8,
                        next_header_at: nh_at,
                    });
                    return Ok(p);
                }
                // Atomic fragment: just a header to skip.
                nh_at = off;
                nh = next;
                off += 8;
            }
            _ => break,
        }
        if off > ip_len {
            return Err(DecodeError::TruncatedIp);
        }
    }
    p.proto = nh;
    let payload = ip.get(off..).unwrap_or(&[]);
    let payload_total = ip_len.saturating_sub(off) as u32;
    let (l4, plen) = transport(nh, true, payload, payload_total)?;
    p.l4 = l4;
    p.payload_len = plen;
    Ok(p)
}

/// Decode the transport header. `data` is the captured IP payload,
/// `total` the IP payload length per the IP header.
fn transport(proto: u8, v6: bool, data: &[u8], total: u32) -> Result<(L4<'_>, u32), DecodeError> {
    match (proto, v6) {
        (6, _) => {
            let (Some(sp), Some(dp), Some(seq), Some(ack), Some(off), Some(flags), Some(win)) = (
                be16(data, 0),
                be16(data, 2),
                be32(data, 4),
                be32(data, 8),
                byte(data, 12),
                byte(data, 13),
                be16(data, 14),
            ) else {
                return Err(DecodeError::TruncatedHeader(proto));
            };
            if total < 20 {
                return Err(DecodeError::TruncatedHeader(proto));
            }
            let hl = usize::from(off >> 4) * 4;
            if hl < 20 || hl as u32 > total {
                return Err(DecodeError::BadTcpHeaderLen);
            }
            if hl > data.len() {
                return Err(DecodeError::TruncatedHeader(proto));
            }
            let payload_len = total - hl as u32;
            let payload = data.get(hl..).unwrap_or(&[]);
            let payload = payload.get(..payload_len as usize).unwrap_or(payload);
            Ok((
                L4::Tcp(TcpSeg {
                    src_port: sp,
                    dst_port: dp,
                    seq,
                    ack,
                    flags: TcpFlags(flags),
                    window: win,
                    payload,
                    payload_len,
                }),
                payload_len,
            ))
        }
        (17, _) => {
            let (Some(sp), Some(dp), Some(ulen)) = (be16(data, 0), be16(data, 2), be16(data, 4))
            else {
                return Err(DecodeError::TruncatedHeader(proto));
            };
            if total < 8 {
                return Err(DecodeError::TruncatedHeader(proto));
            }
            // UDP length 0 happens with jumbograms; otherwise it must cover the header.
            let ulen = u32::from(ulen);
            if ulen != 0 && ulen < 8 {
                return Err(DecodeError::BadUdpLength);
            }
            let mut payload_len = total - 8;
            if ulen >= 8 && ulen - 8 < payload_len {
                payload_len = ulen - 8;
            }
            let payload = data.get(8..).unwrap_or(&[]);
            let payload = payload.get(..payload_len as usize).unwrap_or(payload);
            let truncated = (payload.len() as u32) < payload_len || (ulen > total);
            Ok((
                L4::Udp {
                    src_port: sp,
                    dst_port: dp,
                    payload,
                    truncated,
                },
                payload_len,
            ))
        }
        (1, false) | (58, true) => {
            let (Some(t), Some(c)) = (byte(data, 0), byte(data, 1)) else {
                return Err(DecodeError::TruncatedHeader(proto));
            };
            if data.len() < 4 || total < 4 {
                return Err(DecodeError::TruncatedHeader(proto));
            }
            let payload = data.get(8..).unwrap_or(&[]);
            Ok((
                L4::Icmp {
                    v6,
                    icmp_type: t,
                    code: c,
                    payload,
                },
                total.saturating_sub(8),
            ))
        }
        _ => Ok((
            L4::Other {
                proto,
                payload: data,
            },
            total,
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests;
