//! Opening SMTP sessions: connect (implicit TLS or STARTTLS as configured, certificates verified,
//! an extra root or a pinned certificate from `ca_file`, see [`super::tls`]), EHLO, AUTH. What a
//! session then does with each message is [`super::session`].

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::ClientId;

use super::dialogue::{self, Transcript};
use super::greeting;
use super::session::{Session, TlsFacts};
use super::stream::{Capped, too_long};
use super::tls::{self, Tls, TlsFailure};
use crate::campaign::{Security, SmtpSettings};

/// Everything needed to open sessions; built once per run.
pub struct Connector {
    pub settings: SmtpSettings,
    credentials: Option<Credentials>,
    tls: Option<Tls>,
    hello: ClientId,
    /// How long the server may take to greet: twice `timeout` for a send, shorter for
    /// `campaign check --smtp` ([`Connector::greeting_within`]).
    greeting_timeout: std::time::Duration,
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
    /// Prepares TLS parameters and credentials (the password came from the environment or `.env`).
    pub(in crate::send) fn new(settings: SmtpSettings) -> Result<Connector, String> {
        let tls = match settings.security {
            Security::None => None,
            Security::StartTls | Security::Tls => Some(Tls::new(&settings)?),
        };
        let credentials = match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => Some(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            )),
            _ => None,
        };
        let hello = match &settings.hello_name {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::default(),
        };
        Ok(Connector {
            greeting_timeout: settings.timeout * 2,
            settings,
            credentials,
            tls,
            hello,
        })
    }

    /// The same connector, waiting at most `limit` for the greeting (a port that speaks another
    /// protocol, such as HTTP, says nothing until spoken to).
    pub fn greeting_within(mut self, limit: std::time::Duration) -> Connector {
        self.greeting_timeout = limit;
        self
    }

    /// Whether sessions go through the pin of a self-signed certificate from `ca_file`.
    pub fn pinned(&self) -> bool {
        self.tls.as_ref().is_some_and(Tls::pinning)
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        format!("{}:{}", self.settings.host, self.settings.port)
    }

    /// Opens a session: connect, TLS, EHLO, AUTH. A refused certificate is fatal at once, unless
    /// the server presents one of `ca_file`'s certificates (see [`super::tls`]).
    pub async fn connect(&self) -> Result<Session, ConnectError> {
        let dialogue = dialogue::claim(); // `-v`: the first session's dialogue
        let (conn, tls) = match self.open(dialogue.clone()).await {
            Ok(opened) => opened,
            Err(Opening::Failed(e)) => return Err(e),
            Err(Opening::Tls(failure)) => {
                let tls = self.tls.as_ref().expect("a TLS failure needs TLS");
                if !tls.try_pin(&failure) {
                    return Err(self.tls_fatal(&failure));
                }
                match self.open(dialogue).await {
                    Ok(opened) => opened,
                    Err(Opening::Failed(e)) => return Err(e),
                    Err(Opening::Tls(_)) => return Err(self.tls_fatal(&failure)),
                }
            }
        };
        let session = self.greet(conn).await?;
        Ok(session.with_tls(tls))
    }

    fn tls_fatal(&self, failure: &TlsFailure) -> ConnectError {
        ConnectError::Fatal(format!(
            "{}: TLS handshake failed: {}",
            self.server(),
            failure.message
        ))
    }

    /// TCP, the greeting, and TLS (implicit, or STARTTLS) with the pin checked when it is in use;
    /// then lettre's session on it, every reply read through [`Capped`]. With TLS, also what the
    /// session learned of it (lettre's session on our stream cannot tell).
    async fn open(
        &self,
        dialogue: Option<dialogue::Sink>,
    ) -> Result<(AsyncSmtpConnection, Option<TlsFacts>), Opening> {
        let server = self.server();
        let timeout = self.settings.timeout;
        let greeted = self.greeted(dialogue.map(Transcript::new));
        let (mut stream, greeting) =
            match tokio::time::timeout(self.greeting_timeout, greeted).await {
                Err(_) => return Err(Opening::Failed(ConnectError::Transient(self.no_greeting()))),
                Ok(opened) => opened?,
            };
        if self.settings.security == Security::StartTls {
            stream = match tokio::time::timeout(timeout, self.starttls(stream)).await {
                Err(_) => {
                    return Err(Opening::Failed(ConnectError::Transient(format!(
                        "{server}: STARTTLS timed out"
                    ))));
                }
                Ok(upgraded) => upgraded?,
            };
        }
        if let Some(tls) = self.tls.as_ref().filter(|t| t.pinning()) {
            tls.check_pin(&stream).map_err(|why| {
                Opening::Tls(TlsFailure {
                    certificate: true,
                    message: why,
                })
            })?;
        }
        let facts = (self.settings.security != Security::None).then(|| TlsFacts {
            certificate: stream.peer_certificate().ok(),
        });
        stream.unread(&greeting); // lettre opens its session by reading the greeting
        let session = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello);
        match tokio::time::timeout(timeout, session).await {
            Err(_) => Err(Opening::Failed(ConnectError::Transient(format!(
                "{server}: EHLO timed out"
            )))),
            Ok(Err(e)) => Err(self.connect_error("EHLO", &e)),
            Ok(Ok(conn)) => Ok((conn, facts)),
        }
    }

    /// TCP (and TLS at once when `security = "tls"`) and the server's greeting, judged.
    async fn greeted(&self, transcript: Option<Transcript>) -> Result<(Capped, String), Opening> {
        let implicit = match self.settings.security {
            Security::Tls => self.tls.as_ref().map(|tls| tls.parameters().clone()),
            _ => None,
        };
        let address = (self.settings.host.as_str(), self.settings.port);
        let tls_at_once = implicit.is_some();
        let connected = Capped::connect(address, self.settings.timeout, implicit).await;
        if connected.is_err() && transcript.is_some() {
            dialogue::give_back(); // nothing to show: the next session to connect is shown
        }
        let mut stream = connected
            .map_err(|e| self.connect_error("connect", &e))?
            .with_transcript(transcript);
        stream.note(&format!("connected to {}", self.server()));
        if tls_at_once {
            stream.note(
                "TLS from the start (security = \"tls\"): all of it is encrypted on the wire",
            );
        }
        let greeting = greeting::read(&mut stream, &self.server())
            .await
            .map_err(Opening::Failed)?;
        Ok((stream, greeting))
    }

    /// EHLO and STARTTLS in plain text, then the TLS handshake.
    async fn starttls(&self, mut stream: Capped) -> Result<Capped, Opening> {
        let tls = self.tls.as_ref().expect("starttls parameters");
        greeting::starttls(&mut stream, &self.hello, &self.server())
            .await
            .map_err(Opening::Failed)?;
        stream
            .start_tls(tls.parameters().clone())
            .await
            .map_err(|e| self.connect_error("STARTTLS", &e))
    }

    /// A server that says nothing: busy, or one that waits for the client to start TLS.
    fn no_greeting(&self) -> String {
        let mut why = format!(
            "{}: no greeting within {}s",
            self.server(),
            self.greeting_timeout.as_secs()
        );
        if self.settings.security != Security::Tls {
            why.push_str(
                "; a server that expects TLS from the start (usually on port 465) says nothing \
                 until the client starts TLS: if so, set [smtp] security = \"tls\"; or the port is \
                 not an SMTP server's (an HTTP server, too, waits for the client to speak): check \
                 [smtp] host and port",
            );
        }
        why
    }

    /// EHLO (for PIPELINING) and AUTH on an open connection.
    async fn greet(&self, mut conn: AsyncSmtpConnection) -> Result<Session, ConnectError> {
        let server = self.server();
        let timeout = self.settings.timeout;
        let extensions =
            match tokio::time::timeout(timeout, extensions(&mut conn, &self.hello)).await {
                Ok(Ok(offered)) => offered,
                Ok(Err(e)) => {
                    return Err(match self.connect_error("EHLO", &e) {
                        Opening::Failed(e) => e,
                        Opening::Tls(failure) => self.tls_fatal(&failure),
                    });
                }
                Err(_) => return Err(ConnectError::Transient(format!("{server}: EHLO timed out"))),
            };
        if let Some(credentials) = &self.credentials {
            let mechanisms = [Mechanism::Plain, Mechanism::Login];
            match tokio::time::timeout(timeout, conn.auth(&mechanisms, credentials)).await {
                Err(_) => return Err(ConnectError::Transient(format!("{server}: AUTH timed out"))),
                Ok(Err(e)) => return Err(self.auth_failed(&e)),
                Ok(Ok(_)) => {}
            }
        }
        let pipelining = extensions.iter().any(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|keyword| keyword.eq_ignore_ascii_case("PIPELINING"))
        });
        Ok(
            Session::new(conn, timeout, self.settings.data_timeout, pipelining)
                .with_extensions(extensions),
        )
    }
}

