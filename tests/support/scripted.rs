//! [`ScriptedServer`]: an SMTP server in this process whose every reply is chosen by a script
//! (a closure asked at each [`Stage`]), for fault injection. What the script is asked
//! ([`Event`]), what it answers ([`Reply`]) and what the server saw ([`Transaction`]) live here;
//! one connection's SMTP dialogue is `scripted/session.rs`.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{loopback, parse};

mod session;

use session::Session;

/// Point in an SMTP session at which a [`ScriptedServer`] asks its script for a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// New connection; default reply `220 localhost ESMTP scripted`.
    Connect,
    /// Default: `250-localhost`, `250-SIZE 35882577`, `250-8BITMIME`, `250 SMTPUTF8`.
    Ehlo,
    /// Default `250 localhost`.
    Helo,
    /// `MAIL FROM`; default `250 2.1.0 Ok`. A 2xx reply starts the transaction.
    Mail,
    /// `RCPT TO`; default `250 2.1.5 Ok` (`503` without MAIL). A 2xx reply adds the
    /// recipient.
    Rcpt,
    /// The `DATA` command; default `354 End data with <CR><LF>.<CR><LF>` (`503`
    /// without MAIL, `554` without accepted recipients). The server reads the
    /// message only if the reply sent starts with 354.
    Data,
    /// The final `.` of the message; `Event::data` holds the message.
    /// Default `250 2.0.0 Ok: queued as <msg>`.
    DataEnd,
    /// Default `250 2.0.0 Ok`; ends the transaction.
    Rset,
    /// Default `250 2.0.0 Ok`.
    Noop,
    /// Default `221 2.0.0 Bye`; the server closes the connection after any reply.
    Quit,
    /// Any other command (AUTH, STARTTLS, VRFY...); default `502 5.5.2 Error:
    /// command not recognized`.
    Other,
}

/// What the script of a [`ScriptedServer`] is asked about.
#[derive(Debug)]
pub struct Event<'a> {
    pub stage: Stage,
    /// 1-based number of the connection, in order of acceptance.
    pub conn: usize,
    /// 1-based, server-wide number of the current transaction (incremented by
    /// each MAIL command, accepted or not); 0 before the first MAIL.
    pub msg: usize,
    /// 1-based, server-wide count of events of this stage, this one included:
    /// `stage == DataEnd && nth == 1` is "the first end of DATA ever".
    pub nth: usize,
    /// The command line, without CRLF (empty for `Connect` and `DataEnd`).
    pub line: &'a str,
    /// Reverse-path of the current transaction, if MAIL was accepted (for
    /// `Mail`: the one being offered).
    pub mail_from: Option<&'a str>,
    /// For `Rcpt`: the recipient being offered.
    pub rcpt: Option<&'a str>,
    /// Recipients accepted so far in this transaction.
    pub rcpt_tos: &'a [String],
    /// For `DataEnd`: the message (dot-unstuffed, without the final ".").
    pub data: Option<&'a [u8]>,
}

/// A reply chosen by the script of a [`ScriptedServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The normal reply for the stage (see [`Stage`]).
    Default,
    /// This reply text, e.g. `"451 4.7.1 try later"`. Lines separated by `\n`
    /// make a multi-line reply (`"250-a\n250 b"`); CRLFs are added.
    Text(String),
    /// Close the connection without replying.
    Drop,
    /// Sleep, then act on the inner reply. `Delay(d, Drop)` is a stall.
    Delay(Duration, Box<Reply>),
    /// Only for `Stage::Data`: send 354, read this many bytes of the message
    /// (fewer if the client stops), then close the connection.
    DropMidData(usize),
}

impl Reply {
    /// `Reply::text("550 5.1.1 no such user")`.
    pub fn text(s: impl Into<String>) -> Reply {
        Reply::Text(s.into())
    }
    /// Accept the connection/command and never answer for `d`, then hang up.
    pub fn stall(d: Duration) -> Reply {
        Reply::Delay(d, Box::new(Reply::Drop))
    }
    /// Wait `d`, then send `reply`.
    pub fn after(d: Duration, reply: Reply) -> Reply {
        Reply::Delay(d, Box::new(reply))
    }
}

/// A message that reached the end of DATA on a [`ScriptedServer`].
#[derive(Clone, Debug)]
pub struct Transaction {
    pub conn: usize,
    pub msg: usize,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// Dot-unstuffed message bytes, without the final ".".
    pub raw: Vec<u8>,
    /// The reply code sent for the end of DATA; `None` if the server hung up.
    pub code: Option<u16>,
}

impl Transaction {
    /// Whether the server accepted the message (2xx).
    pub fn accepted(&self) -> bool {
        matches!(self.code, Some(200..=299))
    }
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        parse(&self.raw)
    }
}

