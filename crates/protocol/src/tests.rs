use super::*;

fn sample_request() -> SyncRequest {
    SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor: Some(Cursor("1.0.42".into())),
        push: vec![PushDoc {
            doc_id: "5f0c3f0e-8f1e-4a57-9a55-3a4d1e0c2b11".into(),
            changes: vec![ChangeBytes(vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3])],
        }],
        max_page_bytes: Some(1024),
        scopes: vec!["child:c-1".into(), "worker:sw-17".into()],
        anchor: Some(FeedAnchor(
            "1.4f1c9e2a7b3d4c5e8f9a0b1c2d3e4f50.42.1b2c3d4e5f607182".into(),
        )),
        verify: vec![DocHead {
            doc_id: "5f0c3f0e-8f1e-4a57-9a55-3a4d1e0c2b11".into(),
            hash: "8d3f".into(),
        }],
    }
}

fn sample_response() -> SyncResponse {
    SyncResponse {
        protocol: PROTOCOL_VERSION,
        results: vec![
            PushResult {
                doc_id: "a".into(),
                outcome: PushOutcome::Accepted {
                    hashes: vec!["00ff".into()],
                },
            },
            PushResult {
                doc_id: "b".into(),
                outcome: PushOutcome::Rejected {
                    code: RejectCode::InvalidDocument,
                    reason: "field `title`: must not be longer than 200 characters".into(),
                    quarantine_id: Some(7),
                },
            },
            PushResult {
                doc_id: "c".into(),
                outcome: PushOutcome::Deferred {
                    reason: "waiting for 1 earlier change".into(),
                    missing: vec!["abcd".into()],
                },
            },
        ],
        pull: vec![PulledDoc {
            doc_id: "d".into(),
            changes: vec![ChangeBytes(vec![9, 9])],
            meta: Some(DocMeta {
                kind: "visit_note".into(),
                child_id: Some("c-1".into()),
                summary: "Home visit (home_visit, 2026-11-20T14:30:00Z)".into(),
                scope: "child:c-1".into(),
            }),
        }],
        cursor: Cursor("1.43".into()),
        more: false,
        scopes_complete: vec!["child:c-1".into()],
        remove_scopes: vec!["child:c-9".into()],
        read_only_scopes: vec!["child:c-2".into()],
        anchor: Some(FeedAnchor(
            "1.4f1c9e2a7b3d4c5e8f9a0b1c2d3e4f50.43.1b2c3d4e5f607182".into(),
        )),
        feed_reset: Some(FeedReset {
            feed_id: "4f1c9e2a7b3d4c5e8f9a0b1c2d3e4f50".into(),
            message: "the server no longer holds feed position 57".into(),
        }),
        lacking: vec![Lacking {
            doc_id: "e".into(),
            have: vec!["77aa".into()],
        }],
    }
}

/// The wire format is a contract with every device in the field: a change to it must be
/// deliberate, so these snapshots fail on any difference.
#[test]
fn request_wire_format_is_stable() {
    insta::assert_json_snapshot!(sample_request());
}

#[test]
fn response_wire_format_is_stable() {
    insta::assert_json_snapshot!(sample_response());
}

#[test]
fn request_and_response_round_trip() {
    let req = sample_request();
    let json = serde_json::to_string(&req).expect("serialize");
    assert_eq!(
        serde_json::from_str::<SyncRequest>(&json).expect("parse"),
        req
    );
    let resp = sample_response();
    let json = serde_json::to_string(&resp).expect("serialize");
    assert_eq!(
        serde_json::from_str::<SyncResponse>(&json).expect("parse"),
        resp
    );
}

#[test]
fn bad_base64_is_refused_with_a_reason() {
    let json = r#"{"protocol":1,"push":[{"doc_id":"x","changes":["not base64!"]}]}"#;
    let err = serde_json::from_str::<SyncRequest>(json).expect_err("must refuse");
    assert!(err.to_string().contains("not valid base64"), "{err}");
}

#[test]
fn unknown_fields_are_refused() {
    let json = r#"{"protocol":1,"pushh":[]}"#;
    let err = serde_json::from_str::<SyncRequest>(json).expect_err("must refuse");
    assert!(err.to_string().contains("pushh"), "{err}");
}

