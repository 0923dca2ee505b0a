//! `campaign run` without `--dry-run`: the send's options from the command line, the plan's
//! question on a terminal, the `--json` object, the `[notify]` notice, and the summary for people.

use std::io::IsTerminal;

use campaign::campaign::Campaign;
use campaign::exit::ExitCode;
use campaign::json::Context;
use campaign::run::SendReport;

use crate::cli::RunArgs;
use crate::{load_for_run, scripting};

pub(crate) fn send(args: RunArgs, json: Option<&Context>) -> campaign::Result<ExitCode> {
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
    let mut ask = ask;
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
    print_summary(&report);
    Ok(report.exit_code())
}

/// What a send did, for people: the counts, the time and rate, each relay's part, why it ended
/// early, the failures grouped, and where the report is.
fn print_summary(report: &SendReport) {
    let c = report.counts;
    // Nothing was tried (outside the window under --no-wait): only when to come back.
    let tried = report.report.is_some();
    if let (Some(not_now), false) = (&report.not_now, tried) {
        say!("{}: nothing sent; resume at {}", not_now.why, not_now.shown);
        return;
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
    match &report.report {
        Some(Ok(path)) => say!("report: {}", path.display()),
        Some(Err(e)) => warn!("error: the report was not written: {e}"),
        None => {}
    }
}

/// The plan's question on the terminal: yes sends.
fn ask(plan: &campaign::plan::Plan) -> bool {
    warn!("{plan}");
    use std::io::Write;
    let _ = write!(std::io::stderr(), "Send now? [y/N] ");
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES")
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
