//! TLS decryption with a key log on a capture of real clients and
//! servers (curl and OpenSSL, `tests/data/tls-keylog/README.md`): every
//! AEAD suite of TLS 1.2 and 1.3 gives the HTTP request inside, on the
//! TLS connection's uid; a CBC suite is named in a weird; without the
//! key log nothing inside is read; a wrong key log never yields rows.

use std::path::Path;
use std::sync::Arc;

use botscope_engine::{analyze_file, EngineConfig};
use botscope_event::Event;
use botscope_proto::tls::decrypt::KeyLog;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls-keylog")
        .join(name)
}

fn events(keylog: Option<KeyLog>) -> Vec<Event> {
    let mut cfg = EngineConfig::default();
    cfg.proto.tls_keylog = keylog.map(Arc::new);
    let (shards, _) = analyze_file(&data("curl-openssl-loopback.pcapng"), &cfg, |_| {
        Vec::<Event>::new()
    });
    shards.into_iter().flatten().collect()
}

#[test]
fn every_aead_suite_is_decrypted() {
    let log = KeyLog::load(&data("curl-openssl-loopback.keylog.txt")).expect("key log");
    assert_eq!(log.len(), 6);
    let ev = events(Some(log));
    let mut uris: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Http(h) => h.uri.as_deref(),
            _ => None,
        })
        .collect();
    uris.sort_unstable();
    assert_eq!(
        uris,
        ["/aes128", "/aes256", "/chacha12", "/chacha13", "/gcm256"]
    );
    // Each request is on a TLS connection, and has its response.
    let ssl_uids: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Ssl(s) => s.meta.map(|m| m.uid),
            _ => None,
        })
        .collect();
    for e in &ev {
        if let Event::Http(h) = e {
            assert!(ssl_uids.contains(&h.meta.expect("meta").uid));
            assert_eq!(h.status_code, Some(200), "{h:?}");
            assert_eq!(h.user_agent.as_deref(), Some("curl/7.88.1"));
        }
    }
    let weirds: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Weird(w) => Some(format!("{} {}", w.name, w.addl.as_deref().unwrap_or(""))),
            _ => None,
        })
        .collect();
    assert!(
        weirds
            .iter()
            .any(|w| w.starts_with("SSL_decrypt_unsupported_cipher") && w.contains("CBC")),
        "{weirds:?}"
    );
    assert!(
        !weirds.iter().any(|w| w.starts_with("SSL_decrypt_failed")),
        "{weirds:?}"
    );
}

#[test]
fn without_or_with_wrong_keys_nothing_inside_is_read() {
    let http = |ev: &[Event]| ev.iter().filter(|e| matches!(e, Event::Http(_))).count();
    assert_eq!(http(&events(None)), 0);
    // The same client randoms with other secrets: every record fails its
    // tag, no garbage reaches the HTTP analyzer.
    let text = std::fs::read_to_string(data("curl-openssl-loopback.keylog.txt")).expect("read");
    let wrong: String = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() == 3 {
                format!("{} {} {}\n", f[0], f[1], "5a".repeat(f[2].len() / 2))
            } else {
                String::new()
            }
        })
        .collect();
    let ev = events(Some(KeyLog::parse(&wrong)));
    assert_eq!(http(&ev), 0);
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Weird(w) if w.name == "SSL_decrypt_failed")));
}
