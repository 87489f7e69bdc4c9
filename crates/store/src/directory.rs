//! People, structure and access: teams, users, children, allocations, referrals, devices and
//! their sessions, access grants, the audit log and server secrets.
//!
//! Both backends run the same SQL here (sqlx binds `$1`-style parameters on SQLite too), so the
//! [`Directory`] implementation is written once, in [`impl_directory!`], and instantiated for
//! each store with its pools. Every method that changes who may see what writes its audit
//! entry in the same transaction: the log can't miss an action that happened, nor record one
//! that did not.

use async_trait::async_trait;
use serde::Serialize;

use crate::StoreError;

/// A team (pod).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TeamRecord {
    pub team_id: String,
    pub name: String,
    pub pod_read_access: bool,
    /// Most points a short plan may have before it goes to review (three by default).
    pub plan_point_limit: i64,
    pub created_at_ms: i64,
}

/// A person who can sign in.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    /// `social_worker`, `youth_worker`, `manager` or `admin`.
    pub role: String,
    pub team_id: Option<String>,
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
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("team_id", &self.team_id)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub role: Option<String>,
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

/// A child or young person, with their current case holder.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChildRecord {
    pub child_id: String,
    pub display_name: String,
    pub team_id: String,
    pub case_holder: Option<String>,
    pub created_at_ms: i64,
}

/// One allocation of a child to a social worker.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AllocationRecord {
    pub allocation_id: i64,
    pub child_id: String,
    pub worker_id: String,
    pub started_at_ms: i64,
    pub allocated_by: String,
    pub ended_at_ms: Option<i64>,
    pub ended_by: Option<String>,
}

/// A youth worker's involvement with a young person.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReferralRecord {
    pub referral_id: i64,
    pub child_id: String,
    pub youth_worker_id: String,
    pub referred_by: String,
    /// `YYYY-MM-DD`.
    pub starts_on: String,
    /// `YYYY-MM-DD`.
    pub planned_end: String,
    pub created_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub ended_by: Option<String>,
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

/// A time-limited access to a child outside allocation.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantRecord {
    pub grant_id: i64,
    pub user_id: String,
    pub child_id: String,
    pub reason: String,
    pub granted_at_ms: i64,
    pub expires_at_ms: i64,
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
        self.details = serde_json::to_value(details).unwrap_or_default();
        self
    }
}

/// An audit entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at_ms: i64,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    pub action: String,
    pub child_id: Option<String>,
    pub doc_id: Option<String>,
    /// JSON text.
    pub details: String,
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
    pub team: Option<TeamRecord>,
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

/// People, structure and access. Implemented by both stores.
#[async_trait]
pub trait Directory: Send + Sync {
    async fn create_team(&self, team: &TeamRecord, by: &Actor) -> Result<(), StoreError>;
    async fn update_team(
        &self,
        team_id: &str,
        name: Option<&str>,
        pod_read_access: Option<bool>,
        plan_point_limit: Option<i64>,
        by: &Actor,
    ) -> Result<TeamRecord, StoreError>;
    async fn get_team(&self, team_id: &str) -> Result<Option<TeamRecord>, StoreError>;
    async fn list_teams(&self) -> Result<Vec<TeamRecord>, StoreError>;

