#![no_main]
//! Mail MIME entities (files.log for SMTP): never panics, every entity's
//! raw range lies inside the message, bounded count, and decoding never
//! grows a part past what its encoding allows.
use botscope_proto::mime::{entities, quoted_printable, MAX_ENTITIES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let es = entities(data);
    assert!(es.len() <= MAX_ENTITIES);
    for e in &es {
        assert!(e.raw.start <= e.raw.end && e.raw.end <= data.len());
        assert!(e.depth >= 1);
        // Decoded content: at most the raw bytes plus a CRLF per line.
        let raw = &data[e.raw.clone()];
        let lines = raw.iter().filter(|&&b| b == b'\n').count() + 1;
        assert!(e.content.len() <= raw.len() + 2 * lines);
    }
    let q = quoted_printable(data, true);
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    assert!(q.len() <= data.len() + 2 * lines);
});
