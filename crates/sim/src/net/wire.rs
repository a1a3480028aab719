//! Wire formats the renderer emits: the classic pcap file and record
//! headers, Ethernet II, IPv4 (with fragmentation for large UDP
//! datagrams), TCP and UDP, with correct checksums.
//!
//! No state and no allocation: every function appends one frame to the
//! output `Vec` (one `extend_from_slice` for the headers, one for the
//! payload). Lengths are bounded by the callers (MSS ≤ 1460, UDP payload
//! ≤ [`MAX_UDP_PAYLOAD`]); the functions still saturate instead of
//! panicking if that promise is broken.

/// pcap magic (microsecond resolution), written little-endian.
const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
/// Snapshot length written in the file header.
const SNAPLEN: u32 = 262_144;
const LINKTYPE_ETHERNET: u32 = 1;

const ETH_LEN: usize = 14;
const IPV4_LEN: usize = 20;
const TCP_LEN: usize = 20;
const UDP_LEN: usize = 8;
const REC_LEN: usize = 16;
/// Largest IPv4 payload in one Ethernet frame (MTU 1500).
const IP_MTU_PAYLOAD: usize = 1500 - IPV4_LEN;
/// Fragment payload size: the largest multiple of 8 that fits the MTU.
const FRAG_PAYLOAD: usize = IP_MTU_PAYLOAD / 8 * 8;
/// Largest UDP payload an IPv4 datagram can carry.
pub(crate) const MAX_UDP_PAYLOAD: usize = 65_535 - IPV4_LEN - UDP_LEN;

pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;

/// TCP flag bits.
pub(crate) mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// Append the 24-byte classic pcap file header.
pub(crate) fn pcap_header(out: &mut Vec<u8>) {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&PCAP_MAGIC.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone 0, sigfigs 0
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    out.extend_from_slice(&h);
}

/// The two MAC addresses of the capture: the infected host and its
/// gateway (every remote server is behind the gateway).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Link {
    pub host: [u8; 6],
    pub gateway: [u8; 6],
}

/// The IPv4 header fields that vary per packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ip {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub id: u16,
    pub ttl: u8,
    pub dont_fragment: bool,
}

/// The TCP header fields (data offset and checksum are computed).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tcp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Already padded to a multiple of 4 bytes, at most 40.
    pub options: &'a [u8],
}

/// Sum of `data` as big-endian 16-bit words (a trailing odd byte is
/// padded with zero), not yet folded. Works 8 bytes at a time: a 32-bit
/// big-endian word is congruent to the sum of its two 16-bit halves
/// modulo 0xffff, which is all the Internet checksum looks at.
pub(crate) fn sum_be(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let v = u64::from_be_bytes(w);
        acc += (v >> 32) + (v & 0xffff_ffff);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        let v = u64::from_be_bytes(w);
        acc += (v >> 32) + (v & 0xffff_ffff);
    }
    acc
}

