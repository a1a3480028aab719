//! Build a large benchmark capture from small ones.
//!
//! `cargo run --release -p botscope-wire --example replicate -- --reps N --out BIG.pcapng IN...`
//!
//! Writes the inputs N times into one pcapng. Copy `r` is shifted `r`
//! days later and its IP addresses are remapped (bytes 1–2 of IPv4,
//! 2–3 of IPv6 XORed with `r`; the IPv4 header checksum is recomputed),
//! so every copy is a new set of hosts and connections, as on a sensor
//! that watched many sandboxes — not the same flows replayed. Inputs
//! that end mid-record contribute their complete packets.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use botscope_wire::{CaptureReader, LinkType, WireConfig};

fn ip_offset(link: LinkType, d: &[u8]) -> Option<usize> {
    match link.0 {
        0 | 108 => Some(4),
        101 | 12 | 14 | 228 | 229 => Some(0),
        113 => Some(16),
        276 => Some(20),
        1 => {
            let mut off = 12;
            loop {
                let et = u16::from_be_bytes([*d.get(off)?, *d.get(off + 1)?]);
                match et {
                    0x8100 | 0x88a8 | 0x9100 => off += 4,
                    0x0800 | 0x86dd => return Some(off + 2),
                    _ => return None,
                }
            }
        }
        _ => None,
    }
}

fn remap(link: LinkType, d: &mut [u8], r: u32) {
    let Some(o) = ip_offset(link, d) else { return };
    let (hi, lo) = ((r >> 8) as u8, r as u8);
    match d.get(o).map(|b| b >> 4) {
        Some(4) => {
            let ihl = usize::from(d[o] & 0x0f) * 4;
            if d.len() < o + ihl.max(20) {
                return;
            }
            for a in [o + 12, o + 16] {
                d[a + 1] ^= lo;
                d[a + 2] ^= hi;
            }
            d[o + 10] = 0;
            d[o + 11] = 0;
            let mut sum = 0u32;
            for i in (o..o + ihl).step_by(2) {
                sum += u32::from(u16::from_be_bytes([d[i], d[i + 1]]));
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            let c = !(sum as u16);
            d[o + 10..o + 12].copy_from_slice(&c.to_be_bytes());
        }
        Some(6) if d.len() >= o + 40 => {
            for a in [o + 8, o + 24] {
                d[a + 2] ^= hi;
                d[a + 3] ^= lo;
            }
        }
        _ => {}
    }
}

fn block(out: &mut impl Write, kind: u32, body: &[u8]) -> std::io::Result<()> {
    let pad = (4 - body.len() % 4) % 4;
    let len = (12 + body.len() + pad) as u32;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&[0u8; 3][..pad])?;
    out.write_all(&len.to_le_bytes())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut reps, mut out, mut inputs) = (1u32, None, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reps" => reps = args.next().ok_or("--reps N")?.parse()?,
            "--out" => out = Some(PathBuf::from(args.next().ok_or("--out FILE")?)),
            _ => inputs.push(PathBuf::from(a)),
        }
    }
    let out = out.ok_or("--out FILE is required")?;
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&out)?);
    // Section header: byte-order magic, version 1.0, unknown length.
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    block(&mut w, 0x0A0D_0D0A, &shb)?;
    let mut ifaces: HashMap<u16, u32> = HashMap::new();
    let cfg = WireConfig::default();
    let mut buf = Vec::new();
    let mut body = Vec::new();
    let mut packets = 0u64;
    for r in 0..reps {
        let shift = i64::from(r) * 86_400 * 1_000_000;
        for path in &inputs {
            let mut rd = match CaptureReader::open(path, &cfg) {
                Ok(rd) => rd,
                Err(e) => {
                    eprintln!("skip {e}");
                    continue;
                }
            };
            loop {
                let p = match rd.next_packet() {
                    Ok(Some(p)) => p,
                    Ok(None) => break,
                    Err(e) => {
                        if r == 0 {
                            eprintln!("note: {e}");
                        }
                        break;
                    }
                };
                let next = ifaces.len() as u32;
                let id = *ifaces.entry(p.link.0).or_insert_with(|| {
                    let mut idb = Vec::new();
                    idb.extend_from_slice(&p.link.0.to_le_bytes());
                    idb.extend_from_slice(&0u16.to_le_bytes());
                    idb.extend_from_slice(&262_144u32.to_le_bytes());
                    // Written below, before the packet that needs it.
                    body = idb;
                    next
                });
                if id == next {
                    block(&mut w, 1, &body)?;
                }
                buf.clear();
                buf.extend_from_slice(p.data);
                remap(p.link, &mut buf, r);
                let ts = (p.ts.0 + shift) as u64;
                body.clear();
                body.extend_from_slice(&id.to_le_bytes());
                body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
                body.extend_from_slice(&(ts as u32).to_le_bytes());
                body.extend_from_slice(&(buf.len() as u32).to_le_bytes());
                body.extend_from_slice(&p.orig_len.max(buf.len() as u32).to_le_bytes());
                body.extend_from_slice(&buf);
                block(&mut w, 6, &body)?;
                packets += 1;
            }
        }
    }
    w.flush()?;
    eprintln!(
        "{}: {packets} packets, {} interfaces",
        out.display(),
        ifaces.len()
    );
    Ok(())
}
