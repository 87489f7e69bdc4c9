//! The store's reading of the sync core's effects: each [`Effect`] as writes through a
//! [`StoreTx`], inside the one transaction [`LocalStore::apply_effects`] opens. Shared by
//! every backend.

use std::collections::HashSet;

use automerge::ActorId;
use fieldnotes_model::{Document, hash_hex};
use fieldnotes_protocol::ScopeKey;
use fieldnotes_sync_core::{ChangeRef, Effect, Listing};

use super::{Backend, DocRow, LocalStore, ScopeSel, StoreTx};
use crate::crypto::Keys;
use crate::{
    ClientError, META_ANCHOR, META_CURSOR, META_HEAL_AFTER, META_READ_ONLY_SCOPES,
    META_REMOVING_SCOPES, META_SCOPES, doc_row,
};

/// Who applies the effects, and when (device time, for the rows it writes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applier<'a> {
    pub keys: &'a Keys,
    /// This device's actor: healing puts back only its own changes.
    pub actor: &'a ActorId,
    pub now_ms: i64,
}

/// What applying a list of effects did that only the store knows.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Outbox changes dropped as acknowledged.
    pub acknowledged: u64,
    /// Documents removed with their scope.
    pub removed_docs: Vec<String>,
    /// Documents whose stored state changed (pulled or removed): drop any loaded copy.
    pub touched: Vec<String>,
}

impl<B: Backend> LocalStore<B> {
    /// One effect, in `tx`. [`Effect::Wipe`] deletes the store's files and cannot be part of a
    /// transaction: the client does it (`Client::apply_effects`), never this.
    pub(crate) async fn apply_effect(
        &self,
        tx: &mut StoreTx<B>,
        by: Applier<'_>,
        effect: &Effect,
        applied: &mut Applied,
    ) -> Result<(), ClientError> {
        Applying { tx, by }.apply(effect, applied).await
    }
}

/// Effects being applied: the open transaction, and who applies them.
struct Applying<'t, 'a, B: Backend> {
    tx: &'t mut StoreTx<B>,
    by: Applier<'a>,
}

impl<B: Backend> Applying<'_, '_, B> {
    async fn apply(&mut self, effect: &Effect, applied: &mut Applied) -> Result<(), ClientError> {
        match effect {
            Effect::Acknowledge { doc_id, hashes } => {
                for hash in hashes {
                    applied.acknowledged += self.tx.acknowledge(doc_id, hash).await?;
                }
            }
            Effect::Hold {
                doc_id,
                changes,
                code,
                reason,
            } => {
                self.hold_all(doc_id, changes, code.as_str(), reason)
                    .await?
            }
            Effect::ApplyChanges {
                doc_id,
                changes,
                listing,
            } => {
                self.apply_pulled(doc_id, changes, listing.as_ref()).await?;
                applied.touched.push(doc_id.clone());
            }
            Effect::Resend { doc_id, server_has } => {
                let resent = self.resend(doc_id, server_has).await?;
                self.tx.count_restore_work(0, resent).await?;
            }
            Effect::CountChecked { documents } => {
                self.tx.count_restore_work(*documents, 0).await?;
            }
            Effect::RecordRestore { feed_id, message } => {
                let now_ms = self.by.now_ms;
                self.tx.record_restore(now_ms, feed_id, message).await?;
            }
            Effect::ForgetScopes => self.set_list(META_SCOPES, &[]).await?,
            Effect::SetHealing(after) => self.set_healing(after.as_deref()).await?,
            Effect::SetReadOnlyScopes(read_only) => {
                self.set_list(META_READ_ONLY_SCOPES, read_only).await?;
            }
            // A key complete: held.
            Effect::CompleteScope { key } => self.add_to(META_SCOPES, key).await?,
            // A key no longer held, and being removed: not listed, its documents kept until
            // nothing of them waits to be sent.
            Effect::StartRemoval { key } => {
                self.take_off(META_SCOPES, key).await?;
                self.add_to(META_REMOVING_SCOPES, key).await?;
            }
            // A key no longer being removed (it came back): its documents stay.
            Effect::CancelRemoval { key } => self.take_off(META_REMOVING_SCOPES, key).await?,
            Effect::RemoveScope { key } => {
                let removed = self.remove_held_scope(key).await?;
                applied.touched.extend(removed.iter().cloned());
                applied.removed_docs.extend(removed);
            }
            Effect::SetCursor { cursor, anchor } => {
                let anchor = anchor.as_ref().map(|a| a.0.as_str());
                self.set_cursor(&cursor.0, anchor).await?;
            }
            Effect::Wipe => {
                return Err(ClientError::Corrupt(
                    "a wipe cannot be applied inside a store transaction".into(),
                ));
            }
        }
        Ok(())
    }

    /// Hold a refused document's changes with the server's reason.
    async fn hold_all(
        &mut self,
        doc_id: &str,
        changes: &[ChangeRef],
        code: &str,
        reason: &str,
    ) -> Result<(), ClientError> {
        let Applier { keys, now_ms, .. } = self.by;
        for change in changes {
            self.tx
                .hold(keys, doc_id, change, code, reason, now_ms)
                .await?;
        }
        Ok(())
    }

