//! `files.log` for mail: every MIME entity of an SMTP message is a file,
//! compared with Zeek's own expected log (`smtp.attachment` in Zeek's
//! regression corpus, `shared/data/zeek-btest`); `smtp.log`'s `fuids`
//! name them.

mod common;

use std::collections::BTreeMap;

use common::{data_dir, read_tsv, run_logs, Row};

/// Columns compared (uids, fuids and times are Zeek's or masked).
const COLS: &[&str] = &[
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "source",
    "depth",
    "mime_type",
    "filename",
    "duration",
    "is_orig",
    "seen_bytes",
    "total_bytes",
    "missing_bytes",
];

fn key(r: &Row) -> String {
    COLS.iter()
        .map(|c| r.get(*c).map_or("-", String::as_str))
        .collect::<Vec<_>>()
        .join("|")
}

#[test]
fn smtp_entities_match_zeek_files_log() {
    let Some(data) = data_dir() else { return };
    let bt = data.join("zeek-btest");
    let (out, code, err) = run_logs(&bt.join("Traces/smtp.pcap"), "zeek", "files-smtp");
    assert_eq!(code, 0, "{err}");
    let ours: Vec<Row> = read_tsv(&out.join("files.log"))
        .into_iter()
        .flatten()
        .collect();
    let zeek: Vec<Row> =
        read_tsv(&bt.join("Baseline/scripts.base.protocols.smtp.attachment/files.log"))
            .into_iter()
            .flatten()
            .collect();
    let count = |rows: &[Row]| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for r in rows {
            *m.entry(key(r)).or_default() += 1;
        }
        m
    };
    assert_eq!(zeek.len(), 4, "the baseline has four entities");
    assert_eq!(count(&ours), count(&zeek), "files.log differs from Zeek's");

    // Attachments (named, or not text) have a SHA-256, text bodies none
    // (they are measured, not hashed, unless extracted); smtp.log names
    // the files of each message, in order.
    for r in &ours {
        let attachment = r["filename"] != "-" || !r["mime_type"].starts_with("text/");
        let h = r.get("sha256").map_or("-", String::as_str);
        assert_eq!(h.len() == 64, attachment, "{r:?}");
        if !attachment {
            assert_eq!(h, "-", "{r:?}");
        }
    }
    let news = ours.iter().find(|r| r["filename"] == "NEWS.txt").unwrap();
    assert_eq!(news["analyzers"], "SHA256");
    let smtp: Vec<Row> = read_tsv(&out.join("smtp.log"))
        .into_iter()
        .flatten()
        .collect();
    let mut listed: Vec<String> = Vec::new();
    for r in &smtp {
        let uid = &r["uid"];
        let fuids: Vec<&str> = r["fuids"].split(',').collect();
        let mut mine: Vec<(&str, u32)> = ours
            .iter()
            .filter(|f| &f["uid"] == uid)
            .map(|f| (f["fuid"].as_str(), f["depth"].parse().unwrap()))
            .collect();
        mine.sort_by_key(|&(_, d)| d);
        assert_eq!(
            fuids,
            mine.iter().map(|&(f, _)| f).collect::<Vec<_>>(),
            "smtp.log fuids of {uid}"
        );
        listed.extend(fuids.iter().map(|f| f.to_string()));
    }
    assert_eq!(listed.len(), 4);
}

/// Run `botscope logs --extract-files` with extra flags; returns the log
/// folder, the extraction folder and stderr.
fn extract(
    inputs: &[std::path::PathBuf],
    tag: &str,
    flags: &[&str],
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let out = common::temp_dir(tag);
    let dir = out.join("extracted");
    let o = common::botscope()
        .args(["logs", "--out"])
        .arg(&out)
        .arg("--extract-files")
        .arg(&dir)
        .args(flags)
        .args(inputs)
        .output()
        .expect("run botscope");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    (out, dir, err)
}

