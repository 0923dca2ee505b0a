//! Link tagging (`[links] utm`): the campaign's UTM query appended to the message's http(s) links,
//! so that web analytics attribute the visits to the campaign.
//!
//! The rules, the same for both parts:
//!
//! * only absolute `http://` and `https://` URLs (any case): never `mailto:`, `tel:`, `#…`,
//!   relative or protocol-relative (`//host/…`) links;
//! * never the unsubscribe URL (the recipient's `unsubscribe_url`: a tagged copy would no longer
//!   be the URL of the List-Unsubscribe header, and an unsubscribe endpoint has nothing to track);
//! * never a link that already carries a `utm_` parameter (any, in any case): it was tagged on
//!   purpose and is left exactly as written;
//! * never a link to a `[links] skip` domain or a subdomain of one;
//! * the parameters go at the end of the query, before the fragment (`a?x=1#top` →
//!   `a?x=1&utm_source=…#top`).
//!
//! In the HTML part: the `href` of `<a>`, `<area>` and Outlook's VML shapes (`<v:roundrect>` of
//! bulletproof buttons, inside `<!--[if mso]>` comments, read again as markup), found with the one
//! HTML lexer ([`crate::html`]) and written back escaped for an attribute (`&amp;`). In the text
//! part, from a text template or derived from the HTML: every http(s) URL in the text (a URL ends
//! at white space, `<`, `>`, `"` or a character URLs never hold, and trailing punctuation such as
//! the full stop of a sentence is not part of it; a final `?` is, as an empty query).
//!
//! It runs after CSS inlining, on the inlined page, so the inliner's shape cache never sees it; and
//! after the text part is derived from the untagged page, so that a link whose text is its own URL
//! still reads as one URL there (text.rs compares them), tagged by the text rules.

use std::borrow::Cow;

use crate::campaign::LinkSettings;
use crate::html::{Lexer, Token, entities};

/// Tags the HTML and text parts of one message; without `[links]` they are returned as they are.
/// `unsubscribe` is the recipient's `unsubscribe_url`, left untagged.
pub fn tag(
    settings: Option<&LinkSettings>,
    unsubscribe: Option<&str>,
    html: String,
    text: String,
) -> (String, String) {
    match settings {
        Some(settings) => {
            let rules = Rules {
                settings,
                unsubscribe: unsubscribe.map(str::trim),
            };
            (rules.html(&html), rules.text(&text))
        }
        None => (html, text),
    }
}

/// What is tagged and with what.
struct Rules<'a> {
    settings: &'a LinkSettings,
    unsubscribe: Option<&'a str>,
}

/// An href value's place in the page and its decoded text.
struct Href<'a> {
    start: usize,
    end: usize,
    quoted: bool,
    value: Cow<'a, str>,
}

