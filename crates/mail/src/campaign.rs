//! Campaigns clustered over many messages, as AutoRE (Xie et al., 2008)
//! finds them: spam of one campaign points at the same registrable
//! domains (a campaign's live domains of the day, whichever botnet sent
//! it), and its subjects come from a few templates whose variable parts
//! (names, numbers, prices, order ids) change from message to message.
//!
//! Messages are linked when they share a domain or a subject template
//! (the subject with those variable parts masked, kept only when enough
//! literal words remain to be specific); linked messages form one
//! campaign (union-find, so a campaign's days are joined by the templates
//! that outlive its domains). Guards against links that are not a
//! campaign's:
//! - a domain seen with many different subject templates
//!   ([`HUB_TEMPLATES`]) or beside many other domains ([`HUB_PARTNERS`])
//!   is shared infrastructure (a mailing list's footer, an image host, a
//!   shortener, a markup namespace) and links nothing more: a campaign's
//!   own domain comes alone or with its few siblings;
//! - a template with fewer than [`MIN_LITERAL_WORDS`] literal words
//!   (`Re: your order #`) is too generic to link on.
//!
//! Messages with neither keep the per-message id
//! ([`crate::analyze::campaign_id`]). The id of a cluster is stable: the
//! hash of the first key it was founded on, and when two clusters merge
//! the older one's id wins. Bounded: at most [`MAX_KEYS`] keys are
//! remembered; beyond, new keys found new clusters without being kept.
//!
//! What a clusterer learns can be kept across runs: with
//! [`Campaigns::record_changes`] on, every key it files, every merge and
//! every domain found to be a hub is recorded as a [`CampaignChange`];
//! replaying them in order ([`Campaigns::apply`]) on a new clusterer
//! gives the same clusters and ids, so a campaign keeps its id from one
//! day's mail to the next (the dataset keeps them in its campaign book).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::analyze::fnv64;

/// Distinct subject templates after which a domain stops linking.
pub const HUB_TEMPLATES: usize = 16;
/// Distinct other domains beside which a domain stops linking.
pub const HUB_PARTNERS: usize = 8;
/// Literal words a subject template needs to link messages.
pub const MIN_LITERAL_WORDS: usize = 3;
/// Keys (domains and templates) remembered.
pub const MAX_KEYS: usize = 1_000_000;

/// An online campaign clusterer: add messages in arrival order, read each
/// one's campaign id at any time (later merges can change it).
#[derive(Debug, Default)]
pub struct Campaigns {
    parent: Vec<usize>,
    /// The key each cluster was founded on (its id).
    founder: Vec<String>,
    by_key: HashMap<String, usize>,
    /// Per domain: the subject templates and the other domains seen with
    /// it (each up to its hub cap).
    domain_templates: HashMap<String, (Vec<u64>, Vec<u64>)>,
    /// Per added message: its cluster, or `None` (no key: own id).
    items: Vec<Option<usize>>,
    /// Domains found to be shared infrastructure (they link nothing).
    hubs: HashSet<String>,
    /// Changes recorded since the last [`Campaigns::take_changes`].
    changes: Option<Vec<CampaignChange>>,
}

/// One thing a [`Campaigns`] clusterer learned, in the order it learned
/// it (one JSON object per line in a dataset's campaign book).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum CampaignChange {
    /// `key` (`d:DOMAIN` or `s:TEMPLATE`) belongs to the cluster founded
    /// on the key `founder` (a cluster's first key founds it).
    Key { key: String, founder: String },
    /// The cluster founded on `from` joined the older one founded on
    /// `into`: its messages now carry `into`'s id.
    Merge { from: String, into: String },
    /// `domain` is shared infrastructure and links nothing more.
    Hub { domain: String },
}

/// The campaign id of a cluster founded on key `founder`.
pub fn campaign_id_of(founder: &str) -> String {
    format!("c-{:012x}", fnv64(founder.as_bytes()) >> 16)
}

impl Campaigns {
    pub fn new() -> Campaigns {
        Campaigns::default()
    }

