//! People, structure and access: the same behaviour on both backends.

use fieldnotes_store::directory::{
    Actor, AuditEntry, AuditFilter, GrantFilter, NewChild, NewDevice, NewReferral, RefreshOutcome,
    RefreshRotation, Team, TeamPatch, UserInfo, UserRecord, UserUpdate,
};
use fieldnotes_store::{Store, StoreError};
use fieldnotes_vocab::{Role, Timestamp};

use super::Db;

fn by(user: &str, at_ms: i64) -> Actor {
    Actor {
        user_id: Some(user.to_owned()),
        device_id: Some("admin-laptop".to_owned()),
        at_ms,
    }
}

/// The audit entries `filter` selects, up to 100.
async fn audit_of(s: &dyn Store, filter: AuditFilter) -> Vec<AuditEntry> {
    let filter = AuditFilter {
        limit: 100,
        ..filter
    };
    s.list_audit(&filter).await.unwrap()
}

fn new_referral(
    child: &str,
    youth_worker: &str,
    starts_on: &str,
    planned_end: &str,
) -> NewReferral {
    NewReferral {
        child_id: child.into(),
        youth_worker_id: youth_worker.into(),
        starts_on: starts_on.into(),
        planned_end: planned_end.into(),
    }
}

fn person(id: &str, role: Role, team: Option<&str>) -> UserRecord {
    UserRecord {
        info: UserInfo {
            user_id: id.to_owned(),
            username: id.to_owned(),
            display_name: format!("{id} (display)"),
            role,
            team_id: team.map(str::to_owned),
        },
        password_hash: Some("$argon2id$not-a-real-hash".to_owned()),
        external_subject: None,
        active: true,
        created_at_ms: 1,
    }
}

/// A team with a manager, two social workers, a youth worker and two children.
async fn seed(db: &Db) {
    let s = &*db.store;
    s.create_team(
        &Team {
            team_id: "pod-1".into(),
            name: "Pod one".into(),
            pod_read_access: false,
            plan_point_limit: 3,
        },
        &by("root", 1),
    )
    .await
    .unwrap();
    for (id, role) in [
        ("mgr", Role::Manager),
        ("sw-a", Role::SocialWorker),
        ("sw-b", Role::SocialWorker),
        ("yw", Role::YouthWorker),
    ] {
        s.create_user(&person(id, role, Some("pod-1")), &by("root", 2))
            .await
            .unwrap();
    }
    for child in ["c-1", "c-2"] {
        s.create_child(
            &NewChild {
                child_id: child.into(),
                display_name: format!("Child {child}"),
                team_id: "pod-1".into(),
            },
            &by("mgr", 3),
        )
        .await
        .unwrap();
    }
}

pub async fn people_children_and_allocation_history(db: Db) {
    seed(&db).await;
    let s = &*db.store;
    let dup = s
        .create_user(&person("sw-a", Role::SocialWorker, None), &by("root", 4))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let no_team = s
        .create_user(
            &person("sw-z", Role::SocialWorker, Some("nope")),
            &by("root", 4),
        )
        .await;
    assert!(
        matches!(no_team, Err(StoreError::Conflict(ref m)) if m.contains("does not exist")),
        "{no_team:?}"
    );

    s.allocate("c-1", "sw-a", &by("mgr", 10)).await.unwrap();
    let again = s.allocate("c-1", "sw-a", &by("mgr", 11)).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    s.allocate("c-1", "sw-b", &by("mgr", 20)).await.unwrap();
    s.allocate("c-1", "sw-a", &by("mgr", 30)).await.unwrap();

    let child = s.get_child("c-1").await.unwrap().unwrap();
    assert_eq!(child.case_holder.as_deref(), Some("sw-a"));
    let history = s.allocation_history("c-1").await.unwrap();
    let workers: Vec<&str> = history.iter().map(|a| a.worker_id.as_str()).collect();
    assert_eq!(workers, vec!["sw-a", "sw-b", "sw-a"]);
    assert_eq!(history[0].ended_at, Some(Timestamp(20)));
    assert_eq!(history[0].ended_by.as_deref(), Some("mgr"));
    assert_eq!(history[2].ended_at, None);

    let audit = audit_of(
        s,
        AuditFilter {
            child_id: Some("c-1".into()),
            ..AuditFilter::default()
        },
    )
    .await;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["create_child", "allocate", "allocate", "allocate"],
        "the refused allocation left no trace; the others did"
    );
    assert!(audit.iter().all(|a| a.user_id.as_deref() == Some("mgr")));

    let ended = s.end_allocation("c-1", &by("mgr", 40)).await.unwrap();
    assert_eq!(ended.worker_id, "sw-a");
    assert_eq!(s.get_child("c-1").await.unwrap().unwrap().case_holder, None);

    let updated = s
        .update_user(
            "sw-b",
            &UserUpdate {
                team_id: Some(None),
                active: Some(false),
                ..UserUpdate::default()
            },
            &by("root", 50),
        )
        .await
        .unwrap();
    assert_eq!((updated.info.team_id, updated.active), (None, false));
    assert_eq!(s.list_users(Some("pod-1")).await.unwrap().len(), 3);
}

