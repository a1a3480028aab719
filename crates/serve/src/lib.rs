//! `botscope serve`: the observatory as one running process.
//!
//! - the live trap (optional): every stored message fed into the dataset
//!   within seconds ([`DatasetSink`]);
//! - drop folders watched for new sandbox captures, Zeek logs and mail,
//!   each file ingested once, when it has stopped growing ([`watch`]);
//! - the dataset's series, alerts, hosts, campaigns and indicators kept as
//!   a snapshot, rebuilt whenever the store's version moves — whoever
//!   wrote it: the trap's feed, a watched folder, or a `botscope ingest`
//!   elsewhere ([`snapshot`]);
//! - the dashboard: HTML pages drawn in the browser from a JSON API
//!   (`/api`, docs/serve.md), charts by uPlot (MIT, vendored), updates
//!   pushed by server-sent events (`/api/events`).
//!
//! Nothing is fetched from anywhere but this server: the pages, script,
//! styles and chart library are compiled into the binary and the
//! Content-Security-Policy allows nothing else. Every attacker-controlled
//! text (subjects, HELO names, URLs, user agents) reaches the page as JSON
//! and is put in the DOM as text, never as markup.

pub mod api;
pub mod guard;
pub mod observe;
pub mod snapshot;
pub mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use botscope_mail::MailAnalyzer;
use botscope_store::{LiveMail, PendingMessage};
use botscope_timeline::AlertConfig;
use botscope_trap::{Sink, StoredMessage};
use tokio::sync::{broadcast, Semaphore};

pub use guard::Access;
pub use snapshot::Snapshot;

/// Everything that can go wrong in the service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("store: {0}")]
    Store(#[from] botscope_store::Error),
    #[error("alerts: {0}")]
    Timeline(#[from] botscope_timeline::Error),
    #[error("{0}")]
    Data(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// Log lines (ingests, errors); `None` for silence.
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Caps of the service. Every one bounds memory or time an outsider can
/// make the server spend.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Requests per second per client address (token bucket, burst of
    /// twice as many); 0 turns the limit off.
    pub requests_per_sec: u32,
    /// Client addresses tracked by the rate limiter (the oldest are
    /// forgotten beyond).
    pub tracked_clients: usize,
    /// Requests handled at once (others wait their turn).
    pub concurrent_requests: usize,
    /// Open event streams (`/api/events`); more are refused with 503.
    pub event_streams: usize,
    /// Largest request body (the SQL console's query).
    pub max_body: usize,
    /// SQL console: longest a query may run.
    pub sql_timeout: Duration,
    /// SQL console: most rows returned (the rest are cut, and it says so).
    pub sql_rows: usize,
    /// SQL console and search: queries running at once.
    pub sql_concurrent: usize,
    /// Longest query text accepted (SQL console, search).
    pub max_query_len: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            requests_per_sec: 100,
            tracked_clients: 10_000,
            concurrent_requests: 64,
            event_streams: 256,
            max_body: 64 * 1024,
            sql_timeout: Duration::from_secs(10),
            sql_rows: 5_000,
            sql_concurrent: 2,
            max_query_len: 8 * 1024,
        }
    }
}

/// How `serve` runs.
#[derive(Clone)]
pub struct ServeConfig {
    /// The dataset folder.
    pub store: PathBuf,
    /// Who may read the dashboard.
    pub access: Access,
    /// Folders whose new files are ingested.
    pub watch: Vec<PathBuf>,
    /// The mail analyser for watched mail (and the trap's feed).
    pub mail: Option<Arc<MailAnalyzer>>,
    /// Alert thresholds.
    pub alerts: AlertConfig,
    /// How often the store's version is looked at for new commits.
    pub poll: Duration,
    /// How often watched folders are walked again (events can be missed:
    /// network file systems, a full inotify queue).
    pub rescan: Duration,
    /// A watched file is read once its size and time have not changed for
    /// this long (a capture still being written is left alone).
    pub settle: Duration,
    pub limits: Limits,
    pub log: Option<LogFn>,
}

impl ServeConfig {
    pub fn new(store: PathBuf) -> ServeConfig {
        ServeConfig {
            store,
            access: Access::Open,
            watch: Vec::new(),
            mail: None,
            alerts: AlertConfig::default(),
            poll: Duration::from_millis(500),
            rescan: Duration::from_secs(30),
            settle: Duration::from_millis(1000),
            limits: Limits::default(),
            log: None,
        }
    }

    pub(crate) fn log(&self, m: &str) {
        if let Some(l) = &self.log {
            l(m)
        }
    }
}

/// Counters of the running service shown on the overview page.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Status {
    /// Watched files ingested (rows added), already in the store, not an
    /// input (counted, never read again until they change), failed.
    pub watch_ingested: u64,
    pub watch_already: u64,
    pub watch_not_inputs: u64,
    pub watch_failed: u64,
    /// The last watched file that could not be ingested, and why.
    pub watch_last_error: Option<String>,
    /// Snapshots built (one per change of the store) and the last error.
    pub refreshes: u64,
    pub refresh_error: Option<String>,
}

/// Answers of the SQL console, searches and detail pages for one state of
/// the store (cleared when the store's version moves), bounded in entries and rows.
#[derive(Default)]
pub struct SqlCache {
    version: u64,
    map: std::collections::HashMap<(String, usize), api::Rows>,
}

/// Most answers kept; answers longer than [`SQL_CACHE_ROWS`] are not kept.
pub const SQL_CACHE_ENTRIES: usize = 256;
pub const SQL_CACHE_ROWS: usize = 500;

