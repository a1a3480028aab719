//! `botscope`: the command line. Flags and glue only; every analysis lives
//! in the library crates.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

mod logs;

/// Exit status when every input was read completely.
pub const EXIT_OK: u8 = 0;
/// Exit status when at least one input could not be read completely
/// (missing, not a capture, truncated, corrupt); everything readable was
/// still processed and written.
pub const EXIT_INPUT_ERRORS: u8 = 1;
/// Exit status for a usage error or when output cannot be written.
pub const EXIT_FATAL: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "botscope",
    version,
    about = "botscope: a botnet observatory — decode captures, say what each bot does",
    long_about = None,
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Decode captures into Zeek-compatible logs (conn, http, smtp, dns,
    /// ssl, irc, weird) and carve SMTP messages into mail/.
    #[command(after_help = "\
Examples:
  botscope logs --out logs/ ../shared/data/botnet-pcaps/spambot-auth-relay-port2525.pcap
  botscope logs --format json --out logs/ captures/          # folders are walked recursively
  zcat day.pcap.gz | botscope logs --out logs/ -             # '-' reads stdin; .gz/.xz/.zst are also opened directly

Exit status: 0 all inputs read completely; 1 some input could not be read completely
(missing, not a capture, truncated, corrupt — the rest was still decoded and written);
2 usage error or the output could not be written.")]
    Logs(LogsArgs),
}

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Output folder (created if missing).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Log format: Zeek's TSV (with #-headers) or Zeek's JSON lines.
    #[arg(long, value_enum, default_value_t = Format::Zeek)]
    pub format: Format,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: number of cores).
    #[arg(long, short = 'j')]
    pub threads: Option<usize>,
    /// No summary on stderr (errors are still printed).
    #[arg(long, short)]
    pub quiet: bool,
    /// Capture files or folders; `-` reads one capture from stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Zeek,
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FATAL } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.cmd {
        Cmd::Logs(args) => logs::run(&args, std::io::stderr().is_terminal()),
    };
    match result.context("botscope") {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}
