//! `[notify] webhook` (issue 13 item 7): when a send ends, its `--json` object is posted to the
//! webhook; a notice that fails (a 500, a server that never answers) is one line on stderr within
//! the timeout and never changes the exit code; the URL's token is never printed. The real binary
//! sends to the aiosmtpd capture server, and the webhook is a Python `http.server` on 127.0.0.1
//! that records each POST.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::campaign::{Fixture, Spec};
use support::{CaptureOptions, CaptureServer};

/// The webhook's secret token, in its path: it must never be printed.
const TOKEN: &str = "T0KEN-s3cret-4f9a";

/// `mode`: `ok` (200), `500`, or `silent` (reads the request, never answers).
const SERVER: &str = r#"
import http.server, json, sys, time
mode, record = sys.argv[1], sys.argv[2]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(record, "a") as f:
            f.write(json.dumps({"path": self.path, "type": self.headers["Content-Type"],
                                "body": body.decode()}) + "\n")
        if mode == "silent":
            time.sleep(60)
            return
        self.send_response(200 if mode == "ok" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The Python webhook server; killed on drop.
struct Hook {
    child: Child,
    port: u16,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

impl Hook {
    fn start(mode: &str) -> Hook {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("posts.jsonl");
        let mut child = Command::new(support::python())
            .args(["-c", SERVER, mode])
            .arg(&record)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the webhook server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server's port");
        Hook {
            child,
            port,
            record,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook/{TOKEN}?key={TOKEN}", self.port)
    }

    /// Each POST: (path, content type, body as JSON).
    fn posts(&self) -> Vec<(String, String, Value)> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                let body = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
                (
                    v["path"].as_str().unwrap().into(),
                    v["type"].as_str().unwrap().into(),
                    body,
                )
            })
            .collect()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A campaign to `server` with `[notify]` lines added.
fn campaign(server: &CaptureServer, spec: Spec, notify: &str) -> Fixture {
    let spec = Spec {
        port: server.port,
        ..spec
    };
    let fx = Fixture::from_spec(&spec);
    fx.write(
        "campaign.toml",
        &format!("{}\n[notify]\n{notify}\n", spec.toml()),
    );
    fx
}

fn no_token(texts: &[&str]) {
    for text in texts {
        assert!(!text.contains(TOKEN), "the token was printed: {text}");
    }
}

#[test]
fn the_notice_is_the_runs_json_object_posted_when_the_send_ends() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let hook = Hook::start("ok");
    let spec = Spec {
        recipients: 6,
        extra_rows: vec!["not-an-address,Bad"],
        ..Spec::new(0)
    };
    let fx = campaign(&server, spec, &format!("webhook = \"{}\"", hook.url()));
    let run = fx.send(&["--json"], None);
    run.expect(0);
    let printed: Value = serde_json::from_str(&run.stdout).expect("stdout is the object alone");
    let posts = hook.posts();
    assert_eq!(posts.len(), 1, "one notice");
    let (path, content_type, body) = &posts[0];
    assert_eq!(path, &format!("/hook/{TOKEN}?key={TOKEN}"));
    assert_eq!(content_type, "application/json");
    assert_eq!(body, &printed, "the same object --json prints");
    assert_eq!(body["counts"]["sent"], 6);
    assert_eq!(body["counts"]["skipped"], 1);
    assert_eq!(body["exit_code"], 0);
    let shown = format!("notice posted to http://127.0.0.1:{}/…", hook.port);
    assert!(run.stderr.contains(&shown), "{}", run.stderr);
    no_token(&[&run.stdout, &run.stderr]);

    // Without --json the body is the same object, and says the run's own exit code.
    let again = fx.send(&[], None);
    again.expect(0);
    let body = &hook.posts()[1].2;
    assert_eq!(body["counts"]["already_handled"], 6);
    assert_eq!(body["counts"]["sent"], 0);
    assert_eq!(body["exit_code"], 0);
    assert!(again.stdout.contains(&shown), "{}", again.stdout);
}

/// Asserts one line on stderr says the notice to the webhook failed, with `why`.
#[track_caller]
fn assert_failed_notice(stderr: &str, port: u16, why: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("notice")).collect();
    let start = format!("notice to http://127.0.0.1:{port}/… failed: ");
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(&start) && lines[0].contains(why),
        "{stderr}"
    );
}

#[test]
fn a_failed_notice_is_one_line_and_never_changes_the_exit_code() {
    let server = CaptureServer::start(CaptureOptions::plain());
    // daily_limit 2 of 5: the run exits 4, whatever the webhook does.
    let spec = Spec {
        recipients: 5,
        daily_limit: Some(2),
        ..Spec::new(0)
    };
    let hook = Hook::start("500");
    let fx = campaign(
        &server,
        spec.clone(),
        &format!("webhook = \"{}\"", hook.url()),
    );
    let run = fx.send(&[], None);
    run.expect(4);
    assert_failed_notice(&run.stderr, hook.port, "HTTP 500 Internal Server Error");
    assert_eq!(hook.posts()[0].2["exit_code"], 4);
    no_token(&[&run.stdout, &run.stderr]);

    // A server that takes the request and never answers: given up after 10 s, exit code kept.
    let silent = Hook::start("silent");
    let fx = campaign(&server, spec, &format!("webhook = \"{}\"", silent.url()));
    let run = fx.send(&[], None);
    run.expect(4);
    assert_failed_notice(&run.stderr, silent.port, "no answer within 10 s");
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
    assert!(run.elapsed >= Duration::from_secs(10), "{:?}", run.elapsed);
    no_token(&[&run.stdout, &run.stderr]);
}

#[test]
fn a_send_that_cannot_start_is_notified_with_its_error() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let hook = Hook::start("ok");
    let fx = campaign(
        &server,
        Spec::new(0),
        &format!("webhook = \"{}\"", hook.url()),
    );
    // A result log that cannot be misread: a row with a bad status stops the run (exit 2).
    std::fs::write(
        fx.results_path(),
        "email,status,attempts,code,message_id,detail,time,relay\nr000@example.com,sent?,1,250,,,x,\n",
    )
    .unwrap();
    let run = fx.send(&[], None);
    run.expect(2);
    let body = &hook.posts()[0].2;
    assert_eq!(body["exit_code"], 2);
    assert_eq!(body["error"]["kind"], "invalid");
    assert!(server.messages().is_empty());
}

#[test]
fn a_bad_notify_table_is_refused_at_its_line() {
    let server = CaptureServer::start(CaptureOptions::plain());
    for (notify, says) in [
        (
            "webhook = \"http://hooks.example.com/T/secret\"",
            "http:// is allowed only to this machine",
        ),
        (
            "webhook = \"https://h.example/x\"\nformat = \"teams\"",
            "is not one of",
        ),
        (
            "webhok = \"https://h.example/x\"",
            "did you mean `webhook`?",
        ),
        ("format = \"slack\"", "[notify] webhook is missing"),
    ] {
        let fx = campaign(&server, Spec::new(0), notify);
        let run = fx.send(&[], None);
        run.expect(2);
        assert!(run.stderr.contains("campaign.toml:"), "{}", run.stderr);
        assert!(run.stderr.contains(says), "{notify}: {}", run.stderr);
        assert!(!run.stderr.contains("secret"), "{}", run.stderr);
    }
    assert!(server.messages().is_empty());
}
