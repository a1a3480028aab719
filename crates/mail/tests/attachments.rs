//! Binary attachments are left undecoded (`MailConfig::decode_attachments`
//! off, the default) and headers whose parsed value no feature reads are
//! skipped: every feature of every message must be what the whole parse
//! (every part decoded, every header parsed) gives, on real mail
//! (CSDMC2010) and on simulated trap mail with zip attachments.

mod common;

use std::path::PathBuf;

use botscope_mail::analyze::without_binary_content;
use botscope_mail::{for_each_message, MailAnalyzer, MailConfig};
use botscope_sim::{load_scenario, simulate, SimOptions};
use chrono::NaiveDate;

/// The default analyser (attachments left undecoded) and one that
/// parses every message whole.
fn analysers() -> (MailAnalyzer, MailAnalyzer) {
    let whole = MailConfig {
        decode_attachments: true,
        ..MailConfig::default()
    };
    (
        MailAnalyzer::new(MailConfig::default(), None),
        MailAnalyzer::new(whole, None),
    )
}

/// The default analyser and one that parses every header.
fn header_analysers() -> (MailAnalyzer, MailAnalyzer) {
    (
        MailAnalyzer::new(MailConfig::default(), None),
        MailAnalyzer::new(MailConfig::default(), None).with_every_header_parsed(),
    )
}

/// (messages, messages with content left out) after checking that both
/// ways of parsing give the same features for every message under `paths`
/// and for copies of some of them damaged at random (those with content
/// left out, or with `damage_all` the first ones read).
fn same_features(
    paths: &[PathBuf],
    (skip, whole): (MailAnalyzer, MailAnalyzer),
    what: &str,
    damage_all: bool,
) -> (usize, usize) {
    let (mut n, mut cut) = (0, 0);
    let mut with_cuts: Vec<Vec<u8>> = Vec::new();
    let stats = for_each_message(paths, skip.config(), |m| {
        n += 1;
        let (stripped, cuts) = without_binary_content(m.raw);
        assert_eq!(cuts > 0, stripped.len() < m.raw.len());
        if cuts > 0 {
            cut += 1;
        }
        if (cuts > 0 || damage_all) && with_cuts.len() < 200 {
            with_cuts.push(m.raw.to_vec());
        }
        let a = skip.features(m.raw, m.envelope);
        let b = whole.features(m.raw, m.envelope);
        assert_eq!(
            format!("{a:?}"),
            format!("{b:?}"),
            "{}: features differ when {what}",
            m.source
        );
    });
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    // Malformed MIME: those messages damaged at random (bytes dropped,
    // stray dashes, line breaks, colons, blanks and letters put in:
    // boundaries and headers broken) read the same both ways too. With
    // `damage_all` (headers skipped or parsed) half the damage falls in
    // the header section.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    for k in 0..with_cuts.len().min(1) * 4000 {
        let mut m = with_cuts[k % with_cuts.len()].clone();
        let head = m
            .windows(2)
            .position(|w| w == b"\n\n" || w == b"\n\r")
            .unwrap_or(m.len());
        for _ in 0..1 + rnd(8) {
            let p = if damage_all && rnd(2) == 0 {
                rnd(head.min(m.len()))
            } else {
                rnd(m.len())
            };
            match rnd(7) {
                0 => {
                    m.remove(p);
                }
                1 => m.insert(p, b'-'),
                2 => m.insert(p, b'\n'),
                3 => {
                    let e = (p + rnd(40)).min(m.len());
                    m.drain(p..e);
                }
                4 => m.insert(p, b':'),
                5 => m.insert(p, b"ZzAUT=?"[rnd(7)]),
                _ => m.insert(p, b' '),
            }
        }
        let a = skip.features(&m, None);
        let b = whole.features(&m, None);
        assert_eq!(
            format!("{a:?}"),
            format!("{b:?}"),
            "damaged message {k}: features differ when {what}"
        );
    }
    (n, cut)
}

#[test]
fn real_mail_gives_the_same_features_without_decoding_attachments() {
    let Some(data) = common::data_dir() else {
        return;
    };
    let (n, cut) = same_features(
        &[data.join("spam-csdmc2010")],
        analysers(),
        "attachments are not decoded",
        false,
    );
    assert_eq!(n, 4186);
    eprintln!("CSDMC2010: {cut} of {n} messages had attachment content left out");
    assert!(cut > 0, "some real messages carry binary attachments");
}

#[test]
fn simulated_trap_mail_gives_the_same_features_without_decoding_attachments() {
    let dir = tempdir();
    let s = load_scenario("winter-2010").unwrap();
    let opts = SimOptions {
        seed: 3,
        scale: 0.5,
        from: NaiveDate::from_ymd_opt(2010, 12, 20),
        to: NaiveDate::from_ymd_opt(2010, 12, 21),
        pcaps: false,
        mail: true,
        trap_captures: false,
    };
    simulate(&s, &opts, &dir).unwrap();
    let (n, cut) = same_features(
        &[dir.join("mail")],
        analysers(),
        "attachments are not decoded",
        false,
    );
    assert!(n > 500, "{n} messages");
    assert!(
        cut > 0,
        "the malware campaigns' zip attachments are left out"
    );
    let (m, _) = same_features(
        &[dir.join("mail")],
        header_analysers(),
        "headers no feature reads are not parsed",
        true,
    );
    assert_eq!(m, n);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn real_mail_gives_the_same_features_without_parsing_unread_headers() {
    let Some(data) = common::data_dir() else {
        return;
    };
    let (n, _) = same_features(
        &[data.join("spam-csdmc2010")],
        header_analysers(),
        "headers no feature reads are not parsed",
        true,
    );
    assert_eq!(n, 4186);
}

#[test]
fn only_clean_base64_of_binary_types_is_left_out() {
    let b64 = "UEsDBBQAAAAIAAAAIQBmb28=\r\n".repeat(40);
    let msg = |ctype: &str, body: &str| {
        format!(
            "From: a@b\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
             --B\r\nContent-Type: {ctype}; name=\"x.zip\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{body}\r\n--B--\r\n"
        )
        .into_bytes()
    };
    // A zip attachment: its content goes, the part and its name stay.
    let m = msg("application/zip", &b64);
    let (out, cuts) = without_binary_content(&m);
    assert_eq!(cuts, 1);
    assert!(out.len() < m.len() - b64.len() + 8, "{}", out.len());
    assert!(String::from_utf8_lossy(&out).contains("name=\"x.zip\""));
    // Text in base64 is read: kept. So is content the parser would not
    // decode cleanly (a stray byte), and short content.
    for kept in [
        msg("text/html", &b64),
        msg("application/zip", &format!("{b64}-not base64-\r\n")),
        msg("application/zip", "UEsDBA=="),
    ] {
        assert_eq!(&without_binary_content(&kept).0[..], &kept[..]);
    }
    // And the analyser sees the same message either way.
    let (skip, whole) = analysers();
    let a = skip.features(&m, None).unwrap();
    let b = whole.features(&m, None).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_eq!(a.attachment_names, vec!["x.zip".to_string()]);
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("botscope-mail-attach-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
