//! One SMTP session, reused for many messages: each message's transaction on an open connection,
//! and what the relay's replies mean for it. lettre's `AsyncSmtpConnection::send` aborts the
//! connection on any negative reply, so the transaction is driven command by command here: after a
//! 4xx/5xx the session sends RSET and stays open for the next message; a broken, timed-out or
//! out-of-step connection is dropped and reopened. Once the final dot is out, only a 2xx, 4xx or
//! 5xx reply decides; anything else leaves the outcome [`Attempt::Unknown`].

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::Rset;
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::{Response, Severity};

use super::smtp::{describe, reply_text};
use super::transaction;

/// The outcome of one message's transaction.
#[derive(Debug)]
pub enum Attempt {
    /// 2xx after the final dot: the server took the message.
    Accepted { code: u16, text: String },
    /// A negative reply (4xx transient, 5xx permanent) to MAIL, RCPT, DATA or the message.
    Rejected { code: u16, text: String },
    /// Before the final dot went out, the server did not reply in time or the connection broke:
    /// not delivered, worth retrying; session dropped.
    Broken { detail: String },
    /// After the final dot went out, no valid verdict came back (no reply within `data_timeout`,
    /// the connection closed, a malformed or 3xx reply): the message may have been delivered, so
    /// it must not be sent again blindly. Session dropped.
    Unknown { code: Option<u16>, detail: String },
    /// The client refused to send (e.g. non-ASCII address to a server without SMTPUTF8).
    Refused { detail: String },
}

/// Why `address` cannot go through a server without SMTPUTF8. An IDN domain alone is no reason:
/// rendering writes it in its ASCII form (punycode) when the local part is ASCII.
fn not_ascii(address: &lettre::Address) -> String {
    let part = if address.user().is_ascii() {
        "its domain is not ASCII"
    } else {
        "the part before the @ is not ASCII"
    };
    format!(
        "{address}: {part}, and the server does not offer SMTPUTF8 (RFC 6531), which such an \
         address needs"
    )
}

