//! Issue 12, item 8: `--json` on `check` and `run` (stdout is exactly one JSON object, on every
//! way out, its `exit_code` the process's) and `-v` (the first SMTP session's dialogue on stderr,
//! AUTH redacted, the message content replaced by its size). The real binary against the aiosmtpd
//! capture server and the scripted server on 127.0.0.1.

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use support::campaign::{Fixture, PASSWORD, Run, Spec, USER, WAIT, email, starttls_auth_server};
use support::{CaptureOptions, CaptureServer, Reply, ScriptedServer, Stage};

fn run(fx: &Fixture, command: &str, args: &[&str], password: Option<&str>) -> Run {
    let env: Vec<(&str, &str)> = password
        .map(|p| vec![("CAMPAIGN_SMTP_PASSWORD", p)])
        .unwrap_or_default();
    fx.spawn_command(command, args, &env).wait()
}

/// The whole of stdout parsed as one JSON object, whose `exit_code` must be the process's.
#[track_caller]
fn object(run: &Run) -> Value {
    let value: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\n{}\n--- stderr ---\n{}",
            run.stdout, run.stderr
        )
    });
    assert!(value.is_object(), "{value}");
    assert_eq!(value["version"], 1, "{value:#}");
    assert_eq!(
        value["exit_code"], run.code,
        "exit_code is the process's: {value:#}\n--- stderr ---\n{}",
        run.stderr
    );
    value
}

#[track_caller]
fn timestamp(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp: {value}"));
    chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339")
}

// ------------------------------------------------------------------ run --json ---

#[test]
fn json_dry_run_is_one_object_with_counts_and_the_preview_folder() {
    let spec = Spec {
        extra_rows: vec!["not-an-address,X", "r001@example.com,Again"],
        ..Spec::new(1)
    };
    let fx = Fixture::from_spec(&spec);
    fx.write("suppress.txt", "r002@example.com\n");
    // `suppress` is a top-level key: before the first table.
    let toml = format!("suppress = [\"suppress.txt\"]\n{}", spec.toml());
    fx.write("campaign.toml", &toml);
    let out = run(&fx, "run", &["--dry-run", "--json"], None);
    out.expect(0);
    let o = object(&out);
    assert_eq!(o["command"], "run");
    assert_eq!(o["dry_run"], true);
    assert_eq!(o["campaign"]["name"], "campaign");
    assert_eq!(o["campaign"]["path"], fx.dir().display().to_string());
    let c = &o["counts"];
    assert_eq!(c["previewed"], 4, "{o:#}");
    assert_eq!(c["sent"], 0);
    assert_eq!(c["skipped"], 3, "bad address, duplicate, suppressed: {o:#}");
    assert_eq!(c["suppressed"], 1);
    assert_eq!(c["failed"], 0);
    assert_eq!(o["failures"], serde_json::json!([]));
    let preview = o["preview"].as_str().expect("the preview folder");
    assert!(std::path::Path::new(preview).join("index.html").is_file());
    assert!(o["log"].is_null(), "a dry run writes no log: {o:#}");
    assert!(o["error"].is_null());
    assert!(timestamp(&o["ended"]) >= timestamp(&o["started"]));
    assert!(o["duration_seconds"].as_f64().is_some());
    assert!(
        out.stderr.contains("Rendered 4 recipient(s)"),
        "the human summary goes to stderr: {}",
        out.stderr
    );
}

