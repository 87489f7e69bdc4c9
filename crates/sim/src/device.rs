//! A simulated device: an identity signed in to the real server, an in-memory store, and a
//! sync loop on the sync core ([`SyncRun`]) whose requests pass through a faulty network.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{Method, StatusCode};
use fieldnotes_model::{ActorId, Document, ModelError, NewRecord, Patch};
use fieldnotes_protocol::auth::{DeviceInfo, LOGIN_PATH, PasswordLogin, Session};
use fieldnotes_protocol::{ErrorCode, SYNC_PATH, SyncResponse};
use fieldnotes_sync_core::{AfterRefusal, Effect, Limits, Refusal, Round, SyncRun};

use crate::error::SimError;
use crate::server::{Answer, SimServer};
use crate::store::{DeviceStore, Ledger, LocalDoc};

/// Every simulated person's password.
pub(crate) const PASSWORD: &str = "simulated password 1";

/// Rounds one sync may take before the simulation calls it stuck.
const MAX_ROUNDS_PER_SYNC: u32 = 200;

/// What the network does to one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Delivered, and the answer comes back.
    None,
    /// The request never reaches the server.
    DropRequest,
    /// The request reaches the server twice (a proxy retried it); the device reads the second
    /// answer.
    Duplicate,
    /// The server handles the request, and its answer is lost.
    LoseResponse,
}

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncEnd {
    /// Nothing more to send or fetch.
    Done,
    /// A round failed on the network; the device tries again on its next sync.
    Failed(Fault),
    /// The device was revoked and wiped itself.
    Wiped,
    /// The core gave up (a single change larger than the server takes).
    GaveUp,
    /// The server does not know the device's session: it must sign in again.
    SignedOut,
}

/// What a sync did, for the trace and the quiet phase.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncReport {
    pub end: SyncEnd,
    pub rounds: u32,
    /// Requests refused as too large.
    pub too_large: u32,
    /// Documents the server deferred.
    pub deferred: u64,
}

/// An answer the core can read.
enum Reply {
    Answer(Box<SyncResponse>),
    Refused(Refusal),
    SignedOut,
}

/// One simulated device.
#[derive(Debug)]
pub(crate) struct SimDevice {
    /// `d<n>`, for the trace.
    pub name: String,
    pub user: String,
    pub device_id: String,
    pub actor: ActorId,
    token: String,
    pub store: DeviceStore,
    pub ledger: Ledger,
    limits: Limits,
    /// Syncs left during which the device has no network.
    pub offline_syncs: u32,
    /// The device's clock runs this far from the simulation's.
    pub skew_ms: i64,
}

impl SimDevice {
    /// Sign `user` in on a new device with this actor id.
    pub async fn sign_in(
        server: &SimServer,
        index: usize,
        user: &str,
        actor: ActorId,
        limits: Limits,
        skew_ms: i64,
    ) -> Result<SimDevice, SimError> {
        let mut device = SimDevice {
            name: format!("d{index}"),
            user: user.to_owned(),
            device_id: format!("sim-device-{index}"),
            actor,
            token: String::new(),
            store: DeviceStore::default(),
            ledger: Ledger::default(),
            limits,
            offline_syncs: 0,
            skew_ms,
        };
        device.sign_in_again(server).await?;
        Ok(device)
    }

    /// Sign in again as the same device (same id and actor): after the server lost its
    /// session, for example when its database was restored from a backup older than it.
    pub async fn sign_in_again(&mut self, server: &SimServer) -> Result<(), SimError> {
        let login = PasswordLogin {
            username: self.user.clone(),
            password: PASSWORD.to_owned(),
            device: DeviceInfo {
                device_id: self.device_id.clone(),
                actor_id: self.actor.to_hex_string(),
                name: format!("{}'s device {}", self.user, self.name),
            },
        };
        let session: Session = server.json(Method::POST, LOGIN_PATH, None, &login).await?;
        self.token = session.tokens.access_token;
        Ok(())
    }

    pub fn wiped(&self) -> bool {
        self.store.wiped
    }

    /// A new record, made on the device and queued.
    pub fn create(&mut self, doc_id: &str, record: NewRecord, at_ms: i64) -> Result<(), SimError> {
        let mut doc = Document::create(doc_id, self.actor.clone(), record, at_ms)
            .map_err(|e| SimError::invariant(format!("the model refused a new record: {e}")))?;
        let scope = doc
            .read()
            .map_err(|e| SimError::invariant(format!("a new record does not read: {e}")))?
            .scope_key();
        let change = doc
            .all_changes()
            .pop()
            .ok_or_else(|| SimError::invariant("a new record has no change"))?;
        self.store
            .docs
            .insert(doc_id.to_owned(), LocalDoc { doc, scope });
        self.store.enqueue(doc_id, change, &mut self.ledger)
    }

