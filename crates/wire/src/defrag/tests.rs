use super::*;
use crate::packet::{decode_ip, L4};
use crate::testutil::*;

/// Split a UDP datagram (as the IPv4 payload) into IPv4 fragments of
/// `chunk` bytes (a multiple of 8).
fn v4_frags(id: u16, payload: &[u8], chunk: usize, df: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let end = (off + chunk).min(payload.len());
        let more = end < payload.len();
        let mut ff = (off / 8) as u16;
        if more {
            ff |= 0x2000;
        }
        if df {
            ff |= 0x4000;
        }
        out.push(ipv4(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            17,
            id,
            ff,
            &[],
            &payload[off..end],
        ));
        off = end;
    }
    out
}

fn big_udp(n: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
    udp(5000, 53, &data)
}

fn check_udp(dgram: &[u8], n: usize) {
    let p = decode_ip(dgram).unwrap();
    assert!(p.fragment.is_none());
    assert!(p.ip_checksum_ok || p.ip_version == 6);
    let L4::Udp {
        src_port,
        dst_port,
        payload,
        truncated,
    } = p.l4
    else {
        panic!("not udp: {:?}", p.l4)
    };
    assert_eq!((src_port, dst_port, truncated), (5000, 53, false));
    let want: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(payload, &want[..]);
}

#[test]
fn in_order_reassembly() {
    let mut d = Defragmenter::new(&WireConfig::default());
    let frags = v4_frags(1, &big_udp(3000), 1480, false);
    assert_eq!(frags.len(), 3);
    assert_eq!(d.push(Ts(1), &frags[0]).unwrap(), None);
    assert_eq!(d.push(Ts(2), &frags[1]).unwrap(), None);
    assert_eq!(d.in_flight(), 1);
    let out = d.push(Ts(3), &frags[2]).unwrap().expect("complete");
    assert_eq!(out.len(), 20 + 3008);
    check_udp(&out, 3000);
    assert_eq!(d.in_flight(), 0);
    assert_eq!(d.stats().reassembled, 1);
    assert!(d.notes().is_empty());
}

#[test]
fn out_of_order_and_interleaved() {
    let mut d = Defragmenter::new(&WireConfig::default());
    let a = v4_frags(1, &big_udp(2000), 512, false);
    let b = v4_frags(2, &big_udp(1000), 256, false);
    let mut got = Vec::new();
    // Reverse order for a, shuffled for b, interleaved.
    let order_b = [2, 0, 3, 1];
    for i in 0..a.len().max(b.len()) {
        if let Some(f) = a
            .get(a.len() - 1 - i.min(a.len() - 1))
            .filter(|_| i < a.len())
        {
            if let Some(out) = d.push(Ts(i as i64), f).unwrap() {
                got.push(out);
            }
        }
        if let Some(&j) = order_b.get(i) {
            if let Some(out) = d.push(Ts(i as i64), &b[j]).unwrap() {
                got.push(out);
            }
        }
    }
    assert_eq!(got.len(), 2);
    let lens: Vec<usize> = got.iter().map(|g| g.len()).collect();
    assert!(lens.contains(&(20 + 2008)) && lens.contains(&(20 + 1008)));
    for g in &got {
        check_udp(g, g.len() - 28);
    }
}

#[test]
fn overlaps_are_noted_first_wins() {
    let mut d = Defragmenter::new(&WireConfig::default());
    let payload = big_udp(40); // 48 bytes
    let f0 = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        17,
        9,
        0x2000,
        &[],
        &payload[..24],
    );
    // Same bytes again over 16..32: overlap with identical content.
    let f1 = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        17,
        9,
        0x2000 | 2,
        &[],
        &payload[16..32],
    );
    let mut changed = payload[24..48].to_vec();
    changed[0] ^= 0xff; // overlaps 24..32 with different bytes
    let f2 = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, 9, 3, &[], &changed);
    assert_eq!(d.push(Ts(0), &f0).unwrap(), None);
    assert_eq!(d.push(Ts(0), &f1).unwrap(), None);
    assert_eq!(d.notes(), &[DecodeError::FragmentOverlap]);
    let out = d.push(Ts(0), &f2).unwrap().expect("complete");
    assert_eq!(d.notes(), &[DecodeError::FragmentInconsistency]);
    // First wins: byte 24 comes from f1, not from the changed f2.
    check_udp(&out, 40);
    assert_eq!(d.stats().overlaps, 1);
    assert_eq!(d.stats().inconsistencies, 1);
}

#[test]
fn conflicting_ends_drop_the_datagram() {
    let mut d = Defragmenter::new(&WireConfig::default());
    let last = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, 3, 2, &[], &[0; 8]); // end 24
    let beyond = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        17,
        3,
        0x2000 | 3,
        &[],
        &[0; 8],
    ); // 24..32
    assert_eq!(d.push(Ts(0), &last).unwrap(), None);
    let e = d.push(Ts(0), &beyond).unwrap_err();
    assert_eq!(e.weird_name(), "fragment_inconsistency");
    assert_eq!(d.in_flight(), 0);
}

