//! The shape cache's differential test: pages generated with hostile values (references to the
//! slot markers and to white space, raw markup, look-alike attributes, CSS a `style` cannot take),
//! several recipients a page so that later ones are filled from the cache, each compared with
//! css-inline's own bytes.

use super::Inliner;
use super::tests::{STYLE, assert_same_as_css_inline};

/// Pieces of values as Tera writes them (autoescaped), which the splitter slots: the same
/// shape for every recipient whose values are all of these.
const PLAIN: &[&str] = &[
    "Jane",
    "Zoë",
    "张伟",
    "محمد",
    "x",
    "Logo src=",
    "&quot; src=&quot;",
    "&amp;",
    "&lt;b&gt;",
    "&lt;img src=&quot;x.png&quot;&gt;",
    "O&#x27;Brien",
    "https:&#x2F;&#x2F;x.example",
    "=",
    "a b",
    "&#128512;",
];

/// Pieces of hostile values (as `| safe` or template text would put them): references to the
/// slot markers and to white space, raw markup, what looks like another attribute
/// (`" src="`), CSS a `style` attribute cannot take.
const HOSTILE: &[&str] = &[
    "",
    " ",
    "  padded  ",
    "\t",
    "\n",
    "\r\n",
    "\u{a0}",
    "&#xE002;0&#xE003;",
    "&#57346;1&#57347;",
    "&#XE002",
    "&#x0000e003;",
    "\u{E002}0\u{E003}",
    "&#32;",
    "&#x20;",
    "&#X0020",
    "&#9;",
    "&#10;",
    "&#13;",
    "&#12;",
    "&#160;",
    "&nbsp;",
    "&amp",
    "&",
    "&lt;",
    "<",
    ">",
    "&gt;",
    "\"",
    "'",
    " src=",
    "x\" src=\"y.png",
    "<b>",
    "</p>",
    "</td>",
    "<img src=x.png>",
    "&#0;",
    "&#x80;",
    "&#xD800;",
    "&copy;",
    "&unknown;",
    "-->",
    "<!--",
    "&#38;",
    "&#x26;",
    "color",
    "color: red",
    "a{b}",
    "<tr>",
    "<table>",
    "<td>",
    "<li>",
];

/// Formatting elements (and `a`) and attributes the splitter slots, for runs that reach the
/// "Noah's Ark" clause.
const FORMATTING: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];
const ATTRIBUTES: &[&str] = &[
    "title",
    "lang",
    "href",
    "alt",
    "data-x",
    "aria-label",
    "class",
];

