//! The scenario format: a world described as data (TOML).
//!
//! Every struct rejects unknown fields, and the doc comments here are the
//! user documentation of each field (`docs/scenario.md` shows them with
//! an example). Loading checks the values too (see [`crate::load_scenario`]):
//! every problem is reported as an error naming the field.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

/// A calendar day, written `2010-09-01` (a TOML date or a string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub NaiveDate);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let v = toml::Value::deserialize(d)?;
        let text = match &v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
            _ => return Err(D::Error::custom("expected a date like 2010-09-01")),
        };
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(Day)
            .map_err(|_| D::Error::custom(format!("invalid date {text:?}, expected YYYY-MM-DD")))
    }
}

/// A simulated world.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name of the scenario.
    pub name: String,
    /// What the scenario tells, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// The simulated days.
    pub period: Period,
    /// The spam trap whose mail lands in `mail/YYYY-MM-DD.mbox`.
    pub trap: Trap,
    /// The sandbox lab whose captures land in `pcap/FAMILY/YYYY-MM-DD.pcap`.
    pub sandbox: Sandbox,
    /// Botnet families.
    pub families: Vec<Family>,
    /// Spam campaigns the families send.
    pub campaigns: Vec<Campaign>,
    /// Affiliate programs that pay for campaigns and may close.
    #[serde(default)]
    pub affiliates: Vec<Affiliate>,
    /// Spam customers moving a campaign from one botnet to another
    /// (listed in `truth/events.csv` as `move`).
    #[serde(default)]
    pub moves: Vec<Move>,
    /// Dated changes of a family's volume or behaviour (listed in
    /// `truth/events.csv`).
    #[serde(default)]
    pub events: Vec<Event>,
    /// Ad and game-banner sites that clicking bots request with a forged
    /// `Referer`.
    #[serde(default)]
    pub click_sites: Vec<ClickSite>,
    /// Web sites the sandbox hosts browse in the background.
    #[serde(default)]
    pub benign_sites: Vec<BenignSite>,
}

/// The simulated days.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// First day (inclusive).
    pub from: Day,
    /// Last day (inclusive).
    pub to: Day,
}

/// The spam trap.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trap {
    /// Host name the trap writes in its own `Received:` header (`by HOST`).
    pub host: String,
    /// Address the trap listens on, written after its name in `Received:`.
    pub ip: Ipv4Addr,
    /// Recipient domains the trap receives mail for.
    pub domains: Vec<String>,
    /// Templates of recipient local parts (random tokens only), e.g.
    /// `"{first}.{last}"`.
    pub local_parts: Vec<String>,
}

/// The sandbox lab.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sandbox {
    /// DNS resolver the infected hosts ask (UDP port 53).
    pub resolver: Ipv4Addr,
    /// `User-Agent` of the host's web browser (benign browsing).
    pub browser_user_agent: String,
    /// Templates of the domains the host's spam goes to; a fresh set is
    /// drawn every day, each looked up with a DNS MX query before use.
    pub recipient_domains: Vec<String>,
    /// Templates of recipient local parts (random tokens only).
    pub local_parts: Vec<String>,
    /// Reply latency of remote servers in milliseconds, `[min, max]`.
    pub server_latency_ms: [u64; 2],
    /// Benign page visits per day at scale 1 (each fetches the page and
    /// its style sheets, scripts and images).
    pub benign_pages_per_day: f64,
}

/// A botnet family.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// Name (letters, digits, `-`, `_`), as written in the truth files;
    /// its lower-case form names the capture folder.
    pub name: String,
    /// Where the family's bots are.
    pub bots: BotPool,
    /// How much spam of the family reaches the trap each day.
    pub volume: Volume,
    /// Behaviour periods, in date order: each lasts until the next begins.
    pub periods: Vec<BehaviourPeriod>,
    /// How the bots speak SMTP.
    pub smtp: SmtpDialect,
    /// How the bots' messages look.
    pub mail: MailStyle,
    /// Address of the family's infected host in the sandbox.
    pub sandbox_host: Ipv4Addr,
    /// Random spread of the C&C check-in interval (0.2 = ±20%).
    #[serde(default = "default_jitter")]
    pub c2_jitter: f64,
    /// Command-and-control servers; check-ins go to the first, now and
    /// then to another.
    #[serde(default)]
    pub c2: Vec<C2Server>,
    /// Where the bots download payloads from (needed when a period has
    /// `downloads_per_day > 0`).
    #[serde(default)]
    pub download: Option<DownloadServer>,
}

fn default_jitter() -> f64 {
    0.2
}

/// The addresses of a family's bots.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotPool {
    /// IPv4 prefixes in CIDR form (`"78.84.0.0/14"`), prefix length 8..=30.
    pub prefixes: Vec<String>,
    /// Number of distinct bots (each has a stable address, time zone and
    /// HELO name).
    pub size: u32,
}

