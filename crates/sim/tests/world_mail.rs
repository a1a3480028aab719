//! Trap mail: Python's email package parses every message without
//! defects, mboxrd quoting round-trips, and families write differently.

mod world_common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use botscope_sim::SimOptions;
use world_common::*;

const CHECK_MBOX: &str = r#"
import csv, email, email.policy, re, sys
path, truth_path = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
name = "mail/" + path.replace("\\", "/").rsplit("/", 1)[-1]
truth = [r for r in csv.DictReader(open(truth_path, newline="")) if r["file"] == name]
entries = [e for e in re.split(rb"(?:^|\n\n)(?=From )", data) if e]
problems = []
if len(entries) != len(truth):
    problems.append(f"{len(entries)} messages in the mbox, {len(truth)} truth rows")
unquote = re.compile(rb"^>(>*From )", re.M)
from_lines = 0
kinds = set()
for i, raw in enumerate(entries):
    body = unquote.sub(rb"\1", raw.split(b"\n", 1)[1])
    msg = email.message_from_bytes(body, policy=email.policy.default)
    for part in msg.walk():
        kinds.add(part.get_content_type())
        for k, v in part.items():
            if getattr(v, "defects", None):
                problems.append(f"message {i}: header {k}: {v.defects}")
        if not part.is_multipart():
            part.get_payload(decode=True)
            content = part.get_content()
            if isinstance(content, str) and re.search(r"(?m)^From ", content):
                from_lines += 1
        if part.defects:
            problems.append(f"message {i}: {part.get_content_type()}: {part.defects}")
    if i < len(truth):
        t = truth[i]
        if msg["Message-ID"] != t["message_id"]:
            problems.append(f"message {i}: Message-ID {msg['Message-ID']} != {t['message_id']}")
        top = str(msg.get_all("Received")[0])
        if f"[{t['bot_ip']}]" not in top:
            problems.append(f"message {i}: trap Received header {top!r} does not name {t['bot_ip']}")
if problems:
    print("\n".join(problems[:40]))
    sys.exit(1)
print(len(entries), from_lines, " ".join(sorted(kinds)))
"#;

fn python() -> Option<&'static str> {
    for p in ["python3", "python"] {
        if Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(p);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("python3 is required under CI=true");
    }
    None
}

