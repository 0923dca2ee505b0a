//! Progress off a terminal: plain lines with a timestamp and the campaign's name, counting only
//! this run's work (a resume does not count what earlier runs did).

use crate::support::ScriptedServer;
use crate::support::campaign::{Fixture, Spec};

#[test]
fn plain_progress_lines_carry_a_timestamp_the_campaign_and_this_runs_work_only() {
    let server = ScriptedServer::accept_all();
    let spec = Spec {
        recipients: 10,
        rate: Some("1/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&["--limit", "2"], None).expect(0);
    // 8 left at one a second: a progress line comes after 5 s.
    let run = fx.send(&[], None);
    run.expect(0);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains(" campaign progress: "))
        .unwrap_or_else(|| panic!("a progress line: {}", run.stderr));
    let (stamp, rest) = line.split_at(19);
    assert!(
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{line}"
    );
    let counts = rest.trim_start_matches(" campaign progress: ");
    let (done, work) = counts.split_once(' ').unwrap().0.split_once('/').unwrap();
    assert_eq!(work, "8", "this run's work, not the 10 rows: {line}");
    assert!(done.parse::<u64>().unwrap() <= 8, "{line}");
}

/// A message deferred with 451 waits for its retry, and the progress line says so.
#[test]
fn messages_waiting_for_a_retry_show_in_the_progress() {
    let server = crate::support::ScriptedServer::start(|ev| match ev.stage {
        crate::support::Stage::DataEnd => crate::support::Reply::text("451 4.3.0 try again later"),
        _ => crate::support::Reply::Default,
    });
    let spec = Spec {
        recipients: 1,
        retries: 4,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    // Four retries after 0.5–1, 1–2, 2–4 and 4–8 s: the line at 5 s finds it waiting.
    let run = fx.send(&[], None);
    run.expect(1);
    let waiting: Vec<&str> = (run.stderr.lines())
        .filter(|l| l.contains(" campaign progress: ") && l.contains("waiting to retry 1"))
        .collect();
    assert!(!waiting.is_empty(), "{}", run.stderr);
}

/// The bar on an 80-column terminal: no line it draws is wider, and after Ctrl-C (typed into the
/// terminal, so the line discipline sends SIGINT) the screen holds the stop note and the summary
/// but no piece of the bar.
#[test]
fn the_bar_fits_80_columns_and_leaves_no_frame_after_ctrl_c() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let server = ScriptedServer::accept_all();
    let spec = Spec {
        recipients: 60,
        rate: Some("4/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let command = format!(
        "stty cols 80 rows 24; exec {} run {} --yes",
        env!("CARGO_BIN_EXE_campaign"),
        fx.dir().display()
    );
    let mut child = Command::new("timeout")
        .args(["60", "script", "-qec", &command, "/dev/null"])
        .current_dir(fx.root())
        .env_remove("CAMPAIGN_TEMPLATES")
        .env_remove("CAMPAIGN_SMTP_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script(1) (util-linux)");
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    stdin.write_all(b"\x03").unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Every frame the bar drew: its first line (the label, the bar, the counts, the ETA) on one
    // row, the counts of what happened on the next, neither wrapped.
    let frames = terminal_screen(&out.stdout, 80, 24, true);
    let drawn: Vec<&str> = frames
        .split("\x0c\n")
        .filter(|f| f.contains("ETA"))
        .collect();
    assert!(!drawn.is_empty(), "{frames}");
    let mut whole = 0;
    for frame in drawn {
        let rows: Vec<&str> = frame.lines().collect();
        let at = rows.iter().position(|r| r.contains("ETA")).unwrap();
        assert!(
            rows[at].starts_with("campaign "),
            "the first line wrapped:\n{frame}"
        );
        // Between two carriage returns the second line may not be drawn yet.
        if rows[at + 1].contains("/s · ") {
            assert!(
                rows[at + 1].starts_with("  sent "),
                "the second line:\n{frame}"
            );
            whole += 1;
        }
    }
    assert!(whole > 0, "no frame showed both lines:\n{frames}");
    let screen = terminal_screen(&out.stdout, 80, 24, false);
    assert!(screen.contains("SIGINT: stopping"), "{screen}");
    assert!(
        !screen.contains("ETA") && !screen.contains('█') && !screen.contains("sent 0 ·"),
        "a stale frame:\n{screen}"
    );
}

/// What a `columns` × `rows` terminal shows after `output`, or with `frames` after each carriage
/// return of it too (tests/support/screen.py, pyte).
fn terminal_screen(output: &[u8], columns: u16, rows: u16, frames: bool) -> String {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/screen.py");
    let mode = if frames { "frames" } else { "last" };
    let mut child = std::process::Command::new(crate::support::python())
        .args([script, &columns.to_string(), &rows.to_string(), mode])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run tests/support/screen.py");
    child.stdin.take().unwrap().write_all(output).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "screen.py (pip install pyte)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