/// Daily trap volume of a family.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Control points `[date, messages per day at scale 1]`, in date
    /// order; linear in between, flat before the first and after the last.
    pub points: Vec<(Day, f64)>,
    /// Multipliers for Monday … Sunday.
    #[serde(default = "default_weekly")]
    pub weekly: [f64; 7],
    /// Day-to-day random spread (0.1 = ±10%), in `[0, 1)`.
    #[serde(default)]
    pub noise: f64,
}

fn default_weekly() -> [f64; 7] {
    [1.0; 7]
}

/// What a family does from a date on.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourPeriod {
    /// First day of the period.
    pub from: Day,
    /// SMTP sessions per sandbox day at scale 1 (also scaled by the
    /// family's event level: a silenced family sends nothing).
    #[serde(default)]
    pub spam_sessions: f64,
    /// Click-fraud connections as a share of all the host's connections,
    /// on days it spams (0.01 = 1%).
    #[serde(default)]
    pub click_share: f64,
    /// Clicks per day at scale 1, whether or not the host spams.
    #[serde(default)]
    pub clicks_per_day: f64,
    /// C&C check-ins per hour (periodic with `c2_jitter`; not scaled).
    #[serde(default)]
    pub c2_per_hour: f64,
    /// Payload downloads per day at scale 1.
    #[serde(default)]
    pub downloads_per_day: f64,
    /// Campaign mix: campaign name → weight. When absent, the previous
    /// period's mix holds (the first period must have one).
    #[serde(default)]
    pub mix: Option<BTreeMap<String, f64>>,
    /// A new mail template from this period on (a restyle: another
    /// mailer's Message-ID, Date, boundary and header order), replacing
    /// the family's `mail` until a later period gives another. The SMTP
    /// dialect stays: it is the bot's code, not its template.
    #[serde(default)]
    pub mail: Option<MailStyle>,
}

/// HELO/EHLO argument style.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeloStyle {
    /// A random dictionary word, e.g. `EHLO garden`.
    RandomWord,
    /// An address literal, e.g. `HELO [78.84.3.9]`.
    IpLiteral,
    /// A made-up domain, e.g. `EHLO mail.cobra-delta.net`.
    FakeDomain,
}

/// Greeting verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Greeting {
    #[serde(rename = "EHLO")]
    Ehlo,
    #[serde(rename = "HELO")]
    Helo,
}

/// Case of SMTP command verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandCase {
    /// `MAIL FROM:`
    Upper,
    /// `mail from:`
    Lower,
}

/// How an SMTP session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    /// `QUIT`, the server says 221 and closes.
    Quit,
    /// The bot resets the connection after the last reply.
    Rst,
    /// The bot closes (FIN) without `QUIT`.
    Fin,
}

/// A family's SMTP dialect.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpDialect {
    /// `"EHLO"` or `"HELO"`.
    pub greeting: Greeting,
    /// How the bot names itself: `random_word`, `ip_literal`, `fake_domain`.
    pub helo: HeloStyle,
    /// Command case: `upper` or `lower`.
    pub case: CommandCase,
    /// Write a space between the colon and the address (`MAIL FROM: <a@b>`).
    #[serde(default)]
    pub space_after_colon: bool,
    /// Send `MAIL`, `RCPT`s and `DATA` in one write (needs `EHLO`).
    #[serde(default)]
    pub pipelining: bool,
    /// How the session ends: `quit`, `rst` or `fin`.
    pub end: SessionEnd,
    /// Pause before each command in milliseconds, `[min, max]`.
    pub command_delay_ms: [u64; 2],
    /// Messages per session, `[min, max]` (min ≥ 1).
    pub messages_per_session: [u32; 2],
    /// Recipients per message, `[min, max]` (min ≥ 1).
    pub recipients_per_message: [u32; 2],
}

/// MIME body shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyKind {
    /// One `text/plain` part.
    Text,
    /// One `text/html` part.
    Html,
    /// `multipart/alternative` with `text/plain` and `text/html`.
    Alternative,
}

/// Content-Transfer-Encoding of text parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum TransferEncoding {
    #[serde(rename = "7bit")]
    SevenBit,
    #[serde(rename = "8bit")]
    EightBit,
    #[serde(rename = "quoted-printable")]
    QuotedPrintable,
    #[serde(rename = "base64")]
    Base64,
}

impl TransferEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferEncoding::SevenBit => "7bit",
            TransferEncoding::EightBit => "8bit",
            TransferEncoding::QuotedPrintable => "quoted-printable",
            TransferEncoding::Base64 => "base64",
        }
    }
}

