//! The connection under every SMTP session, with a limit on what the server may send as a reply.
//!
//! lettre reads each reply line with an unbounded `read_line` (a greeting without a line end grew to
//! 4 GB within the timeout), and checks its own limits only once a line has ended. [`Capped`] sits
//! between lettre and the connection (above TLS: the limits are on the plain text) and counts as
//! bytes arrive: a line longer than [`LINE_LIMIT`] octets, or a reply of more than [`REPLY_LINES`]
//! lines, is a read error ([`ReplyTooLong`]) and the session is dropped. RFC 5321 §4.5.3.1.5 allows
//! 512 octets a reply line; the limit leaves room for servers that exceed it. A reply ends at a
//! line whose fourth character is not `-` (§4.2.1).
//!
//! The first replies (the greeting, and for STARTTLS the plain-text EHLO and STARTTLS) are read
//! here rather than by lettre ([`Capped::read_reply`]), so that they can be judged in plain words
//! (`super::greeting`); what lettre must still read (the greeting, when it opens its session) is
//! handed back with [`Capped::unread`].
//!
//! Every byte each way passes here, so this is also where `-v` reads the dialogue of the first
//! session (`super::dialogue`): a connection without a transcript pays one branch per read or write.

// lettre's `AsyncNetworkStream` is "not meant to be public", but it is what lettre's sessions run
// on, and with it the connect and TLS (certificate checks, `TlsParameters`) are lettre's own. It is
// used in this module only.
#![allow(deprecated)]

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncRead as FuturesRead, AsyncWrite as FuturesWrite};
use lettre::transport::smtp::client::{AsyncNetworkStream, AsyncTokioStream, TlsParameters};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::dialogue::Transcript;

/// The longest reply line accepted, in octets without the line end.
pub const LINE_LIMIT: usize = 4096;
/// The most lines one reply may have (an EHLO reply has one per extension: about 10–20).
pub const REPLY_LINES: usize = 100;

/// The server sent more than a reply may hold: the session cannot be trusted to be in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTooLong {
    Line,
    Lines,
}

impl std::fmt::Display for ReplyTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyTooLong::Line => write!(f, "a line longer than {LINE_LIMIT} octets"),
            ReplyTooLong::Lines => write!(f, "a reply of more than {REPLY_LINES} lines"),
        }
    }
}

impl std::error::Error for ReplyTooLong {}

/// Finds a [`ReplyTooLong`] among an error's causes (lettre keeps the read error as its source).
pub fn too_long(e: &(dyn std::error::Error + 'static)) -> Option<ReplyTooLong> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        let found = c.downcast_ref::<ReplyTooLong>().or_else(|| {
            c.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<ReplyTooLong>())
        });
        if let Some(found) = found {
            return Some(*found);
        }
        cause = c.source();
    }
    None
}

/// A connection whose incoming replies are limited (see the module's documentation).
#[derive(Debug)]
pub struct Capped {
    inner: AsyncNetworkStream,
    /// Bytes received (or handed back) but not yet read by the reader.
    pending: Vec<u8>,
    counter: Counter,
    /// A limit was exceeded: every later read fails too.
    failed: Option<ReplyTooLong>,
    /// `-v`: this session's dialogue, printed as it passes (see `super::dialogue`).
    transcript: Option<Box<Transcript>>,
}

/// Where the server is in its replies, as far as the limits care.
#[derive(Debug, Default)]
struct Counter {
    /// Octets of the current line so far.
    line: usize,
    /// The current line is a continuation line (`250-…`).
    continued: bool,
    /// Continuation lines of the current reply so far.
    lines: usize,
}

impl Capped {
    fn new(inner: AsyncNetworkStream) -> Capped {
        Capped {
            inner,
            pending: Vec::new(),
            counter: Counter::default(),
            failed: None,
            transcript: None,
        }
    }

    /// The same connection with its dialogue printed from here on (`-v`).
    pub fn with_transcript(mut self, transcript: Option<Transcript>) -> Capped {
        self.transcript = transcript.map(Box::new);
        self
    }

    /// A note in the transcript, if there is one.
    pub fn note(&mut self, text: &str) {
        if let Some(t) = &mut self.transcript {
            t.note(text);
        }
    }

    /// Connects over TCP, with TLS at once when `tls` is given (lettre's connect, as lettre's own
    /// sessions use).
    pub async fn connect(
        server: (&str, u16),
        timeout: Duration,
        tls: Option<TlsParameters>,
    ) -> Result<Capped, lettre::transport::smtp::Error> {
        let inner = AsyncNetworkStream::connect_tokio1(server, Some(timeout), tls, None).await?;
        Ok(Capped::new(inner))
    }

    /// The TLS handshake after STARTTLS. Whatever the server sent before it is dropped unread (RFC
    /// 3207 §4.2); the counting starts afresh.
    pub async fn start_tls(
        self,
        tls: TlsParameters,
    ) -> Result<Capped, lettre::transport::smtp::Error> {
        let mut inner = self.inner;
        inner.upgrade_tls(tls).await?;
        let mut upgraded = Capped::new(inner);
        upgraded.transcript = self.transcript;
        upgraded.note("TLS started (STARTTLS): what follows is encrypted on the wire");
        Ok(upgraded)
    }

