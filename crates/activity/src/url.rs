//! Host names out of URLs and Referers, and site (registrable domain)
//! comparison. No allocation beyond the returned strings; never panics.

/// The scheme (lowercase) and host (lowercase, no port, no user info, no
/// trailing dot) of a URL or Referer. A Referer without a scheme
/// (`playdrom.com/games`) is read as a host and path.
pub fn scheme_host(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    if url.is_empty() || url == "-" {
        return None;
    }
    let (scheme, rest) = match url.find("://") {
        Some(i) => (url[..i].to_ascii_lowercase(), &url[i + 3..]),
        None => (String::new(), url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    let auth = auth.rsplit('@').next().unwrap_or(auth);
    let h = host_only(auth);
    if h.is_empty() {
        None
    } else {
        Some((scheme, h))
    }
}

/// A Host header or authority without port, lowercase, no trailing dot.
pub fn host_only(h: &str) -> String {
    let h = h.trim();
    let h = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if h.matches(':').count() == 1 {
        h.split(':').next().unwrap_or(h)
    } else {
        h
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// The registrable domain ("site") of a host name, approximately: the
/// last two labels, or three when the second-level label is a short
/// public suffix part (`co.uk`, `com.br`). Addresses are their own site.
pub fn site(host: &str) -> &str {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host;
    }
    let labels: Vec<&str> = host.rsplit('.').collect();
    let keep = if labels.len() >= 3
        && labels[0].len() == 2
        && matches!(
            labels[1],
            "co" | "com" | "net" | "org" | "ac" | "gov" | "edu" | "ne" | "or"
        ) {
        3
    } else {
        2
    };
    if labels.len() <= keep {
        return host;
    }
    // Byte offset where the last `keep` labels start.
    let tail: usize = labels[..keep].iter().map(|l| l.len()).sum::<usize>() + keep - 1;
    host.get(host.len().saturating_sub(tail)..).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_sites() {
        assert_eq!(
            scheme_host("http://User@WWW.Bro.org:8080/a?b"),
            Some(("http".into(), "www.bro.org".into()))
        );
        assert_eq!(
            scheme_host("playdrom.com/games"),
            Some((String::new(), "playdrom.com".into()))
        );
        assert_eq!(scheme_host("-"), None);
        assert_eq!(scheme_host("http:///x"), None);
        assert_eq!(host_only("[::1]:80"), "::1");
        assert_eq!(host_only("a.b.:80"), "a.b");
        assert_eq!(site("img.www.bro.org"), "bro.org");
        assert_eq!(site("news.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(site("localhost"), "localhost");
        assert_eq!(site("10.0.0.1"), "10.0.0.1");
    }
}
