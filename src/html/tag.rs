//! A tag and its attributes, read the way HTML5's tokenizer reads them (§13.2.5.32–40): a name runs
//! to white space, `/` or `>`; an attribute name may start with `=` and hold a quote; a value is
//! quoted (either kind, `<`, `>` and `=` inside being part of it) or runs to white space or `>`.
//! The lexer finds where a tag ends with [`attribute`]; [`Tag::attributes`] reads them again, on
//! demand, so a tag nobody asks about costs one pass.

use std::borrow::Cow;

/// A start or end tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag<'a> {
    /// As written (compare with [`Tag::is`]).
    pub name: &'a str,
    /// Written as `<…/>`.
    pub self_closing: bool,
    pub(super) input: &'a str,
    /// Where the attributes start in `input`, and where the tag's `>` is.
    pub(super) attrs: usize,
    pub(super) end: usize,
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

impl<'a> Tag<'a> {
    pub(super) fn new(
        name: &'a str,
        self_closing: bool,
        input: &'a str,
        attrs: usize,
        end: usize,
    ) -> Tag<'a> {
        Tag {
            name,
            self_closing,
            input,
            attrs,
            end,
        }
    }

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
pub(super) enum Step {
    /// An attribute (positions of its name and value) and the position after it.
    Attribute(Found, usize),
    /// A `/` outside any value, and the position after it.
    Slash(usize),
    /// The tag's `>`.
    End(usize),
}

#[derive(Clone, Copy)]
pub(super) struct Found {
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
pub(super) fn attribute(bytes: &[u8], mut pos: usize) -> Option<Step> {
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

pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r')
}
