#![no_main]
//! SSH: identification lines (and a server's lines before them), clear
//! binary packets up to NEWKEYS (KEXINIT name-lists, key exchange
//! replies), then the encrypted-size heuristic for authentication.
use botscope_proto::{ssh, ProtoConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = ProtoConfig::default();
    let mut an = ssh::SshAnalyzer::new(&cfg);
    botscope_fuzz::drive(&mut an, data, false);
    botscope_fuzz::probe_both(data, (40000, 22), ssh::probe);
});
