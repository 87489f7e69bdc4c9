//! Each decision of the core, on plain data.

use fieldnotes_protocol::{
    ChangeBytes, Cursor, DocHead, DocKind, DocMeta, FeedAnchor, FeedReset, Lacking,
    MAX_VERIFY_DOCS, PROTOCOL_VERSION, PulledDoc, PushOutcome, PushResult, RejectCode,
    SyncResponse,
};

use crate::{
    AfterRefusal, Batch, ChangeRef, Effect, Limits, Listing, OutboxChange, Refusal, Refused, Round,
    SyncError, SyncRun, SyncState, Waiting,
};

fn run(push_batch_bytes: u64) -> SyncRun {
    SyncRun::new(Limits {
        push_batch_bytes,
        page_bytes: 1 << 20,
    })
}

fn change(seq: i64, doc: &str, len: usize) -> OutboxChange {
    OutboxChange {
        seq,
        doc_id: doc.into(),
        hash: format!("h{seq}"),
        bytes: vec![7; len],
    }
}

/// Offer `changes` to a batch the way a store does: in order, until one does not fit.
fn fill(batch: &mut Batch, changes: &[OutboxChange]) {
    let after = batch.after_seq();
    for c in changes.iter().filter(|c| c.seq > after) {
        if !batch.offer(c.clone()) {
            break;
        }
    }
}

/// A round of `changes` (as many as fit) from `state`.
fn round_of(run: &mut SyncRun, state: SyncState, changes: &[OutboxChange]) -> Round {
    let mut batch = run.batch();
    fill(&mut batch, changes);
    run.round(state, batch, Vec::new())
}

/// A new run pushing at most `push_batch_bytes` a request, and its first round (see
/// [`round_of`]).
fn started(push_batch_bytes: u64, state: SyncState, changes: &[OutboxChange]) -> (SyncRun, Round) {
    let mut run = run(push_batch_bytes);
    let round = round_of(&mut run, state, changes);
    (run, round)
}

fn answer() -> SyncResponse {
    SyncResponse {
        protocol: PROTOCOL_VERSION,
        results: Vec::new(),
        pull: Vec::new(),
        cursor: Cursor("1.9".into()),
        more: false,
        scopes_complete: Vec::new(),
        remove_scopes: Vec::new(),
        read_only_scopes: Vec::new(),
        anchor: Some(FeedAnchor("1.ab.9.00".into())),
        feed_reset: None,
        lacking: Vec::new(),
    }
}

fn accepted(doc: &str, hashes: &[&str]) -> PushResult {
    PushResult {
        doc_id: doc.into(),
        outcome: PushOutcome::Accepted {
            hashes: hashes.iter().map(|h| (*h).to_owned()).collect(),
        },
    }
}

fn deferred(doc: &str, missing: &[&str]) -> PushResult {
    PushResult {
        doc_id: doc.into(),
        outcome: PushOutcome::Deferred {
            reason: "later".into(),
            missing: missing.iter().map(|h| (*h).to_owned()).collect(),
        },
    }
}

fn heads(n: usize) -> Vec<DocHead> {
    (0..n)
        .map(|i| DocHead {
            doc_id: format!("d{i:04}"),
            hash: format!("own{i}"),
        })
        .collect()
}

fn holding(key: &str) -> SyncState {
    SyncState {
        scopes: vec![key.into()],
        ..SyncState::default()
    }
}

fn reset(feed_id: &str, message: &str) -> Option<FeedReset> {
    Some(FeedReset {
        feed_id: feed_id.into(),
        message: message.into(),
    })
}

fn healing_state() -> SyncState {
    SyncState {
        healing: Some(String::new()),
        ..SyncState::default()
    }
}

#[test]
fn a_batch_fills_to_the_byte_budget_and_always_takes_one_change() {
    let outbox = [change(1, "a", 40), change(2, "b", 40), change(3, "a", 40)];
    let (run, round) = started(100, SyncState::default(), &outbox);
    assert_eq!(round.changes(), 2);
    assert_eq!(run.sent_up_to(), 2);
    let docs: Vec<&str> = round
        .request()
        .push
        .iter()
        .map(|d| d.doc_id.as_str())
        .collect();
    assert_eq!(docs, ["a", "b"]);

    let mut tiny = self::run(1);
    let round = round_of(&mut tiny, SyncState::default(), &outbox);
    assert_eq!(
        round.changes(),
        1,
        "a change larger than the budget still goes alone"
    );
}