#[test]
fn json_send_with_refused_recipients_groups_the_failures_and_exits_1() {
    let refused = [email(1), email(3)];
    let server = ScriptedServer::start(move |ev| match ev.stage {
        Stage::Rcpt
            if ev
                .rcpt
                .is_some_and(|r| refused.iter().any(|x| r.contains(x))) =>
        {
            Reply::text("550 5.1.1 no such user")
        }
        _ => Reply::Default,
    });
    let spec = Spec::new(server.port);
    let fx = Fixture::from_spec(&spec);
    let out = fx.send(&["--json"], None);
    out.expect(1);
    let o = object(&out);
    assert_eq!(o["command"], "run");
    assert_eq!(o["dry_run"], false);
    let c = &o["counts"];
    assert_eq!(
        (c["sent"].as_u64(), c["failed"].as_u64()),
        (Some(3), Some(2)),
        "{o:#}"
    );
    assert_eq!(c["unknown"], 0);
    assert_eq!(c["already_handled"], 0);
    let failures = o["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "one group: {o:#}");
    let group = &failures[0];
    assert_eq!(group["code"], 550);
    assert_eq!(group["kind"], "permanent");
    assert_eq!(group["count"], 2);
    assert!(group["reason"].as_str().unwrap().contains("no such user"));
    let mut addresses: Vec<&str> = group["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    addresses.sort_unstable();
    assert_eq!(addresses, [email(1), email(3)]);
    assert_eq!(o["log"], fx.results_path().display().to_string());
    assert!(o["messages_per_second"].as_f64().is_some());
    assert!(o["duration_seconds"].as_f64().unwrap() >= 0.0);
    assert!(timestamp(&o["ended"]) >= timestamp(&o["started"]));
    for m in server.wait_for(3, WAIT) {
        let subject = m.parsed().subject().unwrap_or_default().to_string();
        assert!(subject.contains("the April news"), "{subject}");
    }

    let again = fx.send(&["--json"], None);
    again.expect(0);
    let o = object(&again);
    assert_eq!(o["counts"]["already_handled"], 5, "{o:#}");
    assert_eq!(o["counts"]["sent"], 0);
}

#[test]
fn json_bad_input_is_an_object_with_the_error_and_exit_2() {
    let fx = Fixture::from_spec(&Spec::new(1));
    fx.write(
        "campaign.toml",
        "subject = \"Hi\"\nfrom = \"a@acme.example\"\nrate = = 3\n",
    );
    for (command, args) in [
        ("run", vec!["--json"]),
        ("run", vec!["--dry-run", "--json"]),
        ("check", vec!["--json"]),
    ] {
        let out = run(&fx, command, &args, None);
        out.expect(2);
        let o = object(&out);
        assert_eq!(o["command"], command);
        let error = &o["error"];
        assert!(
            error["message"].as_str().unwrap().contains("campaign.toml"),
            "{o:#}"
        );
        assert!(
            error["file"].as_str().unwrap().ends_with("campaign.toml"),
            "{o:#}"
        );
        assert_eq!(error["line"], 3, "{o:#}");
        assert!(out.stderr.contains("error:"), "still said on stderr");
    }
    // A command line clap refuses is bad input too.
    let out = run(&fx, "run", &["--json", "--no-such-flag"], None);
    out.expect(2);
    let o = object(&out);
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag")
    );
}

#[test]
fn json_fatal_relay_error_exits_3_and_a_held_lock_exits_5() {
    let server = CaptureServer::start(CaptureOptions::plain().with_auth(USER, PASSWORD));
    let spec = Spec {
        username: Some(USER),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let out = fx.send(&["--json"], Some("wrong-password"));
    out.expect(3);
    let o = object(&out);
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains("authentication"),
        "{o:#}"
    );
    assert_eq!(o["counts"]["sent"], 0);
    assert!(!out.stdout.contains("wrong-password") && !out.stderr.contains("wrong-password"));

    let slow = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::after(Duration::from_secs(3), Reply::Default),
        _ => Reply::Default,
    });
    let fx = Fixture::from_spec(&Spec::new(slow.port));
    let first = fx.spawn(&[], None);
    slow.wait_for_data_ends(1, WAIT);
    let second = fx.send(&["--json"], None);
    second.expect(5);
    let o = object(&second);
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains("results.csv"),
        "{o:#}"
    );
    first.kill();
}

#[test]
fn json_interrupted_run_is_an_object_with_the_signal() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::after(Duration::from_millis(500), Reply::Default),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 20,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let running = fx.spawn(&["--json"], None);
    server.wait_for_data_ends(1, WAIT);
    running.signal("INT");
    let out = running.wait();
    out.expect(130);
    let o = object(&out);
    assert_eq!(o["stopped_by"], "SIGINT", "{o:#}");
    assert!(o["counts"]["sent"].as_u64().unwrap() >= 1, "{o:#}");
}

/// A second signal ends the process at once, from inside the run: the object is still printed.
#[test]
fn json_run_abandoned_by_a_second_signal_is_still_an_object() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::stall(Duration::from_secs(20)),
        _ => Reply::Default,
    });
    let spec = Spec {
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let running = fx.spawn(&["--json"], None);
    server.wait_for_data_ends(1, WAIT);
    running.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    running.signal("INT");
    let out = running.wait();
    out.expect(143);
    let o = object(&out);
    assert_eq!(o["stopped_by"], "SIGTERM", "the first signal: {o:#}");
    assert_eq!(o["counts"]["unknown"], 1, "the abandoned message: {o:#}");
}

