//! **C&C**: check-ins of a bot with its controller.
//!
//! - Beacons: per host and server (address, port), at least
//!   [`ActivityConfig::c2_min_connections`] connections that score as a
//!   beacon ([`crate::beacon`]: score ≥ `c2_min_score`, timing score ≥
//!   `c2_min_timing`, mean interval ≥ `c2_min_interval_s`) or that poll
//!   with opaque data (binary POST bodies, long hex/base64 queries).
//! - A silent C&C retried: at least `c2_min_failed_attempts` unanswered
//!   tries to one server port with beacon timing.
//! - IRC sessions that `JOIN` a channel and exchange `PRIVMSG`; on
//!   flow-only input, an established TCP session to an IRC port lasting
//!   at least `c2_irc_min_duration_s` at no more than `c2_irc_max_rate`.
//!
//! - HTTP check-ins: requests to a host the network rarely visits,
//!   without a Referer (or with the request's own URL as Referer), that
//!   POST or poll with a query, repeated with the same URI shape; in a
//!   sandbox any such request the background list does not explain.
//!   Cleartext HTTP on a port of another protocol (443, 995…) is a
//!   check-in wherever it is seen.
//! - IP-check services ([`IP_CHECK`]): malware learns its public
//!   address; a verdict in a sandbox, a lead on a network.
//! - Dynamic-DNS names ([`DYNAMIC_DNS`]) looked up: in a sandbox a
//!   verdict, on a network a lead.
//! - TLS without a server name, with an address as server name, or with
//!   a random-looking one, or on an unusual port.
//! - Unknown binary protocols: a talking TCP/UDP connection the engine
//!   recognised no protocol on (including a well-known port carrying
//!   something else). In a sandbox a verdict; on a network a lead.
//! - In a sandbox, unanswered tries to few addresses on an unusual port
//!   (a list of dead C&C servers).
//!
//! SMTP and DNS connections are never beacon candidates.

/// Services that tell a host its public address (and location): what
/// malware asks before it reports in.
pub const IP_CHECK: &[&str] = &[
    "ipify.org",
    "ip-api.com",
    "whatismyipaddress.com",
    "whatsmyip.net",
    "ipwho.is",
    "extreme-ip-lookup.com",
    "checkip.dyndns.org",
    "checkip.dyndns.com",
    "checkip.amazonaws.com",
    "icanhazip.com",
    "ipinfo.io",
    "myexternalip.com",
    "wtfismyip.com",
    "ifconfig.me",
    "ipecho.net",
    "ident.me",
    "api.myip.com",
    "ip.anysrc.net",
    "freegeoip.app",
    "geoplugin.net",
    "ipapi.co",
    "myip.opendns.com",
    "2ip.ru",
    "iplogger.org",
    "showmyip.com",
    "whatismyip.akamai.com",
    "api.ip.sb",
    "ipgeolocation.io",
    "myip.dnsomatic.com",
    "ip-api.io",
];

/// Parent domains of dynamic-DNS providers (free names that follow a
/// home line's address): favourites of RAT operators.
pub const DYNAMIC_DNS: &[&str] = &[
    "duckdns.org",
    "ddns.net",
    "ydns.eu",
    "no-ip.org",
    "no-ip.biz",
    "no-ip.info",
    "noip.me",
    "hopto.org",
    "zapto.org",
    "sytes.net",
    "myftp.biz",
    "myftp.org",
    "servehttp.com",
    "serveftp.com",
    "servebeer.com",
    "serveblog.net",
    "servegame.com",
    "redirectme.net",
    "bounceme.net",
    "ddnsking.com",
    "gotdns.ch",
    "myddns.me",
    "3utilities.com",
    "dynu.net",
    "dyndns.org",
    "dyndns.info",
    "dynalias.com",
    "homeip.net",
    "publicvm.com",
    "linkpc.net",
    "freedns.afraid.org",
    "mooo.com",
    "chickenkiller.com",
    "ddns.me",
    "dyn.com",
    "giize.com",
    "kozow.com",
    "loseyourip.com",
    "ooguy.com",
    "theworkpc.com",
    "portmap.io",
    "portmap.host",
    "ngrok.io",
    "dynv6.net",
    "changeip.com",
    "x64.me",
    "ddnsfree.com",
    "webhop.me",
];

/// Ports whose protocol the engine decodes or that carry well-known
/// services: a connection elsewhere talking a protocol nobody
/// recognised is custom.
const KNOWN_PORTS: &[u16] = &[
    20, 21, 22, 23, 25, 53, 67, 68, 80, 110, 119, 123, 137, 138, 139, 143, 161, 389, 443, 445, 465,
    514, 587, 636, 853, 993, 995, 1900, 3389, 5353, 5355, 8080, 8443,
];

