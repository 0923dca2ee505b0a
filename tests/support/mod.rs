//! The one test harness: every integration test file does `mod support;` and uses what it needs.
//!
//! * [`CaptureServer`]: `tests/support/capture_smtp.py` (aiosmtpd) in a child process;
//!   stores every accepted message; plain, STARTTLS or implicit TLS; optional AUTH.
//! * [`SmtpSink`]: Postfix's `/usr/sbin/smtp-sink`, a fast discard-everything server
//!   with message counters, for volume tests and its own fault flags.
//! * [`ScriptedServer`]: a small SMTP server in this process whose every reply is
//!   decided by a closure, for fault injection (4xx/5xx, dropped or stalled sessions).
//! * [`fixture`]: the campaign directory every suite works in ([`fixture::Fixture`]), the binary
//!   run on it, and what a run did ([`fixture::Run`]).
//! * [`campaign`]: what sending tests add to it: a campaign described by a `Spec`, the binary
//!   started and stopped, results.csv read back.
//!
//! Everything listens on 127.0.0.1 only. Prerequisites are installed by
//! `tests/support/setup.sh`. The Python interpreter is `$CAMPAIGN_TEST_PYTHON`,
//! default `python3`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod campaign;
pub mod fixture;

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

// ------------------------------------------------------------ CaptureServer ---

/// Transport security of a [`CaptureServer`].
#[allow(clippy::enum_variant_names)] // `StartTls` is the protocol's name
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tls {
    /// Plain SMTP; STARTTLS is not offered.
    #[default]
    None,
    /// STARTTLS offered and required before MAIL.
    StartTls,
    /// TLS from the first byte (SMTPS, "implicit TLS").
    Implicit,
}

impl Tls {
    fn arg(self) -> &'static str {
        match self {
            Tls::None => "none",
            Tls::StartTls => "starttls",
            Tls::Implicit => "implicit",
        }
    }
}

/// Options for [`CaptureServer::start`]. `CaptureOptions::default()` is plain SMTP
/// without AUTH.
#[derive(Clone, Debug, Default)]
pub struct CaptureOptions {
    pub tls: Tls,
    /// `(user, password)`: AUTH PLAIN and LOGIN are offered and these credentials
    /// accepted (others get `535 5.7.8`). `None`: AUTH is not advertised.
    pub auth: Option<(String, String)>,
    /// Refuse MAIL/RCPT/DATA with `530 5.7.0` until authenticated (needs `auth`).
    pub require_auth: bool,
    /// Identities the server certificate is valid for; empty means
    /// `localhost` and `127.0.0.1`. Set e.g. `["mail.example.test"]` to test a
    /// hostname mismatch.
    pub cert_names: Vec<String>,
    /// `(cert.pem, key.pem)` to serve instead of the generated certificate (a self-signed or
    /// expired one made by the test).
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl CaptureOptions {
    pub fn plain() -> Self {
        Self::default()
    }
    pub fn starttls() -> Self {
        Self {
            tls: Tls::StartTls,
            ..Self::default()
        }
    }
    pub fn implicit_tls() -> Self {
        Self {
            tls: Tls::Implicit,
            ..Self::default()
        }
    }
    /// Accept `user`/`password` via AUTH PLAIN/LOGIN.
    pub fn with_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }
    /// Also require AUTH before MAIL.
    pub fn require_auth(mut self) -> Self {
        self.require_auth = true;
        self
    }
}

