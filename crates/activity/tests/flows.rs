//! The flow-only detectors (flood, IRC sessions) on hand-made flows:
//! what must and must not fire.

use std::net::{IpAddr, Ipv4Addr};

use botscope_activity::{analyze, ActivityConfig, Class};
use botscope_event::{Conn, ConnId, ConnState, Duration, Event, Meta, Transport, Ts, Uid};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

struct Flow {
    ts_ms: i64,
    dur_ms: i64,
    src: u8,
    dst: u8,
    dport: u16,
    proto: Transport,
    pkts: u64,
    sent: u64,
    got: u64,
    state: ConnState,
}

fn ev(uid: u64, f: &Flow) -> Event {
    Event::Conn(Conn {
        meta: Meta {
            ts: Ts(f.ts_ms * 1000),
            uid: Uid(uid),
            id: ConnId {
                orig_h: ip(f.src),
                orig_p: 40000 + (uid % 20000) as u16,
                resp_h: ip(f.dst),
                resp_p: f.dport,
                proto: f.proto,
            },
        },
        service: Vec::new(),
        duration: Some(Duration(f.dur_ms * 1000)),
        orig_bytes: Some(f.sent),
        resp_bytes: Some(f.got),
        conn_state: f.state,
        local_orig: None,
        local_resp: None,
        missed_bytes: 0,
        history: String::new(),
        orig_pkts: f.pkts,
        orig_ip_bytes: f.sent,
        resp_pkts: 0,
        resp_ip_bytes: f.got,
        ip_proto: 0,
        tunnel_parents: Vec::new(),
    })
}

fn class_of(events: &[Event], host: u8) -> Vec<Class> {
    let (reports, _) = analyze(events, &ActivityConfig::default());
    reports
        .iter()
        .find(|r| r.host == ip(host))
        .map(|r| r.activities.iter().map(|a| a.class).collect())
        .unwrap_or_default()
}

#[test]
fn icmp_flood_is_a_flood_ping_is_not() {
    let base = Flow {
        ts_ms: 0,
        dur_ms: 0,
        src: 1,
        dst: 9,
        dport: 0,
        proto: Transport::Icmp,
        pkts: 1,
        sent: 1066,
        got: 0,
        state: ConnState::OTH,
    };
    // 300 packets a second for 30 s, one packet a flow.
    let flood: Vec<Event> = (0..9000)
        .map(|i| {
            ev(
                i,
                &Flow {
                    ts_ms: i as i64 * 10 / 3,
                    ..base
                },
            )
        })
        .collect();
    assert!(class_of(&flood, 1).contains(&Class::Flood));
    // The same as one long flow (binetflow's aggregated echo flood).
    let one = [ev(
        1,
        &Flow {
            dur_ms: 30_000,
            pkts: 9000,
            ..base
        },
    )];
    assert_eq!(class_of(&one, 1), vec![Class::Flood]);
    // mtr: ten a second for ten minutes, answered.
    let mtr: Vec<Event> = (0..6000)
        .map(|i| {
            ev(
                i,
                &Flow {
                    ts_ms: i as i64 * 100,
                    sent: 78,
                    got: 78,
                    ..base
                },
            )
        })
        .collect();
    assert_eq!(class_of(&mtr, 1), vec![Class::Benign]);
    // The target's replies (counted in the flow, not sent by the
    // originator: no originator bytes) are not a flood by the target.
    let replies = [ev(
        1,
        &Flow {
            dur_ms: 30_000,
            pkts: 9000,
            sent: 0,
            got: 9_000_000,
            ..base
        },
    )];
    assert_eq!(class_of(&replies, 1), vec![Class::Benign]);
    // A day-long flow at 300 packets/s is a flood; 20,000 year-long
    // flows at a trickle are not (and cost bounded work).
    let day = [ev(
        1,
        &Flow {
            dur_ms: 86_400_000,
            pkts: 300 * 86_400,
            ..base
        },
    )];
    assert_eq!(class_of(&day, 1), vec![Class::Flood]);
    let years: Vec<Event> = (0..20_000)
        .map(|i| {
            ev(
                i,
                &Flow {
                    ts_ms: i as i64 * 1000,
                    dur_ms: 365 * 86_400_000,
                    pkts: 1000,
                    ..base
                },
            )
        })
        .collect();
    // (One a second, same size: the beacon rule calls them c2.)
    assert!(!class_of(&years, 1).contains(&Class::Flood));
}

#[test]
fn fast_vertical_scan_is_a_scan_and_transfers_are_not_floods() {
    // 2,000 ports of one host in 4 s, one SYN each.
    let scan: Vec<Event> = (0..2000)
        .map(|i| {
            ev(
                i,
                &Flow {
                    ts_ms: i as i64 * 2,
                    dur_ms: 0,
                    src: 1,
                    dst: 9,
                    dport: 1 + i as u16,
                    proto: Transport::Tcp,
                    pkts: 1,
                    sent: 0,
                    got: 0,
                    state: ConnState::S0,
                },
            )
        })
        .collect();
    // (Port 53 is DNS, always benign.)
    assert_eq!(class_of(&scan, 1), vec![Class::Scan, Class::Benign]);
    // A SYN flood: 3,000 SYNs to one port in 10 s, never answered.
    let syn: Vec<Event> = (0..3000)
        .map(|i| {
            ev(
                i,
                &Flow {
                    ts_ms: i as i64 * 10 / 3,
                    dur_ms: 0,
                    src: 1,
                    dst: 9,
                    dport: 80,
                    proto: Transport::Tcp,
                    pkts: 1,
                    sent: 0,
                    got: 0,
                    state: ConnState::S0,
                },
            )
        })
        .collect();
    assert_eq!(class_of(&syn, 1), vec![Class::Flood]);
    // A fast upload: one answered TCP flow of 100,000 packets in 20 s.
    let upload = [ev(
        1,
        &Flow {
            ts_ms: 0,
            dur_ms: 20_000,
            src: 1,
            dst: 9,
            dport: 443,
            proto: Transport::Tcp,
            pkts: 100_000,
            sent: 140_000_000,
            got: 20_000_000,
            state: ConnState::SF,
        },
    )];
    assert_eq!(class_of(&upload, 1), vec![Class::Benign]);
}

#[test]
fn long_quiet_irc_session_is_c2_in_flows() {
    let irc = |dur_ms: i64, sent: u64, got: u64, dport: u16| Flow {
        ts_ms: 0,
        dur_ms,
        src: 1,
        dst: 9,
        dport,
        proto: Transport::Tcp,
        pkts: 40,
        sent,
        got,
        state: ConnState::S1,
    };
    assert_eq!(
        class_of(&[ev(1, &irc(400_000, 1500, 10_000, 6667))], 1),
        vec![Class::C2]
    );
    // Too short, too fast, answered by nobody, or not an IRC port.
    for f in [
        irc(20_000, 1500, 10_000, 6667),
        irc(400_000, 1_000_000, 9_000_000, 6667),
        irc(400_000, 1500, 0, 6667),
        irc(400_000, 1500, 10_000, 6000),
    ] {
        assert_eq!(class_of(&[ev(1, &f)], 1), vec![Class::Benign]);
    }
}
