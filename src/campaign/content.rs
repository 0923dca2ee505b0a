//! Which template is the message body: an HTML template (`html`, the default `email.html`), or a
//! Markdown one (`content = "email.md"`) whose HTML goes into a block of a layout (`layout`,
//! default `base.html`; `block`, default `content`). The two are one or the other; `layout` and
//! `block` mean something only with `content`. The names are checked here, before Tera sees them,
//! because they are written into the small template that puts the Markdown into the layout
//! (`render::markdown::wrapper`).

use std::path::Path;

use super::config::CampaignFile;
use super::problems::Problems;
use super::{TemplateFile, template};

/// The layout a Markdown body extends when campaign.toml names none.
pub const DEFAULT_LAYOUT: &str = "base.html";
/// The block of the layout that a Markdown body fills when campaign.toml names none.
pub const DEFAULT_BLOCK: &str = "content";

/// Where a Markdown body goes: the layout it extends and the block of it that the HTML fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownLayout {
    pub layout: String,
    pub block: String,
}

/// The body template (`None` with the problem noted) and, when it is Markdown, its layout.
pub(super) fn body(
    p: &mut Problems,
    dir: &Path,
    file: &CampaignFile,
) -> (Option<TemplateFile>, Option<MarkdownLayout>) {
    let Some(content) = &file.content else {
        let set = [("layout", &file.layout), ("block", &file.block)];
        for (key, _) in set.into_iter().filter(|(_, value)| value.is_some()) {
            p.add(
                key,
                format!(
                    "{key} applies only to a Markdown body (content = \"email.md\"): an HTML \
                     template chooses its layout itself with {{% extends %}}; remove {key}"
                ),
            );
        }
        let html = file.html.as_deref().unwrap_or("email.html");
        return (template(p, dir, "html", html), None);
    };
    if let Some(html) = &file.html {
        p.add(
            "content",
            format!(
                "content = {content:?} and html = {html:?} are one or the other: content is a \
                 Markdown body put into a layout, html a whole HTML template; remove one of them"
            ),
        );
    }
    let layout = file.layout.as_deref().unwrap_or(DEFAULT_LAYOUT);
    let block = file.block.as_deref().unwrap_or(DEFAULT_BLOCK);
    check_names(p, layout, block);
    let markdown = MarkdownLayout {
        layout: layout.to_string(),
        block: block.to_string(),
    };
    (template(p, dir, "content", content), Some(markdown))
}

/// Notes a layout name that could break out of the wrapper template, or a block name Tera would
/// not parse.
fn check_names(p: &mut Problems, layout: &str, block: &str) {
    let quoted = layout.contains(['"', '\\']) || layout.contains(char::is_control);
    if layout.is_empty() || quoted {
        let message = format!(
            "layout = {layout:?} is not a template name: name a file of the layouts folder, such \
             as \"base.html\""
        );
        p.add("layout", message);
    }
    let mut chars = block.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        let message = format!(
            "block = {block:?} is not a block name: use letters, digits and _, such as \"content\""
        );
        p.add("block", message);
    }
}

#[cfg(test)]
mod tests {
    use super::check_names;
    use crate::campaign::problems::Problems;

    #[test]
    fn names_that_would_break_out_of_the_wrapper_are_problems() {
        let mut p = Problems::without_lines(std::path::Path::new("campaign.toml"));
        check_names(&mut p, "partials/base.html", "content_2");
        assert_eq!(p.len(), 0);
        check_names(&mut p, "x\" %}{{ get_env(name=\"HOME\") }}", "content");
        assert_eq!(p.len(), 1);
        check_names(&mut p, "base.html", "content %}{{ x }}");
        check_names(&mut p, "", "9");
        assert_eq!(p.len(), 4);
    }
}
