//! The summary at the top of the dry run's `index.html`: what a reviewer checks before a send,
//! without opening a single preview. How many recipients were rendered, skipped (by reason) and
//! failed to render; the subject (the first rendered message's, and whether it varies), From and
//! Reply-To; the message size (median and largest, and the largest HTML part against Gmail's 102
//! KB clipping limit); and the content warnings `check` gives, from the same rules
//! ([`crate::check::lint`] on every rendered message, [`crate::check::campaign_rules`] on the
//! settings). Sizes are kept as a histogram in 100-byte steps, so memory stays flat however long the
//! list.

use std::collections::BTreeMap;

use crate::campaign::{Campaign, SkipReason};
use crate::check::lint::{ContentLints, GMAIL_CLIP_BYTES};
use crate::check::{Problem, Severity, campaign_rules};
use crate::render::Rendered;

use crate::html::escape;

/// How many messages the content rules read: the first to be rendered (rendering is parallel, so
/// these are near the top of the list, not exactly its first rows); `check` reads them all.
pub const LINTED: u64 = 100;

/// Everything the summary says, gathered as the rows arrive.
pub struct Summary<'c> {
    campaign: &'c Campaign,
    lints: ContentLints<'c>,
    rendered: u64,
    skipped: BTreeMap<&'static str, u64>,
    failed: u64,
    /// (line, subject) of the first rendered message in CSV order (they arrive in any order).
    subject: Option<(u64, String)>,
    /// Whether any subject differs from another: each is compared with the first so far, which
    /// is replaced only after it was compared.
    subjects_vary: bool,
    /// Message size in 100-byte steps → how many messages.
    sizes: BTreeMap<usize, u64>,
    /// (bytes, line, address) of the largest message and of the largest HTML part.
    largest: Option<(usize, u64, String)>,
    largest_html: Option<(usize, u64, String)>,
}

