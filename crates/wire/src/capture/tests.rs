use super::*;

#[test]
fn tsresol_conversions() {
    assert_eq!(TsConv::from_tsresol(6).to_us(1_500_000, 0), Ts(1_500_000));
    assert_eq!(
        TsConv::from_tsresol(9).to_us(1_500_000_999, 0),
        Ts(1_500_000)
    );
    assert_eq!(TsConv::from_tsresol(3).to_us(1_500, 0), Ts(1_500_000));
    assert_eq!(TsConv::from_tsresol(0).to_us(2, 10), Ts(12_000_000));
    // 2^-10 s units: 1024 units = 1 s.
    assert_eq!(
        TsConv::from_tsresol(0x80 | 10).to_us(1024 * 5 + 512, 0),
        Ts(5_500_000)
    );
    // Absurd resolutions saturate instead of overflowing.
    assert_eq!(TsConv::from_tsresol(127).to_us(u64::MAX, 0), Ts(0));
    assert_eq!(TsConv::from_tsresol(0xff).to_us(u64::MAX, 0), Ts(0));
    assert_eq!(
        TsConv::from_tsresol(0).to_us(u64::MAX, i64::MAX),
        Ts(i64::MAX)
    );
}

#[test]
fn idb_option_walk_is_bounded() {
    // tsresol=9, then an option whose length runs past the end.
    let opts = [9, 0, 1, 0, 9, 0, 0, 0, 14, 0, 200, 0, 1, 2];
    let (conv, off) = idb_options(&opts, false);
    assert_eq!(conv, TsConv::Div(1000));
    assert_eq!(off, 0);
}

use crate::packet::{decode, L4};
use crate::testutil::*;
use std::io::Cursor;

fn reader(bytes: Vec<u8>) -> CaptureReader {
    reader_cfg(bytes, &WireConfig::default())
}

fn reader_cfg(bytes: Vec<u8>, cfg: &WireConfig) -> CaptureReader {
    CaptureReader::from_reader(Box::new(Cursor::new(bytes)), "test.pcap", cfg).unwrap()
}

/// (ts, link, data, orig_len, offset) of every packet, then the end result.
type Rec = (i64, u16, Vec<u8>, u32, u64);
fn read_all(r: &mut CaptureReader) -> (Vec<Rec>, Result<(), Error>) {
    let mut out = Vec::new();
    loop {
        match r.next_packet() {
            Ok(Some(p)) => out.push((p.ts.0, p.link.0, p.data.to_vec(), p.orig_len, p.offset)),
            Ok(None) => return (out, Ok(())),
            Err(e) => return (out, Err(e)),
        }
    }
}

fn frames() -> Vec<Vec<u8>> {
    (0..5u8)
        .map(|i| eth(0x0800, &v4_tcp(&vec![i; usize::from(i) * 10])))
        .collect()
}

#[test]
fn pcap_both_byte_orders_micro_and_nano() {
    let fr = frames();
    for big in [false, true] {
        for nanos in [false, true] {
            let recs: Vec<(u32, u32, &[u8], u32)> = fr
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let frac = if nanos { 123_456_789 } else { 123_456 };
                    (1_600_000_000 + i as u32, frac, &f[..], f.len() as u32)
                })
                .collect();
            let mut r = reader(pcap(big, nanos, 1, 65535, &recs));
            let (pk, end) = read_all(&mut r);
            end.unwrap();
            assert_eq!(pk.len(), 5, "big={big} nanos={nanos}");
            let mut off = 24u64;
            for (i, (ts, link, data, orig, offset)) in pk.iter().enumerate() {
                assert_eq!(*ts, (1_600_000_000 + i as i64) * 1_000_000 + 123_456);
                assert_eq!(*link, 1);
                assert_eq!(data, &fr[i]);
                assert_eq!(*orig as usize, fr[i].len());
                assert_eq!(*offset, off);
                off += 16 + fr[i].len() as u64;
                decode(LinkType(*link), data).unwrap();
            }
            assert_eq!(r.stats().records, 5);
            assert_eq!(r.offset(), off);
            assert_eq!(r.bytes_read(), off);
            // Fused after the end.
            assert!(r.next_packet().unwrap().is_none());
        }
    }
}

