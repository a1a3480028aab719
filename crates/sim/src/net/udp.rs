//! One UDP exchange (a request and an optional reply) as a lazy stream
//! of packets. The request leaves at `ts_us`; the reply arrives the
//! planned delay after the request's last fragment (the delay is the
//! whole response time seen at the host, so the plan knows when the
//! answer is there). Datagrams
//! larger than one Ethernet frame are sent as IPv4 fragments (payloads
//! beyond 65,507 bytes are cut: IPv4 cannot carry them).

use super::rng::hash3;
use super::wire::{self, At, Ip, UdpDatagram};
use super::{HostFacts, Out, ServerFacts};
use crate::plan::UdpExchange;

#[derive(Clone, Copy, Debug)]
pub(crate) struct UdpSetup {
    pub host: HostFacts,
    pub server: ServerFacts,
    pub client_port: u16,
    pub server_port: u16,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Fragment `n` of the request.
    Request(usize),
    /// Fragment `n` of the reply.
    Reply(usize),
    Done,
}

pub(crate) struct UdpGen<'a> {
    ex: &'a UdpExchange,
    s: UdpSetup,
    step: Step,
    ts: i64,
    last_ts: i64,
    /// IP id and UDP header of the datagram being written (fixed across
    /// its fragments).
    ip_id: u16,
    header: [u8; 8],
}

fn us(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl<'a> UdpGen<'a> {
    pub(crate) fn new(ex: &'a UdpExchange, s: UdpSetup) -> UdpGen<'a> {
        UdpGen {
            ex,
            s,
            step: Step::Request(0),
            ts: ex.ts_us,
            last_ts: ex.ts_us,
            ip_id: 0,
            header: [0; 8],
        }
    }

    pub(crate) fn peek(&self) -> Option<i64> {
        (self.step != Step::Done).then_some(self.ts)
    }

    fn request(&self) -> (Ip, UdpDatagram<'a>) {
        let ip = Ip {
            src: self.s.host.ip,
            dst: self.s.server.ip,
            id: self.ip_id,
            ttl: 128,
            dont_fragment: false,
        };
        let d = UdpDatagram {
            src_port: self.s.client_port,
            dst_port: self.s.server_port,
            payload: &self.ex.request,
        };
        (ip, d)
    }

    fn reply(&self) -> (Ip, UdpDatagram<'a>) {
        let ip = Ip {
            src: self.s.server.ip,
            dst: self.s.host.ip,
            id: self.ip_id,
            ttl: self.s.server.ttl,
            dont_fragment: false,
        };
        let payload = self.ex.reply.as_ref().map_or(&[][..], |r| &r.1[..]);
        let d = UdpDatagram {
            src_port: self.s.server_port,
            dst_port: self.s.client_port,
            payload,
        };
        (ip, d)
    }

    /// Time of the last packet written (valid once one was).
    pub(crate) fn last_ts(&self) -> i64 {
        self.last_ts
    }

    pub(crate) fn emit(&mut self, out: &mut Out<'_>) {
        let ts = self.ts;
        self.last_ts = ts;
        match self.step {
            Step::Request(n) => {
                if n == 0 {
                    self.ip_id = out.next_host_ip_id();
                    let (ip, d) = self.request();
                    self.header = d.header(&ip);
                }
                let (ip, d) = self.request();
                let at = At {
                    ts_us: ts,
                    from_host: true,
                };
                wire::write_udp_fragment(out.buf, at, &out.link, &ip, &d, &self.header, n);
                if n + 1 < d.fragments() {
                    self.step = Step::Request(n + 1);
                    self.ts = ts.saturating_add(self.s.host.gap_us);
                } else if let Some((delay, _)) = &self.ex.reply {
                    self.step = Step::Reply(0);
                    self.ts = ts.saturating_add(us(*delay));
                } else {
                    self.step = Step::Done;
                }
            }
            Step::Reply(n) => {
                if n == 0 {
                    self.ip_id = (hash3(self.s.seed, 7, 0) >> 48) as u16;
                    let (ip, d) = self.reply();
                    self.header = d.header(&ip);
                }
                let (ip, d) = self.reply();
                let at = At {
                    ts_us: ts,
                    from_host: false,
                };
                wire::write_udp_fragment(out.buf, at, &out.link, &ip, &d, &self.header, n);
                if n + 1 < d.fragments() {
                    self.step = Step::Reply(n + 1);
                    self.ts = ts.saturating_add(self.s.server.gap_us);
                } else {
                    self.step = Step::Done;
                }
            }
            Step::Done => {}
        }
    }
}
