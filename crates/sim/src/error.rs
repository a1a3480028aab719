//! The simulator's error type: `Error { kind }`, every scenario problem
//! naming the field it is about.

use std::path::PathBuf;

/// An error from loading a scenario or simulating a world.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The scenario text is not valid TOML or does not match the format
    /// (unknown field, wrong type); `message` names the field and line.
    #[error("scenario {source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    /// A field has a value the simulator cannot use.
    #[error("scenario field `{field}`: {message}")]
    Field { field: String, message: String },
    /// Neither a built-in scenario nor a readable file.
    #[error("scenario `{name}`: {source}")]
    NotFound {
        name: String,
        source: std::io::Error,
    },
    /// Invalid simulation options.
    #[error("options: {0}")]
    Options(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorKind::Field {
            field: field.into(),
            message: message.into(),
        }
        .into()
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ErrorKind::Io {
            path: path.into(),
            source,
        }
        .into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error { kind }
    }
}
