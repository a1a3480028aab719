//! Drop folders: every new or changed file under a watched folder is
//! ingested once it has stopped changing.
//!
//! inotify (through `notify`) says when something happens; a walk of the
//! folders every [`ServeConfig::rescan`](crate::ServeConfig::rescan)
//! catches what it cannot say (network file systems, an overflowed event
//! queue, files that were there before the start). A file is read when its
//! size and modification time have held for
//! [`ServeConfig::settle`](crate::ServeConfig::settle), so a capture still
//! being copied in is not read half-way. Ingest recognises each file by
//! content and skips content already in the store (its inputs' hashes),
//! so a file seen twice, or renamed, adds nothing. Files that are not
//! inputs are counted and not read again until they change. Hidden files
//! (`.name`, the usual partial-upload names) and Maildir `tmp/` are left
//! alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use botscope_store::ingest::Status as IngestStatus;
use botscope_store::{IngestConfig, Store};
use notify::{RecursiveMode, Watcher};

use crate::State;

/// Most files tracked at once (pending plus seen); beyond it the oldest
/// seen entries are forgotten (their content is in the store's inputs anyway).
pub const MAX_TRACKED: usize = 1_000_000;
/// Deepest folder nesting walked.
const MAX_DEPTH: usize = 32;

type Stamp = (u64, Option<SystemTime>);

fn stamp(p: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(p).ok()?;
    m.is_file().then(|| (m.len(), m.modified().ok()))
}

