#![no_main]
//! Any bytes as a packet of any link type, unwrapped through every tunnel
//! layer it claims (GRE, ERSPAN, VXLAN, Geneve, GTP-U, Teredo, AYIYA, IP in
//! IP), then through the defragmenter.
use botscope_event::Ts;
use botscope_wire::{decapsulate, packet, Defragmenter, LinkType, WireConfig, L4};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 17] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::DLT_RAW_12,
    LinkType::DLT_RAW_14,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType::PPP,
    LinkType::FDDI,
    LinkType::PPP_HDLC,
    LinkType::C_HDLC,
    LinkType::IEEE802_11,
    LinkType::IEEE802_11_RADIOTAP,
    LinkType::NFLOG,
];

/// Layers followed at most (the engine's default cap is 2).
const MAX_LAYERS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(sel) % LINKS.len()];
    let mut defrag = Defragmenter::new(&WireConfig::default());
    if let Ok(p) = packet::decode(link, rest) {
        if let (L4::Fragment, Some(f)) = (&p.l4, &p.fragment) {
            if let Ok(Some(whole)) = defrag.push(Ts(1), f.ip_packet) {
                let _ = packet::decode_ip(&whole);
            }
        }
        let mut cur = p;
        for _ in 0..MAX_LAYERS {
            let Ok(Some(inner)) = decapsulate(&cur) else {
                break;
            };
            let Ok(next) = inner.decode() else { break };
            cur = next;
        }
    }
    // The same bytes as several fragments of one datagram.
    for chunk in rest.chunks(64) {
        let _ = defrag.push(Ts(2), chunk);
    }
});
