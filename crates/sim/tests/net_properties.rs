//! Properties of rendered captures checked byte by byte with an
//! independent decoder: checksums, header fields, time order,
//! determinism, the ephemeral-port rules and corner cases of the plan.

mod net_support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use botscope_event::Event;
use botscope_sim::net::{render_pcap, render_pcap_with, NetConfig};
use botscope_sim::plan::{
    Activity, Class, Close, SandboxDay, Side, TcpConversation, Turn, UdpExchange,
};
use net_support::*;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

fn render(day: &SandboxDay) -> Vec<u8> {
    let mut b = Vec::new();
    render_pcap(day, &mut b);
    b
}

#[test]
fn headers_checksums_and_time_order() {
    let bytes = render(&day(42));
    let pkts = parse(&bytes);
    assert_eq!(pkts.len(), pcap_records(&bytes));
    let host_mac = pkts[0].src_mac;
    let gw_mac = pkts[0].dst_mac;
    assert_ne!(host_mac, gw_mac);
    assert_eq!(host_mac[0] & 1, 0, "unicast MAC");
    let mut last_ts = i64::MIN;
    let mut host_ids = Vec::new();
    for p in &pkts {
        assert!(p.ts >= last_ts, "time order");
        last_ts = p.ts;
        assert!(p.ip_ok, "IP checksum {p:?}");
        assert!(p.l4_ok, "L4 checksum {p:?}");
        if p.src == HOST {
            assert_eq!((p.src_mac, p.dst_mac), (host_mac, gw_mac));
            assert_eq!(p.ttl, 128);
            host_ids.push(p.ip_id);
        } else {
            assert_eq!(p.dst, HOST);
            assert_eq!((p.src_mac, p.dst_mac), (gw_mac, host_mac));
            assert!((48..=64).contains(&p.ttl), "server TTL {}", p.ttl);
        }
        assert_eq!(p.df, p.proto == 6, "DF on TCP only");
        if p.proto == 6 {
            assert!(p.payload_len <= 1460);
            if p.flags & SYN != 0 {
                assert_eq!(&p.tcp_options[..4], &[2, 4, 0x05, 0xb4], "MSS 1460 first");
                assert!(
                    p.tcp_options.windows(2).any(|w| w == [4, 2]),
                    "SACK permitted"
                );
            }
        }
    }
    // The host's IP id goes up by one per packet it sends.
    for w in host_ids.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1));
    }
    // Each server's ids go up by one per packet within a TCP connection.
    let mut by_conn: BTreeMap<(Ipv4Addr, u16, u16), Vec<u16>> = BTreeMap::new();
    for p in pkts.iter().filter(|p| p.src != HOST && p.proto == 6) {
        by_conn
            .entry((p.src, p.sport, p.dport))
            .or_default()
            .push(p.ip_id);
    }
    for ids in by_conn.values() {
        for w in ids.windows(2) {
            assert_eq!(w[1], w[0].wrapping_add(1));
        }
    }
}