#[test]
fn pcap_header_only_and_empty_and_bad_magic() {
    let mut r = reader(pcap(false, false, 1, 65535, &[]));
    assert!(r.next_packet().unwrap().is_none());
    let e = CaptureReader::from_reader(
        Box::new(Cursor::new(Vec::new())),
        "empty",
        &WireConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Truncated));
    let e = CaptureReader::from_reader(
        Box::new(Cursor::new(b"GIF89a....".to_vec())),
        "x.gif",
        &WireConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::BadMagic));
    assert_eq!(
        e.to_string(),
        "x.gif: not a pcap or pcapng capture (unknown magic number) at byte offset 0"
    );
    let e = CaptureReader::from_reader(
        Box::new(Cursor::new(
            pcap(false, false, 1, 65535, &[])[..20].to_vec(),
        )),
        "short",
        &WireConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Truncated));
}

#[test]
fn pcap_truncated_record_reports_offset_after_complete_packets() {
    let fr = frames();
    let recs: Vec<(u32, u32, &[u8], u32)> =
        fr.iter().map(|f| (1, 0, &f[..], f.len() as u32)).collect();
    let file = pcap(false, false, 1, 65535, &recs);
    let last_off = (file.len() - 16 - fr[4].len()) as u64;
    for cut in [1usize, 10, 16, 17, 16 + fr[4].len() - 1] {
        let mut r = reader(file[..last_off as usize + cut].to_vec());
        let (pk, end) = read_all(&mut r);
        assert_eq!(pk.len(), 4, "cut {cut}");
        let e = end.unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Truncated), "{e}");
        assert_eq!(e.offset, Some(last_off));
        assert!(e
            .to_string()
            .ends_with(&format!("at byte offset {last_off}")));
    }
}

#[test]
fn pcap_absurd_lengths_and_caplen_over_snaplen() {
    let f = eth(0x0800, &v4_tcp(b"abc"));
    // caplen > max_record_len: error naming the record offset.
    let mut file = pcap(
        false,
        false,
        1,
        65535,
        &[(1, 0, &f, f.len() as u32), (2, 0, &f, f.len() as u32)],
    );
    let second = 24 + 16 + f.len();
    file[second + 8..second + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let (pk, end) = read_all(&mut reader(file));
    assert_eq!(pk.len(), 1);
    let e = end.unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::RecordTooLarge { len: 0x7fff_ffff }),
        "{e}"
    );
    assert_eq!(e.offset, Some(second as u64));

    // caplen above snaplen but within orig_len: kept, counted.
    let file = pcap(false, false, 1, 20, &[(1, 0, &f, f.len() as u32 + 100)]);
    let mut r = reader(file);
    let (pk, end) = read_all(&mut r);
    end.unwrap();
    assert_eq!(pk.len(), 1);
    assert_eq!(r.stats().caplen_over_snaplen, 1);

    // caplen above both snaplen and orig_len: corrupt.
    let file = pcap(false, false, 1, 20, &[(1, 0, &f, 10)]);
    let (_, end) = read_all(&mut reader(file));
    let e = end.unwrap_err();
    assert!(matches!(e.kind, ErrorKind::CorruptBlock(_)), "{e}");
    assert_eq!(e.offset, Some(24));

    // Zero-length records are skipped and counted.
    let mut r = reader(pcap(
        false,
        false,
        1,
        65535,
        &[(1, 0, &[], 0), (2, 0, &f, f.len() as u32)],
    ));
    let (pk, end) = read_all(&mut r);
    end.unwrap();
    assert_eq!(pk.len(), 1);
    assert_eq!(r.stats().empty_records, 1);
}

