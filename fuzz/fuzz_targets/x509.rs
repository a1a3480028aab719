#![no_main]
//! Certificates as the TLS analyzer meets them: DER from a Certificate
//! message, parsed into an `x509.log` row, then the SNI check.
use botscope_proto::x509;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(cert) = x509::parse(data) {
        let _ = x509::hostname_matches(&cert, "www.example.com");
        let _ = cert.validity_secs();
        let _ = cert.san_count();
    }
});
