//! Integration tests for careless or hostile input in the recipients CSV and the suppression files:
//! each test writes a campaign directory into a tempdir (`tests/support/fixture.rs`), runs the real binary on it
//! (`check`, the dry run, and where it matters a real send to the scripted SMTP server of
//! `tests/support`), and looks at what it printed, wrote and sent.

mod support;

use std::net::TcpListener;

use support::fixture::{Fixture, Run, files_with};

const TOML: &str = "subject = \"Hi {{ name }}\"\nfrom = \"news@acme.example\"\n";
const HTML: &str = "<html><body><p>Hello {{ name }}, {{ email }}.</p>\n\
    <p>Some text so that the message is not empty.</p></body></html>\n";

/// A campaign whose `[smtp]` points at `listener` (which must never see a connection).
fn toml_with_smtp(listener: &TcpListener) -> String {
    toml_with_smtp_and(listener, "")
}

/// [`toml_with_smtp`] with more top-level keys (`top`, whole lines).
fn toml_with_smtp_and(listener: &TcpListener, top: &str) -> String {
    let port = listener.local_addr().unwrap().port();
    format!("{TOML}{top}[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n")
}

/// Asserts that nobody connected to `listener`.
fn assert_no_connection(listener: &TcpListener) {
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("something connected to the SMTP server: {other:?}"),
    }
}

/// Asserts exit code 2 with every `wanted` text on stderr.
fn assert_refused(out: &Run, wanted: &[&str]) {
    assert_eq!(out.code, 2, "{out:#?}");
    for w in wanted {
        assert!(
            out.stderr.contains(w),
            "{w:?} not in stderr:\n{}",
            out.stderr
        );
    }
}

// ------------------------------------------------------- 5: unterminated quote ---

/// 1,000 rows on 1,001 lines; line 2's name field opens a quote that the next `"` (on line 501)
/// closes, so lines 3-500 are swallowed into it unless the reader notices.
fn swallowing_csv() -> String {
    let mut csv = String::from("email,name\nu0@example.com,\"Ann\n");
    for i in 1..499 {
        csv.push_str(&format!("u{i}@example.com,N{i}\n"));
    }
    csv.push_str("u499@example.com,\"Zed\"\n");
    for i in 500..1000 {
        csv.push_str(&format!("u{i}@example.com,N{i}\n"));
    }
    csv
}

#[test]
fn an_unterminated_quote_swallowing_rows_is_an_error_naming_its_line() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let fx = Fixture::with(&toml_with_smtp(&listener), HTML, &swallowing_csv());
    let csv = fx.dir().join("recipients.csv").display().to_string();
    let wanted = [
        format!("{csv}: line 2: a quoted field starts here"),
        "line 3: u1@example.com".to_string(),
    ];
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let before = fx.snapshot();

    assert_refused(&fx.run("check", &[]), &wanted);
    assert_refused(&fx.dry_run(&[]), &wanted);
    assert!(!fx.preview().exists(), "the dry run wrote previews");
    assert_refused(&fx.run("run", &[]), &wanted);
    assert_no_connection(&listener);
    assert!(fx.snapshot() == before, "a file was written or changed");
}

#[test]
fn multi_line_fields_without_rows_in_them_still_work_and_rows_and_lines_are_reported() {
    let csv = "email,name,address,note\n\
               ann@example.com,Ann,\"Acme Inc.\n742 Evergreen Terrace\nSpringfield, OR 97403\",\"first line\nsecond line, with a comma\"\n\
               bob@example.com,Bob,\"1 Main St\",\"write to him at bob@example.com\nor call\"\n\
               cy@example.com,Cy,,\n";
    let fx = Fixture::with(TOML, HTML, csv);
    let path = fx.dir().join("recipients.csv").display().to_string();
    let summary = format!(
        "{path}: 3 rows on 8 lines (2 rows hold line breaks in quoted fields, the first on line 2)"
    );

    let out = fx.dry_run_ok(&[]);
    assert!(
        out.stdout.contains("Rendered 3 recipient(s), skipped 0"),
        "{out:#?}"
    );
    assert!(out.stdout.contains(&summary), "{summary:?} in {out:#?}");
    assert_eq!(files_with(&fx.preview(), "eml").len(), 3);

    let out = fx.run("check", &[]);
    assert!(out.stdout.contains(&summary), "{summary:?} in {out:#?}");
    assert!(
        out.stdout.contains("rendered 3 recipient(s); 0 error(s)"),
        "{out:#?}"
    );
}

