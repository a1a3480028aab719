//! WebSocket (RFC 6455) after an HTTP `101 Switching Protocols`: frames
//! are read (client frames unmasked), the payload of data frames becomes
//! a byte stream per direction, and that stream is probed and analyzed
//! like a TCP connection of its own — `http,websocket,ssh` for SSH
//! tunnelled through wstunnel, as Zeek names it.
//!
//! The service is confirmed on the first well-formed frame (Zeek confirms
//! on the first message). A frame header that breaks the format stops the
//! analyzer (a violation). Frame payload lengths are 64-bit on the wire;
//! only counters depend on them. The inner probe window is capped like
//! the engine's ([`PROBE_BYTES`]). Never panics.

use crate::{Analyzer, Ctx, Dir, Probe, ProbeInput, ProtoConfig, Service, Status};

/// Bytes of tunnelled payload held per connection while its protocol is
/// undecided.
pub const PROBE_BYTES: usize = 4096;

#[derive(Default)]
struct Side {
    /// Frame header bytes collected (at most 14).
    head: Vec<u8>,
    /// Payload bytes left in the current frame.
    left: u64,
    mask: Option<[u8; 4]>,
    /// Position in the mask of the next payload byte.
    mask_at: usize,
    /// The current frame carries data (text, binary or continuation).
    data: bool,
    /// Payload bytes of this side, unmasked, not yet handed on.
    out: Vec<u8>,
}

enum Inner {
    Probing {
        held: [Vec<u8>; 2],
        candidates: u64,
        ports: (u16, u16),
    },
    Active(Box<dyn Analyzer>, &'static str),
    Off,
}

/// Follows the frames of one upgraded connection.
pub struct WebSocketAnalyzer {
    config: ProtoConfig,
    sides: [Side; 2],
    frames: u64,
    broken: bool,
    inner: Inner,
    found: Vec<&'static str>,
}

impl WebSocketAnalyzer {
    pub fn new(config: &ProtoConfig, orig_p: u16, resp_p: u16) -> Self {
        WebSocketAnalyzer {
            config: config.clone(),
            sides: Default::default(),
            frames: 0,
            broken: false,
            inner: Inner::Probing {
                held: Default::default(),
                candidates: (1u64 << Service::TCP_ALL.len()) - 1,
                ports: (orig_p, resp_p),
            },
            found: Vec::new(),
        }
    }

    /// Parse frames from `data`; payload goes to `sides[i].out`.
    fn frames(&mut self, dir: Dir, mut data: &[u8]) -> bool {
        let i = usize::from(dir == Dir::Resp);
        while !data.is_empty() {
            let s = &mut self.sides[i];
            if s.left > 0 {
                let n = usize::try_from(s.left)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                if s.data {
                    let start = s.out.len();
                    s.out.extend_from_slice(&data[..n]);
                    if let Some(m) = s.mask {
                        for b in &mut s.out[start..] {
                            *b ^= m[s.mask_at % 4];
                            s.mask_at += 1;
                        }
                    }
                }
                s.left -= n as u64;
                data = &data[n..];
                continue;
            }
            // Collect a header: 2 bytes, then extended length and mask.
            s.head.push(data[0]);
            data = &data[1..];
            if s.head.len() < 2 {
                continue;
            }
            let (b0, b1) = (s.head[0], s.head[1]);
            let opcode = b0 & 0x0f;
            if b0 & 0x70 != 0 && self.frames == 0 || !matches!(opcode, 0..=2 | 8..=10) {
                // Reserved bits (no extension negotiated on a first
                // frame) or a reserved opcode: not WebSocket.
                return false;
            }
            let masked = b1 & 0x80 != 0;
            let ext = match b1 & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let need = 2 + ext + if masked { 4 } else { 0 };
            if s.head.len() < need {
                continue;
            }
            let len = match ext {
                2 => u64::from(u16::from_be_bytes([s.head[2], s.head[3]])),
                8 => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&s.head[2..10]);
                    u64::from_be_bytes(a)
                }
                _ => u64::from(b1 & 0x7f),
            };
            s.mask = masked.then(|| {
                let k = &s.head[2 + ext..6 + ext];
                [k[0], k[1], k[2], k[3]]
            });
            s.mask_at = 0;
            s.data = opcode <= 2;
            s.left = len;
            s.head.clear();
            self.frames += 1;
        }
        true
    }

    /// Hand the unmasked payload to the tunnelled protocol.
    fn inner(&mut self, ctx: &mut Ctx<'_>, dir: Dir) {
        let i = usize::from(dir == Dir::Resp);
        let payload = std::mem::take(&mut self.sides[i].out);
        if payload.is_empty() {
            return;
        }
        match &mut self.inner {
            Inner::Off => {}
            Inner::Active(an, _) => {
                if an.data(ctx, dir, &payload) != Status::Continue {
                    self.inner = Inner::Off;
                }
            }
            Inner::Probing {
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
                for (k, svc) in Service::TCP_ALL.iter().enumerate() {
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
                    // Replay what each side sent, orig first: a
                    // tunnelled protocol's opening is one side's line.
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
                    self.inner = Inner::Active(an, svc.name());
                } else if *candidates == 0 || held[0].len() + held[1].len() >= PROBE_BYTES {
                    self.inner = Inner::Off;
                }
            }
        }
        if let Inner::Active(an, name) = &self.inner {
            if an.confirmed() && !self.found.contains(name) {
                self.found.push(name);
            }
        }
    }
}

