//! X.509 certificates seen in TLS handshakes: one [`X509`] event per
//! certificate, in Zeek's `x509.log` terms.
//!
//! DER is parsed by `x509-parser` (rusticata); the renderings follow what
//! Zeek gets from OpenSSL, so rows compare with Zeek's logs:
//! - names with `X509_NAME_print_ex(.., XN_FLAG_RFC2253)`: RDNs last to
//!   first, `,` between RDNs and `+` inside one, OpenSSL short names (`CN`,
//!   `O`, `emailAddress`, ...), RFC 2253 escapes, bytes >= 0x80 and
//!   control bytes as `\XX`, unknown attribute types as `OID=#hex`;
//! - the serial as upper-case hex of the magnitude (`i2a_ASN1_INTEGER`);
//! - algorithms by OpenSSL's long name (`rsaEncryption`,
//!   `sha256WithRSAEncryption`, `id-ecPublicKey`), curves by short name
//!   (`prime256v1`), the dotted OID otherwise;
//! - `fingerprint` is SHA-256 of the DER bytes (Zeek 6+).
//!
//! Self-signed means subject equals issuer and the signature verifies
//! with the certificate's own key (`ring`, through x509-parser's `verify`
//! feature); when the algorithm is one ring cannot verify, equal names
//! alone decide.
//!
//! **No panics on any input**: x509-parser rejects malformed DER with an
//! error; [`parse`] returns `None` for it and the caller counts a weird.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Mutex;

use botscope_event::{Ts, X509};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::oid::Oid;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

/// SHA-256 of `der`, lower-case hex (Zeek's `fingerprint`).
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Parse one DER certificate into an `x509.log` row (without `meta`,
/// `host_cert`, `client_cert`, which the caller knows). `None` when the
/// bytes are not a certificate.
pub fn parse(der: &[u8]) -> Option<X509> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let digest: [u8; 32] = Sha256::digest(der).into();
    let mut row = X509 {
        fingerprint: hex::encode(digest),
        version: tbs.version.0.saturating_add(1),
        serial: serial_hex(tbs.raw_serial()),
        subject: dn(tbs.subject()),
        issuer: dn(tbs.issuer()),
        not_valid_before: Some(Ts(tbs
            .validity
            .not_before
            .timestamp()
            .saturating_mul(1_000_000))),
        not_valid_after: Some(Ts(tbs
            .validity
            .not_after
            .timestamp()
            .saturating_mul(1_000_000))),
        key_alg: alg_name(&tbs.subject_pki.algorithm.algorithm),
        sig_alg: alg_name(&cert.signature_algorithm.algorithm),
        ..X509::default()
    };
    key_facts(&cert, &mut row);
    for ext in tbs.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for g in &san.general_names {
                    match g {
                        GeneralName::DNSName(s) => row.san_dns.push((*s).to_string()),
                        GeneralName::URI(s) => row.san_uri.push((*s).to_string()),
                        GeneralName::RFC822Name(s) => row.san_email.push((*s).to_string()),
                        GeneralName::IPAddress(b) => {
                            if let Some(ip) = ip_from(b) {
                                row.san_ip.push(ip);
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::BasicConstraints(bc) => {
                row.basic_constraints_ca = Some(bc.ca);
                row.basic_constraints_path_len = bc.path_len_constraint;
            }
            _ => {}
        }
    }
    if tbs.subject().as_raw() == tbs.issuer().as_raw() || row.subject == row.issuer {
        row.self_signature_ok = remembered(digest, || match cert.verify_signature(None) {
            Ok(()) => Some(true),
            Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => None,
            Err(_) => Some(false),
        });
        row.self_signed = row.self_signature_ok != Some(false);
    }
    Some(row)
}

/// Self-signature verdicts kept, by the certificate's SHA-256: a server
/// sends the same certificate on every connection, and verifying its
/// signature (RSA through `ring`) is the costliest step of reading it.
/// Emptied when full; shared by all threads (one lookup per certificate).
static VERDICTS: Mutex<Option<HashMap<[u8; 32], Option<bool>>>> = Mutex::new(None);
/// Most verdicts kept.
const MAX_VERDICTS: usize = 4096;

/// `verify()`'s verdict for the certificate whose SHA-256 is `digest`,
/// computed once while it stays in [`VERDICTS`].
fn remembered(digest: [u8; 32], verify: impl FnOnce() -> Option<bool>) -> Option<bool> {
    let known = VERDICTS
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(&digest).copied()));
    if let Some(v) = known {
        return v;
    }
    let v = verify();
    if let Ok(mut m) = VERDICTS.lock() {
        let m = m.get_or_insert_with(HashMap::new);
        if m.len() >= MAX_VERDICTS {
            m.clear();
        }
        m.insert(digest, v);
    }
    v
}

