//! Exactly-once delivery and the result log: each test is named after a defect by which a recipient
//! could get two copies, or lose the record of one, or the log could be damaged or misread. The
//! real `campaign` binary runs on a campaign written into a tempdir (`tests/support/campaign.rs`)
//! and sends to a server on 127.0.0.1: the aiosmtpd capture server, or the scripted server for
//! faults. A copy counts as received once the server has read the message's final dot, whatever
//! it answered ([`copies`]): from there on the message may be delivered.
//!
//! The interface under test: results.csv statuses `sent`, `failed`, `skipped` and `unknown` (the
//! message may have been delivered; detail says "may have been delivered"); `--retry-unknown`;
//! `[smtp] data_timeout` (seconds to wait for the reply to the final dot, default 600) and
//! `[send] stop_after_rejections` (default 20, 0 = never); exit codes 0 all sent or skipped, 1 some
//! failed or unknown, 2 invalid input, 3 fatal transport error or run stopped, 5 another run holds
//! the result log's lock, 128 + N when stopped by signal N (129 SIGHUP, 130 SIGINT, 143 SIGTERM).
//!
//! This file holds the suite's shared helpers; the tests are in one file a kind of defect.

#[path = "../support/mod.rs"]
mod support;

mod final_reply;
mod lock;
mod rejections;
mod result_log;
mod signals;

use std::collections::HashSet;

use support::campaign::{Row, email};

/// What the detail of an `unknown` row says.
const MAY_HAVE: &str = "may have been delivered";

/// Asserts `row` is an `unknown` row that says the message may have been delivered.
#[track_caller]
fn assert_unknown(row: &Row) {
    assert_eq!(row.status, "unknown", "{row:?}");
    assert!(row.detail.contains(MAY_HAVE), "detail: {row:?}");
}

/// The addresses of the rows with this status.
fn emails_with(rows: &[Row], status: &str) -> HashSet<String> {
    rows.iter()
        .filter(|r| r.status == status)
        .map(|r| r.email.clone())
        .collect()
}

/// Whether `text` holds `needle` with no digit right before or after it (so `line 4` is not
/// found in `line 40`, nor pid 123 in 41234).
fn has_whole(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// Whether an error message names line `n` of results.csv: `results.csv:N` or `line N`.
fn names_line(stderr: &str, n: u64) -> bool {
    has_whole(stderr, &format!("results.csv:{n}")) || has_whole(stderr, &format!("line {n}"))
}

/// A `sent` row as the binary writes it, for hand-made logs.
fn sent_line(i: usize) -> String {
    format!(
        "{},sent,1,250,id{i}@acme.example,2.0.0 Ok: queued as {i},2026-11-21T10:00:00Z,\n",
        email(i)
    )
}
