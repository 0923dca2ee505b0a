use super::entities::decode;
use super::*;

/// The tokens of `html` in a compact notation: `T(text)`, `<name a=v …>`, `</name>`, `C(body)`,
/// `D(decl)`, `R(raw)`.
fn tokens(html: &str) -> Vec<String> {
    Lexer::new(html)
        .map(|token| match token {
            Token::Text(t) => format!("T({t})"),
            Token::Comment { body, at } => {
                assert_eq!(&html[at..at + body.len()], body);
                format!("C({body})")
            }
            Token::Declaration(d) => format!("D({d})"),
            Token::Raw { text, at } => {
                assert_eq!(&html[at..at + text.len()], text);
                format!("R({text})")
            }
            Token::End(tag) => format!("</{}>", tag.name),
            Token::Start(tag) => {
                let mut out = format!("<{}", tag.name);
                for a in tag.attributes() {
                    assert_eq!(&html[a.at..a.at + a.value.len()], a.value);
                    out += &format!(" {}={}", a.name, a.value);
                }
                out + if tag.self_closing { "/>" } else { ">" }
            }
        })
        .collect()
}

#[test]
fn a_page_in_tokens() {
    assert_eq!(
        tokens("<!DOCTYPE html><p class=x>Hi &amp; <b>you</b><br/></p><!-- c --><?x?>"),
        [
            "D(<!DOCTYPE html>)",
            "<p class=x>",
            "T(Hi &amp; )",
            "<b>",
            "T(you)",
            "</b>",
            "<br/>",
            "</p>",
            "C( c )",
            "D(<?x?>)",
        ]
    );
}

#[test]
fn attribute_values_are_read_only_as_values() {
    assert_eq!(
        tokens(r#"<img alt="Logo src=" src='a.png' title=">"><p a"b="<img src=x>">"#),
        [
            r#"<img alt=Logo src= src=a.png title=>>"#,
            r#"<p a"b=<img src=x>>"#,
        ]
    );
    assert_eq!(
        tokens("<a =x href = y checked/ data-v=a/>t"),
        ["<a =x= href=y checked= data-v=a/>", "T(t)"],
        "a leading = belongs to the name; an unquoted value keeps its slash"
    );
    assert_eq!(
        tokens("<br / >"),
        ["<br>"],
        "a slash not right before > is ignored"
    );
}

#[test]
fn raw_text_elements_hold_no_tags() {
    assert_eq!(
        tokens("<style>p{content:'<img src=x>'}</STYLE ><title>a<b</title><script/>x"),
        [
            "<style>",
            "R(p{content:'<img src=x>'})",
            "</STYLE>",
            "<title>",
            "R(a<b)",
            "</title>",
            "<script/>",
            "R(x)",
        ]
    );
    assert_eq!(
        tokens("<script>never closed"),
        ["<script>", "R(never closed)"]
    );
}

#[test]
fn what_opens_nothing_is_text_and_what_is_cut_off_is_dropped() {
    assert_eq!(
        tokens("1 < 2 <3 </ x"),
        ["T(1 )", "T(< 2 )", "T(<3 )", "D(</ x)"]
    );
    assert_eq!(tokens("a</>b</3>c"), ["T(a)", "T(b)", "D(</3>)", "T(c)"]);
    assert_eq!(tokens("a<p title=\"never closed"), ["T(a)"]);
    assert_eq!(tokens("a<p"), ["T(a)"]);
    assert_eq!(tokens("a<!-- open"), ["T(a)", "C( open)"]);
    let mut lexer = Lexer::new("a<p");
    assert!(!lexer.cut_off());
    lexer.by_ref().for_each(drop);
    assert!(lexer.cut_off());
}

#[test]
fn comments_end_as_the_standard_ends_them() {
    assert_eq!(
        tokens("<!-->a<!--->b<!-- x --!>c<!-- y -->d"),
        [
            "C()", "T(a)", "C()", "T(b)", "C( x )", "T(c)", "C( y )", "T(d)"
        ]
    );
}

#[test]
fn comments_and_raw_text_can_be_read_again_as_markup() {
    let html = "<!--[if mso]><img src='o.png'><![endif]-->";
    let Some(Token::Comment { body, at }) = Lexer::new(html).next() else {
        panic!("a comment");
    };
    let inner: Vec<&str> = Lexer::within(html, at, at + body.len())
        .filter_map(|t| match t {
            Token::Start(tag) if tag.is("img") => tag.attr("SRC"),
            _ => None,
        })
        .collect();
    assert_eq!(inner, ["o.png"]);
}

#[test]
fn the_first_of_duplicate_attributes_wins() {
    let mut lexer = Lexer::new("<img src=a.png SRC=b.png>");
    let Some(Token::Start(tag)) = lexer.next() else {
        panic!("a tag");
    };
    assert_eq!(tag.attr("src"), Some("a.png"));
}

#[test]
fn invisible_characters_and_references() {
    let text = decode("a&zwnj;&shy;b&nbsp;c");
    let shown: String = text.chars().filter(|&c| !is_invisible(c)).collect();
    assert_eq!(shown, "ab\u{a0}c");
}