pub async fn scope_facts_follow_allocations_referrals_and_grants(db: Db) {
    seed(&db).await;
    let s = &*db.store;
    s.allocate("c-1", "sw-a", &by("mgr", 10)).await.unwrap();
    let referral = s
        .create_referral(
            &new_referral("c-1", "yw", "2026-01-01", "2026-03-01"),
            &by("sw-a", 11),
        )
        .await
        .unwrap();
    // A referral that has not started yet gives nothing.
    s.create_referral(
        &new_referral("c-2", "yw", "2027-06-01", "2027-07-01"),
        &by("sw-a", 11),
    )
    .await
    .unwrap();
    s.create_grant("sw-b", "c-2", "duty: school called", 1_000, &by("sw-b", 12))
        .await
        .unwrap();

    let a = facts(s, "sw-a", 100, "2026-02-01", 0).await;
    assert_eq!(a.allocated, vec!["c-1".to_owned()]);
    assert!(
        a.team_children.is_empty(),
        "not read without pod-wide reading"
    );
    assert_eq!(a.team_members.len(), 4);
    let mgr = facts(s, "mgr", 100, "2026-02-01", 0).await;
    assert_eq!(mgr.team_children, vec!["c-1".to_owned(), "c-2".to_owned()]);
    let pod_wide = TeamPatch {
        pod_read_access: Some(true),
        ..TeamPatch::default()
    };
    s.update_team("pod-1", &pod_wide, &by("root", 101))
        .await
        .unwrap();
    let pod = facts(s, "sw-a", 100, "2026-02-01", 0).await;
    assert_eq!(pod.team_children.len(), 2, "read once the team opts in");
    s.create_user(&person("root", Role::Admin, None), &by("root", 102))
        .await
        .unwrap();
    let root = facts(s, "root", 100, "2026-02-01", 0).await;
    assert!(
        root.allocated.is_empty() && root.team_members.is_empty(),
        "an admin's scope is everything"
    );
    let yw = facts(s, "yw", 100, "2026-02-01", 0).await;
    assert_eq!(yw.referred, vec!["c-1".to_owned()]);
    let b = facts(s, "sw-b", 100, "2026-02-01", 0).await;
    assert_eq!(b.granted, vec!["c-2".to_owned()]);
    let b_later = facts(s, "sw-b", 2_000, "2026-02-01", 0).await;
    assert!(b_later.granted.is_empty(), "the grant ran out");

    // Ending gives recent-ness (within the grace window) instead of the live fact.
    s.end_referral(referral.referral_id, &by("sw-a", 500))
        .await
        .unwrap();
    s.allocate("c-1", "sw-b", &by("mgr", 600)).await.unwrap();
    let a = facts(s, "sw-a", 700, "2026-02-01", 550).await;
    assert!(a.allocated.is_empty());
    assert_eq!(a.recently_ended, vec!["c-1".to_owned()]);
    let a_much_later = facts(s, "sw-a", 700, "2026-02-01", 650).await;
    assert!(a_much_later.recently_ended.is_empty());
    let yw = facts(s, "yw", 700, "2026-02-01", 0).await;
    assert!(yw.referred.is_empty());
    assert_eq!(yw.recently_ended, vec!["c-1".to_owned()]);

    let grants = s
        .list_grants(&GrantFilter {
            team_id: Some("pod-1".into()),
            ..GrantFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].reason, "duty: school called");
}

