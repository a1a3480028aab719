use super::*;
use std::net::Ipv4Addr;

#[derive(Default)]
struct Rec {
    data: Vec<(Uid, Dir, Vec<u8>)>,
    gaps: Vec<(Uid, Dir, u64)>,
    conns: Vec<Conn>,
    flip_first_udp: bool,
}

impl StreamHandler for Rec {
    type State = ();
    fn open(&mut self, _info: &ConnInfo) {}
    fn data(&mut self, _st: &mut (), info: &ConnInfo, dir: Dir, _ts: Ts, data: &[u8]) -> Verdict {
        if self.flip_first_udp && info.id.proto == Transport::Udp {
            self.flip_first_udp = false;
            return Verdict::FlipRoles;
        }
        match self.data.last_mut() {
            Some((u, d, v)) if *u == info.uid && *d == dir => v.extend_from_slice(data),
            _ => self.data.push((info.uid, dir, data.to_vec())),
        }
        Verdict::Continue
    }
    fn gap(&mut self, _st: &mut (), info: &ConnInfo, dir: Dir, _ts: Ts, len: u64) {
        self.gaps.push((info.uid, dir, len));
    }
    fn close(&mut self, _st: (), _info: &ConnInfo, rec: Conn) {
        self.conns.push(rec);
    }
}

impl Rec {
    fn stream(&self, dir: Dir) -> Vec<u8> {
        let mut v = Vec::new();
        for (_, d, b) in &self.data {
            if *d == dir {
                v.extend_from_slice(b);
            }
        }
        v
    }
}

const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

struct Pkt {
    ts: i64,
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
    wire_len: Option<u32>,
}

fn p(ts: i64, from_client: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Pkt {
    Pkt {
        ts,
        from_client,
        seq,
        ack,
        flags,
        payload: payload.to_vec(),
        wire_len: None,
    }
}

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;
const PA: u8 = TcpFlags::PSH | TcpFlags::ACK;

fn feed(t: &mut FlowTable<Rec>, pkts: &[Pkt], cport: u16, sport: u16) {
    for k in pkts {
        let (src, dst, sp, dp) = if k.from_client {
            (ip(C), ip(S), cport, sport)
        } else {
            (ip(S), ip(C), sport, cport)
        };
        let pl = k.wire_len.unwrap_or(k.payload.len() as u32);
        let v = PacketView {
            ts: Ts(k.ts),
            src,
            dst,
            ip_len: pl.saturating_add(40),
            l4: L4View::Tcp {
                src_port: sp,
                dst_port: dp,
                seq: k.seq,
                ack: k.ack,
                flags: TcpFlags(k.flags),
                window: 1000,
                payload: &k.payload,
                payload_len: pl,
            },
        };
        t.process(&v);
    }
}

fn run(pkts: &[Pkt]) -> Rec {
    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 1);
    feed(&mut t, pkts, 40000, 80);
    t.finish().0
}

fn handshake(isn_c: u32, isn_s: u32) -> Vec<Pkt> {
    vec![
        p(1_000_000, true, isn_c, 0, SYN, b""),
        p(
            1_000_100,
            false,
            isn_s,
            isn_c.wrapping_add(1),
            SYN | ACK,
            b"",
        ),
        p(
            1_000_200,
            true,
            isn_c.wrapping_add(1),
            isn_s.wrapping_add(1),
            ACK,
            b"",
        ),
    ]
}