#[test]
fn excessively_large_and_df() {
    let mut d = Defragmenter::new(&WireConfig::default());
    // Offset 8189*8 = 65512 plus 32 bytes > 65535.
    let f = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, 4, 8189, &[], &[0; 32]);
    let e = d.push(Ts(0), &f).unwrap_err();
    assert_eq!(e.weird_name(), "excessively_large_fragment");
    assert_eq!(d.stats().too_large, 1);
    // A fragment with DF set is noted but still reassembled.
    let frags = v4_frags(5, &big_udp(100), 64, true);
    assert_eq!(d.push(Ts(0), &frags[0]).unwrap(), None);
    assert_eq!(d.notes(), &[DecodeError::FragmentWithDf]);
    assert_eq!(d.notes()[0].weird_name(), "fragment_with_DF");
    let out = d.push(Ts(0), &frags[1]).unwrap().unwrap();
    check_udp(&out, 100);
    // Rebuilt header keeps DF, clears MF/offset.
    assert_eq!(out[6] & 0xe0, 0x40);
    assert_eq!(d.push(Ts(0), &v4_tcp(b"x")), Err(DecodeError::NotAFragment));
}

#[test]
fn caps_table_size_fragment_count_timeout() {
    let cfg = WireConfig {
        max_datagrams_in_flight: 4,
        max_fragments_per_datagram: 3,
        frag_timeout_us: 1_000_000,
        ..WireConfig::default()
    };
    let mut d = Defragmenter::new(&cfg);
    // Too many datagrams: the oldest are evicted, the table stays bounded.
    for id in 0..10u16 {
        let f = &v4_frags(id, &big_udp(100), 64, false)[0];
        assert_eq!(d.push(Ts(i64::from(id)), f).unwrap(), None);
        assert!(d.in_flight() <= 4);
    }
    assert_eq!(d.stats().evicted, 6);
    // Too many fragments for one datagram.
    let frags = v4_frags(100, &big_udp(200), 8, false);
    let mut err = None;
    for f in &frags {
        if let Err(e) = d.push(Ts(20), f) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(DecodeError::TooManyFragments));
    assert_eq!(d.stats().too_many_fragments, 1);
    // Timeout: a fragment 2 s of capture time later expires the others.
    let f = &v4_frags(200, &big_udp(100), 64, false)[0];
    d.push(Ts(2_000_100), f).unwrap();
    assert_eq!(d.in_flight(), 1);
    assert!(d.stats().timed_out >= 3);
}

#[test]
fn truncated_fragment_is_rejected() {
    let mut d = Defragmenter::new(&WireConfig::default());
    let f = &v4_frags(1, &big_udp(100), 64, false)[0];
    assert_eq!(d.push(Ts(0), &f[..50]), Err(DecodeError::TruncatedFragment));
    assert_eq!(d.stats().truncated, 1);
}

/// IPv6 fragments with a hop-by-hop header before the fragment header.
fn v6_frags(id: u32, payload: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let end = (off + chunk).min(payload.len());
        let more = end < payload.len();
        let mut rest = ext(44, 0);
        let fo = (off as u16) | u16::from(more);
        rest.extend([17, 0]);
        rest.extend(fo.to_be_bytes());
        rest.extend(id.to_be_bytes());
        rest.extend(&payload[off..end]);
        out.push(ipv6(0, &rest));
        off = end;
    }
    out
}

#[test]
fn ipv6_reassembly_rewrites_next_header() {
    let mut d = Defragmenter::new(&WireConfig::default());
    let frags = v6_frags(0xdead, &big_udp(1500), 512);
    assert_eq!(frags.len(), 3);
    assert_eq!(d.push(Ts(0), &frags[2]).unwrap(), None);
    assert_eq!(d.push(Ts(0), &frags[0]).unwrap(), None);
    let out = d.push(Ts(0), &frags[1]).unwrap().unwrap();
    assert_eq!(out.len(), 40 + 8 + 1508);
    check_udp(&out, 1500);
    let p = decode_ip(&out).unwrap();
    assert_eq!(p.ip_len as usize, out.len());
}

/// One IPv4 fragment carrying `payload[a..b]`.
fn v4_piece(id: u16, payload: &[u8], a: usize, b: usize) -> Vec<u8> {
    let mut ff = (a / 8) as u16;
    if b < payload.len() {
        ff |= 0x2000;
    }
    ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        17,
        id,
        ff,
        &[],
        &payload[a..b],
    )
}

