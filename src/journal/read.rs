//! Reading the result log back, strictly: the log is what stands between a customer and a second
//! copy, so a row that cannot be read is never skipped in silence. Every row must have the header's
//! columns (eight; seven in a log written before the `relay` column), an exact lower-case status, a number of attempts, an empty or three-digit code and an
//! RFC 3339 time, and no field may run over a line break (which is what an unclosed or stray quote
//! does to the rows after it). Any such row stops the run before anything is sent, with its line.
//!
//! The one exception is the last row when the file does not end with a newline: a row torn by a
//! crash or a full disk, read by [`torn`](super::torn). The plan for it is returned, and applied
//! by the caller only once the whole file has been read without error, so bad input leaves the
//! file as it was.
//!
//! [`each_row`] is the one reader of the log: a send's history ([`scan`]) and the report
//! (`report/figures.rs`) both read it through it.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use super::torn::{Torn, fragment_text, split_tail, torn};
use super::{HEADER, History, OLD_HEADER, Status};
use crate::address_index::{self, Combine};
use crate::campaign::recipients::address_key;
use crate::error::{Error, Result};
use crate::invalid;

/// What to do with the end of the file before appending to it.
#[derive(Debug, PartialEq, Eq)]
pub enum Tail {
    /// Ends with a newline (or is empty after the header): append as is.
    Clean,
    /// No file, an empty one, or a header cut short: (re)write the header.
    WriteHeader,
    /// The last row is whole but lacks its newline.
    AddNewline,
    /// Cut the file to `keep` bytes, then append `row` (the torn row's whole fields, completed).
    Complete { keep: u64, row: Vec<String> },
    /// Cut the file to `keep` bytes: the torn row said too little to honour.
    Cut { keep: u64 },
}

/// Which header a log has: the columns of each of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Written before the `relay` column: [`OLD_HEADER`]'s seven columns.
    Old,
    /// [`HEADER`]'s eight columns.
    Current,
}

impl Layout {
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Layout::Old => OLD_HEADER,
            Layout::Current => &HEADER,
        }
    }

    pub fn width(self) -> usize {
        self.columns().len()
    }
}

/// The log as read.
pub struct Scan {
    pub history: History,
    /// Those of the asked-for Message-IDs that have a row.
    pub logged: HashSet<String>,
    pub tail: Tail,
    pub layout: Layout,
}

/// At most this many bad lines are listed in the error.
const SHOWN: usize = 10;

/// Reads the log at `path` (which may not exist). `ids` are Message-IDs whose presence in the log
/// the caller wants to know (the messages a dead run left in flight).
pub fn scan(path: &Path, today: NaiveDate, ids: &HashSet<String>, capacity: usize) -> Result<Scan> {
    let mut rows = Rows::new(today, ids, capacity);
    let (tail, layout) = each_row_of(path, |row, offset| rows.add(row, offset))?;
    if tail == Tail::WriteHeader {
        let history = History {
            today: Some(today),
            ..History::default()
        };
        return Ok(Scan {
            history,
            logged: HashSet::new(),
            tail,
            layout,
        });
    }
    Ok(Scan {
        logged: std::mem::take(&mut rows.logged),
        history: rows.finish(File::open(path).ok())?,
        tail,
        layout,
    })
}

