//! The records of the directory, as the store reads and writes them.

/// Teams, children, allocations, referrals, access grants and audit entries are read as the
/// listings show them: the same fields, times as
/// [`Timestamp`](fieldnotes_protocol::admin::Timestamp)s. A new child or a change to a team is
/// what the request asked for.
pub use fieldnotes_protocol::admin::{
    AccessGrant, Allocation, AuditEntry, Child, NewChild, Referral, Team, TeamPatch,
};
pub use fieldnotes_protocol::auth::UserInfo;
use fieldnotes_vocab::Role;
use serde::Serialize;

/// A person who can sign in: who they are, as the listings show it, and how they sign in.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    #[sqlx(flatten)]
    pub info: UserInfo,
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    pub external_subject: Option<String>,
    pub active: bool,
    pub created_at_ms: i64,
}

impl std::fmt::Debug for UserRecord {
    // The password hash is a secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("info", &self.info)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub team_id: Option<Option<String>>,
    pub active: Option<bool>,
    pub password_hash: Option<String>,
    pub external_subject: Option<Option<String>>,
}

impl std::fmt::Debug for UserUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserUpdate")
            .field("role", &self.role)
            .field("team_id", &self.team_id)
            .field("active", &self.active)
            .field("password_changed", &self.password_hash.is_some())
            .finish_non_exhaustive()
    }
}

/// A new referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReferral {
    pub child_id: String,
    pub youth_worker_id: String,
    pub starts_on: String,
    pub planned_end: String,
}

/// A registered device.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceRecord {
    pub device_id: String,
    pub user_id: String,
    pub name: String,
    pub actor_id: String,
    pub store_key: Vec<u8>,
    pub registered_at_ms: i64,
    pub last_sync_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub revoked_by: Option<String>,
    pub session_id: Option<String>,
    /// Input from this device waiting for review: quarantined pushes and open review items it
    /// raised. Counted only by `list_devices` and `revoke_device`; 0 elsewhere.
    pub pending_review: i64,
}

impl std::fmt::Debug for DeviceRecord {
    // The store key unlocks the device's data: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("device_id", &self.device_id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("actor_id", &self.actor_id)
            .field("revoked_at_ms", &self.revoked_at_ms)
            .field("session_id", &self.session_id.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// A device signing in.
#[derive(Clone, PartialEq, Eq)]
pub struct NewDevice {
    pub device_id: String,
    pub user_id: String,
    pub name: String,
    pub actor_id: String,
    /// Used only when the device is new.
    pub store_key: Vec<u8>,
}

impl std::fmt::Debug for NewDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDevice")
            .field("device_id", &self.device_id)
            .field("user_id", &self.user_id)
            .field("actor_id", &self.actor_id)
            .finish_non_exhaustive()
    }
}

/// A refresh token presented for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRotation<'a> {
    /// The stored form (hash) of the presented token.
    pub token_hash: &'a str,
    /// The stored form of its successor. The caller derives the successor from the presented
    /// token, so a retry of the same token names the same successor.
    pub new_hash: &'a str,
    /// The device the request says it comes from; `None` gets no grace.
    pub device_id: Option<&'a str>,
    pub at_ms: i64,
    pub new_expires_at_ms: i64,
    /// How long after its first use (ms, exclusive) the token may be presented again by its
    /// own device; 0 gives no grace.
    pub grace_ms: i64,
}

/// What became of a refresh token presented for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was good: it is now used, and the new one is stored in its place.
    Rotated { device: DeviceRecord },
    /// The token was used moments ago by its own device, whose answer was evidently lost: the
    /// successor it was given then (`new_hash`, still unused) is good until `expires_at_ms`.
    Replayed {
        device: DeviceRecord,
        expires_at_ms: i64,
    },
    /// The token had already been used: someone holds a copy. The device's session is ended.
    Reused { device_id: String },
    /// No such token.
    Unknown,
    /// The token expired unused.
    Expired,
    /// The token belongs to a session that has ended (signed out, or ended for reuse).
    SessionEnded,
    /// The device has been revoked.
    Revoked { device: DeviceRecord },
}

/// Which grants to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    pub user_id: Option<String>,
    /// Grants on children of this team.
    pub team_id: Option<String>,
    /// Only grants still running at this time.
    pub active_at_ms: Option<i64>,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    pub at_ms: i64,
}

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    pub action: String,
    pub child_id: Option<String>,
    pub doc_id: Option<String>,
    pub details: serde_json::Value,
}

impl NewAudit {
    pub fn new(action: &str) -> Self {
        NewAudit {
            action: action.to_owned(),
            child_id: None,
            doc_id: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    pub fn child(mut self, child_id: &str) -> Self {
        self.child_id = Some(child_id.to_owned());
        self
    }

    pub fn doc(mut self, doc_id: &str) -> Self {
        self.doc_id = Some(doc_id.to_owned());
        self
    }

    pub fn details(mut self, details: impl Serialize) -> Self {
        // Details are plain data; should one ever fail to serialize, the entry says so rather
        // than being written empty.
        self.details = serde_json::to_value(details)
            .unwrap_or_else(|e| serde_json::json!({ "details_not_recorded": e.to_string() }));
        self
    }
}

/// Which audit entries to list: all given filters apply; entries with ids above `after`,
/// oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub child_id: Option<String>,
    pub user_id: Option<String>,
    pub after: Option<i64>,
    pub limit: u32,
}

/// The facts that decide one person's scope, read in one statement at each sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeFacts {
    pub user: UserRecord,
    pub team: Option<Team>,
    /// Children allocated to the person now.
    pub allocated: Vec<String>,
    /// Children referred to the person (youth workers), the referral started and not ended.
    pub referred: Vec<String>,
    /// Children whose allocation or referral to the person ended at or after the grace start.
    pub recently_ended: Vec<String>,
    /// Children of the person's team.
    pub team_children: Vec<String>,
    /// Members of the person's team.
    pub team_members: Vec<String>,
    /// Children the person holds a running access grant for.
    pub granted: Vec<String>,
}
