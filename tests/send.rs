//! Integration tests for sending: a campaign directory is written into a tempdir, the real
//! `campaign` binary sends it to a real SMTP server on 127.0.0.1 (`tests/support`: the aiosmtpd
//! capture server, or the scripted server for fault injection), and every assertion is about what
//! the server received, what the binary printed and exited with, and what `results.csv` says.
//!
//! Layout of each tempdir (the binary runs with the tempdir as its working directory, so no `.env`
//! of the developer's is ever read):
//!
//! ```text
//! <tmp>/campaign/      campaign.toml, email.html, recipients.csv (and ca.pem, .env, results.csv)
//! <tmp>/templates/     empty, so the ancestor search for a layouts folder stops here
//! <tmp>/out-N.txt      stdout / stderr of the N-th run
//! ```

mod support;

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{CaptureOptions, CaptureServer, Reply, ScriptedServer, Stage, Transaction};
use tempfile::TempDir;

/// The From address of every test campaign (and so the envelope sender).
const FROM: &str = "news@acme.example";
/// How long any single run of the binary may take before the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a server to have received what a finished run sent.
const WAIT: Duration = Duration::from_secs(10);
const USER: &str = "alice";
/// Distinctive, so that finding it anywhere it must not be is unambiguous.
const PASSWORD: &str = "Pw-7q!Zk3#vX9-secret";
const HEADER: &str = "email,status,attempts,code,message_id,detail,time";

// ------------------------------------------------------------------ fixture ---

/// What goes into campaign.toml and recipients.csv.
#[derive(Clone, Debug)]
struct Spec {
    /// Write an `[smtp]` section at all.
    smtp: bool,
    host: String,
    port: u16,
    security: &'static str,
    username: Option<&'static str>,
    /// A CA certificate to copy into the campaign directory as `ca.pem` (`ca_file = "ca.pem"`).
    ca_pem: Option<PathBuf>,
    timeout: Option<u64>,
    rate: Option<&'static str>,
    concurrency: usize,
    retries: u32,
    daily_limit: Option<u64>,
    /// Generated rows `r000@example.com` … (see [`email`]).
    recipients: usize,
    /// Rows appended after the generated ones, as written.
    extra_rows: Vec<&'static str>,
}

impl Spec {
    /// Plain SMTP to 127.0.0.1:`port`, no AUTH, concurrency 2, 2 retries, 5 recipients.
    fn new(port: u16) -> Spec {
        Spec {
            smtp: true,
            host: "127.0.0.1".into(),
            port,
            security: "none",
            username: None,
            ca_pem: None,
            timeout: None,
            rate: None,
            concurrency: 2,
            retries: 2,
            daily_limit: None,
            recipients: 5,
            extra_rows: Vec::new(),
        }
    }

    fn toml(&self) -> String {
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
        t
    }

