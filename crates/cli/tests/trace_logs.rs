//! `botscope trace` on Zeek logs and CTU-13 binetflow files, and a round
//! trip: our own logs (`botscope logs`) imported back equal the events.

mod common;

use std::path::Path;

use botscope_engine::{analyze_file, EngineConfig};
use botscope_event::{Dns, Event, Http};
use botscope_zeeklog::{import::uid_from_str, read_zeek_log};
use common::{botscope, data_dir, run_logs, temp_dir};
use serde_json::Value;

fn trace_json(inputs: &[&Path]) -> (Value, i32) {
    let o = botscope()
        .args(["trace", "--json"])
        .args(inputs)
        .output()
        .expect("run botscope");
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&o.stderr)));
    (v, o.status.code().unwrap_or(-1))
}

fn activity<'a>(v: &'a Value, host: &str, class: &str) -> Option<&'a Value> {
    v["hosts"].as_array()?.iter().find(|h| h["host"] == host)?["activities"]
        .as_array()?
        .iter()
        .find(|a| a["class"] == class)
}

#[test]
fn simda_click_fraud_from_zeek_logs() {
    let Some(data) = data_dir() else { return };
    let d = data.join("stratosphere-zeek-logs");
    let files = ["conn", "http", "dns"].map(|k| d.join(format!("simda-005-{k}.log")));
    let (v, code) = trace_json(&files.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    assert_eq!(code, 0, "{}", v["skipped"]);
    let host = "192.168.1.116";
    let http = read_zeek_log(&files[1]).expect("http.log");
    let requests = http
        .events
        .iter()
        .filter(|e| {
            matches!(e, Event::Http(h) if h.meta.is_some_and(|m| m.id.orig_h.to_string() == host))
        })
        .count() as f64;
    let cf = activity(&v, host, "click_fraud").expect("no click_fraud for the Simda host");
    let share = cf["requests"].as_f64().unwrap() / requests;
    eprintln!(
        "simda: click_fraud covers {} of {requests} HTTP requests ({:.1}%)",
        cf["requests"],
        100.0 * share
    );
    assert!(share >= 0.95, "click_fraud share {share}");
}

/// The "N on listed ad/click servers" count of a click_fraud summary.
fn listed_clicks(a: &Value) -> u64 {
    a["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .find_map(|e| {
            let (head, _) = e.split_once(" on listed ad/click servers")?;
            head.rsplit(' ').next()?.parse().ok()
        })
        .expect("click_fraud summary line")
}

