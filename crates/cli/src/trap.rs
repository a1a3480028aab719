//! `botscope trap`: run the live SMTP spam trap until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
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
    let mut opts = TrapOptions::new(cfg, args.store.clone());
    if !quiet {
        opts.log = Some(Arc::new(|m: &str| eprintln!("botscope trap: {m}")));
    }
    let trap = Trap::new(opts).context("cannot start the trap")?;
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
        // Tests and scripts read this line for the port.
        eprintln!(
            "botscope trap: listening on {addr}, storing into {}",
            trap.layout().maildir.display()
        );
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async {
                    match term.as_mut() {
                        Some(t) => { t.recv().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => {}
            }
        };
        trap.serve(listener, stop, Duration::from_secs(10)).await;
        EXIT_OK
    });
    let snap = trap.stats().snapshot();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&snap)?);
    } else if !quiet {
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
