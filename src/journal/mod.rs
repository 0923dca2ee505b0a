//! The result log (`results.csv`): one append-only CSV row per recipient per run, written the moment
//! the outcome is known (after the server's reply, never before), one `write` per row so that killing
//! the process loses no outcome already recorded, and flushed to disk (`fdatasync`) at most 100 ms
//! later and on every way out. Reading it back ([`read`], strict) gives the [`History`] a new run
//! resumes from: recipients with a `sent` or `unknown` row are not sent again (`unknown` only with
//! `--retry-unknown`), `failed` ones only with `--retry-failed`, and the `sent` rows of the current
//! UTC day count against `daily_limit`. While a run sends it holds the log's [`lock`], which also
//! records the messages in flight, so that a killed run's uncertain messages become `unknown` rows
//! instead of second copies.
//!
//! The last column, `relay`, came later: a log written before it (seven columns) is still read,
//! and a send [`upgrade`]s it in place before appending to it.

mod lock;
mod read;
mod torn;
mod upgrade;
mod write;

use chrono::NaiveDate;

use crate::address_index::AddressIndex;
use crate::campaign::recipients::address_key;

pub use lock::{InFlight, RunLock};
pub use read::{Row, Tail, each_row};
pub use write::Journal;

/// The header row; users script against these column names.
pub const HEADER: [&str; 8] = [
    "email",
    "status",
    "attempts",
    "code",
    "message_id",
    "detail",
    "time",
    "relay",
];

/// The header of a log written before the `relay` column: the first seven, in the same order.
pub const OLD_HEADER: &[&str] = HEADER.split_at(7).0;

/// A recipient's outcome. The names are the log's `status` column, matched exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The relay answered the final dot with 2xx.
    Sent,
    /// Not delivered: a 5xx, a 4xx after the last retry, a render error, a refusal.
    Failed,
    /// Not sent, for a reason in `detail` (duplicate, invalid address, suppressed).
    Skipped,
    /// The final dot went out but no valid 2xx/4xx/5xx reply came back (timeout, dropped
    /// connection, malformed or 3xx reply, the process stopped): it may have been delivered.
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Unknown => "unknown",
        }
    }

    /// How telling a status is, for the history: `sent` beats `unknown` (maybe delivered) beats
    /// `failed` beats `skipped`.
    fn rank(self) -> u64 {
        match self {
            Status::Skipped => 0,
            Status::Failed => 1,
            Status::Unknown => 2,
            Status::Sent => 3,
        }
    }

    fn from_rank(rank: u64) -> Status {
        match rank {
            0 => Status::Skipped,
            1 => Status::Failed,
            2 => Status::Unknown,
            _ => Status::Sent,
        }
    }

    fn parse(s: &str) -> Option<Status> {
        match s {
            "sent" => Some(Status::Sent),
            "failed" => Some(Status::Failed),
            "skipped" => Some(Status::Skipped),
            "unknown" => Some(Status::Unknown),
            _ => None,
        }
    }
}

/// One row of the log.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub email: &'a str,
    pub status: Status,
    pub attempts: u32,
    /// The last SMTP reply code, if there was a reply.
    pub code: Option<u16>,
    pub message_id: &'a str,
    /// The reply text, or the reason for a skip or failure.
    pub detail: &'a str,
    /// The relay that was sent to (its name, or its host); empty when none was (skipped, not
    /// rendered).
    pub relay: &'a str,
}

/// What earlier runs recorded, keyed by address (case-insensitive), in an [`AddressIndex`] so that
/// a long log costs no more memory than a short one.
#[derive(Debug, Default)]
pub struct History {
    /// The highest [`Status::rank`] logged for each address.
    highest: AddressIndex,
    /// Where each address's last `unknown` row starts in the log, for its Message-ID.
    unknown: AddressIndex,
    /// The log, to read those rows back.
    log: Option<std::fs::File>,
    /// Rows this run added when it opened the log (a dead run's messages in flight): the status
    /// and the Message-ID.
    settled: rustc_hash::FxHashMap<u64, (Status, String)>,
    /// `sent` rows whose time is on `today` (UTC).
    pub sent_today: u64,
    /// Those of them by relay (a few relays: a small map).
    sent_today_by_relay: rustc_hash::FxHashMap<String, u64>,
    pub today: Option<NaiveDate>,
}

impl History {
    /// The most telling status recorded for an address (see [`Status::rank`]).
    pub fn status(&self, email: &str) -> Option<Status> {
        let key = address_key(email);
        let logged = self.highest.get(key).map(Status::from_rank);
        let settled = self.settled.get(&key).map(|s| s.0);
        logged.into_iter().chain(settled).max_by_key(|s| s.rank())
    }

    /// The Message-ID of the address's last `unknown` row: a resend reuses it, so that the relay
    /// and the recipient's mail client can tell the two copies are one message.
    pub fn unknown_message_id(&self, email: &str) -> Option<String> {
        use std::os::unix::fs::FileExt;
        let key = address_key(email);
        if let Some((Status::Unknown, id)) = self.settled.get(&key) {
            return Some(id.clone());
        }
        let offset = self.unknown.get(key)?;
        let mut line = vec![0; 4096];
        let n = self.log.as_ref()?.read_at(&mut line, offset).ok()?;
        line.truncate(n);
        let record = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_slice())
            .records()
            .next()?
            .ok()?;
        record
            .get(4)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
    }

    /// `sent` rows of `today` (UTC, as [`History::sent_today`]) that went through `relay`.
    pub fn sent_today_via(&self, relay: &str) -> u64 {
        self.sent_today_by_relay.get(relay).copied().unwrap_or(0)
    }

    /// How many `unknown` rows opening the log added (a dead run's messages in flight).
    pub fn settled_unknown(&self) -> u64 {
        self.settled.len() as u64
    }

    pub fn len(&self) -> usize {
        self.highest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.highest.is_empty()
    }
}

#[cfg(test)]
mod tests;
