//! One SMTP session, server side (RFC 5321, PIPELINING RFC 2920, SIZE RFC
//! 1870, 8BITMIME RFC 6152, STARTTLS RFC 3207, enhanced codes RFC 3463).
//!
//! The trap accepts every sane command, never relays and never connects
//! anywhere. Every buffer is capped by [`crate::Limits`]: the command line
//! buffer by `max_line_length`, message bytes in memory by
//! `max_buffered_bytes` (more spill to the message's file in `tmp/`), the
//! session's record by `max_recorded_commands` and
//! `max_messages_per_session`. Nothing the client sends can panic it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use smtp_proto::{Error as ProtoError, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::auth::{self, AuthAttempt, AuthLine, Exchange, Next};
use crate::config::TrapConfig;
use crate::record::{CommandRecord, Envelope, MessageRecord, SessionRecord, StoredMessage};
use crate::stats::{Limit, Stats};
use crate::store::Store;
use crate::wire::{
    bdat_size, find_line, line_for_record, path_as_sent, size_param, verb_as_sent, DataDecoder,
    LineEnd, Number,
};

/// The wall clock (injectable for tests).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// What every session shares.
pub(crate) struct Ctx {
    pub cfg: TrapConfig,
    pub store: Arc<Store>,
    pub stats: Arc<Stats>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub clock: Clock,
    pub shutdown: watch::Receiver<bool>,
}

/// A connection, plain or after STARTTLS.
enum Conn<S> {
    Plain(S),
    Tls(Box<tokio_rustls::server::TlsStream<S>>),
    Gone,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Conn<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Conn<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// Why a session ended (the record's `end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Quit,
    ClientClosed,
    CommandTimeout,
    DataTimeout,
    SessionDeadline,
    TooManyErrors,
    TooManyMessages,
    Io,
    Tls,
    Shutdown,
    BadFraming,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            End::Quit => "quit",
            End::ClientClosed => "client_closed",
            End::CommandTimeout => "command_timeout",
            End::DataTimeout => "data_timeout",
            End::SessionDeadline => "session_deadline",
            End::TooManyErrors => "too_many_errors",
            End::TooManyMessages => "too_many_messages",
            End::Io => "io_error",
            End::Tls => "tls_error",
            End::Shutdown => "shutdown",
            End::BadFraming => "bad_framing",
        }
    }
}

/// Largest reply backlog before we flush even though the client keeps
/// pipelining.
const MAX_OUT: usize = 16 * 1024;
/// Read size inside DATA.
const DATA_CHUNK: usize = 16 * 1024;
/// Recorded line length.
const RECORD_LINE: usize = 256;
/// AUTH attempts listed in one session record (all are counted).
const MAX_AUTH_RECORDED: usize = 32;

struct Tx {
    env: Envelope,
}

struct Session<S> {
    ctx: Arc<Ctx>,
    conn: Conn<S>,
    peer: SocketAddr,
    rec: SessionRecord,
    t0: Instant,
    deadline: Instant,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// `out` holds a reply the client has not been sent yet.
    reply_pending: bool,
    helo: Option<String>,
    tx: Option<Tx>,
    skipping_long_line: bool,
    shutdown: watch::Receiver<bool>,
    /// An AUTH exchange in progress: the next line is a SASL response.
    auth: Option<Exchange>,
    /// Bytes of a refused BDAT chunk still to read and throw away.
    bdat_discard: u64,
}

/// Serves one connection to its end and returns its record.
pub(crate) async fn serve<S>(
    ctx: Arc<Ctx>,
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    session_id: String,
) -> SessionRecord
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let t0 = Instant::now();
    let start = (ctx.clock)();
    let deadline = t0 + Duration::from_secs(ctx.cfg.limits.session_deadline_s);
    let shutdown = ctx.shutdown.clone();
    let mut s = Session {
        rec: SessionRecord {
            session: session_id,
            client_ip: peer.ip(),
            client_port: peer.port(),
            server_port: local.port(),
            start: rfc3339(start),
            duration_ms: 0,
            helo: None,
            helo_verb: None,
            tls: false,
            commands: Vec::new(),
            command_count: 0,
            pipelined_commands: 0,
            early_talker: false,
            quit: false,
            end: String::new(),
            messages: Vec::new(),
            limits_hit: Vec::new(),
            bytes_in: 0,
            errors: 0,
            auth: Vec::new(),
            auth_attempts: 0,
            bdat_discarded_bytes: 0,
        },
        ctx,
        conn: Conn::Plain(stream),
        peer,
        t0,
        deadline,
        inbuf: Vec::new(),
        out: Vec::new(),
        reply_pending: false,
        helo: None,
        tx: None,
        skipping_long_line: false,
        shutdown,
        auth: None,
        bdat_discard: 0,
    };
    let end = s.run().await;
    if let Some(ex) = s.auth.take() {
        s.end_auth(ex, "unfinished");
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), s.conn.shutdown()).await;
    s.rec.end = end.name().to_string();
    s.rec.duration_ms = ms_since(s.t0);
    s.rec
}