/// Ports of protocols other than cleartext HTTP: HTTP on them is out of
/// place.
const NOT_HTTP_PORTS: &[u16] = &[
    21, 22, 25, 110, 143, 443, 465, 587, 636, 990, 993, 995, 3389, 445,
];

/// Ports TLS normally runs on.
const TLS_PORTS: &[u16] = &[
    443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 5061, 8443, 9443,
];

fn under(name: &str, list: &'static [&'static str]) -> Option<&'static str> {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    list.iter().copied().find(|d| {
        n == *d
            || (n.len() > d.len() && n.ends_with(d) && n.as_bytes()[n.len() - d.len() - 1] == b'.')
    })
}

use std::net::IpAddr;

use botscope_event::{ConnState, Http, Service, Transport};
use rustc_hash::FxHashMap;

use super::{is_failed, Ctx, HostView};
use crate::beacon;
use crate::evidence::{Evidence, Threat};
use crate::{ActivityConfig, Class};

/// A request carrying opaque data: a binary body or a long encoded query.
pub(crate) fn opaque_request(x: &Http, cfg: &ActivityConfig) -> bool {
    let body = &x.req_body_prefix;
    if !body.is_empty() {
        let bin = body
            .iter()
            .filter(|&&b| !(b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b)))
            .count();
        if bin as f64 >= cfg.opaque_min_binary_share * body.len() as f64 {
            return true;
        }
    }
    let q = x
        .uri
        .as_deref()
        .and_then(|u| u.split_once('?'))
        .map_or("", |(_, q)| q);
    q.split(['&', '=']).any(|p| {
        p.len() >= cfg.opaque_min_query_len
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'%' | b'-' | b'_'))
    })
}

type Key = (IpAddr, u16, Transport);

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    beacons(cx, h, out);
    irc(cx, h, out);
    http_checkins(cx, h, out);
    names(cx, h, out);
    tls(cx, h, out);
    unknown_protocols(cx, h, out);
    dead_servers(cx, h, out);
}

/// The weight of a finding that is suspect in a sandbox and only a lead
/// on a network.
fn sandbox_or_lead(cx: &Ctx<'_>, h: &HostView) -> (Threat, f64) {
    if cx.sandboxed(h.ip) {
        (Threat::High, 0.8)
    } else {
        (Threat::Low, 0.5)
    }
}

