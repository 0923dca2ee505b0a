//! The shape of a rendered page: its markup with every text run and every link-like attribute value
//! replaced by a numbered slot. CSS inlining depends on the elements, their classes, ids and styles,
//! never on the words between the tags or on where a link points, so recipients whose pages differ
//! only in names, addresses and URLs share one shape, and css-inline needs to run once per shape
//! instead of once per recipient (see [`super::inline`]).
//!
//! It walks the one HTML lexer's tokens ([`crate::html::lexer`]) to find text runs and quoted
//! attribute values, and is conservative about them. Whatever it is unsure of stays in
//! the shape as it is (which only means fewer recipients share it); what it cannot follow at all
//! (`<script>`, `<svg>`, `<template>`, …, or a character reference to a slot marker) makes [`split`]
//! return `None`, and the page is inlined directly. What the tree builder itself looks at stays in the
//! shape: white space at the ends of a run (also `&#32;`), and the attributes of the formatting
//! elements it compares. A value is put in a slot already escaped as css-inline's serializer would write it, so
//! filling the inlined shape gives the same bytes as inlining the page itself.

use std::borrow::Cow;

use crate::html::entities::{self, Reference};
use crate::html::lexer::{Lexer, Tag, Token, offset};

/// Opens a slot number in a shape; U+E002/U+E003 are private-use characters, and a page that
/// contains either, or a character reference to either, is never split.
pub const SLOT_OPEN: char = '\u{E002}';
/// Closes a slot number.
pub const SLOT_CLOSE: char = '\u{E003}';

/// Elements whose text is RCDATA: character references decoded, no tags inside; slotted like text.
const RCDATA: &[&str] = &["title", "textarea"];
/// Elements this splitter does not follow (foreign content, script states, template contents).
const UNSUPPORTED: &[&str] = &["script", "svg", "math", "template", "frameset", "plaintext"];
/// The formatting elements (§13.2.4.3) but `a`: the tree builder compares their attributes (the
/// "Noah's Ark" clause keeps at most three identical ones in the list of active formatting
/// elements), and slots would make identical values differ, so their attributes are never slotted.
/// A new `a` first closes any `a` in that list, so there is never another one to compare it with.
const COMPARED: &[&str] = &[
    "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];
/// Attributes whose values never affect CSS inlining, unless the stylesheet names them.
const SLOTTED_ATTRIBUTES: &[&str] = &[
    "href", "src", "alt", "title", "lang", "content", "value", "srcset", "cite", "datetime",
    "label", "summary", "poster", "action",
];

/// A page split into its shape and the values of its slots (slot `i` is `values[i]`).
#[derive(Debug)]
pub struct Split<'a> {
    pub shape: String,
    pub values: Vec<Cow<'a, str>>,
    /// Names of the attributes that were slotted (each once), so the caller can check the stylesheet.
    pub attributes: Vec<&'a str>,
    /// The content of every `<style>` element, concatenated.
    pub css: String,
}