#[test]
fn simda_with_a_user_filter_list() {
    let Some(data) = data_dir() else { return };
    let d = data.join("stratosphere-zeek-logs");
    let files = ["conn", "http", "dns"].map(|k| d.join(format!("simda-005-{k}.log")));
    let mut args: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let (v, _) = trace_json(&args);
    let host = "192.168.1.116";
    let cf = activity(&v, host, "click_fraud").expect("click_fraud");
    // Simda's DGA hosts are in no ad list.
    assert_eq!(listed_clicks(cf), 0);
    // A user's EasyList-format list naming Simda's click path.
    let dir = temp_dir("filters");
    let list = dir.join("mine.txt");
    std::fs::write(
        &list,
        "[Adblock Plus 2.0]\n! mine\n/login.php^\n@@||allowed.example^\n",
    )
    .unwrap();
    let o = botscope()
        .args(["trace", "--json", "--filters"])
        .arg(&list)
        .args(&args)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let cf = activity(&v, host, "click_fraud").expect("click_fraud");
    let listed = listed_clicks(cf);
    eprintln!(
        "simda with /login.php^ listed: {listed} of {} clicks",
        cf["requests"]
    );
    assert!(listed as f64 >= 0.95 * cf["requests"].as_f64().unwrap());
    // The matching rule is named in the evidence (after the summary).
    assert!(
        cf["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("(/login.php^)")),
        "{}",
        cf["evidence"]
    );
    // A missing list is an error before any work.
    let missing = dir.join("nope.txt");
    args.insert(0, &missing);
    let o = botscope()
        .args(["trace", "--filters"])
        .args(&args)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.txt"));
}

#[test]
fn njrat_labelled_conn_log_traces() {
    let Some(data) = data_dir() else { return };
    let p = data.join("stratosphere-zeek-logs/njrat-001-labeled-conn.log");
    let r = read_zeek_log(&p).expect("import");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let out = temp_dir("njrat-trace");
    let csv = out.join("conns.csv");
    let o = botscope()
        .args(["trace", "--connections"])
        .arg(&csv)
        .arg(&p)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0));
    let text = std::fs::read_to_string(&csv).expect("csv");
    let rows = text.lines().count() - 1;
    let c2 = text.lines().filter(|l| l.ends_with(",c2")).count();
    let labelled_cc = r.labels.iter().filter(|(_, l)| l == "Malicious").count();
    eprintln!(
        "njrat: {} rows imported, {rows} connections traced, {c2} classed c2 \
         ({labelled_cc} labelled Malicious CC)",
        r.events.len()
    );
    assert_eq!(rows, r.events.len());

    // C&C precision and recall against the capture's own labels.
    let log = std::fs::read_to_string(&p).expect("read log");
    let mut fields: Vec<&str> = Vec::new();
    let mut truth = std::collections::BTreeSet::new();
    for l in log.lines() {
        if let Some(f) = l.strip_prefix("#fields\t") {
            fields = f.split('\t').collect();
            continue;
        }
        if l.starts_with('#') {
            continue;
        }
        let v: Vec<&str> = l.split('\t').collect();
        let get = |n: &str| {
            fields
                .iter()
                .position(|f| *f == n)
                .and_then(|i| v.get(i))
                .copied()
                .unwrap_or("")
        };
        if get("label") == "Malicious" {
            truth.insert(format!(
                "{}:{}>{}:{}",
                get("id.orig_h"),
                get("id.orig_p"),
                get("id.resp_h"),
                get("id.resp_p")
            ));
        }
    }
    let ours: std::collections::BTreeSet<String> = text
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(",c2"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{}:{}>{}:{}", f[0], f[1], f[2], f[3])
        })
        .collect();
    let tp = ours.intersection(&truth).count() as f64;
    let precision = tp / ours.len().max(1) as f64;
    let recall = tp / truth.len().max(1) as f64;
    eprintln!(
        "njrat C&C: precision {precision:.3} recall {recall:.3} ({} labelled)",
        truth.len()
    );
    assert!(truth.len() > 100, "{} labelled 4-tuples", truth.len());
    assert!(
        precision >= 0.9 && recall >= 0.9,
        "njrat C&C precision {precision:.3} recall {recall:.3}"
    );
}

#[test]
fn ctu13_binetflow_traces() {
    let Some(data) = data_dir() else { return };
    let p = data.join("ctu13/capture20110818-2.window-154750-154920.binetflow");
    let (v, code) = trace_json(&[&p]);
    assert_eq!(code, 0, "{}", v["skipped"]);
    assert!(!v["hosts"].as_array().unwrap().is_empty());
    assert!(v["skipped"]["rows"]
        .as_object()
        .unwrap()
        .keys()
        .any(|k| k.contains("proto")));

    // Broken lines are input errors with file and line, and the rest is
    // still traced.
    let dir = temp_dir("binetflow-trace");
    let text = std::fs::read_to_string(&p).expect("read");
    let mut lines: Vec<&str> = text.lines().take(50).collect();
    lines[2] = "garbage";
    let broken = dir.join("broken.binetflow");
    std::fs::write(&broken, lines.join("\n")).unwrap();
    let (v, code) = trace_json(&[&broken]);
    assert_ne!(code, 0);
    let errs = v["skipped"]["errors"].as_array().unwrap();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].as_str().unwrap().contains("broken.binetflow:3: "));
    assert!(!v["hosts"].as_array().unwrap().is_empty());
}

fn http_key(h: &Http) -> impl PartialEq + std::fmt::Debug {
    let m = h.meta.expect("meta");
    (
        m.ts,
        m.id,
        h.trans_depth,
        h.method.clone(),
        h.host.clone(),
        h.uri.clone(),
        h.referrer.clone(),
        h.version.clone(),
        h.user_agent.clone(),
        (
            h.status_code,
            h.request_body_len,
            h.response_body_len,
            h.resp_mime_types.clone(),
            h.location.clone(),
            h.resp_body_sha256.clone(),
        ),
    )
}

fn dns_key(d: &Dns) -> impl PartialEq + std::fmt::Debug {
    let m = d.meta.expect("meta");
    (
        m.ts,
        m.id,
        d.trans_id,
        d.query.clone(),
        d.qtype,
        d.qtype_name.clone(),
        d.rcode,
        d.rcode_name.clone(),
        (d.aa, d.tc, d.rd, d.ra),
        d.answers.clone(),
        d.ttls.clone(),
        d.rtt,
    )
}

