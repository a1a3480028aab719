//! The world: a checked, compiled scenario, and the volume model.
//!
//! [`World::build`] checks every value of a [`Scenario`] (each problem is
//! an error naming its field) and compiles its templates once; the
//! generators then only read it.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use chrono::format::Item;
use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::rng::{name_hash, stream, Rng};
use crate::scenario::*;
use crate::template::{NoVars, Template, Text, Var};
use crate::Error;

/// Days since 1970-01-01.
pub fn day_num(d: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (d - epoch).num_days()
}

/// The date of a day number.
pub fn date_of(day: i64) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    epoch + chrono::Duration::days(day)
}

/// Microseconds since the epoch at 00:00 UTC of `day`.
pub fn day_start_us(day: i64) -> i64 {
    day * 86_400_000_000
}

/// Monday = 0 … Sunday = 6.
pub fn weekday(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

/// `YYYY-MM-DD`.
pub fn day_str(day: i64) -> String {
    date_of(day).format("%Y-%m-%d").to_string()
}

pub(crate) struct World {
    pub from: i64,
    pub to: i64,
    pub trap: TrapW,
    pub sandbox: SandboxW,
    pub families: Vec<FamilyW>,
    pub campaigns: Vec<CampaignW>,
    pub affiliates: Vec<AffiliateW>,
    pub moves: Vec<MoveW>,
    pub events: Vec<EventRow>,
    pub click_sites: Vec<ClickSiteW>,
    pub benign_sites: Vec<BenignSiteW>,
}

pub(crate) struct TrapW {
    pub host: String,
    pub ip: Ipv4Addr,
    pub domains: Vec<String>,
    pub local_parts: Vec<Template>,
}

pub(crate) struct SandboxW {
    pub resolver: Ipv4Addr,
    pub browser_ua: String,
    pub recipient_domains: Vec<Template>,
    pub local_parts: Vec<Template>,
    pub latency_us: (u64, u64),
    pub benign_pages_per_day: f64,
}

pub(crate) struct PeriodW {
    pub from: i64,
    pub spam_sessions: f64,
    pub click_share: f64,
    pub clicks_per_day: f64,
    pub c2_per_hour: f64,
    pub downloads_per_day: f64,
    /// (campaign index, weight), weights summing to 1.
    pub mix: Vec<(usize, f64)>,
    /// The mail template from this period on, when it changes.
    pub mail: Option<MailW>,
}

pub(crate) struct SmtpW {
    pub ehlo: bool,
    pub helo: HeloStyle,
    pub upper: bool,
    pub space_after_colon: bool,
    pub pipelining: bool,
    pub end: SessionEnd,
    pub command_delay_us: (u64, u64),
    pub messages_per_session: (u64, u64),
    pub recipients_per_message: (u64, u64),
}

impl SmtpW {
    /// A command verb (given upper-case) in the family's case.
    pub fn verb(&self, upper: &str) -> String {
        if self.upper {
            upper.to_string()
        } else {
            upper.to_ascii_lowercase()
        }
    }

    /// What follows `MAIL FROM` and `RCPT TO`: the colon, with a space if
    /// the family writes one.
    pub fn colon(&self) -> &'static str {
        if self.space_after_colon {
            ": "
        } else {
            ":"
        }
    }
}

/// A header the family writes, in order.
pub(crate) enum HeaderW {
    MessageId(String),
    Date(String),
    From(String),
    To(String),
    Subject(String),
    MimeVersion(String),
    ContentType(String),
    ContentTransferEncoding(String),
    XMailer(String, Template),
    Extra(String, Template),
}

pub(crate) struct MailW {
    pub headers: Vec<HeaderW>,
    pub message_id: Template,
    pub date_items: Vec<Item<'static>>,
    /// UTC offsets in seconds.
    pub timezones: Vec<i32>,
    pub clock_skew_s: i64,
    pub boundary: Template,
    pub preamble: Option<String>,
    pub body: BodyKind,
    pub encoding: TransferEncoding,
    pub charset: String,
    pub subject_encoding: SubjectEncoding,
    pub sender: Template,
    pub from: Template,
    pub to: Template,
    pub url_host: Template,
}

pub(crate) struct C2W {
    pub host: Option<String>,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub post: bool,
    pub path: Template,
    pub user_agent: String,
    pub request_bytes: (u64, u64),
    pub response_bytes: (u64, u64),
}

pub(crate) struct DownloadW {
    pub host: Option<String>,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub path: Template,
    pub user_agent: String,
    pub size: (u64, u64),
}

pub(crate) struct FamilyW {
    pub name: String,
    pub dir: String,
    pub hash: u64,
    /// (first address, number of addresses) per prefix.
    pub prefixes: Vec<(u32, u32)>,
    pub pool_size: u32,
    pub points: Vec<(i64, f64)>,
    pub weekly: [f64; 7],
    pub noise: f64,
    pub periods: Vec<PeriodW>,
    /// (day, volume level from that day on), in date order.
    pub levels: Vec<(i64, f64)>,
    pub smtp: SmtpW,
    pub mail: MailW,
    pub sandbox_host: Ipv4Addr,
    pub c2_jitter: f64,
    pub c2: Vec<C2W>,
    pub download: Option<DownloadW>,
}

pub(crate) struct CampaignW {
    pub name: String,
    pub hash: u64,
    pub category: Category,
    pub brand: String,
    pub subjects: Vec<Template>,
    pub bodies: Vec<Template>,
    pub domains: Vec<Template>,
    pub domains_per_day: u32,
    pub urls: Vec<Template>,
    pub attachment: Option<Template>,
}

/// A campaign moving between families (see [`crate::scenario::Move`]).
pub(crate) struct MoveW {
    pub day: i64,
    pub campaign: usize,
    pub from: usize,
    pub to: usize,
    pub share: f64,
}

