//! [`assert_same_bytes`]: the one assertion for "these two messages (or files) are the same bytes".
//! A plain `assert_eq!` on two `Vec<u8>` prints both as walls of numbers; this one names the first
//! line that differs and shows a few lines around it on both sides, escaped so that a `\r` or a
//! stray byte is visible (ripgrep's and fd's test harnesses do the same with a readable diff).

/// Lines of context shown before and after the first differing line.
const CONTEXT: usize = 2;

/// Asserts that `left` and `right` are the same bytes. On a mismatch it panics with `what`, both
/// lengths, the first differing line (1-based) and byte column, and that line with [`CONTEXT`]
/// lines either side from each side, each line escaped (`\r`, `\n`, `\t`, non-ASCII as `\xNN`).
#[track_caller]
pub fn assert_same_bytes(left: impl AsRef<[u8]>, right: impl AsRef<[u8]>, what: &str) {
    let (left, right) = (left.as_ref(), right.as_ref());
    if left == right {
        return;
    }
    panic!("{}", difference(left, right, what));
}

/// The report [`assert_same_bytes`] panics with (the two sides differ).
pub fn difference(left: &[u8], right: &[u8], what: &str) -> String {
    let l: Vec<&[u8]> = left.split_inclusive(|&b| b == b'\n').collect();
    let r: Vec<&[u8]> = right.split_inclusive(|&b| b == b'\n').collect();
    let line = (0..l.len().max(r.len()))
        .find(|&i| l.get(i) != r.get(i))
        .unwrap_or(0);
    let (a, b) = (l.get(line).copied(), r.get(line).copied());
    let column = match (a, b) {
        (Some(a), Some(b)) => a.iter().zip(b).take_while(|(x, y)| x == y).count(),
        _ => 0,
    };
    let from = line.saturating_sub(CONTEXT);
    format!(
        "{what}: not the same bytes (left {} bytes, right {} bytes); first difference on line {}, \
         byte {} of the line\n--- left\n{}--- right\n{}",
        left.len(),
        right.len(),
        line + 1,
        column + 1,
        excerpt(&l, from, line),
        excerpt(&r, from, line),
    )
}

/// Lines `from..=line + CONTEXT` of `lines`, numbered and escaped, the differing one marked `>`.
fn excerpt(lines: &[&[u8]], from: usize, line: usize) -> String {
    let mut out = String::new();
    for (i, text) in lines
        .iter()
        .enumerate()
        .skip(from)
        .take(line - from + CONTEXT + 1)
    {
        let mark = if i == line { '>' } else { ' ' };
        out.push_str(&format!("{mark}{:5} | {}\n", i + 1, text.escape_ascii()));
    }
    if lines.len() <= line {
        out.push_str(&format!(">{:5} | (no such line: ends here)\n", line + 1));
    }
    out
}
