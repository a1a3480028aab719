#![no_main]
//! Any bytes as a Zeek log (TSV or JSON lines, each log kind), a CTU-13
//! binetflow file, or a Zeek TSV file for the plain reader: bad lines are
//! counted and reported, never a panic.
use std::path::Path;

use botscope_zeeklog::{parse_binetflow, parse_zeek_log, parse_zeek_tsv};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = [
    "conn.log",
    "http.log",
    "dns.log",
    "smtp.log",
    "ssl.log",
    "x.binetflow",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(sel) % NAMES.len()];
    if name.ends_with("binetflow") {
        let _ = parse_binetflow(Path::new(name), rest);
    } else {
        let _ = parse_zeek_log(Path::new(name), rest);
    }
    let _ = parse_zeek_tsv(rest);
});