/// Splits `html`; attributes named in `keep` are never slotted. `None` when the page holds
/// something this tokenizer does not follow.
pub fn split<'a>(html: &'a str, keep: &[String]) -> Option<Split<'a>> {
    if html.contains([SLOT_OPEN, SLOT_CLOSE, '\u{FEFF}']) || refers_to_a_slot_marker(html) {
        return None;
    }
    let mut s = Splitter {
        html,
        copied: 0,
        keep,
        out: Split {
            shape: String::with_capacity(html.len()),
            values: Vec::new(),
            attributes: Vec::new(),
            css: String::new(),
        },
    };
    let mut lexer = Lexer::new(html);
    // A text run, which the lexer may give in pieces (at each `<` that opens nothing).
    let mut run: Option<(usize, usize)> = None;
    let mut opened = None;
    for token in lexer.by_ref() {
        if let Token::Text(text) = token {
            let at = offset(html, text);
            let end = at + text.len();
            run = match run {
                Some((start, last)) if last == at => Some((start, end)),
                Some((start, last)) => {
                    s.text(start, last);
                    Some((at, end))
                }
                None => Some((at, end)),
            };
            continue;
        }
        if let Some((start, end)) = run.take() {
            s.text(start, end);
        }
        match token {
            Token::Start(tag) => {
                if UNSUPPORTED.iter().any(|n| tag.is(n)) {
                    return None;
                }
                if !COMPARED.iter().any(|n| tag.is(n)) {
                    s.attributes(&tag);
                }
                opened = Some(tag);
            }
            Token::Raw { text, at } => {
                let tag = opened.take()?;
                if tag.is("style") {
                    s.out.css.push_str(text);
                }
                if RCDATA.iter().any(|n| tag.is(n)) {
                    s.text(at, at + text.len());
                }
            }
            _ => {}
        }
    }
    if let Some((start, end)) = run {
        s.text(start, end);
    }
    if lexer.cut_off() {
        return None;
    }
    s.out.shape.push_str(&html[s.copied..]);
    Some(s.out)
}

/// Whether a numeric character reference in `html` decodes to a slot marker (`&#xE002;`,
/// `&#57347`, `&#X0e002;`: either base, any case, leading zeros, with or without `;`). The parser
/// would turn it into the marker itself, in text or in any attribute, and the inlined shape would
/// then hold a slot the splitter never made. (Inside comments and raw text it stays a reference;
/// such pages are refused anyway, which costs only the cache.)
fn refers_to_a_slot_marker(html: &str) -> bool {
    let bytes = html.as_bytes();
    memchr::memmem::find_iter(bytes, b"&#").any(|at| {
        let mut digits = &bytes[at + 2..];
        let radix = match digits.first() {
            Some(b'x' | b'X') => {
                digits = &digits[1..];
                16
            }
            _ => 10,
        };
        let mut code: u32 = 0;
        for &b in digits {
            let Some(d) = (b as char).to_digit(radix) else {
                break;
            };
            // Saturates past U+10FFFF (the parser then gives U+FFFD, not a marker).
            code = code.saturating_mul(radix).saturating_add(d).min(0x11_0000);
        }
        code == SLOT_OPEN as u32 || code == SLOT_CLOSE as u32
    })
}

struct Splitter<'a, 'k> {
    html: &'a str,
    /// `html[..copied]` is in the shape already.
    copied: usize,
    keep: &'k [String],
    out: Split<'a>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r')
}

impl<'a> Splitter<'a, '_> {
    /// Quoted values of slotted attributes become slots.
    fn attributes(&mut self, tag: &Tag<'a>) {
        for attribute in tag.attributes() {
            if attribute.quoted && self.slotted(attribute.name) {
                let end = attribute.at + attribute.value.len();
                self.attribute_value(attribute.name, attribute.at, end);
            }
        }
    }

    fn slotted(&self, name: &str) -> bool {
        let prefixed = |prefix: &str| {
            name.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        };
        let known = SLOTTED_ATTRIBUTES
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name))
            || (prefixed("data-") && !name.eq_ignore_ascii_case("data-css-inline"))
            || prefixed("aria-");
        known && !self.keep.iter().any(|k| k.eq_ignore_ascii_case(name))
    }

    fn attribute_value(&mut self, name: &'a str, start: usize, end: usize) {
        if let Some(value) = serialized(&self.html[start..end], true) {
            self.slot(start, end, value);
            if !self
                .out
                .attributes
                .iter()
                .any(|a| a.eq_ignore_ascii_case(name))
            {
                self.out.attributes.push(name);
            }
        }
    }

    /// A text run: its leading and trailing white space stay in the shape (the tree builder treats
    /// white space on its own in several modes), the rest becomes a slot.
    fn text(&mut self, start: usize, end: usize) {
        let run = &self.html.as_bytes()[start..end];
        let Some(first) = run.iter().position(|&b| !is_space(b)) else {
            return;
        };
        let last = run.iter().rposition(|&b| !is_space(b)).unwrap_or(first);
        let (start, end) = (start + first, start + last + 1);
        if let Some(value) = serialized(&self.html[start..end], false) {
            self.slot(start, end, value);
        }
    }

    fn slot(&mut self, start: usize, end: usize, value: Cow<'a, str>) {
        let shape = &mut self.out.shape;
        shape.push_str(&self.html[self.copied..start]);
        shape.push(SLOT_OPEN);
        shape.push_str(&self.out.values.len().to_string());
        shape.push(SLOT_CLOSE);
        self.copied = end;
        self.out.values.push(value);
    }
}

