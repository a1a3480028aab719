//! Test harness shared by the `http_*` and `smtp_*` integration tests:
//! stream vectors (`.bsv`, written by `tests/data/http/extract.py` from
//! real captures), feeding analyzers whole or in small pieces, and access
//! to `../shared/data` (beside the repository) that fails under CI when the data is missing.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use botscope_event::{ConnId, Event, Transport, Ts, Uid};
use botscope_proto::{Analyzer, Ctx, Dir, ProtoConfig, Status};

/// One record of a stream vector.
#[derive(Clone, Debug)]
pub enum Rec {
    Data(Dir, Ts, Vec<u8>),
    Gap(Dir, Ts, u64),
}

/// A TCP stream as the analyzers see it: in-order bytes and gaps.
#[derive(Clone, Debug)]
pub struct Vector {
    pub id: ConnId,
    pub recs: Vec<Rec>,
}

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Load `tests/data/<rel>`.
pub fn load(rel: &str) -> Vector {
    let path = data_dir().join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_bsv(&bytes).unwrap_or_else(|| panic!("{}: bad vector", path.display()))
}

fn parse_bsv(b: &[u8]) -> Option<Vector> {
    let rest = b.strip_prefix(b"BSV1")?;
    let nl = rest.iter().position(|&c| c == b'\n')?;
    let head = std::str::from_utf8(&rest[..nl]).ok()?;
    let f: Vec<&str> = head.split(' ').collect();
    let id = ConnId {
        orig_h: f.first()?.parse::<IpAddr>().ok()?,
        orig_p: f.get(1)?.parse().ok()?,
        resp_h: f.get(2)?.parse::<IpAddr>().ok()?,
        resp_p: f.get(3)?.parse().ok()?,
        proto: Transport::Tcp,
    };
    let mut p = &rest[nl + 1..];
    let mut recs = Vec::new();
    while !p.is_empty() {
        let kind = p[0];
        let ts = i64::from_le_bytes(p.get(1..9)?.try_into().ok()?);
        let len = u32::from_le_bytes(p.get(9..13)?.try_into().ok()?) as usize;
        p = &p[13..];
        let dir = if kind == b'>' || kind == b'g' {
            Dir::Orig
        } else {
            Dir::Resp
        };
        match kind {
            b'>' | b'<' => {
                recs.push(Rec::Data(dir, Ts(ts), p.get(..len)?.to_vec()));
                p = &p[len..];
            }
            b'g' | b'G' => recs.push(Rec::Gap(dir, Ts(ts), len as u64)),
            _ => return None,
        }
    }
    Some(Vector { id, recs })
}

pub fn test_id() -> ConnId {
    ConnId {
        orig_h: "10.0.0.1".parse().unwrap(),
        orig_p: 49152,
        resp_h: "10.0.0.2".parse().unwrap(),
        resp_p: 80,
        proto: Transport::Tcp,
    }
}

/// Build a vector from byte strings (all at ts = 1 s, one record each).
pub fn vector(parts: &[(Dir, &[u8])]) -> Vector {
    Vector {
        id: test_id(),
        recs: parts
            .iter()
            .map(|(d, b)| Rec::Data(*d, Ts(1_000_000), b.to_vec()))
            .collect(),
    }
}

/// How to cut the records into `data()` calls.
#[derive(Clone, Copy, Debug)]
pub enum Feed {
    /// One call per record.
    Whole,
    /// One call per byte.
    Bytewise,
    /// Pseudo-random pieces of 1..=max bytes from a seed.
    Random(u64, usize),
}

pub struct Outcome {
    pub events: Vec<Event>,
    /// The last status other than `Continue`, if any (feeding stops there).
    pub stopped: Option<Status>,
}

pub fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// Feed `v` to `an` and finish, collecting every event.
pub fn run(an: &mut dyn Analyzer, cfg: &ProtoConfig, v: &Vector, feed: Feed) -> Outcome {
    let mut events: Vec<Event> = Vec::new();
    let mut expectations = Vec::new();
    let mut stopped = None;
    let mut rng = match feed {
        Feed::Random(seed, _) => seed | 1,
        _ => 1,
    };
    let mut last_ts = Ts(0);
    'outer: for rec in &v.recs {
        let (ts, dir) = match rec {
            Rec::Data(d, ts, _) | Rec::Gap(d, ts, _) => (*ts, *d),
        };
        last_ts = ts;
        let mut ctx = Ctx {
            ts,
            uid: Uid(42),
            id: v.id,
            config: cfg,
            sink: &mut events,
            expectations: &mut expectations,
        };
        let st = match rec {
            Rec::Gap(_, _, n) => an.gap(&mut ctx, dir, *n),
            Rec::Data(_, _, bytes) => {
                let mut st = Status::Continue;
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = match feed {
                        Feed::Whole => rest.len(),
                        Feed::Bytewise => 1,
                        Feed::Random(_, max) => 1 + (xorshift(&mut rng) as usize) % max.max(1),
                    }
                    .min(rest.len());
                    st = an.data(&mut ctx, dir, &rest[..n]);
                    rest = &rest[n..];
                    if st != Status::Continue {
                        break;
                    }
                }
                st
            }
        };
        if st != Status::Continue {
            stopped = Some(st);
            break 'outer;
        }
    }
    let mut ctx = Ctx {
        ts: last_ts,
        uid: Uid(42),
        id: v.id,
        config: cfg,
        sink: &mut events,
        expectations: &mut expectations,
    };
    an.finish(&mut ctx);
    Outcome { events, stopped }
}

/// A file under `../shared/data` (beside the repository). Missing: skip with a message, or
/// fail when `CI=true`.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("BOTSCOPE_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let p = root.join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("shared test data missing under CI: {}", p.display());
    }
    eprintln!("skipping: shared test data missing: {}", p.display());
    None
}

/// Rows of a Zeek ASCII log (`#fields` header), as field-name → value maps.
pub fn zeek_log(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(str::to_string).collect();
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let vals: Vec<&str> = line.split('\t').collect();
        if fields.is_empty() {
            // `.cut` baselines: the first line names the columns.
            fields = vals.iter().map(|s| s.to_string()).collect();
            continue;
        }
        rows.push(
            fields
                .iter()
                .cloned()
                .zip(vals.iter().map(|s| s.to_string()))
                .collect(),
        );
    }
    rows
}

/// Zeek's rendering of an optional string.
pub fn z(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".to_string())
}

/// Zeek's rendering of a set/vector of strings.
pub fn zset(v: &[String]) -> String {
    if v.is_empty() {
        "(empty)".to_string()
    } else {
        v.join(",")
    }
}