#[test]
fn full_connection_sf() {
    let c = 1000u32;
    let s = 5000u32;
    let mut v = handshake(c, s);
    v.push(p(
        1_001_000,
        true,
        c + 1,
        s + 1,
        PA,
        b"GET / HTTP/1.1\r\n\r\n",
    ));
    v.push(p(
        1_002_000,
        false,
        s + 1,
        c + 19,
        PA,
        b"HTTP/1.1 200 OK\r\n\r\n",
    ));
    v.push(p(1_003_000, true, c + 19, s + 20, FIN | ACK, b""));
    v.push(p(1_004_000, false, s + 20, c + 20, FIN | ACK, b""));
    v.push(p(1_005_000, true, c + 20, s + 21, ACK, b""));
    let r = run(&v);
    assert_eq!(r.stream(Dir::Orig), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.stream(Dir::Resp), b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(r.conns.len(), 1);
    let k = &r.conns[0];
    assert_eq!(k.conn_state, ConnState::SF);
    assert_eq!(k.history, "ShADdFf");
    assert_eq!(k.orig_bytes, Some(18));
    assert_eq!(k.resp_bytes, Some(19));
    assert_eq!(k.missed_bytes, 0);
    assert_eq!(k.orig_pkts, 5);
    assert_eq!(k.resp_pkts, 3);
    assert_eq!(k.meta.id.orig_p, 40000);
    // As in Zeek, the last ACK after both FINs does not extend the
    // duration (it ends at the second FIN).
    assert_eq!(k.duration, Some(Duration(4_000)));
}

#[test]
fn out_of_order_and_overlap_first_wins() {
    let c = 100u32;
    let s = 900u32;
    let mut v = handshake(c, s);
    v.push(p(2_000_000, true, c + 6, s + 1, PA, b"world"));
    v.push(p(2_000_001, true, c + 1, s + 1, PA, b"hello"));
    // Overlapping retransmission with different bytes: first copy wins.
    v.push(p(2_000_002, true, c + 5, s + 1, PA, b"XXXXXX!"));
    let r = run(&v);
    assert_eq!(r.stream(Dir::Orig), b"helloworld!");
    assert!(r.gaps.is_empty());
    assert!(r.conns[0].history.contains('T'));
}

#[test]
fn sequence_wraparound() {
    let c = u32::MAX - 3;
    let s = 7u32;
    let mut v = handshake(c, s);
    v.push(p(2_000_000, true, c.wrapping_add(1), s + 1, PA, b"abcdef"));
    v.push(p(2_000_001, true, c.wrapping_add(7), s + 1, PA, b"ghij"));
    let r = run(&v);
    assert_eq!(r.stream(Dir::Orig), b"abcdefghij");
    assert_eq!(r.conns[0].orig_bytes, Some(10));
}

#[test]
fn ack_beyond_hole_declares_gap() {
    let c = 0u32;
    let s = 0u32;
    let mut v = handshake(c, s);
    v.push(p(2_000_000, true, 1, 1, PA, b"aaaa"));
    // Bytes 5..9 lost in the capture.
    v.push(p(2_000_002, true, 9, 1, PA, b"cccc"));
    v.push(p(2_000_003, false, 1, 13, ACK, b""));
    let r = run(&v);
    assert_eq!(r.gaps.len(), 1);
    assert_eq!(r.gaps[0].2, 4);
    assert_eq!(r.stream(Dir::Orig), b"aaaacccc");
    assert_eq!(r.conns[0].missed_bytes, 4);
    assert!(r.conns[0].history.contains('G'));
}

#[test]
fn snaplen_cut_payload_is_a_gap() {
    let mut v = handshake(0, 0);
    let mut cut = p(2_000_000, true, 1, 1, PA, b"abc");
    cut.wire_len = Some(10);
    v.push(cut);
    v.push(p(2_000_001, true, 11, 1, PA, b"next"));
    let r = run(&v);
    assert_eq!(r.gaps[0].2, 7);
    assert_eq!(r.stream(Dir::Orig), b"abcnext");
    assert_eq!(r.conns[0].missed_bytes, 7);
}

#[test]
fn unfilled_hole_at_end_is_flushed() {
    let mut v = handshake(0, 0);
    v.push(p(2_000_000, true, 1, 1, PA, b"ab"));
    v.push(p(2_000_001, true, 10, 1, PA, b"zz"));
    let r = run(&v);
    assert_eq!(r.stream(Dir::Orig), b"abzz");
    assert_eq!(r.gaps, vec![(r.conns[0].meta.uid, Dir::Orig, 7)]);
}

#[test]
fn syn_ack_first_flips_roles() {
    // Capture starts at the SYN-ACK from the server.
    let v = vec![
        p(1, false, 500, 101, SYN | ACK, b""),
        p(2, true, 101, 501, ACK, b""),
        p(3, true, 101, 501, PA, b"hi"),
    ];
    let r = run(&v);
    let k = &r.conns[0];
    assert_eq!(k.meta.id.orig_h, ip(C));
    assert_eq!(k.meta.id.resp_p, 80);
    assert!(k.history.starts_with("^h"), "{}", k.history);
    assert_eq!(r.stream(Dir::Orig), b"hi");
}

#[test]
fn midstream_from_server_port_flips() {
    let v = vec![
        p(1, false, 500, 101, PA, b"HTTP/1.1 200 OK\r\n"),
        p(2, true, 101, 518, ACK, b""),
    ];
    let r = run(&v);
    let k = &r.conns[0];
    assert_eq!(k.meta.id.resp_p, 80);
    assert_eq!(k.meta.id.orig_p, 40000);
    assert_eq!(r.stream(Dir::Resp), b"HTTP/1.1 200 OK\r\n");
    assert_eq!(k.history, "^dA");
}

#[test]
fn rejected_and_unanswered() {
    let r = run(&[
        p(1, true, 10, 0, SYN, b""),
        p(2, false, 0, 11, RST | ACK, b""),
    ]);
    assert_eq!(r.conns[0].conn_state, ConnState::REJ);
    assert_eq!(r.conns[0].history, "Sr");
    let r = run(&[
        p(1, true, 10, 0, SYN, b""),
        p(3_000_000, true, 10, 0, SYN, b""),
    ]);
    assert_eq!(r.conns.len(), 1);
    assert_eq!(r.conns[0].conn_state, ConnState::S0);
    assert_eq!(r.conns[0].history, "S");
}

#[test]
fn new_syn_after_close_is_a_new_connection() {
    let mut v = handshake(0, 0);
    v.push(p(1_100_000, true, 1, 1, FIN | ACK, b""));
    v.push(p(1_100_001, false, 1, 2, FIN | ACK, b""));
    v.push(p(1_200_000, true, 7777, 0, SYN, b""));
    let r = run(&v);
    assert_eq!(r.conns.len(), 2);
    assert_eq!(r.conns[0].conn_state, ConnState::SF);
    assert_eq!(r.conns[1].conn_state, ConnState::S0);
    assert_ne!(r.conns[0].meta.uid, r.conns[1].meta.uid);
}

fn udp(t: &mut FlowTable<Rec>, ts: i64, src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, pl: &[u8]) {
    t.process(&PacketView {
        ts: Ts(ts),
        src: ip(src),
        dst: ip(dst),
        ip_len: 28 + pl.len() as u32,
        l4: L4View::Udp {
            src_port: sp,
            dst_port: dp,
            payload: pl,
        },
    });
}

#[test]
fn udp_timeouts_run_on_capture_time() {
    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 1);
    udp(&mut t, 0, C, 5555, S, 53, b"q1");
    udp(&mut t, 10, S, 53, C, 5555, b"answer");
    // 61 s of capture time later: the first conn has expired.
    udp(&mut t, 61_000_000, C, 5555, S, 53, b"q2");
    let (h, stats) = t.finish();
    assert_eq!(h.conns.len(), 2);
    assert_eq!(stats.timeouts, 1);
    assert_eq!(h.conns[0].conn_state, ConnState::SF);
    assert_eq!(h.conns[0].orig_bytes, Some(2));
    assert_eq!(h.conns[0].resp_bytes, Some(6));
    assert_eq!(h.conns[1].conn_state, ConnState::S0);
    assert_eq!(h.conns[1].duration, None);
}