    fn csv(&self) -> String {
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
    fn emails(&self) -> Vec<String> {
        (0..self.recipients).map(email).collect()
    }
}

/// The `i`-th generated recipient.
fn email(i: usize) -> String {
    format!("r{i:03}@example.com")
}

/// The `first_name` of the `i`-th recipient: not ASCII, so the subject must be encoded.
fn first_name(i: usize) -> String {
    format!("Zoë-{i:03}")
}

const HTML: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n\
<style>p.lead { color: #123456 }</style></head>\n\
<body><p class=\"lead\">Dear {{ first_name }},</p>\n<p>The April news.</p></body></html>\n";

/// A campaign directory in its own tempdir.
struct Fixture {
    tmp: TempDir,
    dir: PathBuf,
    runs: AtomicUsize,
}

/// One finished run of the binary.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// A run of the binary still going.
struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
}

/// One row of results.csv.
#[derive(Clone, Debug)]
struct Row {
    email: String,
    status: String,
    attempts: u32,
    code: String,
    message_id: String,
    detail: String,
}

impl Fixture {
    fn new(spec: &Spec) -> Fixture {
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

    fn write(&self, rel: &str, contents: &str) {
        fs::write(self.dir.join(rel), contents).unwrap();
    }

    /// Starts `campaign run <dir> --no-progress <args…>`; the password is put in the environment
    /// when given, else removed from it.
    fn spawn(&self, args: &[&str], password: Option<&str>) -> Running {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        let out = self.tmp.path().join(format!("out-{n}.txt"));
        let err = self.tmp.path().join(format!("err-{n}.txt"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_campaign"));
        cmd.arg("run")
            .arg(&self.dir)
            .arg("--no-progress")
            .args(args)
            .current_dir(self.tmp.path())
            .env_remove("CAMPAIGN_TEMPLATES")
            .env_remove("CAMPAIGN_DKIM_KEY")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        match password {
            Some(p) => cmd.env("CAMPAIGN_SMTP_PASSWORD", p),
            None => cmd.env_remove("CAMPAIGN_SMTP_PASSWORD"),
        };
        let started = Instant::now();
        let child = cmd.spawn().expect("run the campaign binary");
        Running {
            child,
            out,
            err,
            started,
        }
    }

    /// Runs the binary to completion (failing the test after [`RUN_TIMEOUT`]).
    fn run(&self, args: &[&str], password: Option<&str>) -> Run {
        self.spawn(args, password).wait()
    }

    fn results_path(&self) -> PathBuf {
        self.dir.join("results.csv")
    }

    fn results_text(&self) -> String {
        fs::read_to_string(self.results_path()).unwrap_or_default()
    }

    /// The rows of results.csv after checking its header (a row cut short is left out).
    fn rows(&self) -> Vec<Row> {
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
            .filter(|r| r.len() == 7)
            .map(|r| Row {
                email: r[0].to_string(),
                status: r[1].to_string(),
                attempts: r[2].parse().expect("attempts is a number"),
                code: r[3].to_string(),
                message_id: r[4].to_string(),
                detail: r[5].to_string(),
            })
            .collect()
    }

    /// The rows with this status.
    fn rows_with(&self, status: &str) -> Vec<Row> {
        self.rows()
            .into_iter()
            .filter(|r| r.status == status)
            .collect()
    }

    /// The number of complete `sent` rows in results.csv right now (safe while a run writes it).
    fn sent_rows_now(&self) -> usize {
        let text = self.results_text();
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        complete
            .lines()
            .filter(|l| l.split(',').nth(1) == Some("sent"))
            .count()
    }
}

impl Running {
    fn wait(mut self) -> Run {
        let deadline = self.started + RUN_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the binary") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the binary did not finish within {RUN_TIMEOUT:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    fs::read_to_string(&self.out).unwrap_or_default(),
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.started.elapsed();
        Run {
            code: status.code().expect("exited, not killed"),
            stdout: fs::read_to_string(&self.out).unwrap(),
            stderr: fs::read_to_string(&self.err).unwrap(),
            elapsed,
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL the binary");
        let _ = self.child.wait();
    }
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    fn expect(&self, code: i32) -> &Run {
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
fn tally<'a>(rcpts: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in rcpts {
        *counts.entry(r.clone()).or_insert(0) += 1;
    }
    counts
}

/// Asserts every address in `expected` was received exactly once and nothing else was.
#[track_caller]
fn assert_each_once(received: &BTreeMap<String, usize>, expected: &[String]) {
    let want: BTreeMap<String, usize> = expected.iter().map(|e| (e.clone(), 1)).collect();
    assert_eq!(received, &want, "recipients received (address → times)");
}

fn capture_rcpts(server: &CaptureServer) -> BTreeMap<String, usize> {
    tally(server.messages().iter().flat_map(|m| &m.rcpt_tos))
}

fn scripted_rcpts(messages: &[Transaction]) -> BTreeMap<String, usize> {
    tally(messages.iter().flat_map(|m| &m.rcpt_tos))
}

/// The recipient of a one-recipient message.
fn only_rcpt(rcpt_tos: &[String]) -> &str {
    assert_eq!(rcpt_tos.len(), 1, "one recipient per message: {rcpt_tos:?}");
    &rcpt_tos[0]
}

fn row_for<'a>(rows: &'a [Row], email: &str) -> &'a Row {
    let found: Vec<&Row> = rows.iter().filter(|r| r.email == email).collect();
    assert_eq!(found.len(), 1, "rows for {email}: {rows:#?}");
    found[0]
}

// -------------------------------------------------------------------- tests ---

/// 1. A plain send reaches every recipient exactly once with the right envelope and content, and
///    the result log says so row by row, with the Message-ID the server saw.
#[test]
fn plain_send_delivers_each_recipient_once_and_logs_it() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 6,
        extra_rows: vec!["not-an-address,Bad", "R002@example.com,Again"],
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&[], None);
    run.expect(0);
    assert!(
        run.stdout.contains("sent 6, failed 0, skipped 2"),
        "{run:?}"
    );

