//! `--json`: the one machine-readable object `run` and `check` print on stdout for scripts and CI,
//! instead of the lines for people (which then go to stderr). Its fields are a stable interface,
//! documented in the README ("Scripting: --json"); [`VERSION`] changes only if one is removed or
//! changes meaning (new fields may be added).
//!
//! Every way out prints the object, so a script can always parse stdout: a finished run, a
//! declined plan, bad input (`exit_code` 2 and an `error`), a fatal relay error, a held lock, a
//! stop signal. The object always has every field of its command, zero or `null` where nothing
//! happened, so a script never has to ask whether a key exists. This module builds the objects
//! from the reports; `main.rs` prints them. `check`'s fields are in [`check`].

pub mod check;

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::dry_run::DryRunReport;
use crate::error::Error;
use crate::exit::ExitCode;
use crate::failures::{Failures, Group, Kind};
use crate::run::SendReport;

/// The object's format version, its `"version"` field.
pub const VERSION: u64 = 1;

/// What every object of one invocation shares: the command, the campaign it names and when it
/// started.
#[derive(Debug, Clone)]
pub struct Context {
    /// `"run"` or `"check"`.
    pub command: &'static str,
    /// The campaign directory as given on the command line (`None` when the command line could not
    /// be read that far).
    pub dir: Option<PathBuf>,
    pub dry_run: bool,
    pub started: DateTime<Utc>,
}

impl Context {
    /// The fields every object starts with; `exit_code` and `error` are set by [`finish`].
    fn base(&self) -> Map<String, Value> {
        let campaign = match &self.dir {
            Some(dir) => json!({ "path": dir.display().to_string(), "name": name_of(dir) }),
            None => Value::Null,
        };
        let mut object = Map::new();
        object.insert("version".into(), json!(VERSION));
        object.insert("command".into(), json!(self.command));
        object.insert("campaign".into(), campaign);
        object
    }
}

/// The campaign's name as `Campaign::name` gives it: its directory's.
fn name_of(dir: &Path) -> String {
    dir.file_name()
        .map_or_else(|| "campaign".into(), |n| n.to_string_lossy().into_owned())
}

/// The object of a command that stopped on `error` before it had anything else to say.
pub fn failure(ctx: &Context, error: &Error) -> Value {
    let object = match ctx.command {
        "check" => check::empty(ctx),
        _ => run_fields(ctx, ctx.started),
    };
    finish(object, error.exit_code(), Some(error))
}

/// The object of a command line that could not be read (`clap`'s message): exit 2.
pub fn bad_command_line(ctx: &Context, message: &str) -> Value {
    let object = match ctx.command {
        "check" => check::empty(ctx),
        _ => run_fields(ctx, ctx.started),
    };
    let mut object = finish(object, ExitCode::InvalidCampaign, None);
    object["error"] = json!({ "kind": "invalid", "message": message, "file": null, "line": null });
    object
}

/// Sets `exit_code` and `error` (`null` without one).
fn finish(mut object: Map<String, Value>, code: ExitCode, error: Option<&Error>) -> Value {
    object.insert("exit_code".into(), json!(code.code()));
    object.insert("error".into(), error.map_or(Value::Null, error_object));
    Value::Object(object)
}

/// `{kind, message, file, line}`: file and line when the message starts by naming them (as every
/// message about an input file does: `path: line 3: …`, `path:3:7: …`).
fn error_object(error: &Error) -> Value {
    let message = error.to_string();
    let (file, line) = place(&message);
    let kind = if error.is_invalid() {
        "invalid"
    } else if error.is_fatal() {
        "fatal"
    } else if error.is_locked() {
        "locked"
    } else {
        "output"
    };
    json!({ "kind": kind, "message": message, "file": file, "line": line })
}

/// The file (and line) a message starts with: `path:LINE:COL: …`, `path: line LINE: …`, `path: …`.
/// The part before the first `": "` is a file when it exists, or when it is one word with a `/`.
fn place(message: &str) -> (Option<String>, Option<u64>) {
    let Some((head, rest)) = message.split_once(": ") else {
        return (None, None);
    };
    let mut parts = head.rsplitn(3, ':');
    let (col, line, file) = (parts.next(), parts.next(), parts.next());
    if let (Some(col), Some(line), Some(file)) = (col, line, file)
        && let (Ok(line), Ok(_)) = (line.parse::<u64>(), col.parse::<u64>())
        && looks_like_file(file)
    {
        return (Some(file.to_string()), Some(line));
    }
    if !looks_like_file(head) {
        return (None, None);
    }
    let line = rest
        .strip_prefix("line ")
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    (Some(head.to_string()), line)
}

fn looks_like_file(text: &str) -> bool {
    Path::new(text).exists() || (text.contains('/') && !text.contains(char::is_whitespace))
}

/// The fields of a `run` object with nothing done yet.
fn run_fields(ctx: &Context, ended: DateTime<Utc>) -> Map<String, Value> {
    let mut object = ctx.base();
    let fields = json!({
        "dry_run": ctx.dry_run,
        "counts": counts(0, 0, 0, 0, 0, 0, 0),
        "failures": [],
        "log": null,
        "preview": null,
        "started": timestamp(ctx.started),
        "ended": timestamp(ended),
        "duration_seconds": seconds(ctx.started, ended),
        "messages_per_second": 0.0,
        "stopped_by": null,
        "limit_reached": false,
        "daily_limit_reached": false,
        "declined": false,
        "shard": null,
        "relays": [],
    });
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    object
}

