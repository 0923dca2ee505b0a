//! `campaign`: template-driven newsletter campaigns. The data flows one way:
//! [`campaign`] (load and validate) → [`render`] (one message per recipient) → [`send`] (SMTP or
//! preview files), with [`journal`] recording each recipient's result and [`progress`] reporting.
//! [`run`] wires these into the pipeline the `campaign run` command executes.

pub mod address_index;
pub mod campaign;
pub mod error;
pub mod exit;
pub mod render;

pub use error::{Error, Result};
pub mod check;
pub mod dry_run;
pub mod html;
pub mod journal;
pub mod pipeline;
pub mod progress;
pub mod run;
pub mod send;
