//! Sessions and accounts under ordinary misfortune and plain abuse, against the real server:
//! a refresh whose answer is lost, a refresh token reused elsewhere, sign-in floods, huge or
//! case-twisted usernames, blank passwords, a device filling the quarantine, the headers on
//! answers that carry secrets, token errors in plain words, and tokens from the future.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use fieldnotes_client::{Client, PasswordKdf, RetryPolicy};
use fieldnotes_model::NewRecord;
use fieldnotes_protocol::auth::{LOGIN_PATH, REFRESH_PATH, Tokens};
use fieldnotes_protocol::{PushOutcome, RejectCode};
use fieldnotes_server::Config;
use fieldnotes_store::directory::AuditFilter;
use fieldnotes_tests::check::{assert_refused, assert_refused_as};
use fieldnotes_tests::server::test_config;
use fieldnotes_tests::tokens::{claims, now, sign_hs256};
use fieldnotes_tests::wire::{RawAnswer, raw_push};
use fieldnotes_tests::{Backend, CountingProxy, PASSWORD, RawDevice, TestDb, TestServer, fixtures};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn note(child: &str, author: &str) -> NewRecord {
    fixtures::note(child, author, "Home visit", "Talked about school.")
}

/// A server with `edit` applied to the harness's configuration, and the standard organisation.
async fn server_with(
    backend: Backend,
    edit: impl FnOnce(&mut Config),
) -> anyhow::Result<(TestDb, TestServer)> {
    let db = TestDb::new(backend).await?;
    let mut config = test_config(&db.url);
    edit(&mut config);
    let server = TestServer::start_with_config(&config).await?;
    server.org().standard(2).await?;
    Ok((db, server))
}

fn login_body(username: &str, password: &str) -> serde_json::Value {
    json!({
        "username": username,
        "password": password,
        "device": {
            "device_id": uuid::Uuid::new_v4().to_string(),
            // A new actor each time, so only the credentials are under test.
            "actor_id": uuid::Uuid::new_v4().simple().to_string(),
            "name": "test laptop",
        },
    })
}

async fn login(server: &TestServer, username: &str, password: &str) -> anyhow::Result<RawAnswer> {
    let body = login_body(username, password);
    server.post_json(LOGIN_PATH, &body).await
}

async fn refresh(
    server: &TestServer,
    token: &str,
    device_id: Option<&str>,
) -> anyhow::Result<RawAnswer> {
    let mut body = json!({ "refresh_token": token });
    if let Some(device_id) = device_id {
        body["device_id"] = json!(device_id);
    }
    server.post_json(REFRESH_PATH, &body).await
}

async fn audit_actions(server: &TestServer) -> anyhow::Result<Vec<String>> {
    Ok(server
        .state
        .store
        .list_audit(&AuditFilter {
            limit: 10_000,
            ..AuditFilter::default()
        })
        .await?
        .into_iter()
        .map(|a| a.action)
        .collect())
}

// ----- refresh is safe to retry ----------------------------------------------------------------

/// The answer to a refresh is lost on the way back (the proxy drops it after the server has
/// rotated the token). The SDK sends the same token again, gets the same successor, and the
/// device goes on syncing: no sign-in needed, nothing recorded as a stolen token.
async fn a_lost_refresh_answer_does_not_end_the_session(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let config = test_config(&db.url);
    let mut policy = config.policy();
    // Shorter than the SDK's expiry margin: every sync starts with a refresh.
    policy.access_ttl = Duration::from_secs(1);
    let (options, limits) = (config.store_options(), config.limits());
    let server = TestServer::start_with_parts(&db.url, options, limits, policy).await?;
    server.org().standard(1).await?;
    let proxy = CountingProxy::start(server.addr).await?;
    let dir = tempfile::tempdir()?;
    let laptop = Client::builder(dir.path())
        .server_url(&proxy.url())
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        })
        .password_kdf(PasswordKdf::insecure_fast_for_tests())
        .open()
        .await?;
    laptop.sign_in("sw-a", PASSWORD, "laptop").await?;
    laptop.create(note("child-00", "sw-a")).await?;
    assert!(laptop.sync().await?.refreshed_token);

    // The next sync's refresh reaches the server, which rotates the token; its answer is lost.
    laptop.create(note("child-00", "sw-a")).await?;
    proxy.drop_next_answers(1);
    let report = laptop.sync().await?;
    assert_eq!(proxy.answers_to_drop(), 0, "an answer was dropped");
    assert!(report.refreshed_token);
    assert_eq!(
        laptop.pending_changes().await?,
        0,
        "the note reached the server"
    );

    // The device keeps working with the successor it was given the second time.
    laptop.create(note("child-00", "sw-a")).await?;
    laptop.sync().await?;
    assert_eq!(laptop.pending_changes().await?, 0);
    let actions = audit_actions(&server).await?;
    assert!(
        !actions.iter().any(|a| a == "refresh_token_reused"),
        "{actions:?}"
    );
    Ok(())
}