/// Reads every row of the log at `path` strictly (any unreadable row is an error naming its line,
/// and `each` may have seen the rows before it), handing each to `each` with the byte it starts at:
/// the whole lines, then a torn last row when it can be honoured. Returns the plan for the end of
/// the file; [`Tail::WriteHeader`] when there is no log, or no more than (part of) its header.
/// The one reader of the log: a send's history and the report both read it here. A log of either
/// [`Layout`] is read; rows of an old one have an empty `relay`.
pub fn each_row(path: &Path, each: impl FnMut(&Row<'_>, u64) -> Result<()>) -> Result<Tail> {
    Ok(each_row_of(path, each)?.0)
}

/// [`each_row`], also saying which header the log has ([`Layout::Current`] when it has none).
pub fn each_row_of(
    path: &Path,
    mut each: impl FnMut(&Row<'_>, u64) -> Result<()>,
) -> Result<(Tail, Layout)> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Tail::WriteHeader, Layout::Current));
        }
        Err(e) => {
            return Err(invalid!(
                "{}: cannot read the result log: {e}",
                path.display()
            ));
        }
    };
    let unreadable =
        |e: std::io::Error| invalid!("{}: cannot read the result log: {e}", path.display());
    let (complete, tail) = split_tail(&mut file).map_err(unreadable)?;
    if complete == 0 {
        let fragment = String::from_utf8_lossy(&tail);
        if format!("{}\n", HEADER.join(",")).starts_with(&*fragment) {
            // Empty, or a header torn at the first write (the old header is a prefix of the new).
            return Ok((Tail::WriteHeader, Layout::Current));
        }
        return Err(not_a_log(path));
    }
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(file.take(complete));
    let header = reader.headers().map_err(|e| unreadable(e.into()))?;
    let layout = if header.iter().eq(HEADER.iter().copied()) {
        Layout::Current
    } else if header.iter().eq(OLD_HEADER.iter().copied()) {
        Layout::Old
    } else {
        return Err(not_a_log(path));
    };
    let mut bad = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let (line, offset) = (reader.position().line(), reader.position().byte());
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => match check(&record, layout) {
                Ok(row) => each(&row, offset)?,
                Err(why) => bad.push((line, why)),
            },
            Err(e) => bad.push((line, e.to_string())),
        }
    }
    let fragment = match fragment_text(&tail) {
        Ok(text) => text,
        Err(why) => {
            bad.push((reader.position().line(), why));
            ""
        }
    };
    if !bad.is_empty() {
        return Err(damaged(path, layout, &bad));
    }
    let tail = match torn(fragment, layout) {
        None => Tail::Clean,
        Some(Torn::Whole(fields)) => {
            let record = csv::StringRecord::from(fields);
            each(&check(&record, layout).expect("checked"), complete)?;
            Tail::AddNewline
        }
        Some(Torn::Honoured(row)) => {
            let record = csv::StringRecord::from(row.clone());
            each(
                &check(&record, layout).expect("completed rows check"),
                complete,
            )?;
            Tail::Complete {
                keep: complete,
                row,
            }
        }
        Some(Torn::Unusable) => Tail::Cut { keep: complete },
    };
    Ok((tail, layout))
}

fn not_a_log(path: &Path) -> Error {
    invalid!(
        "{}: line 1: not a campaign result log (expected the header {}); pass another --log path",
        path.display(),
        HEADER.join(",")
    )
}

fn damaged(path: &Path, layout: Layout, bad: &[(u64, String)]) -> Error {
    let mut text = format!(
        "{}: {} row(s) of the result log cannot be read, so this run cannot tell who was already \
         mailed; nothing was sent:",
        path.display(),
        bad.len()
    );
    for (line, why) in bad.iter().take(SHOWN) {
        text.push_str(&format!("\n  line {line}: {why}"));
    }
    if bad.len() > SHOWN {
        text.push_str(&format!("\n  … and {} more", bad.len() - SHOWN));
    }
    text.push_str(&format!(
        "\nfix: correct those lines by hand (each row has the {} columns {}, status one of sent, \
         failed, skipped, unknown), or delete a line whose recipient you want mailed again",
        layout.width(),
        layout.columns().join(",")
    ));
    Error::invalid(text)
}

/// One checked row.
pub struct Row<'r> {
    pub email: &'r str,
    pub status: Status,
    pub attempts: u32,
    /// The last SMTP reply code, if there was a reply.
    pub code: Option<u16>,
    pub message_id: &'r str,
    /// The reply text, or the reason for a skip or failure.
    pub detail: &'r str,
    pub time: DateTime<Utc>,
    /// The relay that was sent to; empty when none was, and in a log of the [`Layout::Old`].
    pub relay: &'r str,
}

