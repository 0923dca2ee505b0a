//! [`SmtpSink`]: Postfix's `smtp-sink` in a child process, a fast server that accepts and discards
//! everything and counts sessions and messages, for volume tests and its own fault flags.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tempfile::TempDir;

use super::{SETUP_HINT, START_TIMEOUT, free_port, is_root, loopback, stop_child, wait_until};

pub const SMTP_SINK: &str = "/usr/sbin/smtp-sink";
pub const SMTP_SOURCE: &str = "/usr/sbin/smtp-source";

/// Counters printed by `smtp-sink -c`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkCounters {
    /// Sessions ended.
    pub sessions: u64,
    /// QUIT commands.
    pub quits: u64,
    /// Messages received (final "." seen).
    pub messages: u64,
}

/// Postfix `smtp-sink` on `127.0.0.1:port`: accepts and discards everything
/// (advertises PIPELINING, 8BITMIME, AUTH PLAIN LOGIN — any credentials pass —,
/// ENHANCEDSTATUSCODES, DSN). Killed on drop.
pub struct SmtpSink {
    pub port: u16,
    counters: Arc<Mutex<SinkCounters>>,
    child: Child,
    log: PathBuf,
    _tmp: TempDir,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        Self::start_with(&[])
    }

    /// Starts smtp-sink with extra options placed before the address, e.g.
    /// `["-r", "RCPT"]` (4xx every RCPT), `["-f", "."]` (5xx at end of data),
    /// `["-q", "DATA"]` (hang up after DATA), `["-w", "3"]` (delay DATA reply).
    /// See smtp-sink(1). `-c` (counters) and, as root, `-u root` are always passed.
    pub fn start_with(extra_args: &[&str]) -> SmtpSink {
        let tmp = tempfile::Builder::new()
            .prefix("smtp-sink-")
            .tempdir()
            .expect("create temp dir");
        let log = tmp.path().join("stderr.log");
        let mut last_err = String::new();
        // The free port can be taken before smtp-sink binds it: retry.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(SMTP_SINK);
            cmd.arg("-c");
            if is_root() {
                // Required as root: the user to switch to after binding.
                cmd.args(["-u", "root"]);
            }
            cmd.args(extra_args)
                .arg(format!("127.0.0.1:{port}"))
                .arg("256") // listen(2) backlog
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(fs::File::create(&log).expect("create log")));
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {SMTP_SINK}: {e}; {SETUP_HINT}"));
            let counters = Arc::new(Mutex::new(SinkCounters::default()));
            let stdout = child.stdout.take().expect("child stdout");
            let c = Arc::clone(&counters);
            thread::spawn(move || read_sink_counters(stdout, &c));

            let up = wait_until(START_TIMEOUT, || {
                matches!(child.try_wait(), Ok(Some(_)))
                    || TcpStream::connect_timeout(&loopback(port), Duration::from_millis(200))
                        .is_ok()
            });
            match child.try_wait() {
                Ok(None) if up => {
                    return SmtpSink {
                        port,
                        counters,
                        child,
                        log,
                        _tmp: tmp,
                    };
                }
                _ => {
                    let _ = child.kill();
                    let status = child.wait();
                    last_err = format!(
                        "status {status:?}: {}",
                        fs::read_to_string(&log).unwrap_or_default()
                    );
                    if !last_err.contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("smtp-sink did not start: {last_err}");
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    /// The latest counters (`-c`). Note: the harness' own readiness probe counts as
    /// one session.
    pub fn counters(&self) -> SinkCounters {
        *self.counters.lock().unwrap()
    }

    /// Messages received so far.
    pub fn messages(&self) -> u64 {
        self.counters().messages
    }

    /// Waits until at least `n` messages were received. Panics on timeout.
    pub fn wait_for(&self, n: u64, timeout: Duration) -> SinkCounters {
        if !wait_until(timeout, || self.messages() >= n) {
            panic!(
                "smtp-sink on port {}: {:?}, wanted {n} messages after {timeout:?}\n--- stderr ---\n{}",
                self.port,
                self.counters(),
                fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        self.counters()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        stop_child(&mut self.child, None, Duration::ZERO);
    }
}

/// Parses `sess=N quit=N mesg=N` records separated by `\r` (or `\n`).
fn read_sink_counters(mut stdout: impl Read, counters: &Mutex<SinkCounters>) {
    let mut buf = [0u8; 4096];
    let mut pending = Vec::new();
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\r' || b == b'\n') {
            let record: Vec<u8> = pending.drain(..=end).collect();
            let record = String::from_utf8_lossy(&record);
            let mut c = SinkCounters::default();
            let mut seen = false;
            for field in record.split_whitespace() {
                let Some((k, v)) = field.split_once('=') else {
                    continue;
                };
                let Ok(v) = v.parse::<u64>() else { continue };
                seen = true;
                match k {
                    "sess" => c.sessions = v,
                    "quit" => c.quits = v,
                    "mesg" => c.messages = v,
                    _ => {}
                }
            }
            if seen {
                *counters.lock().unwrap() = c;
            }
        }
    }
}
