//! One message's SMTP transaction on an open session, in its two halves: the envelope (MAIL, RCPT
//! for each recipient, DATA), which can fail safely, and the content with its final dot, after
//! which the relay may have the message whatever happens. When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one write
//! and their replies are read in order afterwards: two round trips per message instead of four,
//! which is what limits a session's rate on any link with latency. The first negative reply is the
//! one reported (a rejected RCPT makes the server refuse DATA too); if the server accepted DATA
//! anyway, an empty message is ended with `.` so the session stays in step.

use lettre::address::Envelope;
use lettre::transport::smtp::Error;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::MailParameter;
use lettre::transport::smtp::response::Response;

/// Sends the envelope: MAIL, RCPT for each recipient, DATA (in one write when pipelining). Ok when
/// the server is waiting for the content; else the first negative reply or the broken connection.
/// Nothing of the message has gone out yet, so any failure here is safe to retry.
pub async fn envelope(
    conn: &mut AsyncSmtpConnection,
    pipelining: bool,
    envelope: &Envelope,
    options: Vec<MailParameter>,
) -> Result<(), Error> {
    let mail = Mail::new(envelope.from().cloned(), options);
    let rcpts = envelope.to().iter().map(|to| Rcpt::new(to.clone(), vec![]));
    if pipelining {
        let group: String = std::iter::once(mail.to_string())
            .chain(rcpts.map(|r| r.to_string()))
            .chain(std::iter::once(Data.to_string()))
            .collect();
        return pipelined(conn, &group, envelope.to().len() + 2).await;
    }
    conn.command(mail).await?;
    for rcpt in rcpts {
        conn.command(rcpt).await?;
    }
    conn.command(Data).await.map(drop)
}

/// Writes the content and the final dot, and reads the reply to it. Once this has started, the
/// relay may take the message whatever happens next (see `Session::send`).
pub async fn content(conn: &mut AsyncSmtpConnection, message: &[u8]) -> Result<Response, Error> {
    // One write for the content and the final dot: lettre writes them separately, and the small
    // second write then waits for the delayed ACK of the first (Nagle), ~40 ms a message.
    // `command` writes its argument in one piece and reads the reply.
    match std::str::from_utf8(message) {
        Ok(text) => conn.command(DataBody(text)).await,
        Err(_) => conn.message(message).await,
    }
}

/// Writes `group` (`replies` commands ending with DATA) and reads every reply. Ok when all were
/// positive (DATA's 354 included); else the first negative reply, after ending the data phase if
/// DATA was accepted regardless. A broken connection is returned at once.
async fn pipelined(
    conn: &mut AsyncSmtpConnection,
    group: &str,
    replies: usize,
) -> Result<(), Error> {
    let mut first_negative = None;
    let mut data_accepted = false;
    for n in 0..replies {
        let reply = if n == 0 {
            conn.command(group).await
        } else {
            conn.read_response().await
        };
        match reply {
            Ok(_) => data_accepted = n + 1 == replies,
            Err(e) if e.status().is_some() => {
                if first_negative.is_none() {
                    first_negative = Some(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    match first_negative {
        None => Ok(()),
        Some(e) => {
            if data_accepted {
                // RFC 2920 §3.1: nothing valid to send, but the server waits for content.
                let _ = conn.command(".\r\n").await;
            }
            Err(e)
        }
    }
}

/// Message content for the DATA phase, dot-stuffed (RFC 5321 §4.5.2) and ended with `.`.
pub struct DataBody<'a>(pub &'a str);

impl std::fmt::Display for DataBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        static LINE_DOT: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new("\r\n."));
        if self.0.starts_with('.') {
            f.write_str(".")?;
        }
        let mut rest = self.0;
        while let Some(i) = LINE_DOT.find(rest.as_bytes()) {
            f.write_str(&rest[..i + 2])?;
            f.write_str(".")?;
            rest = &rest[i + 2..];
        }
        f.write_str(rest)?;
        if !self.0.ends_with("\r\n") {
            f.write_str("\r\n")?;
        }
        f.write_str(".\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::DataBody;

    #[test]
    fn data_body_is_dot_stuffed_and_terminated() {
        assert_eq!(
            DataBody(".a\r\n..b\r\nc").to_string(),
            "..a\r\n...b\r\nc\r\n.\r\n"
        );
        assert_eq!(DataBody("x\r\n").to_string(), "x\r\n.\r\n");
    }
}