pub(crate) struct AffiliateW {
    pub campaigns: Vec<usize>,
    pub closes: Option<i64>,
    pub half_life_days: f64,
    pub floor: f64,
}

/// One row of `truth/events.csv`.
#[derive(Clone, Debug)]
pub(crate) struct EventRow {
    pub day: i64,
    pub family: String,
    pub kind: &'static str,
    pub description: String,
}

pub(crate) struct ClickSiteW {
    pub host: String,
    pub ip: Ipv4Addr,
    pub paths: Vec<Template>,
    pub referers: Vec<String>,
}

pub(crate) struct BenignSiteW {
    pub host: String,
    pub ip: Ipv4Addr,
    pub pages: Vec<Template>,
    pub resources: Vec<Template>,
}

/// A bot of a family: stable address, clock and name.
pub(crate) struct Bot {
    pub ip: Ipv4Addr,
    pub tz_s: i32,
    pub skew_s: i64,
    pub helo: String,
}

fn nonempty<T>(v: &[T], field: &str) -> Result<(), Error> {
    if v.is_empty() {
        Err(Error::field(field, "must not be empty"))
    } else {
        Ok(())
    }
}

fn finite_nonneg(x: f64, field: &str) -> Result<f64, Error> {
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(Error::field(
            field,
            format!("must be a finite number ≥ 0, got {x}"),
        ))
    }
}

/// Largest volume values a scenario may ask for (per day at scale 1):
/// the world must fit in memory and on disk.
pub(crate) const MAX_DAILY: f64 = 1_000_000.0;
/// Most trap messages one family sends in a day, whatever the scale.
pub(crate) const MAX_MESSAGES_PER_FAMILY_DAY: f64 = 20_000_000.0;
/// Most SMTP sessions of a sandbox day, whatever the scale.
pub(crate) const MAX_SESSIONS_PER_DAY: f64 = 1_000_000.0;
/// Largest multiplier (weekly factors, event levels).
pub(crate) const MAX_FACTOR: f64 = 100.0;

fn capped(x: f64, field: &str, max: f64) -> Result<f64, Error> {
    let x = finite_nonneg(x, field)?;
    if x > max {
        return Err(Error::field(
            field,
            format!("must be at most {max}, got {x}"),
        ));
    }
    Ok(x)
}

fn range_pair(r: [u64; 2], field: &str, min: u64, max: u64) -> Result<(u64, u64), Error> {
    if r[0] > r[1] || r[0] < min || r[1] > max {
        return Err(Error::field(
            field,
            format!(
                "must be [min, max] with {min} ≤ min ≤ max ≤ {max}, got [{}, {}]",
                r[0], r[1]
            ),
        ));
    }
    Ok((r[0], r[1]))
}

fn templates(
    srcs: &[String],
    field: &str,
    vars: &[Var],
    text: Text,
) -> Result<Vec<Template>, Error> {
    nonempty(srcs, field)?;
    srcs.iter()
        .enumerate()
        .map(|(i, s)| Template::parse(s, &format!("{field}[{i}]"), vars, text))
        .collect()
}

fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// A DNS name we can put on the wire: labels of 1..=63 host characters.
fn check_hostname(s: &str, field: &str) -> Result<(), Error> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(is_host_char))
        && s.contains('.');
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            field,
            format!("{s:?} is not a host name like mail.example.com"),
        ))
    }
}

fn check_header_text(s: &str, field: &str) -> Result<(), Error> {
    if s.is_empty() || !s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(Error::field(
            field,
            format!("{s:?} must be non-empty printable ASCII on one line"),
        ));
    }
    Ok(())
}

fn parse_prefix(s: &str, field: &str) -> Result<(u32, u32), Error> {
    let bad = || {
        Error::field(
            field,
            format!("{s:?} is not an IPv4 prefix like 78.84.0.0/14 (length 8..=30)"),
        )
    };
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.trim().parse().map_err(|_| bad())?;
    let len: u32 = len.trim().parse().map_err(|_| bad())?;
    if !(8..=30).contains(&len) {
        return Err(bad());
    }
    let size = 1u32 << (32 - len);
    let base = u32::from(addr) & !(size - 1);
    Ok((base, size))
}

fn parse_offset(s: &str, field: &str) -> Result<i32, Error> {
    let b = s.as_bytes();
    let bad = || Error::field(field, format!("{s:?} is not a UTC offset like +0300"));
    if b.len() != 5 || !(b[0] == b'+' || b[0] == b'-') || !b[1..].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let h = i32::from(b[1] - b'0') * 10 + i32::from(b[2] - b'0');
    let m = i32::from(b[3] - b'0') * 10 + i32::from(b[4] - b'0');
    if h > 14 || m > 59 {
        return Err(bad());
    }
    let secs = h * 3600 + m * 60;
    Ok(if b[0] == b'-' { -secs } else { secs })
}

/// Message-ID syntax (RFC 5322 `msg-id` with dot-atom parts).
pub(crate) fn valid_msg_id(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
        return false;
    };
    let Some((l, r)) = inner.split_once('@') else {
        return false;
    };
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
    let dot_atom =
        |p: &str| !p.is_empty() && p.split('.').all(|a| !a.is_empty() && a.bytes().all(atext));
    dot_atom(l) && dot_atom(r)
}

