//! `--tls-keylog`: HTTPS decrypted with the key log published beside a
//! real capture (Unit 42's 2020-04-01 Dridex infection, `malware-real/`):
//! the HTTP inside TLS becomes `http.log` rows on the TLS connections'
//! uids, and `trace` sees the payload fetched over HTTPS. Without the key
//! log none of it is readable; a key log without secrets is an error
//! naming the file.

mod common;

use common::{botscope, data_dir, read_tsv, temp_dir};

const PCAP: &str = "malware-real/u42-2020-04-01-dridex-https-with-keylog.pcap";
const KEYLOG: &str = "malware-real/u42-2020-04-01-dridex-https-with-keylog.keylog.txt";

/// `botscope ARGS [--tls-keylog KEYLOG] PCAP`, which must exit 0.
fn on_capture(args: &[&std::ffi::OsStr], with_keys: bool) -> std::process::Output {
    let data = data_dir().expect("checked by the caller");
    let mut cmd = botscope();
    cmd.args(args);
    if with_keys {
        cmd.arg("--tls-keylog").arg(data.join(KEYLOG));
    }
    let o = cmd.arg(data.join(PCAP)).output().expect("run botscope");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn http_rows(with_keys: bool, tag: &str) -> Vec<common::Row> {
    let out = temp_dir(tag);
    on_capture(
        &[
            "logs".as_ref(),
            "--quiet".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
        with_keys,
    );
    let path = out.join("http.log");
    if !path.exists() {
        return Vec::new();
    }
    read_tsv(&path).into_iter().flatten().collect()
}

#[test]
fn https_with_its_key_log_gives_http_rows() {
    if data_dir().is_none() {
        return;
    }
    let ssl = temp_dir("keylog-ssl");
    let rows = http_rows(true, "keylog-on");
    let get = |k: &str, r: &common::Row| r.get(k).cloned().unwrap_or_default();
    // The payload and the three C&C POSTs, on port 443.
    let dll: Vec<_> = rows
        .iter()
        .filter(|r| get("host", r) == "foodsgoodforliver.com" && get("uri", r) == "/invest_20.dll")
        .collect();
    assert_eq!(dll.len(), 1, "{rows:?}");
    assert_eq!(get("id.resp_p", dll[0]), "443");
    assert_eq!(get("status_code", dll[0]), "200");
    assert_eq!(get("resp_mime_types", dll[0]), "application/x-dosexec");
    let posts = rows
        .iter()
        .filter(|r| get("host", r) == "105711.com" && get("method", r) == "POST")
        .count();
    assert_eq!(posts, 3);
    // Without the key log: nothing of it.
    let none = http_rows(false, "keylog-off");
    assert!(
        !none.iter().any(|r| get("id.resp_p", r) == "443"),
        "{none:?}"
    );
    // The uid of the decrypted rows is the TLS connection's.
    on_capture(
        &[
            "logs".as_ref(),
            "--quiet".as_ref(),
            "--out".as_ref(),
            ssl.as_os_str(),
        ],
        true,
    );
    let ssl_uids: Vec<String> = read_tsv(&ssl.join("ssl.log"))
        .into_iter()
        .flatten()
        .map(|r| get("uid", &r))
        .collect();
    assert!(ssl_uids.contains(&get("uid", dll[0])));
}

#[test]
fn trace_sees_the_payload_fetched_over_https() {
    if data_dir().is_none() {
        return;
    }
    let run = |keys: bool| {
        let args = ["trace", "--json", "--sandbox=10.4.1.101"].map(std::ffi::OsStr::new);
        String::from_utf8_lossy(&on_capture(&args, keys).stdout).to_string()
    };
    let with = run(true);
    assert!(
        with.contains("foodsgoodforliver.com/invest_20.dll"),
        "{with}"
    );
    assert!(!run(false).contains("invest_20.dll"));
}

#[test]
fn a_key_log_without_secrets_is_an_error_naming_it() {
    let dir = temp_dir("keylog-bad");
    let bad = dir.join("empty.keylog");
    std::fs::write(&bad, "# nothing\nCLIENT_RANDOM zz zz\n").expect("write");
    let o = botscope()
        .args(["logs", "--quiet", "--out"])
        .arg(dir.join("out"))
        .arg("--tls-keylog")
        .arg(&bad)
        .arg(&bad)
        .output()
        .expect("run botscope");
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("empty.keylog") && err.contains("no session secrets"),
        "{err}"
    );
    let missing = dir.join("missing.keylog");
    let o = botscope()
        .args(["trace", "--tls-keylog"])
        .arg(&missing)
        .arg(&bad)
        .output()
        .expect("run botscope");
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.keylog"));
}
