//! The send plan: on a terminal `campaign run` says what it is about to do and sends nothing
//! without a yes; `--yes` sends without asking; off a terminal it never asks (every other test
//! runs with stdin not a terminal and would hang here if it did).

use std::time::Duration;

use crate::support::ScriptedServer;
use crate::support::campaign::{Fixture, Spec};
use crate::support::terminal;

/// Runs `campaign run DIR --no-progress ARGS` in a pseudo-terminal, typing `answer` once the
/// question is up (the plan takes a moment to count). Returns the exit code and what it showed.
fn in_a_terminal(fx: &Fixture, args: &[&str], answer: &str) -> (i32, String) {
    let command = format!(
        "{} run {} --no-progress {}",
        env!("CARGO_BIN_EXE_campaign"),
        fx.dir().display(),
        args.join(" ")
    );
    let typed = [(Duration::from_millis(1500), answer.as_bytes())];
    let (code, shown) = terminal::in_a_terminal(fx.root(), &command, &typed);
    (code, String::from_utf8_lossy(&shown).replace('\r', ""))
}

#[test]
fn on_a_terminal_the_plan_is_shown_and_nothing_is_sent_without_a_yes() {
    let server = ScriptedServer::accept_all();
    let spec = Spec::new(server.port);
    let fx = Fixture::from_spec(&spec);
    let (code, shown) = in_a_terminal(&fx, &["--limit", "3"], "n\n");
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains(&format!(
            "About to send 3 messages to 127.0.0.1:{} (no TLS), with no rate limit.",
            server.port
        )),
        "{shown}"
    );
    assert!(shown.contains("2 left for a later run"), "{shown}");
    assert!(shown.contains("Send now? [y/N]"), "{shown}");
    assert!(shown.contains("Nothing was sent."), "{shown}");
    assert!(server.messages().is_empty(), "nothing sent");
    assert!(fx.rows().is_empty(), "no row logged");

    let (code, shown) = in_a_terminal(&fx, &[], "y\n");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("About to send 5 messages"), "{shown}");
    assert_eq!(server.messages().len(), 5, "{shown}");
}

#[test]
fn yes_sends_on_a_terminal_without_asking() {
    let server = ScriptedServer::accept_all();
    let fx = Fixture::from_spec(&Spec::new(server.port));
    let (code, shown) = in_a_terminal(&fx, &["--yes"], "");
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains("Send now?"), "{shown}");
    assert_eq!(server.messages().len(), 5, "{shown}");
}
