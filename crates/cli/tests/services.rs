//! conn.log services come from content, not ports, and follow upgrades:
//! what an analyst checks first when a bot talks on an odd port.

mod common;

use std::collections::BTreeSet;

use common::{botscope, data_dir, read_tsv, run_logs};

/// (capture, "resp_h:resp_p", expected service) — every listed
/// connection must carry exactly that service.
const CASES: &[(&str, &str, &str)] = &[
    // SMTP on a relay's port 2525: found by content.
    (
        "botnet-pcaps/spambot-auth-relay-port2525.pcap",
        "207.246.115.231:2525",
        "smtp",
    ),
    // A spam bot that starts TLS on 465 right after a plaintext greeting.
    (
        "botnet-pcaps/spambot-smtp-sessions-smtperr.pcap",
        "104.131.33.237:465",
        "smtp,ssl",
    ),
    (
        "botnet-pcaps/spambot-smtp-sessions-smtperr.pcap",
        "98.137.159.25:25",
        "smtp",
    ),
    (
        "botnet-pcaps/pop3-credential-checking-bot-2020.pcap",
        "74.208.5.11:110",
        "pop3",
    ),
    (
        "protocol-pcaps/sanders-mail_receiver_server_3.pcapng",
        "172.16.16.231:143",
        "imap,ssl",
    ),
    (
        "protocol-pcaps/zeek-tls-irc-starttls.pcap",
        "185.18.76.170:6667",
        "irc,ssl",
    ),
    (
        "protocol-pcaps/zeek-tls-smtp-starttls.pcap",
        "74.125.142.26:25",
        "smtp,ssl",
    ),
    (
        "protocol-pcaps/zeek-irc-dcc-send.pcapng",
        "10.0.0.7:59130",
        "irc-dcc-data",
    ),
    (
        "botnet-pcaps/emotet-c2-http-post-2020.pcap",
        "74.120.55.163:80",
        "http",
    ),
    ("protocol-pcaps/zeek-dns53.pcap", "207.158.192.40:53", "dns"),
    // A RAT's port-4433 channel is not TLS: no service is claimed.
    (
        "botnet-pcaps/rat-infected-c2.pcap",
        "172.16.0.111:4433",
        "-",
    ),
];

#[test]
fn services_are_detected_from_content() {
    let Some(data) = data_dir() else { return };
    let mut problems = Vec::new();
    for (i, (pcap, resp, want)) in CASES.iter().enumerate() {
        let (out, code, stderr) = run_logs(&data.join(pcap), "zeek", &format!("svc-{i}"));
        assert_eq!(code, 0, "{pcap}: {stderr}");
        let rows: Vec<_> = read_tsv(&out.join("conn.log"))
            .into_iter()
            .flatten()
            .collect();
        let got: BTreeSet<String> = rows
            .iter()
            .filter(|r| format!("{}:{}", r["id.resp_h"], r["id.resp_p"]) == *resp)
            .map(|r| r["service"].clone())
            .collect();
        if got.is_empty() {
            problems.push(format!("{pcap}: no connection to {resp}"));
        } else if got.len() != 1 || !got.contains(*want) {
            problems.push(format!("{pcap} {resp}: service {got:?}, want {want:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_same_file_twice_is_read_once() {
    let Some(data) = data_dir() else { return };
    let f = data.join("protocol-pcaps/zeek-http-pipelined-requests.pcap");
    let out = common::temp_dir("twice");
    let o = botscope()
        .args(["logs", "--quiet", "--out"])
        .arg(&out)
        .arg(&f)
        .arg(&f)
        .arg(data.join("protocol-pcaps"))
        .output()
        .expect("run");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let http: Vec<_> = read_tsv(&out.join("http.log"))
        .into_iter()
        .flatten()
        .collect();
    let uids: BTreeSet<&String> = http.iter().map(|r| &r["uid"]).collect();
    let conns: Vec<_> = read_tsv(&out.join("conn.log"))
        .into_iter()
        .flatten()
        .collect();
    let conn_uids: BTreeSet<&String> = conns.iter().map(|r| &r["uid"]).collect();
    assert_eq!(conn_uids.len(), conns.len(), "duplicate uids in conn.log");
    assert!(!uids.is_empty());
}

#[test]
fn quiet_still_says_why_it_failed() {
    let out = common::temp_dir("quiet");
    let o = botscope()
        .args(["logs", "--quiet", "--out"])
        .arg(&out)
        .arg("/nonexistent/capture.pcap")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/capture.pcap"), "stderr: {err}");
}