/// Does `host` match the certificate's names (SAN DNS names, or the
/// subject CN when there are none)? `*.` wildcards match one label.
pub fn hostname_matches(cert: &X509, host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if !cert.san_dns.is_empty() {
        return cert.san_dns.iter().any(|n| name_matches(n, host));
    }
    cert_cn(&cert.subject).is_some_and(|cn| name_matches(cn, host))
}

/// The first `CN=` value of an RFC 2253 name (escapes left as they are).
fn cert_cn(dn: &str) -> Option<&str> {
    dn.split(',').find_map(|p| p.strip_prefix("CN="))
}

fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    if let Some(suffix) = pattern.strip_prefix("*.") {
        return match host.split_once('.') {
            Some((label, rest)) => !label.is_empty() && rest.eq_ignore_ascii_case(suffix),
            None => false,
        };
    }
    pattern.eq_ignore_ascii_case(host)
}

fn ip_from(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// `i2a_ASN1_INTEGER`: upper-case hex of the magnitude, at least `00`.
fn serial_hex(raw: &[u8]) -> String {
    let neg = raw.first().is_some_and(|b| b & 0x80 != 0);
    let mag: Vec<u8> = if neg {
        // Two's complement magnitude.
        let mut v: Vec<u8> = raw.iter().map(|b| !b).collect();
        for b in v.iter_mut().rev() {
            let (n, carry) = b.overflowing_add(1);
            *b = n;
            if !carry {
                break;
            }
        }
        v
    } else {
        raw.to_vec()
    };
    let start = mag.iter().position(|&b| b != 0).unwrap_or(mag.len());
    let mut s = String::with_capacity(2 * mag.len() + 1);
    if neg {
        s.push('-');
    }
    if start == mag.len() {
        s.push_str("00");
    }
    for b in &mag[start..] {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Key type, length, exponent and curve, as Zeek fills them.
fn key_facts(cert: &X509Certificate<'_>, row: &mut X509) {
    let spki = &cert.tbs_certificate.subject_pki;
    let alg = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            row.key_type = Some("rsa".into());
            row.key_length = Some(bit_len(rsa.modulus));
            row.exponent = Some(decimal(rsa.exponent));
        }
        Ok(PublicKey::DSA(_)) => {
            row.key_type = Some("dsa".into());
            // DSA strength is the size of p, first INTEGER of Dss-Parms.
            row.key_length = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| first_integer_bits(p.data));
        }
        Ok(PublicKey::EC(_)) if alg == "1.2.840.10045.2.1" => {
            row.key_type = Some("ecdsa".into());
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            if let Some(c) = curve {
                row.key_length = curve_bits(&c);
                row.curve = Some(curve_name(&c));
            }
        }
        _ => {
            // Other key types (EdDSA, ML-DSA, ...): named like the
            // algorithm, sized like OpenSSL's EVP_PKEY_bits.
            row.key_type = Some(row.key_alg.clone());
            row.key_length = Some(match alg.as_str() {
                "1.3.101.110" | "1.3.101.112" => 253,
                "1.3.101.111" => 448,
                "1.3.101.113" => 456,
                _ => spki.subject_public_key.data.len() as u64 * 8,
            });
        }
    }
}

