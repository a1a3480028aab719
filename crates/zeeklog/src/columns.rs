//! Which value goes in which column, written once for every format.
//!
//! Each log has one function that walks its columns in order and hands
//! every value to a [`Sink`]; the TSV and JSON writers are sinks. Column
//! order and the absent/empty choices therefore cannot drift between
//! formats, and a test sink checks the walk against the `*_FIELDS`
//! tables.

use std::net::IpAddr;

use botscope_event::{
    Conn, ConnId, Dns, Duration, Event, File, Ftp, Http, Irc, Meta, Smtp, Ssh, Ssl, Ts, Tunnel,
    Uid, Weird, X509,
};

/// How an empty container is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IfEmpty {
    /// Zeek leaves the field unset (`&optional` field never assigned):
    /// TSV `-`, JSON key omitted.
    Unset,
    /// Zeek logs an empty container (`&default=set()`/`vector()`):
    /// TSV `(empty)`, JSON `[]`.
    Empty,
}

/// Receives the columns of one row, in order. `None` is an unset field.
pub(crate) trait Sink {
    fn time(&mut self, name: &'static str, v: Option<Ts>);
    fn interval(&mut self, name: &'static str, v: Option<Duration>);
    fn string(&mut self, name: &'static str, v: Option<&str>);
    /// A Zeek `enum` value (rendered like a string).
    fn enumeration(&mut self, name: &'static str, v: Option<&str>);
    /// A connection uid (Zeek type `string`).
    fn uid(&mut self, name: &'static str, v: Option<Uid>);
    fn count(&mut self, name: &'static str, v: Option<u64>);
    fn port(&mut self, name: &'static str, v: Option<u16>);
    fn addr(&mut self, name: &'static str, v: Option<IpAddr>);
    fn boolean(&mut self, name: &'static str, v: Option<bool>);
    /// A Zeek `string` column holding comma-joined names (conn's
    /// `service`); unset when `items` is empty.
    fn joined<T: AsRef<str>>(&mut self, name: &'static str, items: &[T]);
    /// A `set[string]`, `set[enum]` or `vector[string]` column (`ty`).
    fn strings<T: AsRef<str>>(
        &mut self,
        name: &'static str,
        ty: &'static str,
        items: &[T],
        if_empty: IfEmpty,
    );
    /// A `vector[addr]` column.
    fn addrs(&mut self, name: &'static str, items: &[IpAddr], if_empty: IfEmpty);
    /// A `vector[interval]` column of whole seconds.
    fn seconds(&mut self, name: &'static str, items: &[u32], if_empty: IfEmpty);
}

const NONE: &[&str] = &[];

/// Walk the columns of `ev`. Returns `false` (and writes nothing) for
/// events that have no log row ([`Event::Message`]).
pub(crate) fn emit<S: Sink>(ev: &Event, s: &mut S) -> bool {
    match ev {
        Event::Conn(c) => conn(c, s),
        Event::Http(h) => http(h, s),
        Event::Smtp(m) => smtp(m, s),
        Event::Dns(d) => dns(d, s),
        Event::Ssl(l) => ssl(l, s),
        Event::Irc(i) => irc(i, s),
        Event::Ftp(f) => ftp(f, s),
        Event::Ssh(x) => ssh(x, s),
        Event::Weird(w) => weird(w, s),
        Event::Tunnel(t) => tunnel(t, s),
        Event::X509(x) => x509(x, s),
        Event::File(f) => file(f, s),
        Event::Message(_) => return false,
    }
    true
}

fn id<S: Sink>(s: &mut S, id: Option<&ConnId>) {
    s.addr("id.orig_h", id.map(|i| i.orig_h));
    s.port("id.orig_p", id.map(|i| i.orig_p));
    s.addr("id.resp_h", id.map(|i| i.resp_h));
    s.port("id.resp_p", id.map(|i| i.resp_p));
}

/// `ts uid id.orig_h id.orig_p id.resp_h id.resp_p`.
fn envelope<S: Sink>(s: &mut S, meta: Option<&Meta>) {
    s.time("ts", meta.map(|m| m.ts));
    s.uid("uid", meta.map(|m| m.uid));
    id(s, meta.map(|m| &m.id));
}

fn conn<S: Sink>(c: &Conn, s: &mut S) {
    envelope(s, Some(&c.meta));
    s.enumeration("proto", Some(c.meta.id.proto.zeek_name()));
    s.joined("service", &c.service);
    s.interval("duration", c.duration);
    s.count("orig_bytes", c.orig_bytes);
    s.count("resp_bytes", c.resp_bytes);
    s.string("conn_state", Some(c.conn_state.as_str()));
    s.boolean("local_orig", c.local_orig);
    s.boolean("local_resp", c.local_resp);
    s.count("missed_bytes", Some(c.missed_bytes));
    // Zeek leaves `history` unset when no letter was recorded (ICMP,
    // other IP protocols).
    s.string(
        "history",
        (!c.history.is_empty()).then_some(c.history.as_str()),
    );
    s.count("orig_pkts", Some(c.orig_pkts));
    s.count("orig_ip_bytes", Some(c.orig_ip_bytes));
    s.count("resp_pkts", Some(c.resp_pkts));
    s.count("resp_ip_bytes", Some(c.resp_ip_bytes));
    let parents: Vec<String> = c.tunnel_parents.iter().map(|u| u.to_string()).collect();
    s.strings("tunnel_parents", "set[string]", &parents, IfEmpty::Unset);
    s.count("ip_proto", Some(u64::from(c.ip_proto)));
}

fn file<S: Sink>(f: &File, s: &mut S) {
    s.time("ts", f.meta.map(|m| m.ts));
    s.string("fuid", Some(&f.fuid));
    s.uid("uid", f.meta.map(|m| m.uid));
    id(s, f.meta.as_ref().map(|m| &m.id));
    s.string("source", Some(f.source));
    s.count("depth", Some(u64::from(f.depth)));
    s.strings("analyzers", "set[string]", &f.analyzers, IfEmpty::Empty);
    s.string("mime_type", f.mime_type.as_deref());
    s.string("filename", f.filename.as_deref());
    s.interval("duration", f.duration);
    s.boolean("local_orig", None);
    s.boolean("is_orig", Some(f.is_orig));
    s.count("seen_bytes", Some(f.seen_bytes));
    s.count("total_bytes", f.total_bytes);
    s.count("missing_bytes", Some(f.missing_bytes));
    s.count("overflow_bytes", Some(0));
    s.boolean("timedout", Some(false));
    s.string("parent_fuid", None);
    s.string("md5", None);
    s.string("sha1", None);
    s.string("sha256", f.sha256.as_deref());
    s.string("extracted", f.extracted.as_deref());
    s.boolean("extracted_cutoff", f.extracted_cutoff);
    s.count("extracted_size", f.extracted_size);
}

fn tunnel<S: Sink>(t: &Tunnel, s: &mut S) {
    s.time("ts", Some(t.ts));
    s.uid("uid", Some(t.uid));
    id(s, Some(&t.id));
    s.enumeration("tunnel_type", Some(t.tunnel_type));
    s.enumeration("action", Some(t.action));
}

fn http<S: Sink>(h: &Http, s: &mut S) {
    envelope(s, h.meta.as_ref());
    s.count("trans_depth", Some(u64::from(h.trans_depth)));
    s.string("method", h.method.as_deref());
    s.string("host", h.host.as_deref());
    s.string("uri", h.uri.as_deref());
    s.string("referrer", h.referrer.as_deref());
    s.string("version", h.version.as_deref());
    s.string("user_agent", h.user_agent.as_deref());
    s.string("origin", h.origin.as_deref());
    s.count("request_body_len", Some(h.request_body_len));
    s.count("response_body_len", Some(h.response_body_len));
    s.count("status_code", h.status_code.map(u64::from));
    s.string("status_msg", h.status_msg.as_deref());
    s.count("info_code", h.info_code.map(u64::from));
    s.string("info_msg", h.info_msg.as_deref());
    s.strings("tags", "set[enum]", NONE, IfEmpty::Empty);
    s.string("username", h.username.as_deref());
    s.string("password", h.password.as_deref());
    s.strings("proxied", "set[string]", &h.proxied, IfEmpty::Unset);
    // No file analysis: Zeek leaves these unset when it saw no file.
    s.strings("orig_fuids", "vector[string]", NONE, IfEmpty::Unset);
    s.strings(
        "orig_filenames",
        "vector[string]",
        &h.orig_filenames,
        IfEmpty::Unset,
    );
    s.strings(
        "orig_mime_types",
        "vector[string]",
        &h.orig_mime_types,
        IfEmpty::Unset,
    );
    s.strings("resp_fuids", "vector[string]", NONE, IfEmpty::Unset);
    s.strings(
        "resp_filenames",
        "vector[string]",
        &h.resp_filenames,
        IfEmpty::Unset,
    );
    s.strings(
        "resp_mime_types",
        "vector[string]",
        &h.resp_mime_types,
        IfEmpty::Unset,
    );
    s.string("req_content_type", h.req_content_type.as_deref());
    s.string("resp_content_type", h.resp_content_type.as_deref());
    s.string("location", h.location.as_deref());
    s.string("req_body_sha256", h.req_body_sha256.as_deref());
    s.string("resp_body_sha256", h.resp_body_sha256.as_deref());
}

fn smtp<S: Sink>(m: &Smtp, s: &mut S) {
    envelope(s, m.meta.as_ref());
    s.count("trans_depth", Some(u64::from(m.trans_depth)));
    s.string("helo", m.helo.as_deref());
    s.string("mailfrom", m.mailfrom.as_deref());
    s.strings("rcptto", "set[string]", &m.rcptto, IfEmpty::Unset);
    s.string("date", m.date.as_deref());
    s.string("from", m.from.as_deref());
    s.strings("to", "set[string]", &m.to, IfEmpty::Unset);
    s.strings("cc", "set[string]", &m.cc, IfEmpty::Unset);
    s.string("reply_to", m.reply_to.as_deref());
    s.string("msg_id", m.msg_id.as_deref());
    s.string("in_reply_to", m.in_reply_to.as_deref());
    s.string("subject", m.subject.as_deref());
    s.addr("x_originating_ip", m.x_originating_ip);
    s.string("first_received", m.first_received.as_deref());
    s.string("second_received", m.second_received.as_deref());
    s.string("last_reply", m.last_reply.as_deref());
    s.addrs("path", &m.path, IfEmpty::Unset);
    s.string("user_agent", m.user_agent.as_deref());
    s.boolean("tls", Some(m.tls));
    // `&default=vector()` in Zeek: logged as (empty) without files.
    s.strings("fuids", "vector[string]", &m.fuids, IfEmpty::Empty);
    s.strings("commands", "vector[string]", &m.commands, IfEmpty::Empty);
    s.boolean("pipelined", Some(m.pipelined));
    s.string("auth_user", m.auth_user.as_deref());
    s.string("message_file", m.message_file.as_deref());
}

fn dns<S: Sink>(d: &Dns, s: &mut S) {
    envelope(s, d.meta.as_ref());
    s.enumeration("proto", d.meta.as_ref().map(|m| m.id.proto.zeek_name()));
    s.count("trans_id", Some(u64::from(d.trans_id)));
    s.interval("rtt", d.rtt);
    s.string("query", d.query.as_deref());
    s.count("qclass", d.qclass.map(u64::from));
    s.string("qclass_name", d.qclass_name.as_deref());
    s.count("qtype", d.qtype.map(u64::from));
    s.string("qtype_name", d.qtype_name.as_deref());
    s.count("rcode", d.rcode.map(u64::from));
    s.string("rcode_name", d.rcode_name.as_deref());
    s.boolean("AA", Some(d.aa));
    s.boolean("TC", Some(d.tc));
    s.boolean("RD", Some(d.rd));
    s.boolean("RA", Some(d.ra));
    s.count("Z", Some(u64::from(d.z)));
    s.strings("answers", "vector[string]", &d.answers, IfEmpty::Unset);
    s.seconds("TTLs", &d.ttls, IfEmpty::Unset);
    s.boolean("rejected", Some(d.rejected));
    s.count("opcode", d.opcode.map(u64::from));
    s.string("opcode_name", d.opcode_name.as_deref());
}

fn chain<S: Sink>(s: &mut S, name: &'static str, fps: Option<&[String]>) {
    match fps {
        Some(v) => s.strings(name, "vector[string]", v, IfEmpty::Empty),
        None => s.strings(name, "vector[string]", NONE, IfEmpty::Unset),
    }
}

fn x509<S: Sink>(x: &X509, s: &mut S) {
    s.time("ts", x.meta.map(|m| m.ts));
    s.string("fingerprint", Some(&x.fingerprint));
    s.count("certificate.version", Some(u64::from(x.version)));
    s.string("certificate.serial", Some(&x.serial));
    s.string("certificate.subject", Some(&x.subject));
    s.string("certificate.issuer", Some(&x.issuer));
    s.time("certificate.not_valid_before", x.not_valid_before);
    s.time("certificate.not_valid_after", x.not_valid_after);
    s.string("certificate.key_alg", Some(&x.key_alg));
    s.string("certificate.sig_alg", Some(&x.sig_alg));
    s.string("certificate.key_type", x.key_type.as_deref());
    s.count("certificate.key_length", x.key_length);
    s.string("certificate.exponent", x.exponent.as_deref());
    s.string("certificate.curve", x.curve.as_deref());
    s.strings("san.dns", "vector[string]", &x.san_dns, IfEmpty::Unset);
    s.strings("san.uri", "vector[string]", &x.san_uri, IfEmpty::Unset);
    s.strings("san.email", "vector[string]", &x.san_email, IfEmpty::Unset);
    s.addrs("san.ip", &x.san_ip, IfEmpty::Unset);
    s.boolean("basic_constraints.ca", x.basic_constraints_ca);
    s.count(
        "basic_constraints.path_len",
        x.basic_constraints_path_len.map(u64::from),
    );
    s.boolean("host_cert", Some(x.host_cert));
    s.boolean("client_cert", Some(x.client_cert));
    s.boolean("self_signed", Some(x.self_signed));
}

fn ssl<S: Sink>(l: &Ssl, s: &mut S) {
    envelope(s, l.meta.as_ref());
    s.string("version", l.version.as_deref());
    s.string("cipher", l.cipher.as_deref());
    s.string("curve", l.curve.as_deref());
    s.string("server_name", l.server_name.as_deref());
    s.boolean("resumed", Some(l.resumed));
    s.string("last_alert", l.last_alert.as_deref());
    s.string("next_protocol", l.next_protocol.as_deref());
    s.boolean("established", Some(l.established));
    s.string("ssl_history", Some(&l.ssl_history));
    // Unset without certificates (TLS 1.3, QUIC); once one is seen both
    // chains are set, possibly empty (Zeek).
    chain(s, "cert_chain_fps", l.cert_chain_fps.as_deref());
    chain(
        s,
        "client_cert_chain_fps",
        l.client_cert_chain_fps.as_deref(),
    );
    s.boolean("sni_matches_cert", l.sni_matches_cert);
    s.string("ja3", l.ja3.as_deref());
    s.string("ja3s", l.ja3s.as_deref());
    s.string("ja4", l.ja4.as_deref());
    s.strings(
        "client_alpn",
        "vector[string]",
        &l.client_alpn,
        IfEmpty::Unset,
    );
    s.string("subject", l.subject.as_deref());
    s.string("issuer", l.issuer.as_deref());
    s.string("client_subject", l.client_subject.as_deref());
    s.string("client_issuer", l.client_issuer.as_deref());
}

fn irc<S: Sink>(i: &Irc, s: &mut S) {
    envelope(s, i.meta.as_ref());
    s.string("nick", i.nick.as_deref());
    s.string("user", i.user.as_deref());
    s.string("command", i.command.as_deref());
    s.string("value", i.value.as_deref());
    s.string("addl", i.addl.as_deref());
    s.string("dcc_file_name", i.dcc_file_name.as_deref());
    s.count("dcc_file_size", i.dcc_file_size);
    s.string("dcc_mime_type", i.dcc_mime_type.as_deref());
    s.string("fuid", None);
}

fn ftp<S: Sink>(f: &Ftp, s: &mut S) {
    envelope(s, f.meta.as_ref());
    s.string("user", Some(&f.user));
    s.string("password", f.password.as_deref());
    s.string("command", Some(&f.command));
    s.string("arg", f.arg.as_deref());
    s.string("mime_type", f.mime_type.as_deref());
    s.count("file_size", f.file_size);
    s.count("reply_code", f.reply_code.map(u64::from));
    s.string("reply_msg", f.reply_msg.as_deref());
    let dc = f.data_channel.as_ref();
    s.boolean("data_channel.passive", dc.map(|d| d.passive));
    s.addr("data_channel.orig_h", dc.map(|d| d.orig_h));
    s.addr("data_channel.resp_h", dc.map(|d| d.resp_h));
    s.port("data_channel.resp_p", dc.map(|d| d.resp_p));
    s.string("fuid", None);
    s.string("file_name", f.file_name.as_deref());
    s.uid("data_uid", f.data_uid);
    s.count("data_bytes", f.data_bytes);
}

fn ssh<S: Sink>(x: &Ssh, s: &mut S) {
    envelope(s, x.meta.as_ref());
    s.count("version", x.version.map(u64::from));
    s.boolean("auth_success", x.auth_success);
    s.count("auth_attempts", Some(u64::from(x.auth_attempts)));
    s.enumeration("direction", x.direction.as_deref());
    s.string("client", x.client.as_deref());
    s.string("server", x.server.as_deref());
    s.string("cipher_alg", x.cipher_alg.as_deref());
    s.string("mac_alg", x.mac_alg.as_deref());
    s.string("compression_alg", x.compression_alg.as_deref());
    s.string("kex_alg", x.kex_alg.as_deref());
    s.string("host_key_alg", x.host_key_alg.as_deref());
    s.string("host_key_fingerprint", x.host_key_fingerprint.as_deref());
}

fn weird<S: Sink>(w: &Weird, s: &mut S) {
    s.time("ts", Some(w.ts));
    s.uid("uid", w.uid);
    id(s, w.id.as_ref());
    s.string("name", Some(&w.name));
    s.string("addl", w.addl.as_deref());
    s.boolean("notice", Some(false));
    s.string("peer", None);
    s.string("source", w.source.as_deref());
}
