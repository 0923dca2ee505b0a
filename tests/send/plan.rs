//! The send plan: on a terminal `campaign run` says what it is about to do and sends nothing
//! without a yes; `--yes` sends without asking; off a terminal it never asks (every other test
//! runs with stdin not a terminal and would hang here if it did).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::ScriptedServer;
use crate::support::campaign::{Fixture, Spec};

/// Runs `campaign run DIR --no-progress ARGS` in a pseudo-terminal (`script`), typing `answer`.
/// Returns the exit code and everything the terminal showed.
fn in_a_terminal(fx: &Fixture, args: &[&str], answer: &str) -> (i32, String) {
    let command = format!(
        "{} run {} --no-progress {}",
        env!("CARGO_BIN_EXE_campaign"),
        fx.dir().display(),
        args.join(" ")
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
    // Typed once the question is up: the plan takes a moment to count.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = stdin.write_all(answer.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    (out.status.code().unwrap_or(-1), shown)
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
