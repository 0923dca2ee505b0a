//! The one HTML lexer: splits a document into text, comments, declarations, start and end tags and
//! the raw content of `<style>`, `<script>` and the like, reading tags the way HTML5's tokenizer
//! does. It builds no tree and needs no well-formedness; every reader of HTML here (the text part,
//! the content lint, image embedding, the shape splitter, link tagging) walks its tokens.
//!
//! Tag reading follows HTML5 where it matters for what is found in a tag: a tag name runs to white
//! space, `/` or `>`; an attribute value is read only as the value of its own attribute, so `<`,
//! `>` and `=` inside quotes (either kind) are part of it; an attribute name may start with `=` and
//! hold a quote; a tag cut off by the end of the input is dropped (and [`Lexer::cut_off`] says so).
//! `<!--` … `-->` (or `--!>`; `<!-->` and `<!--->` are empty) is a comment; `<!…>`, `<?…>` and `</`
//! not followed by a letter are declarations (the standard's bogus comments) read to the next `>`;
//! `</>` is nothing; a raw-text element's start tag opens raw text even when written `<style/>`, as
//! the standard ignores `/` on elements that are not void; and a `<` that opens nothing is text.

use memchr::memmem;

pub use super::tag::{Attribute, Tag};
use super::tag::{Step, attribute, is_space};

/// Elements whose content is raw text up to their end tag: never tags, never references to
/// decode for markup (the tokenizer's RAWTEXT, RCDATA and script states).
pub const RAW_TEXT: &[&str] = &[
    "style", "script", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea", "title",
];

