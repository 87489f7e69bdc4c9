//! The `fieldnotes` binary as a field worker uses it, against the real server (in-process,
//! SQLite, on a real socket): help, sign-in, recording offline and syncing, bad input, and the
//! one-writer lock. Every CLI process gets its data folder, server and password from the
//! environment, and the cheap test key derivation.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{
    DOWN, Device, assert_fails, assert_has, assert_lacks, note_args, plan_args, standard_server,
    stderr, stdout,
};
use fieldnotes_tests::TestServer;

/// Entries of the Commands/Arguments/Options sections of a help text that have no description,
/// and the commands listed.
fn check_help(help: &str) -> (Vec<String>, Vec<String>) {
    let lines: Vec<&str> = help.lines().collect();
    let mut section = None;
    let (mut undocumented, mut commands) = (Vec::new(), Vec::new());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            section = ["Commands:", "Arguments:", "Options:", "Global options:"]
                .contains(line)
                .then_some(*line);
            continue;
        }
        let Some(section) = section else { continue };
        let indent = line.len() - line.trim_start().len();
        if indent > 6 {
            continue; // A description, or its continuation.
        }
        let entry = line.trim();
        let same_line = entry
            .split_once("  ")
            .is_some_and(|(_, d)| !d.trim().is_empty());
        let next_line = lines.get(i + 1).is_some_and(|next| {
            !next.trim().is_empty() && next.len() - next.trim_start().len() > 6
        });
        if !same_line && !next_line {
            undocumented.push(entry.to_owned());
        }
        if section == "Commands:" {
            let name = entry.split_whitespace().next().unwrap_or_default();
            if name != "help" {
                commands.push(name.to_owned());
            }
        }
    }
    (undocumented, commands)
}

#[test]
fn the_help_checker_finds_undocumented_entries() {
    let help = "Usage: fieldnotes thing [OPTIONS] <ID>\n\nCommands:\n  good  Does things\n  bare\n\n\
                Arguments:\n  <ID>  The id\n\nOptions:\n      --long <X>\n          Described \
                below\n\n      --naked\n  -h, --help  Print help\n";
    let (undocumented, commands) = check_help(help);
    assert_eq!(undocumented, vec!["bare", "--naked"]);
    assert_eq!(commands, vec!["good", "bare"]);
}

/// Every command, found by walking the help texts from the top, has help; every command,
/// argument and option in it has a description.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_help() {
    let device = Device::new();
    let mut seen = BTreeSet::new();
    let mut queue: Vec<Vec<String>> = vec![vec![]];
    while let Some(command) = queue.pop() {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.push("--help");
        let out = device.run(DOWN, &args).await;
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("Usage: fieldnotes"), "{args:?}: {text}");
        let (undocumented, subcommands) = check_help(&text);
        assert!(
            undocumented.is_empty(),
            "{args:?}: no description for {undocumented:?}:\n{text}"
        );
        for sub in subcommands {
            let mut next = command.clone();
            next.push(sub);
            queue.push(next);
        }
        seen.insert(command.join(" "));
    }
    for expected in [
        "",
        "login",
        "logout",
        "whoami",
        "note new",
        "note edit",
        "note amend",
        "note sign-off",
        "about-me new",
        "about-me edit",
        "about-me amend",
        "contact-card new",
        "contact-card edit",
        "plan new",
        "plan edit",
        "plan amend",
        "plan sign-off",
        "list",
        "show",
        "delete",
        "history",
        "diff",
        "review list",
        "review show",
        "review resolve",
        "review dismiss",
        "sync",
        "status",
        "admin team add",
        "admin team list",
        "admin team set",
        "admin user add",
        "admin user list",
        "admin user set",
        "admin device list",
        "admin device revoke",
        "admin quarantine",
        "child add",
        "child list",
        "child allocate",
        "child unallocate",
        "child history",
        "child refer",
        "child referrals",
        "child end-referral",
        "child access",
        "access list",
        "audit",
        "doctor",
        "import",
    ] {
        assert!(
            seen.contains(expected),
            "{expected:?} was not reached: {seen:?}"
        );
    }
    // The exit codes are documented, and the test-only key derivation switch is not.
    let out = device.run(DOWN, &["--help"]).await;
    let text = stdout(&out);
    for needle in ["Exit codes", "75", "77", "FIELDNOTES_PASSWORD"] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(!text.contains("INSECURE"), "{text}");
    assert!(!text.contains("--user "), "{text}");
}

