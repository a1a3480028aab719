//! Streaming pcap / pcapng reader with a fixed-size buffer.
//!
//! The reader pulls from any `Read` into one buffer of
//! [`WireConfig::read_buffer_size`] bytes, hands out packets that borrow from
//! it, and never holds more than one record: memory does not grow with the
//! file. A record larger than the buffer grows it, up to
//! [`WireConfig::max_record_len`] (plus pcapng block overhead), then the file
//! ends with [`ErrorKind::RecordTooLarge`]. Non-packet pcapng blocks are
//! skipped without being buffered, whatever their size.
//!
//! Formats: pcap in both byte orders with micro- or nanosecond timestamps
//! (and the rare "modified" Kuznetzov variant); pcapng with any number of
//! sections (each SHB resets the interfaces, and may switch byte order),
//! interfaces with their own link type, `if_tsresol` (powers of 10 and of 2)
//! and `if_tsoffset`; EPB, SPB (interface 0, no timestamp: the last seen
//! timestamp is used) and the obsolete OPB.
//!
//! # No panics
//!
//! Every length read from the file is checked before it is used to slice
//! or to allocate. A header that cannot be trusted ends the file with an
//! [`Error`] naming the byte offset of the record or block; anomalies after
//! which framing is still sound (empty records, unknown blocks, packets on
//! unknown interfaces or unsupported link types) are skipped and counted in
//! [`ReaderStats`].
//!
//! The parsing is written here rather than delegated to `pcap-parser`'s
//! readers so that errors carry exact offsets, oversized records can grow the
//! buffer up to a cap, and packets can borrow from the buffer without a copy.

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use botscope_event::Ts;

use crate::input::{self, Compression};
use crate::{Error, ErrorKind, WireConfig};

pub use botscope_event::LinkType;

/// Whether [`crate::packet::decode`] understands this link type.
pub fn is_supported(link: LinkType) -> bool {
    matches!(
        link,
        LinkType::NULL
            | LinkType::ETHERNET
            | LinkType::DLT_RAW_12
            | LinkType::DLT_RAW_14
            | LinkType::RAW
            | LinkType::LOOP
            | LinkType::LINUX_SLL
            | LinkType::IPV4
            | LinkType::IPV6
            | LinkType::LINUX_SLL2
            | LinkType::PPP
            | LinkType::FDDI
            | LinkType::PPP_HDLC
            | LinkType::C_HDLC
            | LinkType::IEEE802_11
            | LinkType::IEEE802_11_RADIOTAP
            | LinkType::NFLOG
    )
}

/// One captured packet, borrowing the reader's buffer until the next call
/// to [`CaptureReader::next_packet`].
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    /// Capture timestamp (microseconds since the epoch).
    pub ts: Ts,
    /// Link type of the interface the packet was captured on.
    pub link: LinkType,
    /// The captured bytes (possibly cut by snaplen).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
    /// Byte offset of this record / block in the (decompressed) stream.
    pub offset: u64,
    /// pcapng interface id within its section (0 for pcap).
    pub interface: u32,
}

/// What the reader saw and skipped. Every skip has a counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Packets returned by `next_packet`.
    pub records: u64,
    /// Captured bytes of the packets returned.
    pub packet_bytes: u64,
    /// pcapng sections seen (1 for pcap).
    pub sections: u64,
    /// pcapng interface descriptions seen (1 for pcap).
    pub interfaces: u64,
    /// Records with zero captured bytes (skipped).
    pub empty_records: u64,
    /// Packets on a link type the decoder does not support (skipped).
    pub unsupported_link_packets: u64,
    /// The unsupported link types those packets had (distinct, at most
    /// [`MAX_UNSUPPORTED_LINKS`] kept), so a file-level report can name them.
    pub unsupported_links: Vec<LinkType>,
    /// Packets naming an interface that was not described (skipped).
    pub unknown_interface_packets: u64,
    /// Interface descriptions beyond [`WireConfig::max_interfaces`] (their
    /// packets count as `unknown_interface_packets`).
    pub interfaces_over_cap: u64,
    /// pcapng blocks of a known non-packet type (name resolution,
    /// statistics, decryption secrets, custom, ...), skipped.
    pub other_blocks: u64,
    /// pcapng blocks of an unknown type, skipped.
    pub unknown_blocks: u64,
    /// Packets whose captured length exceeds the declared snaplen (kept;
    /// counted as an anomaly).
    pub caplen_over_snaplen: u64,
}