impl<'c> Summary<'c> {
    pub fn new(campaign: &'c Campaign) -> Summary<'c> {
        Summary {
            campaign,
            lints: ContentLints::new(campaign),
            rendered: 0,
            skipped: BTreeMap::new(),
            failed: 0,
            subject: None,
            subjects_vary: false,
            sizes: BTreeMap::new(),
            largest: None,
            largest_html: None,
        }
    }

    /// A rendered message.
    pub fn rendered(&mut self, message: &Rendered) {
        self.rendered += 1;
        // The content rules parse the message back: on a sample, as a dry run is a preview.
        if self.rendered <= LINTED {
            self.lints.observe(message);
        }
        let html_bytes = message.html_bytes;
        if let Some((_, first)) = &self.subject {
            self.subjects_vary |= *first != message.subject;
        }
        if self
            .subject
            .as_ref()
            .is_none_or(|(line, _)| message.line < *line)
        {
            self.subject = Some((message.line, message.subject.clone()));
        }
        let size = message.bytes.len();
        *self.sizes.entry(size / 100).or_default() += 1;
        let at = |bytes| Some((bytes, message.line, message.email.clone()));
        if self.largest.as_ref().is_none_or(|(n, ..)| size > *n) {
            self.largest = at(size);
        }
        if self
            .largest_html
            .as_ref()
            .is_none_or(|(n, ..)| html_bytes > *n)
        {
            self.largest_html = at(html_bytes);
        }
    }

    pub fn skipped(&mut self, reason: &SkipReason) {
        let kind = match reason {
            SkipReason::EmptyAddress => "empty address",
            SkipReason::InvalidAddress(_) => "invalid address",
            SkipReason::Duplicate { .. } => "duplicate",
            SkipReason::MalformedRow { .. } => "malformed row",
            SkipReason::Suppressed => "suppressed",
        };
        *self.skipped.entry(kind).or_default() += 1;
    }

    pub fn failed(&mut self) {
        self.failed += 1;
    }

    /// The summary as an HTML block, every value escaped.
    pub fn into_html(self) -> String {
        let campaign = self.campaign;
        let mut facts = vec![("Recipients", self.counts())];
        let subject = match (self.subject.as_ref().map(|(_, s)| s), self.subjects_vary) {
            (None, _) => "(no message rendered)".to_string(),
            (Some(s), false) => escape(s),
            (Some(s), true) => format!(
                "{} <em>(the first; it varies per recipient)</em>",
                escape(s)
            ),
        };
        facts.push(("Subject", subject));
        facts.push(("From", escape(&campaign.from.to_string())));
        let reply_to = campaign.reply_to.as_ref().map(ToString::to_string);
        facts.push(("Reply-To", escape(reply_to.as_deref().unwrap_or("(none)"))));
        facts.push(("Size", self.sizes()));
        let mut html = String::from("<section class=\"summary\"><table class=\"facts\">\n");
        for (name, value) in facts {
            html += &format!("<tr><th>{name}</th><td>{value}</td></tr>\n");
        }
        html += "</table>\n";
        html += &warnings(campaign, self.lints, self.rendered);
        html += "</section>\n";
        html
    }

    /// `3 rendered · 2 skipped (1 duplicate, 1 suppressed) · 1 failed to render`.
    fn counts(&self) -> String {
        let skipped: u64 = self.skipped.values().sum();
        let mut text = format!("{} rendered · {skipped} skipped", self.rendered);
        if skipped > 0 {
            let kinds: Vec<String> = (self.skipped.iter())
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            text += &format!(" ({})", kinds.join(", "));
        }
        let failed = self.failed;
        if failed > 0 {
            text += &format!(" · <span class=\"bad\">{failed} failed to render</span>");
        } else {
            text += " · 0 failed to render";
        }
        text
    }

    /// Median and largest message, and the largest HTML part against Gmail's clipping limit.
    fn sizes(&self) -> String {
        let (Some(largest), Some(html)) = (&self.largest, &self.largest_html) else {
            return "(no message rendered)".into();
        };
        let kb = |bytes: usize| format!("{:.1} KB", bytes as f64 / 1024.0);
        let median = self.median_step() * 100 + 50;
        let mut text = format!(
            "median {}, largest {} (line {}, {}); largest HTML part {} (line {})",
            kb(median),
            kb(largest.0),
            largest.1,
            escape(&largest.2),
            kb(html.0),
            html.1
        );
        if html.0 > GMAIL_CLIP_BYTES {
            text += &format!(
                " — <span class=\"bad\">over Gmail's {} KB: Gmail clips it and hides the rest \
                 behind \"View entire message\"</span>",
                GMAIL_CLIP_BYTES / 1024
            );
        } else {
            text += &format!(
                ", under Gmail's {} KB clipping limit",
                GMAIL_CLIP_BYTES / 1024
            );
        }
        text
    }

    /// The 100-byte step holding the median message.
    fn median_step(&self) -> usize {
        let half = self.rendered.div_ceil(2);
        let mut seen = 0;
        for (step, count) in &self.sizes {
            seen += count;
            if seen >= half {
                return *step;
            }
        }
        0
    }
}

/// The warnings `check` would give for the content and the settings, as a list; past
/// [`LINTED`] messages, saying the content rules read only those.
fn warnings(campaign: &Campaign, lints: ContentLints<'_>, rendered: u64) -> String {
    let mut problems: Vec<Problem> = campaign_rules::campaign_lints(campaign);
    problems.extend(lints.finish());
    problems.retain(|p| p.severity != Severity::Note);
    let scope = if rendered > LINTED {
        format!(
            " (content rules on the first {LINTED} messages rendered; <code>campaign check</code> \
             reads all {rendered})"
        )
    } else {
        String::new()
    };
    let mut html = format!(
        "<h2>{} warning(s) from <code>campaign check</code>'s rules{scope}</h2>\n",
        problems.len()
    );
    if problems.is_empty() {
        return html;
    }
    html += "<ul class=\"warnings\">\n";
    for p in problems {
        html += &format!("<li>{}", escape(&p.text));
        for extra in [p.why, p.fix].into_iter().flatten() {
            html += &format!("<br><small>{}</small>", escape(&extra));
        }
        html += "</li>\n";
    }
    html + "</ul>\n"
}