/// The counts of a run, in the order people read them.
#[allow(clippy::too_many_arguments)]
fn counts(
    sent: u64,
    previewed: u64,
    failed: u64,
    unknown: u64,
    skipped: u64,
    suppressed: u64,
    already_handled: u64,
) -> Value {
    json!({
        "sent": sent,
        "previewed": previewed,
        "failed": failed,
        "unknown": unknown,
        "skipped": skipped,
        "suppressed": suppressed,
        "already_handled": already_handled,
    })
}

/// The object of a send that ran (to the end, or stopped by a signal, `--limit`, a fatal error).
pub fn send(ctx: &Context, report: &SendReport) -> Value {
    let ended = report.started + chrono::Duration::from_std(report.elapsed).unwrap_or_default();
    let mut object = run_fields(
        &Context {
            started: report.started,
            ..ctx.clone()
        },
        ended,
    );
    let c = report.counts;
    let signal = report.stopped_by.map(signal_name);
    let fields = [
        (
            "counts",
            counts(
                c.sent,
                0,
                c.failed,
                c.unknown,
                c.skipped,
                c.suppressed,
                c.already_done,
            ),
        ),
        ("failures", failures(&report.failures)),
        ("log", json!(report.log.display().to_string())),
        ("messages_per_second", json!(round(report.rate()))),
        ("stopped_by", json!(signal)),
        ("limit_reached", json!(report.limited)),
        ("daily_limit_reached", json!(report.daily_limit_reached)),
        ("declined", json!(report.declined)),
        ("shard", report.shard.map_or(Value::Null, shard)),
        ("relays", relays(&report.relays)),
        (
            "resume_at",
            json!(report.not_now.as_ref().map(|n| n.until.to_rfc3339())),
        ),
    ];
    for (key, value) in fields {
        object.insert(key.into(), value);
    }
    finish(object, report.exit_code(), report.fatal.as_ref())
}

/// `[{name, sent, failed, unknown, taken_out, trouble}]`: what each relay did, in campaign.toml's
/// order; `taken_out` says why a relay stopped early (failed, or at its daily limit).
fn relays(outcomes: &[crate::send::relays::RelayOutcome]) -> Value {
    let each = outcomes.iter().map(|r| {
        json!({
            "name": r.name,
            "sent": r.sent,
            "failed": r.failed,
            "unknown": r.unknown,
            "taken_out": r.gone,
            "trouble": r.trouble,
        })
    });
    Value::Array(each.collect())
}

/// `{index, count, rows, rows_in_csv}`: which shard (`--shard index/count`) and how much of the
/// list was its.
fn shard(s: crate::shard::ShardRows) -> Value {
    json!({
        "index": s.shard.index,
        "count": s.shard.count,
        "rows": s.rows,
        "rows_in_csv": s.total,
    })
}

/// The object of a dry run that wrote its previews into `preview`.
pub fn dry_run(ctx: &Context, report: &DryRunReport, preview: &Path, code: ExitCode) -> Value {
    let mut object = run_fields(ctx, Utc::now());
    let suppressed = report
        .skipped
        .iter()
        .filter(|(_, _, reason)| reason == "suppressed")
        .count() as u64;
    let failed = report.failed.len() as u64;
    let skipped = report.skipped.len() as u64;
    let counts = counts(0, report.rendered, failed, 0, skipped, suppressed, 0);
    let grouped = Failures::default();
    for (line, email, reason) in &report.failed {
        grouped.record_row(Kind::NotRendered, None, reason, email, Some(*line));
    }
    object.insert("counts".into(), counts);
    object.insert("failures".into(), failures(&grouped.groups()));
    object.insert("preview".into(), json!(preview.display().to_string()));
    finish(object, code, None)
}

/// `[{kind, code, reason, count, addresses, lines}]`, most recipients first.
fn failures(groups: &[Group]) -> Value {
    let groups: Vec<Value> = groups
        .iter()
        .map(|g| {
            let kind = match g.kind {
                Kind::Permanent => "permanent",
                Kind::Temporary => "temporary",
                Kind::NotRendered => "not_rendered",
            };
            json!({
                "kind": kind,
                "code": g.code,
                "reason": g.reason,
                "count": g.count,
                "addresses": g.examples,
                "lines": g.lines,
            })
        })
        .collect();
    Value::Array(groups)
}

fn signal_name(number: i32) -> String {
    match number {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

/// RFC 3339 in UTC, to the millisecond.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    round((to - from).num_milliseconds().max(0) as f64 / 1000.0)
}

/// Three decimals are plenty for seconds and rates.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::place;

    #[test]
    fn the_file_and_line_a_message_starts_with() {
        let toml = "/c/campaign.toml:3:8: expected a value";
        assert_eq!(place(toml), (Some("/c/campaign.toml".into()), Some(3)));
        let csv = "/c/recipients.csv: line 12: malformed row";
        assert_eq!(place(csv), (Some("/c/recipients.csv".into()), Some(12)));
        let file = "/c/campaign.toml: no [smtp] section";
        assert_eq!(place(file), (Some("/c/campaign.toml".into()), None));
        assert_eq!(place("127.0.0.1:2525: authentication failed"), (None, None));
        assert_eq!(place("--rate: not a rate"), (None, None));
        assert_eq!(place("[smtp] timeout must be at least 1"), (None, None));
    }
}
