//! What the dashboard shows, computed once per change of the store.
//!
//! The store changes only by commits, and every transaction ends with a
//! commit to its `inputs` table, which moves the store's version.
//! [`refresh_loop`] looks at the version every [`ServeConfig::poll`](crate::ServeConfig::poll); when it
//! has moved, the series, alerts, hosts, campaigns and indicators are
//! computed again off the request path and swapped in whole, and every
//! open event stream is told. Pages read the snapshot from memory, so they
//! answer in milliseconds whatever the size of the dataset; searches and
//! the SQL console run their own queries.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use botscope_activity::ioc::{Ioc, IocKind};
use botscope_activity::Class;
use botscope_event::Ts;
use botscope_report::TopRow;
use botscope_store::tables::read_activity;
use botscope_store::{ActivityRow, Store, Table};
use botscope_timeline::{Alert, AlertConfig};
use sha2::{Digest, Sha256};

use crate::observe::{self, has_table, Series};
use crate::{Error, State};

/// Most activity rows kept for the host pages (the newest survive).
pub const MAX_ACTIVITY_ROWS: usize = 200_000;

/// An alert with a stable id (a hash of its date, key, kind and series:
/// the same alert keeps its address as data arrives).
#[derive(Clone, Debug)]
pub struct AlertView {
    pub id: String,
    pub alert: Alert,
}

/// The dashboard's view of the store at one store version.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The store's version when this was built (0: no store yet).
    pub version: u64,
    /// When it was built (Unix milliseconds, wall clock).
    pub built_ms: i64,
    pub series: Series,
    /// Sorted by date.
    pub alerts: Vec<AlertView>,
    pub campaigns: Vec<TopRow>,
    pub brands: Vec<TopRow>,
    /// Activity rows, sorted by host, class and time.
    pub activity: Vec<ActivityRow>,
    /// Indicators from the activity rows' peers.
    pub iocs: Vec<Ioc>,
    /// Inputs committed (captures, logs, mail files).
    pub inputs: u64,
}

/// The store's version (0 when there is none yet): it moves with every
/// commit of any writer.
pub fn ledger_version(dir: &Path) -> u64 {
    botscope_store::version(dir)
}

fn alert_id(a: &Alert) -> String {
    let mut h = Sha256::new();
    for p in [
        a.ts.0.to_string().as_str(),
        a.family.as_str(),
        a.kind.as_str(),
        a.series.as_str(),
    ] {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..6])
}

impl Snapshot {
    /// An empty view (no store yet, or it could not be read).
    pub fn empty() -> Snapshot {
        Snapshot {
            built_ms: chrono::Utc::now().timestamp_millis(),
            ..Snapshot::default()
        }
    }

    /// Read the store at `dir`. Runs queries on a runtime of its own:
    /// call it off any async runtime's threads.
    pub fn build(dir: &Path, cfg: &AlertConfig) -> Result<Snapshot, Error> {
        let version = ledger_version(dir);
        if version == 0 {
            return Ok(Snapshot::empty());
        }
        let series = observe::series(dir)?;
        let alerts = observe::compute_alerts(&series, cfg)?
            .into_iter()
            .map(|a| AlertView {
                id: alert_id(&a),
                alert: a,
            })
            .collect();
        let store = Store::open_read(dir)?;
        let (campaigns, brands) = if has_table(&store, Table::Mail) {
            observe::campaigns_and_brands(dir)?
        } else {
            (Vec::new(), Vec::new())
        };
        let mut activity = Vec::new();
        if has_table(&store, Table::Activity) {
            for b in store.read_table(Table::Activity)? {
                activity.extend(read_activity(&b)?);
            }
        }
        activity.sort_by(|a, b| {
            (a.host, &a.class, a.first, &a.source).cmp(&(b.host, &b.class, b.first, &b.source))
        });
        if activity.len() > MAX_ACTIVITY_ROWS {
            activity.sort_by_key(|r| std::cmp::Reverse(r.first));
            activity.truncate(MAX_ACTIVITY_ROWS);
            activity.sort_by(|a, b| {
                (a.host, &a.class, a.first, &a.source).cmp(&(b.host, &b.class, b.first, &b.source))
            });
        }
        let iocs = iocs_of(&activity);
        let inputs = store.ingested().map(|s| s.len() as u64).unwrap_or(0);
        Ok(Snapshot {
            version,
            built_ms: chrono::Utc::now().timestamp_millis(),
            series,
            alerts,
            campaigns,
            brands,
            activity,
            iocs,
            inputs,
        })
    }

    /// Trap messages in all.
    pub fn messages(&self) -> u64 {
        self.series.volume.iter().map(|r| r.count).sum()
    }