/// A person's scope facts.
async fn facts(
    s: &dyn fieldnotes_store::Store,
    user: &str,
    at_ms: i64,
    today: &str,
    grace_from_ms: i64,
) -> fieldnotes_store::directory::ScopeFacts {
    let user = s.get_user(user).await.unwrap().unwrap();
    s.scope_facts(&user, at_ms, today, grace_from_ms)
        .await
        .unwrap()
}

fn device(id: &str, user: &str, actor: &str) -> NewDevice {
    NewDevice {
        device_id: id.to_owned(),
        user_id: user.to_owned(),
        name: format!("{user}'s laptop"),
        actor_id: actor.to_owned(),
        store_key: vec![7; 32],
    }
}

/// Seed the directory and sign sw-a in on device d-1 (actor aa01, registered at 5): session
/// sess-1, whose first refresh token h1 is issued at 10 and expires at `expires_at_ms`.
async fn signed_in_on_d1(db: &Db, expires_at_ms: i64) {
    seed(db).await;
    let s = &*db.store;
    s.register_device(&device("d-1", "sw-a", "aa01"), 5)
        .await
        .unwrap();
    s.start_session("d-1", "sess-1", "h1", 10, expires_at_ms)
        .await
        .unwrap();
}

pub async fn refresh_tokens_work_once_and_reuse_ends_the_session(db: Db) {
    signed_in_on_d1(&db, 1_000).await;
    let s = &*db.store;

    let first = s.rotate_refresh("h1", "h2", 20, 2_000).await.unwrap();
    assert!(
        matches!(first, RefreshOutcome::Rotated { ref device } if device.session_id.as_deref() == Some("sess-1"))
    );
    let next = s.rotate_refresh("h2", "h3", 30, 3_000).await.unwrap();
    assert!(matches!(next, RefreshOutcome::Rotated { .. }));

    // h1 comes back: someone kept a copy. The session ends; even the newest token stops.
    let reused = s.rotate_refresh("h1", "hx", 40, 4_000).await.unwrap();
    assert_eq!(
        reused,
        RefreshOutcome::Reused {
            device_id: "d-1".into()
        }
    );
    let after = s.rotate_refresh("h3", "hy", 50, 5_000).await.unwrap();
    assert_eq!(after, RefreshOutcome::SessionEnded);
    assert_eq!(s.get_device("d-1").await.unwrap().unwrap().session_id, None);
    assert_eq!(
        s.rotate_refresh("never-issued", "hz", 60, 6_000)
            .await
            .unwrap(),
        RefreshOutcome::Unknown
    );

    // A new sign-in starts a new session; an expired token is refused.
    s.start_session("d-1", "sess-2", "k1", 100, 150)
        .await
        .unwrap();
    assert_eq!(
        s.rotate_refresh("k1", "k2", 200, 9_000).await.unwrap(),
        RefreshOutcome::Expired
    );
    let of_sw_a = AuditFilter {
        user_id: Some("sw-a".into()),
        ..AuditFilter::default()
    };
    let audit = audit_of(s, of_sw_a).await;
    assert!(audit.iter().any(|a| a.action == "refresh_token_reused"));
}

/// Trade `token` for `next` from `device` at `at_ms`, with a 60 ms grace window for retries.
async fn rotate_retryable(
    s: &dyn Store,
    token: &str,
    next: &str,
    device: Option<&str>,
    at_ms: i64,
) -> RefreshOutcome {
    let rotation = RefreshRotation {
        token_hash: token,
        new_hash: next,
        device_id: device,
        at_ms,
        new_expires_at_ms: at_ms + 10_000,
        grace_ms: 60,
    };
    s.rotate_refresh_retryable(&rotation).await.unwrap()
}

