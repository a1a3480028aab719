//! Sandbox days: what the infected host does (plans), and the rendered
//! captures' ground truth.

mod world_common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use botscope_sim::plan::{Activity, Class, SandboxDay, Side};
use botscope_sim::{load_scenario, sandbox_plan, SimOptions};
use world_common::*;

fn plan(family: &str, y: i32, m: u32, d: u32) -> SandboxDay {
    let s = load_scenario("winter-2010").unwrap();
    sandbox_plan(&s, family, date(y, m, d), 77, 1.0).unwrap()
}

fn class_counts(p: &SandboxDay) -> BTreeMap<Class, usize> {
    let mut c = BTreeMap::new();
    for a in &p.activities {
        let class = match a {
            Activity::Tcp(t) => t.class,
            Activity::Udp(u) => u.class,
        };
        *c.entry(class).or_default() += 1;
    }
    c
}

/// `(name, value)` of an HTTP request header in `req`.
fn http_header<'a>(req: &'a str, name: &str) -> Option<&'a str> {
    req.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (n, v) = l.split_once(": ")?;
        n.eq_ignore_ascii_case(name).then_some(v)
    })
}

fn requests(p: &SandboxDay, class: Class) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for a in &p.activities {
        if let Activity::Tcp(t) = a {
            if t.class == class {
                for turn in t.turns.iter().filter(|t| t.side == Side::Client) {
                    out.push((t.ts_us, String::from_utf8_lossy(&turn.bytes).into_owned()));
                }
            }
        }
    }
    out
}

#[test]
fn december_rustock_spams_and_clicks_about_one_percent() {
    for day in [3, 10, 20] {
        let p = plan("Rustock", 2010, 12, day);
        let c = class_counts(&p);
        let total: usize = c.values().sum();
        let clicks = c.get(&Class::ClickFraud).copied().unwrap_or(0);
        let share = clicks as f64 / total as f64;
        assert!(
            (0.005..=0.02).contains(&share),
            "12-{day}: {clicks} clicks of {total} connections: {c:?}"
        );
        for class in [
            Class::Spam,
            Class::C2,
            Class::Download,
            Class::Benign,
            Class::Dns,
        ] {
            assert!(
                c.get(&class).copied().unwrap_or(0) > 0,
                "12-{day}: no {class:?}: {c:?}"
            );
        }
    }
    // Before December: no clicks.
    let c = class_counts(&plan("Rustock", 2010, 11, 20));
    assert!(
        !c.contains_key(&Class::ClickFraud) && c[&Class::Spam] > 50,
        "{c:?}"
    );
}

#[test]
fn rustock_only_clicks_during_the_silence_and_does_both_after() {
    let c = class_counts(&plan("Rustock", 2010, 12, 30));
    assert!(!c.contains_key(&Class::Spam), "{c:?}");
    assert!(
        c[&Class::ClickFraud] >= 20 && c[&Class::C2] > 50 && c[&Class::Download] > 0,
        "{c:?}"
    );
    let c = class_counts(&plan("Rustock", 2011, 1, 12));
    assert!(
        c[&Class::Spam] > 50 && c.get(&Class::ClickFraud).copied().unwrap_or(0) > 0,
        "{c:?}"
    );
    // Lethic after its silence phones home but sends nothing.
    let c = class_counts(&plan("Lethic", 2011, 1, 2));
    assert!(!c.contains_key(&Class::Spam) && c[&Class::C2] > 0, "{c:?}");
}

#[test]
fn clicks_forge_referers_of_sites_never_fetched_and_fetch_nothing_more() {
    let p = plan("Rustock", 2010, 12, 30);
    let clicks = requests(&p, Class::ClickFraud);
    assert!(clicks.len() >= 20);
    // Every host the host talks to over HTTP, and every name it resolves.
    let mut fetched = BTreeSet::new();
    for class in [Class::Benign, Class::ClickFraud, Class::C2, Class::Download] {
        for (_, r) in requests(&p, class) {
            fetched.insert(http_header(&r, "Host").unwrap().to_string());
        }
    }
    let mut referers = BTreeSet::new();
    let mut last = i64::MIN / 2;
    for (ts, r) in &clicks {
        assert!(r.starts_with("GET "), "{r}");
        let referer = http_header(r, "Referer").expect("clicks carry a Referer");
        let host = referer
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap();
        assert!(
            !fetched.contains(host),
            "forged referrer {host} was fetched"
        );
        referers.insert(host.to_string());
        // Sparse: minutes apart.
        assert!(
            ts - last >= 120_000_000,
            "clicks {} s apart",
            (ts - last) / 1_000_000
        );
        last = *ts;
        // No sub-resources: nothing else names the clicked page as referrer.
        let url = format!(
            "http://{}{}",
            http_header(r, "Host").unwrap(),
            r.split(' ').nth(1).unwrap()
        );
        for class in [Class::Benign, Class::ClickFraud] {
            assert!(requests(&p, class)
                .iter()
                .all(|(_, x)| http_header(x, "Referer") != Some(url.as_str())));
        }
    }
    assert!(referers.contains("playdrom.com"), "{referers:?}");
    let hosts: BTreeSet<String> = clicks
        .iter()
        .map(|(_, r)| http_header(r, "Host").unwrap().to_string())
        .collect();
    assert!(hosts.len() >= 4, "{hosts:?}");
}

