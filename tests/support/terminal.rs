//! A command run in a pseudo-terminal, as a person at a terminal runs it: `script(1)` (util-linux)
//! gives it a tty of 80 × 24, what the test types goes through the terminal's line discipline
//! (`\x03` becomes SIGINT, as Ctrl-C does), and everything the terminal was sent comes back,
//! control sequences included (read it with `screen.py`, a terminal emulator, when the layout
//! matters).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs the shell command line `command` in `dir` on an 80 × 24 terminal, typing each `(after,
/// bytes)` in turn once `after` has passed; returns the exit code and the bytes shown.
pub fn in_a_terminal(dir: &Path, command: &str, typed: &[(Duration, &[u8])]) -> (i32, Vec<u8>) {
    let command = format!("stty cols 80 rows 24; exec {command}");
    let mut child = Command::new("timeout")
        .args(["60", "script", "-qec", &command, "/dev/null"])
        .current_dir(dir)
        .env_remove("CAMPAIGN_TEMPLATES")
        .env_remove("CAMPAIGN_SMTP_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script(1) (util-linux)");
    let mut stdin = child.stdin.take().unwrap();
    for (after, bytes) in typed {
        std::thread::sleep(*after);
        let _ = stdin.write_all(bytes);
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), out.stdout)
}

/// What a `columns` × `rows` terminal shows after `output`, or with `frames` after each carriage
/// return of it too, each screen ending in a form-feed line (tests/support/screen.py, pyte).
pub fn terminal_screen(output: &[u8], columns: u16, rows: u16, frames: bool) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/screen.py");
    let mode = if frames { "frames" } else { "last" };
    let mut child = Command::new(super::python())
        .args([script, &columns.to_string(), &rows.to_string(), mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tests/support/screen.py");
    child.stdin.take().unwrap().write_all(output).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "screen.py (pip install pyte)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