    /// Add a message (its registrable domains and subject); returns its
    /// index for [`Campaigns::id`].
    pub fn add(&mut self, domains: &[String], subject: Option<&str>) -> usize {
        let template = subject.and_then(subject_template);
        let th = template.as_deref().map(|t| fnv64(t.as_bytes()));
        let mut keys: Vec<String> = Vec::new();
        let mut domains: Vec<&String> = domains.iter().take(8).collect();
        domains.sort();
        domains.dedup();
        let hashes: Vec<u64> = domains.iter().map(|d| fnv64(d.as_bytes())).collect();
        for (i, d) in domains.iter().enumerate() {
            if self.hubs.contains(d.as_str()) {
                continue;
            }
            // Most domains are seen again: look up before allocating a key.
            if !self.domain_templates.contains_key(*d) {
                self.domain_templates
                    .insert((*d).clone(), Default::default());
            }
            let Some((templates, partners)) = self.domain_templates.get_mut(*d) else {
                continue;
            };
            if let Some(h) = th {
                if templates.len() < HUB_TEMPLATES && !templates.contains(&h) {
                    templates.push(h);
                }
            }
            for (j, &h) in hashes.iter().enumerate() {
                if j != i && partners.len() < HUB_PARTNERS && !partners.contains(&h) {
                    partners.push(h);
                }
            }
            if templates.len() >= HUB_TEMPLATES || partners.len() >= HUB_PARTNERS {
                self.hubs.insert((*d).clone());
                if let Some(ch) = &mut self.changes {
                    ch.push(CampaignChange::Hub {
                        domain: (*d).clone(),
                    });
                }
                continue;
            }
            keys.push(format!("d:{d}"));
        }
        if let Some(t) = template {
            keys.push(format!("s:{t}"));
        }
        let mut root: Option<usize> = None;
        for k in &keys {
            if let Some(&c) = self.by_key.get(k) {
                let c = self.find(c);
                root = Some(match root {
                    None => c,
                    Some(r) => self.union(r, c),
                });
            }
        }
        let root = match (root, keys.first()) {
            (Some(r), _) => Some(r),
            (None, Some(k)) => {
                let c = self.parent.len();
                self.parent.push(c);
                self.founder.push(k.clone());
                Some(c)
            }
            (None, None) => None,
        };
        if let Some(r) = root {
            for k in keys {
                if self.by_key.len() >= MAX_KEYS || self.by_key.contains_key(&k) {
                    continue;
                }
                if let Some(ch) = &mut self.changes {
                    ch.push(CampaignChange::Key {
                        key: k.clone(),
                        founder: self.founder[r].clone(),
                    });
                }
                self.by_key.insert(k, r);
            }
        }
        self.items.push(root);
        self.items.len() - 1
    }

    /// The campaign id of message `item` now (`None`: it had no key).
    pub fn id(&mut self, item: usize) -> Option<String> {
        let c = (*self.items.get(item)?)?;
        let r = self.find(c);
        let founder = self.founder.get(r)?;
        Some(campaign_id_of(founder))
    }

    /// Forget the messages added so far (their [`Campaigns::id`] slots);
    /// the clusters and what links them stay. For a long-running caller
    /// that reads each message's id right after adding it.
    pub fn forget_messages(&mut self) {
        self.items.clear();
    }

    /// Record what the clusterer learns from now on (or stop, dropping
    /// what was recorded), for [`Campaigns::take_changes`].
    pub fn record_changes(&mut self, on: bool) {
        self.changes = on.then(Vec::new);
    }

