//! `botscope simulate` and `botscope demo`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use botscope_sim::{SimOptions, SimSummary};
use chrono::NaiveDate;

use botscope_store::{By, Every};

use crate::dataset::IngestArgs;
use crate::mail::LearnArgs;
use crate::observe::ReportArgs;
use crate::{DemoArgs, Format, LogsArgs, SimulateArgs, EXIT_OK};

fn parse_date(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("bad date {s:?} (want YYYY-MM-DD)"))
}

fn print_summary(what: &str, s: &SimSummary, secs: f64) {
    let bytes = s.mail_bytes + s.pcap_bytes;
    eprintln!(
        "{what}: {} days, {} messages ({:.1} MB of mail), {} captures ({:.1} MB, {} connections), {} scripted events in {:.2}s ({:.0} MB/s)",
        s.days,
        s.messages,
        s.mail_bytes as f64 / 1e6,
        s.pcaps,
        s.pcap_bytes as f64 / 1e6,
        s.connections,
        s.events,
        secs,
        bytes as f64 / 1e6 / secs.max(1e-9)
    );
}

pub fn simulate(args: &SimulateArgs) -> Result<u8> {
    let scenario = botscope_sim::load_scenario(&args.scenario)
        .with_context(|| format!("cannot load scenario {:?}", args.scenario))?;
    if !(args.scale > 0.0 && args.scale.is_finite()) {
        bail!("--scale must be a positive number");
    }
    let opts = SimOptions {
        seed: args.seed,
        scale: args.scale,
        from: args.from.as_deref().map(parse_date).transpose()?,
        to: args.to.as_deref().map(parse_date).transpose()?,
        pcaps: !args.no_pcaps,
        mail: !args.no_mail,
        trap_captures: args.trap_captures,
    };
    let t = Instant::now();
    let s = botscope_sim::simulate(&scenario, &opts, &args.out)
        .with_context(|| format!("cannot simulate into {}", args.out.display()))?;
    if !args.quiet {
        print_summary("botscope simulate", &s, t.elapsed().as_secs_f64());
    }
    Ok(EXIT_OK)
}

/// Read a CSV written by the simulator (no embedded newlines).
fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let head: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for l in lines {
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut chars = l.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(std::mem::take(&mut cur)),
                (c, _) => cur.push(c),
            }
        }
        fields.push(cur);
        rows.push(fields);
    }
    Ok((head, rows))
}

/// The sandbox's weeks in the demo.
const SANDBOX_FROM: &str = "2010-11-01";
const SANDBOX_TO: &str = "2011-01-12";

