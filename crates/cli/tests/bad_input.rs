//! `botscope logs` end to end on bad and unusual input.
//!
//! Every promise of the README's `botscope logs` section that a user
//! would check by hand: the exit status (0 complete, 1 some input not read
//! completely, 2 usage or output error), error lines naming the file and
//! the byte offset, the run going on past a bad file, the
//! `capture_read_error` weird, folders / stdin / compressed inputs, the
//! JSON formats, Zeek TSV framing and determinism.
//!
//! Broken captures are built at test time from real ones in
//! `shared/data` (cut, bad magic, corrupt lengths, random bytes, garbled
//! payloads) and written under `std::env::temp_dir()`. No run may crash:
//! the exit status is always 0, 1 or 2, never a signal or a panic's 101,
//! and stderr never says "panicked".

mod common;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{botscope, data_dir, read_tsv, temp_dir};

/// The logs whose rows come from traffic (not from file-level problems).
const CONTENT_LOGS: &[&str] = &["conn", "http", "smtp", "dns", "ssl", "irc"];

/// No single run of these small inputs may take longer.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------
// Running botscope
// ---------------------------------------------------------------------------

/// What one `botscope` run left behind.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    out: PathBuf,
}

/// A `botscope logs --out <fresh temp dir>` command being built.
struct Logs {
    cmd: Command,
    out: PathBuf,
    stdin: Option<Vec<u8>>,
    what: String,
}

/// `botscope logs --out <temp>/<tag>`; add inputs and flags with `arg`.
fn logs(tag: &str) -> Logs {
    let out = temp_dir(tag).join("out");
    let mut cmd = botscope();
    cmd.arg("logs").arg("--out").arg(&out);
    Logs {
        cmd,
        out,
        stdin: None,
        what: format!("[{tag}] botscope logs"),
    }
}

impl Logs {
    fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.what.push(' ');
        self.what.push_str(&a.as_ref().to_string_lossy());
        self.cmd.arg(a);
        self
    }

    fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    fn run(self) -> Run {
        let (code, stdout, stderr) = run_command(self.cmd, self.stdin, &self.what);
        Run {
            code,
            stdout,
            stderr,
            out: self.out,
        }
    }
}

/// Run `cmd` to completion (feeding `stdin`), with a timeout; fail the test
/// on a crash: death by signal, a panic's exit status 101 or "panicked" on
/// stderr.
fn run_command(mut cmd: Command, stdin: Option<Vec<u8>>, what: &str) -> (i32, String, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("spawn botscope");
    let feeder = match (stdin, child.stdin.take()) {
        (Some(bytes), Some(mut pipe)) => Some(std::thread::spawn(move || {
            // botscope may stop reading early (on a corrupt stream); a
            // broken pipe then is not the test's concern.
            let _ = pipe.write_all(&bytes);
        })),
        _ => None,
    };
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for botscope") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {RUN_TIMEOUT:?}, killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).to_string();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).to_string();
    let Some(code) = status.code() else {
        panic!("{what}: killed by a signal ({status:?})\nstderr:\n{stderr}");
    };
    assert!(
        !stderr.contains("panicked"),
        "{what}: panicked (exit {code})\nstderr:\n{stderr}"
    );
    assert!(
        matches!(code, 0..=2),
        "{what}: exit status {code} is not 0, 1 or 2\nstderr:\n{stderr}"
    );
    (code, stdout, stderr)
}

impl Run {
    fn expect_code(&self, want: i32, why: &str) -> &Self {
        assert_eq!(
            self.code, want,
            "{why}: exit status {} (want {want})\nstderr:\n{}",
            self.code, self.stderr
        );
        self
    }

    /// The byte offsets of the error lines on stderr that name `path`.
    fn error_offsets(&self, path: &Path) -> Vec<u64> {
        let name = path.display().to_string();
        self.stderr
            .lines()
            .filter(|l| l.contains(&name))
            .filter_map(|l| {
                let (_, rest) = l.rsplit_once("at byte offset ")?;
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect()
    }

    /// Assert one stderr line names `path` with byte offset `offset`.
    fn expect_error_at(&self, path: &Path, offset: u64, why: &str) {
        let offs = self.error_offsets(path);
        assert!(
            offs.contains(&offset),
            "{why}: want an error line naming {} at byte offset {offset}; offsets found {offs:?}\nstderr:\n{}",
            path.display(),
            self.stderr
        );
    }

    /// Assert some stderr line names `path` (whatever the offset).
    fn expect_error_naming(&self, path: &Path, why: &str) {
        let name = path.display().to_string();
        assert!(
            self.stderr.lines().any(|l| l.contains(&name)),
            "{why}: no stderr line names {name}\nstderr:\n{}",
            self.stderr
        );
    }

    /// The `--json` summary on stdout.
    fn summary(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "--json summary is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    fn packets(&self) -> u64 {
        self.summary()["packets"]
            .as_u64()
            .expect("summary packets is a number")
    }

    fn log_path(&self, log: &str) -> PathBuf {
        self.out.join(format!("{log}.log"))
    }

    /// Data lines of a TSV log, sorted; a missing log has none.
    fn lines(&self, log: &str) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(self.log_path(log)) else {
            return Vec::new();
        };
        let mut v: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    /// Rows of a TSV log with the columns in `drop` left out (for inputs
    /// read under another name, whose uids differ), sorted.
    fn rows_without(&self, log: &str, drop: &[&str]) -> Vec<String> {
        let p = self.log_path(log);
        if !p.exists() {
            return Vec::new();
        }
        let mut v: Vec<String> = read_tsv(&p)
            .into_iter()
            .flatten()
            .map(|row| {
                let kept: BTreeMap<String, String> = row
                    .into_iter()
                    .filter(|(k, _)| !drop.contains(&k.as_str()))
                    .collect();
                kept.into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("\t")
            })
            .collect();
        v.sort();
        v
    }

    /// Every content log's sorted data lines.
    fn content(&self) -> BTreeMap<&'static str, Vec<String>> {
        CONTENT_LOGS.iter().map(|l| (*l, self.lines(l))).collect()
    }

    /// Every content log's sorted rows without their `uid`.
    fn content_without_uid(&self) -> BTreeMap<&'static str, Vec<String>> {
        CONTENT_LOGS
            .iter()
            .map(|l| (*l, self.rows_without(l, &["uid"])))
            .collect()
    }

    /// The rows of `weird.log` named `capture_read_error`.
    fn read_errors(&self) -> Vec<common::Row> {
        let p = self.log_path("weird");
        if !p.exists() {
            return Vec::new();
        }
        read_tsv(&p)
            .into_iter()
            .flatten()
            .filter(|r| r.get("name").map(String::as_str) == Some("capture_read_error"))
            .collect()
    }
}

/// Panic unless two content maps are equal, naming the first log that
/// differs and a few of its differing rows.
fn assert_same_rows(
    got: &BTreeMap<&'static str, Vec<String>>,
    want: &BTreeMap<&'static str, Vec<String>>,
    why: &str,
) {
    for (log, w) in want {
        let g = got.get(log).cloned().unwrap_or_default();
        if &g != w {
            let missing: Vec<&String> = w.iter().filter(|r| !g.contains(r)).take(3).collect();
            let extra: Vec<&String> = g.iter().filter(|r| !w.contains(r)).take(3).collect();
            panic!(
                "{why}: {log}.log differs: {} rows, want {}\nmissing e.g. {missing:#?}\nextra e.g. {extra:#?}",
                g.len(),
                w.len()
            );
        }
    }
}