impl World {
    pub fn build(s: &Scenario) -> Result<World, Error> {
        let from = day_num(s.period.from.0);
        let to = day_num(s.period.to.0);
        if to < from {
            return Err(Error::field("period.to", "is before period.from"));
        }
        if to - from > 3660 {
            return Err(Error::field("period", "is longer than ten years"));
        }

        // Trap.
        check_hostname(&s.trap.host, "trap.host")?;
        nonempty(&s.trap.domains, "trap.domains")?;
        for (i, d) in s.trap.domains.iter().enumerate() {
            check_hostname(d, &format!("trap.domains[{i}]"))?;
        }
        let trap = TrapW {
            host: s.trap.host.clone(),
            ip: s.trap.ip,
            domains: s.trap.domains.clone(),
            local_parts: local_part_templates(&s.trap.local_parts, "trap.local_parts")?,
        };

        // Sandbox.
        check_header_text(&s.sandbox.browser_user_agent, "sandbox.browser_user_agent")?;
        let recipient_domains = templates(
            &s.sandbox.recipient_domains,
            "sandbox.recipient_domains",
            &[],
            Text::Line,
        )?;
        for (i, t) in recipient_domains.iter().enumerate() {
            if !t.only_chars(is_host_char) {
                return Err(Error::field(
                    format!("sandbox.recipient_domains[{i}]"),
                    "may only make letters, digits, '-' and '.'",
                ));
            }
        }
        let lat = range_pair(
            s.sandbox.server_latency_ms,
            "sandbox.server_latency_ms",
            0,
            60_000,
        )?;
        let sandbox = SandboxW {
            resolver: s.sandbox.resolver,
            browser_ua: s.sandbox.browser_user_agent.clone(),
            recipient_domains,
            local_parts: local_part_templates(&s.sandbox.local_parts, "sandbox.local_parts")?,
            latency_us: (lat.0 * 1000, lat.1 * 1000),
            benign_pages_per_day: capped(
                s.sandbox.benign_pages_per_day,
                "sandbox.benign_pages_per_day",
                10_000.0,
            )?,
        };

        // Campaigns.
        nonempty(&s.campaigns, "campaigns")?;
        if s.campaigns.len() > 10_000 {
            return Err(Error::field("campaigns", "at most 10000 campaigns"));
        }
        let mut campaigns = Vec::new();
        let mut campaign_index = BTreeMap::new();
        for c in &s.campaigns {
            let f = format!("campaigns[{}]", c.name);
            if c.name.is_empty()
                || campaign_index
                    .insert(c.name.clone(), campaigns.len())
                    .is_some()
            {
                return Err(Error::field(
                    f,
                    "campaign names must be non-empty and unique",
                ));
            }
            check_header_text(&c.brand, &format!("{f}.brand"))?;
            let subject_vars = [Var::Brand, Var::User, Var::Name];
            let body_vars = [Var::Brand, Var::Url, Var::User, Var::Name];
            let domains = templates(&c.domains, &format!("{f}.domains"), &[], Text::Line)?;
            for (i, t) in domains.iter().enumerate() {
                if !t.only_chars(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                }) {
                    return Err(Error::field(
                        format!("{f}.domains[{i}]"),
                        "may only make lower-case letters, digits, '-' and '.' (use {word}, {alpha:N}, {tld})",
                    ));
                }
            }
            if c.domains_per_day == 0 || c.domains_per_day > 1000 {
                return Err(Error::field(
                    format!("{f}.domains_per_day"),
                    "must be 1..=1000",
                ));
            }
            let attachment = match &c.attachment {
                Some(a) => {
                    let t = Template::parse(a, &format!("{f}.attachment"), &[], Text::Line)?;
                    if !t.only_chars(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
                        return Err(Error::field(
                            format!("{f}.attachment"),
                            "file names may only hold letters, digits, '.', '_' and '-'",
                        ));
                    }
                    Some(t)
                }
                None => None,
            };
            campaigns.push(CampaignW {
                name: c.name.clone(),
                hash: name_hash(&c.name),
                category: c.category,
                brand: c.brand.clone(),
                subjects: templates(
                    &c.subjects,
                    &format!("{f}.subjects"),
                    &subject_vars,
                    Text::Line,
                )?,
                bodies: templates(
                    &c.bodies,
                    &format!("{f}.bodies"),
                    &body_vars,
                    Text::Multiline,
                )?,
                domains,
                domains_per_day: c.domains_per_day,
                urls: templates(
                    &c.urls,
                    &format!("{f}.urls"),
                    &[Var::Host, Var::Domain],
                    Text::Line,
                )?,
                attachment,
            });
        }

        // Affiliates.
        let mut affiliates = Vec::new();
        let mut events = Vec::new();
        for (i, a) in s.affiliates.iter().enumerate() {
            let f = format!("affiliates[{i}]");
            let mut ids = Vec::new();
            for (j, c) in a.campaigns.iter().enumerate() {
                let id = campaign_index.get(c).ok_or_else(|| {
                    Error::field(
                        format!("{f}.campaigns[{j}]"),
                        format!("unknown campaign `{c}`"),
                    )
                })?;
                ids.push(*id);
            }
            let hl = finite_nonneg(a.half_life_days, &format!("{f}.half_life_days"))?;
            if hl <= 0.0 {
                return Err(Error::field(format!("{f}.half_life_days"), "must be > 0"));
            }
            if !(0.0..=1.0).contains(&a.floor) {
                return Err(Error::field(format!("{f}.floor"), "must be in [0, 1]"));
            }
            let closes = a.closes.map(|d| day_num(d.0));
            if let Some(day) = closes {
                events.push(EventRow {
                    day,
                    family: String::new(),
                    kind: "drop",
                    description: if a.description.is_empty() {
                        format!("{} affiliate program closes", a.name)
                    } else {
                        a.description.clone()
                    },
                });
            }
            affiliates.push(AffiliateW {
                campaigns: ids,
                closes,
                half_life_days: hl,
                floor: a.floor,
            });
        }

