//! The workspace builds mail-parser with one patch (vendor/mail-parser,
//! PATCHED.md): single-byte charsets copy runs of ASCII whole when the
//! input is 64 bytes or more. Shorter input still takes the crate's own
//! byte-by-byte path, so a long text must decode to exactly what its
//! short pieces decode to, in every single-byte charset.

use mail_parser::MessageParser;

fn body(charset: &str, bytes: &[u8]) -> String {
    let mut m =
        format!("Subject: x\r\nContent-Type: text/plain; charset={charset}\r\n\r\n").into_bytes();
    m.extend_from_slice(bytes);
    let msg = MessageParser::new().parse(&m[..]).expect("parses");
    msg.body_text(0).expect("a text body").into_owned()
}

#[test]
fn long_single_byte_text_decodes_as_its_short_pieces_do() {
    // Every byte but CR and LF, ASCII runs of several lengths between
    // them, so that runs start and end everywhere.
    let mut text = Vec::new();
    for b in 0u8..=255 {
        if b == b'\r' || b == b'\n' || b == 0 {
            continue;
        }
        text.push(b);
        text.extend(std::iter::repeat_n(b'a' + b % 26, usize::from(b % 7)));
    }
    assert!(text.len() > 1000);
    // And text of 8-bit bytes only (Cyrillic or Greek spam), with one
    // ASCII byte in the middle.
    let mut high: Vec<u8> = (0x80u8..=0xff).chain(0x80u8..=0xff).collect();
    high.insert(100, b'q');
    for charset in [
        "us-ascii",
        "iso-8859-1",
        "windows-1252",
        "iso-8859-2",
        "iso-8859-5",
        "iso-8859-7",
        "iso-8859-15",
        "windows-1250",
        "windows-1251",
        "koi8-r",
        "ibm850",
        "macintosh",
        "tis-620",
    ] {
        let whole = body(charset, &text);
        let pieces: String = text.chunks(50).map(|c| body(charset, c)).collect();
        assert_eq!(whole, pieces, "{charset}");
        assert!(
            whole.chars().count() == text.len(),
            "{charset}: one char per byte"
        );
        assert!(whole.contains("bbbbbb"), "{charset}");
        let whole = body(charset, &high);
        let pieces: String = high.chunks(50).map(|c| body(charset, c)).collect();
        assert_eq!(whole, pieces, "{charset}: 8-bit text");
        assert_eq!(whole.chars().count(), high.len(), "{charset}");
    }
}
