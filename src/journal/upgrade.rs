//! Upgrading a result log written before the `relay` column (seven columns) to the current
//! layout, so that a send never appends eight-column rows under a seven-column header (a file no
//! CSV tool reads as one table). Done once, by the send that first opens such a log, after the
//! strict read and the repair of a torn last row, before anything is appended.
//!
//! The rows keep their text exactly, byte for byte, with an empty `relay` field added at the end
//! (`…,time` becomes `…,time,`): times, quoting and details are not re-formatted. Only a row that
//! does not sit on one line of its own (an old skipped row whose address held a line break, or a
//! row after a blank line) is written again as the writer writes rows today, on one line.
//!
//! Atomic: the new log is written to a temporary file beside the log
//! (`.results.csv.upgrade-XXXXXX.tmp`), flushed, renamed over the log, and the folder flushed. A
//! crash before the rename leaves the old log as it was, and the next send upgrades it again; the
//! temporary file it leaves is removed by that next send ([`remove_leftovers`]), which holds the
//! run lock, so no other run can be writing one. `campaign report` never rewrites a log.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::HEADER;
use super::write::{csv_line, sync_parent};
use crate::error::{Error, Result};

/// Debug builds only: abort the process once the temporary file is written, before the rename
/// (the tests' crash in the middle of an upgrade).
pub const TEST_CRASH_VAR: &str = "CAMPAIGN_TEST_CRASH_IN_UPGRADE";

/// Rewrites the log at `path` (a symlink is followed: the file it names is replaced), which has
/// the old header and has been read and repaired, in the current layout.
pub fn rewrite(path: &Path) -> Result<()> {
    let real = std::fs::canonicalize(path).map_err(|e| Error::output("read", path, e))?;
    let dir = folder(&real);
    let mut temp = tempfile::Builder::new()
        .prefix(&leftover_prefix(&real))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| {
            Error::output(
                "create a temporary file (to upgrade the result log to the new layout) in",
                &dir,
                e,
            )
        })?;
    let io = |e| Error::output("write", &real, e);
    if let Ok(meta) = std::fs::metadata(&real) {
        let _ = temp.as_file().set_permissions(meta.permissions());
    }
    copy_upgraded(&real, temp.as_file_mut()).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    if cfg!(debug_assertions) && std::env::var_os(TEST_CRASH_VAR).is_some() {
        std::process::abort();
    }
    temp.persist(&real).map_err(|e| io(e.error))?;
    sync_parent(&real);
    Ok(())
}

/// Removes the temporary files a crashed upgrade of the log at `path` left beside it. Called under
/// the run lock; best effort (a file that cannot be removed is only clutter: it is never read).
pub fn remove_leftovers(path: &Path) {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let prefix = leftover_prefix(&real);
    let Ok(entries) = std::fs::read_dir(folder(&real)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `.results.csv.upgrade-`: the start of the temporary files of an upgrade of the log at `real`.
fn leftover_prefix(real: &Path) -> String {
    let name = real.file_name().unwrap_or_default().to_string_lossy();
    format!(".{name}.upgrade-")
}

fn folder(real: &Path) -> PathBuf {
    real.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// Writes the new header, then each row of the log at `old` (after its header) with an empty relay
/// added.
fn copy_upgraded(old: &Path, out: &mut File) -> std::io::Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(File::open(old)?);
    reader.headers().map_err(std::io::Error::other)?;
    // A second reader of its own (not a clone: clones share one file offset) reads each row's raw
    // bytes, in step with the CSV reader's positions.
    let mut raw = BufReader::new(File::open(old)?);
    raw.seek(SeekFrom::Start(reader.position().byte()))?;
    let mut out = BufWriter::new(out);
    out.write_all(format!("{}\n", HEADER.join(",")).as_bytes())?;
    let (mut record, mut bytes) = (csv::StringRecord::new(), Vec::new());
    loop {
        let start = reader.position().byte();
        if !reader
            .read_record(&mut record)
            .map_err(std::io::Error::other)?
        {
            break;
        }
        bytes.resize((reader.position().byte() - start) as usize, 0);
        raw.read_exact(&mut bytes)?;
        out.write_all(&upgraded_row(&bytes, &record))?;
    }
    out.flush()
}

/// One row's bytes as the file had them (with their line end), in the current layout.
fn upgraded_row(bytes: &[u8], record: &csv::StringRecord) -> Vec<u8> {
    let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.contains(&b'\n') || line.contains(&b'\r') {
        return csv_line(record.iter().chain([""]));
    }
    let mut row = Vec::with_capacity(line.len() + 2);
    row.extend_from_slice(line);
    row.extend_from_slice(b",\n");
    row
}