#[test]
fn our_logs_round_trip_through_the_importer() {
    let Some(data) = data_dir() else { return };
    for pcap in [
        "zeek-http-bro.org.pcap",
        "zeek-dns53.pcap",
        "sanders-ppa1e-dns.cap",
        "zeek-dns-txt-multiple.pcap",
    ] {
        let input = data.join("protocol-pcaps").join(pcap);
        let (sinks, summary) =
            analyze_file(&input, &EngineConfig::default(), |_| Vec::<Event>::new());
        assert!(summary.error.is_none(), "{:?}", summary.error);
        let events: Vec<Event> = sinks.into_iter().flatten().collect();
        let mut orig_http: Vec<&Http> = Vec::new();
        let mut orig_dns: Vec<&Dns> = Vec::new();
        for e in &events {
            match e {
                Event::Http(h) if h.meta.is_some() => orig_http.push(h),
                Event::Dns(d) if d.meta.is_some() => orig_dns.push(d),
                _ => {}
            }
        }
        for format in ["zeek", "json"] {
            let (out, code, err) = run_logs(&input, format, &format!("rt-{pcap}-{format}"));
            assert_eq!(code, 0, "{err}");
            for (log, n) in [("http", orig_http.len()), ("dns", orig_dns.len())] {
                let p = out.join(format!("{log}.log"));
                if !p.exists() {
                    assert_eq!(n, 0, "{pcap}: no {log}.log");
                    continue;
                }
                let r = read_zeek_log(&p).expect("import");
                assert!(r.errors.is_empty(), "{pcap} {format}: {:?}", r.errors);
                assert_eq!(r.events.len(), n, "{pcap} {format} {log}");
                for (i, e) in r.events.iter().enumerate() {
                    match e {
                        Event::Http(h) => {
                            let o = orig_http
                                .iter()
                                .find(|o| {
                                    uid_from_str(&o.meta.unwrap().uid.to_string())
                                        == h.meta.unwrap().uid
                                        && o.trans_depth == h.trans_depth
                                })
                                .unwrap_or_else(|| panic!("{pcap} {format}: http row {i}"));
                            assert_eq!(http_key(o), http_key(h), "{pcap} {format} http {i}");
                        }
                        Event::Dns(d) => {
                            let o = orig_dns
                                .iter()
                                .filter(|o| {
                                    uid_from_str(&o.meta.unwrap().uid.to_string())
                                        == d.meta.unwrap().uid
                                })
                                .find(|o| dns_key(o) == dns_key(d));
                            assert!(o.is_some(), "{pcap} {format}: dns row {i} {d:?}");
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
                eprintln!("{pcap} {format} {log}: {n} rows round-tripped");
            }
        }
    }
}

/// What the CTU-13 labels say and what the detectors found, on one
/// binetflow file.
struct Ctu13Score {
    bot_hosts: (usize, usize, usize),
    cc_flows: (usize, usize, usize),
    cc_servers: (usize, usize, usize),
    flood_flows: (usize, usize),
    /// Hosts with both a flood and a C&C activity.
    flood_and_c2: usize,
}

fn ratio(tp: usize, other: usize) -> f64 {
    tp as f64 / (tp + other).max(1) as f64
}

fn triple<T: Ord>(
    ours: &std::collections::BTreeSet<T>,
    truth: &std::collections::BTreeSet<T>,
) -> (usize, usize, usize) {
    let tp = ours.intersection(truth).count();
    (tp, ours.len() - tp, truth.len() - tp)
}

/// Score `botscope trace`'s analysis of a CTU-13 binetflow against its
/// labels: a host is a bot when it originates `From-Botnet` flows and
/// normal when it originates `From-Normal` flows (background hosts are
/// not scored); a flow is C&C when its label names `CC`.
fn ctu13_score(p: &Path) -> Ctu13Score {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    let r = botscope_zeeklog::read_binetflow(p).expect("import");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let (hosts, verdicts) =
        botscope_activity::analyze(&r.events, &botscope_activity::ActivityConfig::default());
    let labels: HashMap<_, _> = r.labels.iter().cloned().collect();
    let mut truth_host: BTreeMap<String, bool> = BTreeMap::new();
    let (mut cc_truth, mut cc_ours) = (BTreeSet::new(), BTreeSet::new());
    let (mut srv_truth, mut srv_ours) = (BTreeSet::new(), BTreeSet::new());
    let (mut flood_bot, mut flood_all) = (0, 0);
    for v in &verdicts {
        let l = labels.get(&v.uid).map(String::as_str).unwrap_or("");
        let orig = v.id.orig_h.to_string();
        if l.contains("From-Botnet") {
            truth_host.insert(orig.clone(), true);
        } else if l.contains("From-Normal") {
            truth_host.entry(orig.clone()).or_insert(false);
        }
        if l.contains("-CC") {
            cc_truth.insert(v.uid);
            srv_truth.insert(v.id.resp_h);
        }
        if v.class == botscope_activity::Class::C2 {
            cc_ours.insert(v.uid);
            srv_ours.insert(v.id.resp_h);
        }
        if v.class == botscope_activity::Class::Flood {
            flood_all += 1;
            flood_bot += usize::from(l.contains("From-Botnet"));
        }
    }
    let flagged: BTreeSet<String> = hosts
        .iter()
        .filter(|h| {
            h.activities
                .iter()
                .any(|a| a.class != botscope_activity::Class::Benign)
        })
        .map(|h| h.host.to_string())
        .collect();
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (h, bot) in &truth_host {
        match (*bot, flagged.contains(h)) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            _ => {}
        }
    }
    for h in hosts
        .iter()
        .filter(|h| flagged.contains(&h.host.to_string()))
    {
        for a in h.activities.iter().filter(|a| a.class.as_str() != "benign") {
            eprintln!(
                "ctu13 {} {} ({:?}): {} {} conns, e.g. {:?}",
                p.file_name().unwrap().to_string_lossy(),
                h.host,
                truth_host.get(&h.host.to_string()),
                a.class,
                a.connections,
                a.evidence.first()
            );
        }
    }
    let flood_and_c2 = hosts
        .iter()
        .filter(|h| {
            h.activity(botscope_activity::Class::Flood).is_some()
                && h.activity(botscope_activity::Class::C2).is_some()
        })
        .count();
    Ctu13Score {
        flood_and_c2,
        bot_hosts: (tp, fp, fn_),
        cc_flows: triple(&cc_ours, &cc_truth),
        cc_servers: triple(&srv_ours, &srv_truth),
        flood_flows: (flood_bot, flood_all),
    }
}

#[test]
fn ctu13_scenario11_accuracy() {
    let Some(data) = data_dir() else { return };
    let p = data.join("ctu13/capture20110818-2.labelled-botnet-and-normal.binetflow");
    let s = ctu13_score(&p);
    let (tp, fp, fn_) = s.bot_hosts;
    let (host_p, host_r) = (ratio(tp, fp), ratio(tp, fn_));
    let (ctp, cfp, cfn) = s.cc_flows;
    let (cc_p, cc_r) = (ratio(ctp, cfp), ratio(ctp, cfn));
    let (stp, sfp, sfn) = s.cc_servers;
    let (srv_p, srv_r) = (ratio(stp, sfp), ratio(stp, sfn));
    eprintln!(
        "ctu13 scenario 11: bot hosts tp {tp} fp {fp} fn {fn_} precision {host_p:.2} recall {host_r:.2}; \
         C&C flows tp {ctp} fp {cfp} fn {cfn} precision {cc_p:.2} recall {cc_r:.2}; \
         C&C servers tp {stp} fp {sfp} fn {sfn} precision {srv_p:.2} recall {srv_r:.2}; \
         flood flows {} of {} from bot hosts",
        s.flood_flows.0, s.flood_flows.1
    );
    // Every Rbot host is found (two by their ICMP flood and IRC session,
    // the third by its IRC session alone).
    assert_eq!(tp, 3, "bot hosts found");
    assert!(
        host_r >= 1.0 && host_p >= 0.75,
        "bot hosts {host_p} {host_r}"
    );
    // Both labelled IRC C&C sessions are found.
    assert!(cc_r >= 1.0, "C&C flow recall {cc_r}");
    assert!(srv_p >= 0.5, "C&C server precision {srv_p}");
    // Every flood flow comes from a bot (the normal host pinging the same
    // target ten times a second is not a flood), and the floods are the
    // bulk of the bots' 8,143 ICMP flows.
    assert_eq!(
        s.flood_flows.0, s.flood_flows.1,
        "flood flows from normal hosts"
    );
    assert!(s.flood_flows.0 >= 8000, "flood flows {}", s.flood_flows.0);
    // The one IRC connection of each flooding bot (0.02% of its
    // connections) is reported beside its 4,000 flood flows.
    assert_eq!(s.flood_and_c2, 2);
}