#[test]
fn buffer_grows_to_cap_then_errors() {
    let big = vec![0x45u8; 5000];
    let file = pcap(
        false,
        false,
        101,
        0,
        &[(1, 0, &big, 5000), (2, 0, &big, 5000)],
    );
    // Buffer smaller than a record: grows, both records read.
    let cfg = WireConfig {
        read_buffer_size: 100,
        ..WireConfig::default()
    };
    let (pk, end) = read_all(&mut reader_cfg(file.clone(), &cfg));
    end.unwrap();
    assert_eq!(pk.len(), 2);
    assert_eq!(pk[1].2, big);
    // Cap below the record size: clear error at the record.
    let cfg = WireConfig {
        read_buffer_size: 100,
        max_record_len: 4000,
        ..WireConfig::default()
    };
    let (pk, end) = read_all(&mut reader_cfg(file, &cfg));
    assert!(pk.is_empty());
    let e = end.unwrap_err();
    assert!(matches!(e.kind, ErrorKind::RecordTooLarge { len: 5000 }));
    assert_eq!(e.offset, Some(24));
}

#[test]
fn memory_stays_bounded_on_a_long_stream() {
    // 20k records through a 4 KiB buffer: the buffer never grows.
    let f = eth(0x0800, &v4_tcp(&[7; 200]));
    let recs: Vec<(u32, u32, &[u8], u32)> = (0..20_000)
        .map(|i| (i, 0, &f[..], f.len() as u32))
        .collect();
    let cfg = WireConfig {
        read_buffer_size: 4096,
        ..WireConfig::default()
    };
    let mut r = reader_cfg(pcap(false, false, 1, 65535, &recs), &cfg);
    let mut n = 0;
    while let Some(p) = r.next_packet().unwrap() {
        assert_eq!(p.data.len(), f.len());
        n += 1;
    }
    assert_eq!(n, 20_000);
    assert_eq!(r.buf.data.len(), 4096);
}

#[test]
fn pcap_unsupported_link_type_is_counted() {
    let mut r = reader(pcap(false, false, 147, 65535, &[(1, 0, b"abcd", 4)]));
    let (pk, end) = read_all(&mut r);
    end.unwrap();
    assert!(pk.is_empty());
    assert_eq!(r.stats().unsupported_link_packets, 1);
}

#[test]
fn pcapng_two_interfaces_tsresol_spb_opb_sections() {
    for big in [false, true] {
        let e = eth(0x0800, &v4_tcp(b"eth"));
        let raw = v4_tcp(b"raw");
        let mut ng = Ng::new(big);
        ng.idb(1, 65535, None, None) // if 0: Ethernet, microseconds
            .idb(101, 0, Some(9), Some(100)) // if 1: raw IP, nanoseconds, +100 s
            .block(4, &[0; 8]) // NRB: skipped, counted
            .epb(0, 1_600_000_000_123_456, &e, e.len() as u32)
            .epb(1, 1_600_000_000_123_456_789, &raw, 1000)
            .spb(&e, e.len() as u32) // interface 0, last timestamp
            .opb(0, 1_700_000_000_000_001, &e, e.len() as u32)
            .block(0x1234_5678, &[1, 2, 3]) // unknown block
            .epb(7, 1, &e, e.len() as u32); // unknown interface
                                            // A second section resets interfaces: one 2^-10 resolution SLL2 iface.
        ng.shb().idb(276, 0, Some(0x80 | 10), None);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        sll2.extend(&raw);
        ng.epb(0, 1024 * 3 + 256, &sll2, sll2.len() as u32)
            .epb(1, 0, &e, 0); // interface 1 no longer exists
        let mut r = reader(ng.buf.clone());
        let (pk, end) = read_all(&mut r);
        end.unwrap();
        let got: Vec<(i64, u16)> = pk.iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(
            got,
            vec![
                (1_600_000_000_123_456, 1),
                (1_600_000_100_123_456, 101),
                (1_600_000_100_123_456, 1), // SPB: last seen ts
                (1_700_000_000_000_001, 1),
                (3_250_000, 276),
            ],
            "big={big}"
        );
        assert_eq!(pk[1].3, 1000);
        for p in &pk {
            let d = decode(LinkType(p.1), &p.2).unwrap();
            assert!(matches!(d.l4, L4::Tcp(_)));
        }
        let s = r.stats();
        assert_eq!(s.sections, 2);
        assert_eq!(s.interfaces, 3);
        assert_eq!(s.other_blocks, 1);
        assert_eq!(s.unknown_blocks, 1);
        assert_eq!(s.unknown_interface_packets, 2);
        assert_eq!(s.records, 5);
        assert_eq!(r.offset(), ng.buf.len() as u64);
    }
}

