//! SHA-256 of large bodies on a helper thread.
//!
//! Hashing downloads was a fifth of the analysing thread's time (SHA-NI
//! already: the bytes are many). A body that grows past
//! [`OFFLOAD_AFTER`] hands its hash state to one process-wide hashing
//! thread and sends the rest of its bytes there in [`CHUNK`]-sized
//! copies; the analysing thread goes on. When the body ends, its event
//! fields get a placeholder ([`placeholder`]) that the engine's ordered
//! sink replaces by the hex digest before the event leaves, holding
//! later events back so that rows keep their order
//! (`botscope_engine::app`). The hash is the same as hashing inline.
//!
//! Only when asked ([`crate::ProtoConfig::offload_hashes`]: `botscope
//! logs` asks when its workers leave a core idle; the engine's handler
//! resolves the placeholders) and when the machine has more than one
//! core; otherwise bodies hash inline. On a machine whose cores are all
//! analysing, the helper would only add its copies and wake-ups.
//!
//! Bounded: at most [`QUEUE`] chunks wait for the thread (the analysing
//! thread blocks beyond: back-pressure), at most [`MAX_ACTIVE`] bodies
//! hash there at once (each filling one chunk), and finished digests not yet
//! read are capped at [`MAX_DONE`] (the oldest dropped: a placeholder
//! whose digest was dropped resolves to no hash, never to a wait).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use sha2::{Digest, Sha256};

/// Bodies longer than this hash on the helper thread.
pub const OFFLOAD_AFTER: u64 = 64 * 1024;
/// Bytes copied per message to the helper thread.
pub const CHUNK: usize = 64 * 1024;
/// Chunks queued for the helper thread before senders wait.
pub const QUEUE: usize = 64;
/// Finished digests kept until read.
pub const MAX_DONE: usize = 65_536;
/// Bodies hashing on the helper thread at once, each holding a chunk
/// buffer being filled; beyond, a body hashes inline (many concurrent
/// large downloads cannot make the buffers grow without bound).
pub const MAX_ACTIVE: usize = 256;

/// Marks a placeholder: never the first byte of a hex digest.
const MARK: &str = "\u{1}sha256:";

enum Job {
    Start(u64, Box<Sha256>),
    Data(u64, Vec<u8>),
    Finish(u64, u8),
    Cancel(u64),
}

#[derive(Default)]
struct State {
    /// Started, not yet finished or cancelled.
    open: HashSet<u64>,
    /// Finished: digest and how many placeholders still refer to it.
    done: HashMap<u64, ([u8; 32], u8)>,
    /// Finish order of `done` (may hold ids already read).
    order: VecDeque<u64>,
    /// The thread stopped: nothing open will finish.
    dead: bool,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    /// Chunk buffers hashed and given back, for the next chunks: a fresh
    /// buffer per chunk cost a page fault per 4 KiB (memory the
    /// allocator had returned), more than the copy.
    spare: Mutex<Vec<Vec<u8>>>,
}

impl Shared {
    fn buffer(&self) -> Vec<u8> {
        self.spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_else(|| Vec::with_capacity(CHUNK))
    }

    fn give_back(&self, mut b: Vec<u8>) {
        b.clear();
        if let Ok(mut s) = self.spare.lock() {
            // Every chunk in the queue, one per sender being filled, and
            // a few more.
            if s.len() < QUEUE + 16 {
                s.push(b);
            }
        }
    }
}

struct Hasher {
    tx: SyncSender<Job>,
    shared: Arc<Shared>,
    next: std::sync::atomic::AtomicU64,
}

static HASHER: OnceLock<Option<Hasher>> = OnceLock::new();

/// Bodies handed to the helper thread since the process started.
static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Bodies being hashed there now ([`MAX_ACTIVE`]).
static ACTIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many bodies have been hashed (or are being hashed) on the helper
/// thread in this process.
pub fn offloaded() -> u64 {
    STARTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The helper thread, started on first use; `None` on a single core or
/// when no thread can be started.
fn hasher() -> Option<&'static Hasher> {
    HASHER
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if cores < 2 {
                return None;
            }
            let shared = Arc::new(Shared {
                state: Mutex::new(State::default()),
                cv: Condvar::new(),
                spare: Mutex::new(Vec::new()),
            });
            let (tx, rx) = sync_channel::<Job>(QUEUE);
            let s = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("botscope-sha256".into())
                .spawn(move || run(&rx, &s))
                .ok()?;
            Some(Hasher {
                tx,
                shared,
                next: std::sync::atomic::AtomicU64::new(1),
            })
        })
        .as_ref()
}

