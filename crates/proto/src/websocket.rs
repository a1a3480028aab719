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

use crate::nested::Nested;
use crate::{Analyzer, Ctx, Dir, ProtoConfig, Status};

pub use crate::nested::PROBE_BYTES;

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

/// Follows the frames of one upgraded connection.
pub struct WebSocketAnalyzer {
    sides: [Side; 2],
    frames: u64,
    broken: bool,
    inner: Nested,
}

impl WebSocketAnalyzer {
    pub fn new(config: &ProtoConfig, orig_p: u16, resp_p: u16) -> Self {
        WebSocketAnalyzer {
            sides: Default::default(),
            frames: 0,
            broken: false,
            inner: Nested::new(config, orig_p, resp_p),
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
        if !payload.is_empty() {
            self.inner.data(ctx, dir, &payload);
        }
    }
}

impl Analyzer for WebSocketAnalyzer {
    fn service(&self) -> botscope_event::Service {
        botscope_event::Service::WEBSOCKET
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
        self.inner.gap(ctx, dir, len);
        Status::Done
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.inner.finish(ctx);
    }

    fn confirmed(&self) -> bool {
        self.frames > 0
    }

    fn tunnelled(&self) -> &[botscope_event::Service] {
        self.inner.found()
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
        assert_eq!(an.tunnelled(), &[botscope_event::Service::SSH]);
        assert_eq!(an.data(&mut ctx, Dir::Orig, b"\x83\x00"), Status::Violation);
    }
}