        // Families.
        nonempty(&s.families, "families")?;
        if s.families.len() > 1000 {
            return Err(Error::field("families", "at most 1000 families"));
        }
        let mut families: Vec<FamilyW> = Vec::new();
        let mut dirs = HashSet::new();
        for fam in &s.families {
            let fw = build_family(fam, &campaign_index)?;
            if !dirs.insert(fw.dir.clone()) {
                return Err(Error::field(
                    format!("families[{}].name", fam.name),
                    "family names must be unique (ignoring case)",
                ));
            }
            families.push(fw);
        }

        // Events.
        for (i, e) in s.events.iter().enumerate() {
            let f = format!("events[{i}]");
            let Some(fam) = families.iter_mut().find(|x| x.name == e.family) else {
                return Err(Error::field(
                    format!("{f}.family"),
                    format!("unknown family `{}`", e.family),
                ));
            };
            let level = match (e.kind, e.factor) {
                (EventKind::Drop, None) => {
                    return Err(Error::field(format!("{f}.factor"), "a drop needs a factor"))
                }
                (EventKind::Silence, Some(_)) => {
                    return Err(Error::field(
                        format!("{f}.factor"),
                        "a silence takes no factor",
                    ))
                }
                (EventKind::Silence, None) => Some(0.0),
                (EventKind::Return, None) => Some(1.0),
                (EventKind::Shift, None) => None,
                (_, Some(x)) => Some(capped(x, &format!("{f}.factor"), MAX_FACTOR)?),
            };
            check_header_text(&e.description, &format!("{f}.description"))?;
            let day = day_num(e.date.0);
            if let Some(level) = level {
                fam.levels.push((day, level));
            }
            events.push(EventRow {
                day,
                family: e.family.clone(),
                kind: e.kind.as_str(),
                description: e.description.clone(),
            });
        }
        for fam in &mut families {
            fam.levels.sort_by_key(|l| l.0);
        }

        // Customers moving campaigns between families.
        let mut moves = Vec::new();
        for (i, mv) in s.moves.iter().enumerate() {
            let f = format!("moves[{i}]");
            let family = |name: &str, field: &str| {
                families.iter().position(|x| x.name == name).ok_or_else(|| {
                    Error::field(format!("{f}.{field}"), format!("unknown family `{name}`"))
                })
            };
            let (from_i, to_i) = (family(&mv.from, "from")?, family(&mv.to, "to")?);
            if from_i == to_i {
                return Err(Error::field(format!("{f}.to"), "must differ from `from`"));
            }
            let campaign = *campaign_index.get(&mv.campaign).ok_or_else(|| {
                Error::field(
                    format!("{f}.campaign"),
                    format!("unknown campaign `{}`", mv.campaign),
                )
            })?;
            if !(mv.share.is_finite() && mv.share > 0.0 && mv.share < 1.0) {
                return Err(Error::field(format!("{f}.share"), "must be in (0, 1)"));
            }
            check_header_text(&mv.description, &format!("{f}.description"))?;
            let day = day_num(mv.date.0);
            moves.push(MoveW {
                day,
                campaign,
                from: from_i,
                to: to_i,
                share: mv.share,
            });
            events.push(EventRow {
                day,
                family: mv.to.clone(),
                kind: "move",
                description: mv.description.clone(),
            });
        }
        moves.sort_by_key(|m| m.day);
        events.sort_by(|a, b| a.day.cmp(&b.day).then_with(|| a.family.cmp(&b.family)));

