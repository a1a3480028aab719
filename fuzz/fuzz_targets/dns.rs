#![no_main]
use botscope_proto::{dns, ProtoConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = ProtoConfig::default();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let mut an = dns::DnsAnalyzer::new_udp(&cfg);
        botscope_fuzz::drive(&mut an, rest, true);
    } else {
        let mut an = dns::DnsAnalyzer::new_tcp(&cfg);
        botscope_fuzz::drive(&mut an, rest, false);
    }
    let _ = dns::is_response(rest);
    let _ = dns::parse_message(rest);
    botscope_fuzz::probe_openings(rest, dns::probe);
    botscope_fuzz::probe_openings(rest, dns::probe_tcp);
});