fn total_rows(c: &BTreeMap<&'static str, Vec<String>>) -> usize {
    c.values().map(Vec::len).sum()
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/// A capture in the shared data (`None`: skip, data missing).
fn shared(rel: &str) -> Option<PathBuf> {
    let p = data_dir()?.join(rel);
    assert!(
        p.exists(),
        "{} is missing from the shared data",
        p.display()
    );
    Some(p)
}

const HTTP_PCAP: &str = "protocol-pcaps/zeek-http-pipelined-requests.pcap";
const DNS_PCAP: &str = "protocol-pcaps/zeek-dns-txt-multiple.pcap";
const SMTP_PCAP: &str = "protocol-pcaps/zeek-smtp-attachment-msg.pcap";
const TLS_PCAP: &str = "protocol-pcaps/zeek-tls-ecdhe.pcap";
const IRC_PCAP: &str = "protocol-pcaps/zeek-irc-basic.pcap";
const WEB_PCAP: &str = "protocol-pcaps/zeek-web.pcap";
const PCAPNG: &str = "protocol-pcaps/sanders-http_google.pcapng";
const TRUNCATED: &str = "botnet-pcaps/infostealer-payload-dll-download-2019.pcap";

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn write(dir: &Path, name: impl AsRef<OsStr>, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name.as_ref());
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    p
}

/// A small deterministic PRNG (xorshift64*), so every broken file is the
/// same on every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 32) as u8).collect()
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

/// One record of a classic little-endian microsecond pcap.
#[derive(Clone, Copy, Debug)]
struct Rec {
    /// Offset of the 16-byte record header.
    off: usize,
    caplen: usize,
    orig: usize,
}

/// The records of a classic little-endian pcap (the shared captures all
/// are), checked to tile the file exactly.
fn pcap_records(b: &[u8]) -> Vec<Rec> {
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "not a LE pcap");
    let mut v = Vec::new();
    let mut off = 24;
    while off < b.len() {
        let caplen = le32(b, off + 8) as usize;
        let orig = le32(b, off + 12) as usize;
        v.push(Rec { off, caplen, orig });
        off += 16 + caplen;
    }
    assert_eq!(off, b.len(), "pcap records do not tile the file");
    v
}

/// One block of a little-endian pcapng.
#[derive(Clone, Copy, Debug)]
struct Block {
    off: usize,
    btype: u32,
    len: usize,
}

const EPB: u32 = 6;

fn pcapng_blocks(b: &[u8]) -> Vec<Block> {
    assert_eq!(&b[..4], &[0x0a, 0x0d, 0x0d, 0x0a], "not a pcapng");
    assert_eq!(&b[8..12], &[0x4d, 0x3c, 0x2b, 0x1a], "not little-endian");
    let mut v = Vec::new();
    let mut off = 0;
    while off < b.len() {
        let btype = le32(b, off);
        let len = le32(b, off + 4) as usize;
        v.push(Block { off, btype, len });
        off += len;
    }
    assert_eq!(off, b.len(), "pcapng blocks do not tile the file");
    v
}

/// Internet checksum of `data` added to `sum`.
fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut it = data.chunks_exact(2);
    for w in &mut it {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = it.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn csum_fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A copy of an Ethernet pcap whose TCP and UDP payload bytes (IPv4 and
/// IPv6) are each replaced by a random byte with probability `1/one_in`
/// (every byte for 1), with TCP checksums recomputed and UDP checksums
/// recomputed too, so the garbage is not dropped as a checksum error.
/// Headers stay intact. Returns the bytes and how many payload bytes were
/// changed.
fn garble_payloads(pcap: &[u8], seed: u64, one_in: u64) -> (Vec<u8>, usize) {
    let mut b = pcap.to_vec();
    let mut rng = Rng::new(seed);
    let mut changed = 0;
    for r in pcap_records(pcap) {
        if r.caplen != r.orig || r.caplen < 54 {
            continue;
        }
        let f = &mut b[r.off + 16..r.off + 16 + r.caplen];
        let ethertype = be16(f, 12);
        let ip = &mut f[14..];
        // (pseudo-header address bytes, protocol, L4 start, L4 end)
        let (addrs, proto, l4_start, l4_end) = match ethertype {
            0x0800 => {
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                let total = usize::from(be16(ip, 2));
                let frag = be16(ip, 6) & 0x3fff;
                if ip[0] >> 4 != 4 || ihl < 20 || total > ip.len() || total < ihl || frag != 0 {
                    continue;
                }
                (ip[12..20].to_vec(), ip[9], ihl, total)
            }
            0x86dd => {
                let total = 40 + usize::from(be16(ip, 4));
                if ip[0] >> 4 != 6 || total > ip.len() {
                    continue;
                }
                (ip[8..40].to_vec(), ip[6], 40, total)
            }
            _ => continue,
        };
        let l4 = &mut ip[l4_start..l4_end];
        let (hdr, ck) = match proto {
            6 if l4.len() >= 20 => (usize::from(l4[12] >> 4) * 4, 16),
            17 if l4.len() >= 8 => (8, 6),
            _ => continue,
        };
        if hdr < 8 || hdr > l4.len() {
            continue;
        }
        for byte in &mut l4[hdr..] {
            if rng.next().is_multiple_of(one_in) {
                let new = (rng.next() >> 24) as u8;
                if new != *byte {
                    *byte = new;
                    changed += 1;
                }
            }
        }
        l4[ck] = 0;
        l4[ck + 1] = 0;
        let mut sum = csum_add(0, &addrs);
        sum += u32::from(proto) + l4.len() as u32;
        let mut c = csum_fold(csum_add(sum, l4));
        if proto == 17 && c == 0 {
            c = 0xffff;
        }
        l4[ck..ck + 2].copy_from_slice(&c.to_be_bytes());
    }
    (b, changed)
}

fn have_tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `tool -c` of `bytes` (gzip, xz and zstd all take it).
fn compress(tool: &str, bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {tool}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin pipe");
    let input = bytes.to_vec();
    let feeder = std::thread::spawn(move || pipe.write_all(&input));
    let out = child.wait_with_output().expect("wait for compressor");
    feeder
        .join()
        .expect("feeder thread")
        .expect("write to compressor");
    assert!(out.status.success(), "{tool} -c failed");
    out.stdout
}

/// Check the Zeek TSV framing of every `.log` under `dir`: the
/// `#separator \x09` first line, `#fields` and `#types` of equal width,
/// every data row that wide, and a final `#close` line.
fn check_tsv_framing(dir: &Path) -> usize {
    let mut checked = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.display().to_string();
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {name}: {e}"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.first().copied(),
            Some("#separator \\x09"),
            "{name}: first line"
        );
        assert!(
            lines.last().is_some_and(|l| l.starts_with("#close\t")),
            "{name}: last line is {:?}, want #close",
            lines.last()
        );
        let mut width: Option<usize> = None;
        let mut types_seen = false;
        let mut rows = 0;
        for (i, l) in lines.iter().enumerate() {
            if let Some(f) = l.strip_prefix("#fields\t") {
                width = Some(f.split('\t').count());
                types_seen = false;
            } else if let Some(t) = l.strip_prefix("#types\t") {
                let w = width.unwrap_or_else(|| panic!("{name}:{}: #types before #fields", i + 1));
                assert_eq!(
                    t.split('\t').count(),
                    w,
                    "{name}:{}: #types width differs from #fields",
                    i + 1
                );
                types_seen = true;
            } else if !l.starts_with('#') {
                let w = width.unwrap_or_else(|| panic!("{name}:{}: row before #fields", i + 1));
                assert!(types_seen, "{name}:{}: row before #types", i + 1);
                assert_eq!(
                    l.split('\t').count(),
                    w,
                    "{name}:{}: row has the wrong number of columns: {l:?}",
                    i + 1
                );
                rows += 1;
            }
        }
        assert!(width.is_some(), "{name}: no #fields line");
        assert!(rows > 0, "{name}: a log file with no rows");
        checked += 1;
    }
    checked
}

