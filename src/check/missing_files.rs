//! `check`'s count of the recipients who lack their per-recipient attachment, one problem per
//! `attachments` template: ``attachment `invoices/{{ customer_id }}.pdf`: 3 recipients lack their
//! file (lines 4, 9, 12)``. An error when those recipients would fail (the default), a warning
//! when `attachments_missing = "skip"` sends them without it.

use std::collections::BTreeMap;

use super::{Problem, line_ranges};
use crate::campaign::{AttachmentsMissing, Campaign};

/// The CSV lines lacking each template's file.
#[derive(Default)]
pub struct MissingFiles {
    lines: BTreeMap<String, Vec<u64>>,
}

impl MissingFiles {
    /// Notes that the recipient on `line` lacks the file of `template`.
    pub fn lacks(&mut self, template: &str, line: u64) {
        self.lines
            .entry(template.to_string())
            .or_default()
            .push(line);
    }

    /// One problem per template.
    pub fn finish(self, campaign: &Campaign) -> Vec<Problem> {
        let skip = campaign.attachments_missing == AttachmentsMissing::Skip;
        let problems = self.lines.into_iter().map(|(template, mut lines)| {
            lines.sort_unstable();
            let n = lines.len() as u64;
            let who = match n {
                1 => format!("1 recipient lacks its file (line {})", lines[0]),
                n => format!(
                    "{} recipients lack their file (lines {})",
                    crate::campaign::recipients::thousands(n),
                    line_ranges(&lines)
                ),
            };
            let text = format!("attachment `{template}`: {who}");
            let problem = if skip {
                Problem::warning(text).fix(
                    "they are sent without it (attachments_missing = \"skip\"); add the files \
                     to send them",
                )
            } else {
                Problem::error(text).fix(
                    "add the files, or set attachments_missing = \"skip\" to send those \
                     messages without it",
                )
            };
            let problem = problem.kind("render").rule("missing_attachment");
            problem.at(&campaign.recipients, lines, Some(n))
        });
        problems.collect()
    }
}
