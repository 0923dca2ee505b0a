//! Relaxed canonicalization (RFC 6376 §3.4.2 and §3.4.4) of the exact bytes a message is sent
//! as: its header fields split out, each field made canonical, and the body hash, computed in one
//! pass that hashes runs of already-canonical lines (base64, quoted-printable) straight from the
//! body.

use ring::digest::{self, SHA256};

/// One header field: its name and everything after the colon up to (not including) the CRLF that
/// ends it, folds included.
pub(super) struct Field<'a> {
    pub(super) name: &'a [u8],
    pub(super) value: &'a [u8],
}

/// Splits a header block (each field ending in CRLF) into fields.
pub(super) fn fields(header: &[u8]) -> Vec<Field<'_>> {
    let mut fields: Vec<(usize, usize)> = Vec::new(); // (start, end) of each field, CRLF excluded
    let mut start = 0;
    while start < header.len() {
        let end = find_crlf(&header[start..]).map_or(header.len(), |i| start + i);
        let continuation = matches!(header[start], b' ' | b'\t');
        match fields.last_mut() {
            Some(last) if continuation => last.1 = end,
            _ => fields.push((start, end)),
        }
        start = end + 2;
    }
    fields
        .into_iter()
        .filter_map(|(start, end)| {
            let field = &header[start..end];
            let colon = field.iter().position(|&b| b == b':')?;
            Some(Field {
                name: &field[..colon],
                value: &field[colon + 1..],
            })
        })
        .collect()
}

/// Appends `name:value` in relaxed canonical form (RFC 6376 §3.4.2), without a line end: the name
/// in lower case, the value unfolded, whitespace runs made one space, none at either end.
pub(super) fn relaxed_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend(name.trim_ascii_end().iter().map(|b| b.to_ascii_lowercase()));
    out.push(b':');
    let mut space = false;
    let mut empty = true;
    for &b in value {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => space = true,
            _ => {
                if space && !empty {
                    out.push(b' ');
                }
                out.push(b);
                space = false;
                empty = false;
            }
        }
    }
}

/// SHA-256 of the body in relaxed canonical form (RFC 6376 §3.4.4): whitespace runs in a line made
/// one space, none at line ends, no empty lines at the end, and a non-empty body ending in CRLF.
///
/// Most lines (base64, quoted-printable) are canonical already: a run of them is hashed straight
/// from the body, in one piece.
pub(super) fn body_hash(body: &[u8]) -> digest::Digest {
    let mut hash = digest::Context::new(&SHA256);
    // body[run.0..run.1]: canonical as it is and not hashed yet; run.1 starts a line.
    let mut run = (0, 0);
    // Lines after the run that are empty once canonical, not hashed yet (dropped at the end).
    let mut empty_lines = 0;
    let mut relaxed = Vec::new();
    let mut at = 0;
    loop {
        // The line at `at` (a lone CR or LF is part of it), and where the next one starts.
        let (end, next) = match find_crlf(&body[at..]) {
            Some(i) => (at + i, Some(at + i + 2)),
            None => (body.len(), None),
        };
        let raw = &body[at..end];
        let canonical = is_relaxed(raw);
        if let (true, false, Some(next)) = (canonical, raw.is_empty(), next) {
            // Joins the run if the empty lines in between were bare CRLFs.
            if at - run.1 == 2 * empty_lines {
                run.1 = next;
                empty_lines = 0;
                at = next;
                continue;
            }
        }
        let line = if canonical {
            raw
        } else {
            relaxed.clear();
            let mut space = false;
            for &b in raw {
                if b == b' ' || b == b'\t' {
                    space = true;
                } else {
                    if space {
                        relaxed.push(b' ');
                        space = false;
                    }
                    relaxed.push(b);
                }
            }
            &relaxed[..]
        };
        if line.is_empty() {
            empty_lines += 1;
        } else {
            hash.update(&body[run.0..run.1]);
            for _ in 0..empty_lines {
                hash.update(b"\r\n");
            }
            empty_lines = 0;
            hash.update(line);
            hash.update(b"\r\n");
            let after = next.unwrap_or(body.len());
            run = (after, after);
        }
        match next {
            Some(next) => at = next,
            None => break,
        }
    }
    hash.update(&body[run.0..run.1]);
    hash.finish()
}