/// A used token presented again by its own device within the grace window gets its unused
/// successor back; at the window's end, from another device, or once the successor is used,
/// it ends the session.
pub async fn a_refresh_retried_within_the_grace_window_gets_its_successor(db: Db) {
    signed_in_on_d1(&db, 100_000).await;
    let s = &*db.store;
    let d1 = Some("d-1");
    assert!(matches!(
        rotate_retryable(s, "h1", "h2", d1, 100).await,
        RefreshOutcome::Rotated { .. }
    ));
    // The answer was lost; the device asks again 59 ms later.
    assert!(matches!(
        rotate_retryable(s, "h1", "h2", d1, 159).await,
        RefreshOutcome::Replayed {
            expires_at_ms: 10_100,
            ..
        }
    ));
    // The successor works, once; then the old token is no longer a retry.
    assert!(matches!(
        rotate_retryable(s, "h2", "h3", d1, 160).await,
        RefreshOutcome::Rotated { .. }
    ));
    assert!(matches!(
        rotate_retryable(s, "h1", "h2", d1, 161).await,
        RefreshOutcome::Reused { .. }
    ));

    // At the window's end.
    s.start_session("d-1", "sess-2", "k1", 200, 100_000)
        .await
        .unwrap();
    rotate_retryable(s, "k1", "k2", d1, 300).await;
    assert!(matches!(
        rotate_retryable(s, "k1", "k2", d1, 360).await,
        RefreshOutcome::Reused { .. }
    ));
    assert_eq!(s.get_device("d-1").await.unwrap().unwrap().session_id, None);

    // From another device, within the window.
    s.start_session("d-1", "sess-3", "m1", 400, 100_000)
        .await
        .unwrap();
    rotate_retryable(s, "m1", "m2", d1, 500).await;
    assert!(matches!(
        rotate_retryable(s, "m1", "m2", Some("d-2"), 501).await,
        RefreshOutcome::Reused { .. }
    ));
    assert_eq!(
        rotate_retryable(s, "m2", "m3", d1, 502).await,
        RefreshOutcome::SessionEnded
    );
}

/// Usernames are one account whatever their case: found so, and unique so.
pub async fn usernames_are_unique_and_found_without_case(db: Db) {
    seed(&db).await;
    let s = &*db.store;
    let found = s.get_user_by_username("SW-A").await.unwrap().unwrap();
    assert_eq!(found.info.user_id, "sw-a");
    let mut twin = person("sw-a-twin", Role::SocialWorker, Some("pod-1"));
    twin.info.username = "Sw-A".into();
    match s.create_user(&twin, &by("root", 3)).await {
        Err(StoreError::Conflict(message)) => assert!(message.contains("case"), "{message}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub async fn devices_keep_their_person_and_actor(db: Db) {
    seed(&db).await;
    let s = &*db.store;
    let first = s
        .register_device(&device("d-1", "sw-a", "aa01"), 5)
        .await
        .unwrap();
    let again = s
        .register_device(&device("d-1", "sw-a", "aa01"), 6)
        .await
        .unwrap();
    assert_eq!(
        first.registered_at_ms, again.registered_at_ms,
        "recognised, not re-made"
    );
    for (new, needle) in [
        (device("d-1", "sw-b", "aa01"), "another person"),
        (device("d-1", "sw-a", "bb02"), "one actor id"),
        (device("d-2", "sw-b", "aa01"), "already registered"),
    ] {
        match s.register_device(&new, 7).await {
            Err(StoreError::Conflict(message)) => assert!(message.contains(needle), "{message}"),
            other => panic!("expected a conflict naming {needle:?}, got {other:?}"),
        }
    }
    assert_eq!(s.list_devices(None).await.unwrap().len(), 1);
    assert_eq!(s.list_devices(Some("sw-b")).await.unwrap().len(), 0);
}

pub async fn revoked_devices_cannot_refresh(db: Db) {
    signed_in_on_d1(&db, 10_000).await;
    let s = &*db.store;
    let revoked = s.revoke_device("d-1", &by("root", 20)).await.unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(20));
    assert!(matches!(
        s.rotate_refresh("h1", "h2", 30, 20_000).await.unwrap(),
        RefreshOutcome::Revoked { .. }
    ));
    assert!(
        s.start_session("d-1", "sess-2", "h9", 40, 20_000)
            .await
            .is_err(),
        "a revoked device cannot start a session"
    );
    assert!(matches!(
        s.revoke_device("d-404", &by("root", 50)).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn the_signing_secret_is_made_once(db: Db) {
    let s = &*db.store;
    let first = s.server_secret("k", b"first").await.unwrap();
    let second = s.server_secret("k", b"second").await.unwrap();
    assert_eq!(
        (first.as_slice(), second.as_slice()),
        (&b"first"[..], &b"first"[..])
    );
}
