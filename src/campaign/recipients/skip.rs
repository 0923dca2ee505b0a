//! Why a row is not sent, in the words the dry run, `check` and the result log show: an empty or
//! invalid address, a duplicate, a row whose field count differs from the header's, or a
//! suppressed address. Also the one address check the reader and its pre-pass share.

use std::str::FromStr;

use lettre::Address;

/// Why a row is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    EmptyAddress,
    InvalidAddress(String),
    Duplicate { first_line: u64 },
    MalformedRow { fields: usize, expected: usize },
    Suppressed,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::EmptyAddress => write!(f, "empty address"),
            SkipReason::InvalidAddress(why) => write!(f, "invalid address: {why}"),
            SkipReason::Duplicate { first_line } => write!(f, "duplicate of line {first_line}"),
            SkipReason::MalformedRow { fields, expected } => {
                write!(
                    f,
                    "malformed row: {fields} fields, the header has {expected}"
                )
            }
            SkipReason::Suppressed => write!(f, "suppressed"),
        }
    }
}

/// Why `email` cannot be sent to, or `None` when it can.
pub(super) fn check_address(email: &str) -> Option<SkipReason> {
    if email.is_empty() {
        return Some(SkipReason::EmptyAddress);
    }
    match Address::from_str(email) {
        Ok(_) => None,
        Err(e) => Some(SkipReason::InvalidAddress(e.to_string())),
    }
}