/// How the `Subject:` is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectEncoding {
    /// Plain text.
    #[default]
    None,
    /// RFC 2047 encoded words, base64 (`=?charset?B?…?=`).
    B,
    /// RFC 2047 encoded words, quoted-printable (`=?charset?Q?…?=`).
    Q,
}

/// How a family's messages look.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailStyle {
    /// Header names in the order the bot writes them, spelled as written
    /// (`Message-Id` and `Message-ID` differ). Known: `Message-ID`,
    /// `Date`, `From`, `To`, `Subject`, `MIME-Version`, `Content-Type`,
    /// `Content-Transfer-Encoding`, `X-Mailer`; any other needs a value in
    /// `extra_headers`. `Message-ID`, `MIME-Version` and `Content-Type`
    /// are required.
    pub headers: Vec<String>,
    /// Message-ID template, e.g. `"<{digits:12}.{hex:8}@{domain}>"`;
    /// `{domain}` is the sender's domain.
    pub message_id: String,
    /// `Date:` format (chrono strftime, e.g. `"%a, %d %b %Y %H:%M:%S %z"`);
    /// the result must be an RFC 5322 date.
    pub date_format: String,
    /// UTC offsets the bots' clocks use (`"+0300"`); each bot keeps one.
    pub timezones: Vec<String>,
    /// Largest error of a bot's clock in minutes (each bot keeps its own).
    #[serde(default)]
    pub clock_skew_minutes: u32,
    /// `X-Mailer:` value (random tokens allowed); needed when `headers`
    /// lists `X-Mailer`.
    #[serde(default)]
    pub x_mailer: Option<String>,
    /// MIME boundary template, e.g. `"----=_NextPart_000_{HEX:4}_{HEX:8}.{HEX:8}"`.
    pub boundary: String,
    /// Preamble line before the first boundary of multipart messages.
    #[serde(default)]
    pub preamble: Option<String>,
    /// Body shape: `text`, `html` or `alternative`.
    pub body: BodyKind,
    /// Transfer encoding of text parts: `7bit`, `8bit`,
    /// `quoted-printable`, `base64`.
    pub encoding: TransferEncoding,
    /// Charset parameter of text parts.
    pub charset: String,
    /// Subject encoding: `none`, `b` or `q`.
    #[serde(default)]
    pub subject_encoding: SubjectEncoding,
    /// Envelope and `From:` address template; `{rcpt_domain}` is the
    /// recipient's domain. E.g. `"{first}.{last}@{word}{tld}"`… must
    /// contain one `@`.
    pub sender: String,
    /// `From:` header template (`{name}` = a random full name,
    /// `{sender}` = the address).
    pub from: String,
    /// `To:` header template (`{recipient}`, `{user}`).
    pub to: String,
    /// Host part of spam URLs built from the campaign's registrable
    /// `{domain}`, e.g. `"www.{domain}"` or `"{alpha:5}.{domain}"`.
    #[serde(default = "default_url_host")]
    pub url_host: String,
    /// Values of the other headers named in `headers` (templates; context
    /// `{bot_ip}`, `{helo}`, `{domain}`, `{sender}`, `{recipient}`, `{name}`).
    #[serde(default)]
    pub extra_headers: BTreeMap<String, String>,
}

fn default_url_host() -> String {
    "www.{domain}".into()
}

/// Campaign category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Pharma,
    Replica,
    Dating,
    Casino,
    Stock,
    Phishing,
    Malware,
    AdvanceFee,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Pharma => "pharma",
            Category::Replica => "replica",
            Category::Dating => "dating",
            Category::Casino => "casino",
            Category::Stock => "stock",
            Category::Phishing => "phishing",
            Category::Malware => "malware",
            Category::AdvanceFee => "advance-fee",
        }
    }
}

/// A spam campaign.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Unique name (used in mixes, affiliates and `truth/messages.csv`).
    pub name: String,
    /// `pharma`, `replica`, `dating`, `casino`, `stock`, `phishing`,
    /// `malware` or `advance-fee`.
    pub category: Category,
    /// Brand the spam advertises, e.g. `"Canadian Pharmacy"`.
    pub brand: String,
    /// Subject templates (`{brand}`, `{user}`, `{name}`).
    pub subjects: Vec<String>,
    /// Body templates, plain text with newlines (`{brand}`, `{url}`,
    /// `{user}`, `{name}`); the HTML part is made from it with links.
    pub bodies: Vec<String>,
    /// Templates of the registrable domains the campaign's URLs use.
    pub domains: Vec<String>,
    /// How many of those domains are live each day.
    #[serde(default = "default_domains_per_day")]
    pub domains_per_day: u32,
    /// URL templates (`{host}` = the family's `url_host` of a live
    /// domain, `{domain}` = the domain), e.g. `"http://{host}/?{alnum:8}"`.
    pub urls: Vec<String>,
    /// File-name template of a zip attachment holding a harmless fake
    /// executable (malware campaigns), e.g. `"invoice_{digits:5}.zip"`.
    #[serde(default)]
    pub attachment: Option<String>,
}

