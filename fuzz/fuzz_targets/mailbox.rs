#![no_main]
//! POP3 and IMAP (the STARTTLS watchers): the first byte picks the
//! protocol, the rest is a conversation in the harness format.
use botscope_proto::{mailbox, ProtoConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = ProtoConfig::default();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let kind = if mode & 1 == 0 {
        mailbox::Mailbox::Pop3
    } else {
        mailbox::Mailbox::Imap
    };
    let mut an = mailbox::MailboxAnalyzer::new(kind, &cfg);
    botscope_fuzz::drive(&mut an, rest, false);
    match kind {
        mailbox::Mailbox::Pop3 => botscope_fuzz::probe_openings(rest, mailbox::probe_pop3),
        mailbox::Mailbox::Imap => botscope_fuzz::probe_openings(rest, mailbox::probe_imap),
    }
});
