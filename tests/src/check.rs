//! Checks the suites make the same way: the shape of an HTTP refusal, the outcome of each
//! document of a push, and a refusal on the device. Each names what came back instead when it
//! fails, at the caller's line.

use std::fmt::Debug;

use fieldnotes_client::ClientError;
use fieldnotes_model::RuleCode;
use fieldnotes_protocol::{PushOutcome, RejectCode, SyncResponse};
use fieldnotes_store::QuarantineRecord;
use reqwest::StatusCode;

use crate::wire::RawAnswer;

/// Refused with `status`, a stable `code`, and a message naming `needle` (in any case).
#[track_caller]
pub fn assert_refused(answer: &RawAnswer, status: StatusCode, code: &str, needle: &str) {
    assert_refused_as("", answer, status, code, needle);
}

/// [`assert_refused`] for the case named `what`, which a failure names first.
#[track_caller]
pub fn assert_refused_as(
    what: &str,
    answer: &RawAnswer,
    status: StatusCode,
    code: &str,
    needle: &str,
) {
    assert_eq!(
        answer.status,
        status,
        "{what} {}",
        String::from_utf8_lossy(&answer.body)
    );
    let body = match answer.error_body() {
        Ok(body) => body,
        Err(e) => panic!("{what} {e:#}"),
    };
    assert_eq!(body.code, code, "{what} {}", body.message);
    assert!(
        body.message.to_lowercase().contains(&needle.to_lowercase()),
        "{what} message {:?} should mention {needle:?}",
        body.message
    );
}

/// The code, reason and quarantine id of the refusal of document `index` of a push, or a
/// failure naming what came back instead.
#[track_caller]
pub fn rejected(response: &SyncResponse, index: usize) -> (RejectCode, String, Option<i64>) {
    match &response.results[index].outcome {
        PushOutcome::Rejected {
            code,
            reason,
            quarantine_id,
        } => (*code, reason.clone(), *quarantine_id),
        other => panic!("result {index} should be rejected, got {other:?}"),
    }
}

/// Document `index` of a push refused with `code`, for a reason naming `needle`, and kept in
/// quarantine.
#[track_caller]
pub fn assert_rejected(response: &SyncResponse, index: usize, code: RejectCode, needle: &str) {
    let (got, reason, quarantine_id) = rejected(response, index);
    assert_eq!(got, code, "result {index}: {reason}");
    assert!(
        reason.contains(needle),
        "result {index}: {reason:?} should mention {needle:?}"
    );
    assert!(
        quarantine_id.is_some(),
        "result {index} is kept for review: {reason}"
    );
}

/// Whether document `index` of a push was accepted.
pub fn accepted(response: &SyncResponse, index: usize) -> bool {
    matches!(
        response.results[index].outcome,
        PushOutcome::Accepted { .. }
    )
}

/// Whether every document of a push was accepted.
pub fn all_accepted(response: &SyncResponse) -> bool {
    response
        .results
        .iter()
        .all(|r| matches!(r.outcome, PushOutcome::Accepted { .. }))
}

/// The code and message of a refusal on the device, or a failure naming what came back
/// instead.
#[track_caller]
pub fn refusal<T: Debug>(result: Result<T, ClientError>) -> (RuleCode, String) {
    match result {
        Err(ClientError::Refused { code, message }) => (code, message),
        other => panic!("expected the device to refuse, got {other:?}"),
    }
}

/// The one thing in `items`, or a failure listing them all.
#[track_caller]
pub fn the_only<T: Debug>(items: Vec<T>) -> T {
    assert_eq!(items.len(), 1, "{items:?}");
    let mut items = items;
    match items.pop() {
        Some(item) => item,
        None => unreachable!("one item was counted"),
    }
}

/// The quarantine `kept` holds an entry for `doc_id` refused as `code`.
#[track_caller]
pub fn assert_quarantined(kept: &[QuarantineRecord], code: RejectCode, doc_id: &str) {
    assert!(
        kept.iter()
            .any(|q| q.code == code.into() && q.doc_id.as_deref() == Some(doc_id)),
        "no {code} entry for {doc_id}: {kept:?}"
    );
}

/// Answered with `status`, or a failure showing the answer's body.
#[track_caller]
pub fn assert_status(answer: &RawAnswer, status: u16) {
    assert_eq!(
        answer.status,
        status,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
}