/// The URI's shape: digits and long random runs folded, query values
/// dropped (check-ins repeat a shape with changing ids).
fn uri_shape(uri: &str) -> String {
    let (path, q) = uri.split_once('?').unwrap_or((uri, ""));
    let mut s: String = path
        .split('/')
        .map(|seg| {
            if seg.len() >= 12 || seg.bytes().any(|b| b.is_ascii_digit()) && !seg.contains('.') {
                "*"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let keys: Vec<&str> = q
        .split('&')
        .filter_map(|kv| kv.split('=').next())
        .filter(|k| !k.is_empty())
        .collect();
    if !keys.is_empty() {
        s.push('?');
        s.push_str(&keys.join("&"));
    }
    s
}

fn http_checkins(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let recs = cx.recs;
    let sandboxed = cx.sandboxed(h.ip);
    // (server, shape) -> (conns, posts, opaque, first ts, example url, port, ip)
    type G = (
        Vec<usize>,
        usize,
        usize,
        botscope_event::Ts,
        String,
        u16,
        IpAddr,
        Vec<i64>,
    );
    let mut groups: FxHashMap<(String, String), G> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        for x in &r.http {
            let server = super::http_host(r, x);
            if cx.background.name(&server).is_some() || under(&server, IP_CHECK).is_some() {
                continue;
            }
            let url = super::url_of(x);
            let ts = x.meta.map_or(r.ts, |m| m.ts);
            // Certificate status checks (OCSP, CRL) are the OS's own.
            let ct = format!(
                "{} {}",
                x.req_content_type.as_deref().unwrap_or(""),
                x.resp_content_type.as_deref().unwrap_or("")
            )
            .to_ascii_lowercase();
            if ct.contains("ocsp") || ct.contains("pkix") {
                continue;
            }
            let post = x
                .method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("POST"));
            // Cleartext HTTP where another protocol belongs: a check-in
            // when it posts or polls with a query (a bare GET is a probe).
            // HTTP decrypted from TLS (a key log) is HTTPS, not cleartext.
            if NOT_HTTP_PORTS.contains(&r.id.resp_p) && !r.service.contains(&Service::SSL) {
                let polls = post || x.uri.as_deref().is_some_and(|u| u.contains('?'));
                let (t, c) = if sandboxed || polls {
                    (Threat::High, 0.8)
                } else {
                    (Threat::Low, 0.5)
                };
                out.push(
                    Evidence::new(h.ip, Class::C2, ts, t, c)
                        .text(format!(
                            "{} {url}: cleartext HTTP on port {} (a port of another protocol; checked: the request was decoded as HTTP)",
                            x.method.as_deref().unwrap_or("-"),
                            r.id.resp_p
                        ))
                        .conns([i])
                        .ind(server.clone())
                        .ind(r.id.resp_h.to_string())
                        .ind(url.clone()),
                );
            }
            let uri = x.uri.as_deref().unwrap_or("/");
            let self_ref = x
                .referrer
                .as_deref()
                .is_some_and(|rf| super::norm_url(rf) == super::norm_url(&super::full_url(x)));
            let no_ref = x.referrer.is_none() || self_ref;
            let query = uri.contains('?') && uri.len() > uri.find('?').unwrap_or(0) + 3;
            let browser = x
                .user_agent
                .as_deref()
                .is_some_and(|u| u.starts_with("Mozilla/"));
            if sandboxed && no_ref && !browser && !(post || query) {
                // A plain GET by a program, not a browser: a lead of a
                // connectivity check; it adds to other C&C evidence.
                out.push(
                    Evidence::new(h.ip, Class::C2, ts, Threat::Low, 0.8)
                        .text(format!(
                            "GET {url} by a program (User-Agent {}) without a Referer, not explained by the OS background",
                            x.user_agent.as_deref().unwrap_or("absent")
                        ))
                        .conns([i])
                        .ind(server.clone())
                        .ind(r.id.resp_h.to_string()),
                );
            }
            if !no_ref || !(post || query) {
                continue;
            }
            let n = groups.len();
            let key = (server.clone(), uri_shape(uri));
            if n >= 4096 && !groups.contains_key(&key) {
                continue;
            }
            let g = groups.entry(key).or_insert_with(|| {
                (
                    Vec::new(),
                    0,
                    0,
                    ts,
                    url.clone(),
                    r.id.resp_p,
                    r.id.resp_h,
                    Vec::new(),
                )
            });
            if g.7.len() < 256 {
                g.7.push(ts.0);
            }
            if g.0.last() != Some(&i) {
                g.0.push(i);
            }
            g.1 += usize::from(post);
            g.2 += usize::from(opaque_request(x, cx.cfg));
        }
    }
    let mut keys: Vec<_> = groups.keys().cloned().collect();
    keys.sort();
    for k in keys {
        let (conns, posts, opaque, ts, url, port, ip, times) = &groups[&k];
        let rare = cx.fan_in.get(ip).copied().unwrap_or(0) <= 1;
        if !rare {
            continue;
        }
        let literal = k.0.parse::<IpAddr>().is_ok();
        let https = TLS_PORTS.contains(port)
            && conns
                .iter()
                .all(|&i| recs[i].service.contains(&Service::SSL));
        let odd_port = !matches!(port, 80 | 8080) && !https;
        let n = conns.len();
        let signs = usize::from(*opaque > 0)
            + usize::from(literal)
            + usize::from(odd_port)
            + usize::from(*posts > 0);
        let (t, c) = if sandboxed {
            if *posts > 0 || n >= 2 || signs >= 2 {
                (Threat::High, 0.8)
            } else {
                (Threat::Medium, 0.8)
            }
        } else if n >= 3 && signs >= 2 && spaced(times, cx.cfg.c2_min_interval_s) {
            // A check-in repeats over time; a burst within a second or
            // two is one exchange (a page, a test run).
            (Threat::High, 0.7)
        } else {
            (Threat::Low, 0.5)
        };
        out.push(
            Evidence::new(h.ip, Class::C2, *ts, t, c)
                .text(format!(
                    "{n} requests like {url} ({posts} POST, {opaque} with opaque data{}{}) without a Referer to a host only this one contacts{}",
                    if literal { ", address as Host" } else { "" },
                    if odd_port { ", unusual port" } else { "" },
                    if sandboxed { ", not explained by the OS background" } else { "" }
                ))
                .conns(conns.iter().copied())
                .ind(k.0.clone())
                .ind(ip.to_string())
                .ind(url.clone()),
        );
    }
}

/// The median gap between request times (µs) is at least `min_s`.
fn spaced(times: &[i64], min_s: f64) -> bool {
    let mut t = times.to_vec();
    t.sort_unstable();
    let mut gaps: Vec<i64> = t.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    if gaps.is_empty() {
        return false;
    }
    gaps.sort_unstable();
    gaps[gaps.len() / 2] as f64 / 1e6 >= min_s
}

/// IP-check services and dynamic-DNS names, from DNS, HTTP Host or TLS
/// server name.
fn names(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let recs = cx.recs;
    let (t, c) = sandbox_or_lead(cx, h);
    // name -> (what, conns, answers, first ts)
    /// (what, connections, addresses it resolved to, first time)
    type Found = (&'static str, Vec<usize>, Vec<String>, botscope_event::Ts);
    let mut found: FxHashMap<String, Found> = FxHashMap::default();
    let mut note = |name: &str, i: usize, ts: botscope_event::Ts, answers: &[String]| {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        let what = if under(&n, IP_CHECK).is_some() {
            "IP-check service"
        } else if under(&n, DYNAMIC_DNS).is_some() {
            "dynamic-DNS name"
        } else {
            return;
        };
        if found.len() >= 1024 && !found.contains_key(&n) {
            return;
        }
        let e = found
            .entry(n)
            .or_insert_with(|| (what, Vec::new(), Vec::new(), ts));
        if e.1.last() != Some(&i) {
            e.1.push(i);
        }
        for a in answers.iter().take(8) {
            if a.parse::<IpAddr>().is_ok() && !e.2.contains(a) {
                e.2.push(a.clone());
            }
        }
    };
    for &i in &h.conns {
        let r = &recs[i];
        for d in &r.dns_ev {
            if let Some(q) = d.query.as_deref() {
                note(q, i, d.meta.map_or(r.ts, |m| m.ts), &d.answers);
            }
        }
        for x in &r.http {
            if let Some(hst) = x.host.as_deref() {
                note(
                    &crate::url::host_only(hst),
                    i,
                    r.ts,
                    &[r.id.resp_h.to_string()],
                );
            }
        }
        if let Some(sni) = r.sni() {
            note(sni, i, r.ts, &[r.id.resp_h.to_string()]);
        }
    }
    let mut list: Vec<_> = found.into_iter().collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, (what, conns, answers, ts)) in list {
        // Connections to the addresses the name gave.
        let mut all = conns.clone();
        for &i in &h.conns {
            if answers.iter().any(|a| *a == recs[i].id.resp_h.to_string()) && !all.contains(&i) {
                all.push(i);
            }
        }
        let mut e = Evidence::new(h.ip, Class::C2, ts, t, c)
            .text(format!(
                "{what} {name} ({} connections{}{})",
                all.len(),
                if answers.is_empty() {
                    String::new()
                } else {
                    format!(", resolves to {}", answers.join(", "))
                },
                if cx.sandboxed(h.ip) {
                    "; malware asks this before it reports in"
                } else {
                    "; on a network people use these too: a lead"
                }
            ))
            .conns(all)
            .ind(name);
        for a in answers {
            e = e.ind(a);
        }
        out.push(e);
    }
}

fn tls(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let recs = cx.recs;
    let sandboxed = cx.sandboxed(h.ip);
    // (server, port) -> (conns, why, bytes, certificate fingerprints)
    type G = (Vec<usize>, String, u64, Vec<String>);
    let mut groups: FxHashMap<(IpAddr, u16), G> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        if r.ssl.is_empty() && !r.has_service(Service::SSL) {
            continue;
        }
        // TLS started inside another protocol (STARTTLS, PostgreSQL's or
        // MySQL's SSL request, FTP AUTH TLS): that protocol's own port.
        if r.service
            .iter()
            .any(|s| ![Service::SSL, Service::QUIC, Service::DTLS].contains(s))
        {
            continue;
        }
        let sni = r.sni().map(|s| s.to_ascii_lowercase());
        if sni
            .as_deref()
            .is_some_and(|s| cx.background.name(s).is_some() || under(s, IP_CHECK).is_some())
        {
            continue;
        }
        let cert = r
            .leaf_cert()
            .and_then(|x| cert_facts(x, r.ts).map(|f| (f, x)));
        let why = match sni.as_deref() {
            None => "no server name",
            Some(s) if s.parse::<IpAddr>().is_ok() => "an address as server name",
            Some(s) if super::dga::random_looking(s) => "a random-looking server name",
            Some(_) if !TLS_PORTS.contains(&r.id.resp_p) => "an unusual port",
            Some(_) if cert.is_some() => "its certificate",
            Some(_) if sandboxed => "repeated sessions",
            Some(_) => continue,
        };
        let note = cert.as_ref().map(|(f, x)| {
            format!(
                "; certificate {f} (subject {}, SHA-256 {})",
                super::cut(x.subject.clone(), 80),
                &x.fingerprint[..x.fingerprint.len().min(16)]
            )
        });
        if groups.len() >= 4096 && !groups.contains_key(&(r.id.resp_h, r.id.resp_p)) {
            continue;
        }
        let g = groups.entry((r.id.resp_h, r.id.resp_p)).or_insert_with(|| {
            (
                Vec::new(),
                format!(
                    "{why}{}",
                    sni.map(|s| format!(" ({s})")).unwrap_or_default()
                ),
                0,
                Vec::new(),
            )
        });
        g.0.push(i);
        if let Some((_, x)) = cert {
            // The first odd certificate of the group is described (a
            // resumed session shows none).
            if g.3.is_empty() {
                if let Some(n) = &note {
                    g.1.push_str(n);
                }
            }
            if g.3.len() < 4 && !g.3.contains(&x.fingerprint) {
                g.3.push(x.fingerprint.clone());
            }
        }
        g.2 = g.2.saturating_add(r.bytes);
    }
    let mut keys: Vec<_> = groups.keys().copied().collect();
    keys.sort();
    for k in keys {
        let (conns, why, bytes, fps) = &groups[&k];
        let odd_port = !TLS_PORTS.contains(&k.1);
        if why.starts_with("repeated") && conns.len() < 10 {
            continue;
        }
        let (t, c) = match (sandboxed, odd_port) {
            (true, _) => (Threat::High, 0.8),
            (false, true) => (Threat::Medium, 0.6),
            (false, false) => (Threat::Low, 0.5),
        };
        out.push(
            Evidence::new(h.ip, Class::C2, recs[conns[0]].ts, t, c)
                .text(format!(
                    "TLS to {}:{} with {why}: {} sessions, {bytes} bytes{}",
                    k.0,
                    k.1,
                    conns.len(),
                    if odd_port {
                        ", unusual port for TLS"
                    } else {
                        ""
                    }
                ))
                .conns(conns.iter().copied())
                .ind(k.0.to_string())
                .inds(fps.iter().cloned()),
        );
    }
}

