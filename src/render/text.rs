//! The plain-text alternative derived from the rendered HTML when the campaign has no text template.
//!
//! Email HTML is layout tables around headings, paragraphs, lists, links and images, so a full HTML
//! parser and layout engine (html2text) is more than this needs and was the most expensive step of
//! rendering (about half a millisecond a message). This is a single pass over the tags instead:
//! tables and cells are read as plain blocks (no box-drawing), headings keep `#` markers, list items
//! `*` or `1.`, links become footnotes (`Read more[1]` … `[1]: https://…`), images their `alt` text in
//! brackets; `<head>`, `<style>`, `<script>`, comments and elements hidden with `display:none` (the
//! preheader, Outlook-only blocks) are left out. Lines are wrapped at 76 characters (RFC 5322 asks for
//! under 78), never inside a word or URL.

use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::html::entities::decode;
use crate::html::{LeftOut, Lexer, NOT_SHOWN, Tag, Token, is_invisible};

pub(super) use super::text_writer::{Footnotes, Writer};

/// Elements that start and end a block (a new line or paragraph).
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "table",
    "tr",
    "td",
    "th",
    "tbody",
    "thead",
    "tfoot",
    "ul",
    "ol",
    "li",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "center",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "pre",
    "body",
    "html",
    "main",
    "nav",
    "address",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
];

/// Derives readable plain text from an HTML document.
pub fn from_html(html: &str) -> String {
    read(html, None).0
}

/// Text written in place of a page's text `mark`, into the page's text and its footnotes.
pub(super) type Fill<'a> = &'a mut dyn FnMut(&mut Writer, &mut Footnotes);

/// The text of a page with `fill`'s text where the page shows `mark` (a paragraph of its own), in
/// one flow with one list of footnotes; `None` when the page does not show `mark`.
pub(super) fn from_html_around(html: &str, mark: &str, fill: Fill<'_>) -> Option<String> {
    let (text, filled) = read(html, Some((mark, fill)));
    filled.then_some(text)
}

/// The text of a page, and whether `fill` was written in place of its mark.
fn read(html: &str, mut fill: Option<(&str, Fill<'_>)>) -> (String, bool) {
    let mut reader = Reader::default();
    let mut left_out = LeftOut::default();
    let mut filled = false;
    for token in Lexer::new(html) {
        let (tag, closing) = match token {
            Token::Text(text)
                if !left_out.active() && fill.as_ref().is_some_and(|(m, _)| text.trim() == *m) =>
            {
                let (_, write) = fill.take().expect("checked");
                reader.out.paragraph();
                write(&mut reader.out, &mut reader.links);
                reader.out.paragraph();
                filled = true;
                continue;
            }
            // Raw text outside a left-out element: a <textarea>'s or <xmp>'s, shown as text.
            Token::Text(text) | Token::Raw { text, .. } if !left_out.active() => {
                reader.text(text);
                continue;
            }
            Token::Start(tag) => (tag, false),
            Token::End(tag) => (tag, true),
            _ => continue,
        };
        let hide = |t: &Tag| NOT_SHOWN.iter().any(|n| t.is(n)) || hidden(t);
        if !left_out.tag(&tag, closing, hide) {
            reader.tag(&tag.lower_name(), closing, &tag);
        }
    }
    (reader.finish(), filled)
}

/// What the text part is built from while the page is read.
#[derive(Default)]
struct Reader {
    out: Writer,
    /// Link targets, numbered as footnotes.
    links: Footnotes,
    /// The open `<a>`'s target and where its text starts.
    open_link: Option<(String, usize)>,
    /// Open lists: `None` for `<ul>`, the last number for `<ol>`.
    lists: Vec<Option<u32>>,
}

impl Reader {
    /// Text with references decoded and invisible characters dropped.
    fn text(&mut self, text: &str) {
        let text = decode(text);
        if text.contains(is_invisible) {
            self.out.text(&text.replace(is_invisible, ""));
        } else {
            self.out.text(&text);
        }
    }

    /// A start or end tag (`name` in lower case) of a shown element.
    fn tag(&mut self, name: &str, closing: bool, tag: &Tag) {
        match (name, closing) {
            ("br", _) => self.out.line_break(),
            ("img", false) => {
                if let Some(alt) = tag.attr("alt").map(decode).filter(|a| !a.trim().is_empty()) {
                    self.out.text(&format!(" [{}] ", alt.trim()));
                }
            }
            ("a", false) => {
                self.open_link = tag
                    .attr("href")
                    .map(|h| decode(h).trim().to_string())
                    .filter(|h| !h.is_empty() && !h.starts_with('#'))
                    .map(|h| (h, self.out.len()));
            }
            ("a", true) => {
                if let Some((href, start)) = self.open_link.take() {
                    self.links.link(&mut self.out, href, start);
                }
            }
            ("ul", false) => self.lists.push(None),
            ("ol", false) => self.lists.push(Some(0)),
            ("ul" | "ol", true) => {
                self.lists.pop();
                self.out.paragraph();
            }
            ("li", false) => {
                self.out.line_break();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{n}. ")
                    }
                    _ => "* ".to_string(),
                };
                self.out.prefix(&marker);
            }
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", false) => {
                self.out.paragraph();
                let level = usize::from(name.as_bytes()[1] - b'0');
                self.out.prefix(&format!("{} ", "#".repeat(level)));
            }
            ("hr", _) => {
                self.out.paragraph();
                self.out.text(&"-".repeat(20));
                self.out.paragraph();
            }
            ("p" | "table" | "blockquote" | "pre" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6", _) => {
                self.out.paragraph()
            }
            _ if BLOCKS.contains(&name) => self.out.line_break(),
            _ => {}
        }
    }

    /// The text, then the links as footnotes.
    fn finish(self) -> String {
        self.links.after(self.out.finish())
    }
}

