//! The application layer on synthetic conversations: protocol detection,
//! upgrades, cross-connection links and limits.

use std::net::{IpAddr, Ipv4Addr};

use botscope_engine::{AppHandler, MAX_WEIRD_ROWS_PER_NAME};
use botscope_event::{Event, Service, Ts};
use botscope_flow::{FlowConfig, FlowTable, L4View, PacketView, TcpFlags};
use botscope_proto::ProtoConfig;

type Table = FlowTable<AppHandler<Vec<Event>>>;

fn ip(x: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, x))
}

/// A TCP conversation builder: handshake, then data in either direction
/// with correct sequence numbers.
struct Conv {
    c: (IpAddr, u16),
    s: (IpAddr, u16),
    cseq: u32,
    sseq: u32,
    ts: i64,
}

impl Conv {
    fn open(t: &mut Table, c: (IpAddr, u16), s: (IpAddr, u16), ts: i64) -> Conv {
        let mut v = Conv {
            c,
            s,
            cseq: 1000,
            sseq: 9000,
            ts,
        };
        v.pkt(t, true, TcpFlags::SYN, b"");
        v.cseq += 1;
        v.pkt(t, false, TcpFlags::SYN | TcpFlags::ACK, b"");
        v.sseq += 1;
        v.pkt(t, true, TcpFlags::ACK, b"");
        v
    }

    fn pkt(&mut self, t: &mut Table, from_client: bool, flags: u8, data: &[u8]) {
        self.ts += 1000;
        let (src, dst, seq, ack) = if from_client {
            (self.c, self.s, self.cseq, self.sseq)
        } else {
            (self.s, self.c, self.sseq, self.cseq)
        };
        t.process(&PacketView {
            ts: Ts(self.ts),
            src: src.0,
            dst: dst.0,
            ip_len: 40 + data.len() as u32,
            l4: L4View::Tcp {
                src_port: src.1,
                dst_port: dst.1,
                seq,
                ack,
                flags: TcpFlags(flags),
                window: 1000,
                payload: data,
                payload_len: data.len() as u32,
            },
        });
        if from_client {
            self.cseq = self.cseq.wrapping_add(data.len() as u32);
        } else {
            self.sseq = self.sseq.wrapping_add(data.len() as u32);
        }
    }

    fn client(&mut self, t: &mut Table, d: &[u8]) {
        self.pkt(t, true, TcpFlags::PSH | TcpFlags::ACK, d);
    }
    fn server(&mut self, t: &mut Table, d: &[u8]) {
        self.pkt(t, false, TcpFlags::PSH | TcpFlags::ACK, d);
    }
}

fn table() -> Table {
    FlowTable::new(
        FlowConfig::default(),
        AppHandler::new(Vec::new(), ProtoConfig::default()),
        1,
    )
}

fn finish(t: Table) -> Vec<Event> {
    let (h, _) = t.finish();
    h.into_sink()
}

/// A TLS ClientHello record header + handshake type.
const TLS_HELLO: &[u8] = b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03";

#[test]
fn implicit_tls_right_after_the_greeting_is_followed() {
    let mut t = table();
    let mut c = Conv::open(&mut t, (ip(1), 40000), (ip(2), 465), 0);
    c.server(&mut t, b"220 mail.example ESMTP\r\n");
    c.client(&mut t, TLS_HELLO);
    let ev = finish(t);
    let conn = ev.iter().find_map(|e| match e {
        Event::Conn(c) => Some(c),
        _ => None,
    });
    assert_eq!(
        conn.map(|c| c.service.clone()),
        Some(vec![Service::SMTP, Service::SSL])
    );
}

#[test]
fn tls_looking_bytes_inside_a_message_do_not_switch() {
    let mut t = table();
    let mut c = Conv::open(&mut t, (ip(1), 40001), (ip(2), 25), 0);
    c.server(&mut t, b"220 mail.example ESMTP\r\n");
    c.client(&mut t, b"HELO bot\r\n");
    c.server(&mut t, b"250 ok\r\n");
    c.client(&mut t, b"MAIL FROM:<a@b>\r\n");
    c.server(&mut t, b"250 ok\r\n");
    c.client(&mut t, b"RCPT TO:<c@d>\r\n");
    c.server(&mut t, b"250 ok\r\n");
    c.client(&mut t, b"DATA\r\n");
    c.server(&mut t, b"354 go\r\n");
    c.client(&mut t, b"Subject: hi\r\n\r\n");
    c.client(&mut t, TLS_HELLO);
    c.client(&mut t, b"\r\nhidden text\r\n.\r\n");
    c.server(&mut t, b"250 queued\r\n");
    let ev = finish(t);
    let conn = ev.iter().find_map(|e| match e {
        Event::Conn(c) => Some(c),
        _ => None,
    });
    assert_eq!(conn.map(|c| c.service.clone()), Some(vec![Service::SMTP]));
    let msg = ev.iter().find_map(|e| match e {
        Event::Message(m) => Some(m),
        _ => None,
    });
    let msg = msg.expect("carved message");
    assert!(!msg.truncated);
    assert!(msg.data.windows(11).any(|w| w == b"hidden text"));
}