impl Rules<'_> {
    /// The page with each taggable href replaced.
    fn html(&self, html: &str) -> String {
        let mut hrefs = Vec::new();
        hrefs_in(html, Lexer::new(html), &mut hrefs);
        let mut out =
            String::with_capacity(html.len() + hrefs.len() * self.settings.utm_query.len());
        let mut last = 0;
        for href in &hrefs {
            let Some(tagged) = self.tagged(href.value.trim()) else {
                continue;
            };
            out.push_str(&html[last..href.start]);
            if !href.quoted {
                out.push('"');
            }
            escape_attribute(&mut out, &tagged);
            if !href.quoted {
                out.push('"');
            }
            last = href.end;
        }
        out.push_str(&html[last..]);
        out
    }

    /// The text with each taggable URL tagged.
    fn text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        // Copied up to `last`; a URL inside one already read (`?next=https://…`) is part of it.
        let (mut last, mut read) = (0, 0);
        for at in memchr::memmem::find_iter(text.as_bytes(), "://") {
            let Some(start) = scheme_start(text, at).filter(|&start| start >= read) else {
                continue;
            };
            if let Some(u) = self
                .unsubscribe
                .filter(|u| !u.is_empty() && text[start..].starts_with(u))
            {
                read = start + u.len();
                continue;
            }
            let end = url_end(text, start);
            read = end;
            if let Some(tagged) = self.tagged(&text[start..end]) {
                out.push_str(&text[last..start]);
                out.push_str(&tagged);
                last = end;
            }
        }
        out.push_str(&text[last..]);
        out
    }

    /// `url` with the UTM query appended, or `None` when the rules leave it alone.
    fn tagged(&self, url: &str) -> Option<String> {
        let scheme = ["http://", "https://"].into_iter().find(|s| {
            url.get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
        })?;
        if self.unsubscribe == Some(url) {
            return None;
        }
        let (before_fragment, fragment) = url.split_at(url.find('#').unwrap_or(url.len()));
        let (base, query) = match before_fragment.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (before_fragment, None),
        };
        let host = host(&base[scheme.len()..]);
        if host.is_empty() || self.skipped(&host) {
            return None;
        }
        let query = query.unwrap_or_default();
        let has_utm = query.split('&').any(|pair| {
            pair.get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("utm_"))
        });
        if has_utm {
            return None;
        }
        let separator = if query.is_empty() || query.ends_with('&') {
            ""
        } else {
            "&"
        };
        let utm = &self.settings.utm_query;
        Some(format!("{base}?{query}{separator}{utm}{fragment}"))
    }

    /// Whether `host` is a `skip` domain or below one.
    fn skipped(&self, host: &str) -> bool {
        self.settings.skip.iter().any(|domain| {
            host == domain
                || host
                    .strip_suffix(domain.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

/// The host of what follows `scheme://`, lower case, without user info, port or final dot.
fn host(authority_and_path: &str) -> String {
    let authority = authority_and_path
        .split(['/', '?', '#', '\\'])
        .next()
        .unwrap_or_default();
    let after_user = authority.rsplit('@').next().unwrap_or_default();
    let host = match after_user.strip_prefix('[') {
        Some(ipv6) => ipv6.split(']').next().unwrap_or_default(),
        None => after_user.split(':').next().unwrap_or_default(),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Where the `http`/`https` scheme ending at the `://` at `at` starts, when it is one (and not the
/// end of a longer word such as `xhttp://`).
fn scheme_start(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let is = |start: usize, scheme: &[u8]| {
        bytes
            .get(start..at)
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
            && (start == 0 || !bytes[start - 1].is_ascii_alphanumeric())
    };
    [(5usize, &b"https"[..]), (4, &b"http"[..])]
        .into_iter()
        .find(|&(len, scheme)| at >= len && is(at - len, scheme))
        .map(|(len, _)| at - len)
}

/// Where the URL starting at `start` ends: before white space or a character URLs never hold
/// (RFC 3986), then before trailing punctuation (a `)` only when unbalanced in the URL).
fn url_end(text: &str, start: usize) -> usize {
    let stop = |c: char| c.is_whitespace() || "<>\"[]{}|\\^`".contains(c);
    let mut end = text[start..].find(stop).map_or(text.len(), |i| start + i);
    loop {
        let url = &text[start..end];
        let trailing = match url.chars().last() {
            // Not `?`: a URL ending in an empty query (`…/caps?`) is common, and tagging
            // after a sentence's question mark still makes a working link.
            Some('.' | ',' | ';' | ':' | '!' | '\'' | '*') => true,
            Some(')') => url.matches(')').count() > url.matches('(').count(),
            _ => false,
        };
        if !trailing {
            return end;
        }
        end -= 1;
    }
}

/// Appends `value` escaped for a quoted attribute value.
fn escape_attribute(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// Adds the hrefs of `<a>`, `<area>` and `<v:…>` tags among `tokens` (of `html`) to `found`, in
/// order; comments (Outlook's conditional ones) are read again as markup.
fn hrefs_in<'a>(html: &'a str, tokens: Lexer<'a>, found: &mut Vec<Href<'a>>) {
    for token in tokens {
        match token {
            Token::Comment { body, at } => {
                hrefs_in(html, Lexer::within(html, at, at + body.len()), found)
            }
            Token::Start(tag) if tag.is("a") || tag.is("area") || is_vml(tag.name) => {
                // The first `href`, as parsers keep the first of duplicate attributes.
                let href = tag
                    .attributes()
                    .find(|a| a.name.eq_ignore_ascii_case("href"));
                if let Some(href) = href.filter(|h| !h.value.is_empty()) {
                    found.push(Href {
                        start: href.at,
                        end: href.at + href.value.len(),
                        quoted: href.quoted,
                        value: entities::decode(href.value),
                    });
                }
            }
            _ => {}
        }
    }
}

/// A VML element (`v:roundrect`, `v:rect`, …), Outlook's drawing of bulletproof buttons.
fn is_vml(name: &str) -> bool {
    name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("v:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(skip: &[&str]) -> LinkSettings {
        LinkSettings {
            utm_query: "utm_source=n".into(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn tagged(url: &str) -> Option<String> {
        let settings = settings(&["example.org"]);
        let rules = Rules {
            settings: &settings,
            unsubscribe: Some("https://acme.example/u?e=1"),
        };
        rules.tagged(url)
    }

    #[test]
    fn which_urls_are_tagged_and_how() {
        let cases = [
            ("https://a.example", Some("https://a.example?utm_source=n")),
            (
                "https://a.example/p?x=1#top",
                Some("https://a.example/p?x=1&utm_source=n#top"),
            ),
            (
                "https://a.example/p?#top",
                Some("https://a.example/p?utm_source=n#top"),
            ),
            (
                "https://a.example/p?x=1&",
                Some("https://a.example/p?x=1&utm_source=n"),
            ),
            ("HTTP://A.example/", Some("HTTP://A.example/?utm_source=n")),
            (
                "https://u:p@a.example:8080/",
                Some("https://u:p@a.example:8080/?utm_source=n"),
            ),
            ("https://a.example/?x=1&UTM_medium=y", None),
            ("https://a.example/?utm_=", None),
            ("https://acme.example/u?e=1", None),
            ("https://example.org/", None),
            ("https://www.Example.org./", None),
            (
                "https://notexample.org/",
                Some("https://notexample.org/?utm_source=n"),
            ),
            ("https:///path", None),
            ("mailto:a@example.com", None),
            ("ftp://a.example/", None),
            ("/relative", None),
            ("https://example.org/?next=https://a.example/", None),
        ];
        for (url, want) in cases {
            assert_eq!(tagged(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn urls_in_text_end_where_a_reader_sees_them_end() {
        let settings = settings(&[]);
        let rules = Rules {
            settings: &settings,
            unsubscribe: Some("https://acme.example/u?e=1."),
        };
        let text = "See https://a.example/x. Or (https://a.example/y_(z)), \
                    xhttps://no.example, \"https://a.example/q\"[1] https://acme.example/u?e=1.\n\
                    https://a.example/?utm_x=1&next=https://b.example/\n";
        assert_eq!(
            rules.text(text),
            "See https://a.example/x?utm_source=n. Or (https://a.example/y_(z)?utm_source=n), \
             xhttps://no.example, \"https://a.example/q?utm_source=n\"[1] \
             https://acme.example/u?e=1.\n\
             https://a.example/?utm_x=1&next=https://b.example/\n"
        );
    }

    #[test]
    fn hrefs_are_written_back_escaped() {
        let settings = settings(&[]);
        let rules = Rules {
            settings: &settings,
            unsubscribe: None,
        };
        let html = "<a href=\"https://a.example/?x=1&amp;y\">a</a><A HREF=https://b.example>b</A>\
                    <!--[if mso]><v:roundrect href='https://c.example'><![endif]-->\
                    <link href=\"https://d.example/s.css\"><a name=x>";
        assert_eq!(
            rules.html(html),
            "<a href=\"https://a.example/?x=1&amp;y&amp;utm_source=n\">a</a>\
             <A HREF=\"https://b.example?utm_source=n\">b</A>\
             <!--[if mso]><v:roundrect href='https://c.example?utm_source=n'><![endif]-->\
             <link href=\"https://d.example/s.css\"><a name=x>"
        );
    }
}
