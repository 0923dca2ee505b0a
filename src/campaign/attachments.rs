//! The `attachments` list: a plain file name is read once at load and attached to every message
//! (encoded once per campaign); an entry holding `{{` or `{%` is a Tera template naming a file per
//! recipient (`"invoices/{{ customer_id }}.pdf"`), read when that recipient's message is rendered
//! (`render::attachments`). `attachments_missing` says what a per-recipient file that is not there
//! does: fail that recipient (`"fail"`, the default) or send without it (`"skip"`).
//!
//! The attachments of one message may hold [`MAX_ATTACHMENT_BYTES`] together: base64 makes that
//! about 20 MB on the wire, the smallest common provider limit (Outlook.com 20 MB; Gmail and
//! Yahoo 25 MB).

use std::path::Path;
use std::sync::Arc;

use super::problems::Problems;
use super::{Attachment, paths};

/// The most bytes the attachments of one message may hold together (before base64).
pub const MAX_ATTACHMENT_BYTES: u64 = 15_000_000;

/// A per-recipient attachment: its place in the `attachments` list and its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientAttachment {
    pub position: usize,
    pub template: String,
}

/// What a per-recipient attachment whose file is missing does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttachmentsMissing {
    /// The recipient fails, with the file named (`attachments_missing = "fail"`, the default).
    #[default]
    Fail,
    /// The message is sent without it, and the result log's detail says so.
    Skip,
}

/// Whether an `attachments` entry is a template (rendered per recipient) rather than a file name.
pub fn is_template(entry: &str) -> bool {
    entry.contains("{{") || entry.contains("{%")
}

/// The folder a templated entry names its files in, whatever the recipient: its fixed part before
/// the first `{{` or `{%`, up to the last `/` (`statements/{{ id }}.pdf` → `statements`; `None`
/// when the template starts in the first path segment).
pub fn fixed_folder(entry: &str) -> Option<&str> {
    let tags = [entry.find("{{"), entry.find("{%")];
    let fixed = &entry[..tags.into_iter().flatten().min().unwrap_or(entry.len())];
    Some(&fixed[..fixed.rfind('/')?])
}

/// The attachments the list names: the static ones read, the templated ones parsed; each
/// problem noted at its element.
pub(super) fn resolve(
    p: &mut Problems,
    dir: &Path,
    entries: &[String],
) -> (Vec<Attachment>, Vec<RecipientAttachment>) {
    let (mut files, mut templates) = (Vec::new(), Vec::new());
    for (position, entry) in entries.iter().enumerate() {
        let key = format!("attachments.{position}");
        if is_template(entry) {
            let parsed = tera::Tera::default().add_raw_template("attachment", entry);
            let parsed = parsed.map(|_| ()).map_err(|e| {
                let why = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
                format!("attachments: {entry:?} is not a valid template: {why}")
            });
            if p.check(&key, parsed).is_some() {
                let template = entry.clone();
                templates.push(RecipientAttachment { position, template });
            }
        } else if let Some(file) = p.check(&key, load(dir, entry)) {
            files.push(file);
        }
    }
    let total: u64 = files
        .iter()
        .map(|f: &Attachment| f.bytes.len() as u64)
        .sum();
    if total > MAX_ATTACHMENT_BYTES {
        p.add("attachments", too_large(total));
    }
    (files, templates)
}

/// Why attachments of `total` bytes are too many for one message.
pub fn too_large(total: u64) -> String {
    format!(
        "attachments: together {:.1} MB, over the {} MB one message may carry (about 20 MB once \
         encoded, the smallest common provider limit): attach fewer or smaller files, or link to them",
        total as f64 / 1e6,
        MAX_ATTACHMENT_BYTES / 1_000_000
    )
}

/// The Content-Type of a file, from its extension.
pub fn content_type(path: &Path) -> String {
    let guess = mime_guess::from_path(path).first_or_octet_stream();
    guess.essence_str().to_string()
}

fn load(dir: &Path, name: &str) -> std::result::Result<Attachment, String> {
    let path = paths::inside(dir, "attachments", name)?;
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("attachments: cannot read {}: {e}", path.display()))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    Ok(Attachment {
        content_type: content_type(&path),
        path,
        file_name,
        bytes: Arc::new(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::fixed_folder;

    #[test]
    fn the_fixed_folder_ends_before_the_first_tag_of_either_kind() {
        assert_eq!(fixed_folder("statements/{{ id }}.pdf"), Some("statements"));
        assert_eq!(fixed_folder("a/b/{{ id }}/x.pdf"), Some("a/b"));
        let both = "invoices/{% if vip %}vip{% endif %}/{{ id }}.pdf";
        assert_eq!(fixed_folder(both), Some("invoices"), "the {{% comes first");
        assert_eq!(fixed_folder("{{ id }}.pdf"), None);
    }
}