/// What is odd about a server certificate for a C&C hunter: self-signed
/// (subject = issuer), the subject OpenSSL's `req` fills in by default
/// (`Internet Widgits Pty Ltd`, `Some-State`, country `XX`) or
/// `CN=localhost`, expired or not yet valid when seen, or valid for
/// less than two days. `None` when nothing is.
pub(crate) fn cert_facts(x: &botscope_event::X509, seen: botscope_event::Ts) -> Option<String> {
    let mut f: Vec<&str> = Vec::new();
    // The server's own certificate signed by itself (OpenSSL's `req
    // -x509` marks it a CA too: the flag says nothing here).
    if !x.subject.is_empty() && x.subject == x.issuer {
        f.push("self-signed");
    }
    let s = x.subject.to_ascii_lowercase();
    if s.contains("internet widgits pty ltd")
        || s.contains("st=some-state")
        || s.split(',').any(|p| p.trim() == "c=xx")
        || s.split(',').any(|p| p.trim() == "cn=localhost")
    {
        f.push("with a default subject");
    }
    if let (Some(a), Some(b)) = (x.not_valid_before, x.not_valid_after) {
        if seen.0 > b.0 {
            f.push("expired");
        } else if seen.0 < a.0 {
            f.push("not yet valid");
        } else if b.0.saturating_sub(a.0) < 2 * 86_400_000_000 {
            f.push("valid for under two days");
        }
    }
    (!f.is_empty()).then(|| f.join(", "))
}

