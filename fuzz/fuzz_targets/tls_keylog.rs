#![no_main]
//! Key-log parsing and record decryption on arbitrary input: never panics,
//! and a record that does not authenticate never yields plaintext.
use botscope_proto::tls::decrypt::{Decrypter, KeyLog, Secrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = KeyLog::parse(&String::from_utf8_lossy(data));
    let [sel, rest @ ..] = data else { return };
    let ciphers = [0xc02f, 0xc030, 0xcca8, 0x1301, 0x1302, 0x1303, 0x002f];
    let cipher = ciphers[usize::from(*sel) % ciphers.len()];
    let secrets = Secrets {
        master: Some(vec![7; 48]),
        client_hs: Some(vec![1; 32]),
        server_hs: Some(vec![2; 48]),
        client_app: Some(vec![3; 32]),
        server_app: Some(vec![4; 48]),
    };
    let Ok(mut d) = Decrypter::new(&secrets, &[5; 32], &[6; 32], cipher >> 8 == 0x13, cipher)
    else {
        return;
    };
    // Records: 1 byte direction, 2 bytes length, body.
    let mut r = rest;
    while r.len() >= 3 {
        let orig = r[0] & 1 == 0;
        let len = usize::from(u16::from_be_bytes([r[1], r[2]])).min(r.len() - 3);
        let mut body = r[3..3 + len].to_vec();
        let hdr = [23, 3, 3, (len >> 8) as u8, len as u8];
        if let Some((_, range)) = d.open(orig, hdr, &mut body) {
            assert!(range.end <= body.len());
        }
        r = &r[3 + len..];
    }
});
