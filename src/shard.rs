//! `--shard I/N`: one campaign sent by N processes (N machines, a Kubernetes Indexed Job), each
//! taking the recipients whose address hashes to its index, with a result log and lock of its own.
//!
//! **Which recipients.** The row's address is normalised as one mailbox
//! ([`normalised_address`]: `A@x.com` and `a@X.COM` are one), hashed with SHA-256, and its first
//! 8 bytes (big-endian) modulo N give its shard, 0-based like `JOB_COMPLETION_INDEX`. SHA-256
//! never changes between versions, machines or architectures (Rust's `DefaultHasher` may), so
//! N processes started anywhere split one list the same way: every row, skipped ones too, belongs
//! to exactly one shard. Duplicates stay global (the pre-pass reads the whole CSV), and two
//! spellings of one mailbox hash alike, so a duplicate is skipped in the shard of its first row.
//!
//! **Which log.** `results.I-of-N.csv` beside the default log, or `--log PATH` with `.I-of-N`
//! before its extension; its lock is that file's `.lock`. A shard resumes from its own log only,
//! so mixing is refused: a shard run when the unsharded log (or the log of another N) holds rows,
//! and a run without `--shard` when shard logs hold rows, since either would send again to the
//! recipients the other logs have.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::campaign::recipients::{normalised_address, thousands};
use crate::campaign::{Campaign, Row};
use crate::error::Result;
use crate::invalid;

/// Shard `index` of `count` (0-based: `0/4` … `3/4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// The most shards a campaign may be split into.
pub const MAX_SHARDS: u32 = 10_000;

impl Shard {
    /// Reads `I/N` (`--shard 2/4`); the message says what is wrong and what to write.
    pub fn parse(text: &str) -> std::result::Result<Shard, String> {
        let usage = "write I/N with 0 <= I < N, e.g. --shard 0/4 … --shard 3/4 (I is 0-based, \
                     like Kubernetes' JOB_COMPLETION_INDEX)";
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not I/N: {usage}"))?;
        let number = |s: &str, what: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("{text:?}: {what} {s:?} is not a whole number: {usage}"))
        };
        let (index, count) = (number(i, "I")?, number(n, "N")?);
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "{text:?}: N must be from 1 to {MAX_SHARDS}: {usage}"
            ));
        }
        if index >= count {
            return Err(format!("{text:?}: I must be below N: {usage}"));
        }
        Ok(Shard { index, count })
    }

    /// The shard, of `count`, that the address `email` belongs to.
    pub fn of(email: &str, count: u32) -> u32 {
        let digest =
            ring::digest::digest(&ring::digest::SHA256, normalised_address(email).as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_ref()[..8]);
        (u64::from_be_bytes(first) % u64::from(count)) as u32
    }

    /// Whether the row with address `email` is this shard's.
    pub fn takes(&self, email: &str) -> bool {
        Shard::of(email, self.count) == self.index
    }

    /// Whether `row` (a recipient or a skipped row, by its address as written) is this shard's.
    pub fn takes_row(shard: Option<Shard>, row: &Row) -> bool {
        let email = match row {
            Row::Recipient(r) => &r.email,
            Row::Skipped(s) => &s.email,
        };
        shard.is_none_or(|s| s.takes(email))
    }

    /// `results.csv` → `results.2-of-4.csv`; `april.log` → `april.2-of-4.log`; `april` →
    /// `april.2-of-4`.
    pub fn log_name(&self, log: &Path) -> PathBuf {
        let tag = format!("{}-of-{}", self.index, self.count);
        let name = match (log.file_stem(), log.extension()) {
            (Some(stem), Some(ext)) => {
                format!("{}.{tag}.{}", stem.to_string_lossy(), ext.to_string_lossy())
            }
            _ => format!("{}.{tag}", log.to_string_lossy()),
        };
        log.with_file_name(name)
    }

    /// The shard whose log `name` is among the logs of `base` (`results.2-of-4.csv` for
    /// `results.csv`), if it is one.
    pub fn of_log_name(base: &Path, name: &str) -> Option<Shard> {
        let stem = base.file_stem()?.to_string_lossy();
        let rest = name.strip_prefix(&*stem)?.strip_prefix('.')?;
        let tag = match base.extension() {
            Some(ext) => rest
                .strip_suffix(&*ext.to_string_lossy())?
                .strip_suffix('.')?,
            None => rest,
        };
        let (i, n) = tag.split_once("-of-")?;
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (all_digits(i) && all_digits(n))
            .then(|| Shard::parse(&format!("{i}/{n}")).ok())
            .flatten()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// How much of the list a shard took: `shard 2/4: 2,503 of 10,000 recipients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRows {
    pub shard: Shard,
    /// Rows of the CSV that are this shard's.
    pub rows: u64,
    /// Rows of the whole CSV.
    pub total: u64,
}

impl ShardRows {
    /// Counts the rows of `campaign`'s CSV that are `shard`'s (one pass over the file, no
    /// duplicate lookups: for the progress total and the summary).
    pub fn count(campaign: &Campaign, shard: Shard) -> Result<ShardRows> {
        let (mut rows, mut total) = (0, 0);
        for row in campaign.recipients()? {
            total += 1;
            rows += u64::from(Shard::takes_row(Some(shard), &row?));
        }
        Ok(ShardRows { shard, rows, total })
    }
}

