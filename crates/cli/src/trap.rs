//! `botscope trap`: run the live SMTP spam trap until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use botscope_serve::DatasetSink;
use botscope_store::{LiveConfig, LiveMail};
use botscope_trap::{Domains, Trap, TrapConfig, TrapOptions};

use crate::{EXIT_FATAL, EXIT_OK};

#[derive(clap::Args, Debug)]
pub struct TrapArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:2525")]
    pub listen: String,
    /// Store folder: messages go to STORE/trap/maildir/new/, session
    /// records to STORE/trap/sessions.jsonl.
    #[arg(long)]
    pub store: PathBuf,
    /// Our host name (greeting, Received:, file names); overrides the config.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Accepted recipient domains, comma-separated, or `any`; overrides the config.
    #[arg(long)]
    pub domains: Option<String>,
    /// Largest message in bytes; overrides `limits.max_message_size`.
    #[arg(long)]
    pub max_size: Option<u64>,
    /// Family attribution model (from `botscope learn`) for the messages
    /// fed into the dataset.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Seconds a stored message waits at most before it is committed to
    /// the dataset under STORE (the `mail` table).
    #[arg(long, default_value_t = 2.0)]
    pub flush_secs: f64,
    /// Keep messages in the Maildir only; do not feed the dataset.
    #[arg(long)]
    pub no_dataset: bool,
    /// The dataset the stored messages are fed into, when not STORE
    /// itself: another folder, or object storage (`s3://`, `az://`, `gs://` bucket/prefix).
    #[arg(long, value_name = "DIR|URL", conflicts_with = "no_dataset")]
    pub dataset: Option<PathBuf>,
    /// TOML file with every limit (see `docs/trap.md`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// At exit, print the counters as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No log lines on stderr (errors are still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: &TrapArgs) -> anyhow::Result<u8> {
    let mut cfg = match &args.config {
        Some(p) => TrapConfig::from_file(p)?,
        None => TrapConfig::default(),
    };
    if let Some(h) = &args.hostname {
        cfg.hostname = h.clone();
    }
    if let Some(d) = &args.domains {
        cfg.domains = Domains::parse(d);
    }
    if let Some(m) = args.max_size {
        cfg.limits.max_message_size = m;
    }
    let quiet = args.quiet;
    let model = match &args.model {
        Some(p) => Some(
            botscope_mail::Model::load(p)
                .with_context(|| format!("reading model {}", p.display()))?,
        ),
        None => None,
    };
    if !(args.flush_secs.is_finite() && args.flush_secs > 0.0 && args.flush_secs <= 3600.0) {
        anyhow::bail!("--flush-secs must be in (0, 3600]");
    }
    let log: Option<botscope_trap::LogFn> = if quiet {
        None
    } else {
        Some(Arc::new(|m: &str| eprintln!("botscope trap: {m}")))
    };
    let analyzer = (!args.no_dataset).then(|| {
        Arc::new(botscope_mail::MailAnalyzer::new(
            botscope_mail::MailConfig::default(),
            model,
        ))
    });
    let (trap, feed) = start_trap(
        cfg,
        args.store.clone(),
        args.dataset.clone().unwrap_or_else(|| args.store.clone()),
        analyzer,
        Duration::from_secs_f64(args.flush_secs),
        log,
        "botscope trap",
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let code = rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(&args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.listen);
                return EXIT_FATAL;
            }
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| args.listen.clone());
        let cleaned = trap.stats().snapshot().tmp_cleaned;
        if cleaned > 0 && !quiet {
            eprintln!("botscope trap: removed {cleaned} incomplete message(s) of an earlier run from tmp/");
        }
        let snap = trap.stats().snapshot();
        if (snap.wal_replayed > 0 || snap.wal_torn_bytes > 0) && !quiet {
            eprintln!(
                "botscope trap: filed {} message(s) an earlier run acknowledged from the write-ahead log into new/ ({} bytes of an unacknowledged, cut record skipped)",
                snap.wal_replayed, snap.wal_torn_bytes
            );
        }
        // Tests and scripts read this line for the port.
        eprintln!(
            "botscope trap: listening on {addr}, storing into {}",
            trap.layout().maildir.display()
        );
        let stop = stop_signal();
        trap.serve(listener, stop, Duration::from_secs(10)).await;
        EXIT_OK
    });
    let snap = trap.stats().snapshot();
    // Commit what the feed still holds before reporting.
    let fed = feed.map(|f| f.finish());
    if args.json {
        let mut v = serde_json::to_value(&snap)?;
        if let (Some(o), Some(f)) = (v.as_object_mut(), &fed) {
            o.insert("dataset".into(), serde_json::to_value(f)?);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if !quiet {
        if let Some(f) = &fed {
            eprintln!(
                "botscope trap: dataset: {} message(s) committed in {} transaction(s), {} from earlier runs, {} unreadable, {} dropped from the feed",
                f.messages, f.commits, f.caught_up, f.unreadable, f.dropped
            );
        }
        eprintln!(
            "botscope trap: {} sessions, {} messages stored ({} bytes), {} store errors",
            snap.sessions, snap.messages_stored, snap.bytes_stored, snap.store_errors
        );
        let hits: Vec<String> = snap
            .limits_hit
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !hits.is_empty() {
            eprintln!("botscope trap: limits hit: {}", hits.join(", "));
        }
    }
    Ok(code)
}

/// Open the trap's store and, unless `analyzer` is `None`, start the
/// feed that commits each stored message into the dataset at `dataset`
/// (also used by `botscope serve --trap`).
pub fn start_trap(
    cfg: TrapConfig,
    store: PathBuf,
    dataset: PathBuf,
    analyzer: Option<Arc<botscope_mail::MailAnalyzer>>,
    flush_every: Duration,
    log: Option<botscope_trap::LogFn>,
    who: &'static str,
) -> anyhow::Result<(Trap, Option<Arc<LiveMail>>)> {
    let mut opts = TrapOptions::new(cfg, store.clone());
    opts.log = log.clone();
    let feed = analyzer.map(|analyzer| {
        let live = LiveConfig {
            flush_every,
            ..LiveConfig::default()
        };
        let feed = Arc::new(LiveMail::start(
            dataset,
            analyzer,
            live,
            // Errors are worth a line even with --quiet.
            Some(
                log.clone()
                    .unwrap_or_else(|| Arc::new(move |m: &str| eprintln!("{who}: {m}"))),
            ),
        ));
        opts.sink = Arc::new(DatasetSink(Arc::clone(&feed)));
        feed
    });
    let trap = Trap::new(opts).context("cannot start the trap")?;
    if let Some(f) = &feed {
        // Now that this trap owns the Maildir (its lock taken, tmp/
        // cleaned): bring in what earlier runs stored and never committed.
        let md = &trap.layout().maildir;
        f.catch_up(vec![md.join("new"), md.join("cur")]);
    }
    Ok((trap, feed))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