/// Whether a line is unchanged by relaxed body canonicalization: no tab, no two spaces in a row,
/// no space at the end.
fn is_relaxed(line: &[u8]) -> bool {
    if memchr::memchr2(b' ', b'\t', line).is_none() {
        return true;
    }
    let mut space = false;
    for &b in line {
        match b {
            b'\t' => return false,
            b' ' if space => return false,
            b' ' => space = true,
            _ => space = false,
        }
    }
    !space
}

/// Where the first CRLF in `bytes` starts.
fn find_crlf(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &bytes[from..]) {
        let at = from + i;
        if at > 0 && bytes[at - 1] == b'\r' {
            return Some(at - 1);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: digest::Digest) -> String {
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn relaxed_body_examples() {
        // RFC 6376 §3.4.6, example 2 (relaxed body).
        let want = digest::digest(&SHA256, b" C\r\nD E\r\n");
        assert_eq!(
            hex(body_hash(b" C \r\nD \t E\r\n\r\n\r\n")),
            hex(want),
            "RFC example"
        );
        // An empty body, and one of empty lines only, hash as the empty string.
        let empty = hex(digest::digest(&SHA256, b""));
        assert_eq!(hex(body_hash(b"")), empty);
        assert_eq!(hex(body_hash(b"\r\n\r\n \r\n")), empty);
        // A missing final CRLF is added; inner empty lines are kept.
        assert_eq!(
            hex(body_hash(b"a\r\n\r\nb")),
            hex(digest::digest(&SHA256, b"a\r\n\r\nb\r\n"))
        );
    }

    /// Relaxed body canonicalization, written plainly (RFC 6376 §3.4.4).
    fn relaxed_body_reference(body: &[u8]) -> Vec<u8> {
        let text = body.to_vec();
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut rest = &text[..];
        loop {
            let i = find_crlf(rest);
            let raw = &rest[..i.unwrap_or(rest.len())];
            let mut line = Vec::new();
            for (k, &b) in raw.iter().enumerate() {
                let wsp = |c: u8| c == b' ' || c == b'\t';
                if wsp(b) {
                    if raw[k + 1..].iter().all(|&c| wsp(c)) || wsp(raw[k + 1]) {
                        continue;
                    }
                    line.push(b' ');
                } else {
                    line.push(b);
                }
            }
            lines.push(line);
            match i {
                Some(i) => rest = &rest[i + 2..],
                None => break,
            }
        }
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
            .iter()
            .flat_map(|l| [&l[..], b"\r\n"].concat())
            .collect()
    }

    #[test]
    fn body_hash_matches_the_plain_reference() {
        let alphabet = [
            &b" "[..],
            b"\t",
            b"\r\n",
            b"\r",
            b"\n",
            b"a",
            b"bc",
            b"  ",
            b"\r\n\r\n",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..5000 {
            let len = rng.usize(0..24);
            let body: Vec<u8> = (0..len)
                .flat_map(|_| alphabet[rng.usize(..alphabet.len())].to_vec())
                .collect();
            assert_eq!(
                hex(body_hash(&body)),
                hex(digest::digest(&SHA256, &relaxed_body_reference(&body))),
                "body {:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn lone_cr_and_lf_stay_in_their_line() {
        assert_eq!(
            hex(body_hash(b"a\nb  c\r\nd\re \r\n")),
            hex(digest::digest(&SHA256, b"a\nb c\r\nd\re\r\n"))
        );
        assert_eq!(find_crlf(b"\n\r\n"), Some(1));
        assert_eq!(find_crlf(b"\r\r\n"), Some(1));
        assert_eq!(find_crlf(b"\n\r"), None);
    }

    #[test]
    fn relaxed_header_example() {
        // RFC 6376 §3.4.6, example 2 (relaxed header).
        let header = b"A: X\r\nB : Y\t\r\n\tZ  \r\n";
        let mut out = Vec::new();
        for field in fields(header) {
            relaxed_header(&mut out, field.name, field.value);
            out.extend_from_slice(b"\r\n");
        }
        assert_eq!(out, b"a:X\r\nb:Y Z\r\n");
    }
}