/// One message accepted by a [`CaptureServer`].
#[derive(Clone, Debug)]
pub struct Received {
    /// 1-based order of acceptance.
    pub seq: u64,
    /// The DATA bytes as received (dot-unstuffed, CRLF line ends, no final ".").
    pub raw: Vec<u8>,
    /// Reverse-path of MAIL FROM, without the angle brackets.
    pub mail_from: String,
    /// MAIL FROM parameters, e.g. `SIZE=1234`, `BODY=8BITMIME`, `SMTPUTF8`.
    pub mail_options: Vec<String>,
    pub rcpt_tos: Vec<String>,
    /// Login name the session authenticated with, if any.
    pub auth_user: Option<String>,
    /// Whether the session was encrypted (STARTTLS done, or implicit TLS).
    pub tls: bool,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        parse(&self.raw)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// `capture_smtp.py` running in a child process on `127.0.0.1:port`.
/// Killed on drop (its temporary directory is removed with it).
pub struct CaptureServer {
    pub port: u16,
    /// Where the server writes `<seq>.eml` / `<seq>.json`.
    pub dir: PathBuf,
    pub opts: CaptureOptions,
    tls_dir: PathBuf,
    log: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    _tmp: TempDir,
}

impl CaptureServer {
    /// Starts the server and waits (up to [`START_TIMEOUT`]) until it listens.
    /// Panics, with the server's stderr, when it does not come up.
    pub fn start(opts: CaptureOptions) -> CaptureServer {
        let tmp = tempfile::Builder::new()
            .prefix("capture-smtp-")
            .tempdir()
            .expect("create temp dir");
        let dir = tmp.path().join("messages");
        let tls_dir = tmp.path().join("tls");
        let log = tmp.path().join("server.log");
        fs::create_dir_all(&dir).expect("create messages dir");

        let script = support_dir().join("capture_smtp.py");
        let mut cmd = Command::new(python());
        cmd.arg(&script)
            .args(["--port", "0", "--exit-on-stdin-eof"])
            .arg("--dir")
            .arg(&dir)
            .args(["--tls", opts.tls.arg()])
            // Always make a certificate, so ca_pem() exists even for plain servers.
            .arg("--make-cert")
            .arg(&tls_dir);
        for name in &opts.cert_names {
            cmd.args(["--cert-name", name]);
        }
        if let Some((cert, key)) = &opts.identity {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some((user, password)) = &opts.auth {
            cmd.args(["--auth-user", user, "--auth-password", password]);
        }
        if opts.require_auth {
            cmd.arg("--require-auth");
        }
        let log_file = fs::File::create(&log).expect("create server log");
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run {} {}: {e}; {SETUP_HINT}",
                python(),
                script.display()
            )
        });
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("child stdout");