#[test]
fn pcapng_corrupt_blocks() {
    let e = eth(0x0800, &v4_tcp(b"eth"));
    let mut ng = Ng::new(false);
    ng.idb(1, 65535, None, None).epb(0, 1, &e, e.len() as u32);
    let epb_off = ng.buf.len();
    ng.epb(0, 2, &e, e.len() as u32)
        .epb(0, 3, &e, e.len() as u32);
    let good = ng.buf.clone();

    let check = |bytes: Vec<u8>, n: usize, off: usize, what: &str| {
        let (pk, end) = read_all(&mut reader(bytes));
        assert_eq!(pk.len(), n, "{what}");
        let err = end.unwrap_err();
        assert_eq!(err.offset, Some(off as u64), "{what}: {err}");
        err
    };
    // Block length not a multiple of 4 / too small / huge.
    let mut b = good.clone();
    b[epb_off + 4..epb_off + 8].copy_from_slice(&13u32.to_le_bytes());
    assert!(matches!(
        check(b, 1, epb_off, "len 13").kind,
        ErrorKind::CorruptBlock(_)
    ));
    let mut b = good.clone();
    b[epb_off + 4..epb_off + 8].copy_from_slice(&8u32.to_le_bytes());
    assert!(matches!(
        check(b, 1, epb_off, "len 8").kind,
        ErrorKind::CorruptBlock(_)
    ));
    let mut b = good.clone();
    b[epb_off + 4..epb_off + 8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    assert!(matches!(
        check(b, 1, epb_off, "huge").kind,
        ErrorKind::RecordTooLarge { .. }
    ));
    // Length changed by 4: trailing length mismatch.
    let mut b = good.clone();
    let l = u32::from_le_bytes(b[epb_off + 4..epb_off + 8].try_into().unwrap());
    b[epb_off + 4..epb_off + 8].copy_from_slice(&(l + 4).to_le_bytes());
    assert!(matches!(
        check(b, 1, epb_off, "trailer").kind,
        ErrorKind::CorruptBlock(_)
    ));
    // Captured length beyond the block.
    let mut b = good.clone();
    b[epb_off + 20..epb_off + 24].copy_from_slice(&5000u32.to_le_bytes());
    assert!(matches!(
        check(b, 1, epb_off, "caplen").kind,
        ErrorKind::CorruptBlock(_)
    ));
    // Truncated in the middle of the block.
    let b = good[..epb_off + 30].to_vec();
    assert!(matches!(
        check(b, 1, epb_off, "cut").kind,
        ErrorKind::Truncated
    ));
    // Bad byte-order magic in a second section.
    let mut b = good.clone();
    let shb_off = b.len();
    b.extend_from_slice(&Ng::new(false).buf);
    b[shb_off + 8] = 0;
    assert!(matches!(
        check(b, 3, shb_off, "bom").kind,
        ErrorKind::CorruptBlock(_)
    ));
    // Version 2 section.
    let mut b = good.clone();
    b[12] = 2;
    assert!(matches!(
        check(b, 0, 0, "version").kind,
        ErrorKind::Unsupported(_)
    ));
    // An unknown block that is cut short.
    let mut b = good.clone();
    b.extend_from_slice(&[9, 9, 9, 9, 0, 1, 0, 0, 1, 2, 3]);
    assert!(matches!(
        check(b, 3, good.len(), "unknown cut").kind,
        ErrorKind::Truncated
    ));
}

#[test]
fn large_unknown_block_is_skipped_without_buffering() {
    let e = eth(0x0800, &v4_tcp(b"eth"));
    let mut ng = Ng::new(true);
    ng.idb(1, 65535, None, None)
        .block(0x0BAD, &vec![0u8; 2 << 20])
        .epb(0, 5, &e, e.len() as u32);
    let cfg = WireConfig {
        read_buffer_size: 4096,
        max_record_len: 8192,
        ..WireConfig::default()
    };
    let mut r = reader_cfg(ng.buf, &cfg);
    let (pk, end) = read_all(&mut r);
    end.unwrap();
    assert_eq!(pk.len(), 1);
    assert_eq!(r.stats().other_blocks, 1);
    assert_eq!(r.buf.data.len(), 4096);
}

#[test]
fn compressed_streams_are_read_transparently() {
    use std::io::Write;
    let f = eth(0x0800, &v4_tcp(b"gz"));
    let file = pcap(
        false,
        false,
        1,
        65535,
        &[(1u32, 0u32, &f[..], f.len() as u32); 100],
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&file).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&file[..], 3).unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(&file).unwrap();
    let xz = xz.finish().unwrap();
    for (c, name) in [(gz.clone(), "gz"), (zst, "zst"), (xz, "xz")] {
        let clen = c.len() as u64;
        let mut r = reader(c);
        let (pk, end) = read_all(&mut r);
        end.unwrap();
        assert_eq!(pk.len(), 100, "{name}");
        assert_eq!(r.bytes_read(), clen, "{name}");
        assert_eq!(r.offset(), file.len() as u64);
    }
    // A corrupt compressed stream is a Decompress error with an offset —
    // when opening (the file header is read at once, and a decoder may
    // inflate ahead into the corrupt half: flate2's zlib-rs backend, which
    // parquet turns on workspace-wide, does) or while reading packets.
    let mut bad = gz;
    let n = bad.len();
    for b in &mut bad[n / 2..n - 8] {
        *b ^= 0x5a;
    }
    let e = match CaptureReader::from_reader(
        Box::new(Cursor::new(bad)),
        "test.pcap",
        &WireConfig::default(),
    ) {
        Ok(mut r) => read_all(&mut r).1.unwrap_err(),
        Err(e) => e,
    };
    assert!(
        matches!(
            e.kind,
            ErrorKind::Decompress(_)
                | ErrorKind::CorruptBlock(_)
                | ErrorKind::RecordTooLarge { .. }
                | ErrorKind::Truncated
        ),
        "{e}"
    );
    assert!(e.offset.is_some());
}