    let received = server.wait_for(6, WAIT);
    assert_eq!(received.len(), 6, "one message per recipient");
    assert_each_once(&capture_rcpts(&server), &spec.emails());

    let rows = fx.rows();
    let header = fx.results_text().lines().next().unwrap().to_string();
    assert_eq!(header, HEADER);
    for m in &received {
        assert_eq!(m.mail_from, FROM, "envelope sender");
        assert!(!m.tls);
        assert_eq!(m.auth_user, None);
        let to = only_rcpt(&m.rcpt_tos);
        let i: usize = to[1..4].parse().unwrap();
        let parsed = m.parsed();
        let subject = format!("Hello {}, the April news", first_name(i));
        assert_eq!(parsed.subject(), Some(subject.as_str()), "decoded subject");
        let html = parsed.body_html(0).expect("an HTML part");
        assert!(
            html.contains(&format!("Dear {},", first_name(i))),
            "HTML with the recipient's variable: {html}"
        );
        assert!(
            html.contains("#123456"),
            "the <style> rule is inlined: {html}"
        );
        assert!(parsed.body_text(0).is_some(), "a text part");
        let from = parsed.from().and_then(|f| f.first()).unwrap();
        assert_eq!(from.address(), Some(FROM));
        let to_header = parsed.to().and_then(|t| t.first()).unwrap();
        assert_eq!(to_header.address(), Some(to));

        let row = row_for(&rows, to);
        assert_eq!(row.status, "sent");
        assert_eq!(row.attempts, 1);
        assert_eq!(row.code, "250");
        let message_id = parsed.message_id().expect("a Message-ID header");
        assert_eq!(
            row.message_id, message_id,
            "log's message_id = received header"
        );
        assert!(!row.message_id.starts_with('<') && !row.message_id.ends_with('>'));
        assert!(
            m.text().contains(&format!("Message-ID: <{message_id}>"))
                || m.text().contains(&format!("Message-Id: <{message_id}>")),
            "the header on the wire is in angle brackets"
        );
    }
    let sent = fx.rows_with("sent");
    let ids: HashSet<&str> = sent.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids.len(), 6, "a distinct Message-ID per message: {sent:#?}");

    let skipped = fx.rows_with("skipped");
    assert_eq!(skipped.len(), 2, "{rows:#?}");
    let invalid = row_for(&skipped, "not-an-address");
    assert!(invalid.detail.contains("invalid address"), "{invalid:?}");
    let duplicate = row_for(&skipped, "R002@example.com");
    assert!(duplicate.detail.contains("duplicate"), "{duplicate:?}");
    assert!(
        skipped
            .iter()
            .all(|r| r.attempts == 0 && r.code.is_empty() && r.message_id.is_empty())
    );
    assert_eq!(sent.len(), 6);
    assert_eq!(rows.len(), 8, "one row per CSV row: {rows:#?}");
}