        // Sites.
        let mut click_sites = Vec::new();
        let mut never_fetched = Vec::new();
        for (i, c) in s.click_sites.iter().enumerate() {
            let f = format!("click_sites[{i}]");
            check_hostname(&c.host, &format!("{f}.host"))?;
            nonempty(&c.referers, &format!("{f}.referers"))?;
            for (j, r) in c.referers.iter().enumerate() {
                check_header_text(r, &format!("{f}.referers[{j}]"))?;
                never_fetched.push((format!("{f}.referers[{j}]"), url_host(r).to_string()));
            }
            click_sites.push(ClickSiteW {
                host: c.host.clone(),
                ip: c.ip,
                paths: path_templates(&c.paths, &format!("{f}.paths"))?,
                referers: c.referers.clone(),
            });
        }
        let mut benign_sites = Vec::new();
        for (i, b) in s.benign_sites.iter().enumerate() {
            let f = format!("benign_sites[{i}]");
            check_hostname(&b.host, &format!("{f}.host"))?;
            benign_sites.push(BenignSiteW {
                host: b.host.clone(),
                ip: b.ip,
                pages: path_templates(&b.pages, &format!("{f}.pages"))?,
                resources: path_templates(&b.resources, &format!("{f}.resources"))?,
            });
        }
        // A forged referrer must name a site the host never fetches.
        let fetched: Vec<&str> = benign_sites
            .iter()
            .map(|b| b.host.as_str())
            .chain(click_sites.iter().map(|c| c.host.as_str()))
            .collect();
        for (field, host) in &never_fetched {
            if fetched.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                return Err(Error::field(field, format!("`{host}` is a site the hosts fetch; a forged referrer must name one they never fetch")));
            }
        }

        let world = World {
            from,
            to,
            trap,
            sandbox,
            families,
            campaigns,
            affiliates,
            moves,
            events,
            click_sites,
            benign_sites,
        };
        // Behaviours that need sites.
        for fam in &world.families {
            for p in &fam.periods {
                let f = format!("families[{}].periods[{}]", fam.name, day_str(p.from));
                if (p.clicks_per_day > 0.0 || p.click_share > 0.0) && world.click_sites.is_empty() {
                    return Err(Error::field(
                        f,
                        "clicks need at least one entry in click_sites",
                    ));
                }
                if p.downloads_per_day > 0.0 && fam.download.is_none() {
                    return Err(Error::field(
                        f,
                        "downloads need the family's `download` server",
                    ));
                }
                if p.c2_per_hour > 0.0 && fam.c2.is_empty() {
                    return Err(Error::field(
                        f,
                        "C&C check-ins need the family's `c2` servers",
                    ));
                }
            }
        }
        if world.sandbox.benign_pages_per_day > 0.0 && world.benign_sites.is_empty() {
            return Err(Error::field(
                "sandbox.benign_pages_per_day",
                "benign browsing needs benign_sites",
            ));
        }
        Ok(world)
    }

    /// Multiplier of a campaign's volume on `day` from affiliate closures.
    pub fn affiliate_factor(&self, campaign: usize, day: i64) -> f64 {
        let mut f = 1.0;
        for a in &self.affiliates {
            if let Some(closes) = a.closes {
                if day >= closes && a.campaigns.contains(&campaign) {
                    let t = (day - closes) as f64 / a.half_life_days;
                    f *= a.floor + (1.0 - a.floor) * 0.5f64.powf(t);
                }
            }
        }
        f
    }

    /// Messages of each campaign a family sends to the trap on `day`.
    pub fn trap_counts(&self, seed: u64, fi: usize, day: i64, scale: f64) -> Vec<(usize, u64)> {
        let fam = &self.families[fi];
        let mut rng = Rng::from_parts(&[seed, stream::COUNT, fam.hash, day as u64]);
        let base = (fam.curve(day) * fam.day_factor(day, &mut rng) * fam.level(day) * scale)
            .min(MAX_MESSAGES_PER_FAMILY_DAY);
        self.mix_on(fi, day)
            .into_iter()
            .map(|(c, w)| (c, rng.round(base * w * self.affiliate_factor(c, day))))
            .filter(|x| x.1 > 0)
            .collect()
    }

    /// A family's campaign weights on `day`: its period's mix with the
    /// campaigns customers moved away or brought in by then.
    pub fn mix_on(&self, fi: usize, day: i64) -> Vec<(usize, f64)> {
        let Some(p) = self.families[fi].period(day) else {
            return Vec::new();
        };
        let mut mix = p.mix.clone();
        for m in self.moves.iter().filter(|m| m.day <= day) {
            if m.from == fi {
                mix.retain(|x| x.0 != m.campaign);
            } else if m.to == fi {
                mix.retain(|x| x.0 != m.campaign);
                let total: f64 = mix.iter().map(|x| x.1).sum();
                for x in &mut mix {
                    *x = (x.0, x.1 / total.max(f64::MIN_POSITIVE) * (1.0 - m.share));
                }
                mix.push((m.campaign, m.share));
            }
        }
        let total: f64 = mix.iter().map(|x| x.1).sum();
        if total > 0.0 {
            for x in &mut mix {
                x.1 /= total;
            }
        }
        mix
    }

    /// Campaign weights of a family on `day` (mix × affiliate factors).
    pub fn day_mix(&self, fi: usize, day: i64) -> Vec<(usize, f64)> {
        self.mix_on(fi, day)
            .into_iter()
            .map(|(c, w)| (c, w * self.affiliate_factor(c, day)))
            .collect()
    }

    /// The live registrable domains of a campaign on a day.
    pub fn campaign_domains(&self, seed: u64, ci: usize, day: i64) -> Vec<String> {
        let c = &self.campaigns[ci];
        let mut rng = Rng::from_parts(&[seed, stream::DOMAINS, c.hash, day as u64]);
        (0..c.domains_per_day)
            .map(|_| {
                let t = &c.domains[rng.index(c.domains.len())];
                t.to_string(&mut rng, &NoVars)
            })
            .collect()
    }
}

fn local_part_templates(srcs: &[String], field: &str) -> Result<Vec<Template>, Error> {
    let ts = templates(srcs, field, &[], Text::Line)?;
    for (i, t) in ts.iter().enumerate() {
        if !t.only_chars(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b)) {
            return Err(Error::field(
                format!("{field}[{i}]"),
                "local parts may only hold letters, digits, '.', '_', '-', '+'",
            ));
        }
    }
    Ok(ts)
}

fn path_templates(srcs: &[String], field: &str) -> Result<Vec<Template>, Error> {
    let ts = templates(srcs, field, &[], Text::Line)?;
    for (i, (t, s)) in ts.iter().zip(srcs).enumerate() {
        if !s.starts_with('/') || !t.only_chars(|b| b.is_ascii_graphic()) {
            return Err(Error::field(
                format!("{field}[{i}]"),
                "must be a path like /index.html",
            ));
        }
    }
    Ok(ts)
}

/// Host part of an `http://host/...` URL (or the text itself).
pub(crate) fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |x| x.1);
    rest.split(['/', ':', '?']).next().unwrap_or(rest)
}

