//! The botscope world simulator: a labelled botnet winter.
//!
//! A scenario (data, not code) describes botnet families, campaigns,
//! daily volume curves, behaviours per period and dated events. The
//! simulator turns it — deterministically for a given seed — into
//! spam-trap mail (`mail/YYYY-MM-DD.mbox`), sandbox captures
//! (`pcap/FAMILY/YYYY-MM-DD.pcap`) and ground truth (`truth/*.csv`); on
//! request also a capture taken at the trap (`trap/YYYY-MM-DD.pcap`: the
//! SMTP session that delivered each trap message, in its family's
//! dialect, one message per session).
//!
//! ```no_run
//! let scenario = botscope_sim::load_scenario("winter-2010")?;
//! let opts = botscope_sim::SimOptions { scale: 0.1, ..Default::default() };
//! let summary = botscope_sim::simulate(&scenario, &opts, std::path::Path::new("world"))?;
//! println!("{} messages", summary.messages);
//! # Ok::<(), botscope_sim::Error>(())
//! ```
//!
//! Every random choice comes from a stream keyed by the seed and by what
//! it is for (family, day, message number), so days are generated in
//! parallel and in any order with byte-identical results. No family name
//! appears in this code: the scenario holds every fact about the world.
//!
//! This crate is only ever used to make test worlds: no analysis code
//! depends on it.

pub mod net;
pub mod plan;
pub mod scenario;

mod encode;
mod error;
mod mail;
mod rng;
mod sandbox;
mod template;
mod words;
mod world;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use chrono::NaiveDate;

pub use error::{Error, ErrorKind};
pub use scenario::Scenario;

use encode::csv_field;
use world::{day_num, day_str, World};

/// How to run a simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOptions {
    /// Seed of every random choice; the same seed gives byte-identical output.
    pub seed: u64,
    /// Multiplier of every volume (trap messages, spam sessions, clicks,
    /// downloads, browsing); must be in (0, 100000].
    pub scale: f64,
    /// First day to generate (default: the scenario's first).
    pub from: Option<NaiveDate>,
    /// Last day to generate (default: the scenario's last).
    pub to: Option<NaiveDate>,
    /// Write the sandbox captures (`pcap/`).
    pub pcaps: bool,
    /// Write the trap mail (`mail/`).
    pub mail: bool,
    /// With `mail`, also write the capture taken at the trap
    /// (`trap/YYYY-MM-DD.pcap`): the same messages, each in the SMTP
    /// session that delivered it, in its family's dialect.
    pub trap_captures: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 1,
            scale: 1.0,
            from: None,
            to: None,
            pcaps: true,
            mail: true,
            trap_captures: false,
        }
    }
}

/// What a simulation wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimSummary {
    /// Days generated.
    pub days: u32,
    /// Trap messages.
    pub messages: u64,
    /// Bytes of `mail/*.mbox`.
    pub mail_bytes: u64,
    /// Captures written.
    pub pcaps: u32,
    /// Bytes of `pcap/**.pcap`.
    pub pcap_bytes: u64,
    /// Rows of `truth/connections.csv`.
    pub connections: u64,
    /// Rows of `truth/events.csv`.
    pub events: u32,
}

const WINTER_2010: &str = include_str!("../scenarios/winter-2010.toml");

/// Names of the built-in scenarios.
pub fn builtin_scenarios() -> &'static [&'static str] {
    &["winter-2010"]
}

/// Parse and check a scenario from TOML text; `source_name` names it in
/// errors.
pub fn parse_scenario(text: &str, source_name: &str) -> Result<Scenario, Error> {
    let s: Scenario = toml::from_str(text).map_err(|e| ErrorKind::Parse {
        source_name: source_name.to_string(),
        message: e.to_string(),
    })?;
    World::build(&s)?;
    Ok(s)
}

/// A built-in scenario by name (see [`builtin_scenarios`]), else a TOML
/// file path.
pub fn load_scenario(name_or_path: &str) -> Result<Scenario, Error> {
    if name_or_path == "winter-2010" {
        return parse_scenario(WINTER_2010, "winter-2010 (built-in)");
    }
    let text = fs::read_to_string(name_or_path).map_err(|source| ErrorKind::NotFound {
        name: name_or_path.to_string(),
        source,
    })?;
    parse_scenario(&text, name_or_path)
}

