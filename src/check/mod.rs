//! `campaign check`: load, validate and render every recipient without writing or sending anything,
//! and list each problem. Errors (the campaign cannot be sent as it stands) make the exit code 2;
//! warnings (rows that would be skipped, deliverability lints) do not, unless `--strict`.
//!
//! Besides the CSV and template problems, `check` is a deliverability lint: [`lint`] looks at the
//! campaign settings and at every rendered message (each rule reported once, with how many messages
//! it affects), and with `--dns` [`dns`] looks up the SPF, DKIM and DMARC records of the sending
//! domains and says which record to publish.

pub mod campaign_rules;
pub mod certificate;
pub mod dns;
pub mod html_facts;
pub mod lint;
mod missing_files;
pub mod smtp;

use crate::campaign::{Campaign, SkipReason};
use crate::error::Result;
use crate::pipeline::{self, Prepared, Selection};
use crate::render::Renderer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use dns::DnsOptions;

/// One problem found by `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// What is wrong, in one line.
    pub text: String,
    /// Why it matters (for deliverability lints).
    pub why: Option<String>,
    /// What to do about it.
    pub fix: Option<String>,
    /// Where it comes from: `row`, `render`, `campaign`, `content`, `dns` (for `--json`).
    pub kind: &'static str,
    /// The lint rule (`image_alt`, `one_click`…), for the content rules.
    pub rule: Option<String>,
    /// The file it is about, with the lines (for the recipients CSV: of the rows it affects, or
    /// the first of them).
    pub file: Option<PathBuf>,
    pub lines: Vec<u64>,
    /// How many recipients it affects, where that is known.
    pub recipients: Option<u64>,
}

impl Problem {
    pub fn new(severity: Severity, text: impl Into<String>) -> Problem {
        Problem {
            severity,
            text: text.into(),
            why: None,
            fix: None,
            kind: "",
            rule: None,
            file: None,
            lines: Vec::new(),
            recipients: None,
        }
    }

    /// Sets where the problem comes from (see [`Problem::kind`]), unless it is set already.
    pub fn kind(mut self, kind: &'static str) -> Problem {
        if self.kind.is_empty() {
            self.kind = kind;
        }
        self
    }

    /// The rule's name, written `snake_case` (a type name such as `OneClick` becomes `one_click`).
    pub fn rule(mut self, name: &str) -> Problem {
        let mut rule = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                rule.push('_');
            }
            rule.extend(c.to_lowercase());
        }
        self.rule = Some(rule);
        self
    }

    /// The file and lines the problem is about, and how many recipients it affects.
    pub fn at(mut self, file: &Path, lines: Vec<u64>, recipients: Option<u64>) -> Problem {
        self.file = Some(file.to_path_buf());
        self.lines = lines;
        self.recipients = recipients;
        self
    }

    pub fn error(text: impl Into<String>) -> Problem {
        Problem::new(Severity::Error, text)
    }

    pub fn warning(text: impl Into<String>) -> Problem {
        Problem::new(Severity::Warning, text)
    }

    pub fn note(text: impl Into<String>) -> Problem {
        Problem::new(Severity::Note, text)
    }

    pub fn why(mut self, why: impl Into<String>) -> Problem {
        self.why = Some(why.into());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Problem {
        self.fix = Some(fix.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Information only (e.g. the DMARC policy found); never affects the exit code.
    Note,
    Warning,
    Error,
}

/// What `check` does besides rendering.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Look up the SPF, DKIM and DMARC records (`--dns`).
    pub dns: Option<DnsOptions>,
}

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Data rows in the recipients CSV.
    pub rows: u64,
    /// Rows that would be skipped, by reason ([`skip_key`]).
    pub skipped: BTreeMap<&'static str, u64>,
    pub rendered: u64,
    /// What was read from each input file, one line each (`recipients.csv: 8 rows on 9 lines`).
    pub inputs: Vec<String>,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == severity)
            .count()
    }
}

/// The reasons a row is skipped, as `--json` names them.
pub const SKIP_REASONS: [&str; 5] = [
    "empty_address",
    "invalid_address",
    "duplicate",
    "malformed_row",
    "suppressed",
];

/// The name of a skip reason in [`SKIP_REASONS`].
pub fn skip_key(reason: &SkipReason) -> &'static str {
    match reason {
        SkipReason::EmptyAddress => SKIP_REASONS[0],
        SkipReason::InvalidAddress(_) => SKIP_REASONS[1],
        SkipReason::Duplicate { .. } => SKIP_REASONS[2],
        SkipReason::MalformedRow { .. } => SKIP_REASONS[3],
        SkipReason::Suppressed => SKIP_REASONS[4],
    }
}