#[test]
fn rows_and_lines_of_a_plain_list_are_reported_with_thousands_separators() {
    let mut csv = String::from("email,name\n");
    for i in 0..1000 {
        csv.push_str(&format!("u{i}@example.com,N{i}\n"));
    }
    let fx = Fixture::with(TOML, HTML, &csv);
    let path = fx.dir().join("recipients.csv").display().to_string();
    let out = fx.run("check", &[]);
    let summary = format!("{path}: 1,000 rows on 1,001 lines\n");
    assert!(out.stdout.contains(&summary), "{summary:?} in {out:#?}");
}

// --------------------------------------------------- 6: suppression file shapes ---

/// Suppression files in the shapes providers and CRMs export, each suppressing the addresses
/// named after it (`<file stem>N@example.com`).
const SUPPRESSION_FILES: &[(&str, &str, u64)] = &[
    // Old Mac line ends (a lone CR), blank lines before the header: the shape and the rows are
    // read on the same lines.
    (
        "oldmac.csv",
        "\r\remail\roldmac1@example.com\roldmac2@example.com\r",
        2,
    ),
    (
        "macplain.txt",
        "macplain1@example.com\rmacplain2@example.com\r",
        2,
    ),
    // Amazon SES bulk import: no header, `address,reason`.
    (
        "headerless.csv",
        "headerless1@example.com,BOUNCE\nheaderless2@example.com, COMPLAINT\n",
        2,
    ),
    (
        "semicolon.csv",
        "email;reason\nsemicolon1@example.com;unsubscribed\n",
        1,
    ),
    (
        "tabs.tsv",
        "Email\tReason\ttime\ntabs1@example.com\tbounce\t2024-01-01\n",
        1,
    ),
    (
        "names.txt",
        "Dee Doe <names1@example.com>\n\"Doe, Eve\" <names2@example.com>\n<names3@example.com>\n",
        3,
    ),
    (
        "mailto.txt",
        "mailto:mailto1@example.com\nMAILTO:mailto2@example.com?subject=unsubscribe\n",
        2,
    ),
    (
        "mailchimp.csv",
        "\u{feff}\"Email Address\",\"First Name\",\"Last Name\",MEMBER_RATING,OPTIN_TIME\n\
         mailchimp1@example.com,Gus,One,2,\"2024-01-01 10:00:00\"\n",
        1,
    ),
    (
        "sendgrid.csv",
        "email,created\nsendgrid1@example.com,1700000000\n",
        1,
    ),
    (
        "mailgun.csv",
        "address,code,error,created_at\n\
         mailgun1@example.com,550,No such mailbox,\"Mon, 06 May 2024 18:11:58 UTC\"\n",
        1,
    ),
    (
        "ses.csv",
        "EMAIL_ADDRESS,REASON\r\nses1@example.com,BOUNCE\r\n",
        1,
    ),
    (
        "ses-json-keys.csv",
        "emailAddress,reason\nses-json-keys1@example.com,BOUNCE\n",
        1,
    ),
    (
        "postmark.csv",
        "Recipient,Reason,Date\npostmark1@example.com,HardBounce,2024-05-06\n",
        1,
    ),
    (
        "listmonk.csv",
        "uuid,email,name,attributes,status,created_at,updated_at\n\
         3f1a,listmonk1@example.com,Kim,\"{\"\"city\"\": \"\"Oslo\"\"}\",blocklisted,2024-01-01,2024-01-02\n",
        1,
    ),
    (
        "plain.txt",
        "# hard bounces\nplain1@example.com\n\n  plain2@example.com   # complaint\n",
        2,
    ),
];

/// A campaign with every file of [`SUPPRESSION_FILES`] in `suppress`, and a recipients CSV with
/// each suppressed address (in another case or spelling where a provider might write it so) and
/// `keep@example.com`.
fn suppression_fixture() -> Fixture {
    let names: Vec<String> = SUPPRESSION_FILES
        .iter()
        .map(|(name, _, _)| format!("\"{name}\""))
        .collect();
    let toml = format!("{TOML}suppress = [{}]\n", names.join(", "));
    let mut csv = String::from("email,name\nkeep@example.com,Keep\n");
    for (name, _, n) in SUPPRESSION_FILES {
        let stem = name.split('.').next().unwrap();
        for i in 1..=*n {
            csv.push_str(&format!("{stem}{i}@Example.COM,X\n"));
        }
    }
    SUPPRESSION_FILES
        .iter()
        .fold(Fixture::with(&toml, HTML, &csv), |fx, (name, text, _)| {
            fx.file(name, text)
        })
}

