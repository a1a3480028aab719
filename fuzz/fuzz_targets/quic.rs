#![no_main]
//! QUIC Initial decoding. Random bytes never pass AEAD, so most chunks are
//! sealed with the real Initial keys first (`quic::seal_initial`): the
//! fuzzer then reaches header parsing, CRYPTO reassembly and the hello
//! decoders. Chunk: `[ctl][len hi][len lo][bytes]`; ctl bit 0 = server,
//! bit 1 = send the bytes raw (unsealed), bits 2-3 pick the version.
use botscope_event::Dir;
use botscope_proto::{quic, ProtoConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut grams = Vec::new();
    let mut rest = data;
    let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
    let mut pn = 0u32;
    while let [ctl, hi, lo, tail @ ..] = rest {
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        let (chunk, next) = tail.split_at(len);
        rest = next;
        let server = ctl & 1 != 0;
        let dir = if server { Dir::Resp } else { Dir::Orig };
        if ctl & 2 != 0 {
            let _ = quic::probe(chunk);
            grams.push((dir, chunk.to_vec()));
            continue;
        }
        let version = match (ctl >> 2) & 3 {
            0 => quic::V1,
            1 => quic::V2,
            2 => 0xff00_001d,
            _ => 0xff00_0017,
        };
        pn += 1;
        if let Some(p) = quic::seal_initial(version, &dcid, &[1], server, pn, chunk) {
            grams.push((dir, p));
        }
        if grams.len() > 64 {
            break;
        }
    }
    let cfg = ProtoConfig::default();
    let mut an = quic::QuicAnalyzer::new(&cfg);
    botscope_fuzz::drive_datagrams(&mut an, &grams);
});
