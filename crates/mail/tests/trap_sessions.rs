//! A Maildir written by `botscope trap` is read with its session log: each
//! stored message gets the SMTP dialect of the session that delivered it
//! (the trap records every command; its `Received:` header says only EHLO
//! or HELO). A Maildir without the trap's log, or a message the log does
//! not name, is read as before.

use std::path::Path;

use botscope_mail::{for_each_message, MailAnalyzer, MailConfig};

const MSG: &[u8] = b"Received: from bot.example ([203.0.113.9])\r\n\tby trap.example (botscope-trap) with ESMTP id X1\r\n\tfor <a@trap.example>; Mon, 20 Dec 2010 10:00:00 +0000\r\nFrom: <s@spam.example>\r\nTo: <a@trap.example>\r\nSubject: hi\r\nMessage-ID: <1@spam.example>\r\n\r\nbody\r\n";

fn tokens_of(dir: &Path) -> Vec<(String, Vec<String>)> {
    let analyzer = MailAnalyzer::new(MailConfig::default(), None);
    let mut out = Vec::new();
    let stats = for_each_message(&[dir.to_path_buf()], analyzer.config(), |m| {
        let f = analyzer.features(m.raw, m.envelope).unwrap();
        let name = m.path.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, f.tokens));
    });
    assert!(
        stats.errors.iter().all(|e| e.contains("unreadable")),
        "{:?}",
        stats.errors
    );
    out.sort();
    out
}

#[test]
fn the_trap_maildir_is_read_with_its_session_log() {
    let store = std::env::temp_dir().join(format!("botscope-trap-sessions-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    let trap = store.join("trap");
    let new = trap.join("maildir/new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::create_dir_all(trap.join("maildir/cur")).unwrap();
    std::fs::write(new.join("1292839200.M1P9Q1.trap,S=300"), MSG).unwrap();
    std::fs::write(new.join("1292839200.M2P9Q2.trap,S=300"), MSG).unwrap();
    std::fs::write(new.join("1292839200.M3P9Q3.trap,S=300"), MSG).unwrap();
    // Session 1 (rotated log): lower case and pipelined; session 2
    // (current log): upper case, two recipients; a damaged line between.
    std::fs::write(
        trap.join("sessions.jsonl.1"),
        r#"{"session":"S1","commands":[{"verb":"ehlo"},{"verb":"mail"},{"verb":"rcpt"},{"verb":"data"},{"verb":"quit"}],"pipelined_commands":2,"messages":[{"id":"1292839200.M1P9Q1.trap"}]}
"#,
    )
    .unwrap();
    std::fs::write(
        trap.join("sessions.jsonl"),
        r#"{"session":"S2","commands":[{"verb":"EHLO"},{"verb":"MAIL"},{"verb":"RCPT"},{"verb":"RCPT"},{"verb":"DATA"}],"pipelined_commands":0,"messages":[{"id":"1292839200.M2P9Q2.trap"}]}
{"session":
"#,
    )
    .unwrap();
    let got = tokens_of(&store);
    assert_eq!(got.len(), 3);
    let has = |i: usize, t: &str| got[i].1.iter().any(|x| x == t);
    assert!(
        has(0, "cmds=ehlo,mail,rcpt,data") && has(0, "pipe=1") && has(0, "case=lower"),
        "{:?}",
        got[0]
    );
    assert!(
        has(1, "cmds=EHLO,MAIL,RCPT,DATA") && has(1, "pipe=0") && has(1, "case=upper"),
        "{:?}",
        got[1]
    );
    // Not in any log: only the Received header's EHLO.
    assert!(
        has(2, "greet=EHLO") && !got[2].1.iter().any(|t| t.starts_with("cmds=")),
        "{:?}",
        got[2]
    );
    let _ = std::fs::remove_dir_all(&store);
}
