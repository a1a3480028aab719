//! Tunnels between the packet decoder and the connection table.
//!
//! [`walk`] unwraps a decoded packet layer by layer with
//! [`botscope_wire::decapsulate`] (at most `max_depth` layers, Zeek's
//! `Tunnel::max_depth`); [`Tunnels::feed`] gives each layer to the flow
//! table as Zeek does:
//!
//! * a tunnel carried by UDP (VXLAN, Geneve, GTPv1, Teredo, AYIYA) keeps
//!   its outer datagram as a connection of its own, logged with the
//!   tunnel's service; that connection's uid is the tunnel's uid;
//! * an IP or GRE tunnel is not a connection: its uid is derived from the
//!   unordered pair of outer addresses (and the input's seed), so every
//!   shard computes the same one;
//! * the innermost packet is a connection whose `tunnel_parents` holds
//!   the uid of the tunnel that carried it;
//! * the first packet of each tunnel writes a `tunnel.log` row
//!   (`Tunnel::DISCOVER`).
//!
//! The front ([`crate::Front`]) walks every packet once to count what could
//! not be unwrapped; shard 0 walks again (the walk is stateless and
//! cheap) rather than carrying the layers over. Every packet
//! that carries (or claims to carry) a tunnel is handled by shard 0, so a
//! tunnel and what it carries meet in one connection table even when an
//! inner connection moves between tunnels (Teredo relays). A UDP tunnel
//! connection whose other packets carry nothing (GTP echo) may then be
//! split between shard 0 and its hash shard.

use std::collections::HashSet;
use std::net::IpAddr;

use botscope_event::{ConnId, Event, EventSink, Transport, Ts, Tunnel, Uid};
use botscope_flow::FlowTable;
use botscope_wire::{decapsulate, DecodeError, Packet, TunnelType, L4};

use crate::{view, AppHandler};

/// Tunnels inside tunnels unwrapped before a packet is dropped (Zeek's
/// `Tunnel::max_depth` default).
pub const DEFAULT_MAX_TUNNEL_DEPTH: usize = 2;

/// IP/GRE tunnels remembered (to log `DISCOVER` once) per connection
/// table; beyond, a new tunnel is still unwrapped but not logged again
/// (counted in [`Tunnels::over_cap`]).
pub const DEFAULT_MAX_IP_TUNNELS: usize = 65_536;

/// Why unwrapping stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The innermost packet is not a tunnel.
    Plain,
    /// The innermost packet looked like a tunnel of a known kind but its
    /// encapsulation header is bad: it is processed as an ordinary packet.
    BadEncap(DecodeError),
    /// The last layer's inner frame could not be decoded (non-IP frame,
    /// truncated header, ...).
    Inner(DecodeError),
    /// The last layer's inner packet is an IP fragment (inner fragments
    /// are not reassembled).
    InnerFragment,
    /// More than `max_depth` layers.
    TooDeep,
}

/// A packet unwrapped: the tunnel layers (each with its outer packet) and
/// the innermost packet when there is one to process.
pub(crate) struct Walk<'a> {
    pub layers: Vec<(TunnelType, Packet<'a>)>,
    pub inner: Option<Packet<'a>>,
    pub end: End,
}

/// Unwrap `pkt` (at most `max_depth` layers).
pub(crate) fn walk<'a>(pkt: &Packet<'a>, max_depth: usize) -> Walk<'a> {
    let mut layers = Vec::new();
    let mut cur = *pkt;
    loop {
        let inner = match decapsulate(&cur) {
            Ok(Some(i)) => i,
            Ok(None) => {
                return Walk {
                    layers,
                    inner: Some(cur),
                    end: End::Plain,
                }
            }
            Err(e) => {
                return Walk {
                    layers,
                    inner: Some(cur),
                    end: End::BadEncap(e),
                }
            }
        };
        if layers.len() >= max_depth {
            return Walk {
                layers,
                inner: None,
                end: End::TooDeep,
            };
        }
        layers.push((inner.tunnel, cur));
        match inner.decode() {
            Ok(next) if next.fragment.is_none() => cur = next,
            Ok(_) => {
                return Walk {
                    layers,
                    inner: None,
                    end: End::InnerFragment,
                }
            }
            Err(e) => {
                return Walk {
                    layers,
                    inner: None,
                    end: End::Inner(e),
                }
            }
        }
    }
}