// ---------------------------------------------------------------- check --json ---

#[test]
fn json_check_lists_a_warning_then_an_error_with_file_and_lines() {
    let spec = Spec {
        extra_rows: vec!["r001@example.com,Again"],
        ..Spec::new(1)
    };
    let fx = Fixture::from_spec(&spec);
    let out = run(&fx, "check", &["--json"], None);
    out.expect(0);
    let o = object(&out);
    assert_eq!(o["command"], "check");
    assert_eq!(o["counts"]["rows"], 6, "{o:#}");
    assert_eq!(o["counts"]["recipients"], 5);
    assert_eq!(o["counts"]["skipped"]["duplicate"], 1, "{o:#}");
    let problems = o["problems"].as_array().unwrap();
    let duplicate = problems
        .iter()
        .find(|p| p["kind"] == "row")
        .unwrap_or_else(|| panic!("a row problem: {o:#}"));
    assert_eq!(duplicate["level"], "warning");
    assert_eq!(duplicate["lines"], serde_json::json!([7]));
    assert_eq!(duplicate["recipients"], 1);
    assert!(
        duplicate["file"]
            .as_str()
            .unwrap()
            .ends_with("recipients.csv")
    );
    assert!(duplicate["message"].as_str().unwrap().contains("duplicate"));
    assert!(o["relay"].is_null());
    assert_eq!(
        o["warnings"].as_u64(),
        Some(problems.iter().filter(|p| p["level"] == "warning").count() as u64)
    );

    fx.write("email.html", "<p>Hi {{ first_name | no_such_filter }}</p>");
    let out = run(&fx, "check", &["--json"], None);
    out.expect(2);
    let o = object(&out);
    let errors: Vec<&Value> = o["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["level"] == "error")
        .collect();
    assert!(!errors.is_empty(), "{o:#}");
    assert!(o["errors"].as_u64().unwrap() >= 1);
    assert!(
        o["error"].is_null(),
        "problems are not a failure to run: {o:#}"
    );
}

#[test]
fn json_check_smtp_reports_the_relay_and_exit_3_when_it_cannot() {
    let server = starttls_auth_server();
    let spec = Spec::starttls_auth(&server);
    let fx = Fixture::from_spec(&spec);
    let out = run(&fx, "check", &["--smtp", "--json"], Some(PASSWORD));
    out.expect(0);
    let o = object(&out);
    let relay = &o["relay"];
    assert_eq!(relay["host"], "localhost", "{o:#}");
    assert_eq!(relay["port"], server.port);
    assert_eq!(relay["security"], "starttls");
    assert_eq!(relay["encrypted"], true);
    let cert = &relay["certificate"];
    assert!(
        cert["subject"].as_str().is_some_and(|s| !s.is_empty()),
        "{o:#}"
    );
    assert!(cert["issuer"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(timestamp(&cert["not_after"]) > chrono::Utc::now());
    let extensions: Vec<&str> = relay["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        extensions.iter().any(|e| e.starts_with("SIZE")),
        "{extensions:?}"
    );
    assert_eq!(relay["auth"]["used"], true);
    assert_eq!(relay["auth"]["ok"], true);
    assert!(!out.stdout.contains(PASSWORD));

    let wrong = run(&fx, "check", &["--smtp", "--json"], Some("wrong-password"));
    wrong.expect(3);
    let o = object(&wrong);
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains("authentication")
    );
    assert!(
        o["problems"].is_array(),
        "the check's findings are kept: {o:#}"
    );
}

// ----------------------------------------------------------------------- -v ---

/// The `C: `, `S: ` and `* ` lines of a run's stderr.
fn dialogue(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("C: ") || l.starts_with("S: ") || l.starts_with("* "))
        .collect()
}

/// The index of the first line at or after `from` starting with `start`; panics if none.
#[track_caller]
fn find(lines: &[&str], from: usize, start: &str) -> usize {
    lines[from..]
        .iter()
        .position(|l| l.starts_with(start))
        .map(|i| from + i)
        .unwrap_or_else(|| panic!("no {start:?} after line {from}:\n{}", lines.join("\n")))
}

#[track_caller]
fn assert_no_secret(run: &Run) {
    let plain = B64.encode(format!("\0{USER}\0{PASSWORD}"));
    let login = B64.encode(PASSWORD);
    for secret in [PASSWORD, plain.as_str(), login.as_str()] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{secret:?} printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn verbose_send_prints_the_first_sessions_dialogue_in_order_with_auth_redacted() {
    let server = CaptureServer::start(CaptureOptions::plain().with_auth(USER, PASSWORD));
    let spec = Spec {
        username: Some(USER),
        recipients: 3,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let out = fx.send(&["-v", "--json"], Some(PASSWORD));
    out.expect(0);
    object(&out); // stdout is still exactly the object
    assert_no_secret(&out);
    let lines = dialogue(&out.stderr);
    let sessions = lines
        .iter()
        .filter(|l| l.starts_with("* connected to"))
        .count();
    assert_eq!(sessions, 1, "the first session only:\n{}", out.stderr);
    let mut at = find(&lines, 0, "* connected to");
    at = find(&lines, at, "S: 220");
    at = find(&lines, at, "C: EHLO");
    at = find(&lines, at, "C: AUTH PLAIN <redacted>");
    at = find(&lines, at, "S: 235");
    at = find(&lines, at, "C: MAIL FROM:<news@acme.example>");
    at = find(&lines, at, "C: RCPT TO:<r0");
    at = find(&lines, at, "C: DATA");
    at = find(&lines, at, "S: 354");
    at = find(&lines, at, "C: <message: ");
    let size: usize = lines[at]
        .trim_start_matches("C: <message: ")
        .trim_end_matches(" bytes>")
        .replace(',', "")
        .parse()
        .expect("a size");
    at = find(&lines, at, "C: .");
    at = find(&lines, at, "S: 250");
    find(&lines, at, "C: QUIT");
    let received = server.wait_for(3, WAIT);
    let sizes: Vec<usize> = received.iter().map(|m| m.raw.len()).collect();
    assert!(
        sizes.iter().any(|&n| n.abs_diff(size) <= 2),
        "{size} bytes shown, {sizes:?} received"
    );
    assert!(
        !out.stderr.contains("Subject:"),
        "no message content:\n{}",
        out.stderr
    );
}

#[test]
fn verbose_test_redacts_both_auth_login_lines() {
    let (user64, pass64) = (B64.encode(USER), B64.encode(PASSWORD));
    let server = ScriptedServer::start(move |ev| match ev.stage {
        Stage::Ehlo => Reply::text("250-localhost\n250 AUTH LOGIN"),
        Stage::Other if ev.line.eq_ignore_ascii_case("AUTH LOGIN") => {
            Reply::text("334 VXNlcm5hbWU6")
        }
        Stage::Other if ev.line == user64 => Reply::text("334 UGFzc3dvcmQ6"),
        Stage::Other if ev.line == pass64 => Reply::text("235 2.7.0 Authentication successful"),
        _ => Reply::Default,
    });
    let spec = Spec {
        username: Some(USER),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let out = run(
        &fx,
        "test",
        &["--to", "me@acme.example", "-v"],
        Some(PASSWORD),
    );
    out.expect(0);
    assert_no_secret(&out);
    assert!(!out.stderr.contains(&B64.encode(USER)), "{}", out.stderr);
    let lines = dialogue(&out.stderr);
    let at = find(&lines, 0, "C: AUTH LOGIN");
    assert_eq!(lines[at + 1], "S: 334 VXNlcm5hbWU6");
    assert_eq!(lines[at + 2], "C: <redacted>");
    assert_eq!(lines[at + 3], "S: 334 UGFzc3dvcmQ6");
    assert_eq!(lines[at + 4], "C: <redacted>");
    assert!(lines[at + 5].starts_with("S: 235"), "{lines:#?}");
    find(&lines, at, "C: RCPT TO:<me@acme.example>");
}

#[test]
fn verbose_check_smtp_marks_where_starttls_begins() {
    let server = CaptureServer::start(CaptureOptions::starttls());
    let spec = Spec {
        host: "localhost".into(),
        security: "starttls",
        ca_pem: Some(server.ca_pem()),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let out = run(&fx, "check", &["--smtp", "--verbose"], None);
    out.expect(0);
    let lines = dialogue(&out.stderr);
    let at = find(&lines, 0, "C: STARTTLS");
    let at = find(&lines, at, "S: 220");
    assert!(lines[at + 1].starts_with("* TLS started"), "{lines:#?}");
    let at = find(&lines, at, "C: EHLO");
    find(&lines, at, "C: QUIT");
    assert!(
        !lines.iter().any(|l| l.starts_with("C: MAIL")),
        "nothing sent"
    );
}
