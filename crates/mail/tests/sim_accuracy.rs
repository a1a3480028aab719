//! Family attribution learned from the sandbox captures of one simulated
//! world, checked on the trap mail of another (different seed) against
//! its ground truth. Figures are in crates/mail/ACCURACY.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use botscope_mail::{family_label, for_each_message, MailAnalyzer, MailConfig, Model};
use botscope_sim::{load_scenario, simulate, SimOptions};
use chrono::NaiveDate;

fn world(dir: &Path, seed: u64, pcaps: bool, mail: bool) {
    let s = load_scenario("winter-2010").unwrap();
    let opts = SimOptions {
        seed,
        scale: 0.5,
        from: NaiveDate::from_ymd_opt(2010, 12, 20),
        to: NaiveDate::from_ymd_opt(2010, 12, 21),
        pcaps,
        mail,
        trap_captures: false,
    };
    simulate(&s, &opts, dir).unwrap();
}

fn learn(paths: &[PathBuf]) -> Model {
    let analyzer = MailAnalyzer::new(MailConfig::default(), None);
    let mut model = Model::default();
    let stats = for_each_message(paths, analyzer.config(), |m| {
        let label = family_label(m.root, m.path).unwrap();
        let f = analyzer.features(m.raw, m.envelope).unwrap();
        model.learn(&label, &f.tokens);
    });
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    assert!(stats.captures > 0);
    model
}

/// truth/messages.csv: (file, index) → (family (lower case), campaign),
/// and the same by Message-ID (without angle brackets), for messages read
/// from the trap's capture.
type Truth = BTreeMap<(String, u64), (String, String)>;
fn truth(dir: &Path) -> (Truth, BTreeMap<String, (String, String)>) {
    let text = std::fs::read_to_string(dir.join("truth/messages.csv")).unwrap();
    let mut out = BTreeMap::new();
    let mut by_mid = BTreeMap::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let v = (cols[3].to_ascii_lowercase(), cols[4].to_string());
        by_mid.insert(cols[2].trim_matches(['<', '>']).to_string(), v.clone());
        out.insert((cols[0].to_string(), cols[1].parse().unwrap()), v);
    }
    (out, by_mid)
}

type Counts = BTreeMap<(String, String), usize>;

/// Per message: (true family, attributed family, true campaign).
type Rows = Vec<(String, String, String)>;

/// (truth family, attributed family) → messages, and (our campaign, true
/// campaign) → messages, per message and clustered; and each message's
/// row.
fn confusion(model: Model, dir: &Path) -> (Counts, Counts, Counts, Rows) {
    confusion_of(model, dir, &[dir.join("mail")])
}

/// [`confusion`] over any inputs of the world in `dir` (its trap mail, or
/// the capture taken at its trap).
fn confusion_of(model: Model, dir: &Path, inputs: &[PathBuf]) -> (Counts, Counts, Counts, Rows) {
    let (truth, by_mid) = truth(dir);
    let analyzer = MailAnalyzer::new(MailConfig::default(), Some(model));
    let mut conf = BTreeMap::new();
    let mut camp = BTreeMap::new();
    // Clustered over the whole mail, in arrival order (the mbox of each
    // day): (message index in the clusterer, true campaign).
    let mut clusters = botscope_mail::Campaigns::new();
    let mut clustered: Vec<(usize, String, String)> = Vec::new();
    let mut rows: Rows = Vec::new();
    let stats = for_each_message(inputs, analyzer.config(), |m| {
        let row = analyzer.analyze_raw(m);
        assert!(row.error.is_none(), "{:?}", row.error);
        let (file, idx) = row.source.rsplit_once('#').unwrap();
        let rel = Path::new(file)
            .strip_prefix(dir)
            .unwrap()
            .display()
            .to_string();
        let t = if rel.ends_with(".pcap") {
            let mid = row.message_id.as_deref().unwrap_or_default();
            by_mid
                .get(mid.trim_matches(['<', '>']))
                .unwrap_or_else(|| panic!("no truth for {mid} ({rel}#{idx})"))
        } else {
            truth
                .get(&(rel.clone(), idx.parse().unwrap()))
                .unwrap_or_else(|| panic!("no truth for {rel}#{idx}"))
        };
        rows.push((t.0.clone(), row.family.clone(), t.1.clone()));
        *conf.entry((t.0.clone(), row.family)).or_default() += 1;
        let item = clusters.add(&row.domains, row.subject.as_deref());
        clustered.push((item, row.campaign.clone().unwrap(), t.1.clone()));
        *camp
            .entry((row.campaign.unwrap(), t.1.clone()))
            .or_default() += 1;
    });
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    let mut camp2 = BTreeMap::new();
    for (item, own, t) in clustered {
        let id = clusters.id(item).unwrap_or(own);
        *camp2.entry((id, t)).or_default() += 1;
    }
    (conf, camp, camp2, rows)
}

