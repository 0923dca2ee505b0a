//! The campaign-directory harness of the sending tests (`tests/send.rs`, `tests/exactly_once.rs`):
//! a [`Spec`] becomes campaign.toml and recipients.csv in a tempdir ([`Fixture`]), the real
//! `campaign` binary runs on it ([`Running`], [`Run`]), and results.csv is read back as [`Row`]s.
//! The helpers at the end count what an SMTP server of [`super`] received, per recipient.
//!
//! Layout of each tempdir (the binary runs with the tempdir as its working directory, so no `.env`
//! of the developer's is ever read):
//!
//! ```text
//! <tmp>/campaign/      campaign.toml, email.html, recipients.csv (and ca.pem, .env, results.csv)
//! <tmp>/templates/     empty, so the ancestor search for a layouts folder stops here
//! <tmp>/runs/         out-N.txt, err-N.txt: stdout / stderr of the N-th run (not in a snapshot)
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use super::fixture::{Fixture, RUNS, Run};
use super::{CaptureOptions, CaptureServer, ScriptedServer, Transaction};

/// The From address of every test campaign (and so the envelope sender).
pub const FROM: &str = "news@acme.example";
/// How long any single run of the binary may take before the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a server to have received what a finished run sent.
pub const WAIT: Duration = Duration::from_secs(10);
pub const USER: &str = "alice";
/// Distinctive, so that finding it anywhere it must not be is unambiguous.
pub const PASSWORD: &str = "Pw-7q!Zk3#vX9-secret";
/// The header of results.csv.
pub const HEADER: &str = "email,status,attempts,code,message_id,detail,time,relay";
/// The header of a results.csv written before the `relay` column (a send upgrades such a log).
pub const OLD_HEADER: &str = "email,status,attempts,code,message_id,detail,time";

// ------------------------------------------------------------------ fixture ---

/// What goes into campaign.toml and recipients.csv.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Write an `[smtp]` section at all.
    pub smtp: bool,
    pub host: String,
    pub port: u16,
    pub security: &'static str,
    pub username: Option<&'static str>,
    /// A CA certificate to copy into the campaign directory as `ca.pem` (`ca_file = "ca.pem"`).
    pub ca_pem: Option<PathBuf>,
    pub timeout: Option<u64>,
    /// `[smtp] data_timeout`: seconds to wait for the reply to the final dot.
    pub data_timeout: Option<u64>,
    pub rate: Option<&'static str>,
    pub concurrency: usize,
    pub retries: u32,
    pub daily_limit: Option<u64>,
    /// `[send] stop_after_rejections`.
    pub stop_after_rejections: Option<u64>,
    /// `[send] throttle_pause`: seconds every session pauses on a "slow down" reply.
    pub throttle_pause: Option<u64>,
    /// Generated rows `r000@example.com` … (see [`email`]).
    pub recipients: usize,
    /// Rows appended after the generated ones, as written.
    pub extra_rows: Vec<&'static str>,
}

impl Spec {
    /// Sending to `server` as to a real relay: STARTTLS to `localhost` (the server's test CA in
    /// `ca_file`), AUTH as [`USER`] (the password is given to the run: [`PASSWORD`]).
    pub fn starttls_auth(server: &CaptureServer) -> Spec {
        Spec {
            host: "localhost".into(),
            security: "starttls",
            username: Some(USER),
            ca_pem: Some(server.ca_pem()),
            ..Spec::new(server.port)
        }
    }

    /// Plain SMTP to 127.0.0.1:`port`, no AUTH, concurrency 2, 2 retries, 5 recipients.
    pub fn new(port: u16) -> Spec {
        Spec {
            smtp: true,
            host: "127.0.0.1".into(),
            port,
            security: "none",
            username: None,
            ca_pem: None,
            timeout: None,
            data_timeout: None,
            rate: None,
            concurrency: 2,
            retries: 2,
            daily_limit: None,
            stop_after_rejections: None,
            throttle_pause: None,
            recipients: 5,
            extra_rows: Vec::new(),
        }
    }

