//! Shared by the `net_*` tests: a hand-built sandbox day (SMTP spam run,
//! HTTP C&C, a PE download, click fraud, DNS), temp files, tshark and the
//! botscope engine.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use botscope_event::Event;
use botscope_sim::plan::{
    Activity, Class, Close, SandboxDay, Side, TcpConversation, Turn, UdpExchange,
};
use simple_dns::rdata::{RData, A, MX};
use simple_dns::{Name, Packet, PacketFlag, Question, ResourceRecord, CLASS, QCLASS, QTYPE, TYPE};

/// 2010-12-01 10:00:00 UTC.
pub const T0: i64 = 1_291_197_600_000_000;
pub const HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
pub const RESOLVER: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);
pub const MX_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 25);
pub const CNC_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const DL_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 50);
pub const ADS_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);

pub const HELO: &str = "hp-7a3f21c9";
pub const MAIL_FROM: &str = "ursula.keane@example.net";
pub const RCPTS: [&str; 3] = [
    "alice@example.com",
    "bob.smith@example.com",
    "carol@example.com",
];
pub const PE_LEN: usize = 200 * 1024;
pub const C2_URI: &str = "/gate.php";
pub const DL_URI: &str = "/files/upd1201.exe";
pub const CLICK_URI: &str = "/aclk?sa=L&ai=C9f3&adurl=http://shop.example/";
pub const REFERER: &str = "http://news.example.com/story/2010/12/01.html";

const MS: u64 = 1000;

fn turn(side: Side, delay_us: u64, bytes: &[u8]) -> Turn {
    Turn {
        side,
        delay_us,
        bytes: bytes.to_vec(),
    }
}

fn c(delay_us: u64, bytes: &[u8]) -> Turn {
    turn(Side::Client, delay_us, bytes)
}

fn s(delay_us: u64, bytes: &[u8]) -> Turn {
    turn(Side::Server, delay_us, bytes)
}