/// The extension lines of the server's EHLO reply (for PIPELINING, and what `check --smtp`
/// shows). lettre keeps only the extensions it uses from its own EHLO, so this asks once more
/// (before AUTH, as after STARTTLS; RFC 5321 §4.1.4 allows a repeated EHLO, which resets nothing
/// but the transaction).
async fn extensions(
    conn: &mut AsyncSmtpConnection,
    hello: &ClientId,
) -> Result<Vec<String>, lettre::transport::smtp::Error> {
    let reply = conn.command(Ehlo::new(hello.clone())).await?;
    Ok(reply.message().skip(1).map(str::to_string).collect())
}

/// Why a connection could not be opened: a TLS failure may still be rescued by the pin.
enum Opening {
    Failed(ConnectError),
    Tls(TlsFailure),
}

impl Connector {
    /// Classifies a failure to connect, STARTTLS or greet.
    fn connect_error(&self, step: &str, e: &lettre::transport::smtp::Error) -> Opening {
        let server = self.server();
        if let Some(limit) = too_long(e) {
            return Opening::Failed(self.reply_too_long(step, limit));
        }
        if let Some(failure) = tls::failure(e, &self.settings.host) {
            return Opening::Tls(failure);
        }
        if e.is_tls() {
            return Opening::Failed(ConnectError::Fatal(format!(
                "{server}: TLS handshake failed during {step}: {}; check [smtp] host (it must match \
                 the certificate), security and ca_file",
                describe(e)
            )));
        }
        if e.is_response() {
            return Opening::Failed(self.not_smtp(step));
        }
        if e.is_permanent() {
            return Opening::Failed(ConnectError::Fatal(format!(
                "{server}: the server refused the session: {}",
                describe(e)
            )));
        }
        Opening::Failed(ConnectError::Transient(format!(
            "{server}: {step} failed: {}",
            describe(e)
        )))
    }

