//! A worker's sessions to its relay: opening one (a transient refusal while the relay's other
//! sessions deliver means fewer sessions; with none open, the relay is in trouble and, after
//! `retries` attempts, taken out), waiting before trying again, closing one, the pace of each
//! message, and whether the relay may still take a message today.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Workers;
use crate::pipeline::Prepared;
use crate::progress::note;
use crate::send::queue::{Held, Job};
use crate::send::relays::{Ending, Relay};
use crate::send::retry;
use crate::send::session::Session;
use crate::send::smtp::ConnectError;

/// What opening a session came to.
pub(super) enum Opened {
    Session(Box<Session>),
    /// Not now (the relay refused this one while others work, or a retry is due): try later.
    Later(Duration),
    /// The run stops (asked to, or nothing can be opened).
    Stop,
}

impl Workers {
    /// Whether `relay` may take one more message: it is not gone, and has one left today (else
    /// it reaches its daily limit here, which ends the send when no relay is left).
    pub(super) fn may_take(&self, relay: &Relay) -> bool {
        if relay.is_gone() {
            return false;
        }
        if relay.use_one_today() {
            return true;
        }
        match self.relays.at_daily_limit(relay) {
            Ending::GoOn => self.queue.wake(),
            Ending::DailyLimit => self.request_stop(),
            Ending::Failed(e) => self.stop_with(e),
        }
        false
    }

    /// No session could be opened now: `job` goes back for any session to take, and this worker
    /// waits `delay`; true when it should go on then (its relay on probation: it takes turns
    /// again, and is taken out if its sessions keep failing), false when it should end.
    pub(super) async fn later(
        &self,
        relay: &Relay,
        job: Job,
        delay: Duration,
        rx: &async_channel::Receiver<Prepared>,
        held: &mut Held<'_>,
    ) -> bool {
        self.queue.schedule(job, Duration::ZERO).await;
        held.settle();
        tokio::select! {
            () = tokio::time::sleep(delay) => {
                self.relays.on_probation(relay);
                true
            }
            () = self.stopping(relay) => false,
            () = self.no_work_left(rx) => false,
        }
    }

    /// The moment the next message of `relay` may go out: its own pace, then all relays'.
    pub(super) async fn pace(&self, relay: &Relay) -> Option<tokio::time::Instant> {
        let own = relay.pacer.next_slot().await;
        let all = self.pacer.next_slot().await;
        own.max(all)
    }

    /// Ends the worker's session, if it has one.
    pub(super) async fn close(&self, relay: &Relay, session: &mut Option<Session>) {
        if let Some(s) = session.take() {
            relay.live.fetch_sub(1, Ordering::SeqCst);
            if !s.is_broken() {
                s.quit().await;
            }
        }
    }

    /// Tries once to open a session to `relay`. A transient refusal while other sessions deliver
    /// means the relay limits sessions per client: this worker tries again later, with backoff,
    /// and the run goes on with fewer sessions. Only when none is open does it count toward
    /// giving up, and the relay gets no fresh recipients meanwhile.
    pub(super) async fn open(&self, relay: &Relay, refused: &mut u32) -> Opened {
        *refused += 1;
        match relay.connector.connect().await {
            Ok(session) => {
                *refused = 0;
                relay.live.fetch_add(1, Ordering::SeqCst);
                self.relays.set_trouble(relay, None);
                Opened::Session(Box::new(session))
            }
            Err(ConnectError::Fatal(why)) => {
                self.take_out(relay, why);
                Opened::Stop
            }
            Err(ConnectError::Transient(_)) if self.done(relay) => Opened::Stop,
            Err(ConnectError::Transient(why)) => {
                let others = relay.live.load(Ordering::SeqCst);
                if others == 0 && *refused > self.retries {
                    let attempts = if *refused == 1 { "" } else { "s" };
                    let advice = match why.contains("check [smtp] host and port") {
                        true => "",
                        false => {
                            "; check [smtp] host and port and that the server is reachable \
                                  from here"
                        }
                    };
                    let why = format!("{why} (gave up after {refused} attempt{attempts}){advice}");
                    self.take_out(relay, why);
                    return Opened::Stop;
                }
                if others == 0 {
                    self.relays.set_trouble(relay, Some(&why));
                }
                if others > 0 && !relay.said_fewer.swap(true, Ordering::SeqCst) {
                    let whose = match self.relays.list.len() {
                        1 => String::new(),
                        _ => format!("relay {}: ", relay.name),
                    };
                    note(&format!(
                        "note: {whose}{why}; going on with the sessions that work and trying to \
                         open more later (lower the concurrency to match the relay's limit)"
                    ));
                }
                Opened::Later(retry::backoff((*refused).min(5)))
            }
        }
    }
}
