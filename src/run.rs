//! `campaign run` (a real send): open the result log under its run lock, decide per recipient from
//! its history (resume, `--retry-failed`, `--retry-unknown`, `--limit`, `daily_limit`), selection the
//! shared pipeline into the SMTP workers, stop cleanly on SIGINT, SIGTERM or SIGHUP, and report. The
//! dry run shares everything up to the last step.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::campaign::Campaign;
use crate::campaign::suppress::Suppression;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::journal::{Journal, Status};
use crate::pipeline::{self, Decision, Selection};
use crate::progress::{self, Counters, Reporter, Snapshot};
use crate::render::Renderer;
use crate::send::rate::Pacer;
use crate::send::retry::Streaks;
use crate::send::smtp::Connector;
use crate::send::workers::Workers;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Command-line choices for a send.
#[derive(Debug, Default, Clone)]
pub struct SendOptions {
    pub log: Option<PathBuf>,
    pub limit: Option<u64>,
    pub retry_failed: bool,
    /// Also send to recipients whose outcome was logged `unknown` (the user checked the relay).
    pub retry_unknown: bool,
    pub plain_progress: bool,
    /// Called with the report so far when a second stop signal ends the process at once (the
    /// `--json` object must still be printed).
    pub last_words: Option<LastWords>,
    /// `--shard I/N`: this shard's recipients only, with a log of its own.
    pub shard: Option<crate::shard::Shard>,
}

/// What to do with the report of a run a second stop signal ends at once.
#[derive(Clone)]
pub struct LastWords(pub Arc<dyn Fn(&SendReport) + Send + Sync>);

impl std::fmt::Debug for LastWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LastWords")
    }
}

/// What a send did.
#[derive(Debug)]
pub struct SendReport {
    pub counts: Snapshot,
    /// This run's failures grouped by reply code and reason, most recipients first.
    pub failures: Vec<crate::failures::Group>,
    /// When sending started (after the plan was accepted), and how long it took.
    pub started: chrono::DateTime<Utc>,
    pub elapsed: Duration,
    pub log: PathBuf,
    /// Recipients not reached because of `--limit` or `daily_limit`.
    pub limited: bool,
    pub daily_limit_reached: bool,
    /// The stop signal (its number) that ended the run early.
    pub stopped_by: Option<i32>,
    /// The person at the terminal said no to the plan: nothing was sent.
    pub declined: bool,
    pub fatal: Option<Error>,
    /// `report.html` (or why it could not be written), built from the log after the run.
    pub report: Option<Result<PathBuf>>,
    /// With `--shard`: how much of the list was this shard's.
    pub shard: Option<crate::shard::ShardRows>,
}

impl SendReport {
    /// The report of a run whose plan was declined.
    fn declined(log: PathBuf, shard: Option<crate::shard::ShardRows>) -> SendReport {
        SendReport {
            counts: Snapshot::default(),
            failures: Vec::new(),
            started: Utc::now(),
            elapsed: Duration::ZERO,
            log,
            limited: false,
            daily_limit_reached: false,
            stopped_by: None,
            declined: true,
            fatal: None,
            report: None,
            shard,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        if let Some(fatal) = &self.fatal {
            // Whatever stopped a send part-way is no "nothing was sent" (exit 2): 3, or 6 when
            // a file could not be written.
            if fatal.is_output() {
                ExitCode::OutputFailed
            } else {
                ExitCode::Fatal
            }
        } else if let Some(signal) = self.stopped_by {
            ExitCode::Stopped(signal)
        } else if self.counts.failed > 0 || self.counts.unknown > 0 {
            ExitCode::SomeFailed
        } else if self.daily_limit_reached {
            ExitCode::DailyLimit
        } else {
            ExitCode::Success
        }
    }

    /// Messages per second actually achieved.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.counts.sent as f64 / secs
        } else {
            0.0
        }
    }
}

