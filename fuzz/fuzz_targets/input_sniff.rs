#![no_main]
//! Recognising what an input is from its first bytes (`botscope ingest`
//! sniffs every file it is given): any bytes give a kind, never a panic;
//! capture magics are always recognised as captures.
use botscope_wire::input::{sniff_bytes, InputKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let k = sniff_bytes(data);
    if data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        assert_eq!(k, InputKind::Pcapng);
    }
});
