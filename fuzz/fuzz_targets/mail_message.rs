#![no_main]
//! Any bytes as a mail message: `MailAnalyzer::analyze` returns a row
//! (with an error naming the cap when one is hit) — never a panic, never
//! a buffer past the caps. The first byte picks the mode: even, a mailbox
//! message (the top Received hop is the trap's); odd, a message from an
//! SMTP session (envelope given). Small caps so that the cap paths run.
use botscope_mail::{Envelope, MailAnalyzer, MailConfig, Model};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn analyzer() -> &'static MailAnalyzer {
    static A: OnceLock<MailAnalyzer> = OnceLock::new();
    A.get_or_init(|| {
        let mut model = Model::default();
        let tok = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        model.learn("a", &tok(&["mid=<x12$x8@a>", "mime=text/plain", "cs=utf-8"]));
        model.learn("b", &tok(&["mid=<D7@a.a>", "mime=text/html", "cte=7bit"]));
        let cfg = MailConfig {
            max_message_bytes: 48 << 10,
            max_header_bytes: 8 << 10,
            max_line_bytes: 16 << 10,
            max_depth: 6,
            max_parts: 40,
            max_text_bytes: 8 << 10,
            max_urls: 16,
            // Binary attachments left undecoded, as by default.
            decode_attachments: false,
        };
        MailAnalyzer::new(cfg, Some(model))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, raw)) = data.split_first() else {
        return;
    };
    let a = analyzer();
    let env = Envelope {
        session: true,
        helo: Some("fuzz".to_string()),
        commands: vec!["EHLO".to_string(), "MAIL".to_string()],
        ..Envelope::default()
    };
    let row = a.analyze("fuzz#0".to_string(), raw, (mode & 1 == 1).then_some(&env));
    assert!(row.urls.len() <= 16);
    assert!((0.0..=1.0).contains(&row.family_confidence));
    let _ = botscope_mail::to_json(&row);
    // Campaign clustering and naming take the row's subject and domains
    // as they came: any text, no panic, an id for a message with keys.
    let mut c = botscope_mail::Campaigns::new();
    let i = c.add(&row.domains, row.subject.as_deref());
    let j = c.add(&row.domains, row.subject.as_deref());
    assert_eq!(c.id(i), c.id(j));
    let mut n = botscope_mail::CampaignNames::new();
    n.add("c", row.subject.as_deref(), &row.domains);
    let _ = n.name("c");
    let _ = botscope_mail::campaign::subject_template(row.subject.as_deref().unwrap_or(""));
});
