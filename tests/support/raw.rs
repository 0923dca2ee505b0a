//! [`RawClient`]: a minimal line-oriented SMTP client over a plain TcpStream, for tests (and the
//! harness self-test) that talk to a server directly.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::loopback;

/// A minimal line-oriented SMTP client over a plain TcpStream, for tests that
/// talk to a server directly.
pub struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawClient {
    /// Connects (5 s read timeout) and returns the client and the greeting.
    pub fn connect(port: u16) -> (RawClient, String) {
        let stream = TcpStream::connect(loopback(port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set timeout");
        let mut client = RawClient {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
        };
        let greeting = client.read_reply();
        (client, greeting)
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// Sends one command line (CRLF added) and returns the full reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.read_reply()
    }

    /// Reads one (possibly multi-line) reply; lines joined with `\n`. Empty at EOF.
    pub fn read_reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            match self.reader.read_line(&mut l) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let l = l.trim_end_matches(['\r', '\n']).to_owned();
            let more = l.as_bytes().get(3) == Some(&b'-');
            lines.push(l);
            if !more {
                break;
            }
        }
        lines.join("\n")
    }

    /// Sends a message with DATA (dot-stuffing it) and returns the final reply.
    pub fn data(&mut self, message: &str) -> String {
        let r = self.cmd("DATA");
        assert!(r.starts_with("354"), "DATA: {r}");
        let mut out = String::new();
        for line in message.split("\r\n") {
            if line.starts_with('.') {
                out.push('.');
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        if message.ends_with("\r\n") {
            out.truncate(out.len() - 2);
        }
        out.push_str(".\r\n");
        self.send_raw(out.as_bytes());
        self.read_reply()
    }
}