#[test]
fn the_request_carries_the_stored_cursor_anchor_and_held_keys() {
    let state = SyncState {
        cursor: Some(Cursor("1.4".into())),
        anchor: Some(FeedAnchor("1.ab.4.00".into())),
        scopes: vec!["child:c-1".into()],
        removing: vec!["child:c-2".into()],
        healing: None,
    };
    let mut run = run(100);
    let outbox = [change(1, "a", 1), change(2, "b", 1), change(3, "a", 1)];
    let round = round_of(&mut run, state, &outbox);
    let request = round.request();
    assert_eq!(request.cursor, Some(Cursor("1.4".into())));
    assert_eq!(request.anchor, Some(FeedAnchor("1.ab.4.00".into())));
    assert_eq!(
        request.scopes,
        ["child:c-1"],
        "a key being removed is not listed"
    );
    assert_eq!(request.max_page_bytes, Some(1 << 20));
    assert_eq!(request.push.len(), 2, "grouped by document");
    assert_eq!(
        request.push[0].changes,
        vec![ChangeBytes(vec![7]), ChangeBytes(vec![7])]
    );
    assert!(request.verify.is_empty());
}

#[test]
fn a_request_too_large_is_sent_again_in_halves_down_to_one_change() {
    let outbox: Vec<OutboxChange> = (1..=8).map(|s| change(s, "a", 100)).collect();
    let (mut run, round) = started(800, SyncState::default(), &outbox);
    assert_eq!(round.changes(), 8);
    assert_eq!(
        run.refused(&round, Refusal::TooLarge),
        AfterRefusal::SendAgain
    );
    assert_eq!(run.batch_bytes(), 400);
    assert_eq!(run.sent_up_to(), 0, "the same changes go again");
    let round = round_of(&mut run, SyncState::default(), &outbox);
    assert_eq!(round.changes(), 4);
    assert_eq!(
        run.refused(&round, Refusal::TooLarge),
        AfterRefusal::SendAgain
    );
    let round = round_of(&mut run, SyncState::default(), &outbox);
    assert_eq!(round.changes(), 2);
    assert_eq!(
        run.refused(&round, Refusal::TooLarge),
        AfterRefusal::SendAgain
    );
    let round = round_of(&mut run, SyncState::default(), &outbox);
    assert_eq!(round.changes(), 1);
    assert_eq!(
        run.refused(&round, Refusal::TooLarge),
        AfterRefusal::GiveUp,
        "a single change too large cannot be split"
    );
    assert_eq!(run.batch_bytes(), 100, "not halved for a single change");
    assert_eq!(
        run.summary().round_trips,
        0,
        "refused rounds are not answers"
    );
}

#[test]
fn halving_never_goes_below_one_byte_and_a_batch_still_takes_a_change() {
    let empty: Vec<OutboxChange> = (1..=4).map(|s| change(s, "a", 0)).collect();
    let mut run = run(3);
    for expected in [1, 1, 1] {
        let round = round_of(&mut run, SyncState::default(), &empty);
        assert_eq!(round.changes(), 4, "empty changes all fit");
        assert_eq!(
            run.refused(&round, Refusal::TooLarge),
            AfterRefusal::SendAgain
        );
        assert_eq!(run.batch_bytes(), expected);
    }
    let round = round_of(&mut run, SyncState::default(), &[change(1, "a", 10)]);
    assert_eq!(round.changes(), 1);
}

#[test]
fn a_revoked_device_wipes() {
    let (mut run, round) = started(10, SyncState::default(), &[]);
    assert_eq!(
        run.refused(&round, Refusal::DeviceRevoked),
        AfterRefusal::Apply(vec![Effect::Wipe])
    );
}

