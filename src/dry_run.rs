//! `campaign run --dry-run`: the shared pipeline with the preview writer as its last step. Sends
//! nothing and opens no network connection; bad input is found before anything is written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::campaign::deliverability::DKIM_KEY_VAR;
use crate::campaign::suppress::Suppression;
use crate::campaign::{Campaign, paths};
use crate::error::Result;
use crate::invalid;
use crate::pipeline::{self, Decision, Feed, Item};
use crate::render::Renderer;
use crate::send::preview::{Entry, PreviewWriter};

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

/// Renders previews for the campaign into `out`, at most `limit` recipients.
pub fn run(campaign: &Campaign, out: &Path, limit: Option<u64>) -> Result<DryRunReport> {
    refuse_out_holding_inputs(campaign, out)?;
    let recipients = campaign.scan_recipients()?;
    let renderer = Renderer::new(campaign, true)?;
    renderer.preflight()?;

    let name = campaign
        .dir
        .file_name()
        .map_or_else(|| "campaign".into(), |n| n.to_string_lossy().into_owned());
    let suppression = Suppression::load(&campaign.suppress)?;
    let mut writer = PreviewWriter::create(out, &name)?;
    let (tx, rx) = async_channel::bounded::<Item>(256);
    let feed = Feed {
        limit,
        stop: Arc::new(AtomicBool::new(false)),
        decide: &|r| Decision::unless_suppressed(&suppression, r),
        report_skip: &|_| true,
    };
    let mut inputs = vec![recipients.summary()];
    inputs.extend(suppression.summaries());
    let mut report = DryRunReport {
        inputs,
        ..DryRunReport::default()
    };
    let written: Result<()> = std::thread::scope(|scope| {
        scope.spawn(move || pipeline::produce(&recipients, &renderer, feed, &tx));
        while let Ok(item) = rx.recv_blocking() {
            if let Err(e) = consume(&mut writer, &mut report, item) {
                rx.close();
                return Err(e);
            }
        }
        Ok(())
    });
    written?;
    report.index = writer.finish()?;
    Ok(report)
}

/// Refuses an `--out` that is, or contains, a folder holding the campaign's inputs (the campaign
/// directory, the layouts folder, the folders of the templates, recipients, suppression lists,
/// attachments, DKIM key and CA file): a dry run writes files there and clears its earlier ones, and
/// a preview must never overwrite or remove an input. `<campaign>/preview` holds none of them.
fn refuse_out_holding_inputs(campaign: &Campaign, out: &Path) -> Result<()> {
    let mut inputs: Vec<(&str, PathBuf)> = vec![("the campaign directory", campaign.dir.clone())];
    inputs.extend(
        campaign
            .layouts
            .iter()
            .map(|l| ("the layouts folder", l.clone())),
    );
    let mut files: Vec<(&str, &Path)> = vec![
        ("the HTML template's folder", &campaign.html.path),
        ("the recipients file's folder", &campaign.recipients),
    ];
    files.extend(
        campaign
            .text
            .iter()
            .map(|t| ("the text template's folder", t.path.as_path())),
    );
    files.extend(
        campaign
            .suppress
            .iter()
            .map(|p| ("a suppression file's folder", p.as_path())),
    );
    files.extend(
        campaign
            .attachments
            .iter()
            .map(|a| ("an attachment's folder", a.path.as_path())),
    );
    let key_files = campaign
        .dkim
        .iter()
        .filter(|d| d.key_source != DKIM_KEY_VAR);
    files.extend(key_files.map(|d| ("the DKIM key's folder", Path::new(&d.key_source))));
    let ca = campaign.smtp.as_ref().and_then(|s| s.ca_file.as_deref());
    files.extend(ca.map(|p| ("the CA file's folder", p)));
    for (what, file) in files.into_iter().filter(|(_, f)| f.is_file()) {
        inputs.extend(file.parent().map(|folder| (what, folder.to_path_buf())));
    }
    let real_out = paths::real(out);
    match inputs
        .iter()
        .find(|(_, folder)| paths::real(folder).starts_with(&real_out))
    {
        Some((what, folder)) => Err(invalid!(
            "--out {} is or contains {what} ({}): a dry run writes previews there and \
             removes its earlier ones; choose a folder of their own, such as the default {}",
            out.display(),
            folder.display(),
            campaign.dir.join("preview").display()
        )),
        None => Ok(()),
    }
}

fn consume(writer: &mut PreviewWriter, report: &mut DryRunReport, item: Item) -> Result<()> {
    match item {
        Item::Message { seq, message } => {
            let file_stem = PreviewWriter::file_stem(message.line, &message.email);
            let html = message.preview_html.as_deref().unwrap_or_default();
            writer.write_message(&file_stem, &message.bytes, html)?;
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
        Item::Skipped { seq, skipped } => {
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
        Item::RenderFailed {
            seq,
            recipient,
            error,
        } => {
            report
                .failed
                .push((recipient.line, recipient.email.clone(), error.clone()));
            writer.add(
                seq,
                Entry::Skipped {
                    line: recipient.line,
                    email: recipient.email,
                    reason: format!("render failed: {error}"),
                },
            )
        }
        Item::Abort(e) => Err(e),
    }
}