/// Ports of protocols the engine decodes: a TCP connection there that it
/// could not decode talks something else.
const DECODED_PORTS: &[u16] = &[25, 80, 443, 465, 587, 6667, 8080];

/// Ports of known protocols the engine does not decode (remote shells,
/// file sharing): no finding of an unknown protocol there.
const UNDECODED_KNOWN: &[u16] = &[22, 23, 135, 139, 445, 2323, 3389, 5900];

fn unknown_protocols(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let recs = cx.recs;
    let sandboxed = cx.sandboxed(h.ip);
    // Servers of the host's FTP sessions: their data connections carry
    // files, not a protocol of their own.
    let ftp: Vec<IpAddr> = h
        .conns
        .iter()
        .map(|&i| &recs[i])
        .filter(|r| r.id.resp_p == 21 || r.has_service(Service::FTP))
        .map(|r| r.id.resp_h)
        .take(64)
        .collect();
    let mut groups: FxHashMap<(IpAddr, u16, Transport), Vec<usize>> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        if !matches!(r.id.proto, Transport::Tcp | Transport::Udp)
            || r.flow_only
            || !r.service.is_empty()
            || !r.http.is_empty()
            || !r.ssl.is_empty()
            || !r.smtp.is_empty()
            || !r.irc.is_empty()
            || r.is_dns()
            || r.orig_bytes == 0
            || (r.resp_bytes == 0 && !sandboxed)
            || super::is_group(r.id.resp_h)
            || cx.background.port(r.id.proto, r.id.resp_p).is_some()
            || (r.id.proto == Transport::Udp && KNOWN_PORTS.contains(&r.id.resp_p))
            || UNDECODED_KNOWN.contains(&r.id.resp_p)
            || ftp.contains(&r.id.resp_h)
        {
            continue;
        }
        if groups.len() < 4096 || groups.contains_key(&(r.id.resp_h, r.id.resp_p, r.id.proto)) {
            groups
                .entry((r.id.resp_h, r.id.resp_p, r.id.proto))
                .or_default()
                .push(i);
        }
    }
    let mut keys: Vec<_> = groups.keys().copied().collect();
    keys.sort();
    // On a network unknown protocols are leads, and many of them stay one
    // lead (they do not add up to a verdict): the strongest is kept.
    if !sandboxed {
        keys.sort_by_key(|k| {
            (
                !(DECODED_PORTS.contains(&k.1) && k.2 == Transport::Tcp),
                std::cmp::Reverse(groups[k].len()),
                *k,
            )
        });
        keys.truncate(1);
    }
    for k in keys {
        let g = &groups[&k];
        let secs: f64 = g.iter().map(|&i| recs[i].dur as f64 / 1e6).sum();
        let (sent, got): (u64, u64) = g.iter().fold((0, 0), |a, &i| {
            (a.0 + recs[i].orig_bytes, a.1 + recs[i].resp_bytes)
        });
        let known = DECODED_PORTS.contains(&k.1) && k.2 == Transport::Tcp;
        let (t, c) = if sandboxed {
            (Threat::High, 0.8)
        } else if known {
            // A port whose protocol the engine decodes, talking something
            // else: a lead on a network (partial captures and
            // non-conforming clients look the same).
            (Threat::Low, 0.6)
        } else {
            (Threat::Low, 0.5)
        };
        out.push(
            Evidence::new(h.ip, Class::C2, recs[g[0]].ts, t, c)
                .text(format!(
                    "{} {}:{}: {} connections in a protocol the engine does not recognise{} ({sent} bytes sent, {got} received, {secs:.0}s)",
                    k.2.zeek_name(),
                    k.0,
                    k.1,
                    g.len(),
                    if known { " on a port of a protocol it decodes" } else { "" }
                ))
                .conns(g.iter().copied())
                .ind(k.0.to_string()),
        );
    }
}

