//! The security suite: every way in that must be shut, tried against the real server over a
//! real socket, each refused with the right status and a reason a person can act on.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use fieldnotes_tests::fixtures;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fieldnotes_model::NewRecord;
use fieldnotes_protocol::auth::{
    EXTERNAL_LOGIN_PATH, LOGOUT_PATH, ME_PATH, REFRESH_PATH, Session, Tokens,
};
use fieldnotes_protocol::{PushOutcome, RejectCode};
use fieldnotes_tests::check::{
    accepted, assert_quarantined, assert_refused, assert_refused_as, assert_rejected, rejected,
};
use fieldnotes_tests::org::TEAM;
use fieldnotes_tests::server::{IDP_AUDIENCE, IDP_ISSUER, IDP_KEY_ID, IDP_PUBLIC_KEY};
use fieldnotes_tests::tokens::{claims, idp_token, now, sign_hs256};
use fieldnotes_tests::wire::{RawAnswer, push_all};
use fieldnotes_tests::{Backend, RawDevice, TestDb, TestServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn note(child: &str, author: &str) -> NewRecord {
    fixtures::note(child, author, "Home visit", "Talked about school.")
}

async fn setup(backend: Backend) -> anyhow::Result<(TestDb, TestServer)> {
    let db = TestDb::new(backend).await?;
    let server = TestServer::start_with_idp(&db.url).await?;
    let org = server.org();
    org.standard(2).await?;
    org.caseload("child-other", TEAM, "sw-b").await?;
    Ok((db, server))
}

/// Forged and broken access tokens: each refused with 401 and its reason.
async fn forged_access_tokens_are_refused(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    let device = server.device("sw-a").await?;
    let key = server.signing_key().await?;
    assert_eq!(server.me(device.token()).await?.status, StatusCode::OK);

    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&device, |_| {}))?);
    let real = device.token().to_owned();
    let parts: Vec<&str> = real.split('.').collect();
    let tampered_claims = claims(&device, |c| c["sub"] = json!("mgr"));
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered_claims)?),
        parts[2]
    );
    let signed = |edit: &dyn Fn(&mut serde_json::Value)| sign_hs256(&key, &claims(&device, edit));
    let forged = [
        (
            "alg: none, no signature",
            format!("{header}.{payload}."),
            "invalid_token",
            "token",
        ),
        (
            "expired",
            signed(&|c| {
                c["iat"] = json!(now() - 7200);
                c["nbf"] = json!(now() - 7200);
                c["exp"] = json!(now() - 3600);
            }),
            "token_expired",
            "expired",
        ),
        (
            "not yet valid (beyond the clock-skew leeway)",
            signed(&|c| c["nbf"] = json!(now() + 3600)),
            "invalid_token",
            "not valid yet",
        ),
        (
            "wrong issuer",
            signed(&|c| c["iss"] = json!("https://evil.example")),
            "invalid_token",
            "issuer",
        ),
        (
            "wrong audience",
            signed(&|c| c["aud"] = json!("another-service")),
            "invalid_token",
            "audience",
        ),
        (
            "no expiry",
            signed(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "invalid_token",
            "exp",
        ),
        (
            "a real token with its payload changed to another person",
            tampered,
            "invalid_token",
            "signature",
        ),
        (
            "signed with another key entirely",
            sign_hs256(
                b"an attacker's own secret key....",
                &claims(&device, |_| {}),
            ),
            "invalid_token",
            "signature",
        ),
        (
            "HS256 with the issuer's public key, against our own tokens",
            sign_hs256(IDP_PUBLIC_KEY.as_bytes(), &claims(&device, |_| {})),
            "invalid_token",
            "signature",
        ),
    ];
    for (what, token, code, needle) in forged {
        let answer = server.me(&token).await?;
        assert_refused_as(what, &answer, StatusCode::UNAUTHORIZED, code, needle);
    }

    // No token, and a malformed header.
    let none = server.call(Method::GET, ME_PATH, None, None).await?;
    assert_refused(&none, StatusCode::UNAUTHORIZED, "unauthenticated", "Bearer");
    for header in [
        "Basic c3ctYTpwYXNzd29yZA==",
        "Bearer ",
        "Bearer a.b",
        "Bearer a.b.c",
    ] {
        let answer = reqwest::Client::new()
            .get(format!("{}{ME_PATH}", server.url()))
            .header(reqwest::header::AUTHORIZATION, header)
            .send()
            .await?;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        let body: fieldnotes_protocol::ErrorBody = answer.json().await?;
        assert!(
            matches!(body.code.as_str(), "unauthenticated" | "invalid_token"),
            "{header:?}: {body:?}"
        );
    }
    Ok(())
}

