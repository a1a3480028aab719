//! `--extract-files DIR`: the files a capture carried (HTTP bodies, mail
//! attachments, FTP transfers), written to disk as Zeek's `extract-all-files`
//! policy does, named `extract-<ts>-<source>-<fuid>`, and listed in
//! `files.log` (`extracted`, `extracted_cutoff`, `extracted_size`).
//!
//! What a capture carries is attacker-controlled: names never come from
//! the traffic (only the file id), files are created new (never over an
//! existing one) without execute permission, and every cap is counted:
//! bytes per file ([`Limits::max_file_bytes`]; the rest is cut, as Zeek's
//! `extract_limit`), files per run and bytes per run (beyond them a file
//! is not written at all). A file is written under a temporary name and
//! renamed when complete, so a reader never sees half a file under its
//! final name.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use botscope_event::Ts;

/// Caps on extraction, with their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes written per file; the rest is cut (`extracted_cutoff`).
    /// Default 64 MiB.
    pub max_file_bytes: u64,
    /// Files written per run; later files are not written. Default 10,000.
    pub max_files: u64,
    /// Bytes written per run; a file that would pass it is cut there.
    /// Default 4 GiB.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 << 20,
            max_files: 10_000,
            max_total_bytes: 4 << 30,
        }
    }
}

/// What extraction did in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    /// Files cut by the per-file or per-run byte cap.
    pub cut: u64,
    /// Files not written: the file count cap was reached.
    pub refused: u64,
    /// Files lost to I/O errors (the first error is kept).
    pub errors: u64,
}

/// Writes the files of one run into one folder (shared by every thread).
#[derive(Debug)]
pub struct Extractor {
    dir: PathBuf,
    limits: Limits,
    started: AtomicU64,
    files: AtomicU64,
    bytes: AtomicU64,
    cut: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
    seq: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

/// A file written: its name in the folder, whether it was cut, its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    pub name: String,
    pub cutoff: bool,
    pub size: u64,
}

