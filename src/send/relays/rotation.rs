//! Whose turn it is to take the next recipient when there are several relays: a smooth weighted
//! round robin (nginx's upstream algorithm: each relay's credit grows by its weight, the relay
//! with the most credit takes and gives up the total), so weights 3 and 1 give A A B A, A A B A …
//! and every window of the sequence is as close to the weights as whole numbers allow.
//!
//! Only relays that can take part are in the sequence: one taken out or at its daily limit never
//! again in this run, one whose sessions cannot be opened at the moment not until one opens, one
//! that asked to slow down not until its pause is over (so a relay that is down or throttled does
//! not hold the others up). The shares are
//! rigid otherwise: a relay slower than its share slows the send, as with a load balancer's
//! weights; give it a smaller weight. Retries are not in the sequence: any relay's free session
//! takes a message due again.
//!
//! A turn is a token: of the workers of the relay whose turn it is, one at a time waits on the
//! renderer's channel, so that a relay never takes two turns at once.

use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::time::Instant;

/// What the sequence knows of each relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Takes its turns.
    Open,
    /// No session can be opened right now: skipped until one opens.
    Failing,
    /// Taken out, or at its daily limit: never again in this run.
    Gone,
}

/// The turns of several relays.
pub struct Rotation {
    state: Mutex<State>,
    /// One per relay: woken when its turn comes (or the token is free again).
    turn_came: Vec<Notify>,
}

struct State {
    weights: Vec<i64>,
    credit: Vec<i64>,
    standing: Vec<Standing>,
    /// Relays that asked to slow down: no turn before then (unless no other relay can take one).
    resting: Vec<Option<Instant>>,
    /// Whose turn it is (`None`: nobody can take one).
    turn: Option<usize>,
    /// A worker of `turn`'s relay is waiting on the channel with the token.
    taken: bool,
    /// Counts the turns given, so that a token held over a turn change is let go harmlessly.
    given: u64,
    /// The renderer's channel is drained and closed: no more turns, every worker may look.
    ended: bool,
}

/// A turn being taken: dropping it without [`Turn::done`] (a cancelled wait, or an item that was
/// no message) lets another worker of the relay take it.
pub struct Turn<'a> {
    rotation: &'a Rotation,
    relay: usize,
    given: u64,
    done: bool,
}

