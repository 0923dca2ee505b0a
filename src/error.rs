//! The library's error type, opaque in the manner of lettre's: what went wrong is asked with
//! predicates ([`Error::is_invalid`], [`Error::is_fatal`], …), never by matching a message. Each
//! kind maps to one exit code (see `exit.rs`); every message names the file (and line or row where
//! there is one) and says what to do, because the user reads it as is.

use std::path::Path;

use crate::exit::ExitCode;

/// An error that stops a `campaign` command.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    /// The OS's reason, for an output error.
    source: Option<std::io::Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Fatal,
    Locked,
    Output,
}

impl Error {
    /// The campaign or command line cannot be used as it stands (bad TOML, missing file, template
    /// error, …). Nothing has been sent or written.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Kind::Invalid, message.into(), None)
    }

    /// A failure that would fail every recipient (authentication, TLS, unreachable server, a
    /// relay rejecting everything).
    pub fn fatal(message: impl Into<String>) -> Error {
        Error::new(Kind::Fatal, message.into(), None)
    }

    /// Another run holds the result log's lock; nothing was sent.
    pub fn locked(message: impl Into<String>) -> Error {
        Error::new(Kind::Locked, message.into(), None)
    }

    /// Writing previews or the result log failed: `cannot <what> <path>` and the OS's reason.
    pub fn output(what: &str, path: &Path, source: std::io::Error) -> Error {
        Error::output_of(format!("cannot {what} {}", path.display()), source)
    }

    /// An output error with its own first words (`context: <the OS's reason>`).
    pub fn output_of(context: String, source: std::io::Error) -> Error {
        Error::new(Kind::Output, context, Some(source))
    }

    fn new(kind: Kind, message: String, source: Option<std::io::Error>) -> Error {
        Error {
            kind,
            message,
            source,
        }
    }

    /// Bad input: exit 2, nothing sent or written.
    pub fn is_invalid(&self) -> bool {
        self.kind == Kind::Invalid
    }

    /// A transport failure that stopped the run (exit 3).
    pub fn is_fatal(&self) -> bool {
        self.kind == Kind::Fatal
    }

    /// Another run is sending with the same result log (exit 5).
    pub fn is_locked(&self) -> bool {
        self.kind == Kind::Locked
    }

    /// A file could not be written: disk full, permission, read-only (exit 6).
    pub fn is_output(&self) -> bool {
        self.kind == Kind::Output
    }

    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self.kind {
            Kind::Invalid => ExitCode::InvalidCampaign,
            Kind::Fatal => ExitCode::Fatal,
            Kind::Locked => ExitCode::Busy,
            Kind::Output => ExitCode::OutputFailed,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Shorthand for [`Error::invalid`] built with `format!`.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::error::Error::invalid(format!($($arg)*)) };
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_predicate_and_exit_code() {
        let io = || std::io::Error::other("No space left on device");
        let cases = [
            (Error::invalid("x"), ExitCode::InvalidCampaign),
            (Error::fatal("x"), ExitCode::Fatal),
            (Error::locked("x"), ExitCode::Busy),
            (
                Error::output("write", Path::new("/o/a.eml"), io()),
                ExitCode::OutputFailed,
            ),
        ];
        for (e, code) in &cases {
            assert_eq!(e.exit_code(), *code);
            let kinds = [e.is_invalid(), e.is_fatal(), e.is_locked(), e.is_output()];
            assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{e:?}");
        }
        assert_eq!(
            cases[3].0.to_string(),
            "cannot write /o/a.eml: No space left on device"
        );
    }
}
