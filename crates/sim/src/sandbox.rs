//! What a family's infected host does on a day, as a [`SandboxDay`] plan:
//! C&C check-ins, payload downloads, spam (MX lookups, SMTP sessions),
//! click fraud and benign browsing. The packet renderer in
//! [`crate::net`] turns the plan into a capture.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::Ipv4Addr;

use simple_dns::rdata::{RData, A, MX};
use simple_dns::{Name, Packet, PacketFlag, Question, ResourceRecord, CLASS, QCLASS, QTYPE, TYPE};

use crate::encode::fake_pe;
use crate::mail::{recipient, rfc2822_utc, smtp_data, write_message, MessageSpec};
use crate::plan::{Activity, Class, Close, SandboxDay, Side, TcpConversation, Turn, UdpExchange};
use crate::rng::{key, name_hash, stream, Rng};
use crate::scenario::{HeloStyle, SessionEnd};
use crate::template::NoVars;
use crate::world::{day_start_us, day_str, Bot, FamilyW, World};

const DAY_US: i64 = 86_400_000_000;
const MS: u64 = 1000;

/// First octets of the made-up public addresses of remote mail servers.
const PUBLIC_FIRST: &[u8] = &[
    24, 38, 41, 46, 50, 58, 62, 64, 66, 69, 72, 74, 76, 78, 80, 82, 84, 85, 86, 87, 88, 89, 91, 93,
    94, 95, 109, 112, 115, 117, 118, 119, 121, 122, 124, 173, 174, 178, 180, 186, 187, 188, 189,
    190, 193, 194, 195, 201, 202, 206, 207, 208, 209, 210, 211, 212, 213, 216, 217,
];

/// A stable public-looking address for a remote host name.
fn public_ip(name: &str) -> Ipv4Addr {
    let mut rng = Rng::new(name_hash(name));
    Ipv4Addr::new(
        PUBLIC_FIRST[rng.index(PUBLIC_FIRST.len())],
        rng.below(256) as u8,
        rng.below(256) as u8,
        rng.range(1, 254) as u8,
    )
}

struct Planner<'a> {
    world: &'a World,
    fam: &'a FamilyW,
    rng: Rng,
    acts: Vec<Activity>,
    day_us: i64,
}

