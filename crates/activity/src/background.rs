//! What an operating system does on its own (updates, telemetry,
//! CRL/OCSP, time, connectivity checks, local discovery): in a sandbox
//! run, the infected host's connections these explain are not the
//! malware's. The shipped list is `data/background.txt` (its header
//! documents the format); users add their own in the same format.

use botscope_event::Transport;

/// The shipped list of background services.
pub const BACKGROUND: &str = include_str!("../data/background.txt");

/// Entries kept from all lists, at most.
const MAX_ENTRIES: usize = 100_000;

/// A parsed list of background services.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Background {
    /// (name, category), names lowercase without a trailing dot.
    domains: Vec<(String, String)>,
    /// (TCP?, port, category).
    ports: Vec<(bool, u16, String)>,
    /// Lines not understood (with their number, 1-based, and list index).
    pub bad_lines: Vec<(usize, usize)>,
}

impl Background {
    /// Parse lists in the `data/background.txt` format.
    pub fn new(texts: &[String]) -> Background {
        let mut b = Background::default();
        for (k, text) in texts.iter().enumerate() {
            for (n, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let f: Vec<&str> = line.split_whitespace().collect();
                let ok = match f.as_slice() {
                    [cat, "domain", name] => {
                        let name = name.trim_end_matches('.').trim_start_matches("*.");
                        if b.domains.len() < MAX_ENTRIES && !name.is_empty() {
                            b.domains.push((name.to_ascii_lowercase(), cat.to_string()));
                        }
                        !name.is_empty()
                    }
                    [cat, "port", spec] => match spec.split_once('/') {
                        Some((p, n)) if matches!(p, "udp" | "tcp") => match n.parse::<u16>() {
                            Ok(port) => {
                                if b.ports.len() < MAX_ENTRIES {
                                    b.ports.push((p == "tcp", port, cat.to_string()));
                                }
                                true
                            }
                            Err(_) => false,
                        },
                        _ => false,
                    },
                    _ => false,
                };
                if !ok && b.bad_lines.len() < 1000 {
                    b.bad_lines.push((n + 1, k));
                }
            }
        }
        b
    }

    /// The category explaining a host name (HTTP Host, SNI, DNS query).
    pub fn name(&self, name: &str) -> Option<&str> {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        self.domains
            .iter()
            .find(|(d, _)| {
                n == *d
                    || (n.len() > d.len()
                        && n.ends_with(d.as_str())
                        && n.as_bytes()[n.len() - d.len() - 1] == b'.')
            })
            .map(|(_, c)| c.as_str())
    }

    /// The category explaining a destination port.
    pub fn port(&self, proto: Transport, port: u16) -> Option<&str> {
        let tcp = match proto {
            Transport::Tcp => true,
            Transport::Udp => false,
            _ => return None,
        };
        self.ports
            .iter()
            .find(|(t, p, _)| *t == tcp && *p == port)
            .map(|(_, _, c)| c.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_list_parses_and_explains() {
        let b = Background::new(&[BACKGROUND.to_string()]);
        assert!(b.bad_lines.is_empty(), "{:?}", b.bad_lines);
        assert_eq!(b.name("v10.events.data.microsoft.com"), Some("telemetry"));
        assert_eq!(b.name("www.msftconnecttest.com."), Some("connectivity"));
        assert_eq!(b.name("ocsp.digicert.com"), Some("crl-ocsp"));
        assert_eq!(b.name("notmicrosoft.com"), None);
        assert_eq!(b.name("evil-data.microsoft.com.example"), None);
        assert_eq!(b.port(Transport::Udp, 1900), Some("ssdp"));
        assert_eq!(b.port(Transport::Tcp, 1900), None);
        let user = Background::new(&["corp domain corp.example\nbad line here\n".to_string()]);
        assert_eq!(user.name("a.corp.example"), Some("corp"));
        assert_eq!(user.bad_lines, vec![(2, 0)]);
    }
}
