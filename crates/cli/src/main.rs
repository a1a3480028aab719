//! `botscope`: the command line. Flags and glue only; every analysis lives
//! in the library crates.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

// mimalloc instead of glibc's malloc: allocation was a fifth of mail
// analysis (BENCHMARKS.md, 2026-12-06).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod dataset;
mod logs;
mod mail;
mod observe;
mod serve;
mod sim;
mod trace;
mod trap;

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
    /// Run the whole pipeline on a simulated winter of 2010-11 (Rustock,
    /// Lethic, Xarvester, Cutwail, Grum, Bagle) and print what it finds.
    #[command(after_help = "\
Examples:
  botscope demo                      # writes ./botscope-demo/ (world/ and logs/)
  botscope demo --out /tmp/demo --seed 7

It simulates the winter's spam-trap mail and a week of sandbox captures around
Christmas 2010, decodes every capture, and prints the decoded services, the HTTP
hosts and Referers, and the simulated world's ground truth (family shares per
month, scripted events).")]
    Demo(DemoArgs),
    /// Generate a labelled botnet world: trap mail (mbox per day), sandbox
    /// captures (pcap per family per day) and ground truth (CSV).
    #[command(after_help = "\
Examples:
  botscope simulate --scenario winter-2010 --seed 1 --out world/
  botscope simulate --scenario winter-2010 --seed 1 --out world/ --from 2010-12-20 --to 2010-12-31
  botscope simulate --scenario my-world.toml --seed 3 --scale 20 --out big/ --no-mail   # benchmark captures

Scenario files are TOML; docs/scenario.md describes every field.")]
    Simulate(SimulateArgs),
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
    /// Say what each host in the captures does: spam, C&C, downloads,
    /// click fraud, floods, scanning — every activity on its own line, however
    /// small next to the biggest.
    #[command(after_help = "\
Examples:
  botscope trace ../shared/data/botnet-pcaps/infostealer-payload-dll-download-2019.pcap
  botscope trace --json sandbox/pcap/rustock/
  botscope trace --connections verdicts.csv captures/   # one CSV row per connection
  botscope trace --iocs iocs.stix.json captures/        # also .misp.json, or .csv
  botscope trace --model model.json sandbox/pcap/       # spam attributed to families (botscope learn)
  botscope trace simda-005-conn.log simda-005-http.log   # Zeek logs
  botscope trace --filters easylist.txt captures/       # also your own ad/click server list
  botscope trace --intel feodo.csv --intel urlhaus.csv --intel misp-feed/ captures/   # threat intel

Inputs are recognised by content: pcap/pcapng captures, Zeek logs (conn, http,
dns, smtp, ssl; TSV or JSON) and CTU-13 .binetflow files, compressed or not.
Classes: spam, c2, download, click_fraud, flood (denial of service), scan, benign.
--intel feeds are recognised by content too: plain lists (one IP, CIDR, domain,
URL, SHA-256, JA3 or JA4 per line; # comments; hosts-file lines; defanged
hxxp/[.] values), abuse.ch CSVs (URLhaus, ThreatFox, Feodo Tracker, SSLBL IP
and JA3) and ThreatFox JSON, MISP events and feed folders (manifest.json), STIX
2.1 bundles (indicators whose pattern is '=' comparisons joined by OR). A
domain entry matches its subdomains. Unusable lines are counted per reason.
Exit status as for `botscope logs`.")]
    Trace(TraceArgs),
    /// Run a live SMTP spam trap: accept every message, relay nothing,
    /// store each one durably (Maildir) before saying 250, record each
    /// session's SMTP dialect.
    #[command(after_help = "\
Examples:
  botscope trap --listen 127.0.0.1:2525 --store store/
  swaks --to x@trap.example --server 127.0.0.1:2525          # in another terminal
  swaks --to x@trap.example --server 127.0.0.1:2525 -tls --pipeline
  botscope trap --listen 0.0.0.0:25 --store /var/lib/botscope --hostname mx.trap.example \\
      --domains trap.example,trap2.example --max-size 2000000 --config trap.toml
  botscope trap --listen 127.0.0.1:2525 --store store/ --model model.json --flush-secs 1
  botscope timeline --store store/ --by family --every hour   # trapped mail, attributed
  botscope trap --listen 127.0.0.1:2525 --store store/ --dataset s3://lab/ds/   # feed a store on S3