/// Checks one row of a log of `layout`; the reason it is unreadable otherwise.
pub fn check(record: &csv::StringRecord, layout: Layout) -> std::result::Result<Row<'_>, String> {
    let width = layout.width();
    // Earlier versions wrote a skipped row's address as the CSV had it, line breaks and all
    // (quoted): such a row is still read. Any other line break is a quote gone astray.
    let old_skipped = record.len() == width && &record[1] == "skipped" && &record[2] == "0";
    let broken = record
        .iter()
        .enumerate()
        .find(|&(i, f)| f.contains(['\n', '\r']) && !(i == 0 && old_skipped));
    if let Some((_, field)) = broken {
        let lines = field.matches('\n').count() + 1;
        return Err(format!(
            "a quoted field runs over {lines} lines (a stray or unclosed \" swallows the rows \
             after it); the row and the {} line(s) after it are unreadable",
            lines - 1
        ));
    }
    if record.len() != width {
        return Err(format!("{} column(s), expected {width}", record.len()));
    }
    let status = Status::parse(&record[1]).ok_or_else(|| {
        format!(
            "status {:?} is not one of sent, failed, skipped, unknown (exactly, in lower case)",
            &record[1]
        )
    })?;
    if record[0].trim().is_empty() && status != Status::Skipped {
        return Err(format!("no email for a {} row", status.as_str()));
    }
    let attempts = record[2]
        .parse::<u32>()
        .map_err(|_| format!("attempts {:?} is not a number", &record[2]))?;
    let code = &record[3];
    if !code.is_empty() && !is_reply_code(code) {
        return Err(format!("code {code:?} is not a 3-digit SMTP reply code"));
    }
    let time = DateTime::parse_from_rfc3339(&record[6])
        .map_err(|_| format!("time {:?} is not an RFC 3339 time", &record[6]))?
        .with_timezone(&Utc);
    Ok(Row {
        email: &record[0],
        status,
        attempts,
        code: code.parse().ok(),
        message_id: &record[4],
        detail: &record[5],
        time,
        relay: record.get(7).unwrap_or_default(),
    })
}

/// Three digits, as an SMTP reply code (RFC 5321 §4.2).
pub(super) fn is_reply_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The history being built.
struct Rows<'a> {
    highest: address_index::Builder,
    /// Where each address's last `unknown` row starts.
    unknown: address_index::Builder,
    sent_today: u64,
    sent_today_by_relay: rustc_hash::FxHashMap<String, u64>,
    today: NaiveDate,
    ids: &'a HashSet<String>,
    logged: HashSet<String>,
}

impl<'a> Rows<'a> {
    fn new(today: NaiveDate, ids: &'a HashSet<String>, capacity: usize) -> Rows<'a> {
        Rows {
            highest: address_index::Builder::with_capacity(Combine::Max, capacity),
            unknown: address_index::Builder::with_capacity(Combine::Max, capacity),
            sent_today: 0,
            sent_today_by_relay: Default::default(),
            today,
            ids,
            logged: HashSet::new(),
        }
    }

    /// Adds the row that starts at byte `offset` of the file.
    fn add(&mut self, row: &Row<'_>, offset: u64) -> Result<()> {
        if row.status == Status::Sent && row.time.date_naive() == self.today {
            self.sent_today += 1;
            if !row.relay.is_empty() {
                *self
                    .sent_today_by_relay
                    .entry(row.relay.to_string())
                    .or_default() += 1;
            }
        }
        if self.ids.contains(row.message_id) {
            self.logged.insert(row.message_id.to_string());
        }
        if row.status == Status::Unknown {
            self.unknown.push(address_key(row.email), offset)?;
        }
        self.highest.push(address_key(row.email), row.status.rank())
    }

    fn finish(self, log: Option<File>) -> Result<History> {
        Ok(History {
            highest: self.highest.finish()?,
            unknown: self.unknown.finish()?,
            log,
            settled: Default::default(),
            sent_today: self.sent_today,
            sent_today_by_relay: self.sent_today_by_relay,
            today: Some(self.today),
        })
    }
}
