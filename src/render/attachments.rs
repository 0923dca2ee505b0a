//! The attachments of one recipient's message: the static files of `attachments`, encoded once
//! when the renderer is built and cloned into every message, and the per-recipient ones, whose
//! name a Tera template renders from the recipient's data (`"invoices/{{ customer_id }}.pdf"`),
//! read and encoded for that message. A per-recipient file may be only one a message may carry
//! ([`super::local_files`]); the attachments of a message hold at most
//! [`MAX_ATTACHMENT_BYTES`] together. A missing file fails the recipient
//! (`attachment "invoices/42.pdf": no such file`), or with `attachments_missing = "skip"` the
//! message goes without it and says so ([`ForRecipient::sent_without`]).

use lettre::message::{Attachment, Body, SinglePart};
use tera::{Context, Tera};

use super::error::{RenderError, Step};
use super::local_files::{LocalFiles, Refused};
use super::mime;
use crate::campaign::attachments::{MAX_ATTACHMENT_BYTES, content_type, too_large};
use crate::campaign::{AttachmentsMissing, Campaign};

/// One entry of `attachments`, in campaign.toml's order.
enum Entry {
    /// Read at load; its MIME part encoded once.
    Static { part: SinglePart, bytes: u64 },
    /// The Tera template naming the file (also its name in [`Attachments::tera`]).
    PerRecipient(String),
}

/// Every attachment entry of a campaign, ready to attach.
pub struct Attachments {
    entries: Vec<Entry>,
    /// The per-recipient templates, each named by its own text.
    tera: Tera,
    files: LocalFiles,
    missing: AttachmentsMissing,
}

/// A per-recipient attachment left out of a message: its template and the file it named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub template: String,
    pub file: String,
}

/// The attachments of one message.
pub struct ForRecipient {
    pub parts: Vec<SinglePart>,
    /// Files left out because they are missing (`attachments_missing = "skip"`).
    pub sent_without: Vec<LeftOut>,
}

impl Attachments {
    /// Encodes the static attachments and compiles the templates (their syntax was checked when
    /// the campaign loaded).
    pub fn new(campaign: &Campaign) -> crate::error::Result<Attachments> {
        let mut statics = campaign.attachments.iter();
        let count = campaign.attachments.len() + campaign.recipient_attachments.len();
        let mut tera = Tera::default();
        // A file name, not HTML: `invoices/{{ id }}.html` must not come out as `&#x2F;`.
        tera.autoescape_on(Vec::new());
        let toml = campaign.dir.join("campaign.toml");
        let refused =
            |e: &dyn std::fmt::Display| crate::invalid!("{}: attachments: {e}", toml.display());
        let mut entries = Vec::with_capacity(count);
        for position in 0..count {
            let mut templated = campaign.recipient_attachments.iter();
            if let Some(t) = templated.find(|t| t.position == position) {
                (tera.add_raw_template(&t.template, &t.template)).map_err(|e| refused(&e))?;
                entries.push(Entry::PerRecipient(t.template.clone()));
            } else if let Some(file) = statics.next() {
                let (part, bytes) = (mime::attachment_part(file), file.bytes.len() as u64);
                entries.push(Entry::Static { part, bytes });
            }
        }
        // The guards of the other templates: no secret through get_env, bounded range.
        super::tera_safety::install(&mut tera).map_err(|hidden| refused(&hidden))?;
        Ok(Attachments {
            entries,
            tera,
            files: LocalFiles::new(campaign),
            missing: campaign.attachments_missing,
        })
    }

    /// The attachments of the message for the recipient of `context`.
    pub fn for_recipient(&self, context: &Context) -> Result<ForRecipient, RenderError> {
        let mut out = ForRecipient {
            parts: Vec::with_capacity(self.entries.len()),
            sent_without: Vec::new(),
        };
        let mut total = 0;
        for entry in &self.entries {
            total += match entry {
                Entry::Static { part, bytes } => {
                    out.parts.push(part.clone());
                    *bytes
                }
                Entry::PerRecipient(template) => self.per_recipient(template, context, &mut out)?,
            };
            if total > MAX_ATTACHMENT_BYTES {
                return Err(failed(too_large(total)));
            }
        }
        Ok(out)
    }

    /// Adds the file `template` names for this recipient to `out` (or, missing with `"skip"`, to
    /// what it is sent without): the bytes it adds.
    fn per_recipient(
        &self,
        template: &str,
        context: &Context,
        out: &mut ForRecipient,
    ) -> Result<u64, RenderError> {
        let name = self.tera.render(template, context).map_err(|e| {
            let why = why(&e);
            RenderError::template(format!("campaign.toml: attachment `{template}`: {why}"))
        })?;
        let name = name.trim();
        match self.read(name) {
            Ok((part, bytes)) => {
                out.parts.push(part);
                Ok(bytes)
            }
            Err(Refused::Missing) if self.missing == AttachmentsMissing::Skip => {
                let template = template.to_string();
                let file = name.to_string();
                out.sent_without.push(LeftOut { template, file });
                Ok(0)
            }
            Err(Refused::Missing) => {
                let mut error = failed(format!("attachment {name:?}: no such file"));
                error.missing_attachment = Some(template.to_string());
                Err(error)
            }
            Err(Refused::Other(why)) => Err(failed(format!("attachment {name:?}: {why}"))),
        }
    }

    /// Reads and encodes the file `name` names, if a message may carry it.
    fn read(&self, name: &str) -> Result<(SinglePart, u64), Refused> {
        let real = self.files.resolve(name, "attached")?;
        if !real.is_file() {
            return Err(Refused::Other("is a folder, not a file".into()));
        }
        let size = std::fs::metadata(&real).map_or(0, |m| m.len());
        if size > MAX_ATTACHMENT_BYTES {
            return Err(Refused::Other(too_large(size)));
        }
        let bytes =
            std::fs::read(&real).map_err(|e| Refused::Other(format!("cannot read: {e}")))?;
        let file_name = real
            .file_name()
            .map_or_else(|| name.to_string(), |n| n.to_string_lossy().into_owned());
        let len = bytes.len() as u64;
        let part = Attachment::new(file_name)
            .body(Body::new(bytes), mime::content_type(&content_type(&real)));
        Ok((part, len))
    }
}

/// The result log's detail of a message sent: the relay's reply, after the per-recipient
/// attachments left out (`sent without invoices/42.pdf (missing); 250 OK`).
pub fn with_left_out(left_out: &[LeftOut], reply: String) -> String {
    if left_out.is_empty() {
        return reply;
    }
    let files: Vec<&str> = left_out.iter().map(|l| l.file.as_str()).collect();
    format!("sent without {} (missing); {reply}", files.join(", "))
}

fn failed(message: String) -> RenderError {
    RenderError::new(Step::Attachments, message)
}

/// Why a template failed: an undefined variable said as for the other templates, else the
/// innermost words of Tera's error.
fn why(e: &tera::Error) -> String {
    let mut words = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        words = s.to_string();
        source = s.source();
    }
    let variable = words
        .strip_prefix("Variable `")
        .and_then(|rest| rest.split_once('`'));
    match variable {
        Some((var, _)) => format!(
            "undefined variable `{var}`: add a `{var}` column to the recipients CSV, or set it \
             under [vars] in campaign.toml"
        ),
        None => words,
    }
}
