#![no_main]
use botscope_proto::{tls, ProtoConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = ProtoConfig::default();
    let mut an = tls::TlsAnalyzer::new(&cfg);
    botscope_fuzz::drive(&mut an, data, false);
    botscope_fuzz::probe_openings(data, tls::probe);
});
