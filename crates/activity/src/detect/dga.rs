//! **dga**: bursts of NXDOMAIN answers for random-looking names (a
//! domain-generation algorithm trying the day's names until one
//! resolves): at least [`crate::ActivityConfig::dga_min_nxdomain`]
//! distinct such names within
//! [`crate::ActivityConfig::evidence_window_s`]; fewer are a lead.

use botscope_event::Ts;
use rustc_hash::FxHashSet;

use super::{Ctx, HostView};
use crate::evidence::{Evidence, Threat};
use crate::url::site;
use crate::Class;

/// Does the registrable label of `name` look machine-made: at least 8
/// characters and few vowels or a long run of consonants (`y` counts as
/// one)? Words and brand names have vowels every few letters.
pub(crate) fn random_looking(name: &str) -> bool {
    let s = site(name.trim_end_matches('.'));
    let label = s.split('.').next().unwrap_or("");
    if label.len() < 8 || !label.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let l = label.to_ascii_lowercase();
    let vowels = l.bytes().filter(|b| b"aeiou".contains(b)).count();
    let (mut run, mut best) = (0, 0);
    for b in l.bytes() {
        if b.is_ascii_alphabetic() && !b"aeiou".contains(&b) {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    let digits = l.bytes().filter(u8::is_ascii_digit).count();
    let odd_pairs = l
        .as_bytes()
        .windows(2)
        .filter(|w| {
            let c = |b: u8| b.is_ascii_alphabetic() && !b"aeiou".contains(&b);
            c(w[0]) && c(w[1]) && !COMMON_PAIRS.iter().any(|p| p.as_bytes() == &w[..])
        })
        .count();
    (vowels as f64) < 0.25 * l.len() as f64
        || best >= 5
        || odd_pairs >= 3
        || (digits >= 3 && digits + 3 <= l.len() && best >= 4)
}

/// Consonant pairs common in English and in brand names; other pairs of
/// consonants are rare in words and frequent in generated names.
const COMMON_PAIRS: &[&str] = &[
    "th", "ch", "sh", "ph", "wh", "ck", "ng", "nd", "nt", "st", "tr", "pr", "br", "cr", "dr", "fr",
    "gr", "bl", "cl", "fl", "gl", "pl", "sl", "sp", "sc", "sk", "sm", "sn", "sw", "tw", "mp", "mb",
    "ns", "nc", "nk", "rt", "rd", "rn", "rm", "rs", "rk", "rc", "rl", "rg", "rv", "rb", "rp", "rf",
    "lt", "ld", "lk", "lm", "lp", "ll", "ls", "lv", "lf", "ss", "tt", "pp", "ff", "mm", "nn", "rr",
    "ct", "pt", "ft", "gh", "wn", "ws", "ts", "ds", "ks", "ps", "ms", "ny", "ry", "ly", "ty", "dy",
    "by", "my", "py", "sy", "gy", "ky", "fy", "vy", "yl", "yn", "ym", "yr", "ys", "yt", "nf", "nv",
    "nj", "ng", "gn", "kn", "wr", "sq", "xt", "xp", "dg", "tch", "bb", "dd", "gg", "cc", "zz",
    "tz", "nz", "lb", "lc", "lg", "ln", "rh", "tl", "dl", "bs", "gs", "hn", "ht", "hr", "hl", "hm",
    "nl",
];

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let mut seen: FxHashSet<String> = FxHashSet::default();
    let mut hits: Vec<(Ts, String, usize)> = Vec::new();
    for &i in &h.conns {
        for d in &cx.recs[i].dns_ev {
            let (Some(3), Some(q)) = (d.rcode, d.query.as_deref()) else {
                continue;
            };
            let q = q.trim_end_matches('.').to_ascii_lowercase();
            if seen.len() < 1 << 16 && random_looking(&q) && seen.insert(q.clone()) {
                hits.push((d.meta.map_or(cx.recs[i].ts, |m| m.ts), q, i));
            }
        }
    }
    if hits.len() < 2 {
        return;
    }
    hits.sort();
    // The densest window.
    let w = (cx.cfg.evidence_window_s.max(0.0) * 1e6) as i64;
    let (mut best, mut lo, mut at) = (0usize, 0usize, 0usize);
    for hi in 0..hits.len() {
        while hits[hi].0 .0.saturating_sub(hits[lo].0 .0) > w {
            lo += 1;
        }
        if hi + 1 - lo > best {
            (best, at) = (hi + 1 - lo, lo);
        }
    }
    let burst = &hits[at..at + best];
    let enough = best >= cx.cfg.dga_min_nxdomain.max(1);
    let (threat, conf) = if enough {
        (Threat::High, 0.9)
    } else {
        (Threat::Low, 0.5)
    };
    let names: Vec<&str> = burst.iter().take(6).map(|x| x.1.as_str()).collect();
    let mut e = Evidence::new(h.ip, Class::Dga, burst[0].0, threat, conf)
        .text(format!(
            "{best} NXDOMAIN answers for distinct random-looking names within {:.0}s, e.g. {} (checked: few vowels or long consonant runs in the registrable label)",
            cx.cfg.evidence_window_s,
            names.join(", ")
        ))
        .conns(burst.iter().map(|x| x.2));
    for (_, n, _) in burst.iter().take(12) {
        e = e.ind(n.clone());
    }
    out.push(e);
}

#[cfg(test)]
mod tests {
    use botscope_event::Transport;

    use super::random_looking;
    use crate::detect::testkit::*;
    use crate::Class;

    #[test]
    fn random_names_and_words() {
        for n in [
            "xyxszccbxyxlmua.com",
            "wfxwgwvfroly.com",
            "opweyrmsmtueiim.com",
            "npkxghmoru.biz",
            "bwcfvs.zkteekqtrutoi.tk",
        ] {
            assert!(random_looking(n), "{n}");
        }
        for n in [
            "www.microsoft.com",
            "wikipedia.org",
            "example.com",
            "mail.google.com",
            "stackoverflow.com",
        ] {
            assert!(!random_looking(n), "{n}");
        }
    }

    #[test]
    fn nxdomain_burst_is_dga_one_typo_is_not() {
        let (a, r) = (ip(10, 0, 0, 8), ip(10, 0, 0, 1));
        let cid = id(a, r, 53, Transport::Udp);
        let names = [
            "xyxszccbxyxlmua.com",
            "xqcuxrdsfdxf.com",
            "xbmzdkexzumry.com",
            "wfxwgwvfroly.com",
            "shjlvsomcfasc.com",
            "lbuywpvcihkqkeo.com",
        ];
        let ev: Vec<_> = names
            .iter()
            .enumerate()
            .flat_map(|(k, n)| dns(k as u64, k as f64, cid, n, 1, 3, &[]))
            .collect();
        assert_eq!(classes(&network(&ev), a), vec![Class::Dga]);
        let one: Vec<_> = dns(1, 1.0, cid, "xyxszccbxyxlmua.com", 1, 3, &[]);
        assert!(classes(&network(&one), a).is_empty());
    }
}