/// Every line of every `.log` under `dir` is a JSON object; returns them
/// per log.
fn read_json_logs(dir: &Path) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "log") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("read log");
        let rows: Vec<serde_json::Value> = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|err| {
                    panic!("{}:{}: not JSON ({err}): {l:?}", p.display(), i + 1)
                });
                assert!(v.is_object(), "{}:{}: not an object", p.display(), i + 1);
                v
            })
            .collect();
        let stem = p.file_stem().expect("stem").to_string_lossy().to_string();
        m.insert(stem, rows);
    }
    m
}

// ---------------------------------------------------------------------------
// Usage errors and unwritable output: exit 2
// ---------------------------------------------------------------------------

#[test]
fn no_inputs_is_a_usage_error() {
    logs("usage-no-inputs")
        .run()
        .expect_code(2, "logs with no input");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let dir = temp_dir("usage-unknown-flag");
    let f = write(&dir, "x.pcap", b"");
    logs("usage-unknown-flag-run")
        .arg("--no-such-flag")
        .arg(&f)
        .run()
        .expect_code(2, "unknown flag");
}

#[test]
fn bad_format_is_a_usage_error() {
    let dir = temp_dir("usage-bad-format");
    let f = write(&dir, "x.pcap", b"");
    for bad in ["xml", "", "ZEEK ", "tsv"] {
        logs("usage-bad-format-run")
            .arg("--format")
            .arg(bad)
            .arg(&f)
            .run()
            .expect_code(2, &format!("--format {bad:?}"));
    }
}

#[test]
fn missing_out_is_a_usage_error() {
    let dir = temp_dir("usage-no-out");
    let f = write(&dir, "x.pcap", b"");
    let mut cmd = botscope();
    cmd.arg("logs").arg(&f);
    let (code, _, stderr) = run_command(cmd, None, "botscope logs without --out");
    assert_eq!(code, 2, "logs without --out: exit {code}\n{stderr}");
}

#[test]
fn out_under_a_regular_file_is_exit_2() {
    let Some(pcap) = shared(DNS_PCAP) else { return };
    let dir = temp_dir("out-under-file");
    let file = write(&dir, "plain-file", b"not a folder");
    let out = file.join("logs");
    let mut cmd = botscope();
    cmd.arg("logs").arg("--out").arg(&out).arg(&pcap);
    let (code, _, stderr) = run_command(cmd, None, "--out under a regular file");
    assert_eq!(code, 2, "--out under a regular file: exit {code}\n{stderr}");
    assert!(
        stderr.contains(&file.display().to_string()),
        "the error should name the output path\n{stderr}"
    );
}

#[test]
fn out_is_a_regular_file_is_exit_2() {
    let Some(pcap) = shared(DNS_PCAP) else { return };
    let dir = temp_dir("out-is-file");
    let file = write(&dir, "plain-file", b"not a folder");
    let mut cmd = botscope();
    cmd.arg("logs").arg("--out").arg(&file).arg(&pcap);
    let (code, _, stderr) = run_command(cmd, None, "--out is a regular file");
    assert_eq!(code, 2, "--out is a regular file: exit {code}\n{stderr}");
}

