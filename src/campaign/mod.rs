//! Loading a campaign directory into one validated [`Campaign`] that every later stage borrows:
//! `campaign.toml` (strict keys), the template files, the layouts folder, attachments and settings.
//! Nothing downstream re-reads campaign.toml or the environment.

mod config;
mod csv_lines;
pub mod deliverability;
pub mod links;
pub(crate) mod paths;
pub mod pick;
pub mod recipients;
pub mod settings;
pub mod suppress;
mod unreadable;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use lettre::message::Mailbox;

use crate::error::Result;
use crate::invalid;
pub use deliverability::{DkimAlgorithm, DkimSettings, UnsubscribeSettings};
pub use links::LinkSettings;
pub use recipients::{Recipient, RecipientList, RecipientReader, Row, SkipReason, Skipped};
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
    pub html: TemplateFile,
    pub text: Option<TemplateFile>,
    pub recipients: PathBuf,
    pub layouts: Option<PathBuf>,
    pub attachments: Vec<Attachment>,
    pub headers: Vec<(String, String)>,
    pub vars: toml::Table,
    /// Files of addresses never to mail.
    pub suppress: Vec<PathBuf>,
    pub unsubscribe: Option<UnsubscribeSettings>,
    /// The DKIM keys, one signature each (empty: messages are not signed).
    pub dkim: Vec<DkimSettings>,
    pub smtp: Option<SmtpSettings>,
    pub send: SendSettings,
    /// `[links]`: the UTM parameters to append to links.
    pub links: Option<LinkSettings>,
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
    /// Loads and validates `<dir>/campaign.toml` and everything it names.
    pub fn load(dir: &Path) -> Result<Campaign> {
        let config_path = dir.join("campaign.toml");
        let source = std::fs::read_to_string(&config_path).map_err(|e| {
            invalid!(
                "{}: cannot read: {e}; is {} a campaign directory?",
                config_path.display(),
                dir.display()
            )
        })?;
        let file: config::CampaignFile =
            toml::from_str(&source).map_err(|e| toml_error(&config_path, &source, &e))?;
        let at = |what: String| invalid!("{}: {what}", config_path.display());

        let from =
            parse_mailbox(&file.from).map_err(|e| at(format!("from = {:?}: {e}", file.from)))?;
        let reply_to = match &file.reply_to {
            Some(r) => Some(parse_mailbox(r).map_err(|e| at(format!("reply_to = {r:?}: {e}")))?),
            None => None,
        };
        let html_name = file.html.clone().unwrap_or_else(|| "email.html".into());
        let html = TemplateFile {
            path: paths::inside(dir, "html", &html_name)?,
            name: html_name,
        };
        let text = match &file.text {
            Some(name) => Some(TemplateFile {
                path: paths::inside(dir, "text", name)?,
                name: name.clone(),
            }),
            None if dir.join("email.txt").is_file() => Some(TemplateFile {
                path: dir.join("email.txt"),
                name: "email.txt".into(),
            }),
            None => None,
        };
        let recipients_name = file.recipients.as_deref().unwrap_or("recipients.csv");
        let recipients = paths::inside(dir, "recipients", recipients_name)?;
        let attachments = file
            .attachments
            .iter()
            .map(|name| load_attachment(dir, name))
            .collect::<Result<Vec<_>>>()?;
        let headers = check_headers(file.headers).map_err(at)?;
        let ca_file = match file.smtp.as_ref().and_then(|s| s.ca_file.as_deref()) {
            Some(name) => Some(paths::inside(dir, "[smtp] ca_file", name)?),
            None => None,
        };
        let mut smtp = file
            .smtp
            .map(|s| SmtpSettings::from_section(s, ca_file))
            .transpose()
            .map_err(|e| at(e.to_string()))?;
        if let Some(smtp) = smtp.as_mut().filter(|s| s.username.is_some()) {
            smtp.password =
                deliverability::env_or_dotenv(dir, settings::PASSWORD_VAR).map(settings::Secret);
        }
        let send = SendSettings::from_section(file.send).map_err(|e| at(e.to_string()))?;
        let suppress = file
            .suppress
            .iter()
            .map(|name| paths::inside(dir, "suppress", name))
            .collect::<Result<Vec<_>>>()?;
        let unsubscribe = file
            .unsubscribe
            .map(|u| deliverability::unsubscribe(dir, u))
            .transpose()?;
        let dkim = file
            .dkim
            .map(|d| deliverability::dkim(dir, d))
            .transpose()?
            .unwrap_or_default();
        Ok(Campaign {
            dir: dir.to_path_buf(),
            subject: file.subject,
            from,
            reply_to,
            html,
            text,
            recipients,
            layouts: paths::layouts(dir, file.templates.as_deref())?,
            attachments,
            headers,
            vars: file.vars,
            suppress,
            unsubscribe,
            dkim,
            smtp,
            send,
            links: file.links.map(links::LinksSection::settings),
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

fn load_attachment(dir: &Path, name: &str) -> Result<Attachment> {
    let path = paths::inside(dir, "attachments", name)?;
    let bytes = std::fs::read(&path).map_err(|e| {
        invalid!(
            "{}: attachments: cannot read {}: {e}",
            dir.join("campaign.toml").display(),
            path.display()
        )
    })?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    let content_type = mime_guess::from_path(&path)
        .first_or_octet_stream()
        .essence_str()
        .to_string();
    Ok(Attachment {
        path,
        file_name,
        content_type,
        bytes: Arc::new(bytes),
    })
}

/// Extra headers must be well-formed field names (RFC 5322 §3.6.8), not ones the tool writes, and
/// single-line values.
fn check_headers(
    headers: std::collections::BTreeMap<String, String>,
) -> std::result::Result<Vec<(String, String)>, String> {
    headers
        .into_iter()
        .map(|(name, value)| {
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
        })
        .collect()
}

/// `campaign.toml:LINE:COLUMN: message` from a TOML error's byte span; the column counts
/// characters, as an editor does.
fn toml_error(path: &Path, source: &str, e: &toml::de::Error) -> crate::error::Error {
    let (line, column) = match e.span() {
        Some(span) => {
            let before = &source[..span.start.min(source.len())];
            let line = before.matches('\n').count() + 1;
            let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
                .chars()
                .count()
                + 1;
            (line, column)
        }
        None => (1, 1),
    };
    invalid!("{}:{line}:{column}: {}", path.display(), e.message().trim())
}
