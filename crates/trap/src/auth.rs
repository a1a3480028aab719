//! SMTP AUTH (RFC 4954) as the trap plays it: every exchange is taken to
//! its end and fails (`535`); nothing is ever authenticated.
//!
//! The point is what the session record keeps. Credentials never reach
//! `sessions.jsonl` unless [`crate::config::AuthConfig::record_credentials`]
//! asks for them:
//!
//! * an `AUTH` line is recognised however the client separates `AUTH` from
//!   its arguments (space, tab, other control bytes, any case, leading
//!   blanks), and only `AUTH` and a *registered* mechanism name are kept
//!   (a token that is not one — a base64 blob sent in its place — is shown
//!   as `?`);
//! * every line sent while an exchange is in progress (after our `334`) is
//!   a SASL response: it is never a command and never recorded as text;
//!   it is counted, and decoded into [`Credentials`] only with the option.
//!
//! No I/O and no state here; the session drives [`Exchange`]. Fuzzed with
//! the rest of the framing (`fuzz/fuzz_targets/trap_wire.rs`).

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Registered SASL mechanisms (IANA "SASL Mechanisms" and the common
/// vendor ones bots send). Anything else is recorded as `?`: a token in
/// the mechanism's place may be a credential.
const MECHANISMS: &[&str] = &[
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "DIGEST-MD5",
    "NTLM",
    "GSSAPI",
    "GSS-SPNEGO",
    "GS2-KRB5",
    "XOAUTH",
    "XOAUTH2",
    "OAUTHBEARER",
    "OAUTH10A",
    "ANONYMOUS",
    "EXTERNAL",
    "SCRAM-SHA-1",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-512",
    "SCRAM-SHA-512-PLUS",
    "CRAM-SHA1",
    "CRAM-SHA256",
    "KERBEROS_V4",
    "KERBEROS_V5",
    "OTP",
    "SKEY",
    "SRP",
    "SECURID",
    "EAP-AES128",
    "EAP-AES128-PLUS",
    "MSN",
    "RPA",
];

/// Longest decoded credential field kept (characters).
const MAX_FIELD: usize = 256;
/// Longest response line decoded (bytes of base64).
const MAX_RESPONSE: usize = 4096;

/// `334` prompts of AUTH LOGIN: base64 of `Username:` and `Password:`.
pub const LOGIN_USER_PROMPT: &str = "VXNlcm5hbWU6";
pub const LOGIN_PASSWORD_PROMPT: &str = "UGFzc3dvcmQ6";

/// A command line starting with `AUTH`, split without keeping secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthLine<'a> {
    /// `AUTH` in the case it was sent.
    pub verb: String,
    /// `AUTH` was followed by a separator (or the line end): a real AUTH
    /// command. `AUTHPLAIN...` is not one, but is redacted all the same.
    pub is_command: bool,
    /// The mechanism token as sent (may be anything; never record it
    /// unless [`AuthLine::known_mechanism`] says it is a mechanism).
    pub mechanism: Option<&'a [u8]>,
    /// The initial response token, if any.
    pub initial_response: Option<&'a [u8]>,
}

/// Bytes that separate AUTH's arguments: any blank or control byte (a
/// tab, a vertical tab ... bots send them all).
fn is_sep(b: u8) -> bool {
    b <= b' ' || b == 0x7f
}

impl<'a> AuthLine<'a> {
    /// Recognises a line whose first word begins with `AUTH` (any case,
    /// after leading blanks); `None` for every other line.
    pub fn parse(line: &'a [u8]) -> Option<AuthLine<'a>> {
        let start = line.iter().position(|&b| !is_sep(b))?;
        let l = &line[start..];
        let head = l.get(..4)?;
        if !head.eq_ignore_ascii_case(b"AUTH") {
            return None;
        }
        let verb = String::from_utf8_lossy(head).into_owned();
        let rest = &l[4..];
        let is_command = rest.first().is_none_or(|&b| is_sep(b));
        let mut tokens = rest.split(|&b| is_sep(b)).filter(|t| !t.is_empty());
        let (mechanism, initial_response) = if is_command {
            (tokens.next(), tokens.next())
        } else {
            (None, None)
        };
        Some(AuthLine {
            verb,
            is_command,
            mechanism,
            initial_response,
        })
    }

    /// The mechanism as sent (case kept) if it is a registered one.
    pub fn known_mechanism(&self) -> Option<String> {
        let m = self.mechanism?;
        MECHANISMS
            .iter()
            .any(|k| k.as_bytes().eq_ignore_ascii_case(m))
            .then(|| String::from_utf8_lossy(m).into_owned())
    }

    /// What the session record keeps of the line: `AUTH` as sent and the
    /// mechanism if it is a registered one (`?` if it is not), nothing else.
    pub fn for_record(&self) -> String {
        match (self.mechanism, self.known_mechanism()) {
            (_, Some(m)) => format!("{} {m}", self.verb),
            (Some(_), None) => format!("{} ?", self.verb),
            (None, None) => self.verb.clone(),
        }
    }
}

/// What the client is expected to send next in an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// PLAIN: `authzid NUL authcid NUL passwd`.
    Plain,
    /// LOGIN: the user name, then [`Step::LoginPassword`].
    LoginUser,
    LoginPassword,
    /// CRAM-MD5: `user SP hex-digest`.
    Cram,
    /// Any other mechanism: one response, then failure.
    Other,
}