impl Planner<'_> {
    fn latency(&mut self) -> u64 {
        let (lo, hi) = self.world.sandbox.latency_us;
        self.rng.range(lo, hi)
    }

    /// A DNS query from the host and the resolver's answer; returns when
    /// the answer arrives.
    fn dns(&mut self, ts: i64, name: &str, answer: DnsAnswer) -> i64 {
        let id = self.rng.below(65_536) as u16;
        let Ok(qname) = Name::new(name) else {
            return ts;
        };
        let qtype = match answer {
            DnsAnswer::A(_) => TYPE::A,
            DnsAnswer::Mx(_) => TYPE::MX,
        };
        let mut q = Packet::new_query(id);
        q.set_flags(PacketFlag::RECURSION_DESIRED);
        let question = Question::new(
            qname.clone(),
            QTYPE::TYPE(qtype),
            QCLASS::CLASS(CLASS::IN),
            false,
        );
        q.questions.push(question.clone());
        let mut r = Packet::new_reply(id);
        r.set_flags(PacketFlag::RECURSION_DESIRED | PacketFlag::RECURSION_AVAILABLE);
        r.questions.push(question);
        let ttl = self.rng.range(300, 3600) as u32;
        let exchanges: Vec<(String, Ipv4Addr)>;
        match answer {
            DnsAnswer::A(ip) => {
                r.answers.push(ResourceRecord::new(
                    qname,
                    CLASS::IN,
                    ttl,
                    RData::A(A {
                        address: u32::from(ip),
                    }),
                ));
            }
            DnsAnswer::Mx(list) => {
                exchanges = list;
                for (i, (host, _)) in exchanges.iter().enumerate() {
                    if let Ok(ex) = Name::new(host) {
                        let mx = MX {
                            preference: 10 * (i as u16 + 1),
                            exchange: ex,
                        };
                        r.answers.push(ResourceRecord::new(
                            qname.clone(),
                            CLASS::IN,
                            ttl,
                            RData::MX(mx),
                        ));
                    }
                }
                for (host, ip) in &exchanges {
                    if let Ok(n) = Name::new(host) {
                        let a = RData::A(A {
                            address: u32::from(*ip),
                        });
                        r.additional_records
                            .push(ResourceRecord::new(n, CLASS::IN, ttl, a));
                    }
                }
            }
        }
        let (Ok(request), Ok(reply)) = (q.build_bytes_vec(), r.build_bytes_vec_compressed()) else {
            return ts;
        };
        let delay = self.latency().max(MS);
        self.acts.push(Activity::Udp(UdpExchange {
            ts_us: ts,
            server: self.world.sandbox.resolver,
            port: 53,
            class: Class::Dns,
            request,
            reply: Some((delay, reply)),
        }));
        ts + delay as i64
    }

    fn tcp(
        &mut self,
        ts: i64,
        server: Ipv4Addr,
        port: u16,
        class: Class,
        turns: Vec<Turn>,
        close: Close,
    ) {
        self.acts.push(Activity::Tcp(TcpConversation {
            ts_us: ts,
            client: None,
            server,
            port,
            class,
            turns,
            close,
        }));
    }

    fn http_date(&self, ts: i64, out: &mut Vec<u8>) {
        rfc2822_utc(out, ts.div_euclid(1_000_000), "GMT");
    }

    fn response(
        &self,
        ts: i64,
        server: &str,
        ctype: &str,
        body: &[u8],
        keep_alive: bool,
    ) -> Vec<u8> {
        let mut r = Vec::with_capacity(body.len() + 256);
        r.extend_from_slice(b"HTTP/1.1 200 OK\r\nDate: ");
        self.http_date(ts, &mut r);
        let _ = write!(
            r,
            "\r\nServer: {server}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
            body.len(),
            if keep_alive { "keep-alive" } else { "close" }
        );
        r.extend_from_slice(body);
        r
    }

    fn client(&mut self, delay_lo_ms: u64, delay_hi_ms: u64, bytes: Vec<u8>) -> Turn {
        Turn {
            side: Side::Client,
            delay_us: self.rng.range(delay_lo_ms * MS, delay_hi_ms * MS),
            bytes,
        }
    }

    fn server(&mut self, bytes: Vec<u8>) -> Turn {
        Turn {
            side: Side::Server,
            delay_us: self.latency(),
            bytes,
        }
    }
}

enum DnsAnswer {
    A(Ipv4Addr),
    Mx(Vec<(String, Ipv4Addr)>),
}

/// The sandbox plan of family `fi` on `day`.
pub(crate) fn plan_day(world: &World, seed: u64, fi: usize, day: i64, scale: f64) -> SandboxDay {
    let fam = &world.families[fi];
    let mut p = Planner {
        world,
        fam,
        rng: Rng::from_parts(&[seed, stream::SANDBOX, fam.hash, day as u64]),
        acts: Vec::new(),
        day_us: day_start_us(day),
    };
    let Some(period) = fam.period(day) else {
        return SandboxDay {
            name: pcap_name(fam, day),
            host: fam.sandbox_host,
            seed,
            activities: Vec::new(),
        };
    };
    let day_factor = fam.day_factor(day, &mut p.rng);
    let sessions = p.rng.round(
        (period.spam_sessions * scale * fam.level(day) * day_factor)
            .min(crate::world::MAX_SESSIONS_PER_DAY),
    );
    let c2_per_hour = period.c2_per_hour;
    let downloads = p
        .rng
        .round((period.downloads_per_day * scale).min(100_000.0));
    let (click_share, clicks_per_day) = (period.click_share, period.clicks_per_day);

    c2_checkins(&mut p, c2_per_hour);
    for _ in 0..downloads {
        let t = p.day_us + p.rng.below(DAY_US as u64) as i64;
        download(&mut p, t);
    }
    spam(&mut p, seed, fi, day, sessions);
    benign(&mut p, scale);
    // Clicks: a share of the host's connections while it spams, plus a
    // fixed number a day.
    let base = p.acts.len() as f64;
    let mut clicks = p.rng.round(clicks_per_day * scale);
    if sessions > 0 && click_share > 0.0 {
        // Each click is a DNS lookup and a connection.
        clicks += p.rng.round(click_share * base / (1.0 - 2.0 * click_share));
    }
    click_fraud(&mut p, clicks);

    let mut acts = p.acts;
    acts.sort_by_key(Activity::ts_us);
    SandboxDay {
        name: pcap_name(fam, day),
        host: fam.sandbox_host,
        seed: key(&[seed, stream::RENDER, fam.hash, day as u64]),
        activities: acts,
    }
}

