//! Loading scenarios: the built-in one parses, bad ones are rejected with
//! an error naming the field, events take effect.

use botscope_sim::{builtin_scenarios, load_scenario, parse_scenario, simulate, SimOptions};

const WINTER: &str = include_str!("../scenarios/winter-2010.toml");

#[test]
fn builtin_scenario_parses() {
    assert_eq!(builtin_scenarios(), &["winter-2010"]);
    let s = load_scenario("winter-2010").unwrap();
    assert_eq!(s.name, "winter-2010");
    assert_eq!(s.families.len(), 6);
}

#[test]
fn missing_file_is_an_error() {
    let e = load_scenario("/nonexistent/scenario.toml").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/scenario.toml"), "{e}");
}

#[test]
fn unknown_fields_are_rejected_by_name() {
    let bad = WINTER.replacen("[trap]\n", "[trap]\ncolour = \"blue\"\n", 1);
    let e = parse_scenario(&bad, "bad.toml").unwrap_err().to_string();
    assert!(e.contains("colour"), "{e}");
    let bad = WINTER.replacen("noise = 0.08\n", "noise = 0.08\nwobble = 2\n", 1);
    let e = parse_scenario(&bad, "bad.toml").unwrap_err().to_string();
    assert!(e.contains("wobble"), "{e}");
}

#[test]
fn bad_values_name_the_field() {
    let cases = [
        ("message_id = \"<{digits:12}.{hex:8}@{domain}>\"", "message_id = \"<{digits:12}.{nope}@{domain}>\"", "families[Lethic].mail.message_id"),
        ("mix = { replica-watches = 50,", "mix = { no-such-campaign = 1, replica-watches = 50,", "no-such-campaign"),
        ("prefixes = [\"95.24.0.0/13\"", "prefixes = [\"95.24.0.0/33\"", "families[Lethic].bots.prefixes[0]"),
        ("timezones = [\"+0300\", \"+0400\"]", "timezones = [\"+0300\", \"EST\"]", "families[Xarvester].mail.timezones[1]"),
        ("family = \"Lethic\"", "family = \"Lethick\"", "events[2].family"),
        ("date_format = \"%d %b %Y %H:%M:%S %z\"", "date_format = \"%Y\"", "families[Bagle].mail.date_format"),
        ("referers = [\"http://playdrom.com/\"]\n\n[[click_sites]]\nhost = \"ricead.com\"", "referers = [\"http://www.dailynewsroom.net/\"]\n\n[[click_sites]]\nhost = \"ricead.com\"", "click_sites[0].referers[0]"),
    ];
    for (from, to, field) in cases {
        assert!(WINTER.contains(from), "{from}");
        let bad = WINTER.replacen(from, to, 1);
        let e = parse_scenario(&bad, "bad.toml").unwrap_err().to_string();
        assert!(e.contains(field), "expected {field:?} in: {e}");
    }
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "[[families]]",
        "name = 3",
        "period = { from = 2011-01-01, to = 2010-01-01 }",
        "\u{0}",
    ] {
        assert!(parse_scenario(text, "x").is_err());
    }
    // Every prefix of the real scenario is either valid or an error.
    for cut in (0..WINTER.len()).step_by(997) {
        if WINTER.is_char_boundary(cut) {
            let _ = parse_scenario(&WINTER[..cut], "cut");
        }
    }
}

#[test]
fn silenced_family_sends_nothing_after_the_event() {
    // Silence Cutwail (steady otherwise) from 2010-09-03.
    let text = format!(
        "{WINTER}\n[[events]]\ndate = 2010-09-03\nfamily = \"Cutwail\"\nkind = \"silence\"\ndescription = \"test\"\n"
    );
    let s = parse_scenario(&text, "t").unwrap();
    let dir = tempdir("silence");
    let opts = SimOptions {
        seed: 5,
        scale: 0.3,
        from: chrono::NaiveDate::from_ymd_opt(2010, 9, 1),
        to: chrono::NaiveDate::from_ymd_opt(2010, 9, 5),
        pcaps: false,
        mail: true,
        trap_captures: false,
    };
    simulate(&s, &opts, &dir).unwrap();
    let csv = std::fs::read_to_string(dir.join("truth/messages.csv")).unwrap();
    let mut before = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[3] == "Cutwail" {
            assert!(f[0] < "mail/2010-09-03.mbox", "{line}");
            before += 1;
        }
    }
    assert!(before > 0);
    // The sandbox host sends no spam either.
    let plan = botscope_sim::sandbox_plan(
        &s,
        "Cutwail",
        chrono::NaiveDate::from_ymd_opt(2010, 9, 4).unwrap(),
        5,
        1.0,
    )
    .unwrap();
    assert!(!plan.activities.iter().any(|a| matches!(a, botscope_sim::plan::Activity::Tcp(t) if t.class == botscope_sim::plan::Class::Spam)));
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("botscope-sim-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
