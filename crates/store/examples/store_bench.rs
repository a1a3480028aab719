//! Benchmarks of the dataset (run by `bench/store.sh`, release build).
//!
//! ```text
//! store_bench conn N DIR       write N generated conn events (already decoded) into DIR
//! store_bench mail N DIR       write N generated mail rows (+ rollup) into DIR
//! store_bench timeline DIR     time `timeline --by family --every day` and the same
//!                              counts by a DataFusion scan of the raw mail table
//! ```
//!
//! Generated rows are deterministic (a counter-based hash), spread over the
//! winter of 2010-11 (120 days), with the simulator's families, categories,
//! brands and about 60 campaigns.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

use botscope_event::{
    Conn, ConnId, ConnState, Duration, MailMessage, Meta, Service, Transport, Ts, Uid,
};
use botscope_store::{By, Every, Store};
use rayon::prelude::*;

const START: i64 = 1_288_569_600_000_000; // 2010-11-01
const SPAN: i64 = 120 * 86_400_000_000;
const CHUNK: u64 = 1 << 20;

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn conn(i: u64) -> Conn {
    let h = mix(i);
    let ts = START + (i as i64 * 7919) % SPAN;
    Conn {
        meta: Meta {
            ts: Ts(ts),
            uid: Uid(h),
            id: ConnId {
                orig_h: IpAddr::V4(Ipv4Addr::from(0xc0a8_3800 | (h as u32 & 0xff))),
                orig_p: 1024 + (h >> 8) as u16 % 60000,
                resp_h: IpAddr::V4(Ipv4Addr::from((h >> 16) as u32)),
                resp_p: [25, 80, 443, 53][(h >> 48) as usize % 4],
                proto: Transport::Tcp,
            },
        },
        service: vec![
            [Service::SMTP, Service::HTTP, Service::SSL, Service::DNS][(h >> 48) as usize % 4],
        ],
        duration: Some(Duration((h >> 20) as i64 % 30_000_000)),
        orig_bytes: Some((h >> 24) % 20_000),
        resp_bytes: Some((h >> 28) % 200_000),
        conn_state: if h.is_multiple_of(10) {
            ConnState::S0
        } else {
            ConnState::SF
        },
        local_orig: None,
        local_resp: None,
        missed_bytes: 0,
        history: if h.is_multiple_of(10) {
            "S"
        } else {
            "ShADadFf"
        }
        .to_string(),
        orig_pkts: (h >> 32) % 40,
        orig_ip_bytes: (h >> 36) % 30_000,
        resp_pkts: (h >> 40) % 200,
        resp_ip_bytes: (h >> 44) % 300_000,
        ip_proto: 6,
        tunnel_parents: Vec::new(),
    }
}

const FAMILIES: [&str; 6] = ["Rustock", "Lethic", "Xarvester", "Cutwail", "Grum", "Bagle"];
const CATEGORIES: [&str; 9] = [
    "pharma",
    "replica",
    "dating",
    "casino",
    "stock",
    "phishing",
    "malware",
    "advance_fee",
    "other",
];
const BRANDS: [&str; 8] = [
    "Canadian Pharmacy",
    "Pharmacy Express",
    "Rolex Replica",
    "Stock Alert",
    "Lonely Wives",
    "Casino Royal",
    "PayPal",
    "Diploma",
];

fn mail(i: u64) -> MailMessage {
    let h = mix(i ^ 0x5eed);
    let ts = START + (i as i64 * 104_729) % SPAN;
    let family = FAMILIES[(h % 6) as usize];
    MailMessage {
        source: format!("mail/gen.mbox#{i}"),
        received_ts: Some(Ts(ts)),
        sender_ip: Some(IpAddr::V4(Ipv4Addr::from((h >> 8) as u32))),
        subject: Some(format!("Offer {}", (h >> 20) % 500)),
        family: family.to_string(),
        family_confidence: 0.9,
        campaign: Some(format!("{}-{}", family.to_lowercase(), (h >> 40) % 10)),
        category: CATEGORIES[((h >> 12) % 9) as usize].to_string(),
        brand: Some(BRANDS[((h >> 16) % 8) as usize].to_string()),
        size: 800 + (h >> 30) % 4000,
        ..Default::default()
    }
}

fn write_chunks<T: Send>(
    store: &Store,
    n: u64,
    make: impl Fn(u64) -> T + Sync,
    write: impl Fn(&mut botscope_store::Writer<'_>, &[T]) + Sync,
) {
    let chunks: Vec<u64> = (0..n.div_ceil(CHUNK)).collect();
    chunks.par_iter().for_each(|c| {
        let lo = c * CHUNK;
        let hi = (lo + CHUNK).min(n);
        let rows: Vec<T> = (lo..hi).map(&make).collect();
        let mut w = store.writer();
        write(&mut w, &rows);
        w.commit(Vec::new()).expect("commit");
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("conn") => {
            let n: u64 = args[2].parse().expect("N");
            let dir = Path::new(&args[3]);
            let store = Store::open(dir).expect("open");
            let t = Instant::now();
            write_chunks(&store, n, conn, |w, rows| {
                let refs: Vec<(&str, &Conn)> = rows.iter().map(|c| ("gen.pcap", c)).collect();
                w.write_conn(&refs).expect("write");
            });
            let s = t.elapsed().as_secs_f64();
            println!(
                "conn: {n} events in {s:.2} s = {:.2} M events/s (generate + encode + write + commit)",
                n as f64 / s / 1e6
            );
        }
        Some("mail") => {
            let n: u64 = args[2].parse().expect("N");
            let dir = Path::new(&args[3]);
            let store = Store::open(dir).expect("open");
            let t = Instant::now();
            write_chunks(&store, n, mail, |w, rows| {
                w.write_mail(rows).expect("write")
            });
            let s = t.elapsed().as_secs_f64();
            println!(
                "mail: {n} rows in {s:.2} s = {:.2} M rows/s",
                n as f64 / s / 1e6
            );
            let t = Instant::now();
            let c = botscope_store::compact(&store).expect("compact");
            println!(
                "compact: {} partitions, {} → {} files in {:.2} s",
                c.partitions.len(),
                c.files_before,
                c.files_after,
                t.elapsed().as_secs_f64()
            );
        }
        Some("timeline") => {
            let dir = Path::new(&args[2]);
            let t = Instant::now();
            let rows = botscope_store::timeline(dir, By::Family, Every::Day).expect("timeline");
            let s1 = t.elapsed().as_secs_f64();
            let total: u64 = rows.iter().map(|r| r.count).sum();
            println!(
                "timeline --by family --every day (rollup): {total} messages, {} rows, {s1:.3} s",
                rows.len()
            );
            let t = Instant::now();
            let b = botscope_store::sql(
                dir,
                "SELECT date_trunc('day', ts) AS d, family, count(*) AS n FROM mail GROUP BY 1, 2",
            )
            .expect("sql");
            let s2 = t.elapsed().as_secs_f64();
            let rows2: usize = b.iter().map(|b| b.num_rows()).sum();
            println!("DataFusion scan of the raw mail table: {rows2} rows, {s2:.3} s");
            println!("ratio scan / rollup: {:.1}x", s2 / s1);
        }
        _ => {
            eprintln!("usage: store_bench conn N DIR | mail N DIR | timeline DIR");
            std::process::exit(2);
        }
    }
}