fn build_family(fam: &Family, campaign_index: &BTreeMap<String, usize>) -> Result<FamilyW, Error> {
    let f = format!("families[{}]", fam.name);
    if fam.name.is_empty()
        || !fam
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::field(
            format!("{f}.name"),
            "must be letters, digits, '-' or '_'",
        ));
    }

    // Bot pool.
    nonempty(&fam.bots.prefixes, &format!("{f}.bots.prefixes"))?;
    let prefixes = fam
        .bots
        .prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| parse_prefix(p, &format!("{f}.bots.prefixes[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if fam.bots.size == 0 {
        return Err(Error::field(format!("{f}.bots.size"), "must be ≥ 1"));
    }

    // Volume.
    nonempty(&fam.volume.points, &format!("{f}.volume.points"))?;
    let mut points = Vec::new();
    for (i, (d, v)) in fam.volume.points.iter().enumerate() {
        let field = format!("{f}.volume.points[{i}]");
        let day = day_num(d.0);
        if points.last().is_some_and(|(p, _)| *p >= day) {
            return Err(Error::field(field, "dates must be in increasing order"));
        }
        points.push((day, capped(*v, &field, MAX_DAILY)?));
    }
    for (i, w) in fam.volume.weekly.iter().enumerate() {
        capped(*w, &format!("{f}.volume.weekly[{i}]"), MAX_FACTOR)?;
    }
    let noise = finite_nonneg(fam.volume.noise, &format!("{f}.volume.noise"))?;
    if noise >= 1.0 {
        return Err(Error::field(
            format!("{f}.volume.noise"),
            "must be in [0, 1)",
        ));
    }

    // Periods.
    nonempty(&fam.periods, &format!("{f}.periods"))?;
    let mut periods: Vec<PeriodW> = Vec::new();
    for (i, p) in fam.periods.iter().enumerate() {
        let pf = format!("{f}.periods[{i}]");
        let from = day_num(p.from.0);
        if periods.last().is_some_and(|q| q.from >= from) {
            return Err(Error::field(
                format!("{pf}.from"),
                "periods must be in increasing date order",
            ));
        }
        let mix = match &p.mix {
            Some(m) => {
                let mut v = Vec::new();
                for (name, w) in m {
                    let mf = format!("{pf}.mix.{name}");
                    let c = campaign_index
                        .get(name)
                        .ok_or_else(|| Error::field(&mf, format!("unknown campaign `{name}`")))?;
                    v.push((*c, finite_nonneg(*w, &mf)?));
                }
                let total: f64 = v.iter().map(|x| x.1).sum();
                if total <= 0.0 {
                    return Err(Error::field(
                        format!("{pf}.mix"),
                        "needs at least one positive weight",
                    ));
                }
                v.iter().map(|&(c, w)| (c, w / total)).collect()
            }
            None => match periods.last() {
                Some(q) => q.mix.clone(),
                None => {
                    return Err(Error::field(
                        format!("{pf}.mix"),
                        "the first period needs a campaign mix",
                    ))
                }
            },
        };
        let share = finite_nonneg(p.click_share, &format!("{pf}.click_share"))?;
        if share >= 0.3 {
            return Err(Error::field(
                format!("{pf}.click_share"),
                "must be below 0.3",
            ));
        }
        let per_hour = finite_nonneg(p.c2_per_hour, &format!("{pf}.c2_per_hour"))?;
        if per_hour > 60.0 {
            return Err(Error::field(
                format!("{pf}.c2_per_hour"),
                "must be at most 60",
            ));
        }
        periods.push(PeriodW {
            from,
            spam_sessions: capped(p.spam_sessions, &format!("{pf}.spam_sessions"), 100_000.0)?,
            click_share: share,
            clicks_per_day: capped(p.clicks_per_day, &format!("{pf}.clicks_per_day"), 700.0)?,
            c2_per_hour: per_hour,
            downloads_per_day: capped(
                p.downloads_per_day,
                &format!("{pf}.downloads_per_day"),
                1000.0,
            )?,
            mix,
            mail: p
                .mail
                .as_ref()
                .map(|m| build_mail(m, &format!("{pf}.mail")))
                .transpose()?,
        });
    }

    // SMTP.
    let sm = &fam.smtp;
    let sf = format!("{f}.smtp");
    if sm.pipelining && sm.greeting == Greeting::Helo {
        return Err(Error::field(
            format!("{sf}.pipelining"),
            "needs EHLO (the server only offers PIPELINING after EHLO)",
        ));
    }
    let cd = range_pair(
        sm.command_delay_ms,
        &format!("{sf}.command_delay_ms"),
        0,
        600_000,
    )?;
    let mps = range_pair(
        [
            u64::from(sm.messages_per_session[0]),
            u64::from(sm.messages_per_session[1]),
        ],
        &format!("{sf}.messages_per_session"),
        1,
        100,
    )?;
    let rpm = range_pair(
        [
            u64::from(sm.recipients_per_message[0]),
            u64::from(sm.recipients_per_message[1]),
        ],
        &format!("{sf}.recipients_per_message"),
        1,
        100,
    )?;
    let smtp = SmtpW {
        ehlo: sm.greeting == Greeting::Ehlo,
        helo: sm.helo,
        upper: sm.case == CommandCase::Upper,
        space_after_colon: sm.space_after_colon,
        pipelining: sm.pipelining,
        end: sm.end,
        command_delay_us: (cd.0 * 1000, cd.1 * 1000),
        messages_per_session: mps,
        recipients_per_message: rpm,
    };

    let mail = build_mail(&fam.mail, &format!("{f}.mail"))?;

    // Servers.
    let jitter = finite_nonneg(fam.c2_jitter, &format!("{f}.c2_jitter"))?;
    if jitter >= 1.0 {
        return Err(Error::field(format!("{f}.c2_jitter"), "must be in [0, 1)"));
    }
    let mut c2 = Vec::new();
    for (i, c) in fam.c2.iter().enumerate() {
        let cf = format!("{f}.c2[{i}]");
        if let Some(h) = &c.host {
            check_hostname(h, &format!("{cf}.host"))?;
        }
        check_header_text(&c.user_agent, &format!("{cf}.user_agent"))?;
        c2.push(C2W {
            host: c.host.clone(),
            ip: c.ip,
            port: c.port,
            post: c.method == Method::Post,
            path: path_templates(std::slice::from_ref(&c.path), &format!("{cf}.path"))?.remove(0),
            user_agent: c.user_agent.clone(),
            request_bytes: range_pair(
                c.request_bytes.map(u64::from),
                &format!("{cf}.request_bytes"),
                1,
                1 << 20,
            )?,
            response_bytes: range_pair(
                c.response_bytes.map(u64::from),
                &format!("{cf}.response_bytes"),
                0,
                1 << 20,
            )?,
        });
    }
    let download = match &fam.download {
        Some(d) => {
            let df = format!("{f}.download");
            if let Some(h) = &d.host {
                check_hostname(h, &format!("{df}.host"))?;
            }
            check_header_text(&d.user_agent, &format!("{df}.user_agent"))?;
            let kb = range_pair(
                d.size_kb.map(u64::from),
                &format!("{df}.size_kb"),
                2,
                64 * 1024,
            )?;
            Some(DownloadW {
                host: d.host.clone(),
                ip: d.ip,
                port: d.port,
                path: path_templates(std::slice::from_ref(&d.path), &format!("{df}.path"))?
                    .remove(0),
                user_agent: d.user_agent.clone(),
                size: (kb.0 * 1024, kb.1 * 1024),
            })
        }
        None => None,
    };

    Ok(FamilyW {
        name: fam.name.clone(),
        dir: fam.name.to_ascii_lowercase(),
        hash: name_hash(&fam.name),
        prefixes,
        pool_size: fam.bots.size,
        points,
        weekly: fam.volume.weekly,
        noise,
        periods,
        levels: Vec::new(),
        smtp,
        mail,
        sandbox_host: fam.sandbox_host,
        c2_jitter: jitter,
        c2,
        download,
    })
}

