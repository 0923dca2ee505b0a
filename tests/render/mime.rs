//! The message's shape: the MIME tree (text before HTML, related images, attachments last) and
//! headers that round-trip exactly for every recipient, fold when long and admit no injection.

use std::collections::HashSet;

use mail_parser::MimeHeaders;

use crate::support::assert_same_bytes;
use crate::support::fixture::{Fixture, emls};

use super::*;

// ----------------------------------------------------------------- MIME tree ---

#[test]
fn mime_tree_is_mixed_over_alternative_over_related_with_text_first() {
    let fx = full_fixture();
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);

    assert_eq!(
        tree(&msg, msg.root_part()),
        "multipart/mixed[multipart/alternative[text/plain,multipart/related[text/html,image/png]],text/plain]"
    );

    // The inline image carries a Content-ID and an inline disposition.
    let root = msg.root_part();
    let [alternative, attachment] = children(&msg, root)[..] else {
        panic!("mixed has two children")
    };
    let related = children(&msg, alternative)[1];
    let image = children(&msg, related)[1];
    assert!(
        image.content_id().is_some_and(|id| !id.is_empty()),
        "image has a Content-ID"
    );
    assert!(
        image.content_disposition().is_some_and(|d| d.is_inline()),
        "image is inline"
    );

    // The attachment is a real attachment with its file name and bytes.
    let disposition = attachment.content_disposition().expect("disposition");
    assert!(disposition.is_attachment(), "{disposition:?}");
    assert_eq!(attachment.attachment_name(), Some("notes.txt"));
    assert_same_bytes(
        attachment.contents(),
        ATTACHMENT,
        "the attached files/notes.txt",
    );
    assert_eq!(msg.attachment_count(), 2, "the inline image and the file");
}

#[test]
fn without_attachments_or_local_images_the_top_is_alternative_text_then_html() {
    let fx = minimal_fixture();
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    assert_eq!(
        tree(&msg, msg.root_part()),
        "multipart/alternative[text/plain,text/html]"
    );
    assert_eq!(msg.attachment_count(), 0);
}

#[test]
fn attachment_with_non_ascii_file_name_decodes_back() {
    let toml = format!("{MINIMAL_TOML}attachments = [\"files/Übersicht März.txt\"]\n");
    let fx = Fixture::with(&toml, MINIMAL_HTML, MINIMAL_CSV).file("files/Übersicht März.txt", "x");
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let attachment = msg.attachment(0).expect("one attachment");
    assert_eq!(attachment.attachment_name(), Some("Übersicht März.txt"));
    assert_same_bytes(attachment.contents(), b"x", "the attached file");
}

// ------------------------------------------------------------------- headers ---

#[test]
fn headers_round_trip_exactly_for_every_recipient() {
    let fx = full_fixture();
    fx.dry_run_ok(&[]);
    let all = emls(&fx.preview());
    assert_eq!(all.len(), 3);
    let expected = [
        ("xiaoming@example.com", "王小明", "News for 小明!"),
        ("zoe@example.org", "Zoë Müller", "News for Zoë!"),
        ("rocket@example.net", "Rocket 🚀 Fan", "News for 🚀!"),
    ];
    let mut ids = HashSet::new();
    for (bytes, (email, name, subject)) in all.iter().zip(expected) {
        let msg = parse(bytes);
        let raw = raw_headers(bytes);
        assert!(
            raw.is_ascii(),
            "non-ASCII header text must be RFC 2047 encoded:\n{raw}"
        );

        assert_eq!(
            mailbox(msg.from()),
            (Some("Café Ünïcode".into()), "news@acme.example".into())
        );
        assert_eq!(mailbox(msg.to()), (Some(name.into()), email.into()));
        assert_eq!(
            mailbox(msg.reply_to()),
            (Some("Support Team".into()), "support@acme.example".into())
        );
        assert_eq!(msg.subject(), Some(subject));

        let date = msg.date().expect("Date parses");
        assert!(date.is_valid(), "{date:?}");
        let age = now_secs() - date.to_timestamp();
        assert!((-60..600).contains(&age), "Date is now-ish: {date}");

        let id = msg.message_id().expect("Message-ID");
        assert!(id.ends_with("@acme.example"), "{id}");
        assert!(id.len() > "@acme.example".len() + 8, "{id}");
        assert!(ids.insert(id.to_string()), "Message-ID {id} repeated");

        assert_eq!(msg.mime_version().as_text(), Some("1.0"));
        let campaign = msg
            .headers()
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case("X-Campaign"))
            .expect("X-Campaign header");
        assert_eq!(campaign.value().as_text(), Some("april"));

        for name in [
            "From",
            "To",
            "Reply-To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "X-Campaign",
        ] {
            assert_eq!(count_header(&msg, name), 1, "{name} exactly once in\n{raw}");
        }
    }
}

#[test]
fn long_non_ascii_subject_is_folded_and_decodes_back_exactly() {
    let subject = "{{ first_name }}: Ihre Übersicht für März — 这是一个很长的主题行，用于测试折叠 🚀 \
                   and some more ASCII words at the end";
    let toml = format!("subject = \"{subject}\"\nfrom = \"news@acme.example\"\n");
    let fx = Fixture::with(
        &toml,
        MINIMAL_HTML,
        "email,first_name\nzoe@example.org,Zoë\n",
    );
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let raw = raw_headers(bytes);
    assert!(
        raw.lines().all(|l| l.len() <= 998),
        "header lines fit RFC 5322"
    );
    assert_eq!(
        parse(bytes).subject(),
        Some(subject.replace("{{ first_name }}", "Zoë").as_str())
    );
}

#[test]
fn header_injection_through_csv_name_and_subject_adds_no_header() {
    let csv = "email,name,first_name\n\
               eve@example.com,\"Eve\r\nBcc: victim@example.com\",\"Eve\r\nBcc: victim@example.com\"\n";
    let toml = "subject = \"Hi {{ first_name }}\"\nfrom = \"news@acme.example\"\n";
    let fx = Fixture::with(toml, MINIMAL_HTML, csv);
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let raw = raw_headers(bytes);

    assert!(msg.bcc().is_none(), "no Bcc:\n{raw}");
    assert!(
        !raw.lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc")),
        "{raw}"
    );
    assert_eq!(
        header_names(&msg),
        [
            "From",
            "To",
            "Subject",
            "Message-ID",
            "Date",
            "MIME-Version",
            "Content-Type"
        ],
        "exactly the headers the tool writes:\n{raw}"
    );
    // Each folded header continuation line starts with whitespace: no line is a new field
    // except the seven above.
    let fields = raw.lines().filter(|l| !l.starts_with([' ', '\t'])).count();
    assert_eq!(fields, 7, "{raw}");

    // The To is still Eve's single address; the text became an inert display name.
    let to = msg.to().expect("To");
    assert_eq!(to.iter().count(), 1, "{to:?}");
    let (name, address) = mailbox(Some(to));
    assert_eq!(address, "eve@example.com");
    let name = name.expect("display name");
    assert!(
        name.starts_with("Eve") && !name.contains(['\r', '\n']),
        "{name:?}"
    );
    let subject = msg.subject().expect("Subject");
    assert!(
        subject.starts_with("Hi Eve") && !subject.contains(['\r', '\n']),
        "{subject:?}"
    );
}