/// Whether the element is hidden from view (`display:none`, the `hidden` attribute).
fn hidden(tag: &Tag) -> bool {
    static DISPLAY: LazyLock<Finder> = LazyLock::new(|| Finder::new("display"));
    static HIDDEN: LazyLock<Finder> = LazyLock::new(|| Finder::new("hidden"));
    let attrs = tag.attributes_text().as_bytes();
    if DISPLAY.find(attrs).is_none() && HIDDEN.find(attrs).is_none() {
        return false; // most tags: no need to find and read the style attribute
    }
    let style = tag.attr("style").unwrap_or_default();
    let hidden_style = style.match_indices("display").any(|(i, _)| {
        let value = style[i + 7..].trim_start();
        value.strip_prefix(':').is_some_and(|v| {
            v.trim_start()
                .get(..4)
                .is_some_and(|v| v.eq_ignore_ascii_case("none"))
        })
    });
    hidden_style || HIDDEN.find(attrs).is_some() && tag.attr("hidden").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_well() {
        let html = "<html><head><style>p{color:red}</style></head><body><table><tr><td>\
                    <div style=\"display: none\">preheader</div>\
                    <h1>Hello &amp; welcome</h1><p>First para.</p><ul><li>one</li><li>two</li></ul>\
                    <ol><li>first</li><li>second</li></ol>\
                    <p><a href=\"https://acme.example/x\">Read more</a> or \
                    <a href=\"https://acme.example/y\">https://acme.example/y</a></p>\
                    <a href=\"https://acme.example/\"><img src=\"l.png\" alt=\"Acme\"></a>\
                    </td></tr></table></body></html>";
        let text = from_html(html);
        assert_eq!(
            text,
            "# Hello & welcome\n\nFirst para.\n\n* one\n* two\n\n1. first\n2. second\n\n\
             Read more[1] or https://acme.example/y\n\n[Acme][2]\n\n\
             [1]: https://acme.example/x\n[2]: https://acme.example/\n"
        );
    }

    #[test]
    fn wraps_long_paragraphs_without_breaking_words() {
        let long = "word ".repeat(40);
        let text = from_html(&format!("<p>{long}</p>"));
        assert!(
            text.lines()
                .all(|l| l.chars().count() <= super::super::text_writer::WIDTH),
            "{text}"
        );
        assert_eq!(text.split_whitespace().count(), 40);
    }

    #[test]
    fn hidden_elements_and_invisible_characters_are_left_out() {
        let html = "<p>a&zwnj;b&shy;c</p><div hidden>x</div><p style=\"color:red; display : none\">y</p>\
                    <span data-hidden=\"1\">shown</span> 1 &lt; 2 < 3";
        assert_eq!(from_html(html), "abc\n\nshown 1 < 2 < 3\n");
    }
}