#[test]
fn suppression_files_in_the_shapes_providers_export_suppress_their_addresses() {
    let fx = suppression_fixture();
    let total: u64 = SUPPRESSION_FILES.iter().map(|(_, _, n)| n).sum();

    let out = fx.dry_run_ok(&[]);
    assert!(
        out.stdout
            .contains(&format!("Rendered 1 recipient(s), skipped {total}")),
        "{out:#?}"
    );
    let index = std::fs::read_to_string(fx.preview().join("index.html")).unwrap();
    assert_eq!(
        index.matches("<td>skipped: suppressed</td>").count(),
        total as usize,
        "{index}"
    );
    assert_eq!(files_with(&fx.preview(), "eml").len(), 1);

    // `check` says how many addresses each file contributed.
    let out = fx.run("check", &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    for (name, _, n) in SUPPRESSION_FILES {
        let path = fx.dir().join(name).display().to_string();
        let addresses = if *n == 1 { "address" } else { "addresses" };
        let wanted = format!("{path}: {n} {addresses} to suppress (");
        assert!(out.stdout.contains(&wanted), "{wanted:?} in {out:#?}");
    }
    assert!(
        out.stdout.contains("rendered 1 recipient(s); 0 error(s)"),
        "{out:#?}"
    );
}

#[test]
fn a_suppression_file_in_an_unrecognised_shape_is_refused_naming_file_line_and_shapes() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "crm.csv",
            "id,name,phone\n1,Bob,555\n",
            "line 1: no address column",
        ),
        (
            "list.txt",
            "a@example.com\nBob at example dot com\n",
            "line 2: ",
        ),
        (
            "semi.csv",
            "email;reason\nx@example.com;a\nnot-an-address;b\n",
            "line 3: ",
        ),
        (
            "ses.json",
            "{\"emailAddress\": \"a@example.com\", \"reason\": \"BOUNCE\"}\n",
            "line 1: ",
        ),
        (
            "headerless.csv",
            "a@example.com,BOUNCE\nBOUNCE,b@example.com\n",
            "line 2: ",
        ),
    ];
    for (name, text, wanted) in cases {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let toml = toml_with_smtp_and(&listener, &format!("suppress = [\"{name}\"]\n"));
        let fx = Fixture::with(&toml, HTML, "email,name\na@example.com,A\n").file(name, text);
        let path = fx.dir().join(name).display().to_string();
        let wanted = [format!("{path}: {wanted}"), "Email Address".to_string()];
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let before = fx.snapshot();
        assert_refused(&fx.run("check", &[]), &wanted);
        assert_refused(&fx.dry_run(&[]), &wanted);
        assert_refused(&fx.run("run", &[]), &wanted);
        assert_no_connection(&listener);
        assert!(
            fx.snapshot() == before,
            "{name}: a file was written or changed"
        );
    }
}

// ------------------------------------------- 7: one mailbox in several spellings ---

/// `a@exämple.com` in three spellings: Unicode, punycode (its IDNA ASCII form), upper case.
const SPELLINGS: [&str; 3] = ["a@exämple.com", "a@xn--exmple-cua.com", "a@EXÄMPLE.com"];

#[test]
fn one_mailbox_in_several_domain_spellings_is_one_recipient() {
    let csv = format!(
        "email,name\n{},One\n{},Two\nb@example.com,Bee\n{},Three\n",
        SPELLINGS[0], SPELLINGS[1], SPELLINGS[2]
    );
    let fx = Fixture::with(TOML, HTML, &csv);
    let out = fx.dry_run_ok(&[]);
    assert!(
        out.stdout.contains("Rendered 2 recipient(s), skipped 2"),
        "{out:#?}"
    );
    for (line, spelling) in [(3, SPELLINGS[1]), (5, SPELLINGS[2])] {
        let wanted = format!("line {line}: {spelling}: duplicate of line 2");
        assert!(out.stdout.contains(&wanted), "{wanted:?} in {out:#?}");
    }
}

#[test]
fn a_suppressed_mailbox_is_suppressed_in_every_domain_spelling() {
    for listed in SPELLINGS {
        for recipient in SPELLINGS {
            let toml = format!("{TOML}suppress = [\"bounces.txt\"]\n");
            let csv = format!("email,name\n{recipient},One\nb@example.com,Bee\n");
            let fx = Fixture::with(&toml, HTML, &csv).file("bounces.txt", format!("{listed}\n"));
            let out = fx.dry_run_ok(&[]);
            let wanted = format!(
                "Rendered 1 recipient(s), skipped 1 — nothing was sent.\n\
                                  Skipped:\n  line 2: {recipient}: suppressed\n"
            );
            assert!(out.stdout.contains(&wanted), "{listed}: {out:#?}");
        }
    }
}

