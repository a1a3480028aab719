//! End-to-end tests over the real captures in `../shared/data` (beside the
//! repository; `$BOTSCOPE_DATA` overrides).
//!
//! Expected numbers are independent of this crate: they were collected once
//! with Wireshark 4's command-line tools and hard-coded here:
//!
//! ```sh
//! capinfos -c F                                              # packets
//! tshark -r F -T fields -e frame.number | wc -l              # packets (same)
//! tshark -r F -o ip.defragment:FALSE -o ipv6.defragment:FALSE \
//!        -Y 'tcp && !icmp && !icmpv6' -T fields -e tcp.len   # TCP count, sum of tcp.len
//! tshark -r F -o ip.defragment:FALSE \
//!        -Y 'udp && !icmp && !icmpv6' -T fields -e udp.srcport | wc -l   # UDP count
//! ```
//!
//! (No capture in the set contains IP fragments.)
//!
//! When the data folder is missing these tests print a message and pass,
//! unless `CI=true`, where they fail.

use std::collections::BTreeSet;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use botscope_wire::packet::{decode, L4};
use botscope_wire::{collect_inputs, CaptureReader, Error, ErrorKind, LinkType, WireConfig};

/// `../shared/data` beside the repository, or `$BOTSCOPE_DATA`.
fn shared_root() -> std::path::PathBuf {
    std::env::var_os("BOTSCOPE_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
        })
}
const INFOSTEALER: &str = "botnet-pcaps/infostealer-payload-dll-download-2019.pcap";
/// Offset of the incomplete last record of the infostealer capture: the file
/// is 2,715,460 bytes and its 2,696 complete records end at 2,715,459.
const INFOSTEALER_TRUNC_AT: u64 = 2_715_459;

