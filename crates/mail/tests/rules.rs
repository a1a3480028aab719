//! Hand-written YAML rules add to and override the learned model.

use botscope_mail::{MailAnalyzer, MailConfig, Model, Rules};

const OE: &[u8] = b"Message-ID: <5ad001cbd9db$0cfcc7e2$fa47a3e1@user>\nSubject: hi\nX-Mailer: Microsoft Outlook Express 6.00.2900.2180\n\nhello\n";
const TB: &[u8] = b"Message-ID: <4C91639C.1366960@forummedal.us>\nSubject: hi\nUser-Agent: Thunderbird 2.0.0.17\n\nhello\n";

fn model() -> Model {
    let a = MailAnalyzer::new(MailConfig::default(), None);
    let mut m = Model::default();
    for _ in 0..5 {
        m.learn("oebot", &a.features(OE, None).unwrap().tokens);
    }
    m
}

#[test]
fn fill_rules_name_what_the_model_does_not_know() {
    let rules = Rules::from_yaml(
        r#"
rules:
  - name: thunderbird-forger
    family: TbBot
    confidence: 0.7
    mode: fill
    all:
      - header: User-Agent
        contains: thunderbird
      - feature: mid
        equals: "<X8.D7@a.a>"
"#,
    )
    .unwrap();
    let a = MailAnalyzer::new(MailConfig::default(), Some(model())).with_rules(rules);
    let oe = a.analyze("oe#0".into(), OE, None);
    assert_eq!(
        oe.family, "oebot",
        "fill does not touch the model's verdict"
    );
    let tb = a.analyze("tb#0".into(), TB, None);
    assert_eq!(tb.family, "tbbot");
    assert_eq!(tb.family_confidence, 0.7);
}

#[test]
fn override_rules_win() {
    let rules = Rules::from_yaml(
        "rules:\n  - name: oe\n    family: Relabelled\n    all:\n      - header: X-Mailer\n        contains: outlook express\n",
    )
    .unwrap();
    let a = MailAnalyzer::new(MailConfig::default(), Some(model())).with_rules(rules);
    let oe = a.analyze("oe#0".into(), OE, None);
    assert_eq!(oe.family, "relabelled");
    assert_eq!(oe.family_confidence, 1.0);
}

#[test]
fn bad_rules_are_refused_with_a_reason() {
    let e = Rules::from_yaml("rules:\n  - name: x\n    family: y\n    all: []\n").unwrap_err();
    assert!(e.to_string().contains("no conditions"), "{e}");
    let e = Rules::from_yaml("rules:\n  - name: x\n    family: y\n    all:\n      - header: A\n")
        .unwrap_err();
    assert!(e.to_string().contains("equals or contains"), "{e}");
    assert!(Rules::from_yaml("rulez: []\n").is_err());
}

/// A rule may read any header, not only those the fingerprint is made
/// from: the analyser reads every value when a rule reads headers (and
/// leaves the others unread when none does).
#[test]
fn rules_read_headers_the_fingerprint_does_not() {
    const MSG: &[u8] =
        b"Message-ID: <a1@b>\nSubject: hi\nX-Campaign-Tag:\n  Spring-Sale 2011\n\nhello\n";
    let rules = Rules::from_yaml(
        "rules:\n  - name: tag\n    family: TaggedBot\n    all:\n      - header: x-campaign-tag\n        equals: Spring-Sale 2011\n",
    )
    .unwrap();
    assert!(rules.reads_headers());
    let a = MailAnalyzer::new(MailConfig::default(), None).with_rules(rules);
    assert_eq!(a.analyze("m#0".into(), MSG, None).family, "taggedbot");
    // The features of the message carry every value, unfolded.
    let f = a.features(MSG, None).unwrap();
    assert!(f
        .headers
        .iter()
        .any(|(n, v)| n == "X-Campaign-Tag" && v == "Spring-Sale 2011"));
    let feature_only = Rules::from_yaml(
        "rules:\n  - name: mid\n    family: X\n    all:\n      - feature: mid\n        equals: \"<a1@a>\"\n",
    )
    .unwrap();
    assert!(!feature_only.reads_headers());
}
