//! A device's store, in memory: documents (loaded automerge documents through the model), the
//! outbox with held changes, the cursor, anchor, scope keys held and keys being removed. It applies the sync core's
//! [`Effect`]s in order and tells the device's
//! [`Ledger`] what became of each of its changes.

use std::collections::{BTreeMap, BTreeSet};

use fieldnotes_model::{ActorId, Document, EncodedChange};
use fieldnotes_protocol::{Cursor, DocHead, FeedAnchor, MAX_VERIFY_DOCS, RejectCode, SCOPE_ALL};
use fieldnotes_sync_core::{ChangeRef, Effect, Listing, OutboxChange, SyncState, Waiting};

use crate::error::SimError;

/// A change the server refused, kept with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub code: RejectCode,
    pub reason: String,
}

/// One outbox row.
#[derive(Debug, Clone)]
pub(crate) struct OutboxRow {
    pub doc_id: String,
    pub hash: String,
    pub bytes: Vec<u8>,
    pub held: Option<Held>,
}

/// A document the device holds, with its scope key.
#[derive(Debug)]
pub(crate) struct LocalDoc {
    pub doc: Document,
    pub scope: String,
}

/// What the simulation knows became of each change a device made (the device's own view is
/// its store; this is the observer's record, kept across a wipe).
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Every change the device made: hash to document.
    pub made: BTreeMap<String, String>,
    /// Changes the server acknowledged to this device.
    pub acked: BTreeSet<String>,
    /// Held changes removed with their scope key, with the reason they were held.
    pub dropped_held: BTreeMap<String, String>,
    /// Changes not yet acknowledged when the device was wiped.
    pub wiped_unsent: BTreeMap<String, String>,
}

/// The store's state.
#[derive(Debug, Default)]
pub(crate) struct DeviceStore {
    pub docs: BTreeMap<String, LocalDoc>,
    pub outbox: BTreeMap<i64, OutboxRow>,
    next_seq: i64,
    pub cursor: Option<Cursor>,
    pub anchor: Option<FeedAnchor>,
    pub scopes: Vec<String>,
    /// Keys being removed: not listed, their documents kept until nothing of them waits.
    pub removing: Vec<String>,
    pub read_only: Vec<String>,
    healing: Option<String>,
    /// The newest change of this device's own to each document.
    own_heads: BTreeMap<String, String>,
    pub restores: u64,
    pub wiped: bool,
    /// A deliberate bug, to show the checks catch one.
    pub sabotage: Option<crate::Sabotage>,
}

impl DeviceStore {
    pub fn sync_state(&self) -> SyncState {
        SyncState {
            cursor: self.cursor.clone(),
            anchor: self.anchor.clone(),
            scopes: self.scopes.clone(),
            removing: self.removing.clone(),
            healing: self.healing.clone(),
        }
    }

    /// The own heads a healing check sends next (none when no check is under way).
    pub fn verify(&self, after: Option<&str>) -> Vec<DocHead> {
        let Some(after) = after else {
            return Vec::new();
        };
        self.own_heads
            .iter()
            .filter(|(doc, _)| after.is_empty() || doc.as_str() > after)
            .take(MAX_VERIFY_DOCS)
            .map(|(doc_id, hash)| DocHead {
                doc_id: doc_id.clone(),
                hash: hash.clone(),
            })
            .collect()
    }