fn ms_since(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// RFC 3339 UTC with microseconds.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    fn hostname(&self) -> &str {
        &self.ctx.cfg.hostname
    }

    fn hit(&mut self, limit: Limit) {
        self.ctx.stats.hit(limit, self.peer);
        if self.rec.limits_hit.len() < 64 {
            self.rec.limits_hit.push(limit.name().to_string());
        }
    }

    /// Queues a reply line (or lines: `text` may hold `\n`-separated lines).
    fn reply(&mut self, code: u16, text: &str) -> u16 {
        let mut lines = text.split('\n').peekable();
        while let Some(l) = lines.next() {
            let sep = if lines.peek().is_some() { '-' } else { ' ' };
            self.out
                .extend_from_slice(format!("{code}{sep}{l}\r\n").as_bytes());
        }
        self.reply_pending = true;
        code
    }

    async fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let until = self
            .deadline
            .min(Instant::now() + Duration::from_secs(self.ctx.cfg.limits.command_timeout_s));
        let r = tokio::time::timeout_at(until, async {
            self.conn.write_all(&self.out).await?;
            self.conn.flush().await
        })
        .await;
        self.out.clear();
        if self.out.capacity() > MAX_OUT {
            self.out.shrink_to(1024);
        }
        self.reply_pending = false;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Io),
            Err(_) => {
                if Instant::now() >= self.deadline {
                    self.hit(Limit::SessionDeadline);
                    Err(End::SessionDeadline)
                } else {
                    self.hit(Limit::CommandTimeout);
                    Err(End::CommandTimeout)
                }
            }
        }
    }

    /// Says `421` and ends the session.
    async fn close_with(&mut self, text: &str, end: End) -> End {
        let host = self.hostname().to_string();
        self.reply(421, &format!("{text} {host} closing connection"));
        let _ = self.flush().await;
        end
    }

    /// Reads more bytes into `inbuf` (at most `room`), honouring the
    /// command/data timeout, the session deadline and shutdown.
    async fn read_more(&mut self, in_data: bool, room: usize) -> Result<usize, End> {
        let now = Instant::now();
        if now >= self.deadline {
            self.hit(Limit::SessionDeadline);
            return Err(End::SessionDeadline);
        }
        let limits = &self.ctx.cfg.limits;
        let wait = Duration::from_secs(if in_data {
            limits.data_timeout_s
        } else {
            limits.command_timeout_s
        });
        let until = self.deadline.min(now + wait);
        let len = self.inbuf.len();
        let spare = self.inbuf.capacity() - len;
        let n = if in_data {
            DATA_CHUNK
        } else if spare >= 256 {
            spare
        } else {
            len.max(512)
        }
        .min(room)
        .max(1);
        self.inbuf.resize(len + n, 0);
        let r = tokio::select! {
            r = tokio::time::timeout_at(until, self.conn.read(&mut self.inbuf[len..])) => Some(r),
            _ = self.shutdown.changed() => None,
        };
        let got = match &r {
            Some(Ok(Ok(k))) => *k,
            _ => 0,
        };
        self.inbuf.truncate(len + got);
        match r {
            None => Err(End::Shutdown),
            Some(Ok(Ok(0))) => Err(End::ClientClosed),
            Some(Ok(Ok(k))) => {
                self.rec.bytes_in += k as u64;
                Ok(k)
            }
            Some(Ok(Err(_))) => Err(End::Io),
            Some(Err(_)) => {
                if Instant::now() >= self.deadline {
                    self.hit(Limit::SessionDeadline);
                    Err(End::SessionDeadline)
                } else if in_data {
                    self.hit(Limit::DataTimeout);
                    Err(End::DataTimeout)
                } else {
                    self.hit(Limit::CommandTimeout);
                    Err(End::CommandTimeout)
                }
            }
        }
    }

    async fn run(&mut self) -> End {
        let delay = self.ctx.cfg.greet_delay_ms;
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            // Anything already sent is early talk (bots rarely wait).
            self.inbuf.resize(512, 0);
            let r = tokio::time::timeout(Duration::ZERO, self.conn.read(&mut self.inbuf)).await;
            let got = match r {
                Ok(Ok(0)) => {
                    self.inbuf.clear();
                    return End::ClientClosed;
                }
                Ok(Ok(k)) => k,
                Ok(Err(_)) => {
                    self.inbuf.clear();
                    return End::Io;
                }
                Err(_) => 0,
            };
            self.inbuf.truncate(got);
            self.rec.bytes_in += got as u64;
            self.rec.early_talker = got > 0;
        }
        let greeting = format!("{} ESMTP", self.hostname());
        self.reply(220, &greeting);
        if let Err(e) = self.flush().await {
            return e;
        }
        loop {
            if *self.shutdown.borrow() {
                return self
                    .close_with("4.3.2 Service shutting down,", End::Shutdown)
                    .await;
            }
            if self.bdat_discard > 0 {
                let n = usize::try_from(self.bdat_discard)
                    .unwrap_or(usize::MAX)
                    .min(self.inbuf.len());
                self.inbuf.drain(..n);
                self.bdat_discard -= n as u64;
                self.rec.bdat_discarded_bytes += n as u64;
                if self.bdat_discard > 0 {
                    if let Err(e) = self.flush().await {
                        return e;
                    }
                    self.inbuf.clear();
                    if let Err(e) = self.read_more(true, DATA_CHUNK).await {
                        return match e {
                            End::DataTimeout => {
                                self.close_with("4.4.2 Error: timeout exceeded,", e).await
                            }
                            End::SessionDeadline => {
                                self.close_with("4.4.2 Error: session time limit exceeded,", e)
                                    .await
                            }
                            End::Shutdown => {
                                self.close_with("4.3.2 Service shutting down,", e).await
                            }
                            e => e,
                        };
                    }
                    continue;
                }
            }
            let max_line = self.ctx.cfg.limits.max_line_length;
            if self.skipping_long_line {
                match memchr::memchr(b'\n', &self.inbuf) {
                    Some(i) => {
                        self.inbuf.drain(..=i);
                        self.skipping_long_line = false;
                        if let Some(ex) = self.auth.take() {
                            // A SASL response too long to be one.
                            self.end_auth(ex, "malformed");
                            self.reply(501, "5.5.2 Error: cannot decode response");
                        } else {
                            self.rec.command_count += 1;
                            self.reply(500, "5.5.2 Error: line too long");
                        }
                        if let Err(e) = self.count_error().await {
                            return e;
                        }
                        continue;
                    }
                    None => self.inbuf.clear(),
                }
            } else {
                match find_line(&self.inbuf, max_line) {
                    LineEnd::Line(n) => {
                        let line: Vec<u8> = self.inbuf.drain(..n).collect();
                        let pipelined = self.reply_pending;
                        if let Err(e) = self.command(&line, pipelined).await {
                            return e;
                        }
                        if self.out.len() > MAX_OUT {
                            if let Err(e) = self.flush().await {
                                return e;
                            }
                        }
                        continue;
                    }
                    LineEnd::TooLong => {
                        self.hit(Limit::LineLength);
                        self.skipping_long_line = true;
                        continue;
                    }
                    LineEnd::Incomplete => {}
                }
            }
            // The input holds no complete line: send what we owe, then wait.
            if let Err(e) = self.flush().await {
                return e;
            }
            if self.inbuf.capacity() > 2 * max_line.max(4096) && self.inbuf.len() < 4096 {
                self.inbuf.shrink_to(4096);
            }
            let room = if self.skipping_long_line {
                4096
            } else {
                max_line.saturating_sub(self.inbuf.len()).max(1)
            };
            if let Err(e) = self.read_more(false, room).await {
                if e == End::CommandTimeout {
                    return self.close_with("4.4.2 Error: timeout exceeded,", e).await;
                }
                if e == End::SessionDeadline {
                    return self
                        .close_with("4.4.2 Error: session time limit exceeded,", e)
                        .await;
                }
                if e == End::Shutdown {
                    return self.close_with("4.3.2 Service shutting down,", e).await;
                }
                return e;
            }
        }
    }

    /// One more bad command; too many end the session.
    async fn count_error(&mut self) -> Result<(), End> {
        self.rec.errors += 1;
        if self.rec.errors >= self.ctx.cfg.limits.max_errors {
            self.hit(Limit::Errors);
            return Err(self
                .close_with("4.7.0 Error: too many errors,", End::TooManyErrors)
                .await);
        }
        Ok(())
    }

    async fn command(&mut self, line: &[u8], pipelined: bool) -> Result<(), End> {
        if self.auth.is_some() {
            return self.auth_response(line, pipelined).await;
        }
        let bare_lf = !line.ends_with(b"\r\n");
        // Never keep credentials: of an AUTH line, only `AUTH` and a
        // registered mechanism name.
        let auth_line = AuthLine::parse(line);
        let (verb, shown) = match &auth_line {
            Some(a) => (a.verb.clone(), a.for_record()),
            None => (verb_as_sent(line), line_for_record(line, RECORD_LINE)),
        };
        self.rec.command_count += 1;
        if pipelined {
            self.rec.pipelined_commands += 1;
        }
        let slot = if self.rec.commands.len() < self.ctx.cfg.limits.max_recorded_commands {
            self.rec.commands.push(CommandRecord {
                t_ms: ms_since(self.t0),
                verb: verb.clone(),
                line: shown,
                pipelined,
                reply: 0,
                bare_lf,
            });
            Some(self.rec.commands.len() - 1)
        } else {
            None
        };
        let (code, result) = match auth_line {
            Some(a) if a.is_command => (self.auth_start(&a), Ok(())),
            _ => self.dispatch(line, &verb).await,
        };
        if let Some(i) = slot {
            if let Some(c) = self.rec.commands.get_mut(i) {
                c.reply = code;
            }
        }
        result?;
        if (500..600).contains(&code) && code != 552 && code != 550 {
            self.count_error().await?;
        }
        Ok(())
    }

    /// An AUTH command: records the attempt and starts the exchange.
    fn auth_start(&mut self, a: &AuthLine<'_>) -> u16 {
        self.rec.auth_attempts += 1;
        self.ctx
            .stats
            .auth_attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let attempt = AuthAttempt {
            t_ms: ms_since(self.t0),
            mechanism: match (a.mechanism, a.known_mechanism()) {
                (_, Some(m)) => m,
                (Some(_), None) => "?".into(),
                (None, None) => String::new(),
            },
            initial_response: a.initial_response.is_some(),
            responses: 0,
            pipelined: false,
            outcome: String::new(),
            credentials: None,
        };
        let slot = (self.rec.auth.len() < MAX_AUTH_RECORDED).then(|| {
            self.rec.auth.push(attempt);
            self.rec.auth.len() - 1
        });
        let Some(mech) = a.mechanism else {
            if let Some(at) = slot.and_then(|i| self.rec.auth.get_mut(i)) {
                at.outcome = "syntax".into();
            }
            return self.reply(501, "5.5.4 Syntax: AUTH mechanism [initial-response]");
        };
        let record = self.ctx.cfg.auth.record_credentials;
        let host = self.hostname().to_string();
        let now = (self.ctx.clock)()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let n = self.rec.auth_attempts;
        let (mut ex, next) = Exchange::start(mech, a.initial_response, record, || {
            format!("<{}.{}.{n}@{host}>", std::process::id(), now.as_micros())
        });
        ex.slot = slot;
        self.auth_next(ex, next)
    }

    /// Sends what the exchange asks for next; keeps it if it goes on.
    fn auth_next(&mut self, ex: Exchange, next: Next) -> u16 {
        match next {
            Next::Challenge(c) => {
                self.auth = Some(ex);
                self.reply(334, &c)
            }
            Next::Done(code, text) => {
                self.end_auth(ex, auth::outcome(code, text));
                self.reply(code, text)
            }
        }
    }

    /// Closes an attempt's record (credentials only if asked for).
    fn end_auth(&mut self, ex: Exchange, outcome: &str) {
        if let Some(at) = ex.slot.and_then(|i| self.rec.auth.get_mut(i)) {
            at.outcome = outcome.to_string();
            if ex.record && ex.credentials != auth::Credentials::default() {
                at.credentials = Some(ex.credentials);
            }
        }
    }

    /// A line inside an AUTH exchange: a SASL response, never a command,
    /// never recorded as text.
    async fn auth_response(&mut self, line: &[u8], pipelined: bool) -> Result<(), End> {
        let Some(mut ex) = self.auth.take() else {
            return Ok(());
        };
        if let Some(at) = ex.slot.and_then(|i| self.rec.auth.get_mut(i)) {
            at.responses = at.responses.saturating_add(1);
            at.pipelined |= pipelined;
        }
        let next = ex.respond(auth::response_token(line));
        let code = self.auth_next(ex, next);
        if (500..600).contains(&code) {
            self.count_error().await?;
        }
        Ok(())
    }

    /// Handles one command; returns our (first) reply code.
    async fn dispatch(&mut self, line: &[u8], verb: &str) -> (u16, Result<(), End>) {
        if verb.eq_ignore_ascii_case("BDAT") {
            // CHUNKING is not offered, but a chunk is still consumed by its
            // announced size (RFC 3030): its bytes must never be read as
            // commands (a forged envelope inside a chunk).
            return match bdat_size(line) {
                Number::Value(n) => {
                    self.bdat_discard = n;
                    (
                        self.reply(502, "5.5.1 Error: CHUNKING not offered, chunk discarded"),
                        Ok(()),
                    )
                }
                Number::Overflow | Number::Invalid => {
                    // The chunk's end cannot be known: stop here.
                    let e = self
                        .close_with("4.7.0 Error: bad BDAT chunk size,", End::BadFraming)
                        .await;
                    (421, Err(e))
                }
            };
        }
        let parsed = Request::parse(&mut line.iter());
        let host = self.hostname().to_string();
        let ok = Ok(());
        match parsed {
            Ok(Request::Ehlo { host: h }) => {
                let h = h.to_string();
                self.greeted(verb, h);
                self.tx = None;
                let limits = &self.ctx.cfg.limits;
                let mut caps = vec![
                    host,
                    "PIPELINING".to_string(),
                    format!("SIZE {}", limits.max_message_size),
                    "8BITMIME".into(),
                    "ENHANCEDSTATUSCODES".into(),
                ];
                if self.ctx.tls.is_some() && !self.rec.tls {
                    caps.push("STARTTLS".into());
                }
                if self.ctx.cfg.auth.advertise {
                    caps.push("AUTH PLAIN LOGIN CRAM-MD5".into());
                }
                caps.push("SMTPUTF8".into());
                (self.reply(250, &caps.join("\n")), ok)
            }
            Ok(Request::Helo { host: h }) | Ok(Request::Lhlo { host: h }) => {
                let h = h.to_string();
                self.greeted(verb, h);
                self.tx = None;
                (self.reply(250, &host), ok)
            }
            Ok(Request::Mail { from }) => {
                if self.tx.is_some() {
                    return (self.reply(503, "5.5.1 Error: nested MAIL command"), ok);
                }
                if self.rec.messages.len() >= self.ctx.cfg.limits.max_messages_per_session {
                    self.hit(Limit::MessagesPerSession);
                    let e = self
                        .close_with("4.7.0 Error: too many messages,", End::TooManyMessages)
                        .await;
                    return (421, Err(e));
                }
                let max = self.ctx.cfg.limits.max_message_size;
                // SIZE= read exactly: smtp-proto's value wraps past 20 digits.
                let announced = match size_param(line) {
                    None => None,
                    Some(Number::Value(n)) => Some(n),
                    Some(Number::Overflow) => Some(u64::MAX),
                    Some(Number::Invalid) => {
                        return (self.reply(501, "5.5.4 Invalid parameter: SIZE"), ok);
                    }
                };
                if announced.is_some_and(|n| n > max) {
                    self.hit(Limit::MessageSize);
                    return (
                        self.reply(552, "5.3.4 Message size exceeds fixed limit"),
                        ok,
                    );
                }
                let body = if from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0 {
                    Some("8BITMIME".to_string())
                } else if from.flags & smtp_proto::MAIL_BODY_7BIT != 0 {
                    Some("7BIT".to_string())
                } else if from.flags & smtp_proto::MAIL_BODY_BINARYMIME != 0 {
                    return (
                        self.reply(555, "5.5.4 Unsupported option: BODY=BINARYMIME"),
                        ok,
                    );
                } else {
                    None
                };
                self.tx = Some(Tx {
                    env: Envelope {
                        mail_from: address_as_sent(line, &from.address),
                        rcpt_to: Vec::new(),
                        size_announced: announced,
                        body,
                        smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0,
                    },
                });
                (self.reply(250, "2.1.0 Ok"), ok)
            }
            Ok(Request::Rcpt { to }) => {
                let max = self.ctx.cfg.limits.max_recipients;
                let address = address_as_sent(line, &to.address);
                // RFC 5321 4.5.1: `postmaster` without a domain must be
                // accepted, whatever the accepted domains.
                let accepted = address.eq_ignore_ascii_case("postmaster")
                    || self.ctx.cfg.domains.accepts(&address);
                let Some(tx) = self.tx.as_mut() else {
                    return (self.reply(503, "5.5.1 Error: need MAIL command"), ok);
                };
                if tx.env.rcpt_to.len() >= max {
                    self.hit(Limit::Recipients);
                    return (self.reply(452, "4.5.3 Error: too many recipients"), ok);
                }
                if !accepted {
                    let t = format!("5.7.1 <{}>: Relay access denied", printable(&address));
                    return (self.reply(550, &t), ok);
                }
                tx.env.rcpt_to.push(address);
                (self.reply(250, "2.1.5 Ok"), ok)
            }
            Ok(Request::Data) => match &self.tx {
                None => (self.reply(503, "5.5.1 Error: need MAIL command"), ok),
                Some(tx) if tx.env.rcpt_to.is_empty() => {
                    (self.reply(554, "5.5.1 Error: no valid recipients"), ok)
                }
                Some(_) => (354, self.data().await),
            },
            Ok(Request::Rset) => {
                self.tx = None;
                (self.reply(250, "2.0.0 Ok"), ok)
            }
            Ok(Request::Noop { .. }) => (self.reply(250, "2.0.0 Ok"), ok),
            Ok(Request::Vrfy { .. }) => (
                self.reply(
                    252,
                    "2.5.2 Cannot VRFY user, but will accept message and attempt delivery",
                ),
                ok,
            ),
            Ok(Request::Expn { .. }) => (self.reply(502, "5.5.1 Error: EXPN not available"), ok),
            Ok(Request::Help { .. }) => (
                self.reply(
                    214,
                    "2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS",
                ),
                ok,
            ),
            Ok(Request::Quit) => {
                self.rec.quit = true;
                self.reply(221, "2.0.0 Bye");
                let r = self.flush().await;
                (221, Err(r.err().unwrap_or(End::Quit)))
            }
            Ok(Request::StartTls) => self.starttls().await,
            Ok(Request::Auth { .. }) => (
                self.reply(503, "5.5.1 Error: authentication not enabled"),
                ok,
            ),
            Ok(Request::Bdat { .. }) | Ok(Request::Burl { .. }) => {
                (self.reply(502, "5.5.1 Error: command not implemented"), ok)
            }
            Ok(Request::Etrn { .. }) | Ok(Request::Atrn { .. }) => {
                (self.reply(502, "5.5.1 Error: command not implemented"), ok)
            }
            Err(ProtoError::InvalidParameter { param: "SIZE" })
                if size_param(line) == Some(Number::Overflow) =>
            {
                // More digits than any size: too big, not a syntax error
                // (RFC 1870 6).
                self.hit(Limit::MessageSize);
                (
                    self.reply(552, "5.3.4 Message size exceeds fixed limit"),
                    ok,
                )
            }
            Err(e) => (self.syntax_error(line, verb, e), ok),
        }
    }

    fn greeted(&mut self, verb: &str, helo: String) {
        if self.rec.helo_verb.is_none() {
            self.rec.helo_verb = Some(verb.to_string());
            self.rec.helo = Some(helo.chars().take(255).collect());
        }
        self.helo = Some(helo.chars().take(255).collect());
    }

    fn syntax_error(&mut self, line: &[u8], verb: &str, e: ProtoError) -> u16 {
        let upper = verb.to_ascii_uppercase();
        // An empty or whitespace-only line.
        if upper.is_empty() {
            return self.reply(500, "5.5.2 Error: bad syntax");
        }
        match e {
            ProtoError::UnknownCommand => self.reply(502, "5.5.2 Error: command not recognized"),
            ProtoError::UnsupportedParameter { param } => {
                let t = format!("5.5.4 Unsupported option: {}", printable(&param));
                self.reply(555, &t)
            }
            ProtoError::InvalidParameter { param } => {
                let t = format!("5.5.4 Invalid parameter: {param}");
                self.reply(501, &t)
            }
            ProtoError::InvalidSenderAddress => self.reply(501, "5.1.7 Bad sender address syntax"),
            ProtoError::InvalidRecipientAddress => {
                self.reply(501, "5.1.3 Bad recipient address syntax")
            }
            ProtoError::SyntaxError { syntax } => {
                let t = format!("5.5.4 Syntax: {syntax}");
                let _ = line;
                self.reply(501, &t)
            }
            _ => self.reply(500, "5.5.2 Error: bad syntax"),
        }
    }

    async fn starttls(&mut self) -> (u16, Result<(), End>) {
        let Some(acceptor) = self.ctx.tls.clone() else {
            return (self.reply(454, "4.7.0 TLS not available"), Ok(()));
        };
        if self.rec.tls {
            return (self.reply(503, "5.5.1 Error: TLS already active"), Ok(()));
        }
        self.reply(220, "2.0.0 Ready to start TLS");
        if let Err(e) = self.flush().await {
            return (220, Err(e));
        }
        // Bytes pipelined after STARTTLS were sent in clear: RFC 3207 says
        // to throw them away (they would be a command injection).
        self.inbuf.clear();
        let Conn::Plain(tcp) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            return (220, Err(End::Tls));
        };
        let until = self
            .deadline
            .min(Instant::now() + Duration::from_secs(self.ctx.cfg.limits.command_timeout_s));
        match tokio::time::timeout_at(until, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => {
                self.conn = Conn::Tls(Box::new(tls));
                self.rec.tls = true;
                self.ctx
                    .stats
                    .tls_sessions
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // RFC 3207 4.2: forget everything learnt before.
                self.helo = None;
                self.tx = None;
                (220, Ok(()))
            }
            Ok(Err(_)) => {
                self.ctx
                    .stats
                    .tls_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (220, Err(End::Tls))
            }
            Err(_) => {
                self.hit(Limit::CommandTimeout);
                (220, Err(End::CommandTimeout))
            }
        }
    }

    /// DATA: `354`, the body (dot-unstuffed, size-capped, spilled to disk
    /// past `max_buffered_bytes`), then durable storage and `250`.
    async fn data(&mut self) -> Result<(), End> {
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        let data_before_354 = !self.inbuf.is_empty();
        self.reply(354, "End data with <CR><LF>.<CR><LF>");
        self.flush().await?;
        let now = (self.ctx.clock)();
        let limits = self.ctx.cfg.limits.clone();
        let mut pending = self.ctx.store.begin(now);
        let received = received_header(
            &self.ctx.cfg.hostname,
            self.helo.as_deref(),
            self.peer,
            self.rec.tls,
            &pending.id,
            tx.env.rcpt_to.first().map(String::as_str),
            now,
        );
        let mut buf: Vec<u8> = Vec::with_capacity(received.len() + 4096);
        buf.extend_from_slice(received.as_bytes());
        let mut dec = DataDecoder::new();
        let mut too_big = false;
        let mut io_failed = false;
        let mut spilled = false;
        let mut end: Option<End> = None;
        loop {
            if !self.inbuf.is_empty() {
                let fed = dec.feed(&self.inbuf, |s| {
                    if !too_big {
                        buf.extend_from_slice(s);
                    }
                });
                if dec.total > limits.max_message_size && !too_big {
                    too_big = true;
                    buf = Vec::new();
                }
                self.inbuf.drain(..fed.consumed);
                if buf.len() > limits.max_buffered_bytes && !io_failed {
                    if !spilled {
                        spilled = true;
                        self.hit(Limit::BufferSpill);
                    }
                    let chunk = std::mem::take(&mut buf);
                    let (p, r) = blocking(move || {
                        let r = pending.append(&chunk);
                        (pending, r)
                    })
                    .await;
                    pending = p;
                    io_failed |= r.is_err();
                }
                if fed.done {
                    break;
                }
            }
            if let Err(e) = self.read_more(true, DATA_CHUNK).await {
                end = Some(e);
                break;
            }
        }
        if self.inbuf.capacity() > 2 * DATA_CHUNK {
            self.inbuf.shrink_to(4096);
        }
        let size = dec.total;
        if dec.smuggling > 0 {
            self.ctx
                .stats
                .smuggling_attempts
                .fetch_add(dec.smuggling, std::sync::atomic::Ordering::Relaxed);
        }
        let mut msg = MessageRecord {
            id: String::new(),
            envelope: tx.env.clone(),
            size,
            received: rfc3339(now),
            path: None,
            outcome: String::new(),
            bare_lf_lines: dec.bare_lf,
            smuggling_sequences: dec.smuggling,
            data_before_354,
        };
        let store = self.ctx.store.clone();
        if let Some(e) = end {
            msg.outcome = "aborted".into();
            let _ = blocking(move || pending.discard()).await;
            self.push_message(msg);
            return Err(match e {
                End::DataTimeout => self.close_with("4.4.2 Error: timeout exceeded,", e).await,
                End::SessionDeadline => {
                    self.close_with("4.4.2 Error: session time limit exceeded,", e)
                        .await
                }
                End::Shutdown => self.close_with("4.3.2 Service shutting down,", e).await,
                e => e,
            });
        }
        if too_big {
            self.hit(Limit::MessageSize);
            msg.outcome = "too_big".into();
            let _ = blocking(move || pending.discard()).await;
            self.push_message(msg);
            self.reply(552, "5.3.4 Error: message file too big");
            return Ok(());
        }
        // Held in memory all along (nearly every message): into the
        // write-ahead log, no file of its own before the 250.
        let in_memory = pending.written == 0 && !io_failed;
        let (pending, buf, r) = if in_memory {
            (pending, buf, Ok(()))
        } else {
            blocking(move || {
                let r = if io_failed {
                    Err(io::Error::other("earlier write failed"))
                } else {
                    pending.finish(&buf)
                };
                (pending, Vec::new(), r)
            })
            .await
        };
        let id = pending.id.clone();
        let committed = match r {
            Ok(()) => {
                let stored = StoredMessage {
                    path: Default::default(),
                    id: id.clone(),
                    session: self.rec.session.clone(),
                    client_ip: self.peer.ip(),
                    client_port: self.peer.port(),
                    helo: self.helo.clone(),
                    tls: self.rec.tls,
                    envelope: tx.env,
                    size,
                    received: now,
                    commands: self.rec.commands.iter().map(|c| c.verb.clone()).collect(),
                    pipelined: self.rec.pipelined_commands > 0,
                };
                if in_memory {
                    store.commit_bytes(pending, buf, stored).await
                } else {
                    store.commit(pending, stored).await
                }
            }
            Err(e) => {
                let _ = blocking(move || pending.discard()).await;
                self.ctx
                    .stats
                    .store_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(e)
            }
        };
        match committed {
            Ok(path) => {
                msg.id = id.clone();
                msg.outcome = "stored".into();
                msg.path = path
                    .strip_prefix(store.layout.root.parent().unwrap_or(&store.layout.root))
                    .ok()
                    .map(|p| p.display().to_string());
                self.push_message(msg);
                self.reply(250, &format!("2.0.0 Ok: queued as {id}"));
            }
            Err(e) => {
                self.ctx
                    .stats
                    .log(&format!("store error for {}: {e}", self.peer));
                msg.outcome = "store_error".into();
                self.push_message(msg);
                self.reply(451, "4.3.0 Error: queue file write error");
            }
        }
        Ok(())
    }

    fn push_message(&mut self, msg: MessageRecord) {
        if self.rec.messages.len() < self.ctx.cfg.limits.max_messages_per_session {
            self.rec.messages.push(msg);
        }
    }
}

