//! One SMTP session, reused for many messages: connect (implicit TLS or STARTTLS as configured,
//! certificates verified, an extra root from `ca_file`), EHLO, AUTH, then one transaction per
//! message. lettre's `AsyncSmtpConnection::send` aborts the connection on any negative reply, so the
//! transaction is driven command by command here: after a 4xx/5xx the session sends RSET and stays
//! open for the next message; only a broken or timed-out connection is dropped and reopened.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Ehlo, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::{Response, Severity};

use super::transaction;
use crate::campaign::{Security, SmtpSettings};

/// Everything needed to open sessions; built once per run.
#[derive(Clone)]
pub struct Connector {
    pub settings: SmtpSettings,
    credentials: Option<Credentials>,
    tls: Option<TlsParameters>,
    hello: ClientId,
}

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

/// Why a session could not be opened.
#[derive(Debug)]
pub enum ConnectError {
    /// Worth retrying: connection refused/reset, timeout, 4xx greeting or AUTH reply.
    Transient(String),
    /// Retrying cannot help: TLS failure, authentication refused, STARTTLS not offered.
    Fatal(String),
}

impl Connector {
    /// Prepares TLS parameters and credentials. `password` comes from the environment only.
    pub fn new(settings: SmtpSettings, password: Option<String>) -> Result<Connector, String> {
        let tls = match settings.security {
            Security::None => None,
            Security::StartTls | Security::Tls => Some(tls_parameters(&settings)?),
        };
        let credentials = match (&settings.username, password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password)),
            _ => None,
        };
        let hello = match &settings.hello_name {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::default(),
        };
        Ok(Connector {
            settings,
            credentials,
            tls,
            hello,
        })
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        format!("{}:{}", self.settings.host, self.settings.port)
    }

    /// Opens a session: connect, TLS, EHLO, AUTH.
    pub async fn connect(&self) -> Result<Session, ConnectError> {
        let server = self.server();
        let timeout = self.settings.timeout;
        let implicit = match self.settings.security {
            Security::Tls => self.tls.clone(),
            _ => None,
        };
        let address = (self.settings.host.as_str(), self.settings.port);
        let connect = AsyncSmtpConnection::connect_tokio1(
            address,
            Some(timeout),
            &self.hello,
            implicit,
            None,
        );
        let mut conn = match tokio::time::timeout(timeout * 2, connect).await {
            Err(_) => {
                return Err(ConnectError::Transient(format!(
                    "{server}: no greeting within {}s",
                    timeout.as_secs() * 2
                )));
            }
            Ok(Err(e)) => return Err(connect_error(&server, "connect", &e)),
            Ok(Ok(conn)) => conn,
        };
        if self.settings.security == Security::StartTls {
            if !conn.can_starttls() {
                return Err(ConnectError::Fatal(format!(
                    "{server}: the server does not offer STARTTLS; set [smtp] security = \"tls\" \
                     if it expects TLS from the start (port 465), or check the port"
                )));
            }
            let tls = self.tls.clone().expect("tls parameters for starttls");
            let upgrade = conn.starttls(tls, &self.hello);
            match tokio::time::timeout(timeout, upgrade).await {
                Err(_) => {
                    return Err(ConnectError::Transient(format!(
                        "{server}: STARTTLS timed out"
                    )));
                }
                Ok(Err(e)) => return Err(connect_error(&server, "STARTTLS", &e)),
                Ok(Ok(())) => {}
            }
        }
        let pipelining =
            match tokio::time::timeout(timeout, offers_pipelining(&mut conn, &self.hello)).await {
                Ok(Ok(offered)) => offered,
                Ok(Err(e)) => return Err(connect_error(&server, "EHLO", &e)),
                Err(_) => return Err(ConnectError::Transient(format!("{server}: EHLO timed out"))),
            };
        if let Some(credentials) = &self.credentials {
            let mechanisms = [Mechanism::Plain, Mechanism::Login];
            match tokio::time::timeout(timeout, conn.auth(&mechanisms, credentials)).await {
                Err(_) => return Err(ConnectError::Transient(format!("{server}: AUTH timed out"))),
                Ok(Err(e)) if e.is_transient() => {
                    return Err(ConnectError::Transient(format!(
                        "{server}: AUTH: {}",
                        reply_text(&e)
                    )));
                }
                Ok(Err(e)) => {
                    return Err(ConnectError::Fatal(format!(
                        "{server}: authentication as {} failed: {}; check [smtp] username and the \
                         CAMPAIGN_SMTP_PASSWORD environment variable (or .env)",
                        self.settings.username.as_deref().unwrap_or_default(),
                        describe(&e)
                    )));
                }
                Ok(Ok(_)) => {}
            }
        }
        Ok(Session {
            conn,
            timeout,
            data_timeout: self.settings.data_timeout,
            pipelining,
        })
    }
}

/// Whether the server lists PIPELINING in its EHLO reply. lettre keeps only the extensions it uses
/// from its own EHLO, so this asks once more (before AUTH, as after STARTTLS; RFC 5321 §4.1.4
/// allows a repeated EHLO, which resets nothing but the transaction).
async fn offers_pipelining(
    conn: &mut AsyncSmtpConnection,
    hello: &ClientId,
) -> Result<bool, lettre::transport::smtp::Error> {
    let reply = conn.command(Ehlo::new(hello.clone())).await?;
    Ok(reply.message().skip(1).any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|keyword| keyword.eq_ignore_ascii_case("PIPELINING"))
    }))
}

fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("[smtp] ca_file: cannot read {}: {e}", path.display()))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            format!(
                "[smtp] ca_file: {} is not a PEM certificate: {e}",
                path.display()
            )
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("[smtp]: cannot set up TLS: {e}"))
}

/// Classifies a failure to connect, STARTTLS or greet.
fn connect_error(server: &str, step: &str, e: &lettre::transport::smtp::Error) -> ConnectError {
    if e.is_tls() {
        return ConnectError::Fatal(format!(
            "{server}: TLS handshake failed during {step}: {}; check [smtp] host (it must match the \
             certificate), security and ca_file",
            describe(e)
        ));
    }
    if e.is_permanent() {
        return ConnectError::Fatal(format!(
            "{server}: the server refused the session: {}",
            describe(e)
        ));
    }
    ConnectError::Transient(format!("{server}: {step} failed: {}", describe(e)))
}

/// An error and its causes in one line.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The server's reply text of a negative-reply error (lettre keeps it as the error's source).
fn reply_text(e: &lettre::transport::smtp::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string())
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
}

impl Session {
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
        before_dot: impl FnOnce() -> bool,
    ) -> Attempt {
        let options = match self.mail_options(envelope, message) {
            Ok(options) => options,
            Err(detail) => return Attempt::Refused { detail },
        };
        let start = transaction::envelope(&mut self.conn, self.pipelining, envelope, options);
        match tokio::time::timeout(self.timeout, start).await {
            Err(_) => {
                self.conn.abort().await;
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
        if !before_dot() {
            self.conn.abort().await;
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
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii {
            if !info.supports_feature(Extension::SmtpUtfEight) {
                return Err(
                    "the address is not ASCII and the server does not support SMTPUTF8".into(),
                );
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
        self.conn.abort().await;
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
                    self.conn.abort().await;
                }
                attempt
            }
            None if e.is_client() => Attempt::Refused {
                detail: describe(&e),
            },
            None => {
                self.conn.abort().await;
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

    /// Says QUIT politely, without waiting long.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.conn.quit()).await;
    }
}