impl Rotation {
    pub fn new(weights: &[u32]) -> Rotation {
        let mut state = State {
            weights: weights.iter().map(|&w| i64::from(w.max(1))).collect(),
            credit: vec![0; weights.len()],
            standing: vec![Standing::Open; weights.len()],
            resting: vec![None; weights.len()],
            turn: None,
            taken: false,
            given: 0,
            ended: false,
        };
        state.advance();
        Rotation {
            state: Mutex::new(state),
            turn_came: weights.iter().map(|_| Notify::new()).collect(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for `relay`'s turn and holds its token.
    pub async fn take(&self, relay: usize) -> Turn<'_> {
        loop {
            let came = self.turn_came[relay].notified();
            tokio::pin!(came);
            came.as_mut().enable();
            {
                let mut state = self.state();
                if state.ended {
                    return Turn {
                        rotation: self,
                        relay,
                        given: state.given,
                        done: true,
                    };
                }
                if state.turn == Some(relay) && !state.taken {
                    state.taken = true;
                    return Turn {
                        rotation: self,
                        relay,
                        given: state.given,
                        done: false,
                    };
                }
            }
            came.await;
        }
    }

    /// Sets a relay's standing; the turn moves on if it can no longer take it.
    pub fn set(&self, relay: usize, standing: Standing) {
        self.update(|state| {
            if state.standing[relay] == standing || state.standing[relay] == Standing::Gone {
                return;
            }
            state.standing[relay] = standing;
            // The turn moves on from a relay that can no longer take it, and from a failing relay
            // (given it only because none was open) once another is open again.
            if state
                .turn
                .is_none_or(|t| state.standing[t] != Standing::Open)
            {
                state.advance();
            }
        });
    }

    /// `relay` asked to slow down: no turns until `until`, while another relay can take them.
    pub fn rest(&self, relay: usize, until: Instant) {
        self.update(|state| {
            state.resting[relay] = Some(until);
            if state.turn == Some(relay) {
                state.advance();
            }
        });
    }

    /// Changes the state, then wakes the workers of the relay whose turn it is.
    fn update(&self, change: impl FnOnce(&mut State)) {
        let mut state = self.state();
        change(&mut state);
        let turn = state.turn;
        drop(state);
        self.wake(turn);
    }

    /// The channel is closed and drained: every worker waiting for a turn is let through, to find
    /// that out and turn to the retries.
    pub fn end(&self) {
        self.state().ended = true;
        self.turn_came.iter().for_each(Notify::notify_waiters);
    }

    fn wake(&self, turn: Option<usize>) {
        if let Some(t) = turn {
            self.turn_came[t].notify_waiters();
        }
    }
}

impl Turn<'_> {
    /// The relay took a message with this turn: the next relay's turn.
    pub fn done(mut self) {
        self.done = true;
        let given = self.given;
        self.rotation.update(|state| {
            if state.given == given {
                state.advance();
            }
        });
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.rotation.state();
        if state.given == self.given {
            state.taken = false;
        }
        drop(state);
        self.rotation.wake(Some(self.relay));
    }
}

impl State {
    /// Gives the next turn: to the open relay with the most credit (a resting relay only when no
    /// other is open, a failing one only when none is, so that a message still finds its way to
    /// one that may recover).
    fn advance(&mut self) {
        let now = Instant::now();
        let all = 0..self.weights.len();
        let ready = |i: &usize| {
            self.standing[*i] == Standing::Open && self.resting[*i].is_none_or(|t| t <= now)
        };
        let open = |i: &usize| self.standing[*i] == Standing::Open;
        let mut usable: Vec<usize> = all.clone().filter(ready).collect();
        if usable.is_empty() {
            usable = all.clone().filter(open).collect();
        }
        if usable.is_empty() {
            let failing = |i: &usize| self.standing[*i] == Standing::Failing;
            usable = all.filter(failing).collect();
        }
        self.given += 1;
        self.taken = false;
        let total: i64 = usable.iter().map(|&i| self.weights[i]).sum();
        for &i in &usable {
            self.credit[i] += self.weights[i];
        }
        self.turn = usable
            .iter()
            .copied()
            .max_by_key(|&i| (self.credit[i], -(i as i64)));
        if let Some(t) = self.turn {
            self.credit[t] -= total;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(rotation: &Rotation, n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| {
                let mut state = rotation.state();
                let t = state.turn.unwrap();
                state.advance();
                t
            })
            .collect()
    }

    #[test]
    fn turns_follow_the_weights_smoothly() {
        let rotation = Rotation::new(&[3, 1]);
        assert_eq!(sequence(&rotation, 8), [0, 0, 1, 0, 0, 0, 1, 0]);
        let rotation = Rotation::new(&[5, 1, 1]);
        let seq = sequence(&rotation, 70);
        let count = |r| seq.iter().filter(|&&t| t == r).count();
        assert_eq!((count(0), count(1), count(2)), (50, 10, 10));
        // No relay waits long: within any 7 turns each of the small ones has one.
        for window in seq.windows(7) {
            assert!(window.contains(&1) && window.contains(&2), "{window:?}");
        }
    }

    #[test]
    fn a_gone_relay_has_no_more_turns_and_a_failing_one_only_when_no_other_can() {
        let rotation = Rotation::new(&[1, 1]);
        rotation.set(0, Standing::Gone);
        assert_eq!(sequence(&rotation, 3), [1, 1, 1]);
        rotation.set(1, Standing::Failing);
        assert_eq!(
            sequence(&rotation, 2),
            [1, 1],
            "failing, but the only one left"
        );
        rotation.set(0, Standing::Open);
        assert_eq!(sequence(&rotation, 1), [1], "gone is for good");
        rotation.set(1, Standing::Gone);
        assert_eq!(rotation.state().turn, None);
    }

    #[tokio::test]
    async fn a_resting_relay_has_no_turns_until_its_pause_is_over() {
        let rotation = Rotation::new(&[1, 1]);
        let until = Instant::now() + std::time::Duration::from_millis(100);
        rotation.rest(0, until);
        assert_eq!(sequence(&rotation, 3), [1, 1, 1]);
        rotation.set(1, Standing::Failing);
        assert_eq!(
            sequence(&rotation, 1),
            [0],
            "resting, but no other relay is open"
        );
        rotation.set(1, Standing::Open);
        tokio::time::sleep_until(until).await;
        let seq = sequence(&rotation, 4);
        assert!(seq.contains(&0) && seq.contains(&1), "{seq:?}");
    }

    #[tokio::test]
    async fn one_token_per_turn_and_a_dropped_token_is_given_back() {
        let rotation = Rotation::new(&[1, 1]);
        let first = rotation.take(0).await;
        let second = tokio::time::timeout(std::time::Duration::from_millis(50), rotation.take(0));
        assert!(second.await.is_err(), "relay 0's token is held");
        drop(first);
        let again = rotation.take(0).await;
        again.done();
        let other = tokio::time::timeout(std::time::Duration::from_secs(5), rotation.take(1));
        other.await.expect("relay 1's turn came").done();
    }
}
