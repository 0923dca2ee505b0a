//! The report page: one self-contained HTML file (inline CSS, inline SVG, no JavaScript, and a
//! Content-Security-Policy that forbids scripts and any remote load), readable at 1200 px and on a
//! phone. Every value that comes from the log or campaign.toml goes through [`escape`]: an address
//! or a relay's reply may hold `<script>`.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::Settings;
use super::chart;
use super::figures::{Counts, Domain, Figures, Relay, Run};
use crate::html::escape;

/// Most-failing domains need at least this many recipients: one bounce at a domain of one is no
/// pattern.
pub const MIN_RECIPIENTS: u64 = 5;
/// Rows in each domain table.
const TOP: usize = 10;
/// Failure groups shown.
const GROUPS: usize = 20;
/// Charts drawn: the latest runs.
const CHARTS: usize = 10;

/// The page's style sheet, inlined into `<style>` (the CSP allows inline styles only).
const CSS: &str = include_str!("page.css");

/// The whole page.
pub fn html(name: &str, log: &str, figures: &Figures, settings: &Settings) -> String {
    let mut s = String::with_capacity(16 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'none'; img-src 'none'; form-action 'none'; \
         base-uri 'none'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Report: {}</title><style>{CSS}</style></head><body><main>",
        escape(name)
    );
    heading(&mut s, name, log, figures);
    counts(&mut s, &figures.counts);
    runs(&mut s, &figures.runs);
    failures(&mut s, figures);
    relays(&mut s, &figures.relays);
    domains(&mut s, &figures.domains);
    settings_table(&mut s, settings);
    s.push_str("</main></body></html>\n");
    s
}

fn heading(s: &mut String, name: &str, log: &str, figures: &Figures) {
    let _ = write!(s, "<h1>Campaign {}</h1><p class=\"when\">", escape(name));
    match (figures.runs.first(), figures.runs.last()) {
        (Some(first), Some(last)) => {
            let _ = write!(
                s,
                "From {} to {} (UTC), {} run(s); ",
                time(first.start),
                time(last.end),
                figures.runs.len()
            );
        }
        _ => s.push_str("No rows yet; "),
    }
    let _ = write!(
        s,
        "{} row(s) in <code>{}</code>. Report made {} UTC.</p>",
        figures.rows,
        escape(log),
        time(Utc::now())
    );
}

fn counts(s: &mut String, c: &Counts) {
    s.push_str("<h2>Recipients by status</h2><div class=\"cards\" id=\"counts\">");
    for (class, n) in [
        ("sent", c.sent),
        ("failed", c.failed),
        ("unknown", c.unknown),
        ("skipped", c.skipped),
    ] {
        let _ = write!(
            s,
            "<div class=\"card {class}\" data-count=\"{n}\"><b>{n}</b>{class} ({})</div>",
            percent(n, c.total())
        );
    }
    s.push_str(
        "</div><p class=\"note\">Each address counts once, at its most telling status over all \
         runs (sent, then unknown, then failed); every skipped row counts. <i>Unknown</i>: the \
         relay may have delivered it; check before <code>--retry-unknown</code>.</p>",
    );
}

fn runs(s: &mut String, runs: &[Run]) {
    s.push_str(
        "<h2>Runs and throughput</h2><div class=\"scroll\"><table id=\"runs\"><tr><th>run</th>\
         <th>started (UTC)</th><th class=\"n\">took</th><th>rows</th></tr>",
    );
    for (i, run) in runs.iter().enumerate() {
        let c = run.counts;
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{} sent, {} failed, {} \
             unknown, {} skipped</td></tr>",
            i + 1,
            time(run.start),
            took(run.end.timestamp() - run.start.timestamp()),
            c.sent,
            c.failed,
            c.unknown,
            c.skipped
        );
    }
    s.push_str(
        "</table></div><p class=\"note\">The log has one row per recipient per run; a run is a stretch \
         of rows without a pause of more than 15 minutes and without an address twice.</p>",
    );
    let first_drawn = runs.len().saturating_sub(CHARTS);
    for (i, run) in runs.iter().enumerate().skip(first_drawn) {
        if run.times.is_empty() {
            continue;
        }
        let _ = write!(
            s,
            "<figure id=\"throughput-{}\"><figcaption>Run {}: messages handled (sent, failed or \
             unknown) over time</figcaption>{}</figure>",
            i + 1,
            i + 1,
            chart::svg(&run.times)
        );
    }
}

fn failures(s: &mut String, figures: &Figures) {
    s.push_str("<h2>Failures by reply</h2>");
    if figures.failures.is_empty() {
        s.push_str("<p>No recipient is failed.</p>");
        return;
    }
    s.push_str(
        "<div class=\"scroll\"><table class=\"wide\" id=\"failures\"><tr><th class=\"n\">recipients</th>\
         <th>code</th><th>reply or reason</th><th>for example</th></tr>",
    );
    for g in figures.failures.iter().take(GROUPS) {
        let code = g.code.map(|c| c.to_string()).unwrap_or_default();
        let _ = write!(
            s,
            "<tr><td class=\"n\">{}</td><td>{code}</td><td class=\"long\">{}</td>\
             <td class=\"long\">{}</td></tr>",
            g.count,
            escape(&g.reason),
            escape(&g.examples.join(", "))
        );
    }
    s.push_str("</table></div>");
    if figures.failures.len() > GROUPS {
        let more = figures.failures.len() - GROUPS;
        let _ = write!(s, "<p class=\"note\">… and {more} more kinds.</p>");
    }
}

