//! The administrators' and managers' commands of the `fieldnotes` binary, against the real
//! server: setting up teams, people and children, allocation, access outside allocation,
//! revoking a device, and signing in through the identity provider.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    DOWN, Device, NEW_PASSWORD, assert_has, assert_lacks, standard_server, stderr, stdout,
};
use fieldnotes_tests::{Backend, TestDb, TestServer};

/// An admin adds a team, people and a child; the manager records a note and allocates the
/// child; the worker's sync brings the note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sets_up_a_team_and_the_worker_gets_the_allocated_child() {
    let (_db, server, url) = standard_server(0).await;
    let (admin, manager, worker) = (
        Device::new(),
        Device::new(),
        Device::with_password(NEW_PASSWORD),
    );
    admin.login(&url, "admin").await;
    let out = admin
        .ok(
            &url,
            &["admin", "team", "add", "pod-2", "--name", "Pod two"],
        )
        .await;
    assert_has(&stdout(&out), "team pod-2: Pod two");
    let out = admin
        .run_env(
            &url,
            &[("FIELDNOTES_NEW_PASSWORD", NEW_PASSWORD)],
            &[
                "admin",
                "user",
                "add",
                "sw-new",
                "--name",
                "Robin New",
                "--role",
                "social_worker",
                "--team",
                "pod-2",
            ],
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_has(&stdout(&out), "Robin New");
    admin
        .ok(&url, &["admin", "user", "set", "mgr", "--team", "pod-2"])
        .await;
    let out = admin
        .ok(
            &url,
            &[
                "child",
                "add",
                "child-new",
                "--name",
                "Jo",
                "--team",
                "pod-2",
            ],
        )
        .await;
    assert_has(&stdout(&out), "added child child-new");
    let out = admin
        .ok(&url, &["admin", "user", "list", "--team", "pod-2"])
        .await;
    let text = stdout(&out);
    assert!(text.contains("sw-new") && text.contains("mgr"), "{text}");
    assert!(!text.contains("sw-a"), "{text}");
    let out = admin.ok(&url, &["admin", "team", "list", "--json"]).await;
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));

    // The manager records about the child, then allocates it.
    manager.login(&url, "mgr").await;
    let note = manager
        .new_note(&url, "child-new", "Introductory visit")
        .await;
    manager.ok(&url, &["sync"]).await;
    let out = manager
        .ok(&url, &["child", "allocate", "child-new", "--to", "sw-new"])
        .await;
    assert_has(&stdout(&out), "child-new is allocated to sw-new");
    let out = manager.ok(&url, &["child", "history", "child-new"]).await;
    assert_has(&stdout(&out), "has had 1 different social worker(s)");
    let out = manager.ok(&url, &["child", "list"]).await;
    assert_has(&stdout(&out), "sw-new");

    worker.login(&url, "sw-new").await;
    worker.ok(&url, &["sync"]).await;
    assert_eq!(
        worker.listed(&url).await,
        vec![(note, Some("child-new".to_owned()))]
    );

    // The audit log has it all; the device list has the three devices.
    let out = admin
        .ok(&url, &["audit", "--child", "child-new", "--json"])
        .await;
    let actions: Vec<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
        .collect();
    assert!(
        actions.iter().any(|a| a.contains("allocate")),
        "{actions:?}"
    );
    let out = admin.ok(&url, &["admin", "device", "list"]).await;
    assert_eq!(stdout(&out).lines().count(), 4, "{}", stdout(&out));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_may_list_people() {
    let (_db, server, url) = standard_server(0).await;
    let device = Device::signed_in(&url, "sw-a").await;
    let out = device
        .fails(
            &url,
            &["admin", "user", "list"],
            1,
            "only an admin can do this",
        )
        .await;
    assert_lacks(&stderr(&out), "Everything recorded");
    server.stop().await.unwrap();
}

/// Opening a child outside allocation needs a real reason; with one, sync fetches the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_outside_allocation_needs_a_reason() {
    let (_db, server, url) = standard_server(1).await;
    let (holder, duty) = (Device::signed_in(&url, "sw-a").await, Device::new());
    let note = holder.new_note(&url, "child-00", "Visit").await;
    holder.ok(&url, &["sync"]).await;

    duty.login(&url, "sw-b").await;
    duty.fails(
        &url,
        &["child", "access", "child-00", "--reason", "because"],
        1,
        "at least 10 characters",
    )
    .await;
    let out = duty
        .ok(
            &url,
            &[
                "child",
                "access",
                "child-00",
                "--reason",
                "duty: school called, case holder on leave",
                "--minutes",
                "30",
            ],
        )
        .await;
    assert_has(&stdout(&out), "run `fieldnotes sync` to fetch the records");
    duty.ok(&url, &["sync"]).await;
    assert_eq!(
        duty.listed(&url).await,
        vec![(note, Some("child-00".to_owned()))]
    );
    let out = duty.ok(&url, &["access", "list", "--active"]).await;
    assert_has(&stdout(&out), "case holder on leave");
    server.stop().await.unwrap();
}

