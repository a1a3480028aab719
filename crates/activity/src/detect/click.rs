//! **click fraud**: HTTP requests whose `Referer` names a site the host
//! never fetched earlier in the trace: not the request's own site, no
//! earlier request to it, no earlier redirect to it, no earlier TLS
//! connection (SNI) or DNS lookup of it, and not an `https` Referer (an
//! HTTPS origin is invisible). Sites compare by registrable domain. A
//! landing page whose sub-resources the host then fetched (a later
//! request with the page's URL as Referer) is a person arriving from
//! outside the capture, not a click
//! ([`crate::ActivityConfig::click_exclude_with_subresources`]). A host
//! needs [`crate::ActivityConfig::click_min_forged`] such requests.
//! Evidence: URL, forged Referer, and the EasyList-format filter rule
//! that lists the clicked server or the Referer's as an ad/click server
//! (a feature, counted in the evidence, never a verdict alone).
//!
//! Only `http` Referers can be forged clicks (`https` ones are
//! invisible origins; `app:/desktop.swf` or a bare word is no site). A
//! sub-resource — an image, script, style sheet, font or media file, by
//! the response's Content-Type or sniffed type ([`subresource`]) — is
//! an impression the page loaded, not a click. A request whose response
//! the capture does not hold (a partial or one-sided capture) is weaker
//! evidence: a lead, not a verdict.

use botscope_event::{Http, Ts};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{full_url, norm_url, url_of, Ctx, HostView, MAX_PEER_KEYS};
use crate::evidence::{Evidence, Threat};
use crate::filters::AdFilters;
use crate::url::{host_only, scheme_host, site};
use crate::Class;

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let (recs, cfg) = (cx.recs, cx.cfg);
    let reqs = h.http_in_order(recs);
    if reqs.is_empty() {
        return;
    }
    // Every Referer URL the host sent, with its first time, to see
    // whether a landing page's sub-resources were fetched after it.
    let mut referers: FxHashMap<String, Ts> = FxHashMap::default();
    for (ts, _, x) in &reqs {
        if let Some(r) = x.referrer.as_deref() {
            if referers.len() < 1 << 16 {
                referers.entry(norm_url(r)).or_insert(*ts);
            }
        }
    }
    let fetched_after = |url: &str, ts: Ts| referers.get(&norm_url(url)).is_some_and(|t| *t >= ts);
    let mut fetched: FxHashSet<String> = FxHashSet::default();
    let mut forged: Vec<(Ts, usize, &Http, String)> = Vec::new();
    for (ts, i, x) in &reqs {
        let own = x.host.as_deref().map(host_only).unwrap_or_default();
        let own_site = site(&own).to_string();
        if let Some(r) = x.referrer.as_deref() {
            let parsed = scheme_host(r).filter(|(scheme, _)| scheme == "http" || scheme == "https");
            if let Some((scheme, rh)) = parsed.filter(|_| subresource(x).is_none()) {
                let rsite = site(&rh).to_string();
                let explained = scheme == "https"
                    || rsite == own_site
                    || fetched.contains(&rsite)
                    || h.tls_sites.get(&rsite).is_some_and(|t| t <= ts)
                    || h.dns_names.get(&rh).is_some_and(|t| t <= ts);
                let person =
                    cfg.click_exclude_with_subresources && fetched_after(&full_url(x), *ts);
                if !explained && !person {
                    forged.push((*ts, *i, *x, r.to_string()));
                }
            }
        }
        if !own.is_empty() && fetched.len() < 1 << 16 {
            fetched.insert(own_site);
        }
        if let Some((_, lh)) = x.location.as_deref().and_then(scheme_host) {
            if fetched.len() < 1 << 16 {
                fetched.insert(site(&lh).to_string());
            }
        }
    }
    if forged.is_empty() {
        return;
    }
    // Enough forged Referers for a verdict: each counts in full; fewer
    // are leads only. A request without its response in the capture
    // (partial or one-sided) lowers confidence: beside enough answered
    // clicks it is part of the same activity at low confidence; without
    // them it is a lead.
    let need = cfg.click_min_forged.max(1);
    let enough = forged.len() >= need;
    let answered_enough = forged.iter().filter(|f| answered(f.2)).count() >= need;
    let strength = |x: &Http| {
        if enough && answered(x) {
            (Threat::High, 0.9)
        } else if answered_enough {
            (Threat::Medium, 0.4)
        } else {
            (Threat::Low, 0.5)
        }
    };
    let filters = cx.filters.get_or_init(|| AdFilters::new(&cfg.ad_filters));
    let (mut bare, mut ad_hits) = (0usize, 0usize);
    let mut sites: FxHashSet<String> = FxHashSet::default();
    let mut items = Vec::with_capacity(forged.len());
    for (ts, i, x, r) in &forged {
        let url = url_of(x);
        let sub = referers.contains_key(&norm_url(&full_url(x)));
        if !sub {
            bare += 1;
        }
        let own = x.host.as_deref().map(host_only).unwrap_or_default();
        if sites.len() < MAX_PEER_KEYS {
            sites.insert(site(&own).to_string());
        }
        let rh = scheme_host(r).map(|s| s.1).unwrap_or_default();
        let ad = filters
            .matching_rule(&full_url(x), &own, &rh)
            .map(|rule| format!("{own} ({rule})"))
            .or_else(|| {
                filters
                    .matching_rule(r, &rh, "")
                    .map(|rule| format!("Referer {rh} ({rule})"))
            });
        if ad.is_some() {
            ad_hits += 1;
        }
        let (threat, conf) = strength(x);
        items.push(
            Evidence::new(h.ip, Class::ClickFraud, *ts, threat, conf)
                .text(format!(
                    "{} {url} Referer {r} never fetched{}{}{}",
                    x.method.as_deref().unwrap_or("GET"),
                    if sub { "" } else { ", no sub-resource fetched" },
                    match (answered(x), answered_enough) {
                        (true, _) => "",
                        (false, true) =>
                            ", no response in the capture (partial capture: low confidence)",
                        (false, false) => ", no response in the capture (partial capture: a lead)",
                    },
                    ad.map(|d| format!(", listed ad/click server {d}"))
                        .unwrap_or_default()
                ))
                .conns([*i])
                .ind(own)
                .ind(url)
                .ind(rh),
        );
    }
    let n = forged.len();
    let nsites = sites.len();
    out.push(
        Evidence::new(h.ip, Class::ClickFraud, forged[0].0, Threat::Info, 1.0).text(format!(
            "{n} requests with forged Referers to {nsites} sites; {bare} landing pages without sub-resources; {ad_hits} on listed ad/click servers (checked: earlier fetches, redirects, TLS names and DNS lookups of the Referer's site)"
        )),
    );
    out.extend(items);
}

