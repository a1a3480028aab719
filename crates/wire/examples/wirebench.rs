//! Throughput check: read + decode a capture from memory, repeated.
//! `cargo run --release -p botscope-wire --example wirebench -- FILE [REPEAT]`
//!
//! With `REPEAT` = `file` the capture is read from its file instead (the
//! page cache copied in by `read`, as `botscope logs` does), with a read
//! buffer of `BUF` bytes (environment; the default config's otherwise);
//! a compressed capture is decompressed on a read-ahead thread unless
//! `READ_AHEAD=0`.
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
    let repeat = args.next().unwrap_or_else(|| "100".into());
    let mut cfg = WireConfig::default();
    if let Ok(b) = std::env::var("BUF") {
        cfg.read_buffer_size = b.parse().expect("BUF: bytes");
    }
    cfg.read_ahead = std::env::var("READ_AHEAD").map_or(true, |v| v != "0");
    let mut r = if repeat == "file" {
        CaptureReader::open(std::path::Path::new(&path), &cfg).expect("open")
    } else {
        let src = Repeat {
            data: std::fs::read(&path).expect("read"),
            pos: 0,
            left: repeat.parse().expect("REPEAT"),
        };
        CaptureReader::from_reader(Box::new(src), &path, &cfg).expect("open")
    };
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
