//! `campaign show DIR`: one recipient's message in the terminal, to read what a send would send
//! without writing a preview folder. The recipient is picked by address ([`Pick::Address`], one
//! mailbox however it is spelled: [`address_key`]), by the CSV line its row starts on
//! ([`Pick::Line`]), or is the first row that would be sent. The message is rendered exactly as a
//! send renders it ([`Renderer::new`], DKIM signature included); nothing is written or sent.
//!
//! A row that would not be sent (a duplicate, an invalid address, a suppressed one, …) is refused
//! with its reason, as is an address or line that is not in the list: the user asked for a message
//! that does not exist.

use std::borrow::Cow;

use mail_parser::{Address, HeaderValue, Message, MessageParser};

use crate::campaign::recipients::address_key;
use crate::campaign::suppress::Suppression;
use crate::campaign::{Campaign, Recipient, Row, SkipReason, Skipped};
use crate::error::Result;
use crate::invalid;
use crate::render::{RenderError, Rendered, Renderer};

/// Which recipient to show.
#[derive(Debug, Clone)]
pub enum Pick {
    /// The first row that would be sent.
    First,
    /// The row of this address (case-insensitive, IDN domains in any form).
    Address(String),
    /// The row starting on this line of the CSV (1 is the header).
    Line(u64),
}

/// Which part of the message to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The headers, then the text part.
    HeadersAndText,
    Headers,
    Text,
    Html,
    /// The exact bytes a send would write (an .eml).
    Raw,
}

/// Renders the picked recipient's message. The outer error is bad input (exit 2: no such address
/// or line, a row that is skipped, the campaign itself); the inner one is that recipient's render
/// failure (exit 1).
pub fn render(campaign: &Campaign, pick: &Pick) -> Result<Result<Rendered, RenderError>> {
    let recipients = campaign.scan_recipients()?;
    let suppression = Suppression::load(&campaign.suppress)?;
    let renderer = Renderer::new(campaign)?;
    let recipient = find(campaign, &recipients, &suppression, pick)?;
    Ok(renderer.render(&recipient))
}

/// The recipient `pick` names, or why there is none to show.
fn find(
    campaign: &Campaign,
    recipients: &crate::campaign::RecipientList,
    suppression: &Suppression,
    pick: &Pick,
) -> Result<Recipient> {
    let wanted = match pick {
        Pick::Address(a) => Some(address_key(a)),
        _ => None,
    };
    let picks = |line: u64, email: &str| match pick {
        Pick::First => true,
        Pick::Address(_) => wanted == Some(address_key(email)),
        Pick::Line(n) => line == *n,
    };
    // For an address, a row that is sent wins over an earlier skipped one of the same mailbox.
    let mut skipped: Option<Skipped> = None;
    let mut last_line = 1;
    for row in recipients.reader()? {
        let row = match row? {
            Row::Recipient(r) if suppression.contains(&r.email) => Row::Skipped(Skipped {
                line: r.line,
                email: r.email,
                reason: SkipReason::Suppressed,
            }),
            row => row,
        };
        let (line, email) = match &row {
            Row::Recipient(r) => (r.line, r.email.as_str()),
            Row::Skipped(s) => (s.line, s.email.as_str()),
        };
        last_line = line;
        let picked = picks(line, email);
        match row {
            Row::Recipient(r) if picked => return Ok(r),
            Row::Skipped(s) if picked && !matches!(pick, Pick::First) => {
                skipped = skipped.or(Some(s));
            }
            _ => {}
        }
        if matches!(pick, Pick::Line(n) if line >= *n) {
            break;
        }
    }
    Err(none_to_show(&campaign.recipients, pick, skipped, last_line))
}

/// Why `pick` names no message: its row is skipped, or there is no such row.
fn none_to_show(
    csv: &std::path::Path,
    pick: &Pick,
    skipped: Option<Skipped>,
    last_line: u64,
) -> crate::Error {
    let csv = csv.display();
    if let Some(s) = skipped {
        return invalid!(
            "{csv}: line {} ({}) is skipped: {}; a send would not mail it, so there is no message \
             to show",
            s.line,
            s.email,
            s.reason
        );
    }
    match pick {
        Pick::First => {
            invalid!("{csv}: no row would be sent (every row is skipped, or the file has none)")
        }
        Pick::Address(a) => invalid!(
            "{csv}: no row has the address {a}: give --as an address of the list, or --line N"
        ),
        Pick::Line(n) => invalid!(
            "{csv}: no row starts on line {n} (line 1 is the header; the last row starts on line \
             {last_line}): give --line the line a row starts on, as an editor shows it"
        ),
    }
}

/// What to print for `part` of the message: the exact bytes for [`Part::Raw`], else text with
/// `\n` line ends.
pub fn print(message: &Rendered, part: Part) -> Vec<u8> {
    if part == Part::Raw {
        return message.bytes.clone();
    }
    let Some(parsed) = MessageParser::default().parse(&message.bytes) else {
        // Not expected: the renderer's output always parses.
        return message.bytes.clone();
    };
    let text = match part {
        Part::Headers => headers(&parsed, &message.bytes),
        Part::Text => body(parsed.body_text(0)),
        Part::Html => body(parsed.body_html(0)),
        Part::HeadersAndText | Part::Raw => format!(
            "{}\n{}",
            headers(&parsed, &message.bytes),
            body(parsed.body_text(0))
        ),
    };
    text.into_bytes()
}

/// A decoded part with `\n` line ends, ending in one.
fn body(part: Option<Cow<'_, str>>) -> String {
    let mut text = part.unwrap_or_default().replace("\r\n", "\n");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// The message's own headers, one per line: unfolded, RFC 2047 encoded-words decoded, the rest
/// as written.
fn headers(parsed: &Message<'_>, bytes: &[u8]) -> String {
    let mut out = String::new();
    for header in parsed.headers() {
        let raw = bytes
            .get(header.offset_start as usize..header.offset_end as usize)
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let unfolded = raw.replace("\r\n", "").replace('\n', "");
        let unfolded = unfolded.trim();
        let value = match decoded(&header.value) {
            Some(decoded) if unfolded.contains("=?") => decoded,
            _ => unfolded.to_string(),
        };
        out.push_str(&format!("{}: {value}\n", header.name.as_str()));
    }
    out
}

/// The decoded value of a header that may hold encoded-words (Subject, From, To, Reply-To).
fn decoded(value: &HeaderValue<'_>) -> Option<String> {
    match value {
        HeaderValue::Text(text) => Some(text.to_string()),
        HeaderValue::TextList(list) => Some(list.join(", ")),
        HeaderValue::Address(Address::List(list)) => Some(
            list.iter()
                .map(|a| mailbox(a.name.as_deref(), a.address.as_deref()))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

fn mailbox(name: Option<&str>, address: Option<&str>) -> String {
    match (name, address) {
        (Some(name), Some(address)) => format!("{name} <{address}>"),
        (None, Some(address)) => address.to_string(),
        (Some(name), None) => name.to_string(),
        (None, None) => String::new(),
    }
}