/// Whether a failed write is what broke the connection: a broken pipe comes only from writing, so
/// the write that carried the final dot did not complete and the relay cannot have the message.
fn never_left(e: &lettre::transport::smtp::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// An open session.
pub struct Session {
    conn: AsyncSmtpConnection,
    timeout: Duration,
    /// The wait for the reply to the final dot.
    data_timeout: Duration,
    /// The server offers PIPELINING (RFC 2920): envelope commands go out in one write.
    pipelining: bool,
    /// The EHLO reply's extension lines (`SIZE 10240000`, `AUTH PLAIN LOGIN`, …), as offered
    /// after TLS and before AUTH; for `campaign check --smtp`.
    extensions: Vec<String>,
    /// Set when the session runs over TLS (implicit or after STARTTLS).
    tls: Option<TlsFacts>,
}

/// What a session learned of its TLS layer.
#[derive(Debug, Clone, Default)]
pub struct TlsFacts {
    /// The certificate the server presented (DER), when it could be read.
    pub certificate: Option<Vec<u8>>,
}

impl Session {
    pub(super) fn new(
        conn: AsyncSmtpConnection,
        timeout: Duration,
        data_timeout: Duration,
        pipelining: bool,
    ) -> Session {
        Session {
            conn,
            timeout,
            data_timeout,
            pipelining,
            extensions: Vec::new(),
            tls: None,
        }
    }

    /// Records what the session learned of its TLS layer (`None`: plain text).
    pub(super) fn with_tls(mut self, tls: Option<TlsFacts>) -> Session {
        self.tls = tls;
        self
    }

    /// Records the EHLO reply's extension lines the session was opened with.
    pub(super) fn with_extensions(mut self, extensions: Vec<String>) -> Session {
        self.extensions = extensions;
        self
    }

    /// The extensions the server offered (one EHLO reply line each, keyword first).
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// What the session knows of its TLS layer; `None` when it runs in plain text.
    pub fn tls(&self) -> Option<&TlsFacts> {
        self.tls.as_ref()
    }

    /// Runs one transaction: the envelope (MAIL, RCPT, DATA) under `timeout`, then, no earlier
    /// than `slot` (the rate limit's; see [`super::rate`]) and only if `before_dot` agrees (it
    /// records the message as in flight), the content and its final dot, whose reply is awaited for
    /// `data_timeout` (RFC 5321 §4.5.3.2.6). A negative reply leaves the session usable (after
    /// RSET); a broken or out-of-step one must be dropped ([`Session::is_broken`]).
    pub async fn send(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
        slot: Option<tokio::time::Instant>,
        before_dot: impl Future<Output = bool>,
    ) -> Attempt {
        let options = match self.mail_options(envelope, message) {
            Ok(options) => options,
            Err(detail) => return Attempt::Refused { detail },
        };
        let start = transaction::envelope(&mut self.conn, self.pipelining, envelope, options);
        match tokio::time::timeout(self.timeout, start).await {
            Err(_) => {
                self.drop_connection().await;
                return Attempt::Broken {
                    detail: format!("no reply within {}s", self.timeout.as_secs()),
                };
            }
            Ok(Err(e)) => return self.failed(e).await,
            Ok(Ok(())) => {}
        }
        if let Some(slot) = slot {
            tokio::time::sleep_until(slot).await; // the rate limit counts the content
        }
        if !before_dot.await {
            self.drop_connection().await;
            return Attempt::Broken {
                detail: "not sent: the result log could not record it".into(),
            };
        }
        let reply = tokio::time::timeout(
            self.data_timeout,
            transaction::content(&mut self.conn, message),
        )
        .await;
        self.verdict(reply).await
    }

    /// MAIL parameters for this message, or why it cannot be sent through this server.
    fn mail_options(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Vec<MailParameter>, String> {
        let mut options = Vec::new();
        let info = self.conn.server_info();
        let non_ascii = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .find(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if let Some(address) = non_ascii {
            if !info.supports_feature(Extension::SmtpUtfEight) {
                return Err(not_ascii(address));
            }
            options.push(MailParameter::SmtpUtfEight);
        }
        if !message.is_ascii() && info.supports_feature(Extension::EightBitMime) {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        Ok(options)
    }

    /// What the reply to the final dot means. Only 2xx is delivered and only 4xx/5xx is not; a
    /// write that failed (EPIPE: the dot never left) is safe to retry; anything else leaves the
    /// message's fate unknown.
    async fn verdict(
        &mut self,
        reply: Result<
            Result<Response, lettre::transport::smtp::Error>,
            tokio::time::error::Elapsed,
        >,
    ) -> Attempt {
        let unknown = match reply {
            Ok(Ok(response)) if response.code().severity == Severity::PositiveCompletion => {
                return Attempt::Accepted {
                    code: u16::from(response.code()),
                    text: response.message().collect::<Vec<_>>().join(" "),
                };
            }
            Ok(Err(e)) if e.status().is_some() || never_left(&e) => return self.failed(e).await,
            Ok(Ok(response)) => Attempt::Unknown {
                code: Some(u16::from(response.code())),
                detail: format!(
                    "the relay answered the end of the message with {} {}, which is neither \
                     success (2xx) nor failure (4xx, 5xx)",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
            },
            Ok(Err(e)) => Attempt::Unknown {
                code: None,
                detail: format!("after the end of the message: {}", describe(&e)),
            },
            Err(_) => Attempt::Unknown {
                code: None,
                detail: format!(
                    "no reply to the end of the message within {}s ([smtp] data_timeout)",
                    self.data_timeout.as_secs()
                ),
            },
        };
        self.drop_connection().await;
        unknown
    }

    /// The attempt for an error before the final dot (or a 4xx/5xx reply to it).
    async fn failed(&mut self, e: lettre::transport::smtp::Error) -> Attempt {
        match e.status() {
            Some(code) => {
                let attempt = Attempt::Rejected {
                    code: u16::from(code),
                    text: reply_text(&e),
                };
                if !self.reset().await {
                    self.drop_connection().await;
                }
                attempt
            }
            None if e.is_client() => Attempt::Refused {
                detail: describe(&e),
            },
            None => {
                self.drop_connection().await;
                Attempt::Broken {
                    detail: describe(&e),
                }
            }
        }
    }

    /// RSET after a negative reply, so the session can carry the next message.
    async fn reset(&mut self) -> bool {
        matches!(
            tokio::time::timeout(self.timeout, self.conn.command(Rset)).await,
            Ok(Ok(_))
        )
    }

    /// Whether the connection is known to be unusable.
    pub fn is_broken(&self) -> bool {
        self.conn.has_broken()
    }

    /// Marks the connection broken and closes it. lettre's `abort` says QUIT and waits for the reply
    /// without a limit, which a server that stopped answering never sends: a second is allowed.
    async fn drop_connection(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.conn.abort()).await;
    }

    /// Says QUIT politely, without waiting long.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.conn.quit()).await;
    }
}