fn sha256_file(p: &std::path::Path) -> String {
    let o = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn extracted_files_are_the_logged_files() {
    let Some(data) = data_dir() else { return };
    let t = data.join("zeek-btest/Traces");
    let inputs = [
        t.join("smtp.pcap"),
        t.join("ftp/ipv4.pcap"),
        t.join("http/get-gzip.pcap"),
    ];
    let (out, dir, err) = extract(&inputs, "extract-all", &[]);
    let files: Vec<Row> = read_tsv(&out.join("files.log"))
        .into_iter()
        .flatten()
        .collect();
    let sources: std::collections::BTreeSet<&str> =
        files.iter().map(|r| r["source"].as_str()).collect();
    assert_eq!(
        sources,
        ["FTP_DATA", "HTTP", "SMTP"].into_iter().collect(),
        "{err}"
    );
    // Each row names its copy: same size and SHA-256 (HTTP bodies as
    // decoded, mail parts transfer-decoded); nothing else in the folder.
    let mut names = Vec::new();
    for r in &files {
        let name = &r["extracted"];
        assert!(name.starts_with("extract-"), "{r:?}");
        assert!(name.ends_with(&format!("-{}-{}", r["source"], r["fuid"])));
        let p = dir.join(name);
        assert_eq!(
            std::fs::metadata(&p).unwrap().len().to_string(),
            r["seen_bytes"]
        );
        assert_eq!(r["extracted_size"], r["seen_bytes"]);
        assert_eq!(r["extracted_cutoff"], "F");
        assert_eq!(sha256_file(&p), r["sha256"], "{name}");
        names.push(name.clone());
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    on_disk.sort();
    names.sort();
    assert_eq!(on_disk, names);
    // The gzip body is written decoded.
    let http = files.iter().find(|r| r["source"] == "HTTP").unwrap();
    assert!(!std::fs::read(dir.join(&http["extracted"]))
        .unwrap()
        .starts_with(b"\x1f\x8b"));

    // Caps: bytes per file cut (and said), files per run counted.
    let (out, dir, err) = extract(
        &inputs[..1],
        "extract-caps",
        &["--extract-limit", "100", "--extract-max-files", "2"],
    );
    let files: Vec<Row> = read_tsv(&out.join("files.log"))
        .into_iter()
        .flatten()
        .collect();
    let written: Vec<&Row> = files.iter().filter(|r| r["extracted"] != "-").collect();
    assert_eq!(written.len(), 2, "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    for r in &written {
        let size: u64 = r["extracted_size"].parse().unwrap();
        let seen: u64 = r["seen_bytes"].parse().unwrap();
        assert_eq!(size, seen.min(100));
        assert_eq!(r["extracted_cutoff"], if seen > 100 { "T" } else { "F" });
    }
    assert!(
        err.contains("not written (--extract-max-files): 2"),
        "{err}"
    );
}

/// Downloads longer than 64 KiB are hashed on a helper thread when the
/// workers leave a core idle (`-j 1` here, on a machine with two cores
/// or more) and inline otherwise: the same rows either way, and each
/// digest is that of the file carved from the capture.
#[test]
fn large_downloads_hashed_on_the_helper_thread_are_the_carved_files() {
    let Some(data) = data_dir() else { return };
    let input = [data.join("malware-real/ac-2015-nuclear-ek-dga-payload.pcap")];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (out1, dir, err) = extract(&input, "offload-j1", &["-j", "1"]);
    let files: Vec<Row> = read_tsv(&out1.join("files.log"))
        .into_iter()
        .flatten()
        .collect();
    let large: Vec<&Row> = files
        .iter()
        .filter(|r| r["source"] == "HTTP" && r["seen_bytes"].parse::<u64>().unwrap() > 65_536)
        .collect();
    assert!(large.len() >= 2, "{err}");
    for r in &large {
        assert_eq!(r["missing_bytes"], "0");
        assert_eq!(r["analyzers"], "SHA256");
        assert_eq!(sha256_file(&dir.join(&r["extracted"])), r["sha256"]);
    }
    // Every core analysing: hashed inline. Same rows, same digests (the
    // http.log rows too, whose uids and order are those of the files).
    let (outn, _, err) = extract(&input, "offload-jn", &["-j", &cores.to_string()]);
    for log in ["files.log", "http.log"] {
        let rows = |p: &std::path::Path| {
            let mut v: Vec<String> = read_tsv(&p.join(log))
                .into_iter()
                .flatten()
                .map(|r| {
                    r.into_iter()
                        .filter(|(k, _)| k != "extracted")
                        .collect::<BTreeMap<String, String>>()
                        .into_iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(rows(&out1), rows(&outn), "{log}: {err}");
    }
}