/// Credentials a client tried, decoded (only kept with
/// `auth.record_credentials`). Control characters are shown as `?`, each
/// field is cut at 256 characters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// PLAIN's authorization identity, if not empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authzid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// CRAM-MD5's digest, or the decoded response of another mechanism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

/// One AUTH attempt: a dialect feature (bots differ in mechanism, case,
/// initial response, pipelining into the exchange).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthAttempt {
    /// Milliseconds since the connection was accepted.
    pub t_ms: u64,
    /// The mechanism as sent (case kept) if registered, `?` if the token was
    /// something else, empty if none was given.
    pub mechanism: String,
    /// An initial response was given on the AUTH line (RFC 4954).
    pub initial_response: bool,
    /// SASL response lines the client sent after our `334`s.
    pub responses: u32,
    /// A response arrived before our `334` was sent (pipelined blindly).
    pub pipelined: bool,
    /// `failed` (our `535`), `cancelled` (`*`), `malformed` (not base64,
    /// or too long), `unfinished` (the session ended inside it), `syntax`
    /// (no mechanism).
    pub outcome: String,
    /// Only with `auth.record_credentials = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
}

/// What to do after a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Send `334 challenge` and wait for another response.
    Challenge(String),
    /// The exchange is over: send `code text`.
    Done(u16, &'static str),
}

/// An exchange in progress.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub step: Step,
    /// Index of its attempt in the session record, if recorded.
    pub slot: Option<usize>,
    /// Decode and keep what the client sends.
    pub record: bool,
    pub credentials: Credentials,
}

/// The reply that ends every finished exchange.
pub const FAILED: (u16, &str) = (535, "5.7.8 Error: authentication failed");

fn engine() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

/// Decodes one base64 SASL response (`=` is the empty one).
pub fn decode(token: &[u8]) -> Option<Vec<u8>> {
    if token == b"=" {
        return Some(Vec::new());
    }
    if token.len() > MAX_RESPONSE {
        return None;
    }
    engine().decode(token).ok()
}