/// Sends 3 recipients over TLS with AUTH (password from the environment) and checks that the
/// password leaks nowhere.
fn tls_auth_send(options: CaptureOptions, security: &'static str) {
    let server = CaptureServer::start(options.with_auth(USER, PASSWORD).require_auth());
    let spec = Spec {
        security,
        username: Some(USER),
        ca_pem: Some(server.ca_pem()),
        recipients: 3,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&[], Some(PASSWORD));
    run.expect(0);
    let received = server.wait_for(3, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    for m in &received {
        assert!(m.tls, "received over TLS");
        assert_eq!(m.auth_user.as_deref(), Some(USER), "authenticated as");
        assert!(!m.text().contains(PASSWORD), "password in a message");
    }
    assert!(!run.stdout.contains(PASSWORD), "password on stdout");
    assert!(!run.stderr.contains(PASSWORD), "password on stderr");
    assert!(!fx.results_text().contains(PASSWORD), "password in the log");
    assert_eq!(fx.rows_with("sent").len(), 3);
}

/// 2. STARTTLS, certificate checked against the campaign's ca_file, AUTH with the password from
///    CAMPAIGN_SMTP_PASSWORD.
#[test]
fn starttls_with_auth_uses_the_env_password_and_never_shows_it() {
    tls_auth_send(CaptureOptions::starttls(), "starttls");
}

/// 3. The same with implicit TLS (SMTPS).
#[test]
fn implicit_tls_with_auth() {
    tls_auth_send(CaptureOptions::implicit_tls(), "tls");
}

/// 4. Without the variable in the environment, the password is read from the campaign's `.env`.
#[test]
fn password_from_dotenv_in_the_campaign_directory() {
    let server = CaptureServer::start(
        CaptureOptions::starttls()
            .with_auth(USER, PASSWORD)
            .require_auth(),
    );
    let spec = Spec {
        security: "starttls",
        username: Some(USER),
        ca_pem: Some(server.ca_pem()),
        recipients: 2,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    fx.write(".env", &format!("CAMPAIGN_SMTP_PASSWORD='{PASSWORD}'\n"));
    let run = fx.run(&[], None);
    run.expect(0);
    let received = server.wait_for(2, WAIT);
    assert!(
        received
            .iter()
            .all(|m| m.auth_user.as_deref() == Some(USER))
    );
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
}

/// 5. A wrong password stops the run (exit 3) naming the server and the cause, without marking any
///    recipient failed; the next run with the right password sends everyone once.
#[test]
fn wrong_password_is_fatal_and_marks_nobody_failed() {
    let server = CaptureServer::start(
        CaptureOptions::plain()
            .with_auth(USER, PASSWORD)
            .require_auth(),
    );
    let spec = Spec {
        username: Some(USER),
        recipients: 4,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&[], Some("not-the-password"));
    run.expect(3);
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{}", server.port)),
        "names the server: {}",
        run.stderr
    );
    assert!(
        run.stderr.to_lowercase().contains("authentication"),
        "says why: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-password") && !run.stdout.contains("not-the-password"));
    assert!(fx.rows().is_empty(), "no rows: {}", fx.results_text());
    assert!(server.messages().is_empty());

    fx.run(&[], Some(PASSWORD)).expect(0);
    server.wait_for(4, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    assert_eq!(fx.rows_with("sent").len(), 4);
    assert!(fx.rows_with("failed").is_empty());
}

/// 6. A certificate the client does not trust (no ca_file) is fatal: exit 3, TLS named, nobody
///    marked failed, nothing sent.
#[test]
fn untrusted_certificate_is_fatal() {
    let server = CaptureServer::start(CaptureOptions::starttls());
    let spec = Spec {
        security: "starttls",
        recipients: 3,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&[], None);
    run.expect(3);
    assert!(run.stderr.contains("TLS"), "mentions TLS: {}", run.stderr);
    assert!(run.stderr.contains(&format!("127.0.0.1:{}", server.port)));
    assert!(fx.rows().is_empty(), "no rows: {}", fx.results_text());
    assert!(server.messages().is_empty());
}

/// 7. AUTH without encryption to a host that is not loopback is refused before any connection.
#[test]
fn auth_without_tls_to_a_remote_host_is_refused_up_front() {
    let spec = Spec {
        host: "192.0.2.1".into(), // TEST-NET-1: never reached, the run must stop before
        username: Some(USER),
        ..Spec::new(25)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&[], Some(PASSWORD));
    run.expect(2);
    assert!(
        run.elapsed < Duration::from_secs(5),
        "refused at once, not after a connection attempt: {:?}",
        run.elapsed
    );
    assert!(
        run.stderr.contains("unencrypted") && run.stderr.contains("security"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(PASSWORD));
    assert!(!fx.results_path().exists(), "no result log was even opened");
}

/// 8. Sessions are reused: 50 messages over at most `concurrency` connections.
#[test]
fn sessions_are_reused_across_messages() {
    let server = ScriptedServer::accept_all();
    let spec = Spec {
        recipients: 50,
        concurrency: 2,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    fx.run(&[], None).expect(0);
    let messages = server.wait_for(50, WAIT);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    assert!(
        server.connections() <= 2,
        "{} connections for 50 messages with concurrency 2",
        server.connections()
    );
    assert_eq!(fx.rows_with("sent").len(), 50);
}

/// 9a. A 451 at the end of DATA is retried on the same session; the retry is accepted once.
#[test]
fn transient_reply_at_end_of_data_is_retried() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd if ev.nth == 1 => Reply::text("451 4.3.0 try again later"),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 3,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    fx.run(&[], None).expect(0);
    let messages = server.wait_for(3, WAIT);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    let all = server.transactions();
    assert_eq!(all.len(), 4, "3 accepted + 1 refused: {all:?}");
    assert_eq!(all[0].code, Some(451));
    let retried = only_rcpt(&all[0].rcpt_tos).to_string();
    let rows = fx.rows();
    let row = row_for(&rows, &retried);
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2), "{row:?}");
    assert_eq!(row.code, "250");
    for other in spec.emails().iter().filter(|e| **e != retried) {
        assert_eq!(row_for(&rows, other).attempts, 1);
    }
    assert_eq!(server.connections(), 1, "the session survived the 451");
    assert!(server.count_commands("RSET") >= 1, "RSET after the 451");
}