/// Over the wire: the same refresh token presented twice by its own device gets the very same
/// successor, which then works; presented by another device it ends the session.
async fn a_retried_refresh_gets_the_same_successor_and_a_copy_elsewhere_ends_it(
    backend: Backend,
) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |_| {}).await?;
    let device = server.device("sw-a").await?;
    let first = device.session.tokens.refresh_token.clone();
    let own = Some(device.device_id());

    let answered: Tokens = refresh(&server, &first, own).await?.json()?;
    let again: Tokens = refresh(&server, &first, own).await?.json()?;
    assert_eq!(
        answered.refresh_token, again.refresh_token,
        "a retry gets the same successor"
    );
    assert_ne!(answered.refresh_token, first);
    assert_eq!(server.me(&again.access_token).await?.status, StatusCode::OK);

    // The first token, from another device: a copy exists. The session ends.
    assert_refused(
        &refresh(&server, &first, Some("someone-elses-laptop")).await?,
        StatusCode::UNAUTHORIZED,
        "refresh_reused",
        "sign in again",
    );
    assert_refused(
        &server.me(&again.access_token).await?,
        StatusCode::UNAUTHORIZED,
        "session_ended",
        "sign in again",
    );
    assert_refused(
        &refresh(&server, &answered.refresh_token, own).await?,
        StatusCode::UNAUTHORIZED,
        "session_ended",
        "sign in again",
    );
    Ok(())
}

/// Outside the grace window (here none at all) a second use from the device itself still
/// ends the session, and so does a second use that names no device.
async fn reuse_outside_the_grace_window_still_ends_the_session(
    backend: Backend,
) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |c| c.refresh_grace_secs = 0).await?;
    let device = server.device("sw-a").await?;
    let first = device.session.tokens.refresh_token.clone();
    let own = Some(device.device_id());
    let next: Tokens = refresh(&server, &first, own).await?.json()?;
    assert_refused(
        &refresh(&server, &first, own).await?,
        StatusCode::UNAUTHORIZED,
        "refresh_reused",
        "already used",
    );
    assert_refused(
        &server.me(&next.access_token).await?,
        StatusCode::UNAUTHORIZED,
        "session_ended",
        "sign in again",
    );

    // With the default window, a second use that does not name its device gets no grace.
    let (_db2, server) = server_with(backend, |_| {}).await?;
    let device = server.device("sw-a").await?;
    let first = device.session.tokens.refresh_token.clone();
    let _: Tokens = refresh(&server, &first, Some(device.device_id()))
        .await?
        .json()?;
    assert_refused(
        &refresh(&server, &first, None).await?,
        StatusCode::UNAUTHORIZED,
        "refresh_reused",
        "already used",
    );
    Ok(())
}

// ----- sign-in throttling ----------------------------------------------------------------------

fn retry_after(answer_headers: &reqwest::header::HeaderMap) -> u64 {
    answer_headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a 429 carries Retry-After in seconds")
}

/// Wrong passwords for one username (in any case) run out of tries: the next try, even with
/// the right password, is answered 429 with Retry-After and a JSON error saying when; after
/// waiting that long the right password works.
async fn guessing_one_username_is_throttled(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |c| {
        c.signin_tries_per_username = 3;
        c.signin_window_secs = 3;
    })
    .await?;
    for username in ["sw-a", "SW-A", "Sw-A"] {
        assert_refused(
            &login(&server, username, "wrong password!").await?,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong",
        );
    }
    let http = reqwest::Client::new();
    let url = format!("{}{LOGIN_PATH}", server.url());
    let body = login_body("sw-a", PASSWORD);
    let throttled = http.post(&url).json(&body).send().await?;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(throttled.headers());
    assert!(
        (1..=2).contains(&wait),
        "one try comes back each second: {wait}"
    );
    let error: fieldnotes_protocol::ErrorBody = throttled.json().await?;
    assert_eq!(error.code, "too_many_sign_in_attempts");
    assert!(
        error
            .message
            .contains(&format!("try again in {wait} second")),
        "{}",
        error.message
    );
    // Another person is not held up by it.
    assert_eq!(
        login(&server, "sw-b", PASSWORD).await?.status,
        StatusCode::OK
    );

    // Waiting as told lets the right password in.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let answer = login(&server, "sw-a", PASSWORD).await?;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.error_body());
    Ok(())
}