pub(crate) fn pcap_name(fam: &FamilyW, day: i64) -> String {
    format!("pcap/{}/{}.pcap", fam.dir, day_str(day))
}

fn c2_checkins(p: &mut Planner, per_hour: f64) {
    if per_hour <= 0.0 || p.fam.c2.is_empty() {
        return;
    }
    let interval = 3.6e9 / per_hour;
    let mut t = p.day_us as f64 + p.rng.f64() * interval;
    let end = (p.day_us + DAY_US) as f64;
    while t < end {
        let ts = t as i64;
        let fam = p.fam;
        let si = if fam.c2.len() > 1 && p.rng.chance(0.1) {
            1 + p.rng.index(fam.c2.len() - 1)
        } else {
            0
        };
        let c2 = &fam.c2[si];
        let start = match &c2.host {
            Some(h) => p.dns(ts, h, DnsAnswer::A(c2.ip)) + p.rng.range(MS, 20 * MS) as i64,
            None => ts,
        };
        let host = c2.host.clone().unwrap_or_else(|| c2.ip.to_string());
        let n = p.rng.range(c2.request_bytes.0, c2.request_bytes.1) as usize;
        let mut opaque = Vec::with_capacity(n);
        p.rng.extend(&mut opaque, n);
        let mut path = Vec::new();
        c2.path.render(&mut p.rng, &NoVars, &mut path);
        let mut req = Vec::with_capacity(n + 256);
        if c2.post {
            req.extend_from_slice(b"POST ");
            req.extend_from_slice(&path);
            let _ = write!(
                req,
                " HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {n}\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n",
                c2.user_agent
            );
            req.extend_from_slice(&opaque);
        } else {
            req.extend_from_slice(b"GET ");
            req.extend_from_slice(&path);
            req.push(b'?');
            for b in opaque.iter().take(512) {
                let _ = write!(req, "{b:02x}");
            }
            let _ = write!(
                req,
                " HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nConnection: close\r\n\r\n",
                c2.user_agent
            );
        }
        let m = p.rng.range(c2.response_bytes.0, c2.response_bytes.1) as usize;
        let mut body = Vec::with_capacity(m);
        p.rng.extend(&mut body, m);
        let resp = p.response(start, "nginx", "text/html", &body, false);
        let turns = vec![p.client(1, 5, req), p.server(resp)];
        p.tcp(start, c2.ip, c2.port, Class::C2, turns, Close::ServerFin);
        t += interval * (1.0 + fam.c2_jitter * (2.0 * p.rng.f64() - 1.0));
    }
}

fn download(p: &mut Planner, ts: i64) {
    let Some(d) = &p.fam.download else { return };
    let start = match &d.host {
        Some(h) => p.dns(ts, h, DnsAnswer::A(d.ip)) + p.rng.range(MS, 20 * MS) as i64,
        None => ts,
    };
    let host = d.host.clone().unwrap_or_else(|| d.ip.to_string());
    let mut path = Vec::new();
    d.path.render(&mut p.rng, &NoVars, &mut path);
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(&path);
    let _ = write!(
        req,
        " HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nConnection: close\r\n\r\n",
        d.user_agent
    );
    let size = p.rng.range(d.size.0, d.size.1) as usize;
    let mut pe = Vec::with_capacity(size + 512);
    let stamp =
        (ts / 1_000_000 - p.rng.range(3600, 30 * 86_400) as i64).clamp(0, u32::MAX as i64) as u32;
    fake_pe(&mut p.rng, size, stamp, &mut pe);
    let resp = p.response(
        start,
        "nginx/0.7.67",
        "application/octet-stream",
        &pe,
        false,
    );
    let turns = vec![p.client(1, 5, req), p.server(resp)];
    p.tcp(
        start,
        d.ip,
        d.port,
        Class::Download,
        turns,
        Close::ServerFin,
    );
}

/// The sandbox host as a bot of its family (its HELO name and clock).
fn sandbox_bot(fam: &FamilyW, rng: &mut Rng) -> Bot {
    let mut b = fam.bot(rng.below(u64::from(fam.pool_size)));
    b.ip = fam.sandbox_host;
    if fam.smtp.helo == HeloStyle::IpLiteral {
        b.helo = format!("[{}]", fam.sandbox_host);
    }
    b
}

