//! `campaign check`: the problems found, with why and what to do, and with `--smtp` what each
//! relay showed.

use campaign::check::Severity;
use campaign::exit::ExitCode;
use campaign::json::Context;

use crate::cli::CheckArgs;
use crate::{load, scripting};

pub(crate) fn check(args: CheckArgs, json: Option<&Context>) -> campaign::Result<ExitCode> {
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