/// A device the admin revokes removes its records when it next syncs, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_wiped_and_says_so() {
    let (_db, server, url) = standard_server(1).await;
    let (admin, lost) = (Device::new(), Device::signed_in(&url, "sw-a").await);
    lost.new_note(&url, "child-00", "t").await;
    let out = lost.ok(&url, &["status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let device_id = status["device_id"].as_str().unwrap().to_owned();

    admin.login(&url, "admin").await;
    let out = admin
        .ok(&url, &["admin", "device", "revoke", &device_id])
        .await;
    assert_has(&stdout(&out), "revoked device");

    lost.fails(&url, &["sync"], 1, "revoked by an administrator")
        .await;
    assert!(!lost.path().join("fieldnotes.db").exists());
    server.stop().await.unwrap();
}

/// A person the admin set up for the identity provider signs in with its token; later commands
/// need a password on this device, which the admin can give them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_an_identity_provider_token() {
    use fieldnotes_tests::server::{IDP_AUDIENCE, IDP_ISSUER, IDP_KEY_ID, IDP_PRIVATE_KEY};
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let server = TestServer::start_with_idp(&db.url).await.unwrap();
    server.org().standard(1).await.unwrap();
    let url = server.url();
    let (admin, jo) = (Device::new(), Device::with_password(NEW_PASSWORD));
    admin.login(&url, "admin").await;
    let out = admin
        .ok(
            &url,
            &[
                "admin",
                "user",
                "add",
                "jo",
                "--name",
                "Jo Bloggs",
                "--role",
                "social_worker",
                "--team",
                "pod-1",
                "--external-subject",
                "idp|jo",
            ],
        )
        .await;
    assert_has(&stdout(&out), "identity provider");

    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": "idp|jo", "iat": now, "exp": now + 300,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(IDP_KEY_ID.to_owned());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(IDP_PRIVATE_KEY.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let file = jo.path().join("token.jwt");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let empty = jo.path().join("empty.jwt");
    std::fs::write(&empty, "\n").unwrap();

    jo.fails(
        &url,
        &["login", "--id-token-file", empty.to_str().unwrap()],
        1,
        "is empty",
    )
    .await;
    let out = jo
        .ok(&url, &["login", "--id-token-file", file.to_str().unwrap()])
        .await;
    assert_has(
        &stdout(&out),
        "signed in as jo (Jo Bloggs, social_worker, team pod-1) (online)",
    );
    // No password key on this device yet: a new process cannot unlock.
    jo.fails(&url, &["list"], 77, "sign in again").await;

    let out = admin
        .run_env(
            &url,
            &[("FIELDNOTES_NEW_PASSWORD", NEW_PASSWORD)],
            &["admin", "user", "set", "jo", "--reset-password"],
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_has(&stdout(&out), "password, identity provider");
    jo.login(&url, "jo").await;
    jo.ok(&url, &["list"]).await;
    server.stop().await.unwrap();
}

/// A team that allows four points: the worker's device learns it when signing in, keeps a plan
/// written with no signal to it, and learns a lower limit at its next sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_keeps_to_the_limit_the_team_set() {
    let (_db, server, url) = standard_server(1).await;
    let admin = Device::signed_in(&url, "admin").await;
    let set = |n: &'static str| ["admin", "team", "set", "pod-1", "--plan-points", n];
    admin.ok(&url, &set("4")).await;
    let worker = Device::signed_in(&url, "sw-a").await;
    let four = [
        "plan", "new", "--child", "child-00", "--point", "1", "--point", "2", "--point", "3",
        "--point", "4",
    ];
    let plan = worker.record(DOWN, &four).await;
    let mut five = four.to_vec();
    five.extend(["--point", "5"]);
    worker
        .fails(DOWN, &five, 1, "at most 4 points, and this one has 5")
        .await;

    admin.ok(&url, &set("3")).await;
    worker.ok(&url, &["sync"]).await;
    worker
        .fails(
            DOWN,
            &[
                "plan", "edit", &plan, "--point", "a", "--point", "b", "--point", "c", "--point",
                "d",
            ],
            1,
            "at most 3 points, and this one has 4",
        )
        .await;
    server.stop().await.unwrap();
}
