//! The HTML part after CSS inlining ([`super::inline`]): local images found so they can be embedded
//! as `cid:` parts (RFC 2392) while remote `http(s)` images are left alone, and the browser copy of
//! the page for the dry run. Which files may be embedded is [`super::images`]' decision.

use std::path::Path;
use std::sync::Arc;

use memchr::memmem;

use super::images::{Image, Images};

/// The HTML for the message (local images as `cid:`), the images it embeds (each once), and the
/// browser copy when asked for.
pub type Embedded = (String, Vec<Arc<Image>>, Option<String>);

/// Where an `<img src="…">` value sits in an HTML string.
struct Src<'a> {
    start: usize,
    end: usize,
    value: &'a str,
}

/// The `src` value of every `<img>` tag, found by reading css-inline's output tag by tag: an
/// attribute value is only ever read as the value of its own attribute, because css-inline writes
/// `<`, `>` and `=` in values as they are (`alt="Logo src="`, `title="<img src=x>"`), and a name
/// may even hold a quote (`a"b="c"`), so each tag is read attribute by attribute. Comments
/// (Outlook reads its `<!--[if mso]>` blocks) and the raw text of `<noscript>` and the like are the
/// template's own markup and are read the same way, with any kind of quotes; `<style>` and
/// `<script>` are skipped.
fn img_sources(html: &str) -> Vec<Src<'_>> {
    let mut found = Vec::new();
    scan(html, 0, html.len(), &mut found);
    found
}

/// Elements whose content css-inline writes as it is: skipped (CSS, script) or read as markup.
const RAW_TEXT: &[(&str, bool)] = &[
    ("style", false),
    ("script", false),
    ("noscript", true),
    ("xmp", true),
    ("iframe", true),
    ("noembed", true),
    ("noframes", true),
];

/// Reads the tags in `html[pos..end]`, adding `<img>` sources to `found`.
fn scan<'a>(html: &'a str, mut pos: usize, end: usize, found: &mut Vec<Src<'a>>) {
    let bytes = &html.as_bytes()[..end];
    while let Some(i) = memchr::memchr(b'<', &bytes[pos..]) {
        let lt = pos + i;
        let rest = &bytes[lt..];
        if rest.starts_with(b"<!--") {
            let close = memmem::find(&rest[4..], b"-->").map_or(end, |j| lt + 4 + j);
            scan(html, lt + 4, close, found);
            pos = (close + 3).min(end);
            continue;
        }
        let closing = rest.get(1) == Some(&b'/');
        let name_start = lt + 1 + usize::from(closing);
        if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
            pos = lt + 1; // `<!DOCTYPE …>`, `<?…>`, or a `<` that opens nothing
            continue;
        }
        let (name, tag_end) = read_tag(html, name_start, end, !closing, found);
        pos = tag_end;
        if closing {
            continue;
        }
        let raw = RAW_TEXT.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        if let Some(&(name, markup)) = raw {
            let close = closing_tag(bytes, pos, name).unwrap_or(end);
            if markup {
                scan(html, pos, close, found);
            }
            pos = close;
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r')
}

/// Reads the tag whose name starts at `at` up to its `>`: the name and the position after the tag.
/// A start tag's `src`, when the tag is an `<img>`, goes to `found` (the first `src`, as parsers
/// keep the first of duplicate attributes).
fn read_tag<'a>(
    html: &'a str,
    at: usize,
    end: usize,
    start_tag: bool,
    found: &mut Vec<Src<'a>>,
) -> (&'a str, usize) {
    let bytes = &html.as_bytes()[..end];
    let mut pos = at;
    while pos < end && !is_space(bytes[pos]) && !matches!(bytes[pos], b'/' | b'>') {
        pos += 1;
    }
    let name = &html[at..pos];
    let mut wanted = start_tag && name.eq_ignore_ascii_case("img");
    loop {
        while pos < end && (is_space(bytes[pos]) || bytes[pos] == b'/') {
            pos += 1;
        }
        if pos >= end {
            return (name, end);
        }
        if bytes[pos] == b'>' {
            return (name, pos + 1);
        }
        let attribute_start = pos;
        pos += 1; // a leading `=` belongs to the name
        while pos < end && !is_space(bytes[pos]) && !matches!(bytes[pos], b'/' | b'>' | b'=') {
            pos += 1;
        }
        let attribute = &html[attribute_start..pos];
        while pos < end && is_space(bytes[pos]) {
            pos += 1;
        }
        if pos >= end || bytes[pos] != b'=' {
            continue;
        }
        pos += 1;
        while pos < end && is_space(bytes[pos]) {
            pos += 1;
        }
        let (start, value_end, next) = match bytes.get(pos) {
            Some(&quote @ (b'"' | b'\'')) => {
                let start = pos + 1;
                let value_end = memchr::memchr(quote, &bytes[start..]).map_or(end, |i| start + i);
                (start, value_end, (value_end + 1).min(end))
            }
            _ => {
                let start = pos;
                while pos < end && !is_space(bytes[pos]) && bytes[pos] != b'>' {
                    pos += 1;
                }
                (start, pos, pos)
            }
        };
        if wanted && attribute.eq_ignore_ascii_case("src") {
            found.push(Src {
                start,
                end: value_end,
                value: &html[start..value_end],
            });
            wanted = false;
        }
        pos = next;
    }
}

/// Where `</name` followed by a space, `/` or `>` starts (ignoring case), from `from` on.
fn closing_tag(bytes: &[u8], from: usize, name: &str) -> Option<usize> {
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
pub fn embed(images: &Images, html: &str, preview: bool) -> Result<Embedded, String> {
    let sources = img_sources(html);
    if !sources.iter().any(|s| is_local(s.value)) {
        return Ok((
            html.to_string(),
            Vec::new(),
            preview.then(|| html.to_string()),
        ));
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
    Ok((mail, used, browser))
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