/// Distinct unsupported link types remembered in [`ReaderStats`].
pub const MAX_UNSUPPORTED_LINKS: usize = 8;

impl ReaderStats {
    fn note_unsupported(&mut self, link: LinkType) {
        self.unsupported_link_packets += 1;
        if !self.unsupported_links.contains(&link)
            && self.unsupported_links.len() < MAX_UNSUPPORTED_LINKS
        {
            self.unsupported_links.push(link);
        }
    }

    /// Total number of records and blocks skipped for any reason.
    pub fn skipped(&self) -> u64 {
        self.empty_records
            + self.unsupported_link_packets
            + self.unknown_interface_packets
            + self.unknown_blocks
    }
}

/// Extra room allowed above `max_record_len` for a pcapng block's fixed
/// fields and options.
const BLOCK_OVERHEAD: usize = 64 << 10;

const BT_SHB: u32 = 0x0A0D_0D0A;
const BT_IDB: u32 = 1;
const BT_OPB: u32 = 2;
const BT_SPB: u32 = 3;
const BT_NRB: u32 = 4;
const BT_ISB: u32 = 5;
const BT_EPB: u32 = 6;

/// Non-packet block types from the pcapng spec and its registry.
fn is_known_other_block(t: u32) -> bool {
    matches!(
        t,
        BT_NRB
            | BT_ISB
            | 7
            | 8
            | 9
            | 10
            | 0x0BAD
            | 0x4000_0BAD
            | 0x8000_0001
            | 0x0000_0101
            | 0x0000_0102
    )
}

#[inline]
fn rd16(b: &[u8], at: usize, big: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(s)
    } else {
        u16::from_le_bytes(s)
    })
}

#[inline]
fn rd32(b: &[u8], at: usize, big: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(s)
    } else {
        u32::from_le_bytes(s)
    })
}

#[inline]
fn rd64(b: &[u8], at: usize, big: bool) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(if big {
        u64::from_be_bytes(s)
    } else {
        u64::from_le_bytes(s)
    })
}

/// Fixed buffer over a byte stream: `data[start..end]` is available,
/// `pos` is the stream offset of `data[start]`.
struct Buf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    pos: u64,
}

impl Buf {
    fn new(cap: usize) -> Buf {
        Buf {
            data: vec![0; cap.max(64)],
            start: 0,
            end: 0,
            eof: false,
            pos: 0,
        }
    }

    #[inline]
    fn avail(&self) -> &[u8] {
        self.data.get(self.start..self.end).unwrap_or(&[])
    }

