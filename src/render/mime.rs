//! Assembling one recipient's message with lettre's builder: multipart/alternative with the text
//! part first and the HTML last (RFC 2046 §5.1.4: the last part is the preferred one), the HTML
//! wrapped in multipart/related with its `cid:` images (RFC 2387), and multipart/mixed around it all
//! when there are attachments. Header values are single-line: CR/LF from CSV data are replaced
//! before they reach a header, so no field can add or split one (lettre adds RFC 2047 encoding),
//! and every header line stays within RFC 5322's 998 octets ([`super::header_lines`]).

use std::sync::Arc;

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};

use super::error::{RenderError, Step};
use super::header_lines;
use super::images::Image;

/// The parts and headers of one message, ready to build.
pub struct Parts<'a> {
    pub from: &'a Mailbox,
    pub to: Mailbox,
    pub reply_to: Option<&'a Mailbox>,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub headers: &'a [(String, String)],
    pub unsubscribe: Option<super::unsubscribe::Headers>,
    pub text: String,
    pub html: String,
    pub images: Vec<Arc<Image>>,
    /// The message's attachments as MIME parts (the static ones encoded once per campaign and
    /// cloned, the per-recipient ones for this message: [`super::attachments`]).
    pub attachments: Vec<SinglePart>,
}

/// Replaces control characters (CR, LF, TAB, …) with spaces so a value stays on one header line.
pub fn without_controls(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The Content-Type for a MIME essence such as `image/png`, `application/octet-stream` if unknown.
pub fn content_type(essence: &str) -> ContentType {
    ContentType::parse(essence).unwrap_or(ContentType::parse("application/octet-stream").unwrap())
}

/// The MIME part of a file attached to every message, base64-encoded once. lettre writes the
/// file name as an RFC 2231 parameter (`filename*=utf-8''…`) when it is not ASCII.
pub fn attachment_part(file: &crate::campaign::Attachment) -> SinglePart {
    Attachment::new(file.file_name.clone()).body(
        Body::new(file.bytes.to_vec()),
        content_type(&file.content_type),
    )
}

/// Builds the message. Fails only if lettre rejects a header, which validation prevents.
pub fn build(parts: Parts<'_>) -> Result<Message, RenderError> {
    let to = parts.to.clone();
    let mut builder = Message::builder()
        .from(parts.from.clone())
        .to(parts.to)
        .subject(without_controls(parts.subject))
        .message_id(Some(parts.message_id.to_string()))
        .date_now();
    if let Some(reply_to) = parts.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }

    let html = SinglePart::html(super::transfer::body(parts.html));
    let text = SinglePart::plain(super::transfer::body(parts.text));
    let alternative = if parts.images.is_empty() {
        MultiPart::alternative().singlepart(text).singlepart(html)
    } else {
        let mut related = MultiPart::related().singlepart(html);
        for image in &parts.images {
            related = related.singlepart(image.part.clone());
        }
        MultiPart::alternative().singlepart(text).multipart(related)
    };
    let body = if parts.attachments.is_empty() {
        alternative
    } else {
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for part in parts.attachments {
            mixed = mixed.singlepart(part);
        }
        mixed
    };
    let mut message = builder
        .multipart(body)
        .map_err(|e| RenderError::new(Step::Mime, e.to_string()))?;
    let headers = message.headers_mut();
    let subject = HeaderName::new_from_ascii_str("Subject");
    headers.insert_raw(header_lines::unstructured(
        subject,
        without_controls(parts.subject),
    ));
    let mailboxes = [
        ("From", Some(parts.from)),
        ("To", Some(&to)),
        ("Reply-To", parts.reply_to),
    ];
    for (name, mailbox) in mailboxes {
        if let Some(value) = mailbox.and_then(|m| header_lines::mailbox(name, m)) {
            headers.insert_raw(value);
        }
    }
    for (name, value) in parts.headers {
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|e| RenderError::new(Step::Mime, format!("{name}: {e}")))?;
        headers.insert_raw(HeaderValue::new(name, without_controls(value)));
    }
    if let Some(unsubscribe) = parts.unsubscribe {
        // URLs are never encoded-words: lettre folds at the space after each comma, and the
        // URL's length is bounded so that each fits on a line (super::unsubscribe).
        let name = HeaderName::new_from_ascii_str("List-Unsubscribe");
        headers.insert_raw(HeaderValue::new(
            name,
            without_controls(&unsubscribe.list_unsubscribe),
        ));
        if unsubscribe.one_click {
            let name = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");
            headers.insert_raw(HeaderValue::new(name, "List-Unsubscribe=One-Click".into()));
        }
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::without_controls;

    #[test]
    fn one_line_removes_line_breaks() {
        assert_eq!(
            without_controls("Hi\r\nBcc: x@y.example"),
            "Hi  Bcc: x@y.example"
        );
    }
}