/// Sends the campaign. With `confirm`, the [`Plan`](crate::plan::Plan) is counted first and
/// nothing is sent unless `confirm` says yes (an interactive run's question).
pub fn send(
    campaign: &Campaign,
    options: &SendOptions,
    confirm: Option<&mut dyn FnMut(&crate::plan::Plan) -> bool>,
) -> Result<SendReport> {
    let (rate, concurrency) = (campaign.send.rate, campaign.send.concurrency);
    let connector = Connector::for_campaign(campaign)?;
    let recipients = campaign.scan_recipients()?;
    let renderer = Renderer::new(campaign)?;
    renderer.preflight()?;

    let log = crate::shard::log_path(options.log.as_deref(), &campaign.dir, options.shard)?;
    let shard = (options.shard)
        .map(|s| crate::shard::ShardRows::count(campaign, s))
        .transpose()?;
    let suppression = Suppression::load(&campaign.suppress)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::fatal(format!("cannot start the async runtime: {e}")))?;
    // From here on a stop signal is a clean stop, not the default sudden death.
    let signals = {
        let _guard = runtime.enter();
        StopSignals::install()
            .map_err(|e| Error::fatal(format!("cannot watch for stop signals: {e}")))?
    };
    let (journal, history) = Journal::open(&log, Utc::now(), concurrency)?;
    let remaining_today = campaign
        .send
        .daily_limit
        .map(|cap| cap.saturating_sub(history.sent_today));
    let limit = match (options.limit, remaining_today) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    let counters = Arc::new(Counters::default());
    // A dead run's messages in flight were just logged `unknown`: this run reports them.
    counters
        .unknown
        .fetch_add(history.settled_unknown(), Ordering::Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let workers = Arc::new(Workers::new(
        connector,
        Pacer::new(rate),
        Arc::new(journal),
        Arc::clone(&counters),
        campaign.send.retries,
        Arc::clone(&stop),
        Streaks::new(
            campaign.send.stop_after_rejections,
            campaign.send.throttle_pause,
        ),
    ));
    let already_done = |email: &str| match history.status(email) {
        Some(Status::Sent) => true,
        Some(Status::Unknown) => !options.retry_unknown,
        Some(Status::Failed) => !options.retry_failed,
        _ => false,
    };
    let judge = |r: &crate::campaign::Recipient| {
        if already_done(&r.email) {
            return Decision::AlreadyDone;
        }
        match Decision::unless_suppressed(&suppression, r) {
            Decision::Deliver if options.retry_unknown => history
                .unknown_message_id(&r.email)
                .map_or(Decision::Deliver, Decision::Resend),
            decision => decision,
        }
    };
    if let Some(confirm) = confirm {
        let plan = crate::plan::count(campaign, &recipients, limit, shard, &judge)?;
        if !confirm(&plan) {
            return Ok(SendReport::declined(log, shard));
        }
    }
    let decide = |r: &crate::campaign::Recipient| {
        let decision = judge(r);
        if matches!(decision, Decision::AlreadyDone) {
            counters.already_done.fetch_add(1, Ordering::Relaxed);
        }
        decision
    };
    // A skipped row is logged once: not again when its address already has a row.
    let report_skip = |s: &crate::campaign::Skipped| {
        let new = history.status(&s.email).is_none();
        if new && s.reason == crate::campaign::SkipReason::Suppressed {
            counters.suppressed.fetch_add(1, Ordering::Relaxed);
        }
        new
    };
    let selection = Selection {
        shard: options.shard,
        limit,
        stop: Arc::clone(&stop),
        decide: Box::new(decide),
        report_skip: Box::new(report_skip),
    };

    let started = Instant::now();
    let started_at = Utc::now();
    let last_words = {
        let (counters, log, words) = (
            Arc::clone(&counters),
            log.clone(),
            options.last_words.clone(),
        );
        move |signal: i32, abandoned: u64| {
            let Some(LastWords(words)) = words else {
                return;
            };
            let mut counts = counters.snapshot();
            counts.unknown += abandoned; // logged `unknown` by the second signal
            words(&SendReport {
                counts,
                failures: counters.failures.groups(),
                started: started_at,
                elapsed: started.elapsed(),
                log,
                limited: false,
                daily_limit_reached: false,
                stopped_by: Some(signal),
                declined: false,
                fatal: None,
                report: None, // a second signal exits at once
                shard,
            });
        }
    };
    let reporter = Reporter::start(
        Arc::clone(&counters),
        shard.map_or(recipients.rows(), |s| s.rows),
        campaign.name() + &shard.map_or(String::new(), |s| format!(" {}", s.shard)),
        options.plain_progress,
    );
    let stopped_by = Arc::new(AtomicI32::new(0));
    let capacity = concurrency * 4 + 64;
    let (_, fed) = pipeline::drive(&recipients, &renderer, selection, capacity, |rx| {
        runtime.block_on(async {
            let watch = signals.watch(Arc::clone(&workers), Arc::clone(&stopped_by), last_words);
            tokio::spawn(watch);
            workers.run(concurrency, rx.clone()).await;
        });
    })?;
    reporter.finish();
    let flushed = workers.journal.sync();
    let counts = counters.snapshot();
    let report = Some(crate::report::after_send(campaign, &log));
    Ok(SendReport {
        counts,
        failures: counters.failures.groups(),
        started: started_at,
        elapsed: started.elapsed(),
        log,
        limited: fed.limited,
        daily_limit_reached: fed.limited
            && remaining_today.is_some_and(|r| options.limit.is_none_or(|l| r < l)),
        stopped_by: Some(stopped_by.load(Ordering::SeqCst)).filter(|&n| n != 0),
        declined: false,
        fatal: workers.take_fatal().or(flushed.err()),
        report,
        shard,
    })
}

