//! The HTML part after CSS inlining ([`super::inline`]): local images found so they can be embedded
//! as `cid:` parts (RFC 2392) while remote `http(s)` images are left alone, and the browser copy of
//! the page for the dry run. Which files may be embedded is [`super::images`]' decision.

use std::path::Path;
use std::sync::Arc;

use super::error::RenderError;
use super::images::{Image, Images};
use crate::html::{Lexer, Token};

/// The HTML part with its local images embedded.
pub struct Embedded {
    /// The HTML for the message, local images as `cid:`.
    pub html: String,
    /// The images it embeds, each once.
    pub images: Vec<Arc<Image>>,
    /// The browser copy (images pointing at the files), when asked for.
    pub preview_html: Option<String>,
}

/// Where an `<img src="…">` value sits in an HTML string.
pub(crate) struct Src<'a> {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) value: &'a str,
}

/// The `src` value of every `<img>` tag, found with the one HTML lexer ([`crate::html`]), which
/// reads each tag attribute by attribute: css-inline writes `<`, `>` and `=` in values as they are
/// (`alt="Logo src="`, `title="<img src=x>"`), and a name may even hold a quote (`a"b="c"`), so an
/// attribute value is only ever read as the value of its own attribute. Comments (Outlook reads its
/// `<!--[if mso]>` blocks) and the raw text of `<noscript>` and the like are the template's own
/// markup and are read again as markup; `<style>` and `<script>` are not.
pub(crate) fn img_sources(html: &str) -> Vec<Src<'_>> {
    let mut found = Vec::new();
    scan(html, Lexer::new(html), &mut found);
    found
}

/// Raw-text elements whose content css-inline writes as it is and a mail client may show as
/// markup.
const MARKUP_INSIDE: &[&str] = &["noscript", "xmp", "iframe", "noembed", "noframes"];

/// Adds the `<img>` sources among `tokens` (of `html`) to `found`.
fn scan<'a>(html: &'a str, tokens: Lexer<'a>, found: &mut Vec<Src<'a>>) {
    let mut markup_inside = false;
    for token in tokens {
        match token {
            Token::Comment { body, at } => {
                scan(html, Lexer::within(html, at, at + body.len()), found)
            }
            Token::Raw { text, at } if markup_inside => {
                scan(html, Lexer::within(html, at, at + text.len()), found);
            }
            Token::Start(tag) => {
                markup_inside = MARKUP_INSIDE.iter().any(|name| tag.is(name));
                // The first `src`, as parsers keep the first of duplicate attributes.
                let src = tag
                    .attributes()
                    .find(|a| a.name.eq_ignore_ascii_case("src"));
                if let Some(src) = src.filter(|_| tag.is("img")) {
                    found.push(Src {
                        start: src.at,
                        end: src.at + src.value.len(),
                        value: src.value,
                    });
                }
            }
            _ => {}
        }
    }
}

fn is_local(src: &str) -> bool {
    let lower = src.trim_start().to_ascii_lowercase();
    !(lower.is_empty()
        || lower.starts_with("http:")
        || lower.starts_with("https:")
        || lower.starts_with("cid:")
        || lower.starts_with("data:")
        || lower.starts_with("//"))
}

/// Replaces each local `<img src>` with `cid:`; returns the new HTML and the images it uses
/// (each once), plus, when `preview` is set, a browser copy whose images point at the files.
pub fn embed(images: &Images, html: &str, preview: bool) -> Result<Embedded, RenderError> {
    let sources = img_sources(html);
    if !sources.iter().any(|s| is_local(s.value)) {
        return Ok(Embedded {
            html: html.to_string(),
            images: Vec::new(),
            preview_html: preview.then(|| html.to_string()),
        });
    }
    let mut mail = String::with_capacity(html.len());
    let mut browser = String::new();
    let mut used: Vec<Arc<Image>> = Vec::new();
    let mut last = 0;
    for src in sources.iter().filter(|s| is_local(s.value)) {
        let image = images.get(src.value)?;
        mail.push_str(&html[last..src.start]);
        mail.push_str("cid:");
        mail.push_str(&image.content_id);
        if preview {
            browser.push_str(&html[last..src.start]);
            browser.push_str(&file_url(&image.path));
        }
        last = src.end;
        if !used.iter().any(|u| Arc::ptr_eq(u, &image)) {
            used.push(image);
        }
    }
    mail.push_str(&html[last..]);
    let browser = preview.then(|| {
        browser.push_str(&html[last..]);
        browser
    });
    Ok(Embedded {
        html: mail,
        images: used,
        preview_html: browser,
    })
}

