//! The plan a person at a terminal sees before a send through several relays: each relay named
//! with its server and weight, and what the relays' own daily limits leave for a later run.

use super::*;
use support::terminal;

/// Runs `campaign run DIR --no-progress` in a pseudo-terminal and answers `n`: what it showed.
fn plan_shown(fx: &Fixture) -> (i32, String) {
    let command = format!(
        "{} run {} --no-progress",
        env!("CARGO_BIN_EXE_campaign"),
        fx.dir().display()
    );
    let typed = [(Duration::from_millis(1500), "n\n".as_bytes())];
    let (code, shown) = terminal::in_a_terminal(fx.root(), &command, &typed);
    (code, String::from_utf8_lossy(&shown).replace('\r', ""))
}

/// The plan names each relay with its server and weight; answering no sends nothing.
#[test]
fn plan_names_each_relay_with_its_weight() {
    let (a, b) = (ScriptedServer::accept_all(), ScriptedServer::accept_all());
    let fx = campaign(
        &base(8),
        &[
            relay("a", Spec::new(a.port)).with("weight = 3"),
            relay("b", Spec::new(b.port)),
        ],
    );
    let (code, shown) = plan_shown(&fx);
    assert_eq!(code, 0, "{shown}");
    let (pa, pb) = (a.port, b.port);
    let relays = format!(
        "2 relays (a = 127.0.0.1:{pa} (no TLS), weight 3; b = 127.0.0.1:{pb} (no TLS), weight 1)"
    );
    assert!(shown.contains(&relays), "{relays}\nin:\n{shown}");
    assert!(shown.contains("Nothing was sent."), "{shown}");
    assert_eq!(a.connections() + b.connections(), 0, "no session opened");
    assert!(fx.rows().is_empty());
}

/// Both relays at daily_limit 10 and 50 recipients: the plan says 20 go now and 30 are left for
/// a later run ("counted with the same decisions the send makes"), not 50.
#[test]
fn plan_counts_the_relays_daily_limits() {
    let (a, b) = (ScriptedServer::accept_all(), ScriptedServer::accept_all());
    let fx = campaign(
        &base(50),
        &[
            relay("a", Spec::new(a.port)).with("daily_limit = 10"),
            relay("b", Spec::new(b.port)).with("daily_limit = 10"),
        ],
    );
    let (code, shown) = plan_shown(&fx);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("About to send 20 messages"), "{shown}");
    assert!(shown.contains("30 left for a later run"), "{shown}");
}

/// A relay with its own rate: the plan must not say "with no rate limit" (nor its time estimate
/// ignore that relay's pace).
#[test]
fn plan_does_not_say_no_rate_limit_when_a_relay_has_one() {
    let (a, b) = (ScriptedServer::accept_all(), ScriptedServer::accept_all());
    let fx = campaign(
        &base(20),
        &[
            relay("a", Spec::new(a.port)),
            relay("b", Spec::new(b.port)).with("rate = \"1/s\""),
        ],
    );
    let (code, shown) = plan_shown(&fx);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("About to send 20 messages"), "{shown}");
    assert!(!shown.contains("with no rate limit"), "{shown}");
}