/// Many usernames from one address run out of that address's tries.
async fn sign_in_is_throttled_per_address(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |c| {
        c.signin_tries_per_address = 2;
        c.signin_window_secs = 2;
    })
    .await?;
    for username in ["sw-a", "sw-b"] {
        assert_eq!(
            login(&server, username, PASSWORD).await?.status,
            StatusCode::OK
        );
    }
    assert_refused(
        &login(&server, "mgr", PASSWORD).await?,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_sign_in_attempts",
        "from this address",
    );
    // Sign-in through the identity provider shares the address's tries: it is refused before
    // its body is even read.
    let external = server
        .post_json(
            fieldnotes_protocol::auth::EXTERNAL_LOGIN_PATH,
            &serde_json::json!({}),
        )
        .await?;
    assert_refused(
        &external,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_sign_in_attempts",
        "from this address",
    );
    // Only sign-in is throttled: the other endpoints still answer this address.
    let health = server.call(Method::GET, "/healthz", None, None).await?;
    assert_eq!(health.status, StatusCode::OK);
    Ok(())
}

// ----- usernames and passwords -----------------------------------------------------------------

/// A 2 MiB username is refused before anything is written: no audit row, no echo.
async fn an_oversized_username_is_refused_before_the_audit_log(
    backend: Backend,
) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |_| {}).await?;
    let before = audit_actions(&server).await?.len();
    let huge = "u".repeat(2 * 1024 * 1024);
    let answer = login(&server, &huge, "whatever it is").await?;
    assert_refused(
        &answer,
        StatusCode::BAD_REQUEST,
        "invalid_username",
        "1 to 64",
    );
    assert!(answer.body.len() < 1024, "the username is not echoed back");
    let too_long = "u".repeat(65);
    assert_refused(
        &login(&server, &too_long, "whatever it is").await?,
        StatusCode::BAD_REQUEST,
        "invalid_username",
        "1 to 64",
    );
    let audit = server
        .state
        .store
        .list_audit(&AuditFilter {
            limit: 10_000,
            ..AuditFilter::default()
        })
        .await?;
    assert_eq!(audit.len(), before, "nothing was written");
    assert!(audit.iter().all(|a| a.details.to_string().len() < 4096));

    // A failed sign-in with a username of the right shape is still on the record.
    login(&server, "nobody-here", "whatever it is").await?;
    assert!(
        audit_actions(&server)
            .await?
            .iter()
            .any(|a| a == "sign_in_failed")
    );
    // An account cannot be made with a username sign-in would refuse.
    let admin = server.device("admin").await?;
    assert_refused(
        &admin
            .post(
                "/v1/admin/users",
                &json!({
                    "username": too_long, "display_name": "Too Long", "role": "social_worker",
                    "password": "a long enough password",
                }),
            )
            .await?,
        StatusCode::BAD_REQUEST,
        "invalid_username",
        "1 to 64",
    );
    Ok(())
}

/// "SW-A" is "sw-a": it cannot be made a second time, and it signs in as the one account.
async fn usernames_are_one_account_whatever_their_case(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |_| {}).await?;
    let admin = server.device("admin").await?;
    let clash = admin
        .post(
            "/v1/admin/users",
            &json!({
                "user_id": "sw-a-again", "username": "SW-A", "display_name": "Clash",
                "role": "social_worker", "password": "a long enough password",
            }),
        )
        .await?;
    assert_refused(
        &clash,
        StatusCode::CONFLICT,
        "conflict",
        "without regard to case",
    );
    let session: fieldnotes_protocol::auth::Session =
        login(&server, "SW-A", PASSWORD).await?.json()?;
    assert_eq!(session.user.user_id, "sw-a");
    assert_eq!(session.user.username, "sw-a");
    let spaced: fieldnotes_protocol::auth::Session =
        login(&server, " Sw-a ", PASSWORD).await?.json()?;
    assert_eq!(spaced.user.user_id, "sw-a");
    Ok(())
}