    /// Add a person. `Conflict` if the id, username or external subject is taken.
    async fn create_user(&self, user: &UserRecord, by: &Actor) -> Result<(), StoreError>;
    async fn update_user(
        &self,
        user_id: &str,
        update: &UserUpdate,
        by: &Actor,
    ) -> Result<UserRecord, StoreError>;
    async fn get_user(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// The person with this username, compared without regard to case (usernames are unique
    /// that way).
    async fn get_user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn get_user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn list_users(&self, team_id: Option<&str>) -> Result<Vec<UserRecord>, StoreError>;
    /// How many admins can sign in (the first-run check).
    async fn count_admins(&self) -> Result<i64, StoreError>;

    async fn create_child(&self, child: &ChildRecord, by: &Actor) -> Result<(), StoreError>;
    async fn get_child(&self, child_id: &str) -> Result<Option<ChildRecord>, StoreError>;
    async fn list_children(&self, team_id: Option<&str>) -> Result<Vec<ChildRecord>, StoreError>;

    /// Allocate a child to a worker, ending the current allocation. `Conflict` if the child is
    /// already allocated to that worker, or another allocation committed first.
    async fn allocate(
        &self,
        child_id: &str,
        worker_id: &str,
        by: &Actor,
    ) -> Result<AllocationRecord, StoreError>;
    /// End the child's current allocation, leaving them unallocated.
    async fn end_allocation(
        &self,
        child_id: &str,
        by: &Actor,
    ) -> Result<AllocationRecord, StoreError>;
    /// Every allocation of a child, oldest first.
    async fn allocation_history(&self, child_id: &str)
    -> Result<Vec<AllocationRecord>, StoreError>;

    async fn create_referral(
        &self,
        referral: &NewReferral,
        by: &Actor,
    ) -> Result<ReferralRecord, StoreError>;
    async fn end_referral(
        &self,
        referral_id: i64,
        by: &Actor,
    ) -> Result<ReferralRecord, StoreError>;
    async fn get_referral(&self, referral_id: i64) -> Result<Option<ReferralRecord>, StoreError>;
    async fn list_referrals(
        &self,
        child_id: Option<&str>,
        youth_worker_id: Option<&str>,
    ) -> Result<Vec<ReferralRecord>, StoreError>;

    /// Register a device at sign-in, or return it if it is already registered to this person
    /// with this actor. `Conflict` (with a reason) if the device belongs to someone else, writes
    /// with another actor, or the actor belongs to another device.
    async fn register_device(
        &self,
        device: &NewDevice,
        at_ms: i64,
    ) -> Result<DeviceRecord, StoreError>;
    async fn get_device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StoreError>;
    /// The device that writes as `actor_id` (hex), if one is registered.
    async fn device_by_actor(&self, actor_id: &str) -> Result<Option<DeviceRecord>, StoreError>;
    async fn list_devices(&self, user_id: Option<&str>) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Revoke a device: its session ends and its next contact tells it to wipe itself.
    async fn revoke_device(&self, device_id: &str, by: &Actor) -> Result<DeviceRecord, StoreError>;
    /// Record a sync round from the device: its last-sync time and the round's access-audit
    /// entries (by the device's person), in one transaction.
    async fn record_sync(
        &self,
        device_id: &str,
        entries: &[NewAudit],
        by: &Actor,
    ) -> Result<(), StoreError>;

    /// Start a new session on a device with its first refresh token (ending any earlier one).
    async fn start_session(
        &self,
        device_id: &str,
        session_id: &str,
        token_hash: &str,
        at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError>;
    /// Use a refresh token once and store its successor, atomically, with no grace for a
    /// retry: any second use ends the session.
    async fn rotate_refresh(
        &self,
        token_hash: &str,
        new_hash: &str,
        at_ms: i64,
        new_expires_at_ms: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        self.rotate_refresh_retryable(&RefreshRotation {
            token_hash,
            new_hash,
            device_id: None,
            at_ms,
            new_expires_at_ms,
            grace_ms: 0,
        })
        .await
    }
    /// Use a refresh token once and store its successor, atomically. The same token presented
    /// again by the device it belongs to, within `grace_ms` of its first use, while its
    /// successor is still unused, is [`RefreshOutcome::Replayed`] (the answer to the first use
    /// was lost); any other second use ends the session ([`RefreshOutcome::Reused`]).
    async fn rotate_refresh_retryable(
        &self,
        rotation: &RefreshRotation<'_>,
    ) -> Result<RefreshOutcome, StoreError>;
    /// End the device's session (sign-out): its refresh tokens stop working.
    async fn end_session(&self, device_id: &str, at_ms: i64) -> Result<(), StoreError>;

    async fn create_grant(
        &self,
        user_id: &str,
        child_id: &str,
        reason: &str,
        expires_at_ms: i64,
        by: &Actor,
    ) -> Result<GrantRecord, StoreError>;
    async fn list_grants(&self, filter: &GrantFilter) -> Result<Vec<GrantRecord>, StoreError>;

    async fn append_audit(&self, entry: &NewAudit, by: &Actor) -> Result<i64, StoreError>;
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;

    /// The facts that decide `user`'s scope at `at_ms` (`today` is its UTC date); ended
    /// allocations and referrals count as recent from `grace_from_ms`. Lists a role does not
    /// use are left empty (all of them for an admin).
    async fn scope_facts(
        &self,
        user: &UserRecord,
        at_ms: i64,
        today: &str,
        grace_from_ms: i64,
    ) -> Result<ScopeFacts, StoreError>;

    /// The named server secret, storing `candidate` first if there is none yet. Every server
    /// sharing the database gets the same value.
    async fn server_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;
}

/// A unique-constraint failure as a [`StoreError::Conflict`] with `message`; other errors as
/// they are.
pub(crate) fn conflict_on_unique(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::Conflict(format!(
                "{}: a team, person or child it names does not exist",
                message()
            ))
        }
        _ => StoreError::Backend(e),
    }
}

pub(crate) const USER_COLUMNS: &str = "user_id, username, display_name, role, team_id, \
     password_hash, external_subject, active, created_at_ms";

pub(crate) const CHILD_SELECT: &str = "SELECT c.child_id, c.display_name, c.team_id, \
     a.worker_id AS case_holder, c.created_at_ms FROM children c \
     LEFT JOIN allocations a ON a.child_id = c.child_id AND a.ended_at_ms IS NULL";

/// A device's columns, shared by the two selects below.
macro_rules! device_columns {
    () => {
        "d.device_id, d.user_id, d.name, d.actor_id, d.store_key, d.registered_at_ms, \
         d.last_sync_ms, d.revoked_at_ms, d.revoked_by, d.session_id"
    };
}

/// A device, without counting what it left for review (`pending_review` is 0): every
/// authenticated request reads one of these.
pub(crate) const DEVICE_SELECT: &str = concat!(
    "SELECT ",
    device_columns!(),
    ", CAST(0 AS BIGINT) AS pending_review FROM devices d"
);

/// A device with what it left for review: quarantined input and open review items it raised
/// (the admin's device list).
pub(crate) const DEVICE_SELECT_COUNTED: &str = concat!(
    "SELECT ",
    device_columns!(),
    ", (SELECT COUNT(*) FROM quarantine q WHERE q.device_id = d.device_id) \
     + (SELECT COUNT(*) FROM review_items r WHERE r.raised_by_device = d.device_id \
        AND r.status = 'open') AS pending_review FROM devices d"
);