/// Offline: all four kinds are recorded and readable, sync says it will retry (exit 75) and
/// keeps everything; when the server is up, the work arrives on a second device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_offline_then_sync_to_another_device() {
    let (_db, server, url) = standard_server(1).await;
    let (a, b) = (Device::signed_in(&url, "sw-a").await, Device::new());

    let note = a
        .record(
            DOWN,
            &[
                "note",
                "new",
                "--child",
                "child-00",
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
    let about = a
        .record(
            DOWN,
            &["about-me", "new", "--child", "child-00", "--fun", "drawing"],
        )
        .await;
    let card = a
        .record(
            DOWN,
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
    let plan = a.record(DOWN, &plan_args("child-00", "Meet weekly")).await;
    a.ok(
        DOWN,
        &[
            "note",
            "edit",
            &note,
            "--body",
            "Jo showed me her room and her drawings.",
        ],
    )
    .await;

    let out = a.run(DOWN, &["sync"]).await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("safe on this device") && err.contains("Nothing is lost"),
        "{err}"
    );
    assert!(err.contains("5 change(s) are waiting"), "{err}");

    // Offline, whoami says who this device knows, and that it could not ask.
    let out = a.ok(DOWN, &["whoami"]).await;
    assert_has(&stdout(&out), "username:  sw-a");
    assert_has(&stderr(&out), "offline");

    let out = a.ok(DOWN, &["show", &note]).await;
    assert_has(
        &stdout(&out),
        "body: Jo showed me her room and her drawings.",
    );
    assert_has(&stdout(&out), "not_alone_reason: child_refused");
    // The signed-in person is the author; the card is theirs.
    assert_has(&stdout(&out), "author: sw-a");
    let out = a.ok(DOWN, &["show", &card, "--json"]).await;
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["worker_id"], "sw-a");

    // Connection back.
    let out = a.ok(&url, &["sync"]).await;
    assert_has(&stdout(&out), "sent 5 change(s), 5 confirmed");
    let out = a.ok(&url, &["status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["pending_changes"], 0);

    b.login(&url, "sw-a").await;
    b.ok(&url, &["sync"]).await;
    let mut ids: Vec<String> = b.listed(&url).await.into_iter().map(|(id, _)| id).collect();
    ids.sort();
    let mut expected = vec![note.clone(), about, card, plan];
    expected.sort();
    assert_eq!(ids, expected);
    let out = b.ok(&url, &["show", &note, "--json"]).await;
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["body"], "Jo showed me her room and her drawings.");
    assert_eq!(
        shown["wishes_and_feelings"],
        "I want to stay at this school"
    );
    server.stop().await.unwrap();
}

/// `note new` with the flags it needs, then `extra`.
fn with_note<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "note",
        "new",
        "--child",
        "c",
        "--kind",
        "home_visit",
        "--title",
        "t",
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_explained() {
    let (_db, server, url) = standard_server(1).await;
    let device = Device::signed_in(&url, "sw-a").await;
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &[
                "note", "new", "--child", "c", "--kind", "picnic", "--title", "t",
            ],
            2,
            "use one of: statutory_visit",
        ),
        (
            &with_note(&["--occurred-at", "yesterday"]),
            1,
            "occurred_at",
        ),
        (
            &[
                "plan", "new", "--child", "c", "--point", "1", "--point", "2", "--point", "3",
                "--point", "4",
            ],
            1,
            "at most 3 points",
        ),
        (
            &["show", "no-such-note"],
            1,
            "no document no-such-note on this device",
        ),
        (&with_note(&["--child-seen", "maybe"]), 2, "not yes or no"),
        (&["--server", "not a url", "status"], 1, "is not a URL"),
        (&["admin", "team", "set", "pod-1"], 2, "nothing to change"),
        (
            &["admin", "user", "add", "x", "--name", "X", "--role", "boss"],
            2,
            "is not a role",
        ),
        (
            &["note", "edit", "x", "--child", "c"],
            2,
            "unexpected argument '--child'",
        ),
        (
            &["--user", "sw-a", "status"],
            2,
            "unexpected argument '--user'",
        ),
        (
            &["review", "list", "--item", "nope"],
            2,
            "is not an item kind",
        ),
        (
            &["review", "resolve", "1", "--reason", "fine"],
            2,
            "required arguments were not provided",
        ),
        (
            &[
                "review",
                "resolve",
                "1",
                "--accept",
                "--restore",
                "--reason",
                "ok",
            ],
            2,
            "cannot be used with",
        ),
        (
            &["note", "amend", "x", "--title", "t"],
            2,
            "required arguments were not provided",
        ),
        (&["review", "show", "one"], 2, "invalid digit"),
    ];
    for (args, code, needle) in cases {
        let out = device.run(DOWN, args).await;
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            err.matches(needle).count(),
            1,
            "the reason is said once: {err}"
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_at_a_time_writes_as_a_device() {
    let device = Device::new();
    let holder = fieldnotes_client::Client::builder(device.path())
        .open()
        .await
        .unwrap();
    device
        .fails(DOWN, &["status"], 1, "in use by another Fieldnotes process")
        .await;
    drop(holder);
    device.ok(DOWN, &["status"]).await;
}

/// Sign in, record, list, sync; status and whoami say who the device belongs to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_then_record_list_and_sync() {
    let (_db, server, url) = standard_server(1).await;
    let device = Device::new();
    let out = device.login(&url, "sw-a").await;
    assert!(
        stdout(&out)
            .contains("signed in as sw-a (sw-a (test), social_worker, team pod-1) (online)"),
        "{}",
        stdout(&out)
    );
    let id = device.new_note(&url, "child-00", "First visit").await;
    assert_eq!(
        device.listed(&url).await,
        vec![(id.clone(), Some("child-00".to_owned()))]
    );
    let out = device.ok(&url, &["list"]).await;
    assert_has(&stdout(&out), "First visit");
    let out = device.ok(&url, &["sync"]).await;
    assert_has(&stdout(&out), "sent 1 change(s), 1 confirmed");

    let out = device.ok(&url, &["whoami"]).await;
    assert_has(&stdout(&out), "role:      social_worker");
    assert_lacks(&stderr(&out), "offline");

    // Status needs no password.
    let out = device
        .run_env(&url, &[("FIELDNOTES_PASSWORD", "")], &["status"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("belongs to:      sw-a"), "{text}");
    assert!(text.contains("signed in:       yes"), "{text}");
    assert!(text.contains("waiting to send: 0 change(s)"), "{text}");

    // Without a password and no terminal to ask at, a record command says how to give one.
    let out = device
        .run_env(&url, &[("FIELDNOTES_PASSWORD", "")], &["list"])
        .await;
    assert_fails(&out, 1, "set FIELDNOTES_PASSWORD");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_clearly() {
    let (_db, server, url) = standard_server(1).await;
    let device = Device::new();
    let wrong = [("FIELDNOTES_PASSWORD", "not my password at all")];

    // The server refuses the sign-in (exit 77), and nothing falls back to offline.
    let out = device
        .run_env(&url, &wrong, &["login", "--username", "sw-a"])
        .await;
    assert_fails(&out, 77, "sign-in refused");

    device.login(&url, "sw-a").await;
    let out = device.run_env(&url, &wrong, &["list"]).await;
    assert_fails(
        &out,
        1,
        "that password does not unlock this device's records",
    );
    let out = device
        .run_env(&url, &wrong, &note_args("child-00", "t"))
        .await;
    assert_fails(&out, 1, "that password does not unlock");
    assert!(device.listed(&url).await.is_empty());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_signed_in_tells_you_to_log_in() {
    let device = Device::new();
    for args in [
        vec!["list"],
        note_args("child-00", "t"),
        vec!["show", "x"],
        vec!["sync"],
        vec!["whoami"],
        vec!["child", "list"],
        vec!["admin", "team", "list"],
    ] {
        device.fails(DOWN, &args, 1, "run `fieldnotes login`").await;
    }
    let out = device.ok(DOWN, &["status"]).await;
    assert_has(&stdout(&out), "signed in:       no");
    // The first sign-in needs the server.
    device
        .fails(
            DOWN,
            &["login", "--username", "sw-a"],
            75,
            "the first sign-in needs the server",
        )
        .await;
    // With no username and no one to ask, login says how to give one.
    device.fails(DOWN, &["login"], 2, "--username").await;
}

/// After `logout` every record command says to log in; signing in again offline brings the
/// unsynced work back, and sync asks for an online sign-in (77) before sending it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_keeps_unsynced_work_for_the_next_login() {
    let (_db, server, url) = standard_server(1).await;
    let device = Device::signed_in(&url, "sw-a").await;
    let id = device
        .new_note(DOWN, "child-00", "Written on the bus")
        .await;
    let out = device.ok(DOWN, &["logout"]).await;
    assert_has(&stdout(&out), "1 change(s) not yet sent");

    let out = device
        .fails(DOWN, &["list"], 1, "run `fieldnotes login`")
        .await;
    assert_has(&stderr(&out), "belong to sw-a");
    let out = device.ok(DOWN, &["status"]).await;
    assert_has(&stdout(&out), "signed in:       no");
    assert_has(&stdout(&out), "waiting to send: 1 change(s)");

    // Someone else cannot sign in with this store.
    device
        .fails(DOWN, &["login", "--username", "sw-b"], 1, "belongs to sw-a")
        .await;

    // Offline, with the username taken from the store.
    let out = device.ok(DOWN, &["login"]).await;
    assert_has(&stdout(&out), "signed in as sw-a");
    assert_has(&stdout(&out), "(offline");
    assert_has(&stdout(&out), "1 change(s) waiting");
    assert_eq!(device.listed(DOWN).await[0].0, id);

    // Sync needs the server to sign this device in again.
    device.fails(&url, &["sync"], 77, "sign in again").await;
    device.login(&url, "sw-a").await;
    let out = device.ok(&url, &["sync"]).await;
    assert_has(&stdout(&out), "sent 1 change(s), 1 confirmed");
    server.stop().await.unwrap();
}

/// After the server's database is restored from a backup that lacks acknowledged work,
/// `fieldnotes sync` sends it again and says so once, in plain words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_says_once_that_a_restored_server_was_put_right() {
    let (db, server, url) = standard_server(1).await;
    let device = Device::signed_in(&url, "sw-a").await;
    device.new_note(&url, "child-00", "Before the backup").await;
    device.ok(&url, &["sync"]).await;
    let backup = db.backup().await.unwrap();
    device.new_note(&url, "child-00", "After the backup").await;
    let out = device.ok(&url, &["sync"]).await;
    assert_lacks(&stdout(&out), "lost");
    server.stop().await.unwrap();

    let server = TestServer::start(&backup.url).await.unwrap();
    let out = device.ok(&server.url(), &["sync"]).await;
    let text = stdout(&out);
    assert!(
        text.contains(
            "The server had lost some recent work: it was restored from a backup, or switched to \
             a copy that missed the last changes. This device has sent its 1 change(s) the \
             server was missing again"
        ) && text.contains("there is nothing you need to do"),
        "{text}"
    );
    let out = device.ok(&server.url(), &["sync"]).await;
    assert!(
        !stdout(&out).contains("lost"),
        "told once: {}",
        stdout(&out)
    );
    server.stop().await.unwrap();
}