#[test]
fn accepted_changes_are_acknowledged_and_refused_ones_held_with_the_reason() {
    let outbox = [change(1, "a", 1), change(2, "b", 1), change(3, "b", 1)];
    let (mut run, round) = started(100, SyncState::default(), &outbox);
    let mut response = answer();
    response.results = vec![
        accepted("a", &["h1"]),
        PushResult {
            doc_id: "b".into(),
            outcome: PushOutcome::Rejected {
                code: RejectCode::OutOfScope,
                reason: "outside your caseload".into(),
                quarantine_id: Some(4),
            },
        },
    ];
    let effects = run.respond(round, response, &Waiting::default()).unwrap();
    assert_eq!(
        effects[0],
        Effect::Acknowledge {
            doc_id: "a".into(),
            hashes: vec!["h1".into()]
        }
    );
    let held = ChangeRef {
        seq: 2,
        hash: "h2".into(),
    };
    assert_eq!(
        effects[1],
        Effect::Hold {
            doc_id: "b".into(),
            changes: vec![
                held,
                ChangeRef {
                    seq: 3,
                    hash: "h3".into()
                }
            ],
            code: RejectCode::OutOfScope,
            reason: "outside your caseload".into(),
        }
    );
    let summary = run.finish();
    assert_eq!(
        summary.refused,
        [Refused {
            doc_id: "b".into(),
            code: RejectCode::OutOfScope,
            reason: "outside your caseload".into(),
            changes: 2,
        }]
    );
    assert_eq!((summary.round_trips, summary.pushed_changes), (1, 3));
}

#[test]
fn the_cursor_and_anchor_are_set_last_and_an_absent_anchor_is_kept() {
    let (mut run, round) = started(100, SyncState::default(), &[change(1, "a", 1)]);
    let mut response = answer();
    response.results = vec![accepted("a", &["h1"])];
    response.pull = vec![PulledDoc {
        doc_id: "p".into(),
        changes: vec![ChangeBytes(vec![1])],
        meta: None,
    }];
    response.scopes_complete = vec!["child:c-1".into()];
    let effects = run.respond(round, response, &Waiting::default()).unwrap();
    assert_eq!(
        effects.last(),
        Some(&Effect::SetCursor {
            cursor: Cursor("1.9".into()),
            anchor: Some(FeedAnchor("1.ab.9.00".into())),
        })
    );
    let round = round_of(&mut run, SyncState::default(), &[]);
    let mut response = answer();
    response.anchor = None;
    let effects = run.respond(round, response, &Waiting::default()).unwrap();
    assert_eq!(
        effects.last(),
        Some(&Effect::SetCursor {
            cursor: Cursor("1.9".into()),
            anchor: None,
        })
    );
}

#[test]
fn pulled_documents_carry_listing_facts_only_when_a_device_can_list_from_them() {
    let meta = |kind: &str, scope: &str| DocMeta {
        kind: kind.into(),
        child_id: Some("c-1".into()),
        summary: "Home visit".into(),
        scope: scope.into(),
    };
    let (mut run, round) = started(100, SyncState::default(), &[]);
    let mut response = answer();
    response.pull = [
        ("a", Some(meta("visit_note", "child:c-1"))),
        ("b", Some(meta("spaceship", "child:c-1"))),
        ("c", Some(meta("visit_note", ""))),
        ("d", None),
    ]
    .into_iter()
    .map(|(doc, meta)| PulledDoc {
        doc_id: doc.into(),
        changes: vec![ChangeBytes(vec![1]), ChangeBytes(vec![2])],
        meta,
    })
    .collect();
    let effects = run.respond(round, response, &Waiting::default()).unwrap();
    let listings: Vec<Option<Listing>> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::ApplyChanges {
                listing, changes, ..
            } => {
                assert_eq!(changes, &[vec![1], vec![2]]);
                Some(listing.clone())
            }
            _ => None,
        })
        .collect();
    let listed = Listing {
        kind: DocKind::VisitNote,
        child_id: Some("c-1".into()),
        summary: "Home visit".into(),
        scope: "child:c-1".into(),
    };
    assert_eq!(listings, [Some(listed), None, None, None]);
    let summary = run.finish();
    assert_eq!((summary.pulled_docs, summary.pulled_changes), (4, 8));
}