        // Read stdout in a thread so that the wait can time out.
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("READY ") {
                        break port.trim().parse::<u16>().expect("port in READY line");
                    }
                    // Anything else on stdout is unexpected but harmless.
                }
                Err(err) => {
                    let why = match err {
                        mpsc::RecvTimeoutError::Timeout => {
                            format!("did not print READY within {START_TIMEOUT:?}")
                        }
                        mpsc::RecvTimeoutError::Disconnected => "exited before READY".to_owned(),
                    };
                    stop_child(&mut child, stdin, Duration::ZERO);
                    let status = child.try_wait().ok().flatten();
                    panic!(
                        "capture_smtp.py {why} (status {status:?}); {SETUP_HINT}\n--- stderr ---\n{}",
                        fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        };

        CaptureServer {
            port,
            dir,
            opts,
            tls_dir,
            log,
            child,
            stdin,
            _tmp: tmp,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    /// PEM of the CA that signed the server certificate: what the client must trust.
    pub fn ca_pem(&self) -> PathBuf {
        self.tls_dir.join("ca.pem")
    }

    /// The server certificate chain (leaf first).
    pub fn cert_pem(&self) -> PathBuf {
        self.tls_dir.join("cert.pem")
    }

    pub fn key_pem(&self) -> PathBuf {
        self.tls_dir.join("key.pem")
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// All messages accepted so far, in order of acceptance.
    pub fn messages(&self) -> Vec<Received> {
        let mut seqs: Vec<(u64, PathBuf)> = fs::read_dir(&self.dir)
            .expect("read capture dir")
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                if path.extension()? != "eml" {
                    return None;
                }
                let seq = path.file_stem()?.to_str()?.parse::<u64>().ok()?;
                Some((seq, path))
            })
            .collect();
        seqs.sort();
        seqs.into_iter()
            .map(|(seq, eml)| {
                let raw = fs::read(&eml).expect("read .eml");
                let json_path = eml.with_extension("json");
                let json = fs::read(&json_path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", json_path.display()));
                let meta: serde_json::Value =
                    serde_json::from_slice(&json).expect("parse capture json");
                let strings = |key: &str| -> Vec<String> {
                    meta[key]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                Received {
                    seq,
                    raw,
                    mail_from: meta["mail_from"].as_str().unwrap_or_default().to_owned(),
                    mail_options: strings("mail_options"),
                    rcpt_tos: strings("rcpt_tos"),
                    auth_user: meta["auth_user"].as_str().map(str::to_owned),
                    tls: meta["tls"].as_bool().unwrap_or(false),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages were accepted and returns them all.
    /// Panics on timeout, or if the server died.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let msgs = self.messages();
            if msgs.len() >= n {
                return msgs;
            }
            if Instant::now() >= deadline {
                panic!(
                    "capture server on port {}: {} of {n} messages after {timeout:?}\n--- stderr ---\n{}",
                    self.port,
                    msgs.len(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        // Closing stdin asks the server to exit (--exit-on-stdin-eof); then kill.
        stop_child(&mut self.child, self.stdin.take(), Duration::from_secs(3));
    }
}

// ----------------------------------------------------------------- SmtpSink ---

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

// ----------------------------------------------------------- ScriptedServer ---

/// Point in an SMTP session at which a [`ScriptedServer`] asks its script for a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// New connection; default reply `220 localhost ESMTP scripted`.
    Connect,
    /// Default: `250-localhost`, `250-SIZE 35882577`, `250-8BITMIME`, `250 SMTPUTF8`.
    Ehlo,
    /// Default `250 localhost`.
    Helo,
    /// `MAIL FROM`; default `250 2.1.0 Ok`. A 2xx reply starts the transaction.
    Mail,
    /// `RCPT TO`; default `250 2.1.5 Ok` (`503` without MAIL). A 2xx reply adds the
    /// recipient.
    Rcpt,
    /// The `DATA` command; default `354 End data with <CR><LF>.<CR><LF>` (`503`
    /// without MAIL, `554` without accepted recipients). The server reads the
    /// message only if the reply sent starts with 354.
    Data,
    /// The final `.` of the message; `Event::data` holds the message.
    /// Default `250 2.0.0 Ok: queued as <msg>`.
    DataEnd,
    /// Default `250 2.0.0 Ok`; ends the transaction.
    Rset,
    /// Default `250 2.0.0 Ok`.
    Noop,
    /// Default `221 2.0.0 Bye`; the server closes the connection after any reply.
    Quit,
    /// Any other command (AUTH, STARTTLS, VRFY...); default `502 5.5.2 Error:
    /// command not recognized`.
    Other,
}

/// What the script of a [`ScriptedServer`] is asked about.
#[derive(Debug)]
pub struct Event<'a> {
    pub stage: Stage,
    /// 1-based number of the connection, in order of acceptance.
    pub conn: usize,
    /// 1-based, server-wide number of the current transaction (incremented by
    /// each MAIL command, accepted or not); 0 before the first MAIL.
    pub msg: usize,
    /// 1-based, server-wide count of events of this stage, this one included:
    /// `stage == DataEnd && nth == 1` is "the first end of DATA ever".
    pub nth: usize,
    /// The command line, without CRLF (empty for `Connect` and `DataEnd`).
    pub line: &'a str,
    /// Reverse-path of the current transaction, if MAIL was accepted (for
    /// `Mail`: the one being offered).
    pub mail_from: Option<&'a str>,
    /// For `Rcpt`: the recipient being offered.
    pub rcpt: Option<&'a str>,
    /// Recipients accepted so far in this transaction.
    pub rcpt_tos: &'a [String],
    /// For `DataEnd`: the message (dot-unstuffed, without the final ".").
    pub data: Option<&'a [u8]>,
}

/// A reply chosen by the script of a [`ScriptedServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The normal reply for the stage (see [`Stage`]).
    Default,
    /// This reply text, e.g. `"451 4.7.1 try later"`. Lines separated by `\n`
    /// make a multi-line reply (`"250-a\n250 b"`); CRLFs are added.
    Text(String),
    /// Close the connection without replying.
    Drop,
    /// Sleep, then act on the inner reply. `Delay(d, Drop)` is a stall.
    Delay(Duration, Box<Reply>),
    /// Only for `Stage::Data`: send 354, read this many bytes of the message
    /// (fewer if the client stops), then close the connection.
    DropMidData(usize),
}

impl Reply {
    /// `Reply::text("550 5.1.1 no such user")`.
    pub fn text(s: impl Into<String>) -> Reply {
        Reply::Text(s.into())
    }
    /// Accept the connection/command and never answer for `d`, then hang up.
    pub fn stall(d: Duration) -> Reply {
        Reply::Delay(d, Box::new(Reply::Drop))
    }
    /// Wait `d`, then send `reply`.
    pub fn after(d: Duration, reply: Reply) -> Reply {
        Reply::Delay(d, Box::new(reply))
    }
}

/// A message that reached the end of DATA on a [`ScriptedServer`].
#[derive(Clone, Debug)]
pub struct Transaction {
    pub conn: usize,
    pub msg: usize,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// Dot-unstuffed message bytes, without the final ".".
    pub raw: Vec<u8>,
    /// The reply code sent for the end of DATA; `None` if the server hung up.
    pub code: Option<u16>,
}

impl Transaction {
    /// Whether the server accepted the message (2xx).
    pub fn accepted(&self) -> bool {
        matches!(self.code, Some(200..=299))
    }
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        parse(&self.raw)
    }
}

type Script = dyn Fn(&Event<'_>) -> Reply + Send + Sync;

#[derive(Default)]
struct ScriptedState {
    connections: usize,
    msgs: usize,
    stage_counts: HashMap<Stage, usize>,
    transactions: Vec<Transaction>,
    data_ends: Vec<Transaction>,
    commands: Vec<(usize, String)>,
    streams: Vec<TcpStream>,
    stopping: bool,
}

struct Shared {
    script: Box<Script>,
    state: Mutex<ScriptedState>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ScriptedState> {
        // A panicking script must not wedge the other sessions.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An SMTP server on 127.0.0.1 (a thread per connection) whose every reply is
/// chosen by a script, for fault injection. Enough SMTP for lettre: no
/// PIPELINING, no STARTTLS, no AUTH (unless the script answers them).
///
/// ```ignore
/// // 451 for the first message's end of DATA, 550 for one recipient, else OK:
/// let server = ScriptedServer::start(|ev| match ev.stage {
///     Stage::DataEnd if ev.nth == 1 => Reply::text("451 4.7.1 try later"),
///     Stage::Rcpt if ev.rcpt == Some("nobody@example.com") => {
///         Reply::text("550 5.1.1 no such user")
///     }
///     _ => Reply::Default,
/// });
/// ```
pub struct ScriptedServer {
    pub port: u16,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    pub fn start<F>(script: F) -> ScriptedServer
    where
        F: Fn(&Event<'_>) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            script: Box::new(script),
            state: Mutex::new(ScriptedState::default()),
            changed: Condvar::new(),
        });
        let sh = Arc::clone(&shared);
        let accept_thread = thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let conn = {
                    let mut st = sh.lock();
                    if st.stopping {
                        break;
                    }
                    st.connections += 1;
                    if let Ok(clone) = stream.try_clone() {
                        st.streams.push(clone);
                    }
                    st.connections
                };
                sh.changed.notify_all();
                let sh = Arc::clone(&sh);
                thread::spawn(move || {
                    let _ = Session::new(stream, conn, &sh).and_then(|mut s| s.run());
                });
            }
        });
        ScriptedServer {
            port,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// A server that accepts everything.
    pub fn accept_all() -> ScriptedServer {
        Self::start(|_| Reply::Default)
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Messages accepted (2xx at end of DATA), in order.
    pub fn messages(&self) -> Vec<Transaction> {
        self.shared
            .lock()
            .transactions
            .iter()
            .filter(|t| t.accepted())
            .cloned()
            .collect()
    }

    /// Every message that reached the end of DATA, accepted or not, in order.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.shared.lock().transactions.clone()
    }

    /// Every message whose final "." was read, in order, recorded before the script is asked
    /// for the reply (so also when the reply is delayed, never sent, or the session is gone by
    /// then); `code` is `None`. What the server received, whatever it answered.
    pub fn data_ends(&self) -> Vec<Transaction> {
        self.shared.lock().data_ends.clone()
    }

    /// Waits until the final "." of at least `n` messages was read ([`Self::data_ends`]); returns
    /// them. Panics on timeout.
    pub fn wait_for_data_ends(&self, n: usize, timeout: Duration) -> Vec<Transaction> {
        self.wait_until(timeout, |st| st.data_ends.len() >= n)
            .unwrap_or_else(|| {
                panic!(
                    "scripted server: {} of {n} ends of DATA after {timeout:?}; commands: {:?}",
                    self.data_ends().len(),
                    self.commands()
                )
            });
        self.data_ends()
    }

    /// Every command line received, as `(connection, line)`, in order.
    pub fn commands(&self) -> Vec<(usize, String)> {
        self.shared.lock().commands.clone()
    }

    /// How many received commands start with `verb` (case-insensitive), e.g. "RSET".
    pub fn count_commands(&self, verb: &str) -> usize {
        self.shared
            .lock()
            .commands
            .iter()
            .filter(|(_, line)| {
                line.split_whitespace()
                    .next()
                    .is_some_and(|v| v.eq_ignore_ascii_case(verb))
            })
            .count()
    }

    /// Waits until at least `n` messages were accepted; returns them. Panics on timeout.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Transaction> {
        self.wait_until(timeout, |st| {
            st.transactions.iter().filter(|t| t.accepted()).count() >= n
        })
        .unwrap_or_else(|| {
            panic!(
                "scripted server: {} of {n} messages accepted after {timeout:?}; commands: {:?}",
                self.messages().len(),
                self.commands()
            )
        });
        self.messages()
    }

    /// Waits until at least `n` messages reached the end of DATA. Panics on timeout.
    pub fn wait_for_transactions(&self, n: usize, timeout: Duration) -> Vec<Transaction> {
        self.wait_until(timeout, |st| st.transactions.len() >= n)
            .unwrap_or_else(|| {
                panic!(
                    "scripted server: {} of {n} transactions after {timeout:?}; commands: {:?}",
                    self.transactions().len(),
                    self.commands()
                )
            });
        self.transactions()
    }

    fn wait_until(&self, timeout: Duration, cond: impl Fn(&ScriptedState) -> bool) -> Option<()> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if cond(&st) {
                return Some(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        let streams = {
            let mut st = self.shared.lock();
            st.stopping = true;
            std::mem::take(&mut st.streams)
        };
        for s in streams {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so it sees `stopping`.
        let _ = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        // Connection threads still sleeping in a Delay finish on their own.
    }
}

enum Outcome {
    /// Reply sent, with its code (0 if unparsable).
    Sent(u16),
    Closed,
    DropMidData(usize),
}

struct Session<'s> {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    conn: usize,
    shared: &'s Shared,
    msg: usize,
    mail_from: Option<String>,
    rcpt_tos: Vec<String>,
}

impl<'s> Session<'s> {
    fn new(stream: TcpStream, conn: usize, shared: &'s Shared) -> io::Result<Self> {
        Ok(Session {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            conn,
            shared,
            msg: 0,
            mail_from: None,
            rcpt_tos: Vec::new(),
        })
    }

    fn ask(
        &self,
        stage: Stage,
        line: &str,
        mail_from: Option<&str>,
        rcpt: Option<&str>,
        data: Option<&[u8]>,
    ) -> Reply {
        let nth = {
            let mut st = self.shared.lock();
            let n = st.stage_counts.entry(stage).or_insert(0);
            *n += 1;
            *n
        };
        (self.shared.script)(&Event {
            stage,
            conn: self.conn,
            msg: self.msg,
            nth,
            line,
            mail_from,
            rcpt,
            rcpt_tos: &self.rcpt_tos,
            data,
        })
    }

    fn perform(&mut self, reply: Reply, default: &str) -> io::Result<Outcome> {
        match reply {
            Reply::Default => self.send(default),
            Reply::Text(text) => self.send(&text),
            Reply::Drop => {
                let _ = self.writer.shutdown(Shutdown::Both);
                Ok(Outcome::Closed)
            }
            Reply::Delay(d, inner) => {
                thread::sleep(d);
                self.perform(*inner, default)
            }
            Reply::DropMidData(n) => Ok(Outcome::DropMidData(n)),
        }
    }

    fn send(&mut self, text: &str) -> io::Result<Outcome> {
        let mut out = String::new();
        let mut last = "";
        for line in text.trim_end_matches(['\r', '\n']).split('\n') {
            let line = line.trim_end_matches('\r');
            out.push_str(line);
            out.push_str("\r\n");
            last = line;
        }
        self.writer.write_all(out.as_bytes())?;
        self.writer.flush()?;
        let code = last.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        Ok(Outcome::Sent(code))
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_tos.clear();
    }

    fn run(&mut self) -> io::Result<()> {
        let reply = self.ask(Stage::Connect, "", None, None, None);
        match self.perform(reply, "220 localhost ESMTP scripted")? {
            Outcome::Sent(_) => {}
            _ => {
                self.close();
                return Ok(());
            }
        }
        loop {
            let mut raw = Vec::new();
            if self.reader.read_until(b'\n', &mut raw)? == 0 {
                return Ok(());
            }
            let line = String::from_utf8_lossy(&raw)
                .trim_end_matches(['\r', '\n'])
                .to_owned();
            self.shared.lock().commands.push((self.conn, line.clone()));
            self.shared.changed.notify_all();
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let outcome = match verb.as_str() {
                "EHLO" => {
                    self.reset();
                    let r = self.ask(Stage::Ehlo, &line, None, None, None);
                    self.perform(
                        r,
                        "250-localhost\n250-SIZE 35882577\n250-8BITMIME\n250 SMTPUTF8",
                    )?
                }
                "HELO" => {
                    self.reset();
                    let r = self.ask(Stage::Helo, &line, None, None, None);
                    self.perform(r, "250 localhost")?
                }
                "MAIL" => {
                    self.reset();
                    self.msg = {
                        let mut st = self.shared.lock();
                        st.msgs += 1;
                        st.msgs
                    };
                    let from = path_arg(&line, "FROM:");
                    let r = self.ask(Stage::Mail, &line, Some(&from), None, None);
                    let o = self.perform(r, "250 2.1.0 Ok")?;
                    if matches!(o, Outcome::Sent(200..=299)) {
                        self.mail_from = Some(from);
                    }
                    o
                }
                "RCPT" => {
                    let to = path_arg(&line, "TO:");
                    let from = self.mail_from.clone();
                    let r = self.ask(Stage::Rcpt, &line, from.as_deref(), Some(&to), None);
                    let default = if from.is_some() {
                        "250 2.1.5 Ok"
                    } else {
                        "503 5.5.1 Error: need MAIL command"
                    };
                    let o = self.perform(r, default)?;
                    if matches!(o, Outcome::Sent(200..=299)) {
                        self.rcpt_tos.push(to);
                    }
                    o
                }
                "DATA" => self.data(&line)?,
                "RSET" => {
                    self.reset();
                    let r = self.ask(Stage::Rset, &line, None, None, None);
                    self.perform(r, "250 2.0.0 Ok")?
                }
                "NOOP" => {
                    let r = self.ask(Stage::Noop, &line, self.mail_from.as_deref(), None, None);
                    self.perform(r, "250 2.0.0 Ok")?
                }
                "QUIT" => {
                    let r = self.ask(Stage::Quit, &line, self.mail_from.as_deref(), None, None);
                    let _ = self.perform(r, "221 2.0.0 Bye")?;
                    self.close();
                    return Ok(());
                }
                _ => {
                    let r = self.ask(Stage::Other, &line, self.mail_from.as_deref(), None, None);
                    self.perform(r, "502 5.5.2 Error: command not recognized")?
                }
            };
            if !matches!(outcome, Outcome::Sent(_)) {
                self.close();
                return Ok(());
            }
        }
    }

    /// Handles DATA: the command, the message, and the end of DATA.
    fn data(&mut self, line: &str) -> io::Result<Outcome> {
        let from = self.mail_from.clone();
        let r = self.ask(Stage::Data, line, from.as_deref(), None, None);
        let default = match (&from, self.rcpt_tos.is_empty()) {
            (None, _) => "503 5.5.1 Error: need MAIL command",
            (Some(_), true) => "554 5.5.1 Error: no valid recipients",
            (Some(_), false) => "354 End data with <CR><LF>.<CR><LF>",
        };
        match self.perform(r, default)? {
            Outcome::Sent(354) => {}
            Outcome::DropMidData(n) => {
                self.send("354 End data with <CR><LF>.<CR><LF>")?;
                let mut buf = vec![0u8; n];
                let mut got = 0;
                while got < n {
                    match self.reader.read(&mut buf[got..])? {
                        0 => break,
                        k => got += k,
                    }
                }
                return Ok(Outcome::Closed);
            }
            other => return Ok(other),
        }

        // Read the message up to the lone ".", undoing dot-stuffing.
        let mut message = Vec::new();
        loop {
            let mut l = Vec::new();
            if self.reader.read_until(b'\n', &mut l)? == 0 {
                return Ok(Outcome::Closed); // client went away mid-DATA
            }
            if l == b".\r\n" || l == b".\n" {
                break;
            }
            let body = if l.first() == Some(&b'.') {
                &l[1..]
            } else {
                &l[..]
            };
            message.extend_from_slice(body);
        }

        self.shared.lock().data_ends.push(Transaction {
            conn: self.conn,
            msg: self.msg,
            mail_from: from.clone().unwrap_or_default(),
            rcpt_tos: self.rcpt_tos.clone(),
            raw: message.clone(),
            code: None,
        });
        self.shared.changed.notify_all();
        let r = self.ask(Stage::DataEnd, "", from.as_deref(), None, Some(&message));
        let default = format!("250 2.0.0 Ok: queued as {}", self.msg);
        let outcome = self.perform(r, &default)?;
        let code = match outcome {
            Outcome::Sent(code) => Some(code),
            _ => None,
        };
        let txn = Transaction {
            conn: self.conn,
            msg: self.msg,
            mail_from: from.unwrap_or_default(),
            rcpt_tos: std::mem::take(&mut self.rcpt_tos),
            raw: message,
            code,
        };
        self.reset();
        self.shared.lock().transactions.push(txn);
        self.shared.changed.notify_all();
        Ok(outcome)
    }

    fn close(&mut self) {
        let _ = self.writer.shutdown(Shutdown::Both);
    }
}

/// The address of `MAIL FROM:<a>` / `RCPT TO:<a>` (without brackets; empty for `<>`).
fn path_arg(line: &str, keyword: &str) -> String {
    let upper = line.to_ascii_uppercase();
    let Some(at) = upper.find(keyword) else {
        return String::new();
    };
    let rest = line[at + keyword.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        inner.split('>').next().unwrap_or("").to_owned()
    } else {
        rest.split_whitespace().next().unwrap_or("").to_owned()
    }
}

// ------------------------------------------------------- raw SMTP client ---

/// A minimal line-oriented SMTP client over a plain TcpStream, for tests that
/// talk to a server directly.
pub struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawClient {
    /// Connects (5 s read timeout) and returns the client and the greeting.
    pub fn connect(port: u16) -> (RawClient, String) {
        let stream = TcpStream::connect(loopback(port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set timeout");
        let mut client = RawClient {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
        };
        let greeting = client.read_reply();
        (client, greeting)
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// Sends one command line (CRLF added) and returns the full reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.read_reply()
    }

    /// Reads one (possibly multi-line) reply; lines joined with `\n`. Empty at EOF.
    pub fn read_reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            match self.reader.read_line(&mut l) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let l = l.trim_end_matches(['\r', '\n']).to_owned();
            let more = l.as_bytes().get(3) == Some(&b'-');
            lines.push(l);
            if !more {
                break;
            }
        }
        lines.join("\n")
    }

    /// Sends a message with DATA (dot-stuffing it) and returns the final reply.
    pub fn data(&mut self, message: &str) -> String {
        let r = self.cmd("DATA");
        assert!(r.starts_with("354"), "DATA: {r}");
        let mut out = String::new();
        for line in message.split("\r\n") {
            if line.starts_with('.') {
                out.push('.');
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        if message.ends_with("\r\n") {
            out.truncate(out.len() - 2);
        }
        out.push_str(".\r\n");
        self.send_raw(out.as_bytes());
        self.read_reply()
    }
}
