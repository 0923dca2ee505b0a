//! The run lock and the record of messages in flight, in one small file beside the result log
//! (`results.csv.lock`).
//!
//! **Lock.** A send holds an exclusive OS advisory lock (`flock`) on this file for its whole life,
//! so two runs can never read the same history and mail the same people: the second one is
//! refused at once, naming the holder (its pid, start time and host, written at the top of the
//! file). The kernel releases the lock when the process ends, however it ends, so a killed run
//! never leaves a stale lock. The file is never deleted: deleting a lock file while another
//! process opens it is how two processes end up holding "the" lock on two different files.
//!
//! **In flight.** Below the header, one fixed-size slot per SMTP session. A session writes its slot
//! (the Message-ID, the address and the relay, tab-separated: SMTP allows no tab in an address)
//! just before the message's final dot goes out, and clears it
//! when the outcome row is in the log. A slot still set when the next run opens the log means the
//! process died while the relay may have been accepting that message: the next run logs it as
//! `unknown` instead of sending it again. Slots are written with `pwrite`, not fsync'ed: they must
//! survive the process (a kill), not the machine (see the README on power cuts). A slot written
//! before the relay was recorded (Message-ID and address only) is still read, with no relay.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::{Error, Result};

/// Bytes reserved for the holder line at the top of the file.
const HEAD: u64 = 256;
/// Bytes per in-flight slot: a Message-ID, a tab, an address, a tab, a relay, a newline, padding.
const SLOT: u64 = 1024;

/// A message whose final dot may have gone out without its outcome being logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub message_id: String,
    pub email: String,
    /// The relay it went to; empty in a slot written before relays were recorded.
    pub relay: String,
}

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// The lock file for the result log at `log`.
    /// Beside the log's real location, so that two paths to one log (a symlink, even to a log not
    /// written yet, `./`, `..`) share one lock.
    pub fn path_for(log: &Path) -> PathBuf {
        let mut real = log.to_path_buf();
        for _ in 0..40 {
            match std::fs::read_link(&real) {
                Ok(target) => real = real.parent().unwrap_or(Path::new("")).join(target),
                Err(_) => break,
            }
        }
        let parent = real.parent().filter(|p| !p.as_os_str().is_empty());
        let parent = parent.unwrap_or(Path::new("."));
        let parent = parent
            .canonicalize()
            .unwrap_or_else(|_| parent.to_path_buf());
        let mut name = real.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        parent.join(name)
    }

    /// Takes the lock for `log` or fails at once (exit 5) naming the run that holds it. Returns the
    /// lock and the messages a dead earlier run left in flight.
    pub fn acquire(log: &Path) -> Result<(RunLock, Vec<InFlight>)> {
        let path = Self::path_for(log);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::output("open the run lock", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = holder(&mut file);
                return Err(Error::locked(format!(
                    "{}: another campaign run is sending with this result log ({holder}); nothing \
                     was sent. Wait for it to finish, or stop it (Ctrl-C or kill <pid>) and run \
                     again to resume",
                    log.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::output("lock", &path, e));
            }
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::output("read", &path, e))?;
        let in_flight = parse_slots(&bytes);
        Ok((RunLock { file, path }, in_flight))
    }

    /// Empties the slots and writes this process as the holder. Called once the previous run's
    /// slots are settled in the log.
    pub fn start(&self, concurrency: usize, started: DateTime<Utc>) -> Result<()> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let line = format!(
            "pid {}, started {}, host {}",
            std::process::id(),
            started.to_rfc3339_opts(SecondsFormat::Secs, true),
            host.trim()
        );
        let mut head = padded(line.as_bytes(), HEAD);
        head.resize(HEAD as usize, b' ');
        let io = |e| Error::output("write", &self.path, e);
        self.file.set_len(0).map_err(io)?;
        self.file
            .set_len(HEAD + SLOT * concurrency as u64)
            .map_err(io)?;
        self.file.write_all_at(&head, 0).map_err(io)
    }

    /// Whether a message's in-flight record fits a slot (any address SMTP allows does, with any
    /// relay name or host name).
    pub fn fits(message_id: &str, email: &str, relay: &str) -> bool {
        ((message_id.len() + email.len() + relay.len() + 3) as u64) < SLOT
            && !email.contains(['\n', '\t'])
            && !relay.contains(['\n', '\t'])
    }

    /// Records that session `slot` is about to send the final dot of this message to `relay`.
    pub fn set(&self, slot: usize, message_id: &str, email: &str, relay: &str) -> Result<()> {
        if !Self::fits(message_id, email, relay) {
            return Err(Error::invalid(format!(
                "the address {email:?} is too long to send (RFC 5321 allows 254 octets)"
            )));
        }
        let entry = format!("{message_id}\t{email}\t{relay}");
        self.write_slot(slot, &padded(entry.as_bytes(), SLOT))
    }

    /// Empties session `slot`'s record.
    pub fn clear(&self, slot: usize) -> Result<()> {
        self.write_slot(slot, &[b' '; SLOT as usize])
    }

    fn write_slot(&self, slot: usize, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all_at(bytes, HEAD + SLOT * slot as u64)
            .map_err(|e| Error::output("write", &self.path, e))
    }
}

