//! IPv4 and IPv6 fragment reassembly under explicit caps.
//!
//! Fragments are keyed by (source, destination, identification, protocol).
//! Data is written first-wins: bytes already received are kept and an
//! overlapping fragment is compared with them, noting Zeek's
//! `fragment_overlap` (same bytes) or `fragment_inconsistency` (different
//! bytes). When every byte from 0 to the end announced by the last fragment
//! is present, the datagram is returned with a rewritten header (IPv4 total
//! length, flags and checksum; IPv6 payload length and the next-header byte
//! that named the fragment header) so [`crate::packet::decode_ip`] decodes it
//! as a whole.
//!
//! # Caps and no panics
//!
//! At most [`WireConfig::max_datagrams_in_flight`] datagrams are kept (the
//! oldest is evicted when full), each at most
//! [`WireConfig::max_datagram_len`] bytes and
//! [`WireConfig::max_fragments_per_datagram`] fragments, for at most
//! [`WireConfig::frag_timeout_us`] of capture time. Worst-case memory is
//! therefore `max_datagrams_in_flight * max_datagram_len` (64 MiB by
//! default). Every cap hit is counted in [`DefragStats`]. All offsets come
//! from checked header parsing and are bounded before use.

use std::collections::HashMap;
use std::net::IpAddr;

use botscope_event::Ts;

use crate::packet::{decode_ip, DecodeError};
use crate::WireConfig;

/// Counters of the reassembler. Every drop has one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments pushed.
    pub fragments: u64,
    /// Datagrams completed and returned.
    pub reassembled: u64,
    /// Datagrams dropped because their first fragment was older than the
    /// timeout.
    pub timed_out: u64,
    /// Datagrams evicted because the table was full.
    pub evicted: u64,
    /// Fragments (and their datagrams) dropped for reaching beyond the
    /// maximum datagram size.
    pub too_large: u64,
    /// Datagrams dropped for having too many fragments.
    pub too_many_fragments: u64,
    /// Fragments not usable because the capture cut them.
    pub truncated: u64,
    /// Pushed packets that did not decode or were not fragments.
    pub invalid: u64,
    /// Overlaps with identical content.
    pub overlaps: u64,
    /// Overlaps with different content, or conflicting datagram ends.
    pub inconsistencies: u64,
    /// Fragments carrying the "don't fragment" bit.
    pub with_df: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
}

#[derive(Debug)]
struct Datagram {
    first_ts: Ts,
    /// Unfragmentable part, copied from the offset-0 fragment.
    header: Vec<u8>,
    /// IPv6: index in `header` of the next-header byte to rewrite.
    nh_at: usize,
    proto: u8,
    data: Vec<u8>,
    /// Received byte ranges, sorted, disjoint and merged.
    have: Vec<(u32, u32)>,
    /// Payload length, known once the last fragment arrived.
    end: Option<u32>,
    frags: usize,
}

/// Reassembles fragmented IP datagrams.
#[derive(Debug)]
pub struct Defragmenter {
    max_in_flight: usize,
    max_len: usize,
    max_frags: usize,
    timeout_us: i64,
    table: HashMap<Key, Datagram>,
    stats: DefragStats,
    notes: Vec<DecodeError>,
    last_sweep: Ts,
}

impl Defragmenter {
    pub fn new(cfg: &WireConfig) -> Self {
        Defragmenter {
            max_in_flight: cfg.max_datagrams_in_flight.max(1),
            max_len: cfg.max_datagram_len.min(65535),
            max_frags: cfg.max_fragments_per_datagram.max(1),
            timeout_us: cfg.frag_timeout_us.max(0),
            table: HashMap::new(),
            stats: DefragStats::default(),
            notes: Vec::with_capacity(4),
            last_sweep: Ts(i64::MIN),
        }
    }

