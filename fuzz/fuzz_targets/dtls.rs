#![no_main]
use botscope_proto::{dtls, ProtoConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = ProtoConfig::default();
    let mut an = dtls::DtlsAnalyzer::new(&cfg);
    botscope_fuzz::drive(&mut an, data, true);
    let _ = dtls::probe(data);
    let _ = botscope_proto::probe_udp(data, &cfg);
});
