//! The workspace builds mail-parser with one patch (vendor/mail-parser,
//! PATCHED.md): single-byte charsets copy runs of ASCII whole when the
//! input is 64 bytes or more. Shorter input still takes the crate's own
//! byte-by-byte path, so a long text must decode to exactly what its
//! short pieces decode to, in every single-byte charset. A second patch
//! copies quoted-printable runs of plain bytes whole, and a third skips
//! a header no feature reads by searching for its line ends; the
//! published byte-at-a-time functions are kept beside them as references.

use mail_parser::MessageParser;

/// A seeded xorshift generator: the same random input on every run.
fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

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

/// Quoted-printable bodies decode as the published byte-at-a-time decoder
/// decodes them: random text of soft and hard line breaks, escapes good
/// and bad, blanks before line ends, dashes and boundaries, with and
/// without a boundary to stop at. Same bytes out, same end offset, and the
/// stream left at the same place.
#[test]
fn quoted_printable_decodes_as_the_published_decoder_does() {
    use mail_parser::parsers::MessageStream;
    let pieces: [&[u8]; 26] = [
        b"a",
        b"plain text",
        b" ",
        b"\t",
        b"  ",
        b"=",
        b"=3D",
        b"=e9",
        b"=C3=A9",
        b"=\r\n",
        b"=\n",
        b"\r\n",
        b"\n",
        b"\r",
        b"-",
        b"--",
        b"--b",
        b"--boundary",
        b"\n--boundary--",
        b"=Z",
        b"==",
        b"= ",
        b"=4",
        b"=4x",
        b"\xe9\xff",
        b"\x0c",
    ];
    let mut next = xorshift(0x5851_f42d_4c95_7f2d);
    for round in 0..20_000 {
        let n = (next() % 24) as usize;
        let mut input = Vec::new();
        for _ in 0..n {
            input.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
        }
        let boundary: &[u8] = if round % 2 == 0 { b"boundary" } else { b"" };
        let mut a = MessageStream::new(&input);
        let mut b = MessageStream::new(&input);
        let got = a.decode_quoted_printable_mime(boundary);
        let want = b.decode_quoted_printable_mime_bytewise(boundary);
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&input));
        assert_eq!(
            a.offset(),
            b.offset(),
            "{:?}",
            String::from_utf8_lossy(&input)
        );
        assert_eq!(a.peek(), b.peek(), "{:?}", String::from_utf8_lossy(&input));
    }
}

/// A skipped header ends where the published byte loop ends it: random
/// header text of folded and unfolded lines, at every start offset.
#[test]
fn a_skipped_header_ends_where_the_published_loop_ends_it() {
    use mail_parser::parsers::MessageStream;
    let pieces: [&[u8]; 10] = [
        b"x", b"value", b" ", b"\t", b"\r\n", b"\n", b"\r\n ", b"\n\t", b"\r", b":",
    ];
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    for _ in 0..5_000 {
        let n = (next() % 16) as usize;
        let mut input = Vec::new();
        for _ in 0..n {
            input.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
        }
        for start in 0..=input.len() {
            let mut a = MessageStream::new(&input);
            let mut b = MessageStream::new(&input);
            a.skip_bytes(start);
            b.skip_bytes(start);
            a.parse_and_ignore();
            b.parse_and_ignore_bytewise();
            assert_eq!(
                a.offset(),
                b.offset(),
                "{start} {:?}",
                String::from_utf8_lossy(&input)
            );
            assert_eq!(
                a.peek(),
                b.peek(),
                "{start} {:?}",
                String::from_utf8_lossy(&input)
            );
            // And the next byte read is the same.
            assert_eq!(a.next(), b.next());
            assert_eq!(a.offset(), b.offset());
        }
    }
}
