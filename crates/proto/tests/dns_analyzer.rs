//! DNS analyzer against Zeek's baselines, real captures, malformed and
//! random input.

#[path = "dns_support.rs"]
mod support;

use std::collections::BTreeSet;

use botscope_event::{Dns, Event, Ts};
use botscope_proto::dns::{self, DnsAnalyzer};
use botscope_proto::{Dir, Probe, ProtoConfig};
use support::*;

fn rows(run: &Run) -> Vec<Dns> {
    run.events
        .iter()
        .filter_map(|e| match e {
            Event::Dns(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn udp(segs: &[Seg]) -> Run {
    let cfg = ProtoConfig::default();
    run(&mut DnsAnalyzer::new_udp(&cfg), segs, None, &cfg)
}

/// The same messages over TCP, length-prefixed, fed in `chunk`-byte pieces.
fn tcp(segs: &[Seg], chunk: Option<usize>) -> Run {
    let framed: Vec<Seg> = segs
        .iter()
        .map(|(ts, d, m)| {
            let mut v = (m.len() as u16).to_be_bytes().to_vec();
            v.extend_from_slice(m);
            (*ts, *d, v)
        })
        .collect();
    let cfg = ProtoConfig::default();
    run(&mut DnsAnalyzer::new_tcp(&cfg), &framed, chunk, &cfg)
}

/// Compare a row with a Zeek dns.log row on the fields the two share.
fn assert_matches_zeek(ours: &Dns, z: &[(String, String)]) {
    let opt = |v: &str| (v != "-").then(|| v.to_string());
    let b = |v: &str| v == "T";
    assert_eq!(ours.trans_id.to_string(), field(z, "trans_id"));
    assert_eq!(ours.query, opt(field(z, "query")));
    assert_eq!(ours.qtype_name, opt(field(z, "qtype_name")));
    assert_eq!(ours.qclass_name, opt(field(z, "qclass_name")));
    assert_eq!(ours.rcode_name, opt(field(z, "rcode_name")));
    assert_eq!(ours.aa, b(field(z, "AA")));
    assert_eq!(ours.tc, b(field(z, "TC")));
    assert_eq!(ours.rd, b(field(z, "RD")));
    assert_eq!(ours.ra, b(field(z, "RA")));
    assert_eq!(ours.z.to_string(), field(z, "Z"));
    assert_eq!(ours.answers.join(","), field(z, "answers"));
    let ttls: Vec<String> = ours.ttls.iter().map(|t| format!("{t}.000000")).collect();
    assert_eq!(ttls.join(","), field(z, "TTLs"));
    assert_eq!(ours.rejected, b(field(z, "rejected")));
    assert_eq!(ours.opcode_name, opt(field(z, "opcode_name")));
}

#[test]
fn dns53_reply_only_matches_zeek() {
    // One reply, no query: the engine flips the flow; fed as Orig here.
    let segs: Vec<Seg> = vectors("dns/dns53.txt")
        .into_iter()
        .map(|(ts, _, b)| (ts, Dir::Orig, b))
        .collect();
    assert!(dns::is_response(&segs[0].2));
    let run = udp(&segs);
    let r = rows(&run);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].query.as_deref(), Some("us.v27.distributed.net"));
    assert_eq!(r[0].answers.len(), 8);
    assert_eq!(r[0].ttls, vec![900; 8]);
    assert!(r[0].meta.is_some());
    let Some(p) = shared("zeek-baselines/zeek-dns53/scripts.base.protocols.dns.flip/dns.log")
    else {
        return;
    };
    let z = zeek_rows(&std::fs::read_to_string(p).unwrap());
    assert_eq!(z.len(), 1);
    assert_matches_zeek(&r[0], &z[0]);
}

#[test]
fn txt_multiple_strings_match_zeek() {
    let segs = vectors("dns/txt-multiple.txt");
    assert_eq!(segs.len(), 2);
    // Zeek's trace has a bad checksum on the query, so Zeek saw only the
    // reply: compare that case with the baseline.
    let reply_only = udp(&segs[1..]);
    let r = rows(&reply_only);
    assert_eq!(r.len(), 1);
    if let Some(p) =
        shared("zeek-baselines/zeek-dns-txt-multiple/scripts.base.protocols.dns.multiple-txt-strings/dns.log")
    {
        let z = zeek_rows(&std::fs::read_to_string(p).unwrap());
        assert_eq!(z.len(), 1);
        assert_matches_zeek(&r[0], &z[0]);
    }
    assert!(r[0].answers[2].starts_with("TXT 127 k=rsa; p=MIGf"));
    assert!(r[0].answers[2].contains("Kjn TXT 98 HSrDI23PU+"));
    // With the query: one paired row carrying query-side fields and rtt.
    let both = rows(&udp(&segs));
    assert_eq!(both.len(), 1);
    let d = &both[0];
    assert_eq!(d.qtype_name.as_deref(), Some("TXT"));
    assert_eq!(d.qclass_name.as_deref(), Some("C_INTERNET"));
    assert!(d.rd);
    assert_eq!(d.rtt.map(|r| r.0), Some(segs[1].0 .0 - segs[0].0 .0));
    assert_eq!(d.meta.map(|m| m.ts), Some(segs[0].0));
    assert_eq!(d.answers, r[0].answers);
}

/// Every vector: (query, qtype) pairs equal those `simple-dns` (an
/// independent parser) reads from the same messages; TCP framing fed one
/// byte at a time and whole gives the same rows.
#[test]
fn real_captures_against_simple_dns() {
    for name in [
        "dns/isp-hijack-0.txt",
        "dns/isp-hijack-1.txt",
        "dns/ppa1e-0.txt",
        "dns/ppa1e-1.txt",
        "dns/long-connection.txt",
        "dns/txt-multiple.txt",
        "dns/dns53.txt",
    ] {
        let segs = vectors(name);
        let ours = rows(&udp(&segs));
        let ours_set: BTreeSet<(String, Option<u16>)> = ours
            .iter()
            .filter(|d| d.qtype.is_some())
            .map(|d| (d.query.clone().unwrap_or_default(), d.qtype))
            .collect();
        let mut oracle = BTreeSet::new();
        for (_, _, m) in &segs {
            let p = simple_dns::Packet::parse(m).unwrap_or_else(|e| panic!("{name}: {e}"));
            if p.has_flags(simple_dns::PacketFlag::RESPONSE) {
                continue;
            }
            for q in &p.questions {
                let t: u16 = q.qtype.into();
                oracle.insert((q.qname.to_string().to_ascii_lowercase(), Some(t)));
            }
        }
        assert_eq!(ours_set, oracle, "{name}");
        let whole = tcp(&segs, None);
        let bytewise = tcp(&segs, Some(1));
        assert_eq!(rows(&whole), ours, "{name} tcp");
        assert_eq!(whole, bytewise, "{name} bytewise");
    }
}

#[test]
fn long_connection_pairs_every_query() {
    let segs = vectors("dns/long-connection.txt");
    let r = rows(&udp(&segs));
    assert_eq!(r.len(), 11);
    assert!(r.iter().all(|d| d.rcode.is_some() && d.qtype.is_some()));
    // tshark -T fields -e dns.qry.name -e dns.qry.type, queries, sorted -u
    let tshark: BTreeSet<(String, Option<u16>)> = [
        ("104.9.192.66.in-addr.arpa", 12),
        ("google.com", 15),
        ("google.com", 29),
        ("www.example.com", 28),
        ("www.example.notginh", 28),
        ("www.google.com", 28),
        ("www.isc.org", 255),
        ("www.l.google.com", 28),
        ("www.netbsd.org", 1),
        ("www.netbsd.org", 28),
    ]
    .into_iter()
    .map(|(q, t)| (q.to_string(), Some(t)))
    .collect();
    let ours: BTreeSet<_> = r
        .iter()
        .map(|d| (d.query.clone().unwrap_or_default(), d.qtype))
        .collect();
    assert_eq!(ours, tshark);
    assert!(r.iter().any(|d| d.qtype_name.as_deref() == Some("*")));
}

#[test]
fn isp_hijack_rows() {
    let r = rows(&udp(&vectors("dns/isp-hijack-0.txt")));
    assert_eq!(r.len(), 1);
    assert!(r[0].rcode_name.is_some() && r[0].rtt.is_some());
}

/// Build a message: header fields then raw body.
fn msg(id: u16, flags: u16, counts: [u16; 4], body: &[u8]) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v.extend_from_slice(body);
    v
}

const Q_EXAMPLE: &[u8] = b"\x07example\x03com\x00\x00\x01\x00\x01";

#[test]
fn query_reply_pairing_and_unanswered() {
    let q1 = msg(1, 0x0100, [1, 0, 0, 0], Q_EXAMPLE);
    let q2 = msg(2, 0x0100, [1, 0, 0, 0], Q_EXAMPLE);
    let mut a = Q_EXAMPLE.to_vec();
    a.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x01\x02\x03\x04");
    let r1 = msg(1, 0x8180, [1, 1, 0, 0], &a);
    let nx = msg(9, 0x8183, [1, 0, 0, 0], Q_EXAMPLE);
    let segs = vec![
        (Ts(1_000_000), Dir::Orig, q1),
        (Ts(1_000_100), Dir::Orig, q2),
        (Ts(1_000_500), Dir::Resp, r1),
        (Ts(1_000_600), Dir::Resp, nx),
    ];
    let r = rows(&udp(&segs));
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].trans_id, 1);
    assert_eq!(r[0].answers, vec!["1.2.3.4"]);
    assert_eq!(r[0].ttls, vec![60]);
    assert_eq!(r[0].rtt.map(|d| d.0), Some(500));
    assert_eq!(r[0].query.as_deref(), Some("example.com"));
    // At finish: the unanswered query, then the unsolicited NXDOMAIN.
    assert_eq!(r[1].trans_id, 2);
    assert!(r[1].rcode.is_none());
    assert_eq!(r[2].trans_id, 9);
    assert_eq!(r[2].rcode_name.as_deref(), Some("NXDOMAIN"));
    assert!(
        r[2].rejected,
        "question and no records: Zeek's dns_rejected"
    );
    assert!(r[2].qtype.is_none());
}

