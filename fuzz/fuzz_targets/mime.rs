#![no_main]
//! Mail MIME entities (files.log for SMTP): never panics, every entity's
//! raw range lies inside the message, bounded count, decoding never
//! grows a part past what its encoding allows, and the length and head
//! read without decoding agree with the whole decoded content.
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
        let c = e.content();
        assert!(c.len() <= raw.len() + 2 * lines);
        assert_eq!(e.decoded_len(), c.len());
        let h = e.head(512);
        assert_eq!(&h[..], &c[..c.len().min(512)]);
    }
    let q = quoted_printable(data, true);
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    assert!(q.len() <= data.len() + 2 * lines);
});
