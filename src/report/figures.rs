//! The figures of a report, read from the result log in one pass through the journal's one reader
//! ([`crate::journal::each_row`]): where every recipient stands (their most telling status over
//! all runs, as a resumed send sees it), the failures grouped by reply and by domain, the domains
//! that needed retries, the outcomes per relay, and the runs the log holds, each with the times of
//! its messages for the throughput chart.
//!
//! The log has one row per recipient per run and no run number, so runs are told apart by what a
//! run cannot do: pause for more than [`RUN_GAP`] without writing a row, or log one address twice.

use std::path::Path;

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::campaign::recipients::address_key;
use crate::error::Result;
use crate::failures::{Failures, Group, Kind};
use crate::journal::{Row, Status, each_row};

/// A pause longer than this between two rows starts a new run: longer than a send waits for one
/// reply (`data_timeout`, 600 s by default), shorter than the time it takes to read a summary, fix
/// something and run again.
pub const RUN_GAP: i64 = 15 * 60;

/// Recipients per status. Skipped rows count one each (a duplicate row is skipped although its
/// address was sent); the other statuses count each address once, at its most telling status
/// (`sent` > `unknown` > `failed`), the one the next run acts on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub failed: u64,
    pub unknown: u64,
    pub skipped: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.sent + self.failed + self.unknown + self.skipped
    }

    fn add(&mut self, status: Status) {
        match status {
            Status::Sent => self.sent += 1,
            Status::Failed => self.failed += 1,
            Status::Unknown => self.unknown += 1,
            Status::Skipped => self.skipped += 1,
        }
    }
}

/// One recipient domain.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Domain {
    pub name: String,
    /// Addresses at this domain with a row other than `skipped`.
    pub recipients: u64,
    /// Of those, the ones whose status is `failed`.
    pub failed: u64,
    /// Message rows (one per recipient per run) and the SMTP attempts they took.
    pub messages: u64,
    pub attempts: u64,
    /// Message rows that took more than one attempt (the relay said "not now", 4xx).
    pub retried: u64,
}

impl Domain {
    pub fn failure_rate(&self) -> f64 {
        self.failed as f64 / self.recipients.max(1) as f64
    }

    pub fn attempts_per_message(&self) -> f64 {
        self.attempts as f64 / self.messages.max(1) as f64
    }
}

/// One relay's message rows (one per recipient per run, not `skipped`) by status: how it did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Its name (or host) as the log's `relay` column has it; empty for rows with no relay (a
    /// log written before the column, or a message that never reached one).
    pub name: String,
    pub sent: u64,
    pub failed: u64,
    pub unknown: u64,
}

impl Relay {
    pub fn total(&self) -> u64 {
        self.sent + self.failed + self.unknown
    }
}

/// One run: a stretch of rows (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Rows by status.
    pub counts: Counts,
    /// When each message row (not `skipped`) was written, in seconds since the epoch.
    pub times: Vec<i64>,
}

/// Everything the page shows from the log.
#[derive(Debug, Default)]
pub struct Figures {
    pub rows: u64,
    pub counts: Counts,
    /// Recipients whose status is `failed`, by reply code and reason, most first.
    pub failures: Vec<Group>,
    /// Every domain with a message row, in no particular order.
    pub domains: Vec<Domain>,
    /// Every relay with a message row (and the rows with none, named ""), by name.
    pub relays: Vec<Relay>,
    pub runs: Vec<Run>,
}

/// Where one address stands: its most telling status and its domain (small, one per address).
struct Standing {
    status: Status,
    domain: u32,
}

/// A `failed` row's code, reply and address.
type Failure = (Option<u16>, String, String);

/// Reads the log at `log` (which must exist) into figures.
pub fn read(log: &Path) -> Result<Figures> {
    read_all(&[log.to_path_buf()])
}

/// Reads several logs of one campaign (the shards' of `--shard I/N`) into one set of figures:
/// each recipient counted once, at its most telling status in any of them. Runs are found in each
/// log, then runs that overlap in time (the shards sending at once) are one run.
pub fn read_all(logs: &[std::path::PathBuf]) -> Result<Figures> {
    let mut reading = Reading::default();
    for (number, log) in logs.iter().enumerate() {
        reading.new_log = true;
        reading.log = number;
        each_row(log, |row, _| {
            reading.add(row);
            Ok(())
        })?;
    }
    Ok(reading.finish())
}

#[derive(Default)]
struct Reading {
    figures: Figures,
    standing: FxHashMap<u64, Standing>,
    /// The last failure of each address whose status is `failed`.
    failure: FxHashMap<u64, Failure>,
    domain_index: FxHashMap<String, u32>,
    relays: std::collections::BTreeMap<String, Relay>,
    /// The addresses of the current run.
    in_run: FxHashSet<u64>,
    /// The next row is the first of another log: it starts a run.
    new_log: bool,
    /// The number of the log being read, and the log of each run.
    log: usize,
    run_logs: Vec<usize>,
}

