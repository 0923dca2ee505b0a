//! The result log (`results.csv`): one append-only CSV row per recipient per run, written the moment
//! the outcome is known (after the server's reply, never before), one `write` per row so that killing
//! the process loses no outcome already recorded. Reading it back gives the [`History`] a new run
//! resumes from: recipients with a `sent` row are never sent again, `failed` ones only with
//! `--retry-failed`, and the `sent` rows of the current UTC day count against `daily_limit`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::address_index::{self, AddressIndex, Combine};
use crate::campaign::recipients::address_key;
use crate::error::{Error, Result};
use crate::invalid;

/// The header row; users script against these column names.
pub const HEADER: [&str; 7] = [
    "email",
    "status",
    "attempts",
    "code",
    "message_id",
    "detail",
    "time",
];

/// A recipient's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Sent,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }

    /// How telling a status is, for the history: `sent` beats `failed` beats `skipped`.
    fn rank(self) -> u64 {
        match self {
            Status::Skipped => 0,
            Status::Failed => 1,
            Status::Sent => 2,
        }
    }

    fn from_rank(rank: u64) -> Status {
        match rank {
            0 => Status::Skipped,
            1 => Status::Failed,
            _ => Status::Sent,
        }
    }

    fn parse(s: &str) -> Option<Status> {
        match s {
            "sent" => Some(Status::Sent),
            "failed" => Some(Status::Failed),
            "skipped" => Some(Status::Skipped),
            _ => None,
        }
    }
}

/// One row of the log.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub email: &'a str,
    pub status: Status,
    pub attempts: u32,
    /// The last SMTP reply code, if there was a reply.
    pub code: Option<u16>,
    pub message_id: &'a str,
    /// The reply text, or the reason for a skip or failure.
    pub detail: &'a str,
}

/// What earlier runs recorded, keyed by address (case-insensitive), in an [`AddressIndex`] so that
/// a long log costs no more memory than a short one.
#[derive(Debug, Default)]
pub struct History {
    /// The highest [`Status::rank`] logged for each address.
    latest: AddressIndex,
    /// `sent` rows whose time is on `today` (UTC).
    pub sent_today: u64,
    pub today: Option<NaiveDate>,
}

impl History {
    /// The most telling status recorded for an address: `sent` beats `failed` beats `skipped`.
    pub fn status(&self, email: &str) -> Option<Status> {
        self.latest.get(address_key(email)).map(Status::from_rank)
    }

    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

/// The open result log.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    /// Reads the log at `path` (if any) and opens it for appending, writing the header to a new file.
    pub fn open(path: &Path, now: DateTime<Utc>) -> Result<(Journal, History)> {
        let history = if path.exists() {
            read_history(path, now.date_naive())?
        } else {
            History {
                today: Some(now.date_naive()),
                ..History::default()
            }
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::output("create", parent, e))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::output("open the result log", path, e))?;
        let empty = file.metadata().map(|m| m.len() == 0).unwrap_or(true);
        if !empty && !ends_with_newline(path) {
            // A row cut short by a crash: end it so the next row starts on its own line.
            file.write_all(b"\n")
                .map_err(|e| Error::output("write", path, e))?;
        }
        if empty {
            file.write_all(format!("{}\n", HEADER.join(",")).as_bytes())
                .map_err(|e| Error::output("write", path, e))?;
        }
        let journal = Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        };
        Ok((journal, history))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one row with the current time, in a single write.
    pub fn append(&self, record: &Record<'_>) -> Result<()> {
        let time = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let attempts = record.attempts.to_string();
        let code = record.code.map(|c| c.to_string()).unwrap_or_default();
        let detail = one_line(record.detail);
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::with_capacity(160));
        writer
            .write_record([
                record.email,
                record.status.as_str(),
                &attempts,
                &code,
                record.message_id,
                &detail,
                &time,
            ])
            .map_err(|e| Error::output("format a row for", &self.path, e.into()))?;
        let row = writer
            .into_inner()
            .map_err(|e| Error::output("format a row for", &self.path, e.into_error()))?;
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&row)
            .map_err(|e| Error::output("append to", &self.path, e))
    }
}

fn ends_with_newline(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [0u8];
    File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::End(-1))?;
            f.read_exact(&mut last)
        })
        .map_or(true, |()| last[0] == b'\n')
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn read_history(path: &Path, today: NaiveDate) -> Result<History> {
    read_history_with_capacity(path, today, address_index::DEFAULT_CAPACITY)
}