#[test]
fn reused_id_logs_the_old_query() {
    let q = msg(7, 0x0100, [1, 0, 0, 0], Q_EXAMPLE);
    let segs = vec![(Ts(1), Dir::Orig, q.clone()), (Ts(2), Dir::Orig, q)];
    let cfg = ProtoConfig::default();
    let mut an = DnsAnalyzer::new_udp(&cfg);
    let r = run(&mut an, &segs, None, &cfg);
    assert_eq!(rows(&r).len(), 2);
}

#[test]
fn pending_cap_is_reported() {
    let cfg = ProtoConfig {
        max_pending: 2,
        ..ProtoConfig::default()
    };
    let segs: Vec<Seg> = (0..5u16)
        .map(|i| {
            (
                Ts(i64::from(i)),
                Dir::Orig,
                msg(i, 0x0100, [1, 0, 0, 0], Q_EXAMPLE),
            )
        })
        .collect();
    let r = run(&mut DnsAnalyzer::new_udp(&cfg), &segs, None, &cfg);
    assert_eq!(rows(&r).len(), 5);
    assert_eq!(r.weirds(), vec!["DNS_pending_msgs_cap"]);
}

#[test]
fn type_names_like_zeek() {
    assert_eq!(dns::qtype_name(255), "*");
    assert_eq!(dns::qtype_name(65), "HTTPS");
    assert_eq!(dns::qtype_name(4242), "query-4242");
    assert_eq!(dns::qclass_name(1), "C_INTERNET");
    assert_eq!(dns::rcode_name(5), "REFUSED");
    assert_eq!(dns::opcode_name(5), "dynamic-update");
}

