//! One-click unsubscribe: the per-recipient `List-Unsubscribe` header (RFC 2369) with the https URL
//! and/or a mailto: address, and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058)
//! when there is an https URL — what Gmail and Yahoo require of bulk senders since 2024. The same
//! URL is offered to templates as `{{ unsubscribe_url }}` for the visible link. A URL longer than
//! [`MAX_URL`] fails that recipient: it would not fit on one header line.

use super::error::RenderError;
use crate::campaign::UnsubscribeSettings;

/// The longest unsubscribe URL: `List-Unsubscribe: <URL>,` must fit in RFC 5322's 998 octets.
/// RFC 2369 §2 lets readers ignore whitespace inside `<>`, so a URL could be folded, but mail
/// clients and one-click senders do not all do that: a URL is kept whole, on a line of its own.
pub const MAX_URL: usize = 950;

/// The Tera name of the unsubscribe URL template.
pub const TEMPLATE: &str = "unsubscribe url";

/// A recipient's unsubscribe headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// The value of List-Unsubscribe.
    pub list_unsubscribe: String,
    /// Whether to add `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    pub one_click: bool,
}

/// The mailto: URL for an unsubscribe address.
pub fn mailto_url(address: &str) -> String {
    format!("mailto:{address}?subject=unsubscribe")
}

/// Builds the headers from the rendered URL (if any) and the settings' mailto.
pub fn headers(settings: &UnsubscribeSettings, url: Option<&str>) -> Result<Headers, RenderError> {
    let mut targets = Vec::new();
    let mut one_click = false;
    if let Some(url) = url {
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(RenderError::template(format!(
                "[unsubscribe] url rendered to {url:?}, which is not an http(s) URL"
            )));
        }
        if url.contains(|c: char| c.is_whitespace() || c == '<' || c == '>') {
            return Err(RenderError::template(format!(
                "[unsubscribe] url rendered to {url:?}, which contains spaces or angle brackets: \
                 encode variables with `| urlencode`"
            )));
        }
        if url.len() > MAX_URL {
            return Err(RenderError::template(format!(
                "[unsubscribe] url rendered to {} characters; at most {MAX_URL} fit on one header \
                 line (RFC 5322 §2.1.1): shorten it (a token, not the data itself)",
                url.len()
            )));
        }
        one_click = lower.starts_with("https://");
        targets.push(format!("<{url}>"));
    }
    if let Some(address) = &settings.mailto {
        targets.push(format!("<{}>", mailto_url(address)));
    }
    Ok(Headers {
        list_unsubscribe: targets.join(", "),
        one_click,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mailto: Option<&str>) -> UnsubscribeSettings {
        UnsubscribeSettings {
            url: Some("unused".into()),
            mailto: mailto.map(str::to_string),
        }
    }

    #[test]
    fn builds_rfc_8058_headers() {
        let h = headers(
            &settings(Some("u@acme.example")),
            Some("https://acme.example/u?e=a%40b"),
        )
        .unwrap();
        assert_eq!(
            h.list_unsubscribe,
            "<https://acme.example/u?e=a%40b>, <mailto:u@acme.example?subject=unsubscribe>"
        );
        assert!(h.one_click);
        let plain = headers(&settings(None), Some("http://acme.example/u")).unwrap();
        assert!(!plain.one_click, "one-click needs https");
        let mail_only = headers(&settings(Some("u@acme.example")), None).unwrap();
        assert!(!mail_only.one_click);
        assert!(headers(&settings(None), Some("javascript:x")).is_err());
        assert!(headers(&settings(None), Some("https://a.example/u?e=a b")).is_err());
    }
}