async fn external_login(server: &TestServer, token: &str) -> anyhow::Result<RawAnswer> {
    let body = json!({
        "token": token,
        "device": {
            "device_id": uuid::Uuid::new_v4().to_string(),
            "actor_id": "0a0b0c0d",
            "name": "IdP test device",
        },
    });
    server.post_json(EXTERNAL_LOGIN_PATH, &body).await
}

/// Tokens from the authority's identity provider: the right one signs in; the classic
/// algorithm-confusion forgery (HS256 signed with the RS256 issuer's public key) and tokens
/// with the wrong issuer, audience or times are refused.
async fn identity_provider_tokens_are_checked(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    server
        .state
        .store
        .update_user(
            "sw-b",
            &fieldnotes_store::directory::UserUpdate {
                external_subject: Some(Some("idp|sw-b".into())),
                ..Default::default()
            },
            &fieldnotes_store::directory::Actor::default(),
        )
        .await?;
    let good = json!({
        "iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": "idp|sw-b",
        "iat": now(), "exp": now() + 300,
    });
    let session: Session = external_login(&server, &idp_token(&good)).await?.json()?;
    assert_eq!(session.user.user_id, "sw-b");
    assert_eq!(
        server.me(&session.tokens.access_token).await?.status,
        StatusCode::OK
    );

    // Algorithm confusion: HS256 "signed" with the provider's RSA public key.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(IDP_KEY_ID.to_owned());
    let confused = jsonwebtoken::encode(
        &header,
        &good,
        &EncodingKey::from_secret(IDP_PUBLIC_KEY.as_bytes()),
    )?;
    assert_refused(
        &external_login(&server, &confused).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "algorithm",
    );

    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut c = good.clone();
        edit(&mut c);
        idp_token(&c)
    };
    for (token, needle) in [
        (
            with(&|c| c["iss"] = json!("https://other-idp.example")),
            "issued",
        ),
        (with(&|c| c["aud"] = json!("payroll")), "audience"),
        (with(&|c| c["exp"] = json!(now() - 3600)), "expired"),
        (with(&|c| c["nbf"] = json!(now() + 3600)), "not valid yet"),
        (
            with(&|c| c["sub"] = json!("idp|nobody")),
            "no fieldnotes account",
        ),
    ] {
        let answer = external_login(&server, &token).await?;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{needle}");
        let body = answer.error_body()?;
        assert!(
            body.message.to_lowercase().contains(needle),
            "{needle}: {}",
            body.message
        );
    }
    // A token whose payload was changed after signing.
    let real = idp_token(&good);
    let parts: Vec<&str> = real.split('.').collect();
    let mut forged_claims = good.clone();
    forged_claims["sub"] = json!("idp|admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims)?),
        parts[2]
    );
    assert_refused(
        &external_login(&server, &tampered).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "signature",
    );
    Ok(())
}

async fn refresh(server: &TestServer, token: &str) -> anyhow::Result<RawAnswer> {
    server
        .post_json(REFRESH_PATH, &json!({ "refresh_token": token }))
        .await
}