/// A log file that cannot be written (here: a symlink to `/dev/full`,
/// every write fails with ENOSPC) is an output error: exit 2, not a
/// silent success.
#[cfg(target_os = "linux")]
#[test]
fn full_disk_is_exit_2() {
    let Some(pcap) = shared(HTTP_PCAP) else {
        return;
    };
    if !Path::new("/dev/full").exists() {
        eprintln!("SKIP: no /dev/full");
        return;
    }
    let dir = temp_dir("out-dev-full");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::os::unix::fs::symlink("/dev/full", out.join("conn.log")).expect("symlink");
    let mut cmd = botscope();
    cmd.arg("logs").arg("--out").arg(&out).arg(&pcap);
    let (code, _, stderr) = run_command(cmd, None, "conn.log -> /dev/full");
    assert_eq!(code, 2, "conn.log on a full disk: exit {code}\n{stderr}");
    assert!(
        stderr.contains("conn.log"),
        "the error should name conn.log\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Missing and non-capture inputs
// ---------------------------------------------------------------------------

#[test]
fn missing_path_is_exit_1_and_the_rest_is_decoded() {
    let (Some(a), Some(b)) = (shared(HTTP_PCAP), shared(DNS_PCAP)) else {
        return;
    };
    let missing = temp_dir("missing-path").join("no-such-file.pcap");
    let good = logs("missing-path-good").arg(&a).arg(&b).run();
    good.expect_code(0, "two good captures");
    let r = logs("missing-path-run").arg(&a).arg(&missing).arg(&b).run();
    r.expect_code(1, "a missing path between two good captures");
    r.expect_error_naming(&missing, "missing path");
    assert_same_rows(
        &r.content(),
        &good.content(),
        "good files' rows with a missing path between them",
    );
}

#[test]
fn explicit_non_capture_file_is_exit_1() {
    let Some(a) = shared(DNS_PCAP) else { return };
    let dir = temp_dir("explicit-non-capture");
    let notes = write(
        &dir,
        "notes.txt",
        b"# Sources\n\nThese captures come from...\n",
    );
    let good = logs("explicit-non-capture-good").arg(&a).run();
    let r = logs("explicit-non-capture-run").arg(&notes).arg(&a).run();
    r.expect_code(1, "a text file named on the command line");
    r.expect_error_at(&notes, 0, "a text file named on the command line");
    assert_same_rows(&r.content(), &good.content(), "the capture after notes.txt");
}

/// Non-capture files met while walking a folder (READMEs, SOURCES.md)
/// are skipped and reported, and do not fail the run.
#[test]
fn non_capture_in_a_folder_is_skipped_not_an_error() {
    let (Some(a), Some(b)) = (shared(DNS_PCAP), shared(IRC_PCAP)) else {
        return;
    };
    let dir = temp_dir("folder-non-capture");
    let tree = dir.join("captures");
    std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
    std::fs::copy(&a, tree.join("a.pcap")).expect("copy");
    std::fs::copy(&b, tree.join("sub/b.pcap")).expect("copy");
    let notes = write(
        &tree,
        "SOURCES.md",
        b"# Sources\n\nWhere these came from.\n",
    );
    let r = logs("folder-non-capture-run").arg(&tree).run();
    r.expect_code(0, "a folder with captures and a SOURCES.md");
    r.expect_error_naming(&notes, "SOURCES.md should be reported as skipped");
    assert!(
        r.stderr.contains("not a capture"),
        "the skip should say \"not a capture\"\n{}",
        r.stderr
    );
    assert!(!r.lines("conn").is_empty(), "the captures were decoded");
    assert!(!r.lines("dns").is_empty(), "the DNS capture was decoded");
    assert!(!r.lines("irc").is_empty(), "the IRC capture was decoded");
}

/// The same on a shared data folder as a user would run it: its
/// SOURCES.md does not fail the run.
#[test]
fn shared_protocol_folder_with_sources_md_is_exit_0() {
    let Some(dir) = data_dir() else { return };
    let folder = dir.join("protocol-pcaps");
    let r = logs("shared-protocol-folder")
        .arg("--json")
        .arg(&folder)
        .run();
    r.expect_code(0, "protocol-pcaps (with its SOURCES.md)");
    r.expect_error_naming(&folder.join("SOURCES.md"), "SOURCES.md skipped");
    let n = common::captures(&folder).len() as u64;
    assert_eq!(
        r.summary()["files"].as_u64(),
        Some(n),
        "every capture in the folder is read"
    );
}

// ---------------------------------------------------------------------------
// The truncated capture in the shared data
// ---------------------------------------------------------------------------

#[test]
fn truncated_shared_capture_keeps_everything_before_the_cut() {
    let Some(p) = shared(TRUNCATED) else { return };
    let r = logs("truncated-shared").arg("--json").arg(&p).run();
    r.expect_code(1, "a capture ending mid-packet");
    r.expect_error_at(&p, 2_715_459, "the cut");
    assert_eq!(r.packets(), 2696, "the complete packets before the cut");
    let errors = r.summary()["errors"].clone();
    assert!(
        errors.as_array().is_some_and(|a| a.iter().any(|e| {
            e.as_str()
                .is_some_and(|s| s.contains("at byte offset 2715459"))
        })),
        "--json errors should carry the offset: {errors}"
    );

    let http = read_tsv(&r.log_path("http")).concat();
    let requests: Vec<&common::Row> = http.iter().filter(|h| h["method"] != "-").collect();
    assert_eq!(
        requests.len(),
        8,
        "HTTP requests before the cut: {:#?}",
        http.iter().map(|h| &h["uri"]).collect::<Vec<_>>()
    );
    let dlls: Vec<&&common::Row> = requests
        .iter()
        .filter(|h| h["uri"].to_ascii_lowercase().contains(".dll"))
        .collect();
    assert!(!dlls.is_empty(), "the DLL downloads are in http.log");
    for h in dlls {
        assert_eq!(
            h["resp_mime_types"], "application/x-dosexec",
            "{} {}",
            h["host"], h["uri"]
        );
    }
}

// ---------------------------------------------------------------------------
// Broken captures built from real ones
// ---------------------------------------------------------------------------

/// Cut a pcap at many places: the error names the start of the record
/// that is incomplete (0 inside the file header), every record before it
/// is decoded, and a cut exactly between records is a complete file.
#[test]
fn cut_pcap_names_the_incomplete_record() {
    let Some(p) = shared(HTTP_PCAP) else { return };
    let full = read(&p);
    let recs = pcap_records(&full);
    assert!(recs.len() > 10);
    let dir = temp_dir("cut-pcap");
    let mid = recs[recs.len() / 2];
    let last = recs[recs.len() - 1];
    // (cut length, error offset, complete packets before it)
    let mut cases: Vec<(usize, Option<usize>, usize)> = vec![
        (1, Some(0), 0),
        (4, Some(0), 0),
        (23, Some(0), 0),
        (24 + 1, Some(24), 0),
        (24 + 15, Some(24), 0),
        (24 + 16, Some(24), 0),
        (mid.off + 8, Some(mid.off), recs.len() / 2),
        (mid.off + 16, Some(mid.off), recs.len() / 2),
        (mid.off + 16 + mid.caplen / 2, Some(mid.off), recs.len() / 2),
        (mid.off + 16 + mid.caplen - 1, Some(mid.off), recs.len() / 2),
        (full.len() - 1, Some(last.off), recs.len() - 1),
    ];
    // Cuts exactly between records leave a complete, shorter capture.
    cases.push((24, None, 0));
    cases.push((mid.off, None, recs.len() / 2));
    for (i, (len, err_at, packets)) in cases.into_iter().enumerate() {
        let f = write(&dir, format!("cut-{i}-at-{len}.pcap"), &full[..len]);
        let r = logs(&format!("cut-pcap-{i}")).arg("--json").arg(&f).run();
        let why = format!("{} cut to {len} bytes", p.display());
        match err_at {
            Some(off) => {
                r.expect_code(1, &why);
                r.expect_error_at(&f, off as u64, &why);
            }
            None => {
                r.expect_code(0, &why);
            }
        }
        assert_eq!(r.packets(), packets as u64, "{why}: packets decoded");
    }
}

/// A pcapng cut inside a block names the block's start.
#[test]
fn cut_pcapng_names_the_incomplete_block() {
    let Some(p) = shared(PCAPNG) else { return };
    let full = read(&p);
    let blocks = pcapng_blocks(&full);
    let dir = temp_dir("cut-pcapng");
    let epbs: Vec<(usize, Block)> = blocks
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, b)| b.btype == EPB)
        .collect();
    assert!(epbs.len() > 4);
    let (idx, b) = epbs[epbs.len() / 2];
    let before = blocks[..idx].iter().filter(|x| x.btype == EPB).count() as u64;
    for (i, cut) in [
        5,
        blocks[1].off + 3,
        b.off + 4,
        b.off + 11,
        b.off + 30,
        b.off + b.len - 1,
    ]
    .into_iter()
    .enumerate()
    {
        let (want_off, want_packets) = if cut < blocks[1].off {
            (0, 0)
        } else if cut < b.off {
            (blocks[1].off, 0)
        } else {
            (b.off, before)
        };
        let f = write(&dir, format!("cut-{i}-at-{cut}.pcapng"), &full[..cut]);
        let r = logs(&format!("cut-pcapng-{i}")).arg("--json").arg(&f).run();
        let why = format!("{} cut to {cut} bytes", p.display());
        r.expect_code(1, &why);
        r.expect_error_at(&f, want_off as u64, &why);
        assert_eq!(r.packets(), want_packets, "{why}: packets decoded");
    }
}

#[test]
fn wrong_magic_is_an_error_at_offset_0() {
    let Some(p) = shared(HTTP_PCAP) else { return };
    let mut b = read(&p);
    let dir = temp_dir("wrong-magic");
    for (i, magic) in [*b"XXXX", [0xa1, 0xb2, 0xc3, 0xd5], [0, 0, 0, 0]]
        .into_iter()
        .enumerate()
    {
        b[..4].copy_from_slice(&magic);
        let f = write(&dir, format!("magic-{i}.pcap"), &b);
        let r = logs(&format!("wrong-magic-{i}"))
            .arg("--json")
            .arg(&f)
            .run();
        r.expect_code(1, &format!("magic {magic:02x?}"));
        r.expect_error_at(&f, 0, &format!("magic {magic:02x?}"));
        assert_eq!(r.packets(), 0);
    }
}