Messages go to STORE/trap/maildir/new/ (our Received: header, then the message as
sent), one JSON line per session to STORE/trap/sessions.jsonl, and each message
into the dataset's mail table under STORE (or --dataset) within --flush-secs (--no-dataset: not;
--model attributes the family). The trap never
relays and makes no outbound connection. Every limit (sizes, recipients, line
length, sessions in total and per IP, timeouts, session deadline, memory per
session) is in the --config TOML file; docs/trap.md lists them. Stop with
Ctrl-C or SIGTERM; --json prints the counters at exit.")]
    Trap(trap::TrapArgs),
    /// Analyse spam-trap mail: receive time, sender, fingerprint, URLs,
    /// category, brand, campaign and botnet family, one row per message.
    #[command(after_help = "\
Examples:
  botscope mail trap/2010-12-20.mbox                       # one tab-separated line per message
  botscope mail --json --model model.json world/mail/      # one JSON line per message
  botscope mail --summary ../shared/data/spam-csdmc2010/   # counts and failures only
  botscope mail --rules my-rules.yaml --model model.json Maildir/

Inputs: mbox (mboxrd/mboxo), Maildir, folders of .eml, single messages, and pcap/pcapng
captures (the messages of their SMTP sessions); .gz/.xz/.zst are opened directly.
A message that cannot be analysed still gets its line, with `error`.
Exit status: 0 all read and analysed; 1 some input or message failed; 2 usage error.")]
    Mail(mail::MailArgs),
    /// Learn each botnet family's mail fingerprint from sandbox captures
    /// (or mail) of known families; `botscope mail --model` uses it.
    #[command(after_help = "\
Examples:
  botscope learn --out model.json world/pcap/              # families from folder names (pcap/rustock/...)
  botscope learn --out model.json --family grum grum-sandbox.pcap
  botscope learn --out model.json sandbox-mail/cutwail/ world/pcap/

Labels: --family, else the folder right under a folder argument (world/pcap/rustock/day.pcap
→ rustock), the folder argument's own name for files directly in it, or a file argument's
parent folder name. Exit status as for `botscope mail`.")]
    Learn(mail::LearnArgs),
    /// Add captures, Zeek logs and binetflow files to the event dataset
    /// (Parquet, one table per event kind, partitioned by date); each
    /// distinct content is added once.
    #[command(after_help = "\
Examples:
  botscope ingest --store ds/ world/pcap/                 # folders are walked recursively
  botscope ingest --store ds/ ../shared/data/stratosphere-zeek-logs/ ../shared/data/ctu13/
  botscope ingest --store ds/ world/pcap/                 # again: adds nothing (inputs by content hash)

Inputs are recognised by content (pcap, pcapng, Zeek TSV/JSON logs, CTU-13 binetflow;
gzip/xz/zstd too). Mail (mbox, Maildir, .eml) is recognised and counted for the mail
analyser. An interrupted run is finished or rolled back at the next open, then resumes.
Exit status: 0 every input read completely; 1 some input failed or had bad lines; 2 fatal.")]
    Ingest(dataset::IngestArgs),
    /// Dated alerts from the dataset's daily counts: silences, drops,
    /// returns, activity shifts and other change points per family (and
    /// per campaign); saved as the `alert` table.
    #[command(after_help = "\
Examples:
  botscope alerts --store ds/                      # date, family, kind, evidence
  botscope alerts --store ds/ --json               # one JSON object per alert
  botscope alerts --store ds/ --config alerts.toml # thresholds (docs/timeline.md)