fn build_mail(m: &MailStyle, f: &str) -> Result<MailW, Error> {
    let line = Text::Line;
    let mut headers = Vec::new();
    let mut seen = HashSet::new();
    let extra: BTreeMap<String, &String> = m
        .extra_headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let extra_vars = [
        Var::BotIp,
        Var::Helo,
        Var::Domain,
        Var::Sender,
        Var::Recipient,
        Var::Name,
    ];
    for (i, h) in m.headers.iter().enumerate() {
        let hf = format!("{f}.headers[{i}]");
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::field(hf, format!("{h:?} is not a header name")));
        }
        let lower = h.to_ascii_lowercase();
        if !seen.insert(lower.clone()) {
            return Err(Error::field(hf, format!("`{h}` is listed twice")));
        }
        if lower == "received" && !extra.contains_key(&lower) {
            return Err(Error::field(
                hf,
                "a bot's own `Received` header needs a template in extra_headers",
            ));
        }
        let name = h.clone();
        headers.push(match lower.as_str() {
            "message-id" => HeaderW::MessageId(name),
            "date" => HeaderW::Date(name),
            "from" => HeaderW::From(name),
            "to" => HeaderW::To(name),
            "subject" => HeaderW::Subject(name),
            "mime-version" => HeaderW::MimeVersion(name),
            "content-type" => HeaderW::ContentType(name),
            "content-transfer-encoding" => HeaderW::ContentTransferEncoding(name),
            "x-mailer" => {
                let src = m.x_mailer.as_ref().ok_or_else(|| {
                    Error::field(&hf, "X-Mailer is listed but `x_mailer` is not set")
                })?;
                HeaderW::XMailer(
                    name,
                    Template::parse(src, &format!("{f}.x_mailer"), &[], line)?,
                )
            }
            other => {
                let src = extra.get(other).ok_or_else(|| {
                    Error::field(&hf, format!("`{h}` needs a value in {f}.extra_headers"))
                })?;
                HeaderW::Extra(
                    name,
                    Template::parse(src, &format!("{f}.extra_headers.{h}"), &extra_vars, line)?,
                )
            }
        });
    }
    for required in ["message-id", "mime-version", "content-type"] {
        if !seen.contains(required) {
            return Err(Error::field(
                format!("{f}.headers"),
                format!("must list `{required}`"),
            ));
        }
    }
    for k in m.extra_headers.keys() {
        if !seen.contains(&k.to_ascii_lowercase()) {
            return Err(Error::field(
                format!("{f}.extra_headers.{k}"),
                "is not listed in headers",
            ));
        }
    }
    if m.x_mailer.is_some() && !seen.contains("x-mailer") {
        return Err(Error::field(
            format!("{f}.x_mailer"),
            "is set but X-Mailer is not listed in headers",
        ));
    }

    let sender = Template::parse(&m.sender, &format!("{f}.sender"), &[Var::RcptDomain], line)?;
    let message_id = Template::parse(
        &m.message_id,
        &format!("{f}.message_id"),
        &[Var::Domain],
        line,
    )?;
    // Check the shapes on a sample.
    let mut rng = Rng::new(1);
    struct Sample;
    impl crate::template::Vars for Sample {
        fn put(&self, v: Var, _: &mut Rng, out: &mut Vec<u8>) {
            out.extend_from_slice(match v {
                Var::RcptDomain | Var::Domain => b"example.com",
                _ => b"x",
            });
        }
    }
    let s = sender.to_string(&mut rng, &Sample);
    let sender_ok = s.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty()
            && !d.contains('@')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
            && check_hostname(d, "").is_ok()
    });
    if !sender_ok {
        return Err(Error::field(
            format!("{f}.sender"),
            format!("must make an address like a.b@example.com, made {s:?}"),
        ));
    }
    let id = message_id.to_string(&mut rng, &Sample);
    if !valid_msg_id(&id) {
        return Err(Error::field(
            format!("{f}.message_id"),
            format!("must make a Message-ID like <x.y@example.com>, made {id:?}"),
        ));
    }

    let date_items = chrono::format::StrftimeItems::new(&m.date_format)
        .parse_to_owned()
        .map_err(|e| Error::field(format!("{f}.date_format"), e.to_string()))?;
    nonempty(&m.timezones, &format!("{f}.timezones"))?;
    let timezones = m
        .timezones
        .iter()
        .enumerate()
        .map(|(i, t)| parse_offset(t, &format!("{f}.timezones[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    {
        let tz = offset(timezones[0]);
        let sample = DateTime::from_timestamp(1_283_300_000, 0)
            .unwrap_or_default()
            .with_timezone(&tz);
        let text = sample.format_with_items(date_items.iter()).to_string();
        if DateTime::parse_from_rfc2822(&text).is_err() {
            return Err(Error::field(
                format!("{f}.date_format"),
                format!("must make an RFC 5322 date, made {text:?}"),
            ));
        }
    }

    let boundary = Template::parse(&m.boundary, &format!("{f}.boundary"), &[], line)?;
    let bchar = |b: u8| b.is_ascii_alphanumeric() || b"'()+_,-./:=?".contains(&b);
    let sample_b = boundary.to_string(&mut rng, &crate::template::NoVars);
    if !boundary.only_chars(bchar) || sample_b.len() > 70 || sample_b.len() < 12 {
        return Err(Error::field(
            format!("{f}.boundary"),
            "must make 12..=70 characters from letters, digits and '()+_,-./:=? (with at least 8 random ones)",
        ));
    }
    if let Some(p) = &m.preamble {
        check_header_text(p, &format!("{f}.preamble"))?;
    }
    if !m
        .charset
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        || m.charset.is_empty()
    {
        return Err(Error::field(
            format!("{f}.charset"),
            "must be a charset name like windows-1252",
        ));
    }
    Ok(MailW {
        headers,
        message_id,
        date_items,
        timezones,
        clock_skew_s: i64::from(m.clock_skew_minutes.min(100_000)) * 60,
        boundary,
        preamble: m.preamble.clone(),
        body: m.body,
        encoding: m.encoding,
        charset: m.charset.clone(),
        subject_encoding: m.subject_encoding,
        sender,
        from: Template::parse(
            &m.from,
            &format!("{f}.from"),
            &[Var::Name, Var::Sender],
            line,
        )?,
        to: Template::parse(
            &m.to,
            &format!("{f}.to"),
            &[Var::Recipient, Var::User],
            line,
        )?,
        url_host: {
            let t = Template::parse(&m.url_host, &format!("{f}.url_host"), &[Var::Domain], line)?;
            if !t.uses(Var::Domain) {
                return Err(Error::field(
                    format!("{f}.url_host"),
                    "must contain {domain}",
                ));
            }
            t
        },
    })
}

/// A fixed UTC offset (UTC when out of range; offsets are checked at load).
pub(crate) fn offset(secs: i32) -> FixedOffset {
    use chrono::Offset;
    FixedOffset::east_opt(secs).unwrap_or_else(|| chrono::Utc.fix())
}

impl FamilyW {
    /// Volume curve value on `day` (messages per day at scale 1).
    pub fn curve(&self, day: i64) -> f64 {
        let p = &self.points;
        match p.iter().position(|(d, _)| *d > day) {
            Some(0) => p[0].1,
            None => p.last().map_or(0.0, |x| x.1),
            Some(i) => {
                let (d0, v0) = p[i - 1];
                let (d1, v1) = p[i];
                v0 + (v1 - v0) * (day - d0) as f64 / (d1 - d0) as f64
            }
        }
    }

    /// Weekly factor times day noise.
    pub fn day_factor(&self, day: i64, rng: &mut Rng) -> f64 {
        self.weekly[weekday(day)] * (1.0 + self.noise * (2.0 * rng.f64() - 1.0))
    }

    /// Volume level set by the latest event on or before `day`.
    pub fn level(&self, day: i64) -> f64 {
        self.levels
            .iter()
            .rev()
            .find(|(d, _)| *d <= day)
            .map_or(1.0, |x| x.1)
    }

    /// The behaviour period in force on `day` (the first before it begins).
    pub fn period(&self, day: i64) -> Option<&PeriodW> {
        self.periods
            .iter()
            .rev()
            .find(|p| p.from <= day)
            .or(self.periods.first())
    }

    /// The mail template in force on `day`: the latest period's restyle
    /// begun by then, else the family's own.
    pub fn mail_on(&self, day: i64) -> &MailW {
        self.periods
            .iter()
            .rev()
            .filter(|p| p.from <= day)
            .find_map(|p| p.mail.as_ref())
            .unwrap_or(&self.mail)
    }

    /// Bot number `k` of the pool.
    pub fn bot(&self, k: u64) -> Bot {
        let mut rng = Rng::from_parts(&[stream::BOT, self.hash, k]);
        let (base, size) = self.prefixes[rng.index(self.prefixes.len())];
        // Avoid .0 and .255 host parts.
        let mut ip = base.wrapping_add(rng.below(u64::from(size)) as u32);
        if ip & 0xff == 0 || ip & 0xff == 255 {
            ip ^= 0x01 | (1 + (ip & 0x7e));
        }
        let tz_s = self.mail.timezones[rng.index(self.mail.timezones.len())];
        let skew_s = if self.mail.clock_skew_s > 0 {
            rng.range(0, 2 * self.mail.clock_skew_s as u64) as i64 - self.mail.clock_skew_s
        } else {
            0
        };
        let ip = Ipv4Addr::from(ip);
        let helo = match self.smtp.helo {
            HeloStyle::IpLiteral => format!("[{ip}]"),
            HeloStyle::RandomWord => {
                let mut s = crate::words::WORDS[rng.index(crate::words::WORDS.len())].to_string();
                if rng.chance(0.5) {
                    s.push_str(&rng.range(1, 99).to_string());
                }
                s
            }
            HeloStyle::FakeDomain => format!(
                "{}.{}-{}.{}",
                ["mail", "smtp", "mx", "relay"][rng.index(4)],
                crate::words::WORDS[rng.index(crate::words::WORDS.len())],
                crate::words::WORDS[rng.index(crate::words::WORDS.len())],
                crate::words::TLDS[rng.index(crate::words::TLDS.len())],
            ),
        };
        Bot {
            ip,
            tz_s,
            skew_s,
            helo,
        }
    }
}