impl Reading {
    fn add(&mut self, row: &Row<'_>) {
        self.figures.rows += 1;
        let key = (row.status != Status::Skipped).then(|| address_key(row.email));
        self.follow_runs(row, key);
        let Some(key) = key else {
            self.figures.counts.skipped += 1;
            return;
        };
        self.count_relay(row);
        let domain = self.domain(row.email);
        let d = &mut self.figures.domains[domain as usize];
        d.messages += 1;
        d.attempts += u64::from(row.attempts);
        d.retried += u64::from(row.attempts > 1);
        let standing = self.standing.entry(key).or_insert(Standing {
            status: row.status,
            domain,
        });
        if rank(row.status) >= rank(standing.status) {
            standing.status = row.status;
            if row.status == Status::Failed {
                let failure = (row.code, row.detail.to_string(), row.email.to_string());
                self.failure.insert(key, failure);
            } else {
                self.failure.remove(&key);
            }
        }
    }

    /// Starts a new run when this row cannot belong to the current one, and counts it there.
    fn follow_runs(&mut self, row: &Row<'_>, key: Option<u64>) {
        let time = row.time.timestamp();
        let new_run = match self.figures.runs.last() {
            None => true,
            Some(_) if self.new_log => true,
            Some(run) => {
                time - run.end.timestamp() > RUN_GAP
                    || key.is_some_and(|k| self.in_run.contains(&k))
            }
        };
        if new_run {
            self.new_log = false;
            self.run_logs.push(self.log);
            self.in_run.clear();
            self.figures.runs.push(Run {
                start: row.time,
                end: row.time,
                counts: Counts::default(),
                times: Vec::new(),
            });
        }
        let run = self.figures.runs.last_mut().expect("a run was just pushed");
        run.end = run.end.max(row.time);
        run.counts.add(row.status);
        if let Some(key) = key {
            self.in_run.insert(key);
            run.times.push(time);
        }
    }

    fn count_relay(&mut self, row: &Row<'_>) {
        let relay = match self.relays.get_mut(row.relay) {
            Some(relay) => relay,
            None => self.relays.entry(row.relay.to_string()).or_default(),
        };
        match row.status {
            Status::Sent => relay.sent += 1,
            Status::Failed => relay.failed += 1,
            Status::Unknown => relay.unknown += 1,
            Status::Skipped => {}
        }
    }

    fn domain(&mut self, email: &str) -> u32 {
        let name = email
            .rsplit_once('@')
            .map_or("(no domain)", |(_, d)| d)
            .to_ascii_lowercase();
        let domains = &mut self.figures.domains;
        *self.domain_index.entry(name).or_insert_with_key(|name| {
            domains.push(Domain {
                name: name.clone(),
                ..Domain::default()
            });
            (domains.len() - 1) as u32
        })
    }

    fn finish(mut self) -> Figures {
        let failures = Failures::default();
        for (key, standing) in &self.standing {
            self.figures.counts.add(standing.status);
            let domain = &mut self.figures.domains[standing.domain as usize];
            domain.recipients += 1;
            if let Some((code, detail, email)) = self.failure.get(key) {
                domain.failed += 1;
                failures.record(kind(*code, detail), *code, detail, email);
            }
        }
        self.figures.failures = failures.groups();
        self.figures.relays = std::mem::take(&mut self.relays)
            .into_iter()
            .map(|(name, relay)| Relay { name, ..relay })
            .collect();
        let runs = std::mem::take(&mut self.figures.runs);
        self.figures.runs = overlapping_merged(runs.into_iter().zip(self.run_logs).collect());
        self.figures
    }
}

/// The runs (each with the number of its log) in order of their start, runs of different logs
/// that overlap in time (shards of one send) made one. A single log's runs stay as they are.
fn overlapping_merged(mut runs: Vec<(Run, usize)>) -> Vec<Run> {
    runs.sort_by_key(|(r, _)| r.start);
    let mut merged: Vec<(Run, Vec<usize>)> = Vec::with_capacity(runs.len());
    for (run, log) in runs {
        match merged.last_mut() {
            Some((last, logs)) if run.start <= last.end && !logs.contains(&log) => {
                logs.push(log);
                last.end = last.end.max(run.end);
                last.counts.sent += run.counts.sent;
                last.counts.failed += run.counts.failed;
                last.counts.unknown += run.counts.unknown;
                last.counts.skipped += run.counts.skipped;
                last.times.extend(run.times);
            }
            _ => merged.push((run, vec![log])),
        }
    }
    merged.into_iter().map(|(run, _)| run).collect()
}

/// `sent` > `unknown` > `failed` > `skipped`, as the resume history ranks them.
fn rank(status: Status) -> u8 {
    match status {
        Status::Skipped => 0,
        Status::Failed => 1,
        Status::Unknown => 2,
        Status::Sent => 3,
    }
}

/// What kind of failure a logged row was, from its code and detail.
fn kind(code: Option<u16>, detail: &str) -> Kind {
    match code {
        _ if detail.starts_with("not rendered") => Kind::NotRendered,
        Some(400..=499) => Kind::Temporary,
        _ => Kind::Permanent,
    }
}
