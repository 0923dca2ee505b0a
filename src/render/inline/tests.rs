//! The shape cache against css-inline itself: the same bytes for every kind of value, page and
//! hostile input, and the shapes shared, kept apart or stepped aside from as designed.

use super::*;

pub(super) const STYLE: &str = "<style>body{margin:0} p{color:#222;font:15px Arial} .lead{color:#555} \
    td p{padding:0} #main a{color:blue} a:hover{color:red} td:empty{height:1px} \
    @media (max-width: 600px){p{color:blue}}</style>";

/// A page with `value` (already escaped as Tera escapes) in every kind of place the splitter
/// distinguishes, and `class` as an unquoted class name.
fn page(style: &str, value: &str, class: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"{value}\"><head><meta charset=\"utf-8\"><title>{value} news</title>\
         {style}</head><body id=main>\n<!-- for {value} -->\n\
         <table><tr><td class=\"lead\">  Hi {value},\n</td><td>{value}</td><td></td></tr>{value}</table>\
         <p class=\"lead\" title='{value}'>Dear {value} &mdash; &copy; 2026 &amp; more&nbsp;text</p>\
         <p><a href=\"https://x.example/u?e={value}&amp;k=1\" data-id=\"{value}\">link {value}</a> \
         <img alt=\"{value}\" src=\"https://x.example/i.png\" width=10 class={class}></p>\
         <pre>\n{value}</pre><textarea>{value}</textarea><p>a < b {value} > c</p></body></html>"
    )
}

const VALUES: &[&str] = &[
    "Jane",
    "Zoë Müller",
    "张伟",
    "محمد",
    "O&#x27;Brien &amp;amp; Sons",
    "&lt;script&gt;alert(1)&lt;&#x2F;script&gt;",
    "&quot;quoted&quot;",
    "a\u{a0}b",
    "  padded  ",
    "",
    "x\r\ny",
    "tab\there",
    "&#128512; &#x1F600;",
    "&#0; &#x80; &#xD800;",
    "&amp &unknown; &",
    "https:&#x2F;&#x2F;acme.example&#x2F;u?e=a%40b",
    "\u{E000}private",
    "-->",
];

/// Asserts that the cached path gives css-inline's own answer for `html`: the same bytes, or
/// an error as well. The message shows the shape the page was split into.
pub(super) fn assert_same_as_css_inline(inliner: &Inliner, html: &str, what: &str) {
    let direct = inliner.inline_directly(html);
    let cached = inliner.inline(html);
    if cached != direct {
        let keep = inliner
            .selected_attributes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let shape = shape::split(html, &keep).map(|s| s.shape);
        panic!(
            "{what}\n  page:   {html:?}\n  shape:  {shape:?}\n  cached: {cached:?}\n  direct: {direct:?}"
        );
    }
}

#[test]
fn same_bytes_as_css_inline_for_every_kind_of_value() {
    let inliner = Inliner::new();
    for value in VALUES {
        let html = page(STYLE, value, value);
        assert_same_as_css_inline(&inliner, &html, &format!("value {value:?}"));
        // Again from the cache.
        assert_same_as_css_inline(&inliner, &html, &format!("value {value:?}, cached"));
    }
    let stats = inliner.stats();
    assert!(stats.cached >= VALUES.len() as u64, "{stats:?}");
    assert_eq!(stats.direct, 0, "{stats:?}");
}

#[test]
fn pages_that_differ_in_text_and_links_share_one_shape() {
    let inliner = Inliner::new();
    for value in [
        "Jane",
        "Zoë",
        "张伟",
        "O&#x27;Brien",
        "Ann &lt;3 Lee",
        "Bob",
    ] {
        let html = page(STYLE, value, "photo").replace(&format!("<!-- for {value} -->"), "");
        inliner.inline(&html).unwrap();
    }
    let stats = inliner.stats();
    assert_eq!((stats.new_shapes, stats.cached), (1, 5), "{stats:?}");
}

#[test]
fn attributes_the_stylesheet_selects_on_are_never_slotted() {
    let style = "<style>a[href^=\"https://x.example/u?e=Jane\"]{color:green} p:lang(de){color:black} \
                 [data-id] {margin:0}</style>";
    let inliner = Inliner::new();
    for value in ["Jane", "de", "Jo"] {
        let html = page(style, value, "photo");
        assert_same_as_css_inline(&inliner, &html, &format!("value {value:?}"));
    }
    let keep = inliner
        .selected_attributes
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for name in ["href", "lang", "data-id"] {
        assert!(keep.iter().any(|k| k == name), "{name} not kept: {keep:?}");
    }
    assert!(!keep.iter().any(|k| k == "alt"), "{keep:?}");
}

