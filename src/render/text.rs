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

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::LazyLock;

use memchr::memmem::Finder;

/// Line width of the text part.
const WIDTH: usize = 76;

/// Elements whose content never reaches the text.
const SKIPPED: &[&str] = &["head", "style", "script", "title", "template", "noscript"];

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

/// Elements with no end tag, which must not open a hidden region.
const VOID: &[&str] = &[
    "br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source",
];

/// Derives readable plain text from an HTML document.
pub fn from_html(html: &str) -> Result<String, String> {
    let mut out = Writer::default();
    let mut links: Vec<String> = Vec::new();
    let mut open_link: Option<(String, usize)> = None;
    let mut lists: Vec<Option<u32>> = Vec::new();
    let mut skip: Option<(String, usize)> = None;
    let mut pos = 0;
    while pos < html.len() {
        let rest = &html[pos..];
        if !rest.starts_with('<') {
            let end = rest.find('<').map_or(html.len(), |i| pos + i);
            if skip.is_none() {
                out.text(&decode(&html[pos..end]));
            }
            pos = end;
            continue;
        }
        if rest.starts_with("<!--") {
            pos = rest.find("-->").map_or(html.len(), |i| pos + i + 3);
            continue;
        }
        let tag_end = tag_end(rest).map_or(html.len(), |i| pos + i + 1);
        let tag = Tag::parse(&html[pos..tag_end]);
        pos = tag_end;
        let Some(tag) = tag else { continue };
        if let Some((name, depth)) = &mut skip {
            if tag.name == *name && !tag.self_closing {
                *depth = if tag.closing { *depth - 1 } else { *depth + 1 };
                if *depth == 0 {
                    skip = None;
                }
            }
            continue;
        }
        let name = tag.name.as_ref();
        if !tag.closing
            && !tag.self_closing
            && !VOID.contains(&name)
            && (SKIPPED.contains(&name) || tag.hidden())
        {
            skip = Some((tag.name.clone().into_owned(), 1));
            continue;
        }
        match (name, tag.closing) {
            ("br", _) => out.line_break(),
            ("img", false) => {
                if let Some(alt) = tag.attr("alt").map(decode).filter(|a| !a.trim().is_empty()) {
                    out.text(&format!(" [{}] ", alt.trim()));
                }
            }
            ("a", false) => {
                open_link = tag
                    .attr("href")
                    .map(|h| decode(h).trim().to_string())
                    .filter(|h| !h.is_empty() && !h.starts_with('#'))
                    .map(|h| (h, out.len()));
            }
            ("a", true) => {
                if let Some((href, start)) = open_link.take() {
                    let same = out
                        .line_since(start)
                        .is_some_and(|t| t == href || t == href.trim_start_matches("mailto:"));
                    if !out.wrote_since(start) {
                        out.text(&format!(" {href} "));
                    } else if !same {
                        let n = links.iter().position(|l| *l == href).unwrap_or_else(|| {
                            links.push(href.clone());
                            links.len() - 1
                        });
                        out.glue(&format!("[{}]", n + 1));
                    }
                }
            }
            ("ul", false) => lists.push(None),
            ("ol", false) => lists.push(Some(0)),
            ("ul" | "ol", true) => {
                lists.pop();
                out.paragraph();
            }
            ("li", false) => {
                out.line_break();
                let marker = match lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{n}. ")
                    }
                    _ => "* ".to_string(),
                };
                out.prefix(&marker);
            }
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", false) => {
                out.paragraph();
                let level = usize::from(name.as_bytes()[1] - b'0');
                out.prefix(&format!("{} ", "#".repeat(level)));
            }
            ("hr", _) => {
                out.paragraph();
                out.text(&"-".repeat(20));
                out.paragraph();
            }
            ("p" | "table" | "blockquote" | "pre" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6", _) => {
                out.paragraph()
            }
            _ if BLOCKS.contains(&name) => out.line_break(),
            _ => {}
        }
    }
    let mut text = out.finish();
    if !links.is_empty() {
        text.push('\n');
        for (i, link) in links.iter().enumerate() {
            let _ = writeln!(text, "[{}]: {link}", i + 1);
        }
    }
    Ok(text)
}