    /// Edit a record the device holds. The model may refuse it (a lock seen): that is the
    /// device refusing its person, not an error. Returns whether a change was made.
    pub fn edit(&mut self, doc_id: &str, patch: Patch, at_ms: i64) -> Result<bool, SimError> {
        let Some(local) = self.store.docs.get_mut(doc_id) else {
            return Ok(false);
        };
        let change = match local.doc.edit(patch, at_ms) {
            Ok(Some(change)) => change,
            Ok(None) => return Ok(false),
            Err(ModelError::Locked { .. } | ModelError::Deleted { .. }) => return Ok(false),
            Err(ModelError::Invalid(_)) => return Ok(false),
            Err(e) => return Err(SimError::invariant(format!("editing {doc_id}: {e}"))),
        };
        self.store.enqueue(doc_id, change, &mut self.ledger)?;
        Ok(true)
    }

    /// Everything a sync can move, to tell when syncing no longer changes anything.
    pub fn fingerprint(&mut self) -> String {
        let store = &mut self.store;
        let mut out = format!(
            "{:?} {:?} {:?} {:?} {:?}",
            store.cursor, store.scopes, store.removing, store.read_only, store.wiped
        );
        for (seq, row) in &store.outbox {
            out.push_str(&format!(" {seq}:{}:{}", row.hash, row.held.is_some()));
        }
        for (id, local) in &mut store.docs {
            out.push_str(&format!(" {id}:{:?}", local.doc.heads()));
        }
        out
    }

    /// One sync: rounds until the core says it is done, the network fails, or the device is
    /// wiped. `fault` draws what the network does to each round.
    pub async fn sync(
        &mut self,
        server: &SimServer,
        fault: &mut impl FnMut() -> Fault,
    ) -> Result<SyncReport, SimError> {
        let mut run = SyncRun::new(self.limits);
        let mut too_large = 0;
        for rounds in 1..=MAX_ROUNDS_PER_SYNC {
            let (round, sent) = self.next_round(&mut run)?;
            let body = serde_json::to_vec(round.request())
                .map_err(|e| SimError::Server(format!("encoding a sync request: {e}")))?;
            let fault = if self.offline_syncs > 0 {
                Fault::DropRequest
            } else {
                fault()
            };
            let answer = match self.send(server, fault, body).await? {
                Some(answer) => answer,
                None => return Ok(report(SyncEnd::Failed(fault), rounds, &run, too_large)),
            };
            match read_reply(&answer)? {
                Reply::Answer(response) => self.respond(&mut run, round, *response, &sent)?,
                Reply::SignedOut => {
                    return Ok(report(SyncEnd::SignedOut, rounds, &run, too_large));
                }
                Reply::Refused(refusal) => match run.refused(&round, refusal) {
                    AfterRefusal::SendAgain => {
                        too_large += 1;
                        continue;
                    }
                    AfterRefusal::Apply(effects) => {
                        self.store.apply(effects, &self.actor, &mut self.ledger)?;
                        let end = if self.wiped() {
                            SyncEnd::Wiped
                        } else {
                            SyncEnd::GaveUp
                        };
                        return Ok(report(end, rounds, &run, too_large));
                    }
                    AfterRefusal::GiveUp => {
                        return Ok(report(SyncEnd::GaveUp, rounds, &run, too_large));
                    }
                },
            }
            if !run.continues(self.store.any_waiting_after(run.sent_up_to())) {
                return Ok(report(SyncEnd::Done, rounds, &run, too_large));
            }
        }
        Err(SimError::invariant(format!(
            "{}'s sync did not finish in {MAX_ROUNDS_PER_SYNC} rounds",
            self.name
        )))
    }

    /// The next round's request, and what it pushes (document to hashes).
    fn next_round(
        &mut self,
        run: &mut SyncRun,
    ) -> Result<(Round, BTreeMap<String, BTreeSet<String>>), SimError> {
        let state = self.store.sync_state();
        let verify = self.store.verify(state.verify_after());
        let mut batch = run.batch();
        let mut sent: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for change in self.store.waiting_after(batch.after_seq()) {
            let (doc_id, hash) = (change.doc_id.clone(), change.hash.clone());
            if !batch.offer(change) {
                break;
            }
            if !sent.entry(doc_id.clone()).or_default().insert(hash.clone()) {
                return Err(SimError::invariant(format!(
                    "{} sends change {hash} of {doc_id} twice in one request",
                    self.name
                )));
            }
        }
        Ok((run.round(state, batch, verify), sent))
    }

