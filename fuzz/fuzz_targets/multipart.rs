#![no_main]
//! Multipart bodies streamed in arbitrary pieces: never panics, the
//! same parts whatever the split, bounded output.
use botscope_proto::multipart::{Multipart, MAX_PARTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [cut, rest @ ..] = data else { return };
    let run = |chunk: usize| {
        let mut m = Multipart::new(b"b0undary".to_vec());
        for c in rest.chunks(chunk.max(1)) {
            m.feed(c);
        }
        m.finish();
        let n = m.parts();
        (m.filenames, m.mime_types, n)
    };
    let whole = run(rest.len().max(1));
    let split = run(usize::from(*cut) % 17 + 1);
    assert_eq!(whole, split);
    assert!(whole.1.len() <= MAX_PARTS && whole.0.len() <= 16);
});
