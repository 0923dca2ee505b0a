//! A session's first words, read here rather than by lettre: the server's greeting, and for
//! STARTTLS the plain-text EHLO and STARTTLS before the TLS handshake.
//!
//! **The greeting** (RFC 5321 §4.3.1: `220`, or `554` for "no SMTP service here") is where a wrong
//! host or port shows: an HTTP server, a TLS-only port, something else. lettre's parser reported
//! those as "error Tag at: 99 hello"; here each is one sentence naming the server and quoting what
//! it sent (first line, escaped, cut short). What it means: a 2xx greeting opens the session, a 4xx
//! is worth retrying (RFC 5321 §3.8: `421`, busy), a 5xx refuses the session, and anything that
//! is no SMTP reply at all is fatal, since retrying will not turn the service into SMTP.
//!
//! **STARTTLS** is done here, not by lettre, because lettre's TLS would sit above the reply limits
//! of [`super::stream`] (which must count plain text, not ciphertext): EHLO, STARTTLS, and then
//! `super::smtp` upgrades the connection and gives it to lettre, the greeting handed back in front
//! for lettre to read. Anything the server sent after its STARTTLS reply is dropped unread, as RFC
//! 3207 §4.2 requires.

use lettre::transport::smtp::commands::{Ehlo, Starttls};
use lettre::transport::smtp::extension::{ClientId, Extension, ServerInfo};
use lettre::transport::smtp::response::{Response, Severity};
use tokio::io::AsyncWriteExt;

use super::smtp::ConnectError;
use super::stream::{Capped, ReplyTooLong, too_long};

/// Reads and judges the greeting; returns it (to be handed back to lettre) when it opens a session.
pub async fn read(stream: &mut Capped, server: &str) -> Result<String, ConnectError> {
    let text = reply(stream, server, "greeting").await?;
    if text.is_empty() {
        return Err(ConnectError::Transient(format!(
            "{server}: the server closed the connection before its greeting"
        )));
    }
    let not_smtp = || not_an_smtp_reply(server, "greeting", &format!(" ({})", quote(&text)));
    let response: Response = text.parse().map_err(|_| not_smtp())?;
    match response.code().severity {
        Severity::PositiveCompletion => Ok(text),
        Severity::TransientNegativeCompletion => Err(ConnectError::Transient(format!(
            "{server}: the server is not taking sessions now ({})",
            quote(&text)
        ))),
        Severity::PermanentNegativeCompletion => Err(ConnectError::Fatal(format!(
            "{server}: the server refused the session ({})",
            quote(&text)
        ))),
        Severity::PositiveIntermediate => Err(not_smtp()),
    }
}

/// EHLO and STARTTLS in plain text: Ok when the server is ready for the TLS handshake.
pub async fn starttls(
    stream: &mut Capped,
    hello: &ClientId,
    server: &str,
) -> Result<(), ConnectError> {
    let ehlo = command(
        stream,
        &Ehlo::new(hello.clone()).to_string(),
        server,
        "EHLO",
    )
    .await?;
    let offered = ServerInfo::from_response(&ehlo)
        .is_ok_and(|info| info.supports_feature(Extension::StartTls));
    if !offered {
        return Err(ConnectError::Fatal(format!(
            "{server}: the server does not offer STARTTLS; set [smtp] security = \"tls\" \
             if it expects TLS from the start (port 465), or check the port"
        )));
    }
    command(stream, &Starttls.to_string(), server, "STARTTLS").await?;
    Ok(())
}

/// Sends `line` and reads its reply: Ok when positive, else what it means for the session.
async fn command(
    stream: &mut Capped,
    line: &str,
    server: &str,
    step: &str,
) -> Result<Response, ConnectError> {
    let sent = async {
        stream.write_all(line.as_bytes()).await?;
        stream.flush().await
    };
    sent.await
        .map_err(|e| ConnectError::Transient(format!("{server}: {step} failed: {e}")))?;
    let text = reply(stream, server, &format!("{step} reply")).await?;
    if text.is_empty() {
        return Err(ConnectError::Transient(format!(
            "{server}: the server closed the connection after {step}"
        )));
    }
    let response: Response = text.parse().map_err(|_| {
        ConnectError::Fatal(format!(
            "{server}: the server's {step} reply is not an SMTP reply ({}): check [smtp] host \
             and port",
            quote(&text)
        ))
    })?;
    match response.code().severity {
        Severity::PositiveCompletion => Ok(response),
        Severity::TransientNegativeCompletion => Err(ConnectError::Transient(format!(
            "{server}: {step}: {}",
            quote(&text)
        ))),
        _ => Err(ConnectError::Fatal(format!(
            "{server}: the server refused {step} ({})",
            quote(&text)
        ))),
    }
}

/// One reply, or why none could be read: over the limits is fatal, a broken connection is not.
async fn reply(stream: &mut Capped, server: &str, what: &str) -> Result<String, ConnectError> {
    stream.read_reply().await.map_err(|e| match too_long(&e) {
        Some(limit) => over_limit(server, what, limit, Some(&stream.received())),
        None => ConnectError::Transient(format!("{server}: reading the {what} failed: {e}")),
    })
}

/// A reply over the limits of [`super::stream`] while opening a session (`what`: "greeting",
/// "EHLO reply"…), quoting its start when known: fatal, this is no SMTP server to send through.
pub fn over_limit(
    server: &str,
    what: &str,
    limit: ReplyTooLong,
    start: Option<&str>,
) -> ConnectError {
    let quoted = start
        .map(|s| format!(" ({})", quote(s)))
        .unwrap_or_default();
    not_an_smtp_reply(server, what, &format!(": {limit}{quoted}"))
}

/// Fatal: the server's `what` (greeting, EHLO reply…) is not SMTP, `detail` saying how; the port
/// speaks something else.
pub fn not_an_smtp_reply(server: &str, what: &str, detail: &str) -> ConnectError {
    ConnectError::Fatal(format!(
        "{server}: the server's {what} is not an SMTP reply{detail}: check [smtp] host and port \
         (is this an SMTP server?)"
    ))
}

/// The first line of `text` for a message: quoted, control characters escaped, at most 60
/// characters of it.
pub fn quote(text: &str) -> String {
    const SHOWN: usize = 60;
    let line = text.lines().next().unwrap_or_default();
    let mut quoted: String = line
        .chars()
        .take(SHOWN)
        .flat_map(char::escape_debug)
        .collect();
    if line.chars().nth(SHOWN).is_some() {
        quoted.push('…');
    }
    format!("\"{quoted}\"")
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn a_quote_is_one_line_escaped_and_short() {
        assert_eq!(quote("600 hello\r\n"), "\"600 hello\"");
        assert_eq!(quote("a\u{1b}b\r\nsecond"), "\"a\\u{1b}b\"");
        let long = "y".repeat(100);
        assert_eq!(quote(&long), format!("\"{}…\"", "y".repeat(60)));
    }
}
