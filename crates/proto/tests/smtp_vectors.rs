//! SMTP analyzer on streams extracted from real captures (by
//! `tests/data/http/extract.py`), compared with Zeek's `smtp.log`
//! baselines and with the fields tshark reports (`smtp.req.parameter`,
//! `imf.*`, `smtp.auth.username`; `-d tcp.port==2525,smtp` for the relay).

mod http_support;

use botscope_event::{CarvedMessage, Event, Smtp};
use botscope_proto::smtp::{probe, SmtpAnalyzer};
use botscope_proto::{Dir, Probe, ProtoConfig, Status};
use http_support::{load, run, shared, z, zeek_log, zset, Feed, Rec, Vector};

struct Out {
    rows: Vec<Smtp>,
    msgs: Vec<CarvedMessage>,
    /// files.log rows: the messages' MIME entities.
    files: Vec<botscope_event::File>,
    weirds: Vec<String>,
    stopped: Option<Status>,
}

fn smtp(v: &Vector, feed: Feed) -> Out {
    let cfg = ProtoConfig::default();
    let mut an = SmtpAnalyzer::new(&cfg);
    let out = run(&mut an, &cfg, v, feed);
    let (mut rows, mut msgs, mut weirds) = (Vec::new(), Vec::new(), Vec::new());
    let mut files = Vec::new();
    for e in out.events {
        match e {
            Event::Smtp(s) => rows.push(s),
            Event::Message(m) => msgs.push(m),
            Event::Weird(w) => weirds.push(w.name),
            Event::File(f) => files.push(f),
            other => panic!("unexpected {other:?}"),
        }
    }
    Out {
        rows,
        msgs,
        files,
        weirds,
        stopped: out.stopped,
    }
}

/// Whole records, random pieces and 1..3-byte pieces agree.
fn checked(rel: &str) -> Out {
    let v = load(rel);
    let whole = smtp(&v, Feed::Whole);
    for feed in [Feed::Random(11, 500), Feed::Random(5, 3)] {
        let other = smtp(&v, feed);
        assert_eq!(whole.rows, other.rows, "{rel} {feed:?}");
        assert_eq!(whole.msgs, other.msgs, "{rel} {feed:?}");
        assert_eq!(whole.files, other.files, "{rel} {feed:?}");
        assert_eq!(whole.weirds, other.weirds, "{rel} {feed:?}");
        assert_eq!(whole.stopped, other.stopped, "{rel} {feed:?}");
    }
    whole
}