pub(crate) const ALLOCATION_COLUMNS: &str =
    "allocation_id, child_id, worker_id, started_at_ms, allocated_by, ended_at_ms, ended_by";

pub(crate) const REFERRAL_COLUMNS: &str = "referral_id, child_id, youth_worker_id, referred_by, \
     starts_on, planned_end, created_at_ms, ended_at_ms, ended_by";

pub(crate) const GRANT_COLUMNS: &str =
    "grant_id, user_id, child_id, reason, granted_at_ms, expires_at_ms";

/// Implements [`Directory`] for a store type over its `writer` and `reader` pools. Both
/// backends share every statement; see the module docs.
macro_rules! impl_directory {
    ($store:ty, $db:ty, $writer:ident, $reader:ident) => {
        impl $store {
            async fn audit_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                entry: &$crate::directory::NewAudit,
                by: &$crate::directory::Actor,
            ) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar(
                    "INSERT INTO audit_log (at_ms, user_id, device_id, action, child_id, doc_id, details)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(by.at_ms)
                .bind(&by.user_id)
                .bind(&by.device_id)
                .bind(&entry.action)
                .bind(&entry.child_id)
                .bind(&entry.doc_id)
                .bind(entry.details.to_string())
                .fetch_one(&mut **tx)
                .await
            }
        }

        #[async_trait::async_trait]
        impl $crate::directory::Directory for $store {
            async fn create_team(
                &self,
                team: &$crate::directory::TeamRecord,
                by: &$crate::directory::Actor,
            ) -> Result<(), $crate::StoreError> {
                use $crate::directory::{NewAudit, conflict_on_unique};
                let mut tx = self.$writer.begin().await?;
                sqlx::query(
                    "INSERT INTO teams (team_id, name, pod_read_access, plan_point_limit, created_at_ms) VALUES ($1, $2, $3, $5, $4)",
                )
                .bind(&team.team_id)
                .bind(&team.name)
                .bind(team.pod_read_access)
                .bind(team.created_at_ms)
                .bind(team.plan_point_limit)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, || format!("team {:?} already exists", team.team_id)))?;
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("create_team").details(serde_json::json!({
                        "team_id": team.team_id, "name": team.name, "pod_read_access": team.pod_read_access,
                    })),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_team(
                &self,
                team_id: &str,
                name: Option<&str>,
                pod_read_access: Option<bool>,
                plan_point_limit: Option<i64>,
                by: &$crate::directory::Actor,
            ) -> Result<$crate::directory::TeamRecord, $crate::StoreError> {
                use $crate::directory::{NewAudit, TeamRecord};
                let mut tx = self.$writer.begin().await?;
                let team: Option<TeamRecord> = sqlx::query_as(
                    "UPDATE teams SET name = COALESCE($2, name),
                         pod_read_access = COALESCE($3, pod_read_access),
                         plan_point_limit = COALESCE($4, plan_point_limit)
                     WHERE team_id = $1
                     RETURNING team_id, name, pod_read_access, plan_point_limit, created_at_ms",
                )
                .bind(team_id)
                .bind(name)
                .bind(pod_read_access)
                .bind(plan_point_limit)
                .fetch_optional(&mut *tx)
                .await?;
                let team = team.ok_or_else(|| $crate::StoreError::NotFound {
                    what: format!("team {team_id}"),
                })?;
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("update_team").details(serde_json::json!({
                        "team_id": team_id, "name": name, "pod_read_access": pod_read_access,
                        "plan_point_limit": plan_point_limit,
                    })),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(team)
            }

            async fn get_team(
                &self,
                team_id: &str,
            ) -> Result<Option<$crate::directory::TeamRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT team_id, name, pod_read_access, plan_point_limit, created_at_ms FROM teams WHERE team_id = $1",
                )
                .bind(team_id)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn list_teams(
                &self,
            ) -> Result<Vec<$crate::directory::TeamRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT team_id, name, pod_read_access, plan_point_limit, created_at_ms FROM teams ORDER BY team_id",
                )
                .fetch_all(&self.$reader)
                .await?)
            }

            async fn create_user(
                &self,
                user: &$crate::directory::UserRecord,
                by: &$crate::directory::Actor,
            ) -> Result<(), $crate::StoreError> {
                use $crate::directory::{NewAudit, conflict_on_unique};
                let mut tx = self.$writer.begin().await?;
                sqlx::query(&format!(
                    "INSERT INTO users ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    $crate::directory::USER_COLUMNS
                ))
                .bind(&user.user_id)
                .bind(&user.username)
                .bind(&user.display_name)
                .bind(&user.role)
                .bind(&user.team_id)
                .bind(&user.password_hash)
                .bind(&user.external_subject)
                .bind(user.active)
                .bind(user.created_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    conflict_on_unique(e, || {
                        format!(
                            "a person with id {:?}, username {:?} (usernames are compared without regard to case) or that identity-provider subject already exists",
                            user.user_id, user.username
                        )
                    })
                })?;
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("create_user").details(serde_json::json!({
                        "user_id": user.user_id, "username": user.username, "role": user.role,
                        "team_id": user.team_id,
                    })),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_user(
                &self,
                user_id: &str,
                update: &$crate::directory::UserUpdate,
                by: &$crate::directory::Actor,
            ) -> Result<$crate::directory::UserRecord, $crate::StoreError> {
                use $crate::directory::{NewAudit, UserRecord, conflict_on_unique};
                let mut tx = self.$writer.begin().await?;
                let user: Option<UserRecord> = sqlx::query_as(&format!(
                    "UPDATE users SET display_name = COALESCE($2, display_name),
                         role = COALESCE($3, role),
                         team_id = CASE WHEN $4 THEN $5 ELSE team_id END,
                         active = COALESCE($6, active),
                         password_hash = COALESCE($7, password_hash),
                         external_subject = CASE WHEN $8 THEN $9 ELSE external_subject END
                     WHERE user_id = $1 RETURNING {}",
                    $crate::directory::USER_COLUMNS
                ))
                .bind(user_id)
                .bind(&update.display_name)
                .bind(&update.role)
                .bind(update.team_id.is_some())
                .bind(update.team_id.clone().flatten())
                .bind(update.active)
                .bind(&update.password_hash)
                .bind(update.external_subject.is_some())
                .bind(update.external_subject.clone().flatten())
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, || "that identity-provider subject belongs to another person".to_owned()))?;
                let user = user.ok_or_else(|| $crate::StoreError::NotFound {
                    what: format!("person {user_id}"),
                })?;
                if update.active == Some(false)
                    || update.password_hash.is_some()
                    || update.external_subject.is_some()
                {
                    // Someone who has left, or whose credentials changed, signs in again on
                    // every device.
                    sqlx::query("UPDATE devices SET session_id = NULL WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("update_user").details(serde_json::json!({
                        "user_id": user_id,
                        "display_name": update.display_name,
                        "role": update.role,
                        "team_id": update.team_id,
                        "active": update.active,
                        "password_changed": update.password_hash.is_some(),
                        "external_subject": update.external_subject,
                    })),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(user)
            }

            async fn get_user(
                &self,
                user_id: &str,
            ) -> Result<Option<$crate::directory::UserRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM users WHERE user_id = $1",
                    $crate::directory::USER_COLUMNS
                ))
                .bind(user_id)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn get_user_by_username(
                &self,
                username: &str,
            ) -> Result<Option<$crate::directory::UserRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM users WHERE lower(username) = lower($1)",
                    $crate::directory::USER_COLUMNS
                ))
                .bind(username)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn get_user_by_subject(
                &self,
                subject: &str,
            ) -> Result<Option<$crate::directory::UserRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM users WHERE external_subject = $1",
                    $crate::directory::USER_COLUMNS
                ))
                .bind(subject)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn list_users(
                &self,
                team_id: Option<&str>,
            ) -> Result<Vec<$crate::directory::UserRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM users WHERE $1 IS NULL OR team_id = $1 ORDER BY user_id",
                    $crate::directory::USER_COLUMNS
                ))
                .bind(team_id)
                .fetch_all(&self.$reader)
                .await?)
            }

            async fn count_admins(&self) -> Result<i64, $crate::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND active",
                )
                .fetch_one(&self.$reader)
                .await?)
            }

            async fn create_child(
                &self,
                child: &$crate::directory::ChildRecord,
                by: &$crate::directory::Actor,
            ) -> Result<(), $crate::StoreError> {
                use $crate::directory::{NewAudit, conflict_on_unique};
                let mut tx = self.$writer.begin().await?;
                sqlx::query(
                    "INSERT INTO children (child_id, display_name, team_id, created_at_ms) VALUES ($1, $2, $3, $4)",
                )
                .bind(&child.child_id)
                .bind(&child.display_name)
                .bind(&child.team_id)
                .bind(child.created_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, || format!("child {:?} already exists", child.child_id)))?;
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("create_child")
                        .child(&child.child_id)
                        .details(serde_json::json!({ "team_id": child.team_id })),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_child(
                &self,
                child_id: &str,
            ) -> Result<Option<$crate::directory::ChildRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "{} WHERE c.child_id = $1",
                    $crate::directory::CHILD_SELECT
                ))
                .bind(child_id)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn list_children(
                &self,
                team_id: Option<&str>,
            ) -> Result<Vec<$crate::directory::ChildRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "{} WHERE $1 IS NULL OR c.team_id = $1 ORDER BY c.child_id",
                    $crate::directory::CHILD_SELECT
                ))
                .bind(team_id)
                .fetch_all(&self.$reader)
                .await?)
            }

            async fn allocate(
                &self,
                child_id: &str,
                worker_id: &str,
                by: &$crate::directory::Actor,
            ) -> Result<$crate::directory::AllocationRecord, $crate::StoreError> {
                use $crate::directory::{AllocationRecord, NewAudit, conflict_on_unique};
                let mut tx = self.$writer.begin().await?;
                let ended: Option<AllocationRecord> = sqlx::query_as(&format!(
                    "UPDATE allocations SET ended_at_ms = $2, ended_by = $3
                     WHERE child_id = $1 AND ended_at_ms IS NULL RETURNING {}",
                    $crate::directory::ALLOCATION_COLUMNS
                ))
                .bind(child_id)
                .bind(by.at_ms)
                .bind(&by.user_id)
                .fetch_optional(&mut *tx)
                .await?;
                if ended.as_ref().is_some_and(|a| a.worker_id == worker_id) {
                    return Err($crate::StoreError::Conflict(format!(
                        "child {child_id} is already allocated to {worker_id}"
                    )));
                }
                let allocation: AllocationRecord = sqlx::query_as(&format!(
                    "INSERT INTO allocations (child_id, worker_id, started_at_ms, allocated_by)
                     VALUES ($1, $2, $3, $4) RETURNING {}",
                    $crate::directory::ALLOCATION_COLUMNS
                ))
                .bind(child_id)
                .bind(worker_id)
                .bind(by.at_ms)
                .bind(by.user_id.as_deref().unwrap_or("server"))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    conflict_on_unique(e, || {
                        format!("another allocation of child {child_id} was made at the same time; look again and retry")
                    })
                })?;
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("allocate").child(child_id).details(serde_json::json!({
                        "worker_id": worker_id,
                        "previous_worker_id": ended.as_ref().map(|a| a.worker_id.clone()),
                    })),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(allocation)
            }

            async fn end_allocation(
                &self,
                child_id: &str,
                by: &$crate::directory::Actor,
            ) -> Result<$crate::directory::AllocationRecord, $crate::StoreError> {
                use $crate::directory::{AllocationRecord, NewAudit};
                let mut tx = self.$writer.begin().await?;
                let ended: Option<AllocationRecord> = sqlx::query_as(&format!(
                    "UPDATE allocations SET ended_at_ms = $2, ended_by = $3
                     WHERE child_id = $1 AND ended_at_ms IS NULL RETURNING {}",
                    $crate::directory::ALLOCATION_COLUMNS
                ))
                .bind(child_id)
                .bind(by.at_ms)
                .bind(&by.user_id)
                .fetch_optional(&mut *tx)
                .await?;
                let ended = ended.ok_or_else(|| $crate::StoreError::NotFound {
                    what: format!("a current allocation of child {child_id}"),
                })?;
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("end_allocation")
                        .child(child_id)
                        .details(serde_json::json!({ "worker_id": ended.worker_id })),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(ended)
            }

            async fn allocation_history(
                &self,
                child_id: &str,
            ) -> Result<Vec<$crate::directory::AllocationRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM allocations WHERE child_id = $1 ORDER BY allocation_id",
                    $crate::directory::ALLOCATION_COLUMNS
                ))
                .bind(child_id)
                .fetch_all(&self.$reader)
                .await?)
            }

            async fn create_referral(
                &self,
                referral: &$crate::directory::NewReferral,
                by: &$crate::directory::Actor,
            ) -> Result<$crate::directory::ReferralRecord, $crate::StoreError> {
                use $crate::directory::{NewAudit, ReferralRecord, conflict_on_unique};
                let mut tx = self.$writer.begin().await?;
                let record: ReferralRecord = sqlx::query_as(&format!(
                    "INSERT INTO referrals (child_id, youth_worker_id, referred_by, starts_on, planned_end, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
                    $crate::directory::REFERRAL_COLUMNS
                ))
                .bind(&referral.child_id)
                .bind(&referral.youth_worker_id)
                .bind(by.user_id.as_deref().unwrap_or("server"))
                .bind(&referral.starts_on)
                .bind(&referral.planned_end)
                .bind(by.at_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, || "the referral could not be stored".to_owned()))?;
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("refer").child(&referral.child_id).details(serde_json::json!({
                        "referral_id": record.referral_id,
                        "youth_worker_id": referral.youth_worker_id,
                        "starts_on": referral.starts_on,
                        "planned_end": referral.planned_end,
                    })),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn end_referral(
                &self,
                referral_id: i64,
                by: &$crate::directory::Actor,
            ) -> Result<$crate::directory::ReferralRecord, $crate::StoreError> {
                use $crate::directory::{NewAudit, ReferralRecord};
                let mut tx = self.$writer.begin().await?;
                let record: Option<ReferralRecord> = sqlx::query_as(&format!(
                    "UPDATE referrals SET ended_at_ms = $2, ended_by = $3
                     WHERE referral_id = $1 AND ended_at_ms IS NULL RETURNING {}",
                    $crate::directory::REFERRAL_COLUMNS
                ))
                .bind(referral_id)
                .bind(by.at_ms)
                .bind(&by.user_id)
                .fetch_optional(&mut *tx)
                .await?;
                let record = record.ok_or_else(|| $crate::StoreError::NotFound {
                    what: format!("an open referral {referral_id}"),
                })?;
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("end_referral").child(&record.child_id).details(serde_json::json!({
                        "referral_id": referral_id,
                        "youth_worker_id": record.youth_worker_id,
                    })),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn get_referral(
                &self,
                referral_id: i64,
            ) -> Result<Option<$crate::directory::ReferralRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM referrals WHERE referral_id = $1",
                    $crate::directory::REFERRAL_COLUMNS
                ))
                .bind(referral_id)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn list_referrals(
                &self,
                child_id: Option<&str>,
                youth_worker_id: Option<&str>,
            ) -> Result<Vec<$crate::directory::ReferralRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM referrals
                     WHERE ($1 IS NULL OR child_id = $1) AND ($2 IS NULL OR youth_worker_id = $2)
                     ORDER BY referral_id",
                    $crate::directory::REFERRAL_COLUMNS
                ))
                .bind(child_id)
                .bind(youth_worker_id)
                .fetch_all(&self.$reader)
                .await?)
            }

            async fn register_device(
                &self,
                device: &$crate::directory::NewDevice,
                at_ms: i64,
            ) -> Result<$crate::directory::DeviceRecord, $crate::StoreError> {
                use $crate::directory::{DeviceRecord, conflict_on_unique};
                let mut tx = self.$writer.begin().await?;
                let existing: Option<DeviceRecord> = sqlx::query_as(&format!(
                    "{} WHERE d.device_id = $1",
                    $crate::directory::DEVICE_SELECT
                ))
                .bind(&device.device_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(existing) = existing {
                    if existing.user_id != device.user_id {
                        return Err($crate::StoreError::Conflict(format!(
                            "device {} is registered to another person; sign in on it with their \
                             account, or use a new data folder on this device",
                            device.device_id
                        )));
                    }
                    if existing.actor_id != device.actor_id {
                        return Err($crate::StoreError::Conflict(format!(
                            "device {} writes as actor {}, not {}; a device keeps one actor id",
                            device.device_id, existing.actor_id, device.actor_id
                        )));
                    }
                    return Ok(existing);
                }
                sqlx::query(
                    "INSERT INTO devices (device_id, user_id, name, actor_id, store_key, registered_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&device.device_id)
                .bind(&device.user_id)
                .bind(&device.name)
                .bind(&device.actor_id)
                .bind(&device.store_key)
                .bind(at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    conflict_on_unique(e, || {
                        format!(
                            "actor id {} is already registered to another device (or device {} \
                             was registered at the same moment)",
                            device.actor_id, device.device_id
                        )
                    })
                })?;
                let record: DeviceRecord = sqlx::query_as(&format!(
                    "{} WHERE d.device_id = $1",
                    $crate::directory::DEVICE_SELECT
                ))
                .bind(&device.device_id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn get_device(
                &self,
                device_id: &str,
            ) -> Result<Option<$crate::directory::DeviceRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "{} WHERE d.device_id = $1",
                    $crate::directory::DEVICE_SELECT
                ))
                .bind(device_id)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn device_by_actor(
                &self,
                actor_id: &str,
            ) -> Result<Option<$crate::directory::DeviceRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "{} WHERE d.actor_id = $1",
                    $crate::directory::DEVICE_SELECT
                ))
                .bind(actor_id)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn list_devices(
                &self,
                user_id: Option<&str>,
            ) -> Result<Vec<$crate::directory::DeviceRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "{} WHERE $1 IS NULL OR d.user_id = $1 ORDER BY d.user_id, d.registered_at_ms",
                    $crate::directory::DEVICE_SELECT_COUNTED
                ))
                .bind(user_id)
                .fetch_all(&self.$reader)
                .await?)
            }

            async fn revoke_device(
                &self,
                device_id: &str,
                by: &$crate::directory::Actor,
            ) -> Result<$crate::directory::DeviceRecord, $crate::StoreError> {
                use $crate::directory::{DeviceRecord, NewAudit};
                let mut tx = self.$writer.begin().await?;
                let done = sqlx::query(
                    "UPDATE devices SET revoked_at_ms = COALESCE(revoked_at_ms, $2),
                         revoked_by = COALESCE(revoked_by, $3), session_id = NULL
                     WHERE device_id = $1",
                )
                .bind(device_id)
                .bind(by.at_ms)
                .bind(&by.user_id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound {
                        what: format!("device {device_id}"),
                    });
                }
                sqlx::query(
                    "UPDATE refresh_tokens SET used_at_ms = $2 WHERE device_id = $1 AND used_at_ms IS NULL",
                )
                .bind(device_id)
                .bind(by.at_ms)
                .execute(&mut *tx)
                .await?;
                let record: DeviceRecord = sqlx::query_as(&format!(
                    "{} WHERE d.device_id = $1",
                    $crate::directory::DEVICE_SELECT_COUNTED
                ))
                .bind(device_id)
                .fetch_one(&mut *tx)
                .await?;
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("revoke_device").details(serde_json::json!({
                        "device_id": device_id, "device_user_id": record.user_id,
                    })),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn record_sync(
                &self,
                device_id: &str,
                entries: &[$crate::directory::NewAudit],
                by: &$crate::directory::Actor,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.$writer.begin().await?;
                sqlx::query("UPDATE devices SET last_sync_ms = $2 WHERE device_id = $1")
                    .bind(device_id)
                    .bind(by.at_ms)
                    .execute(&mut *tx)
                    .await?;
                for entry in entries {
                    Self::audit_in(&mut tx, entry, by).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn start_session(
                &self,
                device_id: &str,
                session_id: &str,
                token_hash: &str,
                at_ms: i64,
                expires_at_ms: i64,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.$writer.begin().await?;
                // Tokens of the earlier session stop working.
                sqlx::query(
                    "UPDATE refresh_tokens SET used_at_ms = $2 WHERE device_id = $1 AND used_at_ms IS NULL",
                )
                .bind(device_id)
                .bind(at_ms)
                .execute(&mut *tx)
                .await?;
                let done = sqlx::query(
                    "UPDATE devices SET session_id = $2 WHERE device_id = $1 AND revoked_at_ms IS NULL",
                )
                .bind(device_id)
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::Conflict(format!(
                        "device {device_id} is revoked or not registered"
                    )));
                }
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, device_id, session_id, issued_at_ms, expires_at_ms)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(device_id)
                .bind(session_id)
                .bind(at_ms)
                .bind(expires_at_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn rotate_refresh_retryable(
                &self,
                rotation: &$crate::directory::RefreshRotation<'_>,
            ) -> Result<$crate::directory::RefreshOutcome, $crate::StoreError> {
                use $crate::directory::{DeviceRecord, RefreshOutcome};
                #[derive(sqlx::FromRow)]
                struct TokenRow {
                    device_id: String,
                    session_id: String,
                    expires_at_ms: i64,
                    used_at_ms: Option<i64>,
                }
                const TOKEN_SELECT: &str = "SELECT device_id, session_id, expires_at_ms, used_at_ms \
                     FROM refresh_tokens WHERE token_hash = $1";
                let token_hash = rotation.token_hash;
                let at_ms = rotation.at_ms;
                let mut tx = self.$writer.begin().await?;
                let token: Option<TokenRow> = sqlx::query_as(TOKEN_SELECT)
                    .bind(token_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(token) = token else {
                    return Ok(RefreshOutcome::Unknown);
                };
                let device: DeviceRecord = sqlx::query_as(&format!(
                    "{} WHERE d.device_id = $1",
                    $crate::directory::DEVICE_SELECT
                ))
                .bind(&token.device_id)
                .fetch_one(&mut *tx)
                .await?;
                if device.revoked_at_ms.is_some() {
                    return Ok(RefreshOutcome::Revoked { device });
                }
                if device.session_id.as_deref() != Some(token.session_id.as_str()) {
                    return Ok(RefreshOutcome::SessionEnded);
                }
                // Claim the token; of two racing uses exactly one succeeds.
                let claimed = token.used_at_ms.is_none()
                    && sqlx::query(
                        "UPDATE refresh_tokens SET used_at_ms = $2 WHERE token_hash = $1 AND used_at_ms IS NULL",
                    )
                    .bind(token_hash)
                    .bind(at_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                if !claimed {
                    // Read the token again: a racing use may have claimed it since.
                    let used_at_ms = sqlx::query_as::<_, TokenRow>(TOKEN_SELECT)
                        .bind(token_hash)
                        .fetch_one(&mut *tx)
                        .await?
                        .used_at_ms
                        .unwrap_or(at_ms);
                    let same_device = rotation.device_id == Some(token.device_id.as_str());
                    let in_grace = at_ms.saturating_sub(used_at_ms) < rotation.grace_ms;
                    if same_device && in_grace {
                        // The successor this token was traded for, if it is still unused.
                        let successor: Option<TokenRow> = sqlx::query_as(TOKEN_SELECT)
                            .bind(rotation.new_hash)
                            .fetch_optional(&mut *tx)
                            .await?;
                        if let Some(successor) = successor.filter(|t| {
                            t.used_at_ms.is_none()
                                && t.device_id == token.device_id
                                && t.session_id == token.session_id
                        }) {
                            tx.commit().await?;
                            return Ok(RefreshOutcome::Replayed {
                                device,
                                expires_at_ms: successor.expires_at_ms,
                            });
                        }
                    }
                    // A used token came back: a copy exists somewhere. End the session.
                    sqlx::query("UPDATE devices SET session_id = NULL WHERE device_id = $1")
                        .bind(&token.device_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE refresh_tokens SET used_at_ms = $2 WHERE device_id = $1 AND used_at_ms IS NULL",
                    )
                    .bind(&token.device_id)
                    .bind(at_ms)
                    .execute(&mut *tx)
                    .await?;
                    Self::audit_in(
                        &mut tx,
                        &$crate::directory::NewAudit::new("refresh_token_reused").details(
                            serde_json::json!({
                                "device_id": token.device_id,
                                "presented_by_device": rotation.device_id,
                                "ms_after_first_use": at_ms.saturating_sub(used_at_ms),
                            }),
                        ),
                        &$crate::directory::Actor {
                            user_id: Some(device.user_id.clone()),
                            device_id: Some(token.device_id.clone()),
                            at_ms,
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    return Ok(RefreshOutcome::Reused {
                        device_id: token.device_id,
                    });
                }
                if token.expires_at_ms <= at_ms {
                    tx.commit().await?;
                    return Ok(RefreshOutcome::Expired);
                }
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, device_id, session_id, issued_at_ms, expires_at_ms)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(rotation.new_hash)
                .bind(&token.device_id)
                .bind(&token.session_id)
                .bind(at_ms)
                .bind(rotation.new_expires_at_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(RefreshOutcome::Rotated { device })
            }

            async fn end_session(&self, device_id: &str, at_ms: i64) -> Result<(), $crate::StoreError> {
                let mut tx = self.$writer.begin().await?;
                sqlx::query("UPDATE devices SET session_id = NULL WHERE device_id = $1")
                    .bind(device_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE refresh_tokens SET used_at_ms = $2 WHERE device_id = $1 AND used_at_ms IS NULL",
                )
                .bind(device_id)
                .bind(at_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_grant(
                &self,
                user_id: &str,
                child_id: &str,
                reason: &str,
                expires_at_ms: i64,
                by: &$crate::directory::Actor,
            ) -> Result<$crate::directory::GrantRecord, $crate::StoreError> {
                use $crate::directory::{GrantRecord, NewAudit, conflict_on_unique};
                let mut tx = self.$writer.begin().await?;
                let grant: GrantRecord = sqlx::query_as(&format!(
                    "INSERT INTO access_grants (user_id, child_id, reason, granted_at_ms, expires_at_ms)
                     VALUES ($1, $2, $3, $4, $5) RETURNING {}",
                    $crate::directory::GRANT_COLUMNS
                ))
                .bind(user_id)
                .bind(child_id)
                .bind(reason)
                .bind(by.at_ms)
                .bind(expires_at_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, || "the access could not be recorded".to_owned()))?;
                Self::audit_in(
                    &mut tx,
                    &NewAudit::new("access_outside_allocation").child(child_id).details(
                        serde_json::json!({
                            "grant_id": grant.grant_id,
                            "reason": reason,
                            "expires_at_ms": expires_at_ms,
                        }),
                    ),
                    by,
                )
                .await?;
                tx.commit().await?;
                Ok(grant)
            }

            async fn list_grants(
                &self,
                filter: &$crate::directory::GrantFilter,
            ) -> Result<Vec<$crate::directory::GrantRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT g.grant_id, g.user_id, g.child_id, g.reason, g.granted_at_ms, g.expires_at_ms
                     FROM access_grants g JOIN children c ON c.child_id = g.child_id
                     WHERE ($1 IS NULL OR g.user_id = $1) AND ($2 IS NULL OR c.team_id = $2)
                       AND ($3 IS NULL OR g.expires_at_ms > $3)
                     ORDER BY g.grant_id",
                )
                .bind(&filter.user_id)
                .bind(&filter.team_id)
                .bind(filter.active_at_ms)
                .fetch_all(&self.$reader)
                .await?)
            }

            async fn append_audit(
                &self,
                entry: &$crate::directory::NewAudit,
                by: &$crate::directory::Actor,
            ) -> Result<i64, $crate::StoreError> {
                let mut tx = self.$writer.begin().await?;
                let id = Self::audit_in(&mut tx, entry, by).await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn list_audit(
                &self,
                filter: &$crate::directory::AuditFilter,
            ) -> Result<Vec<$crate::directory::AuditRecord>, $crate::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, at_ms, user_id, device_id, action, child_id, doc_id, details
                     FROM audit_log
                     WHERE ($1 IS NULL OR child_id = $1) AND ($2 IS NULL OR user_id = $2) AND id > $3
                     ORDER BY id LIMIT $4",
                )
                .bind(&filter.child_id)
                .bind(&filter.user_id)
                .bind(filter.after.unwrap_or(0))
                .bind(i64::from(filter.limit))
                .fetch_all(&self.$reader)
                .await?)
            }

            async fn scope_facts(
                &self,
                user: &$crate::directory::UserRecord,
                at_ms: i64,
                today: &str,
                grace_from_ms: i64,
            ) -> Result<$crate::directory::ScopeFacts, $crate::StoreError> {
                use $crate::directory::ScopeFacts;
                let team = match &user.team_id {
                    Some(team_id) => self.get_team(team_id).await?,
                    None => None,
                };
                let mut facts = ScopeFacts {
                    user: user.clone(),
                    team,
                    allocated: Vec::new(),
                    referred: Vec::new(),
                    recently_ended: Vec::new(),
                    team_children: Vec::new(),
                    team_members: Vec::new(),
                    granted: Vec::new(),
                };
                if user.role == "admin" {
                    // An admin's scope is everything: no list decides it.
                    return Ok(facts);
                }
                // Only managers, and social workers of a team that opted in to pod-wide
                // reading, need the team's children.
                let team_children = user.role == "manager"
                    || (user.role == "social_worker"
                        && facts.team.as_ref().is_some_and(|t| t.pod_read_access));
                // Every fact in one statement: one round trip, one consistent snapshot.
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT 'allocated', child_id FROM allocations
                         WHERE worker_id = $1 AND ended_at_ms IS NULL
                     UNION ALL SELECT 'referred', child_id FROM referrals
                         WHERE youth_worker_id = $1 AND ended_at_ms IS NULL AND starts_on <= $2
                     UNION ALL SELECT 'ended', child_id FROM allocations
                         WHERE worker_id = $1 AND ended_at_ms >= $3
                     UNION ALL SELECT 'ended', child_id FROM referrals
                         WHERE youth_worker_id = $1 AND ended_at_ms >= $3
                     UNION ALL SELECT 'granted', child_id FROM access_grants
                         WHERE user_id = $1 AND expires_at_ms > $4
                     UNION ALL SELECT 'member', user_id FROM users WHERE team_id = $5
                     UNION ALL SELECT 'team_child', child_id FROM children
                         WHERE team_id = $5 AND $6",
                )
                .bind(&user.user_id)
                .bind(today)
                .bind(grace_from_ms)
                .bind(at_ms)
                .bind(&user.team_id)
                .bind(team_children)
                .fetch_all(&self.$reader)
                .await?;
                for (fact, id) in rows {
                    let list = match fact.as_str() {
                        "allocated" => &mut facts.allocated,
                        "referred" => &mut facts.referred,
                        "ended" => &mut facts.recently_ended,
                        "granted" => &mut facts.granted,
                        "member" => &mut facts.team_members,
                        _ => &mut facts.team_children,
                    };
                    list.push(id);
                }
                for list in [
                    &mut facts.allocated,
                    &mut facts.referred,
                    &mut facts.recently_ended,
                    &mut facts.granted,
                    &mut facts.team_members,
                    &mut facts.team_children,
                ] {
                    list.sort_unstable();
                    list.dedup();
                }
                Ok(facts)
            }

            async fn server_secret(
                &self,
                name: &str,
                candidate: &[u8],
            ) -> Result<Vec<u8>, $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(candidate)
                .execute(&self.$writer)
                .await?;
                Ok(sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.$writer)
                    .await?)
            }
        }
    };
}

pub(crate) use impl_directory;
