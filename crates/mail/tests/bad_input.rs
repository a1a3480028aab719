//! Hostile and broken messages: every one gets its row, the ones over a
//! cap with an error naming the cap, and the batch goes on.

use std::io::Write;

use botscope_mail::{for_each_message, Envelope, MailAnalyzer, MailConfig};

fn analyzer() -> MailAnalyzer {
    MailAnalyzer::new(MailConfig::default(), None)
}

fn err(raw: &[u8]) -> Option<String> {
    analyzer().analyze("t#0".to_string(), raw, None).error
}

#[test]
fn deep_nesting_is_refused() {
    let depth = 2000;
    let mut m = String::from("From: a@b.c\nSubject: bomb\nMIME-Version: 1.0\n");
    for i in 0..depth {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
        ));
    }
    m.push_str("Content-Type: text/plain\n\nhello\n");
    for i in (0..depth).rev() {
        m.push_str(&format!("--b{i}--\n"));
    }
    let e = err(m.as_bytes()).expect("an error");
    assert!(
        e.starts_with("mime_too_deep") || e.starts_with("too_many_parts"),
        "{e}"
    );
}

#[test]
fn thousands_of_parts_are_refused() {
    let mut m = String::from(
        "From: a@b.c\nSubject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"x\"\n\n",
    );
    for i in 0..5000 {
        m.push_str(&format!("--x\nContent-Type: text/plain\n\npart {i}\n"));
    }
    m.push_str("--x--\n");
    let e = err(m.as_bytes()).expect("an error");
    assert!(e.starts_with("too_many_parts: 5001 MIME parts"), "{e}");
}