/// Fold a sum into the 16-bit one's-complement checksum value.
pub(crate) fn finish(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_sum(ip: &Ip, proto: u8, l4_len: usize) -> u64 {
    sum_be(&ip.src) + sum_be(&ip.dst) + u64::from(proto) + l4_len as u64
}

fn sat_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Where and when a frame goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct At {
    pub ts_us: i64,
    /// Sent by the infected host (else received from the gateway).
    pub from_host: bool,
}

/// What the IPv4 header says about its payload.
struct L3 {
    proto: u8,
    payload_len: usize,
    /// Flags (MF) and fragment offset, without DF.
    frag_field: u16,
}

/// Write record header, Ethernet and IPv4 header into `h`; returns the
/// offset of the IP payload.
fn l2_l3(h: &mut [u8], at: At, link: &Link, ip: &Ip, l3: L3) -> usize {
    let At { ts_us, from_host } = at;
    let L3 {
        proto,
        payload_len: ip_payload_len,
        frag_field,
    } = l3;
    // pcap record header. Times before the epoch or after 2106 cannot be
    // written in a classic pcap: they are clamped.
    let secs = ts_us.div_euclid(1_000_000);
    let (sec, usec) = if secs < 0 {
        (0, 0)
    } else if secs > i64::from(u32::MAX) {
        (u32::MAX, 999_999)
    } else {
        (secs as u32, ts_us.rem_euclid(1_000_000) as u32)
    };
    let frame_len = (ETH_LEN + IPV4_LEN + ip_payload_len) as u32;
    h[0..4].copy_from_slice(&sec.to_le_bytes());
    h[4..8].copy_from_slice(&usec.to_le_bytes());
    h[8..12].copy_from_slice(&frame_len.to_le_bytes());
    h[12..16].copy_from_slice(&frame_len.to_le_bytes());
    // Ethernet II
    let (dst, src) = if from_host {
        (link.gateway, link.host)
    } else {
        (link.host, link.gateway)
    };
    h[16..22].copy_from_slice(&dst);
    h[22..28].copy_from_slice(&src);
    h[28..30].copy_from_slice(&0x0800u16.to_be_bytes());
    // IPv4
    let i = REC_LEN + ETH_LEN;
    h[i] = 0x45;
    h[i + 1] = 0;
    h[i + 2..i + 4].copy_from_slice(&sat_u16(IPV4_LEN + ip_payload_len).to_be_bytes());
    h[i + 4..i + 6].copy_from_slice(&ip.id.to_be_bytes());
    let df = if ip.dont_fragment { 0x4000 } else { 0 };
    h[i + 6..i + 8].copy_from_slice(&(df | frag_field).to_be_bytes());
    h[i + 8] = ip.ttl;
    h[i + 9] = proto;
    h[i + 10..i + 12].copy_from_slice(&[0, 0]);
    h[i + 12..i + 16].copy_from_slice(&ip.src);
    h[i + 16..i + 20].copy_from_slice(&ip.dst);
    let c = finish(sum_be(&h[i..i + IPV4_LEN]));
    h[i + 10..i + 12].copy_from_slice(&c.to_be_bytes());
    i + IPV4_LEN
}

/// Append one TCP segment (record, Ethernet, IPv4, TCP, payload).
pub(crate) fn write_tcp(
    out: &mut Vec<u8>,
    at: At,
    link: &Link,
    ip: &Ip,
    tcp: &Tcp<'_>,
    payload: &[u8],
) {
    let mut h = [0u8; REC_LEN + ETH_LEN + IPV4_LEN + TCP_LEN + 40];
    let opt_len = tcp.options.len().min(40) / 4 * 4;
    let hdr_len = TCP_LEN + opt_len;
    let payload = &payload[..payload.len().min(IP_MTU_PAYLOAD - hdr_len)];
    let l4_len = hdr_len + payload.len();
    let l3 = L3 {
        proto: PROTO_TCP,
        payload_len: l4_len,
        frag_field: 0,
    };
    let t = l2_l3(&mut h, at, link, ip, l3);
    h[t..t + 2].copy_from_slice(&tcp.src_port.to_be_bytes());
    h[t + 2..t + 4].copy_from_slice(&tcp.dst_port.to_be_bytes());
    h[t + 4..t + 8].copy_from_slice(&tcp.seq.to_be_bytes());
    h[t + 8..t + 12].copy_from_slice(&tcp.ack.to_be_bytes());
    h[t + 12] = ((hdr_len / 4) as u8) << 4;
    h[t + 13] = tcp.flags;
    h[t + 14..t + 16].copy_from_slice(&tcp.window.to_be_bytes());
    // checksum (16..18) and urgent pointer (18..20) stay zero for now
    h[t + TCP_LEN..t + hdr_len].copy_from_slice(&tcp.options[..opt_len]);
    let end = t + hdr_len;
    let sum = pseudo_sum(ip, PROTO_TCP, l4_len) + sum_be(&h[t..end]) + sum_be(payload);
    h[t + 16..t + 18].copy_from_slice(&finish(sum).to_be_bytes());
    out.extend_from_slice(&h[..end]);
    out.extend_from_slice(payload);
}

/// A UDP datagram about to be written, possibly as several IPv4
/// fragments.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UdpDatagram<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    /// At most [`MAX_UDP_PAYLOAD`] bytes (longer payloads are cut).
    pub payload: &'a [u8],
}

