//! The `check --json` object: what was read (rows, recipients, skipped rows by reason), every
//! problem with its level, kind, rule, file, lines and how many recipients it affects, and with
//! `--smtp` what the relay showed.

use serde_json::{Map, Value, json};

use super::{Context, finish, timestamp};
use crate::campaign::Security;
use crate::check::smtp::RelayReport;
use crate::check::{CheckReport, Problem, SKIP_REASONS, Severity};
use crate::error::Error;
use crate::exit::ExitCode;

/// The fields of a `check` object that found nothing yet (it stopped before rendering).
pub(super) fn empty(ctx: &Context) -> Map<String, Value> {
    fields(ctx, &CheckReport::default(), None)
}

/// The object of a check that ran; `relays` are `--smtp`'s sessions, one per relay (or why each
/// failed; the first failure is then the object's `error`). `relay` is the first relay's, as
/// before there were several.
pub fn check(
    ctx: &Context,
    report: &CheckReport,
    relays: &[Result<RelayReport, Error>],
    code: ExitCode,
) -> Value {
    let found = relays.first().and_then(|r| r.as_ref().ok());
    let error = relays.iter().find_map(|r| r.as_ref().err());
    let mut object = fields(ctx, report, found);
    let each = relays.iter().map(|r| match r {
        Ok(found) => relay_object(found),
        Err(e) => json!({ "error": e.to_string() }),
    });
    object.insert("relays".into(), Value::Array(each.collect()));
    finish(object, code, error)
}

fn fields(ctx: &Context, report: &CheckReport, relay: Option<&RelayReport>) -> Map<String, Value> {
    let mut skipped = Map::new();
    let mut total = 0;
    for key in SKIP_REASONS {
        let n = report.skipped.get(key).copied().unwrap_or(0);
        total += n;
        skipped.insert(key.to_string(), json!(n));
    }
    skipped.insert("total".into(), json!(total));
    let counts = json!({
        "rows": report.rows,
        "recipients": report.rows.saturating_sub(total),
        "rendered": report.rendered,
        "skipped": skipped,
    });
    let notes = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Note)
        .count();
    let mut object = ctx.base();
    object.insert("counts".into(), counts);
    object.insert("errors".into(), json!(report.errors()));
    object.insert("warnings".into(), json!(report.warnings()));
    object.insert("notes".into(), json!(notes));
    let problems = report.problems.iter().map(problem).collect();
    object.insert("problems".into(), Value::Array(problems));
    object.insert("inputs".into(), json!(report.inputs));
    object.insert("relay".into(), relay.map_or(Value::Null, relay_object));
    object.insert("relays".into(), json!([]));
    object
}

fn problem(p: &Problem) -> Value {
    let level = match p.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    };
    json!({
        "level": level,
        "kind": p.kind,
        "rule": p.rule,
        "message": p.text,
        "why": p.why,
        "fix": p.fix,
        "file": p.file.as_ref().map(|f| f.display().to_string()),
        "lines": p.lines,
        "recipients": p.recipients,
    })
}

/// `{host, port, security, encrypted, certificate, pinned, extensions, auth}`; never the password.
fn relay_object(relay: &RelayReport) -> Value {
    let (host, port) = relay
        .server
        .rsplit_once(':')
        .map_or((relay.server.as_str(), None), |(h, p)| {
            (h, p.parse::<u16>().ok())
        });
    let security = match relay.security {
        Security::None => "none",
        Security::StartTls => "starttls",
        Security::Tls => "tls",
    };
    let certificate = relay.certificate.as_ref().map_or(Value::Null, |c| {
        json!({
            "subject": c.subject,
            "issuer": c.issuer,
            "not_after": timestamp(c.not_after),
        })
    });
    json!({
        "name": relay.name,
        "host": host,
        "port": port,
        "security": security,
        "encrypted": relay.encrypted,
        "certificate": certificate,
        "pinned": relay.pinned,
        "extensions": relay.extensions,
        "auth": {
            "used": relay.authenticated_as.is_some(),
            "ok": relay.authenticated_as.as_ref().map(|_| true),
            "user": relay.authenticated_as,
        },
    })
}
