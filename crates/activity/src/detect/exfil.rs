//! **exfil**: stolen data going out.
//!
//! - Mail submitted with `AUTH` (or over a submission port, 587/465,
//!   encrypted) by a sandboxed host: an info-stealer mailing its loot to
//!   its operator's mailbox. On a network, people send mail: a lead.
//! - FTP uploads: an FTP control session and a data connection to the
//!   same server carrying bytes out (decoded `STOR` when the engine gives
//!   one). In a sandbox a verdict, on a network a lead.
//! - HTTP requests carrying credentials, stolen-data markers or system
//!   information (form fields or query parameters such as `password=`,
//!   `sysinfo=`, JSON of mail accounts) to a host the network rarely
//!   visits.
//!
//! DNS tunnels carrying data out are in [`super::tunnel`].

use botscope_event::{Service, Transport};
use rustc_hash::FxHashMap;

use super::{http_host, is_failed, url_of, Ctx, HostView};
use crate::evidence::{Evidence, Threat};
use crate::Class;

/// Markers of stolen data in a request (decoded, lowercase).
const STOLEN: &[&str] = &[
    "passwordslogs",
    "outlook",
    "thunderbird",
    "filezilla",
    "keylog",
    "wallet",
    "cookies",
    "credentials",
    "\"password\"",
    "\"passwords\"",
    "screenshot",
];

/// Credential fields of a form or query.
const CREDS: &[&str] = &["password=", "passwd=", "pass=", "pwd=", "&pw="];

/// System-information fields and values (`systeminfo` output).
const SYSINFO: &[&str] = &[
    "sysinfo=",
    "systeminfo",
    "os name:",
    "host name:",
    "ipconfig",
    "computername=",
    "comp=",
    "hwid=",
];

pub(crate) fn detect(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    smtp(cx, h, out);
    ftp(cx, h, out);
    http(cx, h, out);
}

fn smtp(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let sandboxed = cx.sandboxed(h.ip);
    for &i in &h.conns {
        let r = &cx.recs[i];
        let auth = r.smtp.iter().find(|s| {
            s.auth_user.is_some() || s.commands.iter().any(|c| c.eq_ignore_ascii_case("AUTH"))
        });
        let sent = r.mail_transactions() > 0;
        let submission = r.id.proto == Transport::Tcp
            && matches!(r.id.resp_p, 587 | 465)
            && !is_failed(r)
            && r.orig_bytes >= 1000;
        if !((auth.is_some() && sent) || (sandboxed && submission)) {
            continue;
        }
        let (t, c) = if sandboxed {
            (Threat::High, 0.9)
        } else {
            (Threat::Low, 0.5)
        };
        let who = auth.and_then(|s| s.auth_user.clone()).unwrap_or_default();
        let rcpt = r
            .smtp
            .iter()
            .flat_map(|s| s.rcptto.iter())
            .next()
            .cloned()
            .unwrap_or_default();
        let mut e = Evidence::new(h.ip, Class::Exfil, r.ts, t, c)
            .text(format!(
                "mail submitted to {}:{}{}{}, {} bytes out{} (checked: AUTH or a submission port{})",
                r.id.resp_h,
                r.id.resp_p,
                if who.is_empty() { String::new() } else { format!(" as {who}") },
                if rcpt.is_empty() { String::new() } else { format!(" to {rcpt}") },
                r.orig_bytes,
                if r.smtp.is_empty() { " (encrypted)" } else { "" },
                if sandboxed { "; a sandbox has no user sending mail" } else { "; on a network people send mail: a lead" }
            ))
            .conns([i])
            .ind(r.id.resp_h.to_string());
        for s in &r.smtp {
            if let Some(m) = &s.mailfrom {
                e = e.ind(m.clone());
            }
            if let Some(d) = s.rcptto.first().and_then(|x| x.rsplit('@').next()) {
                e = e.ind(d.trim_end_matches('>').to_string());
            }
        }
        if let Some(d) = who.rsplit('@').next().filter(|d| d.contains('.')) {
            e = e.ind(d.to_string());
        }
        out.push(e);
    }
}