/// The EHLO reply of a server that offers PIPELINING (RFC 2920).
const EHLO_PIPELINING: &str = "250-localhost\n250-PIPELINING\n250-8BITMIME\n250 SMTPUTF8";

/// Five recipients, one session; the server answers 550 to the second one's RCPT. Checks what holds
/// with and without PIPELINING: only that recipient fails, with the RCPT's 550 and no retry, the
/// four others are delivered once, all on one session. Returns the server and the rejected address.
fn one_rcpt_rejected(pipelining: bool) -> (ScriptedServer, String) {
    let rejected = email(2);
    let reject = rejected.clone();
    let server = ScriptedServer::start(move |ev| match ev.stage {
        Stage::Ehlo if pipelining => Reply::text(EHLO_PIPELINING),
        Stage::Rcpt if ev.rcpt == Some(reject.as_str()) => {
            Reply::text("550 5.1.1 no such user here")
        }
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 5,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&[], None);
    run.expect(1);
    assert!(run.stdout.contains("sent 4, failed 1"), "{run:?}");
    let messages = server.wait_for(4, WAIT);
    let others: Vec<String> = spec
        .emails()
        .into_iter()
        .filter(|e| *e != rejected)
        .collect();
    assert_each_once(&scripted_rcpts(&messages), &others);
    let rows = fx.rows();
    let row = row_for(&rows, &rejected);
    assert_eq!(row.status, "failed");
    assert_eq!(row.code, "550", "the RCPT's reply, not DATA's: {row:?}");
    assert_eq!(row.attempts, 1, "a 5xx is not retried");
    assert!(row.detail.contains("no such user"), "{row:?}");
    let rcpts_for_rejected = server
        .commands()
        .iter()
        .filter(|(_, l)| l.starts_with("RCPT") && l.contains(&rejected))
        .count();
    assert_eq!(rcpts_for_rejected, 1, "offered once");
    assert_eq!(server.connections(), 1, "one session for all five");
    assert_eq!(fx.rows_with("sent").len(), 4);
    (server, rejected)
}

/// 9b. A 550 for one recipient fails only that one (no retry); the session goes on after RSET.
#[test]
fn permanent_rcpt_rejection_fails_one_recipient_and_keeps_the_session() {
    let (server, _) = one_rcpt_rejected(false);
    assert_eq!(
        server.count_commands("DATA"),
        4,
        "no DATA after the rejected RCPT"
    );
    assert_eq!(server.count_commands("RSET"), 1, "RSET after the 550");
}

/// 9b'. With PIPELINING, MAIL, RCPT and DATA go out together: the server sees DATA even for the
/// rejected recipient (and answers it 554), yet the row carries the RCPT's 550.
#[test]
fn pipelined_rcpt_rejection_reports_the_rcpt_reply_and_keeps_the_session() {
    let (server, _) = one_rcpt_rejected(true);
    assert_eq!(
        server.count_commands("DATA"),
        5,
        "DATA went out in the same write as the rejected RCPT"
    );
}

/// 9b''. With PIPELINING, a 451 to MAIL: RCPT and DATA were already on their way (the server
/// answers them 503), the session is kept, and the message is retried and delivered once.
#[test]
fn pipelined_transient_mail_rejection_is_retried_on_the_same_session() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::Ehlo => Reply::text(EHLO_PIPELINING),
        Stage::Mail if ev.nth == 1 => Reply::text("451 4.3.2 busy, try later"),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 3,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    fx.run(&[], None).expect(0);
    let messages = server.wait_for(3, WAIT);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    let commands: Vec<String> = server.commands().into_iter().map(|(_, l)| l).collect();
    let first_mail = commands.iter().position(|l| l.starts_with("MAIL")).unwrap();
    let verbs: Vec<&str> = commands[first_mail..first_mail + 3]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(verbs, ["MAIL", "RCPT", "DATA"], "{commands:?}");
    assert_eq!(server.connections(), 1, "the session survived the 451");
    let retried = fx.rows().into_iter().filter(|r| r.attempts == 2).count();
    assert_eq!(retried, 1, "{:?}", fx.rows());
}

