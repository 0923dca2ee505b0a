//! The plain-text part of a Markdown body, read from the Markdown itself rather than from its HTML:
//! headings keep their `#` markers, list items `- ` or `1. `, links become footnotes
//! (`Read more[1]` … `[1]: https://…`, as the HTML-derived text part writes them), images their alt
//! text in brackets, table rows one line each with ` | ` between cells; emphasis is dropped. Raw
//! HTML blocks are read as the HTML-derived text part reads HTML. Lines are wrapped by the same
//! writer as [`super::text`].

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

use super::text::{self, Footnotes, Writer};

/// The text part of a rendered Markdown template alone.
pub fn from_markdown(markdown: &str) -> String {
    let (mut out, mut links) = (Writer::default(), Footnotes::default());
    write(markdown, &mut out, &mut links);
    links.after(out.finish())
}

/// The text part of a rendered Markdown template in the text of the layout's page around it
/// (`frame`, inlined: with [`super::markdown::TEXT_MARK`] where the Markdown goes), in one flow with
/// one list of footnotes; the Markdown's text alone when there is no frame or it does not show the
/// mark (a block the layout hides).
pub fn in_layout(frame: Option<&str>, markdown: &str) -> String {
    let mark = super::markdown::TEXT_MARK;
    let mut fill = |out: &mut Writer, links: &mut Footnotes| write(markdown, out, links);
    let around = frame.and_then(|frame| text::from_html_around(frame, mark, &mut fill));
    around.unwrap_or_else(|| from_markdown(markdown))
}

/// Writes the text of a rendered Markdown template into `out`, its links numbered in `links`:
/// alone, or in the layout's text where the Markdown goes ([`super::text::from_html_around`]).
pub(super) fn write(markdown: &str, out: &mut Writer, links: &mut Footnotes) {
    let mut reader = Reader {
        out,
        links,
        open_links: Vec::new(),
        lists: Vec::new(),
        alt: None,
        first_cell: false,
    };
    for event in Parser::new_ext(markdown, super::markdown::options()) {
        reader.event(event);
    }
}

struct Reader<'a> {
    out: &'a mut Writer,
    /// Link targets, numbered as footnotes.
    links: &'a mut Footnotes,
    /// The open links' targets and where their text starts.
    open_links: Vec<(String, usize)>,
    /// Open lists: `None` for a bullet list, the next number for a numbered one.
    lists: Vec<Option<u64>>,
    /// The alt text of the image being read.
    alt: Option<String>,
    /// Whether the next table cell is the row's first.
    first_cell: bool,
}

impl Reader<'_> {
    fn event(&mut self, event: Event<'_>) {
        if let Some(alt) = &mut self.alt {
            match event {
                Event::End(TagEnd::Image) => {
                    let alt = self.alt.take().unwrap_or_default();
                    if !alt.trim().is_empty() {
                        self.out.text(&format!(" [{}] ", alt.trim()));
                    }
                }
                Event::Text(t) | Event::Code(t) => alt.push_str(&t),
                _ => {}
            }
            return;
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) | Event::Code(t) => self.out.text(&t),
            Event::SoftBreak => self.out.text(" "),
            Event::HardBreak => self.out.line_break(),
            Event::Rule => {
                self.out.paragraph();
                self.out.text(&"-".repeat(20));
                self.out.paragraph();
            }
            Event::TaskListMarker(done) => self.out.text(if done { "[x] " } else { "[ ] " }),
            Event::Html(html) => {
                self.out.paragraph();
                self.out.text(&text::from_html(&html));
            }
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph | Tag::BlockQuote(_) | Tag::CodeBlock(_) | Tag::Table(_) => {
                self.out.paragraph()
            }
            Tag::Heading { level, .. } => {
                self.out.paragraph();
                self.out.prefix(&format!("{} ", "#".repeat(level as usize)));
            }
            Tag::List(start) => {
                self.out.paragraph();
                self.lists.push(start);
            }
            Tag::Item => {
                self.out.line_break();
                let indent = "  ".repeat(self.lists.len().saturating_sub(1));
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{indent}{}. ", *n - 1)
                    }
                    _ => format!("{indent}- "),
                };
                self.out.prefix(&marker);
            }
            Tag::TableHead | Tag::TableRow => {
                self.out.line_break();
                self.first_cell = true;
            }
            Tag::TableCell if !std::mem::take(&mut self.first_cell) => self.out.text(" | "),
            Tag::Link { dest_url, .. } => {
                self.open_links
                    .push((dest_url.trim().to_string(), self.out.len()));
            }
            Tag::Image { .. } => self.alt = Some(String::new()),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::BlockQuote(_)
            | TagEnd::CodeBlock
            | TagEnd::Table => self.out.paragraph(),
            TagEnd::List(_) => {
                self.lists.pop();
                self.out.paragraph();
            }
            TagEnd::TableHead | TagEnd::TableRow => self.out.line_break(),
            TagEnd::Link => {
                if let Some((href, start)) = self.open_links.pop() {
                    self.footnote(href, start);
                }
            }
            _ => {}
        }
    }

    /// After a link's text, its footnote marker (see [`Footnotes::link`]); in-page links get none.
    fn footnote(&mut self, href: String, start: usize) {
        if href.is_empty() || href.starts_with('#') {
            return;
        }
        if self.links.link(self.out, href, start) {
            // A space after the marker comes from the Markdown's own text, if it has one.
            self.out.join_next();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::from_markdown;

    #[test]
    fn reads_as_the_markdown_was_written() {
        let md = "# April news\n\nHello **Ada**, see [our plans](https://acme.example/plans).\n\n\
                  - one\n- two\n\n1. first\n2. second\n\n![The team](team.png)\n\n\
                  | Plan | Price |\n|------|-------|\n| Pro  | 10    |\n";
        let text = from_markdown(md);
        let expected = "# April news\n\nHello Ada, see our plans[1].\n\n- one\n- two\n\n\
                        1. first\n2. second\n\n[The team]\n\nPlan | Price\nPro | 10\n\n\
                        [1]: https://acme.example/plans\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn character_references_are_shown_as_their_characters() {
        assert_eq!(
            from_markdown("Hi &#42;&#42;x&#42;&#42; &#60;b&#62;\n"),
            "Hi **x** <b>\n"
        );
    }
}
