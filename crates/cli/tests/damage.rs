//! A damaged store as a person meets it in the `fieldnotes` command: the refusal naming the
//! damage (once), `fieldnotes doctor` saying what is damaged and saving the unsent work, and
//! its steps followed to the letter bringing that work to the server.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::PathBuf;

use common::{Device, assert_has, standard_server, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_the_damage_and_its_steps_bring_the_unsent_work_to_the_server() {
    let (_db, server, url) = standard_server(1).await;
    let device = Device::signed_in(&url, "sw-a").await;
    let id = device
        .new_note(&url, "child-00", "Visit kept through damage")
        .await;

    // Garbage over the store file's header.
    let store = device.path().join("fieldnotes.db");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&store)
        .unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.write_all(&[0xA5u8; 100]).unwrap();
    file.sync_all().unwrap();
    drop(file);
    let damaged = std::fs::read(&store).unwrap();

    // Every command, sign-in included, refuses with the same words, said once.
    let expected = format!(
        "error: the store at {} is damaged: the file is not a database (its first bytes were \
         overwritten or it was replaced). Nothing has been changed or created over it. Run \
         `fieldnotes doctor` to see what can be saved and how to carry on\n",
        store.display()
    );
    for args in [&["list"][..], &["login", "--username", "sw-a"], &["sync"]] {
        let out = device.run(&url, args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), expected, "{args:?}");
    }
    assert_eq!(
        std::fs::read(&store).unwrap(),
        damaged,
        "nothing written over it"
    );

    let saved = tempfile::tempdir().unwrap();
    let export = saved.path().join("saved.json");
    let out = device
        .run(&url, &["doctor", "--export", export.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let dir = device.path().display().to_string();
    for line in [
        format!("store: {}", store.display()),
        "state: DAMAGED".to_owned(),
        "  - the store file's header was overwritten: it no longer says it is a database"
            .to_owned(),
        format!("saved 1 change(s) not yet sent to {}", export.display()),
        "To carry on:".to_owned(),
        format!("       mv {dir} {dir}.damaged-"),
        format!(
            "       fieldnotes --data-dir {dir} --server {url} import {}",
            export.display()
        ),
        format!("       fieldnotes --data-dir {dir} sync"),
    ] {
        assert!(text.contains(&line), "wanted {line:?} in:\n{text}");
    }
    assert!(export.exists());

    // The steps, as printed.
    let aside = PathBuf::from(format!("{dir}.damaged"));
    std::fs::rename(device.path(), &aside).unwrap();
    let out = device.ok(&url, &["import", export.to_str().unwrap()]).await;
    assert_has(&stdout(&out), "queued 1 change(s)");
    let out = device.ok(&url, &["sync"]).await;
    assert_has(&stdout(&out), "sent 1 change(s), 1 confirmed");
    assert!(
        server
            .state
            .store
            .get_document(&id)
            .await
            .unwrap()
            .is_some()
    );
    // The healthy store checks out.
    let out = device.ok(&url, &["doctor"]).await;
    assert_has(&stdout(&out), "state: sound");
    std::fs::remove_dir_all(&aside).unwrap();
}
