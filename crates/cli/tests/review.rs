//! A record's life and the review queue through the `fieldnotes` binary, against the real
//! server: completion, sign-off, the lock and amendments, history and word diffs, a conflict
//! settled by choosing a side, and the manager-only decisions refused to a worker.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    Device, assert_has, assert_lacks, plan_args, standard_server, stderr, stdout,
    worker_and_manager,
};
use serde_json::Value;

/// The open review items about `doc`, as `review list --json` gives them.
async fn items(device: &Device, url: &str, doc: &str) -> Vec<Value> {
    let out = device.ok(url, &["review", "list", "--json"]).await;
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|i| i["doc_id"] == doc)
        .collect()
}

async fn shown(device: &Device, url: &str, doc: &str) -> Value {
    let out = device.ok(url, &["show", doc, "--json"]).await;
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The worker completes a note; the manager signs it off; the worker's edit is refused with
/// the way to amend; the amendment reaches the manager's queue and is accepted; history and
/// diff show who changed what.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_off_amend_review_history_and_diff() {
    let (_db, server, url) = standard_server(1).await;
    let (worker, manager) = worker_and_manager(&url).await;

    let id = worker.new_note(&url, "child-00", "Home visit").await;
    worker.ok(&url, &["note", "edit", &id, "--complete"]).await;
    worker.ok(&url, &["sync"]).await;
    let out = worker.ok(&url, &["show", &id]).await;
    assert_has(&stdout(&out), "status: completed");

    manager.ok(&url, &["sync"]).await;
    // The wrong command for the kind says which one to use.
    manager
        .fails(
            &url,
            &["plan", "sign-off", &id],
            1,
            "use `fieldnotes note sign-off",
        )
        .await;
    let out = manager.ok(&url, &["note", "sign-off", &id]).await;
    assert_has(&stderr(&out), "run `fieldnotes sync` to send it");
    assert_lacks(&stderr(&out), "only managers");
    let out = manager.ok(&url, &["sync"]).await;
    assert_lacks(&stdout(&out), "refused");

    worker.ok(&url, &["sync"]).await;
    let out = worker.ok(&url, &["show", &id]).await;
    assert_has(&stdout(&out), "status: signed off by mgr");
    assert_lacks(&stdout(&out), "signed_off_by");

    // Locked: an edit is refused and says how to amend.
    let out = worker
        .fails(
            &url,
            &["note", "edit", &id, "--body", "Changed my mind."],
            1,
            &format!("fieldnotes note amend {id} --reason"),
        )
        .await;
    assert_has(&stderr(&out), "locked");

    let out = worker
        .ok(
            &url,
            &[
                "note",
                "amend",
                &id,
                "--reason",
                "Sam told me more on the way out",
                "--body",
                "We talked about football and school.",
            ],
        )
        .await;
    assert_has(&stderr(&out), "amended");
    let out = worker.ok(&url, &["sync"]).await;
    assert_lacks(&stdout(&out), "refused");

    // The manager's queue has the amendment, with its reason.
    let out = manager.ok(&url, &["review", "list"]).await;
    let text = stdout(&out);
    assert!(text.starts_with("ID"), "{text}");
    assert!(
        text.contains("amendment") && text.contains("child-00"),
        "{text}"
    );
    let queued = items(&manager, &url, &id).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["item_kind"], "amendment");
    let item = queued[0]["item_id"].to_string();
    let out = manager
        .ok(&url, &["review", "list", "--item", "conflict"])
        .await;
    assert_lacks(&stdout(&out), "amendment");
    let out = manager.ok(&url, &["review", "show", &item]).await;
    let text = stdout(&out);
    assert!(text.contains("side 1"), "{text}");
    assert!(text.contains("Sam told me more on the way out"), "{text}");
    assert!(text.contains("sw-a"), "{text}");

    manager
        .fails(
            &url,
            &["review", "resolve", &item, "--accept", "--reason", "ok"],
            2,
            "at least 3 characters",
        )
        .await;
    let out = manager
        .ok(
            &url,
            &["review", "resolve", &item, "--accept", "--reason", "fine"],
        )
        .await;
    assert_has(&stdout(&out), &format!("item {item}"));
    assert!(items(&manager, &url, &id).await.is_empty(), "cleared");
    let out = manager
        .ok(&url, &["review", "list", "--status", "all"])
        .await;
    assert_has(&stdout(&out), "STATUS");
    // Accepted amendments are recorded as resolved (issue 9).
    assert_has(&stdout(&out), "resolved");
    assert_lacks(&stdout(&out), "dismissed");

    // History: four versions, numbered, with the right people and the amendment's reason.
    let out = manager.ok(&url, &["history", &id]).await;
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{text}");
    for (row, (n, who)) in rows
        .iter()
        .zip([(1, "sw-a"), (2, "sw-a"), (3, "mgr"), (4, "sw-a")])
    {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[0], n.to_string(), "{text}");
        assert!(cells.contains(&who), "{row}");
    }
    assert!(rows[0].contains("(created)"), "{text}");
    assert!(rows[2].contains("status"), "{text}");
    assert!(rows[3].contains("body"), "{text}");
    assert!(
        rows[3].contains("Sam told me more on the way out"),
        "{text}"
    );
    let out = worker.ok(&url, &["history", &id, "--json"]).await;
    let who: Vec<(u64, String)> = stdout(&out)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["version"].as_u64().unwrap(),
                v["user_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        who,
        vec![
            (1, "sw-a".to_owned()),
            (2, "sw-a".to_owned()),
            (3, "mgr".to_owned()),
            (4, "sw-a".to_owned()),
        ]
    );

    // Diff: by default the previous version against the latest.
    let out = manager.ok(&url, &["diff", &id]).await;
    let text = stdout(&out);
    assert!(text.contains("body: version 3 (mgr"), "{text}");
    assert!(text.contains("version 4 (sw-a"), "{text}");
    assert!(
        text.contains("We talked about {+football and+} school."),
        "{text}"
    );
    let out = manager
        .ok(&url, &["diff", &id, "--from", "4", "--to", "1"])
        .await;
    assert_has(&stdout(&out), "We talked about [-football and-] school.");
    let out = manager
        .ok(
            &url,
            &["diff", &id, "--from", "1", "--to", "2", "--field", "status"],
        )
        .await;
    assert_has(&stdout(&out), "[-draft-]{+completed+}");
    manager
        .fails(&url, &["diff", &id, "--from", "9"], 2, "from 1 to 4")
        .await;
    let out = manager.ok(&url, &["diff", &id, "--json"]).await;
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(diff["from"]["version"], 3);
    assert_eq!(diff["spans"][1]["op"], "added");
    server.stop().await.unwrap();
}