/// Marks the state dead when the thread ends, however it ends.
struct Dead<'a>(&'a Shared);

impl Drop for Dead<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        st.dead = true;
        st.open.clear();
        drop(st);
        self.0.cv.notify_all();
    }
}

fn run(rx: &std::sync::mpsc::Receiver<Job>, shared: &Shared) {
    let _dead = Dead(shared);
    let mut states: HashMap<u64, Box<Sha256>> = HashMap::new();
    for job in rx {
        match job {
            Job::Start(id, st) => {
                states.insert(id, st);
            }
            Job::Data(id, bytes) => {
                if let Some(st) = states.get_mut(&id) {
                    st.update(&bytes);
                }
                shared.give_back(bytes);
            }
            Job::Finish(id, uses) => {
                let digest: Option<[u8; 32]> = states.remove(&id).map(|st| st.finalize().into());
                let Ok(mut st) = shared.state.lock() else {
                    return;
                };
                // No state (its start was lost): no digest, but no one
                // waits for it either.
                st.open.remove(&id);
                let Some(digest) = digest else {
                    drop(st);
                    shared.cv.notify_all();
                    continue;
                };
                st.done.insert(id, (digest, uses.max(1)));
                st.order.push_back(id);
                while st.done.len() > MAX_DONE {
                    match st.order.pop_front() {
                        Some(old) => {
                            st.done.remove(&old);
                        }
                        None => break,
                    }
                }
                if st.order.len() > 2 * MAX_DONE {
                    let State { done, order, .. } = &mut *st;
                    order.retain(|i| done.contains_key(i));
                }
                drop(st);
                shared.cv.notify_all();
            }
            Job::Cancel(id) => {
                states.remove(&id);
                if let Ok(mut st) = shared.state.lock() {
                    st.open.remove(&id);
                }
                shared.cv.notify_all();
            }
        }
    }
}

/// A body's hash in progress on the helper thread.
pub struct Pending {
    id: u64,
    buf: Vec<u8>,
    hasher: &'static Hasher,
    finished: bool,
}

impl Pending {
    /// Hand `sha` (the bytes so far) to the helper thread; gives it back
    /// when there is none.
    pub fn start(sha: Sha256) -> Result<Pending, Sha256> {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(h) = hasher() else {
            return Err(sha);
        };
        if ACTIVE.fetch_add(1, Relaxed) >= MAX_ACTIVE {
            ACTIVE.fetch_sub(1, Relaxed);
            return Err(sha);
        }
        let id = h.next.fetch_add(1, Relaxed);
        match h.shared.state.lock() {
            Ok(mut st) if !st.dead => {
                st.open.insert(id);
            }
            _ => {
                ACTIVE.fetch_sub(1, Relaxed);
                return Err(sha);
            }
        }
        STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if h.tx.send(Job::Start(id, Box::new(sha))).is_err() {
            // The thread is gone and took the state with it: nothing to
            // give back. The caller hashes nothing more (no digest).
            if let Ok(mut st) = h.shared.state.lock() {
                st.open.remove(&id);
            }
        }
        Ok(Pending {
            id,
            buf: h.shared.buffer(),
            hasher: h,
            finished: false,
        })
    }

