//! botscope's live SMTP spam trap: a sensor that accepts everything,
//! relays nothing and loses nothing.
//!
//! * **Accepts**: the server side of SMTP (RFC 5321) with PIPELINING, SIZE,
//!   8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8 and STARTTLS; VRFY is refused
//!   politely (`252`); unknown or malformed commands get proper error codes
//!   and the session goes on while it is sane. AUTH exchanges are played
//!   to their end and always fail (`535`); credentials are never recorded
//!   unless asked for ([`auth`]). DATA ends only at `<CRLF>.<CRLF>`: the
//!   other lone-dot spellings (SMTP smuggling) stay in the message and are
//!   counted.
//! * **Relays nothing**: the crate opens no outbound connection at all; it
//!   only listens.
//! * **Loses nothing**: `250` after DATA is sent only once the message is
//!   durably in the Maildir (see [`store`] for the group commit).
//! * **Bounded**: every cap is in [`Limits`]; each hit is counted in
//!   [`Stats`], logged and noted in the session's record.
//!
//! Each session's dialect — commands in order with their case, pipelining,
//! timing, QUIT or not — is kept in a [`SessionRecord`] (one JSON line in
//! `sessions.jsonl`), a feature for attributing spam to a botnet family.
//! A [`Sink`] sees each message and session right after it is durable: the
//! hook for mail analysis and the event store.
//!
//! Command lines are parsed with `smtp-proto`; line framing and the DATA
//! stream are ours (see [`wire`] for why). No client byte can panic the
//! trap: the framing is fuzzed (`fuzz/fuzz_targets/trap_wire.rs`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub mod auth;
pub mod config;
pub mod record;
mod session;
pub mod stats;
pub mod store;
pub mod tls;
pub mod wal;
pub mod wire;

pub use config::{AuthConfig, ConfigError, Domains, Limits, TrapConfig};
pub use record::{
    AuthAttempt, CommandRecord, Credentials, Envelope, MessageRecord, NoSink, SessionRecord, Sink,
    StoredMessage,
};
pub use session::Clock;
pub use stats::{Limit, LogFn, Stats, StatsSnapshot};
pub use store::{Layout, LogRotation, Store, StoreError};

/// A trap that cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Everything needed to run a trap.
pub struct TrapOptions {
    pub config: TrapConfig,
    /// The store folder (`--store`); the trap writes under `STORE/trap/`.
    pub store: PathBuf,
    /// Called with each durable message and session.
    pub sink: Arc<dyn Sink>,
    /// Log lines (limit hits, store errors); `None` for silence.
    pub log: Option<LogFn>,
    /// Wall clock for receive times (tests inject one).
    pub clock: Clock,
}

impl TrapOptions {
    pub fn new(config: TrapConfig, store: PathBuf) -> TrapOptions {
        TrapOptions {
            config,
            store,
            sink: Arc::new(NoSink),
            log: None,
            clock: Arc::new(SystemTime::now),
        }
    }
}

/// A trap ready to serve: store opened, TLS set up.
pub struct Trap {
    ctx: Arc<session::Ctx>,
    shutdown_tx: watch::Sender<bool>,
    sessions: Arc<SessionTable>,
    seq: AtomicU64,
    started: u64,
}

/// Open sessions, in total and per client address.
struct SessionTable {
    total: Mutex<(usize, HashMap<IpAddr, usize>)>,
    idle: tokio::sync::Notify,
}

/// Releases a session's slot when the session ends, however it ends.
struct Slot {
    table: Arc<SessionTable>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut g) = self.table.total.lock() {
            g.0 = g.0.saturating_sub(1);
            if let Some(n) = g.1.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    g.1.remove(&self.ip);
                }
            }
            if g.0 == 0 {
                self.table.idle.notify_waiters();
            }
        }
    }
}

