//! The process exit codes, as one type converted to a number in one place. Users script against these
//! numbers, so they are part of the public interface (see the README's "Exit codes").

/// How a `campaign` invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every recipient was sent (or previewed) or skipped.
    Success,
    /// At least one recipient failed; the result log says which and why.
    SomeFailed,
    /// The campaign is invalid (bad TOML, missing file, template error, …); nothing was sent.
    InvalidCampaign,
    /// A fatal transport error (authentication, TLS, server unreachable) stopped the run.
    Fatal,
    /// The daily limit was reached; the next run (after midnight UTC) continues.
    DailyLimit,
    /// Another run is sending with the same result log; nothing was sent.
    Busy,
    /// A file could not be written (disk full, no permission, read-only file system): the
    /// previews, the result log or its lock. Not a transport failure: the relay was fine.
    OutputFailed,
    /// `--no-wait` outside the send window (or before `--not-before`): nothing more is sent now;
    /// the output says when to run again.
    NotNow,
    /// Stopped by this signal (SIGINT, SIGTERM, SIGHUP) after the messages in flight were logged;
    /// the next run resumes. The code is the shell's convention, 128 + the signal number.
    Stopped(i32),
}

impl ExitCode {
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::SomeFailed => 1,
            ExitCode::InvalidCampaign => 2,
            ExitCode::Fatal => 3,
            ExitCode::DailyLimit => 4,
            ExitCode::Busy => 5,
            ExitCode::OutputFailed => 6,
            ExitCode::NotNow => 7,
            ExitCode::Stopped(signal) => 128 + signal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn codes_are_the_documented_numbers() {
        assert_eq!(ExitCode::Success.code(), 0);
        assert_eq!(ExitCode::SomeFailed.code(), 1);
        assert_eq!(ExitCode::InvalidCampaign.code(), 2);
        assert_eq!(ExitCode::Fatal.code(), 3);
        assert_eq!(ExitCode::DailyLimit.code(), 4);
        assert_eq!(ExitCode::Busy.code(), 5);
        assert_eq!(ExitCode::OutputFailed.code(), 6);
        assert_eq!(ExitCode::NotNow.code(), 7);
        assert_eq!(ExitCode::Stopped(1).code(), 129, "SIGHUP");
        assert_eq!(ExitCode::Stopped(2).code(), 130, "SIGINT");
        assert_eq!(ExitCode::Stopped(15).code(), 143, "SIGTERM");
    }
}
