//! Loading a campaign directory into one validated [`Campaign`] that every later stage borrows:
//! `campaign.toml` (strict keys), the template files, the layouts folder, attachments and settings.
//! Nothing downstream re-reads campaign.toml or the environment.

pub mod attachments;
mod config;
pub mod content;
mod csv_lines;
pub mod deliverability;
mod did_you_mean;
pub mod links;
pub(crate) mod paths;
pub mod pick;
mod problems;
pub mod providers;
pub mod recipients;
pub mod relays;
pub mod settings;
pub mod suppress;
mod unreadable;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use lettre::message::Mailbox;

use crate::error::Result;
use crate::invalid;
pub use attachments::{AttachmentsMissing, RecipientAttachment};
pub use content::MarkdownLayout;
pub use deliverability::{DkimAlgorithm, DkimSettings, UnsubscribeSettings};
pub use links::LinkSettings;
use problems::Problems;
pub use recipients::{Recipient, RecipientList, RecipientReader, Row, SkipReason, Skipped};
pub use relays::Relay;
pub use settings::{Rate, Security, SendSettings, SmtpSettings};

/// A template file of the campaign: its name (as Tera knows it) and path.
#[derive(Debug, Clone)]
pub struct TemplateFile {
    pub name: String,
    pub path: PathBuf,
}

/// A file attached to every message, read once at load.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Where it was read from (a dry run's `--out` must not be the folder holding it).
    pub path: PathBuf,
    pub file_name: String,
    pub content_type: String,
    pub bytes: Arc<Vec<u8>>,
}

/// A validated campaign directory.
#[derive(Debug)]
pub struct Campaign {
    pub dir: PathBuf,
    pub subject: String,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// The body template: the HTML template, or with `content` the Markdown one (then
    /// `markdown` says which layout block its HTML fills).
    pub html: TemplateFile,
    pub markdown: Option<MarkdownLayout>,
    pub text: Option<TemplateFile>,
    pub recipients: PathBuf,
    pub layouts: Option<PathBuf>,
    /// The files attached to every message, read once.
    pub attachments: Vec<Attachment>,
    /// The attachments named per recipient by a template.
    pub recipient_attachments: Vec<RecipientAttachment>,
    pub attachments_missing: AttachmentsMissing,
    pub headers: Vec<(String, String)>,
    pub vars: toml::Table,
    /// Files of addresses never to mail.
    pub suppress: Vec<PathBuf>,
    pub unsubscribe: Option<UnsubscribeSettings>,
    /// The DKIM keys, one signature each (empty: messages are not signed).
    pub dkim: Vec<DkimSettings>,
    /// `[smtp]` or the `[[smtp]]` relays, in the file's order (empty: no relay, a dry run only).
    pub relays: Vec<Relay>,
    pub send: SendSettings,
    /// `[links]`: the UTM parameters to append to links.
    pub links: Option<LinkSettings>,
    /// `[notify] webhook`: where the summary of a send is posted when it ends.
    pub notify: Option<crate::notify::Webhook>,
}

/// Headers the tool writes itself; campaign.toml cannot set them.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "reply-to",
    "content-type",
    "content-transfer-encoding",
];

impl Campaign {
    /// Loads and validates `<dir>/campaign.toml` and everything it names. Every problem found is
    /// reported together, each at its line (`problems.rs`); a TOML syntax error comes alone.
    pub fn load(dir: &Path) -> Result<Campaign> {
        let config_path = dir.join("campaign.toml");
        let source = std::fs::read_to_string(&config_path).map_err(|e| {
            invalid!(
                "{}: cannot read: {e}; is {} a campaign directory?",
                config_path.display(),
                dir.display()
            )
        })?;
        let (file, mut problems) = config::read(&source, &config_path)?;
        let p = &mut problems;
        let from = mailbox(p, "from", &file.from);
        let reply_to = (file.reply_to.as_deref()).and_then(|r| mailbox(p, "reply_to", r));
        let inputs = Inputs::resolve(p, dir, &file);
        let headers = check_headers(p, file.headers);
        let attachments_missing = missing_attachments(p, file.attachments_missing.as_deref());
        // One relay's preset gives `[send]`'s pace and daily limit (several relays' their own).
        let preset = match file.smtp.as_slice() {
            [one] => (one.provider.as_deref()).and_then(|name| providers::find(name).ok()),
            _ => None,
        };
        let send = SendSettings::from_section(file.send, preset.as_ref(), p);
        let relays = relays::relays(p, dir, file.smtp, send.concurrency);
        let unsubscribe = (file.unsubscribe).and_then(|u| deliverability::unsubscribe(u, p));
        let dkim = deliverability::dkim(dir, file.dkim, p);
        let links = file.links.and_then(|l| links::settings(l, p));
        let notify = file.notify.and_then(|n| notify_webhook(p, n));
        problems.finish()?;
        let Inputs {
            html,
            markdown,
            text,
            recipients,
            layouts,
            attachments,
            recipient_attachments,
            suppress,
        } = inputs;
        let (Some(from), Some(html), Some(recipients)) = (from, html, recipients) else {
            unreachable!("each value missing was noted as a problem");
        };
        Ok(Campaign {
            dir: dir.to_path_buf(),
            subject: file.subject,
            from,
            reply_to,
            html,
            markdown,
            text,
            recipients,
            layouts,
            attachments,
            recipient_attachments,
            attachments_missing,
            headers,
            vars: file.vars,
            suppress,
            unsubscribe,
            dkim,
            relays,
            send,
            links,
            notify,
        })
    }

