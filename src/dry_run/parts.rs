//! What the preview needs from a finished message, read back from its exact bytes with mail-parser
//! (so it is the message as sent, after transfer encoding): the text part decoded to UTF-8, for
//! `<line>-<address>.txt`, and the size of the decoded HTML part, which Gmail clips past 102 KB.

use mail_parser::{MessageParser, MimeHeaders};

/// The parts of one message the preview shows or measures.
#[derive(Debug, Default)]
pub struct Parts {
    /// The first text/plain part that is not an attachment, decoded.
    pub text: String,
    /// Bytes of the first text/html part that is not an attachment, decoded.
    pub html_bytes: usize,
}

/// Reads `eml` (RFC 5322 bytes) back into its parts.
pub fn read(eml: &[u8]) -> Parts {
    let mut parts = Parts::default();
    let Some(message) = MessageParser::default().parse(eml) else {
        return parts;
    };
    let (mut text, mut html) = (None, None);
    for part in &message.parts {
        let attachment = part
            .content_disposition()
            .is_some_and(|d| d.is_attachment());
        let Some(ct) = part.content_type().filter(|_| !attachment) else {
            continue;
        };
        if !ct.ctype().eq_ignore_ascii_case("text") {
            continue;
        }
        match ct.subtype().map(str::to_ascii_lowercase).as_deref() {
            Some("plain") if text.is_none() => text = Some(part),
            Some("html") if html.is_none() => html = Some(part),
            _ => {}
        }
    }
    if let Some(part) = text {
        parts.text = String::from_utf8_lossy(part.contents()).into_owned();
    }
    parts.html_bytes = html.map_or(0, |part| part.contents().len());
    parts
}