/// pcapng blocks whose length field is corrupt: not a multiple of 4,
/// too small, larger than the rest of the file, huge, or not matching the
/// trailing copy. The error names the block's offset; the packets before
/// it are decoded.
#[test]
fn pcapng_corrupt_block_length() {
    let Some(p) = shared(PCAPNG) else { return };
    let full = read(&p);
    let blocks = pcapng_blocks(&full);
    let dir = temp_dir("pcapng-blen");
    let (idx, b) = blocks
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, b)| b.btype == EPB)
        .nth(3)
        .expect("a 4th packet block");
    let before = blocks[..idx].iter().filter(|x| x.btype == EPB).count() as u64;
    let lens: [u32; 7] = [
        b.len as u32 + 1,
        b.len as u32 + 4,
        b.len as u32 - 4,
        8,
        0,
        (full.len() - b.off + 64) as u32,
        0xffff_fffc,
    ];
    for (i, blen) in lens.into_iter().enumerate() {
        let mut bytes = full.clone();
        bytes[b.off + 4..b.off + 8].copy_from_slice(&blen.to_le_bytes());
        let f = write(&dir, format!("blen-{i}-{blen}.pcapng"), &bytes);
        let r = logs(&format!("pcapng-blen-{i}"))
            .arg("--json")
            .arg(&f)
            .run();
        let why = format!("pcapng block at {} with length {blen}", b.off);
        r.expect_code(1, &why);
        r.expect_error_at(&f, b.off as u64, &why);
        assert_eq!(r.packets(), before, "{why}: packets before it");
    }
    // The trailing length copy alone corrupted.
    let mut bytes = full.clone();
    let t = b.off + b.len - 4;
    bytes[t..t + 4].copy_from_slice(&(b.len as u32 + 8).to_le_bytes());
    let f = write(&dir, "trailer.pcapng", &bytes);
    let r = logs("pcapng-blen-trailer").arg("--json").arg(&f).run();
    r.expect_code(1, "mismatched trailing block length");
    r.expect_error_at(&f, b.off as u64, "mismatched trailing block length");
    assert_eq!(r.packets(), before);
}

/// A classic pcap record whose caplen is above both the file's snaplen
/// and the packet's original length cannot be framed: error at that
/// record, everything before it decoded.
#[test]
fn pcap_caplen_above_snaplen_and_orig_len() {
    let Some(p) = shared(HTTP_PCAP) else { return };
    let full = read(&p);
    let recs = pcap_records(&full);
    let snaplen = le32(&full, 16);
    let dir = temp_dir("caplen");
    let k = 5;
    let r5 = recs[k];
    for (i, caplen) in [snaplen + 1, snaplen.saturating_mul(4), u32::MAX]
        .into_iter()
        .enumerate()
    {
        assert!(caplen as usize > r5.orig);
        let mut bytes = full.clone();
        bytes[r5.off + 8..r5.off + 12].copy_from_slice(&caplen.to_le_bytes());
        let f = write(&dir, format!("caplen-{i}-{caplen}.pcap"), &bytes);
        let r = logs(&format!("caplen-{i}")).arg("--json").arg(&f).run();
        let why = format!(
            "record {k} at {} with caplen {caplen} (snaplen {snaplen})",
            r5.off
        );
        r.expect_code(1, &why);
        r.expect_error_at(&f, r5.off as u64, &why);
        assert_eq!(r.packets(), k as u64, "{why}: packets before it");
    }
}

#[test]
fn zero_length_file_is_exit_1() {
    let dir = temp_dir("zero-length");
    let f = write(&dir, "empty.pcap", b"");
    let r = logs("zero-length-run").arg(&f).run();
    r.expect_code(1, "a zero-length file");
    r.expect_error_at(&f, 0, "a zero-length file");
}

#[test]
fn random_bytes_are_exit_1() {
    let dir = temp_dir("random-bytes");
    for seed in 1..=8u64 {
        let bytes = Rng::new(seed).bytes(1 << 16);
        let f = write(&dir, format!("random-{seed}.pcap"), &bytes);
        let r = logs(&format!("random-bytes-{seed}")).arg(&f).run();
        r.expect_code(1, &format!("random bytes, seed {seed}"));
        r.expect_error_at(&f, 0, &format!("random bytes, seed {seed}"));
    }
}

/// Random bytes after a valid pcap or pcapng header: any error, at any
/// offset, but no crash, and the file is named.
#[test]
fn random_records_after_a_valid_header_do_not_crash() {
    let (Some(p), Some(ng)) = (shared(HTTP_PCAP), shared(PCAPNG)) else {
        return;
    };
    let pcap_hdr = read(&p)[..24].to_vec();
    let ng_bytes = read(&ng);
    let blocks = pcapng_blocks(&ng_bytes);
    let ng_hdr = ng_bytes[..blocks[2].off].to_vec(); // SHB + IDB
    let dir = temp_dir("random-records");
    for seed in 1..=12u64 {
        let mut rng = Rng::new(seed);
        let len = 64 + (rng.next() % 8192) as usize;
        for (kind, hdr) in [("pcap", &pcap_hdr), ("pcapng", &ng_hdr)] {
            let mut bytes = hdr.clone();
            bytes.extend(rng.bytes(len));
            let f = write(&dir, format!("random-{seed}.{kind}"), &bytes);
            let r = logs(&format!("random-records-{kind}-{seed}")).arg(&f).run();
            // Random record lengths almost never tile the file exactly.
            r.expect_code(1, &format!("{kind} header + {len} random bytes"));
            assert!(
                r.error_offsets(&f).iter().all(|o| *o >= hdr.len() as u64),
                "the header itself is fine: {:?}\n{}",
                r.error_offsets(&f),
                r.stderr
            );
        }
    }
}

/// Garbage inside TCP and UDP payloads of real captures (headers intact,
/// checksums fixed): every byte of the capture is read, so exit 0, the
/// connections are all still there, and the logs stay well-formed TSV.
#[test]
fn garbage_inside_streams_is_decoded_without_error() {
    let names = [HTTP_PCAP, SMTP_PCAP, DNS_PCAP, TLS_PCAP, IRC_PCAP, WEB_PCAP];
    let mut inputs = Vec::new();
    for n in names {
        let Some(p) = shared(n) else { return };
        inputs.push(p);
    }
    let dir = temp_dir("garbage-streams");
    for p in &inputs {
        let base = logs("garbage-base").arg(p).run();
        base.expect_code(0, &format!("{} as is", p.display()));
        let conns = base.lines("conn").len();
        assert!(conns > 0);
        let stem = p.file_stem().expect("stem").to_string_lossy().to_string();
        for (seed, one_in) in [(1u64, 1u64), (2, 2), (3, 16), (4, 64), (5, 200), (6, 1000)] {
            let (bytes, changed) = garble_payloads(&read(p), seed, one_in);
            assert!(changed > 0, "{}: no payload byte changed", p.display());
            let f = write(&dir, format!("{stem}-garbled-{seed}.pcap"), &bytes);
            let why = format!(
                "{} with {changed} payload bytes garbled (1 in {one_in})",
                p.display()
            );
            let r = logs(&format!("garbage-{stem}-{seed}")).arg(&f).run();
            r.expect_code(0, &why);
            assert_eq!(r.lines("conn").len(), conns, "{why}: conn.log rows");
            check_tsv_framing(&r.out);
        }
    }
}

// ---------------------------------------------------------------------------
// Other files go on
// ---------------------------------------------------------------------------

