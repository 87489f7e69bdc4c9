//! Held changes and their way out.
//!
//! The server refuses a document's changes as a batch: when one change breaks a rule, every
//! change of that document sent with it is held on the device with the reason, the earlier,
//! legitimate ones too. [`Client::withdraw`] takes back the change(s) that broke the rule —
//! and any change of this device built on them — and releases the rest, which the next sync
//! sends. Which changes broke the rule is found by running the write rules on each held change
//! (the same rules the server runs); failing that, the changes the server's reason names;
//! failing that, every held change of the document.
//!
//! Nothing is lost silently: before anything is taken back, the record as it stood (with the
//! withdrawn changes) is written to a file in the data folder (`withdrawn/`), whose path is
//! returned. A record whose creating change is withdrawn (a note filed on a mistyped child id,
//! say) is removed from the device.

use std::collections::BTreeSet;
use std::path::PathBuf;

use fieldnotes_model::{ChangeHash, Document, EncodedChange, Writer, hash_hex};
use serde_json::json;

use crate::crypto::Keys;
use crate::store::DocOutboxRow;
use crate::{Client, ClientError, doc_row, now_ms, writer};

/// The folder, inside the data folder, where withdrawn work is exported.
pub const WITHDRAWN_DIR: &str = "withdrawn";

/// A withdrawal's export: its file name and its JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WithdrawnExport {
    pub name: String,
    pub json: String,
}

/// A change the server refused, held on this device, with the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldChange {
    pub doc_id: String,
    /// The change's hash (hex).
    pub hash: String,
    /// The server's reject code, and its reason.
    pub code: String,
    pub reason: String,
    /// Whether [`Client::withdraw`] takes this change back (it broke the rule, or builds on a
    /// change that did); otherwise withdrawing releases it and the next sync sends it.
    pub withdrawn_by_withdraw: bool,
    /// What the person can do about it, with the exact command.
    pub way_out: String,
}

/// What [`Client::withdraw`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    pub doc_id: String,
    /// Changes taken back (hex hashes): the refused ones first, then those built on them.
    pub withdrawn: Vec<String>,
    /// Of those, the ones taken back only because they build on a refused change.
    pub dependents: Vec<String>,
    /// Held changes released: the next sync sends them.
    pub released: u64,
    /// The record was removed from the device (its creating change was withdrawn).
    pub record_removed: bool,
    /// The file holding the record as it stood before, and the withdrawn changes' reasons.
    pub export: PathBuf,
}

/// Which outbox rows of a document a withdrawal takes back.
struct Plan {
    rows: Vec<DocOutboxRow>,
    /// Held changes that broke the rule.
    refused: Vec<String>,
    /// `refused` and every outbox change built on them.
    withdraw: BTreeSet<String>,
}

impl Plan {
    /// The outbox rows taken back.
    fn withdrawn_seqs(&self) -> Vec<i64> {
        self.rows
            .iter()
            .filter(|r| self.withdraw.contains(&r.hash))
            .map(|r| r.seq)
            .collect()
    }

    /// Held changes that are not taken back: released, the next sync sends them.
    fn released(&self) -> u64 {
        self.rows
            .iter()
            .filter(|r| r.held_code.is_some() && !self.withdraw.contains(&r.hash))
            .count() as u64
    }

    /// Changes taken back only because they build on a refused one, in outbox order.
    fn dependents(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| self.withdraw.contains(&r.hash) && !self.refused.contains(&r.hash))
            .map(|r| r.hash.clone())
            .collect()
    }
}

/// The document without the withdrawn changes (causal order: a valid load input); `None`
/// when nothing is left, or the creating change went (there is no record left).
fn rebuild_without(
    doc: &mut Document,
    withdraw: &BTreeSet<String>,
) -> Result<Option<Document>, ClientError> {
    let remaining: Vec<u8> = doc
        .all_changes()
        .into_iter()
        .filter(|c| !withdraw.contains(&hash_hex(&c.hash)))
        .flat_map(|c| c.bytes)
        .collect();
    if remaining.is_empty() {
        return Ok(None);
    }
    match Document::load(doc.id(), &remaining) {
        Ok(d) => Ok(Some(d)),
        Err(fieldnotes_model::ModelError::MissingField { .. }) => Ok(None),
        Err(e) => Err(ClientError::from_model(e)),
    }
}

/// What a change of `doc` was made on; every change the document holds has its dependencies.
fn deps_of(doc: &mut Document, change: &EncodedChange) -> Result<Vec<ChangeHash>, ClientError> {
    doc.deps_of(&change.hash).ok_or_else(|| {
        ClientError::Model(fieldnotes_model::ModelError::UnknownVersion(
            change.hash.to_string(),
        ))
    })
}