/// Ten spaces, or a short password padded with spaces, are not passwords.
async fn blank_and_short_passwords_are_refused(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |_| {}).await?;
    let admin = server.device("admin").await?;
    let new_user = |password: &str| {
        json!({
            "username": "new-worker", "display_name": "New Worker", "role": "social_worker",
            "team_id": "pod-1", "password": password,
        })
    };
    let tabs = json!({ "password": "\t\t\t\t\t\t\t\t\t\t\t" });
    let weak = [
        (
            "ten spaces",
            admin
                .post("/v1/admin/users", &new_user("          "))
                .await?,
            "blank",
        ),
        (
            "padded",
            admin
                .post("/v1/admin/users", &new_user("   short    "))
                .await?,
            "at least 10",
        ),
        (
            "tabs",
            admin.patch("/v1/admin/users/sw-a", &tabs).await?,
            "blank",
        ),
    ];
    for (what, answer, needle) in weak {
        let (status, code) = (StatusCode::BAD_REQUEST, "weak_password");
        assert_refused_as(what, &answer, status, code, needle);
    }
    // The old password still works: nothing was changed.
    assert_eq!(
        login(&server, "sw-a", PASSWORD).await?.status,
        StatusCode::OK
    );
    let made = admin
        .post("/v1/admin/users", &new_user("a long enough password"))
        .await?;
    assert_eq!(made.status, StatusCode::CREATED);
    Ok(())
}

// ----- the quarantine cap ----------------------------------------------------------------------

