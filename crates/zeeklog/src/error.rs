//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// An error from writing or reading Zeek-format logs.
///
/// Every error names the file it is about; match on [`Error::kind`] for
/// the details.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error {
    kind: ErrorKind,
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    pub(crate) fn create_dir(path: PathBuf, source: io::Error) -> Error {
        ErrorKind::CreateDir { path, source }.into()
    }

    pub(crate) fn write(path: PathBuf, source: io::Error) -> Error {
        ErrorKind::Write { path, source }.into()
    }

    pub(crate) fn read(path: PathBuf, source: io::Error) -> Error {
        ErrorKind::Read { path, source }.into()
    }

    pub(crate) fn malformed(path: PathBuf, line: u64, msg: impl Into<String>) -> Error {
        ErrorKind::Malformed {
            path,
            line,
            msg: msg.into(),
        }
        .into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error { kind }
    }
}

/// The kinds of [`Error`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The output directory (or its `mail/` subdirectory) could not be
    /// created.
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A log or mail file could not be created, written or flushed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A log file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A Zeek TSV file is not well formed (1-based line number).
    #[error("{}:{line}: {msg}", path.display())]
    Malformed {
        path: PathBuf,
        line: u64,
        msg: String,
    },
}
