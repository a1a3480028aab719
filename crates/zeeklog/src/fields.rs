//! Column names and Zeek types of every log, in output order.
//!
//! The Zeek columns come first, exactly as Zeek's base scripts log them
//! (checked against Zeek's own btest baselines); botscope's extra
//! columns are appended at the end, so `zeek-cut` (which selects by
//! name) and Zeek-log importers keep working.

/// `conn.log`: Zeek's columns; botscope adds none.
pub const CONN_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
    ("ip_proto", "count"),
];

/// `http.log`: Zeek's columns, then `req_content_type resp_content_type
/// location req_body_sha256 resp_body_sha256`.
pub const HTTP_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("trans_depth", "count"),
    ("method", "string"),
    ("host", "string"),
    ("uri", "string"),
    ("referrer", "string"),
    ("version", "string"),
    ("user_agent", "string"),
    ("origin", "string"),
    ("request_body_len", "count"),
    ("response_body_len", "count"),
    ("status_code", "count"),
    ("status_msg", "string"),
    ("info_code", "count"),
    ("info_msg", "string"),
    ("tags", "set[enum]"),
    ("username", "string"),
    ("password", "string"),
    ("proxied", "set[string]"),
    ("orig_fuids", "vector[string]"),
    ("orig_filenames", "vector[string]"),
    ("orig_mime_types", "vector[string]"),
    ("resp_fuids", "vector[string]"),
    ("resp_filenames", "vector[string]"),
    ("resp_mime_types", "vector[string]"),
    // botscope extras
    ("req_content_type", "string"),
    ("resp_content_type", "string"),
    ("location", "string"),
    ("req_body_sha256", "string"),
    ("resp_body_sha256", "string"),
];

/// `smtp.log`: Zeek's columns, then `commands pipelined auth_user
/// message_file`.
pub const SMTP_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("trans_depth", "count"),
    ("helo", "string"),
    ("mailfrom", "string"),
    ("rcptto", "set[string]"),
    ("date", "string"),
    ("from", "string"),
    ("to", "set[string]"),
    ("cc", "set[string]"),
    ("reply_to", "string"),
    ("msg_id", "string"),
    ("in_reply_to", "string"),
    ("subject", "string"),
    ("x_originating_ip", "addr"),
    ("first_received", "string"),
    ("second_received", "string"),
    ("last_reply", "string"),
    ("path", "vector[addr]"),
    ("user_agent", "string"),
    ("tls", "bool"),
    ("fuids", "vector[string]"),
    // botscope extras
    ("commands", "vector[string]"),
    ("pipelined", "bool"),
    ("auth_user", "string"),
    ("message_file", "string"),
];

/// `dns.log`: Zeek's columns; botscope adds none.
pub const DNS_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("trans_id", "count"),
    ("rtt", "interval"),
    ("query", "string"),
    ("qclass", "count"),
    ("qclass_name", "string"),
    ("qtype", "count"),
    ("qtype_name", "string"),
    ("rcode", "count"),
    ("rcode_name", "string"),
    ("AA", "bool"),
    ("TC", "bool"),
    ("RD", "bool"),
    ("RA", "bool"),
    ("Z", "count"),
    ("answers", "vector[string]"),
    ("TTLs", "vector[interval]"),
    ("rejected", "bool"),
    ("opcode", "count"),
    ("opcode_name", "string"),
];

/// `ssl.log`: Zeek's columns, then `ja3 ja3s ja4 client_alpn` and the
/// certificate names Zeek logs on request.
pub const SSL_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("version", "string"),
    ("cipher", "string"),
    ("curve", "string"),
    ("server_name", "string"),
    ("resumed", "bool"),
    ("last_alert", "string"),
    ("next_protocol", "string"),
    ("established", "bool"),
    ("ssl_history", "string"),
    ("cert_chain_fps", "vector[string]"),
    ("client_cert_chain_fps", "vector[string]"),
    ("sni_matches_cert", "bool"),
    // botscope extras
    ("ja3", "string"),
    ("ja3s", "string"),
    ("ja4", "string"),
    ("client_alpn", "vector[string]"),
    // Zeek's optional certificate-name columns
    // (`SSL::log_include_{server,client}_certificate_subject_issuer`).
    ("subject", "string"),
    ("issuer", "string"),
    ("client_subject", "string"),
    ("client_issuer", "string"),
];

