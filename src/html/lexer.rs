//! The one HTML lexer: splits a document into text, comments, declarations, start and end tags and
//! the raw content of `<style>`, `<script>` and the like, reading tags the way HTML5's tokenizer
//! does. It builds no tree and needs no well-formedness; every reader of HTML here (the text part,
//! the content lint, image embedding) walks its tokens.
//!
//! Tag reading follows HTML5 where it matters for what is found in a tag: a tag name runs to white
//! space, `/` or `>`; an attribute value is read only as the value of its own attribute, so `<`,
//! `>` and `=` inside quotes (either kind) are part of it; an attribute name may start with `=` and
//! hold a quote; a tag cut off by the end of the input is dropped (and [`Lexer::cut_off`] says so).
//! `<!--` … `-->` (or `--!>`; `<!-->` and `<!--->` are empty) is a comment; `<!…>`, `<?…>` and `</`
//! not followed by a letter are declarations (the standard's bogus comments) read to the next `>`;
//! `</>` is nothing; a raw-text element's start tag opens raw text even when written `<style/>`, as
//! the standard ignores `/` on elements that are not void; and a `<` that opens nothing is text.

use std::borrow::Cow;

use memchr::memmem;

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

/// A start or end tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag<'a> {
    /// As written (compare with [`Tag::is`]).
    pub name: &'a str,
    /// Written as `<…/>`.
    pub self_closing: bool,
    input: &'a str,
    /// Where the attributes start in `input`, and where the tag's `>` is.
    attrs: usize,
    end: usize,
}

/// One attribute of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// As written.
    pub name: &'a str,
    /// Empty when the attribute has no value; references not decoded.
    pub value: &'a str,
    /// Where the value starts in the input.
    pub at: usize,
    /// Whether the value was written in quotes (either kind).
    pub quoted: bool,
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
                    let tag = Tag {
                        name,
                        self_closing,
                        input: self.input,
                        attrs,
                        end: gt,
                    };
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

impl<'a> Tag<'a> {
    /// Whether the tag's name is `name` (ASCII case ignored).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The name in lower case (borrowed when it is written so).
    pub fn lower_name(&self) -> Cow<'a, str> {
        if self.name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(self.name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(self.name)
        }
    }

    /// Everything between the name and the `>`, as written.
    pub fn attributes_text(&self) -> &'a str {
        &self.input[self.attrs..self.end]
    }

    /// The attributes in the order written.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + 'a {
        let input = self.input;
        let bytes = &input.as_bytes()[..=self.end];
        let mut pos = self.attrs;
        std::iter::from_fn(move || {
            loop {
                match attribute(bytes, pos)? {
                    Step::Attribute(found, after) => {
                        pos = after;
                        return Some(found.resolve(input));
                    }
                    Step::Slash(after) => pos = after,
                    Step::End(_) => return None,
                }
            }
        })
    }

    /// The value of the first attribute called `name` (ASCII case ignored), as parsers keep the
    /// first of duplicates.
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        self.attributes()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .map(|a| a.value)
    }
}

/// What comes next inside a tag.
enum Step {
    /// An attribute (positions of its name and value) and the position after it.
    Attribute(Found, usize),
    /// A `/` outside any value, and the position after it.
    Slash(usize),
    /// The tag's `>`.
    End(usize),
}

#[derive(Clone, Copy)]
struct Found {
    name: (usize, usize),
    value: (usize, usize),
    quoted: bool,
}

impl Found {
    fn resolve(self, input: &str) -> Attribute<'_> {
        Attribute {
            name: &input[self.name.0..self.name.1],
            value: &input[self.value.0..self.value.1],
            at: self.value.0,
            quoted: self.quoted,
        }
    }
}

/// Reads from `pos` inside a tag to the next attribute, `/` or `>`; `None` at the end of input.
fn attribute(bytes: &[u8], mut pos: usize) -> Option<Step> {
    while pos < bytes.len() && is_space(bytes[pos]) {
        pos += 1;
    }
    match *bytes.get(pos)? {
        b'>' => return Some(Step::End(pos)),
        b'/' => return Some(Step::Slash(pos + 1)),
        _ => {}
    }
    let name_start = pos;
    pos += 1; // a leading `=` belongs to the name
    while pos < bytes.len() && !is_space(bytes[pos]) && !matches!(bytes[pos], b'/' | b'>' | b'=') {
        pos += 1;
    }
    let name = (name_start, pos);
    let mut after_name = pos;
    while after_name < bytes.len() && is_space(bytes[after_name]) {
        after_name += 1;
    }
    if bytes.get(after_name) != Some(&b'=') {
        let found = Found {
            name,
            value: (pos, pos),
            quoted: false,
        };
        return Some(Step::Attribute(found, pos));
    }
    pos = after_name + 1;
    while pos < bytes.len() && is_space(bytes[pos]) {
        pos += 1;
    }
    let quoted = matches!(bytes.get(pos), Some(b'"' | b'\''));
    let (value, next) = match bytes.get(pos) {
        Some(&quote @ (b'"' | b'\'')) => {
            let start = pos + 1;
            let end = memchr::memchr(quote, &bytes[start..]).map(|i| start + i)?;
            ((start, end), end + 1)
        }
        _ => {
            let start = pos;
            while pos < bytes.len() && !is_space(bytes[pos]) && bytes[pos] != b'>' {
                pos += 1;
            }
            ((start, pos), pos)
        }
    };
    Some(Step::Attribute(
        Found {
            name,
            value,
            quoted,
        },
        next,
    ))
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r')
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
