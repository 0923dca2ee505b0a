//! Local images become `cid:` parts holding the file's bytes (the `src` scan not fooled by odd
//! attribute values), remote ones stay links, and a path out of the campaign is refused.

use mail_parser::MimeHeaders;

use crate::support::assert_same_bytes;
use crate::support::fixture::{Fixture, emls};

use super::*;

// ------------------------------------------------------------------- images ---

#[test]
fn local_images_become_cid_parts_with_the_file_bytes_and_remote_stay() {
    let fx = full_fixture();
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let html = html_of(&msg);

    let src = attr_near(&html, "alt=\"Logo\"", "src");
    let cid = src
        .strip_prefix("cid:")
        .unwrap_or_else(|| panic!("local image not cid: {src}"));
    assert!(
        !html.contains("images/logo.png"),
        "no relative path left: {html}"
    );
    assert_eq!(
        attr_near(&html, "alt=\"Logo again\"", "src"),
        src,
        "same file, same cid"
    );
    assert_eq!(
        attr_near(&html, "alt=\"Banner\"", "src"),
        "https://cdn.example.com/banner.jpg"
    );

    let images: Vec<&MessagePart<'_>> = msg
        .parts
        .iter()
        .filter(|p| mime_type(p) == "image/png")
        .collect();
    assert_eq!(images.len(), 1, "an image used twice is embedded once");
    let image = images[0];
    assert_eq!(image.content_id(), Some(cid));
    assert_same_bytes(
        image.contents(),
        logo_bytes(),
        "the embedded images/logo.png",
    );
}

#[test]
fn local_image_after_an_attribute_containing_gt_is_embedded() {
    let html = "<html><body><img alt=\"a > b\" src=\"images/logo.png\"></body></html>\n";
    let fx = Fixture::with(MINIMAL_TOML, html, MINIMAL_CSV).file("images/logo.png", logo_bytes());
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let html = html_of(&msg);
    assert!(!html.contains("images/logo.png"), "{html}");
    let image = part_of(&msg, "image/png");
    let cid = image.content_id().expect("Content-ID");
    assert!(html.contains(&format!("src=\"cid:{cid}\"")), "{html}");
}

#[test]
fn img_src_scan_is_not_fooled_by_a_value_ending_in_src() {
    let html = "<html><body><img alt=\"{{ caption }}\" src=\"images/logo.png\"></body></html>\n";
    let csv = "email,first_name,caption\nann@example.com,Ann,Logo src=\n";
    let fx = Fixture::with(MINIMAL_TOML, html, csv).file("images/logo.png", logo_bytes());
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let html = html_of(&msg);
    let image = part_of(&msg, "image/png");
    let cid = image.content_id().expect("Content-ID");
    assert!(
        html.contains(&format!("alt=\"Logo src=\" src=\"cid:{cid}\"")),
        "{html}"
    );
    assert_same_bytes(
        image.contents(),
        logo_bytes(),
        "the embedded images/logo.png",
    );
}

#[test]
fn image_path_leaving_the_campaign_directory_is_refused() {
    let html = "<html><body><img src=\"../secret.png\"></body></html>\n";
    let fx = Fixture::with(MINIMAL_TOML, html, MINIMAL_CSV);
    std::fs::write(fx.root().join("secret.png"), b"secret").unwrap();
    assert_invalid(
        &fx,
        &["image \"../secret.png\": leaves the campaign directory"],
    );
}