Volume series: trap messages per family and per campaign per day (mail table).
Shifts: sandbox connections per family (the capture's folder name) and activity
class per day (activity table). Change points: PELT with a negative-binomial cost.")]
    Alerts(observe::AlertsArgs),
    /// Write a self-contained HTML report with PNG and SVG charts: volume,
    /// per-family share, activity mix, alerts, top campaigns, brands,
    /// clicked sites and C&C servers.
    #[command(after_help = "\
Examples:
  botscope report --store ds/ --out report/        # then open report/index.html
  botscope report --store ds/ --out report/ --title \"Trap, winter 2010-11\"

The page makes no network fetch (charts are embedded); all text from the data
(subjects, URLs, host names) is escaped.")]
    Report(observe::ReportArgs),
    /// Run the observatory: a live web dashboard of the dataset, with the
    /// spam trap and watched drop folders feeding it as data arrives.
    #[command(after_help = "\
Examples:
  botscope serve --store ds/                                  # http://127.0.0.1:8080/
  botscope serve --store ds/ --trap 127.0.0.1:2525 --watch drop/ --model model.json
  botscope demo --serve                                       # the demo's dataset in the dashboard
  BOTSCOPE_TOKEN=$(cat token) botscope serve --store ds/ --listen 0.0.0.0:8080
  botscope serve --hash-password < pw.txt >> users && botscope serve --store ds/ --listen 0.0.0.0:8080 --users users

Pages: overview (volume and share per family, live; newest alerts), families,
alerts, hosts, campaigns, brands, search (IP, domain, URL, SHA-256, Message-ID),
a read-only SQL console, CSV downloads and indicators (CSV, STIX 2.1, MISP). The
JSON API is under /api (docs/serve.md). Files dropped into --watch folders are
ingested once they stop changing; alerts are computed again whenever the store
changes, and open pages redraw themselves. Listening on anything but loopback
needs --token-file, BOTSCOPE_TOKEN or --users. Stop with Ctrl-C or SIGTERM.")]
    Serve(serve::ServeArgs),
    /// Run SQL (DataFusion) over the dataset: tables conn, http, smtp, dns,
    /// ssl, irc, mail, mail_hourly, activity, alert (partition column
    /// `date`) and inputs (one row per input ingested).
    #[command(after_help = "\
Examples:
  botscope sql --store ds/ \"SELECT date, count(*) AS n FROM conn GROUP BY date ORDER BY date\"
  botscope sql --store ds/ --format csv \"SELECT host, class, connections FROM activity WHERE class <> 'benign'\"
  botscope sql --store ds/ --format json \"SELECT referrer, host, uri FROM http WHERE date = '2010-12-23' LIMIT 5\"
  botscope sql --store ds/ --as-of 3 \"SELECT count(*) FROM conn\"            # as of store version 3
  botscope sql --store ds/ --as-of 2026-12-01 \"SELECT op, path FROM inputs\"  # as of a time

docs/schema.md lists every column.")]
    Sql(dataset::SqlArgs),
    /// Count series from the dataset: messages per family, category, brand
    /// or campaign, or connections per activity class, per hour, day or week.
    #[command(after_help = "\
Examples:
  botscope timeline --store ds/ --by family --every day
  botscope timeline --store ds/ --by family --every week --share
  botscope timeline --store ds/ --by activity --every day --json   # [{bucket, key, count, share}, ...]

Every key has a row in every bucket between the first and last with data (zeros
included), so silences show.")]
    Timeline(dataset::TimelineArgs),
    /// Merge the small Parquet files of each partition (an OPTIMIZE commit
    /// per partition), then VACUUM files older than --retain-hours.
    #[command(after_help = "\
Examples:
  botscope compact --store ds/
  botscope compact --store ds/ --retain-hours 0 --json")]
    Compact(dataset::CompactArgs),
    /// Convert a dataset written before the store was Delta Lake tables
    /// (`_ledger.jsonl`) into Delta tables, in place (no data copied).
    #[command(after_help = "\
Examples:
  botscope migrate --store old-ds/
  botscope migrate --store old-ds/ --json")]
    Migrate(dataset::MigrateArgs),
    /// Re-run the activity analysis over the stored events (no re-decoding)
    /// and report which host × class verdicts appeared or vanished; with
    /// --model, re-attribute the stored mail's families too.
    #[command(after_help = "\
Examples:
  botscope rehunt --store ds/                         # after a detector update
  botscope rehunt --store ds/ --rules strict.toml --dry-run
  botscope rehunt --store ds/ --json
  botscope rehunt --store ds/ --model new-model.json  # mail: e.g. unknown -> lethic after learning its sandbox run

A rules file sets activity thresholds by name (TOML), e.g.
  click_min_forged = 2
  c2_min_score = 0.7")]
    Rehunt(dataset::RehuntArgs),
}