/// The text as css-inline's serializer writes it after html5ever decoded it: text escapes `&`, `<`,
/// `>` and U+00A0; attribute values `&`, `"` and U+00A0. `None` (keep it in the shape) when the
/// decoding is not certain: a CR or NUL (normalized by the parser), or a character reference
/// outside the small set decoded here; in text also a reference to a space (`&#32;`), which the
/// tree builder may treat apart from the rest of the run. (A `<` here is text: the scanner found it
/// opens nothing.)
fn serialized(raw: &str, attribute: bool) -> Option<Cow<'_, str>> {
    let needs_work = raw
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | 0xC2 | b'\r' | 0));
    if !needs_work {
        return Some(Cow::Borrowed(raw));
    }
    if raw.bytes().any(|b| matches!(b, b'\r' | 0)) {
        return None;
    }
    let mut out = String::with_capacity(raw.len() + 16);
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '<', '>', '"', '\u{a0}']) {
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next().unwrap_or('&');
        let (decoded, used) = if c == '&' {
            match reference(&rest[i..])? {
                // The tree builder sees white space apart from other text (in a table, the head,
                // before `<html>`…), and a slot, whose marker is not white space, would hide it.
                (' ', _) if !attribute => return None,
                decoded => decoded,
            }
        } else {
            (c, c.len_utf8())
        };
        escape_into(&mut out, decoded, attribute);
        rest = &rest[i + used..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

fn escape_into(out: &mut String, c: char, attribute: bool) {
    match (c, attribute) {
        ('&', _) => out.push_str("&amp;"),
        ('\u{a0}', _) => out.push_str("&nbsp;"),
        ('<', false) => out.push_str("&lt;"),
        ('>', false) => out.push_str("&gt;"),
        ('"', true) => out.push_str("&quot;"),
        (c, _) => out.push(c),
    }
}

/// Decodes the character reference at the start of `text` (see [`entities`]): the character and
/// the bytes it used, only for characters the parser passes through unchanged.
fn reference(text: &str) -> Option<(char, usize)> {
    let (found, used) = entities::reference(text)?;
    let c = match found {
        Reference::Named(c) => c,
        Reference::Numeric(code) if entities::passes_through(code) => char::from_u32(code)?,
        Reference::Numeric(_) => return None,
    };
    Some((c, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_reference_to_a_slot_marker_is_not_filled() {
        for reference in [
            "&#xE002;",
            "&#XE003;",
            "&#xe002",
            "&#x0000E003;",
            "&#57346;",
            "&#57347",
            "&#0057346;",
        ] {
            let html = format!("<p class=\"{reference}\">Jane</p>");
            assert!(split(&html, &[]).is_none(), "{html}");
            let html = format!("<p>Jane {reference}</p>");
            assert!(split(&html, &[]).is_none(), "{html}");
        }
        for harmless in [
            "&#xE0021;",
            "&#573460;",
            "&#xE004;",
            "&#57345;",
            "&#x;",
            "&#;",
            "&#xFFFFFFFFFFFFE002;",
        ] {
            let html = format!("<p class=\"{harmless}\">Jane</p>");
            assert!(split(&html, &[]).is_some(), "{html}");
        }
    }
}
