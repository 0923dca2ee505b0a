//! One entry of a suppression file, in any spelling the exports use: a bare address,
//! `Name <addr>`, `<addr>` or `mailto:addr` (a query such as `?subject=…` dropped, `%XX` decoded),
//! optionally in double quotes, and `#` comments. Every shape reads its addresses through
//! [`parse_entry`], and the first line's shape is decided by it too.

use std::str::FromStr;

use lettre::Address;

/// The address in `text` when it is one in an accepted spelling: `addr`, `Name <addr>`, `<addr>`,
/// `mailto:addr[?query]`, optionally in double quotes.
pub fn parse_entry(text: &str) -> Option<String> {
    let mut text = text.trim();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        text = inner.trim();
    }
    let address = if text.len() > 7 && text[..7].eq_ignore_ascii_case("mailto:") {
        let rest = &text[7..];
        percent_decode(rest.split('?').next().unwrap_or_default())?
    } else if let Some(open) = text.strip_suffix('>').and_then(|t| t.rfind('<')) {
        text[open + 1..text.len() - 1].trim().to_string()
    } else {
        text.to_string()
    };
    Address::from_str(&address).is_ok().then_some(address)
}

/// `%XX` escapes decoded (a mailto URI escapes `%`, `?`, `&` and non-ASCII), or `None` when they
/// do not make UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `line` without a `#` comment: one starting the line or following white space.
pub(super) fn strip_comment(line: &str) -> &str {
    let mut previous = None;
    for (i, c) in line.char_indices() {
        if c == '#' && previous.is_none_or(char::is_whitespace) {
            return &line[..i];
        }
        previous = Some(c);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_in_every_accepted_spelling() {
        for (text, want) in [
            ("a@x.example", Some("a@x.example")),
            ("  a@x.example ", Some("a@x.example")),
            ("\"a@x.example\"", Some("a@x.example")),
            ("Ann <a@x.example>", Some("a@x.example")),
            ("\"Doe, Ann\" <a@x.example>", Some("a@x.example")),
            ("<a@x.example>", Some("a@x.example")),
            ("mailto:a@x.example", Some("a@x.example")),
            (
                "MailTo:a@x.example?subject=unsubscribe",
                Some("a@x.example"),
            ),
            ("mailto:a%2Bb@x.example", Some("a+b@x.example")),
            ("a#b@x.example", Some("a#b@x.example")),
            ("a@x.example,bounce", None),
            ("Bob at example dot com", None),
            ("mailto:", None),
            ("{\"emailAddress\": \"a@x.example\"}", None),
        ] {
            assert_eq!(parse_entry(text).as_deref(), want, "{text:?}");
        }
        assert_eq!(strip_comment("a#b@x.example # note"), "a#b@x.example ");
        assert_eq!(strip_comment("# all"), "");
    }
}
