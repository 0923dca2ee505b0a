//! Reading HTML: one lexer ([`lexer`]) and one table of character references ([`entities`]) for
//! every part of `campaign` that looks inside a page: the text part (`render/text.rs`), the content
//! lint (`check/lint.rs`) and image embedding (`render/html.rs`). They share the element lists
//! below too, so "hidden" and "invisible" mean one thing everywhere.

pub mod entities;
pub mod lexer;

pub use lexer::{Attribute, Lexer, Tag, Token};

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

#[cfg(test)]
mod tests;