/// Renders every recipient of an already loaded campaign and collects the problems: CSV rows and
/// render failures first (sorted), then the deliverability lints, then (with `options.dns`) the
/// DNS checks.
pub fn report(campaign: &Campaign, options: &CheckOptions) -> Result<CheckReport> {
    let recipients = campaign.scan_recipients()?;
    let renderer = Renderer::new(campaign)?;
    let csv = campaign.recipients.display().to_string();
    let suppression = crate::campaign::suppress::Suppression::load(&campaign.suppress)?;
    let selection = Selection::unless_suppressed(&suppression, None);
    let mut report = CheckReport {
        rows: recipients.rows(),
        inputs: crate::campaign::inputs_read(&recipients, &suppression),
        ..CheckReport::default()
    };
    let mut items = Vec::new();
    let mut content = lint::ContentLints::new(campaign);
    let mut missing = missing_files::MissingFiles::default();
    pipeline::drive_each(&recipients, &renderer, selection, |item| {
        match item {
            Prepared::Message { message, .. } => {
                report.rendered += 1;
                for left_out in &message.sent_without {
                    missing.lacks(&left_out.template, message.line);
                }
                content.observe(&message);
            }
            other => items.push(other),
        }
        Ok(())
    })?;
    // One template error on many rows is one problem: message → (the first row's own words, lines).
    let mut render_failures: BTreeMap<String, (String, Vec<u64>)> = BTreeMap::new();
    for item in items {
        let problem = match item {
            Prepared::Skipped { skipped, .. } => {
                let severity = match skipped.reason {
                    SkipReason::MalformedRow { .. } => Severity::Error,
                    // Not mailing a suppressed address is the point of the list, not a problem.
                    SkipReason::Suppressed => Severity::Note,
                    _ => Severity::Warning,
                };
                *report.skipped.entry(skip_key(&skipped.reason)).or_insert(0) += 1;
                let text = format!(
                    "{csv}: line {}: {} will be skipped: {}",
                    skipped.line, skipped.email, skipped.reason
                );
                Problem::new(severity, text)
                    .kind("row")
                    .rule(skip_key(&skipped.reason))
                    .at(&campaign.recipients, vec![skipped.line], Some(1))
            }
            Prepared::RenderFailed {
                error, recipient, ..
            } if error.missing_attachment().is_some() => {
                let template = error.missing_attachment().unwrap_or_default();
                missing.lacks(template, recipient.line);
                continue;
            }
            Prepared::RenderFailed {
                error, recipient, ..
            } => {
                let text = error.to_string();
                let group = render_failures
                    .entry(crate::failures::without_line(&text))
                    .or_insert_with(|| (text, Vec::new()));
                group.1.push(recipient.line);
                continue;
            }
            Prepared::Abort(e) => return Err(e),
            Prepared::Message { .. } => continue,
        };
        report.problems.push(problem);
    }
    for (message, (first, mut lines)) in render_failures {
        lines.sort_unstable();
        let n = lines.len() as u64;
        let text = match n {
            1 => first,
            n => format!(
                "{message} — {} recipients, lines {}",
                crate::campaign::recipients::thousands(n),
                line_ranges(&lines)
            ),
        };
        let problem = Problem::error(text).kind("render");
        report
            .problems
            .push(problem.at(&campaign.recipients, lines, Some(n)));
    }
    report.problems.extend(missing.finish(campaign));
    report.problems.sort_by(|a, b| a.text.cmp(&b.text));
    let toml = campaign.dir.join("campaign.toml");
    let on_toml = campaign_rules::campaign_lints(campaign)
        .into_iter()
        .map(|p| p.kind("campaign").at(&toml, Vec::new(), None));
    report.problems.extend(on_toml);
    let on_content = content.finish().into_iter().map(|p| p.kind("content"));
    report.problems.extend(on_content);
    if let Some(dns) = &options.dns {
        let on_dns = dns::check(campaign, dns).into_iter().map(|p| p.kind("dns"));
        report.problems.extend(on_dns);
    }
    Ok(report)
}

/// Sorted line numbers as ranges: `2–3001`, `2, 5, 9–12`; past ten ranges, `…`.
fn line_ranges(lines: &[u64]) -> String {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for &line in lines {
        match ranges.last_mut() {
            Some((_, end)) if line <= *end + 1 => *end = line.max(*end),
            _ => ranges.push((line, line)),
        }
    }
    let mut parts: Vec<String> = ranges
        .iter()
        .take(10)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect();
    if ranges.len() > 10 {
        parts.push("…".into());
    }
    parts.join(", ")
}

#[cfg(test)]
mod line_range_tests {
    use super::line_ranges;

    #[test]
    fn lines_read_as_ranges() {
        assert_eq!(line_ranges(&[2, 3, 4, 7, 9, 10]), "2–4, 7, 9–10");
        let scattered: Vec<u64> = (0..12).map(|i| i * 3).collect();
        assert!(line_ranges(&scattered).ends_with(", …"));
    }
}
