use super::*;
use crate::testutil::*;

fn tcp_of(p: &Packet<'_>) -> TcpSeg<'static> {
    match p.l4 {
        L4::Tcp(t) => TcpSeg { payload: &[], ..t },
        other => panic!("expected TCP, got {other:?}"),
    }
}

fn check_v4_tcp(p: &Packet<'_>, payload: &[u8]) {
    assert_eq!(p.src, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(p.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
    assert_eq!(p.ip_version, 4);
    assert_eq!(p.ttl, 64);
    assert_eq!(p.proto, 6);
    assert!(p.ip_checksum_ok);
    assert_eq!(p.ip_len as usize, 40 + payload.len());
    let L4::Tcp(t) = p.l4 else {
        panic!("not tcp: {:?}", p.l4)
    };
    assert_eq!((t.src_port, t.dst_port, t.seq, t.ack), (1234, 80, 1000, 7));
    assert!(t.flags.psh() && t.flags.ack() && !t.flags.syn());
    assert_eq!(t.window, 8192);
    assert_eq!(t.payload, payload);
    assert_eq!(t.payload_len as usize, payload.len());
}

#[test]
fn ethernet_ipv4_tcp() {
    let ip = v4_tcp(b"hello");
    let mut frame = eth(0x0800, &ip);
    // Ethernet padding beyond the IP length must not leak into the payload.
    frame.extend_from_slice(&[0xee; 6]);
    let p = decode(LinkType::ETHERNET, &frame).unwrap();
    check_v4_tcp(&p, b"hello");
    assert_eq!(p.vlan, None);
}

#[test]
fn vlan_stacks() {
    let ip = v4_tcp(b"x");
    for tpids in [
        &[0x8100u16][..],
        &[0x88a8, 0x8100],
        &[0x9100, 0x8100],
        &[0x8100, 0x8100, 0x8100],
    ] {
        let mut inner = ip.clone();
        // Build from the inside out: the last tag carries the IP ethertype.
        let mut next = 0x0800u16;
        for (i, tpid) in tpids.iter().enumerate().rev() {
            let mut tag = (100 + i as u16).to_be_bytes().to_vec();
            tag.extend_from_slice(&next.to_be_bytes());
            tag.extend_from_slice(&inner);
            inner = tag;
            next = *tpid;
        }
        let frame = eth(next, &inner);
        let p = decode(LinkType::ETHERNET, &frame).unwrap();
        check_v4_tcp(&p, b"x");
        assert_eq!(p.vlan, Some(100));
        assert_eq!(p.inner_vlan, if tpids.len() > 1 { Some(101) } else { None });
        // A cut tag is a link-layer truncation.
        assert_eq!(
            decode(LinkType::ETHERNET, &frame[..16]),
            Err(DecodeError::TruncatedLinkHeader)
        );
    }
}

#[test]
fn non_ip_and_unknown_ethertypes() {
    let arp = eth(0x0806, &[0; 28]);
    let e = decode(LinkType::ETHERNET, &arp).unwrap_err();
    assert_eq!(e, DecodeError::NonIp { ethertype: 0x0806 });
    assert_eq!(e.weird_name(), "non_ip_packet");
    assert!(!e.is_weird());
    let llc = eth(0x0026, &[0x42; 38]);
    assert!(matches!(
        decode(LinkType::ETHERNET, &llc),
        Err(DecodeError::NonIp { .. })
    ));
    let lldp = eth(0x88cc, &[0; 20]);
    let e = decode(LinkType::ETHERNET, &lldp).unwrap_err();
    assert_eq!(e.weird_name(), "unknown_protocol");
    assert!(e.is_weird());
    assert_eq!(
        decode(LinkType::ETHERNET, &[0; 13]),
        Err(DecodeError::TruncatedLinkHeader)
    );
    let e = decode(LinkType(147), &arp).unwrap_err();
    assert_eq!(e.weird_name(), "unknown_link_type");
}

#[test]
fn linux_sll_and_sll2() {
    let ip = v4_tcp(b"sll");
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    check_v4_tcp(&decode(LinkType::LINUX_SLL, &sll).unwrap(), b"sll");
    assert_eq!(
        decode(LinkType::LINUX_SLL, &sll[..15]),
        Err(DecodeError::TruncatedLinkHeader)
    );

    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    check_v4_tcp(&decode(LinkType::LINUX_SLL2, &sll2).unwrap(), b"sll");
    assert_eq!(
        decode(LinkType::LINUX_SLL2, &sll2[..19]),
        Err(DecodeError::TruncatedLinkHeader)
    );
    // SLL carrying ARP.
    let mut arp = sll2.clone();
    arp[..2].copy_from_slice(&[0x08, 0x06]);
    assert!(matches!(
        decode(LinkType::LINUX_SLL2, &arp),
        Err(DecodeError::NonIp { .. })
    ));
}

#[test]
fn raw_ip_link_types() {
    let v4 = v4_tcp(b"raw");
    let v6 = ipv6(6, &tcp(1234, 80, 1000, 0x18, &[], b"raw"));
    for lt in [101u16, 228, 229, 12, 14] {
        check_v4_tcp(&decode(LinkType(lt), &v4).unwrap(), b"raw");
        let p = decode(LinkType(lt), &v6).unwrap();
        assert_eq!(p.ip_version, 6);
        assert_eq!(p.ip_len, 40 + 23);
    }
    assert_eq!(decode(LinkType::RAW, &[]), Err(DecodeError::TruncatedIp));
    assert_eq!(
        decode(LinkType::RAW, &[0x50; 30]),
        Err(DecodeError::UnknownIpVersion(5))
    );
}

#[test]
fn bsd_null_and_loop_both_byte_orders() {
    let v4 = v4_tcp(b"lo");
    let v6 = ipv6(17, &udp(53, 5353, b"q"));
    for lt in [LinkType::NULL, LinkType::LOOP] {
        for fam in [2u32.to_le_bytes(), 2u32.to_be_bytes()] {
            let mut f = fam.to_vec();
            f.extend_from_slice(&v4);
            check_v4_tcp(&decode(lt, &f).unwrap(), b"lo");
        }
        for fam in [24u32, 28, 30] {
            for bytes in [fam.to_le_bytes(), fam.to_be_bytes()] {
                let mut f = bytes.to_vec();
                f.extend_from_slice(&v6);
                let p = decode(lt, &f).unwrap();
                assert_eq!(p.ip_version, 6);
                assert!(matches!(
                    p.l4,
                    L4::Udp {
                        src_port: 53,
                        dst_port: 5353,
                        ..
                    }
                ));
            }
        }
        let mut ipx = 23u32.to_le_bytes().to_vec();
        ipx.extend_from_slice(&v4);
        assert!(matches!(
            decode(lt, &ipx),
            Err(DecodeError::UnknownProtocol(23))
        ));
        assert_eq!(
            decode(lt, &[2, 0, 0]),
            Err(DecodeError::TruncatedLinkHeader)
        );
    }
}

#[test]
fn ipv4_options_and_checksum() {
    let opts = [0x94, 0x04, 0, 0, 1, 1, 1, 0]; // router alert + NOPs/EOL
    let ip = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        6,
        1,
        0x4000,
        &opts,
        &tcp(1234, 80, 1000, 0x18, &[], b"opt"),
    );
    let p = decode_ip(&ip).unwrap();
    assert_eq!(p.ip_len, 28 + 23);
    let L4::Tcp(t) = p.l4 else { panic!() };
    assert_eq!(t.payload, b"opt");
    assert!(p.ip_checksum_ok);
    let mut bad = ip.clone();
    bad[8] = 1; // ttl change without checksum update
    assert!(!decode_ip(&bad).unwrap().ip_checksum_ok);
    // IHL < 5 and total length < header length.
    let mut b = ip.clone();
    b[0] = 0x44;
    assert_eq!(decode_ip(&b), Err(DecodeError::InvalidIpHeaderSize));
    let mut b = ip.clone();
    b[2..4].copy_from_slice(&20u16.to_be_bytes());
    assert_eq!(decode_ip(&b), Err(DecodeError::InvalidIpHeaderSize));
    // Options cut by the capture.
    assert_eq!(decode_ip(&ip[..24]), Err(DecodeError::TruncatedIp));
    assert_eq!(decode_ip(&ip[..19]), Err(DecodeError::TruncatedIp));
}

#[test]
fn tcp_options_and_snaplen_cut() {
    let opts = [2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0];
    let payload = [0xab; 100];
    let ip = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        6,
        1,
        0,
        &[],
        &tcp(1, 2, 3, 0x02, &opts, &payload),
    );
    let p = decode_ip(&ip).unwrap();
    let t = tcp_of(&p);
    assert!(t.flags.syn());
    assert_eq!(t.payload_len, 100);
    // Cut by snaplen in the payload: bytes present, length from IP.
    let cut = &ip[..20 + 32 + 10];
    let p = decode_ip(cut).unwrap();
    let L4::Tcp(t) = p.l4 else { panic!() };
    assert_eq!(t.payload, &payload[..10]);
    assert_eq!(t.payload_len, 100);
    assert_eq!(p.payload_len, 100);
    assert_eq!(p.ip_len, 152);
    // Cut inside the TCP options / fixed header.
    let e = decode_ip(&ip[..20 + 25]).unwrap_err();
    assert_eq!(e, DecodeError::TruncatedHeader(6));
    assert_eq!(e.weird_name(), "truncated_header");
    assert_eq!(
        decode_ip(&ip[..20 + 10]),
        Err(DecodeError::TruncatedHeader(6))
    );
    // Data offset below 5 words.
    let mut bad = ip.clone();
    bad[20 + 12] = 0x40;
    assert_eq!(decode_ip(&bad), Err(DecodeError::BadTcpHeaderLen));
    // Data offset beyond the segment according to the IP length.
    let small = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        6,
        1,
        0,
        &[],
        &tcp(1, 2, 3, 0x02, &[], &[]),
    );
    let mut bad = small.clone();
    bad[20 + 12] = 0xf0;
    assert_eq!(decode_ip(&bad), Err(DecodeError::BadTcpHeaderLen));
}

