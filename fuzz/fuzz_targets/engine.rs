#![no_main]
//! Any bytes as a capture through the whole engine: decode, flows,
//! reassembly, protocol detection and every analyzer.
use botscope_engine::{analyze_reader, EngineConfig};
use botscope_event::Event;
use botscope_wire::CaptureReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = EngineConfig::default();
    let r: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(reader) = CaptureReader::from_reader(r, "fuzz", &cfg.wire) else {
        return;
    };
    let _ = analyze_reader(reader, &cfg, |_| Vec::<Event>::new());
});
