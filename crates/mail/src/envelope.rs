//! What the trap (or the SMTP session) knew about a message besides its
//! bytes.

use std::net::IpAddr;

use botscope_event::Ts;

/// Trap or SMTP-session information about one message.
///
/// `session == true` means the envelope comes from the SMTP session itself
/// (a capture or the live trap): the message bytes are exactly what the
/// client sent, with no header added by the receiving side, and
/// `client_ip`/`helo`/`commands` are the session's. `session == false`
/// (mbox `From_` line) means the message carries the trap's own
/// `Received:` header on top, which the analyser reads for the sending IP,
/// HELO and receive time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Envelope {
    pub session: bool,
    /// Receive time (session time, or the mbox `From_` line's time).
    pub received_ts: Option<Ts>,
    pub client_ip: Option<IpAddr>,
    pub helo: Option<String>,
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
    /// The client's SMTP command verbs in order, as sent (the dialect).
    pub commands: Vec<String>,
    /// The client pipelined commands.
    pub pipelined: bool,
}