/// The response of a request is in the capture: a status line was seen.
fn answered(x: &Http) -> bool {
    x.status_code.is_some()
}

/// What kind of sub-resource a response is, by its declared
/// Content-Type or its sniffed type: an image, script, style sheet, font
/// or media file is loaded by a page (an impression), never clicked.
pub(crate) fn subresource(x: &Http) -> Option<&'static str> {
    let declared = x.resp_content_type.as_deref().map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    let types = declared
        .iter()
        .map(String::as_str)
        .chain(x.resp_mime_types.iter().map(String::as_str));
    for t in types {
        let t = t.to_ascii_lowercase();
        let kind = if t.starts_with("image/") {
            "image"
        } else if t == "text/css" {
            "style sheet"
        } else if t.contains("javascript") || t.contains("ecmascript") || t == "application/json" {
            "script"
        } else if t.starts_with("font/") || t.contains("font-") || t.starts_with("application/font")
        {
            "font"
        } else if t.starts_with("video/")
            || t.starts_with("audio/")
            || t == "application/x-shockwave-flash"
        {
            "media"
        } else {
            continue;
        };
        return Some(kind);
    }
    None
}

#[cfg(test)]
mod tests {
    use botscope_event::{Http, Transport};

    use crate::detect::testkit::*;
    use crate::Class;

    fn req(
        uid: u64,
        secs: f64,
        host: &str,
        uri: &str,
        referer: Option<&str>,
    ) -> Vec<botscope_event::Event> {
        let (a, s) = (ip(10, 0, 0, 7), ip(198, 51, 100, (uid % 200) as u8));
        http(
            uid,
            secs,
            id(a, s, 80, Transport::Tcp),
            Http {
                method: Some("GET".into()),
                host: Some(host.into()),
                uri: Some(uri.into()),
                referrer: referer.map(String::from),
                ..Default::default()
            },
        )
    }