    /// Families with trap mail, with their messages, most first.
    pub fn families(&self) -> Vec<(String, u64)> {
        let mut m: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &self.series.volume {
            *m.entry(r.key.as_str()).or_insert(0) += r.count;
        }
        let mut v: Vec<(String, u64)> = m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// Sandbox families (the capture folders), with their connections.
    pub fn sandbox_families(&self) -> Vec<(String, u64)> {
        let mut m: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &self.series.mix {
            *m.entry(r.key.as_str()).or_insert(0) += r.count;
        }
        let mut v: Vec<(String, u64)> = m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// Distinct hosts with an activity.
    pub fn hosts(&self) -> usize {
        self.activity
            .iter()
            .map(|r| r.host)
            .collect::<BTreeSet<_>>()
            .len()
    }

    pub fn alert(&self, id: &str) -> Option<&AlertView> {
        self.alerts.iter().find(|a| a.id == id)
    }

    /// The activity rows of one host.
    pub fn host(&self, ip: IpAddr) -> &[ActivityRow] {
        let lo = self.activity.partition_point(|r| r.host < ip);
        let hi = self.activity.partition_point(|r| r.host <= ip);
        &self.activity[lo..hi]
    }
}

/// Indicators from stored activity: every peer of a spam, C&C, download,
/// click-fraud, exploit or exfiltration activity, as an address, URL or
/// domain, with the host that used it and the activity's window.
pub fn iocs_of(rows: &[ActivityRow]) -> Vec<Ioc> {
    type Key = (IocKind, String, Class, IpAddr);
    let mut out: BTreeMap<Key, (Ts, Ts, u64)> = BTreeMap::new();
    for r in rows {
        let Some(class) = Class::parse(&r.class) else {
            continue;
        };
        if matches!(
            class,
            Class::Benign | Class::Scan | Class::Flood | Class::Dga
        ) {
            continue;
        }
        for p in &r.peers {
            let p = p.trim();
            if p.is_empty() || p == "-" {
                continue;
            }
            // Peers are written as `addr`, `addr:port`, a host name or a URL.
            let (kind, value) = if p.contains("://") {
                (IocKind::Url, p.to_string())
            } else if let Ok(ip) = p.parse::<IpAddr>() {
                (IocKind::Ip, ip.to_string())
            } else if let Some(ip) = p
                .rsplit_once(':')
                .and_then(|(h, _)| h.trim_matches(['[', ']']).parse::<IpAddr>().ok())
            {
                (IocKind::Ip, ip.to_string())
            } else if p.contains('.') && !p.contains(char::is_whitespace) {
                (IocKind::Domain, p.to_string())
            } else {
                continue;
            };
            let e = out
                .entry((kind, value, class, r.host))
                .or_insert((r.first, r.last, 0));
            e.0 = e.0.min(r.first);
            e.1 = e.1.max(r.last);
            e.2 += r.connections.max(1);
        }
    }
    out.into_iter()
        .take(botscope_activity::ioc::MAX_IOCS)
        .map(|((kind, value, class, host), (first, last, count))| Ioc {
            kind,
            value,
            class,
            host,
            first,
            last,
            count,
        })
        .collect()
}

/// Build a snapshot on a thread of its own (the store's queries start a
/// runtime, which must not happen on one of the server's threads).
pub async fn build_off_runtime(
    dir: std::path::PathBuf,
    cfg: AlertConfig,
) -> Result<Snapshot, Error> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("botscope-serve-snapshot".into())
        .spawn(move || {
            let _ = tx.send(Snapshot::build(&dir, &cfg));
        })
        .map_err(|e| Error::io("thread", e))?;
    rx.await
        .map_err(|_| Error::Data("the snapshot thread stopped".into()))?
}

/// Rebuild the snapshot whenever the store's version moves; tell the event streams.
pub fn refresh_loop(state: Arc<State>) {
    let dir = state.cfg.store.clone();
    let mut seen = state.snapshot().version;
    while !state.stop.load(Ordering::SeqCst) {
        sleep_unless_stopped(&state, state.cfg.poll);
        let now = ledger_version(&dir);
        if now == seen {
            continue;
        }
        match Snapshot::build(&dir, &state.cfg.alerts) {
            Ok(s) => {
                seen = s.version;
                let old: BTreeSet<String> = state
                    .snapshot()
                    .alerts
                    .iter()
                    .map(|a| a.id.clone())
                    .collect();
                let new_alerts: Vec<serde_json::Value> = s
                    .alerts
                    .iter()
                    .filter(|a| !old.contains(&a.id))
                    .map(crate::api::alert_json)
                    .collect();
                let msg = serde_json::json!({
                    "version": s.version,
                    "messages": s.messages(),
                    "inputs": s.inputs,
                    "new_alerts": new_alerts,
                })
                .to_string();
                *state.snap.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(s);
                state.with_status(|st| {
                    st.refreshes += 1;
                    st.refresh_error = None;
                });
                let _ = state.updates.send(msg);
            }
            Err(e) => {
                // Try again at the next poll (a commit may be half seen).
                let m = format!("reading the store: {e}");
                state.cfg.log(&m);
                state.with_status(|st| st.refresh_error = Some(m));
                sleep_unless_stopped(&state, Duration::from_secs(1));
            }
        }
    }
}

pub(crate) fn sleep_unless_stopped(state: &State, d: Duration) {
    let step = Duration::from_millis(50);
    let mut left = d;
    while !left.is_zero() && !state.stop.load(Ordering::SeqCst) {
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
}