fn spam(p: &mut Planner, seed: u64, fi: usize, day: i64, sessions: u64) {
    if sessions == 0 {
        return;
    }
    let world = p.world;
    let fam = p.fam;
    let mix = world.day_mix(fi, day);
    let weights: Vec<f64> = mix.iter().map(|x| x.1).collect();
    if weights.iter().all(|w| *w <= 0.0) {
        return;
    }
    let mut bot_rng = Rng::from_parts(&[stream::BOT, fam.hash, u64::MAX]);
    let bot = sandbox_bot(fam, &mut bot_rng);
    // Today's recipient domains, each with its MX hosts.
    let n_domains = sessions.div_ceil(2).clamp(1, 5000) as usize;
    let domains: Vec<String> = (0..n_domains)
        .map(|_| {
            let t = &world.sandbox.recipient_domains
                [p.rng.index(world.sandbox.recipient_domains.len())];
            let mut d = t.to_string(&mut p.rng, &NoVars);
            d.make_ascii_lowercase();
            d
        })
        .collect();
    let mut looked_up: HashSet<usize> = HashSet::new();
    let mut times: Vec<i64> = (0..sessions)
        .map(|_| p.day_us + p.rng.below(DAY_US as u64) as i64)
        .collect();
    times.sort_unstable();
    let mut camp_domains: HashMap<usize, Vec<String>> = HashMap::new();
    let s = &fam.smtp;
    let verb = |upper: &str| s.verb(upper);
    let colon = s.colon();
    let mut msg = Vec::with_capacity(8192);
    for (si, &t) in times.iter().enumerate() {
        let di = p.rng.index(domains.len());
        let domain = &domains[di];
        let mx_count = 1 + usize::from(name_hash(domain).is_multiple_of(3));
        let mxs: Vec<(String, Ipv4Addr)> = (0..mx_count)
            .map(|i| {
                let h = format!("{}.{domain}", if i == 0 { "mx1" } else { "mx2" });
                let ip = public_ip(&h);
                (h, ip)
            })
            .collect();
        let mut start = t;
        if looked_up.insert(di) {
            start = p.dns(t, domain, DnsAnswer::Mx(mxs.clone())) + p.rng.range(MS, 30 * MS) as i64;
        }
        let (mx_host, mx_ip) = mxs[0].clone();
        let cmd = s.command_delay_us;
        let cmd_turn = |rng: &mut Rng, bytes: Vec<u8>| Turn {
            side: Side::Client,
            delay_us: rng.range(cmd.0, cmd.1),
            bytes,
        };
        let mut turns = Vec::new();
        let greet = format!("220 {mx_host} ESMTP Postfix\r\n").into_bytes();
        turns.push(p.server(greet));
        let hello = format!(
            "{} {}\r\n",
            verb(if s.ehlo { "EHLO" } else { "HELO" }),
            bot.helo
        );
        turns.push(cmd_turn(&mut p.rng, hello.into_bytes()));
        let reply = if s.ehlo {
            format!("250-{mx_host}\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 DSN\r\n")
        } else {
            format!("250 {mx_host}\r\n")
        };
        turns.push(p.server(reply.into_bytes()));
        let n_msgs = p
            .rng
            .range(s.messages_per_session.0, s.messages_per_session.1);
        for mi in 0..n_msgs {
            let ci = mix[p.rng.weighted(&weights)].0;
            let camp = &world.campaigns[ci];
            let live = camp_domains
                .entry(ci)
                .or_insert_with(|| world.campaign_domains(seed, ci, day));
            let n_rcpt = p
                .rng
                .range(s.recipients_per_message.0, s.recipients_per_message.1);
            let rcpts: Vec<String> = (0..n_rcpt)
                .map(|_| recipient(&mut p.rng, &world.sandbox.local_parts, domain))
                .collect();
            let mut mrng = Rng::from_parts(&[
                seed,
                stream::SANDBOX_MESSAGE,
                fam.hash,
                day as u64,
                si as u64,
                mi,
            ]);
            msg.clear();
            let spec = MessageSpec {
                family: fam,
                campaign: camp,
                domains: live,
                bot: &bot,
                send_us: t,
                rcpt: &rcpts[0],
            };
            let meta = write_message(&spec, &mut mrng, &mut msg);
            let mail_from = format!("{}{colon}<{}>\r\n", verb("MAIL FROM"), meta.sender);
            let rcpt_lines: Vec<String> = rcpts
                .iter()
                .map(|r| format!("{}{colon}<{r}>\r\n", verb("RCPT TO")))
                .collect();
            let data_cmd = format!("{}\r\n", verb("DATA"));
            let data_ok = b"354 End data with <CR><LF>.<CR><LF>\r\n".to_vec();
            if s.pipelining {
                let mut c = mail_from.into_bytes();
                rcpt_lines
                    .iter()
                    .for_each(|r| c.extend_from_slice(r.as_bytes()));
                c.extend_from_slice(data_cmd.as_bytes());
                turns.push(cmd_turn(&mut p.rng, c));
                let mut r = b"250 2.1.0 Ok\r\n".to_vec();
                rcpt_lines
                    .iter()
                    .for_each(|_| r.extend_from_slice(b"250 2.1.5 Ok\r\n"));
                r.extend_from_slice(&data_ok);
                turns.push(p.server(r));
            } else {
                turns.push(cmd_turn(&mut p.rng, mail_from.into_bytes()));
                turns.push(p.server(b"250 2.1.0 Ok\r\n".to_vec()));
                for r in rcpt_lines {
                    turns.push(cmd_turn(&mut p.rng, r.into_bytes()));
                    turns.push(p.server(b"250 2.1.5 Ok\r\n".to_vec()));
                }
                turns.push(cmd_turn(&mut p.rng, data_cmd.into_bytes()));
                turns.push(p.server(data_ok));
            }
            let mut data = Vec::with_capacity(msg.len() + msg.len() / 30 + 8);
            smtp_data(&msg, &mut data);
            turns.push(p.client(1, 10, data));
            let mut queued = b"250 2.0.0 Ok: queued as ".to_vec();
            for _ in 0..10 {
                queued.push(b"0123456789ABCDEF"[p.rng.index(16)]);
            }
            queued.extend_from_slice(b"\r\n");
            turns.push(p.server(queued));
        }
        let close = match s.end {
            SessionEnd::Quit => {
                turns.push(cmd_turn(
                    &mut p.rng,
                    format!("{}\r\n", verb("QUIT")).into_bytes(),
                ));
                turns.push(p.server(b"221 2.0.0 Bye\r\n".to_vec()));
                Close::ServerFin
            }
            SessionEnd::Rst => Close::ClientRst,
            SessionEnd::Fin => Close::ClientFin,
        };
        p.tcp(start, mx_ip, 25, Class::Spam, turns, close);
    }
}