    /// The certificate the server presented (DER), once TLS is up.
    pub fn peer_certificate(&self) -> Result<Vec<u8>, lettre::transport::smtp::Error> {
        self.inner.peer_certificate()
    }

    /// The start of what was received and not read yet (for a message about it).
    pub fn received(&self) -> String {
        let start = &self.pending[..self.pending.len().min(256)];
        String::from_utf8_lossy(start).into_owned()
    }

    /// Puts `text` back in front of what is still to be read.
    pub fn unread(&mut self, text: &str) {
        self.pending.splice(0..0, text.bytes());
    }

    /// Reads one reply (all its lines, with their line ends). At the end of the stream, what came
    /// before it, if anything: an empty string means the server closed without a word.
    pub async fn read_reply(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = reply_end(&self.pending) {
                let reply: Vec<u8> = self.pending.drain(..end).collect();
                return Ok(String::from_utf8_lossy(&reply).into_owned());
            }
            let mut chunk = [0; 1024];
            let n = std::future::poll_fn(|cx| self.poll_receive(cx, &mut chunk)).await?;
            if n == 0 {
                let rest = std::mem::take(&mut self.pending);
                return Ok(String::from_utf8_lossy(&rest).into_owned());
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads from the connection into `buf`, counting what arrives against the limits.
    fn poll_receive(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if let Some(limit) = self.failed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, limit)));
        }
        let n = match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        if let Some(t) = &mut self.transcript {
            t.received(&buf[..n]);
        }
        match self.counter.count(&buf[..n]) {
            Ok(()) => Poll::Ready(Ok(n)),
            Err(limit) => {
                self.failed = Some(limit);
                Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, limit)))
            }
        }
    }
}

impl Counter {
    /// Follows lines and replies through `bytes`.
    fn count(&mut self, bytes: &[u8]) -> Result<(), ReplyTooLong> {
        for &b in bytes {
            if b == b'\n' {
                if self.continued {
                    self.lines += 1;
                    if self.lines >= REPLY_LINES {
                        return Err(ReplyTooLong::Lines);
                    }
                } else {
                    self.lines = 0;
                }
                self.line = 0;
                self.continued = false;
                continue;
            }
            if self.line == 3 {
                self.continued = b == b'-';
            }
            self.line += 1;
            if self.line > LINE_LIMIT + 1 {
                return Err(ReplyTooLong::Line); // the +1 is the CR before the LF
            }
        }
        Ok(())
    }
}

/// Where the first complete reply in `bytes` ends: after the first line whose fourth octet is not
/// `-`.
fn reply_end(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(lf) = memchr::memchr(b'\n', &bytes[start..]) {
        let line = &bytes[start..start + lf];
        start += lf + 1;
        if line.get(3) != Some(&b'-') {
            return Some(start);
        }
    }
    None
}

impl AsyncRead for Capped {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.pending.is_empty() {
            let n = this.pending.len().min(buf.remaining());
            buf.put_slice(&this.pending[..n]);
            this.pending.drain(..n);
            return Poll::Ready(Ok(()));
        }
        let unfilled = buf.initialize_unfilled();
        match this.poll_receive(cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let (Some(t), Poll::Ready(Ok(n))) = (&mut this.transcript, &written) {
            t.sent(&buf[..*n]);
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

impl AsyncTokioStream for Capped {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::{Counter, LINE_LIMIT, REPLY_LINES, ReplyTooLong, reply_end};

    #[test]
    fn a_reply_ends_at_its_last_line() {
        assert_eq!(reply_end(b"250-a\r\n250 b\r\n250 c\r\n"), Some(14));
        assert_eq!(reply_end(b"250-a\r\n250-b"), None);
        assert_eq!(reply_end(b"HTTP/1.1 400 Bad Request\r\nX"), Some(26));
    }

    #[test]
    fn a_line_is_limited_however_it_arrives() {
        let mut c = Counter::default();
        let line = vec![b'x'; LINE_LIMIT];
        assert_eq!(c.count(&line[..10]), Ok(()));
        assert_eq!(c.count(&line[10..]), Ok(()));
        assert_eq!(c.count(b"\r\n250 ok\r\n"), Ok(()));
        assert_eq!(c.count(&line), Ok(()));
        assert_eq!(c.count(b"\r"), Ok(()));
        assert_eq!(c.count(b"y"), Err(ReplyTooLong::Line));
    }

    #[test]
    fn a_reply_is_limited_in_lines_but_replies_are_not_counted_together() {
        let mut c = Counter::default();
        for _ in 0..3 {
            for _ in 0..REPLY_LINES - 1 {
                assert_eq!(c.count(b"250-x\r\n"), Ok(()));
            }
            assert_eq!(c.count(b"250 x\r\n"), Ok(()));
        }
        for _ in 0..REPLY_LINES - 1 {
            assert_eq!(c.count(b"250-x\r\n"), Ok(()));
        }
        assert_eq!(c.count(b"250-x\r\n"), Err(ReplyTooLong::Lines));
    }
}
