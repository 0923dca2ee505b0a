//! Rendering one recipient's message: Tera (subject, HTML, optional text template) → CSS inlined
//! into the rendered HTML → local images embedded → plain-text alternative → MIME bytes (lettre).
//! A [`Renderer`] is built once per campaign and shared by every rendering thread (it is `Sync`);
//! rendering one recipient touches no shared mutable state except the read-mostly image cache.

pub mod attachments;
pub mod cycles;
pub mod dkim;
mod error;
pub mod header_lines;
pub mod html;
pub mod images;
pub mod inline;
pub mod links;
pub mod local_files;
pub mod markdown;
pub mod markdown_text;
pub mod mime;
pub mod shape;
pub mod templates;
pub mod tera_ast;
pub mod tera_safety;
pub mod text;
mod text_writer;
pub mod transfer;
pub mod unsubscribe;

use std::time::{SystemTime, UNIX_EPOCH};

use lettre::Address;
use lettre::address::Envelope;
use lettre::message::Mailbox;
use tera::Context;

use crate::campaign::{Campaign, Recipient};
use crate::error::Result;
use crate::invalid;
pub use error::{RenderError, Step};

/// One recipient's finished message.
#[derive(Debug)]
pub struct Rendered {
    /// Line of the recipient in the CSV.
    pub line: u64,
    pub email: String,
    /// The rendered subject (before header encoding).
    pub subject: String,
    /// The Message-ID header value, without angle brackets.
    pub message_id: String,
    pub envelope: Envelope,
    /// The exact bytes sent (RFC 5322, CRLF line ends).
    pub bytes: Vec<u8>,
    /// The HTML for a browser preview (images pointing at files), for the dry run only.
    pub preview_html: Option<String>,
    /// The text part as sent (before line ends become CRLF), for the dry run's `.txt` only.
    pub preview_text: Option<String>,
    /// Bytes of the HTML part (before line ends become CRLF): the dry run's size summary.
    pub html_bytes: usize,
    /// Per-recipient attachments left out because their file is missing
    /// (`attachments_missing = "skip"`): the result log's detail names them.
    pub sent_without: Vec<attachments::LeftOut>,
}

/// Renders messages for one campaign.
pub struct Renderer<'c> {
    campaign: &'c Campaign,
    templates: templates::TemplateSet,
    base: Context,
    inliner: inline::Inliner,
    images: images::Images,
    attachments: attachments::Attachments,
    preview: bool,
    /// Signs every message when `[dkim]` is set; the keys are parsed once, here.
    dkim: Option<dkim::Signer>,
    /// Put before every rendered subject (`[TEST] ` for `campaign test`); empty for a send.
    subject_prefix: String,
}

