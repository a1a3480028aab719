//! IRC analyzer against Zeek's irc.log baseline, real captures,
//! STARTTLS, DCC expectations, malformed and random input.

#[path = "dns_support.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr};

use botscope_event::{Event, Irc, Ts};
use botscope_proto::irc::{self, IrcAnalyzer};
use botscope_proto::{Dir, Probe, ProtoConfig, Status};
use support::*;

fn irc_rows(run: &Run) -> Vec<Irc> {
    run.events
        .iter()
        .filter_map(|e| match e {
            Event::Irc(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn run_vec(name: &str) -> Run {
    let segs = vectors(name);
    let cfg = ProtoConfig::default();
    let whole = run(&mut IrcAnalyzer::new(&cfg), &segs, None, &cfg);
    let bytewise = run(&mut IrcAnalyzer::new(&cfg), &segs, Some(1), &cfg);
    assert_eq!(whole, bytewise, "{name}: bytewise differs");
    whole
}

/// (nick, user, command, value, addl) of one irc.log row.
type RowKey = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn row(
    nick: Option<&str>,
    user: Option<&str>,
    command: &str,
    value: &str,
    addl: Option<&str>,
) -> RowKey {
    (
        nick.map(str::to_string),
        user.map(str::to_string),
        Some(command.to_string()),
        Some(value.to_string()),
        addl.map(str::to_string),
    )
}

fn key(r: &Irc) -> RowKey {
    (
        r.nick.clone(),
        r.user.clone(),
        r.command.clone(),
        r.value.clone(),
        r.addl.clone(),
    )
}

#[test]
fn dcc_send_matches_zeek() {
    let run = run_vec("irc/dcc-send.txt");
    let rows = irc_rows(&run);
    let got: Vec<_> = rows.iter().map(key).collect();
    assert_eq!(
        got,
        vec![
            row(None, None, "NICK", "tim2", None),
            row(
                Some("tim2"),
                None,
                "USER",
                "tim",
                Some("tim 10.0.0.22 TimWojtulewicz ")
            ),
            row(Some("tim2"), Some("tim"), "JOIN", "#testing", Some("")),
            row(Some("tim2"), Some("tim"), "DCC", "#testing", Some("")),
        ]
    );
    assert_eq!(rows[3].dcc_file_name.as_deref(), Some("ssh.trace"));
    assert_eq!(rows[3].dcc_file_size, Some(1_320_211));
    assert_eq!(rows[3].dcc_mime_type, None);
    assert_eq!(run.expectations.len(), 1);
    let e = &run.expectations[0];
    assert_eq!(e.resp_h, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)));
    assert_eq!(e.resp_p, 59130);
    assert_eq!(e.service, botscope_event::Service::IRC_DCC_DATA);
    assert_eq!(e.orig_h, None);
    assert!(rows.iter().all(|r| r.meta.is_some()));

    let Some(p) =
        shared("zeek-baselines/zeek-irc-dcc-send/scripts.base.protocols.irc.basic/irc.log")
    else {
        return;
    };
    let z = zeek_rows(&std::fs::read_to_string(p).unwrap());
    assert_eq!(z.len(), rows.len());
    let opt = |v: &str| match v {
        "-" => None,
        "(empty)" => Some(String::new()),
        v => Some(v.to_string()),
    };
    for (ours, z) in rows.iter().zip(&z) {
        assert_eq!(ours.nick, opt(field(z, "nick")));
        assert_eq!(ours.user, opt(field(z, "user")));
        assert_eq!(ours.command, opt(field(z, "command")));
        assert_eq!(ours.value, opt(field(z, "value")));
        assert_eq!(ours.addl, opt(field(z, "addl")));
        assert_eq!(ours.dcc_file_name, opt(field(z, "dcc_file_name")));
        assert_eq!(
            ours.dcc_file_size.map(|s| s.to_string()),
            opt(field(z, "dcc_file_size"))
        );
    }
}

#[test]
fn basic_and_more_commands() {
    let rows: Vec<_> = irc_rows(&run_vec("irc/basic.txt"))
        .iter()
        .map(key)
        .collect();
    assert_eq!(
        rows,
        vec![
            row(None, None, "USER", "brotest", Some("* * brotest")),
            row(
                None,
                Some("brotest"),
                "NICK",
                "brotest",
                Some("* * brotest")
            ),
            row(
                Some("brotest"),
                Some("brotest"),
                "JOIN",
                "#brotest",
                Some("")
            ),
        ]
    );
    let rows = irc_rows(&run_vec("irc/more-commands-1.txt"));
    let cmds: Vec<_> = rows
        .iter()
        .map(|r| (r.command.clone().unwrap(), r.value.clone().unwrap()))
        .collect();
    assert_eq!(
        cmds,
        [
            ("NICK", "tim"),
            ("USER", "tim"),
            ("NICK", "tim_"),
            ("JOIN", "#testing"),
            ("NICK", "!!!!"),
            ("JOIN", "#testing")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(irc_rows(&run_vec("irc/more-commands-0.txt")).len(), 3);
}

#[test]
fn bot_channel_key_is_logged() {
    let run = run_vec("irc/tranalyzer.txt");
    let rows = irc_rows(&run);
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[1].addl.as_deref(), Some("0 0 damn-0262937047"));
    assert_eq!(rows[2].value.as_deref(), Some("#sl0w3r"));
    assert_eq!(rows[2].addl.as_deref(), Some(" with channel key: 'l03dx'"));
}

/// Review finding: 48 KB of input (a 16 KB NICK, a 16 KB USER and
/// `JOIN a,a,a,...` of 16 KB) gave 7,992 rows that each copied the whole
/// session (192 MB). Rows per JOIN and the session's text fields are
/// capped; the DCC row, a copy of the session too, obeys the same caps.
#[test]
fn irc_join_fan_out_and_session_fields_capped() {
    let cfg = ProtoConfig::default();
    let mut nick = b"NICK ".to_vec();
    nick.extend(std::iter::repeat_n(b'n', 16_000));
    nick.extend_from_slice(b"\r\n");
    let mut user = b"USER ".to_vec();
    user.extend(std::iter::repeat_n(b'u', 8_000));
    user.extend_from_slice(b" h s :");
    user.extend(std::iter::repeat_n(b'r', 8_000));
    user.extend_from_slice(b"\r\n");
    let mut join = b"JOIN a".to_vec();
    while join.len() < 16_000 {
        join.extend_from_slice(b",a");
    }
    join.extend_from_slice(b"\r\n");
    let mut dcc = b"PRIVMSG x :\x01DCC SEND ".to_vec();
    dcc.extend(std::iter::repeat_n(b'f', 10_000));
    dcc.extend_from_slice(b" 16909060 5000 10\x01\r\n");
    let segs = vec![
        (Ts(1), Dir::Orig, nick),
        (Ts(2), Dir::Orig, user),
        (Ts(3), Dir::Orig, join),
        (Ts(4), Dir::Orig, dcc),
    ];
    for chunk in [None, Some(997)] {
        let r = run(&mut IrcAnalyzer::new(&cfg), &segs, chunk, &cfg);
        let rows = irc_rows(&r);
        let cmds: Vec<_> = rows.iter().map(|r| r.command.clone().unwrap()).collect();
        let mut want = vec!["NICK", "USER"];
        want.extend(["JOIN"; 16]);
        want.push("DCC");
        assert_eq!(cmds, want, "{chunk:?}");
        for row in &rows {
            for f in [
                &row.nick,
                &row.user,
                &row.value,
                &row.addl,
                &row.dcc_file_name,
            ] {
                assert!(f.as_ref().is_none_or(|f| f.len() <= 512), "{chunk:?}");
            }
        }
        assert_eq!(rows[1].nick.as_deref().map(str::len), Some(512));
        assert_eq!(rows[18].dcc_file_name.as_deref().map(str::len), Some(512));
        assert_eq!(r.expectations.len(), 1);
        assert_eq!(
            r.weirds(),
            vec!["irc_field_too_long", "irc_too_many_channels"],
            "{chunk:?}"
        );
    }
    // Smaller caps from the config are honoured.
    let small = ProtoConfig {
        irc_max_join_channels: 2,
        irc_max_field_bytes: 4,
        ..ProtoConfig::default()
    };
    let r = run(
        &mut IrcAnalyzer::new(&small),
        &[(
            Ts(1),
            Dir::Orig,
            b"NICK abcdef\r\nJOIN #a,#b,#c k1\r\n".to_vec(),
        )],
        None,
        &small,
    );
    let keys: Vec<_> = irc_rows(&r).iter().map(key).collect();
    assert_eq!(
        keys,
        vec![
            row(None, None, "NICK", "abcd", None),
            row(Some("abcd"), None, "JOIN", "#a", Some(" wit")),
            row(Some("abcd"), None, "JOIN", "#b", Some("")),
        ]
    );
}

#[test]
fn starttls() {
    let segs = vectors("irc/starttls.txt");
    let cfg = ProtoConfig::default();
    for chunk in [None, Some(1)] {
        let mut an = IrcAnalyzer::new(&cfg);
        let r = run(&mut an, &segs, chunk, &cfg);
        assert_eq!(r.statuses, vec![Status::StartTls]);
        assert!(irc_rows(&r).is_empty());
    }
    // 670 without a request does nothing.
    let r = run(
        &mut IrcAnalyzer::new(&cfg),
        &[(Ts(1), Dir::Resp, b":s 670 x :go\r\n".to_vec())],
        None,
        &cfg,
    );
    assert!(r.statuses.is_empty());
}

#[test]
fn dcc_edge_cases() {
    let cfg = ProtoConfig::default();
    let segs = vec![
        (
            Ts(1),
            Dir::Orig,
            b"NICK a\r\nPRIVMSG b :\x01DCC SEND f 99999999999 1 2\x01\r\n".to_vec(),
        ),
        (
            Ts(2),
            Dir::Resp,
            b":x!y@z PRIVMSG a :\x01DCC SEND \"f g\" 16909060 70000 5\x01\r\n".to_vec(),
        ),
        (
            Ts(3),
            Dir::Resp,
            b":x!y@z PRIVMSG a :\x01DCC SEND f.exe 16909060 4444\x01\r\n".to_vec(),
        ),
        (
            Ts(4),
            Dir::Orig,
            b"PRIVMSG b :\x01DCC SEND\x01\r\nPRIVMSG b :hello\r\nnotice b :x\r\n".to_vec(),
        ),
    ];
    let mut an = IrcAnalyzer::new(&cfg);
    let r = run(&mut an, &segs, None, &cfg);
    assert_eq!(
        r.weirds(),
        vec!["irc_invalid_dcc_send", "irc_invalid_dcc_send"]
    );
    let rows = irc_rows(&r);
    assert_eq!(rows.len(), 2, "NICK + one valid DCC SEND");
    assert_eq!(rows[1].dcc_file_name.as_deref(), Some("f.exe"));
    assert_eq!(rows[1].dcc_file_size, None);
    assert_eq!(r.expectations.len(), 1);
    assert_eq!(
        r.expectations[0].resp_h,
        IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4))
    );
    assert_eq!(an.privmsg_count(), 6);
}

#[test]
fn endless_line_and_binary() {
    let cfg = ProtoConfig {
        max_line_bytes: 64,
        ..ProtoConfig::default()
    };
    let mut long = vec![b'A'; 1000];
    long.extend_from_slice(b"\r\nNICK ok\r\n");
    let segs = vec![
        (Ts(1), Dir::Orig, long.clone()),
        (
            Ts(2),
            Dir::Orig,
            vec![0, 0xff, b'\n', 0x80, b' ', b':', b'\n'],
        ),
        (
            Ts(3),
            Dir::Orig,
            b"JOIN\r\nUSER\r\nNICK\r\n:\r\n@\r\n@a \r\nJOIN ,,,\r\n".to_vec(),
        ),
    ];
    for chunk in [None, Some(1), Some(13)] {
        let r = run(&mut IrcAnalyzer::new(&cfg), &segs, chunk, &cfg);
        assert_eq!(r.weirds(), vec!["irc_line_too_long"], "{chunk:?}");
        let cmds: Vec<_> = irc_rows(&r)
            .iter()
            .map(|r| r.command.clone().unwrap())
            .collect();
        assert_eq!(cmds, vec!["NICK", "USER", "NICK"], "{chunk:?}");
    }
}

#[test]
fn probes() {
    assert_eq!(irc::probe(Dir::Orig, b"NICK bot123\r\n"), Probe::Certain);
    assert_eq!(irc::probe(Dir::Orig, b"nick bot"), Probe::Certain);
    assert_eq!(irc::probe(Dir::Orig, b"CAP LS 302\r\n"), Probe::Certain);
    assert_eq!(irc::probe(Dir::Orig, b"PASS x\r\n"), Probe::Certain);
    assert_eq!(irc::probe(Dir::Orig, b"NI"), Probe::Unsure);
    assert_eq!(irc::probe(Dir::Orig, b"CA"), Probe::Unsure);
    assert_eq!(
        irc::probe(Dir::Resp, b":irc.example.net NOTICE * :*** hi\r\n"),
        Probe::Certain
    );
    assert_eq!(
        irc::probe(Dir::Resp, b":irc.example.net 001 bot :Welcome\r\n"),
        Probe::Certain
    );
    assert_eq!(
        irc::probe(Dir::Resp, b"@time=x :irc 372 bot :motd\r\n"),
        Probe::Certain
    );
    assert_eq!(irc::probe(Dir::Resp, b":irc.exam"), Probe::Unsure);
    assert_eq!(irc::probe(Dir::Resp, b":irc.example.net 00"), Probe::Unsure);
    assert_eq!(
        irc::probe(Dir::Orig, b"GET / HTTP/1.1\r\n"),
        Probe::NotForUs
    );
    assert_eq!(
        irc::probe(Dir::Resp, b"220 smtp ready\r\n"),
        Probe::NotForUs
    );
    assert_eq!(irc::probe(Dir::Orig, b"\x16\x03\x01"), Probe::NotForUs);
    assert_eq!(irc::probe(Dir::Orig, b"NI\r\n"), Probe::NotForUs);
    for v in ["irc/basic.txt", "irc/dcc-send.txt", "irc/tranalyzer.txt"] {
        let segs = vectors(v);
        let first = |d: Dir| segs.iter().find(|s| s.1 == d).map(|s| s.2.clone()).unwrap();
        let o = irc::probe(Dir::Orig, &first(Dir::Orig));
        let r = irc::probe(Dir::Resp, &first(Dir::Resp));
        assert!(
            o == Probe::Certain || r == Probe::Certain,
            "{v}: {o:?} {r:?}"
        );
    }
}

#[test]
fn random_bytes_never_panic() {
    let cfg = ProtoConfig {
        max_line_bytes: 200,
        ..ProtoConfig::default()
    };
    let mut rng = XorShift(42);
    let base = vectors("irc/dcc-send.txt");
    let alphabet = b"NICK USER JOIN PRIVMSG :\x01DCC SEND 1 2 3 ,#\r\n@! ";
    for i in 0..2000 {
        let segs: Vec<Seg> = if i % 2 == 0 {
            (0..4)
                .map(|k| {
                    let n = (rng.next_u64() % 300) as usize;
                    let b: Vec<u8> = rng
                        .bytes(n)
                        .into_iter()
                        .map(|x| alphabet[usize::from(x) % alphabet.len()])
                        .collect();
                    (Ts(k), if k % 2 == 0 { Dir::Orig } else { Dir::Resp }, b)
                })
                .collect()
        } else {
            let mut s: Vec<Seg> = base.iter().take(30).cloned().collect();
            for _ in 0..8 {
                let k = (rng.next_u64() as usize) % s.len();
                if let Some(b) = s[k].2.get_mut((rng.next_u64() as usize) % 64) {
                    *b = rng.next_u64() as u8;
                }
            }
            s
        };
        for s in &segs {
            let _ = irc::probe(s.1, &s.2);
        }
        let _ = run(&mut IrcAnalyzer::new(&cfg), &segs, Some(1 + i % 17), &cfg);
    }
}