#[test]
fn huge_headers_are_refused() {
    let mut m = String::from("From: a@b.c\n");
    while m.len() < 2 << 20 {
        m.push_str(
            "X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        );
    }
    m.push_str("\nbody\n");
    let e = err(m.as_bytes()).expect("an error");
    assert!(e.starts_with("header_too_large"), "{e}");
}

#[test]
fn a_long_line_is_refused_with_its_offset() {
    let mut m = b"From: a@b.c\nSubject: line\n\n".to_vec();
    m.extend(std::iter::repeat_n(b'x', 3 << 20));
    m.extend_from_slice(b"\n");
    let e = err(&m).expect("an error");
    assert_eq!(
        e,
        "line_too_long: line at byte offset 27 is over max_line_bytes (1048576)"
    );
}

#[test]
fn broken_encodings_junk_and_nuls_still_analyse() {
    let cases: Vec<Vec<u8>> = vec![
        b"Subject: b64\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!notbase64===\x00\xff\nQUJD*\n".to_vec(),
        b"Subject: qp\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<a href=3D\"http://x.ru/=\n=ZZ=4\">=E9=\n".to_vec(),
        b"Subject: \xff\xfe\x80 junk =?utf-8?B?////?= =?bogus?Q?x?=\nFrom: \x00\x01\n\n\x80\x81\x82\x00\x00 http://ok.example.com/\n".to_vec(),
        b"Subject: nul\x00inside\nContent-Type: multipart/mixed; boundary=\"\x00\"\n\n--\x00\nContent-Type: text/plain\n\nhi\n--\x00--\n".to_vec(),
        b"Content-Type: multipart/alternative\n\nno boundary at all\n".to_vec(),
        b"Date: Thu, 04 Jun 3610 21:22:24 -0300\nSubject: bogus date\n\nhi\n".to_vec(),
        b"Date: Wed, 05 Aug 2020 04:01:50 -1900\nSubject: bogus zone\n\nhi\n".to_vec(),
    ];
    for raw in &cases {
        let row = analyzer().analyze("t#0".to_string(), raw, None);
        assert!(
            row.error.is_none(),
            "{:?} on {:?}",
            row.error,
            String::from_utf8_lossy(raw)
        );
        assert_eq!(row.size, raw.len() as u64);
    }
    let row = analyzer().analyze("t#0".to_string(), &cases[2], None);
    assert!(
        row.urls.iter().any(|u| u.contains("ok.example.com")),
        "{:?}",
        row.urls
    );
    for bogus in &cases[5..] {
        let row = analyzer().analyze("t#0".to_string(), bogus, None);
        assert!(row.date_header.is_some());
        assert_eq!(row.date_ts, None, "a bogus Date is never a time");
    }
}

#[test]
fn missing_headers_and_empty_input() {
    assert_eq!(err(b"").as_deref(), Some("empty: no bytes"));
    assert_eq!(
        err(b"just a body line\nand another\n").as_deref(),
        Some("no_headers: the first line is not a header field")
    );
    // Headers without body, body without Date/Message-ID/From: fine.
    let row = analyzer().analyze("t#0".to_string(), b"Subject: only\n", None);
    assert_eq!(row.error, None);
    assert_eq!(row.subject.as_deref(), Some("only"));
    assert_eq!(row.message_id, None);
    assert_eq!(row.family, "unknown");
    assert_eq!(row.category, "other");
}

#[test]
fn session_envelope_is_used() {
    let env = Envelope {
        session: true,
        received_ts: Some(botscope_event::Ts(1_292_803_231_000_000)),
        client_ip: Some("203.0.113.9".parse().unwrap()),
        helo: Some("bot42".to_string()),
        mail_from: Some("x@y.z".to_string()),
        rcpt_to: vec!["trap@example.org".to_string()],
        commands: vec!["EHLO".into(), "MAIL".into(), "RCPT".into(), "DATA".into()],
        pipelined: false,
    };
    // A forged Received header in the message does not override the session.
    let raw = b"Received: from mx.forged.example ([198.51.100.1]) by x; Mon, 1 Jan 2001 00:00:00 +0000\nSubject: hi\n\nhello\n";
    let row = analyzer().analyze("s#0".to_string(), raw, Some(&env));
    assert_eq!(row.sender_ip, env.client_ip);
    assert_eq!(row.helo.as_deref(), Some("bot42"));
    assert_eq!(row.received_ts, env.received_ts);
    assert_eq!(row.rcpt_to, env.rcpt_to);
    let f = analyzer().features(raw, Some(&env)).unwrap();
    assert!(
        f.tokens.contains(&"cmds=EHLO,MAIL,RCPT,DATA".to_string()),
        "{:?}",
        f.tokens
    );
    assert!(
        f.tokens.contains(&"helo=a2".to_string())
            || f.tokens.iter().any(|t| t.starts_with("helo="))
    );
}

#[test]
fn our_trap_header_is_trusted_on_a_private_network() {
    // botscope trap on loopback: its own hop names the client, even from
    // a non-public address; a private hop written by anything else is not
    // the trap's (the bot's forged hop below it is public but not first).
    let ours = b"Received: from bot.example ([127.0.0.1] port 40000)\r\n\tby trap.example (botscope-trap) with ESMTP id 1.M1P1Q0.trap.example\r\n\tfor <x@trap.example>;\r\n\tTue, 21 Dec 2010 10:00:00 +0000\r\n\
Received: from forged.example ([198.51.100.7]) by relay.example; Tue, 21 Dec 2010 09:00:00 +0000\r\n\
Subject: hi\r\n\r\nhello\r\n";
    let row = analyzer().analyze("t#0".to_string(), ours, None);
    assert_eq!(row.sender_ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(row.helo.as_deref(), Some("bot.example"));
    assert_eq!(
        row.received_ts,
        Some(botscope_event::Ts(1_292_925_600_000_000))
    );
    let other = b"Received: from bot.example ([10.0.0.5]) by mx.internal (Postfix) with ESMTP id X; Tue, 21 Dec 2010 10:00:00 +0000\r\n\
Received: from forged.example ([198.51.100.7]) by relay.example; Tue, 21 Dec 2010 09:00:00 +0000\r\n\
Subject: hi\r\n\r\nhello\r\n";
    let row = analyzer().analyze("t#1".to_string(), other, None);
    assert_eq!(row.sender_ip, Some("198.51.100.7".parse().unwrap()));
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_mib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[test]
fn a_100_mb_line_in_an_mbox_keeps_memory_bounded_and_the_batch_going() {
    let dir = std::env::temp_dir().join(format!("botscope-mail-bomb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bomb.mbox");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(b"From a@b Mon Dec 20 00:00:31 2010\nSubject: first\n\nok\n\n")
            .unwrap();
        f.write_all(b"From a@b Mon Dec 20 00:00:32 2010\nSubject: bomb\n\n")
            .unwrap();
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\n\nFrom a@b Mon Dec 20 00:00:33 2010\nSubject: after\n\nstill read\n")
            .unwrap();
    }
    let a = analyzer();
    let mut rows = Vec::new();
    let stats = for_each_message(std::slice::from_ref(&path), a.config(), |m| {
        rows.push(a.analyze_raw(m))
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].error, None);
    let e = rows[1].error.as_deref().unwrap();
    assert!(e.starts_with("message_too_large: 10485"), "{e}");
    assert_eq!(rows[2].error, None);
    assert_eq!(rows[2].subject.as_deref(), Some("after"));
    if let Some(peak) = peak_rss_mib() {
        // The cap is 32 MiB; the 100 MiB line is never held.
        assert!(peak < 100, "peak RSS {peak} MiB");
    }
}
