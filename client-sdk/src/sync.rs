//! The sync loop on the sync core (`fieldnotes-sync-core`): each round reads the core's inputs
//! from the store, asks the core for the request, sends it, and applies the effects the core
//! makes of the answer in one local transaction. What goes in a request, what an answer means
//! (acknowledge, hold, merge, scope keys, cursor, healing) and when to go again are the core's.
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

use fieldnotes_model::{Document, hash_hex};
use fieldnotes_protocol::{DocHead, MAX_VERIFY_DOCS, SyncResponse};
use fieldnotes_sync_core::{
    AfterRefusal, Effect, Limits, Refusal, Round, Summary, SyncError, SyncRun,
};
use reqwest::StatusCode;

use crate::crypto::Keys;
use crate::session::AuthedSession;
use crate::store::effects::Applier;
use crate::{Client, ClientError, META_LAST_SYNC, now_ms};

/// What one call to [`Client::sync`] did: the sync core's [`Summary`] of the exchange with the
/// server, and what only this device's store and session know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// What the protocol did: rounds, changes sent and received, documents the server refused
    /// (held on the device, see [`Client::rejections`]) or deferred, scope keys completed,
    /// removed or waiting to be removed.
    pub protocol: Summary,
    /// Changes the server confirmed durable.
    pub accepted: u64,
    /// Documents removed from the device because their scope ended.
    pub removed_docs: u64,
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

/// Set by migration 0003 on stores older than `own_heads`: fill them in before checking.
const META_OWN_HEADS_PARTIAL: &str = "own_heads_partial";

/// What only the store counts, summed over a sync's rounds.
#[derive(Debug, Default)]
struct Tally {
    accepted: u64,
    removed_docs: u64,
}

/// A 200 answer this app cannot use.
fn answer_error(e: SyncError) -> ClientError {
    ClientError::Server {
        status: StatusCode::OK,
        code: e.code().into(),
        message: e.to_string(),
    }
}

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
        let mut run = SyncRun::new(Limits {
            push_batch_bytes: self.push_batch_bytes,
            page_bytes: self.page_bytes,
        });
        let mut tally = Tally::default();
        while self.sync_round(&mut session, &mut run, &mut tally).await? {}
        let mut report = SyncReport {
            protocol: run.finish(),
            accepted: tally.accepted,
            removed_docs: tally.removed_docs,
            refreshed_token: session.refreshed,
            server_restored: None,
        };
        if let Some((at, checked, resent)) = self.store.take_restore_notice().await? {
            report.server_restored = Some(ServerRestored {
                detected_at_ms: at,
                checked_documents: checked,
                resent_changes: resent,
            });
        }
        self.store
            .set_meta(META_LAST_SYNC, &now_ms().to_string())
            .await?;
        Ok(report)
    }

    /// One HTTP round: read the core's inputs, send the request it makes, apply the effects it
    /// makes of the answer. True while there is more to do.
    async fn sync_round(
        &self,
        session: &mut AuthedSession<'_>,
        run: &mut SyncRun,
        tally: &mut Tally,
    ) -> Result<bool, ClientError> {
        let keys = session.keys.clone();
        let state = self.store.sync_state(&keys).await?;
        let verify = self.heads_to_verify(&keys, state.verify_after()).await?;
        let mut batch = run.batch();
        self.store.fill_batch(&keys, &mut batch).await?;
        let round = run.round(state, batch, verify);
        let Some(response) = self.send_round(session, run, &round).await? else {
            return Ok(true);
        };
        self.apply_answer(&keys, run, round, response, tally)
            .await?;
        let outbox_waiting = self.store.has_unsent_after(run.sent_up_to()).await?;
        Ok(run.continues(outbox_waiting))
    }

    /// Send a round's request. `None` when the server refused it in a way the core answers by
    /// sending again (a request too large for the server goes again in halves). A revoked
    /// device has been wiped by the session by the time its error comes back.
    async fn send_round(
        &self,
        session: &mut AuthedSession<'_>,
        run: &mut SyncRun,
        round: &Round,
    ) -> Result<Option<SyncResponse>, ClientError> {
        let transport = session.transport.clone();
        let request = round.request();
        let result = session
            .call(|access| {
                let transport = &transport;
                async move { transport.round(request, &access).await }
            })
            .await;
        let refusal = match &result {
            Err(e) if e.status() == Some(StatusCode::PAYLOAD_TOO_LARGE) => Refusal::TooLarge,
            Err(e) if e.is_revoked() => Refusal::DeviceRevoked,
            _ => return result.map(Some),
        };
        match run.refused(round, refusal) {
            AfterRefusal::SendAgain => Ok(None),
            AfterRefusal::Apply(effects) => {
                self.apply_effects(&session.keys, &effects).await?;
                result.map(Some)
            }
            AfterRefusal::GiveUp => result.map(Some),
        }
    }

    /// Turn the answer into effects and apply them in one local transaction, under the write
    /// lock: no edit can slip in between reading which changes wait and removing a scope.
    async fn apply_answer(
        &self,
        keys: &Keys,
        run: &mut SyncRun,
        round: Round,
        response: SyncResponse,
        tally: &mut Tally,
    ) -> Result<(), ClientError> {
        let mut cache = self.write.lock().await;
        let waiting = self.store.waiting(keys, &round.removals(&response)).await?;
        let effects = run
            .respond(round, response, &waiting)
            .map_err(answer_error)?;
        let by = Applier {
            keys,
            actor: &self.actor,
            now_ms: now_ms(),
        };
        let applied = self.store.apply_effects(by, &effects).await?;
        for id in &applied.touched {
            cache.remove(id);
        }
        tally.accepted += applied.acknowledged;
        tally.removed_docs += applied.removed_docs.len() as u64;
        Ok(())
    }

    /// Effects outside a transaction: a wipe deletes the store's files.
    async fn apply_effects(&self, keys: &Keys, effects: &[Effect]) -> Result<(), ClientError> {
        if effects.contains(&Effect::Wipe) {
            return Err(self.wipe().await);
        }
        let by = Applier {
            keys,
            actor: &self.actor,
            now_ms: now_ms(),
        };
        self.store.apply_effects(by, effects).await.map(|_| ())
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

    /// The scope keys this device holds in full.
    pub(crate) async fn held_scopes(&self, keys: &Keys) -> Result<Vec<String>, ClientError> {
        self.store.held_scopes(keys).await
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
            let Some(snapshot) = tx.snapshot(keys, &doc_id).await? else {
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
                tx.set_own_head(&doc_id, &hash_hex(&newest.hash)).await?;
            }
        }
        tx.delete_meta(META_OWN_HEADS_PARTIAL).await?;
        self.store.commit(tx).await
    }
}