    /// A reply lettre could not read as SMTP (`600`, no code): the port speaks something else.
    fn not_smtp(&self, step: &str) -> ConnectError {
        greeting::not_an_smtp_reply(&self.server(), &format!("reply to {step}"), "")
    }

    /// What a failed AUTH means: a refusal is fatal (the password will not change by retrying).
    fn auth_failed(&self, e: &lettre::transport::smtp::Error) -> ConnectError {
        if let Some(limit) = too_long(e) {
            return self.reply_too_long("AUTH", limit);
        }
        if e.is_response() {
            return self.not_smtp("AUTH");
        }
        if e.is_transient() {
            return ConnectError::Transient(format!("{}: AUTH: {}", self.server(), reply_text(e)));
        }
        let provider = self.settings.provider.as_ref();
        let hint = provider
            .and_then(|p| p.password_hint)
            .map(|h| format!(" ({h})"));
        ConnectError::Fatal(format!(
            "{}: authentication as {} failed: {}; check [smtp] username and the \
             {} environment variable (or .env){}",
            self.server(),
            self.settings.username.as_deref().unwrap_or_default(),
            describe(e),
            self.settings.password_var,
            hint.unwrap_or_default()
        ))
    }

    /// A reply over the limits of [`super::stream`] while opening the session.
    fn reply_too_long(&self, step: &str, limit: super::stream::ReplyTooLong) -> ConnectError {
        greeting::over_limit(&self.server(), &format!("{step} reply"), limit, None)
    }
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
pub(super) fn reply_text(e: &lettre::transport::smtp::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string())
}

impl Connector {
    /// Opens one session for a one-off command (`campaign test`, `check --smtp`): it has no
    /// retries, so a transient refusal ends it too (exit 3).
    pub async fn connect_once(&self) -> crate::Result<Session> {
        self.connect().await.map_err(|e| match e {
            ConnectError::Transient(why) | ConnectError::Fatal(why) => crate::Error::fatal(why),
        })
    }
}

/// The async runtime of a one-off command's single session.
pub fn one_session_runtime() -> crate::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::Error::fatal(format!("cannot start the async runtime: {e}")))
}