/// [good, broken, good2]: the good files' rows are all written, exactly as
/// in a run of the good files alone, plus what the broken file's readable
/// part gives; exit 1.
#[test]
fn other_files_go_on_after_a_broken_one() {
    let (Some(a), Some(b), Some(c)) = (shared(HTTP_PCAP), shared(SMTP_PCAP), shared(TLS_PCAP))
    else {
        return;
    };
    let good = logs("go-on-good").arg(&a).arg(&c).run();
    good.expect_code(0, "the good files alone");
    let dir = temp_dir("go-on");

    // A broken file that yields nothing: same rows as the good ones alone.
    let random = write(&dir, "broken-random.pcap", &Rng::new(99).bytes(4096));
    let r = logs("go-on-random").arg(&a).arg(&random).arg(&c).run();
    r.expect_code(1, "[good, random bytes, good2]");
    r.expect_error_at(&random, 0, "[good, random bytes, good2]");
    assert_same_rows(&r.content(), &good.content(), "[good, random bytes, good2]");

    // A truncated real capture: the good rows plus its own readable rows.
    let full = read(&b);
    let recs = pcap_records(&full);
    let cut_rec = recs[recs.len() * 2 / 3];
    let truncated = write(
        &dir,
        "broken-truncated.pcap",
        &full[..cut_rec.off + 16 + cut_rec.caplen / 2],
    );
    let alone = logs("go-on-truncated-alone").arg(&truncated).run();
    alone.expect_code(1, "the truncated file alone");
    assert!(total_rows(&alone.content()) > 0);
    let r = logs("go-on-truncated")
        .arg(&a)
        .arg(&truncated)
        .arg(&c)
        .run();
    r.expect_code(1, "[good, truncated, good2]");
    r.expect_error_at(&truncated, cut_rec.off as u64, "[good, truncated, good2]");
    let mut want = good.content();
    for (log, rows) in alone.content() {
        let w = want.entry(log).or_default();
        w.extend(rows);
        w.sort();
    }
    assert_same_rows(&r.content(), &want, "[good, truncated, good2]");
}

// ---------------------------------------------------------------------------
// weird.log
// ---------------------------------------------------------------------------

/// Run each broken file alone; list those whose `capture_read_error` row
/// naming the file is missing from weird.log.
fn missing_read_error_rows(tag: &str, cases: Vec<(&str, Vec<u8>)>) -> Vec<String> {
    let dir = temp_dir(tag);
    let mut failures = Vec::new();
    for (i, (name, bytes)) in cases.into_iter().enumerate() {
        let f = write(&dir, name, &bytes);
        let r = logs(&format!("{tag}-{i}")).arg(&f).run();
        r.expect_code(1, name);
        let rows = r.read_errors();
        let path = f.display().to_string();
        let named = rows.iter().any(|w| {
            w.get("source").is_some_and(|s| s.contains(&path))
                || w.get("addl").is_some_and(|s| s.contains(&path))
        });
        if !named {
            failures.push(format!(
                "{name}: exit 1 and an error on stderr, but no capture_read_error row naming {path} in weird.log (rows: {rows:?})"
            ));
        }
    }
    failures
}