    fn shift(&mut self) {
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Make at least `n` bytes available. `Ok(false)`: the stream ended
    /// first. The caller bounds `n` by the configured caps.
    fn fill(&mut self, src: &mut dyn Read, n: usize) -> io::Result<bool> {
        if self.end - self.start >= n {
            return Ok(true);
        }
        if n > self.data.len() {
            self.shift();
            self.data.resize(n, 0);
        } else if self.start + n > self.data.len() {
            self.shift();
        }
        while self.end - self.start < n {
            if self.eof {
                return Ok(false);
            }
            let space = match self.data.get_mut(self.end..) {
                Some(s) if !s.is_empty() => s,
                _ => return Ok(false),
            };
            match src.read(space) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end = (self.end + k).min(self.data.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.pos += n as u64;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Discard `n` bytes without buffering them. `Ok(false)`: stream ended.
    fn skip(&mut self, src: &mut dyn Read, n: u64) -> io::Result<bool> {
        let mut left = n;
        loop {
            let have = (self.end - self.start) as u64;
            let take = have.min(left);
            self.consume(take as usize);
            left -= take;
            if left == 0 {
                return Ok(true);
            }
            self.start = 0;
            self.end = 0;
            if !self.fill(src, 1)? {
                return Ok(false);
            }
        }
    }
}

/// Timestamp conversion of one pcapng interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsConv {
    /// units * m
    Mul(u128),
    /// units / d
    Div(u128),
    /// (units * 10^6) >> s
    Pow2(u32),
}

impl TsConv {
    fn from_tsresol(r: u8) -> TsConv {
        let n = u32::from(r & 0x7f);
        if r & 0x80 != 0 {
            TsConv::Pow2(n)
        } else if n <= 6 {
            TsConv::Mul(10u128.pow(6 - n))
        } else if n - 6 <= 38 {
            TsConv::Div(10u128.pow(n - 6))
        } else {
            TsConv::Div(u128::MAX)
        }
    }

    fn to_us(self, units: u64, offset_s: i64) -> Ts {
        let u = u128::from(units);
        let us = match self {
            TsConv::Mul(m) => u * m,
            TsConv::Div(d) => u / d,
            TsConv::Pow2(s) => (u * 1_000_000) >> s.min(127),
        };
        let us = i128::try_from(us).unwrap_or(i128::MAX);
        let total = us.saturating_add(i128::from(offset_s) * 1_000_000);
        Ts(total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }
}

#[derive(Clone, Copy, Debug)]
struct Iface {
    link: LinkType,
    snaplen: u32,
    conv: TsConv,
    offset_s: i64,
}

#[derive(Clone, Copy, Debug)]
struct PcapHdr {
    big: bool,
    nanos: bool,
    rec_hdr: usize,
    link: LinkType,
    snaplen: u32,
}

#[derive(Debug)]
enum Format {
    Pcap(PcapHdr),
    PcapNg { big: bool, ifaces: Vec<Iface> },
}

/// Where the next packet sits in the buffer.
struct Found {
    data_off: usize,
    len: usize,
    total: usize,
    ts: Ts,
    link: LinkType,
    orig_len: u32,
    offset: u64,
    interface: u32,
}

type Fail = (ErrorKind, u64);

/// Streaming reader over one pcap or pcapng capture.
pub struct CaptureReader {
    name: String,
    src: Box<dyn Read + Send>,
    buf: Buf,
    format: Format,
    stats: ReaderStats,
    max_record: usize,
    max_interfaces: usize,
    compression: Compression,
    raw_bytes: Arc<AtomicU64>,
    /// Bytes of the last returned packet, consumed on the next call.
    pending: usize,
    last_ts: Ts,
    done: bool,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("offset", &self.buf.pos)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl CaptureReader {
    /// Open a capture file (`-` is stdin), decompressing gzip / xz / zstd
    /// when the magic bytes say so.
    pub fn open(path: &Path, cfg: &WireConfig) -> Result<CaptureReader, Error> {
        let opened = input::open_raw_ahead(path, cfg.read_ahead)?;
        Self::build(opened, &path.display().to_string(), cfg)
    }

    /// Read a capture from any byte stream (decompressed by magic bytes as
    /// in [`CaptureReader::open`]). `name` is used in errors.
    pub fn from_reader(
        r: Box<dyn Read + Send>,
        name: &str,
        cfg: &WireConfig,
    ) -> Result<CaptureReader, Error> {
        let opened = input::wrap_reader(r, name)?;
        Self::build(opened, name, cfg)
    }

    fn build(opened: input::Opened, name: &str, cfg: &WireConfig) -> Result<CaptureReader, Error> {
        let mut r = CaptureReader {
            name: name.to_string(),
            src: opened.reader,
            buf: Buf::new(cfg.read_buffer_size),
            format: Format::PcapNg {
                big: false,
                ifaces: Vec::new(),
            },
            stats: ReaderStats::default(),
            max_record: cfg.max_record_len,
            max_interfaces: cfg.max_interfaces,
            compression: opened.compression,
            raw_bytes: opened.raw_bytes,
            pending: 0,
            last_ts: Ts(0),
            done: false,
        };
        r.read_file_header().map_err(|(k, off)| r.error(k, off))?;
        Ok(r)
    }

    fn error(&self, kind: ErrorKind, offset: u64) -> Error {
        Error::new(kind, self.name.clone(), Some(offset))
    }

    fn io_fail(&self, e: io::Error) -> Fail {
        let kind = if self.compression == Compression::None {
            ErrorKind::Io(e)
        } else {
            ErrorKind::Decompress(e.to_string())
        };
        (kind, self.buf.pos)
    }

    fn fill(&mut self, n: usize) -> Result<bool, Fail> {
        match self.buf.fill(&mut *self.src, n) {
            Ok(b) => Ok(b),
            Err(e) => Err(self.io_fail(e)),
        }
    }

    fn read_file_header(&mut self) -> Result<(), Fail> {
        if !self.fill(4)? {
            return Err((ErrorKind::Truncated, 0));
        }
        let magic: [u8; 4] = match self.buf.avail().get(..4).map(<[u8; 4]>::try_from) {
            Some(Ok(m)) => m,
            _ => return Err((ErrorKind::Truncated, 0)),
        };
        let (big, nanos, rec_hdr) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false, 16),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false, 16),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true, 16),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true, 16),
            [0x34, 0xcd, 0xb2, 0xa1] => (false, false, 24),
            [0xa1, 0xb2, 0xcd, 0x34] => (true, false, 24),
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                // pcapng: the SHB is parsed by the block loop.
                return Ok(());
            }
            _ => return Err((ErrorKind::BadMagic, 0)),
        };
        if !self.fill(24)? {
            return Err((ErrorKind::Truncated, 0));
        }
        let h = self.buf.avail();
        let snaplen = rd32(h, 16, big).unwrap_or(0);
        let network = rd32(h, 20, big).unwrap_or(0);
        self.format = Format::Pcap(PcapHdr {
            big,
            nanos,
            rec_hdr,
            link: LinkType((network & 0xffff) as u16),
            snaplen,
        });
        self.stats.sections = 1;
        self.stats.interfaces = 1;
        self.buf.consume(24);
        Ok(())
    }

    /// The next packet. `Ok(None)` is a clean end of file. An `Err` is a
    /// file-level problem naming the byte offset; the reader is finished
    /// after it (further calls return `Ok(None)`), and every packet returned
    /// before it is valid.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Error> {
        if self.done {
            return Ok(None);
        }
        self.buf.consume(self.pending);
        self.pending = 0;
        let found = match self.format {
            Format::Pcap(h) => self.next_pcap(h),
            Format::PcapNg { .. } => self.next_pcapng(),
        };
        let f = match found {
            Ok(Some(f)) => f,
            Ok(None) => {
                self.done = true;
                return Ok(None);
            }
            Err((kind, off)) => {
                self.done = true;
                return Err(self.error(kind, off));
            }
        };
        let start = self.buf.start;
        let Some(data) = start
            .checked_add(f.data_off)
            .and_then(|a| Some(a..a.checked_add(f.len)?))
            .and_then(|r| self.buf.data.get(r))
        else {
            self.done = true;
            return Err(self.error(
                ErrorKind::CorruptBlock("record exceeds buffered data".into()),
                f.offset,
            ));
        };
        self.pending = f.total;
        self.last_ts = f.ts;
        self.stats.records += 1;
        self.stats.packet_bytes += f.len as u64;
        Ok(Some(RawPacket {
            ts: f.ts,
            link: f.link,
            data,
            orig_len: f.orig_len,
            offset: f.offset,
            interface: f.interface,
        }))
    }

    fn next_pcap(&mut self, h: PcapHdr) -> Result<Option<Found>, Fail> {
        loop {
            let off = self.buf.pos;
            if !self.fill(1)? {
                return Ok(None);
            }
            if !self.fill(h.rec_hdr)? {
                return Err((ErrorKind::Truncated, off));
            }
            let r = self.buf.avail();
            let (Some(secs), Some(frac), Some(caplen), Some(orig)) = (
                rd32(r, 0, h.big),
                rd32(r, 4, h.big),
                rd32(r, 8, h.big),
                rd32(r, 12, h.big),
            ) else {
                return Err((ErrorKind::Truncated, off));
            };
            if caplen as usize > self.max_record {
                return Err((
                    ErrorKind::RecordTooLarge {
                        len: u64::from(caplen),
                    },
                    off,
                ));
            }
            if h.snaplen != 0 && caplen > h.snaplen {
                if caplen > orig {
                    return Err((
                        ErrorKind::CorruptBlock(format!(
                            "record caplen {caplen} exceeds both snaplen {} and original length {orig}",
                            h.snaplen
                        )),
                        off,
                    ));
                }
                self.stats.caplen_over_snaplen += 1;
            }
            let total = h.rec_hdr + caplen as usize;
            if !self.fill(total)? {
                return Err((ErrorKind::Truncated, off));
            }
            if caplen == 0 {
                self.stats.empty_records += 1;
                self.buf.consume(total);
                continue;
            }
            if !is_supported(h.link) {
                self.stats.note_unsupported(h.link);
                self.buf.consume(total);
                continue;
            }
            let sub_us = if h.nanos { frac / 1000 } else { frac };
            let ts = Ts(i64::from(secs) * 1_000_000 + i64::from(sub_us));
            return Ok(Some(Found {
                data_off: h.rec_hdr,
                len: caplen as usize,
                total,
                ts,
                link: h.link,
                orig_len: orig,
                offset: off,
                interface: 0,
            }));
        }
    }

    fn next_pcapng(&mut self) -> Result<Option<Found>, Fail> {
        loop {
            let off = self.buf.pos;
            if !self.fill(1)? {
                return Ok(None);
            }
            if !self.fill(12)? {
                return Err((ErrorKind::Truncated, off));
            }
            let h = self.buf.avail();
            let Format::PcapNg { big, .. } = &mut self.format else {
                return Ok(None);
            };
            if h.get(..4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
                *big = match h.get(8..12) {
                    Some([0x1a, 0x2b, 0x3c, 0x4d]) => true,
                    Some([0x4d, 0x3c, 0x2b, 0x1a]) => false,
                    _ => {
                        return Err((
                            ErrorKind::CorruptBlock("bad pcapng byte-order magic".into()),
                            off,
                        ))
                    }
                };
            }
            let big = *big;
            let (Some(btype), Some(blen)) = (rd32(h, 0, big), rd32(h, 4, big)) else {
                return Err((ErrorKind::Truncated, off));
            };
            if blen < 12 || blen % 4 != 0 {
                return Err((
                    ErrorKind::CorruptBlock(format!(
                        "block type {btype:#x} has invalid length {blen}"
                    )),
                    off,
                ));
            }
            if !matches!(btype, BT_SHB | BT_IDB | BT_EPB | BT_SPB | BT_OPB) {
                if is_known_other_block(btype) {
                    self.stats.other_blocks += 1;
                } else {
                    self.stats.unknown_blocks += 1;
                }
                let ok = self
                    .buf
                    .skip(&mut *self.src, u64::from(blen))
                    .map_err(|e| self.io_fail(e))?;
                if !ok {
                    return Err((ErrorKind::Truncated, off));
                }
                continue;
            }
            let blen = blen as usize;
            if blen > self.max_record.saturating_add(BLOCK_OVERHEAD) {
                return Err((ErrorKind::RecordTooLarge { len: blen as u64 }, off));
            }
            if !self.fill(blen)? {
                return Err((ErrorKind::Truncated, off));
            }
            let b = self.buf.avail().get(..blen).unwrap_or(&[]);
            let trailer = rd32(b, blen - 4, big);
            if trailer != Some(blen as u32) {
                return Err((
                    ErrorKind::CorruptBlock(format!(
                        "block length {blen} does not match trailing length {}",
                        trailer.unwrap_or(0)
                    )),
                    off,
                ));
            }
            let body = b.get(8..blen - 4).unwrap_or(&[]);
            let corrupt = |what: &str| {
                Err((
                    ErrorKind::CorruptBlock(format!("{what} (block length {blen})")),
                    off,
                ))
            };
            let Format::PcapNg { ifaces, .. } = &mut self.format else {
                return Ok(None);
            };
            match btype {
                BT_SHB => {
                    let (Some(major), Some(minor)) = (rd16(body, 4, big), rd16(body, 6, big))
                    else {
                        return corrupt("section header block too short");
                    };
                    if body.len() < 16 {
                        return corrupt("section header block too short");
                    }
                    if major != 1 {
                        return Err((
                            ErrorKind::Unsupported(format!("pcapng version {major}.{minor}")),
                            off,
                        ));
                    }
                    ifaces.clear();
                    self.stats.sections += 1;
                }
                BT_IDB => {
                    let (Some(link), Some(snaplen)) = (rd16(body, 0, big), rd32(body, 4, big))
                    else {
                        return corrupt("interface description block too short");
                    };
                    let (conv, offset_s) = idb_options(body.get(8..).unwrap_or(&[]), big);
                    self.stats.interfaces += 1;
                    if ifaces.len() >= self.max_interfaces {
                        self.stats.interfaces_over_cap += 1;
                    } else {
                        ifaces.push(Iface {
                            link: LinkType(link),
                            snaplen,
                            conv,
                            offset_s,
                        });
                    }
                }
                BT_EPB | BT_OPB => {
                    let fields = if btype == BT_EPB {
                        (
                            rd32(body, 0, big),
                            rd32(body, 4, big),
                            rd32(body, 8, big),
                            rd32(body, 12, big),
                            rd32(body, 16, big),
                        )
                    } else {
                        (
                            rd16(body, 0, big).map(u32::from),
                            rd32(body, 4, big),
                            rd32(body, 8, big),
                            rd32(body, 12, big),
                            rd32(body, 16, big),
                        )
                    };
                    let (Some(if_id), Some(th), Some(tl), Some(caplen), Some(orig)) = fields else {
                        return corrupt("packet block too short");
                    };
                    if caplen as usize > body.len() - 20 {
                        return corrupt(&format!(
                            "packet block captured length {caplen} exceeds the block"
                        ));
                    }
                    if caplen as usize > self.max_record {
                        return Err((
                            ErrorKind::RecordTooLarge {
                                len: u64::from(caplen),
                            },
                            off,
                        ));
                    }
                    let Some(ifc) = ifaces.get(if_id as usize).copied() else {
                        self.stats.unknown_interface_packets += 1;
                        self.buf.consume(blen);
                        continue;
                    };
                    if caplen == 0 {
                        self.stats.empty_records += 1;
                    } else if !is_supported(ifc.link) {
                        self.stats.note_unsupported(ifc.link);
                    } else {
                        if ifc.snaplen != 0 && caplen > ifc.snaplen {
                            self.stats.caplen_over_snaplen += 1;
                        }
                        let units = (u64::from(th) << 32) | u64::from(tl);
                        return Ok(Some(Found {
                            data_off: 28,
                            len: caplen as usize,
                            total: blen,
                            ts: ifc.conv.to_us(units, ifc.offset_s),
                            link: ifc.link,
                            orig_len: orig,
                            offset: off,
                            interface: if_id,
                        }));
                    }
                }
                BT_SPB => {
                    let Some(orig) = rd32(body, 0, big) else {
                        return corrupt("simple packet block too short");
                    };
                    let Some(ifc) = ifaces.first().copied() else {
                        self.stats.unknown_interface_packets += 1;
                        self.buf.consume(blen);
                        continue;
                    };
                    let mut caplen = (orig as usize).min(body.len() - 4);
                    if ifc.snaplen != 0 {
                        caplen = caplen.min(ifc.snaplen as usize);
                    }
                    if caplen == 0 {
                        self.stats.empty_records += 1;
                    } else if !is_supported(ifc.link) {
                        self.stats.note_unsupported(ifc.link);
                    } else {
                        return Ok(Some(Found {
                            data_off: 12,
                            len: caplen,
                            total: blen,
                            ts: self.last_ts,
                            link: ifc.link,
                            orig_len: orig,
                            offset: off,
                            interface: 0,
                        }));
                    }
                }
                _ => {}
            }
            self.buf.consume(blen);
        }
    }

    /// Counters of what was read and skipped so far.
    pub fn stats(&self) -> &ReaderStats {
        &self.stats
    }

    /// The input's name, as used in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Raw bytes read from the source so far (compressed bytes for a
    /// compressed file): compare with the file size for progress.
    pub fn bytes_read(&self) -> u64 {
        self.raw_bytes.load(Ordering::Relaxed)
    }

    /// Offset in the decompressed stream of the next unread record.
    pub fn offset(&self) -> u64 {
        self.buf.pos + self.pending as u64
    }
}

/// `if_tsresol` (code 9) and `if_tsoffset` (code 14) from IDB options.
fn idb_options(mut opts: &[u8], big: bool) -> (TsConv, i64) {
    let mut conv = TsConv::Mul(1);
    let mut offset_s = 0i64;
    while let (Some(code), Some(len)) = (rd16(opts, 0, big), rd16(opts, 2, big)) {
        if code == 0 {
            break;
        }
        let len = usize::from(len);
        let Some(val) = opts.get(4..4 + len) else {
            break;
        };
        match code {
            9 if len >= 1 => conv = TsConv::from_tsresol(val[0]),
            14 if len == 8 => offset_s = rd64(val, 0, big).map_or(0, |v| v as i64),
            _ => {}
        }
        let padded = (len + 3) & !3;
        opts = opts.get(4 + padded..).unwrap_or(&[]);
    }
    (conv, offset_s)
}

#[cfg(test)]
mod tests;
