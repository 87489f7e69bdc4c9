//! The field app for a social worker (issue 12), in real headless Chromium at a phone's size
//! and a school laptop's, against the real server: signed in, with the network cut, they open
//! a child's page and record a statutory visit, the child's "about me" in the child's words, and their own
//! contact card with a photo from the camera; the note is opened again, added to and marked
//! complete, after which it is locked. The page is reloaded with no network: the app
//! opens from its service worker and every record is there. The network comes back: the app
//! syncs by itself, and a second device (the `fieldnotes` CLI, the real binary) has every
//! record, the photo small and without the camera's metadata.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::Device;
use fantoccini::Locator;
use fieldnotes_app::profile::{PHOTO_EDGE, PHOTO_MAX_BYTES};
use fieldnotes_app::status::Connection;
use fieldnotes_model::{Record, SubjectKind};
use fieldnotes_tests::app::{
    click, fill, go, holds, kept_by_the_service_worker, says, serve, shown, sign_in, sync_words,
    unlock,
};
use fieldnotes_tests::browser::{Browser, Viewport};

/// Where the camera said the photo was taken: it must not reach the record.
const WHERE_TAKEN: &str = "GPS 51.4545N 2.5879W Hillside Road";

/// A camera's photo: a 2000 × 1500 JPEG drawn in the page, with an EXIF segment naming where it
/// was taken put in after the JPEG's first marker, as a phone's camera writes one.
async fn camera_photo(browser: &Browser) -> anyhow::Result<Vec<u8>> {
    let drawn = browser
        .eval(
            "const c = document.createElement('canvas'); c.width = 2000; c.height = 1500;
             const g = c.getContext('2d');
             const grad = g.createLinearGradient(0, 0, 2000, 1500);
             grad.addColorStop(0, '#1d4e89'); grad.addColorStop(1, '#ffbf47');
             g.fillStyle = grad; g.fillRect(0, 0, 2000, 1500);
             g.fillStyle = '#fff'; g.beginPath(); g.arc(1000, 700, 400, 0, 7); g.fill();
             return c.toDataURL('image/jpeg', 0.95).split(',')[1];",
        )
        .await?;
    let base64 = drawn
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the page drew no photo: {drawn}"))?;
    let jpeg = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, base64)?;
    anyhow::ensure!(jpeg.starts_with(&[0xff, 0xd8]), "not a JPEG");
    // APP1 "Exif": a big-endian TIFF header with an empty first directory, then the text.
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\0\0\0\0\0".to_vec();
    exif.extend_from_slice(WHERE_TAKEN.as_bytes());
    let length = u16::try_from(exif.len() + 2)?;
    let mut photo = vec![0xff, 0xd8, 0xff, 0xe1];
    photo.extend_from_slice(&length.to_be_bytes());
    photo.extend_from_slice(&exif);
    photo.extend_from_slice(&jpeg[2..]);
    Ok(photo)
}