/// Client SYNs: (port, ISN) in capture order.
fn syns(bytes: &[u8]) -> Vec<(u16, u32)> {
    parse(bytes)
        .iter()
        .filter(|p| p.proto == 6 && p.flags & (SYN | ACK) == SYN)
        .map(|p| (p.sport, p.seq))
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_choices() {
    let a = render(&day(42));
    let b = render(&day(42));
    assert!(a == b, "same seed, byte-identical output");
    let c = render(&day(43));
    assert_ne!(a, c);
    let (sa, sc) = (syns(&a), syns(&c));
    assert_eq!(sa.len(), sc.len());
    let isns_a: BTreeSet<u32> = sa.iter().map(|s| s.1).collect();
    let isns_c: BTreeSet<u32> = sc.iter().map(|s| s.1).collect();
    assert!(isns_a.is_disjoint(&isns_c), "ISNs differ");
    assert_ne!(sa[0].0, sc[0].0, "first ports differ");
    // The output buffer is cleared first, and reuse gives the same bytes.
    let mut reused = vec![1, 2, 3];
    render_pcap(&day(42), &mut reused);
    assert!(reused == a);
}

#[test]
fn ports_count_up_from_a_seeded_start() {
    for seed in 0..20 {
        let d = day(seed);
        let mut bytes = Vec::new();
        let truth = render_pcap(&d, &mut bytes);
        let mut by_time: Vec<_> = truth.iter().enumerate().collect();
        by_time.sort_by_key(|(i, t)| (t.ts_us, *i));
        for w in by_time.windows(2) {
            let (a, b) = (w[0].1.orig_p, w[1].1.orig_p);
            // Up by one, wrapping 5000 → 1025, skipping only ports
            // that Wireshark would dissect as something else (the longest
            // run of those is 3245–3252).
            let gap = (i32::from(b) - i32::from(a)).rem_euclid(3976);
            assert!((1..=9).contains(&gap), "seed {seed}: {a} then {b}");
        }
    }
}

fn conv(ts_us: i64, server: Ipv4Addr, turns: Vec<Turn>, close: Close) -> Activity {
    Activity::Tcp(TcpConversation {
        client: None,
        ts_us,
        server,
        port: 80,
        class: Class::Benign,
        turns,
        close,
    })
}

fn t(side: Side, delay_us: u64, bytes: &[u8]) -> Turn {
    Turn {
        side,
        delay_us,
        bytes: bytes.to_vec(),
    }
}

/// Conns by (4-tuple, start) from the engine.
fn engine_conns(bytes: &[u8]) -> BTreeSet<(u16, IpAddr, u16, i64)> {
    let f = TempFile::new("props", bytes);
    decode(f.path())
        .into_iter()
        .filter_map(|e| match e {
            Event::Conn(c) => Some((
                c.meta.id.orig_p,
                c.meta.id.resp_h,
                c.meta.id.resp_p,
                c.meta.ts.0,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn busy_port_range_never_reuses_an_open_four_tuple() {
    // 8 ports, 30 s linger, a connection per second to 6 servers: after 8
    // connections every port lingers, and the renderer must pick ports
    // whose 4-tuple with this server is free.
    let cfg = NetConfig {
        ephemeral_ports: (1025, 1032),
        tcp_linger_us: 30_000_000,
        ..NetConfig::default()
    };
    let servers: Vec<Ipv4Addr> = (1..=6).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
    let activities: Vec<Activity> = (0..90)
        .map(|i| {
            conv(
                T0 + i64::from(i) * 1_000_000,
                servers[i as usize % servers.len()],
                vec![
                    t(Side::Client, 1000, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
                    t(Side::Server, 1000, b"HTTP/1.1 204 No Content\r\n\r\n"),
                ],
                Close::ClientFin,
            )
        })
        .collect();
    let day = SandboxDay {
        name: "busy.pcap".into(),
        host: HOST,
        seed: 5,
        activities,
    };
    let mut bytes = Vec::new();
    let truth = render_pcap_with(&day, &cfg, &mut bytes);
    // No 4-tuple is used twice within the linger time.
    let mut last: BTreeMap<(u16, Ipv4Addr), i64> = BTreeMap::new();
    for tr in &truth {
        assert!((1025..=1032).contains(&tr.orig_p));
        if let Some(prev) = last.insert((tr.orig_p, tr.resp_h), tr.ts_us) {
            assert!(tr.ts_us - prev > 30_000_000, "{tr:?} reused after {prev}");
        }
    }
    // And the engine sees every connection on its own.
    let want: BTreeSet<_> = truth
        .iter()
        .map(|t| (t.orig_p, IpAddr::V4(t.resp_h), t.resp_p, t.ts_us))
        .collect();
    assert_eq!(engine_conns(&bytes), want);
}

#[test]
fn corner_cases_render_valid_captures() {
    let s = Ipv4Addr::new(192, 0, 2, 9);
    let big_reply = vec![0x5a; 4000];
    let activities = vec![
        // No turns at all: handshake and close only, each close mode.
        conv(T0, s, vec![], Close::ClientFin),
        conv(T0 + 1, s, vec![], Close::ServerFin),
        conv(T0 + 2, s, vec![], Close::ClientRst),
        // Empty turns are skipped; two client turns in a row; two server
        // turns in a row; zero delays; a huge delay.
        conv(
            T0 + 3,
            s,
            vec![
                t(Side::Client, 0, b""),
                t(Side::Client, 0, b"ab"),
                t(Side::Client, 0, &[7; 3000]),
                t(Side::Server, 0, b"x"),
                t(Side::Server, 0, &[9; 5000]),
                t(Side::Server, 0, b""),
                t(Side::Client, 200_000_000, b"late"),
            ],
            Close::ServerFin,
        ),
        // A UDP request without reply, and one with a fragmented reply.
        Activity::Udp(UdpExchange {
            ts_us: T0 + 4,
            server: RESOLVER,
            port: 31_337,
            class: Class::C2,
            request: b"\x12\x34 opaque beacon".to_vec(),
            reply: None,
        }),
        Activity::Udp(UdpExchange {
            ts_us: T0 + 5,
            server: Ipv4Addr::new(192, 0, 2, 77),
            port: 4000,
            class: Class::C2,
            request: b"hello".to_vec(),
            reply: Some((1000, big_reply.clone())),
        }),
    ];
    let day = SandboxDay {
        name: "corners.pcap".into(),
        host: HOST,
        seed: 11,
        activities,
    };
    let mut bytes = Vec::new();
    let truth = render_pcap(&day, &mut bytes);
    assert_eq!(truth.len(), 6);
    let pkts = parse(&bytes);
    assert!(pkts.iter().all(|p| p.ip_ok && p.l4_ok));
    assert!(pkts.windows(2).all(|w| w[0].ts <= w[1].ts));
    let frags = pkts.iter().filter(|p| p.proto == 17 && p.frag != 0).count();
    assert_eq!(frags, 3, "4008-byte datagram = 3 fragments");

    let f = TempFile::new("corners", &bytes);
    let events = decode(f.path());
    let conns: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Conn(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(conns.len(), 6);
    let big = conns
        .iter()
        .find(|c| c.meta.id.resp_p == 4000)
        .expect("big UDP");
    assert_eq!(big.resp_bytes, Some(big_reply.len() as u64));
    let talk = conns
        .iter()
        .find(|c| c.meta.ts.0 == T0 + 3)
        .expect("the chatty one");
    assert_eq!(talk.orig_bytes, Some(3006));
    assert_eq!(talk.resp_bytes, Some(5001));

    if have_tshark() {
        let bad = run(
            "tshark",
            &[
                "-Y",
                "_ws.malformed || _ws.expert.severity == error || (tcp.analysis.flags && !tcp.analysis.window_update)",
                "-r",
            ],
            f.path(),
        );
        assert_eq!(bad, "");
    }
}

#[test]
fn nothing_to_render_is_a_bare_header() {
    let day = SandboxDay {
        name: "empty.pcap".into(),
        host: HOST,
        seed: 1,
        activities: vec![],
    };
    let mut bytes = vec![9; 100];
    assert!(render_pcap(&day, &mut bytes).is_empty());
    assert_eq!(bytes.len(), 24);
    assert_eq!(pcap_records(&bytes), 0);
}

#[test]
fn odd_times_do_not_panic() {
    let s = Ipv4Addr::new(192, 0, 2, 9);
    let turns = vec![
        t(Side::Client, u64::MAX, b"a"),
        t(Side::Server, u64::MAX, b"b"),
    ];
    let day = SandboxDay {
        name: "odd.pcap".into(),
        host: HOST,
        seed: 1,
        activities: vec![
            conv(-5_000_000, s, turns.clone(), Close::ClientFin),
            conv(i64::MAX - 10, s, turns, Close::ServerFin),
        ],
    };
    let mut bytes = Vec::new();
    let truth = render_pcap(&day, &mut bytes);
    assert_eq!(truth.len(), 2);
    let pkts = parse(&bytes);
    assert!(pkts.iter().all(|p| p.ip_ok && p.l4_ok));
}

#[test]
fn turns_start_when_planned() {
    let s = Ipv4Addr::new(192, 0, 2, 44);
    let turns = vec![
        t(Side::Server, 250_000, b"220 hello\r\n"),
        t(Side::Client, 5_000, b"HELO x\r\n"),
        t(Side::Server, 300_000, &[b'a'; 4000]),
        t(Side::Client, 50_000, b"QUIT\r\n"),
        // Sooner than the RTT: the answer waits for the network.
        t(Side::Server, 1, b"221 bye\r\n"),
    ];
    let day = SandboxDay {
        name: "timing.pcap".into(),
        host: HOST,
        seed: 3,
        activities: vec![
            conv(T0, s, turns.clone(), Close::ClientFin),
            Activity::Udp(UdpExchange {
                ts_us: T0 + 10,
                server: RESOLVER,
                port: 53,
                class: Class::Dns,
                request:
                    b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01"
                        .to_vec(),
                reply: Some((
                    42_000,
                    b"\x00\x01\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01"
                        .to_vec(),
                )),
            }),
        ],
    };
    let pkts = parse(&render(&day));
    let udp: Vec<_> = pkts.iter().filter(|p| p.proto == 17).collect();
    assert_eq!(udp.len(), 2);
    assert_eq!(udp[0].ts, T0 + 10);
    assert_eq!(udp[1].ts - udp[0].ts, 42_000, "UDP reply after its delay");

    let tcp: Vec<_> = pkts.iter().filter(|p| p.proto == 6).collect();
    assert_eq!(tcp[0].ts, T0, "SYN at ts_us");
    assert_eq!(tcp[0].flags, SYN);
    let rtt = tcp[1].ts - tcp[0].ts;
    assert!((20_000..=210_000).contains(&rtt), "rtt {rtt}");
    let hs_ack = tcp[2].ts;
    // First and last data segment of each turn, in order.
    let mut spans: Vec<(bool, i64, i64)> = Vec::new();
    for p in tcp.iter().filter(|p| p.payload_len > 0) {
        let from_host = p.src == HOST;
        match spans.last_mut() {
            Some(s) if s.0 == from_host => s.2 = p.ts,
            _ => spans.push((from_host, p.ts, p.ts)),
        }
    }
    assert_eq!(spans.len(), turns.len());
    let mut anchor = hs_ack;
    for (span, turn) in spans.iter().zip(&turns) {
        let delay = turn.delay_us as i64;
        let want = match turn.side {
            Side::Server => delay.max(rtt),
            Side::Client => delay,
        };
        let got = span.1 - anchor;
        assert!(
            got >= want && got <= want + 1_000,
            "turn {turn:?}: started {got} µs after the previous one, planned {want}"
        );
        anchor = span.2;
    }
}

#[test]
fn conversations_interleave_in_time() {
    let pkts = parse(&render(&day(42)));
    // Key each packet by its client port; some conversation must have
    // another one's packets between two of its own.
    let key = |p: &Pkt| if p.src == HOST { p.sport } else { p.dport };
    let keys: Vec<u16> = pkts.iter().map(key).collect();
    let mut first: BTreeMap<u16, usize> = BTreeMap::new();
    let mut last: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        first.entry(*k).or_insert(i);
        last.insert(*k, i);
    }
    let overlapping = first
        .iter()
        .filter(|(k, &f)| keys[f..=last[*k]].iter().any(|x| x != *k))
        .count();
    assert!(overlapping >= 3, "only {overlapping} conversations overlap");
}

#[test]
fn both_windows_flavours_occur() {
    // Windows 7 offers window scaling (12 option bytes), XP does not (8).
    let mut seen = BTreeSet::new();
    for seed in 0..16 {
        for p in parse(&render(&day(seed))) {
            if p.proto == 6 && p.flags & (SYN | ACK) == SYN {
                seen.insert((p.tcp_options.len(), p.window));
            }
        }
    }
    assert_eq!(seen, BTreeSet::from([(8, 65_535), (12, 8192)]));
}