impl fmt::Display for ShardRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shard {}: {} of {} recipients",
            self.shard,
            thousands(self.rows),
            thousands(self.total)
        )
    }
}

/// The result log a send writes: `--log` or `<dir>/results.csv`, renamed for a shard, and refused
/// (exit 2, nothing sent) when logs beside it hold rows this run would not read (see the module
/// doc).
pub fn log_path(log: Option<&Path>, dir: &Path, shard: Option<Shard>) -> Result<PathBuf> {
    let base = log.map_or_else(|| dir.join("results.csv"), Path::to_path_buf);
    let others = logs_beside(&base)?;
    let clash = others.iter().find(|(path, of)| match (shard, of) {
        (None, Some(_)) => true,
        (Some(_), None) => true,
        (Some(mine), Some(theirs)) => mine.count != theirs.count,
        (None, None) => false,
    } && has_rows(path));
    if let Some((path, of)) = clash {
        let what = match of {
            Some(theirs) => format!("the log of shard {theirs}"),
            None => "the log of a run without --shard".into(),
        };
        let wanted = match shard {
            Some(s) => format!("--shard {s} reads only {}", s.log_name(&base).display()),
            None => "a run without --shard reads only that log".into(),
        };
        return Err(invalid!(
            "{}: {what} holds rows, and {wanted}: it would send again to the recipients logged \
             there. Finish the campaign the way it was started (the same --shard I/N count, or no \
             --shard), or move the other logs away if those recipients are to be sent again",
            path.display()
        ));
    }
    Ok(match shard {
        Some(s) => s.log_name(&base),
        None => base,
    })
}

/// The logs beside `base` that belong to it: itself (`None`) and its shard logs, each with its
/// shard, in name order.
pub fn logs_beside(base: &Path) -> Result<Vec<(PathBuf, Option<Shard>)>> {
    let dir = base
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut logs = Vec::new();
    if base.is_file() {
        logs.push((base.to_path_buf(), None));
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(logs),
        Err(e) => return Err(invalid!("{}: cannot list the folder: {e}", dir.display())),
    };
    let mut shards: Vec<_> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let shard = Shard::of_log_name(base, &name.to_string_lossy())?;
            Some((dir.join(&name), Some(shard)))
        })
        .filter(|(path, _)| path.is_file())
        .collect();
    shards.sort_by_key(|(_, s)| s.map(|s| (s.count, s.index)));
    logs.extend(shards);
    Ok(logs)
}

/// Whether the log at `path` holds a row after its header (an empty log sends nobody again).
fn has_rows(path: &Path) -> bool {
    use std::io::Read;
    let mut start = Vec::with_capacity(4096);
    let read = std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut start));
    read.is_ok()
        && start
            .iter()
            .position(|&b| b == b'\n')
            .is_some_and(|end| start[end + 1..].iter().any(|b| !b.is_ascii_whitespace()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i_of_n_is_0_based_and_refused_outside_its_range() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(Shard::parse("0/1"), Ok(Shard { index: 0, count: 1 }));
        for bad in [
            "4/4",
            "5/4",
            "1/0",
            "x/4",
            "2",
            "-1/4",
            "$(JOB_COMPLETION_INDEX)/4",
            "1/10001",
        ] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert!(Shard::parse("4/4").unwrap_err().contains("0-based"));
    }

    #[test]
    fn one_mailbox_one_shard_and_the_hash_never_changes() {
        for n in [2, 3, 4, 7, 100] {
            let s = Shard::of("Zoe@EXÄMPLE.com", n);
            assert_eq!(Shard::of(" zoe@xn--exmple-cua.com", n), s);
            assert_eq!(Shard::of("zoe@exämple.com", n), s);
        }
        // Pinned values (Python: int.from_bytes(sha256(b"ann@example.com").digest()[:8], "big")
        // % N): a change here would split a sharded campaign differently between two versions.
        assert_eq!(Shard::of("Ann@Example.COM", 1000), 453);
        assert_eq!(Shard::of("Ann@Example.COM", 4), 1);
        assert_eq!(Shard::of("Zoe@EXÄMPLE.com", 1000), 849);
    }

    #[test]
    fn shards_are_roughly_even() {
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            counts[Shard::of(&format!("user{i}@example.com"), 4) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (900..=1100).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_shard_log_is_named_before_the_extension_and_read_back() {
        let s = Shard { index: 2, count: 4 };
        let named = |p: &str| s.log_name(Path::new(p)).display().to_string();
        assert_eq!(named("/c/results.csv"), "/c/results.2-of-4.csv");
        assert_eq!(named("/var/log/april.log"), "/var/log/april.2-of-4.log");
        assert_eq!(named("april"), "april.2-of-4");
        let base = Path::new("/c/results.csv");
        assert_eq!(Shard::of_log_name(base, "results.2-of-4.csv"), Some(s));
        for other in [
            "results.csv",
            "results.2-of-4.csv.lock",
            "results.4-of-4.csv",
            "x.2-of-4.csv",
        ] {
            assert_eq!(Shard::of_log_name(base, other), None, "{other}");
        }
        assert_eq!(
            Shard::of_log_name(Path::new("april"), "april.2-of-4"),
            Some(s)
        );
    }
}
