//! One capture split across threads by flow hash.
//!
//! The calling thread reads and decodes (the "front") and runs shard 0
//! itself; a packet for another shard (picked by the symmetric host-pair
//! hash) goes into a batch for that shard's thread, which runs its own
//! connection table and analyzers: its decoded fields, with its transport
//! payload copied (the frame is not decoded a second time). Both
//! directions of a connection hash alike, so a connection never spans
//! shards. Batches are recycled, so steady-state work allocates nothing.

use std::collections::BTreeMap;

use botscope_event::{EventSink, Ts};
use botscope_flow::{FlowStats, FlowTable};
use botscope_wire::{LinkType, Packet};

use crate::tunnel::Tunnels;
use crate::{flow_hash, AppHandler, EngineConfig};

/// Packets per batch before it is handed to its shard.
const BATCH_PACKETS: usize = 1024;
/// Bytes per batch before it is handed to its shard.
const BATCH_BYTES: usize = 512 * 1024;
/// Full batches queued per shard (back-pressure on the reader).
const QUEUE: usize = 8;

struct Batch {
    /// (capture time, the capture's latest time so far, what of the packet
    /// is in `bytes`, start, length) of each packet.
    meta: Vec<(Ts, Ts, Held, usize, usize)>,
    bytes: Vec<u8>,
}

/// A packet in a batch: decoded, its payload in the batch's bytes, or the
/// frame itself, decoded again by the shard, for a view that borrows more
/// than its payload (a fragment's: the front delivers reassembled
/// datagrams, so this is a fallback, not a path taken today).
enum Held {
    Decoded(Packet<'static>),
    Frame(LinkType),
}

impl Batch {
    fn new() -> Batch {
        Batch {
            meta: Vec::with_capacity(BATCH_PACKETS),
            bytes: Vec::with_capacity(BATCH_BYTES + 65_536),
        }
    }

    fn push(&mut self, ts: Ts, now: Ts, link: LinkType, data: &[u8], pkt: &Packet<'_>) {
        let start = self.bytes.len();
        let held = match pkt.with_payload(&[]) {
            Some(fields) => {
                self.bytes.extend_from_slice(pkt.payload());
                Held::Decoded(fields)
            }
            None => {
                self.bytes.extend_from_slice(data);
                Held::Frame(link)
            }
        };
        self.meta
            .push((ts, now, held, start, self.bytes.len() - start));
    }