#[test]
fn analyzer_weirds_are_rate_limited_and_counted() {
    let mut t = table();
    let mut c = Conv::open(&mut t, (ip(1), 40002), (ip(2), 25), 0);
    c.server(&mut t, b"220 mail.example ESMTP\r\n");
    c.client(&mut t, b"HELO bot\r\n");
    // Commands that are never answered: every one past the pending cap
    // is an anomaly.
    for _ in 0..200 {
        c.client(&mut t, &b"NOOP\r\n".repeat(100));
    }
    let (h, _) = t.finish();
    let counts = h.weird_counts().clone();
    let ev = h.into_sink();
    let rows = ev.iter().filter(|e| matches!(e, Event::Weird(_))).count() as u64;
    let total: u64 = counts.values().sum();
    assert!(total > MAX_WEIRD_ROWS_PER_NAME, "counted {total}");
    assert!(
        rows <= MAX_WEIRD_ROWS_PER_NAME * counts.len() as u64,
        "{rows} rows"
    );
}

#[test]
fn several_dcc_offers_in_one_segment_each_get_their_data_connection() {
    let mut t = table();
    let (a, b) = (ip(7), ip(22));
    let mut irc = Conv::open(&mut t, (a, 50000), (b, 6667), 0);
    irc.client(&mut t, b"NICK n\r\nUSER u 0 * :r\r\n");
    irc.server(&mut t, b":srv 001 n :welcome\r\n");
    // 10.0.0.22 offers two files in one segment.
    let ip22 = u32::from(Ipv4Addr::new(10, 0, 0, 22));
    let offers = format!(
        ":n!u@h PRIVMSG x :\x01DCC SEND a.exe {ip22} 5000 10\x01\r\n:n!u@h PRIVMSG x :\x01DCC SEND b.txt {ip22} 5001 10\x01\r\n"
    );
    irc.server(&mut t, offers.as_bytes());
    let mut d1 = Conv::open(&mut t, (a, 50001), (b, 5000), 10_000);
    d1.server(&mut t, b"MZ\x90\x00\x03\x00\x00\x00");
    let mut d2 = Conv::open(&mut t, (a, 50002), (b, 5001), 20_000);
    d2.server(&mut t, b"plain text here\n");
    let ev = finish(t);
    let mut dcc: Vec<(String, Option<String>)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Irc(i) if i.command.as_deref() == Some("DCC") => Some((
                i.dcc_file_name.clone().unwrap_or_default(),
                i.dcc_mime_type.clone(),
            )),
            _ => None,
        })
        .collect();
    dcc.sort();
    assert_eq!(
        dcc,
        vec![
            (
                "a.exe".to_string(),
                Some("application/x-dosexec".to_string())
            ),
            ("b.txt".to_string(), Some("text/plain".to_string())),
        ]
    );
}

