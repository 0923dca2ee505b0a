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
    /// Interrupted by Ctrl-C; the next run resumes.
    Interrupted,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::SomeFailed => 1,
            ExitCode::InvalidCampaign => 2,
            ExitCode::Fatal => 3,
            ExitCode::DailyLimit => 4,
            ExitCode::Interrupted => 130,
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
        assert_eq!(ExitCode::Interrupted.code(), 130);
    }
}
