//! Who may read the dashboard, how fast, and the headers every answer
//! carries.
//!
//! - On a loopback address the dashboard is open (the default,
//!   `127.0.0.1:8080`). Any other address needs a bearer token
//!   (`--token`) or a users file of argon2 password hashes (`--users`);
//!   [`Access::check`] refuses to start otherwise.
//! - A token is sent as `Authorization: Bearer TOKEN`, or once as
//!   `?token=TOKEN` on a page, which sets an HttpOnly, SameSite=Strict
//!   cookie and redirects to the page without it.
//! - Users sign in with HTTP Basic authentication, checked against PHC
//!   strings (`user:$argon2id$…`, one per line; `botscope serve
//!   --hash-password` makes them). Verified credentials are remembered
//!   (by a hash of the header) so a page's requests do not each pay for
//!   argon2.
//! - Every client address gets a token bucket
//!   ([`Limits::requests_per_sec`](crate::Limits)): 429 beyond it.
//! - Every answer carries a strict Content-Security-Policy (scripts,
//!   styles, images and connections from this server only; no inline
//!   script), `nosniff`, `frame-ancestors 'none'` and no referrer.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::{Error, State};

/// The Content-Security-Policy of every answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

const COOKIE: &str = "botscope_token";

/// Who may read the dashboard.
#[derive(Clone)]
pub enum Access {
    /// Anyone who can connect (loopback only).
    Open,
    /// Whoever presents this token.
    Token(String),
    /// Users and their argon2 PHC strings.
    Users(Vec<(String, String)>),
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::Open => f.write_str("Open"),
            Access::Token(_) => f.write_str("Token(…)"),
            Access::Users(u) => write!(f, "Users({} users)", u.len()),
        }
    }
}

impl Access {
    /// An open dashboard may only listen on loopback.
    pub fn check(&self, listen: SocketAddr) -> Result<(), Error> {
        match self {
            Access::Open if !listen.ip().is_loopback() => Err(Error::Config(format!(
                "{listen} is not a loopback address: give --token or --users so that \
                 only your people read the dashboard"
            ))),
            Access::Token(t) if t.len() < 16 => Err(Error::Config(
                "the token must be at least 16 characters".into(),
            )),
            Access::Users(u) if u.is_empty() => {
                Err(Error::Config("the users file names no user".into()))
            }
            _ => Ok(()),
        }
    }

    /// Read a users file: `name:PHC` per line; blank lines and `#`
    /// comments skipped. Every hash must be an argon2 PHC string.
    pub fn users_file(path: &Path) -> Result<Access, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let mut users = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| Error::Config(format!("{}:{}: {why}", path.display(), i + 1));
            let (name, hash) = line
                .split_once(':')
                .ok_or_else(|| bad("expected name:$argon2id$…"))?;
            if name.is_empty() {
                return Err(bad("empty user name"));
            }
            let parsed = PasswordHash::new(hash).map_err(|e| bad(&e.to_string()))?;
            if !parsed.algorithm.as_str().starts_with("argon2") {
                return Err(bad("not an argon2 hash"));
            }
            users.push((name.to_string(), hash.to_string()));
        }
        Ok(Access::Users(users))
    }

    /// The PHC string of `password` (argon2id, default parameters, a
    /// random salt from the operating system).
    pub fn hash_password(password: &str) -> Result<String, Error> {
        let mut salt = [0u8; 16];
        getrandom(&mut salt)?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Config(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Config(e.to_string()))
    }
}

fn getrandom(buf: &mut [u8]) -> Result<(), Error> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|e| Error::io("/dev/urandom", e))
}

