//! The `fieldnotes` binary as a field worker uses it, against the real server on a real socket.

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::path::Path;
use std::process::Output;

use fieldnotes_tests::{Backend, TestDb, TestServer};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_fieldnotes");

async fn run(dir: &Path, server: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("FIELDNOTES_DATA_DIR", dir)
        .env("FIELDNOTES_SERVER", server)
        .env("FIELDNOTES_USER", "sw-1")
        .env_remove("FIELDNOTES_LOG")
        .output()
        .await
        .expect("the fieldnotes binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Record one document with the CLI and return its id.
async fn record(dir: &Path, server: &str, args: &[&str]) -> String {
    let out = run(dir, server, args).await;
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    assert!(stderr(&out).contains("saved"), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["note"],
        &["note", "new"],
        &["note", "edit"],
        &["about-me", "new"],
        &["about-me", "edit"],
        &["contact-card", "new"],
        &["contact-card", "edit"],
        &["plan", "new"],
        &["plan", "edit"],
        &["list"],
        &["show"],
        &["sync"],
        &["status"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let out = run(dir.path(), "http://127.0.0.1:9", &args).await;
        assert!(out.status.success(), "{args:?}");
        let text = stdout(&out);
        assert!(text.contains("Usage: fieldnotes"), "{args:?}: {text}");
    }
}

/// Offline: all four kinds are recorded and readable, sync says it will retry (exit 75) and
/// keeps everything; when the server is up, the work arrives on a second device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_offline_then_sync_to_another_device() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let server = TestServer::start(&db.url).await.unwrap();
    let url = server.url();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let down = "http://127.0.0.1:9"; // Nothing listens on the discard port.

    let note = record(
        a.path(),
        down,
        &[
            "note",
            "new",
            "--child",
            "c-7",
            "--kind",
            "statutory_visit",
            "--title",
            "Visit at home",
            "--body",
            "Jo showed me her room.",
            "--wishes",
            "I want to stay at this school",
            "--child-seen",
            "yes",
            "--seen-alone",
            "no",
            "--not-alone-reason",
            "child_refused",
            "--present",
            "mother",
        ],
    )
    .await;
    let about = record(
        a.path(),
        down,
        &["about-me", "new", "--child", "c-7", "--fun", "drawing"],
    )
    .await;
    let card = record(
        a.path(),
        down,
        &[
            "contact-card",
            "new",
            "--name",
            "Alex",
            "--thing",
            "likes dogs",
        ],
    )
    .await;
    let plan = record(
        a.path(),
        down,
        &["plan", "new", "--child", "c-7", "--point", "Meet weekly"],
    )
    .await;
    let out = run(
        a.path(),
        down,
        &[
            "note",
            "edit",
            &note,
            "--body",
            "Jo showed me her room and her drawings.",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let out = run(a.path(), down, &["sync"]).await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("safe on this device") && err.contains("Nothing is lost"),
        "{err}"
    );
    assert!(err.contains("5 change(s) are waiting"), "{err}");

    let out = run(a.path(), down, &["show", &note]).await;
    assert!(
        stdout(&out).contains("body: Jo showed me her room and her drawings."),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("not_alone_reason: child_refused"),
        "{}",
        stdout(&out)
    );

    // Connection back.
    let out = run(a.path(), &url, &["sync"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sent 5 change(s), 5 confirmed"),
        "{}",
        stdout(&out)
    );
    let out = run(a.path(), &url, &["status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["pending_changes"], 0);

    let out = run(b.path(), &url, &["sync"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(b.path(), &url, &["list", "--json"]).await;
    let mut ids: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    ids.sort();
    let mut expected = vec![note.clone(), about, card, plan];
    expected.sort();
    assert_eq!(ids, expected);
    let out = run(b.path(), &url, &["show", &note, "--json"]).await;
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["body"], "Jo showed me her room and her drawings.");
    assert_eq!(
        shown["wishes_and_feelings"],
        "I want to stay at this school"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let down = "http://127.0.0.1:9";
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "note", "new", "--child", "c", "--kind", "picnic", "--title", "t",
            ],
            "use one of: statutory_visit",
        ),
        (
            &[
                "note",
                "new",
                "--child",
                "c",
                "--kind",
                "home_visit",
                "--title",
                "t",
                "--occurred-at",
                "yesterday",
            ],
            "occurred_at",
        ),
        (
            &[
                "plan", "new", "--child", "c", "--point", "1", "--point", "2", "--point", "3",
                "--point", "4",
            ],
            "at most 3 points",
        ),
        (
            &["show", "no-such-note"],
            "no document no-such-note on this device",
        ),
        (
            &[
                "note",
                "new",
                "--child",
                "c",
                "--kind",
                "home_visit",
                "--title",
                "t",
                "--child-seen",
                "maybe",
            ],
            "not yes or no",
        ),
        (&["--server", "not a url", "status"], "is not a URL"),
    ];
    for (args, needle) in cases {
        let out = run(dir.path(), down, args).await;
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            err.matches(needle).count(),
            1,
            "the reason is said once: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_at_a_time_writes_as_a_device() {
    let dir = tempfile::tempdir().unwrap();
    let holder = fieldnotes_client::Client::builder(dir.path())
        .open()
        .await
        .unwrap();
    let out = run(dir.path(), "http://127.0.0.1:9", &["status"]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("in use by another Fieldnotes process"),
        "{}",
        stderr(&out)
    );
    drop(holder);
    let out = run(dir.path(), "http://127.0.0.1:9", &["status"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
}