fn services(ev: &[Event]) -> Vec<(u16, String)> {
    let mut v: Vec<(u16, String)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Conn(c) => Some((
                c.meta.id.resp_p,
                c.service
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(","),
            )),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

#[test]
fn ftp_greeting_waits_for_the_client_and_names_its_data_connection() {
    let mut t = table();
    // FTP on an odd port, a greeting that does not say FTP: the 220 alone
    // is SMTP's too, the client's USER decides.
    let mut c = Conv::open(&mut t, (ip(1), 40010), (ip(2), 2121), 0);
    c.server(&mut t, b"220 host ready\r\n");
    c.client(&mut t, b"USER bob\r\n");
    c.server(&mut t, b"331 password please\r\n");
    c.client(&mut t, b"PASS secret\r\n");
    c.server(&mut t, b"230 ok\r\n");
    c.client(&mut t, b"PASV\r\n");
    c.server(&mut t, b"227 Entering Passive Mode (10,0,0,2,195,80).\r\n");
    c.client(&mut t, b"STOR loot.zip\r\n");
    c.server(&mut t, b"150 go\r\n");
    let mut d = Conv::open(&mut t, (ip(1), 40011), (ip(2), 50000), 10_000);
    d.client(&mut t, b"PK\x03\x04zipped bytes");
    c.server(&mut t, b"226 Transfer complete\r\n");
    c.client(&mut t, b"QUIT\r\n");
    let ev = finish(t);
    assert_eq!(
        services(&ev),
        vec![(2121, "ftp".to_string()), (50000, "ftp-data".to_string())]
    );
    let stor = ev
        .iter()
        .find_map(|e| match e {
            Event::Ftp(f) if f.command == "STOR" => Some(f.clone()),
            _ => None,
        })
        .expect("a STOR row");
    assert_eq!(stor.transfer(), Some(botscope_event::FtpTransfer::Upload));
    assert_eq!(stor.file_name.as_deref(), Some("loot.zip"));
    assert_eq!(stor.arg.as_deref(), Some("ftp://10.0.0.2/./loot.zip"));
    assert_eq!(stor.mime_type.as_deref(), Some("application/zip"));
    assert_eq!(stor.data_bytes, Some(16));
    assert!(stor.data_uid.is_some());
    assert_eq!(stor.password.as_deref(), Some("<hidden>"));
}

#[test]
fn a_smtp_greeting_off_port_still_needs_ehlo_and_the_probe_cap_is_counted() {
    let mut t = table();
    let mut c = Conv::open(&mut t, (ip(1), 40020), (ip(2), 2525), 0);
    c.server(&mut t, b"220 relay ready\r\n");
    c.client(&mut t, b"EHLO bot\r\n");
    // Text that never decides: the probe window fills up.
    let mut u = Conv::open(&mut t, (ip(1), 40021), (ip(2), 7000), 0);
    u.server(&mut t, b"220 hello\r\n");
    for _ in 0..40 {
        u.server(&mut t, &[b'x'; 120]);
    }
    let (h, _) = t.finish();
    assert_eq!(h.weird_counts().get("probe_bytes_exhausted"), Some(&1));
    let ev = h.into_sink();
    assert_eq!(
        services(&ev),
        vec![(2525, "smtp".to_string()), (7000, String::new())]
    );
}

/// Downloads longer than the inline-hash limit are hashed on the helper
/// thread: every row still carries the digest of its body (the same as
/// hashing inline), rows leave in the order they were made, and no
/// placeholder escapes.
#[test]
fn large_downloads_hashed_off_thread_keep_digests_and_row_order() {
    use sha2::{Digest, Sha256};
    let mut t = FlowTable::new(
        FlowConfig::default(),
        AppHandler::new(
            Vec::new(),
            ProtoConfig {
                offload_hashes: true,
                ..ProtoConfig::default()
            },
        ),
        1,
    );
    let mut v = Conv::open(&mut t, (ip(1), 40000), (ip(2), 80), 0);
    let body = |n: usize, salt: u8| -> Vec<u8> {
        let mut b = b"MZ\x90\x00".to_vec();
        b.extend((0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)));
        b
    };
    // Large, small, large: the small one's rows wait behind the first's.
    let bodies = [body(300_000, 1), body(2_000, 2), body(200_000, 3)];
    let before = botscope_proto::offload::offloaded();
    for (i, b) in bodies.iter().enumerate() {
        v.client(
            &mut t,
            format!("GET /f{i}.exe HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
        );
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            b.len()
        );
        v.server(&mut t, head.as_bytes());
        for seg in b.chunks(1448) {
            v.server(&mut t, seg);
        }
    }
    v.pkt(&mut t, true, TcpFlags::FIN | TcpFlags::ACK, b"");
    v.pkt(&mut t, false, TcpFlags::FIN | TcpFlags::ACK, b"");
    let ev = finish(t);
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        // Both large bodies went to the helper thread.
        assert!(botscope_proto::offload::offloaded() >= before + 2);
    }
    let want: Vec<String> = bodies
        .iter()
        .map(|b| hex::encode(Sha256::digest(b)))
        .collect();
    let (mut files, mut http) = (Vec::new(), Vec::new());
    for e in &ev {
        match e {
            Event::File(f) => files.push(f),
            Event::Http(h) => http.push(h),
            _ => {}
        }
    }
    assert_eq!(
        files.iter().map(|f| f.sha256.clone()).collect::<Vec<_>>(),
        want.iter().cloned().map(Some).collect::<Vec<_>>()
    );
    assert!(files.iter().all(|f| f.analyzers == vec!["SHA256"]));
    assert_eq!(
        http.iter()
            .map(|h| h.resp_body_sha256.clone())
            .collect::<Vec<_>>(),
        want.iter().cloned().map(Some).collect::<Vec<_>>()
    );
    // Order as made: each body's files row, then its http row, then the
    // connection's row.
    let kinds: Vec<&str> = ev.iter().map(|e| e.log_name()).collect();
    assert_eq!(
        kinds,
        ["files", "http", "files", "http", "files", "http", "conn"]
    );
    assert_eq!(
        http.iter().map(|h| h.trans_depth).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}