/// (file, packets, TCP segments, sum of TCP payload lengths, UDP datagrams)
const EXPECTED: &[(&str, u64, u64, u64, u64)] = &[
    (
        "botnet-pcaps/adware-hauntedbrowser-2007.pcap",
        57,
        53,
        8482,
        4,
    ),
    (
        "botnet-pcaps/compromised-site-google-referer-2015.pcap",
        169,
        169,
        61577,
        0,
    ),
    ("botnet-pcaps/cryptowall4-c2.pcapng", 162, 162, 125966, 0),
    ("botnet-pcaps/ctu-sme-11-tcp-64702-888.pcap", 16, 16, 26, 0),
    (
        "botnet-pcaps/emotet-c2-http-post-2020.pcap",
        158,
        158,
        118084,
        0,
    ),
    (INFOSTEALER, 2696, 2696, 2526699, 0),
    (
        "botnet-pcaps/pop3-credential-checking-bot-2020.pcap",
        410,
        410,
        160380,
        0,
    ),
    ("botnet-pcaps/rat-infected-c2.pcap", 779, 779, 516257, 0),
    ("botnet-pcaps/sality-botnet.pcap", 588, 378, 49699, 167),
    (
        "botnet-pcaps/spambot-auth-relay-port2525.pcap",
        2500,
        2500,
        1793692,
        0,
    ),
    (
        "botnet-pcaps/spambot-smtp-sessions-smtperr.pcap",
        158,
        158,
        40038,
        0,
    ),
    (
        "botnet-pcaps/spyware-evilprogram-2004.pcap",
        659,
        566,
        71124,
        36,
    ),
    (
        "protocol-pcaps/sanders-dns_isp_hijack.pcapng",
        123,
        119,
        73697,
        4,
    ),
    ("protocol-pcaps/sanders-http_google.pcapng", 12, 12, 5484, 0),
    (
        "protocol-pcaps/sanders-mail_receiver_server_3.pcapng",
        54,
        54,
        7357,
        0,
    ),
    (
        "protocol-pcaps/sanders-mail_sender_attachment.pcapng",
        58,
        58,
        77082,
        0,
    ),
    (
        "protocol-pcaps/sanders-mail_sender_client_1.pcapng",
        23,
        23,
        951,
        0,
    ),
    (
        "protocol-pcaps/sanders-mail_sender_server_2.pcapng",
        38,
        38,
        2106,
        0,
    ),
    ("protocol-pcaps/sanders-ppa1e-dns.cap", 249, 222, 138332, 27),
    (
        "protocol-pcaps/sanders-ppa1e-email-troubles.pcap",
        360,
        340,
        308646,
        16,
    ),
    ("protocol-pcaps/sanders-ppa1e-http.cap", 43, 41, 22584, 2),
    (
        "protocol-pcaps/suricata-irc-tranalyzer.pcap",
        48,
        48,
        5767,
        0,
    ),
    (
        "protocol-pcaps/suricata-smtp-pipelining.pcap",
        18,
        18,
        402,
        0,
    ),
    (
        "protocol-pcaps/suricata-smtp-raw-extraction.pcap",
        46,
        46,
        15577,
        0,
    ),
    (
        "protocol-pcaps/suricata-smtp-startssl.pcap",
        38,
        38,
        4542,
        0,
    ),
    ("protocol-pcaps/zeek-dns-long-connection.pcap", 22, 0, 0, 22),
    ("protocol-pcaps/zeek-dns-txt-multiple.pcap", 2, 0, 0, 2),
    ("protocol-pcaps/zeek-dns53.pcap", 1, 0, 0, 1),
    ("protocol-pcaps/zeek-http-bro.org.pcap", 751, 751, 453271, 0),
    (
        "protocol-pcaps/zeek-http-m57-long-49583-80.pcap",
        227,
        227,
        201210,
        0,
    ),
    (
        "protocol-pcaps/zeek-http-pipelined-requests.pcap",
        49,
        49,
        42362,
        0,
    ),
    ("protocol-pcaps/zeek-http-proxy.pcap", 26, 26, 16345, 0),
    ("protocol-pcaps/zeek-irc-basic.pcap", 34, 34, 4887, 0),
    (
        "protocol-pcaps/zeek-irc-dcc-send.pcapng",
        1184,
        1184,
        1330912,
        0,
    ),
    (
        "protocol-pcaps/zeek-irc-more-commands.pcap",
        145,
        145,
        15957,
        0,
    ),
    (
        "protocol-pcaps/zeek-smtp-attachment-msg.pcap",
        17,
        17,
        688,
        0,
    ),
    ("protocol-pcaps/zeek-smtp-multi-addr.pcap", 21, 21, 1384, 0),
    (
        "protocol-pcaps/zeek-tls-chrome-1250-tls-x25519-kyber.pcap",
        15,
        15,
        10875,
        0,
    ),
    ("protocol-pcaps/zeek-tls-ecdhe.pcap", 28, 28, 5146, 0),
    ("protocol-pcaps/zeek-tls-irc-starttls.pcap", 20, 20, 2816, 0),
    (
        "protocol-pcaps/zeek-tls-signed_certificate_timestamp.pcap",
        51,
        51,
        32275,
        0,
    ),
    (
        "protocol-pcaps/zeek-tls-smtp-starttls.pcap",
        37,
        37,
        5627,
        0,
    ),
    ("protocol-pcaps/zeek-tls-ssl-v2.pcap", 25, 25, 1814, 0),
    ("protocol-pcaps/zeek-web.pcap", 24, 24, 9515, 0),
    (
        "protocol-pcaps/zeek-workshop_2011_browse.pcap",
        121,
        121,
        11065,
        0,
    ),
];

/// The shared data folder, or `None` (with a message) when it is absent.
/// Under `CI=true` a missing folder is a failure, not a skip.
fn data_dir() -> Option<PathBuf> {
    let dir = shared_root();
    if dir.join("botnet-pcaps").is_dir() && dir.join("protocol-pcaps").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "test data missing at {} (required when CI=true)",
            dir.display()
        );
    }
    eprintln!("skipping: test data not found at {}", dir.display());
    None
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    packets: u64,
    tcp: u64,
    tcp_payload: u64,
    udp: u64,
    /// Frames we do not decode and that are not weird (ARP).
    non_ip: u64,
    /// Decode errors that would be weirds: none expected in these files.
    weird: u64,
}

/// Read a capture to the end, decoding every packet.
fn count(r: &mut CaptureReader) -> (Counts, Result<(), Error>) {
    let mut c = Counts::default();
    loop {
        match r.next_packet() {
            Ok(Some(p)) => {
                c.packets += 1;
                match decode(p.link, p.data) {
                    Ok(d) => match d.l4 {
                        L4::Tcp(t) => {
                            c.tcp += 1;
                            c.tcp_payload += u64::from(t.payload_len);
                        }
                        L4::Udp { .. } => c.udp += 1,
                        _ => {}
                    },
                    Err(e) if e.is_weird() => c.weird += 1,
                    Err(_) => c.non_ip += 1,
                }
            }
            Ok(None) => return (c, Ok(())),
            Err(e) => return (c, Err(e)),
        }
    }
}

