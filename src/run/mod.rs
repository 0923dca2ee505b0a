//! `campaign run` (a real send): open the result log under its run lock, decide per recipient from
//! its history (resume, `--retry-failed`, `--retry-unknown`, `--limit`, `daily_limit`), selection the
//! shared pipeline into the SMTP workers, stop cleanly on SIGINT, SIGTERM or SIGHUP, and report. The
//! dry run shares everything up to the last step.
//!
//! Sending happens in rounds ([`round`]) inside the send window (`[send] window`, `--not-before`,
//! see [`crate::window`]): before a round the run waits for the opening (or, under `--no-wait`,
//! ends with the time to resume); when the window closes during a round, the round stops as a
//! stop signal stops it — no new recipients, the messages in flight finished and logged — and the
//! next round, after the wait, resumes from the result log like a new run would. No SMTP session
//! is kept open over the night.

mod round;
mod signals;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::campaign::Campaign;
use crate::campaign::suppress::Suppression;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::journal::{History, Journal, Status};
use crate::pipeline::Decision;
use crate::progress::{Counters, Snapshot};
use crate::render::Renderer;
use crate::send::smtp::Connector;
use crate::window::{self, NotNow};
use signals::StopSignals;

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
    /// `--not-before`: send nothing before this time.
    pub not_before: Option<DateTime<Utc>>,
    /// `--no-wait`: outside the send window (or before `--not-before`), end with the time to
    /// resume instead of waiting.
    pub no_wait: bool,
    /// What time it is (the system clock; a test clock in the tests).
    pub clock: Arc<Clock>,
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
    /// Under `--no-wait`: the run ended outside the send window (or before `--not-before`), and
    /// when to run again.
    pub not_now: Option<NotNow>,
    /// With `--shard`: how much of the list was this shard's.
    pub shard: Option<crate::shard::ShardRows>,
    /// What each relay did, over the run's rounds.
    pub relays: Vec<crate::send::relays::RelayOutcome>,
}

impl SendReport {
    /// The report of a run whose plan was declined.
    fn declined(log: PathBuf, shard: Option<crate::shard::ShardRows>) -> SendReport {
        SendReport {
            declined: true,
            shard,
            ..SendReport::empty(log)
        }
    }

    /// The report of a run that has not sent anything yet.
    fn empty(log: PathBuf) -> SendReport {
        SendReport {
            counts: Snapshot::default(),
            failures: Vec::new(),
            started: Utc::now(),
            elapsed: Duration::ZERO,
            log,
            limited: false,
            daily_limit_reached: false,
            stopped_by: None,
            declined: false,
            fatal: None,
            report: None,
            not_now: None,
            shard: None,
            relays: Vec::new(),
        }
    }

