//! The signals that stop a run cleanly: the first lets the messages in flight finish and get
//! their rows, a second abandons them (logged `unknown`) and exits at once.

use std::sync::atomic::{AtomicI32, Ordering};

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::exit::ExitCode;
use crate::progress;
use crate::send::workers::Workers;

/// The signals that ask a run to stop: SIGINT (Ctrl-C), SIGTERM (systemd, Kubernetes, `timeout`,
/// `kill`) and SIGHUP (a closed terminal or SSH session). All three are handled alike.
pub(super) struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    /// Replaces the default action (sudden death) of the three; needs the runtime entered.
    pub(super) fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next stop signal's number and name.
    pub(super) async fn next(&mut self) -> (i32, &'static str) {
        tokio::select! {
            _ = self.int.recv() => (libc_number::SIGINT, "SIGINT"),
            _ = self.term.recv() => (libc_number::SIGTERM, "SIGTERM"),
            _ = self.hup.recv() => (libc_number::SIGHUP, "SIGHUP"),
        }
    }

    /// First signal: stop taking recipients, let the messages in flight finish and get their rows
    /// (the run then exits with 128 + the signal). Second: log those still in flight as `unknown`,
    /// flush the log and leave at once.
    pub(super) async fn watch(
        &mut self,
        workers: &Workers,
        stopped_by: &AtomicI32,
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
