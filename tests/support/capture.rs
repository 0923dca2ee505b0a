//! [`CaptureServer`]: `capture_smtp.py` (aiosmtpd) in a child process, storing every message it
//! accepts; plain, STARTTLS or implicit TLS, with optional AUTH.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{SETUP_HINT, START_TIMEOUT, loopback, parse, python, stop_child, support_dir};

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
