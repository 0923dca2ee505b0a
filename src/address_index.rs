//! A map from an address key (the 8-byte hash of [`address_key`]) to a `u64`, whose memory does
//! not grow with the number of keys. It exists so that a list of a million recipients needs no more
//! memory than one of ten thousand: the three per-address lookups of a run (the first line of each
//! address, for duplicates; the result log's history, for resume; the suppression lists) used to
//! be hash tables of about 65 bytes per address.
//!
//! A [`Builder`] collects pairs in a fixed buffer ([`DEFAULT_CAPACITY`] pairs, 1 MiB). When it is
//! full it is sorted and written to an anonymous temporary file as a sorted run (an external sort);
//! [`Builder::finish`] merges the runs into one sorted file of unique keys and keeps in memory only
//! the first key of each block of [`BLOCK`] pairs (8 bytes per 256 keys). A lookup reads one block
//! (4 KiB, from the page cache) with a positioned read, so [`AddressIndex::get`] takes `&self` and
//! the index can be shared between threads without a lock. A list that fits the buffer never
//! touches the disk. Equal keys are combined by a [`Combine`] rule the caller picks; the rule is
//! commutative and associative, so the order pairs were pushed in does not matter.
//!
//! [`address_key`]: crate::campaign::recipients::address_key

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

use crate::error::{Error, Result};

/// Pairs held in memory before a sorted run is written: 64 Ki pairs of 16 bytes, 1 MiB.
pub const DEFAULT_CAPACITY: usize = 64 * 1024;
/// Pairs per block of the merged file: one in-memory key and one 4 KiB read per block.
pub const BLOCK: usize = 256;
/// Bytes per pair on disk: the key then the value, little-endian.
const PAIR: usize = 16;

/// How the values of equal keys are combined. For a set, push any constant value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Keep the smallest value (e.g. the first line an address appears on).
    Min,
    /// Keep the largest value (e.g. the most telling status in the result log).
    Max,
}

impl Combine {
    fn apply(self, a: u64, b: u64) -> u64 {
        match self {
            Combine::Min => a.min(b),
            Combine::Max => a.max(b),
        }
    }

    /// Sorts `pairs` by key and combines equal keys in place.
    fn sort_and_combine(self, pairs: &mut Vec<(u64, u64)>) {
        pairs.sort_unstable_by_key(|&(key, _)| key);
        pairs.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = self.apply(earlier.1, later.1);
            }
            same
        });
    }
}

/// The error for a failed temporary-file operation, saying what failed and what to do.
fn temp_error(what: &str, source: std::io::Error) -> Error {
    Error::output_of(
        format!(
            "cannot {what} a temporary file of the address index in {} (set TMPDIR to a folder \
             with free space)",
            std::env::temp_dir().display()
        ),
        source,
    )
}

/// Collects pairs; [`Builder::finish`] turns them into an [`AddressIndex`].
#[derive(Debug)]
pub struct Builder {
    combine: Combine,
    capacity: usize,
    buffer: Vec<(u64, u64)>,
    /// The sorted runs written so far: one file, and each run's (first pair, pair count).
    runs: Option<(File, Vec<(u64, u64)>)>,
}

impl Builder {
    /// A builder with the default 1 MiB buffer.
    pub fn new(combine: Combine) -> Builder {
        Builder::with_capacity(combine, DEFAULT_CAPACITY)
    }

    /// A builder that holds at most `capacity` pairs (at least 1) before writing a run.
    pub fn with_capacity(combine: Combine, capacity: usize) -> Builder {
        Builder {
            combine,
            capacity: capacity.max(1),
            buffer: Vec::new(),
            runs: None,
        }
    }