    /// Feed one fragment: the IP packet from its IP header (as in
    /// [`crate::FragInfo::ip_packet`]), captured at `ts`.
    ///
    /// Returns the whole datagram, header rewritten, when this fragment
    /// completes it. `Err` means the fragment was not usable (and, for
    /// `ExcessivelyLargeFragment`, `TooManyFragments` and
    /// `FragmentInconsistency` about the datagram's end, its datagram was
    /// dropped). Non-fatal conditions (overlaps, DF set) are listed by
    /// [`Defragmenter::notes`] after the call.
    pub fn push(&mut self, ts: Ts, ip_packet: &[u8]) -> Result<Option<Vec<u8>>, DecodeError> {
        self.notes.clear();
        self.stats.fragments += 1;
        let p = match decode_ip(ip_packet) {
            Ok(p) => p,
            Err(e) => {
                self.stats.invalid += 1;
                return Err(e);
            }
        };
        let Some(f) = p.fragment else {
            self.stats.invalid += 1;
            return Err(DecodeError::NotAFragment);
        };
        self.expire(ts);
        if f.dont_fragment {
            self.stats.with_df += 1;
            self.notes.push(DecodeError::FragmentWithDf);
        }
        let key = Key {
            src: p.src,
            dst: p.dst,
            id: f.id,
            proto: p.proto,
        };
        if (f.ip_packet.len() as u64) < u64::from(p.ip_len) {
            self.stats.truncated += 1;
            return Err(DecodeError::TruncatedFragment);
        }
        let (Some(frag), Some(header)) = (
            f.ip_packet.get(f.data_offset..),
            f.ip_packet.get(..f.header_len),
        ) else {
            self.stats.truncated += 1;
            return Err(DecodeError::TruncatedFragment);
        };
        let start = f.offset as usize;
        let end = start + frag.len();
        if end > self.max_len {
            self.stats.too_large += 1;
            self.table.remove(&key);
            return Err(DecodeError::ExcessivelyLargeFragment);
        }
        if !self.table.contains_key(&key) && self.table.len() >= self.max_in_flight {
            self.evict_oldest();
        }
        let dg = self.table.entry(key).or_insert_with(|| Datagram {
            first_ts: ts,
            header: Vec::new(),
            nh_at: 0,
            proto: p.proto,
            data: Vec::new(),
            have: Vec::new(),
            end: None,
            frags: 0,
        });
        dg.frags += 1;
        if dg.frags > self.max_frags {
            self.stats.too_many_fragments += 1;
            self.table.remove(&key);
            return Err(DecodeError::TooManyFragments);
        }
        let (start32, end32) = (start as u32, end as u32);
        // The datagram's end: announced by the last fragment, never passed.
        let max_have = dg.have.last().map_or(0, |r| r.1);
        let conflict = match (f.more, dg.end) {
            (false, Some(e)) => e != end32,
            (false, None) => max_have > end32,
            (true, Some(e)) => end32 > e,
            (true, None) => false,
        };
        if conflict {
            self.stats.inconsistencies += 1;
            self.table.remove(&key);
            return Err(DecodeError::FragmentInconsistency);
        }
        if !f.more {
            dg.end = Some(end32);
        }
        if f.offset == 0 && dg.header.is_empty() {
            dg.header.extend_from_slice(header);
            dg.nh_at = f.next_header_at;
            dg.proto = p.proto;
        }
        if dg.data.len() < end {
            dg.data.resize(end, 0);
        }
        // Compare overlaps, then fill only the gaps (first wins).
        let mut overlap = None;
        let mut cursor = start32;
        for &(a, b) in &dg.have {
            let (lo, hi) = (a.max(start32), b.min(end32));
            if lo < hi {
                let old = dg.data.get(lo as usize..hi as usize);
                let new = frag.get((lo - start32) as usize..(hi - start32) as usize);
                overlap = Some(match overlap {
                    Some(DecodeError::FragmentInconsistency) => DecodeError::FragmentInconsistency,
                    _ if old == new => DecodeError::FragmentOverlap,
                    _ => DecodeError::FragmentInconsistency,
                });
            }
            if b <= cursor {
                continue;
            }
            if a >= end32 {
                break;
            }
            if a > cursor {
                copy_range(&mut dg.data, frag, start32, cursor, a);
            }
            cursor = cursor.max(b);
        }
        if cursor < end32 {
            copy_range(&mut dg.data, frag, start32, cursor, end32);
        }
        insert_range(&mut dg.have, start32, end32);
        if let Some(o) = overlap {
            if o == DecodeError::FragmentOverlap {
                self.stats.overlaps += 1;
            } else {
                self.stats.inconsistencies += 1;
            }
            self.notes.push(o);
        }
        let complete = match (dg.end, dg.have.as_slice()) {
            (Some(e), [(0, b)]) => *b == e && !dg.header.is_empty(),
            (Some(0), []) => !dg.header.is_empty(),
            _ => false,
        };
        if !complete {
            return Ok(None);
        }
        let Some(dg) = self.table.remove(&key) else {
            return Ok(None);
        };
        match build(&dg, p.ip_version) {
            Ok(out) => {
                self.stats.reassembled += 1;
                Ok(Some(out))
            }
            Err(e) => {
                self.stats.too_large += 1;
                Err(e)
            }
        }
    }

