//! One connection of a [`ScriptedServer`](super::ScriptedServer): reads SMTP commands, asks the
//! script for each reply, and records commands, transactions and ends of DATA in the shared state.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;

use super::{Event, Reply, Shared, Stage, Transaction};

pub(super) enum Outcome {
    /// Reply sent, with its code (0 if unparsable).
    Sent(u16),
    Closed,
    DropMidData(usize),
}

pub(super) struct Session<'s> {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    conn: usize,
    shared: &'s Shared,
    msg: usize,
    mail_from: Option<String>,
    rcpt_tos: Vec<String>,
}

impl<'s> Session<'s> {
    pub(super) fn new(stream: TcpStream, conn: usize, shared: &'s Shared) -> io::Result<Self> {
        Ok(Session {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            conn,
            shared,
            msg: 0,
            mail_from: None,
            rcpt_tos: Vec::new(),
        })
    }

    fn ask(
        &self,
        stage: Stage,
        line: &str,
        mail_from: Option<&str>,
        rcpt: Option<&str>,
        data: Option<&[u8]>,
    ) -> Reply {
        let nth = {
            let mut st = self.shared.lock();
            let n = st.stage_counts.entry(stage).or_insert(0);
            *n += 1;
            *n
        };
        (self.shared.script)(&Event {
            stage,
            conn: self.conn,
            msg: self.msg,
            nth,
            line,
            mail_from,
            rcpt,
            rcpt_tos: &self.rcpt_tos,
            data,
        })
    }

    fn perform(&mut self, reply: Reply, default: &str) -> io::Result<Outcome> {
        match reply {
            Reply::Default => self.send(default),
            Reply::Text(text) => self.send(&text),
            Reply::Drop => {
                let _ = self.writer.shutdown(Shutdown::Both);
                Ok(Outcome::Closed)
            }
            Reply::Delay(d, inner) => {
                thread::sleep(d);
                self.perform(*inner, default)
            }
            Reply::DropMidData(n) => Ok(Outcome::DropMidData(n)),
        }
    }

    fn send(&mut self, text: &str) -> io::Result<Outcome> {
        let mut out = String::new();
        let mut last = "";
        for line in text.trim_end_matches(['\r', '\n']).split('\n') {
            let line = line.trim_end_matches('\r');
            out.push_str(line);
            out.push_str("\r\n");
            last = line;
        }
        self.writer.write_all(out.as_bytes())?;
        self.writer.flush()?;
        let code = last.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        Ok(Outcome::Sent(code))
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_tos.clear();
    }

    pub(super) fn run(&mut self) -> io::Result<()> {
        let reply = self.ask(Stage::Connect, "", None, None, None);
        match self.perform(reply, "220 localhost ESMTP scripted")? {
            Outcome::Sent(_) => {}
            _ => {
                self.close();
                return Ok(());
            }
        }
        loop {
            let mut raw = Vec::new();
            if self.reader.read_until(b'\n', &mut raw)? == 0 {
                return Ok(());
            }
            let line = String::from_utf8_lossy(&raw)
                .trim_end_matches(['\r', '\n'])
                .to_owned();
            self.shared.lock().commands.push((self.conn, line.clone()));
            self.shared.changed.notify_all();
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let outcome = match verb.as_str() {
                "EHLO" => {
                    self.reset();
                    let r = self.ask(Stage::Ehlo, &line, None, None, None);
                    self.perform(
                        r,
                        "250-localhost\n250-SIZE 35882577\n250-8BITMIME\n250 SMTPUTF8",
                    )?
                }
                "HELO" => {
                    self.reset();
                    let r = self.ask(Stage::Helo, &line, None, None, None);
                    self.perform(r, "250 localhost")?
                }
                "MAIL" => {
                    self.reset();
                    self.msg = {
                        let mut st = self.shared.lock();
                        st.msgs += 1;
                        st.msgs
                    };
                    let from = path_arg(&line, "FROM:");
                    let r = self.ask(Stage::Mail, &line, Some(&from), None, None);
                    let o = self.perform(r, "250 2.1.0 Ok")?;
                    if matches!(o, Outcome::Sent(200..=299)) {
                        self.mail_from = Some(from);
                    }
                    o
                }
                "RCPT" => {
                    let to = path_arg(&line, "TO:");
                    let from = self.mail_from.clone();
                    let r = self.ask(Stage::Rcpt, &line, from.as_deref(), Some(&to), None);
                    let default = if from.is_some() {
                        "250 2.1.5 Ok"
                    } else {
                        "503 5.5.1 Error: need MAIL command"
                    };
                    let o = self.perform(r, default)?;
                    if matches!(o, Outcome::Sent(200..=299)) {
                        self.rcpt_tos.push(to);
                    }
                    o
                }
                "DATA" => self.data(&line)?,
                "RSET" => {
                    self.reset();
                    let r = self.ask(Stage::Rset, &line, None, None, None);
                    self.perform(r, "250 2.0.0 Ok")?
                }
                "NOOP" => {
                    let r = self.ask(Stage::Noop, &line, self.mail_from.as_deref(), None, None);
                    self.perform(r, "250 2.0.0 Ok")?
                }
                "QUIT" => {
                    let r = self.ask(Stage::Quit, &line, self.mail_from.as_deref(), None, None);
                    let _ = self.perform(r, "221 2.0.0 Bye")?;
                    self.close();
                    return Ok(());
                }
                _ => {
                    let r = self.ask(Stage::Other, &line, self.mail_from.as_deref(), None, None);
                    self.perform(r, "502 5.5.2 Error: command not recognized")?
                }
            };
            if !matches!(outcome, Outcome::Sent(_)) {
                self.close();
                return Ok(());
            }
        }
    }

