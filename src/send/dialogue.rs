//! `-v` / `--verbose`: the SMTP dialogue of the first session on stderr, one line per command or
//! reply line, `C: ` for what the client sent and `S: ` for what the server answered, as they
//! passed on the connection (before encryption), for debugging a relay the way a mail client's
//! debug log does. Lines starting `* ` are notes (connected, TLS started).
//!
//! What is not printed as it passed:
//!
//! * **AUTH**: the command keeps its mechanism and loses its argument (`C: AUTH PLAIN <redacted>`),
//!   and every client line after it until the server's final answer (the base64 user name and
//!   password of AUTH LOGIN) is `C: <redacted>`. The user name is redacted too: it is in
//!   campaign.toml for whoever needs it, and a line that may hold a secret is never worth the risk.
//! * **The message**: between the 354 reply to DATA and the final dot, one line
//!   `C: <message: 5,321 bytes>` (the bytes written, dot-stuffed) instead of the content.
//! * **After [`TRANSACTIONS_SHOWN`] messages**, a session that carries a whole campaign would
//!   flood the terminal: a note says so, and the lines from there to QUIT are left out.
//!
//! Only one session is shown: the first one whose connection opens after [`show_first_session`]
//! (in a send with concurrency, whichever connects first; a refused connection passes the turn on). The hook sits in [`super::stream::Capped`], which every
//! byte of every session passes through; a session without a transcript pays one branch per read
//! or write, nothing per line.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Where transcript lines go.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Messages shown in full per session; later transactions are left out until QUIT.
pub const TRANSACTIONS_SHOWN: u32 = 5;

/// The process's wish to see the first session, once [`show_first_session`] was called.
struct Wanted {
    sink: Sink,
    taken: AtomicBool,
}

static WANTED: OnceLock<Wanted> = OnceLock::new();

/// Asks for the dialogue of the first SMTP session to go to `sink` (the `-v` flag). Later calls
/// are ignored.
pub fn show_first_session(sink: Sink) {
    let _ = WANTED.set(Wanted {
        sink,
        taken: AtomicBool::new(false),
    });
}

/// Lines to stderr, written whole; a failed write (the terminal gone) is ignored.
pub fn stderr_sink() -> Sink {
    Arc::new(|line: &str| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    })
}

/// The sink for the session now being opened, if it is the first to ask; `None` for every later
/// one, and always when nobody asked.
pub fn claim() -> Option<Sink> {
    let wanted = WANTED.get()?;
    (!wanted.taken.swap(true, Ordering::SeqCst)).then(|| Arc::clone(&wanted.sink))
}

/// Hands the claim back: the session that had it could not even connect (nothing to show), so the
/// next one to connect is shown instead.
pub fn give_back() {
    if let Some(wanted) = WANTED.get() {
        wanted.taken.store(false, Ordering::SeqCst);
    }
}

/// What the client is sending, as far as printing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Commands,
    /// After AUTH, until the server's final reply: every line is redacted.
    Auth,
    /// After the 354 reply to DATA, until the final dot: counted, not shown.
    Message,
}

/// One session's transcript: turns the bytes each way into lines for the sink.
pub struct Transcript {
    sink: Sink,
    /// The client's and the server's line so far (without its end).
    client_line: Vec<u8>,
    server_line: Vec<u8>,
    client: Client,
    /// DATA went out; its 354 has not come back yet.
    awaiting_354: bool,
    /// In a message: octets written, and the last five (to find `CRLF . CRLF`).
    message_bytes: u64,
    window: u64,
    transactions: u32,
    /// Past [`TRANSACTIONS_SHOWN`]: lines are left out until QUIT.
    quiet: bool,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript")
            .field("client", &self.client)
            .field("transactions", &self.transactions)
            .finish_non_exhaustive()
    }
}

/// `CR LF . CR LF` as the low five octets of the window.
const END_OF_DATA: u64 = 0x000D_0A2E_0D0A;
const WINDOW: u64 = 0xFF_FFFF_FFFF;

impl Transcript {
    pub fn new(sink: Sink) -> Transcript {
        Transcript {
            sink,
            client_line: Vec::new(),
            server_line: Vec::new(),
            client: Client::Commands,
            awaiting_354: false,
            message_bytes: 0,
            window: 0,
            transactions: 0,
            quiet: false,
        }
    }

    /// A note of the transcript's own (`* connected to …`).
    pub fn note(&mut self, text: &str) {
        if !self.quiet {
            (self.sink)(&format!("* {text}"));
        }
    }