    /// Non-fatal weirds noted by the last [`Defragmenter::push`].
    pub fn notes(&self) -> &[DecodeError] {
        &self.notes
    }

    /// Counters so far.
    pub fn stats(&self) -> &DefragStats {
        &self.stats
    }

    /// Datagrams currently waiting for fragments.
    pub fn in_flight(&self) -> usize {
        self.table.len()
    }

    /// Drop every datagram older than the timeout relative to `now`.
    pub fn expire(&mut self, now: Ts) {
        // Sweep at most 8 times per timeout period (or always when full).
        let period = (self.timeout_us / 8).max(1);
        if now.0.saturating_sub(self.last_sweep.0) < period && self.table.len() < self.max_in_flight
        {
            return;
        }
        self.last_sweep = now;
        let timeout = self.timeout_us;
        let before = self.table.len();
        self.table
            .retain(|_, d| now.0.saturating_sub(d.first_ts.0) <= timeout);
        self.stats.timed_out += (before - self.table.len()) as u64;
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .table
            .iter()
            .min_by_key(|(_, d)| d.first_ts)
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.table.remove(&k);
            self.stats.evicted += 1;
        }
    }
}

/// Copy `frag[(lo - start)..(hi - start)]` into `data[lo..hi]`.
fn copy_range(data: &mut [u8], frag: &[u8], start: u32, lo: u32, hi: u32) {
    let src = frag.get((lo - start) as usize..(hi - start) as usize);
    let dst = data.get_mut(lo as usize..hi as usize);
    if let (Some(s), Some(d)) = (src, dst) {
        d.copy_from_slice(s);
    }
}

/// Insert `[a, b)` into sorted disjoint ranges, merging neighbours.
fn insert_range(have: &mut Vec<(u32, u32)>, a: u32, b: u32) {
    if a >= b {
        return;
    }
    let (mut lo, mut hi) = (a, b);
    have.retain(|&(x, y)| {
        if y < lo || x > hi {
            true
        } else {
            lo = lo.min(x);
            hi = hi.max(y);
            false
        }
    });
    let at = have.partition_point(|&(x, _)| x < lo);
    have.insert(at, (lo, hi));
}

fn build(dg: &Datagram, version: u8) -> Result<Vec<u8>, DecodeError> {
    let end = dg.end.unwrap_or(0) as usize;
    let payload = dg.data.get(..end).ok_or(DecodeError::TruncatedFragment)?;
    let mut out = Vec::with_capacity(dg.header.len() + end);
    out.extend_from_slice(&dg.header);
    if version == 4 {
        let total = dg.header.len() + end;
        let total16 = u16::try_from(total).map_err(|_| DecodeError::ExcessivelyLargeFragment)?;
        let hl = out.len();
        let hdr = out.get_mut(..hl).ok_or(DecodeError::TruncatedIp)?;
        if hdr.len() < 20 {
            return Err(DecodeError::TruncatedIp);
        }
        hdr[2..4].copy_from_slice(&total16.to_be_bytes());
        // Keep DF, clear MF and the offset.
        hdr[6] &= 0x40;
        hdr[7] = 0;
        hdr[10] = 0;
        hdr[11] = 0;
        let mut sum: u32 = 0;
        for c in hdr.chunks_exact(2) {
            if let [a, b] = c {
                sum += u32::from(u16::from_be_bytes([*a, *b]));
            }
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        hdr[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    } else {
        let plen = (dg.header.len() + end)
            .checked_sub(40)
            .ok_or(DecodeError::TruncatedIp)?;
        let plen16 = u16::try_from(plen).map_err(|_| DecodeError::ExcessivelyLargeFragment)?;
        if out.len() < 40 {
            return Err(DecodeError::TruncatedIp);
        }
        out[4..6].copy_from_slice(&plen16.to_be_bytes());
        match out.get_mut(dg.nh_at) {
            Some(b) => *b = dg.proto,
            None => return Err(DecodeError::TruncatedIp),
        }
    }
    out.extend_from_slice(payload);
    Ok(out)
}

#[cfg(test)]
mod tests;
