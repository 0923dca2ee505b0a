//! Suppression files as `load` reads them: every shape and separator, the summary lines, the
//! errors naming file and line, and an index spilled to disk holding the same set.

use super::*;

fn load(files: &[(&str, &str)]) -> Result<Suppression> {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|(name, text)| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    Suppression::load(&paths)
}

#[test]
fn reads_csv_exports_and_plain_lists() {
    let s = load(&[
        (
            "unsubscribed.csv",
            "Email,reason\nA@x.example,unsubscribed\n",
        ),
        (
            "bounces.txt",
            "# hard bounces\nb@x.example\n\n c@x.example # complaint\n",
        ),
        ("h.txt", "email\nd@x.example\n"),
        ("mailgun.csv", "address,reason\nx@y.example,z\n"),
    ])
    .unwrap();
    for yes in [
        "a@X.example",
        "b@x.example",
        "C@x.example",
        "d@x.example",
        "x@y.example",
    ] {
        assert!(s.contains(yes), "{yes}");
    }
    assert!(!s.contains("e@x.example"));
    assert_eq!(s.len(), 5);
    assert!(Suppression::load(&[] as &[&Path]).unwrap().is_empty());
    let shapes: Vec<&str> = s.files().iter().map(|f| f.shape.as_str()).collect();
    assert_eq!(
        shapes,
        [
            "CSV with a header row, column `Email`",
            "one address per line",
            "CSV with a header row, column `email`",
            "CSV with a header row, column `address`",
        ]
    );
}

#[test]
fn separators_headers_and_the_address_column() {
    let s = load(&[
        (
            "semi.csv",
            "\u{feff}Email Address;First Name\r\nA@x.example;A\r\n",
        ),
        (
            "tab.tsv",
            "time\temail\treason\n2024\tb@x.example\tbounce\n",
        ),
        (
            "noheader.csv",
            "2024-01-01;c@x.example;bounce\n2024-01-02;d@x.example;x\n",
        ),
        (
            "both.csv",
            "Address,Email,Name\n1 Main St,e@x.example,E\n,,\n2 Main St,,F\n",
        ),
        ("empty.txt", "# nothing yet\n\n"),
    ])
    .unwrap();
    for yes in [
        "a@x.example",
        "b@x.example",
        "c@x.example",
        "d@x.example",
        "e@x.example",
    ] {
        assert!(s.contains(yes), "{yes}");
    }
    let lines = s.summaries();
    assert!(
        lines[0].ends_with(
            "semi.csv: 1 address to suppress (CSV with a header row, column `Email Address` (`;`-separated))"
        ),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with("column `email` (tab-separated))"),
        "{lines:?}"
    );
    assert!(
        lines[2].ends_with(
            "2 addresses to suppress (CSV without a header row, addresses in column 2 (`;`-separated))"
        ),
        "{lines:?}"
    );
    assert!(
        lines[3].ends_with(
            "1 address to suppress (CSV with a header row, column `Email`; 1 row with an empty address cell skipped)"
        ),
        "{lines:?}"
    );
    assert!(
        lines[4].ends_with("0 addresses to suppress (no addresses in the file)"),
        "{lines:?}"
    );
}

#[test]
fn anything_unrecognised_is_an_error_naming_file_and_line() {
    for (text, want) in [
        (
            "id,name\n1,Bob\n",
            "line 1: no address column in the header row (found: id, name)",
        ),
        (
            "# list\na@x.example\nnot an address\n",
            "line 3: `not an address` is not an address",
        ),
        (
            "just words\n",
            "line 1: `just words` is not an address, nor the header",
        ),
        (
            "email,reason\na@x.example,x\nb-at-x,y\n",
            "line 3: `b-at-x` in column `email`",
        ),
        ("a@x.example;x\nx;b@x.example\n", "line 2: `x` in column 1"),
    ] {
        let err = load(&[("s.csv", text)]).unwrap_err().to_string();
        assert!(err.contains(&format!("s.csv: {want}")), "{text:?}: {err}");
        assert!(err.contains("accepted: one address per line"), "{err}");
    }
    let mut bytes = b"a@x.example\nb@x.example\n".to_vec();
    bytes.extend_from_slice(b"c\xff@x.example\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.txt");
    std::fs::write(&path, bytes).unwrap();
    let err = Suppression::load(&[&path]).unwrap_err().to_string();
    assert!(
        err.contains("latin1.txt: line 3: is not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn a_long_list_spilled_to_disk_is_the_same_set() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("bounces.txt");
    let again = dir.path().join("again.csv");
    let addresses: Vec<String> = (0..100).map(|i| format!("u{i}@x.example")).collect();
    std::fs::write(&list, addresses.join("\n")).unwrap();
    std::fs::write(
        &again,
        format!("email\n{}", addresses.join("\n").to_uppercase()),
    )
    .unwrap();
    let s = Suppression::load_with_capacity(&[&list, &again], 3).unwrap();
    assert_eq!(s.len(), 100);
    for a in &addresses {
        assert!(s.contains(&a.to_uppercase()), "{a}");
    }
    assert!(!s.contains("u100@x.example"));
}
