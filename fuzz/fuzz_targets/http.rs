#![no_main]
use botscope_proto::{http, ProtoConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = ProtoConfig::default();
    let mut an = http::HttpAnalyzer::new(&cfg);
    botscope_fuzz::drive(&mut an, data, false);
    botscope_fuzz::probe_openings(data, http::probe);
});