pub fn demo(args: &DemoArgs, tty: bool) -> Result<u8> {
    let out = args.out.clone();
    let world = out.join("world");
    let sandbox = out.join("sandbox");
    let started = Instant::now();
    let scenario = botscope_sim::load_scenario("winter-2010")?;
    eprintln!(
        "botscope demo: simulating the winter of 2010-11 (seed {}) into {}",
        args.seed,
        world.display()
    );
    // The whole winter's trap mail (world/), and ten weeks of sandbox
    // captures around December (sandbox/): from before Rustock's click
    // fraud starts to after its return.
    let t = Instant::now();
    let mail = botscope_sim::simulate(
        &scenario,
        &SimOptions {
            seed: args.seed,
            scale: args.scale,
            from: None,
            to: None,
            pcaps: false,
            mail: true,
            trap_captures: false,
        },
        &world,
    )?;
    let mail_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let caps = botscope_sim::simulate(
        &scenario,
        &SimOptions {
            seed: args.seed,
            scale: args.sandbox_scale,
            from: Some(parse_date(SANDBOX_FROM)?),
            to: Some(parse_date(SANDBOX_TO)?),
            pcaps: true,
            mail: false,
            trap_captures: false,
        },
        &sandbox,
    )?;
    print_summary("  trap mail (world/)", &mail, mail_secs);
    print_summary(
        "  sandbox captures (sandbox/)",
        &caps,
        t.elapsed().as_secs_f64(),
    );

    // Decode every capture into Zeek logs.
    let logs_dir = out.join("logs");
    let code = crate::logs::run(
        &LogsArgs {
            out: logs_dir.clone(),
            format: Format::Zeek,
            json: false,
            threads: None,
            quiet: false,
            tls_keylog: Vec::new(),
            hash_all_files: false,
            extract_files: None,
            extract_limit: 0,
            extract_max_files: 0,
            extract_max_bytes: 0,
            inputs: vec![sandbox.join("pcap")],
        },
        tty,
    )?;

    // What the decoder found, per family capture folder.
    println!();
    println!(
        "Decoded sandbox captures (botscope logs → {})",
        logs_dir.display()
    );
    let conns = botscope_zeeklog::read_zeek_tsv(logs_dir.join("conn.log")).ok();
    if let Some((fields, rows)) = conns {
        let col = |n: &str| fields.iter().position(|f| f == n);
        if let (Some(svc), Some(resp)) = (col("service"), col("id.resp_p")) {
            let mut by_service: BTreeMap<String, u64> = BTreeMap::new();
            for r in &rows {
                let s = r.get(svc).cloned().unwrap_or_default();
                let s = if s == "-" {
                    format!("(none, port {})", r.get(resp).cloned().unwrap_or_default())
                } else {
                    s
                };
                *by_service.entry(s).or_insert(0) += 1;
            }
            println!("  {:<28} {:>8}", "service", "conns");
            for (s, n) in by_service {
                println!("  {s:<28} {n:>8}");
            }
        }
    }
    if let Ok((fields, rows)) = botscope_zeeklog::read_zeek_tsv(logs_dir.join("http.log")) {
        let col = |n: &str| fields.iter().position(|f| f == n);
        if let (Some(host), Some(referrer)) = (col("host"), col("referrer")) {
            let mut hosts: BTreeMap<String, u64> = BTreeMap::new();
            for r in &rows {
                let h = r.get(host).cloned().unwrap_or_default();
                let rf = r.get(referrer).cloned().unwrap_or_default();
                *hosts.entry(format!("{h}  (Referer {rf})")).or_insert(0) += 1;
            }
            let mut v: Vec<_> = hosts.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            println!();
            println!(
                "  HTTP requests by host and Referer (top 12 of {}):",
                v.len()
            );
            for (h, n) in v.into_iter().take(12) {
                println!("  {n:>6}  {h}");
            }
        }
    }

    // What the Rustock sandbox host did that week, by the activity
    // analysis: click fraud stays visible under the spam.
    let rustock = sandbox.join("pcap").join("rustock");
    if rustock.is_dir() {
        let t = crate::trace::trace_inputs_full(
            std::slice::from_ref(&rustock),
            &botscope_activity::ActivityConfig::default(),
            None,
        );
        println!();
        println!(
            "What the Rustock sandbox host did, {SANDBOX_FROM} to {SANDBOX_TO} (botscope trace {}):",
            rustock.display()
        );
        print!("{}", crate::trace::render(&t.hosts));
        for name in ["iocs.csv", "iocs.stix.json", "iocs.misp.json"] {
            botscope_zeeklog::ioc::write_iocs(&out.join(name), &t.iocs)?;
        }
        println!(
            "{} indicators written to {} (iocs.csv, iocs.stix.json, iocs.misp.json)",
            t.iocs.len(),
            out.display()
        );
    }

    // Learn each family's mail fingerprint from its sandbox captures (the
    // capture's folder names the family), then put the winter's trap mail
    // and the captures into the event dataset.
    let model = out.join("model.json");
    println!();
    println!("Learning family fingerprints from the sandbox captures (botscope learn):");
    crate::mail::run_learn(&LearnArgs {
        out: model.clone(),
        family: None,
        min_match: 0.6,
        json: false,
        inputs: vec![sandbox.join("pcap")],
    })?;
    let ds = out.join("dataset");
    println!();
    println!(
        "Ingesting the trap mail and the captures into {} (botscope ingest):",
        ds.display()
    );
    let ingest_code = crate::dataset::ingest(
        &IngestArgs {
            store: ds.clone(),
            model: Some(model.clone()),
            json: false,
            threads: None,
            quiet: false,
            capture_mail: false,
            inputs: vec![world.join("mail"), sandbox.join("pcap")],
        },
        tty,
    )?;
    let code = code.max(ingest_code);

    // Each family's share of the trap's spam, as attributed (compare with
    // the ground truth below).
    let rows = botscope_store::timeline(&ds, By::Family, Every::Day)?;
    let mut measured: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for r in &rows {
        let month = Every::Day
            .label(r.bucket)
            .get(..7)
            .unwrap_or("")
            .to_string();
        *measured
            .entry(month)
            .or_default()
            .entry(r.key.clone())
            .or_insert(0) += r.count;
    }
    print_share_pivot(
        "Measured (botscope timeline --by family): share of trap spam by attributed family and month",
        &measured,
    );

    // Dated alerts from the daily series, saved as the `alert` table.
    let cfg = botscope_timeline::AlertConfig::default();
    let alerts = crate::observe::compute_alerts(&crate::observe::series(&ds)?, &cfg)?;
    crate::observe::save_alerts(&ds, &alerts)?;
    println!();
    println!(
        "Alerts by family and brand, and campaigns changing botnet (botscope alerts --store {}):",
        ds.display()
    );
    let (campaign, main): (Vec<_>, Vec<_>) = alerts.iter().cloned().partition(|a| {
        a.series.contains(" by campaign") && a.kind != botscope_timeline::AlertKind::Move
    });
    crate::observe::print_alerts(&main, false);
    println!(
        "  and {} alerts on single campaigns (all of them: botscope alerts --store {})",
        campaign.len(),
        ds.display()
    );

    // The self-contained HTML report with its charts.
    let report = out.join("report");
    crate::observe::report(&ReportArgs {
        store: ds.clone(),
        out: report.clone(),
        config: None,
        title: "botscope demo: the winter of 2010-11".to_string(),
    })?;
    println!();
    println!(
        "Report: {} (open it in a browser; charts as PNG and SVG beside it)",
        report.join("index.html").display()
    );

    // The simulated world's own ground truth: what the analyses above
    // had to find.
    let (head, rows) = read_csv(&world.join("truth/messages.csv"))?;
    let fam = head.iter().position(|h| h == "family");
    let ts = head.iter().position(|h| h == "received_ts");
    if let (Some(fam), Some(ts)) = (fam, ts) {
        let mut months: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for r in &rows {
            let (Some(f), Some(t)) = (r.get(fam), r.get(ts)) else {
                continue;
            };
            let m = t.get(..7).unwrap_or("").to_string();
            *months
                .entry(m)
                .or_default()
                .entry(f.to_ascii_lowercase())
                .or_insert(0) += 1;
        }
        print_share_pivot(
            "Ground truth of the simulated trap: share of spam by family and month",
            &months,
        );
    }
    let mut found = (0usize, 0usize);
    // (date, family) of every scripted event, for precision.
    let mut scripted: Vec<(NaiveDate, String)> = Vec::new();
    if let Ok((head, rows)) = read_csv(&world.join("truth/events.csv")) {
        println!();
        println!("Scripted events (truth/events.csv) and the alert found for each (within a day):");
        for r in rows {
            let get = |n: &str| {
                head.iter()
                    .position(|h| h == n)
                    .and_then(|i| r.get(i))
                    .cloned()
                    .unwrap_or_default()
            };
            let (date, family, kind) = (get("date"), get("family"), get("kind"));
            let day = NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok();
            if let Some(d) = day {
                scripted.push((d, family.clone()));
            }
            // An event without a family (an affiliate program closing)
            // must show on the series of the brand its campaigns carry.
            let brands: Vec<&str> = scenario
                .affiliates
                .iter()
                .filter(|a| day.is_some_and(|d| a.closes.is_some_and(|c| c.0 == d)))
                .flat_map(|a| a.campaigns.iter())
                .filter_map(|c| scenario.campaigns.iter().find(|x| &x.name == c))
                .map(|c| c.brand.as_str())
                .collect();
            let hit = day.and_then(|d| {
                alerts.iter().find(|a| {
                    let who = if kind == "move" {
                        // A customer moving a campaign: the campaign's
                        // series shows its mail going to the family.
                        a.series
                            .to_ascii_lowercase()
                            .contains(&format!("→ {})", family.to_ascii_lowercase()))
                    } else if family.is_empty() {
                        a.series.contains(" by brand") && brands.contains(&a.family.as_str())
                    } else {
                        a.family.eq_ignore_ascii_case(&family)
                    };
                    who && a.kind.as_str() == kind && (a.date() - d).num_days().abs() <= 1
                })
            });
            found.1 += 1;
            let verdict = match hit {
                Some(a) => {
                    found.0 += 1;
                    if family.is_empty() || kind == "move" {
                        format!("found {} ({})", a.date().format("%Y-%m-%d"), a.family)
                    } else {
                        format!("found {}", a.date().format("%Y-%m-%d"))
                    }
                }
                None => "NOT FOUND".to_string(),
            };
            println!(
                "  {}  {:<10} {:<8} {:<16} {}",
                date,
                family,
                kind,
                verdict,
                get("description")
            );
        }
    }
    // Precision beside recall: a family alert (volume or activity mix)
    // with no scripted event of its family within a day is false.
    let family_alerts: Vec<_> = alerts
        .iter()
        .filter(|a| !a.series.contains(" by campaign") && !a.series.contains(" by brand"))
        .collect();
    let false_alerts: Vec<_> = family_alerts
        .iter()
        .filter(|a| {
            !scripted.iter().any(|(d, f)| {
                f.eq_ignore_ascii_case(&a.family) && (a.date() - *d).num_days().abs() <= 1
            })
        })
        .collect();
    if !scripted.is_empty() {
        println!(
            "  Recall: {} of {} scripted events found. Precision: {} of {} family alerts \
             are within a day of a scripted event of their family{}",
            found.0,
            found.1,
            family_alerts.len() - false_alerts.len(),
            family_alerts.len(),
            if false_alerts.is_empty() {
                "."
            } else {
                "; away from every event:"
            }
        );
        for a in &false_alerts {
            println!(
                "    {}  {:<10} {:<11} {}",
                a.date().format("%Y-%m-%d"),
                a.family,
                a.kind.as_str(),
                a.evidence
            );
        }
    }
    println!();
    println!(
        "Wrote {} in {:.1}s: world/ (trap mail), sandbox/ (captures), logs/ (Zeek logs), \
         model.json, dataset/ (Parquet; try `botscope sql --store {} \"SELECT family, count(*) FROM mail GROUP BY family\"`), \
         report/index.html. {} of {} scripted events found by the alerts, {} false family alerts.",
        out.display(),
        started.elapsed().as_secs_f64(),
        ds.display(),
        found.0,
        found.1,
        false_alerts.len()
    );
    Ok(code)
}

/// A month × family table of shares.
fn print_share_pivot(title: &str, months: &BTreeMap<String, BTreeMap<String, u64>>) {
    let families: std::collections::BTreeSet<&String> =
        months.values().flat_map(|m| m.keys()).collect();
    println!();
    println!("{title}");
    print!("  {:<10}", "month");
    for f in &families {
        print!(" {:>10}", truncate(f, 10));
    }
    println!(" {:>9}", "messages");
    for (m, by) in months {
        let total: u64 = by.values().sum();
        print!("  {m:<10}");
        for f in &families {
            let n = by.get(*f).copied().unwrap_or(0);
            print!(" {:>9.1}%", 100.0 * n as f64 / total.max(1) as f64);
        }
        println!(" {total:>9}");
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
