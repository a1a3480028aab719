#![no_main]
use botscope_proto::{irc, ProtoConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = ProtoConfig::default();
    let mut an = irc::IrcAnalyzer::new(&cfg);
    botscope_fuzz::drive(&mut an, data, false);
    botscope_fuzz::probe_openings(data, irc::probe);
});