/// A capture that breaks after its header (cut mid-packet, corrupt block
/// length) gets a `capture_read_error` row in weird.log naming the file.
#[test]
fn weird_log_names_a_file_broken_mid_capture() {
    let (Some(p), Some(ng)) = (shared(HTTP_PCAP), shared(PCAPNG)) else {
        return;
    };
    let full = read(&p);
    let recs = pcap_records(&full);
    let ngb = read(&ng);
    let blocks = pcapng_blocks(&ngb);
    let mut bad_blen = ngb.clone();
    let b3 = blocks[3];
    bad_blen[b3.off + 4..b3.off + 8].copy_from_slice(&(b3.len as u32 + 1).to_le_bytes());
    let failures = missing_read_error_rows(
        "weird-mid-capture",
        vec![
            (
                "truncated-mid-packet.pcap",
                full[..recs[9].off + 20].to_vec(),
            ),
            ("corrupt-block-length.pcapng", bad_blen),
        ],
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A file named on the command line that fails before its first packet
/// (zero length, cut inside the file header, wrong magic) is a file-level
/// error like any other: exit 1 *and* a `capture_read_error` row in
/// weird.log naming the file (README: "file-level problems name the file
/// and byte offset").
#[test]
fn weird_log_names_a_file_that_fails_at_its_header() {
    let Some(p) = shared(HTTP_PCAP) else { return };
    let full = read(&p);
    let mut bad_magic = full.clone();
    bad_magic[..4].copy_from_slice(b"XXXX");
    let failures = missing_read_error_rows(
        "weird-at-header",
        vec![
            ("truncated-file-header.pcap", full[..10].to_vec()),
            ("zero-length.pcap", Vec::new()),
            ("bad-magic.pcap", bad_magic),
        ],
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// Inputs: folders, stdin, compression, odd names
// ---------------------------------------------------------------------------

#[test]
fn folder_is_walked_recursively() {
    let (Some(a), Some(b), Some(c)) = (shared(DNS_PCAP), shared(IRC_PCAP), shared(PCAPNG)) else {
        return;
    };
    let dir = temp_dir("folder-walk");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("x/y/z")).expect("mkdir");
    std::fs::create_dir_all(tree.join("empty")).expect("mkdir");
    let files = [
        tree.join("a.pcap"),
        tree.join("x/y/b.pcap"),
        tree.join("x/y/z/c.pcapng"),
    ];
    for (src, dst) in [&a, &b, &c].into_iter().zip(&files) {
        std::fs::copy(src, dst).expect("copy");
    }
    // A symlink loop inside the walk must not recurse forever.
    #[cfg(unix)]
    std::os::unix::fs::symlink(&tree, tree.join("x/loop")).expect("symlink");

    let walked = logs("folder-walk-run").arg("--json").arg(&tree).run();
    walked.expect_code(0, "a folder tree of captures");
    assert_eq!(walked.summary()["files"].as_u64(), Some(3));
    let mut named = logs("folder-walk-named");
    for f in &files {
        named = named.arg(f);
    }
    let named = named.run();
    named.expect_code(0, "the same files named one by one");
    assert_same_rows(
        &walked.content(),
        &named.content(),
        "folder walk vs. files named",
    );
    for log in ["dns", "irc", "http"] {
        assert!(!walked.lines(log).is_empty(), "{log}.log from the tree");
    }
}

#[test]
fn stdin_reads_a_capture() {
    let Some(p) = shared(HTTP_PCAP) else { return };
    let file = logs("stdin-file").arg(&p).run();
    file.expect_code(0, "the capture as a file");
    let piped = logs("stdin-pipe").arg("-").stdin(read(&p)).run();
    piped.expect_code(0, "the capture piped into '-'");
    assert!(!piped.lines("http").is_empty());
    assert_same_rows(
        &piped.content_without_uid(),
        &file.content_without_uid(),
        "stdin vs. file",
    );
}

#[test]
fn stdin_with_broken_or_no_data_is_exit_1() {
    let Some(p) = shared(HTTP_PCAP) else { return };
    let full = read(&p);
    let recs = pcap_records(&full);
    let r = logs("stdin-empty").arg("-").stdin(Vec::new()).run();
    r.expect_code(1, "nothing on stdin");
    let cut = recs[10];
    let r = logs("stdin-cut")
        .arg("--json")
        .arg("-")
        .stdin(full[..cut.off + 5].to_vec())
        .run();
    r.expect_code(1, "a truncated capture on stdin");
    assert!(
        r.stderr.contains(&format!("at byte offset {}", cut.off)),
        "the stdin error names the offset\n{}",
        r.stderr
    );
    assert_eq!(r.packets(), 10);
}

/// gzip, xz and zstd captures are read whatever their name, stdin too,
/// with the rows of the plain file; an uncompressed file named `.gz` is
/// read as what it is.
#[test]
fn compressed_captures_are_read_whatever_their_name() {
    let (Some(http), Some(ng)) = (shared(HTTP_PCAP), shared(PCAPNG)) else {
        return;
    };
    let dir = temp_dir("compressed");
    for src in [&http, &ng] {
        let plain = read(src);
        let base = logs("compressed-base").arg(src).run();
        base.expect_code(0, "the plain file");
        let want = base.content_without_uid();
        assert!(total_rows(&want) > 0);
        let mut cases: Vec<(String, Vec<u8>)> = vec![("plain-named.pcap.gz".into(), plain.clone())];
        for (tool, ext) in [("gzip", "gz"), ("xz", "xz"), ("zstd", "zst")] {
            if !have_tool(tool) {
                eprintln!("SKIP: {tool} not installed, .{ext} case not tested");
                continue;
            }
            let z = compress(tool, &plain);
            cases.push((format!("capture.{ext}"), z.clone()));
            cases.push((format!("{tool}-named-plain.pcap"), z.clone()));
            cases.push((format!("{tool}-no-extension"), z.clone()));
            cases.push((format!("{tool}-named.bz2"), z));
        }
        let stem = src.file_stem().expect("stem").to_string_lossy().to_string();
        for (i, (name, bytes)) in cases.iter().enumerate() {
            let f = write(&dir, format!("{stem}-{name}"), bytes);
            let r = logs(&format!("compressed-{stem}-{i}")).arg(&f).run();
            r.expect_code(0, name);
            assert_same_rows(&r.content_without_uid(), &want, name);
        }
        if have_tool("gzip") {
            let z = compress("gzip", &plain);
            let r = logs("compressed-stdin").arg("-").stdin(z).run();
            r.expect_code(0, "gzip on stdin");
            assert_same_rows(&r.content_without_uid(), &want, "gzip on stdin");
        }
    }
}

/// Compressed streams cut short or corrupted: exit 1, the file named, no
/// crash.
#[test]
fn broken_compressed_captures_are_exit_1() {
    let Some(p) = shared(HTTP_PCAP) else { return };
    let plain = read(&p);
    let dir = temp_dir("compressed-broken");
    let mut tried = 0;
    for tool in ["gzip", "xz", "zstd"] {
        if !have_tool(tool) {
            eprintln!("SKIP: {tool} not installed");
            continue;
        }
        let z = compress(tool, &plain);
        let mut corrupt = z.clone();
        let mid = corrupt.len() / 2;
        for b in &mut corrupt[mid..mid + 16] {
            *b ^= 0x5a;
        }
        let cases = [
            ("cut-in-half", z[..z.len() / 2].to_vec()),
            ("cut-in-header", z[..8.min(z.len())].to_vec()),
            ("corrupt-middle", corrupt),
        ];
        for (what, bytes) in cases {
            let f = write(&dir, format!("{tool}-{what}.pcap"), &bytes);
            let r = logs(&format!("compressed-broken-{tool}-{what}"))
                .arg(&f)
                .run();
            r.expect_code(1, &format!("{tool} {what}"));
            r.expect_error_naming(&f, &format!("{tool} {what}"));
            tried += 1;
        }
    }
    if tried == 0 {
        eprintln!("SKIP: no compressor installed");
    }
}

/// File names a shell user can create: spaces, a tab, a newline, a
/// non-UTF-8 byte. No crash, the logs stay well-formed TSV (the name in
/// weird.log is escaped), and the good file is decoded.
#[cfg(unix)]
#[test]
fn odd_file_names() {
    use std::os::unix::ffi::OsStringExt;
    let Some(p) = shared(DNS_PCAP) else { return };
    let good = read(&p);
    let dir = temp_dir("odd-names");
    let names: Vec<OsString> = vec![
        "with space.pcap".into(),
        "with\ttab.pcap".into(),
        "with\nnewline.pcap".into(),
        OsString::from_vec(b"latin1-\xe9t\xe9.pcap".to_vec()),
        "-dash-first.pcap".into(),
    ];
    for (i, name) in names.iter().enumerate() {
        let f = write(&dir, name, &good);
        let r = logs(&format!("odd-names-good-{i}")).arg(&f).run();
        r.expect_code(0, &format!("a capture named {name:?}"));
        assert!(!r.lines("dns").is_empty(), "{name:?}: dns rows");
        let mut cut_name = name.clone();
        cut_name.push(".cut");
        let broken = write(&dir, &cut_name, &good[..30]);
        let r = logs(&format!("odd-names-broken-{i}")).arg(&broken).run();
        r.expect_code(1, &format!("a cut capture named {name:?}"));
        check_tsv_framing(&r.out);
    }
}

/// Unusual but valid captures: big-endian and nanosecond pcaps, an
/// unknown pcapng block between packets, a header-only pcap, unsupported
/// link type. All are read completely (exit 0).
#[test]
fn unusual_valid_captures() {
    let (Some(p), Some(ng)) = (shared(HTTP_PCAP), shared(PCAPNG)) else {
        return;
    };
    let dir = temp_dir("unusual-valid");
    let full = read(&p);
    let recs = pcap_records(&full);
    let base = logs("unusual-base").arg(&p).run();
    let want = base.content_without_uid();

    // Big-endian: every header field byte-swapped.
    let mut be = full.clone();
    be[..4].copy_from_slice(&[0xa1, 0xb2, 0xc3, 0xd4]);
    for at in [4usize, 6] {
        be[at..at + 2].reverse();
    }
    for at in [8usize, 12, 16, 20] {
        be[at..at + 4].reverse();
    }
    for r in &recs {
        for k in 0..4 {
            be[r.off + 4 * k..r.off + 4 * k + 4].reverse();
        }
    }
    // Nanosecond timestamps.
    let mut ns = full.clone();
    ns[..4].copy_from_slice(&[0x4d, 0x3c, 0xb2, 0xa1]);
    for r in &recs {
        let us = le32(&full, r.off + 4);
        ns[r.off + 4..r.off + 8].copy_from_slice(&(us * 1000).to_le_bytes());
    }
    for (name, bytes) in [("big-endian.pcap", be), ("nanosecond.pcap", ns)] {
        let f = write(&dir, name, &bytes);
        let r = logs(&format!("unusual-{name}")).arg(&f).run();
        r.expect_code(0, name);
        assert_same_rows(&r.content_without_uid(), &want, name);
    }

    // An unknown (custom) pcapng block between two packet blocks.
    let ngb = read(&ng);
    let blocks = pcapng_blocks(&ngb);
    let ng_base = logs("unusual-ng-base").arg(&ng).run();
    let at = blocks[blocks.len() / 2].off;
    let mut custom = Vec::new();
    custom.extend(0x4000_0bad_u32.to_le_bytes());
    custom.extend(20u32.to_le_bytes());
    custom.extend([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
    custom.extend(20u32.to_le_bytes());
    let mut with_custom = ngb[..at].to_vec();
    with_custom.extend(&custom);
    with_custom.extend(&ngb[at..]);
    let f = write(&dir, "custom-block.pcapng", &with_custom);
    let r = logs("unusual-custom-block").arg(&f).run();
    r.expect_code(0, "an unknown pcapng block");
    assert_same_rows(
        &r.content_without_uid(),
        &ng_base.content_without_uid(),
        "an unknown pcapng block",
    );

    // Header only: an empty but complete capture.
    let f = write(&dir, "header-only.pcap", &full[..24]);
    let r = logs("unusual-header-only").arg("--json").arg(&f).run();
    r.expect_code(0, "a header-only pcap");
    assert_eq!(r.packets(), 0);

    // A link type we do not decode (USER0): read completely, nothing
    // decoded, and said: a file error naming the link type (exit 1) and
    // a weird row, never a silent zero (issue 13).
    let mut user0 = full.clone();
    user0[20..24].copy_from_slice(&147u32.to_le_bytes());
    let f = write(&dir, "linktype-user0.pcap", &user0);
    let r = logs("unusual-user0").arg(&f).run();
    r.expect_code(1, "a pcap of an unsupported link type");
    assert!(r.lines("conn").is_empty());
    assert!(
        r.stderr.contains("linktype-user0.pcap") && r.stderr.contains("unsupported link type 147"),
        "{}",
        r.stderr
    );
    assert!(
        r.lines("weird")
            .iter()
            .any(|l| l.contains("unsupported_link_type")),
        "{:?}",
        r.lines("weird")
    );
}

// ---------------------------------------------------------------------------
// Output formats
// ---------------------------------------------------------------------------

/// Inputs covering every log, plus a broken file for weird.log.
fn every_log_inputs(tag: &str) -> Option<(Vec<PathBuf>, PathBuf)> {
    let mut v = Vec::new();
    for n in [HTTP_PCAP, SMTP_PCAP, DNS_PCAP, TLS_PCAP, IRC_PCAP] {
        v.push(shared(n)?);
    }
    let full = read(&v[0]);
    let recs = pcap_records(&full);
    let dir = temp_dir(tag);
    let broken = write(&dir, "broken.pcap", &full[..recs[7].off + 3]);
    Some((v, broken))
}

#[test]
fn json_format_every_line_parses_with_zeek_keys() {
    let Some((inputs, broken)) = every_log_inputs("json-format-inputs") else {
        return;
    };
    let mut l = logs("json-format").arg("--format").arg("json");
    for i in inputs.iter().chain([&broken]) {
        l = l.arg(i);
    }
    let r = l.run();
    r.expect_code(1, "every log's captures + one broken file");
    let logs_json = read_json_logs(&r.out);
    for log in CONTENT_LOGS.iter().chain(&["weird"]) {
        let rows = logs_json
            .get(*log)
            .unwrap_or_else(|| panic!("no {log}.log"));
        assert!(!rows.is_empty(), "{log}.log is empty");
        for row in rows {
            let o = row.as_object().expect("object");
            assert!(o.contains_key("ts"), "{log}.log row without ts: {row}");
            assert!(
                !o.contains_key("id"),
                "{log}.log: id must be flattened to id.orig_h...: {row}"
            );
            if *log != "weird" {
                for k in ["uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"] {
                    assert!(o.contains_key(k), "{log}.log row without {k}: {row}");
                }
            }
        }
    }
    let conn = &logs_json["conn"];
    assert!(conn.iter().all(|c| c.get("proto").is_some()));
    let weird = &logs_json["weird"];
    assert!(
        weird.iter().any(|w| {
            common::jstr(w, "name") == "capture_read_error"
                && (common::jstr(w, "source").contains("broken.pcap")
                    || common::jstr(w, "addl").contains("broken.pcap"))
        }),
        "weird.log (JSON) names the broken file: {weird:?}"
    );
}

#[test]
fn json_summary_on_stdout() {
    let Some((inputs, broken)) = every_log_inputs("json-summary-inputs") else {
        return;
    };
    let mut l = logs("json-summary").arg("--json");
    for i in inputs.iter().chain([&broken]) {
        l = l.arg(i);
    }
    let r = l.run();
    r.expect_code(1, "captures + one broken file");
    assert_eq!(
        r.stdout.trim().lines().count(),
        1,
        "stdout is only the summary:\n{}",
        r.stdout
    );
    let s = r.summary();
    for k in ["files", "packets", "bytes", "connections", "rows", "errors"] {
        assert!(s.get(k).is_some(), "summary without {k}: {s}");
    }
    assert_eq!(s["files"].as_u64(), Some(inputs.len() as u64 + 1));
    assert!(s["packets"].as_u64().is_some_and(|n| n > 0));
    assert!(s["bytes"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(
        s["connections"].as_u64(),
        Some(r.lines("conn").len() as u64),
        "connections = conn.log rows"
    );
    let rows = s["rows"].as_object().expect("rows is an object");
    for log in CONTENT_LOGS {
        assert_eq!(
            rows.get(*log).and_then(serde_json::Value::as_u64),
            Some(r.lines(log).len() as u64),
            "summary rows.{log} = {log}.log rows"
        );
    }
    let errors = s["errors"].as_array().expect("errors is an array");
    assert_eq!(errors.len(), 1, "one broken file: {errors:?}");
    let e = errors[0].as_str().expect("error is a string");
    assert!(
        e.contains(&broken.display().to_string()) && e.contains("at byte offset"),
        "the error names the file and offset: {e}"
    );

    // A clean run: no errors.
    let r = logs("json-summary-clean")
        .arg("--json")
        .arg(&inputs[0])
        .run();
    r.expect_code(0, "one good capture");
    assert_eq!(r.summary()["errors"].as_array().map(Vec::len), Some(0));
}

#[test]
fn zeek_tsv_framing() {
    let Some((inputs, broken)) = every_log_inputs("tsv-framing-inputs") else {
        return;
    };
    let mut l = logs("tsv-framing");
    for i in inputs.iter().chain([&broken]) {
        l = l.arg(i);
    }
    let r = l.run();
    r.expect_code(1, "captures + one broken file");
    let n = check_tsv_framing(&r.out);
    assert!(
        n >= 7,
        "expected conn, http, smtp, dns, ssl, irc, weird; got {n}"
    );
}

// ---------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------

/// Log bytes without the `#open`/`#close` lines.
fn without_timestamps(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("#open\t") && !l.starts_with("#close\t"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn two_runs_on_one_file_are_byte_identical() {
    let Some(p) = shared("protocol-pcaps/sanders-ppa1e-http.cap") else {
        return;
    };
    let a = logs("determinism-1a").arg(&p).run();
    let b = logs("determinism-1b").arg(&p).run();
    a.expect_code(0, "first run");
    b.expect_code(0, "second run");
    for log in ["conn", "http", "dns"] {
        let (x, y) = (
            without_timestamps(&a.log_path(log)),
            without_timestamps(&b.log_path(log)),
        );
        assert!(!x.is_empty(), "{log}.log has rows");
        assert!(x == y, "{log}.log differs between two runs");
    }
}

#[test]
fn two_runs_on_a_folder_give_the_same_rows() {
    let Some(dir) = data_dir() else { return };
    let folder = dir.join("protocol-pcaps");
    let a = logs("determinism-folder-a").arg(&folder).run();
    let b = logs("determinism-folder-b")
        .arg("-j")
        .arg("1")
        .arg(&folder)
        .run();
    assert_eq!(a.code, b.code, "same exit status");
    assert_same_rows(&a.content(), &b.content(), "two runs on protocol-pcaps/");
    assert!(total_rows(&a.content()) > 0);
}
