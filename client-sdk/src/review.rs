//! A record's life after it is written — completion, sign-off, amendment, deletion — its
//! history, and the review queue.
//!
//! Every decision that changes a record is an ordinary change made on this device with this
//! device's actor, stored locally first like any edit; [`Client::resolve_review`] then syncs
//! it and tells the server which change settles the item.

use fieldnotes_model::{Patch, ShortPlanPatch, parse_hash};
use fieldnotes_protocol::review::{
    DiffQuery, DiffSpanView, DismissRequest, ItemKind, ResolveRequest, ReviewItem, ReviewQuery,
    VersionView,
};
use reqwest::Method;

use crate::api::{PathQuery, seg};
use crate::{Client, ClientError};

/// How a reviewer settles an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Write this value to the item's field (one of the competing values, or a merged one;
    /// for a plan over its limit, the points one per line).
    Value(String),
    /// Keep the record as it now is (an amendment accepted).
    Accept,
    /// Put the record back as it was before the amendment (or as completed or signed off).
    Restore,
}

/// A reason that keeps the model's rule, trimmed; checked before anything is written.
fn require_reason(reason: &str) -> Result<&str, ClientError> {
    fieldnotes_model::validate::check_reason(reason)
        .map_err(|e| ClientError::Config(format!("{}: it is kept with the record", e.message)))?;
    Ok(reason.trim())
}

/// What a reviewer's decision comes to.
enum Settled {
    /// Record the resolution with the server now (nothing to write on this device).
    Record(ResolveRequest),
    /// Nothing needs changing: dismiss the item with this reason.
    Dismiss(String),
    /// A change was written here (`None`: the decision changed nothing); `value` is what the
    /// server records.
    Wrote {
        change: Option<String>,
        value: String,
    },
}

fn no_sides(item: &ReviewItem) -> ClientError {
    ClientError::Corrupt(format!("review item {} has no sides", item.item_id))
}

