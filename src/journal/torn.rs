//! A last row without its newline: a row torn by a crash or a full disk. It is completed when its
//! email and status fields are whole (the outcome was known, so it is honoured), and cut off
//! otherwise; either way no later row can be swallowed by an open quote. A completed row gets the
//! header's columns (an empty `relay`: which relay is not known). A torn row of the current layout
//! whose fields all check is taken as whole: a `relay` cut short cannot be told from a shorter
//! name (it then only misses one count in [`History::sent_today_via`](super::History)).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::Status;
use super::read::{Layout, check, is_reply_code};

/// The file's length up to and including its last newline, and the bytes after it.
pub(super) fn split_tail(file: &mut File) -> std::io::Result<(u64, Vec<u8>)> {
    const CHUNK: u64 = 64 * 1024;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut tail = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let mut chunk = vec![0; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        if let Some(i) = memchr::memrchr(b'\n', &chunk) {
            chunk.drain(..=i);
            chunk.extend_from_slice(&tail);
            return Ok((start + i as u64 + 1, chunk));
        }
        chunk.extend_from_slice(&tail);
        tail = chunk;
        end = start;
    }
    Ok((0, tail))
}

/// The text of a torn last row: a write cut inside a character leaves a partial UTF-8 sequence at
/// the very end, which is dropped with the rest of the cut field; an invalid byte before that is
/// damage, as in any other row (`Err` with the reason).
pub(super) fn fragment_text(bytes: &[u8]) -> std::result::Result<&str, String> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) if e.error_len().is_none() => {
            Ok(std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid up to there"))
        }
        Err(e) => Err(format!(
            "invalid UTF-8 near byte {} of the last row",
            e.valid_up_to()
        )),
    }
}

/// What a last row without its newline holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Torn {
    /// A whole row that only lacks the newline.
    Whole(Vec<String>),
    /// Email and status whole: the row completed from its whole fields (a row that checks).
    Honoured(Vec<String>),
    /// Too little to honour.
    Unusable,
}

/// Reads a torn last row of a log of `layout` (`None` when there is none).
pub fn torn(fragment: &str, layout: Layout) -> Option<Torn> {
    if fragment.is_empty() {
        return None;
    }
    let (mut fields, last, quote_open) = fields(fragment);
    let whole_row = {
        let mut all = fields.clone();
        all.push(last.clone());
        all
    };
    if !quote_open && check(&csv::StringRecord::from(whole_row.clone()), layout).is_ok() {
        return Some(Torn::Whole(whole_row));
    }
    let usable = fields.len() >= 2 && Status::parse(&fields[1]).is_some();
    if !usable {
        return Some(Torn::Unusable);
    }
    // Keep the whole fields that still check; blank the cut one and those never written.
    if fields.get(2).is_some_and(|a| a.parse::<u32>().is_err()) {
        fields.truncate(2);
    }
    fields.truncate(6);
    fields.resize(6, String::new());
    let note = "(row completed after a torn write)";
    fields[5] = if fields[5].is_empty() {
        note.to_string()
    } else {
        format!("{} {note}", fields[5])
    };
    if fields[2].is_empty() {
        fields[2] = "0".into();
    }
    if !is_reply_code(&fields[3]) {
        fields[3].clear();
    }
    fields.push(super::write::now_rfc3339());
    fields.resize(layout.width(), String::new()); // an empty relay: which one is not known
    // A row that still does not check (no email for a `sent` row) says too little to honour.
    if check(&csv::StringRecord::from(fields.clone()), layout).is_err() {
        return Some(Torn::Unusable);
    }
    Some(Torn::Honoured(fields))
}

/// Splits a CSV line into its comma-terminated (whole) fields, the unterminated last field, and
/// whether that field's quote is still open.
pub fn fields(line: &str) -> (Vec<String>, String, bool) {
    let mut whole = Vec::new();
    let mut field = String::new();
    let (mut quoted, mut in_quotes, mut chars) = (false, false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' if in_quotes => in_quotes = false,
            '"' if field.is_empty() && !quoted => (quoted, in_quotes) = (true, true),
            ',' if !in_quotes => {
                whole.push(std::mem::take(&mut field));
                quoted = false;
            }
            c => field.push(c),
        }
    }
    (whole, field, in_quotes)
}
