//! One sync: the rounds it makes, what each sends, and when it stops.

use fieldnotes_protocol::{
    ByteBudget, Cursor, DocHead, FeedAnchor, MAX_VERIFY_DOCS, PROTOCOL_VERSION, PushDoc,
    SyncRequest, SyncResponse, group_by_document,
};

use crate::effect::{ChangeRef, Effect};
use crate::respond::Summary;

/// Rounds one sync sends again because the server deferred documents over its per-request work
/// budget (each round lands at least one document, so this only bounds a misbehaving server).
pub(crate) const MAX_BUDGET_ROUNDS_PER_SYNC: u32 = 256;
/// More resets than this in one sync is a server fault, not a restore.
pub(crate) const MAX_RESETS_PER_SYNC: u32 = 3;

/// The sizes a device asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of change data one request pushes (at least one change goes, however large).
    pub push_batch_bytes: u64,
    /// The largest pull page to ask for, in bytes of change data.
    pub page_bytes: u64,
}

/// What the store holds for the protocol, read at the start of each round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Where the last answer left the pull; `None` before the first.
    pub cursor: Option<Cursor>,
    /// The last answer's anchor.
    pub anchor: Option<FeedAnchor>,
    /// The scope keys held in full: the keys the request lists.
    pub scopes: Vec<String>,
    /// Scope keys being removed: they left the person's scope while changes to their
    /// documents waited to be sent. Not listed (not in `scopes`), so a key that comes back is a
    /// new scope to the server, which sends its whole history; their documents go once nothing
    /// of them waits ([`crate::Effect::StartRemoval`]).
    pub removing: Vec<String>,
    /// While healing after a reset: the last document whose own head was checked (empty: none
    /// yet). `None` when no check is under way.
    pub healing: Option<String>,
}

impl SyncState {
    /// While healing, the document id after which to read own heads (in id order, at most
    /// [`MAX_VERIFY_DOCS`]) for the next request's `verify`.
    pub fn verify_after(&self) -> Option<&str> {
        self.healing.as_deref()
    }
}

/// A change waiting in the outbox, as the store hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxChange {
    /// Its position in the outbox (rows are offered in this order).
    pub seq: i64,
    pub doc_id: String,
    pub hash: String,
    pub bytes: Vec<u8>,
}

/// The outbox changes of the next request: the store offers its changes (not held, after
/// [`Batch::after_seq`], in outbox order) until one does not fit.
#[derive(Debug, Clone)]
pub struct Batch {
    after_seq: i64,
    budget: ByteBudget,
    changes: Vec<OutboxChange>,
}

impl Batch {
    /// Offer changes with an outbox position after this one.
    pub fn after_seq(&self) -> i64 {
        self.after_seq
    }

    /// Take `change` if it fits; `false` when the batch is full (stop offering).
    pub fn offer(&mut self, change: OutboxChange) -> bool {
        if !self.budget.take(change.bytes.len() as u64) {
            return false;
        }
        self.changes.push(change);
        true
    }

    /// Changes taken.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// One request in flight, and what the core needs to read its answer.
#[derive(Debug, Clone)]
pub struct Round {
    request: SyncRequest,
    pub(crate) sent: Vec<(String, ChangeRef)>,
    pub(crate) batch_start: i64,
    /// The request carried a healing check (`verify`).
    pub(crate) healing: bool,
    pub(crate) held_scopes: Vec<String>,
    /// The keys the device was removing when it made the request.
    pub(crate) removing: Vec<String>,
}

impl Round {
    /// The request to send.
    pub fn request(&self) -> &SyncRequest {
        &self.request
    }

    /// The outbox changes this request pushes.
    pub fn changes(&self) -> usize {
        self.sent.len()
    }

    /// The scope keys whose [`crate::Waiting`] changes [`SyncRun::respond`] needs for
    /// `response`: those it removes, then those the device was already removing.
    pub fn removals(&self, response: &SyncResponse) -> Vec<String> {
        let mut keys = response.remove_scopes.clone();
        for key in &self.removing {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        keys
    }
}

/// The server refused a whole request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 413: the request is larger than the server takes.
    TooLarge,
    /// 403 `device_revoked`.
    DeviceRevoked,
}

/// What to do after a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterRefusal {
    /// Make the next round (smaller); nothing was applied.
    SendAgain,
    /// Apply these effects and stop.
    Apply(Vec<Effect>),
    /// Stop with the refusal: nothing more can be done in this sync.
    GiveUp,
}

