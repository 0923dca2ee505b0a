//! `campaign run --dry-run`: the shared pipeline with the preview writer as its last step. Sends
//! nothing and opens no network connection; bad input is found before anything is written. The
//! files it writes are [`preview`]'s.

mod clear;
mod images;
pub mod preview;
mod summary;

use std::path::{Path, PathBuf};

use crate::campaign::suppress::Suppression;
use crate::campaign::{Campaign, attachments, paths};
use crate::error::Result;
use crate::invalid;
use crate::pipeline::{self, Prepared, Selection};
use crate::render::Renderer;
use preview::{Entry, PreviewWriter};
use summary::Summary;

/// What a dry run did.
#[derive(Debug, Default)]
pub struct DryRunReport {
    /// What was read from each input file, one line each (`recipients.csv: 8 rows on 9 lines`).
    pub inputs: Vec<String>,
    pub rendered: u64,
    /// (line, address, reason) of each skipped row, in CSV order of arrival.
    pub skipped: Vec<(u64, String, String)>,
    /// Recipients whose message could not be rendered (line, address, error).
    pub failed: Vec<(u64, String, String)>,
    pub index: PathBuf,
}

/// Renders previews for the campaign into `out`, at most `limit` recipients (of `shard`'s, with
/// `--shard`).
pub fn preview(
    campaign: &Campaign,
    out: &Path,
    limit: Option<u64>,
    shard: Option<crate::shard::Shard>,
) -> Result<DryRunReport> {
    refuse_out_holding_inputs(campaign, out)?;
    let recipients = campaign.scan_recipients()?;
    let renderer = Renderer::with_previews(campaign)?;
    renderer.preflight()?;

    let name = campaign.name();
    let suppression = Suppression::load(&campaign.suppress)?;
    let mut writer = PreviewWriter::create(out, &name, &campaign.dir)?;
    let mut summary = Summary::new(campaign);
    let selection = Selection::unless_suppressed(&suppression, limit).in_shard(shard);
    let mut report = DryRunReport {
        inputs: crate::campaign::inputs_read(&recipients, &suppression),
        ..DryRunReport::default()
    };
    pipeline::drive_each(&recipients, &renderer, selection, |item| {
        consume(&mut writer, &mut summary, &mut report, item)
    })?;
    report.index = writer.finish(&summary.into_html())?;
    Ok(report)
}

/// Refuses an `--out` that is, or contains, a folder holding the campaign's inputs (the campaign
/// directory, the layouts folder, the folders of the templates, recipients, suppression lists,
/// attachments, DKIM key and CA file), or lies inside the layouts folder or a folder per-recipient
/// attachments are named in: a dry run writes files
/// there and clears its earlier ones, and a preview must never overwrite or remove an input.
/// `<campaign>/preview` is none of them.
fn refuse_out_holding_inputs(campaign: &Campaign, out: &Path) -> Result<()> {
    let real_out = paths::real(out);
    let folders = input_folders(campaign);
    let holding = folders
        .iter()
        .find(|(_, f)| paths::real(f).starts_with(&real_out));
    // Inside the layouts folder too: it is read recursively, so previews would become layouts;
    // and inside the folder a per-recipient attachment is named from, whose files it would be.
    let in_layouts = (campaign.layouts.as_ref()).filter(|l| real_out.starts_with(paths::real(l)));
    let named_from = attachment_folders(campaign);
    let in_attachments = named_from
        .iter()
        .find(|f| real_out.starts_with(paths::real(f)));
    let clash = (holding.map(|(what, f)| (what.as_str(), f)))
        .or(in_layouts.map(|l| ("the layouts folder", l)))
        .or(in_attachments.map(|f| ("the folder of a per-recipient attachment", f)));
    match clash {
        Some((what, folder)) => Err(invalid!(
            "--out {} is, contains or is inside {what} ({}): a dry run writes previews there and removes \
             its earlier ones; choose a folder of their own, such as the default {}",
            out.display(),
            folder.display(),
            campaign.dir.join("preview").display()
        )),
        None => Ok(()),
    }
}

/// The folders per-recipient attachments are named in (`statements/{{ id }}.pdf` →
/// `<campaign>/statements`).
fn attachment_folders(c: &Campaign) -> Vec<PathBuf> {
    let templates = c.recipient_attachments.iter();
    let folders = templates.filter_map(|a| attachments::fixed_folder(&a.template));
    folders.map(|folder| c.dir.join(folder)).collect()
}

/// The folders holding the campaign's inputs, each with what it is.
fn input_folders(c: &Campaign) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(&str, PathBuf)> = vec![
        ("HTML template", c.html.path.clone()),
        ("recipients file", c.recipients.clone()),
    ];
    files.extend(c.text.iter().map(|t| ("text template", t.path.clone())));
    files.extend(c.suppress.iter().map(|p| ("suppression file", p.clone())));
    files.extend(c.attachments.iter().map(|a| ("attachment", a.path.clone())));
    let keys = c.dkim.iter().filter_map(|d| d.key_file.clone());
    files.extend(keys.map(|path| ("DKIM key", path)));
    let ca = c.relays.iter().filter_map(|r| r.smtp.ca_file.clone());
    files.extend(ca.map(|p| ("CA file", p)));
    let mut folders = vec![("the campaign directory".to_string(), c.dir.clone())];
    folders.extend(
        c.layouts
            .iter()
            .map(|l| ("the layouts folder".to_string(), l.clone())),
    );
    for (what, file) in files {
        if let Some(folder) = file.parent().filter(|_| file.is_file()) {
            folders.push((format!("the folder of the {what}"), folder.to_path_buf()));
        }
    }
    folders
}

fn consume(
    writer: &mut PreviewWriter,
    summary: &mut Summary,
    report: &mut DryRunReport,
    item: Prepared,
) -> Result<()> {
    match item {
        Prepared::Message { seq, message } => {
            let file_stem = PreviewWriter::file_stem(message.line, &message.email);
            let html = message.preview_html.as_deref().unwrap_or_default();
            let text = message.preview_text.as_deref().unwrap_or_default();
            writer.write_message(&file_stem, &message.bytes, html, text)?;
            summary.rendered(&message);
            report.rendered += 1;
            writer.add(
                seq,
                Entry::Rendered {
                    line: message.line,
                    email: message.email,
                    subject: message.subject,
                    file_stem,
                },
            )
        }
        Prepared::Skipped { seq, skipped } => {
            summary.skipped(&skipped.reason);
            let reason = skipped.reason.to_string();
            report
                .skipped
                .push((skipped.line, skipped.email.clone(), reason.clone()));
            writer.add(
                seq,
                Entry::Skipped {
                    line: skipped.line,
                    email: skipped.email,
                    reason,
                },
            )
        }
        Prepared::RenderFailed {
            seq,
            recipient,
            error,
        } => {
            summary.failed();
            report
                .failed
                .push((recipient.line, recipient.email.clone(), error.to_string()));
            writer.add(
                seq,
                Entry::Skipped {
                    line: recipient.line,
                    email: recipient.email,
                    reason: format!("render failed: {error}"),
                },
            )
        }
        Prepared::Abort(e) => Err(e),
    }
}