/// The index of the `>` that ends the tag starting `text`, skipping `>` inside quoted values.
fn tag_end(text: &str) -> Option<usize> {
    let mut quote = None;
    for (i, b) in text.bytes().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// A start or end tag.
struct Tag<'a> {
    name: Cow<'a, str>,
    closing: bool,
    self_closing: bool,
    attrs: &'a str,
}

impl<'a> Tag<'a> {
    fn parse(raw: &'a str) -> Option<Tag<'a>> {
        let inner = raw
            .strip_prefix('<')?
            .strip_suffix('>')
            .unwrap_or(&raw[1..]);
        let (closing, inner) = match inner.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, inner),
        };
        let name_len = inner
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(inner.len());
        let name = &inner[..name_len];
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        Some(Tag {
            name,
            closing,
            self_closing: inner.trim_end().ends_with('/'),
            attrs: &inner[name_len..],
        })
    }

    /// The value of attribute `name` (quoted or not).
    fn attr(&self, name: &str) -> Option<&'a str> {
        let mut rest = self.attrs;
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
            if rest.is_empty() {
                return None;
            }
            let key_len = rest
                .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
                .unwrap_or(rest.len());
            let key = &rest[..key_len];
            rest = rest[key_len..].trim_start();
            let mut value = "";
            if let Some(after) = rest.strip_prefix('=') {
                let after = after.trim_start();
                let (v, next) = match after.chars().next() {
                    Some(q @ ('"' | '\'')) => {
                        let end = after[1..].find(q).map_or(after.len(), |i| i + 1);
                        (&after[1..end], &after[(end + 1).min(after.len())..])
                    }
                    _ => {
                        let end = after.find(char::is_whitespace).unwrap_or(after.len());
                        (&after[..end], &after[end..])
                    }
                };
                value = v;
                rest = next;
            }
            if key.eq_ignore_ascii_case(name) {
                return Some(value);
            }
        }
    }

    /// Whether the element is hidden from view (`display:none`, the `hidden` attribute).
    fn hidden(&self) -> bool {
        static DISPLAY: LazyLock<Finder> = LazyLock::new(|| Finder::new("display"));
        static HIDDEN: LazyLock<Finder> = LazyLock::new(|| Finder::new("hidden"));
        let attrs = self.attrs.as_bytes();
        if DISPLAY.find(attrs).is_none() && HIDDEN.find(attrs).is_none() {
            return false; // most tags: no need to find and read the style attribute
        }
        let style = self.attr("style").unwrap_or_default();
        let hidden_style = style.match_indices("display").any(|(i, _)| {
            let value = style[i + 7..].trim_start();
            value.strip_prefix(':').is_some_and(|v| {
                v.trim_start()
                    .get(..4)
                    .is_some_and(|v| v.eq_ignore_ascii_case("none"))
            })
        });
        hidden_style || self.attrs.contains("hidden") && self.attr("hidden").is_some()
    }
}

/// Decodes the character references that email HTML uses.
fn decode(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|&e| e <= 10);
        let decoded = end.and_then(|e| entity(&rest[1..e]).map(|c| (c, e)));
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
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

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "zwnj" | "zwj" | "shy" => '\u{200b}',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "rarr" => '→',
        "larr" => '←',
        "middot" => '·',
        "bull" => '•',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "laquo" => '«',
        "raquo" => '»',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        _ => return None,
    })
}

/// Accumulates words into wrapped lines and paragraphs.
#[derive(Default)]
struct Writer {
    out: String,
    /// The current line, not yet wrapped out.
    line: String,
    /// Characters in `line`.
    width: usize,
    /// Blank lines wanted before the next text: 0 none, 1 new line, 2 new paragraph.
    pending_break: u8,
    /// Text to put at the start of the next line (a list or heading marker).
    marker: String,
    /// Whether a space should come before the next word.
    space: bool,
}

