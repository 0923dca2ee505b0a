//! `campaign run` (a real send): open the result log, decide per recipient from its history
//! (resume, `--retry-failed`, `--limit`, `daily_limit`), feed the shared pipeline into the SMTP
//! workers, handle Ctrl-C, and report. The dry run shares everything up to the last step.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::campaign::suppress::Suppression;
use crate::campaign::{Campaign, Rate, Security, settings};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::invalid;
use crate::journal::{Journal, Status};
use crate::pipeline::{self, Decision, Feed, Item};
use crate::progress::{Counters, Reporter, Snapshot};
use crate::render::Renderer;
use crate::send::rate::Pacer;
use crate::send::smtp::Connector;
use crate::send::workers::Workers;

/// The environment variable holding the SMTP password (also read from `.env`).
pub const PASSWORD_VAR: &str = "CAMPAIGN_SMTP_PASSWORD";

/// Command-line choices for a send.
#[derive(Debug, Default, Clone)]
pub struct SendOptions {
    pub log: Option<PathBuf>,
    pub limit: Option<u64>,
    pub rate: Option<String>,
    pub concurrency: Option<usize>,
    pub retry_failed: bool,
    pub plain_progress: bool,
}

/// What a send did.
#[derive(Debug)]
pub struct SendReport {
    pub counts: Snapshot,
    pub elapsed: Duration,
    pub log: PathBuf,
    /// Recipients not reached because of `--limit` or `daily_limit`.
    pub limited: bool,
    pub daily_limit_reached: bool,
    pub interrupted: bool,
    pub fatal: Option<Error>,
}

impl SendReport {
    pub fn exit_code(&self) -> ExitCode {
        if self.fatal.is_some() {
            ExitCode::Fatal
        } else if self.interrupted {
            ExitCode::Interrupted
        } else if self.counts.failed > 0 {
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

/// The SMTP password: the environment wins, then `.env` in the campaign directory, then in the
/// working directory. Read here once; never printed or written anywhere.
pub fn smtp_password(dir: &Path) -> Option<String> {
    crate::campaign::deliverability::env_or_dotenv(dir, PASSWORD_VAR)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks the SMTP settings against the password and builds the connector (exit 2 on a problem).
fn connector(campaign: &Campaign, password: Option<String>) -> Result<Connector> {
    let toml = campaign.dir.join("campaign.toml");
    let smtp = campaign.smtp.clone().ok_or_else(|| {
        invalid!(
            "{}: no [smtp] section: add host (and port, security, username) to send, or use --dry-run",
            toml.display()
        )
    })?;
    if let Some(user) = &smtp.username {
        if password.is_none() {
            return Err(invalid!(
                "{}: [smtp] username = {user:?} but {PASSWORD_VAR} is not set: put the password in \
                 the environment or in {}",
                toml.display(),
                campaign.dir.join(".env").display()
            ));
        }
        if smtp.security == Security::None && !is_loopback(&smtp.host) {
            return Err(invalid!(
                "{}: refusing to send the password for {user:?} unencrypted to {}: set [smtp] \
                 security = \"starttls\" or \"tls\"",
                toml.display(),
                smtp.host
            ));
        }
    }
    Connector::new(smtp, password).map_err(|e| invalid!("{}: {e}", toml.display()))
}

/// Sends the campaign.
pub fn run(campaign: &Campaign, options: &SendOptions) -> Result<SendReport> {
    let rate = match &options.rate {
        Some(r) => Some(Rate::parse(r).map_err(|e| invalid!("--rate: {e}"))?),
        None => campaign.send.rate,
    };
    let concurrency = options.concurrency.unwrap_or(campaign.send.concurrency);
    settings::check_concurrency(concurrency).map_err(|e| invalid!("--concurrency: {e}"))?;
    let connector = connector(campaign, smtp_password(&campaign.dir))?;
    let recipients = campaign.scan_recipients()?;
    let renderer = Renderer::new(campaign, false)?;
    renderer.preflight()?;

    let log = options
        .log
        .clone()
        .unwrap_or_else(|| campaign.dir.join("results.csv"));
    let suppression = Suppression::load(&campaign.suppress)?;
    let (journal, history) = Journal::open(&log, Utc::now())?;
    let remaining_today = campaign
        .send
        .daily_limit
        .map(|cap| cap.saturating_sub(history.sent_today));
    let limit = match (options.limit, remaining_today) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers = Arc::new(Workers::new(
        connector,
        Pacer::new(rate),
        journal,
        Arc::clone(&counters),
        campaign.send.retries,
        Arc::clone(&stop),
    ));
    let retry_failed = options.retry_failed;
    let already_done = |email: &str| match history.status(email) {
        Some(Status::Sent) => true,
        Some(Status::Failed) => !retry_failed,
        _ => false,
    };
    let decide = |r: &crate::campaign::Recipient| {
        if already_done(&r.email) {
            counters.already_done.fetch_add(1, Ordering::Relaxed);
            Decision::AlreadyDone
        } else {
            Decision::unless_suppressed(&suppression, r)
        }
    };
    // A skipped row is logged once: not again when its address already has a row.
    let report_skip = |s: &crate::campaign::Skipped| history.status(&s.email).is_none();
    let feed = Feed {
        limit,
        stop: Arc::clone(&stop),
        decide: &decide,
        report_skip: &report_skip,
    };

    let started = Instant::now();
    let reporter = Reporter::start(
        Arc::clone(&counters),
        recipients.rows(),
        options.plain_progress,
    );
    let interrupted = Arc::new(AtomicBool::new(false));
    let (tx, rx) = async_channel::bounded::<Item>(concurrency * 4 + 64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Fatal(format!("cannot start the async runtime: {e}")))?;
    let fed = std::thread::scope(|scope| {
        let (renderer, recipients) = (&renderer, &recipients);
        let producer = scope.spawn(move || pipeline::produce(recipients, renderer, feed, &tx));
        runtime.block_on(async {
            tokio::spawn(watch_ctrl_c(Arc::clone(&stop), Arc::clone(&interrupted)));
            workers.run(concurrency, rx.clone()).await;
        });
        // Workers are done (or stopped): let the producer see a closed channel and end.
        rx.close();
        stop.store(true, Ordering::SeqCst);
        producer.join().expect("the producer thread panicked")
    });
    reporter.finish();
    let counts = counters.snapshot();
    Ok(SendReport {
        counts,
        elapsed: started.elapsed(),
        log,
        limited: fed.limited,
        daily_limit_reached: fed.limited
            && remaining_today.is_some_and(|r| options.limit.is_none_or(|l| r < l)),
        interrupted: interrupted.load(Ordering::SeqCst),
        fatal: workers.take_fatal(),
    })
}

/// First Ctrl-C: stop taking recipients, let in-flight messages finish. Second: leave at once
/// (those messages have no row and are sent by the next run).
async fn watch_ctrl_c(stop: Arc<AtomicBool>, interrupted: Arc<AtomicBool>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    interrupted.store(true, Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    eprintln!("\nstopping: finishing the messages in flight (Ctrl-C again to abandon them)");
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("abandoned; the next run resumes from the result log");
        std::process::exit(ExitCode::Interrupted.code());
    }
}