    /// Bytes the client wrote.
    pub fn sent(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.client == Client::Message {
                bytes = self.message(bytes);
                continue;
            }
            match memchr::memchr(b'\n', bytes) {
                Some(end) => {
                    self.client_line.extend_from_slice(&bytes[..end]);
                    bytes = &bytes[end + 1..];
                    let line = take_line(&mut self.client_line);
                    self.client_said(&line);
                }
                None => {
                    self.client_line.extend_from_slice(bytes);
                    bytes = &[];
                }
            }
        }
    }

    /// Bytes the server sent.
    pub fn received(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            self.server_line.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            let line = take_line(&mut self.server_line);
            self.server_said(&line);
        }
        self.server_line.extend_from_slice(rest);
    }

    /// Counts message bytes up to and including the final dot; returns what follows it.
    fn message<'b>(&mut self, bytes: &'b [u8]) -> &'b [u8] {
        for (i, &b) in bytes.iter().enumerate() {
            self.message_bytes += 1;
            self.window = ((self.window << 8) | u64::from(b)) & WINDOW;
            if self.window == END_OF_DATA {
                let content = self.message_bytes - 3; // the ".\r\n" is the end, not the message
                self.client = Client::Commands;
                self.line(&format!("C: <message: {} bytes>", thousands(content)));
                self.line("C: .");
                return &bytes[i + 1..];
            }
        }
        &[]
    }

    fn client_said(&mut self, line: &str) {
        if self.client == Client::Auth {
            return self.line("C: <redacted>");
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match verb.as_str() {
            "AUTH" => {
                self.client = Client::Auth;
                let mut words = line.split_whitespace().skip(1);
                let mechanism = words.next().unwrap_or_default();
                let redacted = if words.next().is_some() {
                    " <redacted>"
                } else {
                    ""
                };
                return self.line(&format!("C: AUTH {mechanism}{redacted}"));
            }
            "MAIL" => {
                self.transactions += 1;
                self.awaiting_354 = false;
                if self.transactions == TRANSACTIONS_SHOWN + 1 {
                    self.note(&format!(
                        "the session's later messages are not shown (only the first \
                         {TRANSACTIONS_SHOWN}), until QUIT"
                    ));
                    self.quiet = true;
                }
            }
            "DATA" => self.awaiting_354 = true,
            "QUIT" => self.quiet = false,
            _ => {}
        }
        self.line(&format!("C: {line}"));
    }

    fn server_said(&mut self, line: &str) {
        self.line(&format!("S: {line}"));
        let last_of_reply = line.as_bytes().get(3) != Some(&b'-');
        if !last_of_reply {
            return;
        }
        let code = line.get(..3).unwrap_or_default();
        if self.client == Client::Auth && code != "334" {
            self.client = Client::Commands;
        }
        if self.awaiting_354 && code == "354" {
            self.awaiting_354 = false;
            self.client = Client::Message;
            self.message_bytes = 0;
            self.window = 0x0D0A; // a first line of "." ends an empty message
        }
    }

    fn line(&self, line: &str) {
        if !self.quiet {
            (self.sink)(line);
        }
    }
}

/// The line collected in `buf` without its CR, as text (bytes that are not UTF-8 replaced).
fn take_line(buf: &mut Vec<u8>) -> String {
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    let line = String::from_utf8_lossy(buf).into_owned();
    buf.clear();
    line
}

/// `5321` as `5,321`.
fn thousands(n: u64) -> String {
    crate::campaign::recipients::thousands(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn transcript() -> (Transcript, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&lines);
        let sink: Sink = Arc::new(move |l: &str| out.lock().unwrap().push(l.to_string()));
        (Transcript::new(sink), lines)
    }

    #[test]
    fn a_pipelined_transaction_reads_as_lines_with_the_message_counted() {
        let (mut t, lines) = transcript();
        t.received(b"220 hi\r\n");
        t.sent(b"EHLO me\r\n");
        t.received(b"250-hi\r\n250 PIPE");
        t.received(b"LINING\r\n");
        t.sent(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
        t.received(b"250 ok\r\n250 ok\r\n354 go\r\n");
        t.sent(b"Subject: x\r\n\r\n..dot\r\n");
        t.sent(b".\r\nQUIT\r\n");
        t.received(b"250 queued\r\n221 bye\r\n");
        let want = [
            "S: 220 hi",
            "C: EHLO me",
            "S: 250-hi",
            "S: 250 PIPELINING",
            "C: MAIL FROM:<a@x>",
            "C: RCPT TO:<b@y>",
            "C: DATA",
            "S: 250 ok",
            "S: 250 ok",
            "S: 354 go",
            "C: <message: 21 bytes>",
            "C: .",
            "C: QUIT",
            "S: 250 queued",
            "S: 221 bye",
        ];
        assert_eq!(*lines.lock().unwrap(), want);
    }

    #[test]
    fn auth_arguments_and_continuation_lines_are_redacted() {
        let (mut t, lines) = transcript();
        t.sent(b"AUTH PLAIN AGFsaWNlAHB3\r\n");
        t.received(b"235 ok\r\n");
        t.sent(b"AUTH LOGIN\r\n");
        t.received(b"334 VXNlcm5hbWU6\r\n");
        t.sent(b"YWxpY2U=\r\n");
        t.received(b"334 UGFzc3dvcmQ6\r\n");
        t.sent(b"cHc=\r\n");
        t.received(b"235 ok\r\n");
        t.sent(b"MAIL FROM:<a@x>\r\n");
        let lines = lines.lock().unwrap().join("\n");
        assert!(!lines.contains("AGFsaWNlAHB3") && !lines.contains("YWxpY2U="));
        assert!(!lines.contains("cHc="), "{lines}");
        assert!(lines.contains("C: AUTH PLAIN <redacted>"));
        assert_eq!(lines.matches("C: <redacted>").count(), 2, "{lines}");
        assert!(lines.ends_with("C: MAIL FROM:<a@x>"));
    }

    #[test]
    fn an_empty_message_after_a_refused_recipient_ends_at_its_dot() {
        let (mut t, lines) = transcript();
        t.sent(b"DATA\r\n");
        t.received(b"354 go\r\n");
        t.sent(b".\r\nRSET\r\n");
        let lines = lines.lock().unwrap();
        assert_eq!(lines[2..], ["C: <message: 0 bytes>", "C: .", "C: RSET"]);
    }

    #[test]
    fn later_transactions_are_left_out_until_quit() {
        let (mut t, lines) = transcript();
        for _ in 0..TRANSACTIONS_SHOWN + 3 {
            t.sent(b"MAIL FROM:<a@x>\r\n");
        }
        t.sent(b"QUIT\r\n");
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), TRANSACTIONS_SHOWN as usize + 2, "{lines:?}");
        assert!(lines[TRANSACTIONS_SHOWN as usize].starts_with("* "));
        assert_eq!(lines.last().unwrap(), "C: QUIT");
    }
}