#[test]
fn udp_and_icmp() {
    let ip = ipv4(
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        17,
        9,
        0,
        &[],
        &udp(53, 1053, b"dnsdata"),
    );
    let p = decode_ip(&ip).unwrap();
    assert_eq!(p.payload_len, 7);
    assert_eq!(
        p.l4,
        L4::Udp {
            src_port: 53,
            dst_port: 1053,
            payload: b"dnsdata",
            truncated: false
        }
    );
    let p = decode_ip(&ip[..20 + 8 + 3]).unwrap();
    assert_eq!(
        p.l4,
        L4::Udp {
            src_port: 53,
            dst_port: 1053,
            payload: b"dns",
            truncated: true
        }
    );
    assert_eq!(decode_ip(&ip[..25]), Err(DecodeError::TruncatedHeader(17)));
    let mut bad = ip.clone();
    bad[24..26].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(decode_ip(&bad), Err(DecodeError::BadUdpLength));

    let echo = [8, 0, 0, 0, 0, 1, 0, 1, b'p', b'i', b'n', b'g'];
    let ip = ipv4([1, 2, 3, 4], [5, 6, 7, 8], 1, 9, 0, &[], &echo);
    let p = decode_ip(&ip).unwrap();
    assert_eq!(
        p.l4,
        L4::Icmp {
            v6: false,
            icmp_type: 8,
            code: 0,
            payload: b"ping"
        }
    );
    assert_eq!(p.payload_len, 4);
    assert_eq!(decode_ip(&ip[..22]), Err(DecodeError::TruncatedHeader(1)));

    let ns = [135, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0x80];
    let v = ipv6(58, &ns);
    let p = decode_ip(&v).unwrap();
    assert_eq!(
        p.l4,
        L4::Icmp {
            v6: true,
            icmp_type: 135,
            code: 0,
            payload: &[0xfe, 0x80]
        }
    );

    let gre = ipv4([1, 2, 3, 4], [5, 6, 7, 8], 47, 9, 0, &[], &[0, 0, 8, 0]);
    assert_eq!(
        decode_ip(&gre).unwrap().l4,
        L4::Other {
            proto: 47,
            payload: &[0, 0, 8, 0]
        }
    );
}

