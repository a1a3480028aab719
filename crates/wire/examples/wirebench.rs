//! Throughput check: read + decode a capture from memory, repeated.
//! `cargo run --release -p botscope-wire --example wirebench -- FILE [REPEAT]`
use std::io::Read;
use std::time::Instant;

use botscope_wire::{packet::decode, CaptureReader, WireConfig};

/// Repeats the records of a pcap (not its header) `n` times, in memory.
struct Repeat {
    data: Vec<u8>,
    pos: usize,
    left: usize,
}

impl Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.data.len() {
            if self.left == 0 {
                return Ok(0);
            }
            self.left -= 1;
            self.pos = 24;
        }
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: wirebench FILE.pcap [REPEAT]");
    let repeat: usize = args.next().map_or(100, |s| s.parse().expect("REPEAT"));
    let data = std::fs::read(&path).expect("read");
    let src = Repeat {
        data,
        pos: 0,
        left: repeat,
    };
    let cfg = WireConfig::default();
    let mut r = CaptureReader::from_reader(Box::new(src), &path, &cfg).expect("open");
    let t = Instant::now();
    let (mut pkts, mut bytes, mut tcp) = (0u64, 0u64, 0u64);
    loop {
        match r.next_packet() {
            Ok(Some(p)) => {
                pkts += 1;
                bytes += p.data.len() as u64;
                if let Ok(d) = decode(p.link, p.data) {
                    tcp += u64::from(d.payload_len);
                }
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("{e}");
                break;
            }
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{pkts} packets, {:.1} MB in {s:.3} s: {:.0} MB/s, {:.1} Mpps (payload {tcp})",
        bytes as f64 / 1e6,
        r.offset() as f64 / 1e6 / s,
        pkts as f64 / 1e6 / s
    );
}
