//! The page shape cache (`render::inline::Inliner`, splitting pages with `render::shape`): for
//! pages of a small grammar of email HTML (tables, paragraphs, formatting elements repeated, links,
//! images, style blocks, comments, character references) whose text and attribute values are
//! hostile, the cached inliner gives css-inline's own bytes, for the first recipient of a page
//! (a new shape) and for the later ones (filled from the cache).

use campaign::render::inline::Inliner;
use proptest::prelude::*;

const CASES: u32 = 1500;
/// Holes in a page template, filled with each recipient's values.
const HOLES: usize = 3;

/// A piece of a page. `Hole(n)` is the recipient's `n`-th value, in text or in an attribute.
#[derive(Debug, Clone)]
enum Node {
    Text(&'static str),
    Hole(usize),
    Element {
        tag: &'static str,
        attributes: Vec<(&'static str, Value, char)>,
        children: Vec<Node>,
    },
    Void(&'static str, Vec<(&'static str, Value, char)>),
    Comment(usize),
}

#[derive(Debug, Clone)]
enum Value {
    Fixed(&'static str),
    Hole(usize),
}

/// Text, references and markup that the splitter must follow or refuse, as a template's own text
/// or (in the values) as a `| safe` value would put them.
const PIECES: &[&str] = &[
    "Jane",
    "Zoë",
    "张伟",
    " ",
    "  padded  ",
    "\t",
    "\n",
    "\r\n",
    "\u{a0}",
    "&nbsp;",
    "&amp;",
    "&amp",
    "&",
    "&lt;",
    "<",
    ">",
    "\"",
    "'",
    "=",
    " src=",
    "x\" src=\"y.png",
    "&quot;",
    "&#xE002;0&#xE003;",
    "&#57346;",
    "&#XE002",
    "&#x0000e003;",
    "&#32;",
    "&#x20;",
    "&#X0020",
    "&#9;",
    "&#10;",
    "&#13;",
    "&#12;",
    "&#160;",
    "&#0;",
    "&#x80;",
    "&#xD800;",
    "&#128512;",
    "&copy;",
    "&unknown;",
    "-->",
    "<!--",
    "&#38;",
    "<b>",
    "</p>",
    "</td>",
    "<tr>",
    "<td>",
    "<table>",
    "<li>",
    "<img src=x.png>",
    "color: red",
    "a{b}",
    "O&#x27;Brien",
    "https:&#x2F;&#x2F;x.example",
    "&lt;b&gt;",
    "</br>",
    "<p/>",
    "<?x ?>",
    "<![CDATA[x]]>",
    "</ p>",
    "<a/b>",
    "<!DOCTYPE html>",
    "<style>p{color:red}</style>",
    "<html lang=de>",
    "<body title=x>",
    "<head>",
    "</table>",
    "<col>",
    "<caption>",
];

const TAGS: &[&str] = &[
    "p",
    "div",
    "span",
    "table",
    "tbody",
    "tr",
    "td",
    "th",
    "a",
    "b",
    "i",
    "u",
    "em",
    "strong",
    "font",
    "small",
    "big",
    "nobr",
    "code",
    "s",
    "ul",
    "li",
    "h1",
    "center",
    "pre",
    "textarea",
    "title",
    "select",
    "option",
    "colgroup",
    "P",
    "TD",
    "B",
    "Font",
    "caption",
    "button",
    "form",
    "label",
    "header",
    "blockquote",
    "dl",
    "dd",
    "nav",
    "marquee",
    "object",
    "ruby",
    "rt",
];
const VOIDS: &[&str] = &[
    "img", "br", "hr", "input", "col", "meta", "image", "IMG", "wbr", "link", "area", "br/",
];
const ATTRIBUTES: &[&str] = &[
    "class", "id", "title", "lang", "href", "src", "alt", "data-x", "style", "value", "width",
    "align", "TITLE", "a\"b",
];
const FIXED_VALUES: &[&str] = &[
    "lead",
    "main",
    "photo",
    "x",
    "",
    "https://x.example/?a=1&amp;b=2",
    "color:red",
];

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(FIXED_VALUES).prop_map(Value::Fixed),
        (0..HOLES).prop_map(Value::Hole),
    ]
}

