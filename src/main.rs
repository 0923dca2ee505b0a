//! The `campaign` binary: parse the command line, call the library, print the outcome and map it
//! to an exit code (see `exit.rs`). Everything else lives in the library.

mod cli;
mod scripting;

/// `println!` that cannot panic: after SIGHUP the terminal may be gone, or stdout is a pipe whose
/// reader has quit (`| head`), and the exit code must still say how the run ended. Under `--json`
/// the lines go to stderr: stdout holds the object alone.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        if scripting::human_on_stderr() {
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

use std::io::IsTerminal;
use std::path::Path;

use clap::Parser;

use campaign::campaign::Campaign;
use campaign::check::Severity;
use campaign::exit::ExitCode;
use campaign::json::Context;
use cli::{CheckArgs, Cli, Command, NewArgs, ReportArgs, RunArgs, ShowArgs, TestArgs};

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
        Command::Run(args) => send(args, json),
        Command::Check(args) => check(args, json),
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
fn send(args: RunArgs, json: Option<&Context>) -> campaign::Result<ExitCode> {
    let campaign = load_for_run(&args)?;
    let context = json.cloned().unwrap_or_else(|| Context {
        command: "run",
        dir: Some(args.dir.clone()),
        dry_run: false,
        started: chrono::Utc::now(),
    });
    let mut summary = None;
    let outcome = send_loaded(&campaign, args, json, &context, &mut summary);
    if let Some(webhook) = &campaign.notify {
        let summary = match (&outcome, summary) {
            (_, Some(summary)) => Some(summary),
            (Err(e), None) => Some(campaign::json::failure(&context, e)),
            (Ok(_), None) => None, // the plan was declined at the terminal: nothing ran
        };
        match summary.map(|summary| webhook.notify(&summary)) {
            Some(Ok(line)) => say!("{line}"),
            Some(Err(line)) => warn!("{line}"),
            None => {}
        }
    }
    outcome
}

fn send_loaded(
    campaign: &Campaign,
    args: RunArgs,
    json: Option<&Context>,
    context: &Context,
    summary: &mut Option<serde_json::Value>,
) -> campaign::Result<ExitCode> {
    let not_before = campaign::window::not_before_arg(args.not_before.as_deref(), campaign)?;
    let last_words = json.cloned().map(|context| {
        campaign::run::LastWords(std::sync::Arc::new(move |report| {
            scripting::print_object(&campaign::json::send(&context, report));
        }))
    });
    let options = campaign::run::SendOptions {
        log: args.log,
        limit: args.limit,
        retry_failed: args.retry_failed,
        retry_unknown: args.retry_unknown,
        // No bar under --json: plain lines on stderr, readable in a CI log.
        plain_progress: args.no_progress || json.is_some(),
        last_words,
        shard: args.shard,
        not_before,
        no_wait: args.no_wait,
        clock: std::sync::Arc::new(campaign::clock::Clock::from_env()),
    };
    // On a terminal, the plan and a question first; cron and CI never wait for an answer.
    let interactive =
        !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut ask = |plan: &campaign::plan::Plan| -> bool {
        warn!("{plan}");
        use std::io::Write;
        let _ = write!(std::io::stderr(), "Send now? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES")
    };
    let confirm: Option<&mut dyn FnMut(&campaign::plan::Plan) -> bool> =
        interactive.then_some(&mut ask);
    let report = campaign::run::send(campaign, &options, confirm)?;
    if json.is_some() {
        scripting::print_object(&campaign::json::send(context, &report));
    }
    if !report.declined {
        *summary = Some(campaign::json::send(context, &report));
    }
    if report.declined {
        say!("Nothing was sent.");
        return Ok(ExitCode::Success);
    }
    let c = report.counts;
    // Nothing was tried (outside the window under --no-wait): only when to come back.
    let tried = report.report.is_some();
    if let (Some(not_now), false) = (&report.not_now, tried) {
        say!("{}: nothing sent; resume at {}", not_now.why, not_now.shown);
        return Ok(report.exit_code());
    }
    if let Some(shard) = &report.shard {
        say!("{shard}");
    }
    say!(
        "sent {}, failed {}, skipped {}, unknown {}; {} already handled by earlier runs",
        c.sent,
        c.failed,
        c.skipped,
        c.unknown,
        c.already_done
    );
    say!(
        "elapsed {:.1}s, {:.1} messages/s; result log: {}",
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.log.display()
    );
    if report.relays.len() > 1 {
        report.relays.iter().for_each(|r| say!("{}", r.line()));
    }
    if let Some(fatal) = &report.fatal {
        warn!("error: {fatal}");
        warn!("the run stopped; recipients without a row in the log are sent by the next run");
    } else if report.stopped_by.is_some() {
        warn!("stopped by a signal; run the same command again to continue");
    } else if report.daily_limit_reached {
        let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
        say!(
            "daily_limit reached for today (UTC); run again from {tomorrow} 00:00 UTC to continue"
        );
    } else if report.limited {
        say!("--limit reached; run again to continue with the next recipients");
    } else if let Some(not_now) = &report.not_now {
        say!(
            "{}: nothing more is sent now; resume at {} (run the same command again then)",
            not_now.why,
            not_now.shown
        );
    }
    if c.failed > 0 {
        print_failures(c.failed, &report.failures);
    }
    if c.unknown > 0 {
        say!(
            "{} recipient(s) have an unknown outcome: the relay may have delivered their message \
             (see the log); check with the relay, then --retry-unknown sends to them again",
            c.unknown
        );
    }
    match &report.report {
        Some(Ok(path)) => say!("report: {}", path.display()),
        Some(Err(e)) => warn!("error: the report was not written: {e}"),
        None => {}
    }
    Ok(report.exit_code())
}

