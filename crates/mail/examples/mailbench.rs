//! Throughput of parse + features + attribution (what `botscope mail`
//! does per message), without file reading: every message of the inputs
//! is loaded into memory first, then analysed `--rounds` times on 1 thread
//! and on N threads. Used by `bench/mail.sh`.
//!
//! ```sh
//! cargo run --release -p botscope-mail --example mailbench -- \
//!     --model model.json --threads 2 --rounds 5 world/mail/
//! ```

use std::path::PathBuf;
use std::time::Instant;

use botscope_mail::{for_each_message, Envelope, MailAnalyzer, MailConfig, Model};

// The allocator of the botscope binary, so that this measures what it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU time of this process so far (user + system), in seconds, from
/// /proc (Linux; clock ticks of 10 ms). On a machine shared with other
/// work, messages per CPU-second is the per-core figure that does not
/// depend on how much of a core the scheduler gave us.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut model: Option<PathBuf> = None;
    let mut threads = 2usize;
    let mut rounds = 3usize;
    let mut inputs: Vec<PathBuf> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            "--threads" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(2),
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(3),
            _ => inputs.push(PathBuf::from(a)),
        }
    }
    let model = model.map(|p| Model::load(&p).expect("model"));
    let analyzer = MailAnalyzer::new(MailConfig::default(), model);
    let mut msgs: Vec<(String, Vec<u8>, Option<Envelope>)> = Vec::new();
    let stats = for_each_message(&inputs, analyzer.config(), |m| {
        msgs.push((m.source.to_string(), m.raw.to_vec(), m.envelope.cloned()));
    });
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    let bytes: usize = msgs.iter().map(|m| m.1.len()).sum();
    eprintln!(
        "{} messages, {:.1} MB in memory",
        msgs.len(),
        bytes as f64 / 1e6
    );

    let run = |n_threads: usize| -> (f64, usize, f64) {
        let t = Instant::now();
        let c0 = cpu_seconds().unwrap_or(0.0);
        let mut attributed = 0usize;
        for _ in 0..rounds {
            let chunk = msgs.len().div_ceil(n_threads);
            attributed += std::thread::scope(|s| {
                let hs: Vec<_> = msgs
                    .chunks(chunk.max(1))
                    .map(|part| {
                        let a = &analyzer;
                        s.spawn(move || {
                            part.iter()
                                .map(|(src, raw, env)| {
                                    let row = a.analyze(src.clone(), raw, env.as_ref());
                                    usize::from(row.family != "unknown")
                                })
                                .sum::<usize>()
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
            });
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds().unwrap_or(0.0) - c0;
        let n = (msgs.len() * rounds) as f64;
        (
            n / secs,
            attributed / rounds,
            if cpu > 0.0 { n / cpu } else { 0.0 },
        )
    };
    // Warm-up.
    let _ = run(1);
    let (one, attributed, one_cpu) = run(1);
    let (many, _, _) = run(threads);
    println!("messages\t{}", msgs.len());
    println!("attributed\t{attributed}");
    println!("msgs_per_s_1_thread\t{one:.0}");
    println!("msgs_per_cpu_s\t{one_cpu:.0}");
    println!("msgs_per_s_{threads}_threads\t{many:.0}");
    println!("speedup\t{:.2}", many / one);
}