    /// Opens the recipients CSV for streaming, without looking for duplicates (that needs the whole
    /// file read first): for a look at the first rows. A whole run reads
    /// [`Campaign::scan_recipients`]`()?.reader()` instead.
    pub fn recipients(&self) -> Result<RecipientReader> {
        RecipientReader::open(&self.recipients)
    }

    /// Reads the whole recipients CSV once (the pre-pass: readable, rows counted, the first line of
    /// each address indexed); its readers report duplicates.
    pub fn scan_recipients(&self) -> Result<RecipientList> {
        RecipientList::scan(&self.recipients)
    }

    /// The campaign's name, its directory's: for the preview index and the progress label.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map_or_else(|| "campaign".into(), |n| n.to_string_lossy().into_owned())
    }

    /// The first relay's settings (the one `campaign test` uses unless told another).
    pub fn smtp(&self) -> Option<&SmtpSettings> {
        self.relays.first().map(|r| &r.smtp)
    }

    /// SMTP sessions a send opens at most: every relay's together.
    pub fn sessions(&self) -> usize {
        self.relays
            .iter()
            .map(|r| r.concurrency)
            .sum::<usize>()
            .max(1)
    }

    /// Applies the command line's `--rate` (all relays together) and `--concurrency` (each
    /// relay's sessions), refused (exit 2) as the same settings in campaign.toml would be.
    pub fn override_with(&mut self, rate: Option<&str>, concurrency: Option<usize>) -> Result<()> {
        self.send.override_with(rate, concurrency)?;
        if let Some(n) = concurrency {
            self.relays.iter_mut().for_each(|r| r.concurrency = n);
        }
        Ok(())
    }

    /// The domain of the From address: Message-IDs and content IDs are made on it.
    pub fn from_domain(&self) -> &str {
        self.from.email.domain()
    }
}

/// What was read from each input file, a line each (`recipients.csv: 8 rows on 9 lines`, then
/// each suppression list), for `check` and the dry run to print.
pub fn inputs_read(recipients: &RecipientList, suppression: &suppress::Suppression) -> Vec<String> {
    let mut inputs = vec![recipients.summary()];
    inputs.extend(suppression.summaries());
    inputs
}

/// The files campaign.toml names, each resolved inside the campaign directory (`None` or left out
/// when it cannot be: the problem is noted).
struct Inputs {
    html: Option<TemplateFile>,
    markdown: Option<MarkdownLayout>,
    text: Option<TemplateFile>,
    recipients: Option<PathBuf>,
    layouts: Option<PathBuf>,
    attachments: Vec<Attachment>,
    recipient_attachments: Vec<RecipientAttachment>,
    suppress: Vec<PathBuf>,
}

impl Inputs {
    fn resolve(p: &mut Problems, dir: &Path, file: &config::CampaignFile) -> Inputs {
        let text = match &file.text {
            Some(name) => template(p, dir, "text", name),
            None if dir.join("email.txt").is_file() => Some(TemplateFile {
                path: dir.join("email.txt"),
                name: "email.txt".into(),
            }),
            None => None,
        };
        let recipients = file.recipients.as_deref().unwrap_or("recipients.csv");
        let (html, markdown) = content::body(p, dir, file);
        let (attachments, recipient_attachments) = attachments::resolve(p, dir, &file.attachments);
        Inputs {
            html,
            markdown,
            text,
            recipients: p.check("recipients", paths::inside(dir, "recipients", recipients)),
            attachments,
            recipient_attachments,
            suppress: each(p, "suppress", &file.suppress, |name| {
                paths::inside(dir, "suppress", name)
            }),
            layouts: layouts(p, dir, file.templates.as_deref()),
        }
    }
}

