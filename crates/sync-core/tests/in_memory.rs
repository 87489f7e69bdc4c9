//! A device made of the core's public API and an in-memory store, synced against a scripted
//! server in one process: the shape a simulation of many devices takes.

use std::collections::{BTreeMap, HashMap};

use fieldnotes_protocol::{
    Cursor, PROTOCOL_VERSION, PulledDoc, PushOutcome, PushResult, SyncRequest, SyncResponse,
};
use fieldnotes_sync_core::{
    AfterRefusal, Effect, Limits, OutboxChange, Refusal, SyncRun, SyncState, Waiting,
};

/// Everything a device keeps, in memory.
#[derive(Debug, Default)]
struct MemDevice {
    state: SyncState,
    outbox: BTreeMap<i64, OutboxChange>,
    held: BTreeMap<i64, String>,
    docs: HashMap<String, Vec<Vec<u8>>>,
    scope_of: HashMap<String, String>,
}

impl MemDevice {
    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Acknowledge { hashes, .. } => {
                    self.outbox.retain(|_, c| !hashes.contains(&c.hash));
                }
                Effect::Hold {
                    changes, reason, ..
                } => {
                    for c in changes {
                        self.held.insert(c.seq, reason.clone());
                    }
                }
                Effect::ApplyChanges {
                    doc_id,
                    changes,
                    listing,
                } => {
                    if let Some(listing) = listing {
                        self.scope_of.insert(doc_id.clone(), listing.scope);
                    }
                    self.docs.entry(doc_id).or_default().extend(changes);
                }
                Effect::CompleteScope { key } => self.state.scopes.push(key),
                Effect::StartRemoval { key } => {
                    self.state.scopes.retain(|k| *k != key);
                    self.state.removing.push(key);
                }
                Effect::CancelRemoval { key } => self.state.removing.retain(|k| *k != key),
                Effect::RemoveScope { key } => {
                    self.state.scopes.retain(|k| *k != key);
                    self.state.removing.retain(|k| *k != key);
                    let gone: Vec<String> = (self.scope_of.iter())
                        .filter(|(_, s)| **s == key)
                        .map(|(d, _)| d.clone())
                        .collect();
                    for doc in gone {
                        self.docs.remove(&doc);
                    }
                }
                Effect::SetCursor { cursor, anchor } => {
                    self.state.cursor = Some(cursor);
                    if anchor.is_some() {
                        self.state.anchor = anchor;
                    }
                }
                Effect::ForgetScopes => self.state.scopes.clear(),
                Effect::SetHealing(after) => self.state.healing = after,
                _ => {}
            }
        }
    }

    fn waiting(&self, keys: &[String]) -> Waiting {
        let mut waiting = Waiting::default();
        for key in keys {
            let hashes = (self.outbox.values())
                .filter(|c| !self.held.contains_key(&c.seq))
                .filter(|c| self.scope_of.get(&c.doc_id) == Some(key))
                .map(|c| c.hash.clone())
                .collect();
            waiting.insert(key.clone(), hashes);
        }
        waiting
    }

    /// One sync against `server`, which answers a request or refuses it.
    fn sync(
        &mut self,
        push_batch_bytes: u64,
        server: &mut impl FnMut(&SyncRequest) -> Result<SyncResponse, Refusal>,
    ) {
        let mut run = SyncRun::new(Limits {
            push_batch_bytes,
            page_bytes: 1024,
        });
        loop {
            let mut batch = run.batch();
            let after = batch.after_seq();
            for change in self.outbox.range(after + 1..).map(|(_, c)| c) {
                if !self.held.contains_key(&change.seq) && !batch.offer(change.clone()) {
                    break;
                }
            }
            let round = run.round(self.state.clone(), batch, Vec::new());
            match server(round.request()) {
                Err(refusal) => match run.refused(&round, refusal) {
                    AfterRefusal::SendAgain => continue,
                    AfterRefusal::Apply(effects) => return self.apply(effects),
                    AfterRefusal::GiveUp => return,
                },
                Ok(response) => {
                    let waiting = self.waiting(&round.removals(&response));
                    let effects = run.respond(round, response, &waiting).expect("usable");
                    self.apply(effects);
                }
            }
            let waiting = self.outbox.range(run.sent_up_to() + 1..).next().is_some();
            if !run.continues(waiting) {
                return;
            }
        }
    }
}

fn change(seq: i64, doc: &str) -> OutboxChange {
    OutboxChange {
        seq,
        doc_id: doc.into(),
        hash: format!("h{seq}"),
        bytes: vec![u8::try_from(seq).expect("small"); 40],
    }
}

/// Accepts every push, refusing requests of more than `limit` changes as too large, and
/// pulls one document of `child:c-1` until the scope is removed.
fn server(
    limit: usize,
    log: &mut Vec<usize>,
) -> impl FnMut(&SyncRequest) -> Result<SyncResponse, Refusal> + '_ {
    move |request| {
        let changes: usize = request.push.iter().map(|d| d.changes.len()).sum();
        log.push(changes);
        if changes > limit {
            return Err(Refusal::TooLarge);
        }
        let results = (request.push.iter())
            .map(|d| PushResult {
                doc_id: d.doc_id.clone(),
                outcome: PushOutcome::Accepted {
                    hashes: d.changes.iter().map(|c| format!("h{}", c.0[0])).collect(),
                },
            })
            .collect();
        let holds = request.scopes.iter().any(|k| k == "child:c-1");
        Ok(SyncResponse {
            protocol: PROTOCOL_VERSION,
            results,
            pull: Vec::<PulledDoc>::new(),
            cursor: Cursor(format!("1.{}", log.len())),
            more: false,
            scopes_complete: if holds {
                Vec::new()
            } else {
                vec!["child:c-1".into()]
            },
            remove_scopes: Vec::new(),
            read_only_scopes: Vec::new(),
            anchor: None,
            feed_reset: None,
            lacking: Vec::new(),
        })
    }
}

#[test]
fn an_in_memory_device_empties_its_outbox_and_learns_its_scope() {
    let mut device = MemDevice::default();
    for seq in 1..=4 {
        let doc = if seq % 2 == 0 { "a" } else { "b" };
        device.outbox.insert(seq, change(seq, doc));
    }
    let mut log = Vec::new();
    device.sync(80, &mut server(10, &mut log));
    assert!(device.outbox.is_empty(), "{:?}", device.outbox);
    assert_eq!(log, [2, 2], "two 40-byte changes per 80-byte request");
    assert_eq!(device.state.cursor, Some(Cursor("1.2".into())));
    assert_eq!(device.state.scopes, ["child:c-1"]);
}

#[test]
fn a_device_whose_requests_are_too_large_halves_them_until_they_pass() {
    let mut device = MemDevice::default();
    for seq in 1..=4 {
        device.outbox.insert(seq, change(seq, "a"));
    }
    let mut log = Vec::new();
    device.sync(160, &mut server(1, &mut log));
    assert!(device.outbox.is_empty(), "{:?}", device.outbox);
    assert_eq!(log, [4, 2, 1, 1, 1, 1]);
}