#[test]
fn handler_can_flip_first_datagram() {
    let mut t = FlowTable::new(
        FlowConfig::default(),
        Rec {
            flip_first_udp: true,
            ..Rec::default()
        },
        1,
    );
    udp(&mut t, 0, S, 53, C, 53, b"reply");
    let (h, _) = t.finish();
    let k = &h.conns[0];
    assert_eq!(k.meta.id.orig_h, ip(C));
    assert_eq!(k.resp_pkts, 1);
    assert_eq!(k.orig_pkts, 0);
    assert_eq!(k.conn_state, ConnState::SHR);
    // The datagram is handed over again from its new side.
    assert_eq!(h.stream(Dir::Resp), b"reply");
}

#[test]
fn ooo_cap_forces_gap_and_counts() {
    let cfg = FlowConfig {
        max_ooo_segments: 2,
        ..FlowConfig::default()
    };
    let mut t = FlowTable::new(cfg, Rec::default(), 1);
    let mut v = handshake(0, 0);
    v.push(p(2, true, 11, 1, PA, b"b"));
    v.push(p(3, true, 21, 1, PA, b"c"));
    v.push(p(4, true, 31, 1, PA, b"d"));
    feed(&mut t, &v, 1234, 80);
    let (h, stats) = t.finish();
    assert_eq!(stats.ooo_cap_hits, 1);
    assert_eq!(h.stream(Dir::Orig), b"bcd");
    assert_eq!(h.conns[0].missed_bytes, 10 + 9 + 9);
}

