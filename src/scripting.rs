//! What the binary does for scripts: under `--json` the one object alone on stdout (the lines for
//! people moved to stderr, see `say!` in `main.rs`), also for a command line clap refuses; and
//! `-v`'s dialogue turned on. The object itself is the library's (`campaign::json`).

use std::sync::atomic::{AtomicBool, Ordering};

use campaign::exit::ExitCode;
use campaign::json::Context;
use campaign::send::dialogue;

use crate::cli::Cli;

/// Set by `--json`: `say!` writes to stderr.
static HUMAN_ON_STDERR: AtomicBool = AtomicBool::new(false);

/// Whether the lines for people go to stderr (`--json`).
pub fn human_on_stderr() -> bool {
    HUMAN_ON_STDERR.load(Ordering::Relaxed)
}

/// Turns on what `--json` and `-v` ask for; `--json`'s context, if given.
pub fn set_up(cli: &Cli, started: chrono::DateTime<chrono::Utc>) -> Option<Context> {
    if cli.verbose() {
        dialogue::show_first_session(dialogue::stderr_sink());
    }
    let (command, dir, dry_run) = cli.json()?;
    HUMAN_ON_STDERR.store(true, Ordering::Relaxed);
    Some(Context {
        command,
        dir: Some(dir),
        dry_run,
        started,
    })
}

/// A command line clap cannot read: its message and exit 2, as clap would; with `--json` on
/// `run` or `check`, the object too (help and version are printed as usual).
pub fn refused_command_line(e: clap::Error, started: chrono::DateTime<chrono::Utc>) -> ! {
    use clap::error::ErrorKind;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("run") => "run",
        Some("check") => "check",
        _ => e.exit(),
    };
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if informational || !args.iter().any(|a| a == "--json") {
        e.exit();
    }
    let _ = e.print();
    let context = Context {
        command,
        dir: args[1..]
            .iter()
            .find(|a| !a.starts_with('-'))
            .map(Into::into),
        dry_run: args.iter().any(|a| a == "--dry-run"),
        started,
    };
    // clap's own first line, as printed above: `error: unexpected argument '--x' found`.
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid command line");
    let message = first.strip_prefix("error: ").unwrap_or(first);
    print_object(&campaign::json::bad_command_line(&context, message));
    std::process::exit(ExitCode::InvalidCampaign.code());
}

/// The `--json` object, alone on stdout.
pub fn print_object(object: &serde_json::Value) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{object:#}");
}
