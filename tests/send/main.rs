//! Integration tests for sending: a campaign directory is written into a tempdir, the real
//! `campaign` binary sends it to a real SMTP server on 127.0.0.1 (`tests/support`: the aiosmtpd
//! capture server, or the scripted server for fault injection), and every assertion is about what
//! the server received, what the binary printed and exited with, and what `results.csv` says. The
//! harness (campaign directory, runs of the binary, results.csv rows) is `tests/support/campaign.rs`.
//!
//! The tests are in one file a behaviour; they share nothing but the harness.

#[path = "../support/mod.rs"]
mod support;

mod delivery;
mod faults;
mod plan;
mod progress;
mod resume;
mod summary;
mod tls_auth;
