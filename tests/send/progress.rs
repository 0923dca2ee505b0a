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
