//! Reading captures and decoding packets: the untrusted-bytes edge of botscope.
//!
//! * [`input`] opens a path (or `-` for stdin), transparently decompressing
//!   gzip / xz / zstd detected by magic bytes, and walks folders.
//! * [`capture`] is a streaming pcap / pcapng reader with a fixed-size
//!   buffer: memory does not grow with the file.
//! * [`packet`] is a stateless, zero-copy link + network + transport decoder.
//! * [`tunnel`] unwraps one layer of a tunnel (GRE, VXLAN, Teredo, ...).
//! * [`defrag`] reassembles IPv4 / IPv6 fragments under explicit caps.
//!
//! # The no-panic rule
//!
//! Every byte handled by this crate comes from an untrusted file. No code
//! path may panic, index out of bounds, overflow or allocate without a bound
//! because of input content: every slice is preceded by a length check, all
//! arithmetic on lengths read from the wire is checked or saturating, and
//! every buffer has a cap in [`WireConfig`]. Problems that end a file come
//! back as an [`Error`] naming the byte offset; problems with one packet are
//! a [`DecodeError`] with a Zeek weird name; skips are counted in stats.
//! The tests feed random bytes and random truncations to enforce this.

pub mod capture;
pub mod defrag;
pub mod input;
pub mod packet;
pub mod tunnel;

pub use capture::{is_supported, CaptureReader, LinkType, RawPacket, ReaderStats};
pub use defrag::{DefragStats, Defragmenter};
pub use input::{collect_inputs, open_input};
pub use packet::{DecodeError, FragInfo, Packet, TcpFlags, TcpSeg, L4};
pub use tunnel::{decapsulate, Inner, InnerFrame, TunnelError, TunnelType};

use std::fmt;

/// A file-level failure: which input, what went wrong, and where.
///
/// Displayed as `<path>: <kind> at byte offset N` (offsets count bytes of
/// the decompressed capture stream).
#[derive(Debug)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The input's name as given by the user (`-` for stdin).
    pub path: String,
    /// Byte offset in the (decompressed) stream of the record or block at
    /// fault, when known.
    pub offset: Option<u64>,
}

impl Error {
    /// Build an error for `path` at an optional offset.
    pub fn new(kind: ErrorKind, path: impl Into<String>, offset: Option<u64>) -> Error {
        Error {
            kind,
            path: path.into(),
            offset,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)?;
        if let Some(off) = self.offset {
            write!(f, " at byte offset {off}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// What went wrong with an input file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Opening or reading the file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The file starts with neither a pcap nor a pcapng magic number
    /// (after decompression).
    #[error("not a pcap or pcapng capture (unknown magic number)")]
    BadMagic,
    /// The file ends in the middle of a header, record or block.
    #[error("capture truncated: file ends in the middle of a record")]
    Truncated,
    /// A block or record header is inconsistent (bad block length, caplen
    /// larger than the block, mismatched trailing length, ...).
    #[error("corrupt block: {0}")]
    CorruptBlock(String),
    /// A record or block is larger than [`WireConfig::max_record_len`].
    #[error("record of {len} bytes exceeds the configured maximum")]
    RecordTooLarge {
        /// The length announced by the record or block header.
        len: u64,
    },
    /// The gzip / xz / zstd stream is corrupt.
    #[error("decompression failed: {0}")]
    Decompress(String),
    /// A well-formed capture using a feature we do not support (for example
    /// a pcapng major version other than 1).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// Every cap and buffer size of this crate, with documented defaults.
///
/// Build with `WireConfig::default()` and override fields as needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireConfig {
    /// Initial size of the capture reader's buffer. Default 1 MiB.
    ///
    /// The buffer only grows when a single record does not fit, and never
    /// beyond `max_record_len` plus block overhead.
    pub read_buffer_size: usize,
    /// Decompress compressed captures (gzip, xz, zstd) on a helper
    /// thread, a few chunks ahead of the decoder ([`input::ReadAhead`]),
    /// so that decompression and decoding run side by side. At most
    /// [`input::READ_AHEAD_BYTES`] are held. Default on.
    pub read_ahead: bool,
    /// Largest captured length of one packet record (pcap caplen, pcapng
    /// EPB/SPB/OPB data), and largest pcapng header block (SHB, IDB) we
    /// buffer. Larger records end the file with
    /// [`ErrorKind::RecordTooLarge`]. Default 256 KiB.
    pub max_record_len: usize,
    /// Interfaces (IDBs) kept per pcapng section; further IDBs are counted in
    /// [`ReaderStats::interfaces_over_cap`] and their packets skipped.
    /// Default 1024.
    pub max_interfaces: usize,
    /// Fragmented datagrams being reassembled at once; when full the oldest
    /// is evicted (counted). Default 1024.
    pub max_datagrams_in_flight: usize,
    /// Largest reassembled datagram payload (fragment offset + length).
    /// Default 65535.
    pub max_datagram_len: usize,
    /// Fragments kept for one datagram before it is dropped. Default 256.
    pub max_fragments_per_datagram: usize,
    /// A datagram whose first fragment is older than this (in capture time,
    /// microseconds) is dropped. Default 30 s.
    pub frag_timeout_us: i64,
}

impl Default for WireConfig {
    fn default() -> Self {
        WireConfig {
            read_buffer_size: 1 << 20,
            read_ahead: true,
            max_record_len: 256 << 10,
            max_interfaces: 1024,
            max_datagrams_in_flight: 1024,
            max_datagram_len: 65535,
            max_fragments_per_datagram: 256,
            frag_timeout_us: 30_000_000,
        }
    }
}

#[cfg(test)]
mod testutil;