/// A refresh token works once; presenting a used one ends the device's session, so the
/// latest access token stops working too.
async fn a_reused_refresh_token_ends_the_session(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    let device = server.device("sw-a").await?;
    let first = device.session.tokens.refresh_token.clone();
    let next: Tokens = refresh(&server, &first).await?.json()?;
    assert_ne!(next.refresh_token, first);
    assert_eq!(server.me(&next.access_token).await?.status, StatusCode::OK);

    let refused = [
        (
            "the used refresh token",
            refresh(&server, &first).await?,
            "refresh_reused",
            "already used",
        ),
        (
            "the latest access token",
            server.me(&next.access_token).await?,
            "session_ended",
            "sign in again",
        ),
        (
            "the latest refresh token",
            refresh(&server, &next.refresh_token).await?,
            "session_ended",
            "sign in again",
        ),
        (
            "a made-up refresh token",
            refresh(&server, "made-up").await?,
            "refresh_invalid",
            "not known",
        ),
    ];
    for (what, answer, code, needle) in refused {
        assert_refused_as(what, &answer, StatusCode::UNAUTHORIZED, code, needle);
    }

    // Signing in again starts a fresh session.
    let again = server.device("sw-a").await?;
    assert_eq!(server.me(again.token()).await?.status, StatusCode::OK);
    // Signing out ends it: access and refresh tokens both stop.
    let out = server
        .call(Method::POST, LOGOUT_PATH, Some(again.token()), None)
        .await?;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after_sign_out = [
        ("access token", server.me(again.token()).await?),
        (
            "refresh token",
            refresh(&server, &again.session.tokens.refresh_token).await?,
        ),
    ];
    for (what, answer) in after_sign_out {
        let (code, needle) = ("session_ended", "sign in again");
        assert_refused_as(what, &answer, StatusCode::UNAUTHORIZED, code, needle);
    }

    // A wrong password says nothing about which part was wrong.
    for username in ["sw-a", "nobody"] {
        let err = RawDevice::login(&server.url(), username, "not the password")
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("username or password is wrong"),
            "{err:#}"
        );
    }
    Ok(())
}

/// A device pushes a change written with another device's actor id: refused for that document
/// (and quarantined), while its own document in the same batch lands.
async fn a_change_in_another_devices_name_is_refused(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    let mine = server.device("sw-a").await?;
    let other = server.device("sw-a").await?;
    let mut honest = mine.create(note("child-00", "sw-a"))?;
    let mut forged = other.create(note("child-01", "sw-a"))?;
    let response = mine
        .sync_round(vec![push_all(&mut honest), push_all(&mut forged)], None)
        .await?;
    assert!(accepted(&response, 0));
    assert_rejected(&response, 1, RejectCode::ForeignActor, mine.device_id());
    let (_, reason, _) = rejected(&response, 1);
    assert!(reason.contains(&other.actor.to_hex_string()), "{reason}");
    let kept = server.state.store.list_quarantine(None, 10).await?;
    assert_quarantined(&kept, RejectCode::ForeignActor, forged.id());
    assert!(
        server
            .state
            .store
            .get_document(forged.id())
            .await?
            .is_none()
    );
    // The admin's device list shows the refused push waiting for review, on the device that
    // sent it.
    let admin = server.device("admin").await?;
    let devices: fieldnotes_protocol::admin::Listing<fieldnotes_protocol::admin::Device> =
        admin.get("/v1/admin/devices?user=sw-a").await?.json()?;
    let pending = |id: &str| {
        devices
            .items
            .iter()
            .find(|d| d.device_id == id)
            .map(|d| d.pending_review)
    };
    assert_eq!(pending(mine.device_id()), Some(1));
    assert_eq!(pending(other.device_id()), Some(0));

    // Nor may a new note name someone else as its author.
    let mut impostor = mine.create(note("child-00", "sw-b"))?;
    let response = mine.sync_round(vec![push_all(&mut impostor)], None).await?;
    assert!(
        matches!(
            &response.results[0].outcome,
            PushOutcome::Rejected {
                code: RejectCode::WrongAuthor,
                ..
            }
        ),
        "{:?}",
        response.results
    );
    Ok(())
}