#[test]
fn a_minimal_request_needs_only_the_version() {
    let req: SyncRequest = serde_json::from_str(r#"{"protocol":1}"#).expect("parse");
    assert!(req.cursor.is_none() && req.push.is_empty() && req.max_page_bytes.is_none());
    assert!(req.scopes.is_empty());
    assert!(req.anchor.is_none() && req.verify.is_empty());
}

/// A server or device that does not know the restore fields still reads the other's messages:
/// the fields are left out when empty, and default when absent.
#[test]
fn restore_fields_are_optional_on_the_wire() {
    let mut req = sample_request();
    req.anchor = None;
    req.verify.clear();
    let json = serde_json::to_string(&req).expect("serialize");
    assert!(
        !json.contains("anchor") && !json.contains("verify"),
        "{json}"
    );
    let resp: SyncResponse = serde_json::from_str(
        r#"{"protocol":1,"results":[],"pull":[],"cursor":"1.0","more":false}"#,
    )
    .expect("parse");
    assert!(resp.anchor.is_none() && resp.feed_reset.is_none() && resp.lacking.is_empty());
}

#[test]
fn sign_in_messages_are_stable() {
    let session = auth::Session {
        tokens: auth::Tokens {
            access_token: "eyJ...".into(),
            expires_in: 900,
            refresh_token: "r1".into(),
            refresh_expires_in: 2_592_000,
        },
        user: auth::UserInfo {
            user_id: "sw-17".into(),
            username: "sw-17".into(),
            display_name: "Sam Jones".into(),
            role: auth::Role::SocialWorker,
            team_id: Some("pod-1".into()),
        },
        device_id: "5f0c3f0e".into(),
        store_key: "AAAA".into(),
    };
    insta::assert_json_snapshot!(session);
}

#[test]
fn roles_read_from_their_names_and_refuse_others() {
    for role in auth::Role::ALL {
        assert_eq!(role.as_str().parse::<auth::Role>().expect("known"), *role);
    }
    let err = "boss"
        .parse::<auth::Role>()
        .expect_err("unknown")
        .to_string();
    assert!(
        err.contains("social_worker, youth_worker, manager, admin"),
        "{err}"
    );
}

#[test]
fn a_user_patch_tells_null_from_absent() {
    let clear: admin::UserPatch = serde_json::from_str(r#"{"team_id":null}"#).expect("parse");
    assert_eq!(clear.team_id, Some(None));
    let keep: admin::UserPatch = serde_json::from_str("{}").expect("parse");
    assert_eq!(keep.team_id, None);
    let json = serde_json::to_string(&keep).expect("serialize");
    assert_eq!(json, "{}", "absent stays absent on the way out");
}

#[test]
fn reject_codes_read_back_from_their_names() {
    for code in RejectCode::ALL {
        assert_eq!(RejectCode::parse(code.as_str()), Some(*code));
        // The wire name is the serde name.
        let json = serde_json::to_string(code).expect("serialize");
        assert_eq!(json, format!("\"{}\"", code.as_str()));
    }
    assert_eq!(RejectCode::parse("nonsense"), None);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let login = auth::PasswordLogin {
        username: "sam".into(),
        password: "hunter2-hunter2".into(),
        device: auth::DeviceInfo {
            device_id: "d".into(),
            actor_id: "aa".into(),
            name: "laptop".into(),
        },
    };
    let shown = format!("{login:?}");
    assert!(
        shown.contains("sam") && !shown.contains("hunter2"),
        "{shown}"
    );
    let tokens = auth::Tokens {
        access_token: "eyJsecret".into(),
        expires_in: 1,
        refresh_token: "refresh-secret".into(),
        refresh_expires_in: 2,
    };
    let shown = format!("{tokens:?}");
    assert!(!shown.contains("secret"), "{shown}");
}

#[test]
fn an_admin_user_keeps_its_wire_shape() {
    let user = admin::User {
        info: auth::UserInfo {
            user_id: "sw-1".into(),
            username: "sam".into(),
            display_name: "Sam Worker".into(),
            role: Role::SocialWorker,
            team_id: Some("north".into()),
        },
        active: true,
        external_subject: None,
        has_password: true,
    };
    let text = r#"{"user_id":"sw-1","username":"sam","display_name":"Sam Worker","role":"social_worker","team_id":"north","active":true,"has_password":true}"#;
    assert_eq!(serde_json::to_string(&user).unwrap(), text);
    assert_eq!(serde_json::from_str::<admin::User>(text).unwrap(), user);
}
