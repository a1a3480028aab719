#![no_main]
//! Content probes of the detection-only services (RDP, SOCKS, MySQL,
//! PostgreSQL, SMB, Kerberos, LDAP on TCP; DHCP, NTP, SNMP, SIP,
//! Kerberos, LDAP, RDP-UDP on UDP) and the WebSocket analyzer with its
//! tunnelled-protocol probing. The first two bytes pick the ports.
use botscope_event::Dir;
use botscope_proto::{detect, websocket, ProtoConfig, TcpService, UdpService};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let ports = [21u16, 22, 67, 68, 88, 123, 161, 389, 445, 3389, 5060, 40000];
    let orig_p = ports[usize::from(*a) % ports.len()];
    let resp_p = ports[usize::from(*b) % ports.len()];
    for svc in TcpService::TCP_ALL {
        botscope_fuzz::probe_both(rest, (orig_p, resp_p), |input| svc.probe_tcp(input));
    }
    for dir in [Dir::Orig, Dir::Resp] {
        for svc in UdpService::ALL {
            let _ = svc.probe(dir, rest, orig_p, resp_p);
        }
    }
    let _ = detect::probe_sip(rest);
    let cfg = ProtoConfig::default();
    let mut ws = websocket::WebSocketAnalyzer::new(&cfg, orig_p, resp_p);
    botscope_fuzz::drive(&mut ws, rest, false);
});