#[test]
fn a_mailbox_sent_to_in_one_domain_spelling_is_not_sent_again_in_another() {
    let server = support::ScriptedServer::accept_all();
    let port = server.port;
    let toml = format!("{TOML}[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n");
    let csv = format!("email,name\n{},Three\nb@example.com,Bee\n", SPELLINGS[2]);
    let log = format!(
        "email,status,attempts,code,message_id,detail,time,relay\n\
         {},sent,1,250,1.2@acme.example,2.0.0 OK,2026-01-01T00:00:00Z,\n",
        SPELLINGS[1]
    );
    let fx = Fixture::with(&toml, HTML, &csv).file("results.csv", log);
    let out = fx.run("run", &["--no-progress"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout
            .contains("sent 1, failed 0, skipped 0, unknown 0; 1 already handled"),
        "{out:#?}"
    );
    let sent: Vec<Vec<String>> = server.messages().into_iter().map(|t| t.rcpt_tos).collect();
    assert_eq!(sent, [["b@example.com".to_string()]], "{out:#?}");
}

// ------------------------------------- 8: a data-dependent error on the first row ---

/// `coupon` is used only for `pro` recipients and is no column: rendering fails for them alone.
const CONDITIONAL_HTML: &str = "<html><body><p>Hello {{ name }}.</p>\n\
    {% if plan == \"pro\" %}<p>Your code: {{ coupon }}</p>{% endif %}\n\
    <p>Some text so that the message is not empty.</p></body></html>\n";

#[test]
fn a_data_dependent_template_error_on_the_first_row_fails_that_recipient_alone() {
    let csv =
        "email,name,plan\npro@example.com,Pro,pro\nb@example.com,Bee,free\nc@example.com,Cy,free\n";
    let fx = Fixture::with(TOML, CONDITIONAL_HTML, csv);
    let html = fx.dir().join("email.html").display().to_string();
    let out = fx.dry_run(&[]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stdout
            .contains("Rendered 2 recipient(s), skipped 0, failed to render 1"),
        "{out:#?}"
    );
    let wanted =
        format!("line 2: pro@example.com: {html}: undefined variable `coupon` (recipients line 2)");
    assert!(out.stdout.contains(&wanted), "{wanted:?} in {out:#?}");
    let index = std::fs::read_to_string(fx.preview().join("index.html")).unwrap();
    assert!(
        index.contains("pro@example.com") && index.contains("render failed"),
        "{index}"
    );
    assert_eq!(files_with(&fx.preview(), "eml").len(), 2);

    // A real send: the others are sent, the first is logged `failed` with the reason.
    let server = support::ScriptedServer::accept_all();
    let port = server.port;
    let toml = format!("{TOML}[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n");
    let fx = Fixture::with(&toml, CONDITIONAL_HTML, csv);
    let out = fx.run("run", &["--no-progress"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stdout.contains("sent 2, failed 1, skipped 0"),
        "{out:#?}"
    );
    let mut sent: Vec<String> = server
        .messages()
        .into_iter()
        .flat_map(|t| t.rcpt_tos)
        .collect();
    sent.sort();
    assert_eq!(sent, ["b@example.com", "c@example.com"]);
    let log = std::fs::read_to_string(fx.dir().join("results.csv")).unwrap();
    let row = log
        .lines()
        .find(|l| l.starts_with("pro@example.com,"))
        .unwrap_or_else(|| panic!("no row for pro@example.com in {log}"));
    assert!(
        row.starts_with("pro@example.com,failed,0,,,\"not rendered: ")
            && row.contains("undefined variable `coupon`"),
        "{row}"
    );
}

#[test]
fn a_template_error_for_every_row_tried_still_refuses_the_campaign() {
    let html = "<html><body><p>Hello {{ name }}, {{ coupon }}.</p></body></html>\n";
    let mut csv = String::from("email,name\n");
    for i in 0..8 {
        csv.push_str(&format!("u{i}@example.com,N{i}\n"));
    }
    let fx = Fixture::with(TOML, html, &csv);
    let before = fx.snapshot();
    let out = fx.dry_run(&[]);
    assert_refused(
        &out,
        &[
            "undefined variable `coupon` (recipients line 2)",
            "it failed for each of the first 5 recipients (lines 2, 3, 4, 5, 6)",
        ],
    );
    assert!(fx.snapshot() == before, "the dry run wrote something");
}

#[test]
fn a_row_with_every_column_filled_is_tried_before_the_campaign_is_refused() {
    // The first five rows have no `since`; `date` fails on an empty value, so each fails alone.
    let html = "<html><body><p>Hello {{ name }}, a reader since \
                {{ since | date(format=\"%Y\") }}.</p></body></html>\n";
    let mut csv = String::from("email,name,since\n");
    for i in 0..5 {
        csv.push_str(&format!("u{i}@example.com,N{i},\n"));
    }
    csv.push_str("full@example.com,Full,2020-05-01\n");
    let fx = Fixture::with(TOML, html, &csv);
    let out = fx.dry_run(&[]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stdout
            .contains("Rendered 1 recipient(s), skipped 0, failed to render 5"),
        "{out:#?}"
    );
}
