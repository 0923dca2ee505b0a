//! Delivery, the pipeline's last step: the dry run's preview files ([`preview`]) or SMTP.

pub mod preview;