#[test]
fn ipv6_extension_headers() {
    let seg = tcp(1234, 80, 1000, 0x18, &[], b"v6");
    // hop-by-hop -> routing -> dest opts -> AH -> TCP
    let mut rest = ext(43, 0);
    rest.extend(ext(60, 1));
    rest.extend(ext(51, 0));
    let mut ah = vec![6, 4, 0, 0];
    ah.resize(24, 0); // (4 + 2) * 4 = 24 bytes
    rest.extend(ah);
    rest.extend(&seg);
    let ip = ipv6(0, &rest);
    let p = decode_ip(&ip).unwrap();
    assert_eq!(p.proto, 6);
    assert_eq!(p.src, IpAddr::V6(Ipv6Addr::from(V6A)));
    assert_eq!(p.ttl, 55);
    assert_eq!(p.ip_len as usize, ip.len());
    let L4::Tcp(t) = p.l4 else { panic!() };
    assert_eq!(t.payload, b"v6");
    // Cut inside the extension chain.
    assert_eq!(decode_ip(&ip[..40 + 9]), Err(DecodeError::TruncatedIp));
    // Extension header claiming to run past the datagram.
    let mut bad = ip.clone();
    bad[41] = 200;
    assert_eq!(decode_ip(&bad), Err(DecodeError::TruncatedIp));
    // Atomic fragment (offset 0, M=0) is skipped like any header.
    let mut rest = vec![17, 0, 0, 0, 0, 0, 0, 9];
    rest.extend(udp(1, 2, b"atomic"));
    let v = ipv6(44, &rest);
    let p = decode_ip(&v).unwrap();
    assert!(p.fragment.is_none());
    assert!(matches!(
        p.l4,
        L4::Udp {
            payload: b"atomic",
            ..
        }
    ));
    // No next header.
    let v = ipv6(59, &[]);
    let p = decode_ip(&v).unwrap();
    assert_eq!(
        p.l4,
        L4::Other {
            proto: 59,
            payload: &[]
        }
    );
    assert_eq!(
        decode_ip(&ipv6(59, &[])[..39]),
        Err(DecodeError::TruncatedIp)
    );
}