type Script = dyn Fn(&Event<'_>) -> Reply + Send + Sync;

#[derive(Default)]
struct ScriptedState {
    connections: usize,
    msgs: usize,
    stage_counts: HashMap<Stage, usize>,
    transactions: Vec<Transaction>,
    data_ends: Vec<Transaction>,
    commands: Vec<(usize, String)>,
    streams: Vec<TcpStream>,
    stopping: bool,
}

struct Shared {
    script: Box<Script>,
    state: Mutex<ScriptedState>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ScriptedState> {
        // A panicking script must not wedge the other sessions.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An SMTP server on 127.0.0.1 (a thread per connection) whose every reply is
/// chosen by a script, for fault injection. Enough SMTP for lettre: no
/// PIPELINING, no STARTTLS, no AUTH (unless the script answers them).
///
/// ```ignore
/// // 451 for the first message's end of DATA, 550 for one recipient, else OK:
/// let server = ScriptedServer::start(|ev| match ev.stage {
///     Stage::DataEnd if ev.nth == 1 => Reply::text("451 4.7.1 try later"),
///     Stage::Rcpt if ev.rcpt == Some("nobody@example.com") => {
///         Reply::text("550 5.1.1 no such user")
///     }
///     _ => Reply::Default,
/// });
/// ```
pub struct ScriptedServer {
    pub port: u16,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    pub fn start<F>(script: F) -> ScriptedServer
    where
        F: Fn(&Event<'_>) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            script: Box::new(script),
            state: Mutex::new(ScriptedState::default()),
            changed: Condvar::new(),
        });
        let sh = Arc::clone(&shared);
        let accept_thread = thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let conn = {
                    let mut st = sh.lock();
                    if st.stopping {
                        break;
                    }
                    st.connections += 1;
                    if let Ok(clone) = stream.try_clone() {
                        st.streams.push(clone);
                    }
                    st.connections
                };
                sh.changed.notify_all();
                let sh = Arc::clone(&sh);
                thread::spawn(move || {
                    let _ = Session::new(stream, conn, &sh).and_then(|mut s| s.run());
                });
            }
        });
        ScriptedServer {
            port,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// A server that accepts everything.
    pub fn accept_all() -> ScriptedServer {
        Self::start(|_| Reply::Default)
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    /// Messages accepted (2xx at end of DATA), in order.
    pub fn messages(&self) -> Vec<Transaction> {
        self.shared
            .lock()
            .transactions
            .iter()
            .filter(|t| t.accepted())
            .cloned()
            .collect()
    }

    /// Every message that reached the end of DATA, accepted or not, in order.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.shared.lock().transactions.clone()
    }

    /// Every message whose final "." was read, in order, recorded before the script is asked
    /// for the reply (so also when the reply is delayed, never sent, or the session is gone by
    /// then); `code` is `None`. What the server received, whatever it answered.
    pub fn data_ends(&self) -> Vec<Transaction> {
        self.shared.lock().data_ends.clone()
    }

    /// Waits until the final "." of at least `n` messages was read ([`Self::data_ends`]); returns
    /// them. Panics on timeout.
    pub fn wait_for_data_ends(&self, n: usize, timeout: Duration) -> Vec<Transaction> {
        self.wait_until(timeout, |st| st.data_ends.len() >= n)
            .unwrap_or_else(|| {
                panic!(
                    "scripted server: {} of {n} ends of DATA after {timeout:?}; commands: {:?}",
                    self.data_ends().len(),
                    self.commands()
                )
            });
        self.data_ends()
    }

    /// Every command line received, as `(connection, line)`, in order.
    pub fn commands(&self) -> Vec<(usize, String)> {
        self.shared.lock().commands.clone()
    }

    /// How many received commands start with `verb` (case-insensitive), e.g. "RSET".
    pub fn count_commands(&self, verb: &str) -> usize {
        self.shared
            .lock()
            .commands
            .iter()
            .filter(|(_, line)| {
                line.split_whitespace()
                    .next()
                    .is_some_and(|v| v.eq_ignore_ascii_case(verb))
            })
            .count()
    }

    /// Waits until at least `n` messages were accepted; returns them. Panics on timeout.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Transaction> {
        self.wait_until(timeout, |st| {
            st.transactions.iter().filter(|t| t.accepted()).count() >= n
        })
        .unwrap_or_else(|| {
            panic!(
                "scripted server: {} of {n} messages accepted after {timeout:?}; commands: {:?}",
                self.messages().len(),
                self.commands()
            )
        });
        self.messages()
    }

    /// Waits until at least `n` messages reached the end of DATA. Panics on timeout.
    pub fn wait_for_transactions(&self, n: usize, timeout: Duration) -> Vec<Transaction> {
        self.wait_until(timeout, |st| st.transactions.len() >= n)
            .unwrap_or_else(|| {
                panic!(
                    "scripted server: {} of {n} transactions after {timeout:?}; commands: {:?}",
                    self.transactions().len(),
                    self.commands()
                )
            });
        self.transactions()
    }

    fn wait_until(&self, timeout: Duration, cond: impl Fn(&ScriptedState) -> bool) -> Option<()> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if cond(&st) {
                return Some(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        let streams = {
            let mut st = self.shared.lock();
            st.stopping = true;
            std::mem::take(&mut st.streams)
        };
        for s in streams {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so it sees `stopping`.
        let _ = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        // Connection threads still sleeping in a Delay finish on their own.
    }
}