/// Bits of a big-endian unsigned integer (leading zeros ignored).
fn bit_len(b: &[u8]) -> u64 {
    let Some(i) = b.iter().position(|&x| x != 0) else {
        return 0;
    };
    let rest = (b.len() - i - 1) as u64 * 8;
    rest + u64::from(8 - b[i].leading_zeros())
}

/// Bits of the first DER INTEGER inside a SEQUENCE's content.
fn first_integer_bits(seq_content: &[u8]) -> Option<u64> {
    let (&tag, rest) = seq_content.split_first()?;
    if tag != 0x02 {
        return None;
    }
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 & 0x80 == 0 {
        (usize::from(l0), rest)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 3 {
            return None;
        }
        let lb = rest.get(..n)?;
        let len = lb.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, rest.get(n..)?)
    };
    Some(bit_len(rest.get(..len)?))
}

/// OpenSSL's `BN_bn2dec` for the exponent (hex beyond 128 bits).
fn decimal(b: &[u8]) -> String {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    let mag = &b[start..];
    if mag.len() <= 16 {
        mag.iter()
            .fold(0u128, |a, &x| (a << 8) | u128::from(x))
            .to_string()
    } else {
        format!("0x{}", hex::encode_upper(mag))
    }
}

/// OpenSSL's long name of a key or signature algorithm.
fn alg_name(oid: &Oid<'_>) -> String {
    let id = oid.to_id_string();
    let s = match id.as_str() {
        "1.2.840.113549.1.1.1" => "rsaEncryption",
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.3.14.3.2.29" => "sha1WithRSA",
        "1.2.840.10040.4.1" => "dsaEncryption",
        "1.2.840.10040.4.3" => "dsaWithSHA1",
        "2.16.840.1.101.3.4.3.1" => "dsa_with_SHA224",
        "2.16.840.1.101.3.4.3.2" => "dsa_with_SHA256",
        "1.2.840.10045.2.1" => "id-ecPublicKey",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        "1.2.643.2.2.19" => "GOST R 34.10-2001",
        "1.2.643.7.1.1.1.1" => "GOST R 34.10-2012 with 256 bit modulus",
        "2.16.840.1.101.3.4.3.17" => "ML-DSA-44",
        "2.16.840.1.101.3.4.3.18" => "ML-DSA-65",
        "2.16.840.1.101.3.4.3.19" => "ML-DSA-87",
        _ => return id,
    };
    s.to_string()
}

/// OpenSSL's short name of a named curve.
fn curve_name(oid: &str) -> String {
    let s = match oid {
        "1.2.840.10045.3.1.1" => "prime192v1",
        "1.2.840.10045.3.1.7" => "prime256v1",
        "1.3.132.0.33" => "secp224r1",
        "1.3.132.0.34" => "secp384r1",
        "1.3.132.0.35" => "secp521r1",
        "1.3.132.0.10" => "secp256k1",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1",
        "1.3.36.3.3.2.8.1.1.13" => "brainpoolP512r1",
        _ => return oid.to_string(),
    };
    s.to_string()
}

/// Order bits of a named curve (OpenSSL's `EVP_PKEY_bits` for EC keys).
fn curve_bits(oid: &str) -> Option<u64> {
    Some(match oid {
        "1.2.840.10045.3.1.1" => 192,
        "1.3.132.0.33" => 224,
        "1.2.840.10045.3.1.7" | "1.3.132.0.10" | "1.3.36.3.3.2.8.1.1.7" => 256,
        "1.3.132.0.34" | "1.3.36.3.3.2.8.1.1.11" => 384,
        "1.3.36.3.3.2.8.1.1.13" => 512,
        "1.3.132.0.35" => 521,
        _ => return None,
    })
}

/// OpenSSL's short name of a name attribute type.
fn attr_short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.13" => "description",
        "2.5.4.15" => "businessCategory",
        "2.5.4.17" => "postalCode",
        "2.5.4.41" => "name",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "2.5.4.97" => "organizationIdentifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "1.2.840.113549.1.9.2" => "unstructuredName",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.3.6.1.4.1.311.60.2.1.1" => "jurisdictionL",
        "1.3.6.1.4.1.311.60.2.1.2" => "jurisdictionST",
        "1.3.6.1.4.1.311.60.2.1.3" => "jurisdictionC",
        _ => return None,
    })
}

