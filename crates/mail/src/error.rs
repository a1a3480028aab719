//! Errors of the mail crate.

use std::fmt;

/// Why a message (or a configuration file) could not be used.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The message is larger than `max_message_bytes`.
    MessageTooLarge { size: u64, cap: usize },
    /// The header section is larger than `max_header_bytes`.
    HeaderTooLarge { cap: usize },
    /// A line is longer than `max_line_bytes`.
    LineTooLong { offset: usize, cap: usize },
    /// MIME nesting deeper than `max_depth`.
    TooDeep { depth: usize, cap: usize },
    /// More MIME parts than `max_parts`.
    TooManyParts { parts: usize, cap: usize },
    /// No header section at all.
    NoHeaders,
    /// Empty input.
    Empty,
    /// The MIME parser gave up.
    Unparseable,
    /// A model, rules or dictionary file is wrong.
    Config(String),
}

/// An error of the mail crate.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
}

impl Error {
    pub fn new(kind: ErrorKind) -> Error {
        Error { kind }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::MessageTooLarge { size, cap } => write!(
                f,
                "message_too_large: {size} bytes, over max_message_bytes ({cap}); headers only"
            ),
            ErrorKind::HeaderTooLarge { cap } => write!(
                f,
                "header_too_large: no end of header section within max_header_bytes ({cap})"
            ),
            ErrorKind::LineTooLong { offset, cap } => write!(
                f,
                "line_too_long: line at byte offset {offset} is over max_line_bytes ({cap})"
            ),
            ErrorKind::TooDeep { depth, cap } => {
                write!(
                    f,
                    "mime_too_deep: nesting depth {depth} over max_depth ({cap})"
                )
            }
            ErrorKind::TooManyParts { parts, cap } => {
                write!(
                    f,
                    "too_many_parts: {parts} MIME parts, over max_parts ({cap})"
                )
            }
            ErrorKind::NoHeaders => write!(f, "no_headers: the first line is not a header field"),
            ErrorKind::Empty => write!(f, "empty: no bytes"),
            ErrorKind::Unparseable => write!(f, "unparseable: the MIME parser found no message"),
            ErrorKind::Config(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for Error {}
