//! **spam**: bulk mail. SMTP connections to a remote mail port carrying
//! a message (`MAIL FROM` and at least one recipient). Loopback sessions
//! (a local MTA hand-off, a test) are never spam, and a transaction
//! without a recipient sent no mail. Mail is spam when it shows bulk
//! behaviour: at least [`crate::ActivityConfig::spam_min_transactions`]
//! messages and one of
//! - a HELO unlike the host's (an address literal other than its own, or
//!   a name made of an address, as ISPs give dynamic lines),
//! - [`BULK_MX`] or more distinct MX hosts,
//! - [`BULK_MESSAGES`] or more messages,
//! - [`BULK_MX_LOOKUPS`] or more MX lookups (a client resolving MX hosts
//!   delivers direct to them);
//!
//! or a single delivery that is a bot's: unauthenticated, direct to
//! port 25, with a bot HELO. One authenticated submission, a server
//! delivering a few messages to its MX, or a list server's delivery are
//! leads at most. Once spam, the host's other connections to mail ports
//! (refused greetings, no answer) are spam attempts too.
//! Evidence: HELO names, distinct MX hosts, MX lookups.

use std::net::IpAddr;

use botscope_event::Transport;
use rustc_hash::{FxHashMap, FxHashSet};

use super::{Ctx, HostView, MAX_PEER_KEYS};

/// Distinct MX hosts that make a host's mail bulk.
pub(crate) const BULK_MX: usize = 3;
/// Messages that make a host's mail bulk, however few the MX hosts.
pub(crate) const BULK_MESSAGES: u64 = 10;
/// MX lookups that make a host's mail bulk.
pub(crate) const BULK_MX_LOOKUPS: u64 = 3;
use crate::evidence::{Evidence, Threat};
use crate::Class;

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let (recs, cfg) = (cx.recs, cx.cfg);
    let mut transactions = 0u64;
    let mut mx: FxHashSet<IpAddr> = FxHashSet::default();
    let mut helos: FxHashMap<String, u64> = FxHashMap::default();
    let mut mail_conns = Vec::new();
    let mut samples = Vec::new();
    for &i in &h.conns {
        let r = &recs[i];
        // Loopback is a local test or a local relay, never spam.
        if !cfg.spam_ports.contains(&r.id.resp_p)
            || r.id.resp_h.is_loopback()
            || r.id.orig_h.is_loopback()
        {
            continue;
        }
        let t = messages(r);
        if t == 0 {
            continue;
        }
        transactions += t as u64;
        mail_conns.push(i);
        if mx.len() < MAX_PEER_KEYS {
            mx.insert(r.id.resp_h);
        }
        for s in &r.smtp {
            if let Some(helo) = &s.helo {
                if helos.len() < MAX_PEER_KEYS {
                    *helos.entry(helo.clone()).or_default() += 1;
                }
            }
        }
        if let Some(s) = r.smtp.first() {
            if samples.len() + 1 < cfg.max_evidence {
                samples.push((
                    i,
                    format!(
                        "{}:{} HELO {} MAIL FROM {} RCPT {} ({} recipients)",
                        r.id.resp_h,
                        r.id.resp_p,
                        s.helo.as_deref().unwrap_or("-"),
                        s.mailfrom.as_deref().unwrap_or("-"),
                        s.rcptto.first().map_or("-", String::as_str),
                        s.rcptto.len()
                    ),
                ));
            }
        }
    }
    if transactions == 0 {
        direct_to_mx(cx, h, out);
        return;
    }
    let bot_delivery = mail_conns.iter().any(|&i| {
        let r = &recs[i];
        r.id.resp_p == 25
            && !r.id.orig_h.is_loopback()
            && r.smtp.iter().any(|s| {
                s.auth_user.is_none()
                    && !s.rcptto.is_empty()
                    && s.helo.as_deref().is_some_and(|h| bot_helo(h, r.id.orig_h))
            })
    });
    let any_bot_helo = mail_conns.iter().any(|&i| {
        let r = &recs[i];
        r.smtp
            .iter()
            .any(|s| s.helo.as_deref().is_some_and(|h| bot_helo(h, r.id.orig_h)))
    });
    let bulk_signal = any_bot_helo
        || mx.len() >= BULK_MX
        || transactions >= BULK_MESSAGES
        || h.mx_lookups >= BULK_MX_LOOKUPS;
    let bulk = (transactions >= cfg.spam_min_transactions.max(1) && bulk_signal) || bot_delivery;
    let mut attempts = Vec::new();
    if bulk {
        for &i in &h.conns {
            let r = &recs[i];
            if cfg.spam_ports.contains(&r.id.resp_p)
                && r.id.proto == Transport::Tcp
                && !r.id.resp_h.is_loopback()
                && !mail_conns.contains(&i)
            {
                attempts.push(i);
            }
        }
    }
    let mut top: Vec<(String, u64)> = helos.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(3);
    let helo_list: Vec<String> = top.iter().map(|(n, c)| format!("{n} ×{c}")).collect();
    let (threat, conf) = if bulk {
        (Threat::High, 0.9)
    } else {
        (Threat::Low, 0.5)
    };
    let first = recs[mail_conns[0]].ts;
    let mut e = Evidence::new(h.ip, Class::Spam, first, threat, conf)
        .text(format!(
            "{transactions} mail transactions to {} distinct MX hosts, {} MX lookups, {} other connections to mail ports; HELO {}{}",
            mx.len(),
            h.mx_lookups,
            attempts.len(),
            helo_list.join(", "),
            if bulk {
                ""
            } else {
                " (no bulk behaviour: few messages, one MX, a mail server's HELO, no MX lookups: a lead)"
            }
        ))
        .conns(mail_conns.iter().copied())
        .conns(attempts);
    let mut mxs: Vec<_> = mx.into_iter().collect();
    mxs.sort();
    for m in mxs {
        e = e.ind(m.to_string());
    }
    for (n, _) in top {
        e = e.ind(n);
    }
    out.push(e);
    for (i, s) in samples {
        out.push(
            Evidence::new(h.ip, Class::Spam, recs[i].ts, Threat::Info, 1.0)
                .text(s)
                .conns([i]),
        );
    }
}

