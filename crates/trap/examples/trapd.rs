//! The trap alone (no dataset feed, no DataFusion in the build): for
//! profiling the SMTP and storage path quickly. `bench/trap.sh` measures
//! the real `botscope trap`.
//!
//! ```text
//! cargo run --release -p botscope-trap --example trapd -- 127.0.0.1:2525 STORE [CONFIG.toml]
//! ```
//! Prints `listening` on stderr when ready; stops on SIGTERM or Ctrl-C and
//! prints the stored-message count. `TRAPD_WORKERS=N` sets tokio's worker
//! threads; `TRAPD_ON_WORKER=1` runs the accept loop on a worker instead of
//! the main thread (as `botscope serve --trap` does); `TRAPD_CURRENT=1`
//! runs everything on tokio's current-thread runtime (one thread).

use std::path::PathBuf;
use std::time::Duration;

use botscope_trap::{Trap, TrapConfig, TrapOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: trapd LISTEN STORE [CONFIG.toml]");
        std::process::exit(2);
    }
    let config = match args.get(3) {
        Some(p) => {
            let path = PathBuf::from(p);
            let text = std::fs::read_to_string(&path).expect("read config");
            TrapConfig::from_toml(&text, &path).expect("config")
        }
        None => TrapConfig::default(),
    };
    let trap = std::sync::Arc::new(
        Trap::new(TrapOptions::new(config, PathBuf::from(&args[2]))).expect("trap"),
    );
    let mut b = if std::env::var("TRAPD_CURRENT").is_ok() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if let Ok(n) = std::env::var("TRAPD_WORKERS") {
        b.worker_threads(n.parse().expect("TRAPD_WORKERS"));
    }
    let rt = b.enable_all().build().expect("runtime");
    let on_worker = std::env::var("TRAPD_ON_WORKER").is_ok();
    let t2 = trap.clone();
    let listen = args[1].clone();
    let run = async move {
        let trap = t2;
        let args = [String::new(), listen];
        let listener = tokio::net::TcpListener::bind(&args[1]).await.expect("bind");
        eprintln!("trapd: listening on {}", args[1]);
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
        };
        trap.serve(listener, stop, Duration::from_secs(10)).await;
    };
    rt.block_on(async move {
        if on_worker {
            let _ = tokio::spawn(run).await;
        } else {
            run.await;
        }
    });
    let s = trap.stats().snapshot();
    eprintln!("trapd: stored {} messages", s.messages_stored);
}
