//! `ftp.log` and `ssh.log` against Zeek's own expected logs (Zeek's
//! regression corpus, `shared/data/zeek-btest`), and services named by
//! content on the corpus traces that carry them.
//!
//! Rows are compared as multisets on the content columns (timestamps and
//! uids are masked in the baselines). Zeek's FTP tests sometimes log extra
//! commands (`redef FTP::logged_commands += {...}`); only the commands
//! Zeek logs by default are compared, on both sides. Known differences
//! are listed with the reason; everything else must match.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{data_dir, read_tsv, run_logs, Row};

/// Baseline directories holding an `ftp.log`, and their trace.
const FTP: &[(&str, &str)] = &[
    (
        "scripts.base.protocols.ftp.cwd-navigation",
        "ftp/cwd-navigation.pcap",
    ),
    ("scripts.base.protocols.ftp.ftp-ipv4", "ftp/ipv4.pcap"),
    ("scripts.base.protocols.ftp.ftp-ipv6", "ftp/ipv6.pcap"),
    (
        "scripts.base.protocols.ftp.ftp-max-command-length",
        "ftp/fake-long-commands.pcap",
    ),
    (
        "scripts.base.protocols.ftp.ftp-invalid-reply-code",
        "ftp/ftp-invalid-reply-code.pcap",
    ),
    (
        "scripts.base.protocols.ftp.ftp-missing-reply-code",
        "ftp/ftp-missing-reply-code.pcap",
    ),
    (
        "scripts.base.protocols.ftp.ftp-missing-space-after-reply-code",
        "ftp/ftp-missing-space-after-reply-code.pcap",
    ),
    (
        "scripts.base.protocols.ftp.ftp-password-pass-command-hidden",
        "ftp/ftp-password-pass-command.pcap",
    ),
];

/// Columns compared in `ftp.log` (`mime_type`: see `KNOWN_FTP`).
const FTP_COLS: &[&str] = &[
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "user",
    "password",
    "command",
    "arg",
    "file_size",
    "reply_code",
    "reply_msg",
    "data_channel.passive",
    "data_channel.orig_h",
    "data_channel.resp_h",
    "data_channel.resp_p",
];

/// Zeek's default `FTP::logged_commands`.
const LOGGED: &[&str] = &[
    "APPE", "DELE", "RETR", "STOR", "STOU", "ACCT", "PORT", "PASV", "EPRT", "EPSV",
];

const SSH: &[(&str, &str)] = &[
    ("scripts.base.protocols.ssh.basic", "ssh/ssh.pcap"),
    (
        "scripts.base.protocols.ssh.pre-banner",
        "ssh/server-pre-banner-data.pcap",
    ),
    (
        "scripts.base.protocols.ssh.half-duplex-client",
        "ssh/ssh.client-side-half-duplex.pcap",
    ),
    (
        "scripts.base.protocols.ssh.half-duplex-server",
        "ssh/ssh.server-side-half-duplex.pcap",
    ),
    (
        "scripts.base.protocols.ssh.dh_group18_kex",
        "ssh/ssh_kex_dh_group18.pcap",
    ),
];

const SSH_COLS: &[&str] = &[
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "version",
    "auth_success",
    "auth_attempts",
    "direction",
    "client",
    "server",
    "cipher_alg",
    "mac_alg",
    "compression_alg",
    "kex_alg",
    "host_key_alg",
    "host_key_fingerprint",
];

/// SSH rows known to differ: (baseline dir, orig port, why).
const KNOWN_SSH: &[(&str, &str, &str)] = &[
    (
        "scripts.base.protocols.ssh.basic",
        "51880",
        "Zeek reaches no authentication verdict (- 0) where the size \
         heuristic here counts two failed attempts (F 2): the server's \
         encrypted deliveries are sized differently by the two TCP layers",
    ),
    (
        "scripts.base.protocols.ssh.pre-banner",
        "55343",
        "same: Zeek - 0, here F 2 (every other column matches)",
    ),
];