#[test]
fn fragments_are_flagged() {
    let ip = ipv4([1, 2, 3, 4], [5, 6, 7, 8], 17, 77, 0x2000, &[], &[0; 16]);
    let p = decode_ip(&ip).unwrap();
    assert_eq!(p.l4, L4::Fragment);
    let f = p.fragment.unwrap();
    assert_eq!(
        (f.id, f.offset, f.more, f.dont_fragment),
        (77, 0, true, false)
    );
    assert_eq!(f.ip_packet, &ip[..]);
    let ip = ipv4([1, 2, 3, 4], [5, 6, 7, 8], 17, 77, 3, &[], &[0; 16]);
    let f = decode_ip(&ip).unwrap().fragment.unwrap();
    assert_eq!((f.offset, f.more), (24, false));

    let mut rest = ext(44, 0);
    rest.extend([17, 0, 0x00, 0x09, 0, 0, 0, 42]); // offset 8, M=1
    rest.extend([0; 8]);
    let ip = ipv6(0, &rest);
    let p = decode_ip(&ip).unwrap();
    assert_eq!(p.proto, 17);
    let f = p.fragment.unwrap();
    assert_eq!((f.id, f.offset, f.more), (42, 8, true));
    assert_eq!(
        (f.header_len, f.data_offset, f.next_header_at),
        (48, 56, 40)
    );
}

#[test]
fn pppoe_and_mpls() {
    let ip = v4_tcp(b"ppp");
    let mut pppoe = vec![0x11, 0, 0, 1];
    pppoe.extend(((ip.len() + 2) as u16).to_be_bytes());
    pppoe.extend([0x00, 0x21]);
    pppoe.extend(&ip);
    check_v4_tcp(
        &decode(LinkType::ETHERNET, &eth(0x8864, &pppoe)).unwrap(),
        b"ppp",
    );
    let mut mpls = vec![0, 1, 0x10, 64, 0, 2, 0x11, 64]; // two labels, S bit on the second
    mpls.extend(&ip);
    check_v4_tcp(
        &decode(LinkType::ETHERNET, &eth(0x8847, &mpls)).unwrap(),
        b"ppp",
    );
    assert_eq!(
        decode(LinkType::ETHERNET, &eth(0x8847, &[0, 1, 0, 64])),
        Err(DecodeError::TruncatedLinkHeader)
    );
}