#[test]
fn answer_renderings() {
    // MX, CNAME, TXT, SRV, SOA, AAAA and an unknown type.
    let mut b = Q_EXAMPLE.to_vec();
    let rr = |t: u16, rdata: &[u8]| {
        let mut v = b"\xc0\x0c".to_vec();
        v.extend_from_slice(&t.to_be_bytes());
        v.extend_from_slice(b"\x00\x01\x00\x00\x00\x05");
        v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        v.extend_from_slice(rdata);
        v
    };
    b.extend(rr(15, b"\x00\x0a\x04MAIL\xc0\x0c"));
    b.extend(rr(5, b"\x03www\xc0\x0c"));
    b.extend(rr(16, b"\x02hi\x00\x03a\x01b"));
    b.extend(rr(33, b"\x00\x01\x00\x02\x01\xbb\x03sip\xc0\x0c"));
    b.extend(rr(6, b"\x02ns\xc0\x0c\x02hm\xc0\x0c\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05"));
    b.extend(rr(
        28,
        &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    ));
    b.extend(rr(4242, b"xyz"));
    b.extend(rr(13, b"\x01a\x01b"));
    let m = msg(3, 0x8580, [1, 8, 0, 0], &b);
    let r = rows(&udp(&[(Ts(1), Dir::Resp, m)]));
    assert_eq!(
        r[0].answers,
        vec![
            "mail.example.com",
            "www.example.com",
            "TXT 2 hi TXT 0  TXT 3 a\\x01b",
            "sip.example.com",
            "ns.example.com",
            "2001:db8::1",
            "<unknown type=4242>",
        ]
    );
    assert_eq!(r[0].ttls, vec![5; 7]);
    assert!(r[0].aa && r[0].ra);
}