#[test]
fn random_capture_bytes_never_panic() {
    let mut rng = crate::packet::tests::Rng(42);
    let e = eth(0x0800, &v4_tcp(b"seed"));
    let mut ng = Ng::new(false);
    ng.idb(1, 65535, Some(9), Some(5))
        .epb(0, 1, &e, 60)
        .spb(&e, 60)
        .opb(0, 2, &e, 60);
    let seeds = [
        pcap(false, false, 1, 65535, &[(1, 0, &e, 60), (2, 0, &e, 60)]),
        pcap(true, true, 101, 65535, &[(1, 0, &e[14..], 60)]),
        ng.buf.clone(),
    ];
    let cfg = WireConfig {
        read_buffer_size: 128,
        max_record_len: 1024,
        ..WireConfig::default()
    };
    for _ in 0..20_000 {
        let mut d = seeds[rng.below(seeds.len())].clone();
        for _ in 0..rng.below(6) {
            let at = rng.below(d.len());
            d[at] = rng.next() as u8;
        }
        d.truncate(rng.below(d.len() + 1));
        if let Ok(mut r) = CaptureReader::from_reader(Box::new(Cursor::new(d)), "fuzz", &cfg) {
            let mut n = 0;
            while let Ok(Some(p)) = r.next_packet() {
                let _ = decode(p.link, p.data);
                n += 1;
                assert!(n < 100);
            }
            assert!(r.buf.data.len() <= 1024 + BLOCK_OVERHEAD);
        }
    }
}