#[test]
fn table_cap_evicts() {
    let cfg = FlowConfig {
        max_connections: 10,
        ..FlowConfig::default()
    };
    let mut t = FlowTable::new(cfg, Rec::default(), 1);
    for i in 0..50u16 {
        udp(&mut t, i64::from(i), C, 10000 + i, S, 9999, b"x");
    }
    assert!(t.len() <= 10);
    let (h, stats) = t.finish();
    assert_eq!(h.conns.len(), 50);
    assert_eq!(stats.table_evictions, 40);
}

/// Randomised reassembly against a simple model: any segmentation,
/// order and duplication of a stream must deliver exactly the stream.
#[test]
fn randomized_reassembly_matches_model() {
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..300 {
        let len = (next() % 3000) as usize + 1;
        let stream: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let isn = next() as u32;
        let mut segs = Vec::new();
        let mut off = 0usize;
        while off < len {
            let l = ((next() % 200) as usize + 1).min(len - off);
            segs.push((off, l));
            off += l;
        }
        // Duplicate some, overlap some, then shuffle locally.
        let extra: Vec<(usize, usize)> = segs
            .iter()
            .filter(|_| next() % 4 == 0)
            .map(|&(o, l)| (o.saturating_sub(3), (l + 5).min(len - o.saturating_sub(3))))
            .collect();
        segs.extend(extra);
        for i in 0..segs.len() {
            let j = (i + (next() % 4) as usize).min(segs.len() - 1);
            segs.swap(i, j);
        }
        let mut v = vec![p(1, true, isn, 0, SYN, b"")];
        for (k, &(o, l)) in segs.iter().enumerate() {
            v.push(p(
                2 + k as i64,
                true,
                isn.wrapping_add(1).wrapping_add(o as u32),
                1,
                PA,
                &stream[o..o + l],
            ));
        }
        let r = run(&v);
        assert_eq!(r.stream(Dir::Orig), stream, "round {round}");
        assert!(r.gaps.is_empty(), "round {round}");
    }
}

#[test]
fn garbage_sequence_numbers_do_not_panic() {
    let mut rng = 99u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 1);
    for i in 0..5000 {
        let n = next();
        let payload = vec![0u8; (n % 64) as usize];
        let k = Pkt {
            ts: i,
            from_client: n & 1 == 0,
            seq: (next()) as u32,
            ack: next() as u32,
            flags: (n >> 8) as u8,
            payload,
            wire_len: if n % 7 == 0 { Some(u32::MAX) } else { None },
        };
        feed(&mut t, std::slice::from_ref(&k), 1000 + (n % 3) as u16, 80);
    }
    let (h, _) = t.finish();
    assert!(!h.conns.is_empty());
}

/// Review finding: buffered bytes came first and must win over a later,
/// longer copy and over an in-order segment that overlaps them.
#[test]
fn first_copy_wins_over_later_and_in_order_overlaps() {
    let mut v = handshake(0, 0);
    v.push(p(2, true, 11, 1, PA, b"AAAA"));
    v.push(p(3, true, 11, 1, PA, b"BBBBBB"));
    v.push(p(4, true, 1, 1, PA, b"0123456789"));
    let r = run(&v);
    assert_eq!(r.stream(Dir::Orig), b"0123456789AAAABB");
}

/// Review finding: the out-of-order cap must hold after every segment,
/// even when big segments keep arriving behind many small holes.
#[test]
fn ooo_byte_cap_holds_after_every_segment() {
    let cfg = FlowConfig::default();
    let cap = cfg.max_ooo_bytes;
    let mut t = FlowTable::new(cfg, Rec::default(), 1);
    feed(&mut t, &handshake(0, 0), 40000, 80);
    let mut off = 1_000u32;
    for i in 0..511 {
        feed(&mut t, &[p(10 + i, true, off, 1, PA, b"x")], 40000, 80);
        off += 2;
    }
    let big = vec![7u8; 65_000];
    for i in 0..600 {
        feed(&mut t, &[p(1_000 + i, true, off, 1, PA, &big)], 40000, 80);
        off += 65_001;
        assert!(
            t.max_buffered() <= cap,
            "segment {i}: {} > {cap}",
            t.max_buffered()
        );
    }
    let (_, stats) = t.finish();
    assert!(stats.ooo_cap_hits > 0);
}

