//! The sync loop: push the outbox, pull the feed, keep the held scopes, remove what left the
//! person's scope, and heal after the server's database was restored.
//!
//! **Restores and failovers.** Each answer carries an anchor (the feed's newest row when the
//! server answered), stored with the cursor and sent back. When the server says `feed_reset`
//! (it no longer holds that row: restored from a backup, failed over to a replica that missed
//! transactions, or replaced), the device stops trusting its held scopes and cursor (the
//! server's answer already starts from the beginning of the feed) and checks its own work: it
//! names the newest change it wrote to each document (`own_heads`, up to
//! [`MAX_VERIFY_DOCS`] per round), the server answers which it lacks with the device's changes
//! it still holds for them, and the device puts the others back in its outbox. The event is
//! stored (`server_restores`) and reported once, in [`SyncReport::server_restored`].

use std::collections::{HashMap, HashSet};

use fieldnotes_model::{DocKind, Document, hash_hex};
use fieldnotes_protocol::{
    Cursor, DocHead, DocMeta, FeedAnchor, FeedReset, Lacking, MAX_VERIFY_DOCS, PROTOCOL_VERSION,
    PulledDoc, PushDoc, PushOutcome, PushResult, ScopeKey, SyncRequest, SyncResponse,
};
use reqwest::StatusCode;
use sqlx::{Sqlite, Transaction};

use crate::crypto::Keys;
use crate::local::{self, DocRow, OutboxRow, ScopeSel};
use crate::session::AuthedSession;
use crate::{
    Client, ClientError, META_CURSOR, META_LAST_SYNC, META_READ_ONLY_SCOPES, META_SCOPES,
    Rejection, doc_row, now_ms,
};

/// What one call to [`Client::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// HTTP rounds made (each carries a push and a pull).
    pub round_trips: u32,
    /// Changes sent.
    pub pushed_changes: u64,
    /// Changes the server confirmed durable.
    pub accepted: u64,
    /// Documents the server refused in this sync (held on the device, see [`Client::rejections`]).
    pub rejected: Vec<Rejection>,
    /// Documents the server could not apply yet (kept, sent again next time).
    pub deferred: u64,
    /// Changes received from others.
    pub pulled_changes: u64,
    /// Documents those changes touched.
    pub pulled_docs: u64,
    /// Scope keys the device now holds in full (first complete in this sync).
    pub scopes_completed: Vec<String>,
    /// Scope keys that left the person's scope and whose documents were removed.
    pub removed_scopes: Vec<String>,
    /// Documents removed from the device because their scope ended.
    pub removed_docs: u64,
    /// Scope keys to remove whose documents are kept for now: changes to them are still
    /// waiting to be sent (they go first; the removal finishes on a later sync).
    pub removals_waiting: Vec<String>,
    /// Whether the access token was refreshed during this sync.
    pub refreshed_token: bool,
    /// Set once, on the sync that finished healing after the server was found restored from
    /// a backup (or failed over, or replaced): tell the person. Later syncs leave it `None`.
    pub server_restored: Option<ServerRestored>,
}

/// The server had lost recent work (its database was restored from a backup, or it failed
/// over to a copy that missed the last changes), and this device put it right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRestored {
    /// When this device found out (device time, ms since the epoch).
    pub detected_at_ms: i64,
    /// This device's documents it checked against the server.
    pub checked_documents: u64,
    /// Changes of this device's the server had lost, sent again.
    pub resent_changes: u64,
}

/// The anchor from the server's last answer (plain: a feed position and random numbers).
const META_ANCHOR: &str = "feed_anchor";
/// Present while own heads remain to be checked after a reset: the last document id checked.
const META_HEAL_AFTER: &str = "heal_after";
/// Rounds one sync sends again because the server deferred documents over its per-request work
/// budget (each round lands at least one document, so this only bounds a misbehaving server).
const MAX_BUDGET_ROUNDS_PER_SYNC: u32 = 256;
/// Set by migration 0003 on stores older than `own_heads`: fill them in before checking.
const META_OWN_HEADS_PARTIAL: &str = "own_heads_partial";
/// More resets than this in one sync is a server fault, not a restore.
const MAX_RESETS_PER_SYNC: u32 = 3;

