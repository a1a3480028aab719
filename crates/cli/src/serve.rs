//! `botscope serve`: the dashboard (crate `serve`), with the trap and
//! watched folders, until SIGINT/SIGTERM. Flags and glue only.

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use botscope_serve::{Access, ServeConfig, TrapHandle};
use botscope_trap::TrapConfig;

use crate::{EXIT_FATAL, EXIT_OK};

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// The dataset folder (created if missing).
    #[arg(long, required_unless_present = "hash_password")]
    pub store: Option<PathBuf>,
    /// Address and port of the dashboard. Any address but loopback needs
    /// --token or --users.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Also run the spam trap on this address; its messages go to
    /// STORE/trap/ and into the dataset.
    #[arg(long)]
    pub trap: Option<String>,
    /// The trap's limits and names (TOML, as `botscope trap --config`).
    #[arg(long)]
    pub trap_config: Option<PathBuf>,
    /// Ingest new files that land in this folder (repeatable): captures,
    /// Zeek logs, CTU-13 flows, mbox, Maildir, .eml.
    #[arg(long)]
    pub watch: Vec<PathBuf>,
    /// Family attribution model (from `botscope learn`) for trap and
    /// watched mail.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Alert thresholds (TOML), as for `botscope alerts`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A file holding the bearer token readers must present (at least 16
    /// characters; the environment variable BOTSCOPE_TOKEN works too).
    #[arg(long, conflicts_with = "users")]
    pub token_file: Option<PathBuf>,
    /// Users file: `name:$argon2id$…` per line (make the hashes with
    /// --hash-password). Readers sign in with HTTP Basic authentication.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// Requests per second per client address (0: no limit).
    #[arg(long, default_value_t = 100)]
    pub rate_limit: u32,
    /// Read a password on stdin, print its argon2id hash for a users file
    /// and exit.
    #[arg(long)]
    pub hash_password: bool,
    /// No log lines on stderr (errors are still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

impl ServeArgs {
    /// `botscope demo --serve`: the demo's dataset, nothing else.
    pub fn for_demo(store: PathBuf, listen: String) -> ServeArgs {
        ServeArgs {
            store: Some(store),
            listen,
            trap: None,
            trap_config: None,
            watch: Vec::new(),
            model: None,
            config: None,
            token_file: None,
            users: None,
            rate_limit: 100,
            hash_password: false,
            quiet: false,
        }
    }
}

fn resolve(addr: &str) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("{addr} is not an address and port"))?
        .next()
        .with_context(|| format!("{addr} resolves to no address"))
}

pub fn run(args: &ServeArgs) -> Result<u8> {
    if args.hash_password {
        let mut pw = String::new();
        std::io::stdin()
            .read_to_string(&mut pw)
            .context("reading the password on stdin")?;
        let pw = pw.trim_end_matches(['\n', '\r']);
        if pw.is_empty() {
            bail!("no password on stdin");
        }
        println!("{}", Access::hash_password(pw)?);
        return Ok(EXIT_OK);
    }
    let Some(store) = args.store.clone() else {
        bail!("--store is required");
    };
    std::fs::create_dir_all(&store)
        .with_context(|| format!("cannot create {}", store.display()))?;
    let listen = resolve(&args.listen)?;
    let access = if let Some(u) = &args.users {
        Access::users_file(u)?
    } else if let Some(f) = &args.token_file {
        let t =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        Access::Token(t.trim().to_string())
    } else if let Ok(t) = std::env::var("BOTSCOPE_TOKEN") {
        Access::Token(t.trim().to_string())
    } else {
        Access::Open
    };
    let quiet = args.quiet;
    let log: Option<botscope_serve::LogFn> = if quiet {
        None
    } else {
        Some(Arc::new(|m: &str| eprintln!("botscope serve: {m}")))
    };
    let model = match &args.model {
        Some(p) => Some(
            botscope_mail::Model::load(p)
                .with_context(|| format!("reading model {}", p.display()))?,
        ),
        None => None,
    };
    let analyzer = Arc::new(botscope_mail::MailAnalyzer::new(
        botscope_mail::MailConfig::default(),
        model,
    ));
    let mut cfg = ServeConfig::new(store.clone());
    cfg.access = access;
    cfg.watch = args.watch.clone();
    cfg.mail = Some(Arc::clone(&analyzer));
    cfg.limits.requests_per_sec = args.rate_limit;
    cfg.log = log.clone();
    if let Some(p) = &args.config {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        cfg.alerts = botscope_timeline::AlertConfig::from_toml(&text)
            .with_context(|| format!("in {}", p.display()))?;
    }
    for w in &cfg.watch {
        if !w.is_dir() {
            bail!("--watch {}: not a folder", w.display());
        }
    }
    let trap = match &args.trap {
        Some(addr) => {
            let tcfg = match &args.trap_config {
                Some(p) => TrapConfig::from_file(p)?,
                None => TrapConfig::default(),
            };
            let (trap, feed) = crate::trap::start_trap(
                tcfg,
                store.clone(),
                store.clone(),
                Some(analyzer),
                Duration::from_secs(1),
                log.clone(),
                "botscope serve",
            )?;
            Some((addr.clone(), trap, feed))
        }
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let code = rt.block_on(async move {
        let running = match botscope_serve::start(cfg, listen).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FATAL;
            }
        };
        // Tests and scripts read this line for the port.
        eprintln!("botscope serve: dashboard on http://{}/", running.addr);
        let mut trap_task = None;
        let mut feed_keep = None;
        if let Some((addr, trap, feed)) = trap {
            let listener = match tokio::net::TcpListener::bind(&addr).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: cannot listen on {addr}: {e}");
                    running.stop().await;
                    return EXIT_FATAL;
                }
            };
            let taddr = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
            eprintln!("botscope serve: trap listening on {taddr}");
            running.state.set_trap(TrapHandle {
                listen: taddr,
                stats: trap.stats(),
                feed: feed.clone(),
            });
            feed_keep = feed;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                trap.serve(
                    listener,
                    async {
                        let _ = rx.await;
                    },
                    Duration::from_secs(10),
                )
                .await;
            });
            trap_task = Some((tx, task));
        }
        crate::trap::stop_signal().await;
        if !quiet {
            eprintln!("botscope serve: stopping");
        }
        if let Some((tx, task)) = trap_task {
            let _ = tx.send(());
            let _ = task.await;
        }
        if let Some(f) = feed_keep {
            let _ = tokio::task::spawn_blocking(move || f.finish()).await;
        }
        running.stop().await;
        EXIT_OK
    });
    Ok(code)
}