/// Review finding: one 65,533-byte reply of 14-byte pointer RRs gave
/// 4,662 answers of ~1,000 characters each (4.7 MB of text per row, and
/// 64 such rows may wait per flow). Answers are capped in number and in
/// rendered length, and both caps are reported.
#[test]
fn dns_answers_capped_in_number_and_length() {
    // A question whose name renders to ~1,000 characters (bytes 0x01
    // are written `\x01`): 255 bytes on the wire.
    let mut q = Vec::new();
    for len in [63u8, 63, 63, 61] {
        q.push(len);
        q.extend_from_slice(&vec![1u8; usize::from(len)]);
    }
    q.extend_from_slice(b"\x00\x00\x0c\x00\x01");
    let mut body = q.clone();
    // A TXT answer rendering to more than 1,024 bytes (kept whole, as
    // Zeek does).
    let mut txt = vec![255u8];
    txt.extend_from_slice(&[1u8; 255]);
    body.extend_from_slice(b"\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x05");
    body.extend_from_slice(&(txt.len() as u16).to_be_bytes());
    body.extend_from_slice(&txt);
    // Then PTR answers pointing at the long name, 14 bytes each, up to a
    // UDP message of 65,533 bytes.
    let ptr = b"\xc0\x0c\x00\x0c\x00\x01\x00\x00\x00\x05\x00\x02\xc0\x0c";
    let mut n = 1u16;
    while 12 + body.len() + ptr.len() <= 65_533 {
        body.extend_from_slice(ptr);
        n += 1;
    }
    let m = msg(9, 0x8180, [1, n, 0, 0], &body);
    assert!(m.len() > 65_000 && n > 4_000);
    let cfg = ProtoConfig::default();
    let mut an = DnsAnalyzer::new_udp(&cfg);
    let r = run(&mut an, &[(Ts(1), Dir::Resp, m.clone())], None, &cfg);
    let d = rows(&r);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].answers.len(), 100, "at most dns_max_answers");
    assert_eq!(d[0].ttls.len(), 100);
    assert!(d[0].answers[0].starts_with("TXT 255 \\x01"));
    assert_eq!(d[0].answers[0].len(), 8 + 255 * 4, "not cut");
    assert!(d[0].answers[1].len() > 900, "PTR answers are kept whole");
    let text: usize = d[0].answers.iter().map(String::len).sum();
    assert!(text <= 100 * 1100, "{text} bytes of answers");
    let mut w = r.weirds();
    w.sort();
    assert_eq!(w, ["DNS_too_many_answers"]);
    assert_eq!(an.answers_dropped(), u64::from(n) - 100);
    assert_eq!(an.answers_cut(), 0);
    // The same caps hold for the message parser on its own, and smaller
    // caps from the config are honoured.
    let p = dns::parse_message(&m);
    assert_eq!(
        (p.answers.len(), p.answers_dropped),
        (100, usize::from(n) - 100)
    );
    let small = ProtoConfig {
        dns_max_answers: 3,
        dns_max_answer_bytes: 10,
        ..ProtoConfig::default()
    };
    let r = run(
        &mut DnsAnalyzer::new_udp(&small),
        &[(Ts(1), Dir::Resp, m)],
        None,
        &small,
    );
    let d = rows(&r);
    assert_eq!(d[0].answers.len(), 3);
    assert!(d[0].answers.iter().all(|a| a.len() == 10));
    assert!(r.weirds().contains(&"DNS_answer_too_long".to_string()));
}