/// The scope changes of one answer.
struct ScopeChanges {
    complete: Vec<String>,
    remove: Vec<String>,
}

/// What carries from one round of a sync to the next.
#[derive(Debug)]
struct Rounds {
    /// Outbox rows sent in this sync; a deferred change is not sent twice in one sync.
    sent_up_to: i64,
    /// Halved when the server says a request is too large for it, so a server with a
    /// smaller limit than this device's batches never blocks the outbox.
    batch_bytes: u64,
    resets: u32,
    budget_rounds: u32,
}

impl Rounds {
    /// The server refused a request as too large: send this batch again, in smaller pieces.
    fn shrink(&mut self, batch_start: i64) {
        self.batch_bytes = (self.batch_bytes / 2).max(1);
        self.sent_up_to = batch_start;
    }

    /// Count a `feed_reset`; more than [`MAX_RESETS_PER_SYNC`] in one sync is a server fault.
    fn count_reset(&mut self, response: &SyncResponse) -> Result<(), ClientError> {
        if response.feed_reset.is_none() {
            return Ok(());
        }
        self.resets += 1;
        if self.resets > MAX_RESETS_PER_SYNC {
            return Err(answer_error(
                "feed_reset_loop",
                "the server said its data was restored again and again in one sync; your work \
                 is kept on this device. Try again later, and tell your administrator if it \
                 goes on"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Where the next round's batch starts, after a round that was applied.
    fn after_round(&mut self, finished_healing: bool, over_budget: bool, batch_start: i64) {
        if finished_healing {
            // Checked: send every change still waiting once more in this sync, including
            // any the server deferred because the changes it lost were missing.
            self.sent_up_to = 0;
        }
        if over_budget && self.budget_rounds < MAX_BUDGET_ROUNDS_PER_SYNC {
            self.budget_rounds += 1;
            self.sent_up_to = batch_start;
        }
    }
}

/// A 200 answer this app cannot use.
fn answer_error(code: &str, message: String) -> ClientError {
    ClientError::Server {
        status: StatusCode::OK,
        code: code.into(),
        message,
    }
}

fn check_protocol(response: &SyncResponse) -> Result<(), ClientError> {
    if response.protocol == PROTOCOL_VERSION {
        return Ok(());
    }
    Err(answer_error(
        "unsupported_protocol",
        format!(
            "the server answered in protocol {}, this app speaks {PROTOCOL_VERSION}",
            response.protocol
        ),
    ))
}

/// A document deferred with no missing dependency did not fit the server's work budget for
/// one request: it is sent again in this sync, after what did fit.
fn over_budget(response: &SyncResponse) -> bool {
    response
        .results
        .iter()
        .any(|r| matches!(&r.outcome, PushOutcome::Deferred { missing, .. } if missing.is_empty()))
}

/// The outbox batch grouped by document, in first-seen order.
fn push_docs(batch: &[OutboxRow]) -> Vec<PushDoc> {
    let mut push: Vec<PushDoc> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for row in batch {
        let slot = *index.entry(row.doc_id.as_str()).or_insert_with(|| {
            push.push(PushDoc {
                doc_id: row.doc_id.clone(),
                changes: Vec::new(),
            });
            push.len() - 1
        });
        push[slot].changes.push(row.bytes.clone().into());
    }
    push
}

/// Whether a pulled document new to this device can be listed from the server's facts alone.
fn listable(meta: &DocMeta) -> bool {
    meta.kind.parse::<DocKind>().is_ok() && !meta.scope.is_empty()
}

/// The held scope list after a round: `complete` added (the newly held are returned too).
fn add_completed(held: &mut Vec<String>, complete: Vec<String>) -> Vec<String> {
    let mut added = Vec::new();
    for key in complete {
        if !held.contains(&key) {
            added.push(key.clone());
            held.push(key);
        }
    }
    added
}

type Tx = Transaction<'static, Sqlite>;

impl Client {
    /// Send the outbox and fetch what others wrote, until both are done. Each HTTP round
    /// carries a batch of the outbox and brings back a page of the feed, so reconciling takes
    /// as many rounds as the data needs pages, not one per document.
    ///
    /// Needs the store unlocked and a sign-in the server still accepts: an expired access
    /// token is refreshed; a refused refresh is [`ClientError::SignInRequired`] (local work
    /// carries on regardless). On a network failure the round is retried with backoff; if it
    /// still fails the error is [`ClientError::Unreachable`] and everything stays in the
    /// outbox. If the server says the device is revoked, the store is wiped
    /// ([`ClientError::Wiped`]).
    pub async fn sync(&self) -> Result<SyncReport, ClientError> {
        let mut session = self.authed_session().await?;
        let mut report = SyncReport::default();
        let mut rounds = Rounds {
            sent_up_to: 0,
            batch_bytes: self.push_batch_bytes,
            resets: 0,
            budget_rounds: 0,
        };
        while self
            .sync_round(&mut session, &mut rounds, &mut report)
            .await?
        {}
        if let Some((at, checked, resent)) = self.store.take_restore_notice().await? {
            report.server_restored = Some(ServerRestored {
                detected_at_ms: at,
                checked_documents: checked,
                resent_changes: resent,
            });
        }
        report.refreshed_token = session.refreshed;
        let removed = report.removed_scopes.clone();
        report.removals_waiting.retain(|k| !removed.contains(k));
        self.store
            .set_meta(META_LAST_SYNC, &now_ms().to_string())
            .await?;
        Ok(report)
    }

    /// One HTTP round: push a batch, pull a page, apply the answer. True while there is more
    /// to do.
    async fn sync_round(
        &self,
        session: &mut AuthedSession<'_>,
        rounds: &mut Rounds,
        report: &mut SyncReport,
    ) -> Result<bool, ClientError> {
        let keys = session.keys.clone();
        let heal_after = self.store.meta(META_HEAL_AFTER).await?;
        let verify = self.heads_to_verify(&keys, heal_after.as_deref()).await?;
        let batch = self
            .store
            .outbox_batch(&keys, rounds.sent_up_to, rounds.batch_bytes)
            .await?;
        let batch_start = rounds.sent_up_to;
        let request = self.sync_request(&keys, &batch, verify).await?;
        if let Some(last) = batch.last() {
            rounds.sent_up_to = last.seq;
        }
        let transport = session.transport.clone();
        let response = match session
            .call(|access| {
                let (transport, request) = (&transport, &request);
                async move { transport.round(request, &access).await }
            })
            .await
        {
            Err(e) if e.status() == Some(StatusCode::PAYLOAD_TOO_LARGE) && batch.len() > 1 => {
                rounds.shrink(batch_start);
                tracing::info!(
                    batch_bytes = rounds.batch_bytes,
                    "the server refused a large request; sending smaller batches"
                );
                return Ok(true);
            }
            other => other?,
        };
        report.pushed_changes += batch.len() as u64;
        report.round_trips += 1;
        check_protocol(&response)?;
        rounds.count_reset(&response)?;
        let more = response.more;
        let over_budget = over_budget(&response);
        let healing = heal_after.is_some().then_some(request.verify.as_slice());
        self.apply_response(&keys, response, &batch, healing, report)
            .await?;
        let still_healing = self.store.meta(META_HEAL_AFTER).await?.is_some();
        rounds.after_round(
            heal_after.is_some() && !still_healing,
            over_budget,
            batch_start,
        );
        let outbox_left = self.store.has_unsent_after(rounds.sent_up_to).await?;
        Ok(more || outbox_left || still_healing)
    }

    /// The own heads to ask the server to check, while healing after a reset.
    async fn heads_to_verify(
        &self,
        keys: &Keys,
        heal_after: Option<&str>,
    ) -> Result<Vec<DocHead>, ClientError> {
        let Some(after) = heal_after else {
            return Ok(Vec::new());
        };
        if after.is_empty() {
            self.fill_own_heads(keys).await?;
        }
        Ok(self
            .store
            .own_heads_after(after, MAX_VERIFY_DOCS)
            .await?
            .into_iter()
            .map(|(doc_id, hash)| DocHead { doc_id, hash })
            .collect())
    }

    async fn sync_request(
        &self,
        keys: &Keys,
        batch: &[OutboxRow],
        verify: Vec<DocHead>,
    ) -> Result<SyncRequest, ClientError> {
        Ok(SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor: self.store.meta(META_CURSOR).await?.map(Cursor),
            push: push_docs(batch),
            max_page_bytes: Some(self.page_bytes),
            scopes: self.held_scopes(keys).await?,
            anchor: self.store.meta(META_ANCHOR).await?.map(FeedAnchor),
            verify,
        })
    }

    /// The scope keys this device holds in full.
    pub(crate) async fn held_scopes(&self, keys: &Keys) -> Result<Vec<String>, ClientError> {
        match self.store.sealed_meta(keys, META_SCOPES).await? {
            None => Ok(Vec::new()),
            Some(json) => serde_json::from_slice(&json)
                .map_err(|e| ClientError::Corrupt(format!("stored scope list: {e}"))),
        }
    }

    /// Apply one round's answer in one local transaction: drop acknowledged changes, hold
    /// refused ones, merge pulled changes, record completed scopes, remove ended ones, store
    /// the new cursor.
    ///
    /// `healing` is the list of own heads the request asked the server to check (after a
    /// reset), `None` when no check is under way.
    async fn apply_response(
        &self,
        keys: &Keys,
        response: SyncResponse,
        batch: &[OutboxRow],
        healing: Option<&[DocHead]>,
        report: &mut SyncReport,
    ) -> Result<(), ClientError> {
        let now = now_ms();
        let mut cache = self.write.lock().await;
        let mut tx = self.store.begin().await?;
        for result in response.results {
            self.apply_outcome(&mut tx, keys, result, batch, now, report)
                .await?;
        }
        for pulled in response.pull {
            report.pulled_changes += pulled.changes.len() as u64;
            report.pulled_docs += 1;
            cache.remove(&pulled.doc_id);
            self.apply_pulled(&mut tx, keys, pulled, now).await?;
        }
        if let Some(checked) = healing {
            self.requeue_lost(&mut tx, keys, &response.lacking, checked, now)
                .await?;
        }
        if let Some(reset) = &response.feed_reset {
            self.start_healing(&mut tx, keys, reset, now).await?;
        }
        // What the person may read here but not write, as the server says it now.
        let read_only = serde_json::to_vec(&response.read_only_scopes)
            .map_err(|e| ClientError::Corrupt(format!("read-only scope list: {e}")))?;
        local::set_sealed_meta(&mut tx, keys, META_READ_ONLY_SCOPES, &read_only)
            .await
            .map_err(|e| self.store.err(e))?;
        // Scopes: the held list changes in the same transaction as the documents and cursor.
        if !response.scopes_complete.is_empty() || !response.remove_scopes.is_empty() {
            let changes = ScopeChanges {
                complete: response.scopes_complete,
                remove: response.remove_scopes,
            };
            self.apply_scopes(&mut tx, keys, changes, &mut cache, report)
                .await?;
        }
        local::set_meta(&mut tx, META_CURSOR, &response.cursor.0)
            .await
            .map_err(|e| self.store.err(e))?;
        if let Some(anchor) = &response.anchor {
            local::set_meta(&mut tx, META_ANCHOR, &anchor.0)
                .await
                .map_err(|e| self.store.err(e))?;
        }
        self.store.commit(tx).await
    }

    /// One pushed document's outcome: drop the acknowledged changes, or hold refused ones.
    async fn apply_outcome(
        &self,
        tx: &mut Tx,
        keys: &Keys,
        result: PushResult,
        batch: &[OutboxRow],
        now: i64,
        report: &mut SyncReport,
    ) -> Result<(), ClientError> {
        match result.outcome {
            PushOutcome::Accepted { hashes } => {
                for hash in &hashes {
                    report.accepted += local::acknowledge(tx, &result.doc_id, hash)
                        .await
                        .map_err(|e| self.store.err(e))?;
                }
            }
            PushOutcome::Rejected { code, reason, .. } => {
                let mut held = 0u64;
                for row in batch.iter().filter(|r| r.doc_id == result.doc_id) {
                    held += local::hold(tx, keys, row, code.as_str(), &reason, now)
                        .await
                        .map_err(|e| self.store.err(e))?;
                }
                tracing::warn!(doc_id = %result.doc_id, code = code.as_str(), "the server refused a document; it is held on this device");
                report.rejected.push(Rejection {
                    doc_id: result.doc_id,
                    code: code.as_str().to_owned(),
                    reason,
                    changes: held,
                });
            }
            PushOutcome::Deferred { .. } => {
                tracing::info!(doc_id = %result.doc_id, "the server deferred a document");
                report.deferred += 1;
            }
        }
        Ok(())
    }

    /// Merge one pulled document's changes and store it.
    async fn apply_pulled(
        &self,
        tx: &mut Tx,
        keys: &Keys,
        pulled: PulledDoc,
        now: i64,
    ) -> Result<(), ClientError> {
        let changes: Vec<Vec<u8>> = pulled.changes.into_iter().map(|c| c.into_inner()).collect();
        let stored = local::snapshot(&mut **tx, keys, &pulled.doc_id)
            .await
            .map_err(|e| self.store.err(e))?;
        let (row, scope, snapshot) = match (stored, pulled.meta) {
            // A document new to this device: the changes, concatenated, are a valid saved
            // form. Store them as they are (sealed) and list the document from the server's
            // facts; it is loaded (and checked) when first read. This keeps a cold start of
            // thousands of documents from loading each one.
            (None, Some(meta)) if listable(&meta) => (
                DocRow {
                    doc_id: pulled.doc_id.clone(),
                    kind: meta.kind,
                    child_id: meta.child_id,
                    summary: meta.summary,
                    updated_at_ms: now,
                },
                meta.scope,
                changes.concat(),
            ),
            (stored, _) => {
                let mut doc = match stored {
                    Some(snapshot) => {
                        let mut doc = Document::load(&pulled.doc_id, &snapshot)?;
                        doc.apply_changes(&changes)?;
                        doc
                    }
                    None => Document::load(&pulled.doc_id, &changes.concat())?,
                };
                let (row, scope) = doc_row(&mut doc, now)?;
                (row, scope, doc.save())
            }
        };
        local::put_document(tx, keys, &row, &scope, &snapshot)
            .await
            .map_err(|e| self.store.err(e))
    }

    /// Own changes the server lost go back in the outbox.
    async fn requeue_lost(
        &self,
        tx: &mut Tx,
        keys: &Keys,
        lacking: &[Lacking],
        checked: &[DocHead],
        now: i64,
    ) -> Result<(), ClientError> {
        let mut resent = 0u64;
        for lack in lacking {
            if checked.iter().any(|h| h.doc_id == lack.doc_id) {
                resent += self.requeue_lacking(tx, keys, lack, now).await?;
            }
        }
        if resent > 0 {
            tracing::warn!(
                resent,
                "changes the server had acknowledged and then lost are sent again"
            );
        }
        local::count_restore_work(tx, checked.len() as u64, resent)
            .await
            .map_err(|e| self.store.err(e))?;
        match checked.last() {
            Some(last) if checked.len() >= MAX_VERIFY_DOCS => {
                local::set_meta(tx, META_HEAL_AFTER, &last.doc_id).await
            }
            _ => local::delete_meta(tx, META_HEAL_AFTER).await,
        }
        .map_err(|e| self.store.err(e))
    }

    /// Put back in the outbox this device's changes to one document that the server lacks.
    async fn requeue_lacking(
        &self,
        tx: &mut Tx,
        keys: &Keys,
        lack: &Lacking,
        now: i64,
    ) -> Result<u64, ClientError> {
        let Some(snapshot) = local::snapshot(&mut **tx, keys, &lack.doc_id)
            .await
            .map_err(|e| self.store.err(e))?
        else {
            return Ok(0);
        };
        let mut doc = Document::load(&lack.doc_id, &snapshot)?;
        let have: HashSet<&str> = lack.have.iter().map(String::as_str).collect();
        let mut resent = 0u64;
        for change in doc.all_changes() {
            let hash = hash_hex(&change.hash);
            if change.actor != self.actor || have.contains(hash.as_str()) {
                continue;
            }
            resent += local::requeue(tx, keys, &lack.doc_id, &hash, &change.bytes, now)
                .await
                .map_err(|e| self.store.err(e))?;
        }
        Ok(resent)
    }

    /// A reset: the server lost something this device was told of. Its answer starts from
    /// the beginning of the feed; the held scopes are rebuilt from it, and this device's
    /// own documents are checked from the first.
    async fn start_healing(
        &self,
        tx: &mut Tx,
        keys: &Keys,
        reset: &FeedReset,
        now: i64,
    ) -> Result<(), ClientError> {
        tracing::warn!(
            feed = %reset.feed_id,
            "{}; checking this device's work against it and fetching everything again",
            reset.message
        );
        local::set_sealed_meta(tx, keys, META_SCOPES, b"[]")
            .await
            .map_err(|e| self.store.err(e))?;
        local::set_meta(tx, META_HEAL_AFTER, "")
            .await
            .map_err(|e| self.store.err(e))?;
        local::record_restore(tx, now, &reset.feed_id, &reset.message)
            .await
            .map_err(|e| self.store.err(e))
    }

    /// Record completed scopes and remove ended ones (once their pending changes are sent).
    async fn apply_scopes(
        &self,
        tx: &mut Tx,
        keys: &Keys,
        changes: ScopeChanges,
        cache: &mut HashMap<String, Document>,
        report: &mut SyncReport,
    ) -> Result<(), ClientError> {
        let mut held: Vec<String> = match local::sealed_meta_in(tx, keys, META_SCOPES)
            .await
            .map_err(|e| self.store.err(e))?
        {
            Some(json) => serde_json::from_slice(&json)
                .map_err(|e| ClientError::Corrupt(format!("stored scope list: {e}")))?,
            None => Vec::new(),
        };
        let before = held.clone();
        report
            .scopes_completed
            .extend(add_completed(&mut held, changes.complete));
        for key in changes.remove {
            let sel = if ScopeKey::is_all_text(&key) {
                ScopeSel::All
            } else {
                ScopeSel::Tag(keys.scope_tag(&key))
            };
            let unsent = local::unsent_in_scope(tx, &sel)
                .await
                .map_err(|e| self.store.err(e))?;
            if unsent > 0 {
                // Push those first; the server repeats the removal while the key is listed.
                tracing::info!(unsent, "a scope ended; its pending changes go first");
                if !report.removals_waiting.contains(&key) {
                    report.removals_waiting.push(key);
                }
                continue;
            }
            let removed = local::remove_scope(tx, &sel)
                .await
                .map_err(|e| self.store.err(e))?;
            for id in &removed {
                cache.remove(id);
            }
            report.removed_docs += removed.len() as u64;
            if matches!(sel, ScopeSel::All) {
                held.clear();
            } else {
                held.retain(|h| h != &key);
            }
            report.removed_scopes.push(key);
        }
        if held != before {
            let json = serde_json::to_vec(&held)
                .map_err(|e| ClientError::Corrupt(format!("scope list: {e}")))?;
            local::set_sealed_meta(tx, keys, META_SCOPES, &json)
                .await
                .map_err(|e| self.store.err(e))?;
        }
        Ok(())
    }

    /// Stores older than `own_heads` (migration 0003) do not know the newest own change of
    /// documents whose changes were all acknowledged: find it once, by loading them.
    async fn fill_own_heads(&self, keys: &Keys) -> Result<(), ClientError> {
        if self.store.meta(META_OWN_HEADS_PARTIAL).await?.is_none() {
            return Ok(());
        }
        let _cache = self.write.lock().await;
        // Read before the transaction: the store has one connection.
        let docs = self.store.docs_without_own_head().await?;
        let mut tx = self.store.begin().await?;
        for doc_id in docs {
            let Some(snapshot) = local::snapshot(&mut *tx, keys, &doc_id)
                .await
                .map_err(|e| self.store.err(e))?
            else {
                continue;
            };
            let mut doc = Document::load(&doc_id, &snapshot)?;
            // Causal order: the last of this device's changes is its newest.
            if let Some(newest) = doc
                .all_changes()
                .into_iter()
                .filter(|c| c.actor == self.actor)
                .last()
            {
                local::set_own_head(&mut tx, &doc_id, &hash_hex(&newest.hash))
                    .await
                    .map_err(|e| self.store.err(e))?;
            }
        }
        local::delete_meta(&mut tx, META_OWN_HEADS_PARTIAL)
            .await
            .map_err(|e| self.store.err(e))?;
        self.store.commit(tx).await
    }
}
