//! Writing the result log: the [`Journal`] a send holds from start to end. It takes the run lock,
//! has [`read`](super::read) check the log, repairs a torn last row, [`upgrades`](super::upgrade)
//! a log of the old layout to the current one, turns a dead run's messages in
//! flight into `unknown` rows, then appends one row per outcome in a single `write` and flushes
//! (`fdatasync`) from a background thread at most [`SYNC_EVERY`] later, and on close.
//!
//! The SMTP workers call [`Journal::begin`] and [`Journal::append`] from their async tasks, on
//! purpose: each is one `pwrite` of a few hundred bytes into the page cache (microseconds), and
//! it must be done before the worker goes on (the in-flight record before the final dot, the row
//! before the slot is reused). The slow part, `fdatasync`, is already off the workers, on the
//! flusher thread. Handing the writes to another thread (a channel, or tokio's `block_in_place`)
//! would add a thread hand-off to every message to save a microsecond.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::lock::{InFlight, RunLock};
use super::{HEADER, History, Record, Status, read, upgrade};
use crate::address_index;
use crate::campaign::recipients::address_key;
use crate::error::{Error, Result};

/// The open result log, held under the run lock until dropped.
pub struct Journal {
    path: PathBuf,
    shared: Arc<Shared>,
    syncer: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// A second handle on the log, for `fdatasync` without holding up writers.
    sync_file: File,
    /// Rows written since the last `fdatasync`.
    dirty: AtomicBool,
    closing: Mutex<bool>,
    wake: Condvar,
}

struct State {
    file: File,
    lock: RunLock,
    /// Each session's message whose final dot may be out and whose row is not written yet.
    in_flight: Vec<Option<InFlight>>,
}

/// Rows are flushed to disk at most this long after they are written.
const SYNC_EVERY: Duration = Duration::from_millis(100);

/// The `detail` of a message a dead run left in flight.
const DIED_IN_FLIGHT: &str = "the earlier run stopped while this message's final dot was out \
    and before the relay's reply was logged: it may have been delivered; check with the relay \
    (search for the Message-ID), then run with --retry-unknown to send it again";