fn zpath(r: &Smtp) -> String {
    r.path
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn attachment_msg_matches_zeek() {
    let o = checked("smtp/zeek-attachment-msg-0.bsv");
    assert_eq!(o.rows.len(), 1);
    assert_eq!(o.msgs.len(), 1);
    let r = &o.rows[0];
    // Lower-case verbs are kept as sent.
    assert_eq!(r.commands, ["ehlo", "mail", "rcpt", "data"]);
    assert!(o.msgs[0]
        .data
        .starts_with(b"Content-Type: multipart/mixed;"));
    let Some(dir) = shared(
        "zeek-baselines/zeek-smtp-attachment-msg/scripts.base.protocols.smtp.attachment-msg",
    ) else {
        return;
    };
    let zeek = zeek_log(&dir.join("smtp.log"));
    assert_eq!(zeek.len(), 1);
    let zr = &zeek[0];
    assert_eq!(r.trans_depth.to_string(), zr["trans_depth"]);
    assert_eq!(z(&r.helo), zr["helo"]);
    assert_eq!(z(&r.mailfrom), zr["mailfrom"]);
    assert_eq!(zset(&r.rcptto), zr["rcptto"]);
    assert_eq!(z(&r.from), zr["from"]);
    assert_eq!(zset(&r.to), zr["to"]);
    assert_eq!(z(&r.subject), zr["subject"]);
    assert_eq!(z(&r.msg_id), zr["msg_id"]);
    assert_eq!(z(&r.date), zr["date"]);
    assert_eq!(z(&r.last_reply), zr["last_reply"]);
    assert_eq!(zpath(r), zr["path"]);
    assert_eq!(if r.tls { "T" } else { "F" }, zr["tls"]);
}

#[test]
fn starttls_matches_zeek() {
    let o = checked("smtp/zeek-starttls-0.bsv");
    assert_eq!(o.stopped, Some(Status::StartTls));
    assert_eq!(o.rows.len(), 1);
    assert!(o.msgs.is_empty());
    let r = &o.rows[0];
    assert_eq!(r.commands, ["EHLO", "STARTTLS"]);
    let Some(dir) =
        shared("zeek-baselines/zeek-tls-smtp-starttls/scripts.base.protocols.smtp.starttls")
    else {
        return;
    };
    let zeek = zeek_log(&dir.join("smtp.log"));
    assert_eq!(zeek.len(), 1);
    let zr = &zeek[0];
    assert_eq!(r.trans_depth.to_string(), zr["trans_depth"]);
    assert_eq!(z(&r.helo), zr["helo"]);
    assert_eq!(z(&r.mailfrom), zr["mailfrom"]);
    assert_eq!(z(&r.last_reply), zr["last_reply"]);
    assert_eq!(zpath(r), zr["path"]);
    assert_eq!(if r.tls { "T" } else { "F" }, zr["tls"]);
}

#[test]
fn suricata_starttls() {
    let o = checked("smtp/suricata-startssl-0.bsv");
    assert_eq!(o.stopped, Some(Status::StartTls));
    assert_eq!(o.rows[0].helo.as_deref(), Some("desktop.unx.ca"));
    assert_eq!(
        o.rows[0].last_reply.as_deref(),
        Some("220 2.0.0 Ready to start TLS")
    );
    assert!(o.rows[0].tls);
}

#[test]
fn suricata_pipelining_data_before_354() {
    // MAIL, RCPT, DATA and the message body in one segment, before any
    // reply: the body is carved even though the 354 comes later.
    let o = checked("smtp/suricata-pipelining-0.bsv");
    assert_eq!(o.rows.len(), 1);
    let r = &o.rows[0];
    assert!(r.pipelined);
    assert_eq!(r.commands, ["EHLO", "MAIL", "RCPT", "DATA"]);
    assert_eq!(r.mailfrom.as_deref(), Some("username@domain.com"));
    assert_eq!(r.rcptto, ["john.doe@example.com"]);
    assert_eq!(
        r.last_reply.as_deref(),
        Some("250 2.0.0 Ok: queued as BCB022014FB060")
    );
    assert_eq!(o.msgs.len(), 1);
    assert_eq!(o.msgs[0].data, b"This is a test\r\n");
    assert!(!o.msgs[0].truncated);
}

#[test]
fn raw_extraction_auth_login() {
    let o = checked("smtp/suricata-raw-extraction-0.bsv");
    assert_eq!(o.rows.len(), 1);
    let r = &o.rows[0];
    assert_eq!(r.helo.as_deref(), Some("Percival"));
    // tshark: smtp.auth.username "Z2FsdW50" (base64 of "galunt").
    assert_eq!(r.auth_user.as_deref(), Some("galunt"));
    // The base64 credential lines are not commands.
    assert_eq!(r.commands, ["EHLO", "AUTH", "MAIL", "RCPT", "DATA"]);
    assert_eq!(r.mailfrom.as_deref(), Some("xxxxxx@xxxxx.co.uk"));
    assert_eq!(
        r.subject.as_deref(),
        Some("Testing testing 1 2 3 (Multiple attachments)")
    );
    assert_eq!(
        r.from.as_deref(),
        Some("\"Xxxxxx xxxx\" <xxxxxx@xxxxx.co.uk>")
    );
    assert_eq!(r.to, ["<xxxxxx@xxxxx.co.uk>"]);
    assert_eq!(r.reply_to.as_deref(), Some("<xxxxxx@xxxxx.co.uk>"));
    assert_eq!(
        r.user_agent.as_deref(),
        Some("Microsoft Office Outlook, Build 11.0.5510")
    );
    assert_eq!(r.last_reply.as_deref(), Some("250 ok 1184401929 qp 26211"));
    assert_eq!(o.msgs.len(), 1);
    assert!(o.msgs[0]
        .data
        .starts_with(b"Reply-To: <xxxxxx@xxxxx.co.uk>\r\nFrom: "));
    assert!(!o.msgs[0].truncated);
}

#[test]
fn multi_addr_headers() {
    let o = checked("smtp/zeek-multi-addr-0.bsv");
    let r = &o.rows[0];
    assert_eq!(r.mailfrom.as_deref(), Some("root@gras-os-desk.cern.ch"));
    assert_eq!(r.subject.as_deref(), Some("Testmail"));
    assert_eq!(
        r.msg_id.as_deref(),
        Some("<201512082130.tB8LU0vs014629@gras-os-desk.cern.ch>")
    );
    // The folded To header (tshark: imf.to), split on commas outside quotes.
    assert_eq!(
        r.to,
        [
            "\"Jan Grashoefer\" <jan.grashoefer@gmail.com>",
            "\"Test Group\":addr-spec@example.com",
            "<angle-addr@example.com>",
            "\"Test Member\" <name-addr@example.com>;",
            "jan.grashofer@cern.ch",
        ]
    );
    // Two Received headers: Zeek keeps the last one as first_received.
    assert!(r
        .first_received
        .as_deref()
        .is_some_and(|s| s.starts_with("(from root@localhost)")));
    assert!(r
        .second_received
        .as_deref()
        .is_some_and(|s| s.starts_with("from gras-os-desk.cern.ch (localhost [127.0.0.1])")));
    assert_eq!(zpath(r), "188.184.36.24,188.184.129.157,127.0.0.1");
}

#[test]
fn sanders_sessions() {
    for rel in [
        "smtp/sanders-sender-client-1-0.bsv",
        "smtp/sanders-sender-server-2-0.bsv",
    ] {
        let o = checked(rel);
        assert_eq!(o.rows.len(), 1, "{rel}");
        let r = &o.rows[0];
        assert_eq!(r.helo.as_deref(), Some("[172.16.16.225]"));
        assert_eq!(r.mailfrom.as_deref(), Some("sanders@skynet.local"));
        assert_eq!(r.rcptto, ["sanders@cyberdyne.local"]);
        assert_eq!(r.subject.as_deref(), Some("Help!"));
        assert_eq!(r.msg_id.as_deref(), Some("<5682DB80.4010607@skynet.local>"));
        assert_eq!(o.msgs.len(), 1);
        // tshark: MAIL FROM ... SIZE=556, the size of the carved message.
        assert_eq!(o.msgs[0].data.len(), 556);
        assert!(!o.msgs[0].truncated);
    }
    // The relay hop: SIZE=732, with a Received header added.
    let o = checked("smtp/sanders-receiver-server-3-0.bsv");
    let r = &o.rows[0];
    assert_eq!(r.helo.as_deref(), Some("mail01"));
    assert_eq!(o.msgs[0].data.len(), 732);
    assert!(o.msgs[0]
        .data
        .starts_with(b"Received: from [172.16.16.225]"));
    assert_eq!(zpath(r), "172.16.16.231,172.16.16.221,172.16.16.225");
    // A thinned attachment (gaps inside DATA): truncated, headers intact.
    let o = checked("smtp/sanders-sender-attachment-0.bsv");
    assert_eq!(o.msgs.len(), 1);
    assert!(o.msgs[0].truncated);
    assert_eq!(o.rows[0].subject.as_deref(), Some("New Coworker"));
    assert_eq!(
        o.rows[0].last_reply.as_deref(),
        Some("250 2.0.0 Ok: queued as A4700403BD")
    );
}

#[test]
fn spambot_sessions() {
    let o = checked("smtp/spambot-smtperr-1.bsv");
    let r = &o.rows[0];
    assert_eq!(r.helo.as_deref(), Some("[0.0.0.0]"));
    assert_eq!(r.mailfrom.as_deref(), Some("Ina32@4447.com"));
    assert_eq!(r.rcptto, ["jcastro2111@yahoo.com"]);
    assert_eq!(
        r.subject.as_deref(),
        Some("What you think about her new picture?")
    );
    assert_eq!(r.from.as_deref(), Some("Ina Edwards <Ina32@4447.com>"));
    assert_eq!(
        r.msg_id.as_deref(),
        Some("<44185615794851.6478.qmail@aqymcn>")
    );
    assert_eq!(zpath(r), "98.137.159.25,10.6.8.101,96.10.70.240");
    // The server's answer to the message lacks its code.
    assert_eq!(o.weirds, ["smtp_malformed_reply"]);
    assert_eq!(o.msgs.len(), 1);
    assert!(o.msgs[0].data.starts_with(b"Received: from zawvcsquyc"));
    // The malspam's attachment is a file of its own (files.log), named in
    // the row's fuids: a zip whatever its name says.
    let zip = o
        .files
        .iter()
        .find(|f| f.filename.as_deref() == Some("20186425_642590.jpg.zip"))
        .expect("the attachment in files.log");
    assert_eq!(zip.mime_type.as_deref(), Some("application/zip"));
    assert_eq!(zip.source, "SMTP");
    assert!(zip.seen_bytes > 20_000);
    assert!(r.fuids.contains(&zip.fuid));
    assert_eq!(r.fuids.len(), o.files.len());
    // Rejected session: RCPT refused, DATA refused.
    let o = checked("smtp/spambot-smtperr-2.bsv");
    assert!(o.msgs.is_empty());
    assert_eq!(
        o.rows[0].mailfrom.as_deref(),
        Some("unusualz@prg-dc.dhl.com")
    );
    assert_eq!(o.rows[0].rcptto, ["sghaier@fts.com.tn"]);
    // Binary junk sent to an SMTP server; TLS sent to port 465.
    assert!(checked("smtp/spambot-smtperr-0.bsv").rows.is_empty());
    assert!(checked("smtp/spambot-smtperr-3.bsv").rows.is_empty());
}

#[test]
fn spambot_auth_relay_port_2525() {
    // Four messages in one authenticated session (bodies thinned to 8 KiB,
    // the capture ends inside the fourth).
    let o = checked("smtp/spambot-2525-0.bsv");
    assert_eq!(o.msgs.len(), 4);
    assert_eq!(o.rows.len(), 4);
    let rcpts = [
        "drapancer@bellnet.ca",
        "drdanielpennou@bellnet.ca",
        "DreFranceCharbonneau@teethfairy.ca",
        "drfrancoisbouchard@bellnet.ca",
    ];
    for (i, r) in o.rows.iter().enumerate() {
        assert_eq!(r.trans_depth as usize, i + 1);
        assert_eq!(r.helo.as_deref(), Some("[173.66.146.112]"));
        // AUTH PLAIN AGNyb2dzdHJpa2UAaGVsbDB0aGVyZQ== (user "crogstrike").
        assert_eq!(r.auth_user.as_deref(), Some("crogstrike"));
        assert_eq!(r.mailfrom.as_deref(), Some("crogstrike@gchteam.com"));
        assert_eq!(r.rcptto, [rcpts[i]]);
        assert_eq!(r.to, [format!("<{}>", rcpts[i])]);
        assert_eq!(
            r.subject.as_deref(),
            Some("=?UTF-8?B?RG9jdW1lbnQgbnVtw6lyaXPDqWUgcG91ciA=?=")
        );
        assert_eq!(
            r.from.as_deref(),
            Some("\"Julie Barriere <julie@carrefourdentaire.com>\" <crogstrike@gchteam.com>")
        );
        assert!(o.msgs[i].data.starts_with(b"Date: Wed, 18 Sep 2019 17:32:"));
        assert!(o.msgs[i].truncated);
        assert_eq!(o.msgs[i].rcptto, [rcpts[i]]);
    }
    assert_eq!(
        o.rows[0].last_reply.as_deref(),
        Some("250 2.0.0 Ok: queued as F17703F444")
    );
    assert_eq!(
        o.rows[3].last_reply.as_deref(),
        Some("354 End data with <CR><LF>.<CR><LF>")
    );
    assert_eq!(o.rows[3].commands.len(), 14);
}

#[test]
fn other_protocols_are_violations() {
    for rel in [
        "smtp/pop3-email-troubles-0.bsv",
        "smtp/sanders-receiver-server-3-1.bsv",
    ] {
        let v = load(rel);
        let first = |d: Dir| {
            v.recs.iter().find_map(|r| match r {
                Rec::Data(x, _, b) if *x == d => Some(b.clone()),
                _ => None,
            })
        };
        assert_eq!(
            probe(Dir::Resp, &first(Dir::Resp).unwrap_or_default()),
            Probe::NotForUs,
            "{rel}"
        );
        let o = checked(rel);
        assert_eq!(o.stopped, Some(Status::Violation), "{rel}");
        assert!(o.rows.is_empty());
    }
}