/// 9c. A connection dropped in the middle of DATA: the message is sent again on a new session.
#[test]
fn connection_dropped_mid_data_is_retried() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::Data if ev.nth == 1 => Reply::DropMidData(64),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 2,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    fx.run(&[], None).expect(0);
    let messages = server.wait_for(2, WAIT);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    let first = server
        .commands()
        .iter()
        .find(|(_, l)| l.starts_with("RCPT"))
        .map(|(_, l)| l.clone())
        .unwrap();
    let rows = fx.rows();
    let dropped = spec
        .emails()
        .into_iter()
        .find(|e| first.contains(e.as_str()))
        .unwrap();
    let row = row_for(&rows, &dropped);
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2), "{row:?}");
    assert_eq!(server.connections(), 2, "a new session after the drop");
}

/// 9d. A server that never answers the end of DATA: the timeout fails the recipient after its
///     retries, and the run ends in bounded time.
#[test]
fn stalled_server_times_out_and_fails_the_recipient() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::stall(Duration::from_secs(20)),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 1,
        concurrency: 1,
        retries: 1,
        timeout: Some(1),
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&[], None);
    run.expect(1);
    assert!(
        run.elapsed < Duration::from_secs(12),
        "bounded by timeout × attempts + backoff: {:?}",
        run.elapsed
    );
    let rows = fx.rows();
    let row = row_for(&rows, &email(0));
    assert_eq!(row.status, "failed");
    assert_eq!(row.attempts, 2, "1 + retries");
    assert!(row.code.is_empty(), "no reply, no code: {row:?}");
    assert!(
        row.detail.contains("no reply within 1s"),
        "a timeout detail: {row:?}"
    );
    // The stalled sessions are still asleep in the server: count what the client sent instead.
    assert_eq!(
        server.count_commands("MAIL"),
        2,
        "two attempts: {:?}",
        server.commands()
    );
    assert_eq!(server.connections(), 2, "the timed-out session was dropped");
    assert!(server.messages().is_empty());
}

/// 10a. `--limit` sends the next N; the next run continues; nobody gets two.
#[test]
fn limit_then_resume_sends_everyone_once() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 8,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&["--limit", "3"], None);
    run.expect(0);
    assert!(run.stdout.contains("--limit reached"), "{run:?}");
    server.wait_for(3, WAIT);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.messages().len(), 3, "exactly 3 with --limit 3");
    assert_eq!(fx.rows_with("sent").len(), 3);

    let run = fx.run(&[], None);
    run.expect(0);
    assert!(run.stdout.contains("sent 5,"), "{run:?}");
    assert!(run.stdout.contains("3 already handled"), "{run:?}");
    server.wait_for(8, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    assert_eq!(fx.rows_with("sent").len(), 8);
}

