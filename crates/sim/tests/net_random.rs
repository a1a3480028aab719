//! Randomised plans (sizes, turn orders, delays, close modes, heavy
//! overlap) must still render captures that tshark finds clean and the
//! engine decodes into exactly the planned connections and byte counts.

mod net_support;

use std::net::{IpAddr, Ipv4Addr};

use botscope_event::{ConnState, Event};
use botscope_sim::net::render_pcap;
use botscope_sim::plan::{
    Activity, Class, Close, SandboxDay, Side, TcpConversation, Turn, UdpExchange,
};
use net_support::*;

/// xorshift64*: the test's own randomness, independent of the renderer.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_day(seed: u64) -> SandboxDay {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let servers: Vec<Ipv4Addr> = (0..7).map(|i| Ipv4Addr::new(198, 18, 0, 10 + i)).collect();
    let mut activities = Vec::new();
    for _ in 0..50 {
        let ts_us = T0 + r.below(20_000_000) as i64;
        let server = servers[r.below(servers.len() as u64) as usize];
        if r.below(5) == 0 {
            let reply = (r.below(4) != 0).then(|| {
                let n = r.below(600) as usize + 1;
                (r.below(5000), vec![r.next() as u8; n])
            });
            activities.push(Activity::Udp(UdpExchange {
                ts_us,
                server,
                port: 6210 + r.below(3) as u16,
                class: Class::C2,
                request: vec![0x42; r.below(300) as usize + 1],
                reply,
            }));
            continue;
        }
        let mut turns = Vec::new();
        for _ in 0..r.below(7) {
            let side = if r.below(2) == 0 {
                Side::Client
            } else {
                Side::Server
            };
            let len = match r.below(4) {
                0 => r.below(100),
                1 => r.below(3000),
                2 => r.below(20_000),
                _ => r.below(150_000),
            } as usize;
            let fill = r.next() as u8;
            turns.push(Turn {
                side,
                delay_us: r.below(300_000),
                bytes: vec![fill; len],
            });
        }
        let close = match r.below(3) {
            0 => Close::ClientFin,
            1 => Close::ServerFin,
            _ => Close::ClientRst,
        };
        activities.push(Activity::Tcp(TcpConversation {
            client: None,
            ts_us,
            server,
            // Not a well-known port: the payload is filler.
            port: 6200 + r.below(4) as u16,
            class: Class::Benign,
            turns,
            close,
        }));
    }
    SandboxDay {
        name: format!("random-{seed}.pcap"),
        host: HOST,
        seed,
        activities,
    }
}

/// Seeds to try: 8, or `NET_RANDOM_SEEDS` for a longer local run.
fn seeds() -> u64 {
    std::env::var("NET_RANDOM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

#[test]
fn random_days_are_clean_and_decode_exactly() {
    let tshark = have_tshark();
    for seed in 0..seeds() {
        let day = random_day(seed);
        let mut bytes = Vec::new();
        let truth = render_pcap(&day, &mut bytes);
        let pkts = parse(&bytes);
        assert!(pkts.iter().all(|p| p.ip_ok && p.l4_ok), "seed {seed}");
        assert!(pkts.windows(2).all(|w| w[0].ts <= w[1].ts), "seed {seed}");
        let f = TempFile::new(&format!("random{seed}"), &bytes);

        if tshark {
            let bad = run(
                "tshark",
                &[
                    "-Y",
                    "_ws.malformed || _ws.expert.severity == error || (tcp.analysis.flags && !tcp.analysis.window_update)",
                    "-r",
                ],
                f.path(),
            );
            assert_eq!(bad, "", "seed {seed}");
        }

        let events = decode(f.path());
        let conns: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Conn(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(conns.len(), truth.len(), "seed {seed}");
        for (t, a) in truth.iter().zip(&day.activities) {
            let c = conns
                .iter()
                .find(|c| {
                    c.meta.id.orig_p == t.orig_p
                        && c.meta.id.resp_h == IpAddr::V4(t.resp_h)
                        && c.meta.id.resp_p == t.resp_p
                        && c.meta.id.proto.zeek_name() == t.proto
                })
                .unwrap_or_else(|| panic!("seed {seed}: no conn for {t:?}"));
            assert_eq!(c.meta.ts.0, t.ts_us);
            assert_eq!(c.missed_bytes, 0, "seed {seed} {t:?} {}", c.history);
            if let Activity::Tcp(tc) = a {
                let (o, r) = bytes_by_side(tc);
                assert_eq!(
                    (c.orig_bytes, c.resp_bytes),
                    (Some(o), Some(r)),
                    "seed {seed} {t:?} {}",
                    c.history
                );
                let want = match tc.close {
                    Close::ClientRst => ConnState::RSTO,
                    _ => ConnState::SF,
                };
                assert_eq!(c.conn_state, want, "seed {seed} {t:?} {}", c.history);
            }
        }
    }
}