/// A push for a child outside scope is refused and quarantined; pulls never carry such a
/// child's records, and reading one directly answers as if it did not exist.
async fn children_outside_scope_stay_out_of_reach(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    let holder = server.device("sw-b").await?;
    let mut theirs = holder.create(note("child-other", "sw-b"))?;
    holder.sync_round(vec![push_all(&mut theirs)], None).await?;

    let outsider = server.device("sw-a").await?;
    let mut attempt = outsider.create(note("child-other", "sw-a"))?;
    let response = outsider
        .sync_round(vec![push_all(&mut attempt)], None)
        .await?;
    assert_rejected(&response, 0, RejectCode::OutOfScope, "child:child-other");
    assert!(
        response.pull.iter().all(|d| d.doc_id != theirs.id()),
        "pull leaks nothing"
    );
    let direct = outsider
        .get(&format!("/v1/documents/{}", theirs.id()))
        .await?;
    assert_eq!(direct.status, StatusCode::NOT_FOUND);
    let history = outsider
        .get(&format!("/v1/documents/{}/changes", theirs.id()))
        .await?;
    assert_eq!(history.status, StatusCode::NOT_FOUND);
    assert_eq!(
        holder
            .get(&format!("/v1/documents/{}", theirs.id()))
            .await?
            .status,
        StatusCode::OK
    );

    // A youth worker with no referral sees no child at all, though the team has child records.
    let case_holder = server.device("sw-a").await?;
    let mut about_child = case_holder.create(note("child-00", "sw-a"))?;
    case_holder
        .sync_round(vec![push_all(&mut about_child)], None)
        .await?;
    let yw = server.device("yw").await?;
    let response = yw.sync_round(Vec::new(), None).await?;
    assert!(
        response.pull.iter().all(|d| d.doc_id != about_child.id()),
        "the youth worker got a child's record"
    );
    let mgr = server.device("mgr").await?;
    let seen = mgr.sync_round(Vec::new(), None).await?;
    assert!(
        seen.pull.iter().any(|d| d.doc_id == about_child.id()),
        "the record is there for those in scope"
    );
    Ok(())
}

/// Every admin endpoint refuses a manager and a social worker with 403 and says why.
async fn non_admins_cannot_call_admin_endpoints(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    let admin = server.device("admin").await?;
    for who in ["mgr", "sw-a", "yw"] {
        let device = server.device(who).await?;
        let calls: Vec<(Method, String, Option<serde_json::Value>)> = vec![
            (Method::GET, "/v1/admin/teams".into(), None),
            (
                Method::POST,
                "/v1/admin/teams".into(),
                Some(json!({"team_id": "t9", "name": "T9"})),
            ),
            (
                Method::PATCH,
                "/v1/admin/teams/pod-1".into(),
                Some(json!({"pod_read_access": true})),
            ),
            (Method::GET, "/v1/admin/users".into(), None),
            (
                Method::POST,
                "/v1/admin/users".into(),
                Some(
                    json!({"username": "x1", "display_name": "X", "role": "admin", "password": "0123456789ab"}),
                ),
            ),
            (
                Method::PATCH,
                "/v1/admin/users/sw-a".into(),
                Some(json!({"role": "admin"})),
            ),
            (Method::GET, "/v1/admin/devices".into(), None),
            (
                Method::POST,
                format!("/v1/admin/devices/{}/revoke", admin.device_id()),
                None,
            ),
            (Method::GET, "/v1/quarantine".into(), None),
            (Method::GET, "/v1/quarantine/1/payload".into(), None),
        ];
        for (method, path, body) in calls {
            let answer = device.request(method.clone(), &path, body.as_ref()).await?;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{who}: {method} {path}"
            );
            let body = answer.error_body()?;
            assert_eq!(body.code, "forbidden");
            assert!(body.message.contains("only an admin"), "{}", body.message);
        }
    }
    // The review queue is for managers and admins.
    for who in ["sw-a", "yw"] {
        let device = server.device(who).await?;
        let answer = device.get("/v1/review").await?;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{who}");
        assert!(answer.error_body()?.message.contains("managers and admins"));
    }
    // The admin's own device was not revoked by any of that, and the admin can list teams.
    assert_eq!(admin.get("/v1/admin/teams").await?.status, StatusCode::OK);
    Ok(())
}

