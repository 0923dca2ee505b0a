//! The plain-text alternative derived from the rendered HTML when the campaign has no text template.
//! Email HTML is built from layout tables, so tables are read as plain blocks (no box-drawing
//! borders); links become footnotes (`text[1]` … `[1]: url`), headings and lists keep their markers,
//! and `<style>`/`<head>` content never leaks into the text.

/// Line width of the text part: RFC 5322 recommends lines under 78 characters.
const WIDTH: usize = 76;

/// Derives readable plain text from an HTML document.
pub fn from_html(html: &str) -> Result<String, String> {
    let text = html2text::config::plain()
        .raw_mode(true)
        .no_table_borders()
        .string_from_read(html.as_bytes(), WIDTH)
        .map_err(|e| format!("cannot derive the text part from the HTML: {e}"))?;
    Ok(tidy(&text))
}

/// Trims trailing spaces and collapses runs of blank lines that layout tables leave behind.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end_matches([' ', '\u{a0}', '\u{200c}']);
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_well() {
        let html = "<html><head><style>p{color:red}</style></head><body><table><tr><td>\
                    <h1>Hello</h1><p>First para.</p><ul><li>one</li><li>two</li></ul>\
                    <p><a href=\"https://acme.example/x\">Read more</a></p></td></tr></table></body></html>";
        let text = from_html(html).unwrap();
        assert!(text.contains("Hello"), "{text}");
        assert!(text.contains("First para."), "{text}");
        assert!(text.contains("* one"), "{text}");
        assert!(text.contains("https://acme.example/x"), "{text}");
        assert!(!text.contains("color"), "{text}");
        assert!(!text.contains('─') && !text.contains('│'), "{text}");
    }
}
