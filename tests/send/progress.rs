//! Progress off a terminal: plain lines with a timestamp and the campaign's name, counting only
//! this run's work (a resume does not count what earlier runs did).

use std::time::Duration;

use crate::support::ScriptedServer;
use crate::support::campaign::{Fixture, Spec};
use crate::support::terminal::{self, terminal_screen};

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
    let server = ScriptedServer::accept_all();
    let spec = Spec {
        recipients: 60,
        rate: Some("4/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let command = format!(
        "{} run {} --yes",
        env!("CARGO_BIN_EXE_campaign"),
        fx.dir().display()
    );
    // Ctrl-C after 4 s; the terminal stays open 2 s more while the run stops.
    let ctrl_c = [
        (Duration::from_secs(4), &b"\x03"[..]),
        (Duration::from_secs(2), b""),
    ];
    let (code, shown) = terminal::in_a_terminal(fx.root(), &command, &ctrl_c);
    assert_eq!(code, 130, "{}", String::from_utf8_lossy(&shown));
    // Every frame the bar drew: its first line (the label, the bar, the counts, the ETA) on one
    // row, the counts of what happened on the next, neither wrapped.
    let frames = terminal_screen(&shown, 80, 24, true);
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
    let screen = terminal_screen(&shown, 80, 24, false);
    assert!(screen.contains("SIGINT: stopping"), "{screen}");
    assert!(
        !screen.contains("ETA") && !screen.contains('█') && !screen.contains("sent 0 ·"),
        "a stale frame:\n{screen}"
    );
}