    /// Handles DATA: the command, the message, and the end of DATA.
    fn data(&mut self, line: &str) -> io::Result<Outcome> {
        let from = self.mail_from.clone();
        let r = self.ask(Stage::Data, line, from.as_deref(), None, None);
        let default = match (&from, self.rcpt_tos.is_empty()) {
            (None, _) => "503 5.5.1 Error: need MAIL command",
            (Some(_), true) => "554 5.5.1 Error: no valid recipients",
            (Some(_), false) => "354 End data with <CR><LF>.<CR><LF>",
        };
        match self.perform(r, default)? {
            Outcome::Sent(354) => {}
            Outcome::DropMidData(n) => {
                self.send("354 End data with <CR><LF>.<CR><LF>")?;
                let mut buf = vec![0u8; n];
                let mut got = 0;
                while got < n {
                    match self.reader.read(&mut buf[got..])? {
                        0 => break,
                        k => got += k,
                    }
                }
                return Ok(Outcome::Closed);
            }
            other => return Ok(other),
        }

        // Read the message up to the lone ".", undoing dot-stuffing.
        let mut message = Vec::new();
        loop {
            let mut l = Vec::new();
            if self.reader.read_until(b'\n', &mut l)? == 0 {
                return Ok(Outcome::Closed); // client went away mid-DATA
            }
            if l == b".\r\n" || l == b".\n" {
                break;
            }
            let body = if l.first() == Some(&b'.') {
                &l[1..]
            } else {
                &l[..]
            };
            message.extend_from_slice(body);
        }

        self.shared.lock().data_ends.push(Transaction {
            conn: self.conn,
            msg: self.msg,
            mail_from: from.clone().unwrap_or_default(),
            rcpt_tos: self.rcpt_tos.clone(),
            raw: message.clone(),
            code: None,
        });
        self.shared.changed.notify_all();
        let r = self.ask(Stage::DataEnd, "", from.as_deref(), None, Some(&message));
        let default = format!("250 2.0.0 Ok: queued as {}", self.msg);
        let outcome = self.perform(r, &default)?;
        let code = match outcome {
            Outcome::Sent(code) => Some(code),
            _ => None,
        };
        let txn = Transaction {
            conn: self.conn,
            msg: self.msg,
            mail_from: from.unwrap_or_default(),
            rcpt_tos: std::mem::take(&mut self.rcpt_tos),
            raw: message,
            code,
        };
        self.reset();
        self.shared.lock().transactions.push(txn);
        self.shared.changed.notify_all();
        Ok(outcome)
    }

    fn close(&mut self) {
        let _ = self.writer.shutdown(Shutdown::Both);
    }
}

/// The address of `MAIL FROM:<a>` / `RCPT TO:<a>` (without brackets; empty for `<>`).
fn path_arg(line: &str, keyword: &str) -> String {
    let upper = line.to_ascii_uppercase();
    let Some(at) = upper.find(keyword) else {
        return String::new();
    };
    let rest = line[at + keyword.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        inner.split('>').next().unwrap_or("").to_owned()
    } else {
        rest.split_whitespace().next().unwrap_or("").to_owned()
    }
}