/// `x509.log`: Zeek's columns (6+, with `fingerprint`), then
/// `self_signed`.
pub const X509_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("fingerprint", "string"),
    ("certificate.version", "count"),
    ("certificate.serial", "string"),
    ("certificate.subject", "string"),
    ("certificate.issuer", "string"),
    ("certificate.not_valid_before", "time"),
    ("certificate.not_valid_after", "time"),
    ("certificate.key_alg", "string"),
    ("certificate.sig_alg", "string"),
    ("certificate.key_type", "string"),
    ("certificate.key_length", "count"),
    ("certificate.exponent", "string"),
    ("certificate.curve", "string"),
    ("san.dns", "vector[string]"),
    ("san.uri", "vector[string]"),
    ("san.email", "vector[string]"),
    ("san.ip", "vector[addr]"),
    ("basic_constraints.ca", "bool"),
    ("basic_constraints.path_len", "count"),
    ("host_cert", "bool"),
    ("client_cert", "bool"),
    // botscope extras
    ("self_signed", "bool"),
];

/// `irc.log`: Zeek's columns; botscope adds none.
pub const IRC_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("nick", "string"),
    ("user", "string"),
    ("command", "string"),
    ("value", "string"),
    ("addl", "string"),
    ("dcc_file_name", "string"),
    ("dcc_file_size", "count"),
    ("dcc_mime_type", "string"),
    ("fuid", "string"),
];

/// `ftp.log`: Zeek's columns, then botscope's `file_name` (the argument
/// as sent), `data_uid` and `data_bytes` (the data connection that
/// carried a transfer and its payload bytes).
pub const FTP_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("user", "string"),
    ("password", "string"),
    ("command", "string"),
    ("arg", "string"),
    ("mime_type", "string"),
    ("file_size", "count"),
    ("reply_code", "count"),
    ("reply_msg", "string"),
    ("data_channel.passive", "bool"),
    ("data_channel.orig_h", "addr"),
    ("data_channel.resp_h", "addr"),
    ("data_channel.resp_p", "port"),
    ("fuid", "string"),
    // botscope extras
    ("file_name", "string"),
    ("data_uid", "string"),
    ("data_bytes", "count"),
];

/// `ssh.log`: Zeek's columns; botscope adds none.
pub const SSH_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("version", "count"),
    ("auth_success", "bool"),
    ("auth_attempts", "count"),
    ("direction", "enum"),
    ("client", "string"),
    ("server", "string"),
    ("cipher_alg", "string"),
    ("mac_alg", "string"),
    ("compression_alg", "string"),
    ("kex_alg", "string"),
    ("host_key_alg", "string"),
    ("host_key_fingerprint", "string"),
];

/// `weird.log`: Zeek's columns; botscope adds none (`source` carries the
/// input file and offset for anomalies in the capture file itself).
pub const WEIRD_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("name", "string"),
    ("addl", "string"),
    ("notice", "bool"),
    ("peer", "string"),
    ("source", "string"),
];

/// `tunnel.log`: Zeek's columns.
pub const TUNNEL_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("tunnel_type", "enum"),
    ("action", "enum"),
];

/// `files.log`: Zeek 6's columns.
pub const FILES_FIELDS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("fuid", "string"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("source", "string"),
    ("depth", "count"),
    ("analyzers", "set[string]"),
    ("mime_type", "string"),
    ("filename", "string"),
    ("duration", "interval"),
    ("local_orig", "bool"),
    ("is_orig", "bool"),
    ("seen_bytes", "count"),
    ("total_bytes", "count"),
    ("missing_bytes", "count"),
    ("overflow_bytes", "count"),
    ("timedout", "bool"),
    ("parent_fuid", "string"),
    ("md5", "string"),
    ("sha1", "string"),
    ("sha256", "string"),
    ("extracted", "string"),
    ("extracted_cutoff", "bool"),
    ("extracted_size", "count"),
];

/// The log names this crate writes, in a fixed order.
pub const LOG_NAMES: &[&str] = &[
    "conn", "http", "smtp", "dns", "ssl", "irc", "weird", "tunnel", "ftp", "ssh", "x509", "files",
];

/// The columns of the log called `path` (`"conn"`, `"http"`, ...), or
/// `None` for a log this crate does not write.
pub fn fields_for(path: &str) -> Option<&'static [(&'static str, &'static str)]> {
    Some(match path {
        "conn" => CONN_FIELDS,
        "http" => HTTP_FIELDS,
        "smtp" => SMTP_FIELDS,
        "dns" => DNS_FIELDS,
        "ssl" => SSL_FIELDS,
        "irc" => IRC_FIELDS,
        "weird" => WEIRD_FIELDS,
        "tunnel" => TUNNEL_FIELDS,
        "files" => FILES_FIELDS,
        "ftp" => FTP_FIELDS,
        "ssh" => SSH_FIELDS,
        "x509" => X509_FIELDS,
        _ => return None,
    })
}