#[test]
fn a_scope_is_removed_only_when_nothing_of_it_waits_to_be_sent() {
    let outbox = [change(1, "a", 1), change(2, "b", 1)];
    let (mut run, round) = started(100, SyncState::default(), &outbox);
    let mut response = answer();
    // "a" acknowledged now, "b" deferred: still waiting.
    response.results = vec![accepted("a", &["h1"]), deferred("b", &["x"])];
    response.remove_scopes = vec![
        "child:acked".into(),
        "child:deferred".into(),
        "child:unread".into(),
        "child:empty".into(),
    ];
    let mut waiting = Waiting::default();
    waiting.insert("child:acked".into(), vec!["h1".into()]);
    waiting.insert("child:deferred".into(), vec!["h1".into(), "h2".into()]);
    waiting.insert("child:empty".into(), Vec::new());
    let effects = run.respond(round, response, &waiting).unwrap();
    let removed: Vec<&str> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::RemoveScope { key } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(removed, ["child:acked", "child:empty"]);
    let summary = run.finish();
    assert_eq!(summary.removed_scopes, ["child:acked", "child:empty"]);
    assert_eq!(
        summary.removals_waiting,
        ["child:deferred", "child:unread"],
        "a key whose waiting changes were not read keeps its documents"
    );
}

#[test]
fn a_held_change_does_not_keep_its_scope_and_a_later_removal_clears_the_waiting_list() {
    let outbox = [change(1, "a", 1)];
    let (mut run, round) = started(100, SyncState::default(), &outbox);
    let mut response = answer();
    // Over the server's work budget: sent again in this sync.
    response.results = vec![deferred("a", &[])];
    response.remove_scopes = vec!["child:c-1".into()];
    let mut waiting = Waiting::default();
    waiting.insert("child:c-1".into(), vec!["h1".into()]);
    run.respond(round, response, &waiting).unwrap();
    assert_eq!(run.summary().removals_waiting, ["child:c-1"]);

    let round = round_of(&mut run, SyncState::default(), &outbox);
    let mut response = answer();
    response.results = vec![PushResult {
        doc_id: "a".into(),
        outcome: PushOutcome::Rejected {
            code: RejectCode::OutOfScope,
            reason: "ended".into(),
            quarantine_id: None,
        },
    }];
    response.remove_scopes = vec!["child:c-1".into()];
    let effects = run.respond(round, response, &waiting).unwrap();
    assert!(effects.contains(&Effect::RemoveScope {
        key: "child:c-1".into()
    }));
    let summary = run.finish();
    assert_eq!(summary.removed_scopes, ["child:c-1"]);
    assert!(summary.removals_waiting.is_empty());
}

#[test]
fn only_keys_not_yet_held_are_completed() {
    let (mut run, round) = started(100, holding("child:c-1"), &[]);
    let mut response = answer();
    response.scopes_complete = vec!["child:c-1".into(), "child:c-2".into(), "child:c-2".into()];
    let effects = run.respond(round, response, &Waiting::default()).unwrap();
    let completed: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e, Effect::CompleteScope { .. }))
        .collect();
    assert_eq!(
        completed,
        [&Effect::CompleteScope {
            key: "child:c-2".into()
        }]
    );
    assert_eq!(run.finish().scopes_completed, ["child:c-2"]);
}

#[test]
fn a_feed_reset_forgets_the_held_keys_and_starts_healing() {
    let (mut run, round) = started(100, holding("child:c-1"), &[]);
    let mut response = answer();
    response.feed_reset = reset("f2", "restored");
    response.scopes_complete = vec!["child:c-1".into()];
    let effects = run.respond(round, response, &Waiting::default()).unwrap();
    let expected = [
        Effect::RecordRestore {
            feed_id: "f2".into(),
            message: "restored".into(),
        },
        Effect::ForgetScopes,
        Effect::SetHealing(Some(String::new())),
        Effect::SetReadOnlyScopes(Vec::new()),
        Effect::CompleteScope {
            key: "child:c-1".into(),
        },
    ];
    assert_eq!(effects[..expected.len()], expected);
    assert!(run.continues(false), "the check starts in this sync");
}

#[test]
fn healing_resends_what_the_server_lacks_and_moves_on_page_by_page() {
    let mut run = run(100);
    let mut batch = run.batch();
    fill(&mut batch, &[change(1, "a", 1)]);
    let round = run.round(healing_state(), batch, heads(MAX_VERIFY_DOCS + 5));
    assert_eq!(round.request().verify.len(), MAX_VERIFY_DOCS, "capped");
    let mut response = answer();
    response.lacking = vec![
        Lacking {
            doc_id: "d0003".into(),
            have: vec!["older".into()],
        },
        Lacking {
            doc_id: "unasked".into(),
            have: Vec::new(),
        },
    ];
    let effects = run.respond(round, response, &Waiting::default()).unwrap();
    let expected = [
        Effect::Resend {
            doc_id: "d0003".into(),
            server_has: vec!["older".into()],
        },
        Effect::CountChecked {
            documents: MAX_VERIFY_DOCS as u64,
        },
        Effect::SetHealing(Some(format!("d{:04}", MAX_VERIFY_DOCS - 1))),
    ];
    assert_eq!(effects[..expected.len()], expected);
    assert!(run.continues(false), "a full page: more heads to check");
    assert_eq!(run.sent_up_to(), 1);
}