impl SqlCache {
    fn get(&mut self, version: u64, key: &(String, usize)) -> Option<api::Rows> {
        if self.version != version {
            self.map.clear();
            self.version = version;
        }
        self.map.get(key).cloned()
    }

    fn put(&mut self, version: u64, key: (String, usize), r: &api::Rows) {
        if self.version != version || r.rows.len() > SQL_CACHE_ROWS {
            return;
        }
        if self.map.len() >= SQL_CACHE_ENTRIES {
            self.map.clear();
        }
        self.map.insert(key, r.clone());
    }
}

/// What the handlers share.
pub struct State {
    pub(crate) cfg: ServeConfig,
    pub(crate) snap: RwLock<Arc<Snapshot>>,
    pub(crate) updates: broadcast::Sender<String>,
    pub(crate) status: Mutex<Status>,
    pub(crate) trap: Mutex<Option<TrapHandle>>,
    pub(crate) rate: Mutex<guard::RateTable>,
    pub(crate) gate: Semaphore,
    pub(crate) sql_gate: Semaphore,
    pub(crate) sql_cache: Mutex<SqlCache>,
    /// The DataFusion session of the last query, with the store version it
    /// was made at (tables registered once per store state).
    pub(crate) sql_ctx:
        tokio::sync::Mutex<Option<(u64, botscope_store::datafusion::prelude::SessionContext)>>,
    pub(crate) streams: AtomicUsize,
    pub(crate) stop: AtomicBool,
    /// Set when the server stops: event streams end on it (graceful
    /// shutdown waits for every open response).
    pub(crate) closing: tokio::sync::watch::Sender<bool>,
    pub(crate) auth_cache: Mutex<guard::AuthCache>,
}

/// The trap's counters, for the overview.
#[derive(Clone)]
pub struct TrapHandle {
    pub listen: String,
    pub stats: Arc<botscope_trap::Stats>,
    pub feed: Option<Arc<LiveMail>>,
}

impl State {
    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snap.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn with_status(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Attach a running trap (its counters show on the overview).
    pub fn set_trap(&self, t: TrapHandle) {
        *self.trap.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
    }
}

/// A running dashboard: its address and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stop serving and wait for the server and the background threads.
    pub async fn stop(mut self) {
        self.shutdown().await
    }

    async fn shutdown(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.closing.send_replace(true);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(mut h) = self.server.take() {
            // Requests in flight get a few seconds to finish.
            if tokio::time::timeout(Duration::from_secs(5), &mut h)
                .await
                .is_err()
            {
                h.abort();
            }
        }
        for t in self.threads.drain(..) {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// Bind `listen`, build the first snapshot and start serving on the
/// current tokio runtime, with the background threads (refresh, watch).
/// Returns once the socket listens.
pub async fn start(cfg: ServeConfig, listen: SocketAddr) -> Result<Running, Error> {
    cfg.access.check(listen)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {listen}"), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("listening address", e))?;
    let first = snapshot::build_off_runtime(cfg.store.clone(), cfg.alerts.clone()).await;
    let (first, first_err) = match first {
        Ok(s) => (s, None),
        Err(e) => (Snapshot::empty(), Some(e.to_string())),
    };
    let (updates, _) = broadcast::channel(64);
    let state = Arc::new(State {
        snap: RwLock::new(Arc::new(first)),
        updates,
        status: Mutex::new(Status {
            refresh_error: first_err,
            ..Status::default()
        }),
        trap: Mutex::new(None),
        rate: Mutex::new(guard::RateTable::default()),
        gate: Semaphore::new(cfg.limits.concurrent_requests.max(1)),
        sql_gate: Semaphore::new(cfg.limits.sql_concurrent.max(1)),
        sql_cache: Mutex::new(SqlCache::default()),
        sql_ctx: tokio::sync::Mutex::new(None),
        streams: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        closing: tokio::sync::watch::channel(false).0,
        auth_cache: Mutex::new(guard::AuthCache::default()),
        cfg,
    });
    let mut threads = Vec::new();
    let st = Arc::clone(&state);
    threads.push(
        std::thread::Builder::new()
            .name("botscope-serve-refresh".into())
            .spawn(move || snapshot::refresh_loop(st))
            .map_err(|e| Error::io("thread", e))?,
    );
    if !state.cfg.watch.is_empty() {
        let st = Arc::clone(&state);
        threads.push(
            std::thread::Builder::new()
                .name("botscope-serve-watch".into())
                .spawn(move || watch::watch_loop(st))
                .map_err(|e| Error::io("thread", e))?,
        );
    }
    let app = api::router(Arc::clone(&state));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let svc = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, svc)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        state,
        stop: Some(tx),
        server: Some(server),
        threads,
    })
}

/// Hands each durable trap message to the dataset feed (the trap of
/// `botscope trap` and of `botscope serve --trap`).
pub struct DatasetSink(pub Arc<LiveMail>);

impl Sink for DatasetSink {
    fn message_stored(&self, m: &StoredMessage) {
        let rcpt = m.envelope.rcpt_to.clone();
        self.0.push(PendingMessage {
            path: m.path.clone(),
            envelope: botscope_mail::Envelope {
                // The file starts with the trap's own Received header.
                session: false,
                received_ts: Some(m.received_ts()),
                client_ip: Some(m.client_ip),
                helo: m.helo.clone(),
                mail_from: Some(m.envelope.mail_from.clone()),
                rcpt_to: rcpt,
                // The session's dialect (the trap saw every command).
                commands: m.commands.clone(),
                pipelined: m.pipelined,
            },
        });
    }
}