/// A JPEG's width and height, from its first start-of-frame segment.
fn jpeg_size(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut at = 2;
    while at + 9 < jpeg.len() {
        if jpeg[at] != 0xff {
            return None;
        }
        let marker = jpeg[at + 1];
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if matches!(marker, 0xc0..=0xc3) {
            let height = u16::from_be_bytes([jpeg[at + 5], jpeg[at + 6]]);
            let width = u16::from_be_bytes([jpeg[at + 7], jpeg[at + 8]]);
            return Some((width, height));
        }
        at += 2 + length;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_a_social_worker_records_a_visit_about_me_and_a_card_with_a_photo_offline_and_it_all_arrives()
-> anyhow::Result<()> {
    a_social_workers_offline_day(Viewport::PHONE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_school_laptop_a_social_worker_records_a_visit_about_me_and_a_card_with_a_photo_offline_and_it_all_arrives()
-> anyhow::Result<()> {
    a_social_workers_offline_day(Viewport::LAPTOP).await
}

/// The day, on a device of this size (the screenshots are taken at it).
async fn a_social_workers_offline_day(viewport: Viewport) -> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let browser = Browser::start(viewport).await?;
    browser.goto(&server.url()).await?;
    shown(&browser, "#sign-in").await?;
    browser.screenshot("sign-in").await?;
    sign_in(&browser, "sw-a").await?;
    kept_by_the_service_worker(&browser).await?;
    browser.screenshot("caseload").await?;
    let photo = camera_photo(&browser).await?;
    let photo_file = tempfile::Builder::new().suffix(".jpg").tempfile()?;
    std::fs::write(photo_file.path(), &photo)?;

    go(&browser, Connection::Offline).await?;

    // The child's page, from the caseload.
    click(&browser, "#child-child-00").await?;
    says(&browser, "#child-page h2", "Child child-00").await?;
    says(&browser, "#child-notes", "No notes on this device yet").await?;

    // A statutory visit, started from the child's page: back there once saved.
    let title = "Visit at Hillside";
    let body = "Sam wanted their aunt to stay in the room.";
    let wishes = "I like my room now. I want to see my brother more.";
    click(&browser, "#new-note-for-child").await?;
    shown(&browser, "#visit-note").await?;
    click(&browser, "#seen-yes").await?;
    click(&browser, "#alone-no").await?;
    shown(&browser, "#not-alone-reason").await?;
    browser
        .client()
        .find(Locator::Css(
            "#not-alone-reason option[value=child_refused]",
        ))
        .await?
        .click()
        .await?;
    fill(&browser, "#title", title).await?;
    fill(&browser, "#body", body).await?;
    fill(&browser, "#wishes", wishes).await?;
    browser.screenshot("visit-note").await?;
    click(&browser, "#visit-note button[type=submit]").await?;
    says(&browser, "#child-notes", title).await?;
    says(&browser, "#child-notes", "Statutory visit").await?;
    says(&browser, "#child-notes", "Draft").await?;

    // Opened again from the child's page, with every answer as it was saved: added to, and
    // marked complete.
    let more = " Their aunt agreed the next visit can be at school.";
    click(&browser, "#child-notes li button.row").await?;
    shown(&browser, "#visit-note #save-complete").await?;
    assert_eq!(
        browser
            .eval("return [document.querySelector('#title').value, document.querySelector('#body').value, document.querySelector('#alone-no').checked, document.querySelector('#not-alone-reason').value];")
            .await?,
        serde_json::json!([title, body, true, "child_refused"])
    );
    fill(&browser, "#body", more).await?;
    browser.screenshot("visit-note-edit").await?;
    click(&browser, "#save-complete").await?;
    says(&browser, "#child-notes", "Completed").await?;
    // Completed, it is locked: opened again it is shown, not offered for change.
    click(&browser, "#child-notes li button.row").await?;
    says(&browser, "#note-status", "Completed").await?;
    assert!(
        !holds(&browser, "document.querySelector('#save-note') !== null").await?,
        "a completed note is offered for change"
    );
    click(&browser, "#note-back").await?;
    shown(&browser, "#child-page").await?;

    // "About me", in the child's words.
    let fun = "Football with my brother, and drawing dragons";
    let help = "Tell me what is going to happen before it happens";
    click(&browser, "#child-about-me").await?;
    shown(&browser, "#about-me textarea#fun").await?;
    fill(&browser, "#fun", fun).await?;
    fill(&browser, "#how-to-help", help).await?;
    browser.screenshot("about-me").await?;
    click(&browser, "#about-me button[type=submit]").await?;
    says(&browser, "#child-about", fun).await?;
    says(&browser, "#child-about", help).await?;
    browser.screenshot("child-page").await?;

    // My contact card, with a photo from the camera.
    click(&browser, "#back-home").await?;
    click(&browser, "#my-card").await?;
    shown(&browser, "#contact-card input#display-name").await?;
    browser
        .client()
        .find(Locator::Css("#display-name"))
        .await?
        .clear()
        .await?;
    fill(&browser, "#display-name", "Alex from the children's team").await?;
    assert_eq!(
        browser
            .eval("const p = document.querySelector('#photo'); return [p.accept, p.getAttribute('capture')];")
            .await?,
        serde_json::json!(["image/*", "user"])
    );
    let chooser = browser.client().find(Locator::Css("#photo")).await?;
    chooser
        .send_keys(&photo_file.path().display().to_string())
        .await?;
    says(&browser, "#photo-words", "Photo ready").await?;
    shown(&browser, "#photo-preview").await?;
    fill(&browser, "#thing-0", "I have a dog called Biscuit").await?;
    fill(&browser, "#thing-1", "I support Bristol Rovers").await?;
    fill(&browser, "#how-to-reach", "Text or call 07700 900123").await?;
    browser.screenshot("contact-card").await?;
    click(&browser, "#contact-card button[type=submit]").await?;
    shown(&browser, "#caseload").await?;
    sync_words(&browser, "4 changes waiting to be sent").await?;
    // Beside the child, what of theirs waits: the note's two changes and "about me"'s one.
    says(&browser, "#child-child-00", "3 changes waiting to be sent").await?;
    browser.screenshot("caseload-waiting-offline").await?;

    // Reload with no network: the app opens, the password opens the records, all are there.
    browser.reload().await?;
    shown(&browser, "#unlock").await?;
    browser.screenshot("unlock-offline").await?;
    unlock(&browser).await?;
    assert!(holds(&browser, "navigator.onLine === false").await?);
    sync_words(&browser, "4 changes waiting to be sent").await?;
    for kind in ["Visit note", "About me", "Contact card"] {
        says(&browser, "#records", kind).await?;
    }
    click(&browser, "#child-child-00").await?;
    says(&browser, "#child-notes", title).await?;
    says(&browser, "#child-about", fun).await?;
    // Their social worker's card, with the photo, is on the child's page.
    says(&browser, "#child-workers", "Alex from the children's team").await?;
    shown(&browser, "#child-workers img.photo").await?;
    browser.screenshot("child-page-offline").await?;

    // The signal comes back: the app syncs by itself.
    go(&browser, Connection::Online).await?;
    sync_words(&browser, "Nothing waiting to be sent").await?;
    click(&browser, "#back-home").await?;
    shown(&browser, "#caseload").await?;
    assert!(
        !holds(
            &browser,
            "document.querySelector('#caseload').textContent.includes('waiting')"
        )
        .await?,
        "the caseload still shows work waiting after the sync"
    );

    // A second device of the same worker has every record, whole.
    let url = server.url();
    let other = Device::signed_in(&url, "sw-a").await;
    other.ok(&url, &["sync"]).await;
    let listed = other.listed(&url).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let mut kinds = Vec::new();
    for (id, _) in &listed {
        let out = other.ok(&url, &["show", id, "--json"]).await;
        match serde_json::from_slice(&out.stdout)? {
            Record::VisitNote(note) => {
                assert_eq!(note.status, fieldnotes_model::NoteStatus::Completed);
                let note = note.content;
                assert_eq!(note.title, title);
                assert_eq!(note.body, format!("{body}{more}"));
                assert_eq!(note.wishes_and_feelings, wishes);
                assert_eq!(
                    (note.child_seen, note.seen_alone),
                    (Some(true), Some(false))
                );
                assert_eq!(
                    note.not_alone_reason,
                    Some(fieldnotes_model::NotAloneReason::ChildRefused)
                );
                kinds.push("visit note");
            }
            Record::AboutMe(about) => {
                let about = about.content;
                assert_eq!(
                    (about.subject_kind, about.subject_id.as_str()),
                    (SubjectKind::Child, "child-00")
                );
                assert_eq!(
                    (about.fun.as_str(), about.how_to_help.as_str()),
                    (fun, help)
                );
                kinds.push("about me");
            }
            Record::ContactCard(card) => {
                let card = card.content;
                assert_eq!(card.worker_id, "sw-a");
                assert_eq!(card.display_name, "Alex from the children's team");
                assert_eq!(
                    card.three_things,
                    ["I have a dog called Biscuit", "I support Bristol Rovers"]
                );
                let picture = card.picture.expect("the card has no photo");
                assert_eq!(picture.media_type, "image/jpeg");
                assert!(
                    picture.bytes.len() <= PHOTO_MAX_BYTES && picture.bytes.len() < photo.len(),
                    "the photo was not made smaller: {} bytes from {}",
                    picture.bytes.len(),
                    photo.len()
                );
                let size = jpeg_size(&picture.bytes).expect("the photo is not a JPEG");
                assert_eq!(size, (u16::try_from(PHOTO_EDGE)?, 360), "the photo's size");
                let text = String::from_utf8_lossy(&picture.bytes);
                assert!(
                    !text.contains("Exif") && !text.contains("Hillside Road"),
                    "the camera's metadata reached the record"
                );
                kinds.push("contact card");
            }
            other => panic!("the second device holds {other:?}"),
        }
    }
    kinds.sort_unstable();
    assert_eq!(kinds, ["about me", "contact card", "visit note"]);
    browser.close().await?;
    server.stop().await
}
