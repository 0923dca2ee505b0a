//! A Markdown body (`content = "email.md"`): the file is a Tera template whose output is CommonMark
//! with the GitHub extensions mail needs (tables, strikethrough, task lists), turned into HTML by
//! pulldown-cmark and put into a block of a layout by a small wrapper template
//! (`{% extends "base.html" %}{% block content %}…{% endblock %}`), so the layout renders per
//! recipient as an HTML template would. The text part is derived from the Markdown itself
//! ([`super::markdown_text`]), not from the HTML: cleaner, and the sender's own structure.
//!
//! Values are escaped for Markdown as well as HTML: in the Markdown template, Tera's autoescape
//! turns every ASCII punctuation character of a value into a character reference (`*` → `&#42;`),
//! and CommonMark reads a character reference as that character shown, never as markup. A CSV
//! value `**x**`, `[a](javascript:…)` or `<script>` is shown as written; it cannot make text bold,
//! a link or a tag. The template's own Markdown and raw HTML (CommonMark allows it) are the
//! sender's and kept; `{{ value | safe }}` opts a value out, as in HTML templates.

use std::cell::Cell;

use pulldown_cmark::{Options, Parser};

use tera::Context;

use super::RenderError;
use super::templates::TemplateSet;
use crate::campaign::MarkdownLayout;
use crate::invalid;

/// The Tera name of the wrapper template that puts the Markdown's HTML into the layout (`.html`:
/// Tera autoescapes a render by the name of the template rendered, so the layout's values are
/// escaped as in any HTML template).
pub const WRAPPER: &str = "__markdown_in_layout__.html";
/// The variable holding the Markdown's HTML while the wrapper renders.
pub const HTML_VAR: &str = "__markdown_html__";

thread_local! {
    /// Set while this thread renders the Markdown template: its values get [`escape_for_markdown`].
    static IN_MARKDOWN: Cell<bool> = const { Cell::new(false) };
}

/// The CommonMark extensions used for both the HTML and the text part.
pub fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// The wrapper template: `layout` extended, its `block` filled with the Markdown's HTML. Both names
/// were checked when the campaign loaded (`campaign::content`), so they cannot break out of it.
pub fn wrapper(layout: &str, block: &str) -> String {
    format!(
        "{{% extends \"{layout}\" %}}{{% block {block} %}}{{{{ {HTML_VAR} | safe }}}}{{% endblock {block} %}}"
    )
}

/// Sets a Markdown campaign's templates up: values escaped by [`escape`], and the wrapper that
/// puts the HTML into the layout's block, refused when the layout is missing or has no such block
/// (the Markdown would vanish without a word).
pub fn install(set: &mut TemplateSet, at: &MarkdownLayout) -> crate::error::Result<()> {
    set.tera.set_escape_fn(escape);
    let source = wrapper(&at.layout, &at.block);
    if let Err(e) = set.tera.add_raw_template(WRAPPER, &source) {
        return Err(invalid!("{}", set.describe(&e, None)));
    }
    let wrapper = set.tera.get_template(WRAPPER).ok();
    let definitions = wrapper.and_then(|t| t.blocks_definitions.get(&at.block));
    // The wrapper's own definition, then the layout's (or a parent's) if it has the block.
    if definitions.map_or(0, Vec::len) < 2 {
        return Err(invalid!(
            "{}: the layout {:?} has no block {:?}, so the Markdown would not be shown: set \
             block to one of the layout's blocks (base.html has title, preheader, header, content, \
             footer), or layout to a layout that has it",
            set.dir().join("campaign.toml").display(),
            at.layout,
            at.block
        ));
    }
    Ok(())
}

/// Stands for the Markdown in the layout's page its text part is read around: a paragraph of its
/// own, which no template writes (U+FFFC is the Unicode "object replacement character").
pub const TEXT_MARK: &str = "\u{FFFC}markdown\u{FFFC}";

/// What a Markdown body's text part is made of.
pub struct Body {
    /// The rendered Markdown.
    pub markdown: String,
    /// The layout's page with [`TEXT_MARK`] in the block instead of the Markdown: the header and
    /// footer around it (the postal address, the unsubscribe link) belong in the text part too.
    pub frame: Option<String>,
}

/// The page of a Markdown body (the template `name`, rendered with values escaped for it, turned
/// into HTML and put into the layout's block), and what its text part is read from (with `frame`,
/// the page around the Markdown too: no text template is there to write it).
pub fn page(
    templates: &TemplateSet,
    name: &str,
    context: &mut Context,
    line: u64,
    frame: bool,
) -> Result<(String, Option<Body>), RenderError> {
    let md = rendering(|| templates.render(name, context, line))?;
    context.insert(HTML_VAR, &to_html(&md));
    let page = templates.render(WRAPPER, context, line);
    let around = frame.then(|| {
        context.insert(HTML_VAR, &format!("<p>{TEXT_MARK}</p>"));
        templates.render(WRAPPER, context, line)
    });
    context.remove(HTML_VAR);
    let body = Body {
        markdown: md,
        frame: around.transpose()?,
    };
    Ok((page?, Some(body)))
}

/// The HTML of a rendered Markdown template.
pub fn to_html(markdown: &str) -> String {
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, Parser::new_ext(markdown, options()));
    html
}

/// Runs `render` (the Markdown template's render) with values escaped for Markdown on this thread.
pub fn rendering<T>(render: impl FnOnce() -> T) -> T {
    /// Clears the flag however `render` ends (a panic is caught further up).
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_MARKDOWN.with(|flag| flag.set(false));
        }
    }
    IN_MARKDOWN.with(|flag| flag.set(true));
    let _reset = Reset;
    render()
}

/// Tera's escape function for a Markdown campaign: HTML escaping as always, and inside the
/// Markdown template ([`rendering`]) every ASCII punctuation character as a character reference.
pub fn escape(value: &str) -> String {
    if IN_MARKDOWN.with(Cell::get) {
        escape_for_markdown(value)
    } else {
        tera::escape_html(value)
    }
}

/// Every ASCII punctuation character (those CommonMark lets a backslash escape) as a numeric
/// character reference: shown as itself, never read as Markdown or HTML.
pub fn escape_for_markdown(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + value.len() / 4);
    for c in value.chars() {
        if c.is_ascii_punctuation() {
            out.push_str("&#");
            out.push_str(&u32::from(c).to_string());
            out.push(';');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape_for_markdown, to_html, wrapper};

    #[test]
    fn escaped_values_are_shown_as_written() {
        for value in [
            "**x**",
            "[a](javascript:alert(1))",
            "<script>x</script>",
            "# h",
            "1. a",
        ] {
            let html = to_html(&format!("Hello {}\n", escape_for_markdown(value)));
            assert!(
                !html.contains("<strong>") && !html.contains("<a ") && !html.contains("<script")
            );
            assert!(!html.contains("<h1>") && !html.contains("<ol>"), "{html}");
        }
        assert_eq!(to_html(&escape_for_markdown("a*b")), "<p>a*b</p>\n");
    }

    #[test]
    fn github_tables_and_strikethrough() {
        let html = to_html("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~\n\n- [x] done\n");
        assert!(
            html.contains("<table>") && html.contains("<td>2</td>"),
            "{html}"
        );
        assert!(
            html.contains("<del>old</del>") && html.contains("checkbox"),
            "{html}"
        );
    }

    #[test]
    fn the_wrapper_extends_the_layout() {
        let w = wrapper("base.html", "content");
        assert_eq!(
            w,
            "{% extends \"base.html\" %}{% block content %}{{ __markdown_html__ | safe }}{% endblock content %}"
        );
    }
}