/// In a sandbox: connections to port 25 of several distinct servers, or
/// MX lookups, with no transaction (refused, blocklisted): a spam bot
/// trying to deliver direct to MX hosts. A sandboxed PC has no mail
/// server of its own.
fn direct_to_mx(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    if !cx.sandboxed(h.ip) {
        return;
    }
    let recs = cx.recs;
    let mut servers: Vec<IpAddr> = Vec::new();
    let mut conns = Vec::new();
    for &i in &h.conns {
        let r = &recs[i];
        if r.id.proto == Transport::Tcp && r.id.resp_p == 25 {
            conns.push(i);
            if !servers.contains(&r.id.resp_h) && servers.len() < MAX_PEER_KEYS {
                servers.push(r.id.resp_h);
            }
        }
    }
    let mut mx_names: Vec<String> = Vec::new();
    for &i in &h.conns {
        for d in &recs[i].dns_ev {
            if d.qtype == Some(15) {
                if let Some(q) = &d.query {
                    if !mx_names.contains(q) && mx_names.len() < 64 {
                        mx_names.push(q.clone());
                    }
                }
            }
            // Names of mail exchangers looked up by address.
            if let Some(q) = &d.query {
                let l = q.to_ascii_lowercase();
                if (l.starts_with("mx")
                    || l.contains(".mx.")
                    || l.contains("smtp")
                    || l.contains("mail"))
                    && !mx_names.contains(q)
                    && mx_names.len() < 64
                {
                    mx_names.push(q.clone());
                }
            }
        }
    }
    if servers.len() < 3 && h.mx_lookups < 3 {
        return;
    }
    let Some(&first) = conns.first().or(h.conns.first()) else {
        return;
    };
    let mut e = Evidence::new(h.ip, Class::Spam, recs[first].ts, Threat::High, 0.8)
        .text(format!(
            "{} connections to port 25 of {} servers, {} MX lookups, no mail accepted (a sandboxed host delivering direct to MX hosts)",
            conns.len(),
            servers.len(),
            h.mx_lookups
        ))
        .conns(conns);
    for s in servers.iter().take(8) {
        e = e.ind(s.to_string());
    }
    for n in mx_names.into_iter().take(8) {
        e = e.ind(n);
    }
    out.push(e);
}

/// Messages of one connection: transactions with at least one recipient
/// (a `RCPT TO` address, or a `RCPT` command when addresses were not
/// decoded).
fn messages(r: &super::ConnRec<'_>) -> usize {
    r.smtp
        .iter()
        .filter(|s| {
            !s.rcptto.is_empty() || s.commands.iter().any(|c| c.eq_ignore_ascii_case("RCPT"))
        })
        .count()
}

