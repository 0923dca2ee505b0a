//! The one test harness: every integration test file does `mod support;` (a suite in a folder,
//! `tests/<suite>/main.rs`, does `#[path = "../support/mod.rs"] mod support;`) and uses what it needs.
//! One file a server, all re-exported here so that `support::X` names each of them:
//!
//! * [`CaptureServer`] (`capture.rs`): `tests/support/capture_smtp.py` (aiosmtpd) in a child process;
//!   stores every accepted message; plain, STARTTLS or implicit TLS; optional AUTH.
//! * [`SmtpSink`] (`sink.rs`): Postfix's `/usr/sbin/smtp-sink`, a fast discard-everything server
//!   with message counters, for volume tests and its own fault flags.
//! * [`ScriptedServer`] (`scripted.rs`, its SMTP session in `scripted/session.rs`): a small SMTP
//!   server in this process whose every reply is decided by a closure, for fault injection
//!   (4xx/5xx, dropped or stalled sessions).
//! * [`RawClient`] (`raw.rs`): a line-oriented SMTP client for talking to a server directly.
//! * [`assert_same_bytes`] (`same_bytes.rs`): compares two messages or files byte for byte and, when
//!   they differ, prints the first differing line with a few lines of context, escaped.
//! * [`fixture`]: the campaign directory every suite works in ([`fixture::Fixture`]), the binary
//!   run on it, and what a run did ([`fixture::Run`]).
//! * [`campaign`]: what sending tests add to it: a campaign described by a `Spec`, the binary
//!   started and stopped, results.csv read back.
//!
//! Everything listens on 127.0.0.1 only. Prerequisites are installed by
//! `tests/support/setup.sh`. The Python interpreter is `$CAMPAIGN_TEST_PYTHON`,
//! default `python3`.

#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::thread;
use std::time::{Duration, Instant};

pub mod campaign;
pub mod fixture;
pub mod keys;
pub mod terminal;

mod capture;
mod raw;
mod same_bytes;
mod scripted;
mod sink;

// Each suite uses only some of the servers: a re-export it leaves unused is not a mistake.
#[allow(unused_imports)]
pub use {capture::*, raw::*, same_bytes::*, scripted::*, sink::*};

/// How long a server gets to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

const SETUP_HINT: &str = "are the test prerequisites installed? run `bash tests/support/setup.sh`";

// ------------------------------------------------------------------ helpers ---

/// The `campaign` binary built by cargo for this test run.
pub fn campaign_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_campaign"))
}

/// Parses a raw RFC 5322 message; panics if it cannot be parsed.
pub fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| {
            panic!(
                "mail-parser could not parse message:\n{}",
                String::from_utf8_lossy(raw)
            )
        })
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
/// Another process may take it before you bind it: retry on "address in use".
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `127.0.0.1:<port>`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The directory of this module: `<crate>/tests/support`.
pub fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("support")
}

/// The Python interpreter used for `capture_smtp.py`.
pub fn python() -> String {
    std::env::var("CAMPAIGN_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn is_root() -> bool {
    // /proc/self is owned by the effective uid.
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Kills and reaps a child; asks it to exit first by closing its stdin when given.
fn stop_child(child: &mut Child, stdin: Option<ChildStdin>, grace: Duration) {
    if let Some(stdin) = stdin {
        drop(stdin);
        if wait_until(grace, || !matches!(child.try_wait(), Ok(None))) {
            return;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