#[test]
fn the_last_healing_round_ends_the_check_and_sends_everything_waiting_again() {
    let mut run = run(100);
    let mut batch = run.batch();
    fill(&mut batch, &[change(1, "a", 1), change(2, "a", 1)]);
    let round = run.round(healing_state(), batch, heads(3));
    let mut response = answer();
    response.results = vec![deferred("a", &["lost"])];
    let effects = run.respond(round, response, &Waiting::default()).unwrap();
    assert!(effects.contains(&Effect::SetHealing(None)));
    assert!(effects.contains(&Effect::CountChecked { documents: 3 }));
    assert!(!run.continues(false));
    assert_eq!(
        run.sent_up_to(),
        0,
        "changes deferred while the server lacked what they build on go once more"
    );
}

#[test]
fn a_reset_during_a_check_starts_it_again_from_the_first_document() {
    let mut run = run(100);
    let mut batch = run.batch();
    fill(&mut batch, &[change(1, "a", 1)]);
    let round = run.round(healing_state(), batch, heads(2));
    let mut response = answer();
    response.feed_reset = reset("f3", "restored again");
    let effects = run.respond(round, response, &Waiting::default()).unwrap();
    let healing: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e, Effect::SetHealing(_)))
        .collect();
    assert_eq!(
        healing,
        [
            &Effect::SetHealing(None),
            &Effect::SetHealing(Some(String::new()))
        ],
        "the reset's restart is applied last"
    );
    assert!(run.continues(false));
    assert_eq!(
        run.sent_up_to(),
        1,
        "the check is not over: nothing is sent again yet"
    );
}

#[test]
fn without_a_check_under_way_no_healing_effect_is_made() {
    let (mut run, round) = started(100, SyncState::default(), &[]);
    let mut response = answer();
    response.lacking = vec![Lacking {
        doc_id: "d".into(),
        have: Vec::new(),
    }];
    let effects = run.respond(round, response, &Waiting::default()).unwrap();
    assert!(!effects.iter().any(|e| matches!(
        e,
        Effect::Resend { .. } | Effect::CountChecked { .. } | Effect::SetHealing(_)
    )));
}

#[test]
fn too_many_resets_in_one_sync_stop_it() {
    let mut run = run(100);
    let reset_round = |run: &mut SyncRun| {
        let round = round_of(run, SyncState::default(), &[]);
        let mut response = answer();
        response.feed_reset = reset("f", "again");
        run.respond(round, response, &Waiting::default())
    };
    for _ in 0..3 {
        assert!(reset_round(&mut run).is_ok());
    }
    let err = reset_round(&mut run).unwrap_err();
    assert_eq!(err, SyncError::ResetLoop);
    assert_eq!(err.code(), "feed_reset_loop");
}

#[test]
fn an_answer_in_another_protocol_is_refused() {
    let (mut run, round) = started(100, SyncState::default(), &[]);
    let mut response = answer();
    response.protocol = PROTOCOL_VERSION + 1;
    let err = run
        .respond(round, response, &Waiting::default())
        .unwrap_err();
    assert_eq!(err.code(), "unsupported_protocol");
    assert!(
        err.to_string()
            .contains(&format!("protocol {}", PROTOCOL_VERSION + 1))
    );
}

#[test]
fn documents_over_the_servers_work_budget_go_again_in_the_same_sync() {
    let outbox = [change(1, "a", 1), change(2, "b", 1), change(3, "c", 1)];
    let (mut run, round) = started(2, SyncState::default(), &outbox);
    assert_eq!(run.sent_up_to(), 2);
    let mut response = answer();
    response.results = vec![accepted("a", &["h1"]), deferred("b", &[])];
    run.respond(round, response, &Waiting::default()).unwrap();
    assert_eq!(
        run.sent_up_to(),
        0,
        "the batch is read again from its start"
    );
    assert_eq!(run.summary().deferred, 1);

    // Deferred for a missing dependency: not sent again in this sync.
    let round = round_of(&mut run, SyncState::default(), &outbox[1..]);
    let mut response = answer();
    response.results = vec![deferred("b", &["dep"]), accepted("c", &["h3"])];
    run.respond(round, response, &Waiting::default()).unwrap();
    assert_eq!(run.sent_up_to(), 3);
}