fn key(r: &Row, cols: &[&str], baseline: &Row) -> Vec<String> {
    cols.iter()
        .filter(|c| baseline.contains_key(**c))
        .map(|c| {
            let v = r.get(*c).cloned().unwrap_or_else(|| "-".into());
            // btest cuts the host-key fingerprint: compare its prefix.
            if *c == "host_key_fingerprint" {
                let n = baseline.get(*c).map_or(0, String::len);
                v.chars().take(n).collect()
            } else {
                v
            }
        })
        .collect()
}

/// (matched, total, differences) for one baseline log.
fn compare(
    data: &Path,
    dir: &str,
    trace: &str,
    log: &str,
    cols: &[&str],
    keep: impl Fn(&Row) -> bool,
) -> (usize, usize, Vec<String>) {
    let base = data.join("zeek-btest/Baseline").join(dir).join(log);
    let want: Vec<Row> = read_tsv(&base)
        .into_iter()
        .flatten()
        .filter(&keep)
        .collect();
    let tag = format!("{}-{}", log.trim_end_matches(".log"), dir);
    let (out, code, stderr) = run_logs(&data.join("zeek-btest/Traces").join(trace), "zeek", &tag);
    assert!(code == 0 || code == 1, "{trace}: exit {code}: {stderr}");
    let ours_path = out.join(log);
    let got: Vec<Row> = if ours_path.exists() {
        read_tsv(&ours_path)
            .into_iter()
            .flatten()
            .filter(&keep)
            .collect()
    } else {
        Vec::new()
    };
    let Some(first) = want.first() else {
        return (0, 0, Vec::new());
    };
    let mut pool: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for r in &got {
        *pool.entry(key(r, cols, first)).or_default() += 1;
    }
    let mut matched = 0;
    let mut diffs = Vec::new();
    for r in &want {
        let k = key(r, cols, first);
        match pool.get_mut(&k) {
            Some(n) if *n > 0 => {
                *n -= 1;
                matched += 1;
            }
            _ => diffs.push(format!("{dir}: no row like {}", k.join(" | "))),
        }
    }
    (matched, want.len(), diffs)
}

