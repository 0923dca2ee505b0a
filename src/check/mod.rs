//! `campaign check`: load, validate and render every recipient without writing or sending anything,
//! and list each problem. Errors (the campaign cannot be sent as it stands) make the exit code 2;
//! warnings (rows that would be skipped) do not, unless `--strict`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::campaign::{Campaign, SkipReason};
use crate::error::Result;
use crate::pipeline::{self, Decision, Feed, Item};
use crate::render::Renderer;

/// One problem found by `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Error,
}

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub rendered: u64,
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

/// Renders every recipient of an already loaded campaign and collects the problems.
pub fn run(campaign: &Campaign) -> Result<CheckReport> {
    crate::campaign::recipients::count_rows(&campaign.recipients)?;
    let renderer = Renderer::new(campaign, false)?;
    let csv = campaign.recipients.display().to_string();
    let (tx, rx) = async_channel::bounded::<Item>(256);
    let feed = Feed {
        limit: None,
        stop: Arc::new(AtomicBool::new(false)),
        decide: &|_| Decision::Deliver,
        report_skip: &|_| true,
    };
    let mut report = CheckReport::default();
    let mut items = Vec::new();
    std::thread::scope(|scope| {
        scope.spawn(move || pipeline::produce(campaign, &renderer, feed, &tx));
        while let Ok(item) = rx.recv_blocking() {
            match item {
                Item::Message { .. } => report.rendered += 1,
                other => items.push(other),
            }
        }
    });
    for item in items {
        let problem = match item {
            Item::Skipped { skipped, .. } => {
                let severity = match skipped.reason {
                    SkipReason::MalformedRow { .. } => Severity::Error,
                    _ => Severity::Warning,
                };
                let text = format!(
                    "{csv}: line {}: {} will be skipped: {}",
                    skipped.line, skipped.email, skipped.reason
                );
                Problem { severity, text }
            }
            Item::RenderFailed { error, .. } => Problem {
                severity: Severity::Error,
                text: error,
            },
            Item::Abort(e) => return Err(e),
            Item::Message { .. } => continue,
        };
        report.problems.push(problem);
    }
    report.problems.sort_by(|a, b| a.text.cmp(&b.text));
    Ok(report)
}