/// The sandbox plan of one family on one day (what its capture would
/// hold), for inspection and tests.
pub fn sandbox_plan(
    s: &Scenario,
    family: &str,
    date: NaiveDate,
    seed: u64,
    scale: f64,
) -> Result<plan::SandboxDay, Error> {
    let world = World::build(s)?;
    check_scale(scale)?;
    let fi = world
        .families
        .iter()
        .position(|f| f.name == family)
        .ok_or_else(|| ErrorKind::Options(format!("no family `{family}` in the scenario")))?;
    Ok(sandbox::plan_day(&world, seed, fi, day_num(date), scale))
}

fn check_scale(scale: f64) -> Result<(), Error> {
    if scale.is_finite() && scale > 0.0 && scale <= 100_000.0 {
        Ok(())
    } else {
        Err(ErrorKind::Options(format!("scale must be in (0, 100000], got {scale}")).into())
    }
}

enum Job {
    Mail(i64),
    Pcap(usize, i64),
}

#[derive(Default)]
struct JobOut {
    messages: u64,
    mail_bytes: u64,
    pcaps: u32,
    pcap_bytes: u64,
    connections: u64,
    messages_csv: Vec<u8>,
    connections_csv: Vec<u8>,
}

/// Write `bytes` to `path` through a temporary name in the same folder.
fn write_once(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let result = (|| {
        let f = fs::File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        fill(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

fn mkdir(p: &Path) -> Result<(), Error> {
    fs::create_dir_all(p).map_err(|e| Error::io(p, e))
}

fn run_job(world: &World, opts: &SimOptions, out_dir: &Path, job: &Job) -> Result<JobOut, Error> {
    let mut out = JobOut::default();
    match *job {
        Job::Mail(day) => {
            let rel = format!("mail/{}.mbox", day_str(day));
            let mut td = None;
            let mut sessions = Vec::new();
            write_once(&out_dir.join(&rel), |w| {
                td = Some(mail::write_trap_day(
                    world,
                    opts.seed,
                    day,
                    opts.scale,
                    &rel,
                    w,
                    opts.trap_captures.then_some(&mut sessions),
                )?);
                Ok(())
            })?;
            if opts.trap_captures {
                let plan = plan::SandboxDay {
                    name: format!("trap/{}.pcap", day_str(day)),
                    host: world.trap.ip,
                    seed: rng::key(&[opts.seed, rng::stream::TRAP_SESSION, day as u64]),
                    activities: sessions,
                };
                let mut bytes = Vec::new();
                net::render_pcap(&plan, &mut bytes);
                write_once(&out_dir.join(&plan.name), |w| w.write_all(&bytes))?;
                out.pcap_bytes += bytes.len() as u64;
            }
            let td = td.unwrap_or_default();
            out.messages = td.messages;
            out.mail_bytes = td.bytes;
            out.messages_csv = td.csv;
        }
        Job::Pcap(fi, day) => {
            let plan = sandbox::plan_day(world, opts.seed, fi, day, opts.scale);
            let mut bytes = Vec::new();
            let truth = net::render_pcap(&plan, &mut bytes);
            write_once(&out_dir.join(&plan.name), |w| w.write_all(&bytes))?;
            out.pcaps = 1;
            out.pcap_bytes = bytes.len() as u64;
            out.connections = truth.len() as u64;
            let c = &mut out.connections_csv;
            for t in &truth {
                csv_field(c, &t.pcap);
                let _ = writeln!(
                    c,
                    ",{},{},{},{},{},{}.{:06},{}",
                    t.orig_h,
                    t.orig_p,
                    t.resp_h,
                    t.resp_p,
                    t.proto,
                    t.ts_us.div_euclid(1_000_000),
                    t.ts_us.rem_euclid(1_000_000),
                    t.class.as_str()
                );
            }
        }
    }
    Ok(out)
}

/// Generate the world of `s` into `out_dir` (created if needed): see the
/// crate documentation for the layout. Days run in parallel, one worker
/// per core; every file is written once, under a temporary name first.
pub fn simulate(s: &Scenario, opts: &SimOptions, out_dir: &Path) -> Result<SimSummary, Error> {
    let world = World::build(s)?;
    check_scale(opts.scale)?;
    let from = opts.from.map_or(world.from, day_num);
    let to = opts.to.map_or(world.to, day_num);
    if from > to {
        return Err(ErrorKind::Options(format!(
            "from {} is after to {}",
            day_str(from),
            day_str(to)
        ))
        .into());
    }
    let (from, to) = (from.max(world.from), to.min(world.to));
    if from > to {
        return Err(ErrorKind::Options(format!(
            "the days asked for are outside the scenario period {} .. {}",
            day_str(world.from),
            day_str(world.to)
        ))
        .into());
    }

    mkdir(&out_dir.join("truth"))?;
    if opts.mail {
        mkdir(&out_dir.join("mail"))?;
        if opts.trap_captures {
            mkdir(&out_dir.join("trap"))?;
        }
    }
    if opts.pcaps {
        for f in &world.families {
            mkdir(&out_dir.join("pcap").join(&f.dir))?;
        }
    }
    let mut jobs = Vec::new();
    for day in from..=to {
        if opts.mail {
            jobs.push(Job::Mail(day));
        }
        if opts.pcaps {
            jobs.extend((0..world.families.len()).map(|fi| Job::Pcap(fi, day)));
        }
    }

    let truth = out_dir.join("truth");
    let open = |name: &str| -> Result<(PathBuf, PathBuf, BufWriter<fs::File>), Error> {
        let path = truth.join(name);
        let tmp = truth.join(format!(".{name}.tmp"));
        let f = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok((path, tmp, BufWriter::with_capacity(1 << 20, f)))
    };
    let (msg_path, msg_tmp, mut msg_w) = open("messages.csv")?;
    let (conn_path, conn_tmp, mut conn_w) = open("connections.csv")?;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| Error::io(p, e)
    };
    msg_w
        .write_all(b"file,index,message_id,family,campaign,category,brand,bot_ip,received_ts\n")
        .map_err(io(&msg_tmp))?;
    conn_w
        .write_all(b"pcap,orig_h,orig_p,resp_h,resp_p,proto,ts,class\n")
        .map_err(io(&conn_tmp))?;

    let mut summary = SimSummary {
        days: (to - from + 1) as u32,
        ..Default::default()
    };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    let write_result = std::thread::scope(|scope| -> Result<(), Error> {
        let (tx, rx) = mpsc::channel::<(usize, JobOut)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (world, jobs, next, stop, failure) = (&world, &jobs, &next, &stop, &failure);
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                match run_job(world, opts, out_dir, job) {
                    Ok(o) => {
                        if tx.send((i, o)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Truth rows in job order, whatever order the jobs finish in.
        let mut pending: BTreeMap<usize, JobOut> = BTreeMap::new();
        let mut want = 0;
        let mut result = Ok(());
        for (i, o) in rx {
            pending.insert(i, o);
            while let Some(o) = pending.remove(&want) {
                want += 1;
                summary.messages += o.messages;
                summary.mail_bytes += o.mail_bytes;
                summary.pcaps += o.pcaps;
                summary.pcap_bytes += o.pcap_bytes;
                summary.connections += o.connections;
                if result.is_ok() {
                    result = msg_w
                        .write_all(&o.messages_csv)
                        .map_err(io(&msg_tmp))
                        .and_then(|_| conn_w.write_all(&o.connections_csv).map_err(io(&conn_tmp)));
                    if result.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
        result
    });
    let failed = failure.into_inner().ok().flatten();
    if let Some(e) = failed.map(Err).unwrap_or(write_result).err() {
        let _ = fs::remove_file(&msg_tmp);
        let _ = fs::remove_file(&conn_tmp);
        return Err(e);
    }
    for (w, tmp, path) in [
        (msg_w, &msg_tmp, &msg_path),
        (conn_w, &conn_tmp, &conn_path),
    ] {
        w.into_inner().map_err(|e| Error::io(tmp, e.into_error()))?;
        fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
    }

    // Events of the generated days.
    let mut ev = b"date,family,kind,description\n".to_vec();
    for e in world.events.iter().filter(|e| (from..=to).contains(&e.day)) {
        ev.extend_from_slice(day_str(e.day).as_bytes());
        ev.push(b',');
        csv_field(&mut ev, &e.family);
        ev.push(b',');
        ev.extend_from_slice(e.kind.as_bytes());
        ev.push(b',');
        csv_field(&mut ev, &e.description);
        ev.push(b'\n');
        summary.events += 1;
    }
    write_once(&truth.join("events.csv"), |w| w.write_all(&ev))?;
    Ok(summary)
}