    pub fn toml(&self) -> String {
        let mut t = String::from("subject = \"Hello {{ first_name }}, the April news\"\n");
        t += &format!("from = \"Acme News <{FROM}>\"\n");
        if self.smtp {
            t += &format!(
                "\n[smtp]\nhost = \"{}\"\nport = {}\nsecurity = \"{}\"\n",
                self.host, self.port, self.security
            );
            if let Some(user) = self.username {
                t += &format!("username = \"{user}\"\n");
            }
            if self.ca_pem.is_some() {
                t += "ca_file = \"ca.pem\"\n";
            }
            if let Some(timeout) = self.timeout {
                t += &format!("timeout = {timeout}\n");
            }
            if let Some(timeout) = self.data_timeout {
                t += &format!("data_timeout = {timeout}\n");
            }
        }
        t += &format!(
            "\n[send]\nconcurrency = {}\nretries = {}\n",
            self.concurrency, self.retries
        );
        if let Some(rate) = self.rate {
            t += &format!("rate = \"{rate}\"\n");
        }
        if let Some(limit) = self.daily_limit {
            t += &format!("daily_limit = {limit}\n");
        }
        if let Some(n) = self.stop_after_rejections {
            t += &format!("stop_after_rejections = {n}\n");
        }
        if let Some(n) = self.throttle_pause {
            t += &format!("throttle_pause = {n}\n");
        }
        t
    }

    pub fn csv(&self) -> String {
        let mut csv = String::from("email,first_name\n");
        for i in 0..self.recipients {
            csv += &format!("{},{}\n", email(i), first_name(i));
        }
        for row in &self.extra_rows {
            csv += row;
            csv += "\n";
        }
        csv
    }

    /// The generated recipients' addresses.
    pub fn emails(&self) -> Vec<String> {
        (0..self.recipients).map(email).collect()
    }
}

/// The `i`-th generated recipient.
pub fn email(i: usize) -> String {
    format!("r{i:03}@example.com")
}

/// The `first_name` of the `i`-th recipient: not ASCII, so the subject must be encoded.
pub fn first_name(i: usize) -> String {
    format!("Zoë-{i:03}")
}

const HTML: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n\
<style>p.lead { color: #123456 }</style></head>\n\
<body><p class=\"lead\">Dear {{ first_name }},</p>\n<p>The April news.</p></body></html>\n";

/// A run of the binary still going. Dropping it kills (SIGKILL) and reaps the process if it still
/// runs, so that a failing test leaves no binary behind.
pub struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
}

/// One row of results.csv.
#[derive(Clone, Debug)]
pub struct Row {
    pub email: String,
    pub status: String,
    pub attempts: u32,
    pub code: String,
    pub message_id: String,
    pub detail: String,
    pub relay: String,
}