impl Writer {
    fn len(&self) -> usize {
        self.out.len() + self.line.len()
    }

    /// Whether any visible text was written since `start` (an earlier `len()`).
    fn wrote_since(&self, start: usize) -> bool {
        let out = self
            .out
            .get(start.min(self.out.len())..)
            .unwrap_or_default();
        let line_start = start.saturating_sub(self.out.len());
        let line = self
            .line
            .get(line_start.min(self.line.len())..)
            .unwrap_or_default();
        !out.trim().is_empty() || !line.trim().is_empty()
    }

    /// The text written since `start`, when it is all still in the current line.
    fn line_since(&self, start: usize) -> Option<&str> {
        let line_start = start.checked_sub(self.out.len())?;
        self.line.get(line_start..).map(str::trim)
    }

    fn text(&mut self, text: &str) {
        if text.starts_with(char::is_whitespace) {
            self.space = true;
        }
        for word in text.split(|c: char| c.is_whitespace() || c == '\u{200b}') {
            if word.is_empty() {
                continue;
            }
            self.word(word);
            self.space = true;
        }
        if !text.ends_with(char::is_whitespace) && !text.is_empty() {
            self.space = text.trim().is_empty() && self.space;
        }
    }

    /// Appends `text` directly after the last word (a footnote marker).
    fn glue(&mut self, text: &str) {
        self.line.push_str(text);
        self.width += text.chars().count();
        self.space = true;
    }

    fn word(&mut self, word: &str) {
        self.flush_break();
        let len = word.chars().count();
        if !self.line.is_empty() && self.width + 1 + len > WIDTH {
            self.out.push_str(self.line.trim_end());
            self.out.push('\n');
            self.line.clear();
            self.width = 0;
            self.space = false;
        }
        if self.line.is_empty() && !self.marker.is_empty() {
            let marker = std::mem::take(&mut self.marker);
            self.width = marker.chars().count();
            self.line.push_str(&marker);
            self.space = false;
        }
        if self.space && !self.line.is_empty() && !self.line.ends_with(' ') {
            self.line.push(' ');
            self.width += 1;
        }
        self.line.push_str(word);
        self.width += len;
        self.space = false;
    }

    fn flush_break(&mut self) {
        if self.pending_break == 0 {
            return;
        }
        if !self.line.trim().is_empty() {
            self.out.push_str(self.line.trim_end());
            self.out.push('\n');
        }
        self.line.clear();
        self.width = 0;
        if self.pending_break > 1 && !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
        self.pending_break = 0;
        self.space = false;
    }

    fn line_break(&mut self) {
        self.pending_break = self.pending_break.max(1);
    }

    fn paragraph(&mut self) {
        self.pending_break = 2;
    }

    fn prefix(&mut self, marker: &str) {
        self.flush_break();
        if !self.line.trim().is_empty() {
            self.out.push_str(self.line.trim_end());
            self.out.push('\n');
            self.line.clear();
            self.width = 0;
        }
        self.marker = marker.to_string();
    }

    fn finish(mut self) -> String {
        if !self.line.trim().is_empty() {
            self.out.push_str(self.line.trim_end());
        }
        let mut text = self.out.trim().to_string();
        text.push('\n');
        text
    }
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
        let text = from_html(html).unwrap();
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
        let text = from_html(&format!("<p>{long}</p>")).unwrap();
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert_eq!(text.split_whitespace().count(), 40);
    }

    #[test]
    fn attributes_and_entities() {
        let tag = Tag::parse(r#"<img alt='a > b' src="x.png" hidden>"#).unwrap();
        assert_eq!(tag.attr("alt"), Some("a > b"));
        assert_eq!(tag.attr("src"), Some("x.png"));
        assert!(tag.hidden());
        assert_eq!(
            decode("&lt;b&gt; &#x2F; &#47; &bogus; &"),
            "<b> / / &bogus; &"
        );
    }
}