fn attributes() -> impl Strategy<Value = Vec<(&'static str, Value, char)>> {
    let quote = prop::sample::select(vec!['"', '\'', ' ']);
    prop::collection::vec((prop::sample::select(ATTRIBUTES), value(), quote), 0..3)
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        3 => (0..HOLES).prop_map(Node::Hole),
        2 => prop::sample::select(PIECES).prop_map(Node::Text),
        1 => (prop::sample::select(VOIDS), attributes()).prop_map(|(t, a)| Node::Void(t, a)),
        1 => (0..HOLES).prop_map(Node::Comment),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (
                prop::sample::select(TAGS),
                attributes(),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(tag, attributes, children)| Node::Element {
                    tag,
                    attributes,
                    children
                }),
            // A formatting element repeated with one set of attributes (the "Noah's Ark" clause).
            (
                prop::sample::select(vec!["b", "i", "font", "a", "em"]),
                attributes(),
                2usize..5,
                inner
            )
                .prop_map(|(tag, attributes, times, child)| {
                    let mut node = child;
                    for _ in 0..times {
                        let attributes = attributes.clone();
                        node = Node::Element {
                            tag,
                            attributes,
                            children: vec![node],
                        };
                    }
                    node
                }),
        ]
    })
}

fn write_attributes(out: &mut String, attributes: &[(&str, Value, char)], values: &[String]) {
    for (name, value, quote) in attributes {
        let value = match value {
            Value::Fixed(v) => v,
            Value::Hole(n) => values[*n].as_str(),
        };
        match quote {
            ' ' => *out += &format!(" {name}={value}"),
            q => *out += &format!(" {name}={q}{value}{q}"),
        }
    }
}

fn write(out: &mut String, node: &Node, values: &[String]) {
    match node {
        Node::Text(text) => out.push_str(text),
        Node::Hole(n) => out.push_str(&values[*n]),
        Node::Comment(n) => *out += &format!("<!-- {} -->", values[*n]),
        Node::Void(tag, attributes) => {
            *out += &format!("<{tag}");
            write_attributes(out, attributes, values);
            out.push('>');
        }
        Node::Element {
            tag,
            attributes,
            children,
        } => {
            *out += &format!("<{tag}");
            write_attributes(out, attributes, values);
            out.push('>');
            for child in children {
                write(out, child, values);
            }
            *out += &format!("</{tag}>");
        }
    }
}

const STYLES: &[&str] = &[
    "<style>body{margin:0} p{color:#222} .lead{color:#555} td p{padding:0} #main a{color:blue} \
     b i{color:red} td:empty{height:1px} @media (max-width: 600px){p{color:blue}}</style>",
    "<style>a[href^=\"https://x.example\"]{color:green} p:lang(de){color:black} [title]{margin:0} \
     [data-x=Jane]{color:red}</style>",
    "<style>* {font-family:Arial} table td{padding:4px} .photo{width:10px}</style>",
];

/// A page template: a head with a style block, a body of generated nodes.
#[derive(Debug, Clone)]
struct Page {
    style: &'static str,
    title: Node,
    body: Vec<Node>,
    before: Option<Node>,
}

impl Page {
    fn html(&self, values: &[String]) -> String {
        let mut out = String::new();
        if let Some(node) = &self.before {
            write(&mut out, node, values);
        }
        out += "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>";
        write(&mut out, &self.title, values);
        out += "</title>";
        out += self.style;
        out += "</head><body id=\"main\">";
        for node in &self.body {
            write(&mut out, node, values);
        }
        out + "</body></html>"
    }
}

fn page() -> impl Strategy<Value = Page> {
    (
        prop::sample::select(STYLES),
        prop_oneof![
            (0..HOLES).prop_map(Node::Hole),
            prop::sample::select(PIECES).prop_map(Node::Text)
        ],
        prop::collection::vec(node(), 1..6),
        prop::option::weighted(0.1, node()),
    )
        .prop_map(|(style, title, body, before)| Page {
            style,
            title,
            body,
            before,
        })
}

/// A recipient's value: plain words (as most are) or one to three pieces.
fn recipient_values() -> impl Strategy<Value = Vec<String>> {
    let one = prop_oneof![
        3 => prop::sample::select(vec!["Jane", "Zoë Müller", "张伟", "Bob", "O&#x27;Brien"]).prop_map(str::to_string),
        2 => prop::collection::vec(prop::sample::select(PIECES), 1..4).prop_map(|p| p.concat()),
    ];
    prop::collection::vec(one, HOLES..=HOLES)
}

proptest! {
    #![proptest_config(config!(CASES, "shape.txt"))]

    #[test]
    fn generated_pages_inline_to_css_inlines_own_bytes(
        page in page(),
        recipients in prop::collection::vec(recipient_values(), 1..4),
    ) {
        let inliner = Inliner::new();
        for values in &recipients {
            let html = page.html(values);
            let direct = inliner.inline_directly(&html);
            // The first time as a new shape (or directly), the second from the cache.
            for _ in 0..2 {
                prop_assert_eq!(inliner.inline(&html), direct.clone(), "page {:?}", html);
            }
        }
    }
}
