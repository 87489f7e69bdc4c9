//! The review queue (`/v1/review`): what a merge could not decide on its own, for managers and
//! admins, and record-level actions (sign-off, deletion) and history (`/v1/documents/{id}/...`).

use serde::{Deserialize, Serialize};

pub use fieldnotes_vocab::ItemKind;
use fieldnotes_vocab::{DocKind, ReviewStatus, Timestamp};

/// One competing value (or one amendment), with who wrote it, where and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    /// The value as text (for an amendment: the field's value after it).
    pub value: String,
    /// The change that wrote it (hex hash).
    pub change: String,
    /// The actor (hex) that wrote it.
    pub actor: String,
    /// The person and device behind that actor, when the server knows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The person's name and the device's, as a reviewer knows them ("Sam Patel", "Sam's
    /// phone"), filled in when the item is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The device's own clock when it was written (RFC 3339).
    pub device_time: String,
    /// When the server received it (RFC 3339), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    /// True for the value the merge shows now.
    #[serde(default)]
    pub shown: bool,
    /// An amendment's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A review item (also the store's record of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct ReviewItem {
    pub item_id: i64,
    pub doc_id: String,
    pub doc_kind: DocKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    pub item_kind: ItemKind,
    /// The field at issue (`""` for the whole record).
    pub field: String,
    pub status: ReviewStatus,
    pub summary: String,
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "crate::sql::JsonText"))]
    pub sides: Vec<Side>,
    /// The document version (heads) the item was last raised at.
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "crate::sql::JsonText"))]
    pub seen_heads: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "crate::sql::JsonText"))]
    pub decision: Option<Decision>,
}

/// `GET /v1/review?status=&team=&child=&kind=&item=&doc=&older_than_hours=&newer_than_hours=`;
/// `None` leaves a filter out. The server reads the text values and names a bad one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// open, resolved, dismissed or all [default: open].
    #[cfg_attr(feature = "clap", arg(long, value_parser = crate::flags::review_status()))]
    pub status: Option<String>,
    /// Only this team's items (admins; a manager sees their own team's).
    #[cfg_attr(feature = "clap", arg(long, value_name = "ID"))]
    pub team: Option<String>,
    /// Only items about this child.
    #[cfg_attr(feature = "clap", arg(long, value_name = "ID"))]
    pub child: Option<String>,
    /// Only items on this kind of document: visit_note, about_me, contact_card or short_plan.
    #[cfg_attr(feature = "clap", arg(long, value_parser = crate::flags::doc_kind))]
    pub kind: Option<String>,
    /// Only this kind of item: conflict (two values written at once), amendment (a change
    /// after completion, with a reason), pending_amendment (a change made without seeing the
    /// completion or sign-off), plan_limit (a plan over the team's point limit) or
    /// invalid_merge (edits that together break a rule).
    #[cfg_attr(feature = "clap", arg(long, value_name = "ITEM", value_parser = crate::flags::item_kind))]
    pub item: Option<String>,
    /// Only items on this document.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub doc: Option<String>,
    /// Only items raised at least this many hours ago.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub older_than_hours: Option<u32>,
    /// Only items raised within this many hours.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub newer_than_hours: Option<u32>,
    /// Only entries after this id (the last id of the previous page).
    #[cfg_attr(feature = "clap", arg(long, value_name = "ID"))]
    pub after: Option<i64>,
    /// At most this many entries (1 to 1000) [default: 100].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub limit: Option<u32>,
}

impl ReviewQuery {
    /// The `status` that asks for items of every status.
    pub const ALL_STATUSES: &'static str = "all";
}

/// `GET /v1/documents/{id}/diff?from=HASH&to=HASH&field=body`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The earlier version: a change hash from the history.
    pub from: String,
    /// The later version.
    pub to: String,
    /// The field to compare (default `body`).
    pub field: Option<String>,
}

/// What a reviewer decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// [`ReviewStatus::Resolved`] or [`ReviewStatus::Dismissed`].
    pub action: ReviewStatus,
    /// The value the record now holds (resolutions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The reviewer's change that carries the resolution (hex hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/review/{id}/resolve`: the reviewer's device has written (and synced) a change
/// that settles the item; the server checks the change is there and is theirs, and records
/// the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// The value chosen or written.
    pub value: String,
    /// The reviewer's change (hex hash), already pushed.
    pub change: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/review/{id}/dismiss`: nothing to change; say why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DismissRequest {
    pub reason: String,
}

/// One version in a document's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionView {
    /// The change that made this version (hex hash).
    pub change: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The person's name and their device's, as people know them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The server's receive time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    /// The device's own time (RFC 3339), informational.
    pub device_time: String,
    /// Fields whose value this change altered.
    pub changed: Vec<String>,
    /// An amendment's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amendment: Option<String>,
}

/// A span of a text diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "text", rename_all = "snake_case")]
pub enum DiffSpanView {
    Same(String),
    Added(String),
    Removed(String),
}
