//! Helpers shared by the world tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use botscope_sim::{load_scenario, simulate, SimOptions, SimSummary};
use chrono::NaiveDate;

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A fresh folder under the temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("botscope-sim-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        TempDir(d)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Simulate winter-2010 into a new folder.
pub fn winter(tag: &str, opts: SimOptions) -> (TempDir, SimSummary) {
    let s = load_scenario("winter-2010").unwrap();
    let dir = TempDir::new(tag);
    let sum = simulate(&s, &opts, dir.path()).unwrap();
    (dir, sum)
}

/// Rows of a CSV file (header first), with quoted fields undone.
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

/// The column index of `name` in a header row.
pub fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// Split an mboxrd file into messages (without their `From ` line), with
/// the `>From` quoting undone.
pub fn mbox_messages(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut prev_blank = true;
    for line in data.split_inclusive(|b| *b == b'\n') {
        if prev_blank && line.starts_with(b"From ") {
            if let Some(last) = out.last_mut() {
                // Drop the separating blank line.
                last.pop();
            }
            out.push(Vec::new());
            prev_blank = false;
            continue;
        }
        prev_blank = line == b"\n";
        let Some(cur) = out.last_mut() else { continue };
        let quotes = line.iter().take_while(|b| **b == b'>').count();
        if quotes > 0 && line[quotes..].starts_with(b"From ") {
            cur.extend_from_slice(&line[1..]);
        } else {
            cur.extend_from_slice(line);
        }
    }
    if let Some(last) = out.last_mut() {
        last.pop();
    }
    out
}

/// Header (name, unfolded value) pairs of a message.
pub fn headers(msg: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(msg);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.to_string(), v.trim().to_string()));
        }
    }
    out
}