/// 64-hex-character words in `text` (change hashes a reason names).
fn named_hashes(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 64)
        .map(str::to_ascii_lowercase)
        .collect()
}

fn way_out(doc_id: &str, code: &str, withdrawn: bool) -> String {
    let withdraw = format!(
        "run `fieldnotes withdraw {doc_id}` to take it back (the record as it stands is saved to \
         a file first)"
    );
    if !withdrawn {
        return format!(
            "sent again once the refused change sent with it is withdrawn: run `fieldnotes \
             withdraw {doc_id}`"
        );
    }
    match code {
        "invalid_document" => format!(
            "edit the record so it keeps the rule the reason names, then sync; or {withdraw}"
        ),
        _ => withdraw,
    }
}

impl Client {
    /// Work out what withdrawing `doc`'s held changes takes back.
    async fn withdraw_plan(
        &self,
        keys: &Keys,
        doc: &mut Document,
        writer: &Writer<'_>,
    ) -> Result<Plan, ClientError> {
        let doc_id = doc.id().to_owned();
        let rows = self.store.doc_outbox(keys, &doc_id).await?;
        let held: Vec<&DocOutboxRow> = rows.iter().filter(|r| r.held_code.is_some()).collect();
        if held.is_empty() {
            return Ok(Plan {
                rows,
                refused: Vec::new(),
                withdraw: BTreeSet::new(),
            });
        }
        let changes: Vec<EncodedChange> = doc.all_changes();
        let change = |hash: &str| changes.iter().find(|c| hash_hex(&c.hash) == hash);
        // 1. The held changes the write rules refuse, each checked against what it saw.
        let mut refused: Vec<String> = Vec::new();
        for row in &held {
            let Some(c) = change(&row.hash) else { continue };
            let deps = deps_of(doc, c)?;
            if doc
                .check_write_rules(writer, &deps, std::slice::from_ref(c))
                .is_err()
            {
                refused.push(row.hash.clone());
            }
        }
        // 2. The held changes the server's reason names.
        if refused.is_empty() {
            for row in &held {
                if named_hashes(&row.held_reason).contains(&row.hash) {
                    refused.push(row.hash.clone());
                }
            }
        }
        // 3. Every held change.
        if refused.is_empty() {
            refused = held.iter().map(|r| r.hash.clone()).collect();
        }
        // Changes of this device built on a withdrawn one go with it. Outbox order is the
        // order this device made its changes, so one pass finds them all (no other device
        // can have built on a change the server never accepted).
        let mut withdraw: BTreeSet<String> = refused.iter().cloned().collect();
        for row in &rows {
            if withdraw.contains(&row.hash) {
                continue;
            }
            let Some(c) = change(&row.hash) else { continue };
            let deps = deps_of(doc, c)?;
            if deps.iter().any(|d| withdraw.contains(&hash_hex(d))) {
                withdraw.insert(row.hash.clone());
            }
        }
        Ok(Plan {
            rows,
            refused,
            withdraw,
        })
    }

    /// Every change the server refused that is held on this device, with its reason and the
    /// way out (the exact `fieldnotes withdraw` command, or what to edit).
    pub async fn held_changes(&self) -> Result<Vec<HeldChange>, ClientError> {
        let keys = self.keys()?;
        let me = self.rules_user()?;
        let writer = writer(&me);
        let ids = self.store.held_doc_ids().await?;
        let mut out = Vec::new();
        for doc_id in ids {
            let Some(mut doc) = self.load_with(&keys, &doc_id).await? else {
                continue;
            };
            let plan = self.withdraw_plan(&keys, &mut doc, &writer).await?;
            for row in plan.rows.iter() {
                let Some(code) = &row.held_code else { continue };
                let withdrawn = plan.withdraw.contains(&row.hash);
                out.push(HeldChange {
                    doc_id: doc_id.clone(),
                    hash: row.hash.clone(),
                    code: code.clone(),
                    reason: row.held_reason.clone(),
                    withdrawn_by_withdraw: withdrawn,
                    way_out: way_out(&doc_id, code, withdrawn),
                });
            }
        }
        Ok(out)
    }

