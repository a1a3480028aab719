//! A protocol carried inside another one's payload (WebSocket frames,
//! decrypted TLS records): the payload is a byte stream per direction,
//! probed and analyzed like a TCP connection of its own. Events go out
//! through the outer connection's context (same uid).
//!
//! The probe window is capped ([`PROBE_BYTES`]); an analyzer that stops
//! ends the nested analysis. Never panics.

use crate::{Analyzer, Ctx, Dir, Probe, ProbeInput, ProtoConfig, Service, Status, TcpService};

/// Bytes of nested payload held per connection while its protocol is
/// undecided.
pub const PROBE_BYTES: usize = 4096;

enum State {
    Probing {
        held: [Vec<u8>; 2],
        candidates: u64,
        ports: (u16, u16),
    },
    Active(Box<dyn Analyzer>, Service),
    Off,
}

/// The nested protocol of one connection.
pub(crate) struct Nested {
    config: Box<ProtoConfig>,
    state: State,
    found: Vec<Service>,
}

impl Nested {
    pub(crate) fn new(config: &ProtoConfig, orig_p: u16, resp_p: u16) -> Self {
        Nested {
            config: Box::new(config.clone()),
            state: State::Probing {
                held: Default::default(),
                candidates: (1u64 << TcpService::TCP_ALL.len()) - 1,
                ports: (orig_p, resp_p),
            },
            found: Vec::new(),
        }
    }

    /// In-order payload bytes from `dir`.
    pub(crate) fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, payload: &[u8]) {
        let i = usize::from(dir == Dir::Resp);
        match &mut self.state {
            State::Off => {}
            State::Active(an, _) => {
                if an.data(ctx, dir, payload) != Status::Continue {
                    self.state = State::Off;
                }
            }
            State::Probing {
                held,
                candidates,
                ports,
            } => {
                let room = PROBE_BYTES.saturating_sub(held[0].len() + held[1].len());
                held[i].extend_from_slice(&payload[..payload.len().min(room)]);
                let input = ProbeInput {
                    dir,
                    orig: &held[0],
                    resp: &held[1],
                    orig_p: ports.0,
                    resp_p: ports.1,
                };
                let mut chosen = None;
                for (k, svc) in TcpService::TCP_ALL.iter().enumerate() {
                    if *candidates & (1 << k) == 0 {
                        continue;
                    }
                    match svc.probe_tcp(&input) {
                        Probe::Certain => {
                            chosen = Some(*svc);
                            break;
                        }
                        Probe::Unsure => {}
                        Probe::NotForUs => *candidates &= !(1 << k),
                    }
                }
                if let Some(svc) = chosen {
                    let held = std::mem::take(held);
                    let mut an = svc.new_tcp_analyzer(&self.config);
                    // Replay what each side sent, orig first: a nested
                    // protocol's opening is one side's line.
                    for (k, bytes) in held.iter().enumerate() {
                        if !bytes.is_empty() {
                            let d = if k == 0 { Dir::Orig } else { Dir::Resp };
                            let _ = an.data(ctx, d, bytes);
                        }
                    }
                    // Bytes beyond the probe window.
                    if payload.len() > room {
                        let _ = an.data(ctx, dir, &payload[room..]);
                    }
                    self.state = State::Active(an, svc.name());
                } else if *candidates == 0 || held[0].len() + held[1].len() >= PROBE_BYTES {
                    self.state = State::Off;
                }
            }
        }
        if let State::Active(an, name) = &self.state {
            if an.confirmed() && !self.found.contains(name) {
                self.found.push(*name);
            }
        }
    }

    /// `len` bytes of `dir` are lost.
    pub(crate) fn gap(&mut self, ctx: &mut Ctx<'_>, dir: Dir, len: u64) {
        if let State::Active(an, _) = &mut self.state {
            if an.gap(ctx, dir, len) != Status::Continue {
                self.state = State::Off;
            }
        }
    }

    pub(crate) fn finish(&mut self, ctx: &mut Ctx<'_>) {
        if let State::Active(an, _) = &mut self.state {
            an.finish(ctx);
        }
        self.state = State::Off;
    }

    /// Services confirmed inside, in order.
    pub(crate) fn found(&self) -> &[Service] {
        &self.found
    }
}
