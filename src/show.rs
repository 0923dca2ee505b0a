//! `campaign show DIR`: one recipient's message in the terminal, to read what a send would send
//! without writing a preview folder. The recipient is picked as `campaign test` picks it
//! ([`crate::campaign::pick`]: by address, by CSV line, or the first row that would be sent). The
//! message is rendered exactly as a send renders it ([`Renderer::new`], DKIM signature included);
//! nothing is written or sent.

use std::borrow::Cow;

use mail_parser::{Address, HeaderValue, Message, MessageParser};

use crate::campaign::Campaign;
use crate::campaign::pick::{self, Pick};
use crate::error::Result;
use crate::render::{RenderError, Rendered, Renderer};

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
    let renderer = Renderer::new(campaign)?;
    let recipient = pick::recipient(campaign, pick)?;
    Ok(renderer.render(&recipient))
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