/// One piece of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    /// Text between tags, references not decoded ([`super::entities::decode`]).
    Text(&'a str),
    /// A comment; `at` is where its body starts in the input (for reading it as markup again).
    Comment {
        body: &'a str,
        at: usize,
    },
    /// `<!DOCTYPE …>`, `<?…>` and other `<!…>`: the whole thing.
    Declaration(&'a str),
    Start(Tag<'a>),
    End(Tag<'a>),
    /// The content of a [`RAW_TEXT`] element, after its start tag; `at` is where it starts.
    Raw {
        text: &'a str,
        at: usize,
    },
}

/// The tokens of a document (or of a part of one, see [`Lexer::within`]).
pub struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    end: usize,
    /// The raw-text element whose content comes next.
    raw: Option<&'static str>,
    /// A tag was cut off by the end of the input (and dropped).
    cut_off: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(input: &'a str) -> Lexer<'a> {
        Lexer::within(input, 0, input.len())
    }

    /// The tokens of `input[start..end]`, positions still counted in the whole `input` (for
    /// reading a comment's body or a raw element's content as markup).
    pub fn within(input: &'a str, start: usize, end: usize) -> Lexer<'a> {
        Lexer {
            input,
            pos: start,
            end,
            raw: None,
            cut_off: false,
        }
    }

    /// Whether a tag was cut off by the end of the input so far (the standard drops it; a reader
    /// that must account for every byte cannot).
    pub fn cut_off(&self) -> bool {
        self.cut_off
    }

    fn bytes(&self) -> &'a [u8] {
        &self.input.as_bytes()[..self.end]
    }

    /// The content of the raw-text element `name`, up to its end tag.
    fn raw_text(&mut self, name: &str) -> Token<'a> {
        let at = self.pos;
        let close = closing_tag(self.bytes(), at, name).unwrap_or(self.end);
        self.pos = close;
        Token::Raw {
            text: &self.input[at..close],
            at,
        }
    }

    /// The token at `<` (`self.pos`); `None` when it opens nothing (it is text) or, with `self.pos`
    /// moved on, when what it opens yields no token.
    fn markup(&mut self) -> Option<Token<'a>> {
        let bytes = self.bytes();
        let lt = self.pos;
        let rest = &bytes[lt..];
        if rest.starts_with(b"<!--") {
            return Some(self.comment(lt));
        }
        let closing = rest.get(1) == Some(&b'/');
        if closing && rest.get(2) == Some(&b'>') {
            self.pos = lt + 3; // `</>`: nothing at all
            return None;
        }
        let bogus = closing && !rest.get(2).is_some_and(u8::is_ascii_alphabetic);
        if rest.starts_with(b"<!") || rest.starts_with(b"<?") || bogus {
            let close = memchr::memchr(b'>', rest).map_or(self.end, |j| lt + j + 1);
            self.pos = close;
            return Some(Token::Declaration(&self.input[lt..close]));
        }
        let name_start = lt + 1 + usize::from(closing);
        if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        let Some((tag, after)) = self.tag(name_start) else {
            self.pos = self.end; // cut off by the end of the input: dropped, as HTML5 does
            self.cut_off = true;
            return None;
        };
        self.pos = after;
        if closing {
            return Some(Token::End(tag));
        }
        self.raw = RAW_TEXT.iter().find(|raw| tag.is(raw)).copied();
        Some(Token::Start(tag))
    }

    /// The comment at `lt`: to the first `-->` or `--!>`, or the end of the input; `<!-->` and
    /// `<!--->` are empty comments (§13.2.5.43–52).
    fn comment(&mut self, lt: usize) -> Token<'a> {
        let bytes = self.bytes();
        let body = lt + 4;
        for abrupt in [&b"<!-->"[..], b"<!--->"] {
            if bytes[lt..].starts_with(abrupt) {
                self.pos = lt + abrupt.len();
                return Token::Comment { body: "", at: body };
            }
        }
        let ends = [(&b"-->"[..], 3), (b"--!>", 4)];
        let (close, after) = ends
            .iter()
            .filter_map(|&(end, len)| memmem::find(&bytes[body..], end).map(|j| (body + j, len)))
            .min()
            .map_or((self.end, 0), |(close, len)| (close, close + len));
        self.pos = after.max(close);
        Token::Comment {
            body: &self.input[body..close],
            at: body,
        }
    }

    /// Reads the tag whose name starts at `at`: the tag and the position after its `>`. `None` when
    /// the input ends inside it.
    fn tag(&self, at: usize) -> Option<(Tag<'a>, usize)> {
        let bytes = self.bytes();
        let mut pos = at;
        while pos < bytes.len() && !is_space(bytes[pos]) && !matches!(bytes[pos], b'/' | b'>') {
            pos += 1;
        }
        let name = &self.input[at..pos];
        let attrs = pos;
        let mut self_closing = false;
        loop {
            match attribute(bytes, pos)? {
                Step::Attribute(_, after) => {
                    self_closing = false;
                    pos = after;
                }
                Step::Slash(after) => {
                    self_closing = bytes.get(after) == Some(&b'>');
                    pos = after;
                }
                Step::End(gt) => {
                    let tag = Tag::new(name, self_closing, self.input, attrs, gt);
                    return Some((tag, gt + 1));
                }
            }
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if let Some(name) = self.raw.take() {
            return Some(self.raw_text(name));
        }
        while self.pos < self.end {
            let bytes = self.bytes();
            if bytes[self.pos] == b'<' {
                let lt = self.pos;
                if let Some(token) = self.markup() {
                    return Some(token);
                }
                if self.pos > lt {
                    continue;
                }
                // A `<` that opens nothing: text up to the next `<` after it.
                let end = memchr::memchr(b'<', &bytes[lt + 1..]).map_or(self.end, |i| lt + 1 + i);
                self.pos = end;
                return Some(Token::Text(&self.input[lt..end]));
            }
            let start = self.pos;
            let end = memchr::memchr(b'<', &bytes[start..]).map_or(self.end, |i| start + i);
            self.pos = end;
            return Some(Token::Text(&self.input[start..end]));
        }
        None
    }
}

/// Where `</name` followed by white space, `/` or `>` starts (ASCII case ignored), from `from` on.
pub fn closing_tag(bytes: &[u8], from: usize, name: &str) -> Option<usize> {
    let mut at = from;
    loop {
        let lt = at + memmem::find(&bytes[at..], b"</")?;
        let after = lt + 2 + name.len();
        if bytes
            .get(lt + 2..after)
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            && bytes
                .get(after)
                .is_none_or(|&b| is_space(b) || b == b'/' || b == b'>')
        {
            return Some(lt);
        }
        at = lt + 2;
    }
}

/// Where `part`, a slice of `input` (such as a [`Token::Text`]), starts in it.
pub fn offset(input: &str, part: &str) -> usize {
    let at = (part.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
    debug_assert!(at + part.len() <= input.len(), "a slice of the input");
    at
}
