//! `campaign check DIR --smtp`: opens one session to each relay exactly as a send does (the same
//! [`Connector`]: connect, STARTTLS or implicit TLS, certificate checks and the `ca_file` pin, EHLO,
//! AUTH), says what it found, and QUITs. Nothing is sent: no MAIL command.
//!
//! It fails fast, for a first try at a new relay: one attempt, no retries, each step allowed at most
//! [`STEP_TIMEOUT`] and the greeting [`GREETING_TIMEOUT`] (a port that speaks another protocol,
//! such as HTTP, says nothing until spoken to). What TLS problem stopped it (a plain port with
//! `security = "tls"`, a certificate for another name, an expired or self-signed one) is the send's
//! own message.
//!
//! lettre does not tell which TLS version or cipher suite the session negotiated, so the report says
//! only that the session is encrypted (rustls, which lettre runs on here, offers TLS 1.2 and 1.3
//! only).

use std::time::Duration;

use super::certificate::Certificate;
use crate::campaign::{Campaign, Security};
use crate::error::Result;
use crate::send::smtp::{Connector, one_session_runtime};

/// The longest any step (connect, STARTTLS, EHLO, AUTH) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the server may take to greet.
pub const GREETING_TIMEOUT: Duration = Duration::from_secs(4);

/// What one session to the relay showed.
#[derive(Debug)]
pub struct RelayReport {
    /// The relay's name, with several relays.
    pub name: Option<String>,
    /// `host:port`.
    pub server: String,
    pub security: Security,
    pub encrypted: bool,
    /// The server's certificate, when it could be read.
    pub certificate: Option<Certificate>,
    /// The certificate was accepted because it is in `ca_file` (pinned), not through a CA.
    pub pinned: bool,
    /// The EHLO extension lines, as the server wrote them.
    pub extensions: Vec<String>,
    /// The user that AUTH accepted; `None` without `[smtp] username`.
    pub authenticated_as: Option<String>,
}

/// Opens a session to each of the campaign's relays in turn, and closes it again: each relay's
/// report or why not. No `[smtp]`, or a username without password, is bad input (exit 2, for
/// every relay at once); a session that cannot be opened is fatal (exit 3).
pub fn relays(campaign: &Campaign) -> Result<Vec<Result<RelayReport>>> {
    let connectors = Connector::for_campaign(campaign)?;
    let several = connectors.len() > 1;
    let relays = campaign.relays.iter().zip(connectors);
    Ok(relays
        .map(|(relay, connector)| {
            let name = several.then(|| relay.name.clone());
            let shown = name.clone();
            let checked = check_relay(connector, name);
            checked.map_err(|e| match shown {
                Some(name) => crate::Error::fatal(format!("relay {name}: {e}")),
                None => e,
            })
        })
        .collect())
}

/// One session to the relay of `connector`.
fn check_relay(mut connector: Connector, name: Option<String>) -> Result<RelayReport> {
    connector.settings.timeout = connector.settings.timeout.min(STEP_TIMEOUT);
    let connector = connector.greeting_within(GREETING_TIMEOUT);
    one_session_runtime()?.block_on(async {
        let session = connector.connect_once().await?;
        let report = RelayReport {
            name,
            server: connector.server(),
            security: connector.settings.security,
            encrypted: session.tls().is_some(),
            certificate: session
                .tls()
                .and_then(|tls| tls.certificate.as_deref())
                .and_then(Certificate::parse),
            pinned: connector.pinned(),
            extensions: session.extensions().to_vec(),
            authenticated_as: connector.settings.username.clone(),
        };
        session.quit().await;
        Ok(report)
    })
}

impl RelayReport {
    /// The report as lines for the terminal; never the password.
    pub fn lines(&self) -> Vec<String> {
        let security = match self.security {
            Security::None => "none (plain text)",
            Security::StartTls => "starttls",
            Security::Tls => "tls (implicit TLS)",
        };
        let name = self
            .name
            .as_ref()
            .map_or(String::new(), |n| format!(" {n}"));
        let mut lines = vec![
            format!("relay{name}: {}", self.server),
            format!("  security: {security}"),
        ];
        if self.encrypted {
            lines.push(
                "  TLS: encrypted (TLS 1.2 or 1.3; lettre does not report the version or cipher)"
                    .into(),
            );
        }
        match &self.certificate {
            Some(c) => lines.extend(self.certificate_lines(c)),
            None if self.encrypted => lines.push("  certificate: could not be read".into()),
            None => {}
        }
        lines.push(format!("  extensions: {}", self.extensions.join(", ")));
        lines.push(match &self.authenticated_as {
            Some(user) => format!("  AUTH: accepted for {user}"),
            None => "  AUTH: not used (no [smtp] username)".into(),
        });
        lines.push("relay ok: session opened and closed with QUIT; nothing was sent".into());
        lines
    }

    fn certificate_lines(&self, c: &Certificate) -> Vec<String> {
        let days = (c.not_after - chrono::Utc::now()).num_days();
        let trust = if self.pinned {
            "accepted because exactly this certificate is in [smtp] ca_file (pinned)"
        } else {
            "verified for the host name, against the system's CAs and ca_file"
        };
        vec![
            format!("  certificate subject: {}", c.subject),
            format!("  certificate issuer: {}", c.issuer),
            format!(
                "  certificate expires: {} ({days} days from now)",
                c.not_after.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            format!("  certificate: {trust}"),
        ]
    }
}