#[derive(clap::Args, Debug)]
pub struct TraceArgs {
    /// Print JSON (`{\"hosts\": [...], \"skipped\": {...}}`) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Write one CSV row per connection: orig_h,orig_p,resp_h,resp_p,proto,ts,class.
    #[arg(long)]
    pub connections: Option<PathBuf>,
    /// Write indicators (clicked sites, forged Referers, C&C servers, payload
    /// hashes, spam HELOs and MX hosts): CSV, or a STIX 2.1 bundle for
    /// `*.stix.json`, or a MISP event for `*.misp.json`.
    #[arg(long)]
    pub iocs: Option<PathBuf>,
    /// An EasyList-format filter list (Adblock Plus syntax: EasyList,
    /// EasyPrivacy, your own) of ad and click servers, used with the
    /// shipped one as a click-fraud feature. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub filters: Vec<PathBuf>,
    /// A threat-intelligence feed: a plain list (IP, CIDR, domain, URL,
    /// SHA-256, JA3, JA4 per line), abuse.ch URLhaus/ThreatFox/Feodo/SSLBL
    /// CSV, ThreatFox JSON, a MISP event or feed folder, or a STIX 2.1
    /// bundle (format sniffed from content). A host that contacts, looks
    /// up, fetches or fingerprints as a listed indicator gets evidence
    /// naming the feed and entry. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub intel: Vec<PathBuf>,
    /// Family model written by `botscope learn`: each spam message carved
    /// from the captures is attributed, and each host's spam activity says
    /// which families sent it.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The captures are a sandbox run of these infected hosts
    /// (`--sandbox=10.0.0.5,10.0.0.6`), or of the one host inferred when
    /// none is given (`--sandbox`: the local host with the most connections
    /// to outside addresses; the output says so). What an infected host does
    /// that the operating system's background (the shipped list plus
    /// --background) does not explain is suspect. Without --sandbox the
    /// input is network traffic: a host is innocent until evidence
    /// accumulates.
    #[arg(long, value_name = "HOST,...", num_args = 0..=1, require_equals = true, value_delimiter = ',')]
    pub sandbox: Option<Vec<std::net::IpAddr>>,
    /// A list of background services (the format of the shipped
    /// crates/activity/data/background.txt: `CATEGORY domain NAME` or
    /// `CATEGORY port udp/N`), added to the shipped one. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub background: Vec<PathBuf>,
    /// TLS key log (NSS `SSLKEYLOGFILE` format, as browsers, curl,
    /// sandboxes and Wireshark write it): sessions whose secrets it holds
    /// are decrypted (TLS 1.2 AES-GCM/ChaCha20, TLS 1.3) and the HTTP
    /// inside is decoded. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub tls_keylog: Vec<PathBuf>,
    /// SHA-256 every HTTP body, as Zeek's `hash-all-files` policy does.
    /// By default only downloads are hashed (executables, archives,
    /// documents, unrecognised binaries); pages, scripts and images get
    /// no `sha256`/`resp_body_sha256`. Extracted files, mail attachments
    /// and FTP transfers are always hashed.
    #[arg(long)]
    pub hash_all_files: bool,
    /// Captures, Zeek logs, binetflow files, or folders of them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
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
    /// TLS key log (NSS `SSLKEYLOGFILE` format, as browsers, curl,
    /// sandboxes and Wireshark write it): sessions whose secrets it holds
    /// are decrypted (TLS 1.2 AES-GCM/ChaCha20, TLS 1.3) and the HTTP
    /// inside is decoded. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub tls_keylog: Vec<PathBuf>,
    /// SHA-256 every HTTP body, as Zeek's `hash-all-files` policy does.
    /// By default only downloads are hashed (executables, archives,
    /// documents, unrecognised binaries); pages, scripts and images get
    /// no `sha256`/`resp_body_sha256`. Extracted files, mail attachments
    /// and FTP transfers are always hashed.
    #[arg(long)]
    pub hash_all_files: bool,
    /// Write every file the traffic carried (HTTP bodies, mail
    /// attachments and parts, FTP transfers) into DIR as
    /// `extract-<ts>-<source>-<fuid>`, the name files.log's `extracted`
    /// column gives. The content is the attacker's: nothing is run, names
    /// never come from the traffic, files are not executable.
    #[arg(long, value_name = "DIR")]
    pub extract_files: Option<PathBuf>,
    /// Bytes kept per extracted file; the rest is cut
    /// (`extracted_cutoff` T).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20, requires = "extract_files")]
    pub extract_limit: u64,
    /// Files extracted per run at most; later files are counted, not
    /// written.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        requires = "extract_files"
    )]
    pub extract_max_files: u64,
    /// Bytes extracted per run at most.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 30, requires = "extract_files")]
    pub extract_max_bytes: u64,
    /// Capture files or folders; `-` reads one capture from stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Built-in scenario name (`winter-2010`) or a scenario file.
    #[arg(long, default_value = "winter-2010")]
    pub scenario: String,
    /// Seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder (mail/, pcap/, truth/).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Multiply every volume (messages, connections) by this factor.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// First day (YYYY-MM-DD); default: the scenario's start.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD); default: the scenario's end.
    #[arg(long)]
    pub to: Option<String>,
    /// Do not write sandbox captures.
    #[arg(long)]
    pub no_pcaps: bool,
    /// Do not write trap mail.
    #[arg(long)]
    pub no_mail: bool,
    /// Also write the capture taken at the trap (`trap/YYYY-MM-DD.pcap`):
    /// each trap message in the SMTP session that delivered it, in its
    /// family's dialect (command case, HELO, pipelining, how it ends), for
    /// `botscope mail` to attribute by dialect as well as by headers.
    #[arg(long, conflicts_with = "no_mail")]
    pub trap_captures: bool,
    /// No summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, short, default_value = "botscope-demo")]
    pub out: PathBuf,
    /// Seed of the simulated world.
    #[arg(long, default_value_t = 2010)]
    pub seed: u64,
    /// Volume factor of the simulated trap mail (1: about 750 messages a
    /// day).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Volume factor of the simulated sandbox captures.
    #[arg(long, default_value_t = 0.2)]
    pub sandbox_scale: f64,
    /// Then serve the demo's dataset in the dashboard (`botscope serve`).
    #[arg(long)]
    pub serve: bool,
    /// With --serve: the dashboard's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Zeek,
    Json,
}