fn check(args: CheckArgs, json: Option<&Context>) -> campaign::Result<ExitCode> {
    let campaign = load(&args.dir)?;
    let dns = args.dns.then(|| campaign::check::DnsOptions {
        resolver: args.resolver,
        ..Default::default()
    });
    let options = campaign::check::CheckOptions { dns };
    let report = campaign::check::report(&campaign, &options)?;
    print_problems(&report);
    let (errors, warnings) = (report.errors(), report.warnings());
    say!(
        "{}: rendered {} recipient(s); {errors} error(s), {warnings} warning(s).",
        args.dir.display(),
        report.rendered
    );
    let relays = match args.smtp {
        true => campaign::check::smtp::relays(&campaign).unwrap_or_else(|e| vec![Err(e)]),
        false => Vec::new(),
    };
    relays
        .iter()
        .flatten()
        .for_each(|r| r.lines().iter().for_each(|l| say!("{l}")));
    let failed = relays.iter().find_map(|r| r.as_ref().err());
    let code = match failed {
        Some(e) => e.exit_code(),
        _ if errors > 0 || (args.strict && warnings > 0) => ExitCode::InvalidCampaign,
        _ => ExitCode::Success,
    };
    if let Some(context) = json {
        let object = campaign::json::check::check(context, &report, &relays, code);
        scripting::print_object(&object);
    }
    // Every relay's failure but the last is told here; the last is the command's error.
    let mut failures: Vec<campaign::Error> = relays.into_iter().filter_map(Result::err).collect();
    let last = failures.pop();
    failures.iter().for_each(|e| warn!("error: {e}"));
    match (last, json) {
        (Some(e), None) => Err(e),
        (Some(e), Some(_)) => {
            warn!("error: {e}");
            Ok(code)
        }
        (None, _) => Ok(code),
    }
}

/// What `check` read and the problems it found, with why and what to do, for people.
fn print_problems(report: &campaign::check::CheckReport) {
    for input in &report.inputs {
        say!("{input}");
    }
    for problem in &report.problems {
        let label = match problem.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        say!("{label}: {}", problem.text);
        if let Some(why) = &problem.why {
            say!("  why: {why}");
        }
        if let Some(fix) = &problem.fix {
            say!("  fix: {fix}");
        }
    }
}

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

/// The failures grouped by reply code and reason, the biggest groups first with their first
/// addresses, and for each what to do: `--retry-failed` only where the failure was temporary.
fn print_failures(failed: u64, groups: &[campaign::failures::Group]) {
    use campaign::failures::Kind;
    const SHOWN: usize = 8;
    say!("{failed} recipient(s) failed (each has its row in the log):");
    for g in groups.iter().take(SHOWN) {
        let reason = match g.code {
            Some(code) => format!("{code} {}", g.reason),
            None => g.reason.clone(),
        };
        let more = if g.count > g.examples.len() as u64 {
            ", …"
        } else {
            ""
        };
        say!("  {} × {reason}", g.count);
        say!("      {}{more}", g.examples.join(", "));
        say!(
            "      {}",
            match g.kind {
                Kind::Permanent =>
                    "permanent: sending again will not help; fix or remove these addresses",
                Kind::Temporary => "temporary: --retry-failed sends to them again later",
                Kind::NotRendered => "not rendered: fix the template or these rows' data",
            }
        );
    }
    if groups.len() > SHOWN {
        say!(
            "  … and {} more kinds of failure (see the log)",
            groups.len() - SHOWN
        );
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
