//! The header row of a CSV export: which column holds the address. Each provider names it its own
//! way, so names are compared normalised (case, spaces, `_`, `-` and `.` ignored) against
//! [`ADDRESS_HEADERS`], the first found in that order:
//!
//! - `email`: SendGrid's suppression lists (`email`, `created`, …;
//!   <https://docs.sendgrid.com/api-reference/suppressions-global-suppressions/retrieve-all-global-suppressions>),
//!   listmonk's subscriber export (`uuid`, `email`, `name`, `attributes`, `status`, …), Postmark's
//!   `Email`, most CRMs;
//! - `Email Address`: Mailchimp's audience exports (subscribed, unsubscribed and cleaned contacts;
//!   <https://mailchimp.com/help/about-cleaned-contacts/>), Amazon SES's `EMAIL_ADDRESS` and
//!   `emailAddress`, Postmark's suppression dump `EmailAddress`
//!   (<https://postmarkapp.com/developer/api/suppressions-api>);
//! - `Recipient`: Postmark's bounce and activity views;
//! - `address`: Mailgun's bounces, unsubscribes and complaints (`address`, `code`, `error`,
//!   `created_at`; <https://documentation.mailgun.com/docs/mailgun/api-reference/openapi-final/tag/Bounces/>).

/// Header names of the address column, normalised (lower case; spaces, `_`, `-`, `.` removed), in
/// order of preference when a file has several.
pub const ADDRESS_HEADERS: &[&str] = &["email", "emailaddress", "recipient", "address"];

/// The address column among header `fields`: the first of [`ADDRESS_HEADERS`] found.
pub(super) fn address_column(fields: &[String]) -> Option<usize> {
    let normalised: Vec<String> = fields.iter().map(|f| normalise_header(f)).collect();
    ADDRESS_HEADERS
        .iter()
        .find_map(|wanted| normalised.iter().position(|n| n == wanted))
}

/// A header name lower-cased, without spaces, `_`, `-` and `.`: `Email Address` → `emailaddress`.
fn normalise_header(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}
