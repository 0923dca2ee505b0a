//! Command-line definitions (clap derive) and nothing else: the raw options as the user typed them.
//! `main.rs` turns them into library calls; validation of values happens in the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The end of `campaign --help` and `campaign run --help`: where secrets come from and what the
/// exit codes mean (a macro, so that `concat!` can put it after each command's examples).
macro_rules! environment_and_exit_codes {
    () => {
        "Environment (or a .env file in the campaign directory or the working directory):
  CAMPAIGN_SMTP_PASSWORD   the password for [smtp] username (never in campaign.toml)
  CAMPAIGN_DKIM_KEY        the DKIM private key (PEM), instead of [dkim] private_key
  CAMPAIGN_DKIM_KEY_<SEL>  with several [[dkim]] keys: the key of selector SEL (upper case)
  CAMPAIGN_TEMPLATES       the shared layouts folder, when campaign.toml has no `templates`
  CAMPAIGN_VAR_*           variables templates may read with get_env(name=\"CAMPAIGN_VAR_...\")

Exit codes:
  0  every recipient sent (or previewed) or skipped     4  daily_limit reached
  1  some recipient failed or has an unknown outcome    5  another run holds the result log
  2  invalid campaign or command line; nothing sent     6  a file could not be written
  3  a fatal transport error stopped the run            7  outside the send window (--no-wait):
                                                           run again at the time printed
                                                        129/130/143  stopped by a signal"
    };
}

/// Template-driven newsletter campaigns: render per recipient, preview, send over SMTP.
#[derive(Debug, Parser)]
#[command(
    name = "campaign",
    version,
    about,
    propagate_version = true,
    after_help = concat!("\
Your first campaign:
  campaign new campaigns/may             a campaign that works as it stands
  campaign check campaigns/may           validate and render everyone; nothing is sent
  campaign run campaigns/may --dry-run   write previews to campaigns/may/preview/
  campaign test campaigns/may --to you@example.com   one message to yourself
  campaign run campaigns/may             send (resumes from results.csv)

", environment_and_exit_codes!())
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render every recipient's message and send it (or, with --dry-run, write previews).
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Load, validate and render every recipient without writing or sending anything.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Write a new campaign that works as it stands into DIR (a new or empty folder).
    #[command(
        after_help = "Example:\n  campaign new campaigns/may && campaign check campaigns/may"
    )]
    New(NewArgs),
    /// Print one recipient's message as a send would render it (headers and text part by default).
    #[command(
        after_help = "Examples:\n  campaign show campaigns/may\n  campaign show campaigns/may --as ann@example.com --html\n  campaign show campaigns/may --line 12 --raw > line12.eml"
    )]
    Show(ShowArgs),
    /// Send one recipient's message, subject prefixed "[TEST] ", to the given addresses only
    /// (through the campaign's relay, DKIM signed; nothing written to the result log).
    #[command(after_help = TEST_HELP)]
    Test(TestArgs),
    /// Write the HTML report of a result log (a send writes one itself, beside its log).
    #[command(
        after_help = "Examples:\n  campaign report campaigns/april                 campaigns/april/report.html\n  campaign report campaigns/april --log /var/log/april.csv --out /tmp/april.html\n\nExit codes: 0 written, 2 no result log (or one that cannot be read), 6 the report could not\nbe written."
    )]
    Report(ReportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    #[command(
        after_help = "Example:\n  campaign completions bash > ~/.local/share/bash-completion/completions/campaign"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout.
    #[command(after_help = "Example:\n  campaign man > campaign.1 && man ./campaign.1")]
    Man,
}

const RUN_HELP: &str = concat!(
    "Examples:
  campaign run campaigns/april --dry-run         previews in campaigns/april/preview/
  campaign run campaigns/april --limit 50        a first small batch
  campaign run campaigns/april                   the rest (resumes from results.csv)
  campaign run campaigns/april --retry-failed    again to the recipients that failed
  campaign run campaigns/april --rate 5/s --concurrency 2 --yes
  campaign run campaigns/april --shard 0/4 --yes  shard 0 of 4 (one of 4 machines; 0-based)
  campaign run campaigns/april --not-before \"2026-12-24 09:00\"   waits, with a countdown
  campaign run campaigns/april --no-wait --yes   from cron: exits 7 outside [send] window

",
    environment_and_exit_codes!()
);

const CHECK_HELP: &str = "Examples:
  campaign check campaigns/april                 problems and deliverability warnings
  campaign check campaigns/april --strict        warnings count as errors (for CI)
  campaign check campaigns/april --dns           also SPF, DKIM and DMARC in DNS
  campaign check campaigns/april --smtp          also open a session to the relay; sends nothing

Exit codes: 0 sendable, 2 errors (or warnings with --strict), 3 the relay could not be reached
(--smtp).";

const TEST_HELP: &str = "Examples:
  campaign test campaigns/april --to me@acme.example
  campaign test campaigns/april --to me@acme.example,boss@acme.example --as ann@example.com