/// Token buckets per client address.
#[derive(Default)]
pub struct RateTable {
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl RateTable {
    /// Take one request from `ip`'s bucket; false when it is empty.
    pub fn take(&mut self, ip: IpAddr, per_sec: u32, cap: usize) -> bool {
        if per_sec == 0 {
            return true;
        }
        let now = Instant::now();
        let burst = 2.0 * f64::from(per_sec);
        if self.buckets.len() >= cap.max(1) && !self.buckets.contains_key(&ip) {
            // Forget clients idle for long enough to have a full bucket.
            self.buckets.retain(|_, (_, t)| {
                now.duration_since(*t).as_secs_f64() * f64::from(per_sec) < burst
            });
            if self.buckets.len() >= cap.max(1) {
                self.buckets.clear();
            }
        }
        let (tokens, last) = self.buckets.entry(ip).or_insert((burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * f64::from(per_sec)).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Basic-auth headers already verified (by SHA-256), bounded.
#[derive(Default)]
pub struct AuthCache {
    ok: HashMap<[u8; 32], String>,
}

const AUTH_CACHE: usize = 1024;

fn digest(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn cookie_token(h: &HeaderMap) -> Option<String> {
    for v in h.get_all(header::COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k == COOKIE {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

fn query_token(q: Option<&str>) -> Option<String> {
    q?.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_string())
}

/// Compare secrets by their digests (no early exit on the first byte).
fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (digest(a.as_bytes()), digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

fn unauthorized(basic: bool) -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    if basic {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"botscope\", charset=\"UTF-8\""),
        );
    }
    r
}

fn decode_basic(v: &str) -> Option<(String, String)> {
    use base64::Engine;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Authentication: `None` to go on, or the answer to give instead.
fn authenticate(state: &State, req: &Request) -> Option<Response> {
    match &state.cfg.access {
        Access::Open => None,
        Access::Token(t) => {
            let h = req.headers();
            let bearer = h
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            if bearer.is_some_and(|b| same_secret(b, t))
                || cookie_token(h).is_some_and(|c| same_secret(&c, t))
            {
                return None;
            }
            let q = query_token(req.uri().query());
            if req.method() == Method::GET && q.as_deref().is_some_and(|q| same_secret(q, t)) {
                // Trade the token in the address for a cookie, and take it
                // out of the address bar and history.
                let rest: Vec<&str> = req
                    .uri()
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .filter(|kv| !kv.starts_with("token="))
                    .collect();
                let mut to = req.uri().path().to_string();
                if !rest.is_empty() && !rest.iter().all(|s| s.is_empty()) {
                    to.push('?');
                    to.push_str(&rest.join("&"));
                }
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::SEE_OTHER;
                if let Ok(v) = HeaderValue::from_str(&to) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict"
                )) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                return Some(r);
            }
            Some(unauthorized(false))
        }
        Access::Users(users) => {
            let Some(v) = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
            else {
                return Some(unauthorized(true));
            };
            let key = digest(v.as_bytes());
            {
                let c = state.auth_cache.lock().unwrap_or_else(|p| p.into_inner());
                if c.ok.contains_key(&key) {
                    return None;
                }
            }
            let Some((user, pass)) = decode_basic(v) else {
                return Some(unauthorized(true));
            };
            let ok = users.iter().any(|(u, h)| {
                u == &user
                    && PasswordHash::new(h)
                        .map(|ph| {
                            Argon2::default()
                                .verify_password(pass.as_bytes(), &ph)
                                .is_ok()
                        })
                        .unwrap_or(false)
            });
            if !ok {
                return Some(unauthorized(true));
            }
            let mut c = state.auth_cache.lock().unwrap_or_else(|p| p.into_inner());
            if c.ok.len() >= AUTH_CACHE {
                c.ok.clear();
            }
            c.ok.insert(key, user);
            None
        }
    }
}

/// The middleware in front of every route: rate limit, authentication,
/// the concurrency gate and the security headers.
pub async fn guard(
    AxState(state): AxState<Arc<State>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let allowed = {
        let lim = &state.cfg.limits;
        state.rate.lock().unwrap_or_else(|p| p.into_inner()).take(
            peer.ip(),
            lim.requests_per_sec,
            lim.tracked_clients,
        )
    };
    let api = req.uri().path().starts_with("/api");
    let mut resp = if !allowed {
        let mut r = (StatusCode::TOO_MANY_REQUESTS, "too many requests\n").into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    } else if let Some(r) = authenticate(&state, &req) {
        r
    } else {
        match state.gate.acquire().await {
            Ok(_permit) => next.run(req).await,
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
        }
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_access_listens_on_loopback_only() {
        assert!(Access::Open
            .check("127.0.0.1:8080".parse().unwrap())
            .is_ok());
        assert!(Access::Open.check("[::1]:8080".parse().unwrap()).is_ok());
        let e = Access::Open
            .check("0.0.0.0:8080".parse().unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("--token"), "{e}");
        assert!(Access::Token("short".into())
            .check("0.0.0.0:8080".parse().unwrap())
            .is_err());
        assert!(Access::Token("a-long-enough-token-0123".into())
            .check("0.0.0.0:8080".parse().unwrap())
            .is_ok());
    }

    #[test]
    fn a_hashed_password_reads_back_from_a_users_file_and_verifies() {
        let h = Access::hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        let dir = std::env::temp_dir().join(format!("botscope-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("users");
        std::fs::write(&f, format!("# analysts\nalice:{h}\n\n")).unwrap();
        let Access::Users(u) = Access::users_file(&f).unwrap() else {
            panic!("not users")
        };
        assert_eq!(u.len(), 1);
        let ph = PasswordHash::new(&u[0].1).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &ph)
            .is_ok());
        assert!(Argon2::default().verify_password(b"wrong", &ph).is_err());
        std::fs::write(&f, "bob:plaintext\n").unwrap();
        let e = Access::users_file(&f).unwrap_err().to_string();
        assert!(e.contains(":1:"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_rate_limiter_refuses_past_the_burst_and_forgets_idle_clients() {
        let mut t = RateTable::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let allowed = (0..100).filter(|_| t.take(ip, 10, 4)).count();
        assert_eq!(allowed, 20, "burst is twice the rate");
        // Other clients are not affected, and the table stays bounded.
        for i in 0..50u8 {
            assert!(t.take(IpAddr::from([198, 51, 100, i]), 10, 4));
            assert!(t.buckets.len() <= 4);
        }
        assert!((0..10).all(|_| t.take(ip, 0, 4)), "0 turns the limit off");
    }
}