#[test]
fn malformed_messages_still_log_what_was_read() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // Compression loop: pointer to itself.
        (
            "loop",
            msg(1, 0x0100, [1, 0, 0, 0], b"\xc0\x0c\x00\x01\x00\x01"),
            "DNS_label_forward_compress_offset",
        ),
        // Forward pointer.
        (
            "forward",
            msg(1, 0x0100, [1, 0, 0, 0], b"\x01a\xc0\x20\x00\x01\x00\x01"),
            "DNS_label_forward_compress_offset",
        ),
        // Label type 0x40 (a length > 63).
        (
            "label>63",
            msg(1, 0x0100, [1, 0, 0, 0], b"\x01a\x45abc"),
            "DNS_label_too_long",
        ),
        // Truncated inside a label.
        (
            "truncated",
            msg(1, 0x0100, [1, 0, 0, 0], b"\x07exa"),
            "DNS_label_len_gt_pkt",
        ),
        // Question without type/class.
        (
            "short-q",
            msg(1, 0x0100, [1, 0, 0, 0], b"\x01a\x00\x00"),
            "DNS_truncated_quest_too_short",
        ),
        // Too many questions.
        (
            "qdcount",
            msg(1, 0x0100, [300, 0, 0, 0], b""),
            "DNS_Conn_count_too_large",
        ),
        // Header only, too short.
        ("header", vec![1, 2, 3], "DNS_truncated_len_lt_hdr_len"),
    ];
    for (what, m, weird) in cases {
        let r = udp(&[(Ts(1), Dir::Orig, m)]);
        assert!(
            r.weirds().contains(&weird.to_string()),
            "{what}: {:?}",
            r.weirds()
        );
        if what != "header" {
            assert_eq!(rows(&r).len(), 1, "{what}: a row is still logged");
        }
    }
    // rdlength past the end; answer cut short.
    let mut a = Q_EXAMPLE.to_vec();
    a.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\xff\xff\x01\x02");
    let r = udp(&[(Ts(1), Dir::Resp, msg(4, 0x8180, [1, 1, 0, 0], &a))]);
    assert_eq!(r.weirds(), vec!["DNS_truncated_RR_rdlength_lt_len"]);
    let d = rows(&r);
    // A reply without its query names the row after its first answer
    // (Zeek's `DNS::do_reply`); with the answer cut short, none.
    assert_eq!(d[0].query, None);
    assert_eq!(d[0].rcode, Some(0));
    assert!(d[0].answers.is_empty());
    // Oversized TCP message.
    let cfg = ProtoConfig {
        dns_max_tcp_message: 20,
        ..ProtoConfig::default()
    };
    let mut big = 100u16.to_be_bytes().to_vec();
    big.extend_from_slice(&[0; 100]);
    big.extend_from_slice(
        &(msg(5, 0x0100, [1, 0, 0, 0], b"\x00\x00\x01\x00\x01").len() as u16).to_be_bytes(),
    );
    big.extend_from_slice(&msg(5, 0x0100, [1, 0, 0, 0], b"\x00\x00\x01\x00\x01"));
    let r = run(
        &mut DnsAnalyzer::new_tcp(&cfg),
        &[(Ts(1), Dir::Orig, big)],
        Some(7),
        &cfg,
    );
    assert_eq!(r.weirds(), vec!["DNS_tcp_message_too_large"]);
    assert_eq!(
        rows(&r).len(),
        1,
        "the message after the oversized one is read"
    );
}