/// The spam message as the bot means it (lines end in CRLF; one line
/// starts with a dot, so the wire form is dot-stuffed). About 5 KB.
pub fn message() -> Vec<u8> {
    let mut m = String::new();
    m.push_str("Received: from hp-7a3f21c9 ([10.0.2.15]) by mx1.example.com\r\n");
    m.push_str("From: \"Ursula Keane\" <ursula.keane@example.net>\r\n");
    m.push_str("To: <alice@example.com>\r\n");
    m.push_str("Subject: Your pharmacy order #44812 is ready\r\n");
    m.push_str("Date: Wed, 1 Dec 2010 11:00:04 +0100\r\n");
    m.push_str("Message-ID: <20101201100004.4481@example.net>\r\n");
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str("Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    let mut i = 0;
    while m.len() < 5 * 1024 {
        m.push_str(&format!(
            "Line {i:03}: best prices on generic meds, discreet shipping, no prescription.\r\n"
        ));
        if i == 7 {
            m.push_str(".this line starts with a dot and is stuffed on the wire\r\n");
        }
        i += 1;
    }
    m.into_bytes()
}

/// SMTP DATA wire form: dot-stuffed, ends with CRLF.CRLF.
pub fn dot_stuff(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 16);
    let mut line_start = true;
    for &b in msg {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    out.extend_from_slice(b".\r\n");
    out
}

pub fn smtp(ts_us: i64) -> TcpConversation {
    let mut turns = vec![
        s(2 * MS, b"220 mx1.example.com ESMTP Postfix\r\n"),
        c(MS, format!("EHLO {HELO}\r\n").as_bytes()),
        s(
            MS,
            b"250-mx1.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n",
        ),
        c(MS, format!("MAIL FROM:<{MAIL_FROM}>\r\n").as_bytes()),
        s(MS, b"250 2.1.0 Ok\r\n"),
    ];
    for r in RCPTS {
        turns.push(c(MS, format!("RCPT TO:<{r}>\r\n").as_bytes()));
        turns.push(s(MS, b"250 2.1.5 Ok\r\n"));
    }
    turns.push(c(MS, b"DATA\r\n"));
    turns.push(s(MS, b"354 End data with <CR><LF>.<CR><LF>\r\n"));
    turns.push(c(5 * MS, &dot_stuff(&message())));
    turns.push(s(30 * MS, b"250 2.0.0 Ok: queued as 3F1A2B0C4D\r\n"));
    turns.push(c(MS, b"QUIT\r\n"));
    turns.push(s(MS, b"221 2.0.0 Bye\r\n"));
    TcpConversation {
        client: None,
        ts_us,
        server: MX_IP,
        port: 25,
        class: Class::Spam,
        turns,
        close: Close::ClientFin,
    }
}

/// The opaque body of the C&C POST.
pub fn c2_body() -> Vec<u8> {
    (0..517u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

pub fn c2_post(ts_us: i64) -> TcpConversation {
    let body = c2_body();
    let mut req = format!(
        "POST {C2_URI} HTTP/1.1\r\nHost: cnc.badhost.ru\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let reply_body = [0x17u8, 0x03, 0x9a, 0x00, 0x41, 0x42, 0xfe, 0x01];
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nServer: nginx/0.7.67\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply_body.len()
    )
    .into_bytes();
    resp.extend_from_slice(&reply_body);
    TcpConversation {
        client: None,
        ts_us,
        server: CNC_IP,
        port: 80,
        class: Class::C2,
        turns: vec![c(MS, &req), s(20 * MS, &resp)],
        close: Close::ServerFin,
    }
}

/// A fake PE: `MZ`, a DOS stub, then a repeating pattern.
pub fn pe() -> Vec<u8> {
    let mut v = vec![0u8; PE_LEN];
    v[0] = b'M';
    v[1] = b'Z';
    v[2] = 0x90;
    v[0x3c] = 0x80;
    v[0x80..0x84].copy_from_slice(b"PE\0\0");
    for (i, b) in v.iter_mut().enumerate().skip(0x400) {
        *b = (i % 251) as u8;
    }
    v
}

pub fn download(ts_us: i64) -> TcpConversation {
    let req = format!(
        "GET {DL_URI} HTTP/1.1\r\nHost: dl.example.org\r\nUser-Agent: Microsoft-CryptoAPI/5.131.2600.5512\r\nAccept: */*\r\n\r\n"
    );
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nServer: Apache/2.2.14\r\nContent-Type: application/octet-stream\r\nContent-Length: {PE_LEN}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    resp.extend_from_slice(&pe());
    TcpConversation {
        client: None,
        ts_us,
        server: DL_IP,
        port: 80,
        class: Class::Download,
        turns: vec![c(MS, req.as_bytes()), s(15 * MS, &resp)],
        close: Close::ServerFin,
    }
}

pub fn click(ts_us: i64, close: Close) -> TcpConversation {
    let req = format!(
        "GET {CLICK_URI} HTTP/1.1\r\nHost: ads.example.org\r\nReferer: {REFERER}\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1)\r\n\r\n"
    );
    let resp = b"HTTP/1.1 302 Found\r\nLocation: http://shop.example/\r\nContent-Length: 0\r\n\r\n";
    TcpConversation {
        client: None,
        ts_us,
        server: ADS_IP,
        port: 80,
        class: Class::ClickFraud,
        turns: vec![c(MS, req.as_bytes()), s(8 * MS, resp)],
        close,
    }
}

fn dns_query(id: u16, name: &str, qtype: TYPE) -> Vec<u8> {
    let mut p = Packet::new_query(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    p.questions.push(Question::new(
        Name::new_unchecked(name),
        QTYPE::TYPE(qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    p.build_bytes_vec().expect("query builds")
}

fn dns_reply(id: u16, name: &str, qtype: TYPE, rdata: RData<'_>) -> Vec<u8> {
    let mut p = Packet::new_reply(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED | PacketFlag::RECURSION_AVAILABLE);
    p.questions.push(Question::new(
        Name::new_unchecked(name),
        QTYPE::TYPE(qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    p.answers.push(ResourceRecord::new(
        Name::new_unchecked(name),
        CLASS::IN,
        300,
        rdata,
    ));
    p.build_bytes_vec_compressed().expect("reply builds")
}

pub fn dns_a(ts_us: i64, id: u16, name: &str, addr: Ipv4Addr) -> UdpExchange {
    UdpExchange {
        ts_us,
        server: RESOLVER,
        port: 53,
        class: Class::Dns,
        request: dns_query(id, name, TYPE::A),
        reply: Some((
            300,
            dns_reply(
                id,
                name,
                TYPE::A,
                RData::A(A {
                    address: u32::from(addr),
                }),
            ),
        )),
    }
}

pub fn dns_mx(ts_us: i64, id: u16, name: &str, exchange: &str) -> UdpExchange {
    UdpExchange {
        ts_us,
        server: RESOLVER,
        port: 53,
        class: Class::Dns,
        request: dns_query(id, name, TYPE::MX),
        reply: Some((
            500,
            dns_reply(
                id,
                name,
                TYPE::MX,
                RData::MX(MX {
                    preference: 10,
                    exchange: Name::new_unchecked(exchange),
                }),
            ),
        )),
    }
}

pub const DNS_NAMES: [&str; 4] = [
    "example.com",
    "mx1.example.com",
    "cnc.badhost.ru",
    "dl.example.org",
];

/// The reference day: DNS lookups, then overlapping SMTP, C&C, download
/// and click-fraud conversations (the click closes with a client RST).
pub fn day(seed: u64) -> SandboxDay {
    let s = 1_000_000;
    let activities = vec![
        Activity::Udp(dns_mx(T0, 0x1a2b, DNS_NAMES[0], DNS_NAMES[1])),
        Activity::Udp(dns_a(T0 + 400_000, 0x1a2c, DNS_NAMES[1], MX_IP)),
        Activity::Udp(dns_a(T0 + 900_000, 0x1a2d, DNS_NAMES[2], CNC_IP)),
        Activity::Tcp(c2_post(T0 + s + 200_000)),
        Activity::Tcp(smtp(T0 + s)),
        Activity::Udp(dns_a(T0 + s + 300_000, 0x1a2e, DNS_NAMES[3], DL_IP)),
        Activity::Tcp(download(T0 + s + 600_000)),
        Activity::Tcp(click(T0 + s + 700_000, Close::ClientRst)),
        Activity::Tcp(click(T0 + 3 * s, Close::ClientFin)),
    ];
    SandboxDay {
        name: "pcap/testfam/2010-12-01.pcap".to_string(),
        host: HOST,
        seed,
        activities,
    }
}

/// Sum of the bytes each side sends in a conversation.
pub fn bytes_by_side(c: &TcpConversation) -> (u64, u64) {
    let mut o = 0;
    let mut r = 0;
    for t in &c.turns {
        match t.side {
            Side::Client => o += t.bytes.len() as u64,
            Side::Server => r += t.bytes.len() as u64,
        }
    }
    (o, r)
}

/// A temp file removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(tag: &str, bytes: &[u8]) -> TempFile {
        let p = std::env::temp_dir().join(format!(
            "botscope-net-{tag}-{}-{:?}.pcap",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&p, bytes).expect("write temp pcap");
        TempFile(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Is tshark there? Without it the tshark tests fail under `CI=true`
/// and are skipped (with a message) otherwise.
pub fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tshark is not installed (CI=true)"
        );
        eprintln!("skipping: tshark is not installed");
    }
    ok
}

/// Run tshark (or capinfos) and return stdout; stderr must not report
/// a problem with the file.
pub fn run(tool: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tshark -r F [-Y filter] -T fields -e ...`, one Vec per packet.
pub fn fields(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = Vec::new();
    if !filter.is_empty() {
        args.extend(["-Y", filter]);
    }
    args.extend(["-T", "fields", "-E", "separator=\t"]);
    for f in fields {
        args.extend(["-e", f]);
    }
    args.push("-r");
    run("tshark", &args, file)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Number of records in a classic pcap (walks the record headers).
pub fn pcap_records(bytes: &[u8]) -> usize {
    let mut off = 24;
    let mut n = 0;
    while off + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16 + incl;
        n += 1;
    }
    assert_eq!(
        off,
        bytes.len(),
        "records end exactly at the end of the file"
    );
    n
}

/// Decode with botscope's own engine; every event of every sink.
pub fn decode(file: &Path) -> Vec<Event> {
    let (sinks, summary) =
        botscope_engine::analyze_file(file, &botscope_engine::EngineConfig::default(), |_| {
            Vec::<Event>::new()
        });
    assert!(summary.error.is_none(), "engine: {:?}", summary.error);
    assert_eq!(summary.skipped_total(), 0, "skipped: {:?}", summary.skipped);
    sinks.into_iter().flatten().collect()
}

/// One packet of a rendered capture, decoded by hand (independently of
/// the renderer's code).
#[derive(Clone, Debug)]
pub struct Pkt {
    pub ts: i64,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ip_id: u16,
    pub df: bool,
    /// MF flag and fragment offset.
    pub frag: u16,
    pub ttl: u8,
    pub proto: u8,
    pub ip_ok: bool,
    /// Transport checksum verified (`true` for non-first fragments).
    pub l4_ok: bool,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub tcp_options: Vec<u8>,
    pub payload_len: usize,
}

fn csum(parts: &[&[u8]]) -> u16 {
    let mut s: u32 = 0;
    let mut odd: Option<u8> = None;
    for p in parts {
        for &b in p.iter() {
            match odd.take() {
                None => odd = Some(b),
                Some(h) => {
                    s += u32::from(h) << 8 | u32::from(b);
                    s = (s & 0xffff) + (s >> 16);
                }
            }
        }
    }
    if let Some(h) = odd {
        s += u32::from(h) << 8;
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

pub fn parse(bytes: &[u8]) -> Vec<Pkt> {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "magic a1b2c3d4 LE");
    assert_eq!(
        u32::from_le_bytes(bytes[16..20].try_into().unwrap()),
        262_144
    );
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 1);
    let mut off = 24;
    let mut v = Vec::new();
    while off < bytes.len() {
        let r = &bytes[off..];
        let sec = u32::from_le_bytes(r[0..4].try_into().unwrap());
        let usec = u32::from_le_bytes(r[4..8].try_into().unwrap());
        let incl = u32::from_le_bytes(r[8..12].try_into().unwrap()) as usize;
        let orig = u32::from_le_bytes(r[12..16].try_into().unwrap()) as usize;
        assert_eq!(incl, orig);
        assert!(usec < 1_000_000);
        let f = &r[16..16 + incl];
        off += 16 + incl;
        assert_eq!(&f[12..14], &[8, 0], "IPv4 ethertype");
        let ip = &f[14..];
        assert_eq!(ip[0], 0x45);
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        assert_eq!(total, ip.len(), "IP total length = frame");
        let fl = u16::from_be_bytes([ip[6], ip[7]]);
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let l4 = &ip[20..];
        let pseudo = |proto: u8| {
            let mut p = [0u8; 12];
            p[0..4].copy_from_slice(&ip[12..16]);
            p[4..8].copy_from_slice(&ip[16..20]);
            p[9] = proto;
            p[10..12].copy_from_slice(&(l4.len() as u16).to_be_bytes());
            p
        };
        let mut p = Pkt {
            ts: i64::from(sec) * 1_000_000 + i64::from(usec),
            dst_mac: f[0..6].try_into().unwrap(),
            src_mac: f[6..12].try_into().unwrap(),
            src,
            dst,
            ip_id: u16::from_be_bytes([ip[4], ip[5]]),
            df: fl & 0x4000 != 0,
            frag: fl & 0x3fff,
            ttl: ip[8],
            proto: ip[9],
            ip_ok: csum(&[&ip[..20]]) == 0,
            l4_ok: true,
            sport: 0,
            dport: 0,
            seq: 0,
            ack: 0,
            flags: 0,
            window: 0,
            tcp_options: Vec::new(),
            payload_len: 0,
        };
        if p.frag & 0x1fff == 0 {
            p.sport = u16::from_be_bytes([l4[0], l4[1]]);
            p.dport = u16::from_be_bytes([l4[2], l4[3]]);
        }
        match p.proto {
            6 => {
                p.seq = u32::from_be_bytes(l4[4..8].try_into().unwrap());
                p.ack = u32::from_be_bytes(l4[8..12].try_into().unwrap());
                let hl = usize::from(l4[12] >> 4) * 4;
                p.flags = l4[13];
                p.window = u16::from_be_bytes([l4[14], l4[15]]);
                p.tcp_options = l4[20..hl].to_vec();
                p.payload_len = l4.len() - hl;
                p.l4_ok = csum(&[&pseudo(6), l4]) == 0;
            }
            17 if p.frag == 0 => {
                p.payload_len = l4.len() - 8;
                p.l4_ok = csum(&[&pseudo(17), l4]) == 0;
            }
            17 => {}
            other => panic!("unexpected IP protocol {other}"),
        }
        v.push(p);
    }
    v
}