    /// Merge one pulled document's changes and store it.
    async fn apply_pulled(
        &mut self,
        doc_id: &str,
        changes: &[Vec<u8>],
        listing: Option<&Listing>,
    ) -> Result<(), ClientError> {
        let Applier { keys, now_ms, .. } = self.by;
        let stored = self.tx.snapshot(keys, doc_id).await?;
        let (row, scope, snapshot) = match (stored, listing) {
            // A document new to this device: the changes, concatenated, are a valid saved
            // form. Store them as they are (sealed) and list the document from the server's
            // facts; it is loaded (and checked) when first read. This keeps a cold start of
            // thousands of documents from loading each one.
            (None, Some(listing)) => (
                DocRow {
                    doc_id: doc_id.to_owned(),
                    kind: listing.kind.as_str().to_owned(),
                    child_id: listing.child_id.clone(),
                    summary: listing.summary.clone(),
                    updated_at_ms: now_ms,
                },
                listing.scope.clone(),
                changes.concat(),
            ),
            (stored, _) => {
                let mut doc = match stored {
                    Some(snapshot) => {
                        let mut doc = Document::load(doc_id, &snapshot)?;
                        doc.apply_changes(changes)?;
                        doc
                    }
                    None => Document::load(doc_id, &changes.concat())?,
                };
                let (row, scope) = doc_row(&mut doc, now_ms)?;
                (row, scope, doc.save())
            }
        };
        self.tx.put_document(keys, &row, &scope, &snapshot).await
    }

    /// Put back in the outbox this device's changes to one document that the server lacks.
    /// Returns the changes put back.
    async fn resend(&mut self, doc_id: &str, server_has: &[String]) -> Result<u64, ClientError> {
        let Applier {
            keys,
            actor,
            now_ms,
        } = self.by;
        let Some(snapshot) = self.tx.snapshot(keys, doc_id).await? else {
            return Ok(0);
        };
        let mut doc = Document::load(doc_id, &snapshot)?;
        let have: HashSet<&str> = server_has.iter().map(String::as_str).collect();
        let mut resent = 0u64;
        for change in doc.all_changes() {
            let hash = hash_hex(&change.hash);
            if change.actor != *actor || have.contains(hash.as_str()) {
                continue;
            }
            resent += self
                .tx
                .requeue(keys, doc_id, &hash, &change.bytes, now_ms)
                .await?;
        }
        if resent > 0 {
            tracing::warn!(
                resent,
                "changes the server had acknowledged and then lost are sent again"
            );
        }
        Ok(resent)
    }

    /// Add `key` to the scope list under `meta_key`, unless it is there.
    async fn add_to(&mut self, meta_key: &str, key: &str) -> Result<(), ClientError> {
        let mut list = self.list_in(meta_key).await?;
        if !list.iter().any(|k| k == key) {
            list.push(key.to_owned());
            self.set_list(meta_key, &list).await?;
        }
        Ok(())
    }

    /// Take `key` off the scope list under `meta_key`.
    async fn take_off(&mut self, meta_key: &str, key: &str) -> Result<(), ClientError> {
        let mut list = self.list_in(meta_key).await?;
        list.retain(|k| k != key);
        self.set_list(meta_key, &list).await
    }

    /// Remove a key's documents (and their outbox rows), and the key from the held list and
    /// from the keys being removed (the all-documents key empties both).
    async fn remove_held_scope(&mut self, key: &str) -> Result<Vec<String>, ClientError> {
        let all = ScopeKey::is_all_text(key);
        let removed = self
            .tx
            .remove_scope(&ScopeSel::of(self.by.keys, key))
            .await?;
        for list in [META_SCOPES, META_REMOVING_SCOPES] {
            let mut keys_in = self.list_in(list).await?;
            keys_in.retain(|h| !all && h != key);
            self.set_list(list, &keys_in).await?;
        }
        Ok(removed)
    }

    /// A list of scope keys sealed under `meta_key`, read in the transaction (none stored:
    /// empty).
    async fn list_in(&mut self, meta_key: &str) -> Result<Vec<String>, ClientError> {
        let json = self.tx.sealed_meta(self.by.keys, meta_key).await?;
        super::scope_list(json)
    }

    /// A list of scope keys, sealed under its meta key.
    async fn set_list(&mut self, meta_key: &str, list: &[String]) -> Result<(), ClientError> {
        let json = serde_json::to_vec(list)
            .map_err(|e| ClientError::Corrupt(format!("scope list: {e}")))?;
        self.tx.set_sealed_meta(self.by.keys, meta_key, &json).await
    }

    async fn set_healing(&mut self, after: Option<&str>) -> Result<(), ClientError> {
        match after {
            Some(after) => self.tx.set_meta(META_HEAL_AFTER, after).await,
            None => self.tx.delete_meta(META_HEAL_AFTER).await,
        }
    }

    async fn set_cursor(&mut self, cursor: &str, anchor: Option<&str>) -> Result<(), ClientError> {
        self.tx.set_meta(META_CURSOR, cursor).await?;
        if let Some(anchor) = anchor {
            self.tx.set_meta(META_ANCHOR, anchor).await?;
        }
        Ok(())
    }
}
