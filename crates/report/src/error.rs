//! The one error type of this crate.

use std::io;
use std::path::{Path, PathBuf};

/// An error writing the report; it names the file.
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

    pub(crate) fn io(path: &Path, source: io::Error) -> Error {
        ErrorKind::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()
    }

    pub(crate) fn chart(name: &str, message: impl Into<String>) -> Error {
        ErrorKind::Chart {
            name: name.to_string(),
            message: message.into(),
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
    /// Creating or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Drawing a chart failed.
    #[error("chart {name}: {message}")]
    Chart { name: String, message: String },
}