#[test]
fn probes() {
    let q = msg(1, 0x0100, [1, 0, 0, 0], Q_EXAMPLE);
    assert_eq!(dns::probe(Dir::Orig, &q), Probe::Certain);
    assert_eq!(
        dns::probe(Dir::Orig, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        Probe::NotForUs
    );
    assert_eq!(dns::probe(Dir::Orig, &q[..5]), Probe::NotForUs);
    let mut t = (q.len() as u16).to_be_bytes().to_vec();
    t.extend_from_slice(&q);
    assert_eq!(dns::probe_tcp(Dir::Orig, &t), Probe::Certain);
    assert_eq!(dns::probe_tcp(Dir::Orig, &t[..1]), Probe::Unsure);
    assert_eq!(dns::probe_tcp(Dir::Orig, &t[..8]), Probe::Unsure);
    assert_eq!(dns::probe_tcp(Dir::Orig, &t[..18]), Probe::Unsure);
    assert_eq!(
        dns::probe_tcp(Dir::Orig, b"GET / HTTP/1.1\r\n"),
        Probe::NotForUs
    );
    for (_, _, m) in vectors("dns/ppa1e-0.txt") {
        assert_eq!(dns::probe(Dir::Orig, &m), Probe::Certain);
    }
}

#[test]
fn random_bytes_never_panic() {
    let cfg = ProtoConfig::default();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let base = vectors("dns/txt-multiple.txt");
    for i in 0..3000 {
        let n = (rng.next_u64() % 300) as usize;
        let mut m = rng.bytes(n);
        if i % 2 == 0 {
            // Mutate a real message instead of pure noise.
            m = base[1].2.clone();
            for _ in 0..(1 + rng.next_u64() % 8) {
                let at = (rng.next_u64() as usize) % m.len();
                m[at] = rng.next_u64() as u8;
            }
            m.truncate((rng.next_u64() as usize) % (m.len() + 1));
        }
        let _ = dns::probe(Dir::Orig, &m);
        let _ = dns::probe_tcp(Dir::Orig, &m);
        let segs = vec![(Ts(i), Dir::Orig, m.clone()), (Ts(i + 1), Dir::Resp, m)];
        let _ = run(&mut DnsAnalyzer::new_udp(&cfg), &segs, None, &cfg);
        let _ = run(&mut DnsAnalyzer::new_tcp(&cfg), &segs, Some(3), &cfg);
    }
}

fn udp_on(segs: &[Seg], id: botscope_event::ConnId) -> Run {
    let cfg = ProtoConfig::default();
    run_id(&mut DnsAnalyzer::new_udp(&cfg), segs, None, &cfg, id)
}

#[test]
fn zeek_reply_rules_answers_set_aa_ra_rtt() {
    // A reply without answers leaves AA, RA and rtt unset (Zeek sets them
    // while reading answers).
    let q = msg(7, 0x0100, [1, 0, 0, 0], Q_EXAMPLE);
    let empty = msg(7, 0x8580, [1, 0, 0, 0], Q_EXAMPLE);
    let r = rows(&udp(&[
        (Ts(1_000_000), Dir::Orig, q.clone()),
        (Ts(1_000_900), Dir::Resp, empty),
    ]));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].rcode, Some(0));
    assert!(!r[0].aa && !r[0].ra);
    assert!(r[0].rtt.is_none());
    assert!(r[0].rd, "RD from the query");
    // Opcodes other than query, notify and update are not logged.
    let status = msg(8, 0x1000, [0, 0, 0, 0], b"");
    assert!(rows(&udp(&[(Ts(1), Dir::Orig, status)])).is_empty());
}