/// [`read_history`] with the index holding `capacity` pairs in memory (tests spill it).
fn read_history_with_capacity(path: &Path, today: NaiveDate, capacity: usize) -> Result<History> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| invalid!("{}: cannot read the result log: {e}", path.display()))?;
    let headers = reader
        .headers()
        .map_err(|e| invalid!("{}: cannot read the result log: {e}", path.display()))?
        .clone();
    if headers.iter().ne(HEADER.iter().copied()) {
        return Err(invalid!(
            "{}: line 1: not a campaign result log (expected the header {}); pass another --log path",
            path.display(),
            HEADER.join(",")
        ));
    }
    let mut latest = address_index::Builder::with_capacity(Combine::Max, capacity);
    let mut sent_today = 0;
    for record in reader.records() {
        // A row cut short by a crash mid-write (the last line) is ignored: its outcome was not
        // recorded, so the recipient is treated as not yet handled.
        let Ok(record) = record else { continue };
        let (Some(email), Some(status)) = (record.get(0), record.get(1).and_then(Status::parse))
        else {
            continue;
        };
        if record.len() != HEADER.len() {
            continue;
        }
        if status == Status::Sent
            && record
                .get(6)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t.with_timezone(&Utc).date_naive() == today)
        {
            sent_today += 1;
        }
        latest.push(address_key(email), status.rank())?;
    }
    Ok(History {
        latest: latest.finish()?,
        sent_today,
        today: Some(today),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        let now = Utc::now();
        let (journal, history) = Journal::open(&path, now).unwrap();
        assert!(history.is_empty());
        let row = |email, status| Record {
            email,
            status,
            attempts: 1,
            code: Some(250),
            message_id: "id@x",
            detail: "ok,\nqueued",
        };
        journal.append(&row("A@x.example", Status::Sent)).unwrap();
        journal.append(&row("b@x.example", Status::Failed)).unwrap();
        journal
            .append(&row("c@x.example", Status::Skipped))
            .unwrap();
        journal.append(&row("c@x.example", Status::Failed)).unwrap();
        drop(journal);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("email,status,attempts,code,message_id,detail,time\n"));
        assert!(text.contains("\"ok, queued\""), "{text}");
        let (_, history) = Journal::open(&path, now).unwrap();
        assert_eq!(history.status("a@X.example"), Some(Status::Sent));
        assert_eq!(history.status("b@x.example"), Some(Status::Failed));
        assert_eq!(history.status("c@x.example"), Some(Status::Failed));
        assert_eq!(history.status("d@x.example"), None);
        assert_eq!(history.sent_today, 1);
        let tomorrow = now + chrono::Duration::days(1);
        assert_eq!(Journal::open(&path, tomorrow).unwrap().1.sent_today, 0);
    }

    #[test]
    fn refuses_a_file_that_is_not_a_result_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        std::fs::write(&path, "email,name\na@x.example,A\n").unwrap();
        let err = Journal::open(&path, Utc::now()).err().unwrap().to_string();
        assert!(err.contains("not a campaign result log"), "{err}");
    }

    #[test]
    fn sent_beats_failed_beats_skipped_across_spilled_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        let patterns: [&[&str]; 4] = [
            &["skipped"],
            &["failed", "skipped", "failed"],
            &["skipped", "sent", "failed"],
            &["failed", "skipped", "skipped", "skipped", "sent"],
        ];
        let mut log = format!("{}\n", HEADER.join(","));
        // Each address's rows are far apart, so they land in different runs of 4.
        for round in 0..5 {
            for i in 0..40 {
                if let Some(status) = patterns[i % 4].get(round) {
                    let email = if round % 2 == 0 { "A" } else { "a" };
                    let time = "2026-11-21T10:00:00Z";
                    log.push_str(&format!("{email}{i}@x.example,{status},1,,,,{time}\n"));
                }
            }
        }
        std::fs::write(&path, log).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let history = read_history_with_capacity(&path, today, 4).unwrap();
        let want = [Status::Skipped, Status::Failed, Status::Sent, Status::Sent];
        for i in 0..40 {
            assert_eq!(
                history.status(&format!("a{i}@X.example")),
                Some(want[i % 4])
            );
        }
        assert_eq!(history.status("a40@x.example"), None);
        assert_eq!(history.len(), 40);
        assert_eq!(history.sent_today, 20);
    }
}
