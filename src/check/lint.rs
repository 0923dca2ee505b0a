//! Deliverability lints: warnings about what makes mailbox providers filter, clip or distrust a
//! campaign. Each warning says why it matters and how to fix it.
//!
//! The rules on campaign.toml alone are in [`super::campaign_rules`].
//!
//! Content rules ([`ContentLints`]) look at every rendered message (the exact bytes that would be
//! sent, parsed back with mail-parser) and are reported once each, with how many messages they
//! affect and the first CSV line affected, so a million recipients never make a million warnings:
//!
//! * **no List-Unsubscribe** when more than [`UNSUBSCRIBE_MIN_MESSAGES`] messages would be sent, and
//!   **no one-click unsubscribe** (no https URL, so no `List-Unsubscribe-Post`, RFC 8058);
//! * **no usable text alternative**: the text/plain part has fewer than [`MIN_TEXT_ALNUM`] letters
//!   and digits once URLs are left out (a missing text template is fine: the text is then derived
//!   from the HTML; this catches the derived text of an image-only message);
//! * **HTML over 102 KB** (`102 × 1024` bytes of the decoded text/html part): Gmail clips it;
//! * **image-heavy**: counting `<img>` elements except tracking pixels (width and height both ≤ 2),
//!   at least 2 images with fewer than [`TEXT_PER_IMAGE`] characters of visible HTML text per
//!   image, or any image with fewer than [`MIN_TEXT_WITH_IMAGE`] characters of text in all;
//!   "visible text" is counted by [`super::html_facts`];
//! * **`<img>` without an `alt` attribute** (`alt=""` is fine: it marks a decorative image);
//! * **`http://` URLs** in `href` or `src` attributes;
//! * **subject in ALL CAPS** (at least 4 upper-case letters and no lower-case one) or containing
//!   `!!!`.

use std::collections::BTreeMap;

use mail_parser::{MessageParser, MimeHeaders};

use crate::campaign::Campaign;
use crate::render::Rendered;

use super::Problem;
use super::html_facts::scan_html;

/// A campaign of more messages than this needs a List-Unsubscribe header.
pub const UNSUBSCRIBE_MIN_MESSAGES: u64 = 5;
/// Gmail clips a message whose HTML is larger than this many bytes.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;
/// A text part with fewer letters and digits than this (URLs left out) counts as empty.
pub const MIN_TEXT_ALNUM: usize = 20;
/// Characters of visible HTML text wanted per image (with 2 or more images).
pub const TEXT_PER_IMAGE: usize = 500;
/// Characters of visible HTML text wanted in a message with any image at all.
pub const MIN_TEXT_WITH_IMAGE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    Unsubscribe,
    OneClick,
    TextAlternative,
    HtmlSize,
    ImageHeavy,
    ImageAlt,
    InsecureLink,
    SubjectCaps,
    SubjectBang,
}

/// How many messages a rule hit, and the first one (lowest CSV line) as an example.
#[derive(Debug)]
struct Hits {
    count: u64,
    line: u64,
    email: String,
    detail: String,
}

/// The content rules, tallied over every rendered message.
pub struct ContentLints<'c> {
    campaign: &'c Campaign,
    messages: u64,
    hits: BTreeMap<Rule, Hits>,
}

/// What the rules read from one rendered message.
struct View {
    subject: String,
    html: Option<String>,
    text: Option<String>,
    list_unsubscribe: bool,
    one_click: bool,
}

impl View {
    fn parse(rendered: &Rendered) -> View {
        let mut view = View {
            subject: rendered.subject.clone(),
            html: None,
            text: None,
            list_unsubscribe: false,
            one_click: false,
        };
        let Some(message) = MessageParser::default().parse(&rendered.bytes) else {
            return view;
        };
        let has = |name: &str| {
            message
                .headers()
                .iter()
                .any(|h| h.name().eq_ignore_ascii_case(name))
        };
        view.list_unsubscribe = has("List-Unsubscribe");
        view.one_click = has("List-Unsubscribe-Post");
        for part in &message.parts {
            let Some(ct) = part.content_type() else {
                continue;
            };
            let attachment = part
                .content_disposition()
                .is_some_and(|d| d.is_attachment());
            if attachment || !ct.ctype().eq_ignore_ascii_case("text") {
                continue;
            }
            let slot = match ct.subtype().map(str::to_ascii_lowercase).as_deref() {
                Some("html") => &mut view.html,
                Some("plain") => &mut view.text,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(String::from_utf8_lossy(part.contents()).into_owned());
            }
        }
        view
    }
}