#[test]
fn the_sync_goes_on_while_the_server_has_more_or_the_outbox_waits() {
    let (mut run, round) = started(100, SyncState::default(), &[]);
    let mut response = answer();
    response.more = true;
    run.respond(round, response, &Waiting::default()).unwrap();
    assert!(run.continues(false));
    let round = round_of(&mut run, SyncState::default(), &[]);
    run.respond(round, answer(), &Waiting::default()).unwrap();
    assert!(!run.continues(false));
    assert!(run.continues(true));
}

// Scope keys being removed (issue 11, found by the simulation: seeds 452 and 1539 with
// `returns` on). A key whose removal waits for unsent changes is no longer listed, so that a
// key that comes back is a new scope to the server, which then sends its whole history.

/// The key the removal tests remove.
const KEY: &str = "child:c-1";

fn removing(key: &str) -> SyncState {
    SyncState {
        removing: vec![key.into()],
        ..SyncState::default()
    }
}

/// A pulled document of scope key `scope`, as the server sends it.
fn pulled_under(doc: &str, scope: &str) -> PulledDoc {
    PulledDoc {
        doc_id: doc.into(),
        changes: vec![ChangeBytes(vec![1])],
        meta: Some(DocMeta {
            kind: "visit_note".into(),
            child_id: None,
            summary: "Home visit".into(),
            scope: scope.into(),
        }),
    }
}

fn waiting_of(key: &str, hashes: &[&str]) -> Waiting {
    let mut waiting = Waiting::default();
    waiting.insert(key.into(), hashes.iter().map(|h| (*h).to_owned()).collect());
    waiting
}

/// Answer `round` with `response` while the changes `hashes` of `key` wait: the effects that
/// change the held list or the keys being removed, in order.
fn scope_answer(
    run: &mut SyncRun,
    round: Round,
    response: SyncResponse,
    key: &str,
    hashes: &[&str],
) -> Vec<Effect> {
    let effects = run
        .respond(round, response, &waiting_of(key, hashes))
        .unwrap();
    effects
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                Effect::ForgetScopes
                    | Effect::CompleteScope { .. }
                    | Effect::StartRemoval { .. }
                    | Effect::CancelRemoval { .. }
                    | Effect::RemoveScope { .. }
            )
        })
        .collect()
}

/// A round holding `key` whose answer says the feed was reset and `key` left the scope, with
/// nothing of `key` waiting: the scope effects it asks for.
fn reset_and_remove(run: &mut SyncRun, key: &str) -> Vec<Effect> {
    let round = round_of(run, holding(key), &[]);
    let mut response = answer();
    response.feed_reset = reset("f2", "restored");
    response.remove_scopes = vec![key.into()];
    scope_answer(run, round, response, key, &[])
}

#[test]
fn a_removal_that_waits_stops_listing_the_key_and_finishes_once_nothing_waits() {
    let outbox = [change(1, "a", 1), change(2, "a", 1)];
    // One change per request: the second still waits after the first answer.
    let (mut run, round) = started(1, holding(KEY), &outbox);
    let mut response = answer();
    response.results = vec![accepted("a", &["h1"])];
    response.remove_scopes = vec![KEY.into()];
    assert_eq!(round.removals(&response), [KEY]);
    assert_eq!(
        scope_answer(&mut run, round, response, KEY, &["h1", "h2"]),
        [Effect::StartRemoval { key: KEY.into() }],
        "documents kept, the KEY no longer listed"
    );
    assert_eq!(run.summary().removals_waiting, [KEY]);

    // The store moved the key: the next request does not list it, and the server no longer
    // names it; the device still asks for its waiting changes.
    let round = round_of(&mut run, removing(KEY), &outbox);
    assert!(round.request().scopes.is_empty(), "{:?}", round.request());
    let mut response = answer();
    response.results = vec![accepted("a", &["h2"])];
    assert_eq!(round.removals(&response), [KEY]);
    let effects = scope_answer(&mut run, round, response, KEY, &["h2"]);
    assert_eq!(effects, [Effect::RemoveScope { key: KEY.into() }]);
    let summary = run.finish();
    assert_eq!(summary.removed_scopes, [KEY]);
    assert!(summary.removals_waiting.is_empty(), "{summary:?}");
}