fn click_fraud(p: &mut Planner, clicks: u64) {
    if clicks == 0 || p.world.click_sites.is_empty() {
        return;
    }
    // Sparse: at least two minutes apart, spread over the day.
    let clicks = clicks.min(700);
    let gap = 120_000_000i64;
    let span = (DAY_US - gap * clicks as i64).max(0) as u64;
    let mut offs: Vec<i64> = (0..clicks).map(|_| p.rng.below(span) as i64).collect();
    offs.sort_unstable();
    for (i, off) in offs.into_iter().enumerate() {
        let t = p.day_us + off + gap * i as i64;
        let world = p.world;
        let site = &world.click_sites[p.rng.index(world.click_sites.len())];
        let start = p.dns(t, &site.host, DnsAnswer::A(site.ip)) + p.rng.range(MS, 20 * MS) as i64;
        let path = site.paths[p.rng.index(site.paths.len())].to_string(&mut p.rng, &NoVars);
        let referer = &site.referers[p.rng.index(site.referers.len())];
        let req = format!(
            "GET {path} HTTP/1.1\r\nAccept: */*\r\nReferer: {referer}\r\nAccept-Language: en-us\r\nUser-Agent: {}\r\nHost: {}\r\nConnection: Keep-Alive\r\n\r\n",
            world.sandbox.browser_ua, site.host
        );
        // The landing page names images and scripts the bot never fetches.
        let page = html_page(
            &mut p.rng,
            &site.host,
            &["/img/banner.gif", "/js/ads.js", "/css/site.css"],
            &[],
        );
        let resp = p.response(start, "Apache", "text/html", &page, true);
        let turns = vec![p.client(1, 5, req.into_bytes()), p.server(resp)];
        p.tcp(
            start,
            site.ip,
            80,
            Class::ClickFraud,
            turns,
            Close::ClientFin,
        );
    }
}

