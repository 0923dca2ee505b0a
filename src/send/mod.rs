//! Delivery, the pipeline's last step: SMTP sessions ([`smtp`]) and each message's transaction
//! ([`transaction`], pipelined where the server allows), pacing ([`rate`]), the retry policy
//! ([`retry`]), the workers that tie them together ([`workers`]), or the dry run's preview files
//! ([`preview`]).

pub mod preview;
pub mod rate;
pub mod retry;
pub mod smtp;
pub mod transaction;
pub mod workers;