/// Two devices set different titles: one conflict with two sides; the manager chooses side 1
/// and both devices then show it. A worker cannot open the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_settled_by_choosing_a_side() {
    let (_db, server, url) = standard_server(1).await;
    let (worker, manager) = worker_and_manager(&url).await;
    let id = worker.new_note(&url, "child-00", "Visit").await;
    worker.ok(&url, &["sync"]).await;
    manager.ok(&url, &["sync"]).await;
    worker
        .ok(&url, &["note", "edit", &id, "--title", "Visit at home"])
        .await;
    manager
        .ok(&url, &["note", "edit", &id, "--title", "Visit at nan's"])
        .await;
    worker.ok(&url, &["sync"]).await;
    manager.ok(&url, &["sync"]).await;
    worker.ok(&url, &["sync"]).await;
    let out = worker.ok(&url, &["show", &id]).await;
    assert_has(&stdout(&out), "conflict in title");

    worker
        .fails(
            &url,
            &["review", "list"],
            1,
            "the review queue is for managers and admins",
        )
        .await;

    let out = manager.ok(&url, &["review", "list"]).await;
    let text = stdout(&out);
    assert!(
        text.contains("conflict") && text.contains("title"),
        "{text}"
    );
    let queued = items(&manager, &url, &id).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let item = queued[0]["item_id"].to_string();

    let out = manager.ok(&url, &["review", "show", &item]).await;
    let text = stdout(&out);
    assert!(
        text.contains("side 1") && text.contains("side 2") && !text.contains("side 3"),
        "{text}"
    );
    assert!(
        text.contains("Visit at home") && text.contains("Visit at nan's"),
        "{text}"
    );
    assert!(text.contains("sw-a") && text.contains("mgr"), "{text}");
    assert!(text.contains("shown now"), "{text}");
    let out = manager.ok(&url, &["review", "show", &item, "--json"]).await;
    let detail: Value = serde_json::from_slice(&out.stdout).unwrap();
    let chosen = detail["sides"][0]["value"].as_str().unwrap().to_owned();

    manager
        .fails(
            &url,
            &[
                "review", "resolve", &item, "--choose", "3", "--reason", "x y z",
            ],
            2,
            "has 2 side(s)",
        )
        .await;
    let out = manager
        .ok(
            &url,
            &[
                "review",
                "resolve",
                &item,
                "--choose",
                "1",
                "--reason",
                "checked the diary",
            ],
        )
        .await;
    assert_has(&stdout(&out), "resolved");
    assert_lacks(&stdout(&out), "dismissed");
    assert_has(&stdout(&out), &chosen);

    worker.ok(&url, &["sync"]).await;
    manager.ok(&url, &["sync"]).await;
    for device in [&worker, &manager] {
        let record = shown(device, &url, &id).await;
        assert_eq!(record["title"], chosen.as_str());
        assert_eq!(record["conflicts"], serde_json::json!([]));
    }
    assert!(items(&manager, &url, &id).await.is_empty());
    let out = manager
        .ok(&url, &["review", "list", "--status", "resolved", "--json"])
        .await;
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    server.stop().await.unwrap();
}