/// In a sandbox: unanswered tries to an unusual port of few addresses
/// (a list of dead C&C servers, not a scan of one port).
fn dead_servers(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    if !cx.sandboxed(h.ip) {
        return;
    }
    let recs = cx.recs;
    let mut by_port: FxHashMap<u16, FxHashMap<IpAddr, Vec<usize>>> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        if r.id.proto == Transport::Tcp
            && is_failed(r)
            && r.id.resp_p > 1024
            && !KNOWN_PORTS.contains(&r.id.resp_p)
            && !super::is_local(r.id.resp_h)
            && by_port.len() < 4096
        {
            by_port
                .entry(r.id.resp_p)
                .or_default()
                .entry(r.id.resp_h)
                .or_default()
                .push(i);
        }
    }
    let mut ports: Vec<_> = by_port.into_iter().filter(|(_, a)| a.len() <= 3).collect();
    ports.sort_by_key(|p| p.0);
    for (port, addrs) in ports {
        for (ip, conns) in addrs {
            out.push(
                Evidence::new(h.ip, Class::C2, recs[conns[0]].ts, Threat::Medium, 0.6)
                    .text(format!(
                        "{ip}:{port}: {} unanswered tries from the sandboxed host (an unusual port of few addresses: a dead C&C, not a scan)",
                        conns.len()
                    ))
                    .conns(conns)
                    .ind(ip.to_string()),
            );
        }
    }
}

