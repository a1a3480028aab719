#![no_main]
//! Random TCP segments (any flags, sequence numbers, lengths, order) for a
//! few connections through the flow table: never panics, and every
//! delivered byte sequence stays within the caps.
use std::net::{IpAddr, Ipv4Addr};

use botscope_event::{Conn, Dir, Ts};
use botscope_flow::{
    ConnInfo, FlowConfig, FlowTable, L4View, PacketView, StreamHandler, TcpFlags, Verdict,
};
use libfuzzer_sys::fuzz_target;

struct Count(u64);

impl StreamHandler for Count {
    type State = ();
    fn open(&mut self, _: &ConnInfo) {}
    fn data(&mut self, _: &mut (), _: &ConnInfo, _: Dir, _: Ts, d: &[u8]) -> Verdict {
        self.0 += d.len() as u64;
        Verdict::Continue
    }
    fn gap(&mut self, _: &mut (), _: &ConnInfo, _: Dir, _: Ts, _: u64) {}
    fn close(&mut self, _: (), _: &ConnInfo, _: Conn) {}
}

fuzz_target!(|data: &[u8]| {
    let cfg = FlowConfig {
        max_ooo_bytes: 4096,
        max_ooo_segments: 16,
        max_connections: 8,
        ..FlowConfig::default()
    };
    let mut t = FlowTable::new(cfg, Count(0), 7);
    let payload = [0x41u8; 256];
    for (i, c) in data.chunks_exact(12).enumerate() {
        let from_client = c[0] & 1 == 0;
        let port = 1000 + u16::from(c[0] >> 5);
        let seq = u32::from_le_bytes([c[1], c[2], c[3], c[4]]);
        let ack = u32::from_le_bytes([c[5], c[6], c[7], c[8]]);
        let flags = TcpFlags(c[9]);
        let len = usize::from(c[10]);
        let wire = if c[11] & 1 == 1 {
            len as u32 + u32::from(c[11])
        } else {
            len as u32
        };
        let (a, b) = (
            IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
            IpAddr::V4(Ipv4Addr::new(2, 2, 2, 2)),
        );
        let (src, dst, sp, dp) = if from_client {
            (a, b, port, 80)
        } else {
            (b, a, 80, port)
        };
        t.process(&PacketView {
            ts: Ts(i as i64 * (i64::from(c[11]) << 16)),
            src,
            dst,
            ip_len: 40 + wire,
            l4: L4View::Tcp {
                src_port: sp,
                dst_port: dp,
                seq,
                ack,
                flags,
                window: u16::from(c[11]),
                payload: &payload[..len],
                payload_len: wire,
            },
        });
    }
    let _ = t.finish();
});
