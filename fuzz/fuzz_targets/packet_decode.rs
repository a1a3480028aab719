#![no_main]
//! Any bytes as a packet of any link type, then through the defragmenter.
use botscope_event::Ts;
use botscope_wire::{packet, Defragmenter, LinkType, WireConfig, L4};
use libfuzzer_sys::fuzz_target;

const LINKS: [u16; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let link = LinkType(LINKS[usize::from(sel) % LINKS.len()]);
    let mut defrag = Defragmenter::new(&WireConfig::default());
    if let Ok(p) = packet::decode(link, rest) {
        if let (L4::Fragment, Some(f)) = (&p.l4, &p.fragment) {
            if let Ok(Some(whole)) = defrag.push(Ts(1), f.ip_packet) {
                let _ = packet::decode_ip(&whole);
            }
        }
    }
    // The same bytes as several fragments of one datagram.
    for chunk in rest.chunks(64) {
        let _ = defrag.push(Ts(2), chunk);
    }
});