/// Adjusted Rand index (Hubert & Arabie, 1985) of two clusterings given
/// as a contingency table: 1 for the same partition, about 0 for chance.
fn adjusted_rand(table: &Counts) -> f64 {
    let c2 = |n: usize| (n * n.saturating_sub(1)) as f64 / 2.0;
    let mut rows: BTreeMap<&String, usize> = BTreeMap::new();
    let mut cols: BTreeMap<&String, usize> = BTreeMap::new();
    let mut n = 0;
    let mut index = 0.0;
    for ((a, b), k) in table {
        *rows.entry(a).or_default() += k;
        *cols.entry(b).or_default() += k;
        n += k;
        index += c2(*k);
    }
    let sa: f64 = rows.values().map(|&k| c2(k)).sum();
    let sb: f64 = cols.values().map(|&k| c2(k)).sum();
    let expected = sa * sb / c2(n);
    let max = (sa + sb) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

fn print(conf: &BTreeMap<(String, String), usize>) {
    let preds: std::collections::BTreeSet<&String> = conf.keys().map(|k| &k.1).collect();
    let truths: std::collections::BTreeSet<&String> = conf.keys().map(|k| &k.0).collect();
    eprint!("{:>10}", "truth\\got");
    for p in &preds {
        eprint!(" {p:>9}");
    }
    eprintln!();
    for t in &truths {
        eprint!("{t:>10}");
        for p in &preds {
            eprint!(
                " {:>9}",
                conf.get(&((*t).clone(), (*p).clone())).unwrap_or(&0)
            );
        }
        eprintln!();
    }
}

/// Families right over all messages and over those of campaigns that
/// several families send (shared affiliate templates): (right, of).
fn family_scores(rows: &Rows) -> ((usize, usize), (usize, usize)) {
    let mut senders: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for (fam, _, c) in rows {
        senders.entry(c).or_default().insert(fam);
    }
    let right = |shared: bool| {
        let pick: Vec<_> = rows
            .iter()
            .filter(|(_, _, c)| !shared || senders[c.as_str()].len() > 1)
            .collect();
        let ok = pick.iter().filter(|(t, g, _)| t == g).count();
        (ok, pick.len())
    };
    (right(false), right(true))
}

fn winter(seed: u64, trap_captures: bool) -> SimOptions {
    SimOptions {
        seed,
        scale: 0.2,
        from: NaiveDate::from_ymd_opt(2010, 12, 20),
        to: NaiveDate::from_ymd_opt(2011, 1, 12),
        pcaps: false,
        mail: true,
        trap_captures,
    }
}

/// The SMTP dialect read from a capture taken at the trap (a seen seed,
/// 2): the same messages as the mbox, each in the session that delivered
/// it. Grum's template changes on 4 January; its bots' SMTP code does
/// not, and the dialect gate keeps its name where the headers alone call
/// it another family.
#[test]
fn the_trap_capture_gives_the_dialect() {
    let tmp = std::env::temp_dir().join(format!("botscope-mail-dialect-{}", std::process::id()));
    let s = load_scenario("winter-2010").unwrap();
    simulate(&s, &winter(2, true), &tmp).unwrap();
    world(&tmp.join("learn"), 1, true, false);
    let model = learn(&[tmp.join("learn").join("pcap")]);
    let (_, _, _, mbox) = confusion(model.clone(), &tmp);
    let (conf, _, _, capture) = confusion_of(model, &tmp, &[tmp.join("trap")]);
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(
        mbox.len(),
        capture.len(),
        "every trap message is in the capture"
    );
    let ((m_ok, m_all), (ms_ok, ms)) = family_scores(&mbox);
    let ((c_ok, c_all), (cs_ok, cs)) = family_scores(&capture);
    print(&conf);
    eprintln!(
        "seed 2: mbox {m_ok}/{m_all}, shared {ms_ok}/{ms}; trap capture {c_ok}/{c_all}, shared {cs_ok}/{cs}"
    );
    assert!(cs > 500, "{cs} messages of shared campaigns");
    assert!(
        cs_ok * 100 >= cs * 95,
        "shared campaigns {cs_ok}/{cs} below 95%"
    );
    assert!(c_ok >= m_ok, "the dialect lost messages: {c_ok} < {m_ok}");
}

#[test]
fn model_from_one_seed_attributes_another() {
    let tmp = std::env::temp_dir().join(format!("botscope-mail-acc-{}", std::process::id()));
    let (a, b) = (tmp.join("seed1"), tmp.join("seed2"));
    world(&a, 1, true, false);
    world(&b, 2, false, true);

    let model = learn(&[a.join("pcap")]);
    assert!(model.families.len() >= 5, "{:?}", model.families.keys());
    // The model survives its JSON form.
    let model = Model::from_json(&model.to_json()).unwrap();
    let (conf, camp, camp2, _) = confusion(model.clone(), &b);
    print(&conf);
    let ids2: std::collections::BTreeSet<&String> = camp2.keys().map(|k| &k.0).collect();
    let ari = adjusted_rand(&camp2);
    eprintln!(
        "clustered campaigns: {} ids, adjusted Rand index {ari:.3}",
        ids2.len(),
    );
    // Seed 2 is seen (EVALUATION_SEEDS.md): a regression guard; the
    // figure that counts is the reserved seed's, below.
    assert!(ari >= 0.9, "campaign clustering ARI {ari:.3}");
    // Campaign purity: the share of messages whose campaign id's majority
    // true campaign is their own.
    let mut best: BTreeMap<&String, usize> = BTreeMap::new();
    for ((ours, _), n) in &camp {
        let e = best.entry(ours).or_default();
        *e = (*e).max(*n);
    }
    let pure: usize = best.values().sum();
    let n_camp = best.len();
    eprintln!(
        "campaign ids: {n_camp}, purity {pure}/{}, adjusted Rand index {:.3}",
        camp.values().sum::<usize>(),
        adjusted_rand(&camp)
    );
    assert!(pure * 100 >= camp.values().sum::<usize>() * 90);
    assert!(n_camp <= 120, "{n_camp} campaign ids for 9 true campaigns");
    let total: usize = conf.values().sum();
    let right: usize = conf
        .iter()
        .filter(|((t, p), _)| t == p)
        .map(|(_, n)| n)
        .sum();
    eprintln!("attributed right: {right}/{total}");
    assert!(total > 300, "{total} messages");
    assert!(
        right * 100 >= total * 95,
        "accuracy {right}/{total} below 95%"
    );

    // A family the model never saw comes out `unknown`, not misnamed.
    let mut without = model.clone();
    let left_out = "rustock";
    without.families.remove(left_out);
    let (conf, _, _, _) = confusion(without, &b);
    print(&conf);
    let seen: usize = conf
        .iter()
        .filter(|((t, _), _)| t == left_out)
        .map(|(_, n)| n)
        .sum();
    let unknown = conf
        .get(&(left_out.to_string(), "unknown".to_string()))
        .copied()
        .unwrap_or(0);
    assert!(seen > 50);
    assert!(
        unknown * 100 >= seen * 95,
        "{unknown}/{seen} of an unseen family are unknown"
    );
    let others_right: usize = conf
        .iter()
        .filter(|((t, p), _)| t == p)
        .map(|(_, n)| n)
        .sum();
    assert!(others_right * 100 >= (total - seen) * 95);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Print the confusion table and the family scores of one input of the
/// reserved seed; return the scores.
fn report(input: &str, conf: &Counts, rows: &Rows) -> ((usize, usize), (usize, usize)) {
    let ((ok, all), (sh_ok, sh)) = family_scores(rows);
    print(conf);
    eprintln!(
        "seed {RESERVED}, {input}: families right {ok}/{all} ({:.1}%); on campaigns several families send {sh_ok}/{sh} ({:.1}%)",
        100.0 * ok as f64 / all.max(1) as f64,
        100.0 * sh_ok as f64 / sh.max(1) as f64
    );
    ((ok, all), (sh_ok, sh))
}

/// The reserved seed (EVALUATION_SEEDS.md). 6060 served until
/// 2026-12-05, when its results were read while the dialect gate was
/// changed; it is now seen.
const RESERVED: u64 = 6161;

/// Campaign clustering and family attribution on the reserved evaluation
/// seed (EVALUATION_SEEDS.md: run to report, never to tune): three weeks
/// of trap mail across the Christmas drop and Rustock's return, every
/// campaign on new domains every day, clustered over the whole stream
/// against the truth; families attributed by a model learned from
/// another world's sandbox captures.
#[test]
fn campaigns_clustered_on_the_reserved_seed() {
    let tmp = std::env::temp_dir().join(format!("botscope-mail-camp-{}", std::process::id()));
    let s = load_scenario("winter-2010").unwrap();
    simulate(&s, &winter(RESERVED, true), &tmp).unwrap();
    world(&tmp.join("learn"), 1, true, false);
    // The model learned from another world's sandbox captures (seed 1,
    // seen), before the Christmas drop.
    let model = learn(&[tmp.join("learn").join("pcap")]);
    let (conf, camp, camp2, rows) = confusion(model.clone(), &tmp);
    // The same messages from the capture taken at the trap (the dialect).
    let (conf_cap, _, _, rows_cap) = confusion_of(model, &tmp, &[tmp.join("trap")]);
    let n: usize = camp2.values().sum();
    let ids: std::collections::BTreeSet<&String> = camp2.keys().map(|k| &k.0).collect();
    let per_message: std::collections::BTreeSet<&String> = camp.keys().map(|k| &k.0).collect();
    let (ari, ari_alone) = (adjusted_rand(&camp2), adjusted_rand(&camp));
    eprintln!(
        "seed {RESERVED}: {n} messages, 9 true campaigns; clustered: {} ids, ARI {ari:.3}; per message: {} ids, ARI {ari_alone:.3}",
        ids.len(),
        per_message.len()
    );
    // Family attribution, over all messages and over those of campaigns
    // that several families send (shared affiliate templates).
    let ((_, all), (sh_ok, sh)) = report("trap mbox", &conf, &rows);
    let ((_, c_all), (cs_ok, cs)) = report("trap capture", &conf_cap, &rows_cap);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(n > 1000, "{n} messages");
    assert!(sh > 500, "{sh} messages of shared campaigns");
    // From the mbox, Grum's mail after its restyle of 4 Jan is missed
    // (called Cutwail or unknown: the trap's Received header carries only
    // EHLO/HELO and the HELO name of the dialect). Measured 93.0 % on
    // 6060, 93.5 % on 6161 (first run, 2026-12-05). Asserted as a floor.
    assert!(
        sh_ok * 1000 >= sh * 925,
        "families right on shared campaigns {sh_ok}/{sh}, below the 93.0% measured"
    );
    // With the session's dialect (the capture at the trap): issue 14's
    // goal.
    assert_eq!(c_all, all, "every trap message is in the capture");
    assert!(
        cs_ok * 100 >= cs * 95,
        "families right on shared campaigns from the trap capture {cs_ok}/{cs}, below 95%"
    );
    assert!(
        ari >= 0.9,
        "campaign clustering ARI {ari:.3} below the goal 0.9"
    );
}