#[test]
fn pages_it_cannot_follow_are_inlined_directly() {
    let inliner = Inliner::new();
    for html in [
        "<html><head><style>p{color:red}</style></head><body><p>x</p><script>var a='<p>';</script></body></html>",
        "<html><head><style>p{color:red}</style></head><body><svg><style>p{}</style></svg><p>x</p></body></html>",
        "<html><head><style>p{color:red}</style></head><body><p title=\"unclosed>x</p></body></html>",
        "<html><body><p>\u{E002}0\u{E003}</p></body></html>",
    ] {
        assert_same_as_css_inline(&inliner, html, html);
    }
    assert_eq!(inliner.stats().direct, 4);
}

#[test]
fn the_benchmark_newsletter_inlines_to_the_same_bytes_for_every_recipient() {
    let toml: toml::Table = include_str!("../../../bench/fixture/campaign.toml")
        .parse()
        .unwrap();
    let template = include_str!("../../../bench/fixture/email.html");
    let mut csv = csv::Reader::from_reader(
        &include_bytes!("../../../bench/fixture/recipients-sample.csv")[..],
    );
    let headers = csv.headers().unwrap().clone();
    let inliner = Inliner::new();
    for (i, row) in csv.records().enumerate() {
        let mut context = tera::Context::from_serialize(&toml["vars"]).unwrap();
        for (name, value) in headers.iter().zip(row.unwrap().iter()) {
            context.insert(name, value);
        }
        let html = tera::Tera::one_off(template, &context, true).unwrap();
        assert_same_as_css_inline(&inliner, &html, &format!("recipient {i}"));
    }
    let stats = inliner.stats();
    assert_eq!(stats.direct, 0, "{stats:?}");
    assert!(stats.cached > 0, "{stats:?}");
}

#[test]
fn character_reference_to_a_slot_marker_is_not_filled() {
    let inliner = Inliner::new();
    for reference in [
        "&#xE002;0&#xE003;",
        "&#XE002;0&#Xe003;",
        "&#57346;0&#57347;",
        "&#x0000e002;0&#x00E003;",
        "&#00057346;0&#057347;",
        "&#xE002 0&#xE003 ",
        "&#57346 0&#57347 ",
    ] {
        for html in [
            format!(
                "<html><head><style>p{{color:red}}</style></head><body><p class=\"{reference}\">Jane</p></body></html>"
            ),
            format!(
                "<html><head><style>p{{color:red}}</style></head><body><p>{reference}</p><p>Jane</p></body></html>"
            ),
            format!(
                "<html><head><style>p{{color:red}}</style></head><body><p title=\"Jane\">{reference}</p></body></html>"
            ),
        ] {
            assert_same_as_css_inline(&inliner, &html, &html);
        }
    }
}

#[test]
fn whitespace_reference_where_the_tree_builder_treats_spaces_specially() {
    let inliner = Inliner::new();
    for space in ["&#32;", "&#x20;", "&#X0020;", "&#32", "&#x20"] {
        for html in [
            format!(
                "<html><head><style>td{{color:red}}</style></head><body><table>{space}<tr><td>Jane</td></tr></table></body></html>"
            ),
            format!(
                "<html><head>{space}<style>td{{color:red}}</style></head><body><p>Jane</p></body></html>"
            ),
            format!(
                "{space}<html><head><style>td{{color:red}}</style></head><body><p>Jane</p></body></html>"
            ),
            format!(
                "<html><head><style>td{{color:red}}</style></head><body><table>{space}x<tr><td>Jane</td></tr></table></body></html>"
            ),
            format!(
                "<html><head><style>td{{color:red}}</style></head><body><table><colgroup>{space}<col></colgroup><tr><td>Jane</td></tr></table></body></html>"
            ),
            format!(
                "<html><head><style>td{{color:red}}</style></head>{space}<body><p>Jane</p></body></html>"
            ),
            format!(
                "<html><head><style>td{{color:red}}</style></head><body><p>Jane</p></body></html>{space}"
            ),
        ] {
            assert_same_as_css_inline(&inliner, &html, &html);
        }
    }
}

#[test]
fn noahs_ark_clause_with_identical_slotted_attributes() {
    let inliner = Inliner::new();
    for tag in [
        "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt",
        "u",
    ] {
        for attribute in ["title", "lang", "data-x", "href"] {
            let open = format!("<{tag} {attribute}=\"x\">");
            let html = format!(
                "<html><head><style>p{{color:red}}</style></head><body>\
                 <p>{open}{open}{open}{open}Jane</p><p>again</p></body></html>"
            );
            assert_same_as_css_inline(&inliner, &html, &html);
        }
    }
}

#[test]
fn keeps_media_queries_in_a_style_block() {
    let html = "<html><head><style>p{color:red} @media (max-width: 600px){p{color:blue}}</style>\
                </head><body><p>x</p></body></html>";
    let out = Inliner::new().inline(html).unwrap();
    assert!(out.contains("<p style=\"color: red;\">"), "{out}");
    assert!(out.contains("@media (max-width: 600px)"), "{out}");
}