#[test]
fn fragment_spanning_gaps_and_existing_data() {
    let mut d = Defragmenter::new(&WireConfig::default());
    let payload = big_udp(92); // 100 bytes
    assert_eq!(d.push(Ts(0), &v4_piece(1, &payload, 16, 24)).unwrap(), None);
    assert_eq!(d.push(Ts(0), &v4_piece(1, &payload, 40, 48)).unwrap(), None);
    // Covers a gap, existing data, a gap, existing data, a gap.
    assert_eq!(d.push(Ts(0), &v4_piece(1, &payload, 8, 64)).unwrap(), None);
    assert_eq!(d.notes(), &[DecodeError::FragmentOverlap]);
    assert_eq!(
        d.push(Ts(0), &v4_piece(1, &payload, 64, 100)).unwrap(),
        None
    );
    let out = d
        .push(Ts(0), &v4_piece(1, &payload, 0, 8))
        .unwrap()
        .unwrap();
    check_udp(&out, 92);
}

/// Randomized test against a simple model: random overlapping pieces of
/// the same datagram in random order must rebuild it byte for byte, with
/// overlaps noted as `fragment_overlap`, never as inconsistencies.
#[test]
fn randomized_overlapping_pieces() {
    let mut rng = crate::packet::tests::Rng(99);
    let mut d = Defragmenter::new(&WireConfig::default());
    for round in 0..500u16 {
        let n = 16 + rng.below(3000);
        let payload = big_udp(n);
        let len = payload.len();
        let units = len.div_ceil(8);
        // A covering of the datagram plus random extra pieces.
        let mut pieces = Vec::new();
        let mut a = 0;
        while a < len {
            let mut b = ((a / 8 + 1 + rng.below(40)) * 8).min(len);
            if a == 0 && b == len {
                b = (len - 1) / 8 * 8; // at least two pieces
            }
            pieces.push((a, b));
            a = b;
        }
        for _ in 0..rng.below(6) {
            let a = rng.below(units) * 8;
            let b = ((a / 8 + 1 + rng.below(40)) * 8).min(len);
            if b < len || rng.below(2) == 0 {
                pieces.push((a, b.max(a + 1).min(len)));
            }
        }
        if pieces.len() < 2 {
            continue;
        }
        for i in (1..pieces.len()).rev() {
            pieces.swap(i, rng.below(i + 1));
        }
        let mut done = false;
        for &(a, b) in &pieces {
            if done {
                break;
            }
            if a == 0 && b == len {
                continue; // not a fragment
            }
            match d.push(Ts(i64::from(round)), &v4_piece(round, &payload, a, b)) {
                Ok(Some(out)) => {
                    check_udp(&out, n);
                    done = true;
                }
                Ok(None) => {}
                Err(e) => panic!("round {round} piece {a}..{b}: {e:?}"),
            }
            assert!(!d.notes().contains(&DecodeError::FragmentInconsistency));
        }
        assert!(done, "round {round}: {pieces:?}");
        assert_eq!(d.in_flight(), 0);
    }
    assert_eq!(d.stats().inconsistencies, 0);
}

/// Randomized test against a simple model: random fragmentation, random
/// order, random duplicates; the datagram must come out exactly once and
/// intact.
#[test]
fn randomized_against_model() {
    let mut rng = crate::packet::tests::Rng(12345);
    let mut d = Defragmenter::new(&WireConfig::default());
    for round in 0..300u16 {
        let n = 1 + rng.below(4000);
        let payload = big_udp(n);
        let mut frags = v4_frags(round, &payload, 8 * (1 + rng.below(100)), false);
        if frags.len() == 1 {
            continue; // not fragmented at all
        }
        for _ in 0..rng.below(3) {
            let dup = frags[rng.below(frags.len())].clone();
            frags.push(dup);
        }
        for i in (1..frags.len()).rev() {
            frags.swap(i, rng.below(i + 1));
        }
        let mut outs = 0;
        for f in &frags {
            match d.push(Ts(i64::from(round)), f) {
                Ok(Some(out)) => {
                    check_udp(&out, n);
                    outs += 1;
                }
                Ok(None) => {}
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        // Duplicates arriving after completion start a new (incomplete)
        // datagram, but the payload came out exactly once before that.
        assert!(outs >= 1, "round {round}");
    }
}

#[test]
fn random_fragments_never_panic() {
    let mut rng = crate::packet::tests::Rng(777);
    let cfg = WireConfig {
        max_datagrams_in_flight: 16,
        ..WireConfig::default()
    };
    let mut d = Defragmenter::new(&cfg);
    let seeds: Vec<Vec<u8>> = v4_frags(1, &big_udp(300), 64, true)
        .into_iter()
        .chain(v6_frags(2, &big_udp(300), 64))
        .collect();
    for i in 0..50_000i64 {
        let mut f = seeds[rng.below(seeds.len())].clone();
        for _ in 0..rng.below(3) {
            let at = rng.below(f.len());
            f[at] = rng.next() as u8;
        }
        f.truncate(rng.below(f.len() + 1));
        if let Ok(Some(out)) = d.push(Ts(i), &f) {
            let _ = decode_ip(&out);
        }
        assert!(d.in_flight() <= 16);
    }
}