impl Extractor {
    /// Extract into `dir` (created if missing).
    pub fn new(dir: &Path, limits: Limits) -> std::io::Result<Extractor> {
        std::fs::create_dir_all(dir)?;
        Ok(Extractor {
            dir: dir.to_path_buf(),
            limits,
            started: AtomicU64::new(0),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            cut: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            first_error: std::sync::Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stats(&self) -> Stats {
        Stats {
            files: self.files.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            cut: self.cut.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    /// The first I/O error met, naming the file.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }

    /// Start a file; `None` when the file count cap is reached (counted).
    pub fn begin(self: &Arc<Self>) -> Option<Sink> {
        if self.started.fetch_add(1, Ordering::Relaxed) >= self.limits.max_files {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".partial-{}-{n}", std::process::id()));
        Some(Sink {
            ex: Arc::clone(self),
            tmp,
            file: None,
            written: 0,
            cutoff: false,
            failed: false,
        })
    }

    /// Write a file held whole in memory.
    pub fn write_whole(
        self: &Arc<Self>,
        data: &[u8],
        ts: Ts,
        source: &str,
        fuid: &str,
    ) -> Option<Extracted> {
        let mut s = self.begin()?;
        s.write(data);
        s.finish(ts, source, fuid)
    }

    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.first_error.lock() {
            e.get_or_insert(what);
        }
    }
}

/// One file being written.
#[derive(Debug)]
pub struct Sink {
    ex: Arc<Extractor>,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
    written: u64,
    cutoff: bool,
    failed: bool,
}

impl Sink {
    /// Append bytes (cut at the caps).
    pub fn write(&mut self, data: &[u8]) {
        if data.is_empty() || self.failed || self.cutoff {
            return;
        }
        let room = self.ex.limits.max_file_bytes.saturating_sub(self.written);
        let mut n = (data.len() as u64).min(room);
        // Reserve the bytes against the run's cap.
        let before = self.ex.bytes.fetch_add(n, Ordering::Relaxed);
        let run_room = self.ex.limits.max_total_bytes.saturating_sub(before);
        if n > run_room {
            self.ex.bytes.fetch_sub(n - run_room, Ordering::Relaxed);
            n = run_room;
        }
        if n < data.len() as u64 {
            self.cutoff = true;
        }
        if n == 0 {
            return;
        }
        if self.file.is_none() {
            match open_new(&self.tmp) {
                Ok(f) => self.file = Some(BufWriter::with_capacity(64 * 1024, f)),
                Err(e) => return self.fail(e),
            }
        }
        let chunk = data.get(..n as usize).unwrap_or_default();
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(chunk) {
                return self.fail(e);
            }
        }
        self.written += n;
    }

    /// Bytes the capture did not hold: written as zeros (the file keeps
    /// its offsets, as Zeek's extraction leaves holes).
    pub fn gap(&mut self, len: u64) {
        const ZEROS: [u8; 8192] = [0; 8192];
        let mut left = len;
        while left > 0 && !self.cutoff && !self.failed {
            let n = left.min(ZEROS.len() as u64);
            self.write(&ZEROS[..n as usize]);
            left -= n;
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        self.failed = true;
        self.file = None;
        let _ = std::fs::remove_file(&self.tmp);
        self.ex.error(format!("{}: {e}", self.tmp.display()));
    }

    /// Close the file and give it its name; `None` if nothing was written
    /// or it failed.
    pub fn finish(mut self, ts: Ts, source: &str, fuid: &str) -> Option<Extracted> {
        let mut f = self.file.take()?;
        if let Err(e) = f.flush() {
            self.fail(e);
            return None;
        }
        drop(f);
        let safe = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(32)
                .collect()
        };
        let name = format!("extract-{ts}-{}-{}", safe(source), safe(fuid));
        if let Err(e) = std::fs::rename(&self.tmp, self.ex.dir.join(&name)) {
            self.fail(e);
            return None;
        }
        self.ex.files.fetch_add(1, Ordering::Relaxed);
        if self.cutoff {
            self.ex.cut.fetch_add(1, Ordering::Relaxed);
        }
        Some(Extracted {
            name,
            cutoff: self.cutoff,
            size: self.written,
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // Not finished (the connection ended without its file, or the file
        // failed): leave nothing behind.
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn open_new(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o640);
    }
    o.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("botscope-extract-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn caps_are_kept_and_counted() {
        let d = tmpdir("caps");
        let ex = Arc::new(
            Extractor::new(
                &d,
                Limits {
                    max_file_bytes: 10,
                    max_files: 2,
                    max_total_bytes: 15,
                },
            )
            .unwrap(),
        );
        let a = ex
            .write_whole(b"0123456789abc", Ts(1_000_000), "HTTP", "Fa")
            .unwrap();
        assert_eq!((a.size, a.cutoff), (10, true));
        assert_eq!(a.name, "extract-1.000000-HTTP-Fa");
        let b = ex
            .write_whole(b"0123456789", Ts(0), "SMTP", "Fb/../x")
            .unwrap();
        assert_eq!((b.size, b.cutoff), (5, true), "the run's byte cap");
        assert_eq!(b.name, "extract-0.000000-SMTP-Fbx");
        assert!(ex.write_whole(b"x", Ts(0), "SMTP", "Fc").is_none());
        let s = ex.stats();
        assert_eq!(
            (s.files, s.bytes, s.cut, s.refused, s.errors),
            (2, 15, 2, 1, 0)
        );
        assert_eq!(std::fs::read(d.join(&a.name)).unwrap(), b"0123456789");
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn unfinished_files_leave_nothing() {
        let d = tmpdir("drop");
        let ex = Arc::new(Extractor::new(&d, Limits::default()).unwrap());
        let mut s = ex.begin().unwrap();
        s.write(b"abc");
        s.gap(3);
        drop(s);
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        let mut s = ex.begin().unwrap();
        s.write(b"ab");
        s.gap(2);
        s.write(b"c");
        let e = s.finish(Ts(0), "FTP_DATA", "Fz").unwrap();
        assert_eq!(std::fs::read(d.join(e.name)).unwrap(), b"ab\0\0c");
        let _ = std::fs::remove_dir_all(&d);
    }
}