/// A worker's deletion is refused on the device before it is saved (the server would refuse
/// it); a manager's is kept and `show` says who deleted it and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_manager_deletes() {
    let (_db, server, url) = standard_server(1).await;
    let (worker, manager) = worker_and_manager(&url).await;
    let mine = worker.new_note(&url, "child-00", "Mine").await;
    worker.ok(&url, &["sync"]).await;

    worker
        .fails(
            &url,
            &["delete", &mine, "--reason", "no"],
            2,
            "at least 3 characters",
        )
        .await;
    // The device refuses it before saving anything, in the server's words.
    let out = worker
        .fails(
            &url,
            &["delete", &mine, "--reason", "filed on the wrong child"],
            1,
            "deleting a record is a manager's decision; sw-a is a social worker",
        )
        .await;
    assert_has(&stderr(&out), "Nothing was saved");
    let out = worker.ok(&url, &["status"]).await;
    assert_has(&stdout(&out), "waiting to send: 0 change(s)");

    let theirs = manager.new_note(&url, "child-00", "Wrong child").await;
    manager.ok(&url, &["sync"]).await;
    manager
        .ok(
            &url,
            &["delete", &theirs, "--reason", "filed on the wrong child"],
        )
        .await;
    let out = manager.ok(&url, &["sync"]).await;
    assert_lacks(&stdout(&out), "refused");
    let out = manager.ok(&url, &["show", &theirs]).await;
    assert!(
        stdout(&out).starts_with("deleted by mgr: filed on the wrong child"),
        "{}",
        stdout(&out)
    );
    assert_has(&stdout(&out), "status: draft");
    let record = shown(&manager, &url, &theirs).await;
    assert_eq!(record["deleted"]["by"], "mgr");
    manager
        .fails(
            &url,
            &["note", "edit", &theirs, "--title", "x"],
            1,
            "was deleted by mgr",
        )
        .await;

    // History is the server's: a record only on this device says to sync it first.
    let local = worker.new_note(&url, "child-00", "Not sent").await;
    worker
        .fails(&url, &["history", &local], 1, "run `fieldnotes sync` first")
        .await;
    worker
        .fails(&url, &["review", "show", "999"], 1, "managers and admins")
        .await;
    server.stop().await.unwrap();
}

/// Plans are signed off and amended like notes; "about me" profiles are amended after
/// completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_and_profiles_are_amended_after_completion() {
    let (_db, server, url) = standard_server(1).await;
    let (worker, manager) = worker_and_manager(&url).await;
    let mut args = plan_args("child-00", "Meet weekly");
    args.extend(["--planned-end", "2027-06-30"]);
    let plan = worker.record(&url, &args).await;
    worker
        .ok(&url, &["plan", "edit", &plan, "--complete"])
        .await;
    worker.ok(&url, &["sync"]).await;
    manager.ok(&url, &["sync"]).await;
    manager
        .fails(
            &url,
            &["note", "sign-off", &plan],
            1,
            "use `fieldnotes plan sign-off",
        )
        .await;
    manager.ok(&url, &["plan", "sign-off", &plan]).await;
    manager.ok(&url, &["sync"]).await;
    worker.ok(&url, &["sync"]).await;
    let out = worker.ok(&url, &["show", &plan]).await;
    assert_has(&stdout(&out), "status: signed off by mgr");
    worker
        .fails(
            &url,
            &["plan", "edit", &plan, "--point", "Meet on Fridays"],
            1,
            &format!("fieldnotes plan amend {plan} --reason"),
        )
        .await;
    worker
        .ok(
            &url,
            &[
                "plan",
                "amend",
                &plan,
                "--reason",
                "moved to Fridays",
                "--point",
                "Meet on Fridays",
            ],
        )
        .await;
    assert_eq!(
        shown(&worker, &url, &plan).await["points"],
        serde_json::json!(["Meet on Fridays"])
    );
    // An amendment is for locked records only.
    let draft = worker.new_note(&url, "child-00", "Draft").await;
    worker
        .fails(
            &url,
            &[
                "note", "amend", &draft, "--reason", "why not", "--title", "x",
            ],
            1,
            "edit it directly",
        )
        .await;

    let profile = worker
        .record(
            &url,
            &["about-me", "new", "--child", "child-00", "--fun", "drawing"],
        )
        .await;
    worker
        .ok(&url, &["about-me", "edit", &profile, "--complete"])
        .await;
    worker
        .fails(
            &url,
            &["about-me", "edit", &profile, "--fun", "painting"],
            1,
            "fieldnotes about-me amend",
        )
        .await;
    worker
        .ok(
            &url,
            &[
                "about-me",
                "amend",
                &profile,
                "--reason",
                "Jo says painting now",
                "--fun",
                "painting",
            ],
        )
        .await;
    assert_eq!(shown(&worker, &url, &profile).await["fun"], "painting");
    let out = worker.ok(&url, &["sync"]).await;
    assert_lacks(&stdout(&out), "refused");
    let queued = items(&manager, &url, &plan).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["item_kind"], "amendment");
    server.stop().await.unwrap();
}