fn hidden(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Every file under `dir` (not following links to folders).
fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH || out.len() >= MAX_TRACKED {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if hidden(&p) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&p, depth + 1, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

struct Tracker {
    /// Files waiting to settle: their last stamp and when it last changed.
    pending: HashMap<PathBuf, (Stamp, Instant)>,
    /// Files handled, with the stamp they had.
    seen: HashMap<PathBuf, Stamp>,
}

impl Tracker {
    fn offer(&mut self, p: PathBuf, store: &Path) {
        if hidden(&p) || p.starts_with(store) {
            return;
        }
        let Some(s) = stamp(&p) else {
            if p.is_dir() {
                let mut files = Vec::new();
                walk(&p, 0, &mut files);
                for f in files {
                    self.offer(f, store);
                }
            }
            return;
        };
        if self.seen.get(&p) == Some(&s) {
            return;
        }
        match self.pending.get_mut(&p) {
            Some(e) if e.0 == s => {}
            Some(e) => *e = (s, Instant::now()),
            None => {
                if self.pending.len() < MAX_TRACKED {
                    self.pending.insert(p, (s, Instant::now()));
                }
            }
        }
    }

    /// Files whose stamp has held for `settle` (stamps checked again).
    fn settled(&mut self, settle: Duration) -> Vec<PathBuf> {
        let now = Instant::now();
        let mut ready = Vec::new();
        self.pending.retain(|p, (s, since)| match stamp(p) {
            None => false,
            Some(now_s) if now_s != *s => {
                *s = now_s;
                *since = now;
                true
            }
            Some(_) if now.duration_since(*since) >= settle => {
                ready.push((p.clone(), *s));
                false
            }
            Some(_) => true,
        });
        if self.seen.len() + ready.len() > MAX_TRACKED {
            self.seen.clear();
        }
        for (p, s) in &ready {
            self.seen.insert(p.clone(), *s);
        }
        ready.sort();
        ready.into_iter().map(|(p, _)| p).collect()
    }
}

/// Watch the configured folders until the service stops.
pub fn watch_loop(state: Arc<State>) {
    let cfg = &state.cfg;
    let store_dir = std::path::absolute(&cfg.store).unwrap_or_else(|_| cfg.store.clone());
    let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = match notify::recommended_watcher(move |ev| {
        let _ = tx.send(ev);
    }) {
        Ok(w) => Some(w),
        Err(e) => {
            cfg.log(&format!(
                "watch: no file events ({e}); folders are walked every {} s",
                cfg.rescan.as_secs()
            ));
            None
        }
    };
    let dirs: Vec<PathBuf> = cfg
        .watch
        .iter()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .collect();
    for d in &dirs {
        if let Some(w) = watcher.as_mut() {
            if let Err(e) = w.watch(d, RecursiveMode::Recursive) {
                cfg.log(&format!("watch: {}: {e}", d.display()));
            }
        }
    }
    let mut t = Tracker {
        pending: HashMap::new(),
        seen: HashMap::new(),
    };
    let mut last_walk: Option<Instant> = None;
    while !state.stop.load(Ordering::SeqCst) {
        if last_walk.is_none_or(|w| w.elapsed() >= cfg.rescan) {
            for d in &dirs {
                let mut files = Vec::new();
                walk(d, 0, &mut files);
                for f in files {
                    t.offer(f, &store_dir);
                }
            }
            last_walk = Some(Instant::now());
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(ev)) => {
                for p in ev.paths {
                    t.offer(p, &store_dir);
                }
                while let Ok(Ok(ev)) = rx.try_recv() {
                    for p in ev.paths {
                        t.offer(p, &store_dir);
                    }
                }
            }
            Ok(Err(e)) => {
                // An overflowed queue: walk again now.
                cfg.log(&format!("watch: {e}; walking the folders again"));
                last_walk = None;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                crate::snapshot::sleep_unless_stopped(&state, Duration::from_millis(200));
            }
        }
        let ready = t.settled(cfg.settle);
        if !ready.is_empty() {
            ingest(&state, &ready);
        }
    }
    drop(watcher);
}

/// Ingest `files` (other writers, the trap's feed or a `botscope ingest`
/// elsewhere, may commit to the store at the same time).
fn ingest(state: &State, files: &[PathBuf]) {
    let cfg = &state.cfg;
    let store = match Store::open(&cfg.store) {
        Ok(s) => s,
        Err(e) => {
            let m = format!("watch: cannot open the store: {e}; will try again");
            cfg.log(&m);
            state.with_status(|s| {
                s.watch_failed += files.len() as u64;
                s.watch_last_error = Some(m);
            });
            return;
        }
    };
    let icfg = IngestConfig {
        mail: cfg.mail.clone(),
        ..IngestConfig::default()
    };
    let report = botscope_store::ingest(&store, files, &icfg, &|_| {});
    drop(store);
    state.with_status(|s| {
        for f in &report.files {
            match &f.status {
                IngestStatus::Added(rows) => {
                    s.watch_ingested += 1;
                    let n: u64 = rows.values().sum();
                    cfg.log(&format!("ingested {} ({n} rows)", f.path));
                }
                IngestStatus::AlreadyIngested | IngestStatus::Duplicate(_) => s.watch_already += 1,
                IngestStatus::NotRecognised | IngestStatus::MailNeedsAnalyser => {
                    s.watch_not_inputs += 1
                }
                IngestStatus::Failed(e) => {
                    s.watch_failed += 1;
                    s.watch_last_error = Some(e.clone());
                    cfg.log(&format!("watch: {e}"));
                }
            }
            if let Some(e) = f.errors.first() {
                s.watch_last_error = Some(e.clone());
            }
        }
        for e in &report.errors {
            s.watch_failed += 1;
            s.watch_last_error = Some(e.clone());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_ready_once_it_stops_changing_and_only_once() {
        let dir = std::env::temp_dir().join(format!("botscope-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let store = dir.join("store");
        std::fs::create_dir_all(&store).unwrap();
        let f = dir.join("sub/a.pcap");
        std::fs::write(&f, b"1").unwrap();
        std::fs::write(dir.join(".partial"), b"1").unwrap();
        std::fs::write(store.join("_ledger.jsonl"), b"").unwrap();
        let mut t = Tracker {
            pending: HashMap::new(),
            seen: HashMap::new(),
        };
        t.offer(dir.clone(), &store);
        assert_eq!(t.pending.len(), 1, "hidden files and the store are skipped");
        assert!(
            t.settled(Duration::from_secs(60)).is_empty(),
            "not settled yet"
        );
        // It grows: the clock starts again.
        std::fs::write(&f, b"12").unwrap();
        assert!(t.settled(Duration::ZERO).is_empty());
        assert_eq!(t.settled(Duration::ZERO), vec![f.clone()]);
        t.offer(f.clone(), &store);
        assert!(t.pending.is_empty(), "unchanged since it was handled");
        std::fs::write(&f, b"123").unwrap();
        t.offer(f.clone(), &store);
        assert_eq!(t.pending.len(), 1, "changed: offered again");
        std::fs::remove_dir_all(&dir).ok();
    }
}
