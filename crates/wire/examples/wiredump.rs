//! Print one line per packet: offset, link type, decode result.
//! `cargo run -p botscope-wire --example wiredump -- FILE`
use botscope_wire::{packet::decode, CaptureReader, WireConfig};

fn main() {
    let path = std::env::args().nth(1).expect("usage: wiredump FILE");
    let mut r = match CaptureReader::open(path.as_ref(), &WireConfig::default()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut n = 0u64;
    loop {
        match r.next_packet() {
            Ok(Some(p)) => {
                n += 1;
                match decode(p.link, p.data) {
                    Ok(d) => println!(
                        "{n} @{} {} {} -> {} len={} {:?}",
                        p.offset, p.ts, d.src, d.dst, d.ip_len, d.l4
                    ),
                    Err(e) => println!("{n} @{} {} ERR {} ({e})", p.offset, p.ts, e.weird_name()),
                }
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("{e}");
                break;
            }
        }
    }
    eprintln!("{:?}", r.stats());
}
