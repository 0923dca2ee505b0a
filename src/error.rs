//! The library's error type. Each variant maps to one exit code (see `exit.rs`); every message names
//! the file (and line or row where there is one) and says what to do, because the user reads it as is.

use std::path::Path;

use crate::exit::ExitCode;

/// An error that stops a `campaign` command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The campaign cannot be used as it stands (bad TOML, missing file, template error, …).
    /// Nothing has been sent or written.
    #[error("{0}")]
    Invalid(String),
    /// A transport failure that would fail every recipient (authentication, TLS, unreachable server).
    #[error("{0}")]
    Fatal(String),
    /// Another run holds the result log's lock; nothing was sent.
    #[error("{0}")]
    Locked(String),
    /// Writing previews or the result log failed (exit 6): one sentence naming the file and the
    /// OS's reason.
    #[error("{context}: {source}")]
    Output {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Invalid(_) => ExitCode::InvalidCampaign,
            Error::Fatal(_) => ExitCode::Fatal,
            Error::Locked(_) => ExitCode::Busy,
            Error::Output { .. } => ExitCode::OutputFailed,
        }
    }

    /// An `Output` error about `path`.
    pub fn output(what: &str, path: &Path, source: std::io::Error) -> Error {
        Error::Output {
            context: format!("cannot {what} {}", path.display()),
            source,
        }
    }
}

/// Shorthand for an [`Error::Invalid`] built with `format!`.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::error::Error::Invalid(format!($($arg)*)) };
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