/// A plan's points from a reviewer's text: one a line, blank lines left out.
fn plan_points(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Client {
    fn me_id(&self) -> Result<String, ClientError> {
        self.rules_user().map(|u| u.user_id)
    }

    /// Sign a completed note or plan off (managers; the server checks). After this the record
    /// changes only by amendment.
    pub async fn sign_off(&self, id: &str) -> Result<String, ClientError> {
        let me = self.me_id()?;
        self.change_with(id, |doc, now| doc.sign_off(&me, now).map(Some))
            .await?
            .ok_or_else(|| ClientError::Config("the sign-off wrote nothing".into()))
    }

    /// Change a completed or signed-off record, with a reason that stays in its history and
    /// goes to the review queue.
    pub async fn amend(
        &self,
        id: &str,
        patch: Patch,
        reason: &str,
    ) -> Result<Option<String>, ClientError> {
        let reason = require_reason(reason)?.to_owned();
        self.check_team_rules_for(&patch).await?;
        self.change_with(id, |doc, now| doc.amend(patch, &reason, now))
            .await
    }

    /// Delete a record (a note filed on the wrong child): soft, kept in history, and a
    /// manager's decision (the server refuses anyone else's).
    pub async fn delete_record(&self, id: &str, reason: &str) -> Result<String, ClientError> {
        let me = self.me_id()?;
        let reason = require_reason(reason)?.to_owned();
        self.change_with(id, |doc, now| doc.delete(&me, &reason, now).map(Some))
            .await?
            .ok_or_else(|| ClientError::Config("the deletion wrote nothing".into()))
    }

    /// A document's history from the server: every version with who, which device and when.
    pub async fn history(&self, id: &str) -> Result<Vec<VersionView>, ClientError> {
        self.get_json(&format!("/v1/documents/{}/history", seg(id)))
            .await
    }

    /// A word-level diff of one field (`body` by default) between two versions (change hashes
    /// from [`Client::history`]).
    pub async fn diff(
        &self,
        id: &str,
        from: &str,
        to: &str,
        field: Option<&str>,
    ) -> Result<Vec<DiffSpanView>, ClientError> {
        let query = DiffQuery {
            from: from.to_owned(),
            to: to.to_owned(),
            field: Some(field.unwrap_or("body").to_owned()),
        };
        let path = PathQuery::of(&format!("/v1/documents/{}/diff", seg(id)), &query)?;
        self.get_json(&path).await
    }

    /// The review queue (managers: their team's; admins: all).
    pub async fn review_items(&self, q: &ReviewQuery) -> Result<Vec<ReviewItem>, ClientError> {
        self.get_items(&PathQuery::of("/v1/review", q)?).await
    }

    /// One review item, with each side's person, device and times.
    pub async fn review_item(&self, item_id: i64) -> Result<ReviewItem, ClientError> {
        self.get_json(&format!("/v1/review/{item_id}")).await
    }

    /// Dismiss an item: nothing needs changing. The reason is kept.
    pub async fn dismiss_review(
        &self,
        item_id: i64,
        reason: &str,
    ) -> Result<ReviewItem, ClientError> {
        let body = DismissRequest {
            reason: require_reason(reason)?.to_owned(),
        };
        let path = format!("/v1/review/{item_id}/dismiss");
        self.send(Method::POST, &path, &body).await
    }

    /// Settle an item: write the decision as a change on this device (the record as it
    /// stands after a sync), sync it, and record the decision with the server. The change then
    /// reaches every device like any edit. Accepting an amendment is recorded as resolved;
    /// a decision that changes nothing otherwise (restoring what is already there, accepting
    /// another kind of item) is recorded as a dismissal with the reason.
    pub async fn resolve_review(
        &self,
        item_id: i64,
        resolution: Resolution,
        reason: &str,
    ) -> Result<ReviewItem, ClientError> {
        let reason = require_reason(reason)?.to_owned();
        let item = self.review_item(item_id).await?;
        // Decide on the record as it stands now (a lock that arrived meanwhile makes the
        // decision an amendment, not a new pending item).
        self.sync().await?;
        match self.settle(&item, resolution, &reason).await? {
            Settled::Record(body) => self.post_resolution(item_id, &body).await,
            Settled::Dismiss(why) => self.dismiss_review(item_id, &why).await,
            Settled::Wrote {
                change: None,
                value: _,
            } => Err(ClientError::Config(
                "the decision changes nothing in the record; dismiss the item instead".into(),
            )),
            Settled::Wrote {
                change: Some(change),
                value,
            } => {
                self.sync().await?;
                let body = ResolveRequest {
                    value,
                    change,
                    reason: Some(reason),
                };
                self.post_resolution(item_id, &body).await
            }
        }
    }

    async fn post_resolution(
        &self,
        item_id: i64,
        body: &ResolveRequest,
    ) -> Result<ReviewItem, ClientError> {
        let path = format!("/v1/review/{item_id}/resolve");
        self.send(Method::POST, &path, body).await
    }

    /// What a decision comes to for this item; writes the change it needs on this device.
    async fn settle(
        &self,
        item: &ReviewItem,
        resolution: Resolution,
        reason: &str,
    ) -> Result<Settled, ClientError> {
        let doc_id = item.doc_id.as_str();
        match (item.item_kind, resolution) {
            (ItemKind::Amendment | ItemKind::PendingAmendment, Resolution::Accept) => {
                // The record already holds the amendment: name its latest change, and the
                // server records the item as resolved (accepted).
                let change = item
                    .sides
                    .last()
                    .map(|s| s.change.clone())
                    .ok_or_else(|| no_sides(item))?;
                Ok(Settled::Record(ResolveRequest {
                    value: "accepted as it stands".to_owned(),
                    change,
                    reason: Some(reason.to_owned()),
                }))
            }
            (_, Resolution::Accept) => Ok(Settled::Dismiss(format!("accepted: {reason}"))),
            (ItemKind::PlanLimit, Resolution::Value(points)) => {
                let points = plan_points(&points);
                // Settled only by a plan within the limit: refused here before anything is
                // written when this device knows its team (the server checks the child's team
                // whatever the device knows).
                if let Some(limit) = self.known_plan_limit().await? {
                    crate::check_plan_points(points.len(), limit)?;
                }
                let patch = Patch::ShortPlan(ShortPlanPatch {
                    points: Some(points.clone()),
                    ..Default::default()
                });
                let change = self
                    .change_with(doc_id, |doc, now| doc.review_edit(patch, reason, now))
                    .await?;
                Ok(Settled::Wrote {
                    change,
                    value: points.join("\n"),
                })
            }
            (_, Resolution::Value(value)) => {
                let field = item.field.as_str();
                let change = self
                    .change_with(doc_id, |doc, now| {
                        doc.settle(field, &value, reason, now).map(Some)
                    })
                    .await?;
                Ok(Settled::Wrote { change, value })
            }
            (kind, Resolution::Restore) => match self.restore(item, kind, reason).await? {
                Some(change) => Ok(Settled::Wrote {
                    change: Some(change),
                    value: "restored".to_owned(),
                }),
                None => Ok(Settled::Dismiss(format!("restored: {reason}"))),
            },
        }
    }

    /// Put the record back: to the locked version (a pending amendment's first side), or to
    /// the version just before the amendment. `None` when that changes nothing.
    async fn restore(
        &self,
        item: &ReviewItem,
        kind: ItemKind,
        reason: &str,
    ) -> Result<Option<String>, ClientError> {
        let side = item.sides.first().ok_or_else(|| no_sides(item))?;
        let change = parse_hash(&side.change)?;
        self.change_with(&item.doc_id, |doc, now| {
            let before = match kind {
                ItemKind::PendingAmendment => vec![change],
                ItemKind::Amendment => doc.deps_of(&change).ok_or_else(|| {
                    fieldnotes_model::ModelError::UnknownVersion(change.to_string())
                })?,
                other => {
                    return Err(fieldnotes_model::ModelError::Load(format!(
                        "a {} item cannot be restored; choose a value",
                        other.as_str()
                    )));
                }
            };
            doc.restore_version(&before, reason, now)
        })
        .await
    }
}
