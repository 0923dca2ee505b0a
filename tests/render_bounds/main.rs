//! Tera safety and bounds (issue 10 items 2, 3, 9, 10, 12, 14, 15): what templates may read (only
//! `CAMPAIGN_VAR_*` variables, only files inside their folders), template recursion refused at load,
//! the cost of one recipient's render bounded (range, message size, row size), layouts folders with
//! symlink loops, header lines within RFC 5322's 998 octets, and division by zero in plain words.
//! The real binary runs on campaigns written into a tempdir; sends go to the aiosmtpd capture server
//! on 127.0.0.1, and its peak memory is read from `/proc/PID/status` while it runs.
//!
//! This file holds the suite's helpers (running the binary with its memory watched, campaigns,
//! results); the tests are in one file a behaviour.

#[path = "../support/mod.rs"]
mod support;

mod cost;
mod headers;
mod reach;
mod template_faults;

use std::time::Duration;

use support::fixture::{Fixture, Run};
use support::{CaptureOptions, CaptureServer};

const FROM: &str = "Acme News <news@acme.example>";
const PASSWORD: &str = "Pw-7q!Zk3#vX9-secret";

// ------------------------------------------------------------------ running ---

/// What a watched run did, and the child's peak resident memory (VmHWM) in MiB.
struct Watched {
    out: Run,
    peak_mib: u64,
}

/// Runs `campaign <command> <dir> <extra…>` from the tempdir with `env` set (and CAMPAIGN_*
/// settings of the caller removed), polling its peak memory; kills it and fails the test past
/// `limit` seconds or `max_mib` MiB.
fn watched(
    fx: &Fixture,
    command: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
    max_mib: u64,
) -> Watched {
    let (out, peak_kib) = fx
        .spawn_command(command, extra, env)
        .wait_measuring(limit, max_mib * 1024);
    Watched {
        out,
        peak_mib: peak_kib / 1024,
    }
}

/// A run that must end within 60 s and 1 GiB.
fn run(fx: &Fixture, command: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    watched(fx, command, extra, env, Duration::from_secs(60), 1024).out
}

#[track_caller]
fn expect(out: &Run, code: i32) {
    assert_eq!(out.code, code, "exit code: {out:#?}");
}

/// campaign.toml with `[smtp]` pointing at `port` (0: no `[smtp]`) and `extra` appended.
fn toml(subject: &str, port: u16, extra: &str) -> String {
    let smtp = if port == 0 {
        String::new()
    } else {
        format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n")
    };
    format!("subject = \"{subject}\"\nfrom = \"{FROM}\"\n{extra}\n{smtp}")
}

fn capture() -> CaptureServer {
    CaptureServer::start(CaptureOptions::plain())
}

/// The rows of results.csv as (email, status, detail).
fn results(fx: &Fixture) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(fx.dir().join("results.csv")).unwrap_or_default();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string(), r[5].to_string())
        })
        .collect()
}