#[test]
fn python_email_parses_every_message_without_defects() {
    let Some(py) = python() else {
        eprintln!("skipping: python3 not found");
        return;
    };
    let d = date(2010, 12, 3);
    let opts = SimOptions {
        seed: 11,
        scale: 0.5,
        from: Some(d),
        to: Some(d),
        pcaps: false,
        mail: true,
        trap_captures: false,
    };
    let (dir, sum) = winter("python", opts);
    assert!(sum.messages > 200, "{sum:?}");
    let script = dir.path().join("check_mbox.py");
    std::fs::write(&script, CHECK_MBOX).unwrap();
    let out = Command::new(py)
        .arg(&script)
        .arg(dir.path().join("mail/2010-12-03.mbox"))
        .arg(dir.path().join("truth/messages.csv"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(fields[0].parse::<u64>().unwrap(), sum.messages);
    // Bodies with a line starting "From " survive the mboxrd quoting.
    let raw = std::fs::read(dir.path().join("mail/2010-12-03.mbox")).unwrap();
    let quoted = raw.windows(7).filter(|w| w == b"\n>From ").count();
    assert!(quoted > 0, "no quoted From lines in the sample day");
    assert!(fields[1].parse::<usize>().unwrap() >= 1);
    // MIME variety: text, html, alternative, mixed with a zip.
    for kind in [
        "text/plain",
        "text/html",
        "multipart/alternative",
        "multipart/mixed",
        "application/zip",
    ] {
        assert!(fields.contains(&kind), "no {kind} part: {stdout}");
    }
}

#[test]
fn mboxrd_quoting_round_trips() {
    let d = date(2010, 12, 3);
    let opts = SimOptions {
        seed: 11,
        scale: 0.5,
        from: Some(d),
        to: Some(d),
        pcaps: false,
        mail: true,
        trap_captures: false,
    };
    let (dir, sum) = winter("mboxrd", opts);
    let raw = std::fs::read(dir.path().join("mail/2010-12-03.mbox")).unwrap();
    let msgs = mbox_messages(&raw);
    assert_eq!(msgs.len() as u64, sum.messages);
    // No unquoted From line inside any entry of the file.
    let mut in_headers = false;
    for line in raw.split(|b| *b == b'\n') {
        if line.starts_with(b"From ") {
            assert!(!in_headers || line.is_empty());
            in_headers = true;
        } else if line.is_empty() {
            in_headers = false;
        }
    }
    let unquoted = msgs
        .iter()
        .filter(|m| m.windows(6).any(|w| w == b"\nFrom "))
        .count();
    assert!(
        unquoted > 0,
        "no message with a body line starting with From"
    );
}

/// The shape of a Message-ID's local part: alphanumeric runs by length,
/// punctuation kept.
fn id_shape(id: &str) -> String {
    let local = id.trim_start_matches('<').split('@').next().unwrap_or("");
    let mut out = String::new();
    let mut run = 0;
    for c in local.chars() {
        if c.is_ascii_alphanumeric() {
            run += 1;
        } else {
            if run > 0 {
                out.push_str(&run.to_string());
                run = 0;
            }
            out.push(c);
        }
    }
    if run > 0 {
        out.push_str(&run.to_string());
    }
    out
}

#[test]
fn families_write_differently_and_consistently() {
    let d = date(2010, 11, 2);
    let opts = SimOptions {
        seed: 3,
        scale: 0.5,
        from: Some(d),
        to: Some(d),
        pcaps: false,
        mail: true,
        trap_captures: false,
    };
    let (dir, _) = winter("families", opts);
    let raw = std::fs::read(dir.path().join("mail/2010-11-02.mbox")).unwrap();
    let rows = read_csv(&dir.path().join("truth/messages.csv"));
    let fam_col = col(&rows[0], "family");
    let msgs = mbox_messages(&raw);
    assert_eq!(msgs.len(), rows.len() - 1);

    let mut orders: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut shapes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut mailers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut helo_shapes: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for (m, row) in msgs.iter().zip(&rows[1..]) {
        let fam = row[fam_col].clone();
        let h = headers(m);
        // The first header is the trap's own Received.
        assert_eq!(h[0].0, "Received");
        let helo = h[0]
            .1
            .trim_start_matches("from ")
            .split(' ')
            .next()
            .unwrap_or("");
        let style = if helo.starts_with('[') {
            "ip"
        } else if helo.contains('.') {
            "domain"
        } else {
            "word"
        };
        helo_shapes.entry(fam.clone()).or_default().insert(style);
        orders
            .entry(fam.clone())
            .or_default()
            .insert(h[1..].iter().map(|x| x.0.clone()).collect());
        let id = h
            .iter()
            .find(|x| x.0.eq_ignore_ascii_case("message-id"))
            .map(|x| x.1.clone())
            .unwrap();
        shapes.entry(fam.clone()).or_default().insert(id_shape(&id));
        let mailer = h
            .iter()
            .find(|x| x.0 == "X-Mailer")
            .map_or("-".to_string(), |x| {
                x.1.split(|c: char| c.is_ascii_digit() || c == '(')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            });
        mailers.entry(fam).or_default().insert(mailer);
    }
    assert_eq!(
        orders.len(),
        6,
        "all six families in the sample day: {:?}",
        orders.keys()
    );
    for (fam, set) in &orders {
        assert_eq!(set.len(), 1, "{fam} writes headers in one order: {set:?}");
        assert_eq!(
            shapes[fam].len(),
            1,
            "{fam} has one Message-ID shape: {:?}",
            shapes[fam]
        );
        assert_eq!(
            mailers[fam].len(),
            1,
            "{fam} has one X-Mailer habit: {:?}",
            mailers[fam]
        );
        assert_eq!(
            helo_shapes[fam].len(),
            1,
            "{fam} has one HELO style: {:?}",
            helo_shapes[fam]
        );
    }
    fn distinct<T: Ord>(m: &BTreeMap<String, BTreeSet<T>>) -> usize {
        m.values().collect::<BTreeSet<_>>().len()
    }
    assert_eq!(
        distinct(&orders),
        6,
        "header orders differ between families"
    );
    assert_eq!(
        distinct(&shapes),
        6,
        "Message-ID shapes differ between families: {shapes:?}"
    );
    let with_mailer: Vec<&BTreeSet<String>> =
        mailers.values().filter(|s| !s.contains("-")).collect();
    assert!(with_mailer.len() >= 2);
    assert_eq!(
        with_mailer.iter().collect::<BTreeSet<_>>().len(),
        with_mailer.len(),
        "{mailers:?}"
    );
}

/// A family that changes its template mid-winter (Grum from 4 Jan, in the
/// scenario): its header order and Message-ID shape change from that day,
/// its bots' HELO style does not.
#[test]
fn a_restyle_changes_the_template_from_its_day() {
    let opts = SimOptions {
        seed: 3,
        scale: 0.3,
        from: Some(date(2011, 1, 3)),
        to: Some(date(2011, 1, 4)),
        pcaps: false,
        mail: true,
        trap_captures: false,
    };
    let (dir, _) = winter("restyle", opts);
    let mut orders: BTreeMap<&str, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut agents: BTreeMap<&str, usize> = BTreeMap::new();
    let mut helos: BTreeMap<&str, BTreeSet<bool>> = BTreeMap::new();
    for day in ["2011-01-03", "2011-01-04"] {
        let raw = std::fs::read(dir.path().join(format!("mail/{day}.mbox"))).unwrap();
        let rows = read_csv(&dir.path().join("truth/messages.csv"));
        let fam_col = col(&rows[0], "family");
        let ts_col = col(&rows[0], "received_ts");
        let fams: Vec<&Vec<String>> = rows[1..]
            .iter()
            .filter(|r| r[ts_col].starts_with(day))
            .collect();
        let msgs = mbox_messages(&raw);
        assert_eq!(msgs.len(), fams.len(), "{day}");
        for (m, row) in msgs.iter().zip(fams) {
            if row[fam_col] != "Grum" {
                continue;
            }
            let h = headers(m);
            orders
                .entry(day)
                .or_default()
                .insert(h[1..].iter().map(|x| x.0.clone()).collect());
            if h.iter().any(|x| x.0 == "User-Agent") {
                *agents.entry(day).or_default() += 1;
            }
            let helo = h[0].1.trim_start_matches("from ").to_string();
            helos
                .entry(day)
                .or_default()
                .insert(helo.split(' ').next().unwrap_or("").contains('.'));
        }
    }
    let (before, after) = (&orders["2011-01-03"], &orders["2011-01-04"]);
    assert!(!before.is_empty() && !after.is_empty());
    assert!(before.is_disjoint(after), "{before:?} {after:?}");
    assert_eq!(agents.get("2011-01-03"), None);
    assert!(agents["2011-01-04"] > 0);
    // Same bots, same dialect: fake-domain HELOs on both days.
    assert_eq!(helos["2011-01-03"], helos["2011-01-04"]);
}