impl Fixture {
    /// The campaign directory a sending test describes.
    pub fn from_spec(spec: &Spec) -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("campaign-send-")
            .tempdir()
            .expect("create tempdir");
        let dir = tmp.path().join("campaign");
        fs::create_dir(&dir).unwrap();
        fs::create_dir(tmp.path().join("templates")).unwrap();
        fs::write(dir.join("campaign.toml"), spec.toml()).unwrap();
        fs::write(dir.join("email.html"), HTML).unwrap();
        fs::write(dir.join("recipients.csv"), spec.csv()).unwrap();
        if let Some(ca) = &spec.ca_pem {
            fs::copy(ca, dir.join("ca.pem")).expect("copy the CA into the campaign");
        }
        Fixture {
            tmp,
            dir,
            runs: AtomicUsize::new(0),
        }
    }

    pub fn write(&self, rel: &str, contents: &str) {
        fs::write(self.dir.join(rel), contents).unwrap();
    }

    /// Starts `campaign run <dir> --no-progress <args…>`; the password is put in the environment
    /// when given, else removed from it.
    pub fn spawn(&self, args: &[&str], password: Option<&str>) -> Running {
        self.spawn_via(&[], args, password)
    }

    /// [`Fixture::spawn`] under a wrapper program: `wrapper[0] wrapper[1..] campaign run …`
    /// (e.g. `strace -o trace.txt`). An empty `wrapper` runs the binary itself.
    pub fn spawn_via(&self, wrapper: &[&str], args: &[&str], password: Option<&str>) -> Running {
        let bin = env!("CARGO_BIN_EXE_campaign");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(bin),
            Some((program, wrapper_args)) => {
                let mut cmd = Command::new(program);
                cmd.args(wrapper_args).arg(bin);
                cmd
            }
        };
        cmd.arg("run")
            .arg(&self.dir)
            .arg("--no-progress")
            .args(args);
        let env: &[(&str, &str)] = match password {
            Some(p) => &[("CAMPAIGN_SMTP_PASSWORD", p)],
            None => &[],
        };
        self.start(cmd, env)
    }

    /// Starts `campaign <command> <dir> <args…>` with `env` set.
    pub fn spawn_command(&self, command: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_campaign"));
        cmd.arg(command).arg(&self.dir).args(args);
        self.start(cmd, env)
    }

    /// Starts `cmd` from the tempdir, output to files, the caller's `CAMPAIGN_*` settings removed
    /// and `env` set.
    fn start(&self, mut cmd: Command, env: &[(&str, &str)]) -> Running {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        let runs = self.tmp.path().join(RUNS);
        fs::create_dir_all(&runs).unwrap();
        let out = runs.join(format!("out-{n}.txt"));
        let err = runs.join(format!("err-{n}.txt"));
        cmd.current_dir(self.tmp.path())
            .env_remove("CAMPAIGN_TEMPLATES")
            .env_remove("CAMPAIGN_DKIM_KEY")
            .env_remove("CAMPAIGN_SMTP_PASSWORD")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        for (name, value) in env {
            cmd.env(name, value);
        }
        let started = Instant::now();
        let child = cmd.spawn().expect("run the campaign binary");
        Running {
            child,
            out,
            err,
            started,
        }
    }

    /// Runs `campaign run <dir> --no-progress <args…>` to completion (failing the test after
    /// [`RUN_TIMEOUT`]).
    pub fn send(&self, args: &[&str], password: Option<&str>) -> Run {
        self.spawn(args, password).wait()
    }

    pub fn results_path(&self) -> PathBuf {
        self.dir.join("results.csv")
    }

    pub fn results_text(&self) -> String {
        fs::read_to_string(self.results_path()).unwrap_or_default()
    }

    /// The raw bytes of results.csv (empty when there is none).
    pub fn results_bytes(&self) -> Vec<u8> {
        fs::read(self.results_path()).unwrap_or_default()
    }

    /// The rows of results.csv after checking its header (a row cut short is left out).
    pub fn rows(&self) -> Vec<Row> {
        let text = self.results_text();
        assert!(
            text.starts_with(&format!("{HEADER}\n")),
            "results.csv header:\n{text}"
        );
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        reader
            .records()
            .filter_map(Result::ok)
            .filter(|r| r.len() == 8)
            .map(|r| Row::from_record(&r))
            .collect()
    }

    /// The rows of results.csv, asserting that the whole file is a well-formed log: the header,
    /// then records the csv crate reads without error, each of exactly 8 fields, the last one
    /// ended by a newline.
    #[track_caller]
    pub fn strict_rows(&self) -> Vec<Row> {
        let text = self.results_text();
        assert!(
            text.starts_with(&format!("{HEADER}\n")),
            "results.csv header:\n{text}"
        );
        assert!(
            text.ends_with('\n'),
            "results.csv ends with a newline:\n{text}"
        );
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.unwrap_or_else(|e| panic!("results.csv record {i}: {e}\n{text}"));
            assert_eq!(
                record.len(),
                8,
                "results.csv line {}: {record:?}\n{text}",
                record.position().map_or(0, |p| p.line())
            );
            rows.push(Row::from_record(&record));
        }
        rows
    }

    /// The rows with this status.
    pub fn rows_with(&self, status: &str) -> Vec<Row> {
        self.rows()
            .into_iter()
            .filter(|r| r.status == status)
            .collect()
    }

    /// The number of complete `sent` rows in results.csv right now (safe while a run writes it).
    pub fn sent_rows_now(&self) -> usize {
        let text = self.results_text();
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        complete
            .lines()
            .filter(|l| l.split(',').nth(1) == Some("sent"))
            .count()
    }
}

impl Row {
    fn from_record(r: &csv::StringRecord) -> Row {
        Row {
            email: r[0].to_string(),
            status: r[1].to_string(),
            attempts: r[2].parse().expect("attempts is a number"),
            code: r[3].to_string(),
            message_id: r[4].to_string(),
            detail: r[5].to_string(),
            relay: r[7].to_string(),
        }
    }
}

