//! `fieldnotes status` and `fieldnotes withdraw`: a change the server refused is listed with
//! the way out, and withdrawing it leaves nothing waiting, with the record's text kept in a
//! file; what the device can tell the server would refuse is refused before it is saved.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, assert_has, assert_lacks, note_args, standard_server, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_note_is_listed_with_its_way_out_and_withdrawn() {
    let (_db, _server, url) = standard_server(1).await;
    let worker = Device::signed_in(&url, "sw-a").await;

    // Not synced yet, so the device does not know its children: the typo reaches the server.
    let id = worker.new_note(&url, "child-0O", "Typo visit").await;
    let out = worker.run(&url, &["sync"]).await;
    assert_eq!(out.status.code(), Some(1), "held work is not a success");
    let text = stdout(&out);
    assert!(
        text.contains(&format!("refused: document {id} (out_of_scope)")),
        "{text}"
    );
    assert!(text.contains("`fieldnotes status`"), "{text}");

    let out = worker.ok(&url, &["status"]).await;
    let text = stdout(&out);
    assert!(text.contains("waiting to send: 1 change(s)"), "{text}");
    assert!(
        text.contains(&format!("to document {id} (out_of_scope)")),
        "{text}"
    );
    assert!(
        text.contains(&format!("way out: run `fieldnotes withdraw {id}`")),
        "{text}"
    );

    let out = worker.ok(&url, &["withdraw", &id]).await;
    let text = stdout(&out);
    assert!(
        text.contains(&format!("withdrew 1 refused change(s) to document {id}")),
        "{text}"
    );
    assert!(text.contains("removed from this device"), "{text}");
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("the record as it stood is saved in "))
        .unwrap();
    let saved = std::fs::read_to_string(path).unwrap();
    assert!(
        saved.contains("Typo visit") && saved.contains("child-0O"),
        "{saved}"
    );

    let out = worker.ok(&url, &["status"]).await;
    let text = stdout(&out);
    assert!(text.contains("waiting to send: 0 change(s)"), "{text}");
    assert!(!text.contains("refused"), "{text}");
    let out = worker.ok(&url, &["sync"]).await;
    assert_lacks(&stdout(&out), "refused");
    worker
        .fails(
            &url,
            &["withdraw", &id],
            1,
            &format!("no document {id} on this device"),
        )
        .await;

    // Now it knows its children: a typo is refused before it is saved.
    let out = worker
        .fails(
            &url,
            &note_args("child-0O", "Typo again"),
            1,
            "may not write records for child:child-0O",
        )
        .await;
    assert_has(&stderr(&out), "Nothing was saved");
    let out = worker.ok(&url, &["status"]).await;
    assert_has(&stdout(&out), "waiting to send: 0 change(s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdraw_explains_itself() {
    let worker = Device::new();
    let out = worker.ok(common::DOWN, &["withdraw", "--help"]).await;
    let text = stdout(&out);
    for needle in [
        "refused",
        "DOC-ID",
        "withdrawn/",
        "fieldnotes status",
        "sync",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}