fn open(path: &Path) -> CaptureReader {
    CaptureReader::open(path, &WireConfig::default())
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

#[test]
fn every_capture_matches_tshark() {
    let Some(dir) = data_dir() else { return };
    let (files, errors) = collect_inputs(&[dir.join("botnet-pcaps"), dir.join("protocol-pcaps")]);
    assert!(errors.is_empty(), "{errors:?}");
    let on_disk: BTreeSet<String> = files
        .iter()
        .filter(|f| f.extension().is_none_or(|e| e != "md"))
        .map(|f| f.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    let expected: BTreeSet<String> = EXPECTED.iter().map(|e| e.0.to_string()).collect();
    assert_eq!(
        on_disk, expected,
        "the data folder changed: update EXPECTED"
    );

    for &(name, packets, tcp, tcp_payload, udp) in EXPECTED {
        let mut r = open(&dir.join(name));
        let (c, end) = count(&mut r);
        let want = Counts {
            packets,
            tcp,
            tcp_payload,
            udp,
            non_ip: c.non_ip,
            weird: 0,
        };
        assert_eq!(c, want, "{name}");
        assert_eq!(r.stats().records, packets, "{name}");
        if name == INFOSTEALER {
            let e = end.expect_err("infostealer capture is truncated");
            assert!(matches!(e.kind, ErrorKind::Truncated), "{e}");
            assert_eq!(e.offset, Some(INFOSTEALER_TRUNC_AT));
            assert!(e.to_string().contains(name));
            assert!(e.to_string().ends_with("at byte offset 2715459"), "{e}");
        } else {
            end.unwrap_or_else(|e| panic!("{name}: {e}"));
            let size = std::fs::metadata(dir.join(name)).unwrap().len();
            assert_eq!(r.bytes_read(), size, "{name}");
            assert_eq!(r.offset(), size, "{name}");
        }
    }
}

#[test]
fn non_capture_files_are_bad_magic() {
    let Some(dir) = data_dir() else { return };
    let e = CaptureReader::open(&dir.join("botnet-pcaps/SOURCES.md"), &WireConfig::default())
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::BadMagic), "{e}");
    assert_eq!(e.offset, Some(0));
}

/// Cross-check addresses, ports and payloads with etherparse on every
/// Ethernet packet.
#[test]
fn decoder_agrees_with_etherparse() {
    use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
    let Some(dir) = data_dir() else { return };
    let mut compared = 0u64;
    for &(name, ..) in EXPECTED {
        let mut r = open(&dir.join(name));
        while let Ok(Some(p)) = r.next_packet() {
            if p.link != LinkType::ETHERNET {
                continue;
            }
            let Ok(ours) = decode(p.link, p.data) else {
                continue;
            };
            let Ok(theirs) = LaxSlicedPacket::from_ethernet(p.data) else {
                continue;
            };
            let (src, dst) = match &theirs.net {
                Some(LaxNetSlice::Ipv4(ip)) => (
                    ip.header().source_addr().into(),
                    ip.header().destination_addr().into(),
                ),
                Some(LaxNetSlice::Ipv6(ip)) => (
                    ip.header().source_addr().into(),
                    ip.header().destination_addr().into(),
                ),
                _ => panic!("{name}@{}: etherparse found no IP", p.offset),
            };
            assert_eq!((ours.src, ours.dst), (src, dst), "{name}@{}", p.offset);
            match (&ours.l4, &theirs.transport) {
                (L4::Tcp(t), Some(TransportSlice::Tcp(e))) => {
                    assert_eq!(
                        (t.src_port, t.dst_port),
                        (e.source_port(), e.destination_port())
                    );
                    assert_eq!(
                        (t.seq, t.ack),
                        (e.sequence_number(), e.acknowledgment_number())
                    );
                    assert_eq!(t.payload, e.payload(), "{name}@{}", p.offset);
                    compared += 1;
                }
                (
                    L4::Udp {
                        src_port,
                        dst_port,
                        payload,
                        ..
                    },
                    Some(TransportSlice::Udp(e)),
                ) => {
                    assert_eq!(
                        (*src_port, *dst_port),
                        (e.source_port(), e.destination_port())
                    );
                    assert_eq!(*payload, e.payload(), "{name}@{}", p.offset);
                    compared += 1;
                }
                _ => {}
            }
        }
    }
    assert!(compared > 10_000, "only {compared} packets compared");
}