impl Journal {
    /// Takes the run lock for the log at `path`, reads the log (strictly; exit 2 on a damaged row,
    /// before anything is written), repairs a torn last row, rewrites a log of the old layout in the
    /// current one, logs the messages a dead earlier run left in flight as `unknown`, and opens the
    /// log for appending by `sessions` SMTP sessions.
    pub fn open(path: &Path, now: DateTime<Utc>, sessions: usize) -> Result<(Journal, History)> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::output("create", parent, e))?;
        }
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(crate::invalid!(
                "--log {}: not a regular file (a result log is read back by the next run and \
                 appended to): pass a file path",
                path.display()
            ));
        }
        let (lock, in_flight) = RunLock::acquire(path)?;
        let ids: HashSet<String> = in_flight.iter().map(|f| f.message_id.clone()).collect();
        let today = now.date_naive();
        let capacity = address_index::DEFAULT_CAPACITY;
        let mut scan = read::scan(path, today, &ids, capacity)?;
        let existed = path.exists();
        let mut file = open_appending(path)?;
        repair(&mut file, path, &scan.tail)?;
        if !existed {
            sync_parent(path);
        }
        upgrade::remove_leftovers(path);
        if scan.layout == read::Layout::Old {
            drop(file);
            upgrade::rewrite(path)?;
            // The history keeps byte offsets into the log: read the upgraded file afresh.
            scan = read::scan(path, today, &ids, capacity)?;
            file = open_appending(path)?;
        }
        let journal = Journal::start(path, file, lock, sessions)?;
        let mut history = scan.history;
        for dead in in_flight
            .iter()
            .filter(|f| !scan.logged.contains(&f.message_id))
        {
            journal.append(
                &Record {
                    email: &dead.email,
                    status: Status::Unknown,
                    attempts: 1,
                    code: None,
                    message_id: &dead.message_id,
                    detail: DIED_IN_FLIGHT,
                    relay: &dead.relay,
                },
                None,
            )?;
            let settled = (Status::Unknown, dead.message_id.clone());
            history.settled.insert(address_key(&dead.email), settled);
        }
        journal.sync()?;
        journal.state().lock.start(sessions, now)?;
        Ok((journal, history))
    }

    fn start(path: &Path, file: File, lock: RunLock, sessions: usize) -> Result<Journal> {
        let sync_file = file
            .try_clone()
            .map_err(|e| Error::output("open the result log", path, e))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                file,
                lock,
                in_flight: vec![None; sessions],
            }),
            sync_file,
            dirty: AtomicBool::new(false),
            closing: Mutex::new(false),
            wake: Condvar::new(),
        });
        let syncer = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || shared.sync_until_closed())
        };
        Ok(Journal {
            path: path.to_path_buf(),
            shared,
            syncer: Some(syncer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that session `slot` is about to write this message's final dot to `relay`. Past
    /// this point a missing reply means "maybe delivered", and a dead process is found out by the
    /// next run, which logs it `unknown` with this relay.
    pub fn begin(&self, slot: usize, email: &str, message_id: &str, relay: &str) -> Result<()> {
        let mut state = self.state();
        state.lock.set(slot, message_id, email, relay)?;
        state.in_flight[slot] = Some(InFlight {
            message_id: message_id.to_string(),
            email: email.to_string(),
            relay: relay.to_string(),
        });
        Ok(())
    }

    /// Session `slot`'s attempt ended without a row (it will be retried): nothing is in flight.
    pub fn release(&self, slot: usize) -> Result<()> {
        let mut state = self.state();
        if state.in_flight[slot].take().is_some() {
            state.lock.clear(slot)?;
        }
        Ok(())
    }

    /// Appends one row with the current time, in a single write; with `slot`, that session's
    /// in-flight record is cleared under the same lock, so a stop never sees the one without the
    /// other.
    pub fn append(&self, record: &Record<'_>, slot: Option<usize>) -> Result<()> {
        self.write_row(&mut self.state(), record, slot)
    }

    /// [`Journal::append`] under a lock already held.
    fn write_row(&self, state: &mut State, record: &Record<'_>, slot: Option<usize>) -> Result<()> {
        state
            .file
            .write_all(&format_row(record))
            .map_err(|e| Error::output("append to", &self.path, e))?;
        self.shared.dirty.store(true, Ordering::SeqCst);
        if let Some(slot) = slot
            && state.in_flight[slot].take().is_some()
        {
            state.lock.clear(slot)?;
        }
        Ok(())
    }

    /// Gives up on the messages in flight (a second stop signal): each gets an `unknown` row with
    /// `detail`, then the log is flushed. Returns how many. Holding the log's lock until the process
    /// exits keeps any late worker from writing after this.
    pub fn abandon(&self, detail: &str) -> Result<usize> {
        let mut state = self.state();
        let mut abandoned = 0;
        for slot in 0..state.in_flight.len() {
            let Some(f) = state.in_flight[slot].clone() else {
                continue;
            };
            let record = Record {
                email: &f.email,
                status: Status::Unknown,
                attempts: 1,
                code: None,
                message_id: &f.message_id,
                detail,
                relay: &f.relay,
            };
            self.write_row(&mut state, &record, Some(slot))?;
            abandoned += 1;
        }
        state
            .file
            .sync_data()
            .map_err(|e| Error::output("flush", &self.path, e))?;
        std::mem::forget(state); // keep the lock: nobody writes after the abandon
        Ok(abandoned)
    }

    /// Flushes the rows written so far to disk.
    pub fn sync(&self) -> Result<()> {
        self.shared
            .sync()
            .map_err(|e| Error::output("flush", &self.path, e))
    }

    /// Stops the background flusher and flushes what is left.
    pub fn close(mut self) -> Result<()> {
        self.stop_syncer();
        self.sync()
    }

    fn stop_syncer(&mut self) {
        *self
            .shared
            .closing
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.syncer.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop_syncer();
        let _ = self.shared.sync();
    }
}

impl Shared {
    fn sync(&self) -> std::io::Result<()> {
        if self.dirty.swap(false, Ordering::SeqCst) {
            self.sync_file.sync_data()?;
        }
        Ok(())
    }

    /// The flusher: every [`SYNC_EVERY`] while rows were written, until the journal closes.
    fn sync_until_closed(&self) {
        let mut closing = self.closing.lock().unwrap_or_else(|p| p.into_inner());
        while !*closing {
            closing = self
                .wake
                .wait_timeout(closing, SYNC_EVERY)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            // A failed flush shows again at close, where the run reports it.
            if self.sync().is_err() {
                self.dirty.store(true, Ordering::SeqCst);
            }
        }
    }
}

fn open_appending(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::output("open the result log", path, e))
}

/// Applies the reader's plan for the end of the file.
fn repair(file: &mut File, path: &Path, tail: &read::Tail) -> Result<()> {
    let io = |e| Error::output("repair", path, e);
    let header = format!("{}\n", HEADER.join(","));
    match tail {
        read::Tail::Clean => return Ok(()),
        read::Tail::WriteHeader => {
            file.set_len(0).map_err(io)?;
            file.write_all(header.as_bytes()).map_err(io)?;
        }
        read::Tail::AddNewline => file.write_all(b"\n").map_err(io)?,
        read::Tail::Cut { keep } => file.set_len(*keep).map_err(io)?,
        read::Tail::Complete { keep, row } => {
            file.set_len(*keep).map_err(io)?;
            file.write_all(&csv_line(row.iter().map(String::as_str)))
                .map_err(io)?;
        }
    }
    file.sync_data().map_err(io)
}

/// Makes a new file's directory entry durable (best effort: not every file system allows it).
pub(super) fn sync_parent(path: &Path) {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

/// The current time as the log writes it.
pub(super) fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One row, newline-terminated, every field on one line (so a row is always one line of the file).
fn format_row(record: &Record<'_>) -> Vec<u8> {
    let attempts = record.attempts.to_string();
    let code = record.code.map(|c| c.to_string()).unwrap_or_default();
    let time = now_rfc3339();
    csv_line([
        record.email,
        record.status.as_str(),
        &attempts,
        &code,
        record.message_id,
        record.detail,
        &time,
        record.relay,
    ])
}

pub(super) fn csv_line<'a>(fields: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::with_capacity(160));
    let fields: Vec<String> = fields.into_iter().map(collapse_whitespace).collect();
    writer
        .write_record(&fields)
        .expect("writing CSV to memory cannot fail");
    writer.into_inner().expect("a Vec never fails to flush")
}

/// A field with every run of white space (line breaks included) made one space.
fn collapse_whitespace(text: &str) -> String {
    if text.contains(['\n', '\r', '\t']) || text.contains("  ") {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        text.to_string()
    }
}
