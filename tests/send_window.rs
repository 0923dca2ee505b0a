//! Send windows (issue 13 item 4): `[send] window` with `timezone`, `--not-before` and `--no-wait`.
//! The binary runs on a clock the test sets (`CAMPAIGN_TEST_NOW`, read by debug builds only) that
//! passes `CAMPAIGN_TEST_SPEED` times faster while waiting, so a night's wait takes a fraction of
//! a second and no test sleeps for real minutes. Messages go to the aiosmtpd capture server on
//! 127.0.0.1 and are parsed back; the result log must make every resume exact (no double sends).

mod support;

use std::time::Duration;

use support::campaign::{Fixture, RUNS, Run, Running, Spec, WAIT, assert_each_once, capture_rcpts};
use support::{CaptureOptions, CaptureServer, Reply, ScriptedServer, Stage};

const BERLIN_9_TO_18: &str = "window = \"09:00-18:00\"\ntimezone = \"Europe/Berlin\"";

/// A campaign of `recipients` to `server` with `send` lines first in `[send]`.
fn campaign(server: &CaptureServer, recipients: usize, send: &str) -> (Fixture, Spec) {
    let spec = Spec {
        recipients,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.write(
        "campaign.toml",
        &spec
            .toml()
            .replace("[send]\n", &format!("[send]\n{send}\n")),
    );
    (fx, spec)
}

/// Starts `campaign run DIR --no-progress --yes ARGS` with the clock at `now` (RFC 3339), passing
/// `speed` times faster while waiting.
fn start_at(fx: &Fixture, now: &str, speed: u32, args: &[&str]) -> Running {
    let mut all = vec!["--no-progress", "--yes"];
    all.extend_from_slice(args);
    let speed = speed.to_string();
    let env = [
        ("CAMPAIGN_TEST_NOW", now),
        ("CAMPAIGN_TEST_SPEED", speed.as_str()),
    ];
    fx.spawn_command("run", &all, &env)
}

fn run_at(fx: &Fixture, now: &str, speed: u32, args: &[&str]) -> Run {
    start_at(fx, now, speed, args).wait()
}

/// The subjects of what the server received, parsed back.
fn subjects(server: &CaptureServer) -> Vec<String> {
    let messages = server.messages();
    let parsed = messages
        .iter()
        .map(|m| m.parsed().subject().map(str::to_string));
    parsed.map(Option::unwrap_or_default).collect()
}

#[test]
fn outside_the_window_no_wait_exits_7_with_the_resume_time_and_sends_nothing() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let (fx, _) = campaign(&server, 3, BERLIN_9_TO_18);
    // 20:00 in Berlin (CET, UTC+1).
    let run = run_at(&fx, "2026-12-23T19:00:00Z", 1, &["--no-wait"]);
    run.expect(7);
    assert!(
        run.stdout.contains(
            "outside the send window 09:00–18:00 Europe/Berlin: nothing sent; resume \
             at 2026-12-24 09:00 CET"
        ),
        "{}",
        run.stdout
    );
    // The same for a script: the time to resume in the --json object.
    let run = run_at(&fx, "2026-12-23T19:00:00Z", 1, &["--no-wait", "--json"]);
    run.expect(7);
    let object: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(
        object["resume_at"], "2026-12-24T08:00:00+00:00",
        "{object:#}"
    );
    assert_eq!(object["counts"]["sent"], 0);
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.messages().is_empty());
    assert!(fx.rows().is_empty(), "{}", fx.results_text());
}