/// A device that keeps sending what cannot be applied fills its share of the quarantine; then
/// its input is refused as `quarantine_full`, with what to do, and not kept. Other devices are
/// not affected.
async fn a_full_quarantine_refuses_with_what_to_do(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |c| c.quarantine_max_entries = 2).await?;
    let device = server.device("sw-a").await?;
    let garbage = |i: usize| raw_push(&format!("doc-{i}"), vec![b"not a change".to_vec()]);
    let response = device
        .round(vec![garbage(1), garbage(2), garbage(3)], None, Vec::new())
        .await?;
    let mut kept = 0;
    let mut full = 0;
    for result in &response.results {
        match &result.outcome {
            PushOutcome::Rejected {
                quarantine_id: Some(_),
                ..
            } => kept += 1,
            PushOutcome::Rejected {
                code: RejectCode::QuarantineFull,
                reason,
                quarantine_id: None,
            } => {
                full += 1;
                assert!(
                    reason.contains("ask your admin to review the quarantine"),
                    "{reason}"
                );
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((kept, full), (2, 1));
    assert_eq!(
        server.state.store.list_quarantine(None, 100).await?.len(),
        2
    );

    // A whole unreadable body from it is refused the same way.
    let answer = device.post_raw(b"{ not json", false).await?;
    assert_refused(
        &answer,
        StatusCode::CONFLICT,
        "quarantine_full",
        "review the quarantine",
    );
    // Another device still has room.
    let other = server.device("sw-b").await?;
    let response = other.round(vec![garbage(4)], None, Vec::new()).await?;
    assert!(matches!(
        response.results[0].outcome,
        PushOutcome::Rejected {
            quarantine_id: Some(_),
            ..
        }
    ));
    Ok(())
}

// ----- answers -----------------------------------------------------------------------------------

/// Answers carrying tokens or the store key are never cached; no answer is sniffed.
async fn secrets_are_not_cached_and_nothing_is_sniffed(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |_| {}).await?;
    let http = reqwest::Client::new();
    let body = login_body("sw-a", PASSWORD);
    let signed_in = http
        .post(format!("{}{LOGIN_PATH}", server.url()))
        .json(&body)
        .send()
        .await?;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let headers = signed_in.headers().clone();
    let session: fieldnotes_protocol::auth::Session = signed_in.json().await?;
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let refreshed = http
        .post(format!("{}{REFRESH_PATH}", server.url()))
        .json(&json!({
            "refresh_token": session.tokens.refresh_token, "device_id": session.device_id,
        }))
        .send()
        .await?;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert_eq!(refreshed.headers()["cache-control"], "no-store");
    assert_eq!(refreshed.headers()["x-content-type-options"], "nosniff");

    for (method, path) in [(Method::GET, "/healthz"), (Method::GET, "/no/such/path")] {
        let answer = http
            .request(method, format!("{}{path}", server.url()))
            .send()
            .await?;
        assert_eq!(
            answer.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    Ok(())
}

/// Refusals of tokens and bodies are sentences, not Rust Debug text.
async fn errors_are_sentences_not_debug_text(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |_| {}).await?;
    use base64::Engine as _;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let unknown_alg = format!(
        "{}.{}.c2ln",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&json!({ "sub": "sw-a" }))
    );
    let bad_claims = format!(
        "{}.{}.c2ln",
        b64(&json!({ "alg": "HS256", "typ": "JWT" })),
        b64(&json!({ "sub": ["not", "text"] }))
    );
    for token in [
        unknown_alg.as_str(),
        bad_claims.as_str(),
        "not-a-jwt",
        "a.b.c",
    ] {
        let answer = server.me(token).await?;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        let body = answer.error_body()?;
        for debug in [
            "Json(",
            "Error(",
            "InvalidToken",
            "Base64(",
            "line:",
            "column:",
        ] {
            assert!(
                !body.message.contains(debug),
                "{token}: {:?} shows Debug text",
                body.message
            );
        }
    }
    let answer = server.me(&unknown_alg).await?;
    assert!(
        answer.error_body()?.message.contains("unknown variant"),
        "the field at fault is still named"
    );
    // A sign-in body of the wrong shape names the field, in words.
    let mut body = login_body("sw-a", "x");
    body["username"] = json!(5);
    let answer = server.post_json(LOGIN_PATH, &body).await?;
    assert_refused(&answer, StatusCode::BAD_REQUEST, "invalid_json", "username");
    assert!(!answer.error_body()?.message.contains("Error("));
    Ok(())
}

/// An access token that says it was issued a year from now is refused, even though it is
/// signed with the server's key and its other times are right.
async fn a_token_issued_in_the_future_is_refused(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = server_with(backend, |_| {}).await?;
    let device: RawDevice = server.device("sw-a").await?;
    let key = server.signing_key().await?;
    let sign = |iat: u64| sign_hs256(&key, &claims(&device, |c| c["iat"] = json!(iat)));
    assert_eq!(server.me(&sign(now())).await?.status, StatusCode::OK);
    assert_eq!(
        server.me(&sign(now() + 10)).await?.status,
        StatusCode::OK,
        "a few seconds of clock skew are tolerated"
    );
    assert_refused(
        &server.me(&sign(now() + 365 * 86_400)).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "in the future",
    );
    Ok(())
}

on_both_backends!(
    a_lost_refresh_answer_does_not_end_the_session,
    a_retried_refresh_gets_the_same_successor_and_a_copy_elsewhere_ends_it,
    reuse_outside_the_grace_window_still_ends_the_session,
    guessing_one_username_is_throttled,
    sign_in_is_throttled_per_address,
    an_oversized_username_is_refused_before_the_audit_log,
    usernames_are_one_account_whatever_their_case,
    blank_and_short_passwords_are_refused,
    a_full_quarantine_refuses_with_what_to_do,
    secrets_are_not_cached_and_nothing_is_sniffed,
    errors_are_sentences_not_debug_text,
    a_token_issued_in_the_future_is_refused,
    clashing_usernames_stop_the_migration_with_a_reason,
);

// ----- migration 0005 ----------------------------------------------------------------------------

/// A database holding two accounts whose usernames differ only in case (possible before
/// migration 0005) is not upgraded: opening it fails with a message naming the problem and
/// what to do, and nothing is changed.
async fn clashing_usernames_stop_the_migration_with_a_reason(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    drop(fieldnotes_store::open(&db.url).await?);
    // Back to the schema before 0005, with two accounts that clash.
    let statements = [
        "DROP INDEX users_username_nocase",
        "INSERT INTO users (user_id, username, display_name, role, created_at_ms) \
         VALUES ('twin-1', 'Twin', 'Twin one', 'admin', 1), \
                ('twin-2', 'twin', 'Twin two', 'admin', 1)",
        "DELETE FROM _sqlx_migrations WHERE version = 5",
    ];
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await?;
            for sql in statements {
                sqlx::query(sql).execute(&pool).await?;
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await?;
            for sql in statements {
                sqlx::query(sql).execute(&pool).await?;
            }
            pool.close().await;
        }
    }
    let err = fieldnotes_store::open(&db.url)
        .await
        .expect_err("the migration is refused")
        .to_string();
    assert!(
        err.contains("differ only in case") && err.contains("rename one"),
        "{err}"
    );
    Ok(())
}