fn beacons(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let (recs, cfg) = (cx.recs, cx.cfg);
    let mut groups: FxHashMap<Key, Vec<usize>> = FxHashMap::default();
    let mut failed: FxHashMap<Key, Vec<usize>> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        let mail = cfg.spam_ports.contains(&r.id.resp_p) && (r.smtp_service || !r.smtp.is_empty());
        // ICMP has no ports (its tunnels are in `tunnel`).
        if r.is_dns() || mail || !matches!(r.id.proto, Transport::Tcp | Transport::Udp) {
            continue;
        }
        let key = (r.id.resp_h, r.id.resp_p, r.id.proto);
        if r.payload {
            groups.entry(key).or_default().push(i);
        } else if r.id.proto == Transport::Tcp
            && matches!(
                r.state,
                Some(ConnState::S0 | ConnState::REJ | ConnState::RSTOS0)
            )
        {
            // An attempt: the originator sent a SYN (a bare RST or a
            // mid-stream packet is not one).
            failed.entry(key).or_default().push(i);
        }
    }
    // A bot retrying one server on a schedule, never answered (a dead or
    // sinkholed C&C): many attempts to the same port with beacon timing.
    // Scanning is many targets; this is one target, regularly.
    let mut fkeys: Vec<_> = failed.keys().copied().collect();
    fkeys.sort();
    for key in fkeys {
        let Some(g) = failed.get(&key) else { continue };
        if g.len() < cfg.c2_min_failed_attempts.max(3) {
            continue;
        }
        let pts: Vec<(i64, u64)> = g.iter().map(|&i| (recs[i].ts.0, 0)).collect();
        let Some(b) = beacon::score(&pts) else {
            continue;
        };
        if b.timing < cfg.c2_min_score || b.interval_mean < cfg.c2_min_interval_s {
            continue;
        }
        out.push(
            Evidence::new(h.ip, Class::C2, recs[g[0]].ts, Threat::High, 0.8)
                .text(format!(
                    "{}:{} {} unanswered attempts: interval mean {:.1}s stddev {:.1}s, timing score {:.2} (retrying a silent C&C; checked: one target, regular timing)",
                    key.0, key.1, g.len(), b.interval_mean, b.interval_stddev, b.timing,
                ))
                .conns(g.iter().copied())
                .ind(key.0.to_string()),
        );
    }
    let mut keys: Vec<_> = groups.keys().copied().collect();
    keys.sort();
    for key in keys {
        let Some(g) = groups.get(&key) else { continue };
        if g.len() < cfg.c2_min_connections.max(3) {
            continue;
        }
        let pts: Vec<(i64, u64)> = g.iter().map(|&i| (recs[i].ts.0, recs[i].bytes)).collect();
        let b = beacon::score(&pts).unwrap_or_default();
        let opaque = g
            .iter()
            .filter(|&&i| recs[i].http.iter().any(|x| opaque_request(x, cfg)))
            .count();
        let beaconing = b.score >= cfg.c2_min_score
            && b.timing >= cfg.c2_min_timing
            && b.interval_mean >= cfg.c2_min_interval_s;
        let polling =
            opaque >= cfg.c2_min_opaque_requests && b.interval_mean >= cfg.c2_min_interval_s;
        if !(beaconing || polling) {
            continue;
        }
        let name = g
            .iter()
            .find_map(|&i| recs[i].http.iter().find_map(|x| x.host.clone()))
            .or_else(|| g.iter().find_map(|&i| recs[i].sni().map(str::to_string)));
        // A service of the OS background (update, telemetry, CRL/OCSP)
        // polls on a schedule too: it explains the periodicity.
        if name
            .as_deref()
            .is_some_and(|n| cx.background.name(&crate::url::host_only(n)).is_some())
        {
            continue;
        }
        let mut e = Evidence::new(h.ip, Class::C2, recs[g[0]].ts, Threat::High, 0.9)
            .text(format!(
                "{}:{}{} {} connections: interval mean {:.1}s stddev {:.1}s, timing {:.2} size {:.2} beacon score {:.2}{}; {opaque} requests with opaque data",
                key.0,
                key.1,
                name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default(),
                g.len(),
                b.interval_mean,
                b.interval_stddev,
                b.timing,
                b.size,
                b.score,
                if beaconing { " (beacon)" } else { "" },
            ))
            .conns(g.iter().copied())
            .ind(key.0.to_string());
        if let Some(n) = name {
            e = e.ind(crate::url::host_only(&n));
        }
        out.push(e);
    }
}

