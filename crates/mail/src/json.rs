//! The JSON form of a [`MailMessage`] (one line per message in
//! `botscope mail --json`).

use botscope_event::{MailMessage, Ts};
use serde_json::{json, Value};

fn iso(ts: Ts) -> Value {
    let secs = ts.0.div_euclid(1_000_000);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(d) => Value::String(d.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        None => Value::Null,
    }
}

/// `source`, `message_id`, `received_ts` (ISO 8601 UTC), `sender_ip`,
/// `helo`, `family`, `family_confidence`, `campaign`, `category`, `brand`,
/// `urls`, `domains`, `subject`, and the rest of the row; `error` only
/// when set.
pub fn to_json(m: &MailMessage) -> Value {
    let mut v = json!({
        "source": m.source,
        "message_id": m.message_id,
        "received_ts": m.received_ts.map(iso),
        "sender_ip": m.sender_ip.map(|ip| ip.to_string()),
        "helo": m.helo,
        "mail_from": m.mail_from,
        "rcpt_to": m.rcpt_to,
        "family": m.family,
        "family_confidence": m.family_confidence,
        "campaign": m.campaign,
        "category": m.category,
        "brand": m.brand,
        "urls": m.urls,
        "domains": m.domains,
        "subject": m.subject,
        "date_header": m.date_header,
        "date_ts": m.date_ts.map(iso),
        "size": m.size,
    });
    if let Some(e) = &m.error {
        v["error"] = Value::String(e.clone());
    }
    v
}