/// The signals that ask a run to stop: SIGINT (Ctrl-C), SIGTERM (systemd, Kubernetes, `timeout`,
/// `kill`) and SIGHUP (a closed terminal or SSH session). All three are handled alike.
struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    /// Replaces the default action (sudden death) of the three; needs the runtime entered.
    fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next stop signal's number and name.
    async fn next(&mut self) -> (i32, &'static str) {
        tokio::select! {
            _ = self.int.recv() => (libc_number::SIGINT, "SIGINT"),
            _ = self.term.recv() => (libc_number::SIGTERM, "SIGTERM"),
            _ = self.hup.recv() => (libc_number::SIGHUP, "SIGHUP"),
        }
    }

    /// First signal: stop taking recipients, let the messages in flight finish and get their rows
    /// (the run then exits with 128 + the signal). Second: log those still in flight as `unknown`,
    /// flush the log and leave at once.
    async fn watch(
        mut self,
        workers: Arc<Workers>,
        stopped_by: Arc<AtomicI32>,
        last_words: impl FnOnce(i32, u64),
    ) {
        let (number, name) = self.next().await;
        stopped_by.store(number, Ordering::SeqCst);
        workers.request_stop();
        if number == libc_number::SIGINT {
            progress::after_ctrl_c();
        }
        progress::note(&format!(
            "{name}: stopping: no new recipients; finishing the messages in flight (a second \
             signal abandons them)"
        ));
        let (_, again) = self.next().await;
        let detail = format!(
            "abandoned by a second stop signal ({again}) while waiting for the relay's reply to \
             the end of the message: it may have been delivered; check with the relay (search for \
             the Message-ID), then run with --retry-unknown to send it again"
        );
        let abandoned = workers.journal.abandon(&detail);
        match &abandoned {
            Ok(n) => progress::note(&format!(
                "{again}: abandoned {n} message(s) in flight, logged as unknown (they may have \
                 been delivered; --retry-unknown sends them again); the next run resumes from the \
                 result log"
            )),
            Err(e) => progress::note(&format!("{again}: abandoned the messages in flight: {e}")),
        }
        last_words(number, abandoned.unwrap_or(0) as u64);
        progress::clear();
        std::process::exit(ExitCode::Stopped(number).code());
    }
}

/// Signal numbers (POSIX, the same on every Unix this runs on).
mod libc_number {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
}