/// Runs blocking file work off the reactor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The address of a MAIL/RCPT line as the record keeps it: what
/// `smtp-proto` parsed, unless the line says otherwise (quotes of a quoted
/// local part, `<postmaster>` which it turns into the null path).
fn address_as_sent(line: &[u8], parsed: &str) -> String {
    match path_as_sent(line) {
        Some(p) if p.contains('"') || (parsed.is_empty() && !p.is_empty()) => p,
        _ => parsed.to_string(),
    }
}

/// Client-controlled text shown back or stored in a header: printable
/// ASCII only, at most 255 characters.
fn printable(s: &str) -> String {
    s.chars()
        .take(255)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// Our `Received:` trace header (RFC 5321 4.4), folded, CRLF-terminated.
pub(crate) fn received_header(
    hostname: &str,
    helo: Option<&str>,
    peer: SocketAddr,
    tls: bool,
    id: &str,
    first_rcpt: Option<&str>,
    now: SystemTime,
) -> String {
    let dt: chrono::DateTime<chrono::Utc> = now.into();
    let ip = match peer.ip() {
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => format!("IPv6:{a}"),
    };
    let helo = helo.map(printable).unwrap_or_else(|| "unknown".into());
    let with = if tls { "ESMTPS" } else { "ESMTP" };
    let rcpt = first_rcpt
        .map(|r| format!("\r\n\tfor <{}>", printable(r)))
        .unwrap_or_default();
    format!(
        "Received: from {helo} ([{ip}] port {port})\r\n\tby {hostname} (botscope-trap) with {with} id {id}{rcpt};\r\n\t{date}\r\n",
        port = peer.port(),
        date = dt.format("%a, %d %b %Y %H:%M:%S +0000"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_header_is_plain_and_folded() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_293_840_000);
        let h = received_header(
            "trap.example",
            Some("bot\r\nX-Evil: 1"),
            "192.0.2.7:4711".parse().unwrap(),
            false,
            "ID1",
            Some("x@trap.example"),
            t,
        );
        assert_eq!(
            h,
            "Received: from bot??X-Evil:?1 ([192.0.2.7] port 4711)\r\n\tby trap.example (botscope-trap) with ESMTP id ID1\r\n\tfor <x@trap.example>;\r\n\tSat, 01 Jan 2011 00:00:00 +0000\r\n"
        );
        assert!(rfc3339(t).starts_with("2011-01-01T00:00:00.000000Z"));
    }
}
