//! What the content lint needs to know about one HTML part: its images (tracking pixels apart),
//! those without `alt`, `http://` URLs, and how much visible text it has. Read with the one HTML
//! lexer ([`crate::html`]).
//!
//! "Visible text" is the text outside tags and outside the elements never shown (`<head>`,
//! `<style>`, `<script>`, `<title>`, …, [`crate::html::NOT_SHOWN`]), references decoded, with
//! whitespace runs counted as one character and invisible padding (`&zwnj;`, soft hyphens, …,
//! [`crate::html::is_invisible`]) not counted.

use crate::html::entities::decode;
use crate::html::{LeftOut, Lexer, NOT_SHOWN, Tag, Token, is_invisible};

/// What the content rules need from one HTML document.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HtmlFacts {
    /// `<img>` elements, tracking pixels left out.
    pub images: usize,
    /// The `src` of each `<img>` (pixels too) without an `alt` attribute.
    pub images_without_alt: Vec<String>,
    /// `href` and `src` values starting with `http://`.
    pub insecure_urls: Vec<String>,
    /// Characters of visible text (see the module documentation).
    pub text_chars: usize,
}

/// Reads a document's tags and visible text. It needs no well-formedness.
pub fn scan_html(html: &str) -> HtmlFacts {
    let mut facts = HtmlFacts::default();
    let mut text = TextCounter::default();
    let mut left_out = LeftOut::default();
    for token in Lexer::new(html) {
        let (tag, closing) = match token {
            Token::Text(t) if !left_out.active() => {
                text.add(&decode(t));
                continue;
            }
            Token::Start(tag) => (tag, false),
            Token::End(tag) => (tag, true),
            _ => continue,
        };
        let outside = !left_out.active();
        left_out.tag(&tag, closing, |t| NOT_SHOWN.iter().any(|n| t.is(n)));
        if outside {
            text.separate();
            if !closing {
                // A left-out element's own attributes count (`<script src="http://…">`).
                facts.start_tag(&tag);
            }
        }
    }
    facts.text_chars = text.chars;
    facts
}

impl HtmlFacts {
    fn start_tag(&mut self, tag: &Tag) {
        for attribute in tag.attributes() {
            let name = attribute.name;
            let value = attribute.value.trim();
            if (name.eq_ignore_ascii_case("href") || name.eq_ignore_ascii_case("src"))
                && value
                    .get(..7)
                    .is_some_and(|v| v.eq_ignore_ascii_case("http://"))
            {
                self.insecure_urls.push(value.to_string());
            }
        }
        if tag.is("img") {
            if tag.attr("alt").is_none() {
                let src = tag.attr("src").unwrap_or_default();
                self.images_without_alt.push(src.to_string());
            }
            let tiny = |key: &str| tag.attr(key).and_then(pixels).is_some_and(|px| px <= 2);
            if !(tiny("width") && tiny("height")) {
                self.images += 1;
            }
        }
    }
}

/// The leading number of a width/height attribute ("1", "1px", " 2 ").
fn pixels(value: &str) -> Option<u32> {
    let value = value.trim();
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    value[..digits].parse().ok()
}

/// Counts visible characters: whitespace runs count once (between words), invisible padding not
/// at all.
#[derive(Default)]
struct TextCounter {
    chars: usize,
    gap: bool,
}

impl TextCounter {
    fn add(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.separate();
            } else if !is_invisible(c) {
                if self.gap && self.chars > 0 {
                    self.chars += 1;
                }
                self.gap = false;
                self.chars += 1;
            }
        }
    }

    fn separate(&mut self) {
        self.gap = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_images_links_and_text() {
        let html = r#"<!DOCTYPE html><html><head><title>Big title text</title>
            <style>p { color: red } /* <img src="x"> */</style></head>
            <body><!-- <img src="hidden.png"> -->
            <p>Hello&nbsp;&nbsp;world&amp;co</p>
            <IMG SRC="cid:logo" alt="">
            <img src='http://cdn.example/a.png'>
            <img src=https://t.example/p.gif width="1" height="1" alt="">
            <a href="http://acme.example/x">x</a>
            <a href = "https://acme.example/y">y</a>
            <script>var s = "<img src='z'>";</script>
            </body></html>"#;
        let facts = scan_html(html);
        assert_eq!(facts.images, 2, "{facts:?}");
        assert_eq!(facts.images_without_alt, vec!["http://cdn.example/a.png"]);
        assert_eq!(
            facts.insecure_urls,
            vec!["http://cdn.example/a.png", "http://acme.example/x"]
        );
        // "Hello world&co x y" with the entity counted once.
        assert_eq!(facts.text_chars, "Hello world&co x y".len(), "{facts:?}");
    }

    #[test]
    fn invisible_padding_is_not_text() {
        let facts = scan_html("<div>&zwnj;&nbsp;&#847; &zwnj;\u{200c}</div><p>Hi</p>");
        assert_eq!(facts.text_chars, 2);
    }

    #[test]
    fn broken_html_does_not_panic() {
        for html in [
            "<",
            "<a href=",
            "<a href=\"x",
            "<!--",
            "a < b",
            "<img",
            "&",
            "&#;",
        ] {
            let _ = scan_html(html);
        }
        assert_eq!(scan_html("a < b").text_chars, 5);
    }
}