#[test]
fn compressed_copies_read_the_same() {
    let Some(dir) = data_dir() else { return };
    let src = dir.join("protocol-pcaps/zeek-irc-dcc-send.pcapng");
    let raw = std::fs::read(&src).unwrap();
    let tmp = std::env::temp_dir().join(format!("botscope-wire-it-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&raw).unwrap();
    // Names deliberately lie about the format: detection is by magic bytes.
    let copies = [
        ("a.pcapng", gz.finish().unwrap()),
        ("b.zst.pcapng", zstd::encode_all(&raw[..], 1).unwrap()),
        ("c.gz", xz.finish().unwrap()),
    ];
    for (n, bytes) in &copies {
        std::fs::write(tmp.join(n), bytes).unwrap();
        let mut r = open(&tmp.join(n));
        let (c, end) = count(&mut r);
        end.unwrap();
        assert_eq!(c.packets, 1184, "{n}");
        assert_eq!(c.tcp_payload, 1330912, "{n}");
        assert_eq!(r.bytes_read(), bytes.len() as u64, "{n}");
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn read_bytes(bytes: Vec<u8>) -> (Counts, Result<(), Error>) {
    match CaptureReader::from_reader(
        Box::new(Cursor::new(bytes)),
        "broken",
        &WireConfig::default(),
    ) {
        Ok(mut r) => count(&mut r),
        Err(e) => (Counts::default(), Err(e)),
    }
}

/// (offset, end) of every record of a pcap, or every block of a pcapng
/// (little-endian test files only).
fn framing(bytes: &[u8]) -> Vec<(usize, usize, bool)> {
    let le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    if bytes[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut off = 0;
        while off + 8 <= bytes.len() {
            let (t, len) = (le(off), le(off + 4));
            out.push((off, off + len, matches!(t, 2 | 3 | 6)));
            off += len;
        }
    } else {
        let mut off = 24;
        while off + 16 <= bytes.len() {
            let end = off + 16 + le(off + 8);
            out.push((off, end, true));
            off = end;
        }
    }
    out
}

#[test]
fn cut_captures_return_complete_packets_then_truncated_at_the_record() {
    let Some(dir) = data_dir() else { return };
    for name in [
        "protocol-pcaps/zeek-http-proxy.pcap",
        "protocol-pcaps/sanders-http_google.pcapng",
        "botnet-pcaps/cryptowall4-c2.pcapng",
    ] {
        let raw = std::fs::read(dir.join(name)).unwrap();
        let blocks = framing(&raw);
        assert_eq!(blocks.last().unwrap().1, raw.len(), "{name}: framing walk");
        for frac in [3usize, 17, 50, 71, 99] {
            let cut = raw.len() * frac / 100;
            let (c, end) = read_bytes(raw[..cut].to_vec());
            let complete = blocks.iter().filter(|b| b.2 && b.1 <= cut).count() as u64;
            assert_eq!(c.packets, complete, "{name} cut at {cut}");
            match blocks.iter().find(|b| b.0 < cut && b.1 > cut) {
                Some(b) => {
                    let e = end.expect_err("cut inside a record");
                    assert!(matches!(e.kind, ErrorKind::Truncated), "{name}: {e}");
                    assert_eq!(e.offset, Some(b.0 as u64), "{name} cut at {cut}");
                }
                None => end.unwrap(),
            }
        }
    }
}

#[test]
fn corrupted_headers_give_errors_with_offsets() {
    let Some(dir) = data_dir() else { return };
    // Flipped magic.
    let raw = std::fs::read(dir.join("protocol-pcaps/zeek-web.pcap")).unwrap();
    let mut b = raw.clone();
    b[..4].reverse();
    b[0] ^= 0xff;
    let (_, end) = read_bytes(b);
    let e = end.unwrap_err();
    assert!(matches!(e.kind, ErrorKind::BadMagic), "{e}");
    assert_eq!(e.offset, Some(0));

    // caplen of the 10th record set above the snaplen (and the wire length).
    let recs = framing(&raw);
    let snaplen = u32::from_le_bytes(raw[16..20].try_into().unwrap());
    let (off, _, _) = recs[9];
    let mut b = raw.clone();
    b[off + 8..off + 12].copy_from_slice(&(snaplen + 1).to_le_bytes());
    let (c, end) = read_bytes(b);
    assert_eq!(c.packets, 9);
    let e = end.unwrap_err();
    assert!(
        matches!(
            e.kind,
            ErrorKind::CorruptBlock(_) | ErrorKind::RecordTooLarge { .. }
        ),
        "{e}"
    );
    assert_eq!(e.offset, Some(off as u64), "{e}");

    // A corrupted pcapng block length (EPB number 5): not a multiple of 4,
    // then pointing past a valid trailer.
    let raw = std::fs::read(dir.join("protocol-pcaps/sanders-http_google.pcapng")).unwrap();
    let blocks = framing(&raw);
    let epbs: Vec<_> = blocks.iter().filter(|b| b.2).collect();
    let (off, end_off, _) = *epbs[4];
    for bad_len in [
        (end_off - off + 2) as u32,
        (end_off - off + 8) as u32,
        0xfff0_0000,
    ] {
        let mut b = raw.clone();
        b[off + 4..off + 8].copy_from_slice(&bad_len.to_le_bytes());
        let (c, end) = read_bytes(b);
        assert_eq!(c.packets, 4, "len {bad_len}");
        let e = end.unwrap_err();
        assert!(
            matches!(
                e.kind,
                ErrorKind::CorruptBlock(_) | ErrorKind::RecordTooLarge { .. }
            ),
            "{e}"
        );
        assert_eq!(e.offset, Some(off as u64), "{e}");
        assert!(e.to_string().contains(&format!("at byte offset {off}")));
    }
}

/// Random mutations and truncations of real captures: never a panic, and
/// the reader always ends (with a packet count bounded by the input).
#[test]
fn mutated_real_captures_never_panic() {
    let Some(dir) = data_dir() else { return };
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let cfg = WireConfig {
        read_buffer_size: 4096,
        ..WireConfig::default()
    };
    for name in [
        "protocol-pcaps/zeek-web.pcap",
        "protocol-pcaps/sanders-http_google.pcapng",
        "protocol-pcaps/suricata-smtp-pipelining.pcap",
        "protocol-pcaps/zeek-tls-irc-starttls.pcap",
    ] {
        let raw = std::fs::read(dir.join(name)).unwrap();
        for _ in 0..300 {
            let mut b = raw.clone();
            for _ in 0..(next() % 8) {
                let at = (next() % b.len() as u64) as usize;
                b[at] = next() as u8;
            }
            b.truncate((next() % (b.len() as u64 + 1)) as usize);
            if let Ok(mut r) = CaptureReader::from_reader(Box::new(Cursor::new(b)), name, &cfg) {
                let mut n = 0;
                loop {
                    match r.next_packet() {
                        Ok(Some(p)) => {
                            let _ = decode(p.link, p.data);
                            n += 1;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            assert!(e.offset.is_some(), "{e}");
                            break;
                        }
                    }
                }
                assert!(n <= 200);
            }
        }
    }
}

#[test]
fn reader_and_defragmenter_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<CaptureReader>();
    assert_send::<botscope_wire::Defragmenter>();
}

#[test]
fn stdin_dash_is_accepted_by_collect_inputs() {
    let (files, errors) = collect_inputs(&[PathBuf::from("-")]);
    assert_eq!(files, vec![PathBuf::from("-")]);
    assert!(errors.is_empty());
}

/// First and last timestamps (µs) from `tshark -T fields -e frame.time_epoch`.
#[test]
fn timestamps_match_tshark() {
    let Some(dir) = data_dir() else { return };
    for (name, first, last) in [
        (
            "botnet-pcaps/cryptowall4-c2.pcapng",
            1_451_924_795_521_212i64,
            1_451_924_841_246_962i64,
        ),
        (
            "protocol-pcaps/zeek-irc-dcc-send.pcapng",
            1_753_735_709_964_970,
            1_753_735_879_839_923,
        ),
        (
            "protocol-pcaps/sanders-dns_isp_hijack.pcapng",
            1_491_223_251_286_603,
            1_491_223_253_485_870,
        ),
        (
            "protocol-pcaps/zeek-tls-irc-starttls.pcap",
            1_438_145_937_325_196,
            1_438_145_942_248_343,
        ),
        (
            "protocol-pcaps/suricata-smtp-pipelining.pcap",
            1_544_773_457_768_725,
            1_544_773_457_775_268,
        ),
    ] {
        let mut r = open(&dir.join(name));
        let mut ts = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            ts.push(p.ts.0);
        }
        assert_eq!((ts[0], ts[ts.len() - 1]), (first, last), "{name}");
    }
}