#[test]
fn benign_browsing_has_genuine_referer_chains() {
    let p = plan("Cutwail", 2010, 10, 5);
    let reqs = requests(&p, Class::Benign);
    assert!(reqs.len() > 30);
    let mut pages = BTreeSet::new();
    let mut resources = 0;
    for (_, r) in &reqs {
        let path = r.split(' ').nth(1).unwrap();
        let host = http_header(r, "Host").unwrap();
        let is_page = !path.contains('.')
            || path.ends_with(".html")
            || path.contains(".php")
            || path.contains('?');
        if is_page {
            pages.insert(format!("http://{host}{path}"));
        }
        if let Some(rf) = http_header(r, "Referer") {
            assert!(
                rf.starts_with(&format!("http://{host}/")),
                "{rf} for {host}"
            );
            if !is_page {
                resources += 1;
            }
        }
    }
    assert!(resources > 20, "{resources} resource fetches");
    // Each page visit is preceded by a DNS lookup.
    let dns = class_counts(&p)[&Class::Dns];
    assert!(dns >= pages.len() / 2);
}

#[test]
fn spam_sessions_speak_the_family_dialect() {
    let p = plan("Xarvester", 2010, 10, 5);
    let spam = requests(&p, Class::Spam);
    assert!(
        spam.iter().any(|(_, r)| r.starts_with("ehlo ")),
        "lower-case EHLO"
    );
    assert!(
        spam.iter().any(|(_, r)| r.starts_with("mail from:<")
            && r.contains("\r\nrcpt to:<")
            && r.ends_with("data\r\n")),
        "pipelined"
    );
    let data: Vec<&String> = spam
        .iter()
        .map(|x| &x.1)
        .filter(|r| r.ends_with("\r\n.\r\n"))
        .collect();
    assert!(!data.is_empty());
    assert!(
        data.iter().all(|d| d.contains("X-Mailer: The Bat!")),
        "messages carry the family's headers"
    );
    let p = plan("Lethic", 2010, 10, 5);
    let spam = requests(&p, Class::Spam);
    assert!(spam
        .iter()
        .any(|(_, r)| r.starts_with("HELO [192.168.56.102]")));
    assert!(spam.iter().any(|(_, r)| r.starts_with("MAIL FROM: <")));
    assert!(
        !spam.iter().any(|(_, r)| r.starts_with("QUIT")),
        "Lethic drops the connection"
    );
    // Downloads are PE files of 50-300 KB.
    for a in &p.activities {
        if let Activity::Tcp(t) = a {
            if t.class == Class::Download {
                let resp = &t
                    .turns
                    .iter()
                    .find(|t| t.side == Side::Server)
                    .unwrap()
                    .bytes;
                let body_at = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                assert_eq!(&resp[body_at..body_at + 2], b"MZ");
                let n = resp.len() - body_at;
                assert!((50 * 1024..=301 * 1024).contains(&n), "{n}");
            }
        }
    }
}

fn tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("CI").as_deref() == Ok("true") {
        panic!("tshark is required under CI=true");
    }
    ok
}

#[test]
fn rendered_captures_carry_the_truth() {
    let d = date(2010, 12, 3);
    let opts = SimOptions {
        seed: 77,
        scale: 1.0,
        from: Some(d),
        to: Some(d),
        pcaps: true,
        mail: false,
        trap_captures: false,
    };
    let (dir, sum) = winter("render", opts);
    assert_eq!(sum.pcaps, 6);
    if sum.pcap_bytes == 0 {
        eprintln!("skipping: the packet renderer is still a placeholder");
        return;
    }
    // A few hundred KB to a few MB per day at scale 1.
    for f in ["rustock", "lethic", "xarvester", "cutwail", "grum", "bagle"] {
        let n = std::fs::metadata(dir.path().join(format!("pcap/{f}/2010-12-03.pcap")))
            .unwrap()
            .len();
        assert!((200_000..8_000_000).contains(&n), "{f}: {n} bytes");
    }
    let rows = read_csv(&dir.path().join("truth/connections.csv"));
    assert_eq!(
        rows[0],
        ["pcap", "orig_h", "orig_p", "resp_h", "resp_p", "proto", "ts", "class"]
    );
    assert_eq!(rows.len() as u64 - 1, sum.connections);
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows[1..]
        .iter()
        .filter(|r| r[0] == "pcap/rustock/2010-12-03.pcap")
    {
        assert_eq!(r[1], "192.168.56.101");
        let (s, us) = r[6].split_once('.').unwrap();
        assert!(s.parse::<i64>().is_ok() && us.len() == 6);
        *classes.entry(r[7].clone()).or_default() += 1;
    }
    for c in ["spam", "c2", "download", "click_fraud", "benign", "dns"] {
        assert!(classes.contains_key(c), "no {c}: {classes:?}");
    }
    let total: usize = classes.values().sum();
    let share = classes["click_fraud"] as f64 / total as f64;
    assert!(
        (0.005..=0.02).contains(&share),
        "click fraud {share} of {total}"
    );

    if tshark() {
        let pcap = dir.path().join("pcap/rustock/2010-12-03.pcap");
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-q", "-z", "expert,error"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("Malformed") && !text.contains("Errors ("),
            "{text}"
        );
    }
}
