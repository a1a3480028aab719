//! STARTTLS with a given certificate: a rustls client that trusts only that
//! certificate upgrades the session and sends a message through it.

use std::sync::Arc;
use std::time::Duration;

use botscope_trap::{Trap, TrapConfig, TrapOptions};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(s: &mut BufReader<S>) -> String {
    let mut all = String::new();
    loop {
        let mut l = String::new();
        if s.read_line(&mut l).await.unwrap() == 0 {
            return all;
        }
        all.push_str(&l);
        if l.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

async fn cmd<S: AsyncRead + AsyncWrite + Unpin>(s: &mut BufReader<S>, line: &str) -> String {
    s.get_mut().write_all(line.as_bytes()).await.unwrap();
    reply(s).await
}

#[tokio::test]
async fn starttls_with_a_given_certificate_then_a_message() {
    let dir = std::env::temp_dir().join(format!("botscope-trap-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["mx.trap.example".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let cfg = TrapConfig {
        hostname: "mx.trap.example".into(),
        tls_cert: Some(dir.join("cert.pem")),
        tls_key: Some(dir.join("key.pem")),
        ..TrapConfig::default()
    };
    let trap = Arc::new(Trap::new(TrapOptions::new(cfg, dir.join("store"))).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = trap.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(
                listener,
                async {
                    let _ = stop_rx.await;
                },
                Duration::from_secs(5),
            )
            .await;
    });

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut plain = BufReader::new(tcp);
    assert!(reply(&mut plain).await.starts_with("220 mx.trap.example"));
    let ehlo = cmd(&mut plain, "EHLO bot.example\r\n").await;
    assert!(ehlo.contains("250-STARTTLS"), "{ehlo}");
    assert!(cmd(&mut plain, "STARTTLS\r\n")
        .await
        .starts_with("220 2.0.0"));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_cfg));
    let tls = connector
        .connect(
            ServerName::try_from("mx.trap.example").unwrap(),
            plain.into_inner(),
        )
        .await
        .expect("handshake against the given certificate");
    let mut s = BufReader::new(tls);
    let ehlo = cmd(&mut s, "EHLO bot.example\r\n").await;
    assert!(!ehlo.contains("STARTTLS"), "not offered twice: {ehlo}");
    assert!(cmd(&mut s, "STARTTLS\r\n").await.starts_with("503"));
    assert!(cmd(&mut s, "MAIL FROM:<a@b.example>\r\n")
        .await
        .starts_with("250"));
    assert!(cmd(&mut s, "RCPT TO:<x@trap.example>\r\n")
        .await
        .starts_with("250"));
    assert!(cmd(&mut s, "DATA\r\n").await.starts_with("354"));
    assert!(cmd(&mut s, "Subject: over TLS\r\n\r\nhi\r\n.\r\n")
        .await
        .starts_with("250"));
    assert!(cmd(&mut s, "QUIT\r\n").await.starts_with("221"));
    drop(s);

    let _ = stop_tx.send(());
    task.await.unwrap();
    let new = dir.join("store/trap/maildir/new");
    let files: Vec<_> = std::fs::read_dir(&new).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("with ESMTPS id"), "{text}");
    assert!(text.ends_with("Subject: over TLS\r\n\r\nhi\r\n"));
    assert_eq!(trap.stats().snapshot().tls_sessions, 1);
    let log = std::fs::read_to_string(dir.join("store/trap/sessions.jsonl")).unwrap();
    let rec: botscope_trap::SessionRecord =
        serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert!(rec.tls);
    let verbs: Vec<&str> = rec.commands.iter().map(|c| c.verb.as_str()).collect();
    assert_eq!(
        verbs,
        ["EHLO", "STARTTLS", "EHLO", "STARTTLS", "MAIL", "RCPT", "DATA", "QUIT"]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bad_certificate_file_is_an_error_naming_it() {
    let dir = std::env::temp_dir().join(format!("botscope-trap-badtls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), "not a certificate\n").unwrap();
    std::fs::write(dir.join("key.pem"), "not a key\n").unwrap();
    let cfg = TrapConfig {
        tls_cert: Some(dir.join("cert.pem")),
        tls_key: Some(dir.join("key.pem")),
        ..TrapConfig::default()
    };
    let err = Trap::new(TrapOptions::new(cfg, dir.join("store")))
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("cert.pem"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