fn html_page(rng: &mut Rng, host: &str, resources: &[&str], links: &[String]) -> Vec<u8> {
    use crate::words::WORDS;
    let mut h = Vec::with_capacity(8192);
    let title = WORDS[rng.index(WORDS.len())];
    let _ = write!(h, "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\">\n<html>\n<head>\n<title>{title} - {host}</title>\n");
    for r in resources {
        if r.ends_with(".css") {
            let _ = writeln!(
                h,
                "<link rel=\"stylesheet\" type=\"text/css\" href=\"{r}\">"
            );
        } else if r.ends_with(".js") {
            let _ = writeln!(h, "<script type=\"text/javascript\" src=\"{r}\"></script>");
        }
    }
    h.extend_from_slice(b"</head>\n<body>\n");
    for r in resources {
        if !(r.ends_with(".css") || r.ends_with(".js")) {
            let _ = writeln!(h, "<img src=\"{r}\" alt=\"\">");
        }
    }
    let paragraphs = rng.range(4, 24);
    for _ in 0..paragraphs {
        h.extend_from_slice(b"<p>");
        for w in 0..rng.range(20, 60) {
            if w > 0 {
                h.push(b' ');
            }
            h.extend_from_slice(WORDS[rng.index(WORDS.len())].as_bytes());
        }
        h.extend_from_slice(b".</p>\n");
    }
    for l in links {
        let _ = writeln!(h, "<a href=\"{l}\">{}</a>", WORDS[rng.index(WORDS.len())]);
    }
    h.extend_from_slice(b"</body>\n</html>\n");
    h
}

fn resource_body(rng: &mut Rng, path: &str) -> (&'static str, Vec<u8>) {
    let ext = path.rsplit('.').next().unwrap_or("");
    let mut b = Vec::new();
    let n = rng.range(800, 12_000) as usize;
    let ctype = match ext {
        "css" => {
            while b.len() < n {
                let w = crate::words::WORDS[rng.index(crate::words::WORDS.len())];
                let _ = writeln!(
                    b,
                    ".{w} {{ margin: {}px; color: #{:06x}; }}",
                    rng.below(20),
                    rng.below(1 << 24)
                );
            }
            "text/css"
        }
        "js" => {
            while b.len() < n {
                let w = crate::words::WORDS[rng.index(crate::words::WORDS.len())];
                let _ = writeln!(
                    b,
                    "function {w}{}(a) {{ return a + {}; }}",
                    rng.below(1000),
                    rng.below(100)
                );
            }
            "application/javascript"
        }
        "gif" => {
            // A 1x1 GIF whose size comes from comment sub-blocks.
            b.extend_from_slice(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00");
            b.extend_from_slice(b"\x21\xfe");
            let mut left = n;
            while left > 0 {
                let k = left.min(255);
                b.push(k as u8);
                rng.extend(&mut b, k);
                left -= k;
            }
            b.push(0);
            b.extend_from_slice(
                b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b",
            );
            "image/gif"
        }
        "jpg" | "jpeg" => {
            // SOI, JFIF APP0, comment segments, EOI.
            b.extend_from_slice(
                b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
            );
            let mut left = n;
            while left > 0 {
                let k = left.min(60_000);
                b.extend_from_slice(&[0xff, 0xfe]);
                b.extend_from_slice(&(k as u16 + 2).to_be_bytes());
                rng.extend(&mut b, k);
                left -= k;
            }
            b.extend_from_slice(b"\xff\xd9");
            "image/jpeg"
        }
        "png" => {
            png(rng, n, &mut b);
            "image/png"
        }
        _ => {
            rng.extend(&mut b, n);
            "application/octet-stream"
        }
    };
    (ctype, b)
}

fn png_chunk(kind: &[u8; 4], data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crate::encode::crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A valid 1x1 RGBA PNG padded to about `n` bytes with a private
/// ancillary chunk.
fn png(rng: &mut Rng, n: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    png_chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0], out);
    let mut pad = Vec::with_capacity(n);
    rng.extend(&mut pad, n);
    png_chunk(b"prVt", &pad, out);
    // zlib stream with one stored block: filter byte 0 and one pixel.
    let raw = [0u8, 0, 0, 0, 0];
    let (mut a, mut b2) = (1u32, 0u32);
    for x in raw {
        a = (a + u32::from(x)) % 65_521;
        b2 = (b2 + a) % 65_521;
    }
    let mut z = vec![0x78, 0x01, 0x01, 5, 0, 0xfa, 0xff];
    z.extend_from_slice(&raw);
    z.extend_from_slice(&((b2 << 16) | a).to_be_bytes());
    png_chunk(b"IDAT", &z, out);
    png_chunk(b"IEND", &[], out);
}