#[test]
fn a_key_being_removed_stays_while_its_changes_wait() {
    let (mut run, round) = started(100, removing(KEY), &[change(1, "a", 1)]);
    let mut response = answer();
    response.results = vec![deferred("a", &["x"])];
    let effects = scope_answer(&mut run, round, response, KEY, &["h1"]);
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(run.finish().removals_waiting, [KEY]);
}

#[test]
fn a_key_that_comes_back_before_its_removal_finishes_keeps_its_documents() {
    // The server backfills the key: a page with one of its documents, the rest to follow.
    // Its last waiting change is acknowledged in the same answer, but removing its documents
    // now would drop history the backfill already sent.
    let (mut run, round) = started(100, removing(KEY), &[change(1, "a", 1)]);
    let mut response = answer();
    response.results = vec![accepted("a", &["h1"])];
    response.pull = vec![pulled_under("a", KEY)];
    response.more = true;
    let effects = scope_answer(&mut run, round, response, KEY, &["h1"]);
    assert_eq!(effects, [Effect::CancelRemoval { key: KEY.into() }]);

    // A KEY whose (empty) history is complete in one answer comes back too, and is listed.
    let round = round_of(&mut run, removing(KEY), &[]);
    let mut response = answer();
    response.scopes_complete = vec![KEY.into()];
    assert_eq!(
        scope_answer(&mut run, round, response, KEY, &[]),
        [
            Effect::CancelRemoval { key: KEY.into() },
            Effect::CompleteScope { key: KEY.into() }
        ]
    );
    let summary = run.finish();
    assert!(summary.removed_scopes.is_empty(), "{summary:?}");
    assert!(summary.removals_waiting.is_empty(), "{summary:?}");
}

#[test]
fn documents_of_another_key_do_not_call_a_removal_off() {
    let other = "child:c-2";
    let (mut run, round) = started(100, removing(KEY), &[]);
    let mut response = answer();
    response.pull = vec![pulled_under("b", other)];
    response.scopes_complete = vec![other.into()];
    assert_eq!(
        scope_answer(&mut run, round, response, KEY, &[]),
        [
            Effect::CompleteScope { key: other.into() },
            Effect::RemoveScope { key: KEY.into() }
        ]
    );
}

#[test]
fn a_key_that_leaves_during_a_restore_check_is_marked_not_listed_and_removed_after() {
    let mut run = run(100);
    // The reset answer: nothing is removed, and the KEY is not listed again.
    assert_eq!(
        reset_and_remove(&mut run, KEY),
        [
            Effect::ForgetScopes,
            Effect::StartRemoval { key: KEY.into() }
        ]
    );
    // A healing round: still nothing removed.
    let mut batch = run.batch();
    fill(&mut batch, &[]);
    let state = SyncState {
        healing: Some(String::new()),
        ..removing(KEY)
    };
    let round = run.round(state, batch, heads(2));
    let effects = scope_answer(&mut run, round, answer(), KEY, &[]);
    assert!(effects.is_empty(), "{effects:?}");
    // Checked: the KEY goes.
    let round = round_of(&mut run, removing(KEY), &[]);
    let effects = scope_answer(&mut run, round, answer(), KEY, &[]);
    assert_eq!(effects, [Effect::RemoveScope { key: KEY.into() }]);
}

#[test]
fn the_all_documents_key_stays_listed_while_its_removal_waits() {
    let all = fieldnotes_protocol::SCOPE_ALL;
    let (mut run, round) = started(100, holding(all), &[]);
    let mut response = answer();
    response.remove_scopes = vec![all.into()];
    let effects = scope_answer(&mut run, round, response, all, &["h1"]);
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(run.summary().removals_waiting, [all]);

    // After a reset it is listed again at once, so that the server names it again.
    assert_eq!(
        reset_and_remove(&mut run, all),
        [
            Effect::ForgetScopes,
            Effect::CompleteScope { key: all.into() }
        ]
    );
}
