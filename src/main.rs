//! The `campaign` binary: parse the command line, call the library, print the outcome and map it
//! to an exit code (see `exit.rs`). Everything else lives in the library.

/// `println!` that cannot panic: after SIGHUP the terminal may be gone, or stdout is a pipe whose
/// reader has quit (`| head`), and the exit code must still say how the run ended. Under `--json`
/// the lines go to stderr: stdout holds the object alone.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        if crate::scripting::human_on_stderr() {
            let _ = writeln!(std::io::stderr(), $($arg)*);
        } else {
            let _ = writeln!(std::io::stdout(), $($arg)*);
        }
    }};
}

/// [`say!`] on stderr.
macro_rules! warn {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod check_command;
mod cli;
mod scripting;
mod send_command;

use std::path::Path;

use clap::Parser;

use campaign::campaign::Campaign;
use campaign::exit::ExitCode;
use campaign::json::Context;
use cli::{Cli, Command, NewArgs, ReportArgs, RunArgs, ShowArgs, TestArgs};

fn main() {
    let started = chrono::Utc::now();
    let cli = Cli::try_parse().unwrap_or_else(|e| scripting::refused_command_line(e, started));
    let json = scripting::set_up(&cli, started);
    let code = match run(cli, json.as_ref()) {
        Ok(code) => code,
        Err(e) => {
            // One line: the message already names the file and holds its cause (the OS's reason).
            warn!("error: {e}");
            if let Some(context) = &json {
                scripting::print_object(&campaign::json::failure(context, &e));
            }
            e.exit_code()
        }
    };
    std::process::exit(code.code());
}

fn run(cli: Cli, json: Option<&Context>) -> campaign::Result<ExitCode> {
    match cli.command {
        Command::Run(args) if args.dry_run => dry_run(args, json),
        Command::Run(args) => send_command::send(args, json),
        Command::Check(args) => check_command::check(args, json),
        Command::New(args) => new(args),
        Command::Show(args) => show(args),
        Command::Test(args) => test(args),
        Command::Report(args) => report(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "campaign", &mut std::io::stdout());
            Ok(ExitCode::Success)
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut page = Vec::new();
            let rendered = clap_mangen::Man::new(Cli::command()).render(&mut page);
            rendered
                .map_err(|e| campaign::Error::fatal(format!("cannot render the manual: {e}")))?;
            use std::io::Write;
            let _ = std::io::stdout().write_all(&page);
            Ok(ExitCode::Success)
        }
    }
}

fn load(dir: &Path) -> campaign::Result<Campaign> {
    Campaign::load(dir)
}

/// Loads the campaign with the command line's overrides applied: a dry run refuses the same bad
/// `--rate` or `--concurrency` a send refuses.
fn load_for_run(args: &RunArgs) -> campaign::Result<Campaign> {
    let mut campaign = load(&args.dir)?;
    campaign.override_with(args.rate.as_deref(), args.concurrency)?;
    Ok(campaign)
}

fn dry_run(args: RunArgs, json: Option<&Context>) -> campaign::Result<ExitCode> {
    let campaign = load_for_run(&args)?;
    // Refused as a send would refuse it; a preview never waits.
    campaign::window::not_before_arg(args.not_before.as_deref(), &campaign)?;
    let out = args.out.unwrap_or_else(|| match args.shard {
        Some(s) => args
            .dir
            .join("preview")
            .join(format!("{}-of-{}", s.index, s.count)),
        None => args.dir.join("preview"),
    });
    let report = campaign::dry_run::preview(&campaign, &out, args.limit, args.shard)?;
    for input in &report.inputs {
        say!("{input}");
    }
    if let Some(shard) = args.shard {
        say!("shard {shard}: the rows of this shard only");
    }
    say!(
        "Rendered {} recipient(s), skipped {}{} — nothing was sent.",
        report.rendered,
        report.skipped.len(),
        if report.failed.is_empty() {
            String::new()
        } else {
            format!(", failed to render {}", report.failed.len())
        }
    );
    print_rows("Skipped", &report.skipped);
    print_rows("Failed to render", &report.failed);
    say!("Previews: {}", out.display());
    say!("Open {} in a browser.", report.index.display());
    let code = if report.failed.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::SomeFailed
    };
    if let Some(context) = json {
        scripting::print_object(&campaign::json::dry_run(context, &report, &out, code));
    }
    Ok(code)
}