#[test]
fn the_opening_after_a_dst_change_is_nine_oclock_summer_time() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let (fx, _) = campaign(&server, 1, BERLIN_9_TO_18);
    // Saturday 28 March 2026, 20:00 CET; the clocks go forward that night.
    let run = run_at(&fx, "2026-03-28T19:00:00Z", 1, &["--no-wait"]);
    run.expect(7);
    assert!(
        run.stdout.contains("resume at 2026-03-29 09:00 CEST"),
        "{}",
        run.stdout
    );
    // Waiting instead: the test clock passes the night fast; the run sends at 07:00 UTC.
    let run = run_at(&fx, "2026-03-28T19:00:00Z", 200_000, &[]);
    run.expect(0);
    assert!(
        run.stderr.contains(
            "outside the send window 09:00–18:00 Europe/Berlin: waiting until 2026-03-29 09:00 \
             CEST (Ctrl-C to stop)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(server.wait_for(1, WAIT).len(), 1);
}

#[test]
fn outside_the_window_the_run_waits_for_the_opening_then_sends_everyone() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let (fx, spec) = campaign(&server, 4, BERLIN_9_TO_18);
    let run = run_at(&fx, "2026-12-23T19:00:00Z", 200_000, &[]);
    run.expect(0);
    assert!(
        run.stderr
            .contains("waiting until 2026-12-24 09:00 CET (Ctrl-C to stop)"),
        "{}",
        run.stderr
    );
    assert!(run.elapsed < Duration::from_secs(15), "{:?}", run.elapsed);
    server.wait_for(4, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    assert!(
        subjects(&server)
            .iter()
            .all(|s| s.starts_with("Hello Zoë-"))
    );
}

#[test]
fn a_window_past_midnight_is_open_at_night() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let send = "window = \"22:00-06:00\"\ntimezone = \"Asia/Shanghai\"";
    let (fx, spec) = campaign(&server, 2, send);
    // 02:00 in Shanghai (UTC+8).
    run_at(&fx, "2026-12-23T18:00:00Z", 1, &["--no-wait"]).expect(0);
    server.wait_for(2, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    // 12:00 in Shanghai: closed until 22:00.
    let (fx, _) = campaign(&server, 2, send);
    let run = run_at(&fx, "2026-12-24T04:00:00Z", 1, &["--no-wait"]);
    run.expect(7);
    assert!(
        run.stdout.contains("resume at 2026-12-24 22:00 CST"),
        "{}",
        run.stdout
    );
}

#[test]
fn when_the_window_closes_mid_send_no_wait_stops_and_the_next_run_resumes_exactly() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let send = format!("{BERLIN_9_TO_18}\nrate = \"5/s\"");
    let (fx, spec) = campaign(&server, 30, &send);
    // 17:59:58 in Berlin: two seconds of window left, at 5 messages a second.
    let first = run_at(&fx, "2026-12-24T16:59:58Z", 1, &["--no-wait"]);
    first.expect(7);
    assert!(
        first
            .stderr
            .contains("the send window closed at 2026-12-24 18:00 CET"),
        "{}",
        first.stderr
    );
    assert!(
        first.stdout.contains("resume at 2026-12-25 09:00 CET"),
        "{}",
        first.stdout
    );
    let sent = fx.rows_with("sent").len();
    assert!((1..30).contains(&sent), "sent {sent} before the close");
    assert_eq!(
        fx.rows().len(),
        sent,
        "only sent rows: {}",
        fx.results_text()
    );
    assert_eq!(server.wait_for(sent, WAIT).len(), sent);

    // The next morning: the rest, each exactly once.
    let second = run_at(
        &fx,
        "2026-12-25T08:00:00Z",
        1,
        &["--no-wait", "--rate", "100/s"],
    );
    second.expect(0);
    assert!(
        second
            .stdout
            .contains(&format!("{sent} already handled by earlier runs")),
        "{}",
        second.stdout
    );
    server.wait_for(30, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    assert_eq!(fx.rows_with("sent").len(), 30);
}

#[test]
fn when_the_window_closes_mid_send_the_run_waits_and_resumes_in_the_same_process() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let send = format!("{BERLIN_9_TO_18}\nrate = \"5/s\"");
    let (fx, spec) = campaign(&server, 20, &send);
    let run = run_at(&fx, "2026-12-24T16:59:58Z", 200_000, &[]);
    run.expect(0);
    let err = &run.stderr;
    let closed = err.find("the send window closed at 2026-12-24 18:00 CET");
    let waiting = err.find("waiting until 2026-12-25 09:00 CET (Ctrl-C to stop)");
    assert!(closed.is_some() && closed < waiting, "{err}");
    assert!(
        run.stdout
            .contains("sent 20, failed 0, skipped 0, unknown 0; 0 already handled"),
        "{}",
        run.stdout
    );
    server.wait_for(20, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    assert_eq!(fx.rows_with("sent").len(), 20);
}

#[test]
fn the_message_in_flight_when_the_window_closes_is_finished_and_a_done_run_does_not_wait() {
    // The relay takes 2 s to answer the final dot; the window closes 1 s into the send.
    let slow = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::after(Duration::from_secs(2), Reply::Default),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 1,
        ..Spec::new(slow.port)
    };
    let fx = Fixture::from_spec(&spec);
    let toml = spec.toml();
    fx.write(
        "campaign.toml",
        &toml.replace("[send]\n", &format!("[send]\n{BERLIN_9_TO_18}\n")),
    );
    // 17:59:59 in Berlin, and a real clock: a wait for the morning would outlast the test.
    let run = run_at(&fx, "2026-12-24T16:59:59Z", 1, &[]);
    run.expect(0);
    assert!(
        run.stderr.contains("the send window closed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("waiting until"), "{}", run.stderr);
    assert_eq!(fx.rows_with("sent").len(), 1, "{}", fx.results_text());
    assert_eq!(slow.messages().len(), 1);
}

#[test]
fn ctrl_c_while_waiting_exits_130_and_sends_nothing() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let (fx, _) = campaign(&server, 2, BERLIN_9_TO_18);
    // A real wait (speed 1): thirteen hours.
    let running = start_at(&fx, "2026-12-23T19:00:00Z", 1, &[]);
    let err = fx.root().join(RUNS).join("err-0.txt");
    let waiting = support::wait_until(WAIT, || {
        std::fs::read_to_string(&err).is_ok_and(|e| e.contains("Ctrl-C to stop"))
    });
    assert!(waiting, "never said it waits");
    running.signal("INT");
    let run = running.wait_within(Duration::from_secs(10));
    run.expect(130);
    assert!(server.messages().is_empty());
    assert!(fx.rows().is_empty(), "{}", fx.results_text());
}

#[test]
fn not_before_waits_until_then_in_the_campaigns_timezone() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let (fx, spec) = campaign(&server, 2, "timezone = \"Europe/Berlin\"");
    // 08:00 in Berlin; not before 09:00 Berlin time (08:00 UTC).
    let args = ["--not-before", "2026-12-24 09:00", "--no-wait"];
    let run = run_at(&fx, "2026-12-24T07:00:00Z", 1, &args);
    run.expect(7);
    assert!(
        run.stdout.contains(
            "--not-before 2026-12-24 09:00 CET: nothing sent; resume at 2026-12-24 \
             09:00 CET"
        ),
        "{}",
        run.stdout
    );
    assert!(server.messages().is_empty());
    let run = run_at(&fx, "2026-12-24T07:00:00Z", 100_000, &args[..2]);
    run.expect(0);
    assert!(
        run.stderr.contains("waiting until 2026-12-24 09:00 CET"),
        "{}",
        run.stderr
    );
    server.wait_for(2, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    // Once the time has passed, no wait at all.
    let (fx, _) = campaign(&server, 1, "");
    run_at(&fx, "2026-12-24T09:00:00Z", 1, &args).expect(0);
}

#[test]
fn bad_window_timezone_and_not_before_are_refused_with_exit_2() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let send = "window = \"9-18\"\ntimezone = \"Europe/Berln\"\nwindw = 1";
    let (fx, _) = campaign(&server, 1, send);
    let run = run_at(&fx, "2026-12-24T10:00:00Z", 1, &[]);
    run.expect(2);
    for said in [
        "3 problems",
        "[send] window \"9-18\" is not a span of the day",
        "[send] timezone = \"Europe/Berln\" is not an IANA time zone name",
        "unknown key `windw` in [send]: did you mean `window`?",
    ] {
        assert!(run.stderr.contains(said), "{said}: {}", run.stderr);
    }
    let (fx, _) = campaign(&server, 1, BERLIN_9_TO_18);
    let run = run_at(
        &fx,
        "2026-12-24T10:00:00Z",
        1,
        &["--not-before", "tomorrow"],
    );
    run.expect(2);
    assert!(
        run.stderr
            .contains("--not-before \"tomorrow\" is not a time"),
        "{}",
        run.stderr
    );
    assert!(server.messages().is_empty());
    assert!(!fx.results_path().exists());
}