impl<'c> Renderer<'c> {
    /// Loads the templates, parses the DKIM key: ready to render messages to send.
    pub fn new(campaign: &'c Campaign) -> Result<Renderer<'c>> {
        Renderer::build(campaign, false)
    }

    /// [`Renderer::new`] for the dry run: each message also gets the browser copy of its HTML.
    pub fn with_previews(campaign: &'c Campaign) -> Result<Renderer<'c>> {
        Renderer::build(campaign, true)
    }

    fn build(campaign: &'c Campaign, preview: bool) -> Result<Renderer<'c>> {
        let templates = templates::load(campaign)?;
        let dkim = dkim::Signer::new(&campaign.dir.join("campaign.toml"), &campaign.dkim)?;
        for (name, value) in &campaign.headers {
            if !header_lines::folds_within_limit(name, &mime::without_controls(value)) {
                return Err(invalid!(
                    "{}: headers: {name} has a run of characters without a space too long for one \
                     header line ({} octets at most, RFC 5322 §2.1.1): put spaces where the header \
                     allows folding, or shorten it",
                    campaign.dir.join("campaign.toml").display(),
                    header_lines::MAX_LINE
                ));
            }
        }
        let base = Context::from_serialize(&campaign.vars).map_err(|e| {
            invalid!(
                "{}: [vars]: {e}",
                campaign.dir.join("campaign.toml").display()
            )
        })?;
        Ok(Renderer {
            campaign,
            templates,
            base,
            inliner: inline::Inliner::new(),
            images: images::Images::new(campaign),
            attachments: attachments::Attachments::new(campaign)?,
            preview,
            dkim,
            subject_prefix: String::new(),
        })
    }

    /// The same renderer, putting `prefix` before every subject (before signing, so the DKIM
    /// signature covers the subject as sent).
    pub fn with_subject_prefix(mut self, prefix: &str) -> Renderer<'c> {
        self.subject_prefix = prefix.to_string();
        self
    }

    /// The template variables for one recipient: `[vars]`, then every CSV column (which win).
    fn context(&self, recipient: &Recipient) -> Context {
        let mut context = self.base.clone();
        for (name, value) in recipient.columns.names.iter().zip(&recipient.values) {
            context.insert(name.as_str(), value);
        }
        context.insert("email", &recipient.email);
        context
    }

    /// Renders the recipient's unsubscribe URL, offers it to templates as `unsubscribe_url`, and
    /// returns the List-Unsubscribe headers.
    fn unsubscribe(
        &self,
        context: &mut Context,
        line: u64,
    ) -> std::result::Result<Option<unsubscribe::Headers>, RenderError> {
        let Some(settings) = &self.campaign.unsubscribe else {
            return Ok(None);
        };
        let url = match &settings.url {
            Some(_) => Some(
                self.templates
                    .render(unsubscribe::TEMPLATE, context, line)?,
            ),
            None => None,
        };
        let headers = unsubscribe::headers(settings, url.as_deref())?;
        let visible = match (&url, &settings.mailto) {
            (Some(url), _) => url.trim().to_string(),
            (None, Some(mailto)) => unsubscribe::mailto_url(mailto),
            (None, None) => unreachable!("validated: url or mailto"),
        };
        context.insert("unsubscribe_url", &visible);
        Ok(Some(headers))
    }

    /// Renders one recipient's message; the error is a sentence naming the template and CSV line.
    pub fn render(&self, recipient: &Recipient) -> std::result::Result<Rendered, RenderError> {
        self.render_as(recipient, None)
    }

    /// [`Renderer::render`], with this Message-ID instead of a new one: a resend of a message whose
    /// outcome was unknown carries the first attempt's, so that the relay and the recipient's mail
    /// client can tell the copies are one message (RFC 5322 §3.6.4).
    pub fn render_as(
        &self,
        recipient: &Recipient,
        message_id: Option<&str>,
    ) -> std::result::Result<Rendered, RenderError> {
        let campaign = self.campaign;
        self.row_within_bounds(recipient)?;
        let mut context = self.context(recipient);
        let line = recipient.line;
        let (unsubscribe, subject, (html, md)) = guarded(Step::Template, || {
            let unsubscribe = self.unsubscribe(&mut context, line)?;
            let subject = self.templates.render(templates::SUBJECT, &context, line)?;
            let subject = format!("{}{subject}", self.subject_prefix);
            let name = &campaign.html.name;
            let body = match &campaign.markdown {
                None => (self.templates.render(name, &context, line)?, None),
                Some(_) => {
                    let frame = campaign.text.is_none();
                    markdown::page(&self.templates, name, &mut context, line, frame)?
                }
            };
            Ok((unsubscribe, subject, body))
        })?;
        let inlined = guarded(Step::Css, || self.inliner.inline(&html))?;
        let text = match (&campaign.text, md) {
            (Some(t), _) => guarded(Step::Template, || {
                self.templates.render(&t.name, &context, line)
            })?,
            (None, Some(body)) => {
                let frame =
                    (body.frame.as_deref()).map(|f| guarded(Step::Css, || self.inliner.inline(f)));
                let frame = frame.transpose()?;
                guarded(Step::Text, || {
                    Ok(markdown_text::in_layout(frame.as_deref(), &body.markdown))
                })?
            }
            // From the inlined HTML, where `display:none` (the preheader) is visible on the element.
            (None, None) => guarded(Step::Text, || Ok(text::from_html(&inlined)))?,
        };
        let unsubscribe_url = context.get("unsubscribe_url").and_then(|u| u.as_str());
        let (inlined, text) = links::tag(campaign.links.as_ref(), unsubscribe_url, inlined, text);
        let attached = guarded(Step::Attachments, || {
            self.attachments.for_recipient(&context)
        })?;
        let html::Embedded {
            html,
            images,
            preview_html,
        } = guarded(Step::Images, || {
            html::embed(&self.images, &inlined, self.preview)
        })?;

        let address: Address = recipient.email.parse().map_err(|e| {
            RenderError::new(
                Step::Row,
                format!("invalid address {}: {e}", recipient.email),
            )
        })?;
        // Envelope and To header need no SMTPUTF8 for an IDN domain. See send/session.rs.
        let address = crate::campaign::recipients::ascii_address(address);
        let name = recipient.name.as_deref().map(mime::without_controls);
        let message_id =
            message_id.map_or_else(|| new_message_id(campaign.from_domain()), str::to_string);
        let (preview_text, html_bytes) = (self.preview.then(|| text.clone()), html.len());
        let message = guarded(Step::Mime, || {
            mime::build(mime::Parts {
                from: &campaign.from,
                to: Mailbox::new(name, address.clone()),
                reply_to: campaign.reply_to.as_ref(),
                subject: &mime::without_controls(&subject),
                message_id: &format!("<{message_id}>"),
                headers: &campaign.headers,
                unsubscribe,
                text,
                html,
                images,
                attachments: attached.parts,
            })
        })?;
        // Signing comes last: it covers the bytes exactly as formatted, every header set.
        let mut bytes = message.formatted();
        if let Some(signer) = &self.dkim {
            bytes = guarded(Step::Signing, || signer.sign(bytes))?;
        }
        let envelope = Envelope::new(Some(campaign.from.email.clone()), vec![address])
            .map_err(|e| RenderError::new(Step::Mime, e.to_string()))?;
        Ok(Rendered {
            line,
            email: recipient.email.clone(),
            subject: mime::without_controls(&subject),
            message_id,
            envelope,
            bytes,
            preview_html,
            preview_text,
            html_bytes,
            sent_without: attached.sent_without,
        })
    }

    /// Refuses a row whose fields hold more than [`tera_safety::MAX_ROW_BYTES`] together: what a
    /// render of it costs grows with it (a 50 MB field took 750 MB in `check`).
    fn row_within_bounds(&self, recipient: &Recipient) -> std::result::Result<(), RenderError> {
        let size: usize = recipient.values.iter().map(String::len).sum();
        if size <= tera_safety::MAX_ROW_BYTES {
            return Ok(());
        }
        Err(RenderError::new(
            Step::Row,
            format!(
                "{}: line {}: the row holds {:.1} MB; a row may hold at most 1 MiB: shorten its \
                 fields (put large content in the template, not in the CSV)",
                self.campaign.recipients.display(),
                recipient.line,
                size as f64 / 1e6
            ),
        ))
    }

    /// How the pages rendered so far were inlined: filled from the shape cache, inlined as a new
    /// shape, or inlined directly (a page the shape splitter cannot follow).
    pub fn inline_stats(&self) -> inline::Stats {
        self.inliner.stats()
    }

    /// Renders the first recipients up front, so that a template or data error shared by every
    /// recipient (syntax, undefined variable, missing image) is an invalid campaign, found before
    /// anything is written or sent, while an error that depends on one recipient's data fails that
    /// recipient alone (the pipeline reports it) and the others go on.
    ///
    /// The two are told apart by trying more than one row: the first valid row, and when it fails,
    /// up to [`PREFLIGHT_ROWS`] valid rows in all, plus the first row with every column filled
    /// (among the first [`PREFLIGHT_SCAN`] rows) if none of those was. One that renders proves the
    /// template works for some recipients; if every one tried fails, the campaign is refused with
    /// the first error and the lines tried. A list with no valid row has nothing to try.
    pub fn preflight(&self) -> Result<()> {
        let mut reader = self.campaign.recipients()?;
        let mut failures: Vec<(u64, String)> = Vec::new();
        let mut tried_a_filled_row = false;
        for row in reader.by_ref().take(PREFLIGHT_SCAN) {
            let crate::campaign::Row::Recipient(r) = row? else {
                continue;
            };
            let filled = r.values.iter().all(|v| !v.trim().is_empty());
            if failures.len() >= PREFLIGHT_ROWS && (tried_a_filled_row || !filled) {
                continue;
            }
            tried_a_filled_row |= filled;
            match self.render(&r) {
                // The templates worked for this row; its attachment file is its own problem.
                Ok(_) => return Ok(()),
                Err(e) if e.step() == Step::Attachments => return Ok(()),
                Err(e) => failures.push((r.line, e.to_string())),
            }
            if failures.len() >= PREFLIGHT_ROWS && tried_a_filled_row {
                break;
            }
        }
        let lines: Vec<String> = failures.iter().map(|(line, _)| line.to_string()).collect();
        let Some((_, first)) = failures.into_iter().next() else {
            return Ok(());
        };
        if lines.len() == 1 {
            return Err(crate::Error::invalid(first));
        }
        Err(invalid!(
            "{first}; it failed for each of the first {} recipients (lines {}), so it is taken to \
             fail for everyone: fix the template, or the data of those rows",
            lines.len(),
            lines.join(", ")
        ))
    }
}

/// How many valid rows [`Renderer::preflight`] renders before it calls a template error everyone's.
pub const PREFLIGHT_ROWS: usize = 5;

/// How many rows [`Renderer::preflight`] reads at most, looking for valid rows and a filled one.
pub const PREFLIGHT_SCAN: usize = 1000;

/// Runs one step of a recipient's render, turning a panic in a dependency (Tera, css-inline,
/// lettre, …) on this recipient's data into this recipient's error, so that it cannot end the run.
fn guarded<T>(
    step: Step,
    f: impl FnOnce() -> std::result::Result<T, RenderError>,
) -> std::result::Result<T, RenderError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(done) => done,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(RenderError::internal(step, &why))
        }
    }
}

/// A globally unique Message-ID (RFC 5322 §3.6.4) on the From domain: time, then 64 random bits.
fn new_message_id(domain: &str) -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{micros:x}.{:016x}@{domain}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::{RenderError, Step, guarded};

    #[test]
    fn a_panic_in_a_step_is_that_recipients_error() {
        let ok = guarded(Step::Template, || Ok(1));
        assert_eq!(ok, Ok(1));
        let failed = guarded::<u8>(Step::Template, || {
            Err(RenderError::template("undefined variable"))
        });
        assert!(failed.unwrap_err().is_template());
        let err = guarded::<u8>(Step::Css, || panic!("index out of bounds")).unwrap_err();
        assert!(err.is_internal() && !err.is_template(), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with("internal error in css-inline"), "{text}");
        assert!(text.ends_with("index out of bounds"), "{text}");
    }
}