fn irc(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let (recs, cfg) = (cx.recs, cx.cfg);
    for &i in &h.conns {
        let r = &recs[i];
        let cmd = |c: &str| {
            r.irc.iter().any(|x| {
                x.command
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(c))
            })
        };
        let odd_port = !cfg.irc_ports.contains(&r.id.resp_p);
        if cmd("JOIN") && (cmd("PRIVMSG") || cmd("TOPIC") || odd_port || cx.sandboxed(h.ip)) {
            let chan = r
                .irc
                .iter()
                .find(|x| {
                    x.command
                        .as_deref()
                        .is_some_and(|v| v.eq_ignore_ascii_case("JOIN"))
                })
                .and_then(|x| x.value.clone())
                .unwrap_or_default();
            let (rh, rp) = (r.id.resp_h, r.id.resp_p);
            out.push(
                Evidence::new(h.ip, Class::C2, r.ts, Threat::High, 0.9)
                    .text(format!(
                        "IRC {rh}:{rp} JOIN {chan} with PRIVMSG/TOPIC (a channel of orders)"
                    ))
                    .conns([i])
                    .ind(rh.to_string()),
            );
            continue;
        }
        // Flow-only IRC sessions: no decoded commands, but a long, slow,
        // established session to an IRC server port.
        if !r.irc.is_empty()
            || r.id.proto != Transport::Tcp
            || !(r.irc_service || cfg.irc_ports.contains(&r.id.resp_p))
            || r.orig_bytes == 0
            || r.resp_bytes == 0
            || is_failed(r)
        {
            continue;
        }
        let secs = r.dur as f64 / 1e6;
        let rate = r.bytes as f64 / secs.max(1e-6);
        if secs < cfg.c2_irc_min_duration_s || rate > cfg.c2_irc_max_rate {
            continue;
        }
        let (rh, rp, sent, got) = (r.id.resp_h, r.id.resp_p, r.orig_bytes, r.resp_bytes);
        out.push(
            Evidence::new(h.ip, Class::C2, r.ts, Threat::High, 0.8)
                .text(format!(
                    "IRC session {rh}:{rp} (flow only): {secs:.0}s established, {sent} bytes sent, {got} received, {rate:.0} bytes/s (a bot logged in, waiting for orders)"
                ))
                .conns([i])
                .ind(rh.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use botscope_event::{ConnState, Http, Transport};

    use crate::detect::testkit::*;
    use crate::Class;

    #[test]
    fn regular_check_ins_are_c2_irregular_ones_are_not() {
        let (a, s) = (ip(10, 0, 0, 3), ip(203, 0, 113, 50));
        let cid = id(a, s, 8080, Transport::Tcp);
        let ev: Vec<_> = (0..8)
            .map(|k| conn(k, 60.0 * k as f64, cid, ConnState::SF, 300, 120, 0.4, &[]))
            .collect();
        assert_eq!(classes(&network(&ev), a), vec![Class::C2]);
        let ev: Vec<_> = (0..8u64)
            .map(|k| {
                conn(
                    k,
                    (1u64 << k) as f64 * 3.0,
                    cid,
                    ConnState::SF,
                    300 * (k + 1),
                    9000 / (k + 1),
                    0.4,
                    &[],
                )
            })
            .collect();
        assert!(classes(&network(&ev), a).is_empty());
    }

    #[test]
    fn unanswered_retries_to_one_port_are_c2() {
        let (a, s) = (ip(10, 0, 0, 3), ip(203, 0, 113, 51));
        let cid = id(a, s, 1177, Transport::Tcp);
        let ev: Vec<_> = (0..12)
            .map(|k| conn(k, 11.6 * k as f64, cid, ConnState::S0, 0, 0, 0.0, &[]))
            .collect();
        assert_eq!(classes(&network(&ev), a), vec![Class::C2]);
    }

    #[test]
    fn opaque_polls_are_c2() {
        let (a, s) = (ip(10, 0, 0, 3), ip(203, 0, 113, 52));
        let cid = id(a, s, 80, Transport::Tcp);
        let mut ev = Vec::new();
        for k in 0..5u64 {
            ev.extend(http(
                k,
                30.0 * k as f64 * (1.0 + k as f64),
                cid,
                Http {
                    method: Some("POST".into()),
                    host: Some("panel.example".into()),
                    uri: Some("/gate.php".into()),
                    request_body_len: 64,
                    req_body_prefix: (0..64u8).map(|b| b.wrapping_mul(37) | 0x80).collect(),
                    ..Default::default()
                },
            ));
        }
        assert_eq!(classes(&network(&ev), a), vec![Class::C2]);
    }

    #[test]
    fn odd_certificates_are_c2_evidence_in_a_sandbox_and_leads_on_a_network() {
        use botscope_event::{Event, Ssl, Ts, X509};
        let (a, s) = (ip(10, 0, 0, 9), ip(198, 51, 100, 77));
        let cid = id(a, s, 443, Transport::Tcp);
        let session = |subject: &str, issuer: &str| {
            let mut ev = vec![conn(
                1,
                10.0,
                cid,
                ConnState::SF,
                900,
                4000,
                3.0,
                &[botscope_event::Service::SSL],
            )];
            let m = meta(1, 10.0, cid);
            ev.push(Event::Ssl(Ssl {
                meta: Some(m),
                server_name: Some("cdn-assets.example.com".into()),
                cert_chain_fps: Some(vec!["ab".repeat(32)]),
                ..Default::default()
            }));
            ev.push(Event::X509(X509 {
                meta: Some(m),
                fingerprint: "ab".repeat(32),
                subject: subject.into(),
                issuer: issuer.into(),
                not_valid_before: Some(Ts(0)),
                not_valid_after: Some(Ts(400 * 86_400_000_000)),
                ..Default::default()
            }));
            ev
        };
        let odd = session(
            "CN=localhost,O=Internet Widgits Pty Ltd,ST=Some-State,C=AU",
            "CN=localhost,O=Internet Widgits Pty Ltd,ST=Some-State,C=AU",
        );
        let r = sandbox(&odd, a);
        let c2 = r[0].activity(Class::C2).expect("c2 in a sandbox");
        assert!(
            c2.evidence.iter().any(|e| e.contains("self-signed")),
            "{c2:?}"
        );
        assert!(c2.indicators.contains(&"ab".repeat(32)));
        // On a network: a lead, not a verdict.
        let n = network(&odd);
        assert!(!classes(&n, a).contains(&Class::C2));
        assert!(leads(&n, a).contains(&Class::C2));
        // A CA-issued certificate: nothing on a network.
        let ok = session("CN=cdn-assets.example.com", "CN=R11,O=Let's Encrypt,C=US");
        let n = network(&ok);
        assert!(!classes(&n, a).contains(&Class::C2) && !leads(&n, a).contains(&Class::C2));
        // Expired when seen.
        let x = X509 {
            subject: "CN=a".into(),
            issuer: "CN=b".into(),
            not_valid_before: Some(Ts(0)),
            not_valid_after: Some(Ts(5)),
            ..Default::default()
        };
        assert_eq!(super::cert_facts(&x, Ts(10)).as_deref(), Some("expired"));
    }
}