/// Lists (line, address, reason) rows, at most 20 of them.
fn print_rows(title: &str, rows: &[(u64, String, String)]) {
    const SHOWN: usize = 20;
    if rows.is_empty() {
        return;
    }
    say!("{title}:");
    for (line, email, reason) in rows.iter().take(SHOWN) {
        say!("  line {line}: {email}: {reason}");
    }
    if rows.len() > SHOWN {
        say!("  … and {} more (see index.html)", rows.len() - SHOWN);
    }
}

/// A send, then its notice (`[notify]`): posted with the run's `--json` object, whether the send
/// ran or stopped on an error (a held lock, a bad log, a fatal relay error); a failed notice is one
/// line on stderr and never changes the exit code.
fn new(args: NewArgs) -> campaign::Result<ExitCode> {
    let created = campaign::new::create(&args.dir)?;
    say!(
        "Wrote a new campaign in {}: {}.",
        created.dir.display(),
        created.files.join(", ")
    );
    for line in created.next_steps() {
        say!("{line}");
    }
    Ok(ExitCode::Success)
}

fn show(args: ShowArgs) -> campaign::Result<ExitCode> {
    use campaign::show::Part;
    let campaign = load(&args.dir)?;
    let pick = pick(args.as_email, args.line);
    let part = match (args.headers, args.text, args.html, args.raw) {
        (true, ..) => Part::Headers,
        (_, true, ..) => Part::Text,
        (_, _, true, _) => Part::Html,
        (.., true) => Part::Raw,
        _ => Part::HeadersAndText,
    };
    match campaign::show::render(&campaign, &pick)? {
        Ok(message) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&campaign::show::print(&message, part));
            Ok(ExitCode::Success)
        }
        Err(e) => {
            warn!("error: {e}");
            Ok(ExitCode::SomeFailed)
        }
    }
}

/// The recipient `--as` or `--line` names, else the first that would be sent.
fn pick(as_email: Option<String>, line: Option<u64>) -> campaign::campaign::pick::Pick {
    use campaign::campaign::pick::Pick;
    match (as_email, line) {
        (Some(email), _) => Pick::Address(email),
        (None, Some(line)) => Pick::Line(line),
        (None, None) => Pick::First,
    }
}

/// `campaign test`: one recipient's message to the --to addresses; exit 1 if any refused it.
fn test(args: TestArgs) -> campaign::Result<ExitCode> {
    let campaign = load(&args.dir)?;
    let pick = pick(args.as_email, args.line);
    let relay = args.relay.as_deref();
    let report = campaign::test_send::send(&campaign, &args.to, &pick, relay)?;
    say!(
        "test message of line {} ({}), subject {:?}, via {}:",
        report.line,
        report.email,
        report.subject,
        report.server
    );
    for o in &report.outcomes {
        let verdict = if o.accepted { "accepted" } else { "REFUSED" };
        say!("  {}: {verdict}: {}", o.to, o.reply);
    }
    say!("The To header is the recipient's own; nothing was written to the result log.");
    Ok(if report.all_accepted() {
        ExitCode::Success
    } else {
        ExitCode::SomeFailed
    })
}

/// `campaign report`: the HTML report of a result log.
fn report(args: ReportArgs) -> campaign::Result<ExitCode> {
    let out = campaign::report::for_log(&args.dir, args.log.as_deref(), args.out.as_deref())?;
    say!("report: {}", out.display());
    Ok(ExitCode::Success)
}