/// A HELO no mail server uses: an address literal other than the
/// sender's own address, or a name built from an address
/// (`173-66-46-112.wash.fios.example`).
pub(crate) fn bot_helo(helo: &str, host: IpAddr) -> bool {
    let h = helo.trim();
    let lit = h.trim_start_matches('[').trim_end_matches(']');
    let lit = lit.strip_prefix("IPv6:").unwrap_or(lit);
    if let Ok(ip) = lit.parse::<IpAddr>() {
        return ip != host;
    }
    let first = h.split('.').next().unwrap_or("");
    let parts: Vec<&str> = first.split(['-', '_']).collect();
    let numeric = parts
        .iter()
        .filter(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        .count();
    numeric >= 4
}

#[cfg(test)]
mod tests {
    use botscope_event::{ConnState, Event, Smtp, Transport};

    use crate::detect::testkit::*;
    use crate::Class;

    fn mail(uid: u64, mx: u8) -> Vec<Event> {
        let (a, s) = (ip(10, 0, 0, 9), ip(192, 0, 2, mx));
        let cid = id(a, s, 25, Transport::Tcp);
        vec![
            conn(
                uid,
                uid as f64,
                cid,
                ConnState::SF,
                900,
                300,
                1.0,
                &[botscope_event::Service::SMTP],
            ),
            Event::Smtp(Smtp {
                meta: Some(meta(uid, uid as f64, cid)),
                helo: Some("bulk.example".into()),
                mailfrom: Some("a@b.example".into()),
                rcptto: vec!["x@y.example".into()],
                ..Default::default()
            }),
        ]
    }

    #[test]
    fn bot_helos() {
        let h = ip(10, 0, 0, 9);
        assert!(super::bot_helo("[0.0.0.0]", h));
        assert!(super::bot_helo("173-66-46-112.wash.fios.verizon.net", h));
        assert!(!super::bot_helo("[10.0.0.9]", h));
        assert!(!super::bot_helo("mail.lists.example.org", h));
        assert!(!super::bot_helo("mx-1.example.net", h));
    }

    #[test]
    fn a_few_messages_to_one_mx_from_a_server_are_not_spam_loopback_never() {
        let a = ip(10, 0, 0, 9);
        // Two messages to one MX, a mail server's HELO: a list server.
        let ev: Vec<_> = (0..2).flat_map(|k| mail(k, 10)).collect();
        assert!(classes(&network(&ev), a).is_empty());
        assert_eq!(leads(&network(&ev), a), vec![Class::Spam]);
        // Ten of them: bulk.
        let ev: Vec<_> = (0..10).flat_map(|k| mail(k, 10)).collect();
        assert_eq!(classes(&network(&ev), a), vec![Class::Spam]);
        // Loopback sessions, however many, with a bot's HELO.
        let lo = ip(127, 0, 0, 1);
        let ev: Vec<Event> = (0..12u64)
            .flat_map(|k| {
                let cid = id(lo, lo, 25, Transport::Tcp);
                vec![
                    conn(
                        k,
                        k as f64,
                        cid,
                        ConnState::SF,
                        900,
                        300,
                        1.0,
                        &[botscope_event::Service::SMTP],
                    ),
                    Event::Smtp(Smtp {
                        meta: Some(meta(k, k as f64, cid)),
                        helo: Some("[0.0.0.0]".into()),
                        mailfrom: Some("a@b.example".into()),
                        rcptto: vec!["x@y.example".into()],
                        ..Default::default()
                    }),
                ]
            })
            .collect();
        let r = network(&ev);
        assert!(classes(&r, lo).is_empty());
        assert!(leads(&r, lo).is_empty());
    }

    #[test]
    fn transactions_without_recipients_sent_nothing() {
        let a = ip(10, 0, 0, 9);
        let ev: Vec<Event> = (0..12u64)
            .flat_map(|k| {
                mail(k, 10 + k as u8).into_iter().map(|e| match e {
                    Event::Smtp(mut s) => {
                        s.rcptto.clear();
                        Event::Smtp(s)
                    }
                    e => e,
                })
            })
            .collect();
        let r = network(&ev);
        assert!(classes(&r, a).is_empty());
        assert!(leads(&r, a).is_empty());
    }

    #[test]
    fn many_deliveries_are_spam() {
        let a = ip(10, 0, 0, 9);
        let ev: Vec<_> = (0..6).flat_map(|k| mail(k, 10 + k as u8)).collect();
        assert_eq!(classes(&network(&ev), a), vec![Class::Spam]);
    }

    #[test]
    fn one_delivery_is_a_lead_unless_a_bot_said_helo() {
        let a = ip(10, 0, 0, 9);
        let one = mail(1, 10);
        let r = network(&one);
        assert!(classes(&r, a).is_empty());
        assert_eq!(leads(&r, a), vec![Class::Spam]);
        let bot: Vec<Event> = one
            .into_iter()
            .map(|e| match e {
                Event::Smtp(mut s) => {
                    s.helo = Some("[0.0.0.0]".into());
                    Event::Smtp(s)
                }
                e => e,
            })
            .collect();
        assert_eq!(classes(&network(&bot), a), vec![Class::Spam]);
    }
}