/// Deterministic xorshift64* generator.
pub(crate) struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn random_bytes_and_truncations_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seeds: Vec<(LinkType, Vec<u8>)> = vec![
        (LinkType::ETHERNET, eth(0x0800, &v4_tcp(b"seed"))),
        (LinkType::ETHERNET, eth(0x8100, &[0, 5, 0x86, 0xdd])),
        (
            LinkType::RAW,
            ipv6(0, &{
                let mut r = ext(44, 0);
                r.extend([6, 0, 0, 1, 0, 0, 0, 1]);
                r.extend(tcp(1, 2, 3, 4, &[], b"x"));
                r
            }),
        ),
        (
            LinkType::LINUX_SLL2,
            vec![
                0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        ),
        (LinkType::NULL, vec![2, 0, 0, 0, 0x45, 0, 0, 40]),
    ];
    let lts = [0u16, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9999];
    for i in 0..200_000u32 {
        let (lt, data) = if i % 2 == 0 {
            // Mutate a seed: flip bytes, then truncate.
            let (lt, s) = &seeds[rng.below(seeds.len())];
            let mut d = s.clone();
            for _ in 0..rng.below(4) + 1 {
                if !d.is_empty() {
                    let at = rng.below(d.len());
                    d[at] = rng.next() as u8;
                }
            }
            d.truncate(rng.below(d.len() + 1));
            (*lt, d)
        } else {
            let len = rng.below(120);
            let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Bias toward plausible headers.
            if len > 14 && rng.below(2) == 0 {
                d[12] = 0x08;
                d[13] = 0;
                d[14] = 0x45;
            }
            (LinkType(lts[rng.below(lts.len())]), d)
        };
        if let Ok(p) = decode(lt, &data) {
            // Views always lie inside the input.
            if let L4::Tcp(t) = p.l4 {
                assert!(t.payload.len() <= data.len());
                assert!(t.payload.len() as u32 <= t.payload_len);
            }
            if i % 1000 == 0 && seeds.len() < 64 {
                seeds.push((lt, data.clone()));
            }
        }
    }
}

#[test]
fn tso_zero_total_length_uses_captured_length() {
    let mut ip = v4_tcp(&[0x55; 3000]);
    ip[2] = 0;
    ip[3] = 0;
    let p = decode_ip(&ip).unwrap();
    assert!(p.ip_len_zero);
    assert_eq!(p.ip_len as usize, ip.len());
    let L4::Tcp(t) = p.l4 else { panic!() };
    assert_eq!(t.payload_len, 3000);
    assert!(!decode_ip(&v4_tcp(b"x")).unwrap().ip_len_zero);
}

#[test]
fn with_payload_rebuilds_the_packet_from_a_copy() {
    // A decoded packet moved to another thread as (fields, copied payload)
    // must equal the packet decoded from the frame, whatever its transport.
    let frames = [
        v4_tcp(b"GET / HTTP/1.1\r\n"),
        ipv4(
            [1, 2, 3, 4],
            [5, 6, 7, 8],
            17,
            9,
            0,
            &[],
            &udp(53, 1053, b"q"),
        ),
        ipv4(
            [1, 2, 3, 4],
            [5, 6, 7, 8],
            1,
            9,
            0,
            &[],
            &[8, 0, 0, 0, 0, 1, 0, 1, b'x'],
        ),
        ipv4([1, 2, 3, 4], [5, 6, 7, 8], 47, 9, 0, &[], b"gre bytes"),
        v4_tcp(b""),
    ];
    for ip in &frames {
        for cut in [ip.len(), ip.len() - 1] {
            let Ok(p) = decode_ip(&ip[..cut]) else {
                continue;
            };
            let copy = p.payload().to_vec();
            assert_eq!(p.with_payload(&copy), Some(p), "{p:?}");
        }
    }
    let frag = ipv4([1, 2, 3, 4], [5, 6, 7, 8], 17, 77, 0x2000, &[], &[0; 16]);
    let p = decode_ip(&frag).unwrap();
    assert!(p.payload().is_empty());
    assert_eq!(p.with_payload(&[]), None);
}