fn get(path: &str, host: &str, referer: Option<&str>, ua: &str) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\nAccept: */*\r\n");
    if let Some(rf) = referer {
        r.push_str("Referer: ");
        r.push_str(rf);
        r.push_str("\r\n");
    }
    r.push_str("Accept-Language: en-us\r\nUser-Agent: ");
    r.push_str(ua);
    r.push_str("\r\nAccept-Encoding: gzip, deflate\r\nHost: ");
    r.push_str(host);
    r.push_str("\r\nConnection: Keep-Alive\r\n\r\n");
    r.into_bytes()
}

fn benign(p: &mut Planner, scale: f64) {
    let world = p.world;
    if world.benign_sites.is_empty() {
        return;
    }
    let mut pages = p
        .rng
        .round(world.sandbox.benign_pages_per_day * scale)
        .min(20_000);
    let ua = world.sandbox.browser_ua.clone();
    while pages > 0 {
        let visit = p.rng.range(1, 4).min(pages);
        pages -= visit;
        let site = &world.benign_sites[p.rng.index(world.benign_sites.len())];
        // Browse in waking hours of the lab's day.
        let mut t = p.day_us
            + p.rng.range(7 * 3600, 23 * 3600) as i64 * 1_000_000
            + p.rng.below(1_000_000) as i64;
        let mut referer: Option<String> = None;
        let mut next_path =
            site.pages[p.rng.index(site.pages.len())].to_string(&mut p.rng, &NoVars);
        for _ in 0..visit {
            let path = next_path;
            next_path = site.pages[p.rng.index(site.pages.len())].to_string(&mut p.rng, &NoVars);
            let url = format!("http://{}{path}", site.host);
            let start =
                p.dns(t, &site.host, DnsAnswer::A(site.ip)) + p.rng.range(MS, 10 * MS) as i64;
            let k = p.rng.range(2, 6).min(site.resources.len() as u64) as usize;
            let mut res: Vec<String> = Vec::with_capacity(k);
            let mut tries = 0;
            while res.len() < k && tries < 64 {
                tries += 1;
                let r = site.resources[p.rng.index(site.resources.len())]
                    .to_string(&mut p.rng, &NoVars);
                if !res.contains(&r) {
                    res.push(r);
                }
            }
            let res: Vec<&str> = res.iter().map(String::as_str).collect();
            let page = html_page(
                &mut p.rng,
                &site.host,
                &res,
                std::slice::from_ref(&next_path),
            );
            let page_req = p.client(1, 5, get(&path, &site.host, referer.as_deref(), &ua));
            let page_resp = p.response(
                start,
                "Apache/2.2.16 (Unix)",
                "text/html; charset=utf-8",
                &page,
                true,
            );
            let page_resp = p.server(page_resp);
            let page_time = (page_req.delay_us + page_resp.delay_us) as i64 + 5_000;
            let mut first = vec![page_req, page_resp];
            let mut second = Vec::new();
            for (i, r) in res.iter().enumerate() {
                let (ctype, body) = resource_body(&mut p.rng, r);
                let req = p.client(1, 15, get(r, &site.host, Some(&url), &ua));
                let resp = p.response(start, "Apache/2.2.16 (Unix)", ctype, &body, true);
                let resp = p.server(resp);
                let conn = if i % 2 == 0 { &mut first } else { &mut second };
                conn.push(req);
                conn.push(resp);
            }
            p.tcp(start, site.ip, 80, Class::Benign, first, Close::ClientFin);
            if !second.is_empty() {
                if let Some(t0) = second.first_mut() {
                    t0.delay_us = p.rng.range(MS, 5 * MS);
                }
                p.tcp(
                    start + page_time,
                    site.ip,
                    80,
                    Class::Benign,
                    second,
                    Close::ClientFin,
                );
            }
            referer = Some(url);
            t = start + p.rng.range(5, 120) as i64 * 1_000_000;
        }
    }
}