    /// The changes recorded since the last call (empty when not
    /// recording).
    pub fn take_changes(&mut self) -> Vec<CampaignChange> {
        self.changes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Replay one recorded change (changes in the order they were
    /// recorded rebuild the clusters and their ids). A change that names
    /// a cluster never founded founds it; keys beyond [`MAX_KEYS`] are
    /// dropped, as [`Campaigns::add`] drops them.
    pub fn apply(&mut self, change: &CampaignChange) {
        match change {
            CampaignChange::Key { key, founder } => {
                let root = match self.by_key.get(founder) {
                    Some(&c) => self.find(c),
                    None => {
                        if self.by_key.len() >= MAX_KEYS {
                            return;
                        }
                        let c = self.parent.len();
                        self.parent.push(c);
                        self.founder.push(founder.clone());
                        self.by_key.insert(founder.clone(), c);
                        c
                    }
                };
                if self.by_key.len() < MAX_KEYS {
                    self.by_key.entry(key.clone()).or_insert(root);
                }
            }
            CampaignChange::Merge { from, into } => {
                if let (Some(&a), Some(&b)) = (self.by_key.get(from), self.by_key.get(into)) {
                    let (a, b) = (self.find(a), self.find(b));
                    if a != b {
                        self.parent[a] = b;
                    }
                }
            }
            CampaignChange::Hub { domain } => {
                self.hubs.insert(domain.clone());
            }
        }
    }

    /// Every cluster that joined an older one: (its old id, the id its
    /// messages carry now). Rows written before a merge keep the old id;
    /// a reader maps them through this.
    pub fn merged_ids(&mut self) -> Vec<(String, String)> {
        (0..self.parent.len())
            .filter_map(|i| {
                let r = self.find(i);
                (r != i).then(|| {
                    (
                        campaign_id_of(&self.founder[i]),
                        campaign_id_of(&self.founder[r]),
                    )
                })
            })
            .collect()
    }

    /// Clusters formed so far.
    pub fn clusters(&mut self) -> usize {
        let n = self.parent.len();
        (0..n).filter(|&i| self.find(i) == i).count()
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            let p = self.parent[x];
            self.parent[x] = self.parent[p];
            x = p;
        }
        x
    }

    /// Join two clusters; the older (founded first) stays the root.
    fn union(&mut self, a: usize, b: usize) -> usize {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return a;
        }
        let (old, new) = if a < b { (a, b) } else { (b, a) };
        self.parent[new] = old;
        if let Some(ch) = &mut self.changes {
            ch.push(CampaignChange::Merge {
                from: self.founder[new].clone(),
                into: self.founder[old].clone(),
            });
        }
        old
    }
}

/// A subject as its template: lower case; tokens holding digits, `_` or
/// `@` (names, order ids, prices, percentages, handles) masked as `*`;
/// `Re:`/`Fwd:` prefixes kept (they are part of the template). `None`
/// when fewer than [`MIN_LITERAL_WORDS`] literal words remain.
pub fn subject_template(subject: &str) -> Option<String> {
    let mut out = String::with_capacity(subject.len());
    let mut literal = 0;
    for tok in subject.split_whitespace().take(32) {
        let core: String = tok
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        let masked = tok
            .chars()
            .any(|c| c.is_ascii_digit() || c == '_' || c == '@');
        if !out.is_empty() {
            out.push(' ');
        }
        if masked {
            // Keep the punctuation around the variable part (`$*`, `*%`).
            let lead: String = tok.chars().take_while(|c| !c.is_alphanumeric()).collect();
            let tail: String = tok
                .chars()
                .rev()
                .take_while(|c| !c.is_alphanumeric())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            out.push_str(&lead);
            out.push('*');
            out.push_str(&tail);
        } else {
            out.push_str(&tok.to_lowercase());
            if core.chars().count() >= 2 && core.chars().all(char::is_alphabetic) {
                literal += 1;
            }
        }
    }
    (literal >= MIN_LITERAL_WORDS).then_some(out)
}

/// Names for campaigns, learned from their messages rather than listed:
/// the words that stand out in their subjects (capitalised or upper-case
/// words of 3+ letters a campaign repeats: products, brands, lures) and
/// the registrable domain its links use most. At most [`NAME_TOKENS`]
/// distinct words and domains are counted per campaign, and at most
/// [`MAX_NAMED`] campaigns.
#[derive(Debug, Default)]
pub struct CampaignNames {
    by_id: HashMap<String, Tally>,
}

/// What one campaign's messages said: subject words and domains, counted.
#[derive(Debug, Default)]
struct Tally {
    words: HashMap<String, u32>,
    domains: HashMap<String, u32>,
    messages: u32,
}

/// Distinct words (and domains) counted per campaign.
pub const NAME_TOKENS: usize = 64;
/// Campaigns named.
pub const MAX_NAMED: usize = 100_000;

/// Words that start subjects whatever the campaign.
const STOP: &[&str] = &[
    "the", "and", "for", "you", "your", "our", "are", "with", "from", "this", "that", "dear",
    "fwd", "fw", "get", "now", "new", "all", "off", "buy", "best", "hello", "hi", "re", "save",
    "sale", "special", "offer", "free", "only", "today", "price", "prices",
];