#[test]
fn mdns_to_a_group_is_never_paired_netbios_names_are_decoded() {
    use std::net::{IpAddr, Ipv4Addr};
    let group = botscope_event::ConnId {
        orig_h: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2)),
        orig_p: 5353,
        resp_h: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251)),
        resp_p: 5353,
        proto: botscope_event::Transport::Udp,
    };
    let q = msg(
        0,
        0x0000,
        [1, 0, 0, 0],
        b"\x01a\x05local\x00\x00\x01\x00\x01",
    );
    // An announcement: no question, one answer for another name.
    let ann = msg(
        0,
        0x8400,
        [0, 1, 0, 0],
        b"\x01b\x05local\x00\x00\x01\x80\x01\x00\x00\x00\x78\x00\x04\xc0\xa8\x00\x02",
    );
    let r = rows(&udp_on(
        &[
            (Ts(1_000_000), Dir::Orig, q),
            (Ts(1_000_100), Dir::Orig, ann),
        ],
        group,
    ));
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0].query.as_deref(), Some("a.local"));
    assert!(r[0].rcode.is_none());
    assert_eq!(r[1].query.as_deref(), Some("b.local"));
    assert_eq!(r[1].answers, vec!["192.168.0.2"]);
    assert!(r[1].aa && r[1].rtt.is_none() && r[1].qtype.is_none());
    // NetBIOS name service: the first-level encoding decoded.
    let nb = botscope_event::ConnId {
        orig_p: 137,
        resp_h: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 255)),
        resp_p: 137,
        ..group
    };
    let mut name = vec![32u8];
    name.extend_from_slice(b"ECFCFHEDDAEDECDDDIDDEEDBEGDEDCAA");
    name.extend_from_slice(b"\x00\x00\x20\x00\x01");
    let reg = msg(1, 0x2910, [1, 0, 0, 1], &name);
    let r = rows(&udp_on(&[(Ts(1), Dir::Orig, reg)], nb));
    assert_eq!(r[0].query.as_deref(), Some("BRWC0CB383D1F42"));
    assert_eq!(r[0].opcode_name.as_deref(), Some("netbios-registration"));
    assert_eq!(dns::decode_netbios_name("not a netbios name"), None);
}

#[test]
fn dynamic_update_records_are_the_answers() {
    let zone = b"\x07example\x03org\x00\x00\x06\x00\x01";
    let mut body = zone.to_vec();
    // Prerequisite: NoRRSet CNAME h.example.org (class NONE).
    body.extend_from_slice(b"\x01h\xc0\x0c\x00\x05\x00\xfe\x00\x00\x00\x00\x00\x00");
    // Updates: delete the AAAA set (class ANY), add an A record.
    body.extend_from_slice(b"\x01h\xc0\x0c\x00\x1c\x00\xff\x00\x00\x00\x00\x00\x00");
    body.extend_from_slice(
        b"\x01h\xc0\x0c\x00\x01\x00\x01\x00\x00\x04\xb0\x00\x04\x0a\x00\x00\x05",
    );
    let req = msg(3, 0x2800, [1, 1, 2, 0], &body);
    let rep = msg(3, 0xa800, [1, 1, 2, 0], &body);
    let r = rows(&udp(&[
        (Ts(1_000_000), Dir::Orig, req),
        (Ts(1_002_000), Dir::Resp, rep),
    ]));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].query.as_deref(), Some("h.example.org"));
    assert!(r[0].qtype.is_none(), "the zone is no question");
    assert_eq!(
        r[0].answers,
        vec![
            "pre: NoRRSet CNAME h.example.org",
            "del: RRSet AAAA",
            "add: A h.example.org 10.0.0.5"
        ]
    );
    assert_eq!(r[0].ttls, vec![0, 0, 1200]);
    assert_eq!(r[0].opcode_name.as_deref(), Some("dynamic-update"));
}
