#![no_main]
//! FTP control connections: commands, replies (multi-line, missing or
//! odd codes), PORT/PASV/EPSV/EPRT parsing, path building; the first byte
//! picks whether every command is logged and the port the probe sees.
use botscope_proto::{ftp, ProtoConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let cfg = ProtoConfig {
        ftp_log_all_commands: mode & 1 == 1,
        max_line_bytes: 4096,
        ..ProtoConfig::default()
    };
    let mut an = ftp::FtpAnalyzer::new(&cfg);
    botscope_fuzz::drive(&mut an, rest, false);
    let port = if mode & 2 == 0 { 21 } else { 2121 };
    botscope_fuzz::probe_both(rest, (40000, port), ftp::probe);
});