impl CampaignNames {
    pub fn new() -> CampaignNames {
        CampaignNames::default()
    }

    /// Count one message of campaign `id`.
    pub fn add(&mut self, id: &str, subject: Option<&str>, domains: &[String]) {
        if !self.by_id.contains_key(id) && self.by_id.len() >= MAX_NAMED {
            return;
        }
        let Tally {
            words,
            domains: doms,
            messages: n,
        } = self.by_id.entry(id.to_string()).or_default();
        *n += 1;
        let mut seen: Vec<String> = Vec::new();
        // Tags a list or a filter put in brackets (`[SPAM]`, `[ILUG]`) are
        // not the campaign's words.
        let mut subject = subject.unwrap_or("").to_string();
        while let (Some(a), Some(b)) = (subject.find('['), subject.find(']')) {
            if b < a {
                break;
            }
            subject.replace_range(a..=b, " ");
        }
        for w in subject
            .split(|c: char| !(c.is_alphanumeric() || c == '&' || c == '\''))
            .take(32)
        {
            let first_upper = w.chars().next().is_some_and(char::is_uppercase);
            if w.chars().count() < 3 || !first_upper || !w.chars().all(char::is_alphabetic) {
                continue;
            }
            // One spelling per word: `VIAGRA` and `Viagra` are one.
            let mut key = w.to_lowercase();
            if STOP.contains(&key.as_str()) || seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            if words.len() < NAME_TOKENS || words.contains_key(&key) {
                if let Some(c) = key.get_mut(..1) {
                    c.make_ascii_uppercase();
                }
                *words.entry(key).or_default() += 1;
            }
        }
        for d in domains.iter().take(8) {
            if doms.len() < NAME_TOKENS || doms.contains_key(d) {
                *doms.entry(d.clone()).or_default() += 1;
            }
        }
    }