    #[test]
    fn forged_referer_is_a_click_a_visited_one_is_not() {
        let a = ip(10, 0, 0, 7);
        let ev = answered(
            req(
                1,
                5.0,
                "ads.example",
                "/click?id=1",
                Some("http://www.google.com/"),
            ),
            "text/html",
        );
        assert_eq!(classes(&network(&ev), a), vec![Class::ClickFraud]);
        // The Referer's site fetched first: a person browsing.
        let mut ev = req(2, 1.0, "www.google.com", "/", None);
        ev.extend(req(
            3,
            5.0,
            "ads.example",
            "/click?id=1",
            Some("http://www.google.com/"),
        ));
        assert!(classes(&network(&ev), a).is_empty());
        // https Referers are invisible origins.
        let ev = req(4, 5.0, "ads.example", "/", Some("https://www.google.com/"));
        assert!(classes(&network(&ev), a).is_empty());
    }

    fn answered(mut ev: Vec<botscope_event::Event>, ctype: &str) -> Vec<botscope_event::Event> {
        for e in &mut ev {
            if let botscope_event::Event::Http(x) = e {
                x.status_code = Some(200);
                x.resp_content_type = Some(ctype.into());
            }
        }
        ev
    }

    #[test]
    fn only_http_referers_pages_not_sub_resources_and_answered_for_a_verdict() {
        let a = ip(10, 0, 0, 7);
        let page = |uid, referer| {
            answered(
                req(uid, 5.0, "ads.example", "/click?id=1", Some(referer)),
                "text/html; charset=utf-8",
            )
        };
        assert_eq!(
            classes(&network(&page(1, "http://www.google.com/")), a),
            vec![Class::ClickFraud]
        );
        // A Referer that is not a web URL names no site.
        for r in [
            "app:/desktop.swf",
            "android-app://com.x/",
            "AAAAAAAA",
            "playdrom.com/games",
        ] {
            let r2 = network(&page(2, r));
            assert!(classes(&r2, a).is_empty(), "{r}");
            assert!(leads(&r2, a).is_empty(), "{r}");
        }
        // Images, scripts, style sheets: impressions.
        for t in [
            "image/jpeg",
            "application/javascript",
            "text/css",
            "font/woff2",
        ] {
            let ev = answered(
                req(3, 5.0, "ads.example", "/x", Some("http://www.google.com/")),
                t,
            );
            assert!(classes(&network(&ev), a).is_empty(), "{t}");
        }
        // No response in the capture: a lead only.
        let ev = req(
            4,
            5.0,
            "ads.example",
            "/click?id=1",
            Some("http://www.google.com/"),
        );
        let r = network(&ev);
        assert!(classes(&r, a).is_empty());
        assert_eq!(leads(&r, a), vec![Class::ClickFraud]);
    }

    #[test]
    fn landing_page_with_sub_resources_is_a_person() {
        let a = ip(10, 0, 0, 7);
        let mut ev = req(
            1,
            5.0,
            "shop.example",
            "/page",
            Some("http://search.example/?q=x"),
        );
        ev.extend(req(
            2,
            6.0,
            "shop.example",
            "/style.css",
            Some("http://shop.example/page"),
        ));
        assert!(classes(&network(&ev), a).is_empty());
    }

    #[test]
    fn unanswered_clicks_join_an_answered_activity_and_are_leads_alone() {
        let a = ip(10, 0, 0, 7);
        let forged = Some("http://www.google.com/");
        let mut ev = answered(
            req(1, 5.0, "ads.example", "/click?id=1", forged),
            "text/html",
        );
        ev.extend(req(2, 9.0, "games.example", "/play?id=2", forged));
        let r = network(&ev);
        let cf = r[0].activity(Class::ClickFraud).expect("verdict");
        // Both requests are the activity; the unanswered one at lower
        // confidence.
        assert_eq!(cf.requests, 2, "{cf:?}");
        assert!(cf
            .evidence
            .iter()
            .any(|e| e.contains("partial capture: low confidence")));
        // Unanswered clicks alone: a lead, no verdict.
        let alone = network(&req(3, 9.0, "games.example", "/play?id=2", forged));
        assert!(classes(&alone, a).is_empty());
        assert_eq!(leads(&alone, a), vec![Class::ClickFraud]);
    }
}