/// Review finding: a timestamp near i64::MAX (clamped by the reader)
/// must not overflow.
#[test]
fn extreme_timestamps_do_not_overflow() {
    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 1);
    udp(&mut t, i64::MAX - 5, C, 1, S, 53, b"a");
    udp(&mut t, 0, C, 2, S, 53, b"b");
    udp(&mut t, i64::MAX, C, 3, S, 53, b"c");
    let (h, _) = t.finish();
    assert_eq!(h.conns.len(), 3);
}

/// Review finding: timers of finished connections must not pile up when
/// one 5-tuple is reused over and over (SYN/RST floods).
#[test]
fn timer_heap_stays_bounded_under_syn_rst_flood() {
    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 1);
    for i in 0..200_000u32 {
        let ts = i64::from(i) * 10;
        feed(
            &mut t,
            &[p(ts, true, i.wrapping_mul(7919), 0, SYN, b"")],
            40000,
            80,
        );
        feed(
            &mut t,
            &[p(
                ts + 1,
                false,
                0,
                i.wrapping_mul(7919) + 1,
                RST | ACK,
                b"",
            )],
            40000,
            80,
        );
        assert!(
            t.timer_entries() <= 4 * t.len() + 4096 + 2,
            "{} timers",
            t.timer_entries()
        );
    }
    let (h, _) = t.finish();
    assert_eq!(h.conns.len(), 200_000);
}

fn udp_view(
    ts: i64,
    src: [u8; 4],
    sp: u16,
    dst: [u8; 4],
    dp: u16,
    payload: &[u8],
) -> PacketView<'_> {
    PacketView {
        ts: Ts(ts),
        src: ip(src),
        dst: ip(dst),
        ip_len: 28 + payload.len() as u32,
        l4: L4View::Udp {
            src_port: sp,
            dst_port: dp,
            payload,
        },
    }
}

#[test]
fn tunnel_outer_is_named_and_silenced_and_inner_gets_its_parent() {
    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 7);
    let outer = udp_view(1_000, C, 40_000, S, 4789, b"vxlan-bytes");
    let o = t
        .process_tunnel_outer(&outer, botscope_event::Service::VXLAN, false, None)
        .expect("UDP outer");
    assert!(o.discovered);
    let again = t
        .process_tunnel_outer(&outer, botscope_event::Service::VXLAN, false, None)
        .unwrap();
    assert_eq!(again.uid, o.uid);
    assert!(!again.discovered, "DISCOVER only once per tunnel");
    let inner = udp_view(1_000, [10, 9, 0, 1], 5353, [10, 9, 0, 2], 53, b"dns");
    t.process_tunneled(&inner, o.uid);
    t.process(&udp_view(
        2_000,
        [10, 9, 0, 3],
        1,
        [10, 9, 0, 4],
        2,
        b"plain",
    ));
    let (rec, _) = t.finish();
    // The outer payload never reached the application layer.
    assert!(rec.data.iter().all(|(u, _, _)| *u != o.uid));
    let by_uid = |u: Uid| rec.conns.iter().find(|c| c.meta.uid == u).unwrap();
    assert_eq!(by_uid(o.uid).service, vec![botscope_event::Service::VXLAN]);
    assert!(by_uid(o.uid).tunnel_parents.is_empty());
    let inner_conn = rec.conns.iter().find(|c| c.meta.id.resp_p == 53).unwrap();
    assert_eq!(inner_conn.tunnel_parents, vec![o.uid]);
    let plain = rec.conns.iter().find(|c| c.meta.id.resp_p == 2).unwrap();
    assert!(plain.tunnel_parents.is_empty() && plain.service.is_empty());
}

#[test]
fn teredo_like_service_needs_both_directions() {
    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 7);
    let one_way = udp_view(1_000, S, 3544, C, 3797, b"x");
    t.process_tunnel_outer(&one_way, botscope_event::Service::TEREDO, true, None)
        .unwrap();
    let (rec, _) = t.finish();
    assert!(rec.conns[0].service.is_empty());

    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 7);
    t.process_tunnel_outer(
        &udp_view(1_000, C, 3797, S, 3544, b"q"),
        botscope_event::Service::TEREDO,
        true,
        None,
    )
    .unwrap();
    t.process_tunnel_outer(
        &udp_view(2_000, S, 3544, C, 3797, b"r"),
        botscope_event::Service::TEREDO,
        true,
        None,
    )
    .unwrap();
    let (rec, _) = t.finish();
    assert_eq!(rec.conns[0].service, vec![botscope_event::Service::TEREDO]);
}