fn ftp(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let recs = cx.recs;
    let sandboxed = cx.sandboxed(h.ip);
    // Control sessions per server.
    let mut control: FxHashMap<std::net::IpAddr, usize> = FxHashMap::default();
    for &i in &h.conns {
        let r = &recs[i];
        if r.id.proto == Transport::Tcp
            && (r.id.resp_p == 21 || r.has_service(Service::FTP))
            && !is_failed(r)
            && r.resp_bytes > 0
        {
            control.entry(r.id.resp_h).or_insert(i);
        }
    }
    for (server, ctl) in control {
        // Data connections to the same server (passive mode) carrying
        // bytes out, not in.
        let ups: Vec<usize> = h
            .conns
            .iter()
            .copied()
            .filter(|&j| {
                let d = &recs[j];
                j != ctl
                    && d.id.resp_h == server
                    && d.id.proto == Transport::Tcp
                    && d.id.resp_p != 21
                    && d.orig_bytes >= 100
                    && d.resp_bytes.saturating_mul(10) <= d.orig_bytes
            })
            .collect();
        if ups.is_empty() {
            continue;
        }
        let bytes: u64 = ups.iter().map(|&j| recs[j].orig_bytes).sum();
        let (t, c) = if sandboxed {
            (Threat::High, 0.9)
        } else {
            (Threat::Low, 0.5)
        };
        out.push(
            Evidence::new(h.ip, Class::Exfil, recs[ctl].ts, t, c)
                .text(format!(
                    "FTP session to {server}:{} and {} data connections uploading {bytes} bytes (checked: bytes out, none back{})",
                    recs[ctl].id.resp_p,
                    ups.len(),
                    if sandboxed { "" } else { "; on a network uploads are common: a lead" }
                ))
                .conns([ctl])
                .conns(ups)
                .ind(server.to_string()),
        );
    }
}

/// Percent-decoded, `+` as space, lowercase.
fn text_of(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(x) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|x| u8::from_str_radix(x, 16).ok())
            {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).to_ascii_lowercase()
}

