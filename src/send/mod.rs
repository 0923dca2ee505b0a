//! Delivery, the pipeline's last step: SMTP sessions ([`smtp`]), pacing ([`rate`]), the retry policy
//! ([`retry`]), the workers that tie them together ([`workers`]), or the dry run's preview files
//! ([`preview`]).

pub mod preview;
pub mod rate;
pub mod retry;
pub mod smtp;
pub mod workers;