/// Read every `--tls-keylog` file into one key log, saying on stderr
/// how many sessions it holds and how many lines were not read.
pub(crate) fn load_keylog(
    paths: &[PathBuf],
) -> anyhow::Result<Option<std::sync::Arc<botscope_proto::tls::decrypt::KeyLog>>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut text = String::new();
    for p in paths {
        let bytes =
            std::fs::read(p).map_err(|e| anyhow::anyhow!("TLS key log {}: {e}", p.display()))?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        text.push('\n');
    }
    let log = botscope_proto::tls::decrypt::KeyLog::parse(&text);
    if log.is_empty() {
        anyhow::bail!(
            "TLS key log {}: no session secrets in it (NSS key log lines such as `CLIENT_RANDOM <hex> <hex>`; {} lines not read)",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            log.skipped
        );
    }
    eprintln!(
        "  TLS key log: {} sessions{}",
        log.len(),
        if log.skipped > 0 {
            format!(", {} lines not read", log.skipped)
        } else {
            String::new()
        }
    );
    Ok(Some(std::sync::Arc::new(log)))
}

/// A closed pipe ends a command quietly, as `head` and `less` expect:
/// Rust ignores SIGPIPE, so a write to a closed pipe would otherwise fail
/// (`println!` panics with "failed printing to stdout"). Not for the
/// trap, a server whose writes go to sockets (sent with `MSG_NOSIGNAL`
/// anyway) and which must never die of a client.
#[cfg(unix)]
fn die_quietly_on_closed_pipe() {
    // SAFETY: setting a signal's disposition to its default, once, at
    // start, before any thread exists; no handler code runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn die_quietly_on_closed_pipe() {}

/// Text from the traffic or the mail (subjects, host names, URLs, user
/// agents) made safe for a terminal: control characters other than line
/// breaks and tabs, and the Unicode controls that reorder text (bidi
/// overrides and isolates), are shown as `\xNN` / `\u{NNNN}` instead of
/// being interpreted: a subject cannot move the cursor, retitle the
/// window or hide text.
pub(crate) fn term_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
    };
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !bad(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The error is a closed pipe (the reader went away): not worth a word.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
    if !matches!(cli.cmd, Cmd::Trap(_)) {
        die_quietly_on_closed_pipe();
    }
    let result = match cli.cmd {
        Cmd::Logs(args) => logs::run(&args, std::io::stderr().is_terminal()),
        Cmd::Simulate(args) => sim::simulate(&args),
        Cmd::Trace(args) => trace::run(&args),
        Cmd::Trap(args) => trap::run(&args),
        Cmd::Mail(args) => mail::run_mail(&args),
        Cmd::Learn(args) => mail::run_learn(&args),
        Cmd::Demo(args) => match sim::demo(&args, std::io::stderr().is_terminal()) {
            Ok(EXIT_OK) if args.serve => serve::run(&serve::ServeArgs::for_demo(
                args.out.join("dataset"),
                args.listen.clone(),
            )),
            other => other,
        },
        Cmd::Serve(args) => serve::run(&args),
        Cmd::Ingest(args) => dataset::ingest(&args, std::io::stderr().is_terminal()),
        Cmd::Sql(args) => dataset::sql(&args),
        Cmd::Alerts(args) => observe::alerts(&args),
        Cmd::Report(args) => observe::report(&args),
        Cmd::Timeline(args) => dataset::timeline(&args),
        Cmd::Compact(args) => dataset::compact(&args),
        Cmd::Migrate(args) => dataset::migrate(&args),
        Cmd::Rehunt(args) => dataset::rehunt(&args),
    };
    match result.context("botscope") {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}
