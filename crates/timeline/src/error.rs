//! The one error type of this crate.

/// An error of the timeline analysis: only configuration can fail (the
/// analysis itself skips and counts what it cannot use).
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
    /// The alert configuration is not valid TOML or has unknown fields.
    #[error("alert configuration: {0}")]
    ConfigParse(String),
    /// A configuration value is out of range.
    #[error("alert configuration: `{field}` {message}")]
    Config {
        field: &'static str,
        message: String,
    },
}