    fn full(&self) -> bool {
        self.meta.len() >= BATCH_PACKETS || self.bytes.len() >= BATCH_BYTES
    }
}

/// The shard of a host pair's hash among `n`. The front thread reads and
/// decodes every packet before running shard 0, so shard 0 gets half the
/// share of the others (one unit of `2n - 1`). Measured on two cores
/// (bench/logs.sh capture, `-j 2`, 2026-12-06): with equal shares the
/// front ran 52% of the CPU time to the other shard's 33% and the run took
/// 0.75 s; with half a share 0.72 s; with a quarter 0.73 s (the writer
/// threads share the two cores: the run is bound by its total CPU time).
fn shard_of(hash: u64, n: usize) -> usize {
    let units = (2 * n).saturating_sub(1).max(1) as u64;
    (hash % units).div_ceil(2) as usize
}

/// Run `front` on this thread, feeding one worker thread per sink.
/// Returns the sinks (in shard order) and the summed flow statistics.
pub(crate) fn run<S, R>(
    cfg: &EngineConfig,
    seed: u64,
    sinks: Vec<S>,
    weirds: &mut BTreeMap<String, u64>,
    front: R,
) -> (Vec<S>, FlowStats)
where
    S: EventSink + Send,
    R: FnOnce(&mut dyn FnMut(Ts, LinkType, &[u8], &Packet<'_>, bool)),
{
    std::thread::scope(|sc| {
        let (free_tx, free_rx) = crossbeam_channel::unbounded::<Batch>();
        let mut txs = Vec::new();
        let mut handles = Vec::new();
        let linker = std::sync::Arc::new(std::sync::Mutex::new(crate::app::Linker::default()));
        let mut sinks = sinks.into_iter();
        let Some(first) = sinks.next() else {
            return (Vec::new(), FlowStats::default());
        };
        let mut first = AppHandler::with_linker(first, cfg.proto.clone(), linker.clone());
        first.app = cfg.app.clone();
        let mut inline = FlowTable::new(cfg.flow.clone(), first, seed);
        let mut inline_tunnels = Tunnels::new(seed, cfg.max_tunnel_depth, cfg.max_ip_tunnels);
        for sink in sinks {
            let linker = linker.clone();
            let (tx, rx) = crossbeam_channel::bounded::<Batch>(QUEUE);
            let free_tx = free_tx.clone();
            handles.push(sc.spawn(move || {
                let mut handler = AppHandler::with_linker(sink, cfg.proto.clone(), linker);
                handler.app = cfg.app.clone();
                let mut table = FlowTable::new(cfg.flow.clone(), handler, seed);
                let mut tunnels = Tunnels::new(seed, cfg.max_tunnel_depth, cfg.max_ip_tunnels);
                for mut b in rx {
                    for (ts, now, held, start, len) in &b.meta {
                        let Some(bytes) = b.bytes.get(*start..*start + *len) else {
                            continue;
                        };
                        // Timeouts run on the capture's clock, not this
                        // shard's share of it.
                        table.advance(*now);
                        let pkt = match held {
                            Held::Decoded(fields) => fields.with_payload(bytes),
                            // Decoded once already by the front: cannot fail.
                            Held::Frame(link) => botscope_wire::packet::decode(*link, bytes).ok(),
                        };
                        if let Some(pkt) = pkt {
                            tunnels.feed(&mut table, *ts, &pkt, false);
                        }
                    }
                    b.meta.clear();
                    b.bytes.clear();
                    let _ = free_tx.send(b);
                }
                let (handler, stats) = table.finish();
                let counts = handler.weird_counts().clone();
                (handler.into_sink(), stats, counts)
            }));
            txs.push(tx);
        }
        drop(free_tx);
        // Shard 0 runs here; shards 1.. are the threads behind `txs`.
        let n = txs.len() + 1;
        let mut cur: Vec<Batch> = (0..txs.len()).map(|_| Batch::new()).collect();
        let mut now = Ts(i64::MIN);
        {
            let mut deliver = |ts: Ts, link: LinkType, data: &[u8], pkt: &Packet<'_>, tunnel| {
                now = now.max(ts);
                // Tunnels run in shard 0: an inner connection may travel
                // through tunnels between different host pairs (Teredo
                // relays), and must meet all of them in one table.
                let i = if tunnel {
                    0
                } else {
                    shard_of(flow_hash(pkt), n)
                };
                if i == 0 {
                    inline.advance(now);
                    inline_tunnels.feed(&mut inline, ts, pkt, tunnel);
                    return;
                }
                let Some(b) = cur.get_mut(i - 1) else { return };
                b.push(ts, now, link, data, pkt);
                if b.full() {
                    let fresh = free_rx.try_recv().unwrap_or_else(|_| Batch::new());
                    let full = std::mem::replace(b, fresh);
                    if let Some(tx) = txs.get(i - 1) {
                        let _ = tx.send(full);
                    }
                }
            };
            front(&mut deliver);
        }
        for (i, b) in cur.into_iter().enumerate() {
            if !b.meta.is_empty() {
                if let Some(tx) = txs.get(i) {
                    let _ = tx.send(b);
                }
            }
        }
        drop(txs);
        let (handler, stats) = inline.finish();
        crate::add_counts(weirds, handler.weird_counts());
        let mut sinks = vec![handler.into_sink()];
        let mut total = stats;
        for h in handles {
            match h.join() {
                Ok((sink, stats, counts)) => {
                    total.add(&stats);
                    crate::add_counts(weirds, &counts);
                    sinks.push(sink);
                }
                // A shard that panicked is a bug: surface it.
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        (sinks, total)
    })
}

#[cfg(test)]
mod tests {
    use super::shard_of;

    #[test]
    fn the_front_shard_gets_half_a_share() {
        for n in 1..=8usize {
            let mut counts = vec![0usize; n];
            let units = 2 * n as u64 - 1;
            for h in 0..units * 1000 {
                let i = shard_of(h.wrapping_mul(0x9E37_79B9_7F4A_7C15), n);
                counts[i] += 1;
            }
            for (i, &c) in counts.iter().enumerate() {
                let want = if i == 0 { 1000 } else { 2000 };
                assert!(c.abs_diff(want) < want / 10 + 5, "n={n}: {counts:?}");
            }
        }
    }
}
