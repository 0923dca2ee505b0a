//! The campaign directory every integration test works in: written into a tempdir from strings,
//! the `campaign` binary run on it ([`Run`] is what one run did), and helpers to read back the
//! `.eml` files it wrote. Sending tests build theirs from a [`super::campaign::Spec`] and read the
//! result log through the methods in [`super::campaign`]; it is the same [`Fixture`].
//!
//! Layout of the tempdir:
//!
//! ```text
//! <tmp>/campaign/      the campaign directory (campaign.toml, email.html, recipients.csv, …)
//! <tmp>/templates/     an empty layouts folder, so that the ancestor search for `templates/`
//!                      stops here and never picks up a folder elsewhere on the machine
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The folder in the tempdir where spawned runs leave their stdout and stderr.
pub const RUNS: &str = "runs";

/// A campaign directory in a fresh tempdir.
pub struct Fixture {
    pub(super) tmp: TempDir,
    pub(super) dir: PathBuf,
    /// Runs started with [`Fixture::spawn`], numbering their output files.
    pub(super) runs: AtomicUsize,
}

/// One finished run of the binary.
#[derive(Debug)]
pub struct Run {
    /// The exit code; for a process ended by a signal, 128 + the signal's number (as a shell
    /// reports it), with [`Run::signal`] set.
    pub code: i32,
    /// The signal that ended the process, if one did (rather than an exit with a code).
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Fixture {
    /// An empty campaign directory (add files with [`Fixture::file`]).
    pub fn new() -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("campaign-render-")
            .tempdir()
            .expect("create tempdir");
        let dir = tmp.path().join("campaign");
        std::fs::create_dir(&dir).unwrap();
        std::fs::create_dir(tmp.path().join("templates")).unwrap();
        Fixture {
            tmp,
            dir,
            runs: AtomicUsize::new(0),
        }
    }

    /// A campaign directory holding `campaign.toml`, `email.html` and `recipients.csv`.
    pub fn with(toml: &str, html: &str, csv: &str) -> Fixture {
        Fixture::new()
            .file("campaign.toml", toml)
            .file("email.html", html)
            .file("recipients.csv", csv)
    }

    /// Writes `contents` to `rel` (relative to the campaign directory), creating folders.
    pub fn file(self, rel: &str, contents: impl AsRef<[u8]>) -> Fixture {
        let path = self.dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        self
    }

    /// The campaign directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The tempdir holding the campaign directory (for files outside it).
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The default preview folder, `<dir>/preview`.
    pub fn preview(&self) -> PathBuf {
        self.dir.join("preview")
    }

    /// Runs `campaign <args…>` with the campaign directory as the last positional argument
    /// before `extra`.
    pub fn run(&self, command: &str, extra: &[&str]) -> Run {
        let mut args: Vec<&std::ffi::OsStr> = vec![command.as_ref(), self.dir.as_os_str()];
        args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
        run_binary(&args)
    }

    /// `campaign run <dir> --dry-run <extra…>`.
    pub fn dry_run(&self, extra: &[&str]) -> Run {
        let mut args = vec!["--dry-run"];
        args.extend_from_slice(extra);
        self.run("run", &args)
    }

    /// `dry_run` that must succeed (exit 0); returns its output.
    pub fn dry_run_ok(&self, extra: &[&str]) -> Run {
        let out = self.dry_run(extra);
        assert_eq!(out.code, 0, "dry run failed: {out:#?}");
        out
    }

    /// Every file under the tempdir (relative path → contents; a link → its target), to show
    /// that a run wrote nothing. The harness's own record of each run ([`RUNS`]) is left out.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        walk(self.tmp.path(), self.tmp.path(), &mut files);
        files.retain(|path, _| !path.starts_with(RUNS));
        files
    }
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        if meta.is_dir() {
            files.insert(rel.join(""), Vec::new());
            walk(root, &path, files);
        } else if meta.is_file() {
            files.insert(rel, std::fs::read(&path).unwrap());
        } else {
            let target = std::fs::read_link(&path).unwrap();
            files.insert(rel, target.to_string_lossy().as_bytes().to_vec());
        }
    }
}

/// Runs the `campaign` binary with `args`, isolated from the caller's environment settings.
pub fn run_binary<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    run_binary_in(Path::new("."), args)
}

/// [`run_binary`] from the folder `cwd`, as a user would run it there.
pub fn run_binary_in<S: AsRef<std::ffi::OsStr>>(cwd: &Path, args: &[S]) -> Run {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_campaign"))
        .args(args)
        .current_dir(cwd)
        .env_remove("CAMPAIGN_TEMPLATES")
        .env("NO_COLOR", "1")
        .output()
        .expect("run the campaign binary");
    Run {
        code: out.status.code().expect("exited normally"),
        signal: None,
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        elapsed: started.elapsed(),
    }
}

/// The files in `dir` with extension `ext`, sorted by name.
pub fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    found.sort();
    found
}

/// The raw bytes of every `.eml` in `dir`, sorted by file name (which starts with the CSV line).
pub fn emls(dir: &Path) -> Vec<Vec<u8>> {
    files_with(dir, "eml")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// Runs the `openssl` CLI (tests make their DKIM keys with it) and returns its stdout.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}): run `bash tests/support/setup.sh`")
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes a new 2048-bit RSA private key (PKCS#8 PEM, as `openssl genpkey` writes it) to `path`.
pub fn rsa_key(path: &Path) {
    let path = path.to_str().expect("UTF-8 path");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        path,
    ]);
}
