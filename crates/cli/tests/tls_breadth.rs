//! `ssl.log` and `x509.log` beyond TLS over TCP, against Zeek's own
//! expected logs (`shared/data/zeek-btest`, Zeek's regression suite):
//! certificates (x509.log, ssl.log's chain columns), QUIC Initial
//! decryption, DTLS, and TLS started inside MySQL, XMPP and RDP.
//!
//! Each baseline row must be matched by one of our rows on every column
//! the baseline has except `ts` and `uid` (masked by btest); our extra
//! columns are not compared.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{data_dir, read_tsv, run_logs, Row};

/// (trace under Traces/, baseline folder, baseline log, our log)
const CASES: &[(&str, &str, &str, &str)] = &[
    // certificates
    (
        "tls/ecdhe.pcap",
        "scripts.base.protocols.ssl.ecdhe",
        "x509.log",
        "x509",
    ),
    (
        "tls/ecdhe.pcap",
        "scripts.base.protocols.ssl.ecdhe",
        "ssl.log",
        "ssl",
    ),
    (
        "tls/ecdsa-cert.pcap",
        "scripts.base.protocols.ssl.ecdsa",
        "x509.log",
        "x509",
    ),
    (
        "tls/tls-conn-with-extensions.pcap",
        "scripts.base.protocols.ssl.basic",
        "ssl.log",
        "ssl",
    ),
    (
        "tls/tls-conn-with-extensions.pcap",
        "scripts.base.protocols.ssl.basic",
        "x509.log",
        "x509",
    ),
    // QUIC v1, v2 (the interop traces with a Retry are PPP captures: the
    // link branch reads them)
    (
        "quic/chromium-115.0.5790.110-api-cirrus-com.pcap",
        "scripts.base.protocols.quic.chromium",
        "ssl.log",
        "ssl",
    ),
    (
        "quic/quicv2-echo-443.pcap",
        "scripts.base.protocols.quic.quicv2-echo-443",
        "ssl.log",
        "ssl",
    ),
    // DTLS
    (
        "tls/dtls1_2.pcap",
        "scripts.base.protocols.ssl.dtls",
        "ssl1_2.log",
        "ssl",
    ),
    (
        "tls/dtls1_2.pcap",
        "scripts.base.protocols.ssl.dtls",
        "x5091_2.log",
        "x509",
    ),
    // TLS inside other protocols
    (
        "mysql/encrypted.pcap",
        "scripts.base.protocols.mysql.encrypted",
        "ssl.log",
        "ssl",
    ),
    (
        "tls/xmpp-starttls.pcap",
        "scripts.base.protocols.xmpp.starttls",
        "ssl.log",
        "ssl",
    ),
    (
        "rdp/rdp-to-ssl.pcap",
        "scripts.base.protocols.rdp.rdp-to-ssl",
        "ssl.log",
        "ssl",
    ),
];

fn key(row: &Row, cols: &[String]) -> Vec<String> {
    cols.iter()
        .map(|c| row.get(c).cloned().unwrap_or_else(|| "<absent>".into()))
        .collect()
}

#[test]
fn ssl_and_x509_rows_match_zeek() {
    let Some(data) = data_dir() else {
        return;
    };
    let root = data.join("zeek-btest");
    let mut failures = Vec::new();
    let mut runs: HashMap<&str, std::path::PathBuf> = HashMap::new();
    for (i, (trace, dir, base, ours)) in CASES.iter().enumerate() {
        let out = runs.entry(trace).or_insert_with(|| {
            let (out, code, err) =
                run_logs(&root.join("Traces").join(trace), "zeek", &format!("tb{i}"));
            assert!(code == 0 || code == 1, "{trace}: exit {code}: {err}");
            out
        });
        let want: Vec<Row> = read_tsv(&root.join("Baseline").join(dir).join(base))
            .into_iter()
            .flatten()
            .collect();
        assert!(!want.is_empty(), "{dir}/{base}: empty baseline");
        let cols: Vec<String> = want[0]
            .keys()
            .filter(|c| *c != "ts" && *c != "uid")
            .cloned()
            .collect();
        let path = out.join(format!("{ours}.log"));
        let got: Vec<Row> = if Path::new(&path).exists() {
            read_tsv(&path).into_iter().flatten().collect()
        } else {
            Vec::new()
        };
        let mut pool: Vec<Vec<String>> = got.iter().map(|r| key(r, &cols)).collect();
        for w in &want {
            let k = key(w, &cols);
            match pool.iter().position(|g| *g == k) {
                Some(p) => {
                    pool.swap_remove(p);
                }
                None => failures.push(format!(
                    "{trace} {ours}: no row like\n  {}\n  got:\n  {}",
                    cols.iter()
                        .zip(&k)
                        .map(|(c, v)| format!("{c}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    got.iter()
                        .map(|r| key(r, &cols).join(" | "))
                        .collect::<Vec<_>>()
                        .join("\n  ")
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