/// One sync of one device: what carries from one round to the next. Make one per sync.
#[derive(Debug, Clone)]
pub struct SyncRun {
    /// Outbox changes up to this position were sent in this sync; a deferred change is not
    /// sent twice in one sync.
    pub(crate) sent_up_to: i64,
    /// Halved when the server says a request is too large for it, so a server with a smaller
    /// limit than this device's batches never blocks the outbox.
    pub(crate) batch_bytes: u64,
    pub(crate) page_bytes: u64,
    pub(crate) resets: u32,
    pub(crate) budget_rounds: u32,
    /// The last answer said the server has more, or healing goes on.
    pub(crate) more: bool,
    pub(crate) summary: Summary,
}

impl SyncRun {
    pub fn new(limits: Limits) -> Self {
        SyncRun {
            sent_up_to: 0,
            batch_bytes: limits.push_batch_bytes.max(1),
            page_bytes: limits.page_bytes,
            resets: 0,
            budget_rounds: 0,
            more: false,
            summary: Summary::default(),
        }
    }

    /// An empty batch for the next round.
    pub fn batch(&self) -> Batch {
        Batch {
            after_seq: self.sent_up_to,
            budget: ByteBudget::new(self.batch_bytes),
            changes: Vec::new(),
        }
    }

    /// The next request: `batch` grouped by document, the state's cursor, anchor and held
    /// keys, and `verify` (the own heads to check while healing; at most [`MAX_VERIFY_DOCS`]).
    pub fn round(&mut self, state: SyncState, batch: Batch, mut verify: Vec<DocHead>) -> Round {
        verify.truncate(MAX_VERIFY_DOCS);
        let batch_start = batch.after_seq;
        if let Some(last) = batch.changes.last() {
            self.sent_up_to = last.seq;
        }
        let mut sent = Vec::with_capacity(batch.changes.len());
        let mut groups = Vec::new();
        for (doc_id, changes) in group_by_document(batch.changes, |c| &c.doc_id) {
            let mut bytes = Vec::with_capacity(changes.len());
            for change in changes {
                let reference = ChangeRef {
                    seq: change.seq,
                    hash: change.hash,
                };
                sent.push((doc_id.clone(), reference));
                bytes.push(change.bytes.into());
            }
            groups.push(PushDoc {
                doc_id,
                changes: bytes,
            });
        }
        let request = SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor: state.cursor,
            push: groups,
            max_page_bytes: Some(self.page_bytes),
            scopes: state.scopes.clone(),
            anchor: state.anchor,
            verify,
        };
        Round {
            request,
            sent,
            batch_start,
            healing: state.healing.is_some(),
            held_scopes: state.scopes,
            removing: state.removing,
        }
    }

    /// The server refused `round` as a whole. A request too large for it is sent again in
    /// halves, down to a single change (which, still too large, is given up on); a revoked
    /// device wipes itself.
    pub fn refused(&mut self, round: &Round, refusal: Refusal) -> AfterRefusal {
        match refusal {
            Refusal::TooLarge if round.sent.len() > 1 => {
                self.batch_bytes = (self.batch_bytes / 2).max(1);
                self.sent_up_to = round.batch_start;
                tracing::info!(
                    batch_bytes = self.batch_bytes,
                    "the server refused a large request; sending smaller batches"
                );
                AfterRefusal::SendAgain
            }
            Refusal::TooLarge => AfterRefusal::GiveUp,
            Refusal::DeviceRevoked => AfterRefusal::Apply(vec![Effect::Wipe]),
        }
    }

    /// After an answer's effects are applied: whether to make another round.
    /// `outbox_waiting` says whether the outbox holds changes (not held) after
    /// [`SyncRun::sent_up_to`].
    pub fn continues(&self, outbox_waiting: bool) -> bool {
        self.more || outbox_waiting
    }

    /// Outbox changes up to this position were sent in this sync.
    pub fn sent_up_to(&self) -> i64 {
        self.sent_up_to
    }

    /// The bytes of change data the next request may push.
    pub fn batch_bytes(&self) -> u64 {
        self.batch_bytes
    }

    /// What this sync did so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// What this sync did.
    pub fn finish(self) -> Summary {
        let mut summary = self.summary;
        let removed = summary.removed_scopes.clone();
        summary.removals_waiting.retain(|k| !removed.contains(k));
        summary
    }
}