    pub fn update(&mut self, mut d: &[u8]) {
        while !d.is_empty() {
            let n = (CHUNK - self.buf.len()).min(d.len());
            let (now, rest) = d.split_at(n);
            self.buf.extend_from_slice(now);
            d = rest;
            if self.buf.len() >= CHUNK {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let bytes = std::mem::replace(&mut self.buf, self.hasher.shared.buffer());
        self.send(Job::Data(self.id, bytes));
    }

    fn send(&self, job: Job) {
        let _ = self.hasher.tx.send(job);
    }

    /// The body ended: the placeholder for its digest, to be put in
    /// `uses` event fields (each resolved once).
    pub fn finish(mut self, uses: u8) -> String {
        if !self.buf.is_empty() {
            let last = std::mem::take(&mut self.buf);
            self.send(Job::Data(self.id, last));
        }
        self.finished = true;
        self.send(Job::Finish(self.id, uses));
        placeholder(self.id)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.finished {
            self.send(Job::Cancel(self.id));
        }
        if self.buf.capacity() > 0 {
            self.hasher.shared.give_back(std::mem::take(&mut self.buf));
        }
        ACTIVE.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn placeholder(id: u64) -> String {
    format!("{MARK}{id}")
}

/// Whether `s` is a placeholder for a digest being computed.
pub fn is_placeholder(s: &str) -> bool {
    s.starts_with(MARK)
}

/// The digest a placeholder stands for, as lowercase hex: `Ok(Some)`
/// when done, `Ok(None)` when there will be none (the thread stopped, or
/// the digest was dropped unread), `Err(())` when still being computed
/// and `wait` is false. With `wait`, blocks until it is done.
#[allow(clippy::result_unit_err)]
pub fn resolve(s: &str, wait: bool) -> Result<Option<String>, ()> {
    let Some(id) = s.strip_prefix(MARK).and_then(|n| n.parse::<u64>().ok()) else {
        return Ok(None);
    };
    let Some(h) = hasher() else {
        return Ok(None);
    };
    let Ok(mut st) = h.shared.state.lock() else {
        return Ok(None);
    };
    loop {
        if let Some((digest, uses)) = st.done.get_mut(&id) {
            let hex = hex::encode(*digest);
            *uses = uses.saturating_sub(1);
            if *uses == 0 {
                st.done.remove(&id);
            }
            return Ok(Some(hex));
        }
        if st.dead || !st.open.contains(&id) {
            return Ok(None);
        }
        if !wait {
            return Err(());
        }
        st = match h.shared.cv.wait(st) {
            Ok(st) => st,
            Err(_) => return Ok(None),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap is process-wide: these tests take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn inline(parts: &[&[u8]]) -> String {
        let mut sha = Sha256::new();
        for p in parts {
            sha.update(p);
        }
        hex::encode(sha.finalize())
    }

    #[test]
    fn offloaded_digest_equals_inline_and_each_use_resolves_once() {
        let _turn = serial();
        let head = vec![7u8; 1000];
        let body: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut sha = Sha256::new();
        sha.update(&head);
        let Ok(mut p) = Pending::start(sha) else {
            // One core: nothing to offload to (hashing stays inline).
            return;
        };
        for piece in body.chunks(1448) {
            p.update(piece);
        }
        let ph = p.finish(2);
        assert!(is_placeholder(&ph));
        let want = inline(&[&head, &body]);
        assert_eq!(resolve(&ph, true), Ok(Some(want.clone())));
        assert_eq!(resolve(&ph, true), Ok(Some(want)));
        // Both uses read: the digest is gone, and nothing waits for it.
        assert_eq!(resolve(&ph, true), Ok(None));
    }

    #[test]
    fn concurrent_bodies_beyond_the_cap_hash_inline() {
        let _turn = serial();
        if hasher().is_none() {
            return;
        }
        let tries: Vec<Result<Pending, Sha256>> = (0..=MAX_ACTIVE)
            .map(|_| Pending::start(Sha256::new()))
            .collect();
        let taken = tries.iter().filter(|t| t.is_ok()).count();
        assert!(taken <= MAX_ACTIVE, "{taken}");
        assert!(tries.iter().any(|t| t.is_err()));
        drop(tries);
        // Finished or dropped bodies free their places.
        assert!(Pending::start(Sha256::new()).is_ok());
    }

    #[test]
    fn a_dropped_body_is_cancelled_and_never_waited_for() {
        let _turn = serial();
        let Ok(mut p) = Pending::start(Sha256::new()) else {
            return;
        };
        p.update(&[1u8; 200_000]);
        let ph = placeholder(p.id);
        drop(p);
        assert_eq!(resolve(&ph, true), Ok(None));
        assert_eq!(resolve("not a placeholder", true), Ok(None));
    }
}
