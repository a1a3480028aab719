//! Rendered captures against tshark, an independent decoder: no
//! malformed packets, no expert errors, no TCP analysis flags, the
//! packet count we wrote, and the requests, commands and names we
//! planned.

mod net_support;

use botscope_sim::net::{render_pcap, render_pcap_with, NetConfig};
use net_support::*;

/// Every check tshark can make on one capture.
fn check_clean(bytes: &[u8], tag: &str) -> TempFile {
    let f = TempFile::new(tag, bytes);
    let p = f.path();
    let bad = run(
        "tshark",
        &["-Y", "_ws.malformed || _ws.expert.severity == error", "-r"],
        p,
    );
    assert_eq!(bad, "", "malformed or expert errors in {tag}");
    let expert = run("tshark", &["-q", "-z", "expert,error", "-r"], p);
    assert!(
        !expert.contains("Errors ("),
        "expert errors in {tag}:\n{expert}"
    );
    let flagged = run(
        "tshark",
        &[
            "-Y",
            "tcp.analysis.flags && !tcp.analysis.window_update",
            "-r",
        ],
        p,
    );
    assert_eq!(flagged, "", "TCP analysis flags in {tag}");
    let info = run("capinfos", &["-c", "-M"], p);
    let count = info
        .lines()
        .find_map(|l| l.strip_prefix("Number of packets:"))
        .map(|v| v.trim().parse::<usize>().expect("count"))
        .expect("capinfos prints a packet count");
    assert_eq!(count, pcap_records(bytes), "capinfos packet count in {tag}");
    f
}

#[test]
fn reference_day_is_clean_and_says_what_was_planned() {
    if !have_tshark() {
        return;
    }
    let mut bytes = Vec::new();
    let truth = render_pcap(&day(42), &mut bytes);
    assert_eq!(truth.len(), day(42).activities.len());
    let f = check_clean(&bytes, "day");
    let p = f.path();

    let http: Vec<(String, String)> =
        fields(p, "http.request", &["http.request.uri", "http.referer"])
            .into_iter()
            .map(|r| (r[0].clone(), r.get(1).cloned().unwrap_or_default()))
            .collect();
    let mut want = vec![
        (C2_URI.to_string(), String::new()),
        (DL_URI.to_string(), String::new()),
        (CLICK_URI.to_string(), REFERER.to_string()),
        (CLICK_URI.to_string(), REFERER.to_string()),
    ];
    let mut got = http.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    let cmds: Vec<String> = fields(p, "smtp.req.command", &["smtp.req.command"])
        .into_iter()
        .map(|r| r.join(","))
        .collect();
    assert_eq!(
        cmds,
        ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "DATA", "QUIT"]
    );

    let names: Vec<String> = fields(p, "dns.flags.response == 0", &["dns.qry.name"])
        .into_iter()
        .map(|r| r.join(","))
        .collect();
    assert_eq!(names, DNS_NAMES);
    let answered = fields(p, "dns.flags.response == 1", &["dns.qry.name"]);
    assert_eq!(answered.len(), DNS_NAMES.len());

    // The PE download is reassembled by tshark as one 200 KB body.
    let bodies = fields(
        p,
        "http.response && http.content_length == 204800",
        &["http.file_data"],
    );
    assert_eq!(bodies.len(), 1);
}

#[test]
fn sequence_wrap_is_clean() {
    if !have_tshark() {
        return;
    }
    let cfg = NetConfig {
        fixed_isn: Some((u32::MAX - 3000, u32::MAX - 100_000)),
        ..NetConfig::default()
    };
    let mut bytes = Vec::new();
    render_pcap_with(&day(7), &cfg, &mut bytes);
    let f = check_clean(&bytes, "wrap");
    // Both directions really crossed 2^32: raw sequence numbers near the
    // top and near the bottom of the space appear.
    let seqs: Vec<u64> = fields(f.path(), "tcp.len > 0", &["tcp.seq_raw"])
        .into_iter()
        .map(|r| r[0].parse().expect("seq"))
        .collect();
    assert!(seqs.iter().any(|&s| s > u64::from(u32::MAX) - 200_000));
    assert!(seqs.iter().any(|&s| s < 200_000));
}