    /// Adds a pair; writes a sorted run when the buffer is full.
    pub fn push(&mut self, key: u64, value: u64) -> Result<()> {
        self.buffer.push((key, value));
        if self.buffer.len() >= self.capacity {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        self.combine.sort_and_combine(&mut self.buffer);
        if self.runs.is_none() {
            let file = tempfile::tempfile().map_err(|e| temp_error("create", e))?;
            self.runs = Some((file, Vec::new()));
        }
        let (file, bounds) = self.runs.as_mut().expect("just set");
        let start = bounds.last().map_or(0, |&(start, len)| start + len);
        let mut writer = BufWriter::with_capacity(BLOCK * PAIR, &*file);
        for &pair in &self.buffer {
            write_pair(&mut writer, pair).map_err(|e| temp_error("write", e))?;
        }
        writer.flush().map_err(|e| temp_error("write", e))?;
        bounds.push((start, self.buffer.len() as u64));
        self.buffer.clear();
        Ok(())
    }

    /// Combines equal keys and builds the index: in memory if nothing was spilled, else on disk.
    pub fn finish(mut self) -> Result<AddressIndex> {
        if self.runs.is_none() {
            self.combine.sort_and_combine(&mut self.buffer);
            self.buffer.shrink_to_fit();
            return Ok(AddressIndex(Storage::Memory(self.buffer)));
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        let (file, bounds) = self.runs.take().expect("spilled");
        merge(&file, &bounds, self.combine)
    }
}

fn write_pair(out: &mut impl Write, (key, value): (u64, u64)) -> std::io::Result<()> {
    out.write_all(&key.to_le_bytes())?;
    out.write_all(&value.to_le_bytes())
}

fn decode(bytes: &[u8]) -> (u64, u64) {
    let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    (word(0), word(8))
}

/// Reads one sorted run a block at a time.
struct Cursor {
    next: u64,
    end: u64,
    block: Vec<(u64, u64)>,
    at: usize,
}

impl Cursor {
    /// The current pair, reading the next block when this one is used up.
    fn peek(&mut self, file: &File) -> Result<Option<(u64, u64)>> {
        if self.at == self.block.len() && self.next < self.end {
            let n = (self.end - self.next).min(BLOCK as u64) as usize;
            let mut bytes = vec![0; n * PAIR];
            file.read_exact_at(&mut bytes, self.next * PAIR as u64)
                .map_err(|e| temp_error("read", e))?;
            self.block = bytes.chunks_exact(PAIR).map(decode).collect();
            self.next += n as u64;
            self.at = 0;
        }
        Ok(self.block.get(self.at).copied())
    }
}

/// Merges the sorted runs of `runs` (k-way, with a heap) into one sorted file of unique keys.
fn merge(runs: &File, bounds: &[(u64, u64)], combine: Combine) -> Result<AddressIndex> {
    let mut cursors: Vec<Cursor> = bounds
        .iter()
        .map(|&(start, len)| Cursor {
            next: start,
            end: start + len,
            block: Vec::new(),
            at: 0,
        })
        .collect();
    let mut heap = BinaryHeap::with_capacity(cursors.len());
    for (i, cursor) in cursors.iter_mut().enumerate() {
        if let Some((key, _)) = cursor.peek(runs)? {
            heap.push(Reverse((key, i)));
        }
    }
    let mut merged = Merged::create()?;
    let mut current: Option<(u64, u64)> = None;
    while let Some(Reverse((key, i))) = heap.pop() {
        let (_, value) = cursors[i].peek(runs)?.expect("a pair in the heap");
        current = match current {
            Some((k, v)) if k == key => Some((k, combine.apply(v, value))),
            Some(done) => merged.push(done).map(|()| Some((key, value)))?,
            None => Some((key, value)),
        };
        cursors[i].at += 1;
        if let Some((next, _)) = cursors[i].peek(runs)? {
            heap.push(Reverse((next, i)));
        }
    }
    if let Some(done) = current {
        merged.push(done)?;
    }
    merged.finish()
}

/// The merged file being written, and the first key of each of its blocks.
struct Merged {
    writer: BufWriter<File>,
    first_keys: Vec<u64>,
    len: u64,
}

impl Merged {
    fn create() -> Result<Merged> {
        let file = tempfile::tempfile().map_err(|e| temp_error("create", e))?;
        Ok(Merged {
            writer: BufWriter::with_capacity(BLOCK * PAIR, file),
            first_keys: Vec::new(),
            len: 0,
        })
    }

    /// Appends a pair whose key is greater than every key before it.
    fn push(&mut self, pair: (u64, u64)) -> Result<()> {
        if self.len.is_multiple_of(BLOCK as u64) {
            self.first_keys.push(pair.0);
        }
        self.len += 1;
        write_pair(&mut self.writer, pair).map_err(|e| temp_error("write", e))
    }

    fn finish(self) -> Result<AddressIndex> {
        let file = self
            .writer
            .into_inner()
            .map_err(|e| temp_error("write", e.into_error()))?;
        Ok(AddressIndex(Storage::Disk {
            file,
            first_keys: self.first_keys,
            len: self.len,
        }))
    }
}

/// The finished, read-only map; see the module documentation.
#[derive(Debug, Default)]
pub struct AddressIndex(Storage);

#[derive(Debug)]
enum Storage {
    /// Sorted by key, keys unique: the whole list fitted the buffer.
    Memory(Vec<(u64, u64)>),
    /// A sorted file of unique keys and the first key of each block of [`BLOCK`] pairs.
    Disk {
        file: File,
        first_keys: Vec<u64>,
        len: u64,
    },
}

impl Default for Storage {
    fn default() -> Storage {
        Storage::Memory(Vec::new())
    }
}

impl AddressIndex {
    /// The combined value for `key`. Panics if the temporary file cannot be read back, which only
    /// a failing disk can cause (it was written in full by [`Builder::finish`]).
    pub fn get(&self, key: u64) -> Option<u64> {
        match &self.0 {
            Storage::Memory(pairs) => pairs
                .binary_search_by_key(&key, |&(k, _)| k)
                .ok()
                .map(|i| pairs[i].1),
            Storage::Disk {
                file,
                first_keys,
                len,
            } => {
                let block = first_keys.partition_point(|&k| k <= key).checked_sub(1)?;
                let start = (block * BLOCK) as u64;
                let n = (len - start).min(BLOCK as u64) as usize;
                let mut bytes = [0u8; BLOCK * PAIR];
                let bytes = &mut bytes[..n * PAIR];
                // Not `None` on a read error: "not found" would make a sent recipient look new
                // and mail it again. The panic ends the pipeline's reader, and the run stops with
                // a fatal error (`pipeline::drive`) before anything more is sent.
                if let Err(e) = file.read_exact_at(bytes, start * PAIR as u64) {
                    panic!("{}", temp_error("read", e));
                }
                search(bytes, key)
            }
        }
    }

    /// Whether `key` was pushed (for an index used as a set).
    pub fn contains(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// The number of distinct keys.
    pub fn len(&self) -> usize {
        match &self.0 {
            Storage::Memory(pairs) => pairs.len(),
            Storage::Disk { len, .. } => *len as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Binary search of encoded pairs sorted by key.
fn search(bytes: &[u8], key: u64) -> Option<u64> {
    let (mut lo, mut hi) = (0, bytes.len() / PAIR);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (k, v) = decode(&bytes[mid * PAIR..]);
        match k.cmp(&key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(v),
        }
    }
    None
}

#[cfg(test)]
mod tests;