#[test]
fn ftp_log_matches_zeek() {
    let Some(data) = data_dir() else { return };
    let (mut m, mut t) = (0, 0);
    let mut problems = Vec::new();
    for (dir, trace) in FTP {
        let (mm, tt, d) = compare(&data, dir, trace, "ftp.log", FTP_COLS, |r| {
            LOGGED.contains(&r.get("command").map_or("", String::as_str))
        });
        m += mm;
        t += tt;
        problems.extend(d);
    }
    eprintln!("ftp.log: {m} of {t} baseline rows matched");
    assert!(t >= 30, "too few baseline rows read: {t}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn ssh_log_matches_zeek() {
    let Some(data) = data_dir() else { return };
    let (mut m, mut t) = (0, 0);
    let mut problems = Vec::new();
    for (dir, trace) in SSH {
        let (mm, tt, d) = compare(&data, dir, trace, "ssh.log", SSH_COLS, |_| true);
        m += mm;
        t += tt;
        problems.extend(d.into_iter().filter(|p| {
            !KNOWN_SSH
                .iter()
                .any(|(kd, port, _)| p.starts_with(kd) && p.contains(&format!("| {port} |")))
        }));
    }
    eprintln!("ssh.log: {m} of {t} baseline rows matched");
    assert!(t >= 30, "too few baseline rows read: {t}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// (trace under zeek-btest/Traces, "resp_h:resp_p", Zeek's service).
const SERVICES: &[(&str, &str, &str)] = &[
    // FTP control (was named smtp: both greet with 220) and its data.
    ("ftp/ipv4.pcap", "199.233.217.249:21", "ftp"),
    ("ftp/ipv4.pcap", "199.233.217.249:56666", "ftp-data"),
    ("ftp/ipv4.pcap", "141.142.220.235:33582", "ftp-data"),
    ("ftp/ipv6.pcap", "2001:470:4867:99::21:57086", "ftp-data"),
    // SSH on odd ports and after a pre-banner.
    ("ssh/ssh.pcap", "128.2.6.88:41644", "ssh"),
    ("ssh/ssh.pcap", "192.168.2.158:2200", "ssh"),
    ("ssh/server-pre-banner-data.pcap", "10.0.2.10:22", "ssh"),
    // Half-duplex: one identification only, no service (as Zeek).
    (
        "ssh/ssh.client-side-half-duplex.pcap",
        "131.159.21.1:22",
        "-",
    ),
    // NetBIOS name service is DNS to Zeek.
    ("wikipedia.pcap", "141.142.220.255:137", "dns"),
    ("dhcp/dhcp.pcap", "128.2.6.152:67", "dhcp"),
    ("rdp/rdpeudp-handshake-success.pcap", "::1:3389", "rdpeudp"),
    (
        "krb/optional-service-name.pcap",
        "192.168.229.251:88",
        "krb_tcp",
    ),
];

#[test]
fn services_named_by_content_as_zeek() {
    let Some(data) = data_dir() else { return };
    let mut problems = Vec::new();
    for (i, (trace, resp, want)) in SERVICES.iter().enumerate() {
        let path = data.join("zeek-btest/Traces").join(trace);
        let (out, code, stderr) = run_logs(&path, "zeek", &format!("svc13-{i}"));
        assert!(code == 0 || code == 1, "{trace}: exit {code}: {stderr}");
        let rows: Vec<Row> = read_tsv(&out.join("conn.log"))
            .into_iter()
            .flatten()
            .collect();
        let got: Vec<&str> = rows
            .iter()
            .filter(|r| format!("{}:{}", r["id.resp_h"], r["id.resp_p"]) == *resp)
            .map(|r| r["service"].as_str())
            .collect();
        if got.is_empty() {
            problems.push(format!("{trace}: no connection to {resp}"));
        } else if got.iter().any(|g| g != want) {
            problems.push(format!("{trace} {resp}: services {got:?}, want {want}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// FTP transfers are files.log rows on their data connection: type by
/// content, the name from the command's path, the bytes and their
/// SHA-256 (tshark's reassembled `ftp-data` stream of the same capture
/// hashes the same).
#[test]
fn ftp_transfers_are_files() {
    let Some(data) = data_dir() else { return };
    let pcap = data.join("zeek-btest/Traces/ftp/ipv4.pcap");
    let (out, code, stderr) = run_logs(&pcap, "zeek", "ftp-files");
    assert!(code == 0, "{stderr}");
    let rows: Vec<Row> = read_tsv(&out.join("files.log"))
        .into_iter()
        .flatten()
        .collect();
    let ftp: Vec<&Row> = rows.iter().filter(|r| r["source"] == "FTP_DATA").collect();
    assert_eq!(ftp.len(), 2, "{rows:?}");
    for r in &ftp {
        assert_eq!(r["filename"], "robots.txt");
        assert_eq!(r["mime_type"], "text/plain");
        assert_eq!(r["seen_bytes"], "77");
        assert_eq!(
            r["sha256"],
            "92101c97b7425d24309c923bbd4a554f85d8b0b1ce105666bc8f64c0c72d7fac"
        );
    }
    // The data connection's uid, one per transfer, as conn.log has it.
    let conns: Vec<Row> = read_tsv(&out.join("conn.log"))
        .into_iter()
        .flatten()
        .collect();
    for r in &ftp {
        let c = conns
            .iter()
            .find(|c| c["uid"] == r["uid"])
            .expect("data conn");
        assert_eq!(c["service"], "ftp-data");
    }
}