fn default_domains_per_day() -> u32 {
    5
}

/// An affiliate program paying for campaigns.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Affiliate {
    /// Program name.
    pub name: String,
    /// Campaigns it pays for.
    pub campaigns: Vec<String>,
    /// Day it closes (listed in `truth/events.csv` as a `drop`); when
    /// absent it never closes.
    #[serde(default)]
    pub closes: Option<Day>,
    /// After closing, the volume of its campaigns decays with this
    /// half-life in days…
    #[serde(default = "default_half_life")]
    pub half_life_days: f64,
    /// …down to this share of what it was (other programs pick it up).
    #[serde(default)]
    pub floor: f64,
    /// What happened (the events row).
    #[serde(default)]
    pub description: String,
}

fn default_half_life() -> f64 {
    10.0
}

/// Kind of a dated event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Volume falls to `factor` of its curve.
    Drop,
    /// The family sends no spam at all.
    Silence,
    /// Volume comes back to `factor` (default 1) of its curve.
    Return,
    /// Behaviour changes (see the family's periods); `factor`, if given,
    /// sets the volume level.
    Shift,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Drop => "drop",
            EventKind::Silence => "silence",
            EventKind::Return => "return",
            EventKind::Shift => "shift",
        }
    }
}

/// A spam customer taking a campaign from one botnet to another: from
/// `date` on, the `from` family no longer sends `campaign` (its other
/// campaigns fill its volume) and the `to` family gives it `share` of its
/// mail. Family volumes do not change: a botnet's capacity is rented out,
/// not grown.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// The day it takes effect.
    pub date: Day,
    /// The campaign that moves.
    pub campaign: String,
    /// The family that stops sending it.
    pub from: String,
    /// The family that starts (the events row's family).
    pub to: String,
    /// Share of the `to` family's mail the campaign takes (0 < share < 1).
    pub share: f64,
    /// What happened (the events row).
    pub description: String,
}

/// A dated change.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The day it takes effect.
    pub date: Day,
    /// The family it concerns.
    pub family: String,
    /// `drop`, `silence`, `return` or `shift`.
    pub kind: EventKind,
    /// Volume level from this day on, as a share of the family's curve
    /// (required for `drop`, not allowed for `silence`).
    #[serde(default)]
    pub factor: Option<f64>,
    /// What happened.
    pub description: String,
}

/// A site clicking bots request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickSite {
    /// Host name (looked up with DNS before each click).
    pub host: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Path templates of the clicked pages.
    pub paths: Vec<String>,
    /// Forged `Referer` URLs (sites the host never fetches).
    pub referers: Vec<String>,
}

/// A site the sandbox hosts browse.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenignSite {
    /// Host name.
    pub host: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Path templates of pages.
    pub pages: Vec<String>,
    /// Path templates of page resources (`.css`, `.js`, `.png`, `.gif`,
    /// `.jpg`; the extension decides the content).
    pub resources: Vec<String>,
}

/// HTTP method of C&C check-ins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Method {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
}

/// A command-and-control server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct C2Server {
    /// Host name (looked up before each check-in); absent when the bots
    /// use the address directly.
    #[serde(default)]
    pub host: Option<String>,
    /// Address.
    pub ip: Ipv4Addr,
    /// TCP port.
    #[serde(default = "default_http_port")]
    pub port: u16,
    /// `GET` (opaque data in the query) or `POST` (opaque body).
    pub method: Method,
    /// Path template, e.g. `"/{hex:8}.php"`.
    pub path: String,
    /// `User-Agent` the bot sends.
    pub user_agent: String,
    /// Size of the opaque request data in bytes, `[min, max]`.
    pub request_bytes: [u32; 2],
    /// Size of the opaque response body in bytes, `[min, max]`.
    pub response_bytes: [u32; 2],
}

fn default_http_port() -> u16 {
    80
}

/// Where payloads come from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadServer {
    /// Host name (looked up first); absent when fetched by address.
    #[serde(default)]
    pub host: Option<String>,
    /// Address.
    pub ip: Ipv4Addr,
    /// TCP port.
    #[serde(default = "default_http_port")]
    pub port: u16,
    /// Path template, e.g. `"/{alpha:8}.exe"`.
    pub path: String,
    /// `User-Agent` the bot sends.
    pub user_agent: String,
    /// Payload size in KB, `[min, max]` (a harmless generated PE file).
    #[serde(default = "default_payload_kb")]
    pub size_kb: [u32; 2],
}

fn default_payload_kb() -> [u32; 2] {
    [50, 300]
}