/// Decoded bytes as a recordable field.
fn field(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .take(MAX_FIELD)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The response line without its line ending and surrounding blanks.
pub fn response_token(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|&b| !is_sep(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|&b| !is_sep(b))
        .map_or(start, |e| e + 1);
    line.get(start..end.max(start)).unwrap_or(&[])
}

impl Exchange {
    /// Starts an exchange for `mechanism` (upper-cased or not); returns it
    /// and what to send. With an initial response the exchange may be over
    /// at once (`Next::Done`).
    pub fn start(
        mechanism: &[u8],
        initial: Option<&[u8]>,
        record: bool,
        cram_challenge: impl FnOnce() -> String,
    ) -> (Exchange, Next) {
        let step = if mechanism.eq_ignore_ascii_case(b"PLAIN") {
            Step::Plain
        } else if mechanism.eq_ignore_ascii_case(b"LOGIN") {
            Step::LoginUser
        } else if mechanism.eq_ignore_ascii_case(b"CRAM-MD5") {
            Step::Cram
        } else {
            Step::Other
        };
        let mut ex = Exchange {
            step,
            slot: None,
            record,
            credentials: Credentials::default(),
        };
        let next = match (step, initial) {
            // CRAM-MD5 has no initial response: ignore one.
            (Step::Cram, _) => Next::Challenge(engine().encode(cram_challenge())),
            (_, Some(token)) => ex.respond(token),
            (Step::LoginUser, None) => Next::Challenge(LOGIN_USER_PROMPT.into()),
            (_, None) => Next::Challenge(String::new()),
        };
        (ex, next)
    }

    /// Takes one response token (see [`response_token`]).
    pub fn respond(&mut self, token: &[u8]) -> Next {
        if token == b"*" {
            return Next::Done(501, "5.7.0 Error: authentication cancelled");
        }
        let Some(raw) = decode(token) else {
            return Next::Done(501, "5.5.2 Error: cannot decode response");
        };
        match self.step {
            Step::Plain => {
                if self.record {
                    let mut parts = raw.splitn(3, |&b| b == 0);
                    let authzid = parts.next().unwrap_or(&[]);
                    let user = parts.next();
                    let pass = parts.next();
                    let c = &mut self.credentials;
                    c.authzid = (!authzid.is_empty()).then(|| field(authzid));
                    match (user, pass) {
                        (Some(u), Some(p)) => {
                            c.user = Some(field(u));
                            c.password = Some(field(p));
                        }
                        _ => c.response = Some(field(&raw)),
                    }
                }
                Next::Done(FAILED.0, FAILED.1)
            }
            Step::LoginUser => {
                if self.record {
                    self.credentials.user = Some(field(&raw));
                }
                self.step = Step::LoginPassword;
                Next::Challenge(LOGIN_PASSWORD_PROMPT.into())
            }
            Step::LoginPassword => {
                if self.record {
                    self.credentials.password = Some(field(&raw));
                }
                Next::Done(FAILED.0, FAILED.1)
            }
            Step::Cram => {
                if self.record {
                    match raw.iter().rposition(|&b| b == b' ') {
                        Some(i) => {
                            self.credentials.user = Some(field(&raw[..i]));
                            self.credentials.response = Some(field(&raw[i + 1..]));
                        }
                        None => self.credentials.response = Some(field(&raw)),
                    }
                }
                Next::Done(FAILED.0, FAILED.1)
            }
            Step::Other => {
                if self.record {
                    self.credentials.response = Some(field(&raw));
                }
                Next::Done(FAILED.0, FAILED.1)
            }
        }
    }
}

/// The outcome name for the reply that ended an exchange.
pub fn outcome(code: u16, text: &str) -> &'static str {
    match code {
        535 => "failed",
        501 if text.contains("cancelled") => "cancelled",
        _ => "malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_lines_are_found_whatever_separates_the_words() {
        for line in [
            &b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"[..],
            b"AUTH\tPLAIN AHVzZXIAcGFzcw==\r\n",
            b"auth\x0bplain\tAHVzZXIAcGFzcw==\n",
            b"  Auth  PLAIN   AHVzZXIAcGFzcw==  \r\n",
            b"AUTH\x00PLAIN\x00AHVzZXIAcGFzcw==\r\n",
        ] {
            let a = AuthLine::parse(line).expect("an AUTH line");
            assert!(a.is_command, "{line:?}");
            assert!(a.known_mechanism().unwrap().eq_ignore_ascii_case("PLAIN"));
            assert_eq!(a.initial_response, Some(&b"AHVzZXIAcGFzcw=="[..]));
            assert!(!a.for_record().contains("AHVz"), "{line:?}");
        }
        let a = AuthLine::parse(b"AUTH dXNlcjpwYXNz\r\n").unwrap();
        assert_eq!(a.for_record(), "AUTH ?");
        let a = AuthLine::parse(b"AUTHPLAIN AHVzZXIAcGFzcw==\r\n").unwrap();
        assert!(!a.is_command);
        assert_eq!(a.for_record(), "AUTH");
        assert_eq!(AuthLine::parse(b"auth\r\n").unwrap().for_record(), "auth");
        assert!(AuthLine::parse(b"MAIL FROM:<a@b>\r\n").is_none());
        assert!(AuthLine::parse(b"AUT\r\n").is_none());
    }

    #[test]
    fn exchanges_decode_only_when_asked() {
        let cram = || "<1.2@trap.example>".to_string();
        // PLAIN with an initial response: over at once.
        let (ex, next) = Exchange::start(b"plain", Some(b"AHVzZXIAcGFzcw=="), true, cram);
        assert_eq!(next, Next::Done(535, FAILED.1));
        assert_eq!(ex.credentials.user.as_deref(), Some("user"));
        assert_eq!(ex.credentials.password.as_deref(), Some("pass"));
        let (ex, _) = Exchange::start(b"PLAIN", Some(b"AHVzZXIAcGFzcw=="), false, cram);
        assert_eq!(ex.credentials, Credentials::default());
        // LOGIN: two prompts.
        let (mut ex, next) = Exchange::start(b"LOGIN", None, true, cram);
        assert_eq!(next, Next::Challenge(LOGIN_USER_PROMPT.into()));
        assert_eq!(
            ex.respond(b"dXNlcg=="),
            Next::Challenge(LOGIN_PASSWORD_PROMPT.into())
        );
        assert_eq!(ex.respond(b"cGFzcw"), Next::Done(535, FAILED.1));
        assert_eq!(ex.credentials.user.as_deref(), Some("user"));
        assert_eq!(ex.credentials.password.as_deref(), Some("pass"));
        // CRAM-MD5: our challenge, then `user digest`.
        let (mut ex, next) = Exchange::start(b"CRAM-MD5", None, true, cram);
        assert_eq!(next, Next::Challenge(engine().encode("<1.2@trap.example>")));
        let resp = engine().encode("bob 0123abcd");
        assert_eq!(ex.respond(resp.as_bytes()), Next::Done(535, FAILED.1));
        assert_eq!(ex.credentials.user.as_deref(), Some("bob"));
        assert_eq!(ex.credentials.response.as_deref(), Some("0123abcd"));
        // Cancel and garbage.
        let (mut ex, _) = Exchange::start(b"XOAUTH2", None, true, cram);
        assert_eq!(outcome(535, FAILED.1), "failed");
        let Next::Done(c, t) = ex.respond(b"*") else {
            panic!()
        };
        assert_eq!(outcome(c, t), "cancelled");
        let Next::Done(c, t) = ex.respond(b"not base64!") else {
            panic!()
        };
        assert_eq!(outcome(c, t), "malformed");
        assert_eq!(response_token(b"  dXNlcg==\r\n"), b"dXNlcg==");
        assert_eq!(response_token(b"\r\n"), b"");
    }
}