impl Analyzer for WebSocketAnalyzer {
    fn service(&self) -> &'static str {
        "websocket"
    }

    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, data: &[u8]) -> Status {
        if self.broken {
            return Status::Done;
        }
        if !self.frames(dir, data) {
            self.broken = true;
            ctx.weird("websocket_bad_frame", None);
            return Status::Violation;
        }
        self.inner(ctx, dir);
        Status::Continue
    }

    fn gap(&mut self, ctx: &mut Ctx<'_>, dir: Dir, len: u64) -> Status {
        // Framing is lost after a gap; the tunnelled analyzer hears of it.
        if let Inner::Active(an, _) = &mut self.inner {
            let _ = an.gap(ctx, dir, len);
        }
        Status::Done
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        if let Inner::Active(an, _) = &mut self.inner {
            an.finish(ctx);
        }
    }

    fn confirmed(&self) -> bool {
        self.frames > 0
    }

    fn tunnelled(&self) -> &[&'static str] {
        &self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botscope_event::{ConnId, Event, Transport, Ts, Uid};

    #[test]
    fn masked_frames_carry_ssh_through() {
        let cfg = ProtoConfig::default();
        let mut an = WebSocketAnalyzer::new(&cfg, 40000, 80);
        let mut sink: Vec<Event> = Vec::new();
        let mut exp = Vec::new();
        let mut ctx = Ctx {
            ts: Ts(1),
            uid: Uid(1),
            id: ConnId {
                orig_h: "10.0.0.1".parse().unwrap(),
                orig_p: 40000,
                resp_h: "10.0.0.2".parse().unwrap(),
                resp_p: 80,
                proto: Transport::Tcp,
            },
            config: &cfg,
            sink: &mut sink,
            expectations: &mut exp,
        };
        let hello = b"SSH-2.0-OpenSSH_9.6\r\n";
        let key = [1u8, 2, 3, 4];
        let mut frame = vec![0x82, 0x80 | hello.len() as u8];
        frame.extend_from_slice(&key);
        frame.extend(hello.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        assert_eq!(an.data(&mut ctx, Dir::Orig, &frame[..5]), Status::Continue);
        assert_eq!(an.data(&mut ctx, Dir::Orig, &frame[5..]), Status::Continue);
        assert!(an.confirmed());
        let server = b"SSH-2.0-OpenSSH_8.2\r\n";
        let mut frame = vec![0x82, server.len() as u8];
        frame.extend_from_slice(server);
        an.data(&mut ctx, Dir::Resp, &frame);
        assert_eq!(an.tunnelled(), &["ssh"]);
        assert_eq!(an.data(&mut ctx, Dir::Orig, b"\x83\x00"), Status::Violation);
    }
}
