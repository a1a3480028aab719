//! Ad and click servers recognised with EasyList-format filter lists,
//! through Brave's `adblock` engine.
//!
//! The shipped list (`data/ad-filters.txt`, [`crate::AD_FILTERS`]) holds
//! the ad, click and game-banner servers of Rustock's click fraud and
//! common ad networks; a user adds their own lists (EasyList itself,
//! EasyPrivacy, a list of a campaign's servers) with `botscope trace
//! --filters FILE`, i.e. [`crate::ActivityConfig::ad_filters`].
//!
//! The engine is built with default features off: its registrable-domain
//! resolver (the `addr` crate and its compiled-in Public Suffix List) is
//! replaced by ours ([`crate::url`]), and requests are handed over
//! pre-parsed, so no URL parsing of untrusted input happens twice.

use adblock::lists::{FilterSet, ParseOptions};
use adblock::request::Request;
use adblock::url_parser::ResolvesDomain;
use adblock::Engine;

use crate::url::site;

/// Our site rule as the engine's domain resolver.
struct SiteResolver;

impl ResolvesDomain for SiteResolver {
    fn get_host_domain(&self, host: &str) -> (usize, usize) {
        let s = site(host);
        (host.len().saturating_sub(s.len()), host.len())
    }
}

/// A compiled set of filter lists.
pub struct AdFilters {
    engine: Engine,
    rules: usize,
}

impl AdFilters {
    /// Compile EasyList-format list texts. Lines the engine cannot parse
    /// are ignored (as browsers do); cosmetic (element hiding) rules are
    /// kept by the engine but never used here.
    pub fn new(lists: &[String]) -> AdFilters {
        // Err only when a resolver is already set: ours, by an earlier call.
        let _ = adblock::url_parser::set_domain_resolver(Box::new(SiteResolver));
        let mut set = FilterSet::new(true);
        let mut rules = 0;
        for text in lists {
            rules += text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('!') && !l.starts_with('['))
                .count();
            set.add_filter_list(text.clone(), ParseOptions::default());
        }
        AdFilters {
            engine: Engine::new_with_filter_set(set),
            rules,
        }
    }

    /// Rule lines in the lists (comments and headers not counted).
    pub fn rules(&self) -> usize {
        self.rules
    }

    /// The rule that lists a request to `url` (`http://host/path`) on
    /// `host`, made from a page on `source_host` (the Referer's host;
    /// empty when none), as a navigation or sub-resource of unknown type.
    /// `None` when no rule matches or an exception rule allows it.
    pub fn matching_rule(&self, url: &str, host: &str, source_host: &str) -> Option<String> {
        if url.is_empty() || host.is_empty() {
            return None;
        }
        let third_party = source_host.is_empty() || site(source_host) != site(host);
        let url = url.to_ascii_lowercase();
        let req = Request::preparsed(&url, host, source_host, "other", third_party, "GET");
        let r = self.engine.check_network_request(&req);
        if r.exception.is_some() && !r.important {
            return None;
        }
        let f = r.filter?;
        Some(f.raw_line.unwrap_or_else(|| "listed".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_list_matches_ad_servers_not_sites() {
        let f = AdFilters::new(&[crate::AD_FILTERS.to_string()]);
        assert!(f.rules() > 50, "{}", f.rules());
        let hit = f.matching_rule(
            "http://www.gamecetera.com/",
            "www.gamecetera.com",
            "playdrom.com",
        );
        assert!(
            hit.as_deref().is_some_and(|r| r.contains("gamecetera")),
            "{hit:?}"
        );
        assert!(f
            .matching_rule(
                "http://ad.doubleclick.net/click;h=abc",
                "ad.doubleclick.net",
                "news.example"
            )
            .is_some());
        assert!(f
            .matching_rule("http://www.example.com/pagead/x.js", "www.example.com", "")
            .is_some());
        assert!(f
            .matching_rule(
                "http://www.bro.org/documentation/",
                "www.bro.org",
                "www.bro.org"
            )
            .is_none());
        // $third-party: a game site's own pages are not ads on it.
        assert!(f
            .matching_rule(
                "http://gamedistribution.com/games",
                "gamedistribution.com",
                "gamedistribution.com"
            )
            .is_none());
        // A user list with an exception.
        let user = AdFilters::new(&["||clicks.example^\n@@||clicks.example/ok^".to_string()]);
        assert!(user
            .matching_rule("http://clicks.example/c?id=1", "clicks.example", "")
            .is_some());
        assert!(user
            .matching_rule("http://clicks.example/ok", "clicks.example", "")
            .is_none());
        // Garbage lists and URLs never panic.
        let junk = AdFilters::new(&["||^\n$$$\n/[/\n@@\n||é^$domain=~".to_string()]);
        for u in ["http://", "x", "http://[::1]/", "http://é/ü"] {
            let _ = junk.matching_rule(u, "h", "s");
        }
    }
}