/// `resolve` applied to each name of the list `key`, each failure noted at its element's line.
fn each<T>(
    p: &mut Problems,
    key: &str,
    names: &[String],
    resolve: impl Fn(&str) -> std::result::Result<T, String>,
) -> Vec<T> {
    let resolved = names.iter().enumerate();
    resolved
        .filter_map(|(i, name)| p.check(&format!("{key}.{i}"), resolve(name)))
        .collect()
}

/// The layouts folder ([`paths::layouts`]); a `templates` key naming no folder is a problem of
/// the file, a bad `CAMPAIGN_TEMPLATES` one of the environment.
fn layouts(p: &mut Problems, dir: &Path, configured: Option<&str>) -> Option<PathBuf> {
    match paths::layouts(dir, configured) {
        Ok(layouts) => layouts,
        Err(e) if configured.is_some() => {
            p.add("templates", e);
            None
        }
        Err(e) => {
            p.add_other(e);
            None
        }
    }
}

/// `[notify]` validated (an https URL, or http to this machine; a known format), each problem
/// noted at its key's line.
fn notify_webhook(
    p: &mut Problems,
    section: config::NotifySection,
) -> Option<crate::notify::Webhook> {
    p.line("notify.webhook")?;
    let format = match section.format.as_deref() {
        None => Some(crate::notify::Format::Json),
        Some(name) => p.check("notify.format", crate::notify::Format::parse(name)),
    };
    let url = p.check(
        "notify.webhook",
        crate::notify::Webhook::url(&section.webhook),
    );
    Some(crate::notify::Webhook::new(url?, format?))
}

/// The address in `key` (`from`, `reply_to`), or `None` with the problem noted (a missing `from`
/// was noted when the file was read).
fn mailbox(problems: &mut Problems, key: &str, text: &str) -> Option<Mailbox> {
    problems.line(key)?;
    let parsed = parse_mailbox(text).map_err(|e| format!("{key} = {text:?}: {e}"));
    problems.check(key, parsed)
}

fn parse_mailbox(text: &str) -> std::result::Result<Mailbox, String> {
    if text.contains(['\r', '\n']) {
        return Err("contains a line break".into());
    }
    let mailbox = Mailbox::from_str(text.trim())
        .map_err(|e| format!("{e}; write it as \"Name <user@domain>\" or \"user@domain\""))?;
    // An IDN domain in its ASCII form, so that sending needs no SMTPUTF8.
    Ok(Mailbox::new(
        mailbox.name,
        recipients::ascii_address(mailbox.email),
    ))
}

/// The template file `name` of setting `key` (`html`, `text`), if it can be opened.
fn template(problems: &mut Problems, dir: &Path, key: &str, name: &str) -> Option<TemplateFile> {
    let path = problems.check(key, paths::inside(dir, key, name))?;
    Some(TemplateFile {
        path,
        name: name.to_string(),
    })
}

/// `attachments_missing`: "fail" (the default) or "skip".
fn missing_attachments(p: &mut Problems, value: Option<&str>) -> AttachmentsMissing {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("fail") => AttachmentsMissing::Fail,
        Some("skip") => AttachmentsMissing::Skip,
        Some(other) => {
            let message = format!(
                "attachments_missing = {other:?} is not one of \"fail\" (the recipient fails) \
                 or \"skip\" (the message is sent without the file)"
            );
            p.add("attachments_missing", message);
            AttachmentsMissing::Fail
        }
    }
}

/// Extra headers must be well-formed field names (RFC 5322 §3.6.8), not ones the tool writes, and
/// single-line values; each one that is not is noted.
fn check_headers(
    problems: &mut Problems,
    headers: std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let checked = headers.into_iter().map(|(name, value)| {
        let key = format!("headers.{name}");
        problems.check(&key, check_header(name, value))
    });
    checked.flatten().collect()
}

fn check_header(name: String, value: String) -> std::result::Result<(String, String), String> {
    let well_formed =
        !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
    if !well_formed {
        return Err(format!("headers: {name:?} is not a valid header name"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "headers: {name} is written by campaign itself; set it with its own key instead"
        ));
    }
    if value.contains(['\r', '\n']) {
        return Err(format!(
            "headers: the value of {name} contains a line break"
        ));
    }
    Ok((name, value))
}