/// 10b. A failed recipient is not retried by a plain re-run, only with `--retry-failed`.
#[test]
fn retry_failed_sends_only_the_failed_recipient() {
    let rejected = email(1);
    let reject = Arc::new(AtomicBool::new(true));
    let server = {
        let (rejected, reject) = (rejected.clone(), Arc::clone(&reject));
        ScriptedServer::start(move |ev| match ev.stage {
            Stage::Rcpt if ev.rcpt == Some(rejected.as_str()) && reject.load(Ordering::SeqCst) => {
                Reply::text("550 5.1.1 mailbox unavailable")
            }
            _ => Reply::Default,
        })
    };
    let spec = Spec {
        recipients: 4,
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    fx.run(&[], None).expect(1);
    server.wait_for(3, WAIT);
    assert_eq!(row_for(&fx.rows(), &rejected).status, "failed");
    reject.store(false, Ordering::SeqCst);

    let connections = server.connections();
    let run = fx.run(&[], None);
    run.expect(0);
    assert!(run.stdout.contains("sent 0, failed 0"), "{run:?}");
    assert_eq!(
        server.transactions().len(),
        3,
        "nothing new without the flag"
    );
    assert_eq!(server.connections(), connections, "not even a connection");

    let run = fx.run(&["--retry-failed"], None);
    run.expect(0);
    assert!(run.stdout.contains("sent 1, failed 0"), "{run:?}");
    let messages = server.wait_for(4, WAIT);
    assert_eq!(only_rcpt(&messages[3].rcpt_tos), rejected);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    let rows = fx.rows();
    let retried: Vec<&Row> = rows.iter().filter(|r| r.email == rejected).collect();
    assert_eq!(retried.len(), 2, "a failed row, then a sent row: {rows:#?}");
    assert_eq!(retried[1].status, "sent");
}

/// A `style` value from the first row that css-inline cannot parse fails that recipient only: the
/// first row is not a verdict on the campaign when a later one renders.
#[test]
fn css_inline_error_from_one_rows_data_fails_that_recipient_only() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = Fixture::new(&Spec::new(server.port));
    fx.write(
        "email.html",
        "<html><head><style>p { color: red }</style></head>\
         <body><p style=\"{{ sty }}\">Dear {{ first_name }},</p></body></html>\n",
    );
    fx.write(
        "recipients.csv",
        "email,first_name,sty\n\
         r000@example.com,Ann,color\n\
         r001@example.com,Bob,font-weight: bold\n\
         r002@example.com,Cy,\n",
    );
    let run = fx.run(&[], None);
    run.expect(1);
    assert!(run.stdout.contains("sent 2, failed 1"), "{run:?}");
    let received = server.wait_for(2, WAIT);
    assert_each_once(&capture_rcpts(&server), &[email(1), email(2)]);
    assert_eq!(received.len(), 2);
    let rows = fx.rows();
    let failed = row_for(&rows, &email(0));
    assert_eq!(failed.status, "failed", "{rows:#?}");
    assert!(
        failed.detail.contains("not rendered: cannot inline CSS"),
        "{failed:?}"
    );
}

