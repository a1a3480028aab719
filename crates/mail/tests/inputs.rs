//! Every input form: Maildir (cur/new, tmp skipped), .eml folders, mboxrd
//! escaping, compressed mbox, non-mail files in a walk.

use std::io::Write;
use std::path::PathBuf;

use botscope_mail::{for_each_message, MailAnalyzer, MailConfig};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "botscope-mail-inputs-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn msg(subject: &str) -> String {
    format!(
        "Received: from bot ([203.0.113.7]) by mx.trap.example with SMTP id 1; Mon, 20 Dec 2010 00:00:31 +0000\n\
         Subject: {subject}\nMessage-ID: <1@x>\n\nbody of {subject}\n"
    )
}

fn read_all(paths: &[PathBuf]) -> (Vec<botscope_mail::MailMessage>, botscope_mail::ReadStats) {
    let a = MailAnalyzer::new(MailConfig::default(), None);
    let mut rows = Vec::new();
    let stats = for_each_message(paths, a.config(), |m| rows.push(a.analyze_raw(m)));
    (rows, stats)
}

#[test]
fn maildir_reads_cur_and_new_and_skips_tmp() {
    let d = tmp("maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("cur/1292803231.1.host:2,S"), msg("one")).unwrap();
    std::fs::write(d.join("cur/1292803232.2.host:2,"), msg("two")).unwrap();
    std::fs::write(d.join("new/1292803233.3.host"), msg("three")).unwrap();
    std::fs::write(d.join("tmp/1292803234.4.host"), msg("partial")).unwrap();
    std::fs::write(d.join("README"), "not mail at all\n").unwrap();
    let (rows, stats) = read_all(std::slice::from_ref(&d));
    let mut subjects: Vec<String> = rows.iter().filter_map(|r| r.subject.clone()).collect();
    subjects.sort();
    assert_eq!(subjects, ["one", "three", "two"]);
    assert_eq!(stats.skipped_files.len(), 2, "{:?}", stats.skipped_files);
    let r = &rows[0];
    assert_eq!(r.sender_ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(r.helo.as_deref(), Some("bot"));
    assert_eq!(
        r.received_ts,
        Some(botscope_event::Ts(1_292_803_231_000_000))
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn mboxrd_unescapes_and_compressed_mbox_reads() {
    let d = tmp("mbox");
    let mbox =
        "From a@b Mon Dec 20 00:00:31 2010\nSubject: first\n\n>From the start\n>>From quoted\n\n\
                From c@d Mon Dec 20 00:00:32 2010\nSubject: second\n\nbye\n";
    let plain = d.join("trap.mbox");
    std::fs::write(&plain, mbox).unwrap();
    let gz = d.join("trap.mbox.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(mbox.as_bytes()).unwrap();
    enc.finish().unwrap();
    let zst = d.join("trap.mbox.zst");
    std::fs::write(&zst, zstd::encode_all(mbox.as_bytes(), 3).unwrap()).unwrap();

    let a = MailAnalyzer::new(MailConfig::default(), None);
    let mut raws: Vec<(String, Vec<u8>)> = Vec::new();
    let stats = for_each_message(&[plain.clone(), gz.clone(), zst.clone()], a.config(), |m| {
        raws.push((m.source.to_string(), m.raw.to_vec()))
    });
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert_eq!(raws.len(), 6);
    for chunk in raws.chunks(2) {
        assert_eq!(
            String::from_utf8_lossy(&chunk[0].1),
            "Subject: first\n\nFrom the start\n>From quoted\n"
        );
        assert!(chunk[0].0.ends_with("#0") && chunk[1].0.ends_with("#1"));
        assert_eq!(
            String::from_utf8_lossy(&chunk[1].1),
            "Subject: second\n\nbye\n"
        );
    }
    // The From_ line's time is the receive time when no Received exists.
    let (rows, _) = read_all(&[plain]);
    assert_eq!(
        rows[1].received_ts,
        Some(botscope_event::Ts(1_292_803_232_000_000))
    );
    assert_eq!(rows[0].mail_from.as_deref(), Some("a@b"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_missing_input_is_reported_and_the_rest_read() {
    let d = tmp("missing");
    let ok = d.join("ok.eml");
    std::fs::write(&ok, msg("fine")).unwrap();
    let (rows, stats) = read_all(&[d.join("nope.eml"), ok]);
    assert_eq!(rows.len(), 1);
    assert_eq!(stats.errors.len(), 1);
    assert!(stats.errors[0].contains("nope.eml"), "{:?}", stats.errors);
    let _ = std::fs::remove_dir_all(&d);
}
