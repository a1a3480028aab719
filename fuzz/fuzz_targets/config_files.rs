#![no_main]
//! The configuration and model files a user hands over, as any bytes: a
//! simulator scenario (TOML), alert thresholds (TOML), the trap's limits
//! (TOML) and a family model (JSON). Each is refused with an error or
//! accepted; never a panic, and an accepted one validates or says why.
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match sel % 4 {
        0 => {
            if let Ok(s) = botscope_sim::parse_scenario(text, "fuzz.toml") {
                // A scenario that parses can be planned for a day.
                if let (Some(f), Some(d)) = (
                    s.families.first(),
                    chrono::NaiveDate::from_ymd_opt(2010, 12, 1),
                ) {
                    let _ = botscope_sim::sandbox_plan(&s, &f.name, d, 1, 0.001);
                }
            }
        }
        1 => {
            let _ = botscope_timeline::AlertConfig::from_toml(text);
        }
        2 => {
            if let Ok(c) = botscope_trap::TrapConfig::from_toml(text, Path::new("fuzz.toml")) {
                let _ = c.validate();
            }
        }
        _ => {
            if let Ok(m) = botscope_mail::Model::from_json(text) {
                let _ = m.attribute(&["mailer=x".to_string(), "mid=<D{12}@{host}>".to_string()]);
            }
        }
    }
});