    /// Outbox changes waiting to be sent (not held) after `after_seq`, in outbox order.
    pub fn waiting_after(&self, after_seq: i64) -> impl Iterator<Item = OutboxChange> + '_ {
        self.outbox
            .range(after_seq.saturating_add(1)..)
            .filter(|(_, row)| row.held.is_none())
            .map(|(seq, row)| OutboxChange {
                seq: *seq,
                doc_id: row.doc_id.clone(),
                hash: row.hash.clone(),
                bytes: row.bytes.clone(),
            })
    }

    pub fn any_waiting_after(&self, after_seq: i64) -> bool {
        self.waiting_after(after_seq).next().is_some()
    }

    /// For each key, the hashes of the changes to its documents that wait to be sent.
    pub fn waiting_for(&self, keys: &[String]) -> Waiting {
        let mut waiting = Waiting::default();
        for key in keys {
            let hashes = self
                .outbox
                .values()
                .filter(|row| row.held.is_none() && self.in_key(&row.doc_id, key))
                .map(|row| row.hash.clone())
                .collect();
            waiting.insert(key.clone(), hashes);
        }
        waiting
    }

    fn in_key(&self, doc_id: &str, key: &str) -> bool {
        key == SCOPE_ALL || self.docs.get(doc_id).is_some_and(|d| d.scope == key)
    }

    /// Store a change of this device's: the document is already changed in memory. Adding to
    /// the outbox releases the document's held changes (as the SDK does: an edit is the way
    /// out of a hold).
    pub fn enqueue(
        &mut self,
        doc_id: &str,
        change: EncodedChange,
        ledger: &mut Ledger,
    ) -> Result<(), SimError> {
        let hash = change.hash.to_string();
        if self.outbox.values().any(|row| row.hash == hash) {
            return Err(SimError::invariant(format!(
                "change {hash} of {doc_id} would be in the outbox twice"
            )));
        }
        for row in self.outbox.values_mut().filter(|r| r.doc_id == doc_id) {
            row.held = None;
        }
        self.push_row(doc_id, hash.clone(), change.bytes);
        self.own_heads.insert(doc_id.to_owned(), hash.clone());
        ledger.made.insert(hash, doc_id.to_owned());
        Ok(())
    }

    fn push_row(&mut self, doc_id: &str, hash: String, bytes: Vec<u8>) {
        self.next_seq += 1;
        self.outbox.insert(
            self.next_seq,
            OutboxRow {
                doc_id: doc_id.to_owned(),
                hash,
                bytes,
                held: None,
            },
        );
    }

    /// Apply `effects` in order. An error ends the run (a correct server and core never cause
    /// one), so what was applied before it does not matter.
    pub fn apply(
        &mut self,
        effects: Vec<Effect>,
        actor: &ActorId,
        ledger: &mut Ledger,
    ) -> Result<(), SimError> {
        for effect in effects {
            self.apply_one(effect, actor, ledger)?;
        }
        Ok(())
    }

    fn apply_one(
        &mut self,
        effect: Effect,
        actor: &ActorId,
        ledger: &mut Ledger,
    ) -> Result<(), SimError> {
        match effect {
            Effect::Acknowledge { doc_id, hashes } => self.acknowledge(&doc_id, &hashes, ledger),
            Effect::Hold {
                doc_id,
                changes,
                code,
                reason,
            } => self.hold(&doc_id, &changes, code, &reason),
            Effect::ApplyChanges {
                doc_id,
                changes,
                listing,
            } => self.apply_changes(&doc_id, &changes, listing, actor)?,
            Effect::Resend { doc_id, server_has } => self.resend(&doc_id, &server_has, actor)?,
            Effect::CountChecked { .. } => {}
            Effect::RecordRestore { .. } => self.restores += 1,
            Effect::ForgetScopes => self.scopes.clear(),
            Effect::SetHealing(at) => self.healing = at,
            Effect::SetReadOnlyScopes(keys) => self.read_only = keys,
            Effect::CompleteScope { key } => {
                if !self.scopes.contains(&key) {
                    self.scopes.push(key);
                }
            }
            Effect::StartRemoval { key } => {
                self.scopes.retain(|k| *k != key);
                if !self.removing.contains(&key) {
                    self.removing.push(key);
                }
            }
            Effect::CancelRemoval { key } => self.removing.retain(|k| *k != key),
            Effect::RemoveScope { key } => self.remove_scope(&key, ledger)?,
            Effect::SetCursor { cursor, anchor } => {
                self.cursor = Some(cursor);
                if anchor.is_some() {
                    self.anchor = anchor;
                }
            }
            Effect::Wipe => self.wipe(ledger),
        }
        Ok(())
    }

    fn acknowledge(&mut self, doc_id: &str, hashes: &[String], ledger: &mut Ledger) {
        let by_document = self.sabotage == Some(crate::Sabotage::AcknowledgeByDocument);
        self.outbox.retain(|_, row| {
            !(row.doc_id == doc_id && (by_document || hashes.contains(&row.hash)))
        });
        ledger.acked.extend(hashes.iter().cloned());
    }

    fn hold(&mut self, doc_id: &str, changes: &[ChangeRef], code: RejectCode, reason: &str) {
        for change in changes {
            match self.outbox.get_mut(&change.seq) {
                Some(row) if row.hash == change.hash && row.doc_id == doc_id => {
                    row.held = Some(Held {
                        code,
                        reason: reason.to_owned(),
                    });
                }
                // Acknowledged meanwhile, or already gone: nothing to hold.
                _ => {}
            }
        }
    }

    fn apply_changes(
        &mut self,
        doc_id: &str,
        changes: &[Vec<u8>],
        listing: Option<Listing>,
        actor: &ActorId,
    ) -> Result<(), SimError> {
        if let Some(local) = self.docs.get_mut(doc_id) {
            return local
                .doc
                .apply_changes(changes)
                .map_err(|e| apply_error(doc_id, &e));
        }
        let mut doc = load(doc_id, &changes.concat())?;
        doc.set_actor(actor.clone());
        let scope = match listing {
            Some(listing) => listing.scope,
            None => doc.read().map_err(|e| apply_error(doc_id, &e))?.scope_key(),
        };
        self.docs.insert(doc_id.to_owned(), LocalDoc { doc, scope });
        Ok(())
    }

    /// Put back in the outbox this device's own changes to the document the server lacks.
    fn resend(
        &mut self,
        doc_id: &str,
        server_has: &[String],
        actor: &ActorId,
    ) -> Result<(), SimError> {
        let Some(local) = self.docs.get_mut(doc_id) else {
            return Ok(());
        };
        let own: Vec<EncodedChange> = local
            .doc
            .all_changes()
            .into_iter()
            .filter(|c| &c.actor == actor)
            .collect();
        for change in own {
            let hash = change.hash.to_string();
            if server_has.contains(&hash) || self.outbox.values().any(|r| r.hash == hash) {
                continue;
            }
            self.push_row(doc_id, hash, change.bytes);
        }
        Ok(())
    }

    /// Remove the documents of `key` and their held changes. A change still waiting to be sent
    /// would be lost: the core must never ask for that.
    fn remove_scope(&mut self, key: &str, ledger: &mut Ledger) -> Result<(), SimError> {
        let gone: Vec<String> = self
            .docs
            .iter()
            .filter(|(_, d)| key == SCOPE_ALL || d.scope == key)
            .map(|(id, _)| id.clone())
            .collect();
        for doc_id in &gone {
            for row in self.outbox.values().filter(|r| &r.doc_id == doc_id) {
                match &row.held {
                    Some(held) => {
                        ledger
                            .dropped_held
                            .insert(row.hash.clone(), held.reason.clone());
                    }
                    None => {
                        return Err(SimError::invariant(format!(
                            "removing scope {key} would drop change {} of {doc_id}, which \
                             was never sent",
                            row.hash
                        )));
                    }
                }
            }
            self.outbox.retain(|_, r| &r.doc_id != doc_id);
            self.docs.remove(doc_id);
            self.own_heads.remove(doc_id);
        }
        if key == SCOPE_ALL {
            self.scopes.clear();
            self.removing.clear();
        } else {
            self.scopes.retain(|k| k != key);
            self.removing.retain(|k| k != key);
        }
        Ok(())
    }

    fn wipe(&mut self, ledger: &mut Ledger) {
        for row in self.outbox.values() {
            ledger
                .wiped_unsent
                .insert(row.hash.clone(), row.doc_id.clone());
        }
        *self = DeviceStore {
            wiped: true,
            sabotage: self.sabotage,
            ..DeviceStore::default()
        };
    }
}

fn load(doc_id: &str, bytes: &[u8]) -> Result<Document, SimError> {
    Document::load(doc_id, bytes).map_err(|e| apply_error(doc_id, &e))
}

fn apply_error(doc_id: &str, e: &dyn std::fmt::Display) -> SimError {
    SimError::Apply {
        doc_id: doc_id.to_owned(),
        message: e.to_string(),
    }
}