impl<'c> ContentLints<'c> {
    pub fn new(campaign: &'c Campaign) -> ContentLints<'c> {
        ContentLints {
            campaign,
            messages: 0,
            hits: BTreeMap::new(),
        }
    }

    fn hit(&mut self, rule: Rule, rendered: &Rendered, detail: String) {
        let hits = self.hits.entry(rule).or_insert_with(|| Hits {
            count: 0,
            line: u64::MAX,
            email: String::new(),
            detail: String::new(),
        });
        hits.count += 1;
        if rendered.line < hits.line {
            hits.line = rendered.line;
            hits.email.clone_from(&rendered.email);
            hits.detail = detail;
        }
    }

    /// Runs the content rules on one rendered message.
    pub fn observe(&mut self, rendered: &Rendered) {
        self.messages += 1;
        let view = View::parse(rendered);
        let settings = self.campaign.unsubscribe.as_ref();
        // The rendered headers are authoritative; the settings are the fallback for a renderer
        // that does not write them.
        let (unsubscribe, one_click) = if view.list_unsubscribe {
            (true, view.one_click)
        } else {
            (
                settings.is_some(),
                settings.is_some_and(|s| s.url.is_some()),
            )
        };
        if !unsubscribe {
            self.hit(Rule::Unsubscribe, rendered, String::new());
        } else if !one_click {
            self.hit(Rule::OneClick, rendered, String::new());
        }

        let text = view.text.as_deref().unwrap_or("");
        let alnum = text_alnum(text);
        if alnum < MIN_TEXT_ALNUM {
            let detail = if view.text.is_none() {
                "there is no text/plain part".to_string()
            } else {
                format!("{alnum} letters and digits")
            };
            self.hit(Rule::TextAlternative, rendered, detail);
        }

        if let Some(html) = &view.html {
            if html.len() > GMAIL_CLIP_BYTES {
                let detail = format!("{} bytes", html.len());
                self.hit(Rule::HtmlSize, rendered, detail);
            }
            let facts = scan_html(html);
            if image_heavy(facts.images, facts.text_chars) {
                let detail = format!(
                    "{} image(s), {} characters of text",
                    facts.images, facts.text_chars
                );
                self.hit(Rule::ImageHeavy, rendered, detail);
            }
            if let Some(src) = facts.images_without_alt.first() {
                let detail = format!(
                    "{} image(s) without alt, e.g. <img src=\"{}\">",
                    facts.images_without_alt.len(),
                    shorten(src)
                );
                self.hit(Rule::ImageAlt, rendered, detail);
            }
            if let Some(url) = facts.insecure_urls.first() {
                let detail = format!(
                    "{} http:// URL(s), e.g. {}",
                    facts.insecure_urls.len(),
                    shorten(url)
                );
                self.hit(Rule::InsecureLink, rendered, detail);
            }
        }

        if all_caps(&view.subject) {
            self.hit(Rule::SubjectCaps, rendered, format!("{:?}", view.subject));
        }
        if view.subject.contains("!!!") {
            self.hit(Rule::SubjectBang, rendered, format!("{:?}", view.subject));
        }
    }

    /// One warning per rule that hit at least one message.
    pub fn finish(self) -> Vec<Problem> {
        let total = self.messages;
        let campaign = self.campaign;
        let mut problems = Vec::new();
        for (rule, hits) in self.hits {
            let unsubscribe_rule = matches!(rule, Rule::Unsubscribe | Rule::OneClick);
            if unsubscribe_rule && total <= UNSUBSCRIBE_MIN_MESSAGES {
                continue;
            }
            let affected = if total == 1 {
                "the only message".to_string()
            } else if hits.count == total {
                format!("all {total} messages")
            } else {
                format!("{} of {total} messages", hits.count)
            };
            let example = format!("first: line {} ({})", hits.line, hits.email);
            let at = |what: String| {
                if hits.detail.is_empty() {
                    format!("{what} ({affected}; {example})")
                } else {
                    format!("{what} ({affected}; {example}: {})", hits.detail)
                }
            };
            let problem = describe(rule, campaign, at).rule(&format!("{rule:?}"));
            let recipients = Some(hits.count);
            problems.push(problem.at(&campaign.recipients, vec![hits.line], recipients));
        }
        problems
    }
}

/// The warning for a rule; `at` adds the counts and the example to the one-line text.
fn describe(rule: Rule, campaign: &Campaign, at: impl Fn(String) -> String) -> Problem {
    let domain = campaign.from_domain();
    match rule {
        Rule::Unsubscribe => Problem::warning(at("no List-Unsubscribe header".into()))
            .why(
                "Gmail and Yahoo require bulk senders to offer one-click unsubscribe in the \
                 headers; without it readers press \"Report spam\" instead, which hurts every \
                 later campaign",
            )
            .fix(format!(
                "add to campaign.toml: [unsubscribe] url = \"https://{domain}/unsubscribe?e={{{{ \
                 email | urlencode }}}}\" (an https endpoint that accepts POST), and/or \
                 mailto = \"unsubscribe@{domain}\""
            )),
        Rule::OneClick => Problem::warning(at(
            "List-Unsubscribe has no https URL, so there is no one-click unsubscribe (RFC 8058)"
                .into(),
        ))
        .why(
            "Gmail and Yahoo require one-click unsubscribe (List-Unsubscribe-Post) from bulk \
             senders; a mailto: address alone does not qualify",
        )
        .fix("set [unsubscribe] url to an https:// URL that unsubscribes on POST"),
        Rule::TextAlternative => {
            let fix = match &campaign.text {
                Some(t) => format!("write the message in the text template {}", t.name),
                None => format!(
                    "put the message in HTML text rather than images (the text part is derived \
                     from {}), or add a text template email.txt",
                    campaign.html.name
                ),
            };
            Problem::warning(at(
                "the plain-text alternative is empty or nearly empty".into()
            ))
            .why(
                "a message whose text/plain part is blank looks like spam to filters and is \
                     unreadable in text-only clients and previews",
            )
            .fix(fix)
        }
        Rule::HtmlSize => Problem::warning(at(format!(
            "the HTML part is over 102 KB ({GMAIL_CLIP_BYTES} bytes)"
        )))
        .why(
            "Gmail clips larger messages and hides the rest, including the unsubscribe link, \
             behind \"View entire message\"",
        )
        .fix(
            "shrink the HTML: remove unused CSS, comments and repeated inline styles, or move \
             content to a web page",
        ),
        Rule::ImageHeavy => Problem::warning(at(format!(
            "image-heavy message: under {TEXT_PER_IMAGE} characters of text per image (2 or more \
             images) or under {MIN_TEXT_WITH_IMAGE} in all"
        )))
        .why(
            "filters score mostly-image mail as spam (text hidden in images), and clients that \
             block images show an empty message",
        )
        .fix(format!(
            "write the content as HTML text; aim for at least {TEXT_PER_IMAGE} characters of \
             text per image"
        )),
        Rule::ImageAlt => Problem::warning(at("images without an alt attribute".into()))
            .why(
                "most clients block images until the reader allows them and show the alt text \
                 instead; screen readers read it aloud",
            )
            .fix("add alt=\"…\" describing each image (alt=\"\" for purely decorative ones)"),
        Rule::InsecureLink => Problem::warning(at("http:// links or images (not https)".into()))
            .why(
                "unencrypted links are a spam signal, browsers warn on them, and http:// images \
                 are blocked or proxied by some clients",
            )
            .fix("use https:// URLs in href and src"),
        Rule::SubjectCaps => Problem::warning(at("the subject is in ALL CAPS".into()))
            .why("all-caps subjects read as shouting and are a classic spam-filter signal")
            .fix("write the subject in sentence case"),
        Rule::SubjectBang => Problem::warning(at("the subject contains \"!!!\"".into()))
            .why("runs of exclamation marks are a classic spam-filter signal")
            .fix("use at most one exclamation mark"),
    }
}

fn image_heavy(images: usize, text_chars: usize) -> bool {
    (images >= 2 && text_chars < TEXT_PER_IMAGE * images)
        || (images >= 1 && text_chars < MIN_TEXT_WITH_IMAGE)
}

/// At least 4 upper-case letters and no lower-case one.
fn all_caps(subject: &str) -> bool {
    let upper = subject.chars().filter(|c| c.is_uppercase()).count();
    upper >= 4 && !subject.chars().any(char::is_lowercase)
}

/// Letters and digits in a text part, leaving out URLs (the footnotes of derived text).
fn text_alnum(text: &str) -> usize {
    text.split_whitespace()
        .filter(|word| !word.contains("://") && !word.starts_with("mailto:"))
        .flat_map(str::chars)
        .filter(|c| c.is_alphanumeric())
        .count()
}

/// A URL cut to 80 characters for a message.
fn shorten(url: &str) -> String {
    let url = url.trim();
    if url.chars().count() <= 80 {
        url.to_string()
    } else {
        format!("{}…", url.chars().take(79).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_rules() {
        assert!(all_caps("FREE OFFER INSIDE"));
        assert!(all_caps("50% OFF TODAY!"));
        assert!(!all_caps("News for Ann"));
        assert!(!all_caps("FAQ"));
        assert!(!all_caps("ACME news"));
    }

    #[test]
    fn image_heavy_rule() {
        assert!(!image_heavy(0, 0));
        assert!(!image_heavy(1, 300));
        assert!(image_heavy(1, 50));
        assert!(image_heavy(2, 999));
        assert!(!image_heavy(2, 1000));
        assert!(image_heavy(6, 2000));
    }

    #[test]
    fn text_alnum_leaves_urls_out() {
        assert_eq!(
            text_alnum("[logo]\n\n[1]: https://acme.example/a-long-path\n"),
            5
        );
        assert_eq!(text_alnum("Hello there, Ann!"), 13);
    }
}