impl UdpDatagram<'_> {
    fn payload(&self) -> &[u8] {
        &self.payload[..self.payload.len().min(MAX_UDP_PAYLOAD)]
    }

    /// How many IPv4 fragments (frames) the datagram needs.
    pub(crate) fn fragments(&self) -> usize {
        (UDP_LEN + self.payload().len()).div_ceil(FRAG_PAYLOAD)
    }

    /// The 8-byte UDP header with its checksum.
    pub(crate) fn header(&self, ip: &Ip) -> [u8; UDP_LEN] {
        let payload = self.payload();
        let len = sat_u16(UDP_LEN + payload.len());
        let mut u = [0u8; UDP_LEN];
        u[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        u[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        u[4..6].copy_from_slice(&len.to_be_bytes());
        let sum = pseudo_sum(ip, PROTO_UDP, usize::from(len)) + sum_be(&u) + sum_be(payload);
        let c = match finish(sum) {
            0 => 0xffff,
            c => c,
        };
        u[6..8].copy_from_slice(&c.to_be_bytes());
        u
    }
}

/// Append fragment `index` of `dgram` (index 0 carries the UDP header;
/// a datagram that fits one frame is written unfragmented). `header` is
/// [`UdpDatagram::header`] for the same `ip`.
pub(crate) fn write_udp_fragment(
    out: &mut Vec<u8>,
    at: At,
    link: &Link,
    ip: &Ip,
    dgram: &UdpDatagram<'_>,
    header: &[u8; UDP_LEN],
    index: usize,
) {
    let payload = dgram.payload();
    let total = UDP_LEN + payload.len();
    let start = (index * FRAG_PAYLOAD).min(total);
    let end = (start + FRAG_PAYLOAD).min(total);
    let more = end < total;
    let frag_field = (if more { 0x2000 } else { 0 }) | sat_u16(start / 8);
    let mut h = [0u8; REC_LEN + ETH_LEN + IPV4_LEN + UDP_LEN];
    let l3 = L3 {
        proto: PROTO_UDP,
        payload_len: end - start,
        frag_field,
    };
    let t = l2_l3(&mut h, at, link, ip, l3);
    if start == 0 {
        h[t..t + UDP_LEN].copy_from_slice(header);
        out.extend_from_slice(&h[..t + UDP_LEN]);
        out.extend_from_slice(&payload[..end.saturating_sub(UDP_LEN)]);
    } else {
        out.extend_from_slice(&h[..t]);
        out.extend_from_slice(&payload[start - UDP_LEN..end - UDP_LEN]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 1071 reference: 16-bit words, end-around carry.
    fn reference(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
            s += w;
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn checksum_matches_reference_on_all_lengths() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
        for n in 0..data.len() {
            assert_eq!(finish(sum_be(&data[..n])), reference(&data[..n]), "len {n}");
        }
        assert_eq!(finish(sum_be(&[0xff; 64])), reference(&[0xff; 64]));
    }

    /// An IPv4 header with a correct checksum sums to zero.
    #[test]
    fn ipv4_header_checksum_verifies() {
        let link = Link {
            host: [0, 0x0c, 0x29, 1, 2, 3],
            gateway: [0, 0x1a, 0xa1, 4, 5, 6],
        };
        let ip = Ip {
            src: [10, 0, 0, 5],
            dst: [192, 0, 2, 1],
            id: 0x1234,
            ttl: 128,
            dont_fragment: true,
        };
        let tcp = Tcp {
            src_port: 1025,
            dst_port: 80,
            seq: 1,
            ack: 2,
            flags: flags::ACK | flags::PSH,
            window: 256,
            options: &[],
        };
        let mut out = Vec::new();
        let at = At {
            ts_us: 1_000_000,
            from_host: true,
        };
        write_tcp(&mut out, at, &link, &ip, &tcp, b"hello");
        assert_eq!(out.len(), 16 + 14 + 20 + 20 + 5);
        let iph = &out[30..50];
        assert_eq!(finish(sum_be(iph)), 0);
        // TCP checksum over pseudo-header + segment verifies to zero too.
        let seg = &out[50..];
        let sum = pseudo_sum(&ip, PROTO_TCP, seg.len()) + sum_be(seg);
        assert_eq!(finish(sum), 0);
    }

    #[test]
    fn big_udp_datagram_is_fragmented_on_8_byte_boundaries() {
        let link = Link {
            host: [0; 6],
            gateway: [2; 6],
        };
        let ip = Ip {
            src: [10, 0, 0, 5],
            dst: [192, 0, 2, 1],
            id: 7,
            ttl: 128,
            dont_fragment: false,
        };
        let payload = vec![0xab; 4000];
        let d = UdpDatagram {
            src_port: 1030,
            dst_port: 53,
            payload: &payload,
        };
        assert_eq!(d.fragments(), 3);
        let hdr = d.header(&ip);
        let mut out = Vec::new();
        let mut carried = 0;
        for i in 0..d.fragments() {
            let before = out.len();
            let at = At {
                ts_us: 0,
                from_host: true,
            };
            write_udp_fragment(&mut out, at, &link, &ip, &d, &hdr, i);
            let f = &out[before..];
            let ip_len = usize::from(u16::from_be_bytes([f[32], f[33]]));
            let frag = u16::from_be_bytes([f[36], f[37]]);
            assert_eq!(usize::from(frag & 0x1fff) * 8, carried);
            assert_eq!(frag & 0x2000 != 0, i + 1 < d.fragments());
            carried += ip_len - 20;
        }
        assert_eq!(carried, 4008);
        let big = vec![0u8; 70_000];
        let d = UdpDatagram {
            src_port: 1,
            dst_port: 2,
            payload: &big,
        };
        assert_eq!(d.fragments(), 65_515usize.div_ceil(1480));
    }
}