/// The outcomes per relay, when the log names any (a log of one relay, or written before the
/// `relay` column, has nothing to compare). Rows with no relay are a line "—" when some of them
/// were sent or failed (an old log's rows beside new ones).
fn relays(s: &mut String, relays: &[Relay]) {
    if relays.iter().all(|r| r.name.is_empty()) {
        return;
    }
    s.push_str(
        "<h2>Relays</h2><div class=\"scroll\"><table id=\"relays\"><tr><th>relay</th>\
         <th class=\"n\">sent</th><th class=\"n\">failed</th><th class=\"n\">unknown</th></tr>",
    );
    let shown: Vec<&Relay> = relays
        .iter()
        .filter(|r| !r.name.is_empty() || r.sent + r.failed > 0)
        .collect();
    for r in &shown {
        let name = if r.name.is_empty() {
            "—".to_string()
        } else {
            escape(&r.name)
        };
        let _ = write!(s, "<tr><td class=\"long\">{name}</td>");
        for n in [r.sent, r.failed, r.unknown] {
            let _ = write!(
                s,
                "<td class=\"n\" data-count=\"{n}\">{n} ({})</td>",
                percent(n, r.total())
            );
        }
        s.push_str("</tr>");
    }
    s.push_str(
        "</table></div><p class=\"note\">Message rows (one per recipient per run) by the relay \
         that was sent to; the share is of that relay's rows.",
    );
    if shown.iter().any(|r| r.name.is_empty()) {
        s.push_str(" <i>—</i>: rows that name no relay (written before the log had the column).");
    }
    s.push_str("</p>");
}

fn domains(s: &mut String, domains: &[Domain]) {
    let mut by_failures: Vec<&Domain> = domains.iter().filter(|d| d.failed > 0).collect();
    by_failures.sort_by(|a, b| b.failed.cmp(&a.failed).then(a.name.cmp(&b.name)));
    s.push_str("<h2>Failures by recipient domain</h2>");
    domain_table(s, "failures-by-domain", &by_failures, "no failed recipient");

    let mut by_rate: Vec<&Domain> = domains
        .iter()
        .filter(|d| d.failed > 0 && d.recipients >= MIN_RECIPIENTS)
        .collect();
    by_rate.sort_by(|a, b| {
        (b.failure_rate().total_cmp(&a.failure_rate()))
            .then(b.recipients.cmp(&a.recipients))
            .then(a.name.cmp(&b.name))
    });
    let _ = write!(
        s,
        "<h2>Most-failing domains</h2><p class=\"note\">By the share of their recipients that \
         failed, among domains with at least {MIN_RECIPIENTS} recipients.</p>"
    );
    domain_table(s, "most-failing", &by_rate, "none");

    let mut slowest: Vec<&Domain> = domains.iter().filter(|d| d.retried > 0).collect();
    slowest.sort_by(|a, b| {
        (b.attempts_per_message()
            .total_cmp(&a.attempts_per_message()))
        .then(b.retried.cmp(&a.retried))
        .then(a.name.cmp(&b.name))
    });
    s.push_str(
        "<h2>Slowest domains</h2><p class=\"note\">The log records no time per message, so this \
         measures what slows a send down: SMTP attempts per message. Every attempt past the \
         first is a \"not now\" (4xx) from the relay and a wait before trying again.</p>",
    );
    if slowest.is_empty() {
        s.push_str("<p id=\"slowest\">No message needed a second attempt.</p>");
        return;
    }
    s.push_str(
        "<div class=\"scroll\"><table id=\"slowest\"><tr><th>domain</th><th class=\"n\">attempts per message</th>\
         <th class=\"n\">messages retried</th><th class=\"n\">messages</th></tr>",
    );
    for d in slowest.iter().take(TOP) {
        let _ = write!(
            s,
            "<tr><td class=\"long\">{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td></tr>",
            domain(&d.name),
            d.attempts_per_message(),
            d.retried,
            d.messages
        );
    }
    s.push_str("</table></div>");
}

fn domain_table(s: &mut String, id: &str, domains: &[&Domain], none: &str) {
    if domains.is_empty() {
        let _ = write!(s, "<p id=\"{id}\">{none}.</p>");
        return;
    }
    let _ = write!(
        s,
        "<div class=\"scroll\"><table id=\"{id}\"><tr><th>domain</th><th class=\"n\">failed</th>\
         <th class=\"n\">recipients</th><th class=\"n\">share failed</th></tr>"
    );
    for d in domains.iter().take(TOP) {
        let _ = write!(
            s,
            "<tr><td class=\"long\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td></tr>",
            domain(&d.name),
            d.failed,
            d.recipients,
            percent(d.failed, d.recipients)
        );
    }
    s.push_str("</table></div>");
}

fn settings_table(s: &mut String, settings: &Settings) {
    let _ = write!(
        s,
        "<h2>Settings</h2><p class=\"note\">{}</p><div class=\"scroll\"><table id=\"settings\">",
        escape(&settings.source)
    );
    for (name, value) in &settings.lines {
        let _ = write!(
            s,
            "<tr><th>{}</th><td class=\"long\">{}</td></tr>",
            escape(name),
            escape(value)
        );
    }
    s.push_str("</table></div>");
}

/// A domain, escaped, that may break after its dots on a narrow screen.
fn domain(name: &str) -> String {
    escape(name).replace('.', ".<wbr>")
}

fn percent(n: u64, of: u64) -> String {
    if of == 0 {
        return "–".into();
    }
    format!("{:.1} %", n as f64 * 100.0 / of as f64)
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A duration in seconds, as `1h 02m`, `3m 05s` or `12s`.
fn took(seconds: i64) -> String {
    match seconds {
        s if s >= 3600 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}