/// Tunnel state of one connection table.
pub(crate) struct Tunnels {
    seed: u64,
    max_depth: usize,
    max_ip: usize,
    seen: HashSet<(IpAddr, IpAddr, TunnelType)>,
    /// IP/GRE tunnels not remembered because the set was full.
    pub over_cap: u64,
}

impl Tunnels {
    pub(crate) fn new(seed: u64, max_depth: usize, max_ip: usize) -> Tunnels {
        Tunnels {
            seed,
            max_depth,
            max_ip,
            seen: HashSet::new(),
            over_cap: 0,
        }
    }

    /// uid of the IP/GRE tunnel between `a` and `b` (either direction).
    fn ip_uid(&self, a: IpAddr, b: IpAddr, t: TunnelType) -> Uid {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        // FNV-1a over the seed, the ordered pair and the type: stable.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.seed;
        let mut eat = |bytes: &[u8]| {
            for x in bytes {
                h ^= u64::from(*x);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for ip in [lo, hi] {
            match ip {
                IpAddr::V4(v) => eat(&v.octets()),
                IpAddr::V6(v) => eat(&v.octets()),
            }
        }
        eat(t.zeek_name().as_bytes());
        Uid(h)
    }

    /// uid of an IP/GRE tunnel; its first packet writes `DISCOVER`.
    fn ip_tunnel<S: EventSink>(
        &mut self,
        table: &mut FlowTable<AppHandler<S>>,
        ts: Ts,
        outer: &Packet<'_>,
        tunnel: TunnelType,
    ) -> Uid {
        let uid = self.ip_uid(outer.src, outer.dst, tunnel);
        let key = if outer.src <= outer.dst {
            (outer.src, outer.dst, tunnel)
        } else {
            (outer.dst, outer.src, tunnel)
        };
        if !self.seen.contains(&key) {
            if self.seen.len() < self.max_ip {
                self.seen.insert(key);
                let id = ConnId {
                    orig_h: outer.src,
                    orig_p: 0,
                    resp_h: outer.dst,
                    resp_p: 0,
                    proto: Transport::Other(outer.proto),
                };
                discover(table, ts, uid, id, tunnel);
            } else {
                self.over_cap += 1;
            }
        }
        uid
    }

    /// Give `pkt` and the layers it carries to `table`. `encap`: whether
    /// its outer layer decapsulates to anything but plain, as the reader
    /// found it (it looks once per packet).
    pub(crate) fn feed<S: EventSink>(
        &mut self,
        table: &mut FlowTable<AppHandler<S>>,
        ts: Ts,
        pkt: &Packet<'_>,
        encap: bool,
    ) {
        // Most packets are no tunnel: no walk, no copy of the packet.
        if !encap {
            if let Some(v) = view(ts, pkt) {
                table.process(&v);
            }
            return;
        }
        let w = walk(pkt, self.max_depth);
        let mut parent: Option<Uid> = None;
        for (tunnel, outer) in &w.layers {
            let uid = match tunnel.service() {
                // GRE in UDP (RFC 8086): Zeek keeps the UDP datagrams as an
                // ordinary connection and names the GRE tunnel by its
                // address pair.
                None if matches!(outer.l4, L4::Udp { .. }) => {
                    if let Some(v) = view(ts, outer) {
                        match parent {
                            Some(p) => table.process_tunneled(&v, p),
                            None => table.process(&v),
                        }
                    }
                    self.ip_tunnel(table, ts, outer, *tunnel)
                }
                Some(service) => {
                    let Some(v) = view(ts, outer) else { return };
                    let Some(o) = table.process_tunnel_outer(
                        &v,
                        service,
                        tunnel.confirmed_both_ways(),
                        parent,
                    ) else {
                        return;
                    };
                    if o.discovered {
                        discover(table, ts, o.uid, o.id, *tunnel);
                    }
                    o.uid
                }
                None => self.ip_tunnel(table, ts, outer, *tunnel),
            };
            parent = Some(uid);
        }
        let Some(inner) = w.inner else { return };
        let Some(v) = view(ts, &inner) else { return };
        match parent {
            Some(p) => table.process_tunneled(&v, p),
            None => table.process(&v),
        }
    }
}

fn discover<S: EventSink>(
    table: &mut FlowTable<AppHandler<S>>,
    ts: Ts,
    uid: Uid,
    id: ConnId,
    tunnel: TunnelType,
) {
    table.handler_mut().sink.emit(Event::Tunnel(Tunnel {
        ts,
        uid,
        id,
        tunnel_type: tunnel.zeek_name(),
        action: "Tunnel::DISCOVER",
    }));
}
