//! The product's data files hold only public, real-world names: a brand
//! the simulator's scenarios invented must not appear in them (brand
//! accuracy would be right by construction, and the demo's brand alerts
//! would come from our own fiction).

use std::path::{Path, PathBuf};

/// Scenario brands that are real-world names (they may be in the data):
/// each with where it comes from.
const REAL: &[(&str, &str)] = &[(
    "Canadian Pharmacy",
    "the Spamit/GlavMed affiliate brand (../shared/STORY.md)",
)];

fn data_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            data_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_invented_brand_in_product_data() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Every brand of every shipped scenario.
    let mut brands = Vec::new();
    for e in std::fs::read_dir(root.join("crates/sim/scenarios"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        for c in v
            .get("campaigns")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(b) = c.get("brand").and_then(|b| b.as_str()) {
                brands.push(b.to_string());
            }
        }
    }
    assert!(brands.len() >= 5, "{brands:?}");
    // Every product data file: the `data/` folders of the crates.
    let mut files = Vec::new();
    for e in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        let d = e.path().join("data");
        if d.is_dir() {
            data_files(&d, &mut files);
        }
    }
    assert!(files.iter().any(|f| f.ends_with("categories.yaml")));
    let mut found = Vec::new();
    for f in &files {
        let Ok(mut text) = std::fs::read_to_string(f) else {
            continue;
        };
        if f.ends_with("categories.yaml") {
            // The dictionary's brand names; its category words and phrases
            // are the vocabulary of spam (`stock alert` is what pump-and-
            // dump mail says, whatever the simulator calls its campaign).
            text = text
                .lines()
                .filter(|l| l.trim_start().starts_with("- name:"))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(text.contains("Canadian Pharmacy"), "brand names read");
        }
        let lower = text.to_lowercase();
        for b in &brands {
            if REAL.iter().any(|(r, _)| r == b) {
                continue;
            }
            if lower.contains(&b.to_lowercase()) {
                found.push(format!("{b:?} in {}", f.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "invented names in product data: {found:?}"
    );
}
