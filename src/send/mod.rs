//! Delivery over SMTP, the pipeline's last step for a send (a dry run's is `crate::dry_run`):
//! opening SMTP sessions ([`smtp`], with [`tls`], the
//! greeting and STARTTLS in [`greeting`], every reply read with limits through [`stream`]), what a
//! session does with each message ([`session`]) and the commands of its transaction
//! ([`transaction`], pipelined where the server allows), pacing ([`rate`]), the retry policy
//! ([`retry`]), the queue of messages waiting for a retry ([`queue`]), the relays of a send and
//! their turns ([`relays`]), the workers that tie them together ([`workers`]); `-v` prints the
//! first session's [`dialogue`].

pub mod dialogue;
pub mod greeting;
pub mod queue;
pub mod rate;
pub mod relays;
pub mod retry;
pub mod session;
pub mod smtp;
pub mod stream;
pub mod tls;
pub mod transaction;
pub mod workers;