/// Without a token, only the health checks and sign-in answer.
async fn only_health_and_sign_in_are_open(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    let open = [(Method::GET, "/healthz"), (Method::GET, "/readyz")];
    for (method, path) in open {
        let answer = server.call(method, path, None, None).await?;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
    }
    // Sign-in endpoints answer without a token (refusing bad input, not the missing token).
    for path in ["/v1/auth/login", "/v1/auth/refresh", "/v1/auth/external"] {
        let answer = server.post_json(path, &json!({})).await?;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    let closed: &[(Method, &str)] = &[
        (Method::POST, "/v1/sync"),
        (Method::POST, "/v1/auth/logout"),
        (Method::GET, "/v1/me"),
        (Method::GET, "/v1/quarantine"),
        (Method::GET, "/v1/quarantine/1/payload"),
        (Method::GET, "/v1/documents/x"),
        (Method::GET, "/v1/documents/x/changes"),
        (Method::GET, "/v1/admin/teams"),
        (Method::POST, "/v1/admin/teams"),
        (Method::PATCH, "/v1/admin/teams/pod-1"),
        (Method::GET, "/v1/admin/users"),
        (Method::POST, "/v1/admin/users"),
        (Method::PATCH, "/v1/admin/users/sw-a"),
        (Method::GET, "/v1/admin/devices"),
        (Method::POST, "/v1/admin/devices/x/revoke"),
        (Method::GET, "/v1/children"),
        (Method::POST, "/v1/children"),
        (Method::POST, "/v1/children/child-00/allocation"),
        (Method::DELETE, "/v1/children/child-00/allocation"),
        (Method::GET, "/v1/children/child-00/allocations"),
        (Method::GET, "/v1/children/child-00/referrals"),
        (Method::POST, "/v1/children/child-00/referrals"),
        (Method::POST, "/v1/children/child-00/access"),
        (Method::POST, "/v1/referrals/1/end"),
        (Method::GET, "/v1/access-grants"),
        (Method::GET, "/v1/audit"),
        (Method::GET, "/v1/review"),
        (Method::GET, "/v1/review/1"),
        (Method::POST, "/v1/review/1/resolve"),
        (Method::POST, "/v1/review/1/dismiss"),
        (Method::GET, "/v1/documents/x/history"),
        (Method::GET, "/v1/documents/x/diff"),
    ];
    for (method, path) in closed {
        let answer = server
            .call(method.clone(), path, None, Some(&json!({})))
            .await?;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} must need a token"
        );
    }
    Ok(())
}

/// A modified client cannot unlock or quietly rewrite a completed record: each forged change
/// is refused and kept in quarantine.
async fn a_locked_record_cannot_be_forged_open(backend: Backend) -> anyhow::Result<()> {
    use automerge::transaction::Transactable;
    let (_db, server) = setup(backend).await?;
    let author = server.device("sw-a").await?;
    let mut doc = author.create(note("child-00", "sw-a"))?;
    let completed = fixtures::note_status(fieldnotes_model::NoteStatus::Completed);
    doc.edit(completed, 1_763_900_000_001)?;
    let response = author.sync_round(vec![push_all(&mut doc)], None).await?;
    assert!(accepted(&response, 0));

    let saved = doc.save();
    let forge = |edit: &dyn Fn(&mut automerge::AutoCommit) -> anyhow::Result<()>| -> anyhow::Result<Vec<u8>> {
        let mut raw = automerge::AutoCommit::load(&saved)?.with_actor(author.actor.clone());
        edit(&mut raw)?;
        let hash = raw.commit().expect("a change");
        Ok(raw.get_change_by_hash(&hash).expect("stored").raw_bytes().to_vec())
    };
    for (what, change, needle) in [
        (
            "back to draft",
            forge(&|d| Ok(d.put(automerge::ROOT, "status", "draft")?))?,
            "cannot go back",
        ),
        (
            "status rewritten with an edit",
            forge(&|d| {
                d.put(automerge::ROOT, "status", "completed")?;
                Ok(d.put(automerge::ROOT, "title", "Quietly changed")?)
            })?,
            "completed",
        ),
        (
            "edited without a reason",
            forge(&|d| Ok(d.put(automerge::ROOT, "title", "Quietly changed")?))?,
            "amendment",
        ),
    ] {
        let response = author
            .sync_round(
                vec![fieldnotes_tests::wire::raw_push(doc.id(), vec![change])],
                None,
            )
            .await?;
        match &response.results[0].outcome {
            PushOutcome::Rejected {
                reason,
                quarantine_id,
                ..
            } => {
                assert!(reason.contains(needle), "{what}: {reason}");
                assert!(quarantine_id.is_some());
            }
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
    let stored = author.get(&format!("/v1/documents/{}", doc.id())).await?;
    let view: serde_json::Value = stored.json()?;
    assert_eq!(view["record"]["title"], "Home visit");
    assert_eq!(view["record"]["status"], "completed");
    Ok(())
}

on_both_backends!(
    a_locked_record_cannot_be_forged_open,
    forged_access_tokens_are_refused,
    identity_provider_tokens_are_checked,
    a_reused_refresh_token_ends_the_session,
    a_change_in_another_devices_name_is_refused,
    children_outside_scope_stay_out_of_reach,
    non_admins_cannot_call_admin_endpoints,
    only_health_and_sign_in_are_open,
);