    /// Send one request through the network; `None` when no answer comes back.
    async fn send(
        &self,
        server: &SimServer,
        fault: Fault,
        body: Vec<u8>,
    ) -> Result<Option<Answer>, SimError> {
        let token = Some(self.token.as_str());
        match fault {
            Fault::DropRequest => Ok(None),
            Fault::None => Ok(Some(
                server
                    .call(Method::POST, SYNC_PATH, token, Some(body))
                    .await?,
            )),
            Fault::Duplicate => {
                server
                    .call(Method::POST, SYNC_PATH, token, Some(body.clone()))
                    .await?;
                Ok(Some(
                    server
                        .call(Method::POST, SYNC_PATH, token, Some(body))
                        .await?,
                ))
            }
            Fault::LoseResponse => {
                server
                    .call(Method::POST, SYNC_PATH, token, Some(body))
                    .await?;
                Ok(None)
            }
        }
    }

    /// Turn an answer into effects, check them against what was sent, and apply them.
    fn respond(
        &mut self,
        run: &mut SyncRun,
        round: Round,
        response: SyncResponse,
        sent: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<(), SimError> {
        if std::env::var_os("FIELDNOTES_SIM_VERBOSE").is_some() {
            eprintln!(
                "    {} round: pushed {} changes, verify {}; results {:?}; pulled {}; more {}; \
                 complete {:?}; remove {:?}; reset {}; lacking {:?}; cursor {:?}",
                self.name,
                round.changes(),
                round.request().verify.len(),
                response
                    .results
                    .iter()
                    .map(|r| format!("{}:{:?}", crate::world::short(&r.doc_id), r.outcome))
                    .collect::<Vec<_>>(),
                response.pull.len(),
                response.more,
                response.scopes_complete,
                response.remove_scopes,
                response.feed_reset.is_some(),
                response.lacking,
                response.cursor,
            );
        }
        let waiting = self.store.waiting_for(&round.removals(&response));
        let effects = run.respond(round, response, &waiting)?;
        check_effects(&self.name, &effects, sent)?;
        self.store
            .apply(effects, &self.actor, &mut self.ledger)
            .map_err(|e| match e {
                SimError::Apply { doc_id, message } => SimError::Apply {
                    doc_id,
                    message: format!("{message} (on {})", self.name),
                },
                other => other,
            })
    }
}

fn report(end: SyncEnd, rounds: u32, run: &SyncRun, too_large: u32) -> SyncReport {
    SyncReport {
        end,
        rounds,
        too_large,
        deferred: run.summary().deferred,
    }
}

/// A sync answer, a refusal the core handles, or an answer no correct server gives.
fn read_reply(answer: &Answer) -> Result<Reply, SimError> {
    match answer.status {
        StatusCode::OK => Ok(Reply::Answer(Box::new(answer.json("a sync round")?))),
        StatusCode::PAYLOAD_TOO_LARGE => Ok(Reply::Refused(Refusal::TooLarge)),
        StatusCode::FORBIDDEN if answer.error_code() == Some(ErrorCode::DeviceRevoked) => {
            Ok(Reply::Refused(Refusal::DeviceRevoked))
        }
        StatusCode::UNAUTHORIZED
            if matches!(
                answer.error_code(),
                Some(ErrorCode::SessionEnded | ErrorCode::InvalidToken)
            ) =>
        {
            Ok(Reply::SignedOut)
        }
        _ => Err(answer.unexpected("a sync round")),
    }
}

/// Checked on every answer: an acknowledgement or a hold names only changes this round sent.
fn check_effects(
    device: &str,
    effects: &[Effect],
    sent: &BTreeMap<String, BTreeSet<String>>,
) -> Result<(), SimError> {
    let was_sent = |doc_id: &str, hash: &str| sent.get(doc_id).is_some_and(|h| h.contains(hash));
    for effect in effects {
        let named: Vec<(&str, &str)> = match effect {
            Effect::Acknowledge { doc_id, hashes } => hashes
                .iter()
                .map(|h| (doc_id.as_str(), h.as_str()))
                .collect(),
            Effect::Hold {
                doc_id, changes, ..
            } => changes
                .iter()
                .map(|c| (doc_id.as_str(), c.hash.as_str()))
                .collect(),
            _ => Vec::new(),
        };
        if let Some((doc_id, hash)) = named.into_iter().find(|(d, h)| !was_sent(d, h)) {
            return Err(SimError::invariant(format!(
                "an answer to {device} acknowledges or holds change {hash} of {doc_id}, which \
                 the round did not send"
            )));
        }
    }
    Ok(())
}