/// 11. `rate = "20/s"`: 30 messages take at least 1.4 s, and no one-second window of the server's
///     arrival times (the end of DATA, when a relay counts a message; less 40 ms allowed for
///     arrival jitter) holds more than 20.
#[test]
fn rate_limit_is_respected_at_the_server() {
    let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let server = {
        let arrivals = Arc::clone(&arrivals);
        ScriptedServer::start(move |ev| {
            if ev.stage == Stage::DataEnd {
                arrivals.lock().unwrap().push(Instant::now());
            }
            Reply::Default
        })
    };
    let spec = Spec {
        recipients: 30,
        concurrency: 4,
        rate: Some("20/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&[], None);
    run.expect(0);
    let messages = server.wait_for(30, WAIT);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    assert!(
        run.elapsed >= Duration::from_millis(1400),
        "{:?}",
        run.elapsed
    );

    let mut t = arrivals.lock().unwrap().clone();
    t.sort();
    assert_eq!(t.len(), 30);
    assert!(
        t[29] - t[0] >= Duration::from_millis(1400),
        "29 intervals of 50 ms: {:?}",
        t[29] - t[0]
    );
    let gaps: Vec<u128> = t.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    // The pacer lets messages go at least 50 ms apart, so 21 consecutive ones span 1 s at the
    // client; a busy machine delays single arrivals by tens of ms (seen: 20 ms with both CPUs
    // saturated), so the window allows 40 ms of that. It still catches a start-up burst, a
    // missing limiter, or an interval of 1/21 s (21 messages in 952 ms).
    let window = Duration::from_secs(1) - Duration::from_millis(40);
    let busiest = (0..t.len())
        .map(|i| t[i..].iter().take_while(|&&x| x - t[i] < window).count())
        .max()
        .unwrap();
    let tightest = (20..t.len()).map(|i| t[i] - t[i - 20]).min().unwrap();
    eprintln!("rate: 21 messages span at least {tightest:?}; gaps (ms): {gaps:?}");
    assert!(
        busiest <= 20,
        "{busiest} messages in one second (21 span {tightest:?}); gaps (ms): {gaps:?}"
    );
}

/// 12. SIGKILL in the middle of a run, then a re-run: everyone receives the message, nobody with a
///     `sent` row before the kill receives it twice, and at most the in-flight ones are duplicated.
#[test]
fn sigkill_mid_run_then_resume_duplicates_at_most_in_flight() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let concurrency = 4;
    let spec = Spec {
        recipients: 60,
        concurrency,
        rate: Some("20/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    let running = fx.spawn(&[], None);
    let enough = support::wait_until(Duration::from_secs(30), || fx.sent_rows_now() >= 10);
    running.kill();
    assert!(enough, "10 sent rows within 30 s: {}", fx.results_text());
    let before: HashSet<String> = fx.rows_with("sent").into_iter().map(|r| r.email).collect();
    assert!(before.len() >= 10 && before.len() < 60, "{}", before.len());
    // Anything the killed process had in flight lands (or not) by now.
    std::thread::sleep(Duration::from_millis(300));

    let run = fx.run(&[], None);
    run.expect(0);
    let sent_after = fx.rows_with("sent").len();
    assert_eq!(sent_after, 60, "every recipient has a sent row");
    server.wait_for(60, WAIT);
    let counts = capture_rcpts(&server);
    for e in spec.emails() {
        assert!(
            counts.get(&e).copied().unwrap_or(0) >= 1,
            "{e} never received"
        );
    }
    let twice: Vec<&String> = counts
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(e, _)| e)
        .collect();
    assert!(
        counts.values().all(|&n| n <= 2),
        "nobody three times: {counts:?}"
    );
    for e in &twice {
        assert!(
            !before.contains(*e),
            "{e} had a sent row before the kill and was received again"
        );
    }
    assert!(
        twice.len() <= concurrency,
        "{} duplicates > concurrency {concurrency}: {twice:?}",
        twice.len()
    );
    eprintln!(
        "sigkill: {} sent rows before the kill, {} recipient(s) received twice: {twice:?}",
        before.len(),
        twice.len()
    );
}

/// 13. `daily_limit`: the first run stops at 5 with exit 4 and says when to continue; a second run
///     the same day sends nothing and exits 4 again.
#[test]
fn daily_limit_stops_the_run_until_tomorrow() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 8,
        daily_limit: Some(5),
        ..Spec::new(server.port)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&[], None);
    run.expect(4);
    assert!(run.stdout.contains("daily_limit reached"), "{run:?}");
    assert!(run.stdout.contains("00:00 UTC"), "says when: {run:?}");
    server.wait_for(5, WAIT);
    assert_eq!(fx.rows_with("sent").len(), 5);

    let run = fx.run(&[], None);
    run.expect(4);
    assert!(run.stdout.contains("sent 0,"), "{run:?}");
    assert!(run.stdout.contains("daily_limit reached"), "{run:?}");
    std::thread::sleep(Duration::from_millis(200));
    let counts = capture_rcpts(&server);
    assert_eq!(counts.len(), 5, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert_eq!(fx.rows_with("sent").len(), 5);
}

/// 14. Configuration errors are exit 2 before anything is sent: no `[smtp]`, a bad `--rate`.
#[test]
fn missing_smtp_section_and_bad_rate_are_invalid() {
    let spec = Spec {
        smtp: false,
        ..Spec::new(1)
    };
    let fx = Fixture::new(&spec);
    let run = fx.run(&[], None);
    run.expect(2);
    assert!(run.stderr.contains("no [smtp] section"), "{run:?}");

    let server = ScriptedServer::accept_all();
    let fx = Fixture::new(&Spec::new(server.port));
    let run = fx.run(&["--rate", "nonsense"], None);
    run.expect(2);
    assert!(
        run.stderr.contains("--rate") && run.stderr.contains("nonsense"),
        "{run:?}"
    );
    assert_eq!(server.connections(), 0, "nothing sent");
}
