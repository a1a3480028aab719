//! Shared harness for the fuzz targets.

use std::net::{IpAddr, Ipv4Addr};

use botscope_event::{ConnId, Dir, Event, Transport, Ts, Uid};
use botscope_proto::{Analyzer, Ctx, Expectation, ProtoConfig};

/// The bytes of each direction's data chunks in `data` (harness format of
/// [`drive`]), at most `cap` bytes each: what a protocol probe would see
/// at the start of a connection.
pub fn openings(data: &[u8], cap: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut orig, mut resp) = (Vec::new(), Vec::new());
    let mut rest = data;
    while let [ctl, len, tail @ ..] = rest {
        if ctl & 2 != 0 {
            rest = tail;
            continue;
        }
        let take = usize::from(*len).min(tail.len());
        let side = if ctl & 1 == 0 { &mut orig } else { &mut resp };
        let room = cap.saturating_sub(side.len());
        side.extend_from_slice(&tail[..take.min(room)]);
        rest = &tail[take..];
    }
    (orig, resp)
}

/// Ask `probe` about both openings of `data` and their short prefixes,
/// as the engine does while bytes trickle in.
pub fn probe_openings(data: &[u8], probe: impl Fn(Dir, &[u8]) -> botscope_proto::Probe) {
    let (orig, resp) = openings(data, 1024);
    for (dir, bytes) in [(Dir::Orig, &orig), (Dir::Resp, &resp)] {
        for n in 0..bytes.len().min(32) {
            let _ = probe(dir, &bytes[..n]);
        }
        let _ = probe(dir, bytes);
    }
}

/// Ask a two-sided `probe` (one that sees both directions, as
/// `ftp::probe` and `ssh::probe`) about the openings of `data` as they
/// grow, from either side.
pub fn probe_both(
    data: &[u8],
    ports: (u16, u16),
    probe: impl Fn(&botscope_proto::ProbeInput<'_>) -> botscope_proto::Probe,
) {
    let (orig, resp) = openings(data, 1024);
    for n in 0..orig.len().max(resp.len()).min(48) {
        for dir in [Dir::Orig, Dir::Resp] {
            let _ = probe(&botscope_proto::ProbeInput {
                dir,
                orig: &orig[..n.min(orig.len())],
                resp: &resp[..n.min(resp.len())],
                orig_p: ports.0,
                resp_p: ports.1,
            });
        }
    }
    let _ = probe(&botscope_proto::ProbeInput {
        dir: Dir::Orig,
        orig: &orig,
        resp: &resp,
        orig_p: ports.0,
        resp_p: ports.1,
    });
}

/// Feed `data` to an analyzer as a conversation: each chunk is
/// `[dir/gap byte][len byte][len bytes]`. Bit 0 of the first byte picks
/// the direction, bit 1 makes it a gap of `len` bytes instead.
pub fn drive(an: &mut dyn Analyzer, data: &[u8], udp: bool) {
    let config = ProtoConfig {
        max_message_bytes: 64 * 1024,
        ..ProtoConfig::default()
    };
    let mut sink: Vec<Event> = Vec::new();
    let mut exp: Vec<Expectation> = Vec::new();
    let id = ConnId {
        orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        orig_p: 40000,
        resp_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        resp_p: 80,
        proto: if udp { Transport::Udp } else { Transport::Tcp },
    };
    let mut rest = data;
    let mut ts = 1_000_000i64;
    while rest.len() >= 2 {
        let ctl = rest[0];
        let len = usize::from(rest[1]);
        rest = &rest[2..];
        let dir = if ctl & 1 == 0 { Dir::Orig } else { Dir::Resp };
        ts += 1000;
        let mut ctx = Ctx {
            ts: Ts(ts),
            uid: Uid(1),
            id,
            config: &config,
            sink: &mut sink,
            expectations: &mut exp,
        };
        if ctl & 2 != 0 {
            let _ = an.gap(&mut ctx, dir, len as u64);
            continue;
        }
        let take = len.min(rest.len());
        let _ = an.data(&mut ctx, dir, &rest[..take]);
        rest = &rest[take..];
        if sink.len() > 10_000 {
            sink.clear();
        }
    }
    let mut ctx = Ctx {
        ts: Ts(ts + 1),
        uid: Uid(1),
        id,
        config: &config,
        sink: &mut sink,
        expectations: &mut exp,
    };
    an.finish(&mut ctx);
}

/// Feed whole datagrams to a UDP analyzer: each chunk is
/// `[dir byte][len hi][len lo][len bytes]` (bit 0 of the first byte picks
/// the direction), so datagrams may exceed 255 bytes (QUIC Initials).
pub fn drive_datagrams(an: &mut dyn Analyzer, datagrams: &[(Dir, Vec<u8>)]) {
    let config = ProtoConfig::default();
    let mut sink: Vec<Event> = Vec::new();
    let mut exp: Vec<Expectation> = Vec::new();
    let id = ConnId {
        orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        orig_p: 40000,
        resp_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        resp_p: 443,
        proto: Transport::Udp,
    };
    let mut ts = 1_000_000i64;
    for (dir, d) in datagrams {
        ts += 1000;
        let mut ctx = Ctx {
            ts: Ts(ts),
            uid: Uid(1),
            id,
            config: &config,
            sink: &mut sink,
            expectations: &mut exp,
        };
        let _ = an.data(&mut ctx, *dir, d);
        if sink.len() > 10_000 {
            sink.clear();
        }
    }
    let mut ctx = Ctx {
        ts: Ts(ts + 1),
        uid: Uid(1),
        id,
        config: &config,
        sink: &mut sink,
        expectations: &mut exp,
    };
    an.finish(&mut ctx);
}