    /// Whether something other than the window ended the run: a stop signal or a fatal error.
    fn ended(&self) -> bool {
        self.stopped_by.is_some() || self.fatal.is_some()
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
        } else if self.not_now.is_some() {
            ExitCode::NotNow
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
/// nothing is sent unless `confirm` says yes (an interactive run's question); the plan comes
/// before any wait for the send window, so that the person who said yes may walk away.
pub fn send(
    campaign: &Campaign,
    options: &SendOptions,
    confirm: Option<&mut dyn FnMut(&crate::plan::Plan) -> bool>,
) -> Result<SendReport> {
    Connector::for_campaign(campaign)?;
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
    let mut signals = {
        let _guard = runtime.enter();
        StopSignals::install()
            .map_err(|e| Error::fatal(format!("cannot watch for stop signals: {e}")))?
    };
    let clock = &options.clock;
    let concurrency = campaign.sessions();
    let mut opened = Some(Journal::open(&log, clock.now(), concurrency)?);
    if let Some(confirm) = confirm {
        let (_, history) = opened.as_ref().expect("opened above");
        let (limit, _) = limits(campaign, options.limit, history);
        let judge = judge(history, &suppression, options);
        let plan = crate::plan::count(campaign, &recipients, limit, shard, &judge)?;
        if !confirm(&plan) {
            return Ok(SendReport::declined(log, shard));
        }
    }
    let shared = round::Shared {
        campaign,
        options,
        recipients: &recipients,
        renderer: &renderer,
        suppression: &suppression,
        log: &log,
        runtime: &runtime,
        counters: Arc::new(Counters::default()),
        reached: AtomicU64::new(0),
        shard,
    };
    let mut report = SendReport {
        shard,
        ..SendReport::empty(log.clone())
    };
    let mut rounds = 0;
    loop {
        let send = &campaign.send;
        if let Some(not_now) = window::may_start(send, options.not_before, clock.now()) {
            if options.no_wait {
                report.not_now = Some(not_now);
                break;
            }
            let why = format!(
                "{}: waiting until {} (Ctrl-C to stop)",
                not_now.why, not_now.shown
            );
            let signal = runtime.block_on(async {
                tokio::select! {
                    () = clock.wait_until(not_now.until, &why) => None,
                    (number, _) = signals.next() => Some(number),
                }
            });
            report.stopped_by = signal;
            if signal.is_some() {
                break;
            }
            continue; // asked again: the clock may have been set back meanwhile
        }
        let (journal, history) = match opened.take() {
            Some(opened) => opened,
            None => Journal::open(&log, clock.now(), concurrency)?,
        };
        let closes = (send.window.as_ref()).and_then(|w| w.at(clock.now()).closes());
        if rounds == 0 {
            report.started = Utc::now();
        }
        rounds += 1;
        let window_closed =
            round::run(&shared, journal, history, closes, &mut signals, &mut report)?;
        if !window_closed || report.ended() || !anyone_left(&shared, concurrency)? {
            break;
        }
        if options.no_wait {
            report.not_now = window::may_start(send, None, clock.now());
            break;
        }
    }
    report.counts = shared.counters.snapshot();
    report.failures = shared.counters.failures.groups();
    if rounds > 0 {
        report.report = Some(crate::report::after_send(campaign, &log));
    }
    Ok(report)
}

/// Whether the result log leaves anyone to send, within `--limit`: after a round the window cut
/// short, so that a run whose last messages went out as the window closed does not wait a night
/// for nothing.
fn anyone_left(s: &round::Shared<'_>, concurrency: usize) -> Result<bool> {
    let (_, history) = Journal::open(s.log, s.options.clock.now(), concurrency)?;
    let judge = judge(&history, s.suppression, s.options);
    let left = (s.options.limit).map(|l| l.saturating_sub(round::handled(&s.counters)));
    let plan = crate::plan::count(s.campaign, s.recipients, left, s.shard, &judge)?;
    Ok(plan.messages > 0)
}

/// What the run may still send today: `--limit` and what `daily_limit` leaves after the log's
/// rows of today (the limit for the selection, and the daily remainder). When every relay has a
/// daily limit of its own, what they leave together is one too.
fn limits(
    campaign: &Campaign,
    limit: Option<u64>,
    history: &History,
) -> (Option<u64>, Option<u64>) {
    let overall = (campaign.send.daily_limit).map(|cap| cap.saturating_sub(history.sent_today));
    let relays = &campaign.relays;
    let each: Option<Vec<u64>> = (relays.iter())
        .map(|r| {
            Some(
                r.daily_limit?
                    .saturating_sub(history.sent_today_via(&r.name)),
            )
        })
        .collect();
    let relays_left = each.filter(|_| !relays.is_empty()).map(|e| e.iter().sum());
    let remaining_today = match (overall, relays_left) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let limit = match (limit, remaining_today) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    (limit, remaining_today)
}

/// Each recipient's decision from the log's history, the options and the suppression lists.
fn judge<'a>(
    history: &'a History,
    suppression: &'a Suppression,
    options: &'a SendOptions,
) -> impl Fn(&crate::campaign::Recipient) -> Decision + Send + Sync + 'a {
    let already_done = |email: &str| match history.status(email) {
        Some(Status::Sent) => true,
        Some(Status::Unknown) => !options.retry_unknown,
        Some(Status::Failed) => !options.retry_failed,
        _ => false,
    };
    move |r| {
        if already_done(&r.email) {
            return Decision::AlreadyDone;
        }
        match Decision::unless_suppressed(suppression, r) {
            Decision::Deliver if options.retry_unknown => history
                .unknown_message_id(&r.email)
                .map_or(Decision::Deliver, Decision::Resend),
            decision => decision,
        }
    }
}