/// A `file://` URL for a local path, percent-encoding what a browser would misread.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_img_sources_and_locality() {
        let html =
            r#"<p><img alt="a" src="images/logo.png"><img src="https://x.example/b.jpg"></p>"#;
        let found: Vec<&str> = img_sources(html).iter().map(|s| s.value).collect();
        assert_eq!(found, ["images/logo.png", "https://x.example/b.jpg"]);
        assert!(is_local("images/logo.png"));
        assert!(!is_local("HTTPS://x.example/b.jpg"));
        assert!(!is_local("cid:abc"));
    }

    #[test]
    fn img_src_scan_is_not_fooled_by_a_value_ending_in_src() {
        let sources = |html: &str| -> Vec<String> {
            img_sources(html)
                .iter()
                .map(|s| {
                    assert_eq!(&html[s.start..s.end], s.value);
                    s.value.to_string()
                })
                .collect()
        };
        // css-inline writes every value in double quotes with `"` as `&quot;`, but `<`, `>`
        // and `=` as they are, so a value can look like the start of another attribute or tag.
        for (html, wanted) in [
            (
                r#"<img alt="Logo src=" src="images/logo.png">"#,
                &["images/logo.png"][..],
            ),
            (
                r#"<img alt=" src=" src="images/logo.png">"#,
                &["images/logo.png"],
            ),
            (
                r#"<img data-x="a src=" alt="b"  src="images/logo.png">"#,
                &["images/logo.png"],
            ),
            (
                r#"<img alt="x src=&quot;other.png&quot;" src="images/logo.png">"#,
                &["images/logo.png"],
            ),
            (r#"<img alt="Logo src="><p>x</p>"#, &[]),
            (
                r#"<p title="<img src=&quot;x.png&quot;>">a</p><img src="b.png">"#,
                &["b.png"],
            ),
            (
                r#"<p title="<img src=" class="a">x</p><img src="b.png">"#,
                &["b.png"],
            ),
            (
                r#"<a href="x"><img src="a.png" alt="<img src=" title=">"></a>"#,
                &["a.png"],
            ),
            (
                r#"<style>p{content:"<img src=\"c.png\">"}</style><img src="d.png">"#,
                &["d.png"],
            ),
            (r#"<imgx src="a.png"><img src="b.png"/>"#, &["b.png"]),
            (r#"<IMG SRC="a.png">"#, &["a.png"]),
            // The tokenizer keeps a quote in an attribute name, and css-inline writes it back:
            // counting quotes to find a tag's end would go wrong here.
            (
                r#"<p a"b="<img src=x.png>">t</p><img a"b="c" src="d.png">"#,
                &["d.png"],
            ),
            // Outlook's conditional comments are read by Outlook: their images count.
            (
                r#"<!--[if mso]><img src='o.png' alt="x"><![endif]--><img src="b.png">"#,
                &["o.png", "b.png"],
            ),
        ] {
            assert_eq!(sources(html), wanted, "{html}");
        }
    }

    /// Generated pages as css-inline writes them (every value in double quotes, `&` and `"`
    /// escaped, `<`, `>` and `=` as they are), with values that look like attributes and tags.
    #[test]
    fn generated_img_tags_give_exactly_their_sources() {
        const PIECES: &[&str] = &[
            "Logo",
            " src=",
            "src=",
            "\"",
            "<img src=",
            "<img src=\"x.png\">",
            ">",
            "<",
            "=",
            "'",
            " ",
            "&",
            "images/a.png",
            "<!--",
            "-->",
            "</style>",
            "<style>",
            "\u{a0}",
        ];
        let escape = |v: &str| {
            v.replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('\u{a0}', "&nbsp;")
        };
        let mut rng = fastrand::Rng::with_seed(0x1019);
        for case in 0..3000 {
            let mut value = || -> String {
                let raw: String = (0..rng.usize(0..4))
                    .map(|_| PIECES[rng.usize(..PIECES.len())])
                    .collect();
                escape(&raw)
            };
            let mut html = String::new();
            let mut wanted = Vec::new();
            for i in 0..4 {
                let (a, b, c) = (value(), value(), value());
                match (case + i) % 4 {
                    0 => {
                        let src = format!("images/{i}-{}.png", value());
                        html += &format!("<img alt=\"{a}\" src=\"{src}\" title=\"{b}\">");
                        wanted.push(src);
                    }
                    1 => {
                        html += &format!(
                            "<p title=\"{a}\" data-x=\"{b}\">{}</p>",
                            c.replace('<', "&lt;")
                        )
                    }
                    2 => html += &format!("<img alt=\"{a}\" title=\"{b}\">"),
                    _ => html += &format!("<a href=\"{a}\"><img data-src=\"{b}\" alt=\"{c}\"></a>"),
                }
            }
            let found: Vec<&str> = img_sources(&html).iter().map(|s| s.value).collect();
            assert_eq!(found, wanted, "{html}");
        }
    }
}