/// `X509_NAME_print_ex(.., XN_FLAG_RFC2253)`.
fn dn(name: &X509Name<'_>) -> String {
    let rdns: Vec<_> = name.iter_rdn().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = atv.attr_type().to_id_string();
            let value = atv.attr_value();
            match attr_short_name(&oid) {
                Some(sn) => {
                    out.push_str(sn);
                    out.push('=');
                    escape_value(&mut out, &string_bytes(value.tag().0, value.data));
                }
                None => {
                    // DUMP_UNKNOWN_FIELDS: `OID=#` and the DER, hex.
                    out.push_str(&oid);
                    out.push_str("=#");
                    let len = value.data.len();
                    let _ = write!(out, "{:02X}", value.tag().0);
                    if len < 0x80 {
                        let _ = write!(out, "{len:02X}");
                    } else {
                        let lb = (len as u64).to_be_bytes();
                        let s = lb.iter().position(|&b| b != 0).unwrap_or(7);
                        let _ = write!(out, "{:02X}", 0x80 | (8 - s));
                        for b in &lb[s..] {
                            let _ = write!(out, "{b:02X}");
                        }
                    }
                    for b in value.data {
                        let _ = write!(out, "{b:02X}");
                    }
                }
            }
        }
    }
    out
}

/// The value's bytes as UTF-8 (`ASN1_STRFLGS_UTF8_CONVERT`): BMPString
/// and UniversalString are decoded, Latin-1 string types widened.
fn string_bytes(tag: u32, data: &[u8]) -> Vec<u8> {
    match tag {
        // BMPString: UTF-16BE.
        30 => {
            let units = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect::<String>()
                .into_bytes()
        }
        // UniversalString: UTF-32BE.
        28 => data
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect::<String>()
            .into_bytes(),
        // T61String, IA5String, VisibleString...: one byte per char.
        20 | 22 | 26 => data
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>()
            .into_bytes(),
        _ => data.to_vec(),
    }
}

/// RFC 2253 escapes plus `\XX` for control bytes and bytes >= 0x80.
fn escape_value(out: &mut String, v: &[u8]) {
    let last = v.len().saturating_sub(1);
    for (i, &b) in v.iter().enumerate() {
        let special = matches!(b, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';')
            || (i == 0 && (b == b'#' || b == b' '))
            || (i == last && b == b' ');
        if !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\{b:02X}");
        } else if special {
            out.push('\\');
            out.push(char::from(b));
        } else {
            out.push(char::from(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_rendering() {
        assert_eq!(serial_hex(&[0x00, 0x8f, 0x01]), "8F01");
        assert_eq!(serial_hex(&[0x0b, 0x67, 0x71]), "0B6771");
        assert_eq!(serial_hex(&[]), "00");
        assert_eq!(serial_hex(&[0xff]), "-01");
    }

    #[test]
    fn wildcards_match_one_label() {
        let c = X509 {
            san_dns: vec!["*.gstatic.com".into(), "gstatic.com".into()],
            ..X509::default()
        };
        assert!(hostname_matches(&c, "ssl.gstatic.com"));
        assert!(hostname_matches(&c, "GSTATIC.com"));
        assert!(!hostname_matches(&c, "a.b.gstatic.com"));
        assert!(!hostname_matches(&c, "gstatic.org"));
        let cn_only = X509 {
            subject: "CN=host.example,O=x".into(),
            ..X509::default()
        };
        assert!(hostname_matches(&cn_only, "host.example"));
    }

    #[test]
    fn escapes() {
        let mut s = String::new();
        escape_value(&mut s, " a,b\u{e9}".as_bytes());
        assert_eq!(s, "\\ a\\,b\\C3\\A9");
    }

    #[test]
    fn garbage_is_none() {
        assert!(parse(b"").is_none());
        assert!(parse(&[0x30, 0x82, 0xff, 0xff, 1, 2, 3]).is_none());
    }
}