    /// The campaign's name: its two most repeated subject words (seen in
    /// at least a fifth of its messages) and its most used domain, e.g.
    /// `Cialis Viagra · omegarx.com`; `None` when nothing stands out.
    pub fn name(&self, id: &str) -> Option<String> {
        let Tally {
            words,
            domains: doms,
            messages: n,
        } = self.by_id.get(id)?;
        let top = |m: &HashMap<String, u32>, k: usize, min: u32| -> Vec<String> {
            let mut v: Vec<(&String, &u32)> = m.iter().filter(|(_, c)| **c >= min).collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            v.into_iter().take(k).map(|(w, _)| w.clone()).collect()
        };
        let words = top(words, 2, (*n / 5).max(1));
        let dom = top(doms, 1, 1);
        let mut out = words.join(" ");
        if let Some(d) = dom.first() {
            if !out.is_empty() {
                out.push_str(" · ");
            }
            out.push_str(d);
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn templates_mask_what_varies() {
        assert_eq!(
            subject_template("brenda75, luxury watches at 84% off").as_deref(),
            Some("*, luxury watches at *% off")
        );
        assert_eq!(
            subject_template("Canadian Pharmacy: Cialis from $2.32 per pill").as_deref(),
            Some("canadian pharmacy: cialis from $* per pill")
        );
        assert_eq!(subject_template("Re: order #995052"), None);
        assert_eq!(subject_template(""), None);
    }

    #[test]
    fn domains_link_a_day_and_templates_link_the_days() {
        let mut c = Campaigns::new();
        // Day 1: two domains, one template bridging them.
        let a = c.add(&d(&["omegarx.com"]), Some("Cheap meds for alice1 today"));
        let b = c.add(&d(&["olivepharm.com"]), Some("Best prices on meds, bob_2"));
        let bridge = c.add(
            &d(&["olivepharm.com"]),
            Some("Cheap meds for carol_k today"),
        );
        // Day 2: new domain, an old template.
        let e = c.add(&d(&["newrx.com"]), Some("Best prices on meds, dave77"));
        // Another campaign.
        let w = c.add(&d(&["watches.cn"]), Some("luxury watches at 90% off"));
        let none = c.add(&[], None);
        let ids: Vec<_> = [a, b, bridge, e].iter().map(|&i| c.id(i)).collect();
        assert!(ids.iter().all(|x| x == &ids[0]), "{ids:?}");
        assert_eq!(ids[0], c.id(a), "the oldest cluster's id wins");
        assert_ne!(c.id(w), ids[0]);
        assert_eq!(c.id(none), None);
        assert_eq!(c.clusters(), 2);
    }

    #[test]
    fn replayed_changes_keep_ids_across_runs() {
        // Day 1 in one run, recorded.
        let mut first = Campaigns::new();
        first.record_changes(true);
        let a = first.add(&d(&["omegarx.com"]), Some("Cheap meds for alice1 today"));
        let w = first.add(&d(&["watches.cn"]), Some("luxury watches at 90% off"));
        let b = first.add(&d(&["olivepharm.com"]), Some("Best prices on meds, bob_2"));
        // A later message joins the two pharmacy clusters: a merge.
        first.add(
            &d(&["olivepharm.com"]),
            Some("Cheap meds for carol_k today"),
        );
        for i in 0..(HUB_PARTNERS + 2) {
            first.add(
                &d(&["cdn.example.net", &format!("x{i}.com")]),
                Some(&format!("unrelated subject {i}")),
            );
        }
        let (id_a, id_w, id_b) = (first.id(a), first.id(w), first.id(b));
        assert_eq!(id_a, id_b);
        let book = first.take_changes();
        assert!(book
            .iter()
            .any(|c| matches!(c, CampaignChange::Merge { .. })));
        assert!(book.contains(&CampaignChange::Hub {
            domain: "cdn.example.net".into()
        }));
        assert!(first.take_changes().is_empty());
        // Day 2 in another run: the book replayed (through JSON, as a
        // dataset keeps it), then new domains on old templates.
        let mut second = Campaigns::new();
        for line in book.iter().map(|c| serde_json::to_string(c).unwrap()) {
            second.apply(&serde_json::from_str(&line).unwrap());
        }
        let e = second.add(&d(&["newrx.com"]), Some("Best prices on meds, dave77"));
        let v = second.add(&d(&["replicas.cn"]), Some("luxury watches at 80% off"));
        let hub = second.add(&d(&["cdn.example.net"]), Some("one more subject here"));
        assert_eq!(second.id(e), id_a, "a template seen yesterday keeps its id");
        assert_eq!(second.id(v), id_w);
        assert_ne!(
            second.id(hub),
            id_a,
            "a hub domain links nothing after replay"
        );
        assert_eq!(second.merged_ids().len(), 1);
    }

    #[test]
    fn campaigns_are_named_by_what_they_repeat() {
        let mut n = CampaignNames::new();
        for (i, s) in [
            "VIAGRA - official Canadian Pharmacy store",
            "Canadian Pharmacy: Cialis from $1.24 per pill",
            "[SPAM] Re: your order #1234",
            "Cialis at Canadian Pharmacy",
        ]
        .iter()
        .enumerate()
        {
            n.add(
                "c-1",
                Some(s),
                &d(&[if i == 3 { "b.com" } else { "a.com" }]),
            );
        }
        assert_eq!(n.name("c-1").as_deref(), Some("Canadian Pharmacy · a.com"));
        assert_eq!(n.name("c-2"), None);
    }

    #[test]
    fn a_list_footer_domain_links_nothing() {
        let mut c = Campaigns::new();
        let mut ids = std::collections::BTreeSet::new();
        for i in 0..30 {
            // Each spam its own domain and subject, all with a footer URL.
            let item = c.add(
                &d(&["lists.example-list.org", &format!("spam{i}.com")]),
                Some(&format!("offer number {i}")),
            );
            ids.insert(c.id(item));
        }
        assert!(ids.len() >= 30 - HUB_PARTNERS, "{} clusters", ids.len());
    }

    #[test]
    fn a_hub_domain_stops_linking() {
        let mut c = Campaigns::new();
        let mut items = Vec::new();
        for i in 0..40 {
            let subject = format!(
                "topic number {} words here {}",
                [
                    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
                    "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau",
                    "upsilon"
                ][i % 20],
                i
            );
            items.push(c.add(&d(&["w3.org", &format!("site{i}.com")]), Some(&subject)));
        }
        let late: std::collections::BTreeSet<_> = items[30..].iter().map(|&i| c.id(i)).collect();
        assert!(late.len() > 1, "a hub must not join everything: {late:?}");
    }
}