/// The number of a signal given by name (`"TERM"`, `"SIGHUP"`, …), as `kill -l` lists them on
/// Linux; panics on a name the tests do not use.
pub fn signal_number(name: &str) -> i32 {
    match name.trim_start_matches("SIG") {
        "HUP" => 1,
        "INT" => 2,
        "KILL" => 9,
        "TERM" => 15,
        other => panic!("signal_number: unknown signal {other:?}"),
    }
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the signal `sig` (a name: `"TERM"`, `"HUP"`, `"INT"`, `"KILL"`, …) with `kill(1)`.
    #[track_caller]
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{}", sig.trim_start_matches("SIG")))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -{sig} {}: {status}", self.pid());
    }

    /// Whether the process is still running (not exited, not killed).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to end, failing the test after [`RUN_TIMEOUT`] from its start.
    pub fn wait(self) -> Run {
        self.wait_within(RUN_TIMEOUT)
    }

    /// Waits for the process to end by exit or by a signal; fails the test (after SIGKILLing it)
    /// when it has not ended `limit` after it started.
    pub fn wait_within(mut self, limit: Duration) -> Run {
        let deadline = self.started + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the binary") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the binary did not finish within {limit:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    fs::read_to_string(&self.out).unwrap_or_default(),
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.started.elapsed();
        let signal = status.signal();
        Run {
            code: status
                .code()
                .or(signal.map(|s| 128 + s))
                .expect("an exit code or a signal"),
            signal,
            stdout: fs::read_to_string(&self.out).unwrap(),
            stderr: fs::read_to_string(&self.err).unwrap(),
            elapsed,
        }
    }

    /// [`Running::wait_within`], also polling the process's peak resident memory (`VmHWM`):
    /// returns it in KiB with the run, and fails the test (after SIGKILLing the process) past
    /// `max_kib`.
    pub fn wait_measuring(mut self, limit: Duration, max_kib: u64) -> (Run, u64) {
        let status = format!("/proc/{}/status", self.pid());
        let mut peak = 0;
        while self.is_running() && self.started.elapsed() < limit {
            let hwm = fs::read_to_string(&status).ok().and_then(|text| {
                let line = text.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
                line.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            });
            peak = peak.max(hwm.unwrap_or(0));
            if peak > max_kib {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "killed the binary at {peak} KiB (limit {max_kib} KiB)\n--- stderr ---\n{}",
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (self.wait_within(limit), peak)
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the binary");
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

// ------------------------------------------------------------------ helpers ---

/// How many times each envelope recipient was received.
pub fn tally<'a>(rcpts: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in rcpts {
        *counts.entry(r.clone()).or_insert(0) += 1;
    }
    counts
}

/// Asserts every address in `expected` was received exactly once and nothing else was.
#[track_caller]
pub fn assert_each_once(received: &BTreeMap<String, usize>, expected: &[String]) {
    let want: BTreeMap<String, usize> = expected.iter().map(|e| (e.clone(), 1)).collect();
    assert_eq!(received, &want, "recipients received (address → times)");
}

pub fn capture_rcpts(server: &CaptureServer) -> BTreeMap<String, usize> {
    tally(server.messages().iter().flat_map(|m| &m.rcpt_tos))
}

pub fn scripted_rcpts(messages: &[Transaction]) -> BTreeMap<String, usize> {
    tally(messages.iter().flat_map(|m| &m.rcpt_tos))
}

/// How many copies of the message each recipient got at a scripted server: the messages whose
/// final dot it read, whatever it answered (or whether it answered at all): once the client has
/// written the final dot, the message may be delivered.
pub fn copies(server: &ScriptedServer) -> BTreeMap<String, usize> {
    scripted_rcpts(&server.data_ends())
}

/// The recipient of a one-recipient message.
pub fn only_rcpt(rcpt_tos: &[String]) -> &str {
    assert_eq!(rcpt_tos.len(), 1, "one recipient per message: {rcpt_tos:?}");
    &rcpt_tos[0]
}

#[track_caller]
pub fn row_for<'a>(rows: &'a [Row], email: &str) -> &'a Row {
    let found: Vec<&Row> = rows.iter().filter(|r| r.email == email).collect();
    assert_eq!(found.len(), 1, "rows for {email}: {rows:#?}");
    found[0]
}

/// A capture server speaking STARTTLS that requires AUTH as [`USER`] / [`PASSWORD`] (see
/// [`Spec::starttls_auth`]).
pub fn starttls_auth_server() -> CaptureServer {
    CaptureServer::start(
        CaptureOptions::starttls()
            .with_auth(USER, PASSWORD)
            .require_auth(),
    )
}
