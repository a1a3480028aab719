#![no_main]
//! Any bytes as a capture file: the reader returns packets, a clean end
//! or an error naming an offset — never a panic or an unbounded buffer.
use botscope_wire::{CaptureReader, WireConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = WireConfig {
        read_buffer_size: 4096,
        max_record_len: 64 * 1024,
        ..WireConfig::default()
    };
    let r: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut reader) = CaptureReader::from_reader(r, "fuzz", &cfg) else {
        return;
    };
    let mut n = 0u32;
    while let Ok(Some(p)) = reader.next_packet() {
        assert!(p.data.len() <= cfg.max_record_len);
        n += 1;
        if n > 100_000 {
            break;
        }
    }
});
