//! Character references (`&amp;`, `&#8212;`, `&#x2014;`): the one parser and the one table every
//! reader of HTML here uses, with one documented policy.
//!
//! **Policy.** A reference is recognised only when it ends in `;` within [`MAX_LEN`] bytes.
//! - Numeric references decode as HTML5's tokenizer decodes them: `&#0;`, a surrogate or a value
//!   past U+10FFFF becomes U+FFFD (the replacement character), and 0x80–0x9F are read as the
//!   Windows-1252 characters they mean in practice (`&#150;` is `–`). Nothing decodes to NUL.
//! - Named references: the names below, the ones email HTML uses. Any other name is left as it is
//!   written (HTML5 knows 2,231 names; a reference outside this table is kept literally rather
//!   than guessed).
//!
//! [`decode`] applies that policy to text. The shape cache needs more care (it must decline a page
//! whose references html5ever would not pass through unchanged): it reads each reference with
//! [`reference`] and asks [`passes_through`].

use std::borrow::Cow;

/// The longest reference recognised, `&` and `;` included (`&#x10FFFF;` is 10).
pub const MAX_LEN: usize = 12;

/// The named references recognised, and their characters.
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{a0}'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("zwnj", '\u{200c}'),
    ("zwj", '\u{200d}'),
    ("shy", '\u{ad}'),
    ("mdash", '—'),
    ("ndash", '–'),
    ("hellip", '…'),
    ("rarr", '→'),
    ("larr", '←'),
    ("middot", '·'),
    ("bull", '•'),
    ("copy", '©'),
    ("reg", '®'),
    ("trade", '™'),
    ("euro", '€'),
    ("pound", '£'),
    ("yen", '¥'),
    ("cent", '¢'),
    ("sect", '§'),
    ("deg", '°'),
    ("times", '×'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("ldquo", '“'),
    ("rdquo", '”'),
];

/// Windows-1252 for 0x80–0x9F, as HTML5 decodes numeric references in that range (0 where the
/// code is undefined there, and HTML5 keeps the control character).
const WINDOWS_1252: [u32; 32] = [
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
    0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
];

/// One reference as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// `&#N;` or `&#xH;`: the number as written (saturated at `u32::MAX`).
    Numeric(u32),
    /// `&name;` with a name in the table.
    Named(char),
}

/// Reads the reference at the start of `text` (which starts with `&`): what it is and how many
/// bytes it uses. `None` when it is not one this module recognises.
pub fn reference(text: &str) -> Option<(Reference, usize)> {
    let end = text.get(1..)?.find(';')? + 1;
    if end + 1 > MAX_LEN {
        return None;
    }
    let name = &text[1..end];
    let found = match name.strip_prefix('#') {
        Some(number) => {
            let (digits, radix) = match number.strip_prefix(['x', 'X']) {
                Some(hex) => (hex, 16),
                None => (number, 10),
            };
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            let value = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
            Reference::Numeric(value)
        }
        None => Reference::Named(NAMED.iter().find(|(n, _)| *n == name)?.1),
    };
    Some((found, end + 1))
}

impl Reference {
    /// The character HTML5 decodes the reference to (see the module's policy).
    pub fn char(self) -> char {
        match self {
            Reference::Named(c) => c,
            Reference::Numeric(code @ 0x80..=0x9F) => {
                let mapped = WINDOWS_1252[(code - 0x80) as usize];
                char::from_u32(if mapped == 0 { code } else { mapped }).unwrap_or('\u{fffd}')
            }
            Reference::Numeric(0) => '\u{fffd}',
            Reference::Numeric(code) => char::from_u32(code).unwrap_or('\u{fffd}'),
        }
    }
}

/// Whether html5ever turns `&#code;` into that very character: not NUL, a control, a surrogate,
/// a noncharacter (all replaced or flagged), nor a BOM or one of the shape cache's slot markers
/// (U+E002, U+E003).
pub fn passes_through(code: u32) -> bool {
    let noncharacter = (0xFDD0..0xFDF0).contains(&code) || code & 0xFFFE == 0xFFFE;
    let excluded = matches!(code, 0xE002 | 0xE003 | 0xFEFF) || (0xD800..0xE000).contains(&code);
    ((0x20..0x7F).contains(&code) || (0xA0..=0x10FFFF).contains(&code))
        && !noncharacter
        && !excluded
}

/// `text` with its references decoded (see the module's policy); borrowed when it has none.
pub fn decode(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match reference(rest) {
            Some((found, used)) => {
                out.push(found.char());
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy() {
        assert_eq!(decode("a &amp; b"), "a & b");
        assert_eq!(decode("&#8212;&#x2014;&#X2014;"), "———");
        assert_eq!(decode("&#0;"), "\u{fffd}", "never a NUL");
        assert_eq!(
            decode("&#xD800;&#x110000;&#999999999;"),
            "\u{fffd}\u{fffd}\u{fffd}"
        );
        assert_eq!(decode("&#150;&#x80;&#x81;"), "–€\u{81}");
        assert_eq!(
            decode("&unknown; &amp &#; &#x; &#12a;"),
            "&unknown; &amp &#; &#x; &#12a;"
        );
        assert_eq!(decode("&nbsp;&zwnj;"), "\u{a0}\u{200c}");
        assert!(matches!(decode("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn references_and_their_length() {
        assert_eq!(reference("&amp;x"), Some((Reference::Named('&'), 5)));
        assert_eq!(reference("&#xE002;"), Some((Reference::Numeric(0xE002), 8)));
        assert_eq!(
            reference("&#x0000E003;"),
            Some((Reference::Numeric(0xE003), 12))
        );
        assert_eq!(reference("&#x00000E003;"), None, "longer than MAX_LEN");
        assert!(!passes_through(0xE002) && !passes_through(0) && !passes_through(0x85));
        assert!(passes_through(0x2014) && passes_through(0x20));
    }
}
