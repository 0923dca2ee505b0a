//! Reading HTML: one lexer ([`lexer`]) and one table of character references ([`entities`]) for
//! every part of `campaign` that looks inside a page: the text part (`render/text.rs`), the content
//! lint (`check/lint.rs`), image embedding (`render/html.rs`) and the shape splitter. They share
//! the element lists below too, so "hidden" and "invisible" mean one thing everywhere. And the one
//! way pages of our own (the preview index, the report) write a value: [`escape`].

pub mod entities;
pub mod lexer;
mod tag;

pub use lexer::{Attribute, Lexer, Tag, Token};

/// `&`, `<`, `>`, `"` and `'` as character references: safe in text and in quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Elements whose content is never shown as text: the document head and raw-text elements, plus
/// `<template>` (inert) and `<noscript>` (mail clients run no script, but neither do they show it
/// reliably).
pub const NOT_SHOWN: &[&str] = &["head", "style", "script", "title", "template", "noscript"];

/// Elements with no end tag.
pub const VOID: &[&str] = &[
    "br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source",
];

/// Characters that take no space when shown: zero-width space, non-joiner and joiner, the soft
/// hyphen, the combining grapheme joiner and the BOM (preheader padding is made of them).
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{ad}' | '\u{34f}' | '\u{feff}'
    )
}

/// Whether a reader is inside an element it leaves out (one not shown), counting nested elements
/// of the same name so that the element's own end tag ends it.
#[derive(Default)]
pub struct LeftOut<'a> {
    /// The left-out element's name as written, and how deep inside it the reader is.
    inside: Option<(&'a str, usize)>,
}

impl<'a> LeftOut<'a> {
    /// Whether reading is inside a left-out element now.
    pub fn active(&self) -> bool {
        self.inside.is_some()
    }

    /// Feeds a tag; true when it belongs to a left-out element (its start tag, a tag inside it,
    /// its end tag). `hide` is asked about a start tag outside one: whether its element is left
    /// out (an element with no end tag never is).
    pub fn tag(
        &mut self,
        tag: &Tag<'a>,
        closing: bool,
        hide: impl FnOnce(&Tag<'a>) -> bool,
    ) -> bool {
        if let Some((name, depth)) = &mut self.inside {
            if tag.is(name) && !tag.self_closing {
                *depth = if closing { *depth - 1 } else { *depth + 1 };
                if *depth == 0 {
                    self.inside = None;
                }
            }
            return true;
        }
        if closing || tag.self_closing || VOID.iter().any(|v| tag.is(v)) || !hide(tag) {
            return false;
        }
        self.inside = Some((tag.name, 1));
        true
    }
}

#[cfg(test)]
mod tests;