/// A page template: `\u{1}n\u{2}` is hole `n`, filled with the value set's `n`-th value.
fn generated_template(rng: &mut fastrand::Rng, holes: usize) -> String {
    let hole = |rng: &mut fastrand::Rng| format!("\u{1}{}\u{2}", rng.usize(..holes));
    let mut body = String::new();
    for _ in 0..rng.usize(1..6) {
        let (h1, h2, h3) = (hole(rng), hole(rng), hole(rng));
        let piece = match rng.usize(..20) {
            0 => format!("<p>{h1}</p>"),
            1 => format!("<p class=\"lead\" title=\"{h1}\">{h2} {h3}</p>"),
            2 => format!("<table>{h1}<tr><td>{h2}</td></tr>{h3}</table>"),
            3 => format!("<table><colgroup>{h1}<col></colgroup><tr><td>{h2}</td></tr></table>"),
            4 => format!("<a href=\"https://x.example/?u={h1}\" data-id=\"{h2}\">{h3}</a>"),
            5 => format!("<img alt=\"{h1}\" src=\"{h2}\" class=\"photo\">"),
            6 => format!("<img alt=\"{h1}\" title=\"{h2}\" src=\"images/logo.png\">"),
            7 => {
                let tag = FORMATTING[rng.usize(..FORMATTING.len())];
                let attribute = ATTRIBUTES[rng.usize(..ATTRIBUTES.len())];
                let mut run = String::from("<p>");
                for _ in 0..rng.usize(3..6) {
                    // Mostly one value for all, so the attributes are identical.
                    let value = if rng.bool() { &h1 } else { &h2 };
                    run += &format!("<{tag} {attribute}=\"{value}\">");
                }
                run + &format!("{h3}</p><p>again {h3}</p>")
            }
            8 => format!("<pre>{h1}</pre><textarea>{h2}</textarea>"),
            9 => format!("<select><option value=\"{h1}\">{h2}</option></select>"),
            10 => format!("<ul><li>{h1}<li>{h2}</ul>{h3}"),
            11 => format!("<!-- {h1} --><div lang=\"{h2}\"><span>{h3}</span></div>"),
            12 => format!("<p style=\"{h1}\">{h2}</p>"),
            13 => format!("{h1}<td>{h2}</td>{h3}"),
            14 => format!("<p a\"b=\"{h1}\" title=\"{h2}\" =x=\"{h3}\">{h3}</p>"),
            15 => format!("<html lang=\"{h1}\"><body title=\"{h2}\">{h3}"),
            16 => {
                format!("<form action=\"{h1}\"><input value=\"{h2}\" type=hidden>{h3}</form>")
            }
            17 => format!("<image src=\"{h1}\" alt=\"{h2}\"><textarea>\n{h3}</textarea>"),
            18 => {
                format!("<p title=\"{h1}\" title=\"{h2}\">{h3}</p><a href=\"{h1}\"><p>{h2}</a>")
            }
            _ => format!("<p><b>{h1}<i>{h2}</b>{h3}</i></p>"),
        };
        body += &piece;
    }
    let optional = |rng: &mut fastrand::Rng| if rng.bool() { hole(rng) } else { String::new() };
    format!(
        "{}<!DOCTYPE html><html lang=\"{}\">{}<head>{}<meta charset=\"utf-8\"><title>{}</title>\
         {STYLE}{}</head>{}<body class=\"main\">{body}</body>{}</html>{}",
        optional(rng),
        optional(rng),
        optional(rng),
        optional(rng),
        optional(rng),
        optional(rng),
        optional(rng),
        optional(rng),
        optional(rng),
    )
}

/// A value of one to three pieces, each hostile with probability `hostile` in ten.
fn generated_value(rng: &mut fastrand::Rng, hostile: usize) -> String {
    (0..rng.usize(1..4))
        .map(|_| {
            if rng.usize(..10) < hostile {
                HOSTILE[rng.usize(..HOSTILE.len())]
            } else {
                PLAIN[rng.usize(..PLAIN.len())]
            }
        })
        .collect()
}

fn fill_template(template: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('\u{1}') {
        out.push_str(&rest[..open]);
        let close = rest.find('\u{2}').unwrap();
        out.push_str(&values[rest[open + 1..close].parse::<usize>().unwrap()]);
        rest = &rest[close + 1..];
    }
    out + rest
}

/// The differential test: generated pages with hostile values, several recipients a
/// template (so later ones are filled from the cache), each compared with css-inline itself.
#[test]
fn generated_hostile_pages_give_css_inlines_own_bytes() {
    let inliner = Inliner::new();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0016_0019);
    let cases = 1200;
    for case in 0..cases {
        let holes = 4;
        let template = generated_template(&mut rng, holes);
        for recipient in 0..5 {
            // Every other recipient has plain values only: the same shape as the first
            // plain one, or as a hostile one the cache could follow.
            let hostile = if recipient % 2 == 1 { 0 } else { 3 };
            let values: Vec<String> = (0..holes)
                .map(|_| generated_value(&mut rng, hostile))
                .collect();
            let html = fill_template(&template, &values);
            assert_same_as_css_inline(
                &inliner,
                &html,
                &format!("case {case}, recipient {recipient}"),
            );
        }
    }
    let stats = inliner.stats();
    // The generator must reach the cache, not only the direct path.
    assert!(stats.cached > cases / 2, "{stats:?}");
    assert!(stats.direct < cases * 2, "{stats:?}");
    eprintln!("{stats:?}");
}