impl Trap {
    /// Checks the configuration, opens the store (taking its lock and
    /// cleaning up after a crash) and prepares TLS.
    pub fn new(opts: TrapOptions) -> Result<Trap, Error> {
        opts.config.validate()?;
        let stats = Arc::new(Stats::with_log(if opts.config.log_limit_hits {
            opts.log.clone()
        } else {
            None
        }));
        let store = Store::open(
            &opts.store,
            &opts.config.hostname,
            opts.config.limits.max_commit_batch,
            opts.config.limits.max_unfiled_bytes,
            store::LogRotation {
                max_bytes: opts.config.limits.session_log_max_bytes,
                keep: opts.config.limits.session_log_keep,
            },
            stats.clone(),
            opts.sink.clone(),
        )?;
        let tls = if opts.config.starttls {
            Some(tls::acceptor(
                &opts.config.hostname,
                opts.config.tls_cert.as_deref(),
                opts.config.tls_key.as_deref(),
            )?)
        } else {
            None
        };
        let (shutdown_tx, shutdown) = watch::channel(false);
        let started = (opts.clock)()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Ok(Trap {
            ctx: Arc::new(session::Ctx {
                cfg: opts.config,
                store,
                stats,
                tls,
                clock: opts.clock,
                shutdown,
            }),
            shutdown_tx,
            sessions: Arc::new(SessionTable {
                total: Mutex::new((0, HashMap::new())),
                idle: tokio::sync::Notify::new(),
            }),
            seq: AtomicU64::new(0),
            started,
        })
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.ctx.stats.clone()
    }

    pub fn layout(&self) -> &Layout {
        &self.ctx.store.layout
    }

    /// Open sessions right now.
    pub fn open_sessions(&self) -> usize {
        self.sessions.total.lock().map(|g| g.0).unwrap_or(0)
    }

    /// Accepts connections until `shutdown` resolves, then tells open
    /// sessions to close (`421`), waits up to `grace` for them, and makes
    /// everything queued durable.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
        grace: Duration,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                r = listener.accept() => match r {
                    Ok((stream, peer)) => self.admit(stream, peer),
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        self.ctx.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                        self.ctx.stats.log(&format!("accept: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(listener);
        let _ = self.shutdown_tx.send(true);
        let wait = async {
            loop {
                let idle = self.sessions.idle.notified();
                if self.open_sessions() == 0 {
                    break;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(grace, wait).await;
        let store = self.ctx.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }

    fn admit(&self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let limits = &self.ctx.cfg.limits;
        let refused = {
            let Ok(mut g) = self.sessions.total.lock() else {
                return;
            };
            let per_ip = g.1.get(&peer.ip()).copied().unwrap_or(0);
            if g.0 >= limits.max_sessions {
                Some(Limit::Sessions)
            } else if per_ip >= limits.max_sessions_per_ip {
                Some(Limit::SessionsPerIp)
            } else {
                g.0 += 1;
                *g.1.entry(peer.ip()).or_insert(0) += 1;
                None
            }
        };
        if let Some(limit) = refused {
            self.ctx.stats.hit(limit, peer);
            let text = format!(
                "421 4.7.0 {} Error: too many connections{}\r\n",
                self.ctx.cfg.hostname,
                if limit == Limit::SessionsPerIp {
                    " from your address"
                } else {
                    ""
                }
            );
            // Best effort, never waiting: the socket buffer takes it or not.
            let _ = stream.try_write(text.as_bytes());
            drop(stream);
            return;
        }
        let _ = stream.set_nodelay(true);
        let slot = Slot {
            table: self.sessions.clone(),
            ip: peer.ip(),
        };
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("S{}P{}N{}", self.started, std::process::id(), n);
        let ctx = self.ctx.clone();
        ctx.stats.sessions.fetch_add(1, Ordering::Relaxed);
        let local = stream.local_addr().unwrap_or(peer);
        tokio::spawn(async move {
            let rec = session::serve(ctx.clone(), stream, peer, local, id).await;
            ctx.store.log_session(rec);
            drop(slot);
        });
    }

    /// Serves one already-connected stream (any transport; used by tests
    /// and fuzzing). Returns the session's record, also logged to the store.
    pub async fn serve_stream<S>(&self, stream: S, peer: SocketAddr) -> SessionRecord
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("S{}P{}N{}", self.started, std::process::id(), n);
        self.ctx.stats.sessions.fetch_add(1, Ordering::Relaxed);
        let mut stream = stream;
        let rec = session::serve(self.ctx.clone(), &mut stream, peer, peer, id).await;
        let _ = stream.shutdown().await;
        self.ctx.store.log_session(rec.clone());
        rec
    }

    /// Makes everything queued durable and stops the committer (after
    /// [`Trap::serve_stream`] use; `serve` does it itself).
    pub fn close(&self) {
        self.ctx.store.close();
    }
}