fn http(cx: &Ctx<'_>, h: &HostView, out: &mut Vec<Evidence>) {
    let sandboxed = cx.sandboxed(h.ip);
    let mut seen: FxHashMap<String, ()> = FxHashMap::default();
    for &i in &h.conns {
        let r = &cx.recs[i];
        for x in &r.http {
            let server = http_host(r, x);
            if cx.background.name(&server).is_some() {
                continue;
            }
            let query = x
                .uri
                .as_deref()
                .and_then(|u| u.split_once('?'))
                .map_or("", |q| q.1);
            let mut hay = text_of(query.as_bytes());
            hay.push('\n');
            hay.push_str(&text_of(&x.req_body_prefix));
            let stolen: Vec<&str> = STOLEN.iter().copied().filter(|m| hay.contains(m)).collect();
            let creds = CREDS.iter().any(|m| hay.contains(m));
            let sys = SYSINFO.iter().filter(|m| hay.contains(*m)).count();
            // In a sandbox: a large upload to a host nobody else uses.
            let post = x
                .method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("POST"));
            if sandboxed
                && post
                && x.request_body_len >= 400
                && x.request_body_len >= 4 * x.response_body_len
                && cx.fan_in.get(&r.id.resp_h).copied().unwrap_or(0) <= 1
                && seen.len() < 4096
                && seen.insert(format!("upload {server}"), ()).is_none()
            {
                out.push(
                    Evidence::new(h.ip, Class::Exfil, x.meta.map_or(r.ts, |m| m.ts), Threat::High, 0.8)
                        .text(format!(
                            "POST {} uploads {} bytes ({} back) from the sandboxed host to a host the background does not explain",
                            url_of(x),
                            x.request_body_len,
                            x.response_body_len
                        ))
                        .conns([i])
                        .ind(server.clone())
                        .ind(r.id.resp_h.to_string())
                        .ind(url_of(x)),
                );
            }
            if stolen.is_empty() && !creds && sys == 0 {
                continue;
            }
            let rare = cx.fan_in.get(&r.id.resp_h).copied().unwrap_or(0) <= 1;
            let strong = !stolen.is_empty() || (creds && x.referrer.is_none()) || sys >= 1;
            let (t, c) = match (strong && rare, sandboxed) {
                (true, true) => (Threat::High, 0.9),
                (true, false) => (Threat::High, 0.7),
                (false, true) => (Threat::Medium, 0.8),
                (false, false) => (Threat::Low, 0.5),
            };
            if seen.len() >= 4096
                || seen
                    .insert(format!("{server}{}", x.uri.as_deref().unwrap_or("")), ())
                    .is_some()
            {
                continue;
            }
            out.push(
                Evidence::new(h.ip, Class::Exfil, x.meta.map_or(r.ts, |m| m.ts), t, c)
                    .text(format!(
                        "{} {} carries {}{}{} to a host contacted by {} hosts (checked: decoded query and body prefix, Referer {})",
                        x.method.as_deref().unwrap_or("-"),
                        url_of(x),
                        if stolen.is_empty() { String::new() } else { format!("stolen-data markers {stolen:?} ") },
                        if creds { "credentials " } else { "" },
                        if sys > 0 { "system information" } else { "" },
                        cx.fan_in.get(&r.id.resp_h).copied().unwrap_or(0),
                        if x.referrer.is_some() { "present" } else { "absent" }
                    ))
                    .conns([i])
                    .ind(server)
                    .ind(r.id.resp_h.to_string())
                    .ind(url_of(x)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use botscope_event::{ConnState, Event, Http, Smtp, Transport};

    use crate::detect::testkit::*;
    use crate::Class;

    fn submission(uid: u64, a: std::net::IpAddr) -> Vec<Event> {
        let cid = id(a, ip(203, 0, 113, 28), 587, Transport::Tcp);
        vec![
            conn(
                uid,
                1.0,
                cid,
                ConnState::SF,
                5000,
                600,
                2.0,
                &[botscope_event::Service::SMTP],
            ),
            Event::Smtp(Smtp {
                meta: Some(meta(uid, 1.0, cid)),
                mailfrom: Some("<marketing@shop.example>".into()),
                rcptto: vec!["<drop@mail.example>".into()],
                auth_user: Some("marketing@shop.example".into()),
                ..Default::default()
            }),
        ]
    }

    #[test]
    fn authenticated_mail_is_exfil_in_a_sandbox_a_lead_on_a_network() {
        let a = ip(192, 168, 1, 27);
        let ev = submission(1, a);
        assert_eq!(classes(&sandbox(&ev, a), a), vec![Class::Exfil]);
        let r = network(&ev);
        assert!(classes(&r, a).is_empty(), "{r:?}");
        assert!(leads(&r, a).contains(&Class::Exfil));
        // And one submission is never spam.
        assert!(!classes(&r, a).contains(&Class::Spam));
    }

    #[test]
    fn ftp_upload_in_a_sandbox() {
        let (a, s) = (ip(192, 168, 100, 164), ip(203, 0, 113, 226));
        let ev = vec![
            conn(
                1,
                1.0,
                id(a, s, 21, Transport::Tcp),
                ConnState::SF,
                300,
                900,
                10.0,
                &[botscope_event::Service::FTP],
            ),
            conn(
                2,
                3.0,
                id(a, s, 44523, Transport::Tcp),
                ConnState::SF,
                4000,
                0,
                1.0,
                &[],
            ),
        ];
        assert_eq!(classes(&sandbox(&ev, a), a), vec![Class::Exfil]);
        assert!(classes(&network(&ev), a).is_empty());
    }

    #[test]
    fn credentials_in_a_query_to_a_rare_host() {
        let (a, s) = (ip(192, 168, 100, 172), ip(203, 0, 113, 79));
        let ev = http(
            1,
            1.0,
            id(a, s, 80, Transport::Tcp),
            Http {
                method: Some("GET".into()),
                host: Some("school.example".into()),
                uri: Some("/index.php?action=add&username=bob&password=hunter2&app=Chrome".into()),
                ..Default::default()
            },
        );
        assert_eq!(classes(&sandbox(&ev, a), a), vec![Class::Exfil]);
        assert_eq!(classes(&network(&ev), a), vec![Class::Exfil]);
    }
}
