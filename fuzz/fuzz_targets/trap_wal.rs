#![no_main]
//! The trap's write-ahead log as read back at start: any bytes (a segment
//! damaged on disk) give the whole valid records at its start and count
//! the rest; never a name that leaves `new/`; a segment of encoded records
//! followed by garbage gives those records back first.
use botscope_trap::wal::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (records, rest) = decode(data);
    assert!(rest <= data.len());
    for (name, _) in &records {
        assert!(!name.is_empty() && !name.contains('/') && *name != "..");
    }
    // Re-encoding what was read gives back the bytes it was read from.
    let mut again = Vec::new();
    for (name, bytes) in &records {
        encode(&mut again, name, bytes);
    }
    assert_eq!(&again[..], &data[..data.len() - rest]);
    // Our own records, then the input as trailing garbage.
    let split = data.len() / 2;
    let mut seg = Vec::new();
    encode(&mut seg, "1.M1P1Q1.h,S=1", &data[..split]);
    seg.extend_from_slice(&data[split..]);
    let (r, _) = decode(&seg);
    assert_eq!(r.first(), Some(&("1.M1P1Q1.h,S=1", &data[..split])));
});
