//! `campaign`: template-driven newsletter campaigns. The data flows one way:
//! [`campaign`] (load and validate) → [`render`] (one message per recipient) → a destination:
//! [`dry_run`] (preview files), [`send`] (SMTP, with [`journal`] recording each recipient's
//! result) or [`check`] (the lint). [`pipeline::drive`] runs every command's pipeline; [`run`] is
//! the send's, [`progress`] reports, and [`html`] is how every stage reads HTML. [`new`] writes a
//! starter campaign; [`show`] prints one recipient's message.

pub mod address_index;
pub mod campaign;
pub mod error;
pub mod exit;
pub mod render;

pub use error::{Error, Result};
pub mod check;
pub mod clock;
pub mod der;
pub mod dry_run;
pub mod failures;
pub mod html;
pub mod journal;
pub mod json;
pub mod new;
pub mod notify;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod report;
pub mod run;
pub mod send;
pub mod shard;
pub mod show;
pub mod test_send;
pub mod window;
