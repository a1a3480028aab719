//! Byte encoders the generators need: base64, quoted-printable, CRC-32,
//! a stored zip, a harmless fake PE file, CSV fields.

use crate::rng::Rng;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 of `data` without line breaks.
pub fn base64(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len().div_ceil(3) * 4);
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        out.extend_from_slice(&[
            B64[(n >> 18) as usize & 63],
            B64[(n >> 12) as usize & 63],
            B64[(n >> 6) as usize & 63],
            B64[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                B64[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// Base64 in lines of 76 characters, each ended by `\n`.
pub fn base64_lines(data: &[u8], out: &mut Vec<u8>) {
    for chunk in data.chunks(57) {
        base64(chunk, out);
        out.push(b'\n');
    }
}

/// Quoted-printable (RFC 2045) of text with `\n` line ends; output lines
/// end with `\n` and are at most 76 characters. A line starting with
/// `From ` gets its `F` encoded, so mbox readers never see it.
pub fn quoted_printable(text: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for line in text.split(|b| *b == b'\n') {
        let mut col = 0;
        let n = line.len();
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == n;
            let encode = match b {
                b'=' => true,
                b' ' | b'\t' => last,
                b'F' => i == 0 && line.starts_with(b"From "),
                b'.' => i == 0,
                33..=126 => false,
                _ => true,
            };
            let width = if encode { 3 } else { 1 };
            // Keep room for a soft break '=' unless this is the line's end.
            if col + width > if last { 76 } else { 75 } {
                out.extend_from_slice(b"=\n");
                col = 0;
            }
            if encode {
                out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            } else {
                out.push(b);
            }
            col += width;
        }
        out.push(b'\n');
    }
    // `split` yields a final empty piece after a trailing newline.
    if text.ends_with(b"\n") {
        out.pop();
    }
}

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC: [u32; 256] = crc_table();

/// CRC-32 (zip, IEEE).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

fn le16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn le32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A zip archive with one stored (uncompressed) file.
pub fn zip_one(name: &str, data: &[u8], dos_time: u16, dos_date: u16) -> Vec<u8> {
    let crc = crc32(data);
    let size = data.len() as u32;
    let mut z = Vec::with_capacity(data.len() + 2 * name.len() + 100);
    // Local file header.
    le32(&mut z, 0x0403_4b50);
    le16(&mut z, 20);
    le16(&mut z, 0);
    le16(&mut z, 0);
    le16(&mut z, dos_time);
    le16(&mut z, dos_date);
    le32(&mut z, crc);
    le32(&mut z, size);
    le32(&mut z, size);
    le16(&mut z, name.len() as u16);
    le16(&mut z, 0);
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(data);
    let cd_offset = z.len() as u32;
    // Central directory.
    le32(&mut z, 0x0201_4b50);
    le16(&mut z, 20);
    le16(&mut z, 20);
    le16(&mut z, 0);
    le16(&mut z, 0);
    le16(&mut z, dos_time);
    le16(&mut z, dos_date);
    le32(&mut z, crc);
    le32(&mut z, size);
    le32(&mut z, size);
    le16(&mut z, name.len() as u16);
    le16(&mut z, 0);
    le16(&mut z, 0);
    le16(&mut z, 0);
    le16(&mut z, 0);
    le32(&mut z, 0x20);
    le32(&mut z, 0);
    z.extend_from_slice(name.as_bytes());
    let cd_size = z.len() as u32 - cd_offset;
    // End of central directory.
    le32(&mut z, 0x0605_4b50);
    le16(&mut z, 0);
    le16(&mut z, 0);
    le16(&mut z, 1);
    le16(&mut z, 1);
    le32(&mut z, cd_size);
    le32(&mut z, cd_offset);
    le16(&mut z, 0);
    z
}

const DOS_STUB: &[u8] = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$\0\0\0\0\0\0\0";

/// A harmless PE32 file of about `size` bytes (rounded up to 512): valid
/// headers, a `.text` section whose entry point is a bare `ret`, an
/// `.rdata` section of random bytes (it looks packed) and a zeroed
/// `.data`. It does nothing if run.
pub fn fake_pe(rng: &mut Rng, size: usize, timestamp: u32, out: &mut Vec<u8>) {
    let start = out.len();
    let size = size.max(2048).div_ceil(512) * 512;
    // DOS header.
    let mut dos = [0u8; 64];
    dos[0] = b'M';
    dos[1] = b'Z';
    dos[2] = 0x90;
    dos[4] = 3;
    dos[8] = 4;
    dos[12] = 0xff;
    dos[13] = 0xff;
    dos[16] = 0xb8;
    dos[24] = 0x40;
    dos[60] = 0x80;
    out.extend_from_slice(&dos);
    out.extend_from_slice(DOS_STUB);
    out.resize(start + 0x80, 0);
    // PE signature and COFF header.
    out.extend_from_slice(b"PE\0\0");
    le16(out, 0x014c); // i386
    le16(out, 3); // sections
    le32(out, timestamp);
    le32(out, 0);
    le32(out, 0);
    le16(out, 0xe0); // optional header size
    le16(out, 0x0102); // executable, 32-bit
                       // Section sizes (file alignment 0x200).
    let headers = 0x400u32;
    let body = size as u32 - headers;
    let text = 0x200u32;
    let data = 0x200u32;
    let rdata = body.saturating_sub(text + data).max(0x200);
    let va = |i: u32| 0x1000 * (1 + i);
    let rdata_pages = rdata.div_ceil(0x1000);
    // Optional header (PE32).
    le16(out, 0x010b);
    out.push(9);
    out.push(0);
    le32(out, text); // size of code
    le32(out, rdata + data); // initialized data
    le32(out, 0);
    le32(out, va(0)); // entry point: the `ret` at the start of .text
    le32(out, va(0)); // base of code
    le32(out, va(1)); // base of data
    le32(out, 0x0040_0000); // image base
    le32(out, 0x1000);
    le32(out, 0x200);
    le16(out, 5);
    le16(out, 1);
    le16(out, 0);
    le16(out, 0);
    le16(out, 5);
    le16(out, 1);
    le32(out, 0);
    let image = va(2 + rdata_pages);
    le32(out, image); // size of image
    le32(out, headers);
    le32(out, 0); // checksum
    le16(out, 2); // GUI
    le16(out, 0x8000);
    le32(out, 0x10_0000);
    le32(out, 0x1000);
    le32(out, 0x10_0000);
    le32(out, 0x1000);
    le32(out, 0);
    le32(out, 16);
    out.resize(out.len() + 16 * 8, 0); // data directories: none
                                       // Section headers.
    let sections: [(&[u8; 8], u32, u32, u32, u32); 3] = [
        (b".text\0\0\0", va(0), text, headers, 0x6000_0020),
        (b".rdata\0\0", va(1), rdata, headers + text, 0x4000_0040),
        (
            b".data\0\0\0",
            va(1 + rdata_pages),
            data,
            headers + text + rdata,
            0xc000_0040,
        ),
    ];
    for (name, vaddr, raw, ptr, flags) in sections {
        out.extend_from_slice(name);
        le32(out, raw);
        le32(out, vaddr);
        le32(out, raw);
        le32(out, ptr);
        le32(out, 0);
        le32(out, 0);
        le16(out, 0);
        le16(out, 0);
        le32(out, flags);
    }
    out.resize(start + headers as usize, 0);
    // .text: `ret`, then int3 padding.
    out.push(0xc3);
    out.resize(start + (headers + text) as usize, 0xcc);
    // .rdata: random bytes.
    rng.extend(out, rdata as usize);
    // .data: zeros.
    out.resize(start + (headers + text + rdata + data) as usize, 0);
}

/// Append a CSV field, quoted when it holds a comma, quote or newline.
pub fn csv_field(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut v = Vec::new();
            base64(i.as_bytes(), &mut v);
            assert_eq!(v, o.as_bytes());
        }
    }

    #[test]
    fn qp_rules() {
        let mut v = Vec::new();
        quoted_printable(b"From here a=b \n.x\n", &mut v);
        assert_eq!(v, b"=46rom here a=3Db=20\n=2Ex\n");
        let long = vec![b'a'; 200];
        let mut v = Vec::new();
        quoted_printable(&long, &mut v);
        assert!(v.split(|b| *b == b'\n').all(|l| l.len() <= 76));
    }

    #[test]
    fn crc_vector() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn pe_shape() {
        let mut v = Vec::new();
        fake_pe(&mut Rng::new(3), 60_000, 1_290_000_000, &mut v);
        assert!(v.starts_with(b"MZ"));
        assert_eq!(&v[0x80..0x84], b"PE\0\0");
        assert_eq!(v.len() % 512, 0);
        assert!(v.len() >= 60_000 && v.len() < 61_000);
    }

    #[test]
    fn csv_quoting() {
        let mut v = Vec::new();
        csv_field(&mut v, "a,\"b\"");
        assert_eq!(v, b"\"a,\"\"b\"\"\"");
    }
}
