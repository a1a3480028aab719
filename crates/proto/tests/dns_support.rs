//! Shared helpers of the DNS, TLS and IRC analyzer tests (included by
//! `dns_*.rs`, `tls_*.rs` and `irc_*.rs` with `#[path]`; as its own test
//! target it holds only the helpers' self-test).
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use botscope_event::{ConnId, Event, Transport, Ts, Uid};
use botscope_proto::{Analyzer, Ctx, Dir, Expectation, ProtoConfig, Status};

/// One payload of a flow: capture time, direction, bytes.
pub type Seg = (Ts, Dir, Vec<u8>);

/// Root of the shared data set (baselines and pcaps): `../shared/data`
/// beside the repository, or `$BOTSCOPE_DATA`.
pub fn shared_root() -> PathBuf {
    std::env::var_os("BOTSCOPE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// A file of the shared data set. Missing: a test failure when `CI=true`,
/// otherwise `None` (the caller skips with a message).
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = shared_root().join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("shared test data missing under CI: {}", p.display());
    }
    eprintln!("skipping: shared test data not found: {}", p.display());
    None
}

/// Load a vector file of `tests/data` (`<us> <O|R> <hex>` per line).
pub fn vectors(rel: &str) -> Vec<Seg> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            let ts: i64 = it.next().and_then(|t| t.parse().ok()).expect("ts");
            let dir = match it.next() {
                Some("O") => Dir::Orig,
                Some("R") => Dir::Resp,
                d => panic!("bad dir {d:?} in {}", p.display()),
            };
            let bytes = hex::decode(it.next().unwrap_or("")).expect("hex");
            (Ts(ts), dir, bytes)
        })
        .collect()
}

pub fn conn_id(proto: Transport) -> ConnId {
    ConnId {
        orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        orig_p: 40000,
        resp_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        resp_p: 53,
        proto,
    }
}

/// What a run produced.
#[derive(Debug, Default, PartialEq)]
pub struct Run {
    pub events: Vec<Event>,
    pub expectations: Vec<Expectation>,
    pub statuses: Vec<Status>,
}

impl Run {
    pub fn weirds(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Weird(w) => Some(w.name.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Feed `segs` to `an` (split into `chunk`-byte pieces when given), as the
/// stream layer would: stop on `Done`, `Violation` or `StartTls`, then
/// call `finish`.
pub fn run(an: &mut dyn Analyzer, segs: &[Seg], chunk: Option<usize>, config: &ProtoConfig) -> Run {
    run_id(an, segs, chunk, config, conn_id(Transport::Tcp))
}

/// [`run`] on a connection with the endpoints of `id`.
pub fn run_id(
    an: &mut dyn Analyzer,
    segs: &[Seg],
    chunk: Option<usize>,
    config: &ProtoConfig,
    id: ConnId,
) -> Run {
    let mut out = Run::default();
    let mut sink: Vec<Event> = Vec::new();
    let mut exp = Vec::new();
    'outer: for (ts, dir, bytes) in segs {
        let pieces: Vec<&[u8]> = match chunk {
            Some(n) => bytes.chunks(n.max(1)).collect(),
            None => vec![bytes.as_slice()],
        };
        for p in pieces {
            let mut ctx = Ctx {
                ts: *ts,
                uid: Uid(1),
                id,
                config,
                sink: &mut sink,
                expectations: &mut exp,
            };
            let st = an.data(&mut ctx, *dir, p);
            if st != Status::Continue {
                out.statuses.push(st);
                break 'outer;
            }
        }
    }
    let last_ts = segs.last().map(|s| s.0).unwrap_or_default();
    let mut ctx = Ctx {
        ts: last_ts,
        uid: Uid(1),
        id,
        config,
        sink: &mut sink,
        expectations: &mut exp,
    };
    an.finish(&mut ctx);
    out.events = sink;
    out.expectations = exp;
    out
}

/// Deterministic xorshift64* random bytes.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Rows of a Zeek ASCII log: `(fields, values)` per data line, across all
/// `#fields` blocks.
pub fn zeek_rows(text: &str) -> Vec<Vec<(String, String)>> {
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for l in text.lines() {
        if let Some(f) = l.strip_prefix("#fields\t") {
            fields = f.split('\t').map(str::to_string).collect();
        } else if !l.starts_with('#') && !l.is_empty() {
            rows.push(
                fields
                    .iter()
                    .cloned()
                    .zip(l.split('\t').map(str::to_string))
                    .collect(),
            );
        }
    }
    rows
}

/// The value of `field` in a row from [`zeek_rows`].
pub fn field<'a>(row: &'a [(String, String)], name: &str) -> &'a str {
    row.iter()
        .find(|(f, _)| f == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no field {name}"))
}

#[test]
fn xorshift_is_deterministic() {
    assert_eq!(XorShift(7).bytes(8), XorShift(7).bytes(8));
}
