//! Writing a text part, for both ways of making one (from the HTML, `text.rs`, and from a Markdown
//! body, `markdown_text.rs`): words wrapped into lines of at most [`WIDTH`] characters (RFC 5322
//! asks for under 78), never inside a word or URL, paragraphs and line breaks, list prefixes, and
//! links numbered as footnotes listed at the end.

use std::fmt::Write;

/// Line width of the text part.
pub(super) const WIDTH: usize = 76;

/// Link targets numbered as footnotes: one way for the text part derived from HTML and the one
/// derived from Markdown.
#[derive(Default)]
pub(super) struct Footnotes(Vec<String>);

impl Footnotes {
    /// After a link's text, written to `out` since `start`: the URL itself when the link has no
    /// text, nothing when the text is the URL, else its footnote marker (`[2]`, the same number
    /// for the same target). Returns whether a marker was written.
    pub(super) fn link(&mut self, out: &mut Writer, href: String, start: usize) -> bool {
        if !out.wrote_since(start) {
            out.text(&format!(" {href} "));
            return false;
        }
        let text = out.line_since(start);
        if text.is_some_and(|t| t == href || t == href.trim_start_matches("mailto:")) {
            return false;
        }
        let n = match self.0.iter().position(|l| *l == href) {
            Some(n) => n,
            None => {
                self.0.push(href);
                self.0.len() - 1
            }
        };
        out.glue(&format!("[{}]", n + 1));
        true
    }

    /// `text`, then a blank line and a `[n]: url` line for each link.
    pub(super) fn after(self, mut text: String) -> String {
        if !self.0.is_empty() {
            text.push('\n');
            for (i, link) in self.0.iter().enumerate() {
                let _ = writeln!(text, "[{}]: {link}", i + 1);
            }
        }
        text
    }
}

/// Accumulates words into wrapped lines and paragraphs.
#[derive(Default)]
pub(super) struct Writer {
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
    pub(super) fn len(&self) -> usize {
        self.out.len() + self.line.len()
    }

    /// Whether any visible text was written since `start` (an earlier `len()`).
    pub(super) fn wrote_since(&self, start: usize) -> bool {
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
    pub(super) fn line_since(&self, start: usize) -> Option<&str> {
        let line_start = start.checked_sub(self.out.len())?;
        self.line.get(line_start..).map(str::trim)
    }

    pub(super) fn text(&mut self, text: &str) {
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
    pub(super) fn glue(&mut self, text: &str) {
        self.line.push_str(text);
        self.width += text.chars().count();
        self.space = true;
    }

    /// Puts no space before the next text (a footnote marker directly followed by `.`).
    pub(super) fn join_next(&mut self) {
        self.space = false;
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

    pub(super) fn line_break(&mut self) {
        self.pending_break = self.pending_break.max(1);
    }

    pub(super) fn paragraph(&mut self) {
        self.pending_break = 2;
    }

    pub(super) fn prefix(&mut self, marker: &str) {
        self.flush_break();
        if !self.line.trim().is_empty() {
            self.out.push_str(self.line.trim_end());
            self.out.push('\n');
            self.line.clear();
            self.width = 0;
        }
        self.marker = marker.to_string();
    }

    pub(super) fn finish(mut self) -> String {
        if !self.line.trim().is_empty() {
            self.out.push_str(self.line.trim_end());
        }
        let mut text = self.out.trim().to_string();
        text.push('\n');
        text
    }
}
