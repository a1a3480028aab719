//! Indicators of compromise from the verdicts: what an abuse desk or a
//! CERT blocks or hunts for. Each indicator says which activity it comes
//! from and when it was seen.

use std::collections::BTreeMap;
use std::net::IpAddr;

use botscope_event::{Event, Ts, Uid};

use crate::{Class, ConnVerdict};

/// What an indicator value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IocKind {
    /// A host name (clicked site, C&C host name).
    Domain,
    /// A full URL (clicked page, payload URL, C&C URL).
    Url,
    /// An IP address (C&C server, MX host of spam).
    Ip,
    /// SHA-256 of a downloaded payload.
    Sha256,
    /// A forged Referer (a site the host never visited).
    Referer,
    /// An SMTP HELO name used by a spam bot.
    Helo,
}

impl IocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IocKind::Domain => "domain",
            IocKind::Url => "url",
            IocKind::Ip => "ip",
            IocKind::Sha256 => "sha256",
            IocKind::Referer => "referer",
            IocKind::Helo => "helo",
        }
    }
}

/// One indicator.
#[derive(Clone, Debug, PartialEq)]
pub struct Ioc {
    pub kind: IocKind,
    pub value: String,
    /// The activity it belongs to.
    pub class: Class,
    /// The infected host that used it.
    pub host: IpAddr,
    pub first: Ts,
    pub last: Ts,
    /// Times seen.
    pub count: u64,
}

/// (kind, value, class, infected host) of an indicator.
type IocKey = (IocKind, String, Class, IpAddr);
/// (first, last, count) of an indicator.
type Seen = (Ts, Ts, u64);

/// Most indicators returned (the most seen first survive).
pub const MAX_IOCS: usize = 10_000;

/// Indicators for every connection classed spam, c2, download,
/// click_fraud, exfil or exploit: clicked sites and URLs and the forged
/// Referers, C&C, drop and attacked servers (address, host name, URL),
/// payload SHA-256s and URLs, spam HELOs and MX hosts. Sorted by kind and value; capped at [`MAX_IOCS`].
pub fn iocs(events: &[Event], verdicts: &[ConnVerdict]) -> Vec<Ioc> {
    let class: BTreeMap<Uid, (Class, IpAddr)> = verdicts
        .iter()
        .filter(|v| !v.is_dns)
        .map(|v| (v.uid, (v.class, v.id.orig_h)))
        .collect();
    let mut out: BTreeMap<IocKey, Seen> = BTreeMap::new();
    let mut add = |kind: IocKind, value: &str, c: Class, host: IpAddr, ts: Ts| {
        if value.is_empty() || value == "-" || out.len() >= MAX_IOCS * 4 {
            return;
        }
        // A Host header that is an address is an address indicator.
        let kind = if kind == IocKind::Domain && value.parse::<IpAddr>().is_ok() {
            IocKind::Ip
        } else {
            kind
        };
        let e = out
            .entry((kind, value.to_string(), c, host))
            .or_insert((ts, ts, 0));
        e.0 = e.0.min(ts);
        e.1 = e.1.max(ts);
        e.2 += 1;
    };
    for ev in events {
        match ev {
            Event::Conn(c) => {
                if let Some(&(cl, host)) = class.get(&c.meta.uid) {
                    if matches!(cl, Class::C2 | Class::Spam | Class::Exfil | Class::Exploit) {
                        add(
                            IocKind::Ip,
                            &c.meta.id.resp_h.to_string(),
                            cl,
                            host,
                            c.meta.ts,
                        );
                    }
                }
            }
            Event::Http(h) => {
                let Some(m) = h.meta else { continue };
                let Some(&(cl, host)) = class.get(&m.uid) else {
                    continue;
                };
                let url = match (&h.host, &h.uri) {
                    (Some(hst), Some(u)) if u.starts_with('/') => format!("http://{hst}{u}"),
                    (_, Some(u)) => u.clone(),
                    _ => String::new(),
                };
                match cl {
                    Class::ClickFraud => {
                        add(
                            IocKind::Domain,
                            h.host.as_deref().unwrap_or(""),
                            cl,
                            host,
                            m.ts,
                        );
                        add(IocKind::Url, &url, cl, host, m.ts);
                        add(
                            IocKind::Referer,
                            h.referrer.as_deref().unwrap_or(""),
                            cl,
                            host,
                            m.ts,
                        );
                    }
                    Class::C2 | Class::Exfil | Class::Exploit => {
                        add(
                            IocKind::Domain,
                            h.host.as_deref().unwrap_or(""),
                            cl,
                            host,
                            m.ts,
                        );
                        add(IocKind::Url, &url, cl, host, m.ts);
                    }
                    Class::Download => {
                        add(IocKind::Url, &url, cl, host, m.ts);
                        add(
                            IocKind::Sha256,
                            h.resp_body_sha256.as_deref().unwrap_or(""),
                            cl,
                            host,
                            m.ts,
                        );
                    }
                    _ => {}
                }
            }
            Event::Smtp(s) => {
                let Some(m) = s.meta else { continue };
                if let Some(&(Class::Spam, host)) = class.get(&m.uid) {
                    add(
                        IocKind::Helo,
                        s.helo.as_deref().unwrap_or(""),
                        Class::Spam,
                        host,
                        m.ts,
                    );
                }
            }
            _ => {}
        }
    }
    let mut v: Vec<Ioc> = out
        .into_iter()
        .map(|((kind, value, class, host), (first, last, count))| Ioc {
            kind,
            value,
            class,
            host,
            first,
            last,
            count,
        })
        .collect();
    if v.len() > MAX_IOCS {
        v.sort_by_key(|i| std::cmp::Reverse(i.count));
        v.truncate(MAX_IOCS);
        v.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
    }
    v
}
