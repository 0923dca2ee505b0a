//! The transfer encoding of the text and HTML parts (`render::transfer::body`): any text decodes
//! back, through a mail parser, to itself (line ends as CRLF, which is what a text part's line end
//! is); every line of the encoded body ends in CRLF and fits RFC 2045's limits (76 characters for
//! quoted-printable and base64, 998 for 7bit, RFC 5322 §2.1.1).

use campaign::render::transfer;
use lettre::message::Body;
use lettre::message::header::ContentTransferEncoding;
use proptest::prelude::*;

const CASES: u32 = 2048;

/// Decodes a body the way a mail client does: a whole message parsed by mail-parser.
fn decode(body: &Body) -> String {
    let cte = match body.encoding() {
        ContentTransferEncoding::SevenBit => "7bit",
        ContentTransferEncoding::QuotedPrintable => "quoted-printable",
        ContentTransferEncoding::Base64 => "base64",
        other => panic!("{other:?}"),
    };
    let mut message = format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    .into_bytes();
    message.extend_from_slice(body.as_ref());
    let parsed = mail_parser::MessageParser::default()
        .parse(&message)
        .unwrap();
    parsed
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default()
}

/// Text with what the encoder treats specially: long lines, `=`, white space at line ends, lone
/// CR, CRLF and LF, dots, non-ASCII of one to four bytes, control characters.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 .,]{1,20}",
        1 => "[ \t]{1,3}",
        1 => prop::sample::select(vec!["\n", "\r\n", "\r", "=", "=\n", ".", "\n.", "é", "张", "😀", "\u{0}", "\u{7f}", "\u{a0}", "\t\n", " \r\n"])
            .prop_map(str::to_string),
        1 => "[a-z]{70,90}",
        1 => any::<String>(),
        1 => "[张😀é]{1,30}",
    ];
    prop::collection::vec(piece, 0..20).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(config!(CASES, "transfer.txt"))]

    #[test]
    fn any_text_decodes_back_with_every_line_in_bounds(text in text()) {
        let body = transfer::body(text.clone());
        let encoding = body.encoding();
        let bytes: &[u8] = body.as_ref();
        let limit = match encoding {
            ContentTransferEncoding::SevenBit => 998,
            _ => 76,
        };
        let mut rest = bytes;
        while !rest.is_empty() {
            let end = rest.windows(2).position(|w| w == b"\r\n").unwrap_or(rest.len());
            let line = &rest[..end];
            prop_assert!(line.len() <= limit, "{encoding:?}: {} bytes: {:?}", line.len(), String::from_utf8_lossy(line));
            prop_assert!(!line.contains(&b'\r') && !line.contains(&b'\n'), "bare CR or LF: {line:?}");
            prop_assert!(line.is_ascii(), "{encoding:?}: not ASCII: {line:?}");
            if encoding == ContentTransferEncoding::QuotedPrintable {
                prop_assert!(!line.ends_with(b" ") && !line.ends_with(b"\t"), "white space before a line break: {line:?}");
            }
            rest = rest.get(end + 2..).unwrap_or(&[]);
        }
        // A text part's line end is CRLF whatever the input had (RFC 2046 §4.1.1): compare in LF.
        let decoded = decode(&body).replace("\r\n", "\n");
        prop_assert_eq!(decoded, text.replace("\r\n", "\n"), "{:?}", encoding);
    }
}
