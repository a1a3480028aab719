//! No analyzer reports a weird per byte: input that hits a cap, fed one
//! byte per call, gives one weird per cap hit (per line, record or
//! message), never one per call. The engine rate-limits floods of weirds
//! per name; this guards against the analyzers producing them from a
//! single long line or message.

#[path = "dns_support.rs"]
mod support;

use botscope_event::Ts;
use botscope_proto::dns::DnsAnalyzer;
use botscope_proto::http::HttpAnalyzer;
use botscope_proto::irc::IrcAnalyzer;
use botscope_proto::mailbox::{Mailbox, MailboxAnalyzer};
use botscope_proto::smtp::SmtpAnalyzer;
use botscope_proto::tls::TlsAnalyzer;
use botscope_proto::{Analyzer, Dir, ProtoConfig};
use support::*;

const LONG: usize = 40_000;

/// Run `segs` one byte per call; the weirds reported.
fn weirds_bytewise(an: &mut dyn Analyzer, segs: &[Seg], cfg: &ProtoConfig) -> Vec<String> {
    run(an, segs, Some(1), cfg).weirds()
}

fn seg(dir: Dir, parts: &[&[u8]]) -> Seg {
    (Ts(1), dir, parts.concat())
}

fn cfg() -> ProtoConfig {
    ProtoConfig {
        max_line_bytes: 1024,
        max_message_bytes: 1024,
        http_max_header_bytes: 1024,
        tls_max_record_bytes: 1024,
        dns_max_tcp_message: 1024,
        ..ProtoConfig::default()
    }
}

#[test]
fn line_protocols_one_weird_per_long_line() {
    let cfg = cfg();
    let long = vec![b'A'; LONG];
    let w = weirds_bytewise(
        &mut SmtpAnalyzer::new(&cfg),
        &[
            seg(Dir::Resp, &[b"220 mx\r\n"]),
            seg(Dir::Orig, &[b"EHLO ", &long, b"\r\n"]),
            seg(Dir::Resp, &[b"250 ", &long, b"\r\n"]),
        ],
        &cfg,
    );
    assert_eq!(w, ["smtp_line_too_long", "smtp_line_too_long"]);
    let w = weirds_bytewise(
        &mut IrcAnalyzer::new(&cfg),
        &[
            seg(Dir::Orig, &[b"NICK ", &long, b"\r\n"]),
            seg(Dir::Orig, &[&long]),
        ],
        &cfg,
    );
    assert_eq!(w, ["irc_line_too_long"]);
    for kind in [Mailbox::Pop3, Mailbox::Imap] {
        let w = weirds_bytewise(
            &mut MailboxAnalyzer::new(kind, &cfg),
            &[seg(Dir::Orig, &[&long, b"\r\n"]), seg(Dir::Resp, &[&long])],
            &cfg,
        );
        assert_eq!(w, ["line_too_long", "line_too_long"], "{kind:?}");
    }
}

#[test]
fn smtp_message_over_cap_one_weird() {
    let cfg = cfg();
    let mut body = b"Subject: x\r\n\r\n".to_vec();
    for _ in 0..LONG / 10 {
        body.extend_from_slice(b"123456789\n");
    }
    let w = weirds_bytewise(
        &mut SmtpAnalyzer::new(&cfg),
        &[
            seg(
                Dir::Orig,
                &[b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"],
            ),
            seg(Dir::Resp, &[b"250 ok\r\n250 ok\r\n354 go\r\n"]),
            seg(Dir::Orig, &[&body, b".\r\n"]),
            seg(Dir::Resp, &[b"250 ok\r\n"]),
        ],
        &cfg,
    );
    assert_eq!(w, ["smtp_message_too_long"]);
}

#[test]
fn http_header_over_cap_one_weird() {
    let cfg = cfg();
    let long = vec![b'a'; LONG];
    let w = weirds_bytewise(
        &mut HttpAnalyzer::new(&cfg),
        &[seg(Dir::Orig, &[b"GET / HTTP/1.1\r\nX-Long: ", &long])],
        &cfg,
    );
    assert_eq!(w, ["HTTP_header_too_long"]);
}

#[test]
fn tls_and_dns_one_weird_per_oversized_unit() {
    let cfg = cfg();
    // A handshake record over the cap is skipped, body unseen.
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(16_000u16).to_be_bytes());
    rec.extend_from_slice(&vec![1u8; 16_000]);
    let w = weirds_bytewise(
        &mut TlsAnalyzer::new(&cfg),
        &[seg(Dir::Orig, &[&rec])],
        &cfg,
    );
    assert_eq!(w, ["SSL_record_too_large"]);
    // A DNS-over-TCP message over the cap is skipped.
    let mut frame = 40_000u16.to_be_bytes().to_vec();
    frame.extend_from_slice(&vec![0u8; 40_000]);
    let w = weirds_bytewise(
        &mut DnsAnalyzer::new_tcp(&cfg),
        &[seg(Dir::Orig, &[&frame])],
        &cfg,
    );
    assert_eq!(w, ["DNS_tcp_message_too_large"]);
}