Exit codes: 0 every --to address accepted, 1 some refused, 2 bad input, 3 the relay could not be
reached.";

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The campaign directory (holds campaign.toml).
    pub dir: PathBuf,
    /// Write previews (.eml, .html, index.html) instead of sending; opens no network connection.
    #[arg(long)]
    pub dry_run: bool,
    /// Where the dry run writes previews [default: <DIR>/preview/].
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Handle at most N recipients (for a send: the next N that have no row in the result log yet).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// The result log [default: <DIR>/results.csv].
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
    /// Rate limit of all relays together, e.g. "10/s", "600/min", "5000/h" (overrides [send]
    /// rate).
    #[arg(long, value_name = "N/UNIT")]
    pub rate: Option<String>,
    /// Parallel SMTP sessions to each relay (overrides [send] concurrency and every [[smtp]]
    /// concurrency).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Send again to recipients whose logged status is `failed`.
    #[arg(long)]
    pub retry_failed: bool,
    /// Send again to recipients whose logged status is `unknown` (the relay may have delivered
    /// them: check with it first).
    #[arg(long)]
    pub retry_unknown: bool,
    /// Never draw a progress bar; print plain progress lines instead.
    #[arg(long)]
    pub no_progress: bool,
    /// Send without showing the plan and asking first (a run that is not on a terminal never
    /// asks).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print one JSON object on stdout (counts, failures, log, exit code; see the README's
    /// "Scripting: --json"); the lines for people go to stderr.
    #[arg(long)]
    pub json: bool,
    /// Print the SMTP dialogue of the first session on stderr (AUTH and message content left out).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Take only shard I of N (0-based: 0/4 … 3/4): the recipients whose address hashes to I,
    /// with a result log of its own (results.I-of-N.csv); `campaign report` merges the shards'.
    #[arg(long, value_name = "I/N", value_parser = campaign::shard::Shard::parse)]
    pub shard: Option<campaign::shard::Shard>,
    /// Send nothing before TIME: "YYYY-MM-DD HH:MM" in [send] timezone (else local time), or
    /// RFC 3339 ("2026-12-24T09:00:00+01:00"). The run waits with a countdown (Ctrl-C stops it).
    #[arg(long, value_name = "TIME")]
    pub not_before: Option<String>,
    /// Before --not-before or outside [send] window, do not wait: print when to resume and exit 7
    /// (also when the window closes during the send).
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The campaign directory (holds campaign.toml).
    pub dir: PathBuf,
    /// Treat warnings as errors (exit code 2 when there is any).
    #[arg(long)]
    pub strict: bool,
    /// Also look up the SPF, DKIM and DMARC records of the From and DKIM domains.
    #[arg(long)]
    pub dns: bool,
    /// The DNS server for --dns, as IP or IP:PORT [default: the system resolver, /etc/resolv.conf].
    #[arg(
        long,
        value_name = "IP[:PORT]",
        requires = "dns",
        value_parser = campaign::check::dns::parse_resolver
    )]
    pub resolver: Option<SocketAddr>,
    /// Also open a session to the [smtp] relay as a send would (TLS, EHLO, AUTH), say what it
    /// offers, and QUIT: nothing is sent.
    #[arg(long)]
    pub smtp: bool,
    /// Print one JSON object on stdout (counts, problems, relay, exit code; see the README's
    /// "Scripting: --json"); the lines for people go to stderr.
    #[arg(long)]
    pub json: bool,
    /// With --smtp: print the session's SMTP dialogue on stderr (AUTH left out).
    #[arg(long, short = 'v', requires = "smtp")]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The campaign directory (holds campaign.toml).
    pub dir: PathBuf,
    /// Where the test goes (the envelope only: the To header stays the recipient's).
    #[arg(
        long,
        value_name = "ADDR[,ADDR…]",
        value_delimiter = ',',
        required = true
    )]
    pub to: Vec<String>,
    /// Send the message of the recipient with this address [default: the first row that would
    /// be sent].
    #[arg(long = "as", value_name = "EMAIL", conflicts_with = "line")]
    pub as_email: Option<String>,
    /// Send the message of the row that starts on line N of the CSV (line 1 is the header).
    #[arg(long, value_name = "N")]
    pub line: Option<u64>,
    /// Print the SMTP dialogue of the first session on stderr (AUTH and message content left out).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Send through the relay of this name (a `[[smtp]]` table's `name`) [default: the first].
    #[arg(long, value_name = "NAME")]
    pub relay: Option<String>,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The folder to create (with its parents); an existing one must be empty.
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("recipient"), group = clap::ArgGroup::new("part"))]
pub struct ShowArgs {
    /// The campaign directory (holds campaign.toml).
    pub dir: PathBuf,
    /// The recipient with this address (case-insensitive) [default: the first row that would be sent].
    #[arg(long = "as", value_name = "EMAIL", group = "recipient")]
    pub as_email: Option<String>,
    /// The recipient whose row starts on this line of the CSV (line 1 is the header).
    #[arg(long, value_name = "N", group = "recipient")]
    pub line: Option<u64>,
    /// Only the headers.
    #[arg(long, group = "part")]
    pub headers: bool,
    /// Only the text part.
    #[arg(long, group = "part")]
    pub text: bool,
    /// Only the HTML part.
    #[arg(long, group = "part")]
    pub html: bool,
    /// The exact bytes a send would write (an .eml).
    #[arg(long, group = "part")]
    pub raw: bool,
}

impl Cli {
    /// `--json`'s context: the command, its campaign directory, whether it is a dry run.
    pub fn json(&self) -> Option<(&'static str, PathBuf, bool)> {
        match &self.command {
            Command::Run(a) if a.json => Some(("run", a.dir.clone(), a.dry_run)),
            Command::Check(a) if a.json => Some(("check", a.dir.clone(), false)),
            _ => None,
        }
    }

    /// `-v`: print the first SMTP session's dialogue.
    pub fn verbose(&self) -> bool {
        match &self.command {
            Command::Run(a) => a.verbose,
            Command::Check(a) => a.verbose,
            Command::Test(a) => a.verbose,
            _ => false,
        }
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The campaign directory (its campaign.toml gives the settings shown).
    pub dir: PathBuf,
    /// The result log [default: <DIR>/results.csv].
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
    /// Where to write the report [default: beside the log: report.html for results.csv,
    /// NAME.report.html for NAME.csv].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}
