//! Header lines within RFC 5322 §2.1.1's limits: at most 998 octets, and 78 where the value
//! allows. lettre folds a value at its spaces, so a run of characters without one (a 3,000-
//! character subject or display name from the CSV) stays on one line however long. Such a value is
//! written instead as RFC 2047 encoded-words (`=?utf-8?b?…?=`, §2: at most 75 characters each, and
//! whole characters only, §5), one per folded line; a reader decodes the adjacent words back into
//! the value (§6.2 drops the whitespace between them). That is done for the Subject and display
//! names (§5 (1) and (3)); the campaign's extra headers are sent as written and checked at load
//! ([`folds_within_limit`]), and List-Unsubscribe's URL is bounded ([`super::unsubscribe`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use lettre::message::Mailbox;
use lettre::message::header::{HeaderName, HeaderValue};

/// The longest run without a space that lettre's folding keeps within 78 octets on any line.
const LONGEST_WORD: usize = 60;
/// Bytes of the value per encoded-word: base64 makes 52 characters of 39 bytes, so a folded line
/// ` =?utf-8?b?…?=` has 65, and the first one after `Reply-To: ` 75.
const CHUNK: usize = 39;

/// Whether `Name: value`, folded at its spaces, keeps every line within 998 octets. Used for the
/// campaign's extra headers, which are sent as written (folded, never encoded: an encoded-word in
/// a structured header would change its meaning, and readers leave unknown headers undecoded).
pub fn folds_within_limit(name: &str, value: &str) -> bool {
    let longest = value.split(' ').map(str::len).max().unwrap_or(0);
    name.len() + ": ".len() + longest <= MAX_LINE
}

/// RFC 5322 §2.1.1: a line is at most 998 octets, CRLF excluded.
pub const MAX_LINE: usize = 998;

/// Whether lettre's folding at spaces would leave a line over 78 octets.
fn needs_encoding(value: &str) -> bool {
    value.split(' ').any(|word| word.len() > LONGEST_WORD)
}

/// `value` as encoded-words, one per folded line.
pub fn encoded_words(value: &str) -> String {
    let mut words = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let mut end = rest.len().min(CHUNK);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!("=?utf-8?b?{}?=", BASE64.encode(&rest[..end])));
        rest = &rest[end..];
    }
    words.join("\r\n ")
}

/// An unstructured header (the Subject): lettre's encoding and folding, or
/// encoded-words when a run without spaces is too long to fold.
pub fn unstructured(name: HeaderName, value: String) -> HeaderValue {
    if needs_encoding(&value) {
        let encoded = encoded_words(&value);
        HeaderValue::dangerous_new_pre_encoded(name, value, encoded)
    } else {
        HeaderValue::new(name, value)
    }
}

/// A From/To/Reply-To header whose display name is too long to fold, with the name as
/// encoded-words; `None` when lettre's own formatting fits.
pub fn mailbox(name: &'static str, mailbox: &Mailbox) -> Option<HeaderValue> {
    let display = mailbox.name.as_deref().filter(|n| needs_encoding(n))?;
    let encoded = format!("{}\r\n <{}>", encoded_words(display), mailbox.email);
    let raw = format!("{display} <{}>", mailbox.email);
    Some(HeaderValue::dangerous_new_pre_encoded(
        HeaderName::new_from_ascii_str(name),
        raw,
        encoded,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_are_short_whole_characters_and_decode_back() {
        let value = format!("{}é{}", "a".repeat(38), "€".repeat(100));
        let encoded = encoded_words(&value);
        let mut decoded = String::new();
        for line in encoded.split("\r\n ") {
            assert!(line.len() <= 75, "{line}");
            let b64 = line.trim_start_matches("=?utf-8?b?").trim_end_matches("?=");
            decoded += &String::from_utf8(BASE64.decode(b64).unwrap()).expect("whole characters");
        }
        assert_eq!(decoded, value);
        assert!(!needs_encoding("April news for Zoë, with a few words"));
        assert!(needs_encoding(&"x".repeat(61)));
    }
}