/// `bytes`, a newline, then spaces up to `len`.
fn padded(bytes: &[u8], len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len as usize);
    out.extend_from_slice(bytes);
    out.push(b'\n');
    out.resize(len as usize, b' ');
    out
}

/// What the holder wrote about itself, for the refusal message.
fn holder(file: &mut File) -> String {
    let mut head = vec![0; HEAD as usize];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&head[..n]);
    match text.lines().next().map(str::trim) {
        Some(line) if line.starts_with("pid ") => line.to_string(),
        _ => "it has just started".to_string(),
    }
}

/// The set slots of a lock file's contents.
fn parse_slots(bytes: &[u8]) -> Vec<InFlight> {
    bytes
        .get(HEAD as usize..)
        .unwrap_or_default()
        .chunks(SLOT as usize)
        .filter_map(|slot| {
            let end = slot.iter().position(|&b| b == b'\n')?;
            let text = std::str::from_utf8(&slot[..end]).ok()?;
            let (message_id, rest) = text.split_once('\t')?;
            let (email, relay) = rest.split_once('\t').unwrap_or((rest, ""));
            (!message_id.trim().is_empty()).then(|| InFlight {
                message_id: message_id.to_string(),
                email: email.to_string(),
                relay: relay.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_slots_survive_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("results.csv");
        let (lock, in_flight) = RunLock::acquire(&log).unwrap();
        assert!(in_flight.is_empty());
        lock.start(3, Utc::now()).unwrap();
        lock.set(0, "a.1@acme.example", "a@x.example", "").unwrap();
        lock.set(2, "c.1@acme.example", "c@x.example", "mx2")
            .unwrap();
        lock.set(1, "b.1@acme.example", "b@x.example", "mx1")
            .unwrap();
        lock.clear(1).unwrap();

        let err = RunLock::acquire(&log).unwrap_err().to_string();
        let pid = format!("pid {}, started ", std::process::id());
        std::os::unix::fs::symlink(&log, dir.path().join("alias.csv")).unwrap();
        let alias = RunLock::acquire(&dir.path().join("alias.csv")).unwrap_err();
        assert!(
            alias.to_string().contains(&pid),
            "one lock for both paths: {alias}"
        );
        assert!(err.contains(&pid), "{err}");
        assert!(err.contains("nothing was sent"), "{err}");

        drop(lock);
        let (lock, in_flight) = RunLock::acquire(&log).unwrap();
        let ids: Vec<&str> = in_flight.iter().map(|f| f.message_id.as_str()).collect();
        assert_eq!(ids, ["a.1@acme.example", "c.1@acme.example"]);
        assert_eq!(in_flight[1].email, "c@x.example");
        assert_eq!(in_flight[1].relay, "mx2");
        lock.start(2, Utc::now()).unwrap();
        drop(lock);
        assert!(RunLock::acquire(&log).unwrap().1.is_empty());
    }

    #[test]
    fn an_address_too_long_for_a_slot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, _) = RunLock::acquire(&dir.path().join("r.csv")).unwrap();
        lock.start(1, Utc::now()).unwrap();
        let long = format!("{}@x.example", "a".repeat(2000));
        assert!(lock.set(0, "id@x", &long, "").is_err());
    }

    /// A lock file left by a version that did not record the relay: its slots are still read.
    #[test]
    fn an_old_slot_without_a_relay_is_still_read() {
        let mut bytes = vec![b' '; (HEAD + 2 * SLOT) as usize];
        let old = padded(b"a.1@acme.example\ta@x.example", SLOT);
        bytes[HEAD as usize..(HEAD + SLOT) as usize].copy_from_slice(&old);
        let new = padded(b"b.1@acme.example\tb@x.example\tmx1", SLOT);
        bytes[(HEAD + SLOT) as usize..].copy_from_slice(&new);
        let slots = parse_slots(&bytes);
        let read: Vec<_> = slots
            .iter()
            .map(|f| (f.message_id.as_str(), f.email.as_str(), f.relay.as_str()))
            .collect();
        assert_eq!(
            read,
            [
                ("a.1@acme.example", "a@x.example", ""),
                ("b.1@acme.example", "b@x.example", "mx1")
            ]
        );
    }

    #[test]
    fn the_relay_counts_towards_a_slot() {
        let id = "i".repeat(500);
        let email = "e".repeat(400);
        assert!(RunLock::fits(&id, &email, &"r".repeat(64)));
        assert!(!RunLock::fits(&id, &email, &"r".repeat(200)));
        assert!(!RunLock::fits("id", "a@x", "mx\t1"));
    }
}