    /// Take back the held change(s) of `doc_id` the server refused, with every change of
    /// this device built on them, and revert their effect on this device; release the
    /// document's other held changes, so the next sync sends them. The record as it stood is
    /// written to a file first ([`Withdrawal::export`]); a record whose creating change is
    /// taken back is removed from the device.
    pub async fn withdraw(&self, doc_id: &str) -> Result<Withdrawal, ClientError> {
        let keys = self.keys()?;
        let me = self.rules_user()?;
        let writer = writer(&me);
        let now = now_ms();
        let mut cache = self.write.lock().await;
        cache.remove(doc_id);
        let mut doc = self.load_existing(&keys, doc_id).await?;
        let plan = self.withdraw_plan(&keys, &mut doc, &writer).await?;
        if plan.withdraw.is_empty() {
            return Err(ClientError::NothingToWithdraw {
                doc_id: doc_id.to_owned(),
            });
        }
        let rebuilt = rebuild_without(&mut doc, &plan.withdraw)?;
        let record_removed = rebuilt.is_none();
        let export = self
            .export_withdrawn(&keys, &doc, &plan, record_removed, now)
            .await?;
        let seqs = plan.withdrawn_seqs();
        let released = plan.released();
        self.store_withdrawal(&keys, doc_id, rebuilt, &seqs, now)
            .await?;
        tracing::info!(
            doc_id,
            withdrawn = seqs.len(),
            released,
            record_removed,
            "withdrew refused changes"
        );
        let dependents = plan.dependents();
        let mut withdrawn = plan.refused.clone();
        withdrawn.extend(dependents.iter().cloned());
        Ok(Withdrawal {
            doc_id: doc_id.to_owned(),
            withdrawn,
            dependents,
            released,
            record_removed,
            export,
        })
    }

    /// Remove the withdrawn outbox rows and store the document without them (or remove it),
    /// in one transaction.
    async fn store_withdrawal(
        &self,
        keys: &Keys,
        doc_id: &str,
        rebuilt: Option<Document>,
        seqs: &[i64],
        now: i64,
    ) -> Result<(), ClientError> {
        let mut tx = self.store.begin().await?;
        match rebuilt {
            Some(mut rebuilt) => {
                let (row, scope) = doc_row(&mut rebuilt, now)?;
                let snapshot = rebuilt.save();
                tx.withdraw_rows(doc_id, seqs).await?;
                tx.put_document(keys, &row, &scope, &snapshot).await?;
                // The newest own change may have been withdrawn: a check after a server restore
                // must name one the device still holds (causal order: the last is the newest).
                let newest_own = rebuilt
                    .all_changes()
                    .into_iter()
                    .filter(|c| c.actor == self.actor)
                    .last()
                    .map(|c| hash_hex(&c.hash));
                match newest_own {
                    Some(hash) => tx.set_own_head(doc_id, &hash).await?,
                    None => tx.clear_own_head(doc_id).await?,
                }
            }
            None => tx.remove_document(doc_id).await?,
        }
        self.store.commit(tx).await
    }

    /// Write the record as it stands (withdrawn changes included) and what is withdrawn, and
    /// why, to a new file readable only by this user, synced to disk before anything changes;
    /// in a browser, which has no such folder, keep it sealed in the store instead
    /// ([`Client::withdrawn_exports`]), committed before anything changes.
    async fn export_withdrawn(
        &self,
        keys: &Keys,
        doc: &Document,
        plan: &Plan,
        record_removed: bool,
        now: i64,
    ) -> Result<PathBuf, ClientError> {
        let changes: Vec<serde_json::Value> = plan
            .rows
            .iter()
            .filter(|r| plan.withdraw.contains(&r.hash))
            .map(|r| {
                json!({
                    "hash": r.hash,
                    "code": r.held_code,
                    "reason": r.held_reason,
                    "refused": plan.refused.contains(&r.hash),
                })
            })
            .collect();
        let record = doc.read().ok().and_then(|r| serde_json::to_value(r).ok());
        let body = json!({
            "doc_id": doc.id(),
            "withdrawn_at_ms": now,
            "record_removed_from_device": record_removed,
            "record_as_it_stood": record,
            "withdrawn_changes": changes,
        });
        let text = serde_json::to_vec_pretty(&body)
            .map_err(|e| ClientError::Corrupt(format!("exporting {}: {e}", doc.id())))?;
        let export = WithdrawnExport {
            name: format!("{}-{now}.json", doc.id()),
            json: String::from_utf8_lossy(&text).into_owned(),
        };
        crate::platform::keep_export(self, keys, &export).await
    }

    /// What withdrawals took back, oldest first: each the record as it stood and the withdrawn
    /// changes with their reasons (JSON), so the person can keep a copy. Natively these are
    /// the files in the data folder's `withdrawn/`; in a browser, which has no such folder,
    /// they are kept sealed in the store.
    pub async fn withdrawn_exports(&self) -> Result<Vec<WithdrawnExport>, ClientError> {
        let keys = self.keys()?;
        crate::platform::kept_exports(self, &keys).await
    }
}
