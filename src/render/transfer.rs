//! Content-Transfer-Encoding of the text and HTML parts (RFC 2045 §6), done here in one pass instead
//! of by lettre's `Body::new`: lettre first inserts a CR before every LF one `String::insert` at a
//! time (quadratic in the number of lines), then quoted-printable-encodes byte by byte, which
//! together cost more than the rest of the MIME build. The choice of encoding follows lettre's: 7bit
//! for ASCII with lines of at most 75 characters, quoted-printable unless more than a third of the
//! bytes are not printable ASCII, base64 otherwise (mostly non-Latin text, where quoted-printable
//! would triple the size).

use lettre::message::Body;
use lettre::message::header::ContentTransferEncoding;

/// Longest encoded line, without its CRLF (RFC 2045 §6.7 rule 5: 76 including a soft break `=`).
const LINE: usize = 76;

/// Bytes that stand for themselves in quoted-printable: printable ASCII except `=`, space and tab
/// (the latter two only when not at the end of a line, checked separately).
const fn literal_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 33;
    while b <= 126 {
        table[b] = b != b'=' as usize;
        b += 1;
    }
    table[b' ' as usize] = true;
    table[b'\t' as usize] = true;
    table
}
const LITERAL: [bool; 256] = literal_table();

/// The part body for `text`, with CRLF line ends, in the encoding lettre would choose.
pub fn body(text: String) -> Body {
    let bytes = text.as_bytes();
    let lone_cr = memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'));
    if bytes.is_ascii() && !lone_cr && !line_longer_than(bytes, LINE - 1) {
        return Body::dangerous_pre_encoded(to_crlf(bytes), ContentTransferEncoding::SevenBit);
    }
    // lettre's rule (email-encoding's `quoted_printable_efficient`).
    let escaped = bytes
        .iter()
        .filter(|&&b| !matches!(b, b'\t' | b' '..=b'~'))
        .count();
    if escaped > bytes.len() / 3 {
        return Body::new_with_encoding(text, ContentTransferEncoding::Base64)
            .unwrap_or_else(Body::new);
    }
    Body::dangerous_pre_encoded(
        quoted_printable(bytes),
        ContentTransferEncoding::QuotedPrintable,
    )
}

fn line_longer_than(bytes: &[u8], max: usize) -> bool {
    bytes
        .split(|&b| b == b'\n')
        .any(|line| line.strip_suffix(b"\r").unwrap_or(line).len() > max)
}

/// `bytes` with every line end (LF or CRLF) written as CRLF.
fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        match line.strip_suffix(b"\n") {
            Some(content) => {
                out.extend_from_slice(content.strip_suffix(b"\r").unwrap_or(content));
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7): LF or CRLF are hard line breaks (CRLF), a lone CR is
/// encoded, space and tab before a line break or at the end are encoded, lines are broken with a
/// soft `=` so none is longer than 76 characters.
fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    let mut line = 0; // characters on the current output line
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            out.extend_from_slice(b"\r\n");
            line = 0;
            i += if b == b'\r' { 2 } else { 1 };
            continue;
        }
        // A run of literal bytes, as long as the line has room for it; a space or tab that ends
        // a line is left out of the run, to be encoded.
        let room = LINE - 1 - line;
        let limit = bytes.len().min(i + room);
        let mut end = i;
        while end < limit && LITERAL[bytes[end] as usize] {
            end += 1;
        }
        let line_ends = match bytes.get(end) {
            None | Some(b'\n') => true,
            Some(b'\r') => bytes.get(end + 1) == Some(&b'\n'),
            _ => false,
        };
        if line_ends && end > i && matches!(bytes[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        if end > i {
            out.extend_from_slice(&bytes[i..end]);
            line += end - i;
            i = end;
        } else if line + 3 > LINE - 1 || room == 0 {
            out.extend_from_slice(b"=\r\n");
            line = 0;
        } else {
            out.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            line += 3;
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        parsed.body_text(0).unwrap().into_owned()
    }

    fn lines_fit(body: &Body) {
        let text = std::str::from_utf8(body.as_ref()).unwrap();
        for line in text.split("\r\n") {
            assert!(line.len() <= LINE, "{} chars: {line:?}", line.len());
            assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        }
    }

    #[test]
    fn round_trips_through_a_mail_parser() {
        let long = "<td style=\"padding: 12px 22px; border-radius: 4px; color: #ffffff;\">x</td> "
            .repeat(9);
        let cases = [
            "short ascii\nlines\n".to_string(),
            format!("{long}\n{long}"),
            "Grüße, Zoë — 你好 مرحبا = 100% \t\nend with space \nand tab\t\r\nlast ".to_string(),
            format!("{}=\n{}", "a".repeat(74), "é".repeat(40)),
            "lone\rcr and =3D and . at\n.start".to_string(),
            "你好世界".repeat(50),
            String::new(),
        ];
        for text in cases {
            let body = body(text.clone());
            lines_fit(&body);
            let expected = text.replace("\r\n", "\n");
            assert_eq!(
                decode(&body).replace("\r\n", "\n"),
                expected,
                "{:?}",
                body.encoding()
            );
        }
    }

    #[test]
    fn chooses_the_encoding_lettre_would() {
        let enc = |t: &str| body(t.to_string()).encoding();
        assert_eq!(enc("plain\nascii"), ContentTransferEncoding::SevenBit);
        assert_eq!(
            enc(&"x".repeat(80)),
            ContentTransferEncoding::QuotedPrintable
        );
        assert_eq!(enc("Zoë Müller"), ContentTransferEncoding::QuotedPrintable);
        assert_eq!(enc(&"你好".repeat(30)), ContentTransferEncoding::Base64);
        assert_eq!(body("a\nb".into()).as_ref(), b"a\r\nb");
    }
}