#[test]
fn tunnel_parents_are_capped() {
    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 7);
    let inner = udp_view(1_000, C, 1, S, 2, b"x");
    for i in 0..100 {
        t.process_tunneled(&inner, Uid(i));
    }
    let (rec, _) = t.finish();
    assert_eq!(rec.conns[0].tunnel_parents.len(), MAX_TUNNEL_PARENTS);
}

fn icmp(t: &mut FlowTable<Rec>, ts: i64, src: [u8; 4], dst: [u8; 4], ty: u8, code: u8) {
    t.process(&PacketView {
        ts: Ts(ts),
        src: ip(src),
        dst: ip(dst),
        ip_len: 84,
        l4: L4View::Icmp {
            v6: false,
            icmp_type: ty,
            code,
            payload: &[0u8; 56],
        },
    });
}

#[test]
fn icmp_as_zeek_logs_it() {
    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 1);
    // Echo request and reply: one connection, orig_p = 8, resp_p = 0.
    icmp(&mut t, 0, C, S, 8, 0);
    icmp(&mut t, 10, S, C, 0, 0);
    // A reply seen first: its sender is the originator (0 -> 8).
    icmp(&mut t, 20, [10, 0, 0, 3], C, 0, 0);
    // One-way message: resp_p is the code.
    icmp(&mut t, 30, S, C, 3, 13);
    let (h, _) = t.finish();
    let ports: Vec<(u16, u16)> = h
        .conns
        .iter()
        .map(|c| (c.meta.id.orig_p, c.meta.id.resp_p))
        .collect();
    assert_eq!(ports, [(8, 0), (0, 8), (3, 13)]);
    let echo = &h.conns[0];
    assert_eq!(echo.meta.id.orig_h, ip(C));
    assert_eq!((echo.orig_pkts, echo.resp_pkts), (1, 1));
    assert_eq!(echo.orig_bytes, Some(56));
    assert_eq!(h.conns[2].meta.id.orig_h, ip(S));
    // Zeek: ICMP is always OTH, with no history.
    assert!(h.conns.iter().all(|c| c.conn_state == ConnState::OTH));
    assert!(h.conns.iter().all(|c| c.history.is_empty()));
}

#[test]
fn udp_history_and_group_destinations() {
    let mut t = FlowTable::new(FlowConfig::default(), Rec::default(), 1);
    udp(&mut t, 0, C, 5555, S, 53, b"q");
    udp(&mut t, 10, S, 53, C, 5555, b"a");
    // From a server port to a broadcast address: not flipped (the
    // broadcast address never originates), as in Zeek's conn.log.
    udp(&mut t, 20, S, 67, [255, 255, 255, 255], 68, b"offer");
    let (h, _) = t.finish();
    assert_eq!(h.conns[0].history, "Dd");
    assert_eq!(h.conns[0].conn_state, ConnState::SF);
    let b = &h.conns[1];
    assert_eq!((b.meta.id.orig_h, b.meta.id.orig_p), (ip(S), 67));
    assert_eq!(b.history, "D");
    assert_eq!(b.conn_state, ConnState::S0);
}

#[test]
fn handler_flip_never_makes_multicast_the_originator() {
    let mut t = FlowTable::new(
        FlowConfig::default(),
        Rec {
            flip_first_udp: true,
            ..Rec::default()
        },
        1,
    );
    // An mDNS response to the group: stays as sent (Zeek's DNS analyzer
    // does not flip when the responder is multicast).
    udp(&mut t, 0, C, 5353, [224, 0, 0, 251], 5353, b"reply");
    let (h, _) = t.finish();
    assert_eq!(h.conns[0].meta.id.orig_h, ip(C));
    assert_eq!(h.conns[0].orig_pkts, 1);
}

#[test]
fn new_isn_on_a_live_connection_is_a_new_connection() {
    // Zeek's IsReuse: a SYN with another ISN from the same port is a new
    // attempt, logged apart; a retransmitted SYN (same ISN) is not.
    let r = run(&[
        p(1, true, 10, 0, SYN, b""),
        p(1_000_000, true, 10, 0, SYN, b""),
        p(2_000_000, true, 9_000, 0, SYN, b""),
    ]);
    assert_eq!(r.conns.len(), 2);
    assert_eq!(r.conns[0].orig_pkts, 2);
    assert_eq!(r.conns[1].orig_pkts, 1);
}
